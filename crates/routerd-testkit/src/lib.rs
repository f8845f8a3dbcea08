//! `routerd-testkit`: what routerd's kernel-facing tests share. Only ever a dev-dependency.
//!
//! - [`Netns`]: a uniquely named network namespace, deleted on drop even when the test fails; test
//!   bodies run on a thread that entered it (and checked it is there), so nothing a test does reaches
//!   the host's own namespace.
//! - [`skip`]: a test that cannot run here says why and is *counted as skipped*: cargo would count it
//!   as passed, so the reason is also appended to `$ROUTERD_SKIP_LOG`, which `scripts/test` reads and
//!   subtracts from the passes.

// Test support only: a set-up that cannot be done is the calling test's failure, so it panics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nix::sched::{setns, CloneFlags};
use std::future::Future;
use std::io::Write as _;
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Upper bound for one test body run inside a namespace.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(60);

/// The environment variable naming the file skips are appended to.
pub const SKIP_LOG_ENV: &str = "ROUTERD_SKIP_LOG";

static NEXT_NS: AtomicUsize = AtomicUsize::new(0);

/// Reports that the calling test cannot run here: `SKIP: <test>: <reason>` on stderr and one line in
/// `$ROUTERD_SKIP_LOG` when it is set. The caller returns right after.
pub fn skip(reason: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("unnamed test")
        .to_string();
    eprintln!("SKIP: {test}: {reason}");
    if let Some(path) = std::env::var_os(SKIP_LOG_ENV) {
        let line = format!("{test}: {reason}\n");
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = written {
            eprintln!("warning: cannot record the skip in {path:?}: {e}");
        }
    }
}

/// `ip -n <ns> args...`: whether it succeeded, and its stdout and stderr.
pub fn ip_in(ns: &str, args: &[&str]) -> (bool, String) {
    match Command::new("ip").arg("-n").arg(ns).args(args).output() {
        Ok(out) => (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ),
        Err(e) => (false, format!("cannot run ip: {e}")),
    }
}

/// A throw-away network namespace `<label>-<pid>-<n>`.
pub struct Netns {
    name: String,
}

impl Netns {
    /// A new namespace with `lo` up, or `None` after [`skip`] when this environment cannot have one (not
    /// root, no iproute2, namespaces unavailable).
    pub fn create(label: &str) -> Option<Netns> {
        if !nix::unistd::geteuid().is_root() {
            skip("network namespace tests need root");
            return None;
        }
        if Command::new("ip").arg("-V").output().is_err() {
            skip("iproute2 `ip` is not installed");
            return None;
        }
        let n = NEXT_NS.fetch_add(1, Ordering::SeqCst);
        let name = format!("{label}-{}-{n}", std::process::id());
        // A stale namespace from an earlier run that had the same pid.
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        match Command::new("ip").args(["netns", "add", &name]).output() {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                skip(&format!(
                    "cannot create network namespace {name}: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ));
                return None;
            }
            Err(e) => {
                skip(&format!("cannot run ip netns add: {e}"));
                return None;
            }
        }
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        Some(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n <ns> args...` that must succeed (test set-up must not half-succeed); its output.
    pub fn ip(&self, args: &[&str]) -> String {
        let (ok, text) = ip_in(&self.name, args);
        assert!(ok, "ip -n {} {}: {text}", self.name, args.join(" "));
        text
    }

    /// Sets a sysctl inside the namespace (`net.*` sysctls are per namespace).
    pub fn sysctl(&self, key: &str, value: &str) {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name, "sysctl", "-qw"])
            .arg(format!("{key}={value}"))
            .output()
            .expect("run ip netns exec sysctl");
        assert!(
            out.status.success(),
            "sysctl {key}={value} in {}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs `f` on a fresh thread that entered this namespace (and verified it), and returns its result.
    /// Sockets keep the namespace they were created in, so one made here serves this namespace from any
    /// thread.
    pub fn enter<T, F>(&self, f: F) -> T
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let path = self.path();
        let handle = std::thread::spawn(move || {
            enter_netns(&path);
            f()
        });
        match handle.join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Runs `body` on a thread inside this namespace, on a current-thread runtime, within
    /// [`BODY_TIMEOUT`].
    pub fn run<F, Fut>(&self, body: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let path = self.path();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                enter_netns(&path);
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("build runtime");
                runtime.block_on(async move {
                    tokio::time::timeout(BODY_TIMEOUT, body())
                        .await
                        .expect("test body timed out");
                });
            }));
            let _ = done_tx.send(result);
        });
        match done_rx.recv_timeout(BODY_TIMEOUT + Duration::from_secs(30)) {
            Ok(Ok(())) => {}
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => panic!("namespace test thread did not finish"),
        }
    }

    fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let out = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
        if !matches!(&out, Ok(o) if o.status.success()) {
            eprintln!("warning: could not delete namespace {}: {out:?}", self.name);
        }
    }
}

/// setns into the namespace at `path`, then refuse to go on unless the thread really is there (same nsfs
/// inode as the bind mount).
fn enter_netns(path: &str) {
    let ns_file = std::fs::File::open(path).expect("open netns file");
    setns(&ns_file, CloneFlags::CLONE_NEWNET).expect("setns into test namespace");
    let want = std::fs::metadata(path).expect("stat netns file");
    let have = std::fs::metadata("/proc/thread-self/ns/net").expect("stat own netns");
    assert_eq!(
        (want.dev(), want.ino()),
        (have.dev(), have.ino()),
        "thread is not in the test namespace"
    );
}

/// Sends `method uri` with a small JSON body the way Python's `http.client` does — the head, a pause,
/// then the body — and returns the status line of the answer, or what broke (a server that answers and
/// closes before reading the body makes the body write fail with a broken pipe).
pub async fn head_then_late_body(
    socket: &std::path::Path,
    method: &str,
    uri: &str,
) -> Result<String, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = b"{\"please\": true}";
    let mut stream = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|e| e.to_string())?;
    let head = format!(
        "{method} {uri} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .await
        .map_err(|e| format!("writing the head: {e}"))?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stream
        .write_all(body)
        .await
        .map_err(|e| format!("writing the body: {e}"))?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .map_err(|_| "no answer within 5s".to_string())?
        .map_err(|e| format!("reading the answer: {e}"))?;
    Ok(String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string())
}
