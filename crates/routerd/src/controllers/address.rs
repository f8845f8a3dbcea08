//! `IPv4StaticAddress`: puts the address on the link, repairs it when removed behind routerd's back, and
//! on delete removes exactly the address it added (recorded in `routerd.db`, so a restart between apply
//! and delete changes nothing). An address that was already there before routerd, or that someone else
//! adds between routerd's look at the link and its own add (the kernel answers EEXIST to routerd's
//! exclusive add), is left in place.

use super::interface::link_of;
use super::ownership::{self, Artifact, InstallError, Installed, RemoveFuture};
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
                    let install = ownership::install(
                        ctx,
                        name,
                        &want_art,
                        recorded.is_some(),
                        ctx.host.add_ipv4_address(want),
                    );
                    match install.await {
                        Ok(Installed::Created) => {
                            let (why, reason, text) = if recorded.is_some() {
                                (
                                    "repaired",
                                    "Repaired",
                                    format!(
                                    "re-added {cidr} to {ifname}: it was removed outside routerd"
                                ),
                                )
                            } else {
                                ("created", "Added", format!("added {cidr} to {ifname}"))
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
                            (true, reason, format!("{cidr} on {ifname}"))
                        }
                        // Added by someone else since the snapshot: theirs, left in place on delete.
                        Ok(Installed::Foreign) => (
                            false,
                            "PresentBeforeRouterd",
                            format!("{cidr} was added to {ifname} outside routerd; it will be left in place on delete"),
                        ),
                        Err(e) => {
                            requeue = Some(Duration::from_secs(5));
                            let reason = match e {
                                InstallError::Record(_) => "OwnershipNotRecorded",
                                InstallError::Host(_) => "AddFailed",
                            };
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
                                            reason,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::runtime::testing::{resource, Fixture};
    use routerd_api::status::ResourceStatus;
    use routerd_api::ResourceId;
    use routerd_host::NetHost;
    use serde_json::json;

    const LAN: u32 = 2;

    fn lan_address() -> Ipv4Address {
        Ipv4Address {
            ifindex: LAN,
            address: "192.0.2.1".parse().expect("an IPv4 address"),
            prefix_len: 24,
        }
    }

    /// Interface `lan` (rt-lan) and, with `address`, IPv4StaticAddress `lan` 192.0.2.1/24 on it.
    fn desire(f: &mut Fixture, address: bool) {
        let mut resources = vec![resource("Interface", "lan", json!({"ifname": "rt-lan"}))];
        if address {
            resources.push(resource(
                "IPv4StaticAddress",
                "lan",
                json!({"interface": "lan", "address": "192.0.2.1/24"}),
            ));
        }
        f.set_desired(resources);
    }

    fn fixture() -> Fixture {
        let mut f = Fixture::new();
        f.host.add_link("rt-lan", LAN, true);
        desire(&mut f, true);
        f
    }

    fn status(f: &Fixture) -> ResourceStatus {
        f.status
            .get(&ResourceId::new(KIND, "lan"))
            .expect("the address has a status")
    }

    async fn on_host(f: &Fixture) -> bool {
        f.host
            .ipv4_addresses()
            .await
            .expect("the fake host lists addresses")
            .contains(&lan_address())
    }

    #[tokio::test]
    async fn an_address_added_between_the_snapshot_and_the_add_is_not_ours() {
        let mut f = fixture();
        f.host.race_next_ipv4_add(lan_address());
        let _ = AddressController.reconcile(&f.context()).await;
        let s = status(&f);
        assert_eq!(s.fields["owned"], false, "{s:?}");
        assert!(ownership::recorded::<AddressArtifact>(&f.context(), "lan").is_none());

        desire(&mut f, false);
        AddressController
            .reconcile(&f.context())
            .await
            .expect("the delete reconciles");
        assert!(on_host(&f).await, "the operator's address stays");
    }

    #[tokio::test]
    async fn an_ownership_record_that_cannot_be_stored_never_makes_our_address_foreign() {
        let mut f = fixture();
        let db = routerd_store::db::open(&f.db()).expect("the database opens");
        db.execute_batch(
            "CREATE TRIGGER no_ownership BEFORE INSERT ON owned_artifacts
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
        )
        .expect("the trigger is created");
        let first = AddressController.reconcile(&f.context()).await;
        assert!(
            first.is_err() || status(&f).phase == Phase::Error,
            "the failure is reported: {first:?} {:?}",
            status(&f)
        );
        db.execute_batch("DROP TRIGGER no_ownership")
            .expect("the trigger is dropped");

        // A restart reads the records back from the database.
        f.restart_state().await;
        AddressController
            .reconcile(&f.context())
            .await
            .expect("the store works again");
        let s = status(&f);
        assert_eq!(s.fields["owned"], true, "{s:?}");

        desire(&mut f, false);
        AddressController
            .reconcile(&f.context())
            .await
            .expect("the delete reconciles");
        assert!(!on_host(&f).await, "routerd removes the address it added");
    }
}
