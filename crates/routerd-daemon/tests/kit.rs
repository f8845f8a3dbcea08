//! The kit end to end: a tiny daemon served on a temporary socket, driven over HTTP/1.1 like routerd's
//! poller and routerctl drive the real ones.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed set-up is the test's failure

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Request, StatusCode};
use hyper_util::rt::TokioIo;
use routerd_api::daemon::{CommandResult, DaemonResourceStatus, ResourceRef};
use routerd_api::event::{Event, NewEvent, Severity};
use routerd_api::Phase;
use routerd_daemon::{
    clamp_wait, load_config, serve, CommandError, Daemon, DaemonArgs, EventLog, LogFormat,
    StopHandle,
};
use serde_json::{json, Value};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

const KIND: &str = "routerd-healthcheck";

#[derive(Default)]
struct TestDaemon {
    renews: AtomicU32,
    shutdowns: AtomicU32,
    wedged: Mutex<Option<String>>,
}

impl Daemon for TestDaemon {
    fn resources(&self) -> Vec<DaemonResourceStatus> {
        let mut observed = serde_json::Map::new();
        observed.insert("renews".into(), self.renews.load(Ordering::SeqCst).into());
        vec![DaemonResourceStatus {
            resource: ResourceRef {
                api_version: "net.routerd.net/v1alpha1".into(),
                kind: "HealthCheck".into(),
                name: "internet".into(),
            },
            phase: Phase::Healthy,
            conditions: Vec::new(),
            observed,
            since: None,
        }]
    }

    fn command<'a>(
        &'a self,
        name: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<CommandResult, CommandError>> + Send + 'a>> {
        Box::pin(async move {
            match name {
                "renew" => {
                    let n = self.renews.fetch_add(1, Ordering::SeqCst) + 1;
                    Ok(CommandResult {
                        command: name.into(),
                        accepted: true,
                        message: "probing now".into(),
                        result: Some(json!({"renews": n})),
                    })
                }
                "reload" => Err(CommandError::Rejected("config.json is unchanged".into())),
                "probe" => Ok(CommandResult {
                    command: name.into(),
                    accepted: false,
                    message: "a probe is already running".into(),
                    result: None,
                }),
                _ => Err(CommandError::Unknown),
            }
        })
    }

    fn extra_commands(&self) -> &'static [&'static str] {
        &["probe"]
    }

    fn shutdown<'a>(&'a self) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            self.shutdowns.fetch_add(1, Ordering::SeqCst);
        })
    }

    fn health(&self) -> Result<(), String> {
        match self.wedged.lock().unwrap().clone() {
            Some(reason) => Err(reason),
            None => Ok(()),
        }
    }
}

struct Running {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    state_dir: PathBuf,
    daemon: Arc<TestDaemon>,
    events: EventLog,
    stop: StopHandle,
    server: tokio::task::JoinHandle<Result<(), routerd_daemon::DaemonError>>,
}

/// Waits (at most 5 s) for a stopped daemon's server task and requires it to have ended cleanly.
async fn served(server: tokio::task::JoinHandle<Result<(), routerd_daemon::DaemonError>>) {
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("serve returned after stop")
        .expect("the server task did not panic")
        .expect("serve ended without an error");
}

async fn start() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state");
    let socket = dir.path().join("run").join("internet.sock");
    let args = DaemonArgs {
        name: "internet".into(),
        config: state_dir.join("config.json"),
        socket: socket.clone(),
        state_dir: state_dir.clone(),
        log_format: LogFormat::Text,
    };
    let events = EventLog::open(&state_dir, KIND, "internet").unwrap();
    let daemon = Arc::new(TestDaemon::default());
    let stop = StopHandle::new();
    let server = tokio::spawn({
        let (daemon, events, stop) = (daemon.clone(), events.clone(), stop.clone());
        async move { serve(&args, KIND, daemon, events, stop).await }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(&socket).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the daemon never started serving"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Running {
        _dir: dir,
        socket,
        state_dir,
        daemon,
        events,
        stop,
        server,
    }
}

async fn send(
    socket: &Path,
    method: &str,
    uri: &str,
    body: Vec<u8>,
) -> (StatusCode, HeaderMap, Value) {
    let stream = UnixStream::connect(socket).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header(hyper::header::HOST, "localhost")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{uri}: not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
    (status, headers, value)
}

async fn get(socket: &Path, uri: &str) -> (StatusCode, HeaderMap, Value) {
    send(socket, "GET", uri, Vec::new()).await
}

async fn post(socket: &Path, uri: &str) -> (StatusCode, HeaderMap, Value) {
    send(socket, "POST", uri, Vec::new()).await
}

fn items(v: &Value) -> Vec<Event> {
    serde_json::from_value(v["items"].clone()).unwrap()
}

fn file_events(state_dir: &Path) -> Vec<Event> {
    std::fs::read_to_string(state_dir.join("events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_answers_per_the_contract() {
    let d = start().await;
    let s = d.socket.as_path();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(s).unwrap().permissions().mode() & 0o777,
        0o660
    );

    // healthz
    let (st, _, v) = get(s, "/v1/healthz").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        v,
        json!({"apiVersion": "daemon.routerd.net/v1alpha1", "kind": "Health", "status": "ok"})
    );
    *d.daemon.wedged.lock().unwrap() = Some("main loop stuck for 30s".into());
    let (st, _, v) = get(s, "/v1/healthz").await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(v["status"], "failing");
    assert_eq!(v["reason"], "main loop stuck for 30s");
    *d.daemon.wedged.lock().unwrap() = None;

    // status
    let (st, _, v) = get(s, "/v1/status").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["apiVersion"], "daemon.routerd.net/v1alpha1");
    assert_eq!(v["kind"], "DaemonStatus");
    assert_eq!(v["daemon"]["kind"], KIND);
    assert_eq!(v["daemon"]["instance"], "internet");
    assert_eq!(v["daemon"]["pid"], std::process::id());
    assert!(v["daemon"]["startedAt"].is_string());
    assert_eq!(v["phase"], "Running");
    assert_eq!(v["resources"][0]["phase"], "Healthy");
    assert_eq!(v["resources"][0]["observed"]["renews"], 0);
    assert_eq!(v["eventCursor"], d.events.head());

    // events: lifecycle started then ready
    let (st, _, v) = get(s, "/v1/events").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["kind"], "EventList");
    let evs = items(&v);
    let topics: Vec<_> = evs.iter().map(|e| e.topic.as_str()).collect();
    assert_eq!(
        topics,
        [
            "routerd.daemon.lifecycle.started",
            "routerd.daemon.lifecycle.ready"
        ]
    );
    assert_eq!(evs[0].source.kind, KIND);
    assert_eq!(evs[0].source.instance, "internet");
    assert_eq!(v["cursor"], evs[1].cursor);
    let (_, _, v) = get(s, "/v1/events?topic=routerd.daemon.lifecycle.ready").await;
    assert_eq!(items(&v).len(), 1);
    let (_, _, v) = get(s, "/v1/events?topic=routerd.nat.%2A%2A").await;
    assert!(items(&v).is_empty());
    assert_eq!(
        v["cursor"],
        d.events.head(),
        "no since and nothing returned: the head"
    );
    let since = evs[0].cursor.clone();
    let (_, _, v) = get(s, &format!("/v1/events?since={since}&topic=routerd.nat.**")).await;
    assert_eq!(v["cursor"], since, "nothing returned: the since cursor");
    let (_, _, v) = get(s, &format!("/v1/events?since={since}&limit=1")).await;
    assert_eq!(items(&v)[0].topic, "routerd.daemon.lifecycle.ready");

    // malformed parameters name themselves
    for (query, name) in [
        ("wait=soon", "wait"),
        ("wait=-3", "wait"),
        ("topic=Bad.Topic", "topic"),
        ("limit=many", "limit"),
    ] {
        let (st, _, v) = get(s, &format!("/v1/events?{query}")).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(v["kind"], "Error");
        assert_eq!(v["error"]["code"], "BadRequest");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("query parameter {name}")),
            "{message}"
        );
    }

    // a cursor from another epoch, or garbage: 410 with the head
    for cursor in ["0123456789abcdef:1", "nonsense"] {
        let (st, _, v) = get(s, &format!("/v1/events?since={cursor}")).await;
        assert_eq!(st, StatusCode::GONE);
        assert_eq!(v["apiVersion"], "daemon.routerd.net/v1alpha1");
        assert_eq!(v["error"]["code"], "CursorExpired");
        assert_eq!(v["error"]["cursor"], d.events.head());
    }

    // commands
    let (st, _, v) = post(s, "/v1/commands/renew").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["kind"], "CommandResult");
    assert_eq!(v["command"], "renew");
    assert_eq!(v["accepted"], true);
    assert_eq!(v["result"]["renews"], 1);
    assert_eq!(d.daemon.renews.load(Ordering::SeqCst), 1);
    let last = d.events.since(None, &[], 1000).unwrap().pop().unwrap();
    assert_eq!(last.topic, "routerd.daemon.command.accepted");
    assert_eq!(last.attributes["command"], "renew");

    let (st, _, v) = post(s, "/v1/commands/reload").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(v["kind"], "CommandResult");
    assert_eq!(v["accepted"], false);
    assert_eq!(v["message"], "config.json is unchanged");
    assert_eq!(v["error"]["code"], "BadRequest");
    let last = d.events.since(None, &[], 1000).unwrap().pop().unwrap();
    assert_eq!(last.topic, "routerd.daemon.command.rejected");
    assert_eq!(last.attributes["command"], "reload");

    let (st, _, v) = post(s, "/v1/commands/probe").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(v["message"], "a probe is already running");

    let (st, _, v) = post(s, "/v1/commands/bogus").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(v["accepted"], false);
    assert_eq!(
        v["message"],
        "unknown command bogus (known: reload, renew, probe, stop)"
    );

    // wrong method, unknown path, oversized body
    let (st, h, v) = get(s, "/v1/commands/renew").await;
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(h[hyper::header::ALLOW], "POST");
    assert_eq!(v["error"]["code"], "MethodNotAllowed");
    let (st, h, _) = post(s, "/v1/status").await;
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(h[hyper::header::ALLOW], "GET");
    for path in ["/v1/nope", "/v1/commands/", "/v1/commands/a/b", "/"] {
        let (st, _, v) = get(s, path).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(v["error"]["code"], "NotFound");
    }
    let (st, _, v) = send(s, "POST", "/v1/commands/renew", vec![b'x'; 65 * 1024]).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(v["error"]["code"], "PayloadTooLarge");
    assert_eq!(
        d.daemon.renews.load(Ordering::SeqCst),
        1,
        "a refused request does not run"
    );

    // long-poll wakes within 100 ms of an append
    let head = d.events.head();
    let poll = tokio::spawn({
        let s = d.socket.clone();
        let head = head.clone();
        async move {
            let r = get(
                &s,
                &format!("/v1/events?since={head}&wait=30s&topic=routerd.healthcheck.**"),
            )
            .await;
            (r, Instant::now())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !poll.is_finished(),
        "the long-poll waits while nothing matches"
    );
    d.events
        .append(NewEvent::new(
            "routerd.daemon.lifecycle.restarted",
            Severity::Info,
            "not matching",
        ))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !poll.is_finished(),
        "a non-matching event does not end the long-poll"
    );
    let appended_at = Instant::now();
    let appended = d
        .events
        .append(NewEvent::new(
            "routerd.healthcheck.probe.failed",
            Severity::Warning,
            "probe failed",
        ))
        .unwrap();
    let ((st, _, v), answered_at) = poll.await.unwrap();
    assert_eq!(st, StatusCode::OK);
    let latency = answered_at - appended_at;
    assert!(
        latency < Duration::from_millis(100),
        "woke after {latency:?}"
    );
    assert_eq!(items(&v), std::slice::from_ref(&appended));
    assert_eq!(v["cursor"], appended.cursor);

    // wait=10h is clamped, not refused; with a matching event present it answers at once
    let started = Instant::now();
    let (st, _, v) = get(
        s,
        &format!("/v1/events?since={head}&wait=10h&topic=routerd.healthcheck.**"),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(items(&v), [appended]);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        clamp_wait(routerd_api::duration::parse_duration("10h").unwrap()),
        Duration::from_secs(60)
    );

    // a long-poll in flight ends promptly at stop; stop makes serve return
    let head = d.events.head();
    let pending = tokio::spawn({
        let s = d.socket.clone();
        async move {
            get(
                &s,
                &format!("/v1/events?since={head}&wait=60s&topic=routerd.nat.**"),
            )
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (st, _, v) = post(s, "/v1/commands/stop").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["accepted"], true);
    let stopping = Instant::now();
    let (st, _, v) = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .expect("the long-poll ended at stop")
        .unwrap();
    assert_eq!(st, StatusCode::OK);
    assert!(items(&v).is_empty());
    served(d.server).await;
    assert!(stopping.elapsed() < Duration::from_secs(5));
    assert!(d.stop.is_stopped());
    assert_eq!(d.daemon.shutdowns.load(Ordering::SeqCst), 1);
    assert!(!d.socket.exists(), "the socket is removed");

    let on_disk = file_events(&d.state_dir);
    let last = on_disk.last().unwrap();
    assert_eq!(last.topic, "routerd.daemon.lifecycle.stopped");
    assert_eq!(last.attributes["reason"], "stop command");
    let stop_cmd = &on_disk[on_disk.len() - 2];
    assert_eq!(stop_cmd.topic, "routerd.daemon.command.accepted");
    assert_eq!(stop_cmd.attributes["command"], "stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_requested_by_the_daemon_and_a_socket_in_use() {
    let d = start().await;
    // A second instance on the same socket is refused, and the first keeps serving.
    let args = DaemonArgs {
        name: "internet".into(),
        config: d.state_dir.join("config.json"),
        socket: d.socket.clone(),
        state_dir: d.state_dir.clone(),
        log_format: LogFormat::Text,
    };
    let head = d.events.head();
    let err = serve(
        &args,
        KIND,
        Arc::new(TestDaemon::default()),
        d.events.clone(),
        StopHandle::new(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("is in use: another routerd-healthcheck is serving on it"),
        "{err}"
    );
    assert_eq!(d.events.head(), head, "the refused instance wrote no event");
    let (st, _, _) = get(&d.socket, "/v1/healthz").await;
    assert_eq!(st, StatusCode::OK);

    d.stop.request();
    served(d.server).await;
    let last = file_events(&d.state_dir).pop().unwrap();
    assert_eq!(last.topic, "routerd.daemon.lifecycle.stopped");
    assert_eq!(last.attributes["reason"], "requested by the daemon");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let d = start().await;
    let mut raw = UnixStream::connect(&d.socket).await.unwrap();
    raw.write_all(b"GET /v1/healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(15), raw.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the connection was closed");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
    d.stop.request();
    served(d.server).await;
}

#[test]
fn a_malformed_config_names_the_file_and_the_field() {
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Config {
        target: String,
        interval_seconds: u32,
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(
        &path,
        "{\n  \"target\": \"192.0.2.1\",\n  \"intervalSeconds\": \"often\"\n}\n",
    )
    .unwrap();
    let err = load_config::<Config>(&path).unwrap_err().to_string();
    assert!(err.starts_with(&format!("{}:3:", path.display())), "{err}");
    assert!(
        err.contains("field intervalSeconds: invalid type: string \"often\""),
        "{err}"
    );

    std::fs::write(
        &path,
        r#"{"target": "192.0.2.1", "intervalSeconds": 5, "extra": 1}"#,
    )
    .unwrap();
    let err = load_config::<Config>(&path).unwrap_err().to_string();
    assert!(
        err.contains("config.json:1:") && err.contains("unknown field `extra`"),
        "{err}"
    );
}

/// `GET /v1/logs` serves the newest lines of the daemon's log file (where routerd points its stdout
/// and stderr), reaching into the rotated file; so an adopted daemon's output stays readable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_served_from_the_daemon_log_file() {
    let d = start().await;
    let log = routerd_api::daemon::daemon_log_path(&d.socket);
    std::fs::write(format!("{}.1", log.display()), "old line\n").unwrap();
    std::fs::write(&log, "line one\nline two\n").unwrap();
    routerd_daemon::set_log_file(log.clone());
    let (st, _, v) = get(&d.socket, "/v1/logs?lines=2").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["kind"], "DaemonLog");
    assert_eq!(v["lines"], json!(["line one", "line two"]));
    let (_, _, v) = get(&d.socket, "/v1/logs").await;
    assert_eq!(v["lines"], json!(["old line", "line one", "line two"]));
    let (st, _, _) = get(&d.socket, "/v1/logs?lines=many").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    d.stop.request();
    served(d.server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_zero_reads_from_the_oldest_event_held() {
    let d = start().await;
    let (_, _, all) = get(&d.socket, "/v1/events").await;
    assert!(!items(&all).is_empty(), "the lifecycle events are there");
    let (st, _, v) = get(&d.socket, "/v1/events?since=0").await;
    assert_eq!(st, StatusCode::OK, "since=0: {v}");
    assert_eq!(items(&v), items(&all), "since=0 is the same as no since");
    d.stop.request();
    served(d.server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_answered_before_the_body_arrives_still_reaches_the_client() {
    let d = start().await;
    for (method, uri, expected) in [
        ("POST", "/v1/status", "405"),
        ("POST", "/v1/nowhere", "404"),
        ("PUT", "/v1/commands/renew", "405"),
    ] {
        match routerd_testkit::head_then_late_body(&d.socket, method, uri).await {
            Ok(line) => assert!(line.contains(expected), "{method} {uri}: {line}"),
            Err(e) => panic!("{method} {uri}: {e}"),
        }
    }
    d.stop.request();
    served(d.server).await;
}
