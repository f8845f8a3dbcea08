//! One task per managed daemon: spawn (or adopt), watch for exit, restart with backoff, stop on request.

use super::backoff::Backoff;
use super::record::{self, Record};
use super::{DaemonState, DaemonView};
use crate::daemon_client::request;
use crate::events::EventBus;
use crate::shutdown::stopped;
use routerd_api::event::NewEvent;
use routerd_api::Severity;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
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

    fn spawn(&self) -> std::io::Result<tokio::process::Child> {
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
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: a daemon outlives routerd and ignores signals aimed at routerd's group.
            .process_group(0);
        let mut child = cmd.spawn()?;
        for (stream, is_err) in [
            (
                child
                    .stdout
                    .take()
                    .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
                false,
            ),
            (
                child
                    .stderr
                    .take()
                    .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
                true,
            ),
        ] {
            if let Some(stream) = stream {
                let (name, instance) = (self.name, self.instance.clone());
                tokio::spawn(async move {
                    let mut lines = BufReader::new(stream).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        if is_err {
                            tracing::info!(daemon = name, instance = %instance, "{line}");
                        } else {
                            tracing::info!(daemon = name, instance = %instance, stream = "stdout", "{line}");
                        }
                    }
                });
            }
        }
        Ok(child)
    }
}

fn pid_alive(pid: u32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok()
}

async fn wait_exit(pid: u32, child: Option<&mut tokio::process::Child>) -> String {
    match child {
        Some(c) => match c.wait().await {
            Ok(status) => describe_status(status),
            Err(e) => format!("unknown ({e})"),
        },
        None => {
            while pid_alive(pid) {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            "unknown (adopted process)".to_string()
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

/// `stop` command, up to 10 s, then SIGTERM, then SIGKILL.
async fn graceful_stop(
    pid: u32,
    mut child: Option<tokio::process::Child>,
    socket: &Path,
    timeouts: StopTimeouts,
) {
    let _ = request(socket, "POST", "/v1/commands/stop", Duration::from_secs(2)).await;
    let gone = |child: &mut Option<tokio::process::Child>| match child {
        Some(c) => matches!(c.try_wait(), Ok(Some(_))),
        None => !pid_alive(pid),
    };
    for (deadline, signal) in [
        (timeouts.grace, Some(nix::sys::signal::Signal::SIGTERM)),
        (timeouts.after_term, Some(nix::sys::signal::Signal::SIGKILL)),
        (Duration::from_secs(5), None),
    ] {
        let until = Instant::now() + deadline;
        while Instant::now() < until {
            if gone(&mut child) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if let Some(sig) = signal {
            tracing::warn!(pid, ?sig, "daemon did not stop in time");
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
        }
    }
}

/// Stops a daemon recorded by an earlier routerd (not our child).
pub async fn stop_orphan(rec: &Record, socket: &Path, timeouts: StopTimeouts) {
    if record::matches_process(rec) {
        graceful_stop(rec.pid, None, socket, timeouts).await;
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
        if record::matches_process(&rec) && rec.executable == ctx.executable.display().to_string() {
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
                adopted = Some(rec.pid);
            } else {
                tracing::info!(daemon = ctx.name, instance = %ctx.instance, pid = rec.pid, "replacing a running daemon whose config changed");
                graceful_stop(rec.pid, None, &ctx.socket, ctx.stop_timeouts).await;
            }
        } else if record::matches_process(&rec) {
            // Another executable (an upgrade): replace it.
            graceful_stop(rec.pid, None, &ctx.socket, ctx.stop_timeouts).await;
        }
    }
    let mut first = true;
    loop {
        let (pid, mut child) = match adopted.take() {
            Some(pid) => (pid, None),
            None => match ctx.spawn() {
                Ok(child) => (child.id().unwrap_or(0), Some(child)),
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
        record::write(
            &ctx.runtime_dir,
            ctx.name,
            &ctx.instance,
            &Record::new(pid, &ctx.executable, &ctx.config_hash),
        );
        ctx.update(|v| {
            v.pid = Some(pid);
            v.state = DaemonState::Running;
        });
        if !first && child.is_some() {
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
        let status = tokio::select! {
            s = wait_exit(pid, child.as_mut()) => s,
            _ = stopped(&mut stop) => {
                ctx.update(|v| v.state = DaemonState::Stopping);
                graceful_stop(pid, child, &ctx.socket, ctx.stop_timeouts).await;
                record::remove(&ctx.runtime_dir, ctx.name, &ctx.instance);
                poller.abort();
                return;
            }
            // routerd itself is stopping: the daemon keeps running and will be adopted.
            _ = stopped(&mut shutdown) => { poller.abort(); return }
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
