//! The poller against a fake daemon: a Unix socket answering every request with a fixed body.

use super::*;
use crate::supervisor::{DaemonState, DaemonView};
use routerd_api::topic::TopicPattern;
use routerd_store::EventFilter;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;

/// A daemon socket that answers every request with `200` and `body`; returns the request paths seen.
fn fake_daemon(socket: &Path, body: &'static str) -> Arc<Mutex<Vec<String>>> {
    let listener = UnixListener::bind(socket).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head);
                let path = text.split(' ').nth(1).unwrap_or_default().to_string();
                log.lock().unwrap().push(path);
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    seen
}

fn view(socket: &Path) -> SharedView {
    Arc::new(Mutex::new(DaemonView {
        executable: "routerd-fake",
        instance: "a".into(),
        pid: None,
        socket: socket.to_path_buf(),
        state_dir: socket.to_path_buf(),
        restarts: 0,
        state: DaemonState::Running,
        config_hash: String::new(),
        last_error: None,
        events_error: None,
    }))
}

struct Running {
    _dir: tempfile::TempDir,
    bus: EventBus,
    db: PathBuf,
    view: SharedView,
    seen: Arc<Mutex<Vec<String>>>,
    stop: watch::Sender<bool>,
    _shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// A poller for a fake daemon answering `body`; `before` runs on the database first.
fn start(body: &'static str, before: impl FnOnce(&Path)) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("routerd.db");
    let bus = EventBus::open(&db).unwrap();
    before(&db);
    let socket = dir.path().join("fake.sock");
    let seen = fake_daemon(&socket, body);
    let view = view(&socket);
    let (stop, stop_rx) = watch::channel(false);
    // Kept open: a dropped sender reads as "shutting down".
    let (shutdown_tx, shutdown) = watch::channel(false);
    let task = tokio::spawn(run(
        bus.clone(),
        "routerd-fake",
        "a".into(),
        socket,
        view.clone(),
        stop_rx,
        shutdown,
    ));
    Running {
        _dir: dir,
        bus,
        db,
        view,
        seen,
        stop,
        _shutdown: shutdown_tx,
        task,
    }
}

impl Running {
    fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    fn events_error(&self) -> Option<String> {
        self.view.lock().unwrap().events_error.clone()
    }

    fn failed_events(&self) -> Vec<Event> {
        self.bus
            .query(&routerd_store::EventFilter {
                topics: vec![TopicPattern::parse(EVENTS_FAILED).unwrap()],
                limit: 100,
                ..EventFilter::default()
            })
            .unwrap()
    }

    /// Stops the poller and checks that it ends promptly (the retry sleep listens to stop).
    async fn stop(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_millis(500), self.task)
            .await
            .expect("the poller did not stop during its retry delay")
            .unwrap();
    }
}

/// A page that does not decode is a failure: retried after a growing delay, not in a tight loop,
/// and shown on the daemon and as one event.
#[tokio::test]
async fn a_malformed_page_is_backed_off_and_surfaced() {
    let p = start(r#"{"cursor": "1", "items": [{"bogus": true}]}"#, |_| {});
    tokio::time::sleep(Duration::from_secs(2)).await;
    let requests = p.requests().len();
    assert!(
        (1..=4).contains(&requests),
        "{requests} requests in 2 s for a malformed page"
    );
    let error = p.events_error().expect("the daemon shows no events error");
    assert!(error.contains("MalformedPage"), "{error}");
    let events = p.failed_events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].attributes["reason"], "MalformedPage");
    p.stop().await;
}

/// A stored cursor that cannot be read is read again; the poller never asks "from the start".
#[tokio::test]
async fn an_unreadable_cursor_is_never_taken_for_the_start() {
    let key = cursor_key("routerd-fake", "a");
    let p = start(r#"{"cursor": "7", "items": []}"#, |db| {
        let c = rusqlite::Connection::open(db).unwrap();
        c.execute_batch("ALTER TABLE meta RENAME TO meta_away")
            .unwrap();
    });
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let requests = p.requests();
    assert!(
        requests.is_empty(),
        "{} requests without the cursor, the first: {:?}",
        requests.len(),
        requests.first()
    );
    let error = p.events_error().expect("the daemon shows no events error");
    assert!(error.contains("CursorUnreadable"), "{error}");

    // The store is readable again: the poller continues from the stored cursor.
    let c = rusqlite::Connection::open(&p.db).unwrap();
    c.execute_batch("ALTER TABLE meta_away RENAME TO meta")
        .unwrap();
    c.execute(
        "INSERT INTO meta (key, value) VALUES (?1, '5')",
        [key.as_str()],
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let requests = p.requests();
    assert!(!requests.is_empty(), "no request after the cursor was read");
    assert!(
        requests.iter().all(|r| r.contains("since=5")),
        "{requests:?}"
    );
    assert_eq!(p.events_error(), None);
    p.stop().await;
}
