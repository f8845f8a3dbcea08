//! `IPv4StaticAddress`: puts the address on the link, repairs it when removed behind routerd's back, and
//! on delete removes exactly the address it added (recorded in `routerd.db`, so a restart between apply
//! and delete changes nothing). An address that was already there before routerd is left in place.

use super::interface::link_of;
use super::ownership::{self, Artifact, RemoveFuture};
use super::runtime::{Action, Context, Controller, ReconcileError, ReconcileFuture};
use super::status_book::StatusUpdate;
use routerd_api::event::topics;
use routerd_api::spec::{parse_ipv4_cidr, ResourceSpec};
use routerd_api::status::IPv4StaticAddressStatus;
use routerd_api::{Condition, Kind, Phase};
use routerd_host::{HostError, Ipv4Address};
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub struct AddressController;

/// What routerd added, persisted per resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct AddressArtifact {
    ifindex: u32,
    ifname: String,
    address: String,
    prefix_len: u8,
}

impl AddressArtifact {
    fn host(&self) -> Option<Ipv4Address> {
        Some(Ipv4Address {
            ifindex: self.ifindex,
            address: self.address.parse().ok()?,
            prefix_len: self.prefix_len,
        })
    }
}

const KIND: Kind = Kind::IPv4StaticAddress;

async fn emit(
    ctx: &Context,
    topic: &str,
    name: &str,
    message: String,
    addr: &str,
    ifname: &str,
    reason: &str,
) {
    let attrs = [("address", addr), ("interface", ifname), ("reason", reason)];
    ctx.emit(KIND, topic, name, message, &attrs).await;
}

impl Artifact for AddressArtifact {
    const KIND: Kind = KIND;
    fn remove<'a>(&'a self, ctx: &'a Context, name: &'a str, reason: &'a str) -> RemoveFuture<'a> {
        Box::pin(async move {
            let Some(a) = self.host() else { return Ok(()) };
            match ctx.host.del_ipv4_address(a).await {
                Ok(()) => {
                    let cidr = format!("{}/{}", self.address, self.prefix_len);
                    emit(
                        ctx,
                        topics::ADDRESS_REMOVED,
                        name,
                        format!("removed {cidr} from {}", self.ifname),
                        &cidr,
                        &self.ifname,
                        reason,
                    )
                    .await;
                    Ok(())
                }
                Err(HostError::NotFound(_)) => Ok(()),
                Err(e) => Err(format!(
                    "could not remove {}/{} from {}: {e}",
                    self.address, self.prefix_len, self.ifname
                )),
            }
        })
    }
}

impl Controller for AddressController {
    fn name(&self) -> &'static str {
        "address"
    }
    fn kinds(&self) -> &'static [Kind] {
        &[Kind::IPv4StaticAddress]
    }
    fn input_kinds(&self) -> &'static [Kind] {
        &[Kind::IPv4StaticAddress, Kind::Interface]
    }
    fn watches_host(&self) -> bool {
        true
    }
    fn reconcile<'a>(&'a self, ctx: &'a Context) -> ReconcileFuture<'a> {
        Box::pin(async move {
            let links = ctx.links().await?;
            let present = ctx.ipv4_addresses().await?;
            let mut requeue = None;
            let mut failures = Vec::new();

            // Deleted resources first: remove exactly what was recorded.
            failures.extend(ownership::remove_deleted::<AddressArtifact>(ctx).await?);

            for r in ctx.desired.of_kind(KIND) {
                let ResourceSpec::IPv4StaticAddress(spec) = &r.spec else {
                    continue;
                };
                let id = r.id();
                let name = r.name();
                let gen = ctx.desired.generation;
                let Ok((ip, len)) = parse_ipv4_cidr(&spec.address) else {
                    continue;
                };
                let recorded: Option<AddressArtifact> = ownership::recorded(ctx, name);
                let (ifname, link) = match link_of(ctx, &links, &spec.interface) {
                    Ok(found) => found,
                    Err(msg) => {
                        let cond = Condition::new("AddressApplied", false, "InterfaceMissing", msg);
                        ctx.status
                            .set(&id, gen, StatusUpdate::new(Phase::Pending, vec![cond]))
                            .await;
                        continue;
                    }
                };
                let want = Ipv4Address {
                    ifindex: link.index,
                    address: ip,
                    prefix_len: len,
                };
                let want_art = AddressArtifact {
                    ifindex: link.index,
                    ifname: ifname.clone(),
                    address: ip.to_string(),
                    prefix_len: len,
                };
                // Spec or link changed: the old address goes first.
                let mut recorded = recorded;
                if let Some(old) = recorded.as_ref().filter(|old| **old != want_art) {
                    if let Err(e) = ownership::remove(ctx, name, old, "replaced").await {
                        failures.push(e);
                    }
                    recorded = None;
                }
                let cidr = format!("{ip}/{len}");
                let is_present = present.contains(&want);
                let (owned, reason, message) = if is_present {
                    match &recorded {
                        Some(_) => (true, "Present", format!("{cidr} on {ifname}")),
                        None => (false, "PresentBeforeRouterd", format!("{cidr} was already on {ifname}; it will be left in place on delete")),
                    }
                } else {
                    match ctx.host.add_ipv4_address(want).await {
                        Ok(()) | Err(HostError::AlreadyExists(_)) => {
                            if let Err(e) = ownership::record(ctx, name, &want_art) {
                                failures.push(format!("cannot record {cidr}: {e}"));
                            }
                            let why = if recorded.is_some() {
                                "repaired"
                            } else {
                                "created"
                            };
                            let text = if recorded.is_some() {
                                format!(
                                    "re-added {cidr} to {ifname}: it was removed outside routerd"
                                )
                            } else {
                                format!("added {cidr} to {ifname}")
                            };
                            emit(
                                ctx,
                                topics::ADDRESS_APPLIED,
                                name,
                                text,
                                &cidr,
                                &ifname,
                                why,
                            )
                            .await;
                            (
                                true,
                                if recorded.is_some() {
                                    "Repaired"
                                } else {
                                    "Added"
                                },
                                format!("{cidr} on {ifname}"),
                            )
                        }
                        Err(e) => {
                            requeue = Some(Duration::from_secs(5));
                            let msg = format!("could not add {cidr} to {ifname}: {e}");
                            ctx.status
                                .set(
                                    &id,
                                    gen,
                                    StatusUpdate::new(
                                        Phase::Error,
                                        vec![Condition::new(
                                            "AddressApplied",
                                            false,
                                            "AddFailed",
                                            msg,
                                        )],
                                    ),
                                )
                                .await;
                            continue;
                        }
                    }
                };
                let fields = IPv4StaticAddressStatus {
                    ifname: Some(ifname.clone()),
                    address: Some(cidr),
                    owned,
                };
                let update = StatusUpdate::new(
                    Phase::Applied,
                    vec![Condition::new("AddressApplied", true, reason, message)],
                )
                .with_fields(&fields);
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
