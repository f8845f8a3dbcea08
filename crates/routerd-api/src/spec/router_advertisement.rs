//! `IPv6RouterAdvertisement` (`resources.md`): the LAN's router advertisements, and the config routerd
//! hands its daemon `routerd-ra` with every prefix already resolved (a `from` reference becomes the
//! delegated prefix with the instants its lifetimes end).

use super::validate::{parse_ip_cidr, Checker, Reference};
use crate::duration::GoDuration;
use crate::kind::Kind;
use crate::time::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

/// `routerLifetime` default (`resources.md`).
pub const DEFAULT_ROUTER_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// `maxInterval` default (`resources.md`).
pub const DEFAULT_MAX_INTERVAL: Duration = Duration::from_secs(10 * 60);
/// RFC 4861 §6.2.1: MaxRtrAdvInterval is at least 4 s and at most 1800 s.
pub const MAX_INTERVAL_RANGE: (u64, u64) = (4, 1800);
/// RFC 4861 §6.2.1: AdvDefaultLifetime is 0 or between MaxRtrAdvInterval and 9000 s.
pub const MAX_ROUTER_LIFETIME: u64 = 9000;

/// One advertised prefix: a literal one, or the prefix of an `IPv6DelegatedAddress`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AdvertisedPrefixSpec {
    /// Name of an `IPv6DelegatedAddress`: its prefix (the address's network) with the delegation's
    /// lifetimes, followed as the delegation changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// A literal prefix, e.g. `2001:db8:1::/64` (advertised with RFC 4861's default lifetimes, 30 days
    /// valid and 7 days preferred).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// Router advertisements on one LAN interface (daemon `routerd-ra`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IPv6RouterAdvertisementSpec {
    /// Name of the `Interface` resource (the LAN side).
    pub interface: String,
    #[serde(default)]
    pub prefixes: Vec<AdvertisedPrefixSpec>,
    /// Hosts form addresses in the prefixes (SLAAC, the PIO's A flag); default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autonomous: Option<bool>,
    /// The M flag: addresses from DHCPv6 (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<bool>,
    /// The O flag: other configuration from DHCPv6 (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_config: Option<bool>,
    /// Recursive DNS servers (RFC 8106). Default: the router's address on the interface when a
    /// `DNSResolver` listens there; an empty list advertises none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rdnss: Option<Vec<String>>,
    /// DNS search list (RFC 8106).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dnssl: Vec<String>,
    /// Link MTU to advertise (none by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// How long hosts use the router as default router (default `30m`; `0s` advertises a router that
    /// is no default router).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router_lifetime: Option<GoDuration>,
    /// Longest time between unsolicited advertisements (default `10m`; they go out at random between
    /// 0.33× and 1× of it, RFC 4861 §6.2.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_interval: Option<GoDuration>,
}

impl IPv6RouterAdvertisementSpec {
    pub(crate) fn validate(&self, c: &mut Checker) {
        for (i, p) in self.prefixes.iter().enumerate() {
            match (&p.from, &p.prefix) {
                (Some(_), None) => {}
                (None, Some(text)) => {
                    if let Err(e) = parse_ipv6_prefix(text) {
                        c.error(&format!("prefixes[{i}].prefix"), e);
                    }
                }
                _ => c.error(
                    &format!("prefixes[{i}]"),
                    "give exactly one of `from` (an IPv6DelegatedAddress) or `prefix` (e.g. 2001:db8:1::/64)",
                ),
            }
        }
        for (i, a) in self.rdnss.iter().flatten().enumerate() {
            if a.parse::<Ipv6Addr>().is_err() {
                c.error(
                    &format!("rdnss[{i}]"),
                    format!("{a:?} is not an IPv6 address (e.g. 2001:db8:1::1)"),
                );
            }
        }
        for (i, d) in self.dnssl.iter().enumerate() {
            if let Err(e) = check_search_domain(d) {
                c.error(&format!("dnssl[{i}]"), e);
            }
        }
        if let Some(mtu) = self.mtu {
            // IPv6 minimum link MTU (RFC 8200 §5) up to a jumbo Ethernet frame.
            c.range("mtu", mtu, 1280, 65535);
        }
        let max_interval = self.max_interval_or_default();
        let (lo, hi) = MAX_INTERVAL_RANGE;
        if max_interval.as_secs() < lo || max_interval.as_secs() > hi {
            c.error(
                "maxInterval",
                format!(
                    "{}s is out of range: RFC 4861 allows {lo}s to {hi}s",
                    max_interval.as_secs()
                ),
            );
        }
        let lifetime = self.router_lifetime_or_default().as_secs();
        if lifetime != 0 && (lifetime < max_interval.as_secs() || lifetime > MAX_ROUTER_LIFETIME) {
            c.error(
                "routerLifetime",
                format!(
                    "{lifetime}s: RFC 4861 wants 0s or between maxInterval ({}s) and {MAX_ROUTER_LIFETIME}s",
                    max_interval.as_secs()
                ),
            );
        }
    }

    pub(crate) fn references(&self) -> Vec<Reference> {
        let mut refs = vec![Reference::new(
            "spec.interface",
            Kind::Interface,
            &self.interface,
        )];
        for (i, p) in self.prefixes.iter().enumerate() {
            if let Some(from) = &p.from {
                refs.push(Reference::new(
                    &format!("spec.prefixes[{i}].from"),
                    Kind::IPv6DelegatedAddress,
                    from,
                ));
            }
        }
        refs
    }

    pub fn router_lifetime_or_default(&self) -> Duration {
        self.router_lifetime
            .map_or(DEFAULT_ROUTER_LIFETIME, |d| d.0)
    }

    pub fn max_interval_or_default(&self) -> Duration {
        self.max_interval.map_or(DEFAULT_MAX_INTERVAL, |d| d.0)
    }
}

/// An IPv6 prefix in CIDR form, with no host bits set.
pub fn parse_ipv6_prefix(text: &str) -> Result<(Ipv6Addr, u8), String> {
    match parse_ip_cidr(text)? {
        (IpAddr::V6(ip), len) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len))
            };
            if u128::from(ip) & !mask != 0 {
                return Err(format!(
                    "{text:?} has host bits set (the prefix is {}/{len})",
                    Ipv6Addr::from(u128::from(ip) & mask)
                ));
            }
            Ok((ip, len))
        }
        _ => Err(format!(
            "{text:?} is not an IPv6 prefix (e.g. 2001:db8:1::/64)"
        )),
    }
}

/// A search domain as DNSSL carries it: labels of 1–63 letters, digits, hyphens or underscores, at most
/// 253 characters; a trailing dot is allowed.
pub fn check_search_domain(name: &str) -> Result<(), String> {
    let bare = name.strip_suffix('.').unwrap_or(name);
    let ok = !bare.is_empty()
        && bare.len() <= 253
        && bare.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a domain name (labels of 1-63 letters, digits or hyphens, e.g. home.arpa)"
        ))
    }
}

/// How long one advertised prefix lives: fixed lifetimes advertised as they are (a literal prefix), or
/// the instants they end (a delegated prefix: the advertised lifetimes count down to them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RaPrefixConfig {
    /// `2001:db8:1::/64`.
    pub prefix: String,
    pub autonomous: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_lifetime_seconds: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_lifetime_seconds: Option<u32>,
    /// When the preferred lifetime ends (a delegated prefix); absent with a fixed lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_until: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<Timestamp>,
}

/// `config.json` of `routerd-ra`: the spec with every default applied and every prefix resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RaDaemonConfig {
    /// The LAN device.
    pub ifname: String,
    #[serde(default)]
    pub prefixes: Vec<RaPrefixConfig>,
    #[serde(default)]
    pub managed: bool,
    #[serde(default)]
    pub other_config: bool,
    #[serde(default)]
    pub rdnss: Vec<Ipv6Addr>,
    #[serde(default)]
    pub dnssl: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    pub router_lifetime_seconds: u16,
    pub max_interval_seconds: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(spec: serde_json::Value) -> Vec<String> {
        let spec: IPv6RouterAdvertisementSpec = serde_json::from_value(spec).unwrap();
        let mut c = Checker::default();
        spec.validate(&mut c);
        c.errors.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn a_good_spec_passes_and_names_its_references() {
        let json = serde_json::json!({"interface": "lan", "prefixes": [{"from": "lan-v6"}, {"prefix": "2001:db8:1::/64"}],
            "dnssl": ["home.arpa"], "rdnss": ["2001:db8:1::53"], "mtu": 1500, "maxInterval": "4s", "routerLifetime": "60s"});
        assert_eq!(errors(json.clone()), Vec::<String>::new());
        let spec: IPv6RouterAdvertisementSpec = serde_json::from_value(json).unwrap();
        let refs: Vec<String> = spec.references().iter().map(|r| r.field.clone()).collect();
        assert_eq!(refs, ["spec.interface", "spec.prefixes[0].from"]);
        assert_eq!(spec.router_lifetime_or_default(), Duration::from_secs(60));
    }

    #[test]
    fn each_mistake_names_its_field() {
        let e = errors(serde_json::json!({"interface": "lan",
            "prefixes": [{"from": "a", "prefix": "2001:db8::/64"}, {}, {"prefix": "2001:db8:1::1/64"}, {"prefix": "10.0.0.0/8"}],
            "rdnss": ["not-an-address"], "dnssl": ["bad..name"], "mtu": 1000,
            "maxInterval": "1s", "routerLifetime": "3h"}));
        let fields: Vec<&str> = e
            .iter()
            .map(|m| m.split(':').next().unwrap_or(""))
            .collect();
        for want in [
            "spec.prefixes[0]",
            "spec.prefixes[1]",
            "spec.prefixes[2].prefix",
            "spec.prefixes[3].prefix",
            "spec.rdnss[0]",
            "spec.dnssl[0]",
            "spec.mtu",
            "spec.maxInterval",
            "spec.routerLifetime",
        ] {
            assert!(
                fields.iter().any(|f| f.starts_with(want)),
                "{want} not in {e:?}"
            );
        }
        // Defaults: 10 min interval, 30 min lifetime, which RFC 4861 accepts.
        assert!(errors(serde_json::json!({"interface": "lan"})).is_empty());
    }
}
