//! `EgressRoutePolicy`: chooses the default route among WAN candidates (a DHCPv4 lease's gateway, a
//! PPPoE session's device, an `IPv4StaticRoute`'s gateway) by priority, gated by each candidate's
//! `HealthCheck`.
//!
//! Host layout (one table per candidate plus rules, rather than one route that moves): every candidate
//! with an uplink gets its own routing table in [`TABLES`] holding its default route, and rules (priority
//! = the table id) sending traffic from the candidate's address, and carrying its HealthCheck's
//! `fwmark`, to that table. So a HealthCheck bound to a candidate keeps probing through that uplink
//! whether it is selected or not — which is what lets a dead primary be seen healthy again and failed
//! back to. The selected candidate's route is also the main table's only default route from routerd.
//!
//! Switching away from an unhealthy selected candidate happens on the reconcile its HealthCheck's
//! status change wakes (`status_inputs`); failing back waits until the better candidate has been
//! `Healthy` for `failbackDelay` without a break (its HealthCheck's `since`), by a requeue, never a
//! sleep. On a switch, conntrack entries NATed to the old WAN address are deleted
//! (`flushConntrackOnSwitch`), so LAN flows reconnect through the new uplink at once.
//!
//! Everything installed is recorded first (the union of the old and new sets before any change, the
//! new set after), so a `kill -9` at any point leaves a record from which the next reconcile removes
//! whatever is not wanted: after a restart there is exactly one default route from routerd in main.

use super::interface::link_of;
use super::ownership::{self, Artifact, RemoveFuture};
use super::runtime::{Action, Context, Controller, ReconcileError, ReconcileFuture};
use super::status_book::StatusUpdate;
use routerd_api::event::topics;
use routerd_api::spec::{EgressRoutePolicySpec, ResourceSpec};
use routerd_api::status::{CandidateState, EgressRoutePolicyStatus};
use routerd_api::{Condition, Kind, Phase, ResourceId, Timestamp};
use routerd_host::{ConntrackTable, HostError, Ipv4Route, Ipv4Rule, Link, MAIN_TABLE};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

const KIND: Kind = Kind::EgressRoutePolicy;
/// Routing tables (and rule priorities: a candidate's rules have its table id as priority) that
/// policies allocate from; a candidate keeps its table for as long as it is recorded.
pub const TABLES: RangeInclusive<u32> = 1000..=1999;
/// `failbackDelay` default (`resources.md`).
const DEFAULT_FAILBACK: Duration = Duration::from_secs(30);
/// Metric of the selected candidate's route in main (metric 0: it wins over any lease's own route).
const MAIN_METRIC: Option<u32> = None;

/// Whether some `EgressRoutePolicy` names resource `kind`/`name` as a candidate: then that resource's
/// own controller leaves the IPv4 default route to the policy.
pub fn names_candidate(desired: &crate::config::DesiredState, kind: Kind, name: &str) -> bool {
    policy_naming(desired, kind, name).is_some()
}

/// The name of the first `EgressRoutePolicy` that names `kind`/`name` as a candidate.
pub fn policy_naming(
    desired: &crate::config::DesiredState,
    kind: Kind,
    name: &str,
) -> Option<String> {
    desired.of_kind(KIND).find_map(|r| match &r.spec {
        ResourceSpec::EgressRoutePolicy(s)
            if s.candidates
                .iter()
                .any(|c| c.source.kind == kind.as_str() && c.source.name == name) =>
        {
            Some(r.name().to_string())
        }
        _ => None,
    })
}

pub struct EgressController {
    conntrack: Arc<dyn ConntrackTable>,
}

impl EgressController {
    /// `conntrack` is the table flushed on a switch (the kernel's; a fake in tests).
    pub fn new(conntrack: Arc<dyn ConntrackTable>) -> EgressController {
        EgressController { conntrack }
    }
}

/// A route as recorded (the host type has no serde).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RouteRecord {
    destination: Ipv4Addr,
    prefix_len: u8,
    gateway: Option<Ipv4Addr>,
    ifindex: u32,
    table: u32,
}

impl RouteRecord {
    fn route(self) -> Ipv4Route {
        Ipv4Route {
            destination: self.destination,
            prefix_len: self.prefix_len,
            gateway: self.gateway,
            ifindex: Some(self.ifindex),
            metric: if self.table == MAIN_TABLE {
                MAIN_METRIC
            } else {
                None
            },
            table: self.table,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RuleRecord {
    priority: u32,
    source: Option<Ipv4Addr>,
    fwmark: Option<u32>,
    table: u32,
}

impl RuleRecord {
    fn rule(self) -> Ipv4Rule {
        Ipv4Rule {
            priority: self.priority,
            source: self.source.map(|a| (a, 32)),
            fwmark: self.fwmark,
            table: self.table,
        }
    }
}

/// What one policy may have on the host, and which candidate it selected.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EgressArtifact {
    /// Candidate name → its table.
    tables: BTreeMap<String, u32>,
    routes: BTreeSet<RouteRecord>,
    rules: BTreeSet<RuleRecord>,
    selected: Option<String>,
    /// The selected candidate's address: what the conntrack flush looks for after a switch.
    selected_address: Option<Ipv4Addr>,
}

async fn remove_route(
    ctx: &Context,
    name: &str,
    r: RouteRecord,
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
                    ("table", r.table.to_string()),
                    ("reason", reason.to_string()),
                ],
            )
            .await;
            Ok(())
        }
        Err(HostError::NotFound(_)) => Ok(()),
        Err(e) => Err(format!("could not remove route {route}: {e}")),
    }
}

async fn remove_rule(ctx: &Context, r: RuleRecord) -> Result<(), String> {
    match ctx.host.del_ipv4_rule(r.rule()).await {
        Ok(()) | Err(HostError::NotFound(_)) => Ok(()),
        Err(e) => Err(format!("could not remove rule {}: {e}", r.rule())),
    }
}

impl Artifact for EgressArtifact {
    const KIND: Kind = KIND;
    fn remove<'a>(&'a self, ctx: &'a Context, name: &'a str, reason: &'a str) -> RemoveFuture<'a> {
        Box::pin(async move {
            let mut errors = Vec::new();
            // Main first: the default route goes before the tables that back it.
            let mut routes: Vec<RouteRecord> = self.routes.iter().copied().collect();
            routes.sort_by_key(|r| r.table != MAIN_TABLE);
            for r in routes {
                if let Err(e) = remove_route(ctx, name, r, reason).await {
                    errors.push(e);
                }
            }
            for r in &self.rules {
                if let Err(e) = remove_rule(ctx, *r).await {
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

/// A candidate's way out, resolved from its source's status and the host.
#[derive(Debug, Clone, PartialEq)]
struct Uplink {
    gateway: Option<Ipv4Addr>,
    ifindex: u32,
    ifname: String,
    address: Option<Ipv4Addr>,
}

impl Uplink {
    fn describe(&self) -> String {
        match self.gateway {
            Some(gw) => format!("via {gw} dev {}", self.ifname),
            None => format!("dev {}", self.ifname),
        }
    }
}

/// One candidate as this reconcile sees it.
#[derive(Debug, Clone)]
struct Candidate {
    name: String,
    priority: u32,
    uplink: Option<Uplink>,
    /// Why `uplink` is `None`.
    uplink_missing: String,
    fwmark: Option<u32>,
    /// `Ok(since)`: healthy (or ungated) since then; `Err(reason)`: why it is not ready.
    health: Result<Option<Timestamp>, String>,
}

impl Candidate {
    fn ready(&self) -> bool {
        self.uplink.is_some() && self.health.is_ok()
    }
    fn reason(&self) -> Option<String> {
        match (&self.uplink, &self.health) {
            (None, _) => Some(self.uplink_missing.clone()),
            (_, Err(r)) => Some(r.clone()),
            _ => None,
        }
    }
}

/// The uplink of `source` or why there is none (the `Err` is shown as the candidate's reason).
fn resolve_uplink(
    ctx: &Context,
    links: &[Link],
    addresses: &[routerd_host::Ipv4Address],
    kind: &str,
    name: &str,
) -> Result<Uplink, String> {
    let status = |k: Kind| ctx.status.get(&ResourceId::new(k, name));
    match kind {
        "DHCPv4Client" => {
            let Some(ResourceSpec::DHCPv4Client(spec)) =
                ctx.desired.get(Kind::DHCPv4Client, name).map(|r| &r.spec)
            else {
                return Err(format!("no DHCPv4Client named {name:?}"));
            };
            let (ifname, link) = link_of(ctx, links, &spec.interface)?;
            let st = status(Kind::DHCPv4Client)
                .filter(|s| s.phase == Phase::Bound)
                .ok_or_else(|| format!("DHCPv4Client {name} holds no lease"))?;
            let lease = st.fields.get("lease");
            let field = |f: &str| {
                lease
                    .and_then(|l| l.get(f))
                    .and_then(|v| v.as_str())
                    .and_then(|v| v.parse::<Ipv4Addr>().ok())
            };
            let gateway = field("gateway")
                .ok_or_else(|| format!("DHCPv4Client {name}'s lease names no router"))?;
            Ok(Uplink {
                gateway: Some(gateway),
                ifindex: link.index,
                ifname,
                address: field("address"),
            })
        }
        "PPPoESession" => {
            let Some(ResourceSpec::PPPoESession(spec)) =
                ctx.desired.get(Kind::PPPoESession, name).map(|r| &r.spec)
            else {
                return Err(format!("no PPPoESession named {name:?}"));
            };
            let st = status(Kind::PPPoESession)
                .filter(|s| s.phase == Phase::Up)
                .ok_or_else(|| format!("PPPoESession {name} is not up"))?;
            let session = st.fields.get("session");
            let text = |f: &str| session.and_then(|s| s.get(f)).and_then(|v| v.as_str());
            let ifname = text("ifname")
                .map(str::to_string)
                .unwrap_or_else(|| spec.session_ifname(name));
            let link = links
                .iter()
                .find(|l| l.name == ifname)
                .ok_or_else(|| format!("PPPoESession {name}'s device {ifname} is not there"))?;
            Ok(Uplink {
                gateway: None,
                ifindex: link.index,
                ifname,
                address: text("localAddress").and_then(|a| a.parse().ok()),
            })
        }
        "IPv4StaticRoute" => {
            let Some(ResourceSpec::IPv4StaticRoute(spec)) = ctx
                .desired
                .get(Kind::IPv4StaticRoute, name)
                .map(|r| &r.spec)
            else {
                return Err(format!("no IPv4StaticRoute named {name:?}"));
            };
            let gateway = spec.gateway.as_deref().and_then(|g| g.parse().ok());
            let (ifname, link) = match &spec.interface {
                Some(i) => link_of(ctx, links, i)?,
                None => {
                    // The link whose subnet holds the gateway.
                    let gw = gateway.ok_or("the route has neither gateway nor interface")?;
                    let a = addresses
                        .iter()
                        .find(|a| on_subnet(a.address, a.prefix_len, gw))
                        .ok_or_else(|| format!("no link has an address on {gw}'s subnet"))?;
                    let link = links
                        .iter()
                        .find(|l| l.index == a.ifindex)
                        .ok_or_else(|| format!("no link has an address on {gw}'s subnet"))?;
                    (link.name.clone(), link)
                }
            };
            let on_link: Vec<_> = addresses
                .iter()
                .filter(|a| a.ifindex == link.index)
                .collect();
            let address = on_link
                .iter()
                .find(|a| gateway.is_some_and(|gw| on_subnet(a.address, a.prefix_len, gw)))
                .or(on_link.first())
                .map(|a| a.address);
            Ok(Uplink {
                gateway,
                ifindex: link.index,
                ifname,
                address,
            })
        }
        other => Err(format!("{other} cannot be a candidate")),
    }
}

/// Whether `ip` is on the subnet `address/prefix_len`.
fn on_subnet(address: Ipv4Addr, prefix_len: u8, ip: Ipv4Addr) -> bool {
    let mask = u32::MAX
        .checked_shl(32 - u32::from(prefix_len.min(32)))
        .unwrap_or(0);
    u32::from(address) & mask == u32::from(ip) & mask
}

/// `Ok(since)` when the HealthCheck `name` is `Healthy` (since when), else why the candidate waits.
fn health_of(ctx: &Context, name: &str) -> Result<Option<Timestamp>, String> {
    match ctx.status.get(&ResourceId::new(Kind::HealthCheck, name)) {
        Some(s) if s.phase == Phase::Healthy => Ok(s.since),
        Some(s) => {
            let (reason, message) = s.reason();
            let detail = s
                .fields
                .get("lastError")
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .filter(|e| !e.is_empty())
                .unwrap_or(message);
            Err(if detail.is_empty() {
                format!("HealthCheck {name} is {} ({reason})", s.phase)
            } else {
                format!("HealthCheck {name} is {} ({reason}: {detail})", s.phase)
            })
        }
        None => Err(format!("HealthCheck {name} has no status yet")),
    }
}

/// The decision of one reconcile: which candidate is selected now, and why it changed (if it did).
#[derive(Debug, Clone, PartialEq)]
struct Selection {
    selected: Option<String>,
    /// `Some(reason)` when the selection changed.
    switched: Option<String>,
    /// When a better candidate will have been healthy for `failbackDelay`.
    failback_in: Option<Duration>,
}

/// Picks the candidate: lowest `priority` (then spec order) among the ready ones; away from an
/// unready selected candidate at once; back to a better one only after `failback` of health.
fn select(
    candidates: &[Candidate],
    previous: Option<&str>,
    failback: Duration,
    now: Timestamp,
) -> Selection {
    let mut ready: Vec<&Candidate> = candidates.iter().filter(|c| c.ready()).collect();
    ready.sort_by_key(|c| c.priority); // stable: spec order breaks ties
    let best = ready.first().copied();
    let current = previous.and_then(|p| candidates.iter().find(|c| c.name == p));
    match (current, best) {
        (Some(cur), Some(best)) if cur.ready() => {
            if best.priority < cur.priority {
                let healthy_for = match best.health {
                    Ok(Some(since)) => since.until(now),
                    _ => Duration::MAX,
                };
                if healthy_for >= failback {
                    return Selection {
                        selected: Some(best.name.clone()),
                        switched: Some(format!(
                            "failback: {} healthy for {}s (failbackDelay {}s)",
                            best.name,
                            healthy_for
                                .min(Duration::from_secs(u32::MAX.into()))
                                .as_secs(),
                            failback.as_secs()
                        )),
                        failback_in: None,
                    };
                }
                return Selection {
                    selected: Some(cur.name.clone()),
                    switched: None,
                    failback_in: Some(failback - healthy_for),
                };
            }
            Selection {
                selected: Some(cur.name.clone()),
                switched: None,
                failback_in: None,
            }
        }
        (Some(cur), Some(best)) => Selection {
            selected: Some(best.name.clone()),
            switched: Some(cur.reason().unwrap_or_else(|| "not ready".into())),
            failback_in: None,
        },
        // Nothing else is ready: keep the current one while it still has a way out.
        (Some(cur), None) if cur.uplink.is_some() => Selection {
            selected: Some(cur.name.clone()),
            switched: None,
            failback_in: None,
        },
        (Some(cur), None) => Selection {
            selected: None,
            switched: Some(cur.reason().unwrap_or_else(|| "not ready".into())),
            failback_in: None,
        },
        (None, best) => Selection {
            selected: best.map(|b| b.name.clone()),
            switched: best.map(|_| "initial selection".to_string()),
            failback_in: None,
        },
    }
}

/// Gives every candidate with an uplink a table: the one recorded, or the lowest free one in [`TABLES`]
/// (free of every policy's records).
fn allocate_tables(
    candidates: &[Candidate],
    recorded: &BTreeMap<String, u32>,
    taken_elsewhere: &BTreeSet<u32>,
) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    let mut used: BTreeSet<u32> = taken_elsewhere.clone();
    for c in candidates {
        if let Some(t) = recorded.get(&c.name) {
            out.insert(c.name.clone(), *t);
            used.insert(*t);
        }
    }
    for c in candidates {
        if out.contains_key(&c.name) {
            continue;
        }
        if let Some(t) = TABLES.clone().find(|t| !used.contains(t)) {
            out.insert(c.name.clone(), t);
            used.insert(t);
        }
    }
    out
}

impl EgressController {
    async fn reconcile_policy(
        &self,
        ctx: &Context,
        name: &str,
        spec: &EgressRoutePolicySpec,
        links: &[Link],
        addresses: &[routerd_host::Ipv4Address],
        taken_elsewhere: &BTreeSet<u32>,
    ) -> Result<Option<Duration>, String> {
        let id = ResourceId::new(KIND, name);
        let now = Timestamp::now();
        let (destination, prefix_len) = match spec.destination.as_deref() {
            Some(d) => routerd_api::spec::parse_ipv4_cidr(d).map_err(|e| e.to_string())?,
            None => (Ipv4Addr::UNSPECIFIED, 0),
        };
        let candidates: Vec<Candidate> = spec
            .candidates
            .iter()
            .map(|c| {
                let uplink = resolve_uplink(ctx, links, addresses, &c.source.kind, &c.source.name);
                let fwmark = c.health_check.as_deref().and_then(|h| {
                    match ctx.desired.get(Kind::HealthCheck, h).map(|r| &r.spec) {
                        Some(ResourceSpec::HealthCheck(s)) => s.fwmark,
                        _ => None,
                    }
                });
                let health = match &c.health_check {
                    Some(h) => health_of(ctx, h),
                    None => Ok(None),
                };
                let (uplink, uplink_missing) = match uplink {
                    Ok(u) => (Some(u), String::new()),
                    Err(e) => (None, e),
                };
                Candidate {
                    name: c.name.clone(),
                    priority: c.priority.unwrap_or(u32::MAX),
                    uplink,
                    uplink_missing,
                    fwmark,
                    health,
                }
            })
            .collect();
        let recorded: EgressArtifact = ownership::recorded(ctx, name).unwrap_or_default();
        let failback = spec.failback_delay.map(|d| d.0).unwrap_or(DEFAULT_FAILBACK);
        let previous = recorded
            .selected
            .as_deref()
            .filter(|p| candidates.iter().any(|c| c.name == *p));
        let decision = select(&candidates, previous, failback, now);
        let tables = allocate_tables(&candidates, &recorded.tables, taken_elsewhere);

        // What the host should hold.
        let mut want = EgressArtifact {
            tables: BTreeMap::new(),
            selected: decision.selected.clone(),
            ..Default::default()
        };
        let mut main_route = None;
        for c in &candidates {
            let (Some(up), Some(&table)) = (&c.uplink, tables.get(&c.name)) else {
                continue;
            };
            want.tables.insert(c.name.clone(), table);
            let route = RouteRecord {
                destination,
                prefix_len,
                gateway: up.gateway,
                ifindex: up.ifindex,
                table,
            };
            want.routes.insert(route);
            if let Some(a) = up.address {
                want.rules.insert(RuleRecord {
                    priority: table,
                    source: Some(a),
                    fwmark: None,
                    table,
                });
            }
            if let Some(mark) = c.fwmark {
                want.rules.insert(RuleRecord {
                    priority: table,
                    source: None,
                    fwmark: Some(mark),
                    table,
                });
            }
            if decision.selected.as_deref() == Some(c.name.as_str()) {
                let main = RouteRecord {
                    table: MAIN_TABLE,
                    ..route
                };
                want.routes.insert(main);
                want.selected_address = up.address;
                main_route = Some((main, up.clone()));
            }
        }
        // Recorded tables of candidates that lost their uplink stay allocated while their objects may
        // still be on the host; they are released once removed.
        let mut union = want.clone();
        union.routes.extend(recorded.routes.iter().copied());
        union.rules.extend(recorded.rules.iter().copied());
        for (n, t) in &recorded.tables {
            union.tables.entry(n.clone()).or_insert(*t);
        }
        if union != recorded {
            ownership::record(ctx, name, &union).await?;
        }

        let mut failures = Vec::new();
        // Main first: the old default route out, the new one in, before anything else.
        let mut stale: Vec<RouteRecord> = recorded
            .routes
            .iter()
            .filter(|r| !want.routes.contains(r))
            .copied()
            .collect();
        stale.sort_by_key(|r| r.table != MAIN_TABLE);
        let reason = decision.switched.as_deref().unwrap_or("candidate changed");
        let mut main_conflict = None;
        let mut ordered: Vec<RouteRecord> = want.routes.iter().copied().collect();
        ordered.sort_by_key(|r| r.table != MAIN_TABLE);
        for r in stale.iter().filter(|r| r.table == MAIN_TABLE) {
            if let Err(e) = remove_route(ctx, name, *r, reason).await {
                failures.push(e);
            }
        }
        let mut listed: BTreeMap<u32, Vec<Ipv4Route>> = BTreeMap::new();
        for r in &ordered {
            let present = match listed.get(&r.table) {
                Some(l) => l.iter().any(|l| r.route().matches(l)),
                None => {
                    let l = ctx
                        .host
                        .ipv4_routes(r.table)
                        .await
                        .map_err(|e| format!("cannot list routes of table {}: {e}", r.table))?;
                    let present = l.iter().any(|l| r.route().matches(l));
                    listed.insert(r.table, l);
                    present
                }
            };
            if present {
                continue;
            }
            match ctx.host.add_ipv4_route(r.route()).await {
                Ok(()) => {
                    ctx.emit(
                        KIND,
                        topics::ROUTE_INSTALLED,
                        name,
                        format!("installed route {}", r.route()),
                        &[
                            ("destination", format!("{}/{}", r.destination, r.prefix_len)),
                            ("table", r.table.to_string()),
                        ],
                    )
                    .await
                }
                Err(HostError::AlreadyExists(e)) => {
                    if r.table == MAIN_TABLE {
                        main_conflict = Some(format!(
                            "another default route with metric 0 is in main ({e}); routerd does not replace routes it did not add"
                        ));
                    }
                    want.routes.remove(r);
                }
                Err(e) => {
                    failures.push(format!("could not install {}: {e}", r.route()));
                    want.routes.remove(r);
                }
            }
        }
        for r in stale.iter().filter(|r| r.table != MAIN_TABLE) {
            if let Err(e) = remove_route(ctx, name, *r, "candidate changed").await {
                failures.push(e);
            }
        }
        let host_rules = ctx
            .host
            .ipv4_rules()
            .await
            .map_err(|e| format!("cannot list rules: {e}"))?;
        for r in recorded.rules.iter().filter(|r| !want.rules.contains(r)) {
            if let Err(e) = remove_rule(ctx, *r).await {
                failures.push(e);
            }
        }
        for r in want.rules.clone() {
            if host_rules.contains(&r.rule()) {
                continue;
            }
            match ctx.host.add_ipv4_rule(r.rule()).await {
                Ok(()) | Err(HostError::AlreadyExists(_)) => {}
                Err(e) => {
                    failures.push(format!("could not add rule {}: {e}", r.rule()));
                    want.rules.remove(&r);
                }
            }
        }
        ownership::keep(
            ctx,
            name,
            (!want.routes.is_empty() || !want.rules.is_empty() || want.selected.is_some())
                .then_some(&want),
        )
        .await?;

        // A switch between two candidates: the event, then the flush of flows NATed to the old WAN.
        let previous_status = ctx.status.get(&id);
        let prev_fields: EgressRoutePolicyStatus = previous_status
            .as_ref()
            .and_then(|p| serde_json::from_value(serde_json::Value::Object(p.fields.clone())).ok())
            .unwrap_or_default();
        let mut last_switch_at = prev_fields.last_switch_at;
        let mut switch_count = prev_fields.switch_count.unwrap_or(0);
        if let (Some(why), Some(from)) = (&decision.switched, &recorded.selected) {
            if decision.selected.as_ref() != Some(from) {
                let to = decision.selected.clone().unwrap_or_default();
                last_switch_at = Some(now);
                switch_count += 1;
                tracing::info!(policy = name, from = %from, to = %to, reason = %why, "egress switched");
                ctx.emit(
                    KIND,
                    topics::EGRESS_SWITCHED,
                    name,
                    format!(
                        "egress {from} -> {} ({why})",
                        if to.is_empty() { "-" } else { &to }
                    ),
                    &[
                        ("from", from.as_str()),
                        ("to", to.as_str()),
                        ("reason", why.as_str()),
                    ],
                )
                .await;
                if spec.flush_conntrack_on_switch.unwrap_or(true) {
                    if let Some(old) = recorded.selected_address {
                        self.flush(ctx, name, old, from, &to).await;
                    }
                }
            }
        }

        let states: Vec<CandidateState> = candidates
            .iter()
            .map(|c| CandidateState {
                name: c.name.clone(),
                ready: c.ready(),
                reason: c.reason(),
            })
            .collect();
        let fields = EgressRoutePolicyStatus {
            selected: decision.selected.clone(),
            candidates: states,
            last_switch_at,
            switch_count: Some(switch_count),
        };
        let selected_ready = decision
            .selected
            .as_ref()
            .and_then(|s| candidates.iter().find(|c| &c.name == s))
            .is_some_and(Candidate::ready);
        let (phase, cond) = match (&main_conflict, &main_route, selected_ready) {
            (Some(msg), _, _) => (
                Phase::Error,
                Condition::new("DefaultRouteInstalled", false, "RouteConflict", msg.clone()),
            ),
            (None, None, _) => (
                Phase::Pending,
                Condition::new(
                    "DefaultRouteInstalled",
                    false,
                    "NoCandidateReady",
                    "no candidate has an uplink and a healthy HealthCheck",
                ),
            ),
            (None, Some((_, up)), true) => (
                Phase::Installed,
                Condition::new(
                    "DefaultRouteInstalled",
                    true,
                    "Selected",
                    format!(
                        "{} {}",
                        decision.selected.as_deref().unwrap_or_default(),
                        up.describe()
                    ),
                ),
            ),
            (None, Some((_, up)), false) => (
                Phase::Pending,
                Condition::new(
                    "DefaultRouteInstalled",
                    true,
                    "NoCandidateReady",
                    format!(
                        "kept {} {}: no candidate is ready",
                        decision.selected.as_deref().unwrap_or_default(),
                        up.describe()
                    ),
                ),
            ),
        };
        let (phase, cond) = if failures.is_empty() || phase == Phase::Error {
            (phase, cond)
        } else {
            (
                Phase::Error,
                Condition::new(
                    "DefaultRouteInstalled",
                    false,
                    "InstallFailed",
                    failures.join("; "),
                ),
            )
        };
        ctx.status
            .set(
                &id,
                ctx.desired.generation,
                StatusUpdate::new(phase, vec![cond]).with_fields(&fields),
            )
            .await;
        if !failures.is_empty() {
            return Err(failures.join("; "));
        }
        Ok(decision.failback_in)
    }

    /// Deletes the conntrack entries NATed to (reply destination) or sent from (original source) the
    /// old WAN address, and reports the count.
    async fn flush(&self, ctx: &Context, name: &str, old: Ipv4Addr, from: &str, to: &str) {
        let table = self.conntrack.clone();
        let old_ip = IpAddr::V4(old);
        let deleted = tokio::task::spawn_blocking(move || {
            table.delete_where(&mut |e| e.reply.dst == old_ip || e.original.src == old_ip)
        })
        .await;
        let reason = format!("egress {name} switched from {from} ({old}) to {to}");
        match deleted {
            Ok(Ok(count)) => {
                ctx.emit(
                    KIND,
                    topics::CONNTRACK_FLUSHED,
                    name,
                    format!("deleted {count} conntrack entries of {old}"),
                    &[("count", count.to_string()), ("reason", reason)],
                )
                .await;
            }
            Ok(Err(e)) => {
                tracing::warn!(policy = name, error = %e, "conntrack flush after an egress switch failed")
            }
            Err(e) => tracing::warn!(policy = name, error = %e, "conntrack flush task failed"),
        }
    }
}

impl Controller for EgressController {
    fn name(&self) -> &'static str {
        "egress"
    }
    fn kinds(&self) -> &'static [Kind] {
        &[KIND]
    }
    fn input_kinds(&self) -> &'static [Kind] {
        &[
            KIND,
            Kind::HealthCheck,
            Kind::DHCPv4Client,
            Kind::PPPoESession,
            Kind::IPv4StaticRoute,
            Kind::Interface,
        ]
    }
    /// A HealthCheck's status change is what a switch waits for: woken right after its writer.
    fn status_inputs(&self) -> &'static [Kind] {
        &[
            Kind::HealthCheck,
            Kind::DHCPv4Client,
            Kind::PPPoESession,
            Kind::IPv4StaticRoute,
        ]
    }
    fn watches_host(&self) -> bool {
        true
    }
    fn reconcile<'a>(&'a self, ctx: &'a Context) -> ReconcileFuture<'a> {
        Box::pin(async move {
            let mut failures = ownership::remove_deleted::<EgressArtifact>(ctx).await?;
            let policies: Vec<_> = ctx.desired.of_kind(KIND).collect();
            if policies.is_empty() {
                ctx.status.retain_kind(KIND, &|_| false);
                return if failures.is_empty() {
                    Ok(Action::Idle)
                } else {
                    Err(ReconcileError(failures.join("; ")))
                };
            }
            let links = ctx.links().await?;
            let addresses = ctx.ipv4_addresses().await?;
            let names = ctx
                .state
                .artifact_names(KIND.as_str())
                .map_err(|e| ReconcileError(e.to_string()))?;
            let mut requeue: Option<Duration> = None;
            for r in policies {
                let ResourceSpec::EgressRoutePolicy(spec) = &r.spec else {
                    continue;
                };
                let taken: BTreeSet<u32> = names
                    .iter()
                    .filter(|n| n.as_str() != r.name())
                    .filter_map(|n| ownership::recorded::<EgressArtifact>(ctx, n))
                    .flat_map(|a| a.tables.into_values())
                    .collect();
                match self
                    .reconcile_policy(ctx, r.name(), spec, &links, &addresses, &taken)
                    .await
                {
                    Ok(Some(d)) => requeue = Some(requeue.map_or(d, |r| r.min(d))),
                    Ok(None) => {}
                    Err(e) => failures.push(format!("{}: {e}", r.name())),
                }
            }
            let desired = ctx.desired.clone();
            ctx.status
                .retain_kind(KIND, &|n| desired.get(KIND, n).is_some());
            if !failures.is_empty() {
                return Err(ReconcileError(failures.join("; ")));
            }
            // A little past the moment, so the HealthCheck's `since` has certainly aged enough.
            Ok(requeue
                .map(|d| Action::Requeue(d + Duration::from_millis(10)))
                .unwrap_or(Action::Idle))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::runtime::testing::{resource, Fixture};
    use routerd_api::event::topics;
    use routerd_host::{FakeConntrack, Ipv4Address, NetHost};
    use routerd_proto::netfilter::conntrack::{ConntrackEntry, Status, Tuple, IPPROTO_TCP};
    use routerd_store::EventFilter;
    use serde_json::json;

    const WAN1: u32 = 2;
    const WAN2: u32 = 3;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().expect("an IPv4 literal")
    }

    fn candidate(name: &str, priority: u32, ready: bool, since: Option<Timestamp>) -> Candidate {
        Candidate {
            name: name.into(),
            priority,
            uplink: Some(Uplink {
                gateway: Some(ip("192.0.2.1")),
                ifindex: 2,
                ifname: "wan".into(),
                address: None,
            }),
            uplink_missing: String::new(),
            fwmark: None,
            health: if ready {
                Ok(since)
            } else {
                Err("HealthCheck is Unhealthy".into())
            },
        }
    }

    #[test]
    fn selection_switches_away_at_once_and_fails_back_only_after_the_delay() {
        let now = Timestamp::now();
        let delay = Duration::from_secs(30);
        let long_ago = Some(now.saturating_sub(Duration::from_secs(60)));
        // The selected primary goes unhealthy: immediate switch.
        let c = [
            candidate("isp1", 10, false, None),
            candidate("isp2", 20, true, long_ago),
        ];
        let s = select(&c, Some("isp1"), delay, now);
        assert_eq!(s.selected.as_deref(), Some("isp2"));
        assert!(
            s.switched.as_deref().unwrap_or("").contains("Unhealthy"),
            "{s:?}"
        );
        // The primary healthy again for 10 s: stay, and look again in 20 s.
        let recent = Some(now.saturating_sub(Duration::from_secs(10)));
        let c = [
            candidate("isp1", 10, true, recent),
            candidate("isp2", 20, true, long_ago),
        ];
        let s = select(&c, Some("isp2"), delay, now);
        assert_eq!(s.selected.as_deref(), Some("isp2"));
        assert_eq!(s.switched, None);
        assert_eq!(s.failback_in, Some(Duration::from_secs(20)));
        // Healthy for the whole delay: fail back.
        let c = [
            candidate("isp1", 10, true, long_ago),
            candidate("isp2", 20, true, long_ago),
        ];
        let s = select(&c, Some("isp2"), delay, now);
        assert_eq!(s.selected.as_deref(), Some("isp1"));
        assert!(s.switched.as_deref().unwrap_or("").starts_with("failback"));
        // Nothing ready: the current one stays while it has an uplink.
        let c = [
            candidate("isp1", 10, false, None),
            candidate("isp2", 20, false, None),
        ];
        let s = select(&c, Some("isp1"), delay, now);
        assert_eq!(s.selected.as_deref(), Some("isp1"));
        assert_eq!(s.switched, None);
        // First selection ignores the delay; equal priorities keep the current one.
        let c = [
            candidate("isp1", 10, true, recent),
            candidate("isp2", 10, true, long_ago),
        ];
        assert_eq!(
            select(&c, None, delay, now).selected.as_deref(),
            Some("isp1")
        );
        assert_eq!(select(&c, Some("isp2"), delay, now).switched, None);
    }

    #[test]
    fn tables_are_kept_and_never_shared() {
        let c = [candidate("a", 1, true, None), candidate("b", 2, true, None)];
        let recorded = BTreeMap::from([("b".to_string(), 1000)]);
        let taken = BTreeSet::from([1001]);
        let t = allocate_tables(&c, &recorded, &taken);
        assert_eq!(t["b"], 1000);
        assert_eq!(t["a"], 1002);
    }

    /// Two DHCPv4 WANs (wan1 192.0.2.10 via .1, wan2 198.51.100.10 via .1), each gated by a HealthCheck
    /// (isp1 with fwmark 0x65), and the policy.
    fn fixture(failback: &str) -> Fixture {
        let mut f = Fixture::new();
        f.host.add_link("eg-wan1", WAN1, true);
        f.host.add_link("eg-wan2", WAN2, true);
        f.set_desired(vec![
            resource("Interface", "wan1", json!({"ifname": "eg-wan1"})),
            resource("Interface", "wan2", json!({"ifname": "eg-wan2"})),
            resource("DHCPv4Client", "wan1", json!({"interface": "wan1"})),
            resource("DHCPv4Client", "wan2", json!({"interface": "wan2"})),
            resource(
                "HealthCheck",
                "isp1",
                json!({"target": "203.0.113.1", "protocol": "icmp", "fwmark": 101}),
            ),
            resource("HealthCheck", "isp2", json!({"target": "203.0.113.1", "protocol": "icmp"})),
            resource(
                "EgressRoutePolicy",
                "uplink",
                json!({"failbackDelay": failback, "candidates": [
                    {"name": "isp1", "source": {"kind": "DHCPv4Client", "name": "wan1"}, "healthCheck": "isp1", "priority": 10},
                    {"name": "isp2", "source": {"kind": "DHCPv4Client", "name": "wan2"}, "healthCheck": "isp2", "priority": 20},
                ]}),
            ),
        ]);
        f
    }

    async fn bind(f: &Fixture, name: &str, ifindex: u32, address: &str, gateway: &str) {
        f.host
            .add_ipv4_address(Ipv4Address {
                ifindex,
                address: ip(address),
                prefix_len: 24,
            })
            .await
            .expect("the fake takes the address");
        let mut u = StatusUpdate::new(Phase::Bound, vec![]);
        u.fields = json!({"lease": {"address": address, "prefixLength": 24, "gateway": gateway}})
            .as_object()
            .cloned()
            .unwrap_or_default();
        f.status
            .set(&ResourceId::new(Kind::DHCPv4Client, name), 1, u)
            .await;
    }

    async fn health(f: &Fixture, name: &str, phase: Phase, since: Timestamp) {
        let mut u = StatusUpdate::new(phase, vec![]);
        u.since = Some(since);
        f.status
            .set(&ResourceId::new(Kind::HealthCheck, name), 1, u)
            .await;
    }

    async fn defaults_in_main(f: &Fixture) -> Vec<Ipv4Route> {
        f.host
            .ipv4_routes(MAIN_TABLE)
            .await
            .expect("routes")
            .into_iter()
            .filter(|r| r.prefix_len == 0)
            .collect()
    }

    fn status(f: &Fixture) -> EgressRoutePolicyStatus {
        let s = f
            .status
            .get(&ResourceId::new(KIND, "uplink"))
            .expect("the policy has a status");
        serde_json::from_value(serde_json::Value::Object(s.fields)).expect("status fields")
    }

    fn nated_flow(wan: &str) -> ConntrackEntry {
        let client = IpAddr::V4(ip("10.0.0.2"));
        let server = IpAddr::V4(ip("203.0.113.80"));
        ConntrackEntry {
            family: routerd_proto::netfilter::nlattr::AF_INET,
            protocol: IPPROTO_TCP,
            original: Tuple::with_ports(IPPROTO_TCP, client, 40000, server, 80),
            reply: Tuple::with_ports(IPPROTO_TCP, server, 80, IpAddr::V4(ip(wan)), 40000),
            tcp_state: None,
            timeout: Some(600),
            mark: None,
            zone: None,
            status: Status(Status::SEEN_REPLY),
            original_counters: None,
            reply_counters: None,
            id: None,
        }
    }

    #[tokio::test]
    async fn fails_over_at_once_flushes_the_old_wan_and_fails_back_after_the_delay() {
        let mut f = fixture("30s");
        let conntrack = Arc::new(FakeConntrack::new(
            vec![nated_flow("192.0.2.10"), nated_flow("198.51.100.10")],
            100,
        ));
        let c = EgressController::new(conntrack.clone());
        bind(&f, "wan1", WAN1, "192.0.2.10", "192.0.2.1").await;
        bind(&f, "wan2", WAN2, "198.51.100.10", "198.51.100.1").await;
        let long_ago = Timestamp::now().saturating_sub(Duration::from_secs(120));
        health(&f, "isp1", Phase::Healthy, long_ago).await;
        health(&f, "isp2", Phase::Healthy, long_ago).await;

        c.reconcile(&f.context()).await.expect("reconciles");
        let main = defaults_in_main(&f).await;
        assert_eq!(main.len(), 1, "{main:?}");
        assert_eq!(main[0].gateway, Some(ip("192.0.2.1")));
        // Each candidate has its table and rules, selected or not.
        let t1 = f.host.ipv4_routes(1000).await.expect("routes");
        let t2 = f.host.ipv4_routes(1001).await.expect("routes");
        assert_eq!(t1[0].gateway, Some(ip("192.0.2.1")));
        assert_eq!(t2[0].gateway, Some(ip("198.51.100.1")));
        let rules = f.host.ipv4_rules().await.expect("rules");
        for want in [
            Ipv4Rule {
                priority: 1000,
                source: Some((ip("192.0.2.10"), 32)),
                fwmark: None,
                table: 1000,
            },
            Ipv4Rule {
                priority: 1000,
                source: None,
                fwmark: Some(101),
                table: 1000,
            },
            Ipv4Rule {
                priority: 1001,
                source: Some((ip("198.51.100.10"), 32)),
                fwmark: None,
                table: 1001,
            },
        ] {
            assert!(rules.contains(&want), "{want} missing from {rules:?}");
        }
        assert_eq!(status(&f).selected.as_deref(), Some("isp1"));
        assert_eq!(status(&f).switch_count, Some(0));

        // isp1 unhealthy: switch now, flush the flows NATed to 192.0.2.10.
        health(&f, "isp1", Phase::Unhealthy, Timestamp::now()).await;
        c.reconcile(&f.context()).await.expect("reconciles");
        let main = defaults_in_main(&f).await;
        assert_eq!(main.len(), 1, "{main:?}");
        assert_eq!(main[0].gateway, Some(ip("198.51.100.1")));
        let mut left = Vec::new();
        conntrack
            .walk(&mut |e| left.push(e.reply.dst))
            .expect("walk");
        assert_eq!(left, [IpAddr::V4(ip("198.51.100.10"))]);
        let s = status(&f);
        assert_eq!(s.selected.as_deref(), Some("isp2"));
        assert_eq!(s.switch_count, Some(1));
        assert!(s.last_switch_at.is_some());
        let isp1 = &s.candidates[0];
        assert!(!isp1.ready && isp1.reason.as_deref().unwrap_or("").contains("Unhealthy"));
        // The table of the unhealthy candidate stays, so its probes still go out through wan1.
        assert_eq!(f.host.ipv4_routes(1000).await.expect("routes").len(), 1);
        f.bus.flush().await;
        let events = f
            .bus
            .query(&EventFilter {
                limit: 100,
                ..Default::default()
            })
            .expect("events");
        let switched = events
            .iter()
            .find(|e| e.topic == topics::EGRESS_SWITCHED)
            .expect("a switched event");
        assert_eq!(switched.attributes["from"], "isp1");
        assert_eq!(switched.attributes["to"], "isp2");
        let flushed = events
            .iter()
            .find(|e| e.topic == topics::CONNTRACK_FLUSHED)
            .expect("a flushed event");
        assert_eq!(flushed.attributes["count"], "1");

        // isp1 healthy again just now: no fail-back yet, a requeue for the rest of the delay.
        health(&f, "isp1", Phase::Healthy, Timestamp::now()).await;
        let action = c.reconcile(&f.context()).await.expect("reconciles");
        assert!(
            matches!(action, Action::Requeue(d) if d > Duration::from_secs(29) && d <= Duration::from_secs(31)),
            "{action:?}"
        );
        assert_eq!(
            defaults_in_main(&f).await[0].gateway,
            Some(ip("198.51.100.1"))
        );
        // Healthy for longer than the delay: back to isp1.
        health(&f, "isp1", Phase::Unhealthy, Timestamp::now()).await;
        health(&f, "isp1", Phase::Healthy, long_ago).await;
        c.reconcile(&f.context()).await.expect("reconciles");
        let main = defaults_in_main(&f).await;
        assert_eq!(main.len(), 1, "{main:?}");
        assert_eq!(main[0].gateway, Some(ip("192.0.2.1")));
        assert_eq!(status(&f).switch_count, Some(2));

        // Deleting the policy removes its routes and rules, nothing else.
        let keep: Vec<_> = f
            .desired
            .to_vec()
            .into_iter()
            .filter(|r| r.kind != KIND)
            .collect();
        f.set_desired(keep);
        c.reconcile(&f.context()).await.expect("reconciles");
        assert!(defaults_in_main(&f).await.is_empty());
        assert!(f.host.ipv4_routes(1000).await.expect("routes").is_empty());
        assert!(f.host.ipv4_rules().await.expect("rules").is_empty());
        assert!(ownership::recorded::<EgressArtifact>(&f.context(), "uplink").is_none());
    }

    #[tokio::test]
    async fn a_crash_between_removing_and_adding_leaves_exactly_one_default_route() {
        let mut f = fixture("30s");
        let c = EgressController::new(Arc::new(FakeConntrack::new(Vec::new(), 10)));
        bind(&f, "wan1", WAN1, "192.0.2.10", "192.0.2.1").await;
        bind(&f, "wan2", WAN2, "198.51.100.10", "198.51.100.1").await;
        let long_ago = Timestamp::now().saturating_sub(Duration::from_secs(120));
        health(&f, "isp1", Phase::Unhealthy, long_ago).await;
        health(&f, "isp2", Phase::Healthy, long_ago).await;
        // What a kill -9 in the middle of a switch from isp2 to isp1 leaves: the union recorded, the
        // old main route still on the host.
        let old_main = RouteRecord {
            destination: Ipv4Addr::UNSPECIFIED,
            prefix_len: 0,
            gateway: Some(ip("198.51.100.1")),
            ifindex: WAN2,
            table: MAIN_TABLE,
        };
        let new_main = RouteRecord {
            gateway: Some(ip("192.0.2.1")),
            ifindex: WAN1,
            ..old_main
        };
        f.host.add_ipv4_route(old_main.route()).await.expect("add");
        let union = EgressArtifact {
            tables: BTreeMap::from([("isp1".into(), 1000), ("isp2".into(), 1001)]),
            routes: BTreeSet::from([old_main, new_main]),
            selected: Some("isp1".into()),
            selected_address: Some(ip("192.0.2.10")),
            ..Default::default()
        };
        ownership::record(&f.context(), "uplink", &union)
            .await
            .expect("record");
        f.restart_state().await;
        health(&f, "isp1", Phase::Unhealthy, long_ago).await;
        c.reconcile(&f.context()).await.expect("reconciles");
        let main = defaults_in_main(&f).await;
        assert_eq!(main.len(), 1, "{main:?}");
        assert_eq!(
            main[0].gateway,
            Some(ip("198.51.100.1")),
            "isp1 is unhealthy"
        );
    }

    #[tokio::test]
    async fn a_pppoe_session_and_a_static_route_are_candidates_too() {
        let mut f = Fixture::new();
        f.host.add_link("eg-ppp", WAN1, true);
        f.host.add_link("eg-wan2", WAN2, true);
        f.set_desired(vec![
            resource("Interface", "eth", json!({"ifname": "eg-wan2"})),
            resource(
                "PPPoESession",
                "ppp",
                json!({"interface": "eth", "username": "u", "passwordFile": "/dev/null", "ifname": "eg-ppp"}),
            ),
            resource(
                "IPv4StaticRoute",
                "backup",
                json!({"destination": "0.0.0.0/0", "gateway": "198.51.100.1", "interface": "eth", "table": 200}),
            ),
            resource(
                "EgressRoutePolicy",
                "uplink",
                json!({"candidates": [
                    {"name": "ppp", "source": {"kind": "PPPoESession", "name": "ppp"}, "priority": 1},
                    {"name": "backup", "source": {"kind": "IPv4StaticRoute", "name": "backup"}, "priority": 2},
                ]}),
            ),
        ]);
        assert!(names_candidate(&f.desired, Kind::PPPoESession, "ppp"));
        assert!(!names_candidate(&f.desired, Kind::DHCPv4Client, "ppp"));
        f.host
            .add_ipv4_address(Ipv4Address {
                ifindex: WAN2,
                address: ip("198.51.100.10"),
                prefix_len: 24,
            })
            .await
            .expect("address");
        let c = EgressController::new(Arc::new(FakeConntrack::new(Vec::new(), 10)));
        // The session is not up: the static route carries the default.
        c.reconcile(&f.context()).await.expect("reconciles");
        let main = defaults_in_main(&f).await;
        assert_eq!(main.len(), 1, "{main:?}");
        assert_eq!(main[0].gateway, Some(ip("198.51.100.1")));
        let s = status(&f);
        assert_eq!(s.selected.as_deref(), Some("backup"));
        assert_eq!(
            s.candidates[0].reason.as_deref(),
            Some("PPPoESession ppp is not up")
        );
        // Session up: its device route (no gateway) wins at once (no HealthCheck, no hold-down).
        let mut u = StatusUpdate::new(Phase::Up, vec![]);
        u.fields = json!({"session": {"ifname": "eg-ppp", "localAddress": "100.64.9.2"}})
            .as_object()
            .cloned()
            .unwrap_or_default();
        f.status
            .set(&ResourceId::new(Kind::PPPoESession, "ppp"), 1, u)
            .await;
        c.reconcile(&f.context()).await.expect("reconciles");
        let main = defaults_in_main(&f).await;
        assert_eq!(main.len(), 1, "{main:?}");
        assert_eq!((main[0].gateway, main[0].ifindex), (None, Some(WAN1)));
        let rules = f.host.ipv4_rules().await.expect("rules");
        assert!(
            rules
                .iter()
                .any(|r| r.source == Some((ip("100.64.9.2"), 32))),
            "{rules:?}"
        );
        assert!(
            rules
                .iter()
                .any(|r| r.source == Some((ip("198.51.100.10"), 32))),
            "{rules:?}"
        );
    }
}
