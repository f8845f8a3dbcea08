//! The supervisor against real processes: small shell scripts stand in for daemons.

use super::*;
use std::os::unix::fs::PermissionsExt;

/// A supervisor over `dir`, finding daemons only in `dir/libexec`.
fn supervisor(dir: &Path) -> (Supervisor, watch::Sender<bool>, EventBus) {
    let bus = EventBus::open(&dir.join("routerd.db")).unwrap();
    let (stop_tx, stop) = watch::channel(false);
    let sv = Supervisor::new(
        SupervisorConfig {
            runtime_dir: dir.join("run"),
            state_dir: dir.join("state"),
            log_format: "text".into(),
            search_dirs: vec![dir.join("libexec")],
        },
        bus.clone(),
        stop,
    );
    (sv, stop_tx, bus)
}

/// Writes an executable shell script `name` into `dir`.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn request(executable: &'static str, instance: &str) -> DaemonRequest {
    DaemonRequest {
        executable,
        instance: instance.into(),
        config: serde_json::json!({"n": 1}),
    }
}

/// routerd runs as root: a daemon executable planted in a `PATH` directory must never be run.
#[tokio::test]
async fn a_daemon_on_path_is_never_run() {
    let dir = tempfile::tempdir().unwrap();
    let planted = dir.path().join("planted");
    let marker = dir.path().join("ran");
    script(
        &planted,
        "routerd-path-only",
        &format!("touch {}", marker.display()),
    );
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![planted.clone()];
    dirs.extend(std::env::split_paths(&path));
    std::env::set_var("PATH", std::env::join_paths(dirs).unwrap());
    let (sv, _stop, _bus) = supervisor(dir.path());
    let result = sv.ensure(request("routerd-path-only", "a")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        matches!(result, Err(SupervisorError::ExecutableMissing(..))),
        "a daemon found on PATH was accepted: {result:?}"
    );
    assert!(!marker.exists(), "the planted executable ran");
}

/// Stop timeouts short enough for a test: SIGTERM after 1 s, SIGKILL 1 s later.
const QUICK_STOP: StopTimeouts = StopTimeouts {
    grace: Duration::from_secs(1),
    after_term: Duration::from_secs(1),
};

/// Waits until every daemon of the supervisor has a pid.
async fn wait_running(sv: &Supervisor, count: usize) {
    for _ in 0..100 {
        let running = sv.list().iter().filter(|d| d.pid.is_some()).count();
        if running >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("daemons did not start: {:?}", sv.list());
}

/// Deleting N daemons that ignore `stop` and SIGTERM takes about one stop timeout, not N, and another
/// controller's `ensure` is answered meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_daemons_stop_together_without_blocking_others() {
    let dir = tempfile::tempdir().unwrap();
    let libexec = dir.path().join("libexec");
    script(
        &libexec,
        "routerd-stubborn",
        "trap '' TERM\nwhile :; do sleep 0.2; done",
    );
    script(&libexec, "routerd-other", "exec sleep 600");
    let (sv, _stop, _bus) = supervisor(dir.path());
    let sv = Arc::new(sv.with_stop_timeouts(QUICK_STOP));
    const N: usize = 4;
    for i in 0..N {
        sv.ensure(request("routerd-stubborn", &format!("s{i}")))
            .await
            .unwrap();
    }
    sv.ensure(request("routerd-other", "o")).await.unwrap();
    wait_running(&sv, N + 1).await;

    let started = std::time::Instant::now();
    let deleting = tokio::spawn({
        let sv = sv.clone();
        async move { sv.retain("routerd-stubborn", &[], Some("release")).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let asked = std::time::Instant::now();
    sv.ensure(request("routerd-other", "o")).await.unwrap();
    let ensure_took = asked.elapsed();
    deleting.await.unwrap();
    let total = started.elapsed();
    let one_stop = QUICK_STOP.grace + QUICK_STOP.after_term;
    assert!(
        ensure_took < Duration::from_millis(500),
        "another daemon's ensure waited {ensure_took:?} for the deletes"
    );
    assert!(
        total < one_stop + Duration::from_millis(1500),
        "{N} deletes took {total:?}; one stop takes {one_stop:?}"
    );
    let left: Vec<_> = sv.list().into_iter().map(|d| d.kind).collect();
    assert_eq!(left, ["routerd-other"]);
    sv.retain("routerd-other", &[], None).await;
}

/// A record whose pid now belongs to another process — even one running the same binary, started
/// later — is not adopted, and deleting the resource never signals that process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recycled_pid_is_neither_adopted_nor_signalled() {
    let dir = tempfile::tempdir().unwrap();
    let libexec = dir.path().join("libexec");
    std::fs::create_dir_all(&libexec).unwrap();
    let stub = libexec.join("routerd-stub");
    let sleep = std::fs::canonicalize("/bin/sleep").unwrap();
    std::fs::copy(sleep, &stub).unwrap();
    // The stranger: the same binary, started after the recorded daemon died, got its pid.
    let mut stranger = std::process::Command::new(&stub).arg("30").spawn().unwrap();
    let (sv, _stop, _bus) = supervisor(dir.path());
    let sv = sv.with_stop_timeouts(QUICK_STOP);
    let req = request("routerd-stub", "a");
    let mut rec = record::Record::new(stranger.id(), &stub, &config_hash(&req.config));
    rec.start_time = rec.start_time.map(|t| t.saturating_sub(100));
    let run = dir.path().join("run");
    std::fs::create_dir_all(run.join("supervisor")).unwrap();
    record::write(&run, "routerd-stub", "a", &rec);

    sv.ensure(req).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let shown = sv.list().first().and_then(|d| d.pid);
    assert_ne!(shown, Some(stranger.id()), "the stranger was adopted");
    sv.retain("routerd-stub", &[], None).await;
    let stranger_state = stranger.try_wait().unwrap();
    let _ = stranger.kill();
    let _ = stranger.wait();
    assert_eq!(stranger_state, None, "the stranger was signalled");
}

/// A daemon's output goes to its own log file, so what it writes after the routerd that started it
/// has gone (a restart, before the next routerd adopts it) is kept, not lost with a broken pipe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_keeps_logging_after_routerd_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    script(
        &dir.path().join("libexec"),
        "routerd-talker",
        "echo 'before routerd stops'\nsleep 1\necho 'after routerd stopped'\necho 'on stderr' >&2\nsleep 30",
    );
    let (sv, stop, _bus) = supervisor(dir.path());
    let view = sv.ensure(request("routerd-talker", "a")).await.unwrap();
    wait_running(&sv, 1).await;
    let pid = sv.list()[0].pid.unwrap();
    // routerd stops (its daemons keep running, to be adopted) and is gone.
    stop.send(true).unwrap();
    drop(sv);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let log = routerd_api::daemon::daemon_log_path(&view.socket);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    for line in ["before routerd stops", "after routerd stopped", "on stderr"] {
        assert!(
            text.contains(line),
            "{line:?} missing from {}: {text:?}",
            log.display()
        );
    }
}

/// A routerd restarted after an upgrade finds two adopted daemons running a build that is no longer
/// installed: it replaces both, one at a time (the second old process still runs while the first is
/// replaced), stops each old one first, and records each replacement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopted_daemons_of_an_old_build_are_replaced_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let libexec = dir.path().join("libexec");
    std::fs::create_dir_all(&libexec).unwrap();
    let stub = libexec.join("routerd-stub");
    std::fs::copy("/bin/sleep", &stub).unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir_all(run.join("supervisor")).unwrap();
    // Two daemons of the old build, recorded by an earlier routerd.
    let mut old: Vec<std::process::Child> = Vec::new();
    for instance in ["a", "b"] {
        let child = std::process::Command::new(&stub)
            .arg("600")
            .spawn()
            .unwrap();
        let req = request("routerd-stub", instance);
        let rec = record::Record::new(child.id(), &stub, &config_hash(&req.config));
        record::write(&run, "routerd-stub", instance, &rec);
        old.push(child);
    }
    // The upgrade renames a new build over the path (a script: it need not be adoptable itself).
    let log = dir.path().join("starts.log");
    let staged = libexec.join(".routerd-stub.new");
    std::fs::write(
        &staged,
        format!(
            "#!/bin/sh\necho \"$2 $(date +%s.%N)\" >> {}\nexec sleep 600\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&staged, &stub).unwrap();

    let (sv, _stop, bus) = supervisor(dir.path());
    let wait = Duration::from_millis(800);
    let sv = Arc::new(sv.with_stop_timeouts(QUICK_STOP).with_replace_timeout(wait));
    let old_pids: Vec<u32> = old.iter().map(|c| c.id()).collect();
    let started = std::time::Instant::now();
    sv.ensure(request("routerd-stub", "a")).await.unwrap();
    sv.ensure(request("routerd-stub", "b")).await.unwrap();
    // Replaced when both report other pids and the second replacement's wait is over.
    let mut first_done_with_b_old_alive = false;
    for _ in 0..200 {
        let list = sv.list();
        let replaced = list
            .iter()
            .filter(|d| d.pid.is_some_and(|p| !old_pids.contains(&p)) && d.state == "Running")
            .count();
        if replaced == 1 {
            let still_old = list
                .iter()
                .filter(|d| d.pid.is_some_and(|p| old_pids.contains(&p)))
                .count();
            first_done_with_b_old_alive |= still_old == 1;
        }
        if replaced == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let took = started.elapsed();
    let list = sv.list();
    assert!(
        list.iter()
            .all(|d| d.pid.is_some_and(|p| !old_pids.contains(&p))),
        "not replaced: {list:?}"
    );
    for child in &mut old {
        assert!(
            child.try_wait().unwrap().is_some(),
            "an old process still runs"
        );
    }
    assert!(
        first_done_with_b_old_alive,
        "the two replacements overlapped: {list:?}"
    );
    // Each old one ignores `stop` (no socket) and goes at SIGTERM; each new one never reports, so each
    // replacement takes a grace period plus the whole wait, and the two add up.
    let one = QUICK_STOP.grace + wait;
    assert!(took >= one * 2, "two replacements took only {took:?}");
    let starts = std::fs::read_to_string(&log).unwrap();
    assert_eq!(starts.lines().count(), 2, "{starts}");
    bus.flush().await;
    let events = bus
        .query(&routerd_store::EventFilter {
            limit: 100,
            topics: vec![routerd_api::topic::TopicPattern::parse(
                "routerd.daemon.lifecycle.replaced",
            )
            .unwrap()],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
    let e = &events[0];
    assert!(e.attributes["reason"].contains("(deleted)"), "{e:?}");
    assert_eq!(e.attributes["restored"], "false");
    sv.retain("routerd-stub", &[], None).await;
}

/// Answers every request on `socket` with a `/v1/status` body whose one resource `a` is in `phase`.
fn fake_status_server(socket: &Path, phase: &'static str) -> tokio::task::JoinHandle<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
    let listener = tokio::net::UnixListener::bind(socket).unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = conn.read(&mut buf).await;
                let body = format!(
                    r#"{{"schemaVersion": 9, "resources": [{{"resource": {{"name": "a"}}, "phase": "{phase}"}}]}}"#
                );
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(answer.as_bytes()).await;
            });
        }
    })
}

/// A PPPoE client whose session is Up keeps running its old executable after an upgrade (replacing it
/// would drop the session); routerd says so in an event and adopts it as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pppoe_client_with_its_session_up_is_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let libexec = dir.path().join("libexec");
    std::fs::create_dir_all(&libexec).unwrap();
    let exe = libexec.join("routerd-pppoe-client");
    std::fs::copy("/bin/sleep", &exe).unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir_all(run.join("supervisor")).unwrap();
    let mut old = std::process::Command::new(&exe).arg("600").spawn().unwrap();
    let req = request("routerd-pppoe-client", "a");
    let rec = record::Record::new(old.id(), &exe, &config_hash(&req.config));
    record::write(&run, "routerd-pppoe-client", "a", &rec);
    // A new build renamed over the path.
    let staged = libexec.join(".new");
    let mut other = std::fs::read("/bin/sleep").unwrap();
    other.extend_from_slice(b"another build");
    std::fs::write(&staged, other).unwrap();
    std::fs::rename(&staged, &exe).unwrap();

    let (sv, _stop, bus) = supervisor(dir.path());
    let sv = sv.with_stop_timeouts(QUICK_STOP);
    let server = fake_status_server(&sv.socket_path("routerd-pppoe-client", "a"), "Up");
    sv.ensure(req).await.unwrap();
    let deferred =
        routerd_api::topic::TopicPattern::parse("routerd.daemon.lifecycle.replacement.deferred")
            .unwrap();
    let mut events = Vec::new();
    for _ in 0..100 {
        bus.flush().await;
        events = bus
            .query(&routerd_store::EventFilter {
                limit: 10,
                topics: vec![deferred.clone()],
                ..Default::default()
            })
            .unwrap();
        if !events.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(events.len(), 1, "no deferral event");
    assert_eq!(
        sv.list()[0].pid,
        Some(old.id()),
        "the session holder was replaced"
    );
    assert_eq!(old.try_wait().unwrap(), None, "the old process was stopped");
    server.abort();
    let _ = old.kill();
    let _ = old.wait();
}
