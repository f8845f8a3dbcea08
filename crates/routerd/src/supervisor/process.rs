//! One task per managed daemon: spawn (or adopt), watch for exit, restart with backoff, stop on request.

use super::backoff::Backoff;
use super::daemon_log;
use super::pidfd::PidFd;
use super::record::{self, Record};
use super::replace;
use super::{DaemonState, DaemonView};
use crate::daemon_client::request;
use crate::events::EventBus;
use crate::shutdown::stopped;
use nix::sys::signal::Signal;
use routerd_api::daemon::daemon_log_path;
use routerd_api::event::NewEvent;
use routerd_api::Severity;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

pub struct MonitorContext {
    pub executable: PathBuf,
    pub name: &'static str,
    pub instance: String,
    pub socket: PathBuf,
    pub state_dir: PathBuf,
    pub runtime_dir: PathBuf,
    pub log_format: String,
    pub config_hash: String,
    pub bus: EventBus,
    pub view: Arc<Mutex<DaemonView>>,
    pub stop_timeouts: StopTimeouts,
    /// Held while one daemon is replaced by a new build: replacements happen one at a time.
    pub replacements: Arc<tokio::sync::Mutex<()>>,
    /// How long a replacement waits for the new daemon to report its state restored.
    pub replace_timeout: Duration,
}

/// How long a daemon is given to stop: after the `stop` command, then after SIGTERM (SIGKILL follows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopTimeouts {
    /// From the `stop` command to SIGTERM: a DHCP client may still be sending its RELEASE.
    pub grace: Duration,
    /// From SIGTERM to SIGKILL.
    pub after_term: Duration,
}

impl Default for StopTimeouts {
    fn default() -> Self {
        StopTimeouts {
            grace: Duration::from_secs(10),
            after_term: Duration::from_secs(5),
        }
    }
}

impl MonitorContext {
    fn update(&self, f: impl FnOnce(&mut DaemonView)) {
        if let Ok(mut v) = self.view.lock() {
            f(&mut v);
        }
    }

    async fn emit(
        &self,
        topic: &str,
        severity: Severity,
        message: String,
        attrs: &[(&str, String)],
    ) {
        let mut ev = NewEvent::new(topic, severity, message).source(self.name, &self.instance);
        for (k, v) in attrs {
            ev = ev.attr(k, v.clone());
        }
        if let Err(e) = self.bus.publish(ev).await {
            tracing::warn!(error = %e, "supervisor event could not be stored");
        }
    }

    /// Starts the daemon with its stdout and stderr on its own log file (see `daemon_log`).
    fn spawn(&self) -> std::io::Result<tokio::process::Child> {
        let log = daemon_log::open(&daemon_log_path(&self.socket))?;
        let mut cmd = tokio::process::Command::new(&self.executable);
        cmd.arg("--name")
            .arg(&self.instance)
            .arg("--config")
            .arg(self.state_dir.join("config.json"))
            .arg("--socket")
            .arg(&self.socket)
            .arg("--state-dir")
            .arg(&self.state_dir)
            .arg("--log-format")
            .arg(&self.log_format)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            // Its own process group: a daemon outlives routerd and ignores signals aimed at routerd's group.
            .process_group(0);
        cmd.spawn()
    }
}

/// One daemon process: our child (reaped through tokio, so its pid stays ours until then), or one
/// adopted from an earlier routerd, held by a pidfd opened before its identity was checked. On a
/// kernel without pidfds (before 5.3) an adopted process is known by its record instead, and its
/// identity (executable and start time) is checked again before every signal and every look.
pub struct Tracked {
    pub pid: u32,
    child: Option<tokio::process::Child>,
    pidfd: Option<PidFd>,
    record: Option<Record>,
}

impl Tracked {
    /// Our freshly spawned child.
    fn child(child: tokio::process::Child) -> std::io::Result<Tracked> {
        let pid = child
            .id()
            .ok_or_else(|| std::io::Error::other("the daemon exited before it could be watched"))?;
        // Not reaped yet, so the pid is still this child's; the pidfd is a second, exact handle.
        let pidfd = PidFd::open(pid).ok();
        Ok(Tracked {
            pid,
            child: Some(child),
            pidfd,
            record: None,
        })
    }

    /// The process `record` names, when it is still that process: the pidfd is opened first, then
    /// the executable and start time are checked, so the handle cannot belong to a later process.
    pub fn adopt(record: &Record) -> Option<Tracked> {
        let pidfd = match PidFd::open(record.pid) {
            Ok(pidfd) => Some(pidfd),
            Err(e) if e.raw_os_error() == Some(nix::libc::ENOSYS) => None,
            Err(_) => return None,
        };
        if !record::matches_process(record) {
            return None;
        }
        Some(Tracked {
            pid: record.pid,
            child: None,
            pidfd,
            record: Some(record.clone()),
        })
    }

    /// Without a pidfd: whether the recorded process is still the one at its pid.
    fn still_recorded(&self) -> bool {
        self.record.as_ref().is_some_and(record::matches_process)
    }

    /// Waits for the process to exit and describes how.
    async fn exit(&mut self) -> String {
        if let Some(c) = self.child.as_mut() {
            return match c.wait().await {
                Ok(status) => describe_status(status),
                Err(e) => format!("unknown ({e})"),
            };
        }
        match &self.pidfd {
            Some(p) => p.exited().await,
            None => {
                while self.still_recorded() {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
        "unknown (adopted process)".to_string()
    }

    async fn gone(&mut self) -> bool {
        match (&mut self.child, &self.pidfd) {
            (Some(c), _) => matches!(c.try_wait(), Ok(Some(_))),
            (None, Some(p)) => p.has_exited().await,
            (None, None) => !self.still_recorded(),
        }
    }

    /// Signals exactly this process; never a pid that may have been recycled.
    fn signal(&mut self, signal: Signal) {
        let unreaped = self
            .child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)));
        let sent = match &self.pidfd {
            Some(p) => p.signal(signal),
            // A child not yet reaped still owns its pid.
            None if unreaped || self.still_recorded() => {
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid as i32), signal)
                    .map_err(std::io::Error::from)
            }
            None => Ok(()),
        };
        if let Err(e) = sent {
            tracing::debug!(pid = self.pid, ?signal, error = %e, "signal not delivered");
        }
    }
}

fn describe_status(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => "unknown".to_string(),
    }
}

/// `stop` command, up to `timeouts.grace`, then SIGTERM, then SIGKILL.
async fn graceful_stop(mut process: Tracked, socket: &Path, timeouts: StopTimeouts) {
    let _ = request(socket, "POST", "/v1/commands/stop", Duration::from_secs(2)).await;
    for (deadline, signal) in [
        (timeouts.grace, Some(Signal::SIGTERM)),
        (timeouts.after_term, Some(Signal::SIGKILL)),
        (Duration::from_secs(5), None),
    ] {
        let until = Instant::now() + deadline;
        while Instant::now() < until {
            if process.gone().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if let Some(sig) = signal {
            tracing::warn!(pid = process.pid, ?sig, "daemon did not stop in time");
            process.signal(sig);
        }
    }
}

/// Stops a daemon recorded by an earlier routerd (not our child), if it is still that process.
pub async fn stop_orphan(rec: &Record, socket: &Path, timeouts: StopTimeouts) {
    if let Some(process) = Tracked::adopt(rec) {
        graceful_stop(process, socket, timeouts).await;
    }
}

pub async fn monitor(
    ctx: MonitorContext,
    mut stop: watch::Receiver<bool>,
    mut shutdown: watch::Receiver<bool>,
    poller: tokio::task::JoinHandle<()>,
) {
    let mut backoff = Backoff::default();
    let mut adopted = None;
    if let Some(rec) = record::read(&ctx.runtime_dir, ctx.name, &ctx.instance) {
        let found = Tracked::adopt(&rec);
        if found.is_none() {
            tracing::info!(daemon = ctx.name, instance = %ctx.instance, pid = rec.pid, "the recorded daemon is gone (its pid, if alive, is another process now); starting one");
        }
        if let Some(process) = found {
            let changed = if rec.executable != ctx.executable.display().to_string() {
                Some(format!(
                    "it runs {}, routerd now launches {}",
                    rec.executable,
                    ctx.executable.display()
                ))
            } else {
                replace::executable_changed(rec.pid, &ctx.executable)
            };
            if let Some(why) = changed {
                // Another build (an upgrade): hand over to a new process, one daemon at a time.
                // A stop or shutdown meanwhile is handled by the loop below, like for any process.
                adopted =
                    replace_with_new_build(&ctx, process, &why, &mut stop, &mut shutdown).await;
            } else {
                let same = rec.config_hash == ctx.config_hash;
                let reloaded = !same
                    && request(
                        &ctx.socket,
                        "POST",
                        "/v1/commands/reload",
                        Duration::from_secs(5),
                    )
                    .await
                    .is_ok();
                if same || reloaded {
                    tracing::info!(daemon = ctx.name, instance = %ctx.instance, pid = rec.pid, "adopted a running daemon");
                    adopted = Some(process);
                } else {
                    tracing::info!(daemon = ctx.name, instance = %ctx.instance, pid = rec.pid, "replacing a running daemon whose config changed");
                    graceful_stop(process, &ctx.socket, ctx.stop_timeouts).await;
                }
            }
        }
    }
    let mut first = true;
    loop {
        let (mut process, spawned) = match adopted.take() {
            Some(process) => (process, false),
            None => match ctx.spawn().and_then(Tracked::child) {
                Ok(process) => (process, true),
                Err(e) => {
                    let msg = format!("cannot start {}: {e}", ctx.executable.display());
                    tracing::error!(daemon = ctx.name, instance = %ctx.instance, "{msg}");
                    ctx.update(|v| {
                        v.state = DaemonState::Failed;
                        v.last_error = Some(msg.clone());
                    });
                    ctx.emit(
                        "routerd.daemon.lifecycle.exited",
                        Severity::Error,
                        msg,
                        &[("exitStatus", "spawn failed".into())],
                    )
                    .await;
                    let delay = backoff.after_exit(Duration::ZERO);
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => continue,
                        _ = stopped(&mut stop) => { poller.abort(); return }
                        _ = stopped(&mut shutdown) => { poller.abort(); return }
                    }
                }
            },
        };
        let pid = process.pid;
        // An adopted process keeps its record (it may run another executable path than ours: one
        // kept by a deferred replacement), with the config it now runs.
        let rec = match &process.record {
            Some(adopted) => Record {
                config_hash: ctx.config_hash.clone(),
                ..adopted.clone()
            },
            None => Record::new(pid, &ctx.executable, &ctx.config_hash),
        };
        record::write(&ctx.runtime_dir, ctx.name, &ctx.instance, &rec);
        ctx.update(|v| {
            v.pid = Some(pid);
            v.state = DaemonState::Running;
        });
        if !first && spawned {
            ctx.update(|v| v.restarts += 1);
            let restarts = ctx.view.lock().map(|v| v.restarts).unwrap_or(0);
            ctx.emit(
                "routerd.daemon.lifecycle.restarted",
                Severity::Info,
                format!(
                    "{} for {} restarted (pid {pid}, restart {restarts})",
                    ctx.name, ctx.instance
                ),
                &[("pid", pid.to_string()), ("restarts", restarts.to_string())],
            )
            .await;
        }
        first = false;
        let started = Instant::now();
        let exited = tokio::select! {
            s = process.exit() => Some(s),
            _ = stopped(&mut stop) => None,
            // routerd itself is stopping: the daemon keeps running and will be adopted.
            _ = stopped(&mut shutdown) => { poller.abort(); return }
        };
        let Some(status) = exited else {
            ctx.update(|v| v.state = DaemonState::Stopping);
            graceful_stop(process, &ctx.socket, ctx.stop_timeouts).await;
            record::remove(&ctx.runtime_dir, ctx.name, &ctx.instance);
            poller.abort();
            return;
        };
        let uptime = started.elapsed();
        let delay = backoff.after_exit(uptime);
        ctx.update(|v| {
            v.pid = None;
            v.state = DaemonState::Backoff;
            v.last_error = Some(format!("exited: {status}"));
        });
        tracing::warn!(daemon = ctx.name, instance = %ctx.instance, pid, %status, ?delay, "daemon exited; restarting after backoff");
        ctx.emit(
            "routerd.daemon.lifecycle.exited",
            Severity::Warning,
            format!(
                "{} for {} (pid {pid}) exited: {status}; restarting in {}",
                ctx.name,
                ctx.instance,
                routerd_api::GoDuration(delay)
            ),
            &[
                ("exitStatus", status),
                ("pid", pid.to_string()),
                ("uptimeSeconds", uptime.as_secs().to_string()),
                ("restartDelay", routerd_api::GoDuration(delay).to_string()),
            ],
        )
        .await;
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stopped(&mut stop) => { record::remove(&ctx.runtime_dir, ctx.name, &ctx.instance); poller.abort(); return }
            _ = stopped(&mut shutdown) => { poller.abort(); return }
        }
    }
}

/// Replaces the adopted `old` process, which runs another build than `ctx.executable`, by a new one:
/// waits for its turn (one replacement at a time), stops the old one with the hand-over `stop` (state
/// kept, nothing released), starts the new one from the same state directory and waits until it
/// reports the phases the old one had (see `replace`). Emits `routerd.daemon.lifecycle.replaced`.
///
/// The process to watch from then on: the new one, or the old one when it was kept (a session that
/// cannot be handed over, or a stop or shutdown while waiting for the turn), or none when the new one
/// could not be started (the monitor loop then starts one with backoff).
async fn replace_with_new_build(
    ctx: &MonitorContext,
    old: Tracked,
    why: &str,
    stop: &mut watch::Receiver<bool>,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<Tracked> {
    let old_pid = old.pid;
    // Until its turn comes the old daemon serves as adopted.
    ctx.update(|v| {
        v.pid = Some(old_pid);
        v.state = DaemonState::Running;
    });
    tracing::info!(daemon = ctx.name, instance = %ctx.instance, pid = old_pid, reason = why, "the daemon runs another build than the installed one; replacing it");
    let replacements = ctx.replacements.clone();
    let _turn = tokio::select! {
        turn = replacements.lock() => turn,
        _ = stopped(stop) => return Some(old),
        _ = stopped(shutdown) => return Some(old),
    };
    let before = replace::current_phases(&ctx.socket)
        .await
        .unwrap_or_default();
    if replace::holds_session(ctx.name) && before.values().any(|p| p == "Up") {
        tracing::info!(daemon = ctx.name, instance = %ctx.instance, pid = old_pid, "its session is up and cannot be handed over; it keeps its old executable until it is next started");
        ctx.emit(
            "routerd.daemon.lifecycle.replacement.deferred",
            Severity::Info,
            format!(
                "{} for {} (pid {old_pid}) keeps running its old executable: its session is up and \
                 would drop; the new build runs from its next start",
                ctx.name, ctx.instance
            ),
            &[
                ("pid", old_pid.to_string()),
                ("reason", why.to_string()),
                ("phases", replace::describe(&before)),
            ],
        )
        .await;
        return Some(old);
    }
    ctx.update(|v| v.state = DaemonState::Replacing);
    let started = Instant::now();
    graceful_stop(old, &ctx.socket, ctx.stop_timeouts).await;
    let new = match ctx.spawn().and_then(Tracked::child) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(daemon = ctx.name, instance = %ctx.instance, error = %e, "the new build could not be started");
            ctx.update(|v| {
                v.pid = None;
                v.state = DaemonState::Starting;
            });
            return None;
        }
    };
    let new_pid = new.pid;
    record::write(
        &ctx.runtime_dir,
        ctx.name,
        &ctx.instance,
        &Record::new(new_pid, &ctx.executable, &ctx.config_hash),
    );
    ctx.update(|v| v.pid = Some(new_pid));
    let waited = tokio::select! {
        w = replace::wait_restored(&ctx.socket, &before, ctx.replace_timeout) => Some(w),
        _ = stopped(stop) => None,
        _ = stopped(shutdown) => None,
    };
    ctx.update(|v| v.state = DaemonState::Running);
    let took = routerd_api::GoDuration(started.elapsed()).to_string();
    let (restored, now, severity) = match &waited {
        Some(Ok(now)) => (true, now.clone(), Severity::Info),
        Some(Err(now)) => (false, now.clone(), Severity::Warning),
        None => (false, Default::default(), Severity::Info),
    };
    let message = if restored {
        format!(
            "{} for {} replaced by its new build: pid {old_pid} → {new_pid}, state restored in {took}",
            ctx.name, ctx.instance
        )
    } else {
        format!(
            "{} for {} replaced by its new build: pid {old_pid} → {new_pid}; its state ({}) was not \
             restored within {}",
            ctx.name,
            ctx.instance,
            replace::describe(&before),
            routerd_api::GoDuration(ctx.replace_timeout)
        )
    };
    tracing::info!(daemon = ctx.name, instance = %ctx.instance, old_pid, new_pid, restored, took = %took, "daemon replaced");
    ctx.emit(
        "routerd.daemon.lifecycle.replaced",
        severity,
        message,
        &[
            ("oldPid", old_pid.to_string()),
            ("pid", new_pid.to_string()),
            ("reason", why.to_string()),
            ("restored", restored.to_string()),
            ("phasesBefore", replace::describe(&before)),
            ("phasesAfter", replace::describe(&now)),
            ("took", took),
        ],
    )
    .await;
    Some(new)
}
