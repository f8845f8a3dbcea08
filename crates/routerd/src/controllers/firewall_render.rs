//! The renderer of the whole `inet routerd` table: a pure function from the desired firewall and NAT
//! resources (and the devices they resolve to) to a [`RouterdTable`], plus an index from every rendered
//! rule back to the resource and the fields it came from, so an nft refusal can be reported on the
//! resource and field that caused it.
//!
//! Layout of the table (when at least one `FirewallZone` exists):
//!
//! ```text
//! input   (filter hook input)     base rules, then iifname <zone devices> jump zone-<z>-input
//! forward (filter hook forward)   base rules, then iifname <zone devices> jump zone-<z>-forward
//! zone-<z>-input                  FirewallRules to `router`, then the zone's input default
//! zone-<z>-forward                FirewallRules from z, port-forward accepts, intra-zone accept,
//!                                 FirewallPolicies from z, then the zone's forward default
//! prerouting (nat hook prerouting) PortForward DNATs (by the zone's devices, to local addresses)
//! postrouting (nat hook postrouting) NAT44Rule masquerade / snat (by oifname)
//! conntrack (filter hook forward) the keep-alive, only when no zone's forward chain already uses ct
//! ```
//!
//! Interfaces in no zone are not filtered (the base chains' policy is accept): routerd filters only
//! what its zones name. Rules match devices by name (`iifname`/`oifname`) and DNAT matches `fib daddr
//! type local`, so a new DHCP address or a PPPoE redial needs no re-render; masquerade takes the
//! device's address at the time of each new connection.

use crate::config::DesiredState;
use routerd_api::control::{
    FirewallRenderedRule as RenderedRule, FirewallResourceRules as ResourceRules,
};
use routerd_api::spec::{
    parse_ip_cidr, parse_rate_limit, FirewallAction, FirewallPolicySpec, FirewallProtocol,
    FirewallRuleSpec, FirewallZoneSpec, NAT44RuleSpec, NatType, PortForwardSpec, ResourceSpec,
    DEFAULT_RULE_PRIORITY, ROUTER_ZONE,
};
use routerd_api::Kind;
use routerd_host::nftables::{ChainHook, NftChain, RouterdTable};
use serde::Serialize;
use std::collections::BTreeMap;

/// The NFLOG group logged rules use when no `FirewallEventLog` exists (its documented default).
pub const DEFAULT_NFLOG_GROUP: u16 = 100;

/// ICMPv6 types the router itself must accept (RFC 4890 §4.4): errors, echo, neighbour and router
/// discovery, MLD.
const ICMPV6_INPUT: &str = "destination-unreachable, packet-too-big, time-exceeded, parameter-problem, echo-request, echo-reply, nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, ind-neighbor-solicit, ind-neighbor-advert, mld-listener-query, mld-listener-report, mld-listener-done, mld2-listener-report";
/// ICMPv6 types that must be forwarded (RFC 4890 §4.3.1): errors and echo.
const ICMPV6_FORWARD: &str =
    "destination-unreachable, packet-too-big, time-exceeded, parameter-problem, echo-request, echo-reply";

/// A span of a rendered rule's text and the spec field that produced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldSpan {
    /// Byte offsets in the rule text, end exclusive.
    pub start: usize,
    pub end: usize,
    pub field: String,
    /// The value is one only the kernel can judge (the validator checked its syntax only).
    pub kernel_judged: bool,
}

/// Where a rendered rule came from: `None` for base rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleOrigin {
    pub kind: Kind,
    pub name: String,
    pub spans: Vec<FieldSpan>,
}

impl RuleOrigin {
    /// The field an nft error underlining `[start, end)` (0-based, in the rule text) points at: the one
    /// span it lies in; when it covers several (the kernel refused the whole rule), the one field only
    /// the kernel judges; otherwise `spec`.
    pub fn field_at(&self, start: usize, end: usize) -> String {
        let inside: Vec<&FieldSpan> = self
            .spans
            .iter()
            .filter(|s| start >= s.start && end <= s.end.max(s.start + 1))
            .collect();
        if let [one] = inside.as_slice() {
            return one.field.clone();
        }
        let kernel: Vec<&FieldSpan> = self
            .spans
            .iter()
            .filter(|s| s.kernel_judged && s.start < end && start < s.end)
            .collect();
        match kernel.as_slice() {
            [one] => one.field.clone(),
            _ => "spec".to_string(),
        }
    }
}

/// The rendered table and, per chain and rule, where each rule came from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RenderedTable {
    pub table: RouterdTable,
    pub origins: Vec<Vec<Option<RuleOrigin>>>,
    /// NAT44Rule name → the device its rule names.
    pub nat_devices: BTreeMap<String, String>,
}

/// The resource and field an nft error names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Culprit {
    pub kind: Kind,
    pub name: String,
    pub field: String,
    /// nft's message (the `Error: ...` text).
    pub message: String,
}

impl RenderedTable {
    /// Number of rules rendered from resource `kind`/`name`.
    pub fn rules_of(&self, kind: Kind, name: &str) -> usize {
        self.origins
            .iter()
            .flatten()
            .flatten()
            .filter(|o| o.kind == kind && o.name == name)
            .count()
    }

    /// Rendered rules grouped by resource (`base` for the always-present ones), chain by chain.
    pub fn by_resource(&self) -> Vec<ResourceRules> {
        let mut out: Vec<ResourceRules> = Vec::new();
        for (chain, origins) in self.table.chains.iter().zip(&self.origins) {
            for (rule, origin) in chain.rules.iter().zip(origins) {
                let (kind, name) = match origin {
                    Some(o) => (o.kind.as_str().to_string(), o.name.clone()),
                    None => ("base".to_string(), String::new()),
                };
                let line = RenderedRule {
                    chain: chain.name.clone(),
                    rule: rule.clone(),
                };
                match out.iter_mut().find(|r| r.kind == kind && r.name == name) {
                    Some(r) => r.rules.push(line),
                    None => out.push(ResourceRules {
                        kind,
                        name,
                        rules: vec![line],
                    }),
                }
            }
        }
        out
    }

    /// Traces nft's error output back to the rule, and the rule to its resource and field. nft names
    /// the place as `/dev/stdin:LINE:FIRST-LAST: Error: message` (columns 1-based, inclusive).
    pub fn culprit(&self, nft_error: &str) -> Option<Culprit> {
        for line in nft_error.lines() {
            let Some((place, message)) = line.split_once(": Error: ") else {
                continue;
            };
            let mut parts = place.rsplitn(3, ':');
            let columns = parts.next()?;
            let line_no: usize = parts.next()?.parse().ok()?;
            let (first, last) = match columns.split_once('-') {
                Some((a, b)) => (a.parse::<usize>().ok()?, b.parse::<usize>().ok()?),
                None => {
                    let c = columns.parse::<usize>().ok()?;
                    (c, c)
                }
            };
            let (c, r) = self.table.locate(line_no)?;
            let origin = self.origins.get(c)?.get(r)?.as_ref()?;
            let start = first.saturating_sub(RouterdTable::RULE_COLUMN);
            let end = (last + 1).saturating_sub(RouterdTable::RULE_COLUMN);
            return Some(Culprit {
                kind: origin.kind,
                name: origin.name.clone(),
                field: format!("spec.{}", origin.field_at(start, end)).replace("spec.spec", "spec"),
                message: message.trim().to_string(),
            });
        }
        None
    }
}

/// Builds a rule from fragments, remembering which field each came from.
#[derive(Default)]
struct RuleBuilder {
    text: String,
    spans: Vec<FieldSpan>,
}

impl RuleBuilder {
    fn push(&mut self, fragment: &str, field: Option<&str>) -> &mut Self {
        self.push_judged(fragment, field, false)
    }
    fn push_judged(&mut self, fragment: &str, field: Option<&str>, kernel: bool) -> &mut Self {
        if !self.text.is_empty() {
            self.text.push(' ');
        }
        let start = self.text.len();
        self.text.push_str(fragment);
        if let Some(field) = field {
            self.spans.push(FieldSpan {
                start,
                end: self.text.len(),
                field: field.to_string(),
                kernel_judged: kernel,
            });
        }
        self
    }
}

struct ChainBuilder {
    chain: NftChain,
    origins: Vec<Option<RuleOrigin>>,
}

impl ChainBuilder {
    fn new(name: &str, hook: Option<ChainHook>) -> ChainBuilder {
        ChainBuilder {
            chain: NftChain {
                name: name.to_string(),
                hook,
                rules: Vec::new(),
            },
            origins: Vec::new(),
        }
    }
    fn base(&mut self, rule: &str) {
        self.chain.rules.push(rule.to_string());
        self.origins.push(None);
    }
    fn rule(&mut self, kind: Kind, name: &str, b: RuleBuilder) {
        self.chain.rules.push(b.text);
        self.origins.push(Some(RuleOrigin {
            kind,
            name: name.to_string(),
            spans: b.spans,
        }));
    }
}

fn hook(kind: &'static str, hook: &'static str, priority: &str) -> Option<ChainHook> {
    Some(ChainHook {
        kind,
        hook,
        priority: priority.to_string(),
        policy: "accept",
    })
}

/// nft's quoted string. Interface names cannot hold `"` in nft syntax; such a name is rendered as is
/// and nft's refusal is reported on the field that named it.
fn quoted(s: &str) -> String {
    format!("\"{s}\"")
}

/// `"a"` or `{ "a", "b" }`.
fn device_set(devices: &[String]) -> String {
    match devices {
        [one] => quoted(one),
        many => format!(
            "{{ {} }}",
            many.iter()
                .map(|d| quoted(d))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn value_set(values: &[String]) -> String {
    match values {
        [one] => one.clone(),
        many => format!("{{ {} }}", many.join(", ")),
    }
}

/// The device a zone interface or NAT `outInterface` names: an `Interface`'s `ifname`, a
/// `PPPoESession`'s device, or the `Interface` a `DHCPv4Client` runs on.
pub fn resolve_device(desired: &DesiredState, name: &str) -> Option<String> {
    if let Some(ResourceSpec::Interface(s)) = desired.get(Kind::Interface, name).map(|r| &r.spec) {
        return Some(s.ifname.clone());
    }
    if let Some(ResourceSpec::PPPoESession(s)) =
        desired.get(Kind::PPPoESession, name).map(|r| &r.spec)
    {
        return Some(s.session_ifname(name));
    }
    if let Some(ResourceSpec::DHCPv4Client(s)) =
        desired.get(Kind::DHCPv4Client, name).map(|r| &r.spec)
    {
        return resolve_device(desired, &s.interface);
    }
    None
}

/// The kinds rendered into the table, whose status the firewall controller writes.
pub const FIREWALL_KINDS: &[Kind] = &[
    Kind::FirewallZone,
    Kind::FirewallPolicy,
    Kind::FirewallRule,
    Kind::PortForward,
    Kind::NAT44Rule,
];

/// Whether any resource that needs the table exists (an enabled `TrafficFlowLog` and a
/// `FirewallEventLog` need at least the conntrack keep-alive): then the table exists, else it is deleted.
pub fn table_needed(desired: &DesiredState) -> bool {
    let flow_log = desired
        .of_kind(Kind::TrafficFlowLog)
        .any(|r| matches!(&r.spec, ResourceSpec::TrafficFlowLog(s) if s.enabled));
    flow_log
        || FIREWALL_KINDS
            .iter()
            .chain([&Kind::FirewallEventLog])
            .any(|k| desired.of_kind(*k).next().is_some())
}

struct Zone<'a> {
    name: &'a str,
    spec: &'a FirewallZoneSpec,
    devices: Vec<String>,
}

fn log_fragment(action: FirewallAction, label: &str, group: u16) -> String {
    format!(
        "log prefix {} group {group}",
        quoted(&format!("routerd:{}:{label}", action.as_str()))
    )
}

/// The match part of a FirewallRule for one address family (`None`: any family).
fn render_rule(
    b: &mut RuleBuilder,
    spec: &FirewallRuleSpec,
    family: Option<bool>,
    name: &str,
    group: u16,
) {
    let (src, dst): (Vec<String>, Vec<String>) = {
        let pick = |rs: &[String]| -> Vec<String> {
            rs.iter()
                .filter(|r| match (family, parse_ip_cidr(r)) {
                    (Some(v6), Ok((ip, _))) => ip.is_ipv6() == v6,
                    _ => true,
                })
                .cloned()
                .collect()
        };
        (pick(&spec.source_ranges), pick(&spec.destination_ranges))
    };
    let ip = if family == Some(true) { "ip6" } else { "ip" };
    if !src.is_empty() {
        b.push(
            &format!("{ip} saddr {}", value_set(&src)),
            Some("sourceRanges"),
        );
    }
    if !dst.is_empty() {
        b.push(
            &format!("{ip} daddr {}", value_set(&dst)),
            Some("destinationRanges"),
        );
    }
    let protocol = spec.protocol();
    let l4 = match protocol {
        FirewallProtocol::Tcp => Some("tcp"),
        FirewallProtocol::Udp => Some("udp"),
        FirewallProtocol::Icmp => Some("icmp"),
        FirewallProtocol::Icmpv6 => Some("ipv6-icmp"),
        FirewallProtocol::Any => None,
    };
    if let Some(l4) = l4 {
        b.push(&format!("meta l4proto {l4}"), Some("protocol"));
    }
    if !spec.ports.is_empty() && protocol.has_ports() {
        let ports: Vec<String> = spec
            .ports
            .iter()
            .map(|p| match p.bounds() {
                Ok((a, z)) if a == z => a.to_string(),
                Ok((a, z)) => format!("{a}-{z}"),
                Err(_) => format!("{p:?}"),
            })
            .collect();
        b.push(&format!("th dport {}", value_set(&ports)), Some("ports"));
    }
    if let Some(rate) = &spec.rate_limit {
        let text = match parse_rate_limit(rate) {
            Ok((n, unit)) => format!("limit rate {n}/{unit}"),
            Err(_) => format!("limit rate {rate}"),
        };
        b.push_judged(&text, Some("rateLimit"), true);
    }
    if spec.log == Some(true) {
        b.push(&log_fragment(spec.action, name, group), Some("log"));
    }
    b.push(spec.action.as_str(), Some("action"));
}

/// Address families a rule's ranges need: one rule per family that has ranges, or one for any family.
fn families(spec: &FirewallRuleSpec) -> Vec<Option<bool>> {
    let all: Vec<bool> = spec
        .source_ranges
        .iter()
        .chain(&spec.destination_ranges)
        .filter_map(|r| parse_ip_cidr(r).ok())
        .map(|(ip, _)| ip.is_ipv6())
        .collect();
    if all.is_empty() {
        return vec![None];
    }
    let has = |v6: bool, rs: &[String]| {
        rs.is_empty()
            || rs
                .iter()
                .any(|r| parse_ip_cidr(r).is_ok_and(|(ip, _)| ip.is_ipv6() == v6))
    };
    [false, true]
        .into_iter()
        .filter(|v6| all.contains(v6))
        .filter(|v6| has(*v6, &spec.source_ranges) && has(*v6, &spec.destination_ranges))
        .map(Some)
        .collect()
}

/// Renders the whole table from the desired state. `nflog_group` is the `FirewallEventLog`'s group.
pub fn render(desired: &DesiredState) -> RenderedTable {
    let group = desired
        .of_kind(Kind::FirewallEventLog)
        .find_map(|r| match &r.spec {
            ResourceSpec::FirewallEventLog(s) => Some(s.nflog_group.unwrap_or(DEFAULT_NFLOG_GROUP)),
            _ => None,
        })
        .unwrap_or(DEFAULT_NFLOG_GROUP);

    let zones: Vec<Zone> = desired
        .of_kind(Kind::FirewallZone)
        .filter_map(|r| match &r.spec {
            ResourceSpec::FirewallZone(spec) => Some(Zone {
                name: r.name(),
                spec,
                devices: spec
                    .interfaces
                    .iter()
                    .map(|i| resolve_device(desired, i).unwrap_or_else(|| i.clone()))
                    .collect(),
            }),
            _ => None,
        })
        .collect();
    let zone = |name: &str| zones.iter().find(|z| z.name == name);

    let mut rules: Vec<(&str, &FirewallRuleSpec)> = desired
        .of_kind(Kind::FirewallRule)
        .filter_map(|r| match &r.spec {
            ResourceSpec::FirewallRule(s) => Some((r.name(), s)),
            _ => None,
        })
        .collect();
    rules.sort_by_key(|(name, s)| (s.priority.unwrap_or(DEFAULT_RULE_PRIORITY), *name));
    let policies: Vec<(&str, &FirewallPolicySpec)> = desired
        .of_kind(Kind::FirewallPolicy)
        .filter_map(|r| match &r.spec {
            ResourceSpec::FirewallPolicy(s) => Some((r.name(), s)),
            _ => None,
        })
        .collect();
    let forwards: Vec<(&str, &PortForwardSpec)> = desired
        .of_kind(Kind::PortForward)
        .filter_map(|r| match &r.spec {
            ResourceSpec::PortForward(s) => Some((r.name(), s)),
            _ => None,
        })
        .collect();
    let nats: Vec<(&str, &NAT44RuleSpec)> = desired
        .of_kind(Kind::NAT44Rule)
        .filter_map(|r| match &r.spec {
            ResourceSpec::NAT44Rule(s) => Some((r.name(), s)),
            _ => None,
        })
        .collect();

    let mut chains: Vec<ChainBuilder> = Vec::new();
    if !zones.is_empty() {
        let mut input = ChainBuilder::new("input", hook("filter", "input", "filter"));
        input.base("ct state established,related accept");
        input.base("ct state invalid drop");
        input.base("iif \"lo\" accept");
        input.base(&format!(
            "meta l4proto ipv6-icmp icmpv6 type {{ {ICMPV6_INPUT} }} accept"
        ));
        input.base("meta nfproto ipv4 udp sport 67 udp dport 68 accept");
        input.base("meta nfproto ipv6 udp sport 547 udp dport 546 accept");
        let mut forward = ChainBuilder::new("forward", hook("filter", "forward", "filter"));
        forward.base("ct state established,related accept");
        forward.base("ct state invalid drop");
        forward.base(&format!(
            "meta l4proto ipv6-icmp icmpv6 type {{ {ICMPV6_FORWARD} }} accept"
        ));
        let mut zone_chains = Vec::new();
        for z in &zones {
            let mut dispatch = RuleBuilder::default();
            dispatch.push(
                &format!("iifname {}", device_set(&z.devices)),
                Some("interfaces"),
            );
            dispatch.push(&format!("jump zone-{}-input", z.name), None);
            input.rule(Kind::FirewallZone, z.name, dispatch);
            let mut dispatch = RuleBuilder::default();
            dispatch.push(
                &format!("iifname {}", device_set(&z.devices)),
                Some("interfaces"),
            );
            dispatch.push(&format!("jump zone-{}-forward", z.name), None);
            forward.rule(Kind::FirewallZone, z.name, dispatch);

            let mut zin = ChainBuilder::new(&format!("zone-{}-input", z.name), None);
            let mut zfwd = ChainBuilder::new(&format!("zone-{}-forward", z.name), None);
            for (name, spec) in rules.iter().filter(|(_, s)| s.from == z.name) {
                let target = if spec.to == ROUTER_ZONE {
                    None
                } else {
                    match zone(&spec.to) {
                        Some(t) => Some(t),
                        None => continue,
                    }
                };
                for family in families(spec) {
                    let mut b = RuleBuilder::default();
                    if let Some(t) = target {
                        b.push(&format!("oifname {}", device_set(&t.devices)), Some("to"));
                    }
                    render_rule(&mut b, spec, family, name, group);
                    match target {
                        None => zin.rule(Kind::FirewallRule, name, b),
                        Some(_) => zfwd.rule(Kind::FirewallRule, name, b),
                    }
                }
            }
            for (name, pf) in forwards.iter().filter(|(_, p)| p.from == z.name) {
                let l4 = if pf.protocol == FirewallProtocol::Udp {
                    "udp"
                } else {
                    "tcp"
                };
                let mut b = RuleBuilder::default();
                b.push("ct status dnat", None);
                b.push(&format!("ip daddr {}", pf.to.address), Some("to.address"));
                b.push(&format!("meta l4proto {l4}"), Some("protocol"));
                b.push(
                    &format!("th dport {}", pf.to.port.unwrap_or(pf.port)),
                    Some("to.port"),
                );
                b.push("accept", None);
                zfwd.rule(Kind::PortForward, name, b);
            }
            zfwd.base(&format!("oifname {} accept", device_set(&z.devices)));
            for (name, p) in policies.iter().filter(|(_, p)| p.from == z.name) {
                let Some(t) = zone(&p.to) else { continue };
                let mut b = RuleBuilder::default();
                b.push(&format!("oifname {}", device_set(&t.devices)), Some("to"));
                if p.log == Some(true) {
                    b.push(&log_fragment(p.action, name, group), Some("log"));
                }
                b.push(p.action.as_str(), Some("action"));
                zfwd.rule(Kind::FirewallPolicy, name, b);
            }
            for (chain, action, field) in [
                (
                    &mut zin,
                    z.spec.input.unwrap_or(FirewallAction::Drop),
                    "input",
                ),
                (
                    &mut zfwd,
                    z.spec.forward.unwrap_or(FirewallAction::Drop),
                    "forward",
                ),
            ] {
                let mut b = RuleBuilder::default();
                if z.spec.log == Some(true) && action != FirewallAction::Accept {
                    b.push(
                        &log_fragment(action, &format!("zone-{}", z.name), group),
                        Some("log"),
                    );
                }
                b.push(action.as_str(), Some(field));
                chain.rule(Kind::FirewallZone, z.name, b);
            }
            zone_chains.push(zin);
            zone_chains.push(zfwd);
        }
        chains.push(input);
        chains.push(forward);
        chains.extend(zone_chains);
    }

    let mut prerouting = ChainBuilder::new("prerouting", hook("nat", "prerouting", "dstnat"));
    for (name, pf) in &forwards {
        let Some(z) = zone(&pf.from) else { continue };
        let l4 = if pf.protocol == FirewallProtocol::Udp {
            "udp"
        } else {
            "tcp"
        };
        let mut b = RuleBuilder::default();
        b.push(&format!("iifname {}", device_set(&z.devices)), Some("from"));
        b.push("fib daddr type local", None);
        b.push(&format!("meta l4proto {l4}"), Some("protocol"));
        b.push(&format!("th dport {}", pf.port), Some("port"));
        b.push(
            &format!(
                "dnat ip to {}:{}",
                pf.to.address,
                pf.to.port.unwrap_or(pf.port)
            ),
            Some("to"),
        );
        prerouting.rule(Kind::PortForward, name, b);
    }
    if !prerouting.chain.rules.is_empty() {
        chains.push(prerouting);
    }

    let mut nat_devices = BTreeMap::new();
    let mut postrouting = ChainBuilder::new("postrouting", hook("nat", "postrouting", "srcnat"));
    for (name, nat) in &nats {
        let device = resolve_device(desired, &nat.out_interface)
            .unwrap_or_else(|| nat.out_interface.clone());
        nat_devices.insert(name.to_string(), device.clone());
        let mut b = RuleBuilder::default();
        b.push("meta nfproto ipv4", None);
        b.push(
            &format!("oifname {}", quoted(&device)),
            Some("outInterface"),
        );
        if let Some(ranges) = nat.source_ranges.as_ref().filter(|r| !r.is_empty()) {
            b.push(
                &format!("ip saddr {}", value_set(ranges)),
                Some("sourceRanges"),
            );
        }
        match (nat.type_, &nat.to_address) {
            (NatType::Snat, Some(to)) => b.push(&format!("snat ip to {to}"), Some("toAddress")),
            _ => b.push("masquerade", Some("type")),
        };
        postrouting.rule(Kind::NAT44Rule, name, b);
    }
    if !postrouting.chain.rules.is_empty() {
        chains.push(postrouting);
    }

    // The forward chain's first rule already uses ct; without zones the keep-alive chain does.
    if zones.is_empty() && table_needed(desired) {
        let mut keepalive = ChainBuilder::new("conntrack", None);
        let base = RouterdTable::conntrack_keepalive();
        keepalive.chain = NftChain {
            rules: Vec::new(),
            ..base.clone()
        };
        for rule in &base.rules {
            keepalive.base(rule);
        }
        chains.push(keepalive);
    }

    let (chains, origins): (Vec<NftChain>, Vec<Vec<Option<RuleOrigin>>>) =
        chains.into_iter().map(|c| (c.chain, c.origins)).unzip();
    RenderedTable {
        table: RouterdTable { chains },
        origins,
        nat_devices,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired(yaml: &str) -> DesiredState {
        let docs = routerd_api::manifest::parse_documents(yaml).unwrap();
        let resources = routerd_api::manifest::decode_resources(docs).unwrap();
        DesiredState::from_resources(1, resources)
    }

    const HOME: &str = r#"apiVersion: net.routerd.net/v1alpha1
kind: Interface
metadata: {name: lan}
spec: {ifname: lan0}
---
apiVersion: net.routerd.net/v1alpha1
kind: Interface
metadata: {name: wan}
spec: {ifname: wan0}
---
apiVersion: net.routerd.net/v1alpha1
kind: DHCPv4Client
metadata: {name: wan-dhcp}
spec: {interface: wan}
---
apiVersion: net.routerd.net/v1alpha1
kind: PPPoESession
metadata: {name: isp2}
spec: {interface: wan, username: u, passwordFile: /etc/p}
---
apiVersion: firewall.routerd.net/v1alpha1
kind: FirewallEventLog
metadata: {name: fwlog}
spec: {nflogGroup: 7}
---
apiVersion: firewall.routerd.net/v1alpha1
kind: FirewallZone
metadata: {name: lan}
spec: {interfaces: [lan], input: accept, forward: drop}
---
apiVersion: firewall.routerd.net/v1alpha1
kind: FirewallZone
metadata: {name: wan}
spec: {interfaces: [wan, isp2], log: true}
---
apiVersion: firewall.routerd.net/v1alpha1
kind: FirewallPolicy
metadata: {name: lan-to-wan}
spec: {from: lan, to: wan, action: accept}
---
apiVersion: firewall.routerd.net/v1alpha1
kind: FirewallRule
metadata: {name: ssh}
spec: {from: wan, to: router, protocol: tcp, ports: [22], sourceRanges: [198.51.100.0/24, "2001:db8::/32"], action: accept, log: true, rateLimit: 10/second, priority: 10}
---
apiVersion: firewall.routerd.net/v1alpha1
kind: FirewallRule
metadata: {name: a-dns}
spec: {from: wan, to: lan, protocol: udp, ports: ["53", "5000-5010"], action: drop}
---
apiVersion: firewall.routerd.net/v1alpha1
kind: PortForward
metadata: {name: web}
spec: {from: wan, protocol: tcp, port: 8080, to: {address: 192.168.1.10, port: 80}}
---
apiVersion: net.routerd.net/v1alpha1
kind: NAT44Rule
metadata: {name: masq}
spec: {type: masquerade, outInterface: wan-dhcp, sourceRanges: [192.168.1.0/24]}
---
apiVersion: net.routerd.net/v1alpha1
kind: NAT44Rule
metadata: {name: pppoe}
spec: {type: snat, outInterface: isp2, toAddress: 203.0.113.5}"#;

    #[test]
    fn renders_the_whole_table_from_zones_rules_policies_forwards_and_nat() {
        let rendered = render(&desired(HOME));
        let expected = r#"table inet routerd {}
delete table inet routerd
table inet routerd {
    chain input {
        type filter hook input priority filter; policy accept;
        ct state established,related accept
        ct state invalid drop
        iif "lo" accept
        meta l4proto ipv6-icmp icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem, echo-request, echo-reply, nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, ind-neighbor-solicit, ind-neighbor-advert, mld-listener-query, mld-listener-report, mld-listener-done, mld2-listener-report } accept
        meta nfproto ipv4 udp sport 67 udp dport 68 accept
        meta nfproto ipv6 udp sport 547 udp dport 546 accept
        iifname "lan0" jump zone-lan-input
        iifname { "wan0", "ppp-isp2" } jump zone-wan-input
    }
    chain forward {
        type filter hook forward priority filter; policy accept;
        ct state established,related accept
        ct state invalid drop
        meta l4proto ipv6-icmp icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem, echo-request, echo-reply } accept
        iifname "lan0" jump zone-lan-forward
        iifname { "wan0", "ppp-isp2" } jump zone-wan-forward
    }
    chain zone-lan-input {
        accept
    }
    chain zone-lan-forward {
        oifname "lan0" accept
        oifname { "wan0", "ppp-isp2" } accept
        drop
    }
    chain zone-wan-input {
        ip saddr 198.51.100.0/24 meta l4proto tcp th dport 22 limit rate 10/second log prefix "routerd:accept:ssh" group 7 accept
        ip6 saddr 2001:db8::/32 meta l4proto tcp th dport 22 limit rate 10/second log prefix "routerd:accept:ssh" group 7 accept
        log prefix "routerd:drop:zone-wan" group 7 drop
    }
    chain zone-wan-forward {
        oifname "lan0" meta l4proto udp th dport { 53, 5000-5010 } drop
        ct status dnat ip daddr 192.168.1.10 meta l4proto tcp th dport 80 accept
        oifname { "wan0", "ppp-isp2" } accept
        log prefix "routerd:drop:zone-wan" group 7 drop
    }
    chain prerouting {
        type nat hook prerouting priority dstnat; policy accept;
        iifname { "wan0", "ppp-isp2" } fib daddr type local meta l4proto tcp th dport 8080 dnat ip to 192.168.1.10:80
    }
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        meta nfproto ipv4 oifname "wan0" ip saddr 192.168.1.0/24 masquerade
        meta nfproto ipv4 oifname "ppp-isp2" snat ip to 203.0.113.5
    }
}
"#;
        assert_eq!(rendered.table.render(), expected);
        assert_eq!(rendered.rules_of(Kind::FirewallRule, "ssh"), 2);
        assert_eq!(rendered.rules_of(Kind::FirewallZone, "wan"), 4);
        assert_eq!(
            rendered.nat_devices.get("masq").map(String::as_str),
            Some("wan0")
        );
    }

    #[test]
    fn nat_only_gets_the_keepalive_and_nothing_filters() {
        let yaml = r#"apiVersion: net.routerd.net/v1alpha1
kind: Interface
metadata: {name: wan}
spec: {ifname: wan0}
---
apiVersion: net.routerd.net/v1alpha1
kind: NAT44Rule
metadata: {name: masq}
spec: {type: masquerade, outInterface: wan}"#;
        let rendered = render(&desired(yaml));
        assert_eq!(
            rendered.table.render(),
            "table inet routerd {}\ndelete table inet routerd\ntable inet routerd {\n    chain postrouting {\n        type nat hook postrouting priority srcnat; policy accept;\n        meta nfproto ipv4 oifname \"wan0\" masquerade\n    }\n    chain conntrack {\n        type filter hook forward priority filter; policy accept;\n        ct state established,related accept\n    }\n}\n"
        );
    }

    #[test]
    fn an_nft_error_is_traced_to_the_resource_and_field() {
        let rendered = render(&desired(HOME));
        let script = rendered.table.render();
        let (line_no, line) = script
            .lines()
            .enumerate()
            .find(|(_, l)| l.contains("routerd:accept:ssh"))
            .unwrap();
        // The kernel refused the whole rule: the field only the kernel judges is named.
        let error = format!(
            "/dev/stdin:{}:9-{}: Error: Could not process rule: Value too large for defined data type\n{line}\n",
            line_no + 1,
            line.len()
        );
        let c = rendered.culprit(&error).unwrap();
        assert_eq!(
            (c.kind, c.name.as_str(), c.field.as_str()),
            (Kind::FirewallRule, "ssh", "spec.rateLimit")
        );
        assert_eq!(
            c.message,
            "Could not process rule: Value too large for defined data type"
        );
        // A parser error underlining one fragment names that fragment's field.
        let start = line.find("th dport").unwrap() + 1;
        let error = format!(
            "/dev/stdin:{}:{}-{}: Error: Range has zero or negative size",
            line_no + 1,
            start,
            start + 10
        );
        assert_eq!(rendered.culprit(&error).unwrap().field, "spec.ports");
        assert_eq!(rendered.culprit("/dev/stdin:3:1-5: Error: x"), None);
        assert_eq!(rendered.culprit("garbage"), None);
    }

    #[test]
    fn nothing_needs_the_table_without_firewall_nat_or_logs() {
        let yaml = r#"apiVersion: net.routerd.net/v1alpha1
kind: Interface
metadata: {name: wan}
spec: {ifname: wan0}"#;
        let d = desired(yaml);
        assert!(!table_needed(&d));
        assert_eq!(render(&d).table.chains.len(), 0);
    }
}
