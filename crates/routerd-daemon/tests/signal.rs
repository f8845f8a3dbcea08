//! SIGTERM is handled like `stop`. Its own test binary: a signal goes to the whole process, and no other
//! test may be serving when it arrives.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed set-up is the test's failure

use routerd_api::daemon::{CommandResult, DaemonResourceStatus};
use routerd_daemon::{serve, CommandError, Daemon, DaemonArgs, EventLog, LogFormat, StopHandle};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Default)]
struct Quiet {
    shut_down: AtomicBool,
}

impl Daemon for Quiet {
    fn resources(&self) -> Vec<DaemonResourceStatus> {
        Vec::new()
    }
    fn command<'a>(
        &'a self,
        _name: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<CommandResult, CommandError>> + Send + 'a>> {
        Box::pin(async { Err(CommandError::Unknown) })
    }
    fn shutdown<'a>(&'a self) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async move { self.shut_down.store(true, Ordering::SeqCst) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let args = DaemonArgs {
        name: "wan".into(),
        config: dir.path().join("config.json"),
        socket: dir.path().join("wan.sock"),
        state_dir: dir.path().to_path_buf(),
        log_format: LogFormat::Json,
    };
    let events = EventLog::open(dir.path(), "routerd-dhcpv4-client", "wan").unwrap();
    let daemon = Arc::new(Quiet::default());
    let stop = StopHandle::new();
    let server = tokio::spawn({
        let (args, daemon, events, stop) =
            (args.clone(), daemon.clone(), events.clone(), stop.clone());
        async move { serve(&args, "routerd-dhcpv4-client", daemon, events, stop).await }
    });
    while tokio::net::UnixStream::connect(&args.socket).await.is_err() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGTERM).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("serve returned after SIGTERM")
        .unwrap()
        .unwrap();
    assert!(daemon.shut_down.load(Ordering::SeqCst));
    assert!(stop.is_stopped(), "the daemon's tasks are told to stop");
    let last = events.since(None, &[], 1000).unwrap().pop().unwrap();
    assert_eq!(last.topic, "routerd.daemon.lifecycle.stopped");
    assert_eq!(last.attributes["reason"], "SIGTERM");
}
