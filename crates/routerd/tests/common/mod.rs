//! The in-process harness shared by routerd's integration tests: routerd's real sockets, ledger and
//! event store in a temporary directory, the in-memory fake host instead of netlink.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed set-up is the test's failure
#![allow(dead_code)] // each test file uses a different part

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use routerd::paths::Paths;
use routerd::serve::{run, ServeOptions};
use routerd_host::{ConntrackTable, FakeConntrack, FakeHost, NetHost};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

pub const P: &str = "/api/control.routerd.net/v1alpha1";
/// ifindex of `rt-wan` in the fake host (`rt-lan` is 2).
pub const WAN_INDEX: u32 = 3;

pub struct Harness {
    pub _dir: tempfile::TempDir,
    pub state_dir: PathBuf,
    pub main: PathBuf,
    pub status: PathBuf,
    pub host: Arc<FakeHost>,
    /// The conntrack table routerd reads (empty, limit 1000, until a test fills it).
    pub conntrack: Arc<FakeConntrack>,
    pub stop: Option<oneshot::Sender<()>>,
    pub task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Harness {
    pub async fn start() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let host = Arc::new(FakeHost::new());
        host.add_link("rt-lan", 2, true);
        host.add_link("rt-wan", WAN_INDEX, true);
        Self::start_in(dir, host).await
    }

    pub async fn start_in(dir: tempfile::TempDir, host: Arc<FakeHost>) -> Harness {
        let paths = Paths::new(
            Some(dir.path().join("run")),
            Some(dir.path().join("state")),
            None,
            None,
        );
        let (main, status, state_dir) = (
            paths.main_socket.clone(),
            paths.status_socket.clone(),
            paths.state_dir.clone(),
        );
        let conntrack = Arc::new(FakeConntrack::new(Vec::new(), 1000));
        let dyn_conntrack: Arc<dyn ConntrackTable> = conntrack.clone();
        let opts = ServeOptions {
            config: None,
            paths,
            control_group: "routerd-test-nonexistent".into(),
            reconcile_interval: Duration::from_secs(30),
            log_format: "text".into(),
            libexec_dir: None,
            // The firewall controller writes table inet routerd and the forwarding sysctls: fakes, so a
            // test never touches the namespace it runs in.
            observer_host: Some({
                let mut observers = routerd::observers::ObserverHost::kernel();
                observers.nftables = Arc::new(routerd_host::nftables::FakeNftables::default());
                observers.forwarding = Arc::new(routerd_host::sysctl::FakeForwarding::default());
                observers
            }),
            conntrack: Some(dyn_conntrack),
            conntrack_poll_interval: Duration::from_millis(100),
        };
        let (tx, rx) = oneshot::channel::<()>();
        let dyn_host: Arc<dyn NetHost> = host.clone();
        let task = tokio::spawn(run(opts, Some(dyn_host), async move {
            let _ = rx.await;
        }));
        for _ in 0..200 {
            if status.exists() && main.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Harness {
            _dir: dir,
            state_dir,
            main,
            status,
            host,
            conntrack,
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(15), t)
                .await
                .unwrap()
                .unwrap()
                .unwrap();
        }
        let Harness { _dir, .. } = self;
        _dir
    }
}

pub async fn call(
    sock: &Path,
    method: &str,
    path: &str,
    body: Option<Vec<u8>>,
) -> (u16, Value, hyper::HeaderMap) {
    let stream = tokio::net::UnixStream::connect(sock).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::builder()
        .method(method)
        .uri(format!("http://routerd{path}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, value, headers)
}
