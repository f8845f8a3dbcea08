use super::validate::{Checker, Reference};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Names a host link so other resources can refer to it by a stable name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InterfaceSpec {
    /// OS interface name (e.g. `eth0`).
    pub ifname: String,
    /// MTU to set; left as is when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Bring the link administratively up (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_up: Option<bool>,
    /// MAC address to set (`aa:bb:cc:dd:ee:ff`); left as is when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
}

impl InterfaceSpec {
    pub fn admin_up(&self) -> bool {
        self.admin_up.unwrap_or(true)
    }
    pub fn mac_bytes(&self) -> Option<[u8; 6]> {
        self.mac_address.as_deref().and_then(parse_mac)
    }
    pub(crate) fn validate(&self, c: &mut Checker) {
        c.ifname("ifname", &self.ifname);
        if let Some(mtu) = self.mtu {
            c.range("mtu", mtu, 68, 65535);
        }
        if let Some(mac) = &self.mac_address {
            if parse_mac(mac).is_none() {
                c.error(
                    "macAddress",
                    format!("{mac:?} is not a MAC address (aa:bb:cc:dd:ee:ff)"),
                );
            }
        }
    }
    pub(crate) fn references(&self) -> Vec<Reference> {
        Vec::new()
    }
}

/// Parses `aa:bb:cc:dd:ee:ff` (or with `-`).
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return None;
    }
    let mut out = [0u8; 6];
    for (o, p) in out.iter_mut().zip(parts) {
        if p.len() != 2 {
            return None;
        }
        *o = u8::from_str_radix(p, 16).ok()?;
    }
    Some(out)
}
