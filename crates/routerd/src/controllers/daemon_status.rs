//! What the controllers of daemon-backed kinds share: starting a resource's daemon, reading its view of
//! the resource, the status to show when the daemon cannot be started or does not answer, and stopping
//! the daemons of deleted resources.

use super::interface::link_of;
use super::runtime::Context;
use super::status_book::StatusUpdate;
use crate::daemon_client::request;
use crate::supervisor::{DaemonRequest, DaemonState, DaemonView, SupervisorError};
use routerd_api::daemon::{DaemonResourceStatus, STATUS_SCHEMA_VERSION};
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
/// The next look at a daemon whose status could not be read (an upgrade of either side fixes it).
const UNREADABLE_RETRY: Duration = Duration::from_secs(5);

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
/// [`not_answering`]; when its answer cannot be read, [`unreadable`]. Either way `requeue` asks again
/// and the result is `None`: the caller then leaves the host exactly as it is.
pub async fn read_or_wait(
    ctx: &Context,
    id: &ResourceId,
    view: &DaemonView,
    requeue: &mut Option<Duration>,
) -> Option<DaemonResourceStatus> {
    match read(view, &id.name).await {
        Ok(status) => Some(status),
        Err(e) => {
            show_read_error(ctx, id, view, &e, requeue).await;
            None
        }
    }
}

/// Shows why the daemon's view could not be used, and asks to look again.
pub async fn show_read_error(
    ctx: &Context,
    id: &ResourceId,
    view: &DaemonView,
    error: &ReadError,
    requeue: &mut Option<Duration>,
) {
    let update = match error {
        ReadError::NotAnswering => {
            *requeue = Some(ANSWER_RETRY);
            not_answering(ctx, id, view)
        }
        ReadError::Unreadable(what) => {
            *requeue = Some((*requeue).map_or(UNREADABLE_RETRY, |r| r.min(UNREADABLE_RETRY)));
            unreadable(ctx, id, view, what)
        }
    };
    ctx.status.set(id, ctx.desired.generation, update).await;
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

/// Why a daemon's view of a resource cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// No answer, or no entry for the resource yet: the daemon is starting or restarting.
    #[error("the daemon does not answer (yet)")]
    NotAnswering,
    /// The daemon answered with a status this routerd cannot read: another schema version (an adopted
    /// binary from before or after an upgrade) or a malformed body. Never to be read as "no lease".
    #[error("{0}")]
    Unreadable(String),
}

/// The entry for resource `name` in a `/v1/status` answer, from a daemon of any build: an older
/// one's missing optional fields take their defaults, a newer one's unknown fields are ignored
/// (`STATUS_SCHEMA_VERSION` in `routerd_api::daemon` has the rules). Unreadable only when the body
/// is malformed or its writer says this routerd is too old to read it (`minReaderVersion`).
pub fn resource_in(
    answer: &serde_json::Value,
    name: &str,
) -> Result<DaemonResourceStatus, ReadError> {
    let unreadable = |what: String| Err(ReadError::Unreadable(what));
    let Some(body) = answer.as_object() else {
        return unreadable("/v1/status: the answer is not a JSON object".into());
    };
    let version_field = |field: &str| -> Result<u32, ReadError> {
        match body.get(field) {
            None => Ok(1),
            Some(v) => v
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .filter(|v| *v >= 1)
                .ok_or_else(|| {
                    ReadError::Unreadable(format!(
                        "/v1/status: {field} {v} is not a version number"
                    ))
                }),
        }
    };
    let version = version_field("schemaVersion")?;
    let min_reader = version_field("minReaderVersion")?;
    if min_reader > STATUS_SCHEMA_VERSION {
        return unreadable(format!(
            "/v1/status: the daemon writes schemaVersion {version}, readable from version \
             {min_reader} on; this routerd reads up to {STATUS_SCHEMA_VERSION} (routerd is older \
             than the daemon)"
        ));
    }
    let resources: Vec<DaemonResourceStatus> =
        match serde_json::from_value(body.get("resources").cloned().unwrap_or_default()) {
            Ok(r) => r,
            Err(e) => return unreadable(format!("/v1/status resources: {e}")),
        };
    resources
        .into_iter()
        .find(|s| s.resource.name == name)
        .ok_or(ReadError::NotAnswering)
}

/// The daemon's view of resource `name`. A daemon being replaced by a new build counts as not
/// answering until its successor reports the state it had: a successor that has not yet looked at its
/// interface says `Pending`, which must not be followed (it would take the WAN address away).
pub async fn read(view: &DaemonView, name: &str) -> Result<DaemonResourceStatus, ReadError> {
    if view.state == DaemonState::Replacing {
        return Err(ReadError::NotAnswering);
    }
    let answer = request(&view.socket, "GET", "/v1/status", STATUS_TIMEOUT)
        .await
        .map_err(|_| ReadError::NotAnswering)?;
    resource_in(&answer, name)
}

/// Every daemon's `/v1/status` answer at once, in the order of `views` (`None` where one did not
/// answer): one slow daemon does not delay the others.
pub async fn read_all(views: &[&DaemonView]) -> Vec<Option<serde_json::Value>> {
    let mut reads = tokio::task::JoinSet::new();
    for (i, view) in views.iter().enumerate() {
        let socket = view.socket.clone();
        reads.spawn(async move {
            (
                i,
                request(&socket, "GET", "/v1/status", STATUS_TIMEOUT)
                    .await
                    .ok(),
            )
        });
    }
    let mut answers = vec![None; views.len()];
    while let Some(Ok((i, answer))) = reads.join_next().await {
        if let Some(slot) = answers.get_mut(i) {
            *slot = answer;
        }
    }
    answers
}

/// Shows each daemon's view of its resource as that resource's status, or why it cannot be read.
pub async fn project_all(
    ctx: &Context,
    running: Vec<(ResourceId, DaemonView)>,
    requeue: &mut Option<Duration>,
) {
    let views: Vec<&DaemonView> = running.iter().map(|(_, v)| v).collect();
    let answers = read_all(&views).await;
    for ((id, view), answer) in running.iter().zip(answers) {
        let read = answer
            .filter(|_| view.state != DaemonState::Replacing)
            .ok_or(ReadError::NotAnswering)
            .and_then(|v| resource_in(&v, &id.name));
        match read {
            Ok(s) => {
                ctx.status
                    .set(id, ctx.desired.generation, projected(s))
                    .await
            }
            Err(e) => show_read_error(ctx, id, view, &e, requeue).await,
        }
    }
}

/// Decodes the part of a daemon's `observed` a controller acts on; a failure is [`ReadError::Unreadable`]
/// naming the field, never a default.
pub fn observed_as<T: serde::de::DeserializeOwned>(
    status: &DaemonResourceStatus,
) -> Result<T, ReadError> {
    let value = serde_json::Value::Object(status.observed.clone());
    serde_path_to_error::deserialize(value).map_err(|e| {
        ReadError::Unreadable(format!("/v1/status observed.{}: {}", e.path(), e.inner()))
    })
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

/// A daemon status routerd cannot read: `Error`, with condition `DaemonStatusReadable` false for
/// `DaemonStatusUnreadable` naming what failed. The last known fields stay; the caller changes nothing on
/// the host (the daemon may well hold a lease that this routerd build cannot see).
pub fn unreadable(ctx: &Context, id: &ResourceId, view: &DaemonView, what: &str) -> StatusUpdate {
    let previous = ctx.status.get(id);
    let mut conditions: Vec<Condition> = previous
        .as_ref()
        .map(|p| p.conditions.clone())
        .unwrap_or_default();
    conditions.retain(|c| c.type_ != "DaemonStatusReadable");
    conditions.push(Condition::new(
        "DaemonStatusReadable",
        false,
        "DaemonStatusUnreadable",
        format!(
            "{} (pid {}): {what}; the host is left as it is until its status can be read",
            view.executable,
            view.pid
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".into()),
        ),
    ));
    let mut u = StatusUpdate::new(Phase::Error, conditions);
    if let Some(p) = previous {
        u.fields = p.fields;
        u.since = p.since;
    }
    u
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
        DaemonState::Replacing => (
            "DaemonReplacing",
            format!(
                "{} is being replaced by its new build (pid {}); the host is left as it is until it \
                 reports its state restored",
                view.executable,
                view.pid
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "-".into()),
            ),
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
        assert_eq!(resource_in(&answer, "c"), Err(ReadError::NotAnswering));
        let garbage = [
            json!({"resources": [{"phase": "Running"}]}),
            json!("not an object"),
        ];
        for g in garbage {
            assert!(
                matches!(resource_in(&g, "a"), Err(ReadError::Unreadable(_))),
                "{g}"
            );
        }
    }

    #[test]
    fn reads_every_schema_version_unless_told_it_cannot() {
        let entry = json!({"resource": {"apiVersion": "net.routerd.net/v1alpha1", "kind": "HealthCheck", "name": "a"}, "phase": "Healthy"});
        for answer in [
            json!({"schemaVersion": 1, "resources": [entry]}),
            json!({"resources": [entry]}),
            json!({"schemaVersion": STATUS_SCHEMA_VERSION + 5, "minReaderVersion": 1, "resources": [entry]}),
        ] {
            assert!(resource_in(&answer, "a").is_ok(), "{answer}");
        }
        let too_new = json!({"schemaVersion": 9, "minReaderVersion": STATUS_SCHEMA_VERSION + 1, "resources": [entry]});
        let Err(ReadError::Unreadable(why)) = resource_in(&too_new, "a") else {
            panic!("a body for newer readers was read");
        };
        assert!(
            why.contains("minReaderVersion") || why.contains("readable from"),
            "{why}"
        );
        for bad in [json!(0), json!("1"), json!(-1)] {
            let answer = json!({"schemaVersion": bad, "resources": [entry]});
            let Err(ReadError::Unreadable(why)) = resource_in(&answer, "a") else {
                panic!("schemaVersion {bad} was read");
            };
            assert!(why.contains("schemaVersion"), "{why}");
        }
    }

    /// A DaemonView in `state`, on a socket nobody serves.
    fn view_in(state: DaemonState) -> DaemonView {
        DaemonView {
            executable: "routerd-dhcpv4-client",
            instance: "wan".into(),
            pid: Some(42),
            socket: "/nonexistent/wan.sock".into(),
            state_dir: "/nonexistent".into(),
            restarts: 0,
            state,
            config_hash: String::new(),
            last_error: None,
            events_error: None,
        }
    }

    #[tokio::test]
    async fn a_daemon_being_replaced_is_not_read() {
        assert_eq!(
            read(&view_in(DaemonState::Replacing), "wan").await,
            Err(ReadError::NotAnswering)
        );
    }
}
