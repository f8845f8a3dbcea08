use super::validate::{Checker, Reference};
use crate::kind::Kind;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A static IPv4 address on an `Interface`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IPv4StaticAddressSpec {
    /// Name of the `Interface` resource.
    pub interface: String,
    /// Address with prefix length, e.g. `192.168.1.1/24`.
    pub address: String,
}

impl IPv4StaticAddressSpec {
    pub(crate) fn validate(&self, c: &mut Checker) {
        c.ipv4_cidr("address", &self.address);
    }
    pub(crate) fn references(&self) -> Vec<Reference> {
        vec![Reference::new(
            "spec.interface",
            Kind::Interface,
            &self.interface,
        )]
    }
}

/// A LAN address carved from a delegated prefix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IPv6DelegatedAddressSpec {
    /// Name of the `DHCPv6PrefixDelegation` resource.
    pub prefix_delegation: String,
    /// Name of the `Interface` resource (the LAN side).
    pub interface: String,
    /// Subnet ID in hex within the delegated prefix (default `0`). Spelled `subnetID` like
    /// `resources.md` (camelCase alone would make it `subnetId`).
    #[serde(default, rename = "subnetID", skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
    /// Prefix length of the LAN subnet (default 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_length: Option<u8>,
    /// Interface identifier part (default `::1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_suffix: Option<String>,
}

impl IPv6DelegatedAddressSpec {
    pub(crate) fn validate(&self, c: &mut Checker) {
        if let Some(id) = &self.subnet_id {
            if id.is_empty() || id.len() > 16 || u64::from_str_radix(id, 16).is_err() {
                c.error(
                    "subnetID",
                    format!("{id:?} is not a hex subnet ID (e.g. 0, 1, ff)"),
                );
            }
        }
        if let Some(len) = self.prefix_length {
            c.range("prefixLength", len, 1, 128);
        }
        if let Some(s) = &self.address_suffix {
            if s.parse::<std::net::Ipv6Addr>().is_err() {
                c.error(
                    "addressSuffix",
                    format!("{s:?} is not an IPv6 suffix (e.g. ::1)"),
                );
            }
        }
    }
    pub(crate) fn references(&self) -> Vec<Reference> {
        vec![
            Reference::new(
                "spec.prefixDelegation",
                Kind::DHCPv6PrefixDelegation,
                &self.prefix_delegation,
            ),
            Reference::new("spec.interface", Kind::Interface, &self.interface),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delegated_address_spells_subnet_id_as_documented() {
        let spec: IPv6DelegatedAddressSpec = serde_json::from_value(serde_json::json!({
            "prefixDelegation": "wan-pd", "interface": "lan", "subnetID": "1",
            "prefixLength": 64, "addressSuffix": "::1"
        }))
        .unwrap();
        assert_eq!(spec.subnet_id.as_deref(), Some("1"));
        let back = serde_json::to_value(&spec).unwrap();
        assert_eq!(back["subnetID"], "1");
        assert!(back.get("subnetId").is_none(), "{back}");
        // The camelCase spelling is an unknown field, not a silent alias.
        let wrong = serde_json::from_value::<IPv6DelegatedAddressSpec>(serde_json::json!({
            "prefixDelegation": "wan-pd", "interface": "lan", "subnetId": "1"
        }));
        assert!(wrong.is_err());
        let schema = serde_json::to_value(schemars::schema_for!(IPv6DelegatedAddressSpec)).unwrap();
        assert!(schema["properties"].get("subnetID").is_some(), "{schema}");
    }
}
