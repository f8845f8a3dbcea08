//! Throw-away network namespaces for the probe tests. Needs root and iproute2; `Netns::create` returns
//! `None` (after printing why) otherwise. Every probe runs on a thread that entered a test namespace and
//! checked it is there, so nothing ever touches the host's own network namespace.

#![allow(dead_code)]

use std::future::Future;
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nix::sched::{setns, CloneFlags};

/// Upper bound for one test body; every probe in it has its own, much shorter timeout.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(60);

static NEXT_NS: AtomicUsize = AtomicUsize::new(0);

/// A uniquely named namespace (`rdhc-<pid>-<n>`), deleted on drop even when the test fails.
pub struct Netns {
    name: String,
}

impl Netns {
    pub fn create() -> Option<Netns> {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIP: healthcheck namespace tests need root");
            return None;
        }
        if Command::new("ip").arg("-V").output().is_err() {
            eprintln!("SKIP: iproute2 `ip` is not installed");
            return None;
        }
        let n = NEXT_NS.fetch_add(1, Ordering::SeqCst);
        let name = format!("rdhc-{}-{n}", std::process::id());
        // A stale namespace from an earlier run that had the same pid.
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        let out = Command::new("ip").args(["netns", "add", &name]).output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                eprintln!(
                    "SKIP: cannot create network namespace {name}: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
                return None;
            }
            Err(e) => {
                eprintln!("SKIP: cannot run ip netns add: {e}");
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

    /// `ip -n <ns> args...`; panics with the output when it fails (test setup must not half-succeed).
    pub fn ip(&self, args: &[&str]) -> String {
        let out = Command::new("ip")
            .arg("-n")
            .arg(&self.name)
            .args(args)
            .output()
            .expect("run ip");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "ip -n {} {}: {text}",
            self.name,
            args.join(" ")
        );
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
    /// Sockets keep the namespace they were created in, so a listener made here serves this namespace
    /// from any thread.
    pub fn enter<T, F>(&self, f: F) -> T
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let path = format!("/run/netns/{}", self.name);
        let handle = std::thread::spawn(move || {
            enter_netns(&path);
            f()
        });
        match handle.join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Runs `body` on a thread inside this namespace, on a current-thread runtime, within BODY_TIMEOUT.
    pub fn run<F, Fut>(&self, body: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let path = format!("/run/netns/{}", self.name);
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
