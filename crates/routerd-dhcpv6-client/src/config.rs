//! What the daemon's `config.json` holds: the resource spec plus the resolved interface name, and how it
//! becomes the state machine's [`ClientConfig`].
//!
//! The DUID is the one input that is not in the file: `spec.duid` when set, otherwise the daemon's
//! persisted (or newly generated) one, which the daemon shell resolves with I/O and passes in.

use crate::client::ClientConfig;
use crate::duid::{from_hex, iaid_for};
use crate::message::MAX_DUID;
use routerd_api::spec::{
    dhcpv6_request_option_code, dhcpv6_request_option_names, DHCPv6PrefixDelegationSpec,
};
use routerd_sansio::check_ifname;
use serde::{Deserialize, Serialize};

/// A DUID is a 2-byte type plus 1 to 128 bytes of identifier (RFC 8415 §11.1).
pub const DUID_LEN: std::ops::RangeInclusive<usize> = 3..=MAX_DUID;

/// What is requested when `spec.requestOptions` is absent (`resources.md`).
pub const DEFAULT_REQUEST_OPTIONS: [&str; 4] =
    ["dns-servers", "domain-search", "sntp-servers", "aftr-name"];

/// `config.json` of one `DHCPv6PrefixDelegation`, written by routerd.
///
/// `spec.interface` names an `Interface` resource; routerd resolves it to the OS link name in `ifname`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonConfig {
    pub spec: DHCPv6PrefixDelegationSpec,
    pub ifname: String,
    /// Wait a random 0–1 s before the first SOLICIT (RFC 8415 §18.2.1, SOL_MAX_DELAY; default true), so
    /// routers that come up together after a power cut do not all ask at once. Off only for benchmarks
    /// and tests that measure the exchange itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_delay: Option<bool>,
}

impl DaemonConfig {
    pub fn new(spec: DHCPv6PrefixDelegationSpec, ifname: impl Into<String>) -> DaemonConfig {
        DaemonConfig {
            spec,
            ifname: ifname.into(),
            initial_delay: None,
        }
    }

    /// Checks what the state machine relies on; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        check_ifname(&self.ifname)?;
        self.configured_duid()?;
        if let Some(h) = self.spec.prefix_length_hint {
            if !(1..=128).contains(&h) {
                return Err(format!(
                    "spec.prefixLengthHint: {h} is not a prefix length (1 to 128)"
                ));
            }
        }
        self.request_options()?;
        Ok(())
    }

    /// `spec.duid` as bytes, `None` when the daemon is to use its own persisted DUID.
    pub fn configured_duid(&self) -> Result<Option<Vec<u8>>, String> {
        let Some(text) = &self.spec.duid else {
            return Ok(None);
        };
        let bytes = from_hex(text).filter(|b| !b.is_empty()).ok_or_else(|| {
            format!("spec.duid: {text:?} is not hex bytes (e.g. 00030001020000000001)")
        })?;
        if !DUID_LEN.contains(&bytes.len()) {
            return Err(format!(
                "spec.duid: {} bytes (a DUID is a 2-byte type and 1 to 128 bytes, RFC 8415 §11.1)",
                bytes.len()
            ));
        }
        Ok(Some(bytes))
    }

    /// The IAID of resource `name`: `spec.iaid`, else a stable hash of the name, so it survives restarts
    /// and reinstallation without being stored.
    pub fn iaid(&self, name: &str) -> u32 {
        self.spec.iaid.unwrap_or_else(|| iaid_for(name))
    }

    /// The option codes for the Option Request option, in the order given, without repeats.
    pub fn request_options(&self) -> Result<Vec<u16>, String> {
        let default: Vec<String> = DEFAULT_REQUEST_OPTIONS
            .iter()
            .map(|s| s.to_string())
            .collect();
        let names = self.spec.request_options.as_ref().unwrap_or(&default);
        let mut codes = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            let code = dhcpv6_request_option_code(name).ok_or_else(|| {
                format!(
                    "spec.requestOptions[{i}]: unknown option {name:?} ({})",
                    dhcpv6_request_option_names().join(", ")
                )
            })?;
            if !codes.contains(&code) {
                codes.push(code);
            }
        }
        Ok(codes)
    }

    /// The state machine's configuration for resource `name` with client DUID `duid`.
    pub fn client_config(&self, name: &str, duid: Vec<u8>) -> Result<ClientConfig, String> {
        self.validate()?;
        Ok(ClientConfig {
            name: name.to_string(),
            duid,
            iaid: self.iaid(name),
            ifname: self.ifname.clone(),
            prefix_length_hint: self.spec.prefix_length_hint,
            rapid_commit: self.spec.rapid_commit.unwrap_or(false),
            request_options: self.request_options()?,
            initial_delay: self.initial_delay.unwrap_or(true),
        })
    }

    /// Why `next` cannot replace this config in a running daemon (another interface or another client
    /// identity is another client: its lease and socket belong to this one), `None` when it can.
    pub fn restart_needed_for(&self, next: &DaemonConfig, name: &str) -> Option<String> {
        if next.ifname != self.ifname {
            return Some(format!(
                "ifname changed from {} to {}: the daemon must be restarted to move",
                self.ifname, next.ifname
            ));
        }
        // The bytes, not the text: "00:03:00:01…" and "00030001…" are the same identity.
        if next.configured_duid() != self.configured_duid() {
            return Some(
                "spec.duid changed: the daemon must be restarted to use another identity".into(),
            );
        }
        if next.iaid(name) != self.iaid(name) {
            return Some(
                "spec.iaid changed: the daemon must be restarted to use another IA_PD".into(),
            );
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> DaemonConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn config_json_as_routerd_writes_it() {
        let c =
            config(r#"{"spec": {"interface": "wan", "prefixLengthHint": 56}, "ifname": "eth0"}"#);
        c.validate().unwrap();
        let cc = c.client_config("wan-pd", vec![0, 3, 0, 1, 2]).unwrap();
        assert_eq!(cc.name, "wan-pd");
        assert_eq!(cc.duid, [0, 3, 0, 1, 2]);
        assert_eq!(cc.iaid, iaid_for("wan-pd"));
        assert_eq!(cc.ifname, "eth0");
        assert_eq!(cc.prefix_length_hint, Some(56));
        assert!(!cc.rapid_commit);
        assert!(cc.initial_delay);
        assert_eq!(cc.request_options, [23, 24, 31, 64]);
        let back: DaemonConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        assert!(!serde_json::to_string(&c).unwrap().contains("initialDelay"));
    }

    #[test]
    fn explicit_identity_options_and_knobs() {
        let c = config(
            r#"{"spec": {"interface": "wan", "duid": "00:03:00:01:02:00:00:00:00:01", "iaid": 7,
                "rapidCommit": true, "requestOptions": ["aftr-name", "dns-servers", "aftr-name"]},
                "ifname": "ppp0", "initialDelay": false}"#,
        );
        assert_eq!(
            c.configured_duid().unwrap().unwrap(),
            [0, 3, 0, 1, 2, 0, 0, 0, 0, 1]
        );
        let cc = c.client_config("wan-pd", vec![0, 3, 0, 1, 9]).unwrap();
        assert_eq!(cc.iaid, 7);
        assert!(cc.rapid_commit);
        assert!(!cc.initial_delay);
        assert_eq!(cc.request_options, [64, 23]);
    }

    #[test]
    fn bad_fields_are_named() {
        for (json, field) in [
            (r#"{"spec": {"interface": "wan"}, "ifname": ""}"#, "ifname"),
            (
                r#"{"spec": {"interface": "wan"}, "ifname": "a-very-long-interface"}"#,
                "ifname",
            ),
            (
                r#"{"spec": {"interface": "wan", "duid": "0g01"}, "ifname": "e"}"#,
                "spec.duid",
            ),
            (
                r#"{"spec": {"interface": "wan", "duid": "0001"}, "ifname": "e"}"#,
                "spec.duid",
            ),
            (
                r#"{"spec": {"interface": "wan", "prefixLengthHint": 0}, "ifname": "e"}"#,
                "spec.prefixLengthHint",
            ),
            (
                r#"{"spec": {"interface": "wan", "prefixLengthHint": 129}, "ifname": "e"}"#,
                "spec.prefixLengthHint",
            ),
            (
                r#"{"spec": {"interface": "wan", "requestOptions": ["dns-servers", "x"]}, "ifname": "e"}"#,
                "spec.requestOptions[1]",
            ),
        ] {
            let err = config(json).validate().unwrap_err();
            assert!(err.starts_with(field), "{json}: {err}");
        }
    }

    #[test]
    fn restart_is_needed_only_for_another_identity() {
        let a = config(r#"{"spec": {"interface": "wan"}, "ifname": "eth0"}"#);
        let mut b = a.clone();
        b.spec.prefix_length_hint = Some(60);
        b.spec.rapid_commit = Some(true);
        b.initial_delay = Some(false);
        assert_eq!(a.restart_needed_for(&b, "wan-pd"), None);
        b.spec.iaid = Some(a.iaid("wan-pd"));
        assert_eq!(
            a.restart_needed_for(&b, "wan-pd"),
            None,
            "same IAID spelled out"
        );
        b.spec.iaid = Some(a.iaid("wan-pd").wrapping_add(1));
        assert!(a
            .restart_needed_for(&b, "wan-pd")
            .unwrap()
            .starts_with("spec.iaid"));
        let mut c = a.clone();
        c.spec.duid = Some("000300010200000000ff".into());
        let mut same = c.clone();
        same.spec.duid = Some("00:03:00:01:02:00:00:00:00:FF".into());
        assert_eq!(c.restart_needed_for(&same, "wan-pd"), None, "same bytes");
        assert!(a
            .restart_needed_for(&c, "wan-pd")
            .unwrap()
            .starts_with("spec.duid"));
        let mut d = a.clone();
        d.ifname = "eth1".into();
        assert!(a
            .restart_needed_for(&d, "wan-pd")
            .unwrap()
            .starts_with("ifname"));
    }

    /// The table in routerd-api is what both the apply-time check and the ORO use; this pins each of
    /// its codes to the option this crate parses, and checks that routerd-api accepts exactly its names.
    #[test]
    fn the_api_option_table_matches_the_parsed_options() {
        use crate::message::option;
        use routerd_api::spec::{Checker, ResourceSpec, DHCPV6_REQUEST_OPTIONS};

        let parsed = [
            ("dns-servers", option::DNS_SERVERS),
            ("domain-search", option::DOMAIN_SEARCH),
            ("sntp-servers", option::SNTP_SERVERS),
            ("aftr-name", option::AFTR_NAME),
        ];
        assert_eq!(DHCPV6_REQUEST_OPTIONS, parsed);
        let api_errors = |names: &[&str]| {
            let spec = ResourceSpec::DHCPv6PrefixDelegation(DHCPv6PrefixDelegationSpec {
                interface: "wan".into(),
                prefix_length_hint: None,
                duid: None,
                iaid: None,
                rapid_commit: None,
                request_options: Some(names.iter().map(|n| n.to_string()).collect()),
            });
            let mut checker = Checker::default();
            spec.validate(&mut checker);
            checker.errors
        };
        for (name, _) in DHCPV6_REQUEST_OPTIONS {
            assert_eq!(api_errors(&[name]), [], "{name}");
        }
        for default in DEFAULT_REQUEST_OPTIONS {
            assert!(dhcpv6_request_option_code(default).is_some(), "{default}");
        }
        let refused = api_errors(&["dns-servers", "ntp-servers"]);
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert_eq!(refused[0].field, "spec.requestOptions[1]");
        assert!(
            refused[0]
                .message
                .contains("dns-servers, domain-search, sntp-servers, aftr-name"),
            "the error lists the accepted names: {}",
            refused[0].message
        );
        let c = config(
            r#"{"spec": {"interface": "wan", "requestOptions": ["ntp-servers"]}, "ifname": "e"}"#,
        );
        assert!(c.validate().is_err(), "the daemon refuses it as well");
    }
}
