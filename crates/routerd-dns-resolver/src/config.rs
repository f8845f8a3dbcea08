//! The daemon's `config.json` ([`DNSResolverDaemonConfig`], written by routerd) checked and turned into
//! what the resolver runs with ([`Settings`]): socket addresses parsed, the zone built, defaults applied.

use crate::cache::DEFAULT_MAX_ENTRIES;
use crate::zone::Zone;
use routerd_api::spec::{DNSResolverDaemonConfig, UpstreamProtocol};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Default retention of `dns-queries.db` (`resources.md`, LogRetention).
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(7 * 86_400);
pub const DEFAULT_MAX_ROWS: u64 = 1_000_000;

/// One upstream as the forwarder uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub address: SocketAddr,
    pub protocol: UpstreamProtocol,
    /// TLS server name (DoT/DoH); the address when absent.
    pub server_name: Option<String>,
    /// How it is shown in status, events and query-log rows (`udp://192.0.2.53:53`).
    pub label: Arc<str>,
}

/// What the resolver runs with.
pub struct Settings {
    pub listen: Vec<SocketAddr>,
    pub upstreams: Vec<Upstream>,
    pub max_entries: usize,
    pub zone: Zone,
    pub query_log: bool,
    pub max_age: Duration,
    pub max_rows: u64,
    /// Trust anchors for DoT/DoH upstreams (None: the system's).
    pub tls_trust_file: Option<String>,
}

fn default_port(protocol: UpstreamProtocol) -> u16 {
    match protocol {
        UpstreamProtocol::Udp | UpstreamProtocol::Tcp => 53,
        UpstreamProtocol::Tls => 853,
        UpstreamProtocol::Https => 443,
    }
}

fn scheme(protocol: UpstreamProtocol) -> &'static str {
    match protocol {
        UpstreamProtocol::Udp => "udp",
        UpstreamProtocol::Tcp => "tcp",
        UpstreamProtocol::Tls => "tls",
        UpstreamProtocol::Https => "https",
    }
}

/// `192.0.2.53`, `192.0.2.53:5353`, `2001:db8::1`, `[2001:db8::1]:53`.
fn parse_address(text: &str, port: u16) -> Option<SocketAddr> {
    if let Ok(a) = text.parse::<SocketAddr>() {
        return Some(a);
    }
    text.parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, port))
}

impl Settings {
    /// Checks `config`; the error names the field.
    pub fn from_config(config: &DNSResolverDaemonConfig) -> Result<Settings, String> {
        let spec = &config.spec;
        let mut listen = Vec::new();
        for (i, l) in spec.listen.iter().enumerate() {
            listen.push(
                l.parse::<SocketAddr>()
                    .map_err(|_| format!("spec.listen[{i}]: {l:?} is not ip:port"))?,
            );
        }
        if listen.is_empty() {
            return Err("spec.listen: needs at least one ip:port".into());
        }
        let mut upstreams = Vec::new();
        for (i, u) in spec.upstreams.iter().enumerate() {
            let protocol = u.protocol.unwrap_or(UpstreamProtocol::Udp);
            let address = parse_address(&u.address, default_port(protocol)).ok_or_else(|| {
                format!(
                    "spec.upstreams[{i}].address: {:?} is not an IP address with an optional port",
                    u.address
                )
            })?;
            upstreams.push(Upstream {
                address,
                protocol,
                server_name: u.server_name.clone(),
                label: format!("{}://{address}", scheme(protocol)).into(),
            });
        }
        let max_entries = spec
            .cache
            .as_ref()
            .and_then(|c| c.max_entries)
            .map_or(DEFAULT_MAX_ENTRIES, |n| n as usize);
        let zone = Zone::build(&spec.local_records, &config.registered_hosts)
            .map_err(|e| format!("spec.{e}"))?;
        let retention = config.retention.as_ref();
        Ok(Settings {
            listen,
            upstreams,
            max_entries,
            zone,
            query_log: spec.query_log.as_ref().is_none_or(|q| q.enabled),
            max_age: retention
                .and_then(|r| r.max_age)
                .map_or(DEFAULT_MAX_AGE, |d| d.0),
            max_rows: retention
                .and_then(|r| r.max_rows)
                .unwrap_or(DEFAULT_MAX_ROWS),
            tls_trust_file: config.tls_trust_file.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> Result<Settings, String> {
        let c: DNSResolverDaemonConfig = serde_json::from_str(json).unwrap();
        Settings::from_config(&c)
    }

    #[test]
    fn defaults_and_ports_are_filled_in() {
        let s = config(
            r#"{"spec": {"listen": ["127.0.0.1:5300"], "upstreams": [{"address": "192.0.2.53"},
                {"address": "[2001:db8::1]:5353", "protocol": "tcp"}]},
               "registeredHosts": [{"name": "pc.lan", "addresses": ["192.168.1.9"]}]}"#,
        )
        .unwrap();
        assert_eq!(&*s.upstreams[0].label, "udp://192.0.2.53:53");
        assert_eq!(&*s.upstreams[1].label, "tcp://[2001:db8::1]:5353");
        assert_eq!(s.max_entries, DEFAULT_MAX_ENTRIES);
        assert!(s.query_log);
        assert_eq!(s.max_rows, DEFAULT_MAX_ROWS);
        assert_eq!(s.zone.len(), 2);
        let tls = config(
            r#"{"spec": {"listen": ["127.0.0.1:5300"], "upstreams": [{"address": "192.0.2.53", "protocol": "tls"},
                {"address": "192.0.2.54", "protocol": "https", "serverName": "dns.example"}]}}"#,
        )
        .unwrap();
        assert_eq!(&*tls.upstreams[0].label, "tls://192.0.2.53:853");
        assert_eq!(&*tls.upstreams[1].label, "https://192.0.2.54:443");
    }

    #[test]
    fn errors_name_the_field() {
        let e = config(r#"{"spec": {"listen": ["nope"]}}"#).err().unwrap();
        assert!(e.starts_with("spec.listen[0]"), "{e}");
        let e =
            config(r#"{"spec": {"listen": ["127.0.0.1:53"], "upstreams": [{"address": "x"}]}}"#)
                .err()
                .unwrap();
        assert!(e.starts_with("spec.upstreams[0].address"), "{e}");
        let e = config(
            r#"{"spec": {"listen": ["127.0.0.1:53"], "localRecords": [{"name": "a", "type": "A", "value": "b"}]}}"#,
        )
        .err()
        .unwrap();
        assert!(e.starts_with("spec.localRecords[0]"), "{e}");
    }
}
