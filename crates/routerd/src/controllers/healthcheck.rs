//! `HealthCheck`: runs one `routerd-healthcheck` per resource through the supervisor and projects the
//! daemon's status into the resource's status. It is woken by the daemon's events (imported by the
//! poller), not by polling the daemon.

use super::interface::ifname_of;
use super::runtime::{Action, Context, Controller, ReconcileFuture};
use super::status_book::StatusUpdate;
use crate::daemon_client::request;
use crate::supervisor::{DaemonRequest, DaemonState, SupervisorError};
use routerd_api::daemon::DaemonResourceStatus;
use routerd_api::spec::ResourceSpec;
use routerd_api::{Condition, Kind, Phase};
use std::time::Duration;

pub const EXECUTABLE: &str = "routerd-healthcheck";

pub struct HealthCheckController;

impl Controller for HealthCheckController {
    fn name(&self) -> &'static str {
        "healthcheck"
    }
    fn kinds(&self) -> &'static [Kind] {
        &[Kind::HealthCheck]
    }
    fn input_kinds(&self) -> &'static [Kind] {
        &[Kind::HealthCheck, Kind::Interface]
    }
    fn wake_topics(&self) -> &'static [&'static str] {
        &["routerd.healthcheck.**", "routerd.daemon.**"]
    }
    fn reconcile<'a>(&'a self, ctx: &'a Context) -> ReconcileFuture<'a> {
        Box::pin(async move {
            let mut requeue = None;
            let mut names = Vec::new();
            let gen = ctx.desired.generation;
            // First make sure every daemon runs with its current config ...
            let mut running = Vec::new();
            for r in ctx.desired.of_kind(Kind::HealthCheck) {
                let ResourceSpec::HealthCheck(spec) = &r.spec else {
                    continue;
                };
                names.push(r.name().to_string());
                let source_ifname = spec
                    .source_interface
                    .as_deref()
                    .and_then(|i| ifname_of(ctx, i));
                let config = serde_json::json!({"spec": spec, "sourceIfname": source_ifname});
                let request_ = DaemonRequest {
                    executable: EXECUTABLE,
                    instance: r.name().to_string(),
                    config,
                };
                match ctx.supervisor.ensure(request_).await {
                    Ok(view) => running.push((r.id(), view)),
                    Err(e) => {
                        let reason = match e {
                            SupervisorError::ExecutableMissing(..) => "DaemonNotFound",
                            SupervisorError::Config { .. } => "DaemonConfigFailed",
                        };
                        let cond = Condition::new("DaemonRunning", false, reason, e.to_string());
                        ctx.status
                            .set(&r.id(), gen, StatusUpdate::new(Phase::Error, vec![cond]))
                            .await;
                        requeue = Some(Duration::from_secs(10));
                    }
                }
            }
            // ... then read every daemon's status at once (one slow daemon does not delay the others).
            let mut reads = tokio::task::JoinSet::new();
            for (i, (_, view)) in running.iter().enumerate() {
                let socket = view.socket.clone();
                reads.spawn(async move {
                    (
                        i,
                        request(&socket, "GET", "/v1/status", Duration::from_secs(2))
                            .await
                            .ok(),
                    )
                });
            }
            let mut answers = vec![None; running.len()];
            while let Some(Ok((i, answer))) = reads.join_next().await {
                if let Some(slot) = answers.get_mut(i) {
                    *slot = answer;
                }
            }
            for ((id, view), answer) in running.into_iter().zip(answers) {
                let projected = answer.and_then(|v| {
                    let resources: Vec<DaemonResourceStatus> =
                        serde_json::from_value(v["resources"].clone()).ok()?;
                    resources.into_iter().find(|s| s.resource.name == id.name)
                });
                let update = match projected {
                    Some(s) => {
                        let mut u = StatusUpdate::new(s.phase, s.conditions);
                        u.fields = s.observed;
                        u.since = s.since;
                        u
                    }
                    None => {
                        requeue = Some(Duration::from_secs(1));
                        let (reason, msg) = match view.state {
                            DaemonState::Backoff | DaemonState::Failed => (
                                "DaemonRestarting",
                                view.last_error
                                    .clone()
                                    .unwrap_or_else(|| "the daemon exited".into()),
                            ),
                            _ => (
                                "DaemonStarting",
                                format!(
                                    "waiting for {EXECUTABLE} (pid {}) to answer on {}",
                                    view.pid
                                        .map(|p| p.to_string())
                                        .unwrap_or_else(|| "-".into()),
                                    view.socket.display()
                                ),
                            ),
                        };
                        // Keep the last known probe fields while the daemon restarts; the condition says why.
                        let previous = ctx.status.get(&id);
                        let phase = previous.as_ref().map(|p| p.phase).unwrap_or(Phase::Pending);
                        let mut u = StatusUpdate::new(
                            phase,
                            vec![Condition::new("DaemonRunning", false, reason, msg)],
                        );
                        if let Some(p) = previous {
                            u.fields = p.fields;
                        }
                        u
                    }
                };
                ctx.status.set(&id, gen, update).await;
            }
            ctx.supervisor.retain(EXECUTABLE, &names, None).await;
            let desired = ctx.desired.clone();
            ctx.status.retain_kind(Kind::HealthCheck, &|n| {
                desired.get(Kind::HealthCheck, n).is_some()
            });
            Ok(requeue.map(Action::Requeue).unwrap_or(Action::Idle))
        })
    }
}
