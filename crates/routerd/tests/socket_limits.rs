//! The sockets under load and with awkward clients: an error answered before the body has arrived, and
//! an ordinary user trying to hold every connection of the world-accessible status socket.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed set-up is the test's failure

mod common;

use common::{call, Harness, P};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_answered_before_the_body_arrives_still_reaches_the_client() {
    let h = Harness::start().await;
    // Each answer is an error that does not need the body; the connection closes after it, so the
    // client reads to the end.
    for (socket, method, path, expected) in [
        (&h.status, "POST", "/status", "405"),
        (&h.status, "POST", "/apply", "403"),
        (&h.status, "POST", "/nowhere", "404"),
        (&h.main, "PUT", "/apply", "405"),
    ] {
        let line =
            routerd_testkit::head_then_late_body(socket, method, &format!("{P}{path}")).await;
        match line {
            Ok(line) => assert!(
                line.starts_with("HTTP/1.1 ") && line.contains(expected),
                "{method} {path}: {line}"
            ),
            Err(e) => panic!("{method} {path}: {e}"),
        }
    }
    h.stop().await;
}

/// The uid the load generator runs as: `nobody`.
const NOBODY: u32 = 65534;
/// Long-polls and slow bodies the ordinary user opens: more than the socket's 256 connections.
const HOGS: usize = 300;

/// A helper process running as `nobody` that opens [`HOGS`] connections to the status socket, half of them
/// long-polls of 60 s and half POSTs whose body never finishes, prints how each was answered at once
/// (refused connections are answered straight away), and holds the rest until killed.
const HOG_SCRIPT: &str = r#"
import socket, sys, time
path, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
held, refused, closed = [], 0, 0
for i in range(count):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.connect(path)
        if i % 2 == 0:
            s.sendall(("GET %s/events?wait=60s&topic=**.never HTTP/1.1\r\nHost: x\r\n\r\n" % prefix).encode())
        else:
            s.sendall(("POST %s/plan HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{" % prefix).encode())
    except OSError:
        closed += 1
        continue
    held.append(s)
time.sleep(1.0)
still = []
for s in held:
    s.setblocking(False)
    try:
        data = s.recv(65536)
        if data.startswith(b"HTTP/1.1 429"):
            refused += 1
        else:
            closed += 1
    except BlockingIOError:
        still.append(s)
    except OSError:
        closed += 1
print("held=%d refused=%d closed=%d" % (len(still), refused, closed), flush=True)
time.sleep(120)
"#;

/// The load generator dies with the test, whichever way the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ordinary_user_cannot_starve_root_on_the_status_socket() {
    if !nix::unistd::geteuid().is_root() {
        routerd_testkit::skip("needs root to run the load generator as another uid");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The runtime directory is 0755 (routerd makes it so); the temporary directory above it must let
    // `nobody` through as well.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let host = std::sync::Arc::new(routerd_host::FakeHost::new());
    let h = Harness::start_in(dir, host).await;

    use std::os::unix::process::CommandExt;
    let mut hog = std::process::Command::new("python3");
    hog.args(["-c", HOG_SCRIPT])
        .arg(&h.status)
        .arg(P)
        .arg(HOGS.to_string())
        .uid(NOBODY)
        .gid(NOBODY)
        .stdout(std::process::Stdio::piped());
    let mut hog = KillOnDrop(hog.spawn().expect("python3 runs"));
    let mut out = std::io::BufReader::new(hog.0.stdout.take().unwrap());
    let report = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut out, &mut line).map(|_| line)
    })
    .await
    .unwrap()
    .unwrap();
    eprintln!("load generator: {}", report.trim());

    // Root is still answered at once, on the status socket and on the main socket.
    for socket in [&h.status, &h.main] {
        let started = Instant::now();
        let answer = tokio::time::timeout(
            Duration::from_secs(2),
            call(socket, "GET", &format!("{P}/healthz"), None),
        )
        .await;
        assert!(
            answer.is_ok_and(|(code, _, _)| code == 200),
            "root's request on {} was not answered within 2s while nobody held {HOGS} connections ({})",
            socket.display(),
            report.trim()
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    drop(hog);
    // The ordinary user was told to back off rather than left waiting.
    assert!(report.contains("refused="), "{report}");
    let refused: usize = report
        .split_whitespace()
        .find_map(|w| w.strip_prefix("refused="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(refused > 0, "no connection was refused: {report}");
    h.stop().await;
}
