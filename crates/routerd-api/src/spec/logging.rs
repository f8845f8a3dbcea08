use super::validate::{Checker, Reference};
use crate::duration::GoDuration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamProtocol {
    Udp,
    Tcp,
    Tls,
    Https,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DnsUpstream {
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<UpstreamProtocol>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DnsCache {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_entries: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LocalRecord {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryLogSpec {
    pub enabled: bool,
}

/// A caching DNS resolver (daemon `routerd-dns-resolver`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DNSResolverSpec {
    /// `ip:port` listen addresses, e.g. `192.168.1.1:53`, `[::1]:53`.
    pub listen: Vec<String>,
    #[serde(default)]
    pub upstreams: Vec<DnsUpstream>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<DnsCache>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub local_records: Vec<LocalRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_log: Option<QueryLogSpec>,
}

impl DNSResolverSpec {
    /// Listen addresses with ports, upstream addresses per protocol, local records that fit their
    /// type (`dns_validation`).
    pub(crate) fn validate(&self, c: &mut Checker) {
        super::dns_validation::validate(self, c);
    }
    pub(crate) fn references(&self) -> Vec<Reference> {
        Vec::new()
    }
}

/// A host name the DHCP server registered for a lease (`registerHostnames`): answered authoritatively with
/// its A/AAAA records and the matching PTR, like a local record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisteredHost {
    pub name: String,
    pub addresses: Vec<String>,
}

/// `config.json` of `routerd-dns-resolver`, written by routerd: the resource spec, the host names the
/// DHCP server registered (filled by routerd; empty until a DHCP server registers any), and the
/// `dns-queries` retention from `LogRetention.spec.dnsQueries` (absent: 7 days, 1,000,000 rows). The
/// daemon owns `dns-queries.db`, so it is the one that prunes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DNSResolverDaemonConfig {
    pub spec: DNSResolverSpec,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub registered_hosts: Vec<RegisteredHost>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<RetentionPolicy>,
    /// PEM file of the trust anchors DoT/DoH upstreams are verified against instead of the system's
    /// (`/etc/ssl/certs/ca-certificates.crt`): a private resolver's CA, or a test's self-signed root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_trust_file: Option<String>,
}

/// Records traffic flows from conntrack events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TrafficFlowLogSpec {
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocols: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_bytes: Option<u64>,
}

impl TrafficFlowLogSpec {
    pub(crate) fn validate(&self, _c: &mut Checker) {}
    pub(crate) fn references(&self) -> Vec<Reference> {
        Vec::new()
    }
}

/// Captures NFLOG packets into `firewall-logs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FirewallEventLogSpec {
    /// Default 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nflog_group: Option<u16>,
    /// Default all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<String>>,
}

impl FirewallEventLogSpec {
    pub(crate) fn validate(&self, _c: &mut Checker) {}
    pub(crate) fn references(&self) -> Vec<Reference> {
        Vec::new()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RetentionPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<GoDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rows: Option<u64>,
}

/// Retention per store; without one the defaults apply (7 days, 1,000,000 rows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LogRetentionSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<RetentionPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_queries: Option<RetentionPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_flows: Option<RetentionPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall_logs: Option<RetentionPolicy>,
}

impl LogRetentionSpec {
    pub(crate) fn validate(&self, c: &mut Checker) {
        for (field, p) in [
            ("events", &self.events),
            ("dnsQueries", &self.dns_queries),
            ("trafficFlows", &self.traffic_flows),
            ("firewallLogs", &self.firewall_logs),
        ] {
            if let Some(p) = p {
                if p.max_rows == Some(0) {
                    c.error(&format!("{field}.maxRows"), "must be at least 1");
                }
                if p.max_age.is_some_and(|a| a.0.is_zero()) {
                    c.error(&format!("{field}.maxAge"), "must be longer than 0s");
                }
            }
        }
    }
    pub(crate) fn references(&self) -> Vec<Reference> {
        Vec::new()
    }
}
