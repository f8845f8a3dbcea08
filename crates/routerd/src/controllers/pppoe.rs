//! `PPPoESession`: runs one `routerd-pppoe-client` per resource and projects its view — phase
//! `Pending`/`Up`/`Error`, conditions `Discovered`, `Authenticated`, `IPCPOpened`, `IPv6CPOpened` and the
//! `session` fields — into the resource's status. The daemon owns the session and its device (the TUN
//! named `ifname`, its addresses); routerd owns the routing table: with `installDefaultRoute` it installs
//! `0.0.0.0/0 dev <ifname>` (and `::/0 dev <ifname>` once IPv6CP opened), recorded before it is added,
//! and removes exactly those when the session goes down or the resource is deleted.
//!
//! When a session comes (back) up, every `DHCPv6PrefixDelegation` on its device is told to `rebind`
//! at once: the delegated prefix, and the LAN addresses carved from it, return with the session
//! instead of at the next T1 or SOLICIT retransmission.

use super::daemon_status::{self, ReadError};
use super::interface::ifname_of;
use super::ownership::{self, Artifact, InstallError, Installed, RemoveFuture};
use super::prefix_delegation;
use super::runtime::{Action, Context, Controller, ReconcileFuture};
use super::status_book::StatusUpdate;
use crate::daemon_client::{request, DaemonClientError};
use crate::supervisor::DaemonRequest;
use routerd_api::daemon::DaemonResourceStatus;
use routerd_api::event::topics;
use routerd_api::spec::{PPPoESessionSpec, ResourceSpec};
use routerd_api::status::PPPoESessionInfo;
use routerd_api::{Condition, ConditionStatus, Kind, Phase, ResourceId};
use routerd_host::{HostError, Ipv4Route, Ipv6Route, Link, MAIN_TABLE};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;
use std::time::Duration;

pub const EXECUTABLE: &str = "routerd-pppoe-client";
const KIND: Kind = Kind::PPPoESession;
/// The routes' metric: none for IPv4 (0, as pppd's `defaultroute` installs it) and the kernel's own
/// default for IPv6, so an operator's `ip route` shows what they would have typed.
const IPV4_METRIC: Option<u32> = None;
const IPV6_METRIC: u32 = routerd_host::IPV6_DEFAULT_METRIC;
/// How soon to look again while the session's device is not visible yet, or a host change failed.
const RETRY: Duration = Duration::from_secs(1);
/// A daemon's event can arrive before its `/v1/status` shows what the event reports (the event is logged
/// as it happens, the status published after the step): one more look this soon after a PPPoE event
/// catches the status, so a session up or down reaches the routes and the delegation clients within a
/// fraction of a second rather than at the next periodic run.
const AFTER_EVENT: Duration = Duration::from_millis(500);
/// How long one `rebind` to a prefix delegation client may take.
const WAKE_TIMEOUT: Duration = Duration::from_secs(2);
/// How many times a wake is tried for one session (one a second) before the delegation client is left
/// to notice the link by itself.
const WAKE_ATTEMPTS: u32 = 30;

/// A default route through the session's device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct DeviceRoute {
    ifindex: u32,
    metric: Option<u32>,
}

impl DeviceRoute {
    fn ipv4(self) -> Ipv4Route {
        Ipv4Route {
            destination: Ipv4Addr::UNSPECIFIED,
            prefix_len: 0,
            gateway: None,
            ifindex: Some(self.ifindex),
            metric: self.metric,
            table: MAIN_TABLE,
        }
    }
    fn ipv6(self) -> Ipv6Route {
        Ipv6Route {
            destination: Ipv6Addr::UNSPECIFIED,
            prefix_len: 0,
            gateway: None,
            ifindex: Some(self.ifindex),
            metric: self.metric,
            table: MAIN_TABLE,
        }
    }
}

/// What routerd installed for one session, persisted: exactly this is removed on down or delete.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct SessionRoutes {
    ifname: String,
    ipv4: Option<DeviceRoute>,
    ipv6: Option<DeviceRoute>,
}

impl SessionRoutes {
    fn is_empty(&self) -> bool {
        self.ipv4.is_none() && self.ipv6.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn slot(self, routes: &mut SessionRoutes) -> &mut Option<DeviceRoute> {
        match self {
            Family::V4 => &mut routes.ipv4,
            Family::V6 => &mut routes.ipv6,
        }
    }
    fn get(self, routes: &SessionRoutes) -> Option<DeviceRoute> {
        match self {
            Family::V4 => routes.ipv4,
            Family::V6 => routes.ipv6,
        }
    }
    fn describe(self, r: DeviceRoute, ifname: &str) -> String {
        match self {
            Family::V4 => format!("0.0.0.0/0 dev {ifname}"),
            Family::V6 => format!(
                "::/0 dev {ifname} metric {}",
                r.metric.unwrap_or(IPV6_METRIC)
            ),
        }
    }
    fn destination(self) -> &'static str {
        match self {
            Family::V4 => "0.0.0.0/0",
            Family::V6 => "::/0",
        }
    }
}

async fn add_route(ctx: &Context, family: Family, r: DeviceRoute) -> Result<(), HostError> {
    match family {
        Family::V4 => ctx.host.add_ipv4_route(r.ipv4()).await,
        Family::V6 => ctx.host.add_ipv6_route(r.ipv6()).await,
    }
}

/// Removes one route ("already gone" — the device went away with it — is success) and reports it.
async fn remove_route(
    ctx: &Context,
    name: &str,
    family: Family,
    r: DeviceRoute,
    ifname: &str,
    reason: &str,
) -> Result<(), String> {
    let result = match family {
        Family::V4 => ctx.host.del_ipv4_route(r.ipv4()).await,
        Family::V6 => ctx.host.del_ipv6_route(r.ipv6()).await,
    };
    let text = family.describe(r, ifname);
    match result {
        Ok(()) => {
            ctx.emit(
                KIND,
                topics::ROUTE_REMOVED,
                name,
                format!("removed default route {text} ({reason})"),
                &[
                    ("destination", family.destination().to_string()),
                    ("interface", ifname.to_string()),
                    ("reason", reason.to_string()),
                ],
            )
            .await;
            Ok(())
        }
        Err(HostError::NotFound(_)) => Ok(()),
        Err(e) => Err(format!("could not remove default route {text}: {e}")),
    }
}

impl Artifact for SessionRoutes {
    const KIND: Kind = KIND;
    fn remove<'a>(&'a self, ctx: &'a Context, name: &'a str, reason: &'a str) -> RemoveFuture<'a> {
        Box::pin(async move {
            let mut errors = Vec::new();
            for family in [Family::V4, Family::V6] {
                if let Some(r) = family.get(self) {
                    if let Err(e) = remove_route(ctx, name, family, r, &self.ifname, reason).await {
                        errors.push(e);
                    }
                }
            }
            if errors.is_empty() {
                Ok(())
            } else {
                Err(errors.join("; "))
            }
        })
    }
}

/// The part of the daemon's `observed` this controller acts on.
#[derive(Debug, Clone, Default, Deserialize)]
struct Observed {
    #[serde(default)]
    session: Option<PPPoESessionInfo>,
}

/// What identifies one session: a new one (after a redial) differs even when the AC gives the same id.
fn session_key(s: &PPPoESessionInfo) -> String {
    format!(
        "{}@{}",
        s.session_id.map(|i| i.to_string()).unwrap_or_default(),
        s.connected_at.map(|t| t.to_string()).unwrap_or_default()
    )
}

fn condition_true(daemon: &DaemonResourceStatus, type_: &str) -> bool {
    daemon
        .conditions
        .iter()
        .any(|c| c.type_ == type_ && c.status == ConditionStatus::True)
}

/// A session that is up and whose delegation clients are still to be told.
#[derive(Debug, Clone, Default)]
struct Wake {
    /// The session (see [`session_key`]) the wake is for; empty when the session was seen down.
    key: String,
    /// Delegation clients (resource names) not told yet.
    pending: Vec<String>,
    attempts: u32,
}

#[derive(Default)]
pub struct PPPoESessionController {
    /// Per session resource: the last session whose delegation clients were (being) woken.
    wakes: Mutex<HashMap<String, Wake>>,
}

impl PPPoESessionController {
    fn wake_of(&self, name: &str) -> Option<Wake> {
        self.wakes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    fn set_wake(&self, name: &str, wake: Option<Wake>) {
        let mut wakes = self.wakes.lock().unwrap_or_else(|p| p.into_inner());
        match wake {
            Some(w) => wakes.insert(name.to_string(), w),
            None => wakes.remove(name),
        };
    }

    /// Tells every `DHCPv6PrefixDelegation` on the device of session `name` to `rebind` when the
    /// session is one they have not been told about. A session that was already up before routerd
    /// (re)started is not news: its previous status shows the same session.
    async fn wake_delegations(
        &self,
        ctx: &Context,
        name: &str,
        ifname: &str,
        session: Option<&PPPoESessionInfo>,
        previous: Option<&routerd_api::status::ResourceStatus>,
        requeue: &mut Option<Duration>,
    ) {
        let Some(session) = session else {
            return;
        };
        let key = session_key(session);
        let mut wake = match self.wake_of(name) {
            Some(w) if w.key == key => w,
            known => {
                let shown_before = previous
                    .filter(|p| p.phase == Phase::Up)
                    .and_then(|p| p.fields.get("session"))
                    .and_then(|s| serde_json::from_value::<PPPoESessionInfo>(s.clone()).ok())
                    .is_some_and(|s| session_key(&s) == key);
                if known.is_none() && shown_before {
                    self.set_wake(
                        name,
                        Some(Wake {
                            key,
                            ..Wake::default()
                        }),
                    );
                    return;
                }
                Wake {
                    key,
                    pending: delegations_on(ctx, ifname),
                    attempts: 0,
                }
            }
        };
        if wake.pending.is_empty() {
            self.set_wake(name, Some(wake));
            return;
        }
        wake.attempts += 1;
        let mut still = Vec::new();
        for pd in std::mem::take(&mut wake.pending) {
            let socket = ctx
                .supervisor
                .socket_path(prefix_delegation::EXECUTABLE, &pd);
            match request(&socket, "POST", "/v1/commands/rebind", WAKE_TIMEOUT).await {
                Ok(_) => {
                    tracing::info!(session = name, delegation = %pd, %ifname, "session up: prefix delegation told to rebind");
                }
                // No daemon yet: the one that starts finds the link up and asks by itself.
                Err(DaemonClientError::Connect { .. }) => {}
                Err(e) => {
                    tracing::info!(session = name, delegation = %pd, error = %e, attempt = wake.attempts, "prefix delegation not woken yet");
                    still.push(pd);
                }
            }
        }
        wake.pending = still;
        if !wake.pending.is_empty() {
            if wake.attempts < WAKE_ATTEMPTS {
                *requeue = Some(requeue.map_or(RETRY, |r| r.min(RETRY)));
            } else {
                tracing::warn!(session = name, delegations = ?wake.pending, "prefix delegations could not be told to rebind; they follow the link by themselves");
                wake.pending.clear();
            }
        }
        self.set_wake(name, Some(wake));
    }
}

/// The `DHCPv6PrefixDelegation` resources whose interface is the device `ifname`.
fn delegations_on(ctx: &Context, ifname: &str) -> Vec<String> {
    ctx.desired
        .of_kind(Kind::DHCPv6PrefixDelegation)
        .filter_map(|r| match &r.spec {
            ResourceSpec::DHCPv6PrefixDelegation(s)
                if ifname_of(ctx, &s.interface).as_deref() == Some(ifname) =>
            {
                Some(r.name().to_string())
            }
            _ => None,
        })
        .collect()
}

/// The default routes the daemon's view asks for: none unless the session is `Up`, the device is
/// there and `installDefaultRoute` is on; IPv6 only once IPv6CP opened.
fn wanted(
    spec: &PPPoESessionSpec,
    daemon: &DaemonResourceStatus,
    device: Option<&Link>,
    ifname: &str,
) -> SessionRoutes {
    let mut want = SessionRoutes {
        ifname: ifname.to_string(),
        ..Default::default()
    };
    let Some(link) = device else {
        return want;
    };
    if daemon.phase != Phase::Up || !spec.install_default_route.unwrap_or(true) {
        return want;
    }
    if condition_true(daemon, "IPCPOpened") {
        want.ipv4 = Some(DeviceRoute {
            ifindex: link.index,
            metric: IPV4_METRIC,
        });
    }
    if spec.ipv6.unwrap_or(true) && condition_true(daemon, "IPv6CPOpened") {
        want.ipv6 = Some(DeviceRoute {
            ifindex: link.index,
            metric: Some(IPV6_METRIC),
        });
    }
    want
}

/// Brings the session's default routes to what `want` says: removes what is no longer asked for,
/// installs what is (recorded first), repairs what vanished behind routerd's back. Returns the
/// `DefaultRouteInstalled` condition.
async fn follow_routes(
    ctx: &Context,
    name: &str,
    want: &SessionRoutes,
    why_none: &str,
    requeue: &mut Option<Duration>,
    failures: &mut Vec<String>,
) -> Condition {
    let mut have: SessionRoutes = ownership::recorded(ctx, name).unwrap_or_default();
    for family in [Family::V4, Family::V6] {
        if let Some(old) = family.get(&have) {
            if family.get(want) != Some(old) || have.ifname != want.ifname {
                let reason = if family.get(want).is_none() {
                    "session down"
                } else {
                    "session device changed"
                };
                if let Err(e) = remove_route(ctx, name, family, old, &have.ifname, reason).await {
                    failures.push(e);
                    continue;
                }
                *family.slot(&mut have) = None;
                let keep = (!have.is_empty()).then_some(&have);
                if let Err(e) = ownership::keep(ctx, name, keep).await {
                    failures.push(e);
                }
            }
        }
    }
    have.ifname = want.ifname.clone();
    let mut problems = Vec::new();
    let mut installed = Vec::new();
    for family in [Family::V4, Family::V6] {
        let Some(r) = family.get(want) else {
            continue;
        };
        let text = family.describe(r, &want.ifname);
        if family.get(&have) == Some(r) {
            // Ours: put it back if it vanished (AlreadyExists is the usual, converged case).
            match add_route(ctx, family, r).await {
                Ok(()) => {
                    ctx.emit(
                        KIND,
                        topics::ROUTE_INSTALLED,
                        name,
                        format!(
                            "re-installed default route {text}: it was removed outside routerd"
                        ),
                        &[
                            ("destination", family.destination().to_string()),
                            ("interface", want.ifname.clone()),
                            ("reason", "repaired".to_string()),
                        ],
                    )
                    .await;
                    installed.push(text);
                }
                Err(HostError::AlreadyExists(_)) => installed.push(text),
                Err(e) => {
                    problems.push(("InstallFailed", format!("{text}: {e}")));
                    *requeue = Some(RETRY);
                }
            }
            continue;
        }
        let previous = (!have.is_empty()).then(|| have.clone());
        let mut next = have.clone();
        *family.slot(&mut next) = Some(r);
        let create = add_route(ctx, family, r);
        match ownership::install_into(ctx, name, previous.as_ref(), &next, create).await {
            Ok(Installed::Created) => {
                have = next;
                ctx.emit(
                    KIND,
                    topics::ROUTE_INSTALLED,
                    name,
                    format!("installed default route {text} for the session"),
                    &[
                        ("destination", family.destination().to_string()),
                        ("interface", want.ifname.clone()),
                        ("reason", "created".to_string()),
                    ],
                )
                .await;
                installed.push(text);
            }
            Ok(Installed::Foreign) => problems.push((
                "RouteConflict",
                format!(
                    "a default route {} with metric {} exists that routerd did not install; it is left alone",
                    family.destination(),
                    r.metric.unwrap_or(0)
                ),
            )),
            Err(InstallError::Record(e)) => {
                failures.push(e.clone());
                problems.push(("InstallFailed", e));
            }
            Err(InstallError::Host(e)) => {
                problems.push(("InstallFailed", format!("{text}: {e}")));
                *requeue = Some(RETRY);
            }
        }
    }
    if let Some((reason, _)) = problems.first() {
        let message = problems
            .iter()
            .map(|(_, m)| m.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        return Condition::new("DefaultRouteInstalled", false, reason, message);
    }
    if installed.is_empty() {
        return Condition::new("DefaultRouteInstalled", false, "NoSession", why_none);
    }
    Condition::new(
        "DefaultRouteInstalled",
        true,
        "Installed",
        installed.join(", "),
    )
}

/// Resource `id`'s status and host state from the daemon's view `daemon`.
#[allow(clippy::too_many_arguments)]
async fn follow_session(
    controller: &PPPoESessionController,
    ctx: &Context,
    id: &ResourceId,
    spec: &PPPoESessionSpec,
    ifname: &str,
    device: Option<&Link>,
    view: &crate::supervisor::DaemonView,
    daemon: DaemonResourceStatus,
    requeue: &mut Option<Duration>,
    failures: &mut Vec<String>,
) {
    let name = id.name.as_str();
    let observed: Observed = match daemon_status::observed_as(&daemon) {
        Ok(o) => o,
        Err(e) => {
            // Not "session down": leave the routes as they are until the view can be read.
            daemon_status::show_read_error(ctx, id, view, &e, requeue).await;
            return;
        }
    };
    if daemon.phase == Phase::Up && observed.session.is_none() {
        let e = ReadError::Unreadable("/v1/status observed: Up without a session".into());
        daemon_status::show_read_error(ctx, id, view, &e, requeue).await;
        return;
    }
    let mut want = wanted(spec, &daemon, device, ifname);
    // A candidate of an EgressRoutePolicy leaves its IPv4 default route to the policy.
    let egress = super::egress::policy_naming(&ctx.desired, KIND, name);
    if egress.is_some() {
        want.ipv4 = None;
    }
    let why_none = if let Some(policy) = &egress {
        format!("the IPv4 default route is the EgressRoutePolicy {policy}'s to install")
    } else if daemon.phase != Phase::Up {
        "the session is not up".to_string()
    } else if !spec.install_default_route.unwrap_or(true) {
        "installDefaultRoute is false".to_string()
    } else if device.is_none() {
        *requeue = Some(RETRY);
        format!("the session's device {ifname} is not there yet")
    } else {
        "IPCP has not opened".to_string()
    };
    let route_cond = follow_routes(ctx, name, &want, &why_none, requeue, failures).await;
    let previous = ctx.status.get(id);
    if daemon.phase != Phase::Up {
        // Dialling: look again soon, so a session that comes up gets its routes and wakes its
        // delegation clients within a second even when its event outran its status.
        *requeue = Some(requeue.map_or(RETRY, |r| r.min(RETRY)));
        // Seen down: the next session up is news even if the AC hands out the same id again.
        controller.set_wake(name, Some(Wake::default()));
    } else if device.is_some() {
        controller
            .wake_delegations(
                ctx,
                name,
                ifname,
                observed.session.as_ref(),
                previous.as_ref(),
                requeue,
            )
            .await;
    }
    let mut conditions = daemon.conditions.clone();
    conditions.retain(|c| c.type_ != "DefaultRouteInstalled");
    conditions.push(route_cond);
    let mut u = StatusUpdate::new(daemon.phase, conditions);
    u.fields = daemon.observed;
    u.since = daemon.since;
    ctx.status.set(id, ctx.desired.generation, u).await;
}

/// The daemon's `config.json`: the spec with the device name filled in (`ppp-<name>` unless set) and
/// the Ethernet link under the session. The password stays in `passwordFile`, read by the daemon.
fn daemon_config(spec: &PPPoESessionSpec, name: &str, ethernet: &str) -> serde_json::Value {
    let mut spec = spec.clone();
    spec.ifname = Some(spec.session_ifname(name));
    serde_json::json!({"spec": spec, "ifname": ethernet})
}

impl Controller for PPPoESessionController {
    fn name(&self) -> &'static str {
        "pppoe-session"
    }
    fn kinds(&self) -> &'static [Kind] {
        &[KIND]
    }
    fn input_kinds(&self) -> &'static [Kind] {
        &[
            KIND,
            Kind::Interface,
            Kind::DHCPv6PrefixDelegation,
            Kind::EgressRoutePolicy,
        ]
    }
    fn wake_topics(&self) -> &'static [&'static str] {
        &["routerd.pppoe.**", "routerd.daemon.**"]
    }
    /// The session's device appearing, and a default route removed behind routerd's back.
    fn watches_host(&self) -> bool {
        true
    }
    fn reconcile<'a>(&'a self, ctx: &'a Context) -> ReconcileFuture<'a> {
        Box::pin(async move {
            let mut requeue = None;
            let mut names = Vec::new();
            let mut failures = ownership::remove_deleted::<SessionRoutes>(ctx).await?;
            let links = ctx.links().await?;
            for r in ctx.desired.of_kind(KIND) {
                let ResourceSpec::PPPoESession(spec) = &r.spec else {
                    continue;
                };
                let id = r.id();
                let name = r.name();
                names.push(name.to_string());
                let ifname = spec.session_ifname(name);
                let Some((ethernet, _)) =
                    daemon_status::link_for(ctx, &id, &links, &spec.interface, "Discovered").await
                else {
                    // No Ethernet, no session: what was installed for it goes.
                    let none = SessionRoutes {
                        ifname: ifname.clone(),
                        ..Default::default()
                    };
                    follow_routes(ctx, name, &none, "", &mut requeue, &mut failures).await;
                    self.set_wake(name, None);
                    continue;
                };
                let request = DaemonRequest {
                    executable: EXECUTABLE,
                    instance: name.to_string(),
                    config: daemon_config(spec, name, &ethernet),
                };
                let Some(view) = daemon_status::ensure(ctx, &id, request, &mut requeue).await
                else {
                    continue;
                };
                let Some(daemon) = daemon_status::read_or_wait(ctx, &id, &view, &mut requeue).await
                else {
                    continue;
                };
                let device = links.iter().find(|l| l.name == ifname);
                follow_session(
                    self,
                    ctx,
                    &id,
                    spec,
                    &ifname,
                    device,
                    &view,
                    daemon,
                    &mut requeue,
                    &mut failures,
                )
                .await;
            }
            self.wakes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|n, _| names.contains(n));
            if ctx.trigger.starts_with("routerd.pppoe.") && !names.is_empty() {
                requeue = Some(requeue.map_or(AFTER_EVENT, |r: Duration| r.min(AFTER_EVENT)));
            }
            // The daemon's own `stop` ends the session properly (LCP Terminate-Request, PADT).
            daemon_status::retain(ctx, EXECUTABLE, KIND, &names, None).await;
            if !failures.is_empty() {
                return Err(super::runtime::ReconcileError(failures.join("; ")));
            }
            Ok(requeue.map(Action::Requeue).unwrap_or(Action::Idle))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::runtime::testing::{resource, Fixture};
    use crate::supervisor::{DaemonState, DaemonView};
    use routerd_api::daemon::ResourceRef;
    use routerd_host::NetHost;
    use serde_json::json;
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const ETH: u32 = 2;
    const PPP: u32 = 7;
    const OTHER: u32 = 9;

    fn view() -> DaemonView {
        DaemonView {
            executable: EXECUTABLE,
            instance: "wan".into(),
            pid: Some(4242),
            socket: "/nonexistent.sock".into(),
            state_dir: "/nonexistent".into(),
            restarts: 0,
            state: DaemonState::Running,
            config_hash: String::new(),
            last_error: None,
            events_error: None,
        }
    }

    fn cond(type_: &str, on: bool) -> Condition {
        Condition::new(type_, on, if on { "Opened" } else { "NotYet" }, "")
    }

    /// The daemon's view: `Up` with IPCP (and IPv6CP when `ipv6`) open, session `id` connected at `at`.
    fn up(id: u16, at: &str, ipv6: bool) -> DaemonResourceStatus {
        daemon(
            Phase::Up,
            vec![
                cond("Discovered", true),
                cond("Authenticated", true),
                cond("IPCPOpened", true),
                cond("IPv6CPOpened", ipv6),
            ],
            json!({"session": {
                "sessionID": id, "acName": "test-ac", "acMAC": "02:00:00:00:00:aa", "ifname": "ppp-wan",
                "localAddress": "198.51.100.10", "peerAddress": "198.51.100.1",
                "dnsServers": ["198.51.100.53"], "interfaceIdentifier": "0211:22ff:fe33:4455",
                "peerInterfaceIdentifier": "0200:00ff:fe00:00aa", "connectedAt": at,
                "bytesIn": 10, "bytesOut": 20},
                "echoRequestsSent": 3}),
        )
    }

    fn down() -> DaemonResourceStatus {
        daemon(
            Phase::Pending,
            vec![cond("Discovered", false)],
            json!({"session": {"lastTerminationReason": "PADT from the AC"}}),
        )
    }

    fn daemon(
        phase: Phase,
        conditions: Vec<Condition>,
        observed: serde_json::Value,
    ) -> DaemonResourceStatus {
        let serde_json::Value::Object(observed) = observed else {
            panic!("observed is an object");
        };
        DaemonResourceStatus {
            resource: ResourceRef {
                api_version: KIND.api_version().into(),
                kind: KIND.as_str().into(),
                name: "wan".into(),
            },
            phase,
            conditions,
            observed,
            since: None,
        }
    }

    /// Ethernet `rt-eth` (Interface `eth`), the session's TUN `ppp-wan`, and a PPPoESession `wan` on it
    /// with a DHCPv6PrefixDelegation `pd` on the session's device (Interface `wan-ppp`).
    fn session(spec: serde_json::Value) -> Fixture {
        let mut t = Fixture::new();
        t.host.add_link("rt-eth", ETH, true);
        t.host.add_link("ppp-wan", PPP, true);
        t.host.add_link("rt-other", OTHER, true);
        let mut s = json!({"interface": "eth", "username": "u", "passwordFile": "/etc/pw"});
        if let (Some(s), serde_json::Value::Object(extra)) = (s.as_object_mut(), spec) {
            s.extend(extra);
        }
        t.set_desired(vec![
            resource("Interface", "eth", json!({"ifname": "rt-eth"})),
            resource("Interface", "wan-ppp", json!({"ifname": "ppp-wan"})),
            resource("PPPoESession", "wan", s),
            resource(
                "DHCPv6PrefixDelegation",
                "pd",
                json!({"interface": "wan-ppp"}),
            ),
        ]);
        t
    }

    async fn follow(c: &PPPoESessionController, t: &Fixture, d: DaemonResourceStatus) {
        let ctx = t.context();
        let r = ctx.desired.get(KIND, "wan").unwrap();
        let ResourceSpec::PPPoESession(spec) = &r.spec else {
            panic!("a PPPoESession");
        };
        let links = t.host.links().await.unwrap();
        let ifname = spec.session_ifname("wan");
        let device = links.iter().find(|l| l.name == ifname);
        let (mut requeue, mut failures) = (None, Vec::new());
        follow_session(
            c,
            &ctx,
            &r.id(),
            spec,
            &ifname,
            device,
            &view(),
            d,
            &mut requeue,
            &mut failures,
        )
        .await;
        assert!(failures.is_empty(), "{failures:?}");
    }

    /// Default routes as `family dev ifindex metric`.
    async fn defaults(t: &Fixture) -> Vec<String> {
        let mut out: Vec<String> = t
            .host
            .ipv4_routes(MAIN_TABLE)
            .await
            .unwrap()
            .iter()
            .filter(|r| r.prefix_len == 0)
            .map(|r| {
                format!(
                    "v4 dev {} metric {}",
                    r.ifindex.unwrap_or(0),
                    r.effective_metric()
                )
            })
            .collect();
        out.extend(
            t.host
                .ipv6_routes(MAIN_TABLE)
                .await
                .unwrap()
                .iter()
                .filter(|r| r.prefix_len == 0)
                .map(|r| {
                    format!(
                        "v6 dev {} metric {}",
                        r.ifindex.unwrap_or(0),
                        r.effective_metric()
                    )
                }),
        );
        out
    }

    fn status(t: &Fixture) -> routerd_api::status::ResourceStatus {
        t.status
            .get(&ResourceId::new(KIND, "wan"))
            .expect("a status")
    }

    fn condition(t: &Fixture, type_: &str) -> Condition {
        status(t)
            .conditions
            .into_iter()
            .find(|c| c.type_ == type_)
            .unwrap_or_else(|| panic!("no {type_} condition"))
    }

    #[tokio::test]
    async fn an_up_session_gets_its_default_routes_and_loses_exactly_them_when_down() {
        let t = session(json!({}));
        // Someone else's default route, on another link with another metric: never touched.
        t.host
            .add_ipv4_route(Ipv4Route {
                metric: Some(200),
                ..DeviceRoute {
                    ifindex: OTHER,
                    metric: None,
                }
                .ipv4()
            })
            .await
            .unwrap();
        let c = PPPoESessionController::default();
        follow(&c, &t, up(0x1234, "2026-12-02T10:00:00Z", true)).await;
        assert_eq!(
            defaults(&t).await,
            [
                "v4 dev 9 metric 200",
                format!("v4 dev {PPP} metric 0").as_str(),
                format!("v6 dev {PPP} metric 1024").as_str()
            ]
        );
        let s = status(&t);
        assert_eq!(s.phase, Phase::Up);
        assert_eq!(s.fields["session"]["sessionID"], 0x1234);
        assert_eq!(s.fields["session"]["localAddress"], "198.51.100.10");
        assert_eq!(s.fields["session"]["dnsServers"][0], "198.51.100.53");
        assert_eq!(s.fields["echoRequestsSent"], 3);
        let routes = condition(&t, "DefaultRouteInstalled");
        assert_eq!(routes.status, ConditionStatus::True, "{routes:?}");
        assert!(
            routes.message.contains("0.0.0.0/0 dev ppp-wan"),
            "{routes:?}"
        );
        assert!(routes.message.contains("::/0 dev ppp-wan"), "{routes:?}");
        let recorded: SessionRoutes = ownership::recorded(&t.context(), "wan").unwrap();
        assert_eq!(recorded.ipv4.map(|r| r.ifindex), Some(PPP));
        assert_eq!(recorded.ipv6.map(|r| r.ifindex), Some(PPP));

        // Converged: a second look changes nothing.
        follow(&c, &t, up(0x1234, "2026-12-02T10:00:00Z", true)).await;
        assert_eq!(defaults(&t).await.len(), 3);

        follow(&c, &t, down()).await;
        assert_eq!(defaults(&t).await, ["v4 dev 9 metric 200"]);
        assert_eq!(status(&t).phase, Phase::Pending);
        assert_eq!(condition(&t, "DefaultRouteInstalled").reason, "NoSession");
        assert!(ownership::recorded::<SessionRoutes>(&t.context(), "wan").is_none());
    }

    #[tokio::test]
    async fn ipv6_route_waits_for_ipv6cp_and_install_default_route_false_installs_nothing() {
        let t = session(json!({}));
        let c = PPPoESessionController::default();
        follow(&c, &t, up(1, "2026-12-02T10:00:00Z", false)).await;
        assert_eq!(defaults(&t).await, [format!("v4 dev {PPP} metric 0")]);
        follow(&c, &t, up(1, "2026-12-02T10:00:00Z", true)).await;
        assert_eq!(defaults(&t).await.len(), 2);

        let t = session(json!({"installDefaultRoute": false}));
        follow(&c, &t, up(1, "2026-12-02T10:00:00Z", true)).await;
        assert!(defaults(&t).await.is_empty());
        let routes = condition(&t, "DefaultRouteInstalled");
        assert!(
            routes.message.contains("installDefaultRoute is false"),
            "{routes:?}"
        );
    }

    /// A default route with the same metric that routerd did not add is left alone, never recorded, and
    /// so never removed when the session goes down; the IPv6 one is still routerd's.
    #[tokio::test]
    async fn a_foreign_default_route_is_a_conflict_and_stays() {
        let t = session(json!({}));
        let foreign = DeviceRoute {
            ifindex: OTHER,
            metric: None,
        }
        .ipv4();
        t.host.add_ipv4_route(foreign).await.unwrap();
        let c = PPPoESessionController::default();
        follow(&c, &t, up(1, "2026-12-02T10:00:00Z", true)).await;
        let routes = condition(&t, "DefaultRouteInstalled");
        assert_eq!(routes.reason, "RouteConflict", "{routes:?}");
        let recorded: SessionRoutes = ownership::recorded(&t.context(), "wan").unwrap();
        assert_eq!(recorded.ipv4, None);
        assert_eq!(recorded.ipv6.map(|r| r.ifindex), Some(PPP));
        follow(&c, &t, down()).await;
        assert_eq!(defaults(&t).await, [format!("v4 dev {OTHER} metric 0")]);
    }

    /// A route removed behind routerd's back comes back; a new device (the TUN made again) moves them.
    #[tokio::test]
    async fn routes_are_repaired_and_follow_a_new_device() {
        let t = session(json!({}));
        let c = PPPoESessionController::default();
        follow(&c, &t, up(1, "2026-12-02T10:00:00Z", true)).await;
        t.host
            .del_ipv4_route(
                DeviceRoute {
                    ifindex: PPP,
                    metric: None,
                }
                .ipv4(),
            )
            .await
            .unwrap();
        follow(&c, &t, up(1, "2026-12-02T10:00:00Z", true)).await;
        assert_eq!(defaults(&t).await.len(), 2);

        t.host.remove_link(PPP);
        t.host.add_link("ppp-wan", 17, true);
        follow(&c, &t, up(2, "2026-12-02T10:05:00Z", true)).await;
        assert_eq!(
            defaults(&t).await,
            ["v4 dev 17 metric 0", "v6 dev 17 metric 1024"]
        );
    }

    /// A daemon status routerd cannot decode is not "session down": the routes stay, the resource
    /// shows Error naming the field.
    #[tokio::test]
    async fn an_unreadable_session_leaves_the_routes() {
        let t = session(json!({}));
        let c = PPPoESessionController::default();
        follow(&c, &t, up(1, "2026-12-02T10:00:00Z", true)).await;
        let skewed = daemon(
            Phase::Up,
            vec![cond("IPCPOpened", true)],
            json!({"session": {"sessionID": "one"}}),
        );
        follow(&c, &t, skewed).await;
        assert_eq!(defaults(&t).await.len(), 2, "the WAN was torn down");
        assert_eq!(status(&t).phase, Phase::Error);
        let readable = condition(&t, "DaemonStatusReadable");
        assert!(
            readable.message.contains("observed.session.sessionID"),
            "{readable:?}"
        );
    }

    /// Deleting the resource removes its routes (the reconcile runs without the daemon executable,
    /// which is also how a missing daemon shows: Error DaemonNotFound, not ControllerNotAvailable).
    #[tokio::test]
    async fn delete_removes_the_routes_and_a_missing_daemon_is_named() {
        let mut t = session(json!({}));
        let c = PPPoESessionController::default();
        follow(&c, &t, up(1, "2026-12-02T10:00:00Z", true)).await;
        c.reconcile(&t.context()).await.unwrap();
        let running = condition(&t, "DaemonRunning");
        assert_eq!(running.reason, "DaemonNotFound", "{running:?}");
        assert!(running.message.contains(EXECUTABLE), "{running:?}");
        assert_eq!(
            defaults(&t).await.len(),
            2,
            "the routes stay while it is wanted"
        );

        t.set_desired(vec![resource(
            "Interface",
            "eth",
            json!({"ifname": "rt-eth"}),
        )]);
        c.reconcile(&t.context()).await.unwrap();
        assert!(defaults(&t).await.is_empty());
        assert!(ownership::recorded::<SessionRoutes>(&t.context(), "wan").is_none());
        assert!(t.status.get(&ResourceId::new(KIND, "wan")).is_none());
    }

    #[test]
    fn the_daemon_config_names_both_devices_and_holds_no_secret() {
        let r = resource(
            "PPPoESession",
            "wan",
            json!({"interface": "eth", "username": "u", "passwordFile": "/etc/pw"}),
        );
        let ResourceSpec::PPPoESession(spec) = &r.spec else {
            panic!("a PPPoESession");
        };
        let config = daemon_config(spec, "wan", "rt-eth");
        assert_eq!(config["ifname"], "rt-eth");
        assert_eq!(config["spec"]["ifname"], "ppp-wan");
        assert_eq!(config["spec"]["passwordFile"], "/etc/pw");
        assert!(config["spec"].get("password").is_none());
    }

    /// Answers every request on `socket` with a CommandResult and reports the request lines.
    fn fake_daemon(socket: std::path::PathBuf) -> Arc<Mutex<Vec<String>>> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
        let listener = tokio::net::UnixListener::bind(&socket).unwrap();
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let mut buf = vec![0u8; 4096];
                let n = conn.read(&mut buf).await.unwrap_or(0);
                let text = String::from_utf8_lossy(&buf[..n]).to_string();
                if let Some(line) = text.lines().next() {
                    log.lock().unwrap().push(line.to_string());
                }
                let body = r#"{"kind":"CommandResult","command":"rebind","accepted":true}"#;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(answer.as_bytes()).await;
            }
        });
        seen
    }

    /// A session that comes (back) up tells the delegation client on its device to rebind, once per
    /// session; a restarted routerd that finds the same session up does not.
    #[tokio::test]
    async fn a_session_coming_up_wakes_the_prefix_delegation_once() {
        let t = session(json!({}));
        let socket = t
            .supervisor
            .socket_path(prefix_delegation::EXECUTABLE, "pd");
        let seen = fake_daemon(socket);
        let rebinds = || seen.lock().unwrap().clone();
        let c = PPPoESessionController::default();
        follow(&c, &t, down()).await;
        assert!(rebinds().is_empty());
        follow(&c, &t, up(1, "2026-12-02T10:00:00Z", true)).await;
        assert_eq!(rebinds(), ["POST /v1/commands/rebind HTTP/1.1"]);
        follow(&c, &t, up(1, "2026-12-02T10:00:00Z", true)).await;
        assert_eq!(rebinds().len(), 1, "the same session woke it twice");

        // PADT, redial: the AC may even hand out the same session id.
        follow(&c, &t, down()).await;
        follow(&c, &t, up(1, "2026-12-02T10:07:00Z", true)).await;
        assert_eq!(rebinds().len(), 2);

        // A daemon that leaves connectedAt out, with the same id again: the down seen between is enough.
        follow(&c, &t, down()).await;
        follow(&c, &t, up(1, "2026-12-02T10:07:00Z", true)).await;
        assert_eq!(rebinds().len(), 3);

        // routerd restarts while the session stays up: not news.
        let restarted = PPPoESessionController::default();
        follow(&restarted, &t, up(1, "2026-12-02T10:07:00Z", true)).await;
        assert_eq!(rebinds().len(), 3);
    }

    /// Without a daemon for the delegation yet there is nobody to tell (the one that starts asks by
    /// itself): nothing is retried.
    #[tokio::test]
    async fn no_delegation_daemon_is_no_retry() {
        let t = session(json!({}));
        let c = PPPoESessionController::default();
        follow(&c, &t, up(1, "2026-12-02T10:00:00Z", true)).await;
        let wake = c.wake_of("wan").expect("a wake was made");
        assert!(wake.pending.is_empty(), "{wake:?}");
    }
}
