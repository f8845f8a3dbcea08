//! `DHCPv4Client`: runs one `routerd-dhcpv4-client` per resource and installs what its lease says —
//! the address (`applyAddress`), the default route (`installDefaultRoute`, `routeMetric`) and the
//! classless static routes (RFC 3442: they replace the router option) — through netlink. Whatever it
//! installed is recorded, and removed exactly on expiry, release or delete. The daemon never touches
//! the host itself: it holds the protocol, routerd holds the host.

use super::daemon_status::{self, ReadError};
use super::ownership::{self, Artifact, RemoveFuture};
use super::runtime::{Action, Context, Controller, ReconcileFuture};
use super::status_book::StatusUpdate;
use crate::supervisor::{DaemonRequest, DaemonView};
use routerd_api::daemon::DaemonResourceStatus;
use routerd_api::event::topics;
use routerd_api::spec::DHCPv4ClientSpec;
use routerd_api::spec::ResourceSpec;
use routerd_api::ResourceId;
use routerd_api::{Condition, ConditionStatus, Kind, Phase};
use routerd_host::Link;
use routerd_host::{HostError, Ipv4Address, Ipv4Route, MAIN_TABLE};
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::time::Duration;

pub const EXECUTABLE: &str = "routerd-dhcpv4-client";
const KIND: Kind = Kind::DHCPv4Client;
/// `routeMetric` default (`resources.md`).
const DEFAULT_METRIC: u32 = 100;

pub struct DHCPv4ClientController;

/// Everything installed for one lease.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct LeaseArtifact {
    ifname: String,
    address: Option<AddrSpec>,
    routes: Vec<RouteSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct AddrSpec {
    ifindex: u32,
    address: Ipv4Addr,
    prefix_len: u8,
}

impl AddrSpec {
    fn host(self) -> Ipv4Address {
        Ipv4Address {
            ifindex: self.ifindex,
            address: self.address,
            prefix_len: self.prefix_len,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct RouteSpec {
    destination: Ipv4Addr,
    prefix_len: u8,
    gateway: Ipv4Addr,
    ifindex: u32,
    metric: u32,
}

impl RouteSpec {
    fn route(&self) -> Ipv4Route {
        Ipv4Route {
            destination: self.destination,
            prefix_len: self.prefix_len,
            gateway: Some(self.gateway),
            ifindex: Some(self.ifindex),
            metric: Some(self.metric),
            table: MAIN_TABLE,
        }
    }
}

async fn remove_route(
    ctx: &Context,
    name: &str,
    r: &RouteSpec,
    reason: &str,
) -> Result<(), String> {
    let route = r.route();
    match ctx.host.del_ipv4_route(route).await {
        Ok(()) => {
            ctx.emit(
                KIND,
                topics::ROUTE_REMOVED,
                name,
                format!("removed route {route} ({reason})"),
                &[
                    ("destination", format!("{}/{}", r.destination, r.prefix_len)),
                    ("reason", reason.into()),
                ],
            )
            .await;
            Ok(())
        }
        Err(HostError::NotFound(_)) => Ok(()),
        Err(e) => Err(format!("could not remove route {route}: {e}")),
    }
}

async fn remove_address(
    ctx: &Context,
    name: &str,
    a: AddrSpec,
    ifname: &str,
    reason: &str,
) -> Result<(), String> {
    match ctx.host.del_ipv4_address(a.host()).await {
        Ok(()) => {
            let cidr = format!("{}/{}", a.address, a.prefix_len);
            ctx.emit(
                KIND,
                topics::ADDRESS_REMOVED,
                name,
                format!("removed {cidr} from {ifname} ({reason})"),
                &[
                    ("address", cidr),
                    ("interface", ifname.into()),
                    ("reason", reason.into()),
                ],
            )
            .await;
            Ok(())
        }
        Err(HostError::NotFound(_)) => Ok(()),
        Err(e) => Err(format!(
            "could not remove {}/{} from {ifname}: {e}",
            a.address, a.prefix_len
        )),
    }
}

impl Artifact for LeaseArtifact {
    const KIND: Kind = KIND;
    fn remove<'a>(&'a self, ctx: &'a Context, name: &'a str, reason: &'a str) -> RemoveFuture<'a> {
        Box::pin(async move {
            let mut errors = Vec::new();
            for r in &self.routes {
                if let Err(e) = remove_route(ctx, name, r, reason).await {
                    errors.push(e);
                }
            }
            if let Some(a) = self.address {
                if let Err(e) = remove_address(ctx, name, a, &self.ifname, reason).await {
                    errors.push(e);
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

/// The lease as the daemon reports it (`observed`), the part this controller acts on.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObservedLease {
    address: Option<Ipv4Addr>,
    prefix_length: Option<u8>,
    gateway: Option<Ipv4Addr>,
    #[serde(default)]
    classless_routes: Vec<ClasslessRoute>,
}

#[derive(Debug, Clone, Deserialize)]
struct ClasslessRoute {
    destination: String,
    gateway: String,
}

/// What the daemon's view asks to have installed: nothing unless it is `Bound`. A lease whose fields
/// cannot be read is an error, never an empty lease (that would tear down the WAN).
fn wanted(
    spec: &DHCPv4ClientSpec,
    daemon: &DaemonResourceStatus,
    ifindex: u32,
    ifname: &str,
) -> Result<LeaseArtifact, ReadError> {
    let mut out = LeaseArtifact {
        ifname: ifname.to_string(),
        ..Default::default()
    };
    if daemon.phase != Phase::Bound {
        return Ok(out);
    }
    let lease: ObservedLease = daemon_status::observed_as(daemon)?;
    let (Some(addr), Some(len)) = (lease.address, lease.prefix_length) else {
        return Err(ReadError::Unreadable(
            "/v1/status observed: Bound without address and prefixLength".into(),
        ));
    };
    if spec.apply_address.unwrap_or(true) {
        out.address = Some(AddrSpec {
            ifindex,
            address: addr,
            prefix_len: len,
        });
    }
    let metric = spec.route_metric.unwrap_or(DEFAULT_METRIC);
    if !lease.classless_routes.is_empty() {
        for r in &lease.classless_routes {
            let unreadable = |what: &str| {
                ReadError::Unreadable(format!(
                    "/v1/status observed.classlessRoutes: {what} in {} via {}",
                    r.destination, r.gateway
                ))
            };
            let (dest, plen) = routerd_api::spec::parse_ipv4_cidr(&r.destination)
                .map_err(|_| unreadable("unreadable destination"))?;
            let gw = r
                .gateway
                .parse::<Ipv4Addr>()
                .map_err(|_| unreadable("unreadable gateway"))?;
            if gw.is_unspecified() {
                continue; // an on-link route: covered by the address's own prefix route
            }
            if plen == 0 && !spec.install_default_route.unwrap_or(true) {
                continue;
            }
            out.routes.push(RouteSpec {
                destination: dest,
                prefix_len: plen,
                gateway: gw,
                ifindex,
                metric,
            });
        }
    } else if let (true, Some(gw)) = (spec.install_default_route.unwrap_or(true), lease.gateway) {
        out.routes.push(RouteSpec {
            destination: Ipv4Addr::UNSPECIFIED,
            prefix_len: 0,
            gateway: gw,
            ifindex,
            metric,
        });
    }
    Ok(out)
}

/// Brings the host to what the daemon's view of resource `id` asks for: removes what the lease no
/// longer holds, installs what it does, records both and shows the result as the resource's status.
/// A view that cannot be read changes nothing on the host.
#[allow(clippy::too_many_arguments)]
async fn follow_lease(
    ctx: &Context,
    id: &ResourceId,
    spec: &DHCPv4ClientSpec,
    (ifname, link): (&str, &Link),
    view: &DaemonView,
    daemon: DaemonResourceStatus,
    requeue: &mut Option<Duration>,
    failures: &mut Vec<String>,
) {
    let name = id.name.as_str();
    let gen = ctx.desired.generation;
    // A candidate of an EgressRoutePolicy leaves its default route to the policy.
    let egress = super::egress::policy_naming(&ctx.desired, KIND, name);
    let mut taken_over = spec.clone();
    let spec = if egress.is_some() {
        taken_over.install_default_route = Some(false);
        &taken_over
    } else {
        spec
    };
    let want = match wanted(spec, &daemon, link.index, ifname) {
        Ok(want) => want,
        Err(e) => {
            // A status this build cannot read is not "no lease": leave the host as it is.
            daemon_status::show_read_error(ctx, id, view, &e, requeue).await;
            return;
        }
    };
    let mut have: LeaseArtifact = ownership::recorded(ctx, name).unwrap_or_default();
    // Remove what the lease no longer asks for (expiry, release, a new address or gateway).
    for old in have.routes.clone() {
        if !want.routes.contains(&old) {
            let why = if want.address.is_none() {
                "lease gone"
            } else {
                "lease changed"
            };
            if let Err(e) = remove_route(ctx, name, &old, why).await {
                failures.push(e);
            }
            have.routes.retain(|r| *r != old);
        }
    }
    if let Some(old) = have.address.filter(|a| Some(*a) != want.address) {
        let why = if want.address.is_none() {
            "lease gone"
        } else {
            "lease changed"
        };
        if let Err(e) = remove_address(ctx, name, old, &have.ifname, why).await {
            failures.push(e);
        }
        have.address = None;
    }
    have.ifname = ifname.to_string();
    // Install what it asks for (also repairs what was removed behind routerd's back).
    let mut addr_cond = Condition::new("AddressApplied", false, "NoLease", "no lease held");
    if let Some(a) = want.address {
        match ctx.host.add_ipv4_address(a.host()).await {
            Ok(()) => {
                let cidr = format!("{}/{}", a.address, a.prefix_len);
                ctx.emit(
                    KIND,
                    topics::ADDRESS_APPLIED,
                    name,
                    format!("added leased {cidr} to {ifname}"),
                    &[("address", cidr), ("interface", ifname.to_string())],
                )
                .await;
                have.address = Some(a);
                addr_cond = Condition::new(
                    "AddressApplied",
                    true,
                    "Added",
                    format!("{}/{} on {ifname}", a.address, a.prefix_len),
                );
            }
            Err(HostError::AlreadyExists(_)) => {
                if have.address.is_none()
                    && ownership::recorded::<LeaseArtifact>(ctx, name).and_then(|h| h.address)
                        != Some(a)
                {
                    // Present but not ours: leave it (and never remove it later).
                    addr_cond = Condition::new(
                        "AddressApplied",
                        true,
                        "PresentBeforeRouterd",
                        format!("{}/{} was already on {ifname}", a.address, a.prefix_len),
                    );
                } else {
                    have.address = Some(a);
                    addr_cond = Condition::new(
                        "AddressApplied",
                        true,
                        "Present",
                        format!("{}/{} on {ifname}", a.address, a.prefix_len),
                    );
                }
            }
            Err(e) => {
                addr_cond = Condition::new("AddressApplied", false, "AddFailed", e.to_string());
                *requeue = Some(Duration::from_secs(5));
            }
        }
    } else if daemon.phase == Phase::Bound {
        addr_cond = Condition::new("AddressApplied", false, "Disabled", "applyAddress is false");
    }
    let mut route_cond = Condition::new("DefaultRouteInstalled", false, "NoLease", "no lease held");
    if daemon.phase == Phase::Bound {
        route_cond = if want.routes.iter().any(|r| r.prefix_len == 0) {
            Condition::new("DefaultRouteInstalled", true, "Installed", "")
        } else {
            Condition::new(
                "DefaultRouteInstalled",
                false,
                "NotRequested",
                "installDefaultRoute is false or the lease has no router",
            )
        };
    }
    for r in &want.routes {
        let route = r.route();
        match ctx.host.add_ipv4_route(route).await {
            Ok(()) => {
                ctx.emit(
                    KIND,
                    topics::ROUTE_INSTALLED,
                    name,
                    format!("installed route {route} from the lease"),
                    &[
                        ("destination", format!("{}/{}", r.destination, r.prefix_len)),
                        ("gateway", r.gateway.to_string()),
                    ],
                )
                .await;
                if !have.routes.contains(r) {
                    have.routes.push(*r);
                }
            }
            Err(HostError::AlreadyExists(_)) => {
                if !have.routes.contains(r)
                    && ownership::recorded::<LeaseArtifact>(ctx, name)
                        .is_none_or(|h| !h.routes.contains(r))
                {
                    // Same destination and metric already there from someone else.
                    if r.prefix_len == 0 {
                        route_cond = Condition::new("DefaultRouteInstalled", false, "RouteConflict", format!("a default route with metric {} exists that routerd did not install", r.metric));
                    }
                }
            }
            Err(e) => {
                if r.prefix_len == 0 {
                    route_cond = Condition::new(
                        "DefaultRouteInstalled",
                        false,
                        "InstallFailed",
                        format!("{route}: {e}"),
                    );
                }
                *requeue = Some(Duration::from_secs(5));
            }
        }
    }
    if let (Some(policy), Phase::Bound) = (&egress, daemon.phase) {
        route_cond = Condition::new(
            "DefaultRouteInstalled",
            false,
            "EgressRoutePolicy",
            format!("the default route is the EgressRoutePolicy {policy}'s to install"),
        );
    }
    if let Some(d) = want.routes.iter().find(|r| r.prefix_len == 0) {
        if route_cond.status == ConditionStatus::True {
            route_cond.message =
                format!("default via {} dev {ifname} metric {}", d.gateway, d.metric);
        }
    }
    let installed = (have.address.is_some() || !have.routes.is_empty()).then_some(&have);
    if let Err(e) = ownership::keep(ctx, name, installed).await {
        failures.push(e);
    }
    let mut conditions = daemon.conditions.clone();
    conditions.retain(|c| c.type_ != "AddressApplied" && c.type_ != "DefaultRouteInstalled");
    conditions.push(addr_cond);
    conditions.push(route_cond);
    let mut u = StatusUpdate::new(daemon.phase, conditions);
    u.fields.insert(
        "lease".into(),
        serde_json::Value::Object(daemon.observed.clone()),
    );
    u.since = daemon.since;
    ctx.status.set(id, gen, u).await;
}

impl Controller for DHCPv4ClientController {
    fn name(&self) -> &'static str {
        "dhcpv4-client"
    }
    fn kinds(&self) -> &'static [Kind] {
        &[KIND]
    }
    fn input_kinds(&self) -> &'static [Kind] {
        &[KIND, Kind::Interface, Kind::EgressRoutePolicy]
    }
    fn wake_topics(&self) -> &'static [&'static str] {
        &["routerd.dhcpv4.**", "routerd.daemon.**"]
    }
    fn watches_host(&self) -> bool {
        true
    }
    fn reconcile<'a>(&'a self, ctx: &'a Context) -> ReconcileFuture<'a> {
        Box::pin(async move {
            let mut requeue = None;
            let mut names = Vec::new();
            let mut failures = ownership::remove_deleted::<LeaseArtifact>(ctx).await?;
            let links = ctx.links().await?;
            for r in ctx.desired.of_kind(KIND) {
                let ResourceSpec::DHCPv4Client(spec) = &r.spec else {
                    continue;
                };
                let id = r.id();
                let name = r.name();
                names.push(name.to_string());
                let Some((ifname, link)) =
                    daemon_status::link_for(ctx, &id, &links, &spec.interface, "LeaseBound").await
                else {
                    continue;
                };
                let request = DaemonRequest {
                    executable: EXECUTABLE,
                    instance: name.to_string(),
                    config: serde_json::json!({"spec": spec, "ifname": ifname}),
                };
                let Some(view) = daemon_status::ensure(ctx, &id, request, &mut requeue).await
                else {
                    continue;
                };
                let Some(daemon) = daemon_status::read_or_wait(ctx, &id, &view, &mut requeue).await
                else {
                    continue;
                };
                follow_lease(
                    ctx,
                    &id,
                    spec,
                    (&ifname, link),
                    &view,
                    daemon,
                    &mut requeue,
                    &mut failures,
                )
                .await;
            }
            daemon_status::retain(ctx, EXECUTABLE, KIND, &names, Some("release")).await;
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
    use crate::supervisor::DaemonState;
    use routerd_api::daemon::ResourceRef;
    use routerd_host::NetHost;
    use serde_json::json;

    const WAN: u32 = 3;

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

    fn daemon(phase: Phase, observed: serde_json::Value) -> DaemonResourceStatus {
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
            conditions: Vec::new(),
            observed,
            since: None,
        }
    }

    /// Interface `wan` (rt-wan) and DHCPv4Client `wan` on it.
    fn wan() -> Fixture {
        let mut t = Fixture::new();
        t.host.add_link("rt-wan", WAN, true);
        t.set_desired(vec![
            resource("Interface", "wan", json!({"ifname": "rt-wan"})),
            resource("DHCPv4Client", "wan", json!({"interface": "wan"})),
        ]);
        t
    }

    /// What the controller does with the daemon's view `daemon`; returns the requeue it asked for.
    async fn follow(t: &Fixture, daemon: DaemonResourceStatus) -> Option<Duration> {
        let ctx = t.context();
        let r = ctx.desired.get(KIND, "wan").unwrap();
        let ResourceSpec::DHCPv4Client(spec) = &r.spec else {
            panic!("a DHCPv4Client");
        };
        let links = t.host.links().await.unwrap();
        let link = links.iter().find(|l| l.index == WAN).unwrap();
        let (mut requeue, mut failures) = (None, Vec::new());
        let id = r.id();
        follow_lease(
            &ctx,
            &id,
            spec,
            ("rt-wan", link),
            &view(),
            daemon,
            &mut requeue,
            &mut failures,
        )
        .await;
        assert!(failures.is_empty(), "{failures:?}");
        requeue
    }

    async fn installed(t: &Fixture) -> (Vec<String>, Vec<String>) {
        let addresses = t.host.ipv4_addresses().await.unwrap();
        let routes = t.host.ipv4_routes(MAIN_TABLE).await.unwrap();
        (
            addresses
                .iter()
                .map(|a| format!("{}/{}", a.address, a.prefix_len))
                .collect(),
            routes
                .iter()
                .filter(|r| r.prefix_len == 0)
                .map(|r| format!("{:?}", r.gateway))
                .collect(),
        )
    }

    /// A daemon status routerd cannot decode (an adopted binary of another build) is not "no lease":
    /// the address and default route stay, and the resource shows why in an Error status.
    #[tokio::test]
    async fn an_unreadable_lease_leaves_the_wan_in_place() {
        let t = wan();
        let lease = json!({"address": "192.0.2.10", "prefixLength": 24, "gateway": "192.0.2.1"});
        follow(&t, daemon(Phase::Bound, lease)).await;
        let before = installed(&t).await;
        assert_eq!(
            before,
            (
                vec!["192.0.2.10/24".to_string()],
                vec!["Some(192.0.2.1)".to_string()]
            )
        );

        let skewed = json!({"address": {"v4": "192.0.2.10"}, "prefixLength": "24"});
        let requeue = follow(&t, daemon(Phase::Bound, skewed)).await;
        assert_eq!(installed(&t).await, before, "the WAN was torn down");
        let status = t.status.get(&ResourceId::new(KIND, "wan")).unwrap();
        assert_eq!(status.phase, Phase::Error);
        let cond = status
            .conditions
            .iter()
            .find(|c| c.type_ == "DaemonStatusReadable")
            .expect("a DaemonStatusReadable condition");
        assert_eq!(cond.reason, "DaemonStatusUnreadable");
        assert!(
            cond.message.contains("observed.address"),
            "{}",
            cond.message
        );
        assert!(requeue.is_some(), "no second look was asked for");

        // Readable again: back to Bound, nothing removed or duplicated.
        let lease = json!({"address": "192.0.2.10", "prefixLength": 24, "gateway": "192.0.2.1"});
        follow(&t, daemon(Phase::Bound, lease)).await;
        assert_eq!(installed(&t).await, before);
        let status = t.status.get(&ResourceId::new(KIND, "wan")).unwrap();
        assert_eq!(status.phase, Phase::Bound);
        assert!(!status
            .conditions
            .iter()
            .any(|c| c.type_ == "DaemonStatusReadable"));
    }

    /// Without a lease (the daemon says so in a status it can read) what was installed goes.
    #[tokio::test]
    async fn a_readable_loss_of_the_lease_removes_it() {
        let t = wan();
        let lease = json!({"address": "192.0.2.10", "prefixLength": 24, "gateway": "192.0.2.1"});
        follow(&t, daemon(Phase::Bound, lease)).await;
        follow(&t, daemon(Phase::Pending, json!({}))).await;
        assert_eq!(installed(&t).await, (Vec::new(), Vec::new()));
    }

    /// Version skew in both directions: a `/v1/status` body written by the previous daemon build
    /// (schema 1: no `minReaderVersion`, no `since`, no conditions) and one from a future build (schema
    /// 7 with fields this routerd has never heard of, at every level) both read as the same lease;
    /// one whose writer says this routerd is too old is unreadable and leaves the WAN in place.
    #[tokio::test]
    async fn status_bodies_of_older_and_newer_daemon_builds_read_as_the_same_lease() {
        let t = wan();
        let previous = json!({
            "apiVersion": "daemon.routerd.net/v1alpha1", "kind": "DaemonStatus", "schemaVersion": 1,
            "daemon": {"kind": EXECUTABLE, "instance": "wan", "pid": 4242, "version": "0.1.0",
                       "startedAt": "2026-12-01T10:00:00Z"},
            "phase": "Running",
            "resources": [{
                "resource": {"apiVersion": "net.routerd.net/v1alpha1", "kind": "DHCPv4Client", "name": "wan"},
                "phase": "Bound",
                "observed": {"address": "192.0.2.10", "prefixLength": 24, "gateway": "192.0.2.1",
                             "serverID": "192.0.2.1", "state": "Bound"}
            }]
        });
        let future = json!({
            "apiVersion": "daemon.routerd.net/v1alpha1", "kind": "DaemonStatus",
            "schemaVersion": 7, "minReaderVersion": 1,
            "daemon": {"kind": EXECUTABLE, "instance": "wan", "pid": 4343, "version": "9.0.0",
                       "startedAt": "2027-12-01T10:00:00Z", "buildID": "abc", "features": ["x"]},
            "phase": "Running", "eventCursor": "e:12", "shards": {"n": 2},
            "resources": [{
                "resource": {"apiVersion": "net.routerd.net/v1alpha1", "kind": "DHCPv4Client", "name": "wan",
                             "uid": "u-1"},
                "phase": "Bound", "since": "2027-12-01T10:00:01Z", "health": {"score": 0.9},
                "conditions": [{"type": "LeaseBound", "status": "True", "reason": "Bound", "message": "",
                                "lastTransitionTime": "2027-12-01T10:00:01Z", "observedGeneration": 4}],
                "observed": {"address": "192.0.2.10", "prefixLength": 24, "gateway": "192.0.2.1",
                             "state": "Bound", "leaseQuality": "great", "ipv6OnlyPreferred": 1800,
                             "classlessRoutes": [], "renewals": [{"at": "2027-12-01T10:00:01Z"}]}
            }]
        });
        let mut seen = Vec::new();
        for body in [&previous, &future] {
            let status = daemon_status::resource_in(body, "wan").expect("readable");
            assert_eq!(status.phase, Phase::Bound);
            follow(&t, status).await;
            seen.push(installed(&t).await);
            let shown = t.status.get(&ResourceId::new(KIND, "wan")).unwrap();
            assert_eq!(shown.phase, Phase::Bound, "{body}");
        }
        let lease = (
            vec!["192.0.2.10/24".to_string()],
            vec!["Some(192.0.2.1)".to_string()],
        );
        assert_eq!(seen, [lease.clone(), lease.clone()]);

        let mut too_new = future.clone();
        too_new["minReaderVersion"] = json!(99);
        assert!(matches!(
            daemon_status::resource_in(&too_new, "wan"),
            Err(ReadError::Unreadable(_))
        ));
        // A newer build that dropped the address under its old name is unreadable, not "no lease".
        let mut moved = future;
        moved["resources"][0]["observed"] = json!({"addresses": [{"address": "192.0.2.10/24"}]});
        let status = daemon_status::resource_in(&moved, "wan").expect("decodes");
        let ctx = t.context();
        let ResourceSpec::DHCPv4Client(spec) = &ctx.desired.get(KIND, "wan").unwrap().spec else {
            panic!("a DHCPv4Client");
        };
        assert!(matches!(
            wanted(spec, &status, WAN, "rt-wan"),
            Err(ReadError::Unreadable(_))
        ));
        assert_eq!(installed(&t).await, lease);
    }
}
