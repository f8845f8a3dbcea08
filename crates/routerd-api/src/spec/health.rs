use super::validate::{Checker, Reference};
use crate::duration::GoDuration;
use crate::kind::Kind;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProbeProtocol {
    Icmp,
    Tcp,
    Dns,
    Http,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpProbeSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_status: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DnsProbeSpec {
    pub name: String,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
}

/// A reachability probe (daemon `routerd-healthcheck`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HealthCheckSpec {
    /// IP address or host name.
    pub target: String,
    pub protocol: ProbeProtocol,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Default 10s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<GoDuration>,
    /// Default 2s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<GoDuration>,
    /// Default 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_threshold: Option<u32>,
    /// Default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_threshold: Option<u32>,
    /// Name of an `Interface`; the probe leaves through it (SO_BINDTODEVICE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_interface: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmark: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpProbeSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsProbeSpec>,
}

impl HealthCheckSpec {
    pub(crate) fn validate(&self, c: &mut Checker) {
        if self.target.is_empty() {
            c.error("target", "must not be empty (an IP address or host name)");
        }
        if matches!(self.protocol, ProbeProtocol::Tcp) && self.port.is_none() {
            c.error("port", "required for protocol tcp");
        }
        if matches!(self.protocol, ProbeProtocol::Dns) && self.dns.is_none() {
            c.error(
                "dns",
                "required for protocol dns (dns: {name: example.com})",
            );
        }
        if let Some(a) = &self.source_address {
            c.ip("sourceAddress", a);
        }
        for (field, v) in [
            ("healthyThreshold", self.healthy_threshold),
            ("unhealthyThreshold", self.unhealthy_threshold),
        ] {
            if let Some(v) = v {
                c.range(field, v, 1, 1000);
            }
        }
        if let (Some(i), Some(t)) = (self.interval, self.timeout) {
            if t > i {
                c.error("timeout", format!("{t} is longer than interval {i}"));
            }
        }
        if let Some(i) = self.interval {
            if i.0 < std::time::Duration::from_millis(100) {
                c.error("interval", format!("{i} is shorter than the minimum 100ms"));
            }
        }
    }
    pub(crate) fn references(&self) -> Vec<Reference> {
        self.source_interface
            .iter()
            .map(|n| Reference::new("spec.sourceInterface", Kind::Interface, n))
            .collect()
    }
}
