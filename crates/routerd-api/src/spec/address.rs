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
    /// Subnet ID in hex within the delegated prefix (default `0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
