//! What the controllers of daemon-backed kinds share: starting a resource's daemon, reading its view of
//! the resource, the status to show when the daemon cannot be started or does not answer, and stopping
//! the daemons of deleted resources.

use super::interface::link_of;
use super::runtime::Context;
use super::status_book::StatusUpdate;
use crate::daemon_client::request;
use crate::supervisor::{DaemonRequest, DaemonState, DaemonView, SupervisorError};
use routerd_api::daemon::DaemonResourceStatus;
use routerd_api::{Condition, Kind, Phase, ResourceId};
use routerd_host::Link;
use std::time::Duration;

/// How long a controller waits for a daemon's `/v1/status`.
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);
/// The next try after the supervisor could not start a daemon (a missing executable or an unwritable
/// config does not fix itself within a second).
const START_RETRY: Duration = Duration::from_secs(10);
/// The next look at a daemon that is starting or restarting.
const ANSWER_RETRY: Duration = Duration::from_secs(1);

/// The link (and its name) of the `Interface` resource `interface` that resource `id`'s daemon is to run
/// on. Without it there is nothing to start: the resource shows `Error` with its main condition
/// `condition` false for `InterfaceMissing`, and the result is `None`.
pub async fn link_for<'l>(
    ctx: &Context,
    id: &ResourceId,
    links: &'l [Link],
    interface: &str,
    condition: &str,
) -> Option<(String, &'l Link)> {
    match link_of(ctx, links, interface) {
        Ok(found) => Some(found),
        Err(msg) => {
            let cond = Condition::new(condition, false, "InterfaceMissing", msg);
            ctx.status
                .set(
                    id,
                    ctx.desired.generation,
                    StatusUpdate::new(Phase::Error, vec![cond]),
                )
                .await;
            None
        }
    }
}

/// Starts resource `id`'s daemon, or keeps it running with this config. When the supervisor cannot,
/// the resource shows [`start_failed`], `requeue` asks for another try and the result is `None`.
pub async fn ensure(
    ctx: &Context,
    id: &ResourceId,
    request: DaemonRequest,
    requeue: &mut Option<Duration>,
) -> Option<DaemonView> {
    match ctx.supervisor.ensure(request).await {
        Ok(view) => Some(view),
        Err(e) => {
            ctx.status
                .set(id, ctx.desired.generation, start_failed(&e))
                .await;
            *requeue = Some(START_RETRY);
            None
        }
    }
}

/// The daemon's view of resource `id`. While it does not answer, the resource shows
/// [`not_answering`], `requeue` asks again soon and the result is `None`.
pub async fn read_or_wait(
    ctx: &Context,
    id: &ResourceId,
    view: &DaemonView,
    requeue: &mut Option<Duration>,
) -> Option<DaemonResourceStatus> {
    let answer = read(view, &id.name).await;
    if answer.is_none() {
        *requeue = Some(ANSWER_RETRY);
        ctx.status
            .set(id, ctx.desired.generation, not_answering(ctx, id, view))
            .await;
    }
    answer
}

/// Stops the daemons of `executable` whose resource is gone (after `farewell`, e.g. a RELEASE, when
/// given) and drops the status of deleted resources of `kind`.
pub async fn retain(
    ctx: &Context,
    executable: &'static str,
    kind: Kind,
    names: &[String],
    farewell: Option<&str>,
) {
    ctx.supervisor.retain(executable, names, farewell).await;
    let desired = ctx.desired.clone();
    ctx.status
        .retain_kind(kind, &|n| desired.get(kind, n).is_some());
}

/// The entry for resource `name` in a `/v1/status` answer.
pub fn resource_in(answer: &serde_json::Value, name: &str) -> Option<DaemonResourceStatus> {
    let resources: Vec<DaemonResourceStatus> =
        serde_json::from_value(answer["resources"].clone()).ok()?;
    resources.into_iter().find(|s| s.resource.name == name)
}

/// The daemon's view of resource `name`, or `None` while it does not answer.
pub async fn read(view: &DaemonView, name: &str) -> Option<DaemonResourceStatus> {
    let answer = request(&view.socket, "GET", "/v1/status", STATUS_TIMEOUT)
        .await
        .ok()?;
    resource_in(&answer, name)
}

/// `Error` when the supervisor could not start the daemon at all.
pub fn start_failed(e: &SupervisorError) -> StatusUpdate {
    let reason = match e {
        SupervisorError::ExecutableMissing(..) => "DaemonNotFound",
        SupervisorError::Config { .. } => "DaemonConfigFailed",
    };
    StatusUpdate::new(
        Phase::Error,
        vec![Condition::new(
            "DaemonRunning",
            false,
            reason,
            e.to_string(),
        )],
    )
}

/// While the daemon starts or restarts: the last known phase and fields stay (a restart is not a
/// change of the world), and the `DaemonRunning` condition says why they are not fresh.
pub fn not_answering(ctx: &Context, id: &ResourceId, view: &DaemonView) -> StatusUpdate {
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
                "waiting for {} (pid {}) to answer on {}",
                view.executable,
                view.pid
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "-".into()),
                view.socket.display()
            ),
        ),
    };
    let previous = ctx.status.get(id);
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

/// The daemon's own phase, conditions, `since` and observations, as the resource's status.
pub fn projected(s: DaemonResourceStatus) -> StatusUpdate {
    let mut u = StatusUpdate::new(s.phase, s.conditions);
    u.fields = s.observed;
    u.since = s.since;
    u
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_the_named_resource_and_tolerates_garbage() {
        let answer = json!({"resources": [
            {"resource": {"apiVersion": "net.routerd.net/v1alpha1", "kind": "HealthCheck", "name": "a"}, "phase": "Healthy"},
            {"resource": {"apiVersion": "net.routerd.net/v1alpha1", "kind": "HealthCheck", "name": "b"}, "phase": "Unhealthy",
             "observed": {"consecutiveFailed": 3}}
        ]});
        let b = resource_in(&answer, "b").unwrap();
        assert_eq!(b.phase, Phase::Unhealthy);
        assert_eq!(projected(b).fields["consecutiveFailed"], 3);
        assert!(resource_in(&answer, "c").is_none());
        assert!(resource_in(&json!({"resources": [{"phase": "Running"}]}), "a").is_none());
        assert!(resource_in(&json!("not an object"), "a").is_none());
    }
}
