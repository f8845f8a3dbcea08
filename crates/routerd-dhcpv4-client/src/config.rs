//! What the daemon's `config.json` holds: the resource spec plus the resolved interface name, and how it
//! becomes the state machine's [`ClientConfig`].

use crate::client::ClientConfig;
use crate::message::ClientIdentity;
use routerd_api::spec::DHCPv4ClientSpec;
use routerd_sansio::check_ifname;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// `config.json` of one `DHCPv4Client`, written by routerd.
///
/// `spec.interface` names an `Interface` resource; routerd resolves it to the OS link name in `ifname`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonConfig {
    pub spec: DHCPv4ClientSpec,
    pub ifname: String,
    /// Probe an offered address with ARP before using it (RFC 5227, default true). Turning it off saves
    /// the probe's ~0.8 s and risks using an address another host already has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict_probe: Option<bool>,
}

impl DaemonConfig {
    pub fn new(spec: DHCPv4ClientSpec, ifname: impl Into<String>) -> DaemonConfig {
        DaemonConfig {
            spec,
            ifname: ifname.into(),
            conflict_probe: None,
        }
    }

    /// Checks what the state machine relies on; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        check_ifname(&self.ifname)?;
        if let Some(id) = &self.spec.client_id {
            let bytes = hex_decode(id).map_err(|e| format!("spec.clientID: {e}"))?;
            if !(2..=255).contains(&bytes.len()) {
                return Err(format!(
                    "spec.clientID: {} bytes (a client identifier is 2 to 255 bytes, RFC 2132 §9.14)",
                    bytes.len()
                ));
            }
        }
        if let Some(a) = &self.spec.requested_address {
            a.parse::<Ipv4Addr>()
                .map_err(|_| format!("spec.requestedAddress: {a:?} is not an IPv4 address"))?;
        }
        if let Some(h) = &self.spec.hostname {
            if h.is_empty()
                || h.len() > 255
                || !h
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
            {
                return Err(format!(
                    "spec.hostname: {h:?} is not a host name (letters, digits, '-', '.', '_'; 1 to 255 characters)"
                ));
            }
        }
        if let Some(v) = &self.spec.vendor_class_id {
            if v.is_empty() || v.len() > 255 {
                return Err("spec.vendorClassID: must be 1 to 255 bytes".into());
            }
        }
        Ok(())
    }

    /// The client identifier: `spec.clientID`, else `01` + MAC (RFC 2132 §9.14 with the hardware type).
    pub fn client_id(&self, mac: [u8; 6]) -> Result<Vec<u8>, String> {
        match &self.spec.client_id {
            Some(id) => hex_decode(id).map_err(|e| format!("spec.clientID: {e}")),
            None => Ok(ClientIdentity::for_mac(mac).client_id),
        }
    }

    /// The state machine's configuration for resource `name` on an interface with hardware address `mac`.
    pub fn client_config(&self, name: &str, mac: [u8; 6]) -> Result<ClientConfig, String> {
        self.validate()?;
        let mut identity = ClientIdentity::for_mac(mac);
        identity.client_id = self.client_id(mac)?;
        identity.hostname = self.spec.hostname.clone();
        identity.vendor_class_id = self
            .spec
            .vendor_class_id
            .as_ref()
            .map(|v| v.as_bytes().to_vec());
        Ok(ClientConfig {
            name: name.to_string(),
            identity,
            requested_address: self
                .spec
                .requested_address
                .as_ref()
                .and_then(|a| a.parse().ok()),
            conflict_probe: self.conflict_probe.unwrap_or(true),
            broadcast_flag: false,
        })
    }
}

/// Hex to bytes; `:`, `-` and `.` between digit pairs are allowed (`01:02:03`).
pub fn hex_decode(s: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| !matches!(b, b':' | b'-' | b'.'))
        .collect();
    if digits.is_empty() || !digits.len().is_multiple_of(2) {
        return Err(format!("{s:?} is not an even number of hex digits"));
    }
    let nibble = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    };
    digits
        .chunks(2)
        .map(|p| match (nibble(p[0]), nibble(p[1])) {
            (Some(h), Some(l)) => Ok(h << 4 | l),
            _ => Err(format!("{s:?} is not hex")),
        })
        .collect()
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn mac_text(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> DaemonConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn config_json_as_routerd_writes_it() {
        let c = config(r#"{"spec": {"interface": "wan", "hostname": "rt1"}, "ifname": "eth0"}"#);
        c.validate().unwrap();
        let cc = c.client_config("wan", [2, 0, 0, 0, 0, 1]).unwrap();
        assert_eq!(cc.identity.client_id, [1, 2, 0, 0, 0, 0, 1]);
        assert_eq!(cc.identity.hostname.as_deref(), Some("rt1"));
        assert!(cc.conflict_probe);
        assert!(!cc.broadcast_flag);
        let back: DaemonConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn explicit_client_id_probe_and_requested_address() {
        let c = config(
            r#"{"spec": {"interface": "wan", "clientID": "ff:00:00:00:01:00:01", "requestedAddress": "192.0.2.10"},
                "ifname": "eth0", "conflictProbe": false}"#,
        );
        let cc = c.client_config("wan", [2, 0, 0, 0, 0, 1]).unwrap();
        assert_eq!(cc.identity.client_id, [0xff, 0, 0, 0, 1, 0, 1]);
        assert_eq!(cc.requested_address, Some(Ipv4Addr::new(192, 0, 2, 10)));
        assert!(!cc.conflict_probe);
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
                r#"{"spec": {"interface": "wan", "clientID": "0g"}, "ifname": "e"}"#,
                "spec.clientID",
            ),
            (
                r#"{"spec": {"interface": "wan", "clientID": "01"}, "ifname": "e"}"#,
                "spec.clientID",
            ),
            (
                r#"{"spec": {"interface": "wan", "requestedAddress": "x"}, "ifname": "e"}"#,
                "spec.requestedAddress",
            ),
            (
                r#"{"spec": {"interface": "wan", "hostname": "a b"}, "ifname": "e"}"#,
                "spec.hostname",
            ),
        ] {
            let err = config(json).validate().unwrap_err();
            assert!(err.starts_with(field), "{json}: {err}");
        }
    }

    #[test]
    fn hex() {
        assert_eq!(hex_decode("01aBcD").unwrap(), [1, 0xab, 0xcd]);
        assert_eq!(hex_decode("01-ab").unwrap(), [1, 0xab]);
        assert!(hex_decode("").is_err());
        assert!(hex_decode("abc").is_err());
        assert_eq!(mac_text(&[2, 0, 0x5e, 0, 0, 0xff]), "02:00:5e:00:00:ff");
    }
}
