//! What the daemon's `config.json` gives the probes: the resource spec plus the resolved references.

use routerd_api::spec::{HealthCheckSpec, ProbeProtocol};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Default `interval` (`resources.md`).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
/// Default `timeout` (`resources.md`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default `healthyThreshold` (`resources.md`).
pub const DEFAULT_HEALTHY_THRESHOLD: u32 = 2;
/// Default `unhealthyThreshold` (`resources.md`).
pub const DEFAULT_UNHEALTHY_THRESHOLD: u32 = 3;
/// Default port of a `dns` probe.
pub const DEFAULT_DNS_PORT: u16 = 53;
/// Default port of an `http` probe.
pub const DEFAULT_HTTP_PORT: u16 = 80;

/// One health check as the daemon runs it.
///
/// `spec.sourceInterface` names an `Interface` resource, not a link: routerd resolves it and passes the
/// OS name in `sourceIfname`. A spec that names a source interface without a resolved ifname makes every
/// probe fail closed (`binding`), never run unbound.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeConfig {
    pub spec: HealthCheckSpec,
    /// OS name of the link `spec.sourceInterface` refers to (`SO_BINDTODEVICE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ifname: Option<String>,
}

impl ProbeConfig {
    pub fn new(spec: HealthCheckSpec) -> ProbeConfig {
        ProbeConfig {
            spec,
            source_ifname: None,
        }
    }

    pub fn with_source_ifname(mut self, ifname: impl Into<String>) -> ProbeConfig {
        self.source_ifname = Some(ifname.into());
        self
    }

    /// `spec.timeout`, default 2s.
    pub fn timeout(&self) -> Duration {
        self.spec.timeout.map(|d| d.0).unwrap_or(DEFAULT_TIMEOUT)
    }

    /// `spec.interval`, default 10s.
    pub fn interval(&self) -> Duration {
        self.spec.interval.map(|d| d.0).unwrap_or(DEFAULT_INTERVAL)
    }

    /// The port the probe connects to: `spec.port`, else the protocol's default (`None` for `icmp`, and for
    /// `tcp` without a port, which validation rejects).
    pub fn port(&self) -> Option<u16> {
        match self.spec.protocol {
            ProbeProtocol::Icmp => None,
            ProbeProtocol::Tcp => self.spec.port,
            ProbeProtocol::Dns => Some(self.spec.port.unwrap_or(DEFAULT_DNS_PORT)),
            ProbeProtocol::Http => Some(self.spec.port.unwrap_or(DEFAULT_HTTP_PORT)),
        }
    }
}

/// The protocol word as the spec and the events spell it.
pub fn protocol_name(p: ProbeProtocol) -> &'static str {
    match p {
        ProbeProtocol::Icmp => "icmp",
        ProbeProtocol::Tcp => "tcp",
        ProbeProtocol::Dns => "dns",
        ProbeProtocol::Http => "http",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_json_round_trips_and_applies_defaults() {
        let json = r#"{"spec": {"target": "192.0.2.1", "protocol": "dns", "dns": {"name": "example.com"}},
                       "sourceIfname": "eth0"}"#;
        let c: ProbeConfig = serde_json::from_str(json).unwrap();
        assert_eq!(c.source_ifname.as_deref(), Some("eth0"));
        assert_eq!(c.port(), Some(53));
        assert_eq!(c.timeout(), Duration::from_secs(2));
        assert_eq!(c.interval(), Duration::from_secs(10));
        let back: ProbeConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        assert_eq!(protocol_name(c.spec.protocol), "dns");
    }
}
