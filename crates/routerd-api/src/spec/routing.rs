use super::validate::{parse_ip_cidr, Checker, Reference};
use crate::duration::GoDuration;
use crate::kind::Kind;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A static IPv4 route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IPv4StaticRouteSpec {
    /// Destination CIDR, e.g. `198.51.100.0/24` or `0.0.0.0/0`.
    pub destination: String,
    /// Next hop; at least one of `gateway` and `interface` is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Name of the `Interface` resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<u32>,
    /// Routing table id (default 254, main).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<u32>,
}

impl IPv4StaticRouteSpec {
    pub(crate) fn validate(&self, c: &mut Checker) {
        if let Some((addr, len)) = c.ipv4_cidr("destination", &self.destination) {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            if u32::from(addr) & !mask != 0 {
                c.error(
                    "destination",
                    format!(
                        "{} has host bits set; did you mean {}/{len}?",
                        self.destination,
                        std::net::Ipv4Addr::from(u32::from(addr) & mask)
                    ),
                );
            }
        }
        if let Some(g) = &self.gateway {
            c.ipv4("gateway", g);
        }
        if self.gateway.is_none() && self.interface.is_none() {
            c.error("gateway", "a route needs a gateway, an interface, or both");
        }
        if let Some(t) = self.table {
            if t == 0 || t == 253 || t == 255 {
                c.error(
                    "table",
                    format!("table {t} is reserved (use 254 for main or 1-252, 256+)"),
                );
            }
        }
    }
    pub(crate) fn references(&self) -> Vec<Reference> {
        self.interface
            .iter()
            .map(|n| Reference::new("spec.interface", Kind::Interface, n))
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CandidateSource {
    /// `DHCPv4Client`, `PPPoESession` or `IPv4StaticRoute`.
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EgressCandidate {
    pub name: String,
    pub source: CandidateSource,
    /// Name of a `HealthCheck` that gates this candidate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
}

/// Chooses the default route among WAN candidates by health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EgressRoutePolicySpec {
    /// Default `0.0.0.0/0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    pub candidates: Vec<EgressCandidate>,
    /// Default 30s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failback_delay: Option<GoDuration>,
    /// Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flush_conntrack_on_switch: Option<bool>,
}

const CANDIDATE_KINDS: [Kind; 3] = [
    Kind::DHCPv4Client,
    Kind::PPPoESession,
    Kind::IPv4StaticRoute,
];

impl EgressRoutePolicySpec {
    pub(crate) fn validate(&self, c: &mut Checker) {
        if let Some(d) = &self.destination {
            c.ipv4_cidr("destination", d);
        }
        if self.candidates.is_empty() {
            c.error("candidates", "needs at least one candidate");
        }
        let mut names = std::collections::HashSet::new();
        for (i, cand) in self.candidates.iter().enumerate() {
            if !names.insert(cand.name.as_str()) {
                c.error(
                    &format!("candidates[{i}].name"),
                    format!("duplicate candidate name {:?}", cand.name),
                );
            }
            if !CANDIDATE_KINDS
                .iter()
                .any(|k| k.as_str() == cand.source.kind)
            {
                c.error(
                    &format!("candidates[{i}].source.kind"),
                    format!(
                        "{:?} cannot be a candidate (DHCPv4Client, PPPoESession, IPv4StaticRoute)",
                        cand.source.kind
                    ),
                );
            }
        }
    }
    pub(crate) fn references(&self) -> Vec<Reference> {
        let mut out = Vec::new();
        for (i, cand) in self.candidates.iter().enumerate() {
            if let Some(k) = CANDIDATE_KINDS
                .iter()
                .find(|k| k.as_str() == cand.source.kind)
            {
                out.push(Reference::new(
                    &format!("spec.candidates[{i}].source.name"),
                    *k,
                    &cand.source.name,
                ));
            }
            if let Some(h) = &cand.health_check {
                out.push(Reference::new(
                    &format!("spec.candidates[{i}].healthCheck"),
                    Kind::HealthCheck,
                    h,
                ));
            }
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NatType {
    Masquerade,
    Snat,
}

/// Source NAT rendered into routerd's own nftables table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NAT44RuleSpec {
    #[serde(rename = "type")]
    pub type_: NatType,
    /// An `Interface`, or the device of a `PPPoESession` / `DHCPv4Client`.
    pub out_interface: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ranges: Option<Vec<String>>,
    /// Required for `snat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_address: Option<String>,
}

impl NAT44RuleSpec {
    pub(crate) fn validate(&self, c: &mut Checker) {
        for (i, r) in self.source_ranges.iter().flatten().enumerate() {
            match parse_ip_cidr(r) {
                Ok((ip, _)) if ip.is_ipv4() => {}
                Ok(_) => c.error(
                    &format!("sourceRanges[{i}]"),
                    format!("{r:?} is IPv6; NAT44 takes IPv4 ranges"),
                ),
                Err(e) => c.error(&format!("sourceRanges[{i}]"), e),
            }
        }
        match (self.type_, &self.to_address) {
            (NatType::Snat, None) => c.error("toAddress", "required for type snat"),
            (_, Some(a)) => c.ipv4("toAddress", a),
            _ => {}
        }
    }
    pub(crate) fn references(&self) -> Vec<Reference> {
        vec![Reference {
            field: "spec.outInterface".to_string(),
            kinds: vec![Kind::Interface, Kind::PPPoESession, Kind::DHCPv4Client],
            name: self.out_interface.clone(),
        }]
    }
}
