//! The daemon side of a health check: the probe schedule, `renew` (probe now), `reload` (re-read
//! `config.json`), and `state.json` so counters and phase survive a restart.

use routerd_api::daemon::{CommandResult, DaemonResourceStatus};
use routerd_api::Timestamp;
use routerd_daemon::{
    load_config, read_json, write_json_atomic, CommandError, Daemon, DaemonArgs, DaemonError,
    EventLog, StopHandle,
};
use routerd_healthcheck::{probe_once, HealthState, ProbeConfig, ProbeOutcome};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

const STATE_FILE: &str = "state.json";

pub struct HealthDaemon {
    name: String,
    config_path: PathBuf,
    state_path: PathBuf,
    config: Mutex<ProbeConfig>,
    state: Mutex<HealthState>,
    events: EventLog,
    /// Wakes the schedule after a reload (a new interval starts at once).
    reschedule: Notify,
    /// One probe at a time: `renew` waits for a running scheduled probe instead of racing it.
    probing: tokio::sync::Mutex<()>,
    /// Last time the schedule loop went round, for `/v1/healthz`.
    heartbeat: Mutex<Instant>,
}

impl HealthDaemon {
    pub fn new(
        args: &DaemonArgs,
        config: ProbeConfig,
        events: EventLog,
    ) -> Result<HealthDaemon, DaemonError> {
        let state_path = args.state_dir.join(STATE_FILE);
        let state = match read_json::<HealthState>(&state_path) {
            Ok(Some(s)) if s.name() == args.name => {
                tracing::info!(phase = %s.phase(), passed = s.consecutive_passed(), failed = s.consecutive_failed(), "state restored");
                s
            }
            Ok(_) => HealthState::new(&args.name, Timestamp::now()),
            Err(e) => {
                tracing::warn!(error = %e, "state.json unreadable; starting from Pending");
                HealthState::new(&args.name, Timestamp::now())
            }
        };
        Ok(HealthDaemon {
            name: args.name.clone(),
            config_path: args.config.clone(),
            state_path,
            config: Mutex::new(config),
            state: Mutex::new(state),
            events,
            reschedule: Notify::new(),
            probing: tokio::sync::Mutex::new(()),
            heartbeat: Mutex::new(Instant::now()),
        })
    }

    fn config(&self) -> ProbeConfig {
        match self.config.lock() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Probes once, feeds the thresholds, records the events and persists the state.
    pub async fn probe(&self) -> ProbeOutcome {
        let _one = self.probing.lock().await;
        let config = self.config();
        let outcome = probe_once(&config).await;
        let now = Timestamp::now();
        let (events, snapshot) = {
            let mut state = match self.state.lock() {
                Ok(s) => s,
                Err(p) => p.into_inner(),
            };
            let events = state.observe(&config.spec, &outcome, now);
            (events, state.clone())
        };
        for e in events {
            if let Err(err) = self.events.append(e) {
                tracing::warn!(error = %err, "event not recorded");
            }
        }
        // state.json is fsynced: on the blocking pool, so long-polls waiting for the events just
        // appended are answered at once instead of after the disk.
        let path = self.state_path.clone();
        let written =
            tokio::task::spawn_blocking(move || write_json_atomic(&path, &snapshot)).await;
        match written {
            Ok(Err(e)) => tracing::warn!(error = %e, "state.json not written"),
            Err(e) => tracing::warn!(error = %e, "state.json writer task failed"),
            Ok(Ok(())) => {}
        }
        outcome
    }
}

/// Probes at start, then every `interval` counted from the start of the previous probe (a fixed rate:
/// a probe that waits out its timeout does not stretch the period, so `unhealthyThreshold` failures take
/// `(unhealthyThreshold - 1) x interval + timeout`, which is what an egress failover budget counts on);
/// a reload restarts the interval.
pub async fn probe_loop(daemon: std::sync::Arc<HealthDaemon>, stop: StopHandle) {
    loop {
        let started = tokio::time::Instant::now();
        if let Ok(mut h) = daemon.heartbeat.lock() {
            *h = Instant::now();
        }
        tokio::select! {
            _ = daemon.probe() => {}
            _ = stop.stopped() => return,
        }
        let interval = daemon.config().interval();
        tokio::select! {
            _ = tokio::time::sleep_until(started + interval) => {}
            _ = daemon.reschedule.notified() => {}
            _ = stop.stopped() => return,
        }
    }
}

impl Daemon for HealthDaemon {
    fn resources(&self) -> Vec<DaemonResourceStatus> {
        match self.state.lock() {
            Ok(s) => vec![s.to_daemon_status()],
            Err(p) => vec![p.into_inner().to_daemon_status()],
        }
    }

    fn command<'a>(
        &'a self,
        name: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<CommandResult, CommandError>> + Send + 'a>> {
        Box::pin(async move {
            match name {
                "renew" => {
                    let outcome = self.probe().await;
                    let message = match outcome.error() {
                        Some(e) => format!("probe {}: {e}", outcome.result().as_str()),
                        None => format!("probe {}", outcome.result().as_str()),
                    };
                    let status = self.resources().into_iter().next();
                    let result = serde_json::json!({
                        "result": outcome.result().as_str(),
                        "failureKind": outcome.failure_kind().map(|k| k.as_str()),
                        "latencyMillis": outcome.latency_millis(),
                        "error": outcome.error(),
                        "phase": status.as_ref().map(|s| s.phase),
                    });
                    Ok(CommandResult {
                        command: "renew".into(),
                        accepted: true,
                        message,
                        result: Some(result),
                    })
                }
                "reload" => {
                    let config: ProbeConfig = load_config(&self.config_path).map_err(|e| {
                        CommandError::Rejected(format!(
                            "config not reloaded, the previous one stays in force: {e}"
                        ))
                    })?;
                    if let Ok(mut c) = self.config.lock() {
                        *c = config;
                    }
                    self.reschedule.notify_one();
                    Ok(CommandResult {
                        command: "reload".into(),
                        accepted: true,
                        message: format!("{} reloaded; probing now", self.name),
                        result: None,
                    })
                }
                _ => Err(CommandError::Unknown),
            }
        })
    }

    fn shutdown<'a>(&'a self) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            // Let a probe in flight finish (bounded by its timeout), then persist.
            let _one = tokio::time::timeout(
                self.config().timeout() + Duration::from_secs(1),
                self.probing.lock(),
            )
            .await;
            let snapshot = self.state.lock().map(|s| s.clone()).ok();
            if let Some(s) = snapshot {
                if let Err(e) = write_json_atomic(&self.state_path, &s) {
                    tracing::warn!(error = %e, "state.json not written at stop");
                }
            }
        })
    }

    fn health(&self) -> Result<(), String> {
        let config = self.config();
        let limit = config.interval() * 3 + config.timeout() + Duration::from_secs(5);
        let last = self
            .heartbeat
            .lock()
            .map(|h| *h)
            .unwrap_or_else(|_| Instant::now());
        if last.elapsed() > limit {
            return Err(format!(
                "probe loop has not run for {}s",
                last.elapsed().as_secs()
            ));
        }
        Ok(())
    }
}
