//! The zone firewall kinds (`FirewallZone`, `FirewallPolicy`, `FirewallRule`, `PortForward`): rendered,
//! together with `NAT44Rule`, into routerd's one nftables table. Everything nft would refuse and that can
//! be known from the spec alone is refused here, at apply, with the field named; only what nft alone can
//! judge (kernel limits) is left to the apply of the table.

use super::validate::{parse_ip_cidr, Checker, Reference};
use crate::kind::Kind;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a zone default, policy or rule does with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FirewallAction {
    Accept,
    Drop,
    Reject,
}

impl FirewallAction {
    /// The nft verdict, also the `<action>` of a log prefix.
    pub fn as_str(self) -> &'static str {
        match self {
            FirewallAction::Accept => "accept",
            FirewallAction::Drop => "drop",
            FirewallAction::Reject => "reject",
        }
    }
}

/// The `to` of a `FirewallRule` that means traffic to the router itself (the input path).
pub const ROUTER_ZONE: &str = "router";

/// A set of interfaces treated alike.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FirewallZoneSpec {
    /// Names of `Interface` resources; a `PPPoESession` name means its device.
    pub interfaces: Vec<String>,
    /// Traffic from this zone to the router itself; default `drop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<FirewallAction>,
    /// Traffic from this zone to any other zone that no policy or rule decides; default `drop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward: Option<FirewallAction>,
    /// Log what the defaults drop or reject (prefix `routerd:<action>:zone-<name>`); default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<bool>,
}

impl FirewallZoneSpec {
    pub(crate) fn validate(&self, c: &mut Checker) {
        if self.interfaces.is_empty() {
            c.error(
                "interfaces",
                "a zone needs at least one interface (name an Interface or a PPPoESession)",
            );
        }
        let mut seen = std::collections::HashSet::new();
        for (i, name) in self.interfaces.iter().enumerate() {
            if !seen.insert(name.as_str()) {
                c.error(
                    &format!("interfaces[{i}]"),
                    format!("{name:?} is listed twice; remove the duplicate"),
                );
            }
        }
    }
    pub(crate) fn references(&self) -> Vec<Reference> {
        self.interfaces
            .iter()
            .enumerate()
            .map(|(i, n)| Reference {
                field: format!("spec.interfaces[{i}]"),
                kinds: vec![Kind::Interface, Kind::PPPoESession],
                name: n.clone(),
            })
            .collect()
    }
}

/// The decision for traffic from one zone to another, after the rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FirewallPolicySpec {
    /// Zone the traffic enters from.
    pub from: String,
    /// Zone the traffic leaves to.
    pub to: String,
    pub action: FirewallAction,
    /// Log what this policy decides (prefix `routerd:<action>:<policy name>`); default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<bool>,
}

impl FirewallPolicySpec {
    pub(crate) fn validate(&self, c: &mut Checker) {
        if self.from == self.to {
            c.error(
                "to",
                format!(
                    "from and to are both {:?}; traffic within a zone is not filtered, name another zone",
                    self.to
                ),
            );
        }
    }
    pub(crate) fn references(&self) -> Vec<Reference> {
        vec![
            Reference::new("spec.from", Kind::FirewallZone, &self.from),
            Reference::new("spec.to", Kind::FirewallZone, &self.to),
        ]
    }
}

/// The protocol a rule or port forward matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FirewallProtocol {
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    Any,
}

impl FirewallProtocol {
    /// Whether destination ports mean anything for it.
    pub fn has_ports(self) -> bool {
        matches!(self, FirewallProtocol::Tcp | FirewallProtocol::Udp)
    }
}

/// A destination port or an inclusive range: `22` or `"8000-8100"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum PortSpec {
    Port(u16),
    Range(String),
}

impl PortSpec {
    /// `(first, last)`, or why it is not a port or range.
    pub fn bounds(&self) -> Result<(u16, u16), String> {
        match self {
            PortSpec::Port(0) => Err("port 0 cannot be matched; use 1-65535".into()),
            PortSpec::Port(p) => Ok((*p, *p)),
            PortSpec::Range(s) => {
                let parse = |v: &str| -> Result<u16, String> {
                    match v.trim().parse::<u16>() {
                        Ok(0) | Err(_) => Err(format!(
                            "{s:?} is not a port or range (1-65535, e.g. 22 or \"8000-8100\")"
                        )),
                        Ok(p) => Ok(p),
                    }
                };
                let (a, b) = match s.split_once('-') {
                    Some((a, b)) => (parse(a)?, parse(b)?),
                    None => {
                        let p = parse(s)?;
                        (p, p)
                    }
                };
                if a > b {
                    return Err(format!("range {s:?} runs backwards; write \"{b}-{a}\""));
                }
                Ok((a, b))
            }
        }
    }
}

/// Time units nft's `limit rate` takes.
pub const RATE_UNITS: [&str; 5] = ["second", "minute", "hour", "day", "week"];

/// Parses `10/second`: a count of at least 1 and a unit of [`RATE_UNITS`]. Whether the kernel can hold
/// the rate (its token bucket overflows for huge counts) only nft can tell.
pub fn parse_rate_limit(value: &str) -> Result<(u64, &'static str), String> {
    let hint = "write <packets>/<unit>, e.g. 10/second (units second, minute, hour, day, week)";
    let (count, unit) = value
        .split_once('/')
        .ok_or_else(|| format!("{value:?} is not a rate; {hint}"))?;
    let count: u64 = count
        .trim()
        .parse()
        .map_err(|_| format!("{count:?} is not a packet count; {hint}"))?;
    if count == 0 {
        return Err(format!("a rate of 0 lets nothing through; {hint}"));
    }
    let unit = RATE_UNITS
        .iter()
        .find(|u| **u == unit.trim())
        .ok_or_else(|| format!("{unit:?} is not a time unit; {hint}"))?;
    Ok((count, unit))
}

fn check_ranges(c: &mut Checker, field: &str, ranges: &[String], protocol: FirewallProtocol) {
    for (i, r) in ranges.iter().enumerate() {
        match parse_ip_cidr(r) {
            Err(e) => c.error(
                &format!("{field}[{i}]"),
                format!("{e} (write an address or CIDR, e.g. 192.0.2.0/24 or 2001:db8::/32)"),
            ),
            Ok((ip, len)) => {
                let family_clash = match protocol {
                    FirewallProtocol::Icmp => ip.is_ipv6().then_some("icmp is IPv4"),
                    FirewallProtocol::Icmpv6 => ip.is_ipv4().then_some("icmpv6 is IPv6"),
                    _ => None,
                };
                if let Some(why) = family_clash {
                    c.error(
                        &format!("{field}[{i}]"),
                        format!("{r:?} cannot match: {why}; use a range of that family"),
                    );
                }
                let host_bits_set = match ip {
                    std::net::IpAddr::V4(a) => len < 32 && (u32::from(a) << len) != 0,
                    std::net::IpAddr::V6(a) => len < 128 && (u128::from(a) << len) != 0,
                };
                if host_bits_set {
                    c.error(
                        &format!("{field}[{i}]"),
                        format!("{r:?} has host bits set; write the network address"),
                    );
                }
            }
        }
    }
}

/// One filtering rule between zones, or from a zone to the router.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FirewallRuleSpec {
    /// Zone the traffic enters from.
    pub from: String,
    /// Zone the traffic leaves to, or `router` for traffic to the router itself.
    pub to: String,
    /// `tcp|udp|icmp|icmpv6|any`; default `any`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<FirewallProtocol>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_ranges: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destination_ranges: Vec<String>,
    /// Destination ports (tcp and udp only): `22` or `"8000-8100"`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortSpec>,
    pub action: FirewallAction,
    /// Log matches (prefix `routerd:<action>:<rule name>`); default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<bool>,
    /// Match at most this rate, e.g. `10/second`; packets above it fall through to later rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<String>,
    /// Lower first; within a priority, rules go in name order. Default 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
}

/// Default `FirewallRule.priority`.
pub const DEFAULT_RULE_PRIORITY: u32 = 100;

impl FirewallRuleSpec {
    pub fn protocol(&self) -> FirewallProtocol {
        self.protocol.unwrap_or(FirewallProtocol::Any)
    }

    pub(crate) fn validate(&self, c: &mut Checker) {
        let protocol = self.protocol();
        if !self.ports.is_empty() && !protocol.has_ports() {
            c.error(
                "ports",
                "ports need protocol tcp or udp; set spec.protocol or remove spec.ports",
            );
        }
        for (i, p) in self.ports.iter().enumerate() {
            if let Err(e) = p.bounds() {
                c.error(&format!("ports[{i}]"), e);
            }
        }
        check_ranges(c, "sourceRanges", &self.source_ranges, protocol);
        check_ranges(c, "destinationRanges", &self.destination_ranges, protocol);
        let families = |rs: &[String]| -> (bool, bool) {
            let parsed: Vec<_> = rs.iter().filter_map(|r| parse_ip_cidr(r).ok()).collect();
            (
                parsed.iter().any(|(ip, _)| ip.is_ipv4()),
                parsed.iter().any(|(ip, _)| ip.is_ipv6()),
            )
        };
        let (s4, s6) = families(&self.source_ranges);
        let (d4, d6) = families(&self.destination_ranges);
        if (s4 || s6) && (d4 || d6) && !(s4 && d4 || s6 && d6) {
            c.error(
                "destinationRanges",
                "no destination range shares a family with the source ranges, so the rule can never match",
            );
        }
        if let Some(rate) = &self.rate_limit {
            if let Err(e) = parse_rate_limit(rate) {
                c.error("rateLimit", e);
            }
        }
        if self.from == self.to {
            c.error(
                "to",
                format!(
                    "from and to are both {:?}; name another zone, or router for traffic to the router",
                    self.to
                ),
            );
        }
    }
    pub(crate) fn references(&self) -> Vec<Reference> {
        let mut out = vec![Reference::new("spec.from", Kind::FirewallZone, &self.from)];
        if self.to != ROUTER_ZONE {
            out.push(Reference::new("spec.to", Kind::FirewallZone, &self.to));
        }
        out
    }
}

/// Where a port forward sends the traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PortForwardTarget {
    /// IPv4 address of the inside host.
    pub address: String,
    /// Default: the same port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// A DNAT of one port arriving on a zone's interfaces to an inside host, plus the forward accept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PortForwardSpec {
    /// Zone the connections arrive from (usually the WAN zone).
    pub from: String,
    /// `tcp` or `udp`.
    pub protocol: FirewallProtocol,
    pub port: u16,
    pub to: PortForwardTarget,
}

impl PortForwardSpec {
    pub(crate) fn validate(&self, c: &mut Checker) {
        if !self.protocol.has_ports() {
            c.error(
                "protocol",
                "a port forward needs protocol tcp or udp (ports exist only there)",
            );
        }
        if self.port == 0 {
            c.error("port", "port 0 cannot be forwarded; use 1-65535");
        }
        if self.to.port == Some(0) {
            c.error("to.port", "port 0 cannot be a target; use 1-65535");
        }
        c.ipv4("to.address", &self.to.address);
    }
    pub(crate) fn references(&self) -> Vec<Reference> {
        vec![Reference::new("spec.from", Kind::FirewallZone, &self.from)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(f: impl Fn(&mut Checker)) -> Vec<String> {
        let mut c = Checker::default();
        f(&mut c);
        c.errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect()
    }

    #[test]
    fn rule_errors_name_the_field_and_the_fix() {
        let rule = FirewallRuleSpec {
            from: "wan".into(),
            to: "router".into(),
            protocol: Some(FirewallProtocol::Icmp),
            source_ranges: vec!["2001:db8::/32".into(), "10.0.0.1/8".into()],
            destination_ranges: vec![],
            ports: vec![PortSpec::Range("90-80".into())],
            action: FirewallAction::Accept,
            log: None,
            rate_limit: Some("10/fortnight".into()),
            priority: None,
        };
        let errs = errors(|c| rule.validate(c));
        assert!(
            errs.iter()
                .any(|e| e.starts_with("spec.ports: ports need protocol tcp or udp")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e
                    .starts_with("spec.ports[0]: range \"90-80\" runs backwards; write \"80-90\"")),
            "{errs:?}"
        );
        assert!(
            errs.iter().any(|e| e
                .starts_with("spec.sourceRanges[0]: \"2001:db8::/32\" cannot match: icmp is IPv4")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with("spec.sourceRanges[1]: \"10.0.0.1/8\" has host bits set")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with("spec.rateLimit: \"fortnight\" is not a time unit")),
            "{errs:?}"
        );
    }

    #[test]
    fn good_specs_pass_and_rates_parse() {
        let rule = FirewallRuleSpec {
            from: "wan".into(),
            to: "lan".into(),
            protocol: Some(FirewallProtocol::Tcp),
            source_ranges: vec!["198.51.100.0/24".into(), "2001:db8::/32".into()],
            destination_ranges: vec!["192.168.1.10".into()],
            ports: vec![PortSpec::Port(22), PortSpec::Range("8000-8100".into())],
            action: FirewallAction::Accept,
            log: Some(true),
            rate_limit: Some("10/second".into()),
            priority: Some(5),
        };
        assert_eq!(errors(|c| rule.validate(c)), Vec::<String>::new());
        assert_eq!(parse_rate_limit("3/minute"), Ok((3, "minute")));
        assert!(parse_rate_limit("0/second").is_err());
        let pf = PortForwardSpec {
            from: "wan".into(),
            protocol: FirewallProtocol::Icmp,
            port: 0,
            to: PortForwardTarget {
                address: "lan-host".into(),
                port: None,
            },
        };
        let errs = errors(|c| pf.validate(c));
        assert_eq!(errs.len(), 3, "{errs:?}");
    }
}
