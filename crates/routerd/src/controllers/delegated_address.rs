//! `IPv6DelegatedAddress`: carves a LAN address out of the prefix a `DHCPv6PrefixDelegation` holds and
//! puts it on the LAN link with the lease's *remaining* lifetimes, so the kernel itself deprecates and
//! removes the address (and its on-link prefix route) if routerd stops refreshing it. A renew refreshes
//! the lifetimes in place (netlink replace); when the ISP hands out another prefix the address carved
//! from the old one stays with preferred lifetime 0 until the old prefix's valid lifetime ends (existing
//! connections drain, new ones use the new prefix). Everything added is recorded, and a delete removes
//! exactly that; an address that was on the link before routerd is left alone.
//!
//! The delegation's status is read from routerd's status book (the `DHCPv6PrefixDelegation` controller
//! copies the daemon's view there); the runtime wakes this controller after that status changes.

use super::interface::link_of;
use super::ownership::{self, Artifact, RemoveFuture};
use super::runtime::{Action, Context, Controller, ReconcileError, ReconcileFuture};
use super::status_book::StatusUpdate;
use routerd_api::event::topics;
use routerd_api::spec::{parse_ip_cidr, Carving, IPv6DelegatedAddressSpec, ResourceSpec};
use routerd_api::status::{
    DHCPv6PrefixDelegationStatus, IPv6DelegatedAddressStatus, ResourceStatus,
};
use routerd_api::{Condition, ConditionStatus, Kind, Phase, ResourceId, Timestamp};
use routerd_host::{HostError, Ipv6Address, Ipv6DadFailure, INFINITE_LIFETIME};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

pub struct DelegatedAddressController;

/// How long an address that failed duplicate address detection is left off the link before routerd
/// tries it again. The kernel deletes such an address (it has lifetimes); adding it straight back
/// would loop and flood the LAN with DAD probes. The host remembers the deletions.
const DAD_HOLD: Duration = Duration::from_secs(60);

const KIND: Kind = Kind::IPv6DelegatedAddress;
const PD_KIND: Kind = Kind::DHCPv6PrefixDelegation;
/// Periodic look even when nothing wakes us: lifetimes are wall-clock arithmetic.
const RESYNC: Duration = Duration::from_secs(30);
/// How soon to try again after the host refused an address.
const RETRY: Duration = Duration::from_secs(5);
/// Kernel and routerd count lifetimes on different clocks and round differently; only a larger
/// difference than this is a change worth a netlink replace (which also wakes every host watcher).
const LIFETIME_SLACK: u32 = 2;
/// An address with this little valid lifetime left is treated as expired: removed by us rather than
/// re-added or refreshed, so routerd never races the kernel's own removal at valid 0.
const EXPIRY_MARGIN: u32 = 2;

/// Seconds left at `now` of a `lifetime` granted at `granted`; `None` is infinite (0xffffffff).
fn remaining(lifetime: u32, granted: Timestamp, now: Timestamp) -> Option<u32> {
    if lifetime == INFINITE_LIFETIME {
        return None;
    }
    let elapsed = granted.until(now).as_secs();
    Some(u32::try_from(u64::from(lifetime).saturating_sub(elapsed)).unwrap_or(0))
}

/// Seconds from `now` until `until`, saturated to the largest finite lifetime.
fn seconds_until(now: Timestamp, until: Timestamp) -> u32 {
    u32::try_from(now.until(until).as_secs()).unwrap_or(INFINITE_LIFETIME - 1)
}

fn parse_prefix(text: &str) -> Option<(Ipv6Addr, u8)> {
    match parse_ip_cidr(text).ok()? {
        (IpAddr::V6(ip), len) => Some((ip, len)),
        _ => None,
    }
}

/// The delegation as it stands now, with lifetimes counted down to `now`.
#[derive(Debug, Clone, PartialEq)]
struct Delegation {
    prefix: String,
    network: Ipv6Addr,
    length: u8,
    preferred: Option<u32>,
    valid: Option<u32>,
}

/// A prefix the delegation held before, still valid for `valid` seconds.
#[derive(Debug, Clone, PartialEq)]
struct Previous {
    prefix: String,
    network: Ipv6Addr,
    length: u8,
    valid: u32,
}

/// Why there is no delegation to carve from.
#[derive(Debug, Clone, PartialEq)]
enum NoDelegation {
    /// The delegation says it holds no (usable) prefix: what was carved from it goes.
    Gone(String),
    /// Its status cannot be read (an unreadable daemon status, or fields of another schema): the
    /// prefix may well still be held, so nothing on the link changes.
    Unreadable(String),
}

/// What the `DHCPv6PrefixDelegation` status says now: the bound prefix (or why there is none) and the
/// earlier prefixes that are still valid.
fn read_delegation(
    pd_name: &str,
    status: Option<&ResourceStatus>,
    now: Timestamp,
) -> (Result<Delegation, NoDelegation>, Vec<Previous>, Vec<String>) {
    let Some(status) = status else {
        return (
            Err(NoDelegation::Gone(format!(
                "{PD_KIND}/{pd_name} has no status yet"
            ))),
            Vec::new(),
            Vec::new(),
        );
    };
    let unreadable = |why: String| (Err(NoDelegation::Unreadable(why)), Vec::new(), Vec::new());
    if let Some(c) = status
        .conditions
        .iter()
        .find(|c| c.type_ == "DaemonStatusReadable" && c.status != ConditionStatus::True)
    {
        return unreadable(format!("{PD_KIND}/{pd_name}: {}", c.message));
    }
    let fields = serde_json::Value::Object(status.fields.clone());
    let pd: DHCPv6PrefixDelegationStatus = match serde_path_to_error::deserialize(fields) {
        Ok(pd) => pd,
        Err(e) => {
            return unreadable(format!(
                "{PD_KIND}/{pd_name} status.{}: {}",
                e.path(),
                e.inner()
            ))
        }
    };
    let mut previous = Vec::new();
    let mut expired = Vec::new();
    for p in &pd.previous_prefixes {
        let Some((network, length)) = parse_prefix(&p.prefix) else {
            continue;
        };
        let valid = seconds_until(now, p.valid_until);
        if valid <= EXPIRY_MARGIN {
            expired.push(p.prefix.clone());
            continue;
        }
        previous.push(Previous {
            prefix: p.prefix.clone(),
            network,
            length,
            valid,
        });
    }
    let current = (|| {
        let gone = NoDelegation::Gone;
        if status.phase != Phase::Bound {
            let (reason, message) = status.reason();
            let why = if message.is_empty() {
                reason
            } else {
                format!("{reason}: {message}")
            };
            return Err(gone(format!(
                "{PD_KIND}/{pd_name} is {} ({why})",
                status.phase
            )));
        }
        let lease = pd
            .lease
            .as_ref()
            .ok_or_else(|| gone(format!("{PD_KIND}/{pd_name} shows no lease")))?;
        let prefix = lease
            .prefix
            .clone()
            .ok_or_else(|| gone(format!("{PD_KIND}/{pd_name} shows no delegated prefix")))?;
        let (network, length) = parse_prefix(&prefix).ok_or_else(|| {
            NoDelegation::Unreadable(format!(
                "{PD_KIND}/{pd_name} shows an unreadable prefix {prefix:?}"
            ))
        })?;
        let (Some(acquired), Some(valid)) = (lease.acquired_at, lease.valid_lifetime_seconds)
        else {
            return Err(NoDelegation::Unreadable(format!(
                "{PD_KIND}/{pd_name} shows no lifetimes for {prefix}"
            )));
        };
        let valid = remaining(valid, acquired, now);
        if valid.is_some_and(|v| v <= EXPIRY_MARGIN) {
            return Err(gone(format!("the delegated prefix {prefix} has expired")));
        }
        let preferred = remaining(
            lease
                .preferred_lifetime_seconds
                .unwrap_or(INFINITE_LIFETIME),
            acquired,
            now,
        );
        // The kernel refuses preferred > valid; a server may send that (RFC 8415 says ignore the
        // prefix), so clamp rather than fail.
        let preferred = match (preferred, valid) {
            (p, None) => p,
            (None, Some(v)) => Some(v),
            (Some(p), Some(v)) => Some(p.min(v)),
        };
        Ok(Delegation {
            prefix,
            network,
            length,
            preferred,
            valid,
        })
    })();
    // An earlier prefix that is the current one again is simply current.
    if let Ok(d) = &current {
        previous.retain(|p| !(p.network == d.network && p.length == d.length));
    }
    (current, previous, expired)
}

/// One address routerd put on a link for a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Installed {
    ifindex: u32,
    address: Ipv6Addr,
    prefix_len: u8,
}

impl Installed {
    fn host(self) -> Ipv6Address {
        Ipv6Address::new(self.ifindex, self.address, self.prefix_len)
    }
    fn cidr(self) -> String {
        format!("{}/{}", self.address, self.prefix_len)
    }
}

/// Everything installed for one resource: the current address and the deprecated ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct DelegatedArtifact {
    ifname: String,
    addresses: Vec<Installed>,
}

/// Deletes one installed address ("already gone" is success: the kernel removes it at valid 0).
async fn remove_one(
    ctx: &Context,
    name: &str,
    a: Installed,
    ifname: &str,
    reason: &str,
) -> Result<(), String> {
    match ctx.host.del_ipv6_address(a.host()).await {
        Ok(()) => {
            let cidr = a.cidr();
            ctx.emit(
                KIND,
                topics::ADDRESS_REMOVED,
                name,
                format!("removed {cidr} from {ifname} ({reason})"),
                &[
                    ("address", cidr.as_str()),
                    ("interface", ifname),
                    ("reason", reason),
                ],
            )
            .await;
            Ok(())
        }
        Err(HostError::NotFound(_)) => Ok(()),
        Err(e) => Err(format!("could not remove {} from {ifname}: {e}", a.cidr())),
    }
}

impl Artifact for DelegatedArtifact {
    const KIND: Kind = KIND;
    fn remove<'a>(&'a self, ctx: &'a Context, name: &'a str, reason: &'a str) -> RemoveFuture<'a> {
        Box::pin(async move {
            let mut errors = Vec::new();
            for a in &self.addresses {
                if let Err(e) = remove_one(ctx, name, *a, &self.ifname, reason).await {
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

/// An address the resource should have now.
#[derive(Debug, Clone, Copy)]
struct Want {
    installed: Installed,
    preferred: Option<u32>,
    valid: Option<u32>,
    /// Carved from an earlier prefix: only kept (deprecated) while present, never created.
    deprecated: bool,
}

impl Want {
    fn host(&self) -> Ipv6Address {
        self.installed
            .host()
            .with_lifetimes(self.preferred, self.valid)
    }
}

/// Whether the kernel's view of an address of ours differs enough from what it should be to replace it.
fn needs_refresh(present: &Ipv6Address, want: &Want) -> bool {
    let differs = |have: Option<u32>, want: Option<u32>| match (have, want) {
        (None, None) => false,
        (Some(h), Some(w)) => h.abs_diff(w) > LIFETIME_SLACK,
        _ => true,
    };
    // The deprecated flag follows the preferred lifetime in the kernel; comparing it as well would
    // fight the kernel for the moment the two clocks disagree about the preferred lifetime's end.
    differs(present.valid_lifetime, want.valid)
        || differs(present.preferred_lifetime, want.preferred)
}

/// What one resource's reconcile decided, for its status.
struct Outcome {
    phase: Phase,
    condition: Condition,
    fields: IPv6DelegatedAddressStatus,
}

/// The `AddressApplied` condition (true only when the address is on the link) with its phase.
fn outcome(phase: Phase, reason: &str, message: String) -> Outcome {
    Outcome {
        phase,
        condition: Condition::new("AddressApplied", phase == Phase::Applied, reason, message),
        fields: IPv6DelegatedAddressStatus::default(),
    }
}

impl Controller for DelegatedAddressController {
    fn name(&self) -> &'static str {
        "ipv6-delegated-address"
    }
    fn kinds(&self) -> &'static [Kind] {
        &[KIND]
    }
    /// Spec changes of these wake it.
    fn input_kinds(&self) -> &'static [Kind] {
        &[KIND, Kind::Interface, PD_KIND]
    }
    /// The delegation's status changes (a bound, renewed or changed prefix) wake it.
    fn status_inputs(&self) -> &'static [Kind] {
        &[PD_KIND]
    }
    fn watches_host(&self) -> bool {
        true
    }
    fn reconcile<'a>(&'a self, ctx: &'a Context) -> ReconcileFuture<'a> {
        Box::pin(async move {
            let mut failures = ownership::remove_deleted::<DelegatedArtifact>(ctx).await?;
            if ctx.desired.of_kind(KIND).next().is_none() {
                // Nothing to keep (what was deleted is gone above): no dumps, no periodic look.
                ctx.status.retain_kind(KIND, &|_| false);
                if !failures.is_empty() {
                    return Err(ReconcileError(failures.join("; ")));
                }
                return Ok(Action::Idle);
            }
            let links = ctx.links().await?;
            let present = ctx.ipv6_addresses().await?;
            let dad_failures = ctx.host.ipv6_dad_failures();
            let now = Timestamp::now();
            let gen = ctx.desired.generation;
            let mut requeue = RESYNC;
            for r in ctx.desired.of_kind(KIND) {
                let ResourceSpec::IPv6DelegatedAddress(spec) = &r.spec else {
                    continue;
                };
                let name = r.name();
                let (outcome, next) = reconcile_one(
                    ctx,
                    name,
                    spec,
                    &links,
                    &present,
                    now,
                    &dad_failures,
                    &mut failures,
                )
                .await;
                requeue = requeue.min(next);
                let update = StatusUpdate::new(outcome.phase, vec![outcome.condition])
                    .with_fields(&outcome.fields);
                ctx.status.set(&r.id(), gen, update).await;
            }
            let desired = ctx.desired.clone();
            ctx.status
                .retain_kind(KIND, &|n| desired.get(KIND, n).is_some());
            if !failures.is_empty() {
                return Err(ReconcileError(failures.join("; ")));
            }
            Ok(Action::Requeue(requeue))
        })
    }
}

/// Brings one resource's addresses to what its delegation says; returns its status and when to look
/// again (before the earliest valid lifetime ends).
#[allow(clippy::too_many_arguments)]
async fn reconcile_one(
    ctx: &Context,
    name: &str,
    spec: &IPv6DelegatedAddressSpec,
    links: &[routerd_host::Link],
    present: &[Ipv6Address],
    now: Timestamp,
    dad_failures: &[Ipv6DadFailure],
    failures: &mut Vec<String>,
) -> (Outcome, Duration) {
    let mut have: DelegatedArtifact = ownership::recorded(ctx, name).unwrap_or_default();
    let pd_status = ctx
        .status
        .get(&ResourceId::new(PD_KIND, &spec.prefix_delegation));
    let (delegation, previous, expired) =
        read_delegation(&spec.prefix_delegation, pd_status.as_ref(), now);
    if let Err(NoDelegation::Unreadable(why)) = &delegation {
        // Not "the prefix is gone": what is on the link stays until the delegation can be read.
        let mut unknown = outcome(
            Phase::Error,
            "DelegationUnreadable",
            format!("{why}; the addresses on the link are left as they are"),
        );
        // The addresses it showed are still what is on the link.
        let shown = ctx
            .status
            .get(&ResourceId::new(KIND, name))
            .map(|previous| {
                serde_json::from_value::<IPv6DelegatedAddressStatus>(serde_json::Value::Object(
                    previous.fields,
                ))
            });
        if let Some(Ok(fields)) = shown {
            unknown.fields = fields;
        }
        return (unknown, RETRY);
    }
    let mut fields = IPv6DelegatedAddressStatus::default();

    // Decide what should be on the link, or why nothing should.
    let mut wants: Vec<Want> = Vec::new();
    let mut blocked: Option<Outcome> = None;
    let link = link_of(ctx, links, &spec.interface);
    let carving = Carving::from_spec(spec);
    match (&link, &carving) {
        (_, Err(e)) => {
            blocked = Some(outcome(Phase::Error, "InvalidSpec", e.to_string()));
        }
        (Err(msg), _) => {
            blocked = Some(outcome(Phase::Pending, "InterfaceMissing", msg.clone()));
        }
        (Ok((_, link)), Ok(carving)) => {
            match &delegation {
                Ok(d) => match carving.address_in(d.network, d.length) {
                    Ok(address) => wants.push(Want {
                        installed: Installed {
                            ifindex: link.index,
                            address,
                            prefix_len: carving.prefix_length,
                        },
                        preferred: d.preferred,
                        valid: d.valid,
                        deprecated: false,
                    }),
                    Err(e) => {
                        blocked = Some(outcome(
                            Phase::Error,
                            "InvalidSpec",
                            format!("{e} (delegated prefix {})", d.prefix),
                        ));
                    }
                },
                Err(NoDelegation::Gone(why) | NoDelegation::Unreadable(why)) => {
                    blocked = Some(outcome(Phase::Pending, "PrefixNotBound", why.clone()));
                }
            }
            for p in &previous {
                // An earlier prefix the spec does not fit is skipped: there is nothing to keep.
                if let Ok(address) = carving.address_in(p.network, p.length) {
                    wants.push(Want {
                        installed: Installed {
                            ifindex: link.index,
                            address,
                            prefix_len: carving.prefix_length,
                        },
                        preferred: Some(0),
                        valid: Some(p.valid),
                        deprecated: true,
                    });
                }
            }
        }
    }
    let ifname = match &link {
        Ok((ifname, _)) => ifname.clone(),
        Err(_) => have.ifname.clone(),
    };

    // Remove what is ours and no longer wanted: the prefix went away, expired, or the spec changed.
    let mut removed: Vec<Installed> = Vec::new();
    let expired_addresses: Vec<Ipv6Addr> = match &carving {
        Ok(c) => expired
            .iter()
            .filter_map(|p| parse_prefix(p))
            .filter_map(|(net, len)| c.address_in(net, len).ok())
            .collect(),
        Err(_) => Vec::new(),
    };
    for old in have.addresses.clone() {
        if wants.iter().any(|w| w.installed == old) {
            continue;
        }
        let reason = match blocked.as_ref().map(|b| b.condition.reason.as_str()) {
            _ if expired_addresses.contains(&old.address) => "expired",
            Some("InterfaceMissing") => "interface gone",
            Some("InvalidSpec") => "invalid spec",
            Some(_) => "prefix gone",
            None => "replaced",
        };
        let old_ifname = have.ifname.clone();
        match remove_one(ctx, name, old, &old_ifname, reason).await {
            Ok(()) => {
                have.addresses.retain(|a| *a != old);
                removed.push(old);
            }
            Err(e) => failures.push(e),
        }
    }

    // Install or refresh what is wanted.
    let mut current: Option<Outcome> = None;
    let mut retry = None;
    for want in &wants {
        let cidr = want.installed.cidr();
        let ours = have.addresses.contains(&want.installed);
        // The listing predates the removals above (e.g. the same address with the old prefix length).
        let found = present
            .iter()
            .filter(|p| {
                !removed
                    .iter()
                    .any(|r| r.host().same_address(p) && r.prefix_len == p.prefix_len)
            })
            .find(|p| p.same_address(&want.host()))
            .copied();
        // Gone because the kernel deleted it when duplicate address detection failed (another host
        // on the link has it): report that and hold it back instead of adding it again at once.
        let failed_dad = dad_failures.iter().find(|f| {
            f.ifindex == want.installed.ifindex
                && f.address == want.installed.address
                && f.at.elapsed() < DAD_HOLD
        });
        if let (None, Some(failure), false) = (found, failed_dad, want.deprecated) {
            have.addresses.retain(|a| *a != want.installed);
            fields.address = Some(cidr.clone());
            let left = DAD_HOLD.saturating_sub(failure.at.elapsed());
            let message = format!(
                "{cidr} on {ifname} failed duplicate address detection (the kernel removed it): \
                 another host on the link uses it; choose another spec.addressSuffix (tried again \
                 in {} s)",
                left.as_secs().max(1)
            );
            current = Some(outcome(Phase::Error, "DuplicateAddress", message));
            retry = Some(retry.map_or(left, |r: Duration| r.min(left)));
            continue;
        }
        let (reason, message) = match found {
            Some(p) if !ours && !have.addresses.iter().any(|a| p.same_address(&a.host())) => {
                // Someone else's: left alone, never recorded, never removed.
                if !want.deprecated {
                    let message = format!(
                        "{}/{} was already on {ifname}; routerd leaves it and its lifetimes alone",
                        p.address, p.prefix_len
                    );
                    current = Some(outcome(Phase::Applied, "PresentBeforeRouterd", message));
                    fields.address = Some(cidr.clone());
                }
                continue;
            }
            None if want.deprecated => {
                // Gone already (the kernel or an operator removed it): nothing to keep.
                have.addresses.retain(|a| *a != want.installed);
                continue;
            }
            Some(p)
                if p.prefix_len == want.installed.prefix_len
                    && p.flags.dad_failed
                    && !want.deprecated =>
            {
                // The kernel will not use it: say so instead of calling it applied. It stays
                // recorded (delete still removes it); a new suffix is the operator's fix.
                fields.address = Some(cidr.clone());
                let message = format!(
                    "{cidr} on {ifname} failed duplicate address detection: another host on the link \
                     uses it; choose another spec.addressSuffix"
                );
                current = Some(outcome(Phase::Error, "DuplicateAddress", message));
                continue;
            }
            Some(p) if p.prefix_len == want.installed.prefix_len && !needs_refresh(&p, want) => {
                ("Present", format!("{cidr} on {ifname}"))
            }
            found => {
                // A replace keeps the kernel's prefix length: drop ours first when it differs.
                if let Some(p) = found.filter(|p| p.prefix_len != want.installed.prefix_len) {
                    let stale = Installed {
                        prefix_len: p.prefix_len,
                        ..want.installed
                    };
                    if let Err(e) = remove_one(ctx, name, stale, &ifname, "replaced").await {
                        failures.push(e);
                    }
                }
                let refresh = found.is_some_and(|p| p.prefix_len == want.installed.prefix_len);
                match ctx.host.add_ipv6_address(want.host()).await {
                    Ok(()) => {
                        if !ours {
                            have.addresses.push(want.installed);
                        }
                        let (why, text) = if want.deprecated && refresh {
                            (
                                "deprecated",
                                format!(
                                    "deprecated {cidr} on {ifname}: the delegated prefix changed"
                                ),
                            )
                        } else if refresh {
                            (
                                "refreshed",
                                format!("refreshed the lifetimes of {cidr} on {ifname}"),
                            )
                        } else if ours {
                            (
                                "repaired",
                                format!(
                                    "re-added {cidr} to {ifname}: it was removed outside routerd"
                                ),
                            )
                        } else {
                            ("created", format!("added {cidr} to {ifname}"))
                        };
                        let valid = want.valid.map_or("forever".to_string(), |v| v.to_string());
                        ctx.emit(
                            KIND,
                            topics::ADDRESS_APPLIED,
                            name,
                            text,
                            &[
                                ("address", cidr.as_str()),
                                ("interface", &ifname),
                                ("reason", why),
                                ("validLifetimeSeconds", &valid),
                            ],
                        )
                        .await;
                        let reason = match why {
                            "created" => "Added",
                            "repaired" => "Repaired",
                            _ => "Refreshed",
                        };
                        (reason, format!("{cidr} on {ifname}"))
                    }
                    Err(e) => {
                        let msg = format!("could not add {cidr} to {ifname}: {e}");
                        if !want.deprecated {
                            current = Some(outcome(Phase::Error, "AddFailed", msg));
                        } else {
                            failures.push(msg);
                        }
                        retry = Some(RETRY);
                        continue;
                    }
                }
            }
        };
        if want.deprecated {
            fields.deprecated_addresses.push(cidr);
        } else {
            fields.address = Some(cidr);
            current = Some(outcome(Phase::Applied, reason, message));
        }
    }
    have.ifname = ifname;
    let installed = (!have.addresses.is_empty()).then_some(&have);
    if let Err(e) = ownership::keep(ctx, name, installed).await {
        failures.push(e);
    }

    // Look again just before the first valid lifetime ends, so it is removed on time.
    let next = wants
        .iter()
        .filter_map(|w| w.valid)
        .map(|v| Duration::from_secs(u64::from(v.saturating_sub(EXPIRY_MARGIN).max(1))))
        .min()
        .unwrap_or(RESYNC)
        .min(RESYNC)
        .min(retry.unwrap_or(RESYNC));
    let mut result = blocked.or(current).unwrap_or_else(|| {
        outcome(
            Phase::Pending,
            "PrefixNotBound",
            "no delegated prefix to carve from".to_string(),
        )
    });
    result.fields = fields;
    (result, next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::runtime::testing::{resource, Fixture as Base};
    use routerd_api::status::{DHCPv6Lease, PreviousPrefix};
    use routerd_api::topic::TopicPattern;
    use routerd_host::NetHost;
    use routerd_store::EventFilter;
    use serde_json::json;

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn lifetimes_count_down_from_acquisition() {
        let t0 = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let later = t0.saturating_add(Duration::from_secs(100));
        assert_eq!(remaining(3600, t0, later), Some(3500));
        assert_eq!(remaining(50, t0, later), Some(0));
        assert_eq!(remaining(u32::MAX, t0, later), None);
        // A lease stamped in the future (clock stepped back) is full, not negative.
        assert_eq!(remaining(3600, later, t0), Some(3600));
        assert_eq!(seconds_until(t0, later), 100);
        assert_eq!(seconds_until(later, t0), 0);
    }

    /// The shared controller test context, with Interface `lan` (rt-lan).
    struct Fixture {
        t: Base,
    }

    const LAN: u32 = 2;

    impl std::ops::Deref for Fixture {
        type Target = Base;
        fn deref(&self) -> &Base {
            &self.t
        }
    }

    impl Fixture {
        fn new(spec: serde_json::Value) -> Fixture {
            let t = Base::new();
            t.host.add_link("rt-lan", LAN, true);
            let mut fixture = Fixture { t };
            fixture.set_spec(Some(spec));
            fixture
        }

        /// The desired state: Interface `lan` (rt-lan) and, unless `None`, IPv6DelegatedAddress `lan6`.
        fn set_spec(&mut self, spec: Option<serde_json::Value>) {
            let mut resources = vec![resource("Interface", "lan", json!({"ifname": "rt-lan"}))];
            if let Some(spec) = spec {
                resources.push(resource("IPv6DelegatedAddress", "lan6", spec));
            }
            self.t.set_desired(resources);
        }

        async fn reconcile(&self) -> Action {
            DelegatedAddressController
                .reconcile(&self.context())
                .await
                .unwrap()
        }

        /// Puts a `DHCPv6PrefixDelegation/wan-pd` status in the book, as its controller would.
        async fn set_pd(&self, phase: Phase, pd: &DHCPv6PrefixDelegationStatus) {
            let id = ResourceId::new(PD_KIND, "wan-pd");
            let update = StatusUpdate::new(
                phase,
                vec![Condition::new(
                    "PrefixBound",
                    phase == Phase::Bound,
                    "Test",
                    "",
                )],
            )
            .with_fields(pd);
            self.status.set(&id, 1, update).await;
        }

        /// The delegation bound just now to `prefix`, preferred 3600 s and valid 7200 s.
        async fn bind_now(&self, prefix: &str) {
            self.set_pd(Phase::Bound, &bound(prefix, 0, 3600, 7200))
                .await;
        }

        fn status(&self) -> ResourceStatus {
            self.status
                .get(&ResourceId::new(KIND, "lan6"))
                .expect("lan6 has a status")
        }

        async fn addresses(&self) -> Vec<Ipv6Address> {
            self.host.ipv6_addresses().await.unwrap()
        }

        /// (topic suffix, reason attribute, address attribute) of every address event so far.
        fn events(&self) -> Vec<(String, String, String)> {
            let events = self
                .bus
                .query(&EventFilter {
                    topics: vec![TopicPattern::parse("routerd.address.**").unwrap()],
                    limit: 100,
                    ..Default::default()
                })
                .unwrap();
            events
                .into_iter()
                .map(|e| {
                    (
                        e.topic.trim_start_matches("routerd.address.").to_string(),
                        e.attributes.get("reason").cloned().unwrap_or_default(),
                        e.attributes.get("address").cloned().unwrap_or_default(),
                    )
                })
                .collect()
        }
    }

    fn bound(
        prefix: &str,
        acquired_ago: u64,
        preferred: u32,
        valid: u32,
    ) -> DHCPv6PrefixDelegationStatus {
        DHCPv6PrefixDelegationStatus {
            lease: Some(DHCPv6Lease {
                prefix: Some(prefix.into()),
                preferred_lifetime_seconds: Some(preferred),
                valid_lifetime_seconds: Some(valid),
                acquired_at: Some(
                    Timestamp::now().saturating_sub(Duration::from_secs(acquired_ago)),
                ),
                state: Some("Bound".into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn lifetimes(a: &Ipv6Address) -> (u32, u32) {
        (
            a.preferred_lifetime.unwrap_or(u32::MAX),
            a.valid_lifetime.unwrap_or(u32::MAX),
        )
    }

    fn near(have: u32, want: u32) -> bool {
        have.abs_diff(want) <= 2
    }

    #[tokio::test]
    async fn follows_the_delegation_through_renew_change_and_loss() {
        let f = Fixture::new(
            json!({"prefixDelegation": "wan-pd", "interface": "lan", "subnetID": "1"}),
        );

        // No status for the delegation yet.
        f.reconcile().await;
        let s = f.status();
        assert_eq!(s.phase, Phase::Pending);
        assert_eq!(s.reason().0, "PrefixNotBound");
        assert!(f.addresses().await.is_empty());

        // Bound 100 s ago: the address gets the remaining lifetimes.
        f.set_pd(
            Phase::Bound,
            &bound("2001:db8:1200:1240::/60", 100, 3600, 7200),
        )
        .await;
        let action = f.reconcile().await;
        assert_eq!(action, Action::Requeue(RESYNC));
        let addrs = f.addresses().await;
        assert_eq!(addrs.len(), 1, "{addrs:?}");
        assert_eq!(addrs[0].address, ip("2001:db8:1200:1241::1"));
        assert_eq!(addrs[0].prefix_len, 64);
        assert_eq!(addrs[0].ifindex, LAN);
        let (p, v) = lifetimes(&addrs[0]);
        assert!(near(p, 3500) && near(v, 7100), "{addrs:?}");
        let s = f.status();
        assert_eq!(s.phase, Phase::Applied);
        assert_eq!(s.fields["address"], "2001:db8:1200:1241::1/64");
        assert_eq!(s.conditions[0].reason, "Added");
        assert_eq!(
            f.events(),
            vec![(
                "applied".into(),
                "created".into(),
                "2001:db8:1200:1241::1/64".into()
            )]
        );

        // Nothing changed: no netlink write (the host would notify every watcher), no event.
        let mut watch = f.host.watch_changes();
        f.reconcile().await;
        assert!(
            watch.try_recv().is_err(),
            "a converged reconcile wrote to the host"
        );
        assert_eq!(f.events().len(), 1);
        assert_eq!(f.status().conditions[0].reason, "Present");

        // Renew: new acquisition time, the lifetimes are refreshed in place.
        f.bind_now("2001:db8:1200:1240::/60").await;
        f.reconcile().await;
        let addrs = f.addresses().await;
        assert_eq!(addrs.len(), 1);
        let (p, v) = lifetimes(&addrs[0]);
        assert!(near(p, 3600) && near(v, 7200), "{addrs:?}");
        assert_eq!(f.events().last().unwrap().1, "refreshed");

        // Removed behind routerd's back: repaired.
        f.host
            .del_ipv6_address(Ipv6Address::new(LAN, ip("2001:db8:1200:1241::1"), 64))
            .await
            .unwrap();
        f.reconcile().await;
        assert_eq!(f.addresses().await.len(), 1);
        assert_eq!(f.events().last().unwrap().1, "repaired");
        assert_eq!(f.status().conditions[0].reason, "Repaired");

        // The prefix changes: the new address is added, the old one deprecated until validUntil.
        let mut changed = bound("2001:db8:1200:1250::/60", 0, 3600, 7200);
        changed.previous_prefixes = vec![PreviousPrefix {
            prefix: "2001:db8:1200:1240::/60".into(),
            valid_until: Timestamp::now().saturating_add(Duration::from_secs(600)),
        }];
        f.set_pd(Phase::Bound, &changed).await;
        f.reconcile().await;
        let addrs = f.addresses().await;
        assert_eq!(addrs.len(), 2, "{addrs:?}");
        let old = addrs
            .iter()
            .find(|a| a.address == ip("2001:db8:1200:1241::1"))
            .unwrap();
        let new = addrs
            .iter()
            .find(|a| a.address == ip("2001:db8:1200:1251::1"))
            .unwrap();
        assert!(old.flags.deprecated);
        assert_eq!(old.preferred_lifetime, Some(0));
        assert!(near(old.valid_lifetime.unwrap(), 600), "{old:?}");
        assert!(!new.flags.deprecated);
        let s = f.status();
        assert_eq!(s.phase, Phase::Applied);
        assert_eq!(s.fields["address"], "2001:db8:1200:1251::1/64");
        assert_eq!(
            s.fields["deprecatedAddresses"],
            json!(["2001:db8:1200:1241::1/64"])
        );
        let reasons: Vec<String> = f.events().into_iter().rev().take(2).map(|e| e.1).collect();
        assert!(reasons.contains(&"deprecated".to_string()), "{reasons:?}");
        assert!(reasons.contains(&"created".to_string()), "{reasons:?}");
        // Converged again: no writes.
        let mut watch = f.host.watch_changes();
        f.reconcile().await;
        assert!(watch.try_recv().is_err());

        // The kernel removes the old one at valid 0: routerd does not put it back (the status still
        // lists the old prefix: the two clocks differ by a moment).
        f.host.elapse_ipv6_lifetimes(601);
        let addrs = f.addresses().await;
        assert_eq!(addrs.len(), 1, "{addrs:?}");
        f.reconcile().await;
        let addrs = f.addresses().await;
        assert_eq!(addrs.len(), 1, "only the current address stays: {addrs:?}");
        assert_eq!(addrs[0].address, ip("2001:db8:1200:1251::1"));
        assert_eq!(f.status().fields["deprecatedAddresses"], json!([]));
        // The fake's clock ran 601 s ahead of the lease's: the lifetimes were put back in step.
        let (p, v) = lifetimes(&addrs[0]);
        assert!(near(p, 3600) && near(v, 7200), "{addrs:?}");

        // The delegation is lost: the address goes, Pending with PrefixNotBound.
        f.set_pd(Phase::Pending, &DHCPv6PrefixDelegationStatus::default())
            .await;
        f.reconcile().await;
        assert!(f.addresses().await.is_empty());
        let s = f.status();
        assert_eq!(s.phase, Phase::Pending);
        assert_eq!(s.reason().0, "PrefixNotBound");
        assert!(
            s.reason()
                .1
                .contains("DHCPv6PrefixDelegation/wan-pd is Pending"),
            "{s:?}"
        );
        let last = f.events().last().cloned().unwrap();
        assert_eq!(
            last,
            (
                "removed".into(),
                "prefix gone".into(),
                "2001:db8:1200:1251::1/64".into()
            )
        );
        assert!(f
            .state
            .get_artifact(KIND.as_str(), "lan6")
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn previous_prefix_past_valid_until_is_removed_by_routerd() {
        let f = Fixture::new(json!({"prefixDelegation": "wan-pd", "interface": "lan"}));
        f.bind_now("2001:db8:a::/56").await;
        f.reconcile().await;
        let mut changed = bound("2001:db8:b::/56", 0, 3600, 7200);
        changed.previous_prefixes = vec![PreviousPrefix {
            prefix: "2001:db8:a::/56".into(),
            valid_until: Timestamp::now().saturating_add(Duration::from_secs(20)),
        }];
        f.set_pd(Phase::Bound, &changed).await;
        // The next look is due before the old prefix's valid lifetime ends.
        match f.reconcile().await {
            Action::Requeue(d) => assert!(d <= Duration::from_secs(18), "{d:?}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(f.addresses().await.len(), 2);
        // validUntil passes while the kernel still shows the address (clocks differ): routerd removes it.
        changed.previous_prefixes[0].valid_until =
            Timestamp::now().saturating_sub(Duration::from_secs(1));
        f.set_pd(Phase::Bound, &changed).await;
        f.reconcile().await;
        let addrs = f.addresses().await;
        assert_eq!(addrs.len(), 1, "{addrs:?}");
        assert_eq!(addrs[0].address, ip("2001:db8:b::1"));
        let last = f.events().last().cloned().unwrap();
        assert_eq!(
            last,
            (
                "removed".into(),
                "expired".into(),
                "2001:db8:a::1/64".into()
            )
        );
    }

    #[tokio::test]
    async fn delete_removes_exactly_what_was_added() {
        let mut f = Fixture::new(
            json!({"prefixDelegation": "wan-pd", "interface": "lan", "subnetID": "2"}),
        );
        // An operator's address on the same link is never touched.
        let theirs = Ipv6Address::new(LAN, ip("2001:db8:ffff::1"), 64);
        f.host.add_ipv6_address(theirs).await.unwrap();
        f.bind_now("2001:db8:1200:1240::/60").await;
        f.reconcile().await;
        assert_eq!(f.addresses().await.len(), 2);
        f.set_spec(None);
        f.reconcile().await;
        let addrs = f.addresses().await;
        assert_eq!(addrs.len(), 1, "{addrs:?}");
        assert_eq!(addrs[0].address, theirs.address);
        assert!(f.status.get(&ResourceId::new(KIND, "lan6")).is_none());
        assert_eq!(f.events().last().unwrap().1, "deleted");
    }

    /// A delegation whose status cannot be read (its daemon's status is unreadable, or its fields are
    /// of another schema) is not a lost prefix: the LAN address stays and the resource says why.
    #[tokio::test]
    async fn an_unreadable_delegation_leaves_the_lan_address_in_place() {
        let f = Fixture::new(
            json!({"prefixDelegation": "wan-pd", "interface": "lan", "subnetID": "1"}),
        );
        f.bind_now("2001:db8:1200:1240::/60").await;
        f.reconcile().await;
        let before = f.addresses().await;
        assert_eq!(before.len(), 1);
        let pd = ResourceId::new(PD_KIND, "wan-pd");

        // As the DHCPv6PrefixDelegation controller shows a daemon status it cannot read.
        let mut unreadable = StatusUpdate::new(
            Phase::Error,
            vec![Condition::new(
                "DaemonStatusReadable",
                false,
                "DaemonStatusUnreadable",
                "schemaVersion 9 is not one this routerd reads",
            )],
        )
        .with_fields(&bound("2001:db8:1200:1240::/60", 0, 3600, 7200));
        f.status.set(&pd, 2, unreadable.clone()).await;
        f.reconcile().await;
        assert_eq!(f.addresses().await, before, "the LAN address was removed");
        let status = f.status();
        assert_eq!(status.phase, Phase::Error);
        assert_eq!(status.reason().0, "DelegationUnreadable");

        // Fields of another schema (a stored status from another build).
        unreadable.conditions.clear();
        unreadable.phase = Phase::Bound;
        unreadable
            .fields
            .insert("lease".into(), json!({"prefix": 536939960}));
        f.status.set(&pd, 3, unreadable).await;
        f.reconcile().await;
        assert_eq!(f.addresses().await, before, "the LAN address was removed");
        assert_eq!(f.status().reason().0, "DelegationUnreadable");
    }

    #[tokio::test]
    async fn an_address_the_kernel_deletes_for_failed_dad_is_held_back_not_re_added() {
        let f = Fixture::new(json!({"prefixDelegation": "wan-pd", "interface": "lan"}));
        f.bind_now("2001:db8:1200:1240::/60").await;
        f.reconcile().await;
        assert_eq!(f.status().phase, Phase::Applied);
        // The kernel deletes an address with lifetimes whose DAD fails (and says so in the deletion).
        assert!(f.host.fail_ipv6_dad(LAN, ip("2001:db8:1200:1240::1")));
        assert!(f.addresses().await.is_empty());
        let action = f.reconcile().await;
        let s = f.status();
        assert_eq!(s.phase, Phase::Error);
        let (reason, message) = s.reason();
        assert_eq!(reason, "DuplicateAddress");
        assert!(message.contains("spec.addressSuffix"), "{message}");
        assert!(f.addresses().await.is_empty(), "not re-added at once");
        assert!(
            matches!(action, Action::Requeue(d) if d <= DAD_HOLD),
            "{action:?}"
        );
        // Still held on the next pass (no DAD probe storm), and nothing of ours is left recorded.
        f.reconcile().await;
        assert!(f.addresses().await.is_empty());
        assert_eq!(f.status().reason().0, "DuplicateAddress");
        assert!(ownership::recorded::<DelegatedArtifact>(&f.context(), "lan6").is_none());
    }

    #[tokio::test]
    async fn a_permanent_address_flagged_dadfailed_is_an_error_and_stays_ours() {
        let f = Fixture::new(json!({"prefixDelegation": "wan-pd", "interface": "lan"}));
        // Infinite lifetimes: the address is permanent, and the kernel keeps it flagged.
        f.set_pd(
            Phase::Bound,
            &bound(
                "2001:db8:1200:1240::/60",
                0,
                INFINITE_LIFETIME,
                INFINITE_LIFETIME,
            ),
        )
        .await;
        f.reconcile().await;
        assert_eq!(f.status().phase, Phase::Applied);
        assert!(f.host.fail_ipv6_dad(LAN, ip("2001:db8:1200:1240::1")));
        f.reconcile().await;
        let s = f.status();
        assert_eq!(s.phase, Phase::Error);
        assert_eq!(s.reason().0, "DuplicateAddress");
        // Still ours: delete removes it.
        assert_eq!(f.addresses().await.len(), 1);
    }

    #[tokio::test]
    async fn an_address_removed_by_someone_else_is_repaired_not_taken_for_dad() {
        let f = Fixture::new(json!({"prefixDelegation": "wan-pd", "interface": "lan"}));
        f.bind_now("2001:db8:1200:1240::/60").await;
        f.reconcile().await;
        let added = f.addresses().await;
        f.host.del_ipv6_address(added[0]).await.unwrap();
        f.reconcile().await;
        assert_eq!(f.addresses().await.len(), 1);
        assert_eq!(f.status().reason().0, "Repaired");
    }

    #[tokio::test]
    async fn an_address_that_was_already_there_is_left_alone() {
        let mut f = Fixture::new(json!({"prefixDelegation": "wan-pd", "interface": "lan"}));
        let theirs = Ipv6Address::new(LAN, ip("2001:db8:1200:1240::1"), 64);
        f.host.add_ipv6_address(theirs).await.unwrap();
        f.bind_now("2001:db8:1200:1240::/60").await;
        f.reconcile().await;
        let s = f.status();
        assert_eq!(s.phase, Phase::Applied);
        assert_eq!(s.conditions[0].reason, "PresentBeforeRouterd");
        // Its lifetimes stay as the operator set them (forever).
        let addrs = f.addresses().await;
        assert_eq!(addrs.len(), 1);
        assert_eq!(lifetimes(&addrs[0]), (u32::MAX, u32::MAX));
        f.set_spec(None);
        f.reconcile().await;
        assert_eq!(f.addresses().await.len(), 1);
    }

    #[tokio::test]
    async fn spec_errors_and_a_spec_change() {
        let mut f = Fixture::new(
            json!({"prefixDelegation": "wan-pd", "interface": "lan", "subnetID": "1"}),
        );
        f.bind_now("2001:db8:1200:1240::/60").await;
        f.reconcile().await;
        assert_eq!(f.addresses().await.len(), 1);

        // A subnet ID that does not fit the delegated /60: Error naming the field, the old address goes.
        f.set_spec(Some(
            json!({"prefixDelegation": "wan-pd", "interface": "lan", "subnetID": "10"}),
        ));
        f.reconcile().await;
        let s = f.status();
        assert_eq!(s.phase, Phase::Error);
        assert_eq!(s.conditions[0].reason, "InvalidSpec");
        assert!(
            s.conditions[0].message.starts_with("spec.subnetID:"),
            "{s:?}"
        );
        assert!(f.addresses().await.is_empty());

        f.set_spec(Some(
            json!({"prefixDelegation": "wan-pd", "interface": "lan", "prefixLength": 56}),
        ));
        f.reconcile().await;
        let s = f.status();
        assert_eq!(s.phase, Phase::Error);
        assert!(
            s.conditions[0].message.starts_with("spec.prefixLength:"),
            "{s:?}"
        );

        // Fixed: the same address with another length is deleted and added again (a replace would
        // keep the old length).
        f.set_spec(Some(
            json!({"prefixDelegation": "wan-pd", "interface": "lan", "prefixLength": 63}),
        ));
        f.reconcile().await;
        f.set_spec(Some(
            json!({"prefixDelegation": "wan-pd", "interface": "lan", "prefixLength": 62}),
        ));
        f.reconcile().await;
        let addrs = f.addresses().await;
        assert_eq!(addrs.len(), 1, "{addrs:?}");
        assert_eq!(
            (addrs[0].address, addrs[0].prefix_len),
            (ip("2001:db8:1200:1240::1"), 62)
        );
        assert_eq!(f.status().conditions[0].reason, "Added");

        // Another subnet, suffix and length.
        f.set_spec(Some(
            json!({"prefixDelegation": "wan-pd", "interface": "lan", "subnetID": "3",
                               "prefixLength": 62, "addressSuffix": "::a"}),
        ));
        f.reconcile().await;
        let addrs = f.addresses().await;
        assert_eq!(addrs.len(), 1, "{addrs:?}");
        assert_eq!(addrs[0].address, ip("2001:db8:1200:124c::a"));
        assert_eq!(addrs[0].prefix_len, 62);
        f.set_spec(Some(
            json!({"prefixDelegation": "wan-pd", "interface": "lan", "subnetID": "3",
                               "prefixLength": 63, "addressSuffix": "::a"}),
        ));
        f.reconcile().await;
        let addrs = f.addresses().await;
        assert_eq!(addrs.len(), 1, "{addrs:?}");
        assert_eq!(addrs[0].prefix_len, 63);
        assert_eq!(addrs[0].address, ip("2001:db8:1200:1246::a"));

        // The interface disappears: Pending, nothing left recorded on the vanished link.
        f.host.remove_link(LAN);
        f.reconcile().await;
        let s = f.status();
        assert_eq!(s.phase, Phase::Pending);
        assert_eq!(s.conditions[0].reason, "InterfaceMissing");
    }
}
