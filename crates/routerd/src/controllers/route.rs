//! `IPv4StaticRoute`: installs the route, repairs it, and on delete removes exactly the route it added.
//! A route whose gateway is not reachable yet (its address not applied) waits in `Pending`.

use super::interface::link_of;
use super::ownership::{self, Artifact, InstallError, Installed, RemoveFuture};
use super::runtime::{Action, Context, Controller, ReconcileError, ReconcileFuture};
use super::status_book::StatusUpdate;
use routerd_api::event::{topics, NewEvent};
use routerd_api::spec::{parse_ipv4_cidr, ResourceSpec};
use routerd_api::status::IPv4StaticRouteStatus;
use routerd_api::{Condition, Kind, Phase, Severity};
use routerd_host::{HostError, Ipv4Route, MAIN_TABLE};
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::time::Duration;

pub struct RouteController;

const KIND: Kind = Kind::IPv4StaticRoute;

/// What routerd installed, persisted per resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct RouteArtifact {
    destination: Ipv4Addr,
    prefix_len: u8,
    gateway: Option<Ipv4Addr>,
    ifindex: Option<u32>,
    metric: Option<u32>,
    table: u32,
}

impl RouteArtifact {
    fn route(&self) -> Ipv4Route {
        Ipv4Route {
            destination: self.destination,
            prefix_len: self.prefix_len,
            gateway: self.gateway,
            ifindex: self.ifindex,
            metric: self.metric,
            table: self.table,
        }
    }
    fn from_route(r: &Ipv4Route) -> RouteArtifact {
        RouteArtifact {
            destination: r.destination,
            prefix_len: r.prefix_len,
            gateway: r.gateway,
            ifindex: r.ifindex,
            metric: r.metric,
            table: r.table,
        }
    }
}

async fn emit(
    ctx: &Context,
    topic: &str,
    name: &str,
    route: &Ipv4Route,
    message: String,
    reason: &str,
) {
    let mut ev = NewEvent::new(topic, Severity::Info, message)
        .resource(KIND.as_str(), name)
        .attr(
            "destination",
            format!("{}/{}", route.destination, route.prefix_len),
        )
        .attr("table", route.table.to_string())
        .attr("reason", reason);
    if let Some(g) = route.gateway {
        ev = ev.attr("gateway", g.to_string());
    }
    if let Err(e) = ctx.bus.publish(ev).await {
        tracing::warn!(error = %e, "route event could not be stored");
    }
}

impl Artifact for RouteArtifact {
    const KIND: Kind = KIND;
    fn remove<'a>(&'a self, ctx: &'a Context, name: &'a str, reason: &'a str) -> RemoveFuture<'a> {
        Box::pin(async move {
            let route = self.route();
            match ctx.host.del_ipv4_route(route).await {
                Ok(()) => {
                    emit(
                        ctx,
                        topics::ROUTE_REMOVED,
                        name,
                        &route,
                        format!("removed route {route}"),
                        reason,
                    )
                    .await;
                    Ok(())
                }
                Err(HostError::NotFound(_)) => Ok(()),
                Err(e) => Err(format!("could not remove route {route}: {e}")),
            }
        })
    }
}

impl Controller for RouteController {
    fn name(&self) -> &'static str {
        "route"
    }
    fn kinds(&self) -> &'static [Kind] {
        &[Kind::IPv4StaticRoute]
    }
    fn input_kinds(&self) -> &'static [Kind] {
        &[
            Kind::IPv4StaticRoute,
            Kind::Interface,
            Kind::IPv4StaticAddress,
        ]
    }
    fn wake_topics(&self) -> &'static [&'static str] {
        &["routerd.address.applied", "routerd.address.removed"]
    }
    fn watches_host(&self) -> bool {
        true
    }
    fn reconcile<'a>(&'a self, ctx: &'a Context) -> ReconcileFuture<'a> {
        Box::pin(async move {
            let links = ctx.links().await?;
            let mut failures = Vec::new();
            let mut requeue = None;

            failures.extend(ownership::remove_deleted::<RouteArtifact>(ctx).await?);

            let mut tables: std::collections::HashMap<u32, Vec<Ipv4Route>> = Default::default();
            for r in ctx.desired.of_kind(KIND) {
                let ResourceSpec::IPv4StaticRoute(spec) = &r.spec else {
                    continue;
                };
                let id = r.id();
                let name = r.name();
                let gen = ctx.desired.generation;
                let Ok((dest, len)) = parse_ipv4_cidr(&spec.destination) else {
                    continue;
                };
                let table = spec.table.unwrap_or(MAIN_TABLE);
                let mut ifname = None;
                let mut ifindex = None;
                if let Some(iface) = &spec.interface {
                    match link_of(ctx, &links, iface) {
                        Ok((n, l)) => {
                            ifindex = Some(l.index);
                            ifname = Some(n);
                        }
                        Err(msg) => {
                            let cond =
                                Condition::new("RouteInstalled", false, "InterfaceMissing", msg);
                            ctx.status
                                .set(&id, gen, StatusUpdate::new(Phase::Pending, vec![cond]))
                                .await;
                            continue;
                        }
                    }
                }
                let gateway = spec
                    .gateway
                    .as_deref()
                    .and_then(|g| g.parse::<Ipv4Addr>().ok());
                let want = Ipv4Route {
                    destination: dest,
                    prefix_len: len,
                    gateway,
                    ifindex,
                    metric: spec.metric,
                    table,
                };
                let want_art = RouteArtifact::from_route(&want);
                let mut recorded: Option<RouteArtifact> = ownership::recorded(ctx, name);
                if let Some(old) = recorded.as_ref().filter(|old| **old != want_art) {
                    if let Err(e) = ownership::remove(ctx, name, old, "replaced").await {
                        failures.push(e);
                    }
                    recorded = None;
                }
                let listed = match tables.entry(table) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(ctx.host.ipv4_routes(table).await.map_err(|err| {
                            ReconcileError(format!("cannot list routes of table {table}: {err}"))
                        })?)
                    }
                };
                let present = listed.iter().any(|l| want.matches(l));
                let fields = IPv4StaticRouteStatus {
                    ifname: ifname.clone(),
                    table: Some(table),
                    owned: recorded.is_some(),
                };
                if present {
                    let (reason, msg) = if recorded.is_some() {
                        ("Present", format!("{want}"))
                    } else {
                        (
                            "PresentBeforeRouterd",
                            format!(
                                "{want} was already installed; it will be left in place on delete"
                            ),
                        )
                    };
                    let update = StatusUpdate::new(
                        Phase::Installed,
                        vec![Condition::new("RouteInstalled", true, reason, msg)],
                    )
                    .with_fields(&fields);
                    ctx.status.set(&id, gen, update).await;
                    continue;
                }
                let install = ownership::install(
                    ctx,
                    name,
                    &want_art,
                    recorded.is_some(),
                    ctx.host.add_ipv4_route(want),
                );
                let update = match install.await {
                    Ok(Installed::Created) => {
                        let (why, text) = if recorded.is_some() {
                            (
                                "repaired",
                                format!(
                                    "re-installed route {want}: it was removed outside routerd"
                                ),
                            )
                        } else {
                            ("created", format!("installed route {want}"))
                        };
                        emit(ctx, topics::ROUTE_INSTALLED, name, &want, text, why).await;
                        let fields = IPv4StaticRouteStatus {
                            owned: true,
                            ..fields
                        };
                        StatusUpdate::new(
                            Phase::Installed,
                            vec![Condition::new(
                                "RouteInstalled",
                                true,
                                if why == "repaired" {
                                    "Repaired"
                                } else {
                                    "Added"
                                },
                                format!("{want}"),
                            )],
                        )
                        .with_fields(&fields)
                    }
                    Err(InstallError::Host(HostError::Unreachable(e))) => {
                        requeue = Some(Duration::from_secs(5));
                        let msg = format!("gateway {} is not reachable yet ({e}); waiting for an address on its subnet", spec.gateway.as_deref().unwrap_or("-"));
                        StatusUpdate::new(
                            Phase::Pending,
                            vec![Condition::new(
                                "RouteInstalled",
                                false,
                                "GatewayUnreachable",
                                msg,
                            )],
                        )
                        .with_fields(&fields)
                    }
                    Ok(Installed::Foreign) => {
                        let msg = format!("another route to {}/{len} with the same metric exists in table {table}; routerd does not replace routes it did not add", spec.destination.split('/').next().unwrap_or(""));
                        StatusUpdate::new(
                            Phase::Error,
                            vec![Condition::new(
                                "RouteInstalled",
                                false,
                                "RouteConflict",
                                msg,
                            )],
                        )
                        .with_fields(&fields)
                    }
                    Err(e) => {
                        requeue = Some(Duration::from_secs(5));
                        StatusUpdate::new(
                            Phase::Error,
                            vec![Condition::new(
                                "RouteInstalled",
                                false,
                                "InstallFailed",
                                format!("could not install {want}: {e}"),
                            )],
                        )
                        .with_fields(&fields)
                    }
                };
                ctx.status.set(&id, gen, update).await;
            }
            let desired = ctx.desired.clone();
            ctx.status
                .retain_kind(KIND, &|n| desired.get(KIND, n).is_some());
            if !failures.is_empty() {
                return Err(ReconcileError(failures.join("; ")));
            }
            Ok(requeue.map(Action::Requeue).unwrap_or(Action::Idle))
        })
    }
}
