use super::*;
use proptest::prelude::*;
use routerd_api::event::Severity;

fn ev(topic: &str) -> NewEvent {
    NewEvent::new(topic, Severity::Info, "test event").resource("HealthCheck", "internet")
}

fn open(dir: &Path) -> EventLog {
    EventLog::open(dir, "routerd-healthcheck", "internet").unwrap()
}

fn epoch_of(cursor: &str) -> String {
    Cursor::parse(cursor).unwrap().epoch
}

fn n_of(cursor: &str) -> u64 {
    Cursor::parse(cursor).unwrap().n
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn cursors_count_from_one_and_continue_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let empty_head = log.head();
    let epoch = epoch_of(&empty_head);
    assert_eq!(epoch.len(), 16);
    assert_eq!(empty_head, format!("{epoch}:0"));

    let first = log.append(ev("routerd.healthcheck.probe.passed")).unwrap();
    assert_eq!(first.cursor, format!("{epoch}:1"));
    assert_eq!(first.source.kind, "routerd-healthcheck");
    assert_eq!(first.source.instance, "internet");
    log.append(ev("routerd.healthcheck.probe.failed")).unwrap();
    log.append(ev("routerd.healthcheck.state.unhealthy"))
        .unwrap();
    assert_eq!(log.head(), format!("{epoch}:3"));
    drop(log);

    let file = lines(&dir.path().join(EVENTS_FILE));
    assert_eq!(file.len(), 3);
    let parsed: Event = serde_json::from_str(&file[0]).unwrap();
    assert_eq!(parsed, first);
    assert!(
        !file[0].contains('\n') && !file[0].contains(": "),
        "compact: {}",
        file[0]
    );

    let log = open(dir.path());
    assert_eq!(log.head(), format!("{epoch}:3"));
    let next = log.append(ev("routerd.healthcheck.probe.passed")).unwrap();
    assert_eq!(next.cursor, format!("{epoch}:4"));
    let all = log.since(None, &[], 100).unwrap();
    assert_eq!(
        all.iter().map(|e| n_of(&e.cursor)).collect::<Vec<_>>(),
        [1, 2, 3, 4],
        "the ring is reloaded from the file"
    );
    assert_eq!(all[0], first);
}

#[test]
fn a_torn_last_line_is_dropped_and_the_next_line_starts_clean() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.append(ev("routerd.healthcheck.probe.passed")).unwrap();
    let second = log.append(ev("routerd.healthcheck.probe.failed")).unwrap();
    drop(log);
    let path = dir.path().join(EVENTS_FILE);
    let epoch = epoch_of(&second.cursor);
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    write!(f, "{{\"cursor\":\"{epoch}:3\",\"time\":\"20").unwrap();
    drop(f);

    let log = open(dir.path());
    assert_eq!(log.head(), format!("{epoch}:2"));
    let third = log.append(ev("routerd.healthcheck.probe.passed")).unwrap();
    assert_eq!(third.cursor, format!("{epoch}:3"));
    let file = lines(&path);
    assert_eq!(file.len(), 3);
    for l in &file {
        serde_json::from_str::<Event>(l).unwrap();
    }
}

#[test]
fn a_complete_last_event_without_newline_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let first = log.append(ev("routerd.healthcheck.probe.passed")).unwrap();
    drop(log);
    let path = dir.path().join(EVENTS_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.trim_end()).unwrap();

    let log = open(dir.path());
    assert_eq!(log.head(), first.cursor);
    log.append(ev("routerd.healthcheck.probe.failed")).unwrap();
    let file = lines(&path);
    assert_eq!(file.len(), 2);
    assert_eq!(serde_json::from_str::<Event>(&file[0]).unwrap(), first);
}

#[test]
fn rotates_to_one_old_generation_and_recovers_across_both() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(EVENTS_FILE);
    let rotated = dir.path().join("events.jsonl.1");
    let log = EventLog::open_with_limits(dir.path(), "routerd-x", "a", 1000, 1024).unwrap();
    let mut last = String::new();
    for _ in 0..40 {
        last = log
            .append(ev("routerd.healthcheck.probe.passed"))
            .unwrap()
            .cursor;
        assert!(std::fs::metadata(&path).unwrap().len() <= 1024);
    }
    assert!(rotated.exists(), "rotated at the threshold");
    assert!(
        !dir.path().join("events.jsonl.2").exists(),
        "one old generation only"
    );
    let kept_in_files = lines(&rotated).len() + lines(&path).len();
    assert!(kept_in_files < 40);
    drop(log);

    let log = EventLog::open_with_limits(dir.path(), "routerd-x", "a", 1000, 1024).unwrap();
    assert_eq!(log.head(), last);
    let reloaded = log.since(None, &[], 1000).unwrap();
    assert_eq!(
        reloaded.len(),
        kept_in_files,
        "ring reloaded from both files"
    );
    assert_eq!(reloaded.last().unwrap().cursor, last);
    // The ring (not the files) decides what is expired: cursor 1 is no longer reachable.
    let epoch = epoch_of(&last);
    assert!(log.since(Some(&format!("{epoch}:1")), &[], 10).is_err());
    let next = log.append(ev("routerd.healthcheck.probe.passed")).unwrap();
    assert_eq!(n_of(&next.cursor), 41);
}

#[test]
fn recovers_from_the_old_generation_when_the_current_file_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open_with_limits(dir.path(), "routerd-x", "a", 1000, 600).unwrap();
    let mut last = String::new();
    for _ in 0..10 {
        last = log
            .append(ev("routerd.healthcheck.probe.passed"))
            .unwrap()
            .cursor;
    }
    drop(log);
    let rotated = dir.path().join("events.jsonl.1");
    let in_rotated: Vec<Event> = lines(&rotated)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    std::fs::remove_file(dir.path().join(EVENTS_FILE)).unwrap();

    let log = EventLog::open_with_limits(dir.path(), "routerd-x", "a", 1000, 600).unwrap();
    let highest = in_rotated.last().unwrap().cursor.clone();
    assert_eq!(log.head(), highest);
    assert_eq!(epoch_of(&highest), epoch_of(&last), "same epoch");
    let next = log.append(ev("routerd.healthcheck.probe.passed")).unwrap();
    assert_eq!(n_of(&next.cursor), n_of(&highest) + 1);
}

#[test]
fn a_new_epoch_begins_when_both_files_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let old = log.append(ev("routerd.healthcheck.probe.passed")).unwrap();
    drop(log);
    std::fs::remove_file(dir.path().join(EVENTS_FILE)).unwrap();

    let log = open(dir.path());
    let head = log.head();
    assert_ne!(epoch_of(&head), epoch_of(&old.cursor));
    assert_eq!(n_of(&head), 0);
    let err = log.since(Some(&old.cursor), &[], 10).unwrap_err();
    let EventQueryError::CursorExpired {
        head: h, reason, ..
    } = err;
    assert_eq!(h, head);
    assert!(reason.contains("another epoch"), "{reason}");
    assert_eq!(
        n_of(
            &log.append(ev("routerd.healthcheck.probe.passed"))
                .unwrap()
                .cursor
        ),
        1
    );
}

#[test]
fn expired_cursors_answer_with_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open_with_limits(dir.path(), "routerd-x", "a", 5, ROTATE_BYTES).unwrap();
    for _ in 0..10 {
        log.append(ev("routerd.healthcheck.probe.passed")).unwrap();
    }
    let head = log.head();
    let epoch = epoch_of(&head);
    // The ring holds 6..=10: continuing after 5 misses nothing, after 4 would miss 5.
    assert_eq!(
        log.since(Some(&format!("{epoch}:5")), &[], 100)
            .unwrap()
            .len(),
        5
    );
    for bad in [
        format!("{epoch}:4"),
        format!("{epoch}:0"),
        format!("{epoch}:11"),
        "0123456789abcdef:5".to_string(),
        "garbage".to_string(),
        String::new(),
    ] {
        match log.since(Some(&bad), &[], 100) {
            Err(EventQueryError::CursorExpired { head: h, since, .. }) => {
                assert_eq!(h, head);
                assert_eq!(since, bad);
            }
            Ok(v) => panic!("{bad:?} answered {} events", v.len()),
        }
    }
    assert!(log.since(Some(&head), &[], 100).unwrap().is_empty());
    assert_eq!(log.since(None, &[], 100).unwrap().len(), 5);
}

#[test]
fn filters_by_topic_and_limits() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    for t in [
        "routerd.healthcheck.probe.passed",
        "routerd.daemon.lifecycle.started",
        "routerd.healthcheck.probe.failed",
        "routerd.healthcheck.state.unhealthy",
        "routerd.healthcheck.probe.passed",
    ] {
        log.append(ev(t)).unwrap();
    }
    let p = |s: &str| TopicPattern::parse(s).unwrap();
    let topics = |v: Vec<Event>| v.into_iter().map(|e| e.topic).collect::<Vec<_>>();
    assert_eq!(
        topics(
            log.since(None, &[p("routerd.healthcheck.probe.*")], 100)
                .unwrap()
        ),
        [
            "routerd.healthcheck.probe.passed",
            "routerd.healthcheck.probe.failed",
            "routerd.healthcheck.probe.passed"
        ]
    );
    assert_eq!(
        topics(
            log.since(None, &[p("routerd.daemon.**"), p("**.unhealthy")], 100)
                .unwrap()
        ),
        [
            "routerd.daemon.lifecycle.started",
            "routerd.healthcheck.state.unhealthy"
        ]
    );
    let limited = log.since(None, &[], 2).unwrap();
    assert_eq!(limited.len(), 2);
    let after = log.since(Some(&limited[1].cursor), &[], 100).unwrap();
    assert_eq!(after.len(), 3);
    assert!(log
        .since(None, &[p("routerd.nat.**")], 100)
        .unwrap()
        .is_empty());
}

#[test]
fn an_invalid_topic_is_refused_without_using_a_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let err = log.append(ev("Routerd.Bad")).unwrap_err();
    assert!(err.to_string().contains("must start with"), "{err}");
    assert_eq!(n_of(&log.head()), 0);
}

#[test]
fn the_wait_is_clamped_to_sixty_seconds() {
    assert_eq!(
        clamp_wait(Duration::from_secs(36000)),
        Duration::from_secs(60)
    );
    assert_eq!(
        clamp_wait(Duration::from_millis(500)),
        Duration::from_millis(500)
    );
}

#[tokio::test]
async fn wait_returns_as_soon_as_a_matching_event_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let head = log.head();
    let writer = log.clone();
    let pattern = TopicPattern::parse("routerd.healthcheck.state.*").unwrap();
    let waiter = tokio::spawn({
        let log = log.clone();
        let head = head.clone();
        async move {
            let started = tokio::time::Instant::now();
            let got = log
                .wait(Some(&head), &[pattern], 10, Duration::from_secs(30))
                .await;
            (got, started.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    writer
        .append(ev("routerd.healthcheck.probe.passed"))
        .unwrap(); // does not match: keeps waiting
    tokio::time::sleep(Duration::from_millis(50)).await;
    writer
        .append(ev("routerd.healthcheck.state.healthy"))
        .unwrap();
    let (got, elapsed) = waiter.await.unwrap();
    let got = got.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].topic, "routerd.healthcheck.state.healthy");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");

    let quiet = log
        .wait(Some(&log.head()), &[], 10, Duration::from_millis(50))
        .await
        .unwrap();
    assert!(quiet.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever is in the files, opening never panics, and the log stays usable and well-formed.
    #[test]
    fn arbitrary_file_contents_never_break_recovery(
        current in proptest::collection::vec(any::<u8>(), 0..2048),
        old in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..512)),
        valid_prefix in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(EVENTS_FILE);
        let mut bytes = Vec::new();
        if valid_prefix {
            bytes.extend_from_slice(br#"{"cursor":"00000000000000aa:7","time":"2026-11-23T18:40:12Z","topic":"routerd.x.y","severity":"info","source":{"kind":"k"}}"#);
            bytes.push(b'\n');
        }
        bytes.extend_from_slice(&current);
        std::fs::write(&path, &bytes).unwrap();
        if let Some(old) = old {
            std::fs::write(dir.path().join("events.jsonl.1"), old).unwrap();
        }
        let log = open(dir.path());
        let head = log.head();
        let before = n_of(&head);
        if valid_prefix {
            prop_assert!(before >= 7);
        }
        let next = log.append(ev("routerd.healthcheck.probe.passed")).unwrap();
        prop_assert_eq!(n_of(&next.cursor), before + 1);
        prop_assert_eq!(epoch_of(&next.cursor), epoch_of(&head));
        drop(log);
        // The appended event is readable after reopening: the torn tail did not swallow it.
        let log = open(dir.path());
        prop_assert_eq!(log.head(), next.cursor);
    }
}

#[test]
fn reopening_reloads_only_the_newest_ring_full() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open_with_limits(dir.path(), "routerd-x", "a", 5, ROTATE_BYTES).unwrap();
    for _ in 0..20 {
        log.append(ev("routerd.healthcheck.probe.passed")).unwrap();
    }
    let head = log.head();
    drop(log);
    let log = EventLog::open_with_limits(dir.path(), "routerd-x", "a", 5, ROTATE_BYTES).unwrap();
    assert_eq!(log.head(), head);
    let kept: Vec<u64> = log
        .since(None, &[], 100)
        .unwrap()
        .iter()
        .map(|e| n_of(&e.cursor))
        .collect();
    assert_eq!(kept, [16, 17, 18, 19, 20]);
}
