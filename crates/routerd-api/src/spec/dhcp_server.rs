use super::interface::parse_mac;
use super::validate::{Checker, Reference};
use crate::duration::GoDuration;
use crate::kind::Kind;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// The lease time when `spec.leaseTime` is absent.
pub const DEFAULT_LEASE_TIME: GoDuration = GoDuration::from_secs(12 * 3600);

/// A DHCPv4 server on a LAN interface (daemon `routerd-dhcpv4-server`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DHCPv4ServerSpec {
    /// Name of the `Interface` resource.
    pub interface: String,
    /// First and last address handed out; both inside the subnet of an address routerd holds on the
    /// interface.
    pub pool: DHCPv4Pool,
    /// Default `12h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_time: Option<GoDuration>,
    /// Option 3; default: the router's address on the interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Option 6; default: the router's address when a `DNSResolver` listens there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_servers: Option<Vec<String>>,
    /// Option 15, and the zone registered host names go into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Option 42.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ntp_servers: Vec<String>,
    /// Fixed addresses by MAC; they always win over the pool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reservations: Vec<DHCPv4Reservation>,
    /// NAK requests for addresses this server does not lease (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authoritative: Option<bool>,
    /// Clients' host names become `<hostname>.<domain>` in the `DNSResolver` on the interface (default
    /// true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register_hostnames: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DHCPv4Pool {
    pub start: String,
    pub end: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DHCPv4Reservation {
    /// `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn mac_text(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl DHCPv4ServerSpec {
    pub(crate) fn validate(&self, c: &mut Checker) {
        let start = self.pool.start.parse::<Ipv4Addr>();
        let end = self.pool.end.parse::<Ipv4Addr>();
        c.ipv4("pool.start", &self.pool.start);
        c.ipv4("pool.end", &self.pool.end);
        if let (Ok(s), Ok(e)) = (start, end) {
            if u32::from(s) > u32::from(e) {
                c.error(
                    "pool.end",
                    format!("{e} is before pool.start {s}: the pool runs from start to end"),
                );
            }
        }
        if let Some(t) = self.lease_time {
            if t.0.as_secs() < 60 || t.0.as_secs() > u64::from(u32::MAX - 1) {
                c.error("leaseTime", "must be between 1m and 136 years");
            }
        }
        if let Some(g) = &self.gateway {
            c.ipv4("gateway", g);
        }
        for (i, a) in self.dns_servers.iter().flatten().enumerate() {
            c.ipv4(&format!("dnsServers[{i}]"), a);
        }
        for (i, a) in self.ntp_servers.iter().enumerate() {
            c.ipv4(&format!("ntpServers[{i}]"), a);
        }
        if let Some(d) = &self.domain {
            let ok = !d.is_empty()
                && d.len() <= 253
                && d.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
            if !ok {
                c.error(
                    "domain",
                    format!("{d:?} is not a domain name (e.g. home.arpa)"),
                );
            }
        }
        let mut macs = std::collections::HashSet::new();
        let mut addresses = std::collections::HashSet::new();
        for (i, r) in self.reservations.iter().enumerate() {
            if parse_mac(&r.mac).is_none() {
                c.error(
                    &format!("reservations[{i}].mac"),
                    format!("{:?} is not a MAC address (e.g. 02:00:00:00:00:01)", r.mac),
                );
            } else if !macs.insert(r.mac.to_ascii_lowercase()) {
                c.error(
                    &format!("reservations[{i}].mac"),
                    format!("{} is reserved twice", r.mac),
                );
            }
            c.ipv4(&format!("reservations[{i}].address"), &r.address);
            if !addresses.insert(r.address.clone()) {
                c.error(
                    &format!("reservations[{i}].address"),
                    format!("{} is reserved twice", r.address),
                );
            }
            if let Some(h) = &r.hostname {
                if valid_label(h).is_none() {
                    c.error(
                        &format!("reservations[{i}].hostname"),
                        format!("{h:?} is not a host name (letters, digits, '-')"),
                    );
                }
            }
        }
    }
    pub(crate) fn references(&self) -> Vec<Reference> {
        vec![Reference::new(
            "spec.interface",
            Kind::Interface,
            &self.interface,
        )]
    }
}

/// A host name label (letters, digits, `-`; 1..=63 bytes), lower-cased.
pub fn valid_label(s: &str) -> Option<String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    ok.then(|| s.to_ascii_lowercase())
}

/// `config.json` of `routerd-dhcpv4-server`, written by routerd's controller with everything resolved:
/// the interface's device and address, the defaults filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DHCPv4ServerDaemonConfig {
    /// The device to serve on.
    pub ifname: String,
    /// The router's address on it: the server identifier (option 54) and the source of replies.
    pub server_address: String,
    /// The subnet's prefix length (option 1).
    pub prefix_length: u8,
    pub pool_start: String,
    pub pool_end: String,
    pub lease_time_seconds: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_servers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ntp_servers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reservations: Vec<DHCPv4Reservation>,
    pub authoritative: bool,
    /// How long to wait for an answer to the ping sent before offering a never-used address; 0 turns
    /// the check off. Absent: 500 ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_timeout_ms: Option<u32>,
}
