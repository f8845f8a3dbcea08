//! `config.json` (`routerd_api::spec::DHCPv4ServerDaemonConfig`, written by routerd's controller with
//! every default resolved) into the core's [`ServerConfig`].

use crate::server::{Reservation, ServerConfig};
use routerd_api::spec::{parse_mac, DHCPv4ServerDaemonConfig};
use std::net::Ipv4Addr;
use std::time::Duration;

/// The address check's wait when the config names none.
pub const DEFAULT_PROBE_TIMEOUT_MS: u32 = 500;

fn addr(field: &str, v: &str) -> Result<Ipv4Addr, String> {
    v.parse()
        .map_err(|_| format!("{field}: {v:?} is not an IPv4 address"))
}

/// Checks `config` and builds the core's config for the resource `name`.
pub fn server_config(
    name: &str,
    config: &DHCPv4ServerDaemonConfig,
) -> Result<ServerConfig, String> {
    routerd_sansio::check_ifname(&config.ifname).map_err(|e| format!("ifname: {e}"))?;
    if config.prefix_length == 0 || config.prefix_length > 30 {
        return Err(format!(
            "prefixLength: {} (a served subnet is /1 to /30)",
            config.prefix_length
        ));
    }
    let many = |field: &str, v: &[String]| -> Result<Vec<Ipv4Addr>, String> {
        v.iter()
            .enumerate()
            .map(|(i, a)| addr(&format!("{field}[{i}]"), a))
            .collect()
    };
    let server = ServerConfig {
        name: name.to_string(),
        server_address: addr("serverAddress", &config.server_address)?,
        prefix_length: config.prefix_length,
        pool_start: addr("poolStart", &config.pool_start)?,
        pool_end: addr("poolEnd", &config.pool_end)?,
        lease_time: Duration::from_secs(u64::from(config.lease_time_seconds.max(60))),
        gateway: config
            .gateway
            .as_deref()
            .map(|g| addr("gateway", g))
            .transpose()?,
        dns_servers: many("dnsServers", &config.dns_servers)?,
        domain: config.domain.clone(),
        ntp_servers: many("ntpServers", &config.ntp_servers)?,
        reservations: config
            .reservations
            .iter()
            .enumerate()
            .map(|(i, r)| {
                Ok(Reservation {
                    mac: parse_mac(&r.mac).ok_or_else(|| {
                        format!("reservations[{i}].mac: {:?} is not a MAC", r.mac)
                    })?,
                    address: addr(&format!("reservations[{i}].address"), &r.address)?,
                    hostname: r.hostname.as_ref().map(|h| h.to_ascii_lowercase()),
                })
            })
            .collect::<Result<_, String>>()?,
        authoritative: config.authoritative,
        probe: config.probe_timeout_ms.unwrap_or(DEFAULT_PROBE_TIMEOUT_MS) > 0,
    };
    if u32::from(server.pool_start) > u32::from(server.pool_end) {
        return Err("poolEnd is before poolStart".into());
    }
    for (field, a) in [
        ("poolStart", server.pool_start),
        ("poolEnd", server.pool_end),
    ] {
        if !server.on_subnet(a) {
            return Err(format!(
                "{field}: {a} is outside {}/{}",
                server.server_address, server.prefix_length
            ));
        }
    }
    Ok(server)
}
