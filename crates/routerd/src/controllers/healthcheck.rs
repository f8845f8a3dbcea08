//! `HealthCheck`: runs one `routerd-healthcheck` per resource through the supervisor and projects the
//! daemon's status into the resource's status. It is woken by the daemon's events (imported by the
//! poller), not by polling the daemon.

use super::daemon_status;
use super::interface::ifname_of;
use super::runtime::{Action, Context, Controller, ReconcileFuture};
use crate::supervisor::DaemonRequest;
use routerd_api::spec::ResourceSpec;
use routerd_api::Kind;

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
                let id = r.id();
                if let Some(view) = daemon_status::ensure(ctx, &id, request_, &mut requeue).await {
                    running.push((id, view));
                }
            }
            // ... then read every daemon's status at once (one slow daemon does not delay the others).
            daemon_status::project_all(ctx, running, &mut requeue).await;
            daemon_status::retain(ctx, EXECUTABLE, Kind::HealthCheck, &names, None).await;
            Ok(requeue.map(Action::Requeue).unwrap_or(Action::Idle))
        })
    }
}
