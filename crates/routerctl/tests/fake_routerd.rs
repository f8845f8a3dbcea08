//! Runs the real `routerctl` binary against a fake routerd: a small hyper server on the two Unix sockets
//! of a temporary runtime directory, answering canned JSON. It checks what routerctl prints, which socket
//! it uses for what, and its exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed set-up is the test's failure

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

const PREFIX: &str = "/api/control.routerd.net/v1alpha1";

/// One request as the fake saw it.
#[derive(Debug, Clone)]
struct Seen {
    socket: &'static str,
    method: String,
    uri: String,
    body: Value,
}

/// What the fake does: answer normally, drop every connection (routerd restarting), or answer normally
/// with one more event stored after cursor 7.
const NORMAL: u8 = 0;
const OUTAGE: u8 = 1;
const EVENT_8: u8 = 2;

struct FakeRouterd {
    dir: tempfile::TempDir,
    seen: Arc<Mutex<Vec<Seen>>>,
    mode: Arc<AtomicU8>,
}

impl FakeRouterd {
    fn start() -> FakeRouterd {
        let dir = tempfile::tempdir().expect("tempdir");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mode = Arc::new(AtomicU8::new(NORMAL));
        let mut listeners = Vec::new();
        for (name, file) in [("main", "routerd.sock"), ("status", "routerd-status.sock")] {
            let l = std::os::unix::net::UnixListener::bind(dir.path().join(file)).expect("bind");
            l.set_nonblocking(true).expect("nonblocking");
            listeners.push((name, l));
        }
        let state = seen.clone();
        let shared_mode = mode.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("rt");
            rt.block_on(async move {
                let mut tasks = Vec::new();
                for (name, l) in listeners {
                    let listener = tokio::net::UnixListener::from_std(l).expect("tokio listener");
                    let state = state.clone();
                    tasks.push(tokio::spawn(serve(
                        listener,
                        name,
                        state,
                        shared_mode.clone(),
                    )));
                }
                for t in tasks {
                    let _ = t.await;
                }
            });
        });
        FakeRouterd { dir, seen, mode }
    }

    fn set_mode(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }

    fn runtime_dir(&self) -> &Path {
        self.dir.path()
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    fn routerctl(&self, args: &[&str]) -> Output {
        routerctl_in(self.runtime_dir(), args)
    }
}

fn routerctl_in(runtime_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_routerctl"))
        .arg("--runtime-dir")
        .arg(runtime_dir)
        .args(["--timeout", "5s"])
        .args(args)
        .env_remove("ROUTERD_RUNTIME_DIR")
        .output()
        .expect("run routerctl")
}

async fn serve(
    listener: tokio::net::UnixListener,
    socket: &'static str,
    seen: Arc<Mutex<Vec<Seen>>>,
    mode: Arc<AtomicU8>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        if mode.load(Ordering::SeqCst) == OUTAGE {
            drop(stream);
            continue;
        }
        let seen = seen.clone();
        let mode = mode.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(req, socket, seen.clone(), mode.clone()));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    socket: &'static str,
    seen: Arc<Mutex<Vec<Seen>>>,
    mode: Arc<AtomicU8>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let method = req.method().to_string();
    let uri = req.uri().to_string();
    let bytes = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    seen.lock().expect("lock").push(Seen {
        socket,
        method: method.clone(),
        uri: uri.clone(),
        body: body.clone(),
    });

    let Some(rest) = uri.strip_prefix(PREFIX) else {
        return Ok(error(404, "NotFound", "unknown path", json!([])));
    };
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let since = query.split('&').find_map(|p| p.strip_prefix("since="));
    let (status, answer) = match (method.as_str(), path) {
        ("POST", _) if socket == "status" && path != "/validate" => {
            return Ok(error(403, "ReadOnlySocket", "the status socket is read-only", json!([])))
        }
        ("GET", "/status") => (200, status_body()),
        ("GET", "/events") => match since {
            None => (200, events(&[1, 2], "2")),
            Some("1") => {
                return Ok(Response::builder()
                    .status(410)
                    .body(Full::new(Bytes::from(
                        json!({"apiVersion": "control.routerd.net/v1alpha1", "kind": "Error",
                            "error": {"code": "CursorExpired", "message": "cursor 1 is older than retention", "cursor": "5"}})
                        .to_string(),
                    )))
                    .unwrap_or_default())
            }
            Some("5") => (200, events(&[6, 7], "7")),
            Some("7") if mode.load(Ordering::SeqCst) == EVENT_8 => (200, events(&[8], "8")),
            Some(other) => {
                // Nothing new: behave like a long poll reaching its deadline, quickly.
                tokio::time::sleep(Duration::from_millis(100)).await;
                (200, events(&[], other))
            }
        },
        ("GET", "/resources/IPv4StaticAddress/nope") => {
            return Ok(error(
                404,
                "NotFound",
                "no IPv4StaticAddress named \"nope\"",
                json!([{"resource": "IPv4StaticAddress/nope", "field": "metadata.name", "message": "known: lan"}]),
            ))
        }
        ("POST", "/apply") => {
            let manifest = body["manifest"].as_str().unwrap_or_default();
            if manifest.contains("wan2") {
                return Ok(error(
                    422,
                    "Invalid",
                    "1 resource is invalid",
                    json!([{"resource": "IPv4StaticAddress/lan", "field": "spec.interface",
                        "message": "no Interface named \"wan2\" (known: lan)"}]),
                ));
            }
            (
                200,
                json!({"apiVersion": "control.routerd.net/v1alpha1", "kind": "ApplyResult",
                    "generation": 4, "previousGeneration": 3, "dryRun": false,
                    "changes": [
                        {"id": "net.routerd.net/v1alpha1/Interface/lan", "action": "unchanged"},
                        {"id": "net.routerd.net/v1alpha1/IPv4StaticAddress/lan", "action": "created"}],
                    "warnings": ["Interface/lan: mtu 9000 is larger than the link supports"]}),
            )
        }
        ("POST", "/delete") => {
            return Ok(error(403, "Forbidden", "uid 1000 may not change routerd", json!([])))
        }
        _ => return Ok(error(404, "NotFound", "unknown path", json!([]))),
    };
    Ok(respond(status, &answer))
}

fn respond(status: u16, body: &Value) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp
}

fn error(status: u16, code: &str, message: &str, details: Value) -> Response<Full<Bytes>> {
    respond(
        status,
        &json!({"apiVersion": "control.routerd.net/v1alpha1", "kind": "Error",
            "error": {"code": code, "message": message, "details": details}}),
    )
}

fn status_body() -> Value {
    json!({
        "apiVersion": "control.routerd.net/v1alpha1", "kind": "Status", "metadata": {"name": "routerd"},
        "status": {
            "phase": "Healthy", "version": "0.1.0", "startedAt": "2026-01-01T00:00:00Z", "generation": 3,
            "resourceCount": 2, "resourcePhases": {"Applied": 1, "Up": 1}, "resourcePhaseIssues": [],
            "controllers": [{"name": "address", "mode": "live", "resourceKinds": ["IPv4StaticAddress"],
                "reconcileCount": 5, "reconcileErrorCount": 0, "consecutiveErrorCount": 0, "currentError": false}],
            "daemons": []
        }
    })
}

fn events(cursors: &[u64], cursor: &str) -> Value {
    let items: Vec<Value> = cursors
        .iter()
        .map(|c| {
            json!({"cursor": c.to_string(), "time": format!("2026-01-01T00:00:{c:02}.5Z"),
                "topic": "routerd.address.applied", "severity": "info",
                "source": {"kind": "routerd"}, "message": format!("event {c}"),
                "attributes": {"resource.kind": "IPv4StaticAddress", "resource.name": "lan", "address": "192.0.2.1/24"}})
        })
        .collect();
    json!({"apiVersion": "control.routerd.net/v1alpha1", "kind": "EventList", "cursor": cursor, "items": items})
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn get_status_prints_a_table_from_the_status_socket() {
    let fake = FakeRouterd::start();
    let out = fake.routerctl(&["get", "status"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(stdout.starts_with("Phase:       Healthy\n"), "{stdout}");
    assert!(stdout.contains("Generation:  3\n"), "{stdout}");
    assert!(
        stdout.contains("Every resource is in a good phase."),
        "{stdout}"
    );
    assert!(stdout.contains("address  live  "), "{stdout}");
    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].socket, "status");
    assert_eq!(seen[0].uri, format!("{PREFIX}/status"));

    let out = fake.routerctl(&["get", "status", "-o", "json"]);
    let json: Value = serde_json::from_slice(&out.stdout).expect("json output");
    assert_eq!(json["status"]["startedAt"], "2026-01-01T00:00:00Z");
}

#[test]
fn get_events_lists_a_table() {
    let fake = FakeRouterd::start();
    let out = fake.routerctl(&[
        "get",
        "events",
        "--topic",
        "routerd.address.*",
        "--resource",
        "addr/lan",
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("CURSOR  TIME"), "{stdout}");
    assert!(
        lines[1].contains("routerd.address.applied  IPv4StaticAddress/lan  event 1"),
        "{stdout}"
    );
    let uri = &fake.seen()[0].uri;
    assert!(
        uri.ends_with("/events?topic=routerd.address.*&resource=IPv4StaticAddress/lan"),
        "{uri}"
    );
}

#[test]
fn api_errors_print_message_code_and_details_and_exit_1() {
    let fake = FakeRouterd::start();
    let out = fake.routerctl(&["get", "addr", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: no IPv4StaticAddress named \"nope\" (NotFound)\n  IPv4StaticAddress/nope: metadata.name: known: lan\n"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn apply_sends_one_manifest_to_the_main_socket() {
    let fake = FakeRouterd::start();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("10-lan.yaml"),
        "apiVersion: net.routerd.net/v1alpha1\nkind: Interface\nmetadata: {name: lan}\nspec: {ifname: eth1}\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("20-addr.yaml"),
        "apiVersion: net.routerd.net/v1alpha1\nkind: IPv4StaticAddress\nmetadata: {name: lan}\nspec: {interface: lan, address: 192.0.2.1/24}\n",
    )
    .expect("write");
    let dir_arg = dir.path().to_string_lossy().into_owned();
    let out = fake.routerctl(&["apply", "-f", &dir_arg]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "IPv4StaticAddress/lan created\ngeneration 4 (was 3)\n"
    );
    assert!(
        text(&out.stderr).contains("warning: Interface/lan: mtu 9000"),
        "{}",
        text(&out.stderr)
    );

    let seen = fake.seen();
    assert_eq!(seen[0].socket, "main");
    assert_eq!(seen[0].method, "POST");
    let body = &seen[0].body;
    assert_eq!(body["kind"], "ApplyRequest");
    assert_eq!(body["mode"], "merge");
    assert_eq!(body["dryRun"], false);
    let manifest = body["manifest"].as_str().unwrap_or_default();
    assert!(
        manifest.contains("spec: {ifname: eth1}\n---\napiVersion"),
        "{manifest}"
    );

    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: net.routerd.net/v1alpha1\nkind: IPv4StaticAddress\nmetadata: {name: lan}\nspec: {interface: wan2, address: 192.0.2.1/24}\n",
    )
    .expect("write");
    let out = fake.routerctl(&[
        "apply",
        "-f",
        &bad.to_string_lossy(),
        "--replace",
        "--dry-run",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: 1 resource is invalid (Invalid)\n  IPv4StaticAddress/lan: spec.interface: no Interface named \"wan2\" (known: lan)\n"
    );
    let last = fake.seen().pop().expect("a request");
    assert_eq!(last.body["mode"], "replace");
    assert_eq!(last.body["dryRun"], true);
}

#[test]
fn forbidden_is_exit_4_and_delete_normalises_kinds() {
    let fake = FakeRouterd::start();
    let out = fake.routerctl(&["delete", "addr", "lan", "wan"]);
    assert_eq!(out.status.code(), Some(4));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("error: uid 1000 may not change routerd (Forbidden)\n"),
        "{stderr}"
    );
    assert!(stderr.contains("sudo"), "{stderr}");
    let seen = fake.seen();
    assert_eq!(seen[0].socket, "main");
    assert_eq!(
        seen[0].body["targets"],
        json!(["IPv4StaticAddress/lan", "IPv4StaticAddress/wan"])
    );
}

#[test]
fn a_missing_socket_is_exit_3_naming_the_path() {
    let empty = tempfile::tempdir().expect("tempdir");
    let out = routerctl_in(empty.path(), &["get", "status"]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = text(&out.stderr);
    let expected = empty.path().join("routerd-status.sock");
    assert!(stderr.contains(&expected.display().to_string()), "{stderr}");
    assert!(
        stderr.contains("--runtime-dir") && stderr.contains("ROUTERD_RUNTIME_DIR"),
        "{stderr}"
    );
}

#[test]
fn usage_errors_are_exit_2() {
    let empty = tempfile::tempdir().expect("tempdir");
    for args in [
        vec!["get", "nonsense"],
        vec!["describe", "addr"],
        vec!["get", "status", "--phase", "Up"],
    ] {
        let out = routerctl_in(empty.path(), &args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

/// A running `routerctl events --follow`, with its stdout lines delivered through a channel so the test
/// can wait with a deadline instead of hanging.
struct Follower {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
    errors: mpsc::Receiver<String>,
}

impl Follower {
    fn start(runtime_dir: &Path, extra: &[&str]) -> Follower {
        let mut child = Command::new(env!("CARGO_BIN_EXE_routerctl"))
            .arg("--runtime-dir")
            .arg(runtime_dir)
            .args(["events", "--follow"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn routerctl");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        Follower {
            child,
            lines: line_channel(stdout),
            errors: line_channel(stderr),
        }
    }

    fn next_error(&self) -> String {
        self.errors
            .recv_timeout(Duration::from_secs(10))
            .expect("a stderr line within 10s")
    }

    fn next_line(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(10))
            .expect("a line within 10s")
    }

    /// Sends SIGINT as a terminal's Ctrl-C would, and returns the exit code and stderr.
    fn interrupt(mut self) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("run kill");
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("routerctl did not stop on SIGINT");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stderr: Vec<String> = self.errors.try_iter().collect();
        (status.code(), stderr.join("\n"))
    }
}

fn line_channel(source: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(source).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

#[test]
fn follow_continues_after_an_expired_cursor_and_stops_cleanly_on_ctrl_c() {
    let fake = FakeRouterd::start();
    let follower = Follower::start(fake.runtime_dir(), &["--since", "1"]);
    assert_eq!(
        follower.next_line(),
        "2026-01-01T00:00:06.500Z info routerd.address.applied IPv4StaticAddress/lan event 6 address=192.0.2.1/24"
    );
    assert!(follower.next_line().contains(" event 7 "));
    // Let it poll after cursor 7 at least once before stopping it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !fake.seen().iter().any(|s| s.uri.contains("since=7")) {
        assert!(Instant::now() < deadline, "no poll after cursor 7");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, stderr) = follower.interrupt();
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert!(
        stderr.contains(
            "warning: events after cursor 1 were removed by retention; continuing from 5"
        ),
        "{stderr}"
    );

    let polls: Vec<String> = fake.seen().into_iter().map(|s| s.uri).collect();
    assert!(polls.iter().all(|u| u.contains("wait=30s")), "{polls:?}");
}

#[test]
fn follow_without_since_shows_the_tail_then_follows_from_its_end() {
    let fake = FakeRouterd::start();
    let follower = Follower::start(fake.runtime_dir(), &["-o", "json"]);
    let first: Value = serde_json::from_str(&follower.next_line()).expect("json line");
    let second: Value = serde_json::from_str(&follower.next_line()).expect("json line");
    assert_eq!(
        (first["cursor"].as_str(), second["cursor"].as_str()),
        (Some("1"), Some("2"))
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !fake
        .seen()
        .iter()
        .any(|s| s.uri.contains("since=2") && s.uri.contains("wait=30s"))
    {
        assert!(
            Instant::now() < deadline,
            "no long poll after cursor 2: {:?}",
            fake.seen()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, _) = follower.interrupt();
    assert_eq!(code, Some(0));
}

#[test]
fn follow_rides_out_a_routerd_restart_and_keeps_its_cursor() {
    let fake = FakeRouterd::start();
    let follower = Follower::start(fake.runtime_dir(), &["--since", "7"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !fake.seen().iter().any(|s| s.uri.contains("since=7")) {
        assert!(Instant::now() < deadline, "no poll after cursor 7");
        std::thread::sleep(Duration::from_millis(20));
    }
    fake.set_mode(OUTAGE);
    let retrying = follower.next_error();
    assert!(
        retrying.contains("retrying every 500ms") && retrying.contains("cursor 7"),
        "{retrying}"
    );
    fake.set_mode(EVENT_8);
    assert!(follower.next_line().contains(" event 8 "));
    let reconnected = follower.next_error();
    assert!(reconnected.contains("reconnected"), "{reconnected}");
    let (code, _) = follower.interrupt();
    assert_eq!(code, Some(0));
}

#[test]
fn follow_fails_fast_when_routerd_was_never_reachable() {
    let empty = tempfile::tempdir().expect("tempdir");
    let out = routerctl_in(empty.path(), &["events", "--follow", "--since", "3"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
}
