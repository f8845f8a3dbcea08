//! `IPv6RouterAdvertisement`: runs one `routerd-ra` per resource through the supervisor, with every
//! prefix resolved into its `config.json`, and projects the daemon's status (`advertised`,
//! `lastSentAt`, `solicitationsAnswered`) into the resource's.
//!
//! A `from` prefix is the subnet the named `IPv6DelegatedAddress` carves from its delegation's current
//! prefix (its spec's `subnetID`/`prefixLength`, the same carving that puts the router's LAN address
//! there), with the instants the delegation's lifetimes end (`acquiredAt` + lifetime): stable across
//! reconciles, so the config changes only when the delegation does. The delegation's status wakes this
//! controller (`status_inputs`), the changed config reaches the running daemon as a `reload`, and the
//! daemon advertises the new prefix at once and the one that left deprecated (it remembers what it
//! advertised, across restarts too). A prefix that is not SLAAC-sized (/64) is advertised on-link only.
//!
//! `rdnss` defaults to the router's addresses on the interface that a `DNSResolver` listens on (a
//! specific IPv6 address on the link, or a wildcard `[::]` listener: then the interface's global
//! addresses that are not deprecated).

use super::daemon_status;
use super::runtime::{Action, Context, Controller, ReconcileFuture};
use crate::supervisor::DaemonRequest;
use routerd_api::spec::{
    Carving, IPv6DelegatedAddressSpec, IPv6RouterAdvertisementSpec, RaDaemonConfig, RaPrefixConfig,
    ResourceSpec,
};
use routerd_api::status::{DHCPv6PrefixDelegationStatus, ResourceStatus};
use routerd_api::{Kind, Phase, ResourceId};
use routerd_host::Ipv6Address;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Duration;

pub const EXECUTABLE: &str = "routerd-ra";
const KIND: Kind = Kind::IPv6RouterAdvertisement;
/// How often a running advertiser's status is read again: its lifetimes count down and solicitations
/// arrive without any event saying so.
const STATUS_REFRESH: Duration = Duration::from_secs(10);
/// The lifetime that means "forever" (RFC 4861 §4.6.2).
const INFINITE: u32 = u32::MAX;
/// SLAAC forms addresses only in /64 prefixes (RFC 4862 §5.5.3 with RFC 4291's 64-bit identifiers).
const SLAAC_LENGTH: u8 = 64;

pub struct RouterAdvertisementController;

/// The subnet `IPv6DelegatedAddress/from` carves from its delegation now, with its lifetimes; `None`
/// while the delegation holds no prefix (or the names lead nowhere).
fn delegated_prefix(ctx: &Context, from: &str, autonomous: bool) -> Option<RaPrefixConfig> {
    let r = ctx.desired.get(Kind::IPv6DelegatedAddress, from)?;
    let ResourceSpec::IPv6DelegatedAddress(spec) = &r.spec else {
        return None;
    };
    let status = ctx.status.get(&ResourceId::new(
        Kind::DHCPv6PrefixDelegation,
        &spec.prefix_delegation,
    ));
    carve_from(spec, status.as_ref(), autonomous)
}

/// The pure half of [`delegated_prefix`]: `status` is the delegation's.
fn carve_from(
    spec: &IPv6DelegatedAddressSpec,
    status: Option<&ResourceStatus>,
    autonomous: bool,
) -> Option<RaPrefixConfig> {
    let status = status?;
    if status.phase != Phase::Bound {
        return None;
    }
    let pd: DHCPv6PrefixDelegationStatus =
        serde_json::from_value(serde_json::Value::Object(status.fields.clone())).ok()?;
    let lease = pd.lease?;
    let (network, length) = match routerd_api::spec::parse_ip_cidr(lease.prefix.as_deref()?).ok()? {
        (IpAddr::V6(n), l) => (n, l),
        _ => return None,
    };
    let carving = Carving::from_spec(spec).ok()?;
    let address = carving.address_in(network, length).ok()?;
    let len = carving.prefix_length;
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    };
    let subnet = Ipv6Addr::from(u128::from(address) & mask);
    let acquired = lease.acquired_at?;
    let until = |lifetime: Option<u32>| match lifetime {
        Some(INFINITE) | None => None,
        Some(s) => Some(acquired.saturating_add(Duration::from_secs(u64::from(s)))),
    };
    let fixed = |lifetime: Option<u32>| match lifetime {
        Some(INFINITE) => Some(INFINITE),
        _ => None,
    };
    Some(RaPrefixConfig {
        prefix: format!("{subnet}/{len}"),
        autonomous: autonomous && len == SLAAC_LENGTH,
        preferred_lifetime_seconds: fixed(lease.preferred_lifetime_seconds),
        valid_lifetime_seconds: fixed(lease.valid_lifetime_seconds),
        preferred_until: until(lease.preferred_lifetime_seconds),
        valid_until: until(lease.valid_lifetime_seconds),
    })
}

/// The default RDNSS: the router's addresses on `ifindex` that some `DNSResolver` listens on.
fn default_rdnss(ctx: &Context, ifindex: u32, addresses: &[Ipv6Address]) -> Vec<Ipv6Addr> {
    let on_link: Vec<&Ipv6Address> = addresses
        .iter()
        .filter(|a| a.ifindex == ifindex && !a.address.is_unicast_link_local())
        .collect();
    let mut out: Vec<Ipv6Addr> = Vec::new();
    for r in ctx.desired.of_kind(Kind::DNSResolver) {
        let ResourceSpec::DNSResolver(spec) = &r.spec else {
            continue;
        };
        for listen in &spec.listen {
            let Ok(SocketAddr::V6(sa)) = listen.parse::<SocketAddr>() else {
                continue;
            };
            let candidates: Vec<Ipv6Addr> = if sa.ip().is_unspecified() {
                on_link
                    .iter()
                    .filter(|a| !a.flags.deprecated && !a.flags.dad_failed)
                    .map(|a| a.address)
                    .collect()
            } else if on_link.iter().any(|a| a.address == *sa.ip()) {
                vec![*sa.ip()]
            } else {
                Vec::new()
            };
            for c in candidates {
                if !out.contains(&c) {
                    out.push(c);
                }
            }
        }
    }
    out
}

/// The daemon's `config.json` for one resource.
fn daemon_config(
    ctx: &Context,
    spec: &IPv6RouterAdvertisementSpec,
    ifname: &str,
    ifindex: u32,
    addresses: &[Ipv6Address],
) -> RaDaemonConfig {
    let autonomous = spec.autonomous.unwrap_or(true);
    let mut prefixes: Vec<RaPrefixConfig> = Vec::new();
    for p in &spec.prefixes {
        let resolved = match (&p.from, &p.prefix) {
            (Some(from), _) => delegated_prefix(ctx, from, autonomous),
            (None, Some(prefix)) => Some(RaPrefixConfig {
                prefix: prefix.clone(),
                autonomous,
                preferred_lifetime_seconds: None,
                valid_lifetime_seconds: None,
                preferred_until: None,
                valid_until: None,
            }),
            (None, None) => None,
        };
        // Two entries resolving to the same prefix advertise it once.
        if let Some(r) = resolved {
            if !prefixes.iter().any(|q| q.prefix == r.prefix) {
                prefixes.push(r);
            }
        }
    }
    let rdnss = match &spec.rdnss {
        Some(list) => list.iter().filter_map(|a| a.parse().ok()).collect(),
        None => default_rdnss(ctx, ifindex, addresses),
    };
    RaDaemonConfig {
        ifname: ifname.to_string(),
        prefixes,
        managed: spec.managed.unwrap_or(false),
        other_config: spec.other_config.unwrap_or(false),
        rdnss,
        dnssl: spec.dnssl.clone(),
        mtu: spec.mtu,
        router_lifetime_seconds: u16::try_from(spec.router_lifetime_or_default().as_secs())
            .unwrap_or(u16::MAX),
        max_interval_seconds: u32::try_from(spec.max_interval_or_default().as_secs())
            .unwrap_or(u32::MAX),
    }
}

impl Controller for RouterAdvertisementController {
    fn name(&self) -> &'static str {
        "router-advertisement"
    }
    fn kinds(&self) -> &'static [Kind] {
        &[KIND]
    }
    fn input_kinds(&self) -> &'static [Kind] {
        &[
            KIND,
            Kind::Interface,
            Kind::IPv6DelegatedAddress,
            Kind::DHCPv6PrefixDelegation,
            Kind::DNSResolver,
        ]
    }
    /// A delegation that binds, renews or moves changes the advertised prefix: its status wakes us.
    fn status_inputs(&self) -> &'static [Kind] {
        &[Kind::DHCPv6PrefixDelegation, Kind::IPv6DelegatedAddress]
    }
    fn wake_topics(&self) -> &'static [&'static str] {
        &["routerd.ra.**", "routerd.daemon.**"]
    }
    fn watches_host(&self) -> bool {
        true
    }
    fn reconcile<'a>(&'a self, ctx: &'a Context) -> ReconcileFuture<'a> {
        Box::pin(async move {
            let mut requeue = None;
            let mut names = Vec::new();
            let mut running = Vec::new();
            let resources: Vec<_> = ctx.desired.of_kind(KIND).collect();
            let (links, addresses) = if resources.is_empty() {
                (Vec::new(), Vec::new())
            } else {
                (ctx.links().await?, ctx.ipv6_addresses().await?)
            };
            for r in resources {
                let ResourceSpec::IPv6RouterAdvertisement(spec) = &r.spec else {
                    continue;
                };
                let id = r.id();
                names.push(r.name().to_string());
                let Some((ifname, link)) =
                    daemon_status::link_for(ctx, &id, &links, &spec.interface, "Advertising").await
                else {
                    continue;
                };
                let config = daemon_config(ctx, spec, &ifname, link.index, &addresses);
                let request = DaemonRequest {
                    executable: EXECUTABLE,
                    instance: r.name().to_string(),
                    config: serde_json::to_value(config).unwrap_or_default(),
                };
                if let Some(view) = daemon_status::ensure(ctx, &id, request, &mut requeue).await {
                    running.push((id, view));
                }
            }
            if !running.is_empty() {
                requeue = Some(requeue.map_or(STATUS_REFRESH, |r| r.min(STATUS_REFRESH)));
            }
            daemon_status::project_all(ctx, running, &mut requeue).await;
            daemon_status::retain(ctx, EXECUTABLE, KIND, &names, None).await;
            Ok(requeue.map(Action::Requeue).unwrap_or(Action::Idle))
        })
    }
}

#[cfg(test)]
mod tests;
