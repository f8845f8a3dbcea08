//! `DHCPv4Server`: runs one `routerd-dhcpv4-server` per resource through the supervisor, with the
//! interface's device and address and the defaults resolved into its `config.json`, and projects the
//! daemon's pool counts into the resource's status.
//!
//! Resolution: the server address is the address on the interface whose subnet holds the pool (the
//! pool was checked at apply against the `IPv4StaticAddress` resources of the interface; here the host
//! must actually have it, else `Pending`). `gateway` defaults to that address; `dnsServers` to it when a
//! `DNSResolver` listens there (or on the wildcard address).
//!
//! The leases themselves stay in the daemon (`/v1/status`); [`read_leases`] reads them for
//! `GET /dhcp-leases` and [`registered_hosts`] for the `DNSResolver`'s host names.

use super::daemon_status;
use super::interface::link_of;
use super::runtime::{Action, Context, Controller, ReconcileFuture};
use super::status_book::StatusUpdate;
use crate::daemon_client::request;
use crate::supervisor::DaemonRequest;
use routerd_api::dhcp_lease::DHCPLease;
use routerd_api::spec::{DHCPv4ServerDaemonConfig, DHCPv4ServerSpec, RegisteredHost, ResourceSpec};
use routerd_api::status::DHCPv4ServerStatus;
use routerd_api::{Condition, Kind, Phase, Timestamp};
use routerd_host::Ipv4Address;
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

pub const EXECUTABLE: &str = "routerd-dhcpv4-server";
const KIND: Kind = Kind::DHCPv4Server;
/// How often pool counts are read again besides lease events.
const STATUS_REFRESH: Duration = Duration::from_secs(10);
const LEASES_TIMEOUT: Duration = Duration::from_secs(3);

pub struct DHCPv4ServerController;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObservedPool {
    #[serde(default)]
    pool_size: Option<u64>,
    #[serde(default)]
    free: Option<u64>,
    #[serde(default)]
    active: Option<u64>,
    #[serde(default)]
    last_lease_at: Option<Timestamp>,
    #[serde(default)]
    leases: Vec<DHCPLease>,
}

fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    }
}

/// Whether `a` is on the subnet of `net/len`.
pub fn on_subnet(net: Ipv4Addr, len: u8, a: Ipv4Addr) -> bool {
    u32::from(net) & mask(len) == u32::from(a) & mask(len)
}

/// The address on `ifindex` whose subnet holds the whole pool.
fn server_address<'a>(
    spec: &DHCPv4ServerSpec,
    ifindex: u32,
    addrs: &'a [Ipv4Address],
) -> Option<&'a Ipv4Address> {
    let start = spec.pool.start.parse::<Ipv4Addr>().ok()?;
    let end = spec.pool.end.parse::<Ipv4Addr>().ok()?;
    addrs.iter().find(|a| {
        a.ifindex == ifindex
            && on_subnet(a.address, a.prefix_len, start)
            && on_subnet(a.address, a.prefix_len, end)
    })
}

/// Whether some `DNSResolver` listens on `a` (or on the wildcard address).
fn resolver_listens_on(ctx: &Context, a: Ipv4Addr) -> bool {
    ctx.desired.of_kind(Kind::DNSResolver).any(|r| {
        let ResourceSpec::DNSResolver(spec) = &r.spec else {
            return false;
        };
        spec.listen.iter().any(|l| {
            l.parse::<std::net::SocketAddr>()
                .map(|s| s.ip() == IpAddr::V4(a) || s.ip() == IpAddr::V4(Ipv4Addr::UNSPECIFIED))
                .unwrap_or(false)
        })
    })
}

/// The daemon's `config.json` for `spec` served from `server` on `ifname`.
pub fn daemon_config(
    ctx: &Context,
    spec: &DHCPv4ServerSpec,
    ifname: &str,
    server: &Ipv4Address,
) -> DHCPv4ServerDaemonConfig {
    let lease = spec
        .lease_time
        .unwrap_or(routerd_api::spec::DEFAULT_LEASE_TIME);
    let dns_servers = match &spec.dns_servers {
        Some(v) => v.clone(),
        None if resolver_listens_on(ctx, server.address) => vec![server.address.to_string()],
        None => Vec::new(),
    };
    DHCPv4ServerDaemonConfig {
        ifname: ifname.to_string(),
        server_address: server.address.to_string(),
        prefix_length: server.prefix_len,
        pool_start: spec.pool.start.clone(),
        pool_end: spec.pool.end.clone(),
        lease_time_seconds: u32::try_from(lease.0.as_secs()).unwrap_or(u32::MAX - 1),
        gateway: Some(
            spec.gateway
                .clone()
                .unwrap_or_else(|| server.address.to_string()),
        ),
        dns_servers,
        domain: spec.domain.clone(),
        ntp_servers: spec.ntp_servers.clone(),
        reservations: spec.reservations.clone(),
        authoritative: spec.authoritative.unwrap_or(true),
        probe_timeout_ms: None,
    }
}

/// The leases of the server daemon serving resource `name` (empty when it does not answer).
pub async fn leases_of(socket: &Path, name: &str) -> Result<Vec<DHCPLease>, String> {
    let answer = request(socket, "GET", "/v1/status", LEASES_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    let status = daemon_status::resource_in(&answer, name).map_err(|e| e.to_string())?;
    let pool: ObservedPool = daemon_status::observed_as(&status).map_err(|e| e.to_string())?;
    Ok(pool
        .leases
        .into_iter()
        .map(|mut l| {
            l.server = name.to_string();
            l
        })
        .collect())
}

/// Every lease of every `DHCPv4Server` in `ctx`'s desired state, by server then address.
pub async fn read_leases(
    desired: &crate::config::desired::DesiredState,
    supervisor: &crate::supervisor::Supervisor,
) -> Vec<DHCPLease> {
    let mut all = Vec::new();
    for r in desired.of_kind(KIND) {
        let socket = supervisor.socket_path(EXECUTABLE, r.name());
        if let Ok(leases) = leases_of(&socket, r.name()).await {
            all.extend(leases);
        }
    }
    all
}

/// The host names to register in a resolver listening on `listen`: `<hostname>.<domain>` for every
/// bound lease with a host name of a `DHCPv4Server` with `registerHostnames` (default true) and a
/// `domain`, whose interface has an address the resolver listens on (or the resolver listens on the
/// wildcard). A name leased twice goes to the lease granted last.
pub async fn registered_hosts(ctx: &Context, listen: &[String]) -> Vec<RegisteredHost> {
    let listen_ips: Vec<IpAddr> = listen
        .iter()
        .filter_map(|l| l.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .collect();
    if listen_ips.is_empty() {
        return Vec::new();
    }
    let (Ok(links), Ok(addrs)) = (ctx.links().await, ctx.ipv4_addresses().await) else {
        return Vec::new();
    };
    let now = Timestamp::now();
    let mut by_name: std::collections::BTreeMap<String, (Timestamp, String)> = Default::default();
    for r in ctx.desired.of_kind(KIND) {
        let ResourceSpec::DHCPv4Server(spec) = &r.spec else {
            continue;
        };
        let Some(domain) = spec
            .domain
            .as_deref()
            .filter(|_| spec.register_hostnames.unwrap_or(true))
        else {
            continue;
        };
        let Ok((_, link)) = link_of(ctx, &links, &spec.interface) else {
            continue;
        };
        let on_link = addrs.iter().any(|a| {
            a.ifindex == link.index
                && listen_ips
                    .iter()
                    .any(|ip| *ip == IpAddr::V4(a.address) || ip.is_unspecified())
        });
        if !on_link {
            continue;
        }
        let socket = ctx.supervisor.socket_path(EXECUTABLE, r.name());
        let Ok(leases) = leases_of(&socket, r.name()).await else {
            continue;
        };
        for l in leases {
            let (Some(h), Some(exp)) = (l.hostname.as_deref(), l.expires_at) else {
                continue;
            };
            if l.state != "bound" || exp <= now {
                continue;
            }
            let name = format!("{h}.{domain}");
            let newer = by_name.get(&name).is_none_or(|(e, _)| exp > *e);
            if newer {
                by_name.insert(name, (exp, l.address.clone()));
            }
        }
    }
    by_name
        .into_iter()
        .map(|(name, (_, address))| RegisteredHost {
            name,
            addresses: vec![address],
        })
        .collect()
}

impl Controller for DHCPv4ServerController {
    fn name(&self) -> &'static str {
        "dhcpv4-server"
    }
    fn kinds(&self) -> &'static [Kind] {
        &[KIND]
    }
    fn input_kinds(&self) -> &'static [Kind] {
        &[
            KIND,
            Kind::Interface,
            Kind::IPv4StaticAddress,
            Kind::DNSResolver,
        ]
    }
    fn wake_topics(&self) -> &'static [&'static str] {
        &["routerd.dhcpv4.server.**", "routerd.daemon.**"]
    }
    fn watches_host(&self) -> bool {
        true
    }
    fn reconcile<'a>(&'a self, ctx: &'a Context) -> ReconcileFuture<'a> {
        Box::pin(async move {
            let mut requeue = None;
            let mut names = Vec::new();
            let links = ctx.links().await?;
            let addrs = ctx.ipv4_addresses().await?;
            let gen = ctx.desired.generation;
            for r in ctx.desired.of_kind(KIND) {
                let ResourceSpec::DHCPv4Server(spec) = &r.spec else {
                    continue;
                };
                let id = r.id();
                let name = r.name();
                // Keep the daemon (and its leases) while the interface or address is away.
                names.push(name.to_string());
                let Some((ifname, link)) =
                    daemon_status::link_for(ctx, &id, &links, &spec.interface, "Serving").await
                else {
                    continue;
                };
                let Some(server) = server_address(spec, link.index, &addrs) else {
                    let cond = Condition::new(
                        "Serving",
                        false,
                        "AddressMissing",
                        format!(
                            "no address on {ifname} whose subnet holds {}-{}",
                            spec.pool.start, spec.pool.end
                        ),
                    );
                    ctx.status
                        .set(&id, gen, StatusUpdate::new(Phase::Pending, vec![cond]))
                        .await;
                    continue;
                };
                let config = daemon_config(ctx, spec, &ifname, server);
                let request = DaemonRequest {
                    executable: EXECUTABLE,
                    instance: name.to_string(),
                    config: serde_json::to_value(&config).unwrap_or_default(),
                };
                let Some(view) = daemon_status::ensure(ctx, &id, request, &mut requeue).await
                else {
                    continue;
                };
                let Some(daemon) = daemon_status::read_or_wait(ctx, &id, &view, &mut requeue).await
                else {
                    continue;
                };
                let pool: ObservedPool = daemon_status::observed_as(&daemon).unwrap_or_default();
                let status = DHCPv4ServerStatus {
                    pool_size: pool.pool_size,
                    leases_active: pool.active,
                    leases_free: pool.free,
                    last_lease_at: pool.last_lease_at,
                };
                let mut u = StatusUpdate::new(daemon.phase, daemon.conditions).with_fields(&status);
                u.since = daemon.since;
                ctx.status.set(&id, gen, u).await;
                requeue = Some(requeue.map_or(STATUS_REFRESH, |r: Duration| r.min(STATUS_REFRESH)));
            }
            daemon_status::retain(ctx, EXECUTABLE, KIND, &names, None).await;
            Ok(requeue.map(Action::Requeue).unwrap_or(Action::Idle))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(start: &str, end: &str) -> DHCPv4ServerSpec {
        serde_json::from_value(serde_json::json!({
            "interface": "lan", "pool": {"start": start, "end": end}
        }))
        .unwrap()
    }

    #[test]
    fn the_server_address_is_the_one_whose_subnet_holds_the_pool() {
        let addrs = [
            Ipv4Address {
                ifindex: 2,
                address: Ipv4Addr::new(10, 0, 0, 1),
                prefix_len: 24,
            },
            Ipv4Address {
                ifindex: 3,
                address: Ipv4Addr::new(192, 168, 1, 1),
                prefix_len: 24,
            },
        ];
        let s = spec("192.168.1.100", "192.168.1.200");
        assert_eq!(
            server_address(&s, 3, &addrs).map(|a| a.address),
            Some(Ipv4Addr::new(192, 168, 1, 1))
        );
        assert!(server_address(&s, 2, &addrs).is_none());
        assert!(server_address(&spec("192.168.1.100", "192.168.2.5"), 3, &addrs).is_none());
    }
}
