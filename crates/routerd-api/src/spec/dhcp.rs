use super::validate::{Checker, Reference};
use crate::kind::Kind;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A DHCPv4 client on a WAN interface (daemon `routerd-dhcpv4-client`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DHCPv4ClientSpec {
    /// Name of the `Interface` resource.
    pub interface: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Client identifier in hex (default `01` + MAC).
    #[serde(default, rename = "clientID", skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(
        default,
        rename = "vendorClassID",
        skip_serializing_if = "Option::is_none"
    )]
    pub vendor_class_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_address: Option<String>,
    /// Install the default route from the lease (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_default_route: Option<bool>,
    /// Metric of that default route (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_metric: Option<u32>,
    /// Put the leased address on the interface (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply_address: Option<bool>,
}

impl DHCPv4ClientSpec {
    pub(crate) fn validate(&self, c: &mut Checker) {
        if let Some(id) = &self.client_id {
            c.hex("clientID", id);
        }
        if let Some(a) = &self.requested_address {
            c.ipv4("requestedAddress", a);
        }
    }
    pub(crate) fn references(&self) -> Vec<Reference> {
        vec![Reference::new(
            "spec.interface",
            Kind::Interface,
            &self.interface,
        )]
    }
}

/// The DHCPv6 options `spec.requestOptions` may name, with their option codes: RFC 3646 DNS servers
/// and domain search list, RFC 4075 SNTP servers, RFC 6334 AFTR name. One table, so the apply-time check
/// here and the Option Request the daemon sends can never disagree. Only options the client parses and
/// reports are listed: asking a server for something that is then dropped would only mislead.
pub const DHCPV6_REQUEST_OPTIONS: [(&str, u16); 4] = [
    ("dns-servers", 23),
    ("domain-search", 24),
    ("sntp-servers", 31),
    ("aftr-name", 64),
];

/// The option code of a `spec.requestOptions` name; `None` when the name is not in
/// [`DHCPV6_REQUEST_OPTIONS`].
pub fn dhcpv6_request_option_code(name: &str) -> Option<u16> {
    DHCPV6_REQUEST_OPTIONS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, code)| code)
}

/// The accepted `spec.requestOptions` names, for error messages that list them.
pub fn dhcpv6_request_option_names() -> Vec<&'static str> {
    DHCPV6_REQUEST_OPTIONS.iter().map(|&(n, _)| n).collect()
}

/// DHCPv6 prefix delegation on a WAN interface (daemon `routerd-dhcpv6-client`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DHCPv6PrefixDelegationSpec {
    pub interface: String,
    /// Prefix length hint sent in IA_PD (e.g. 56 or 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_length_hint: Option<u8>,
    /// DUID in hex (default: DUID-LLT generated once and persisted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duid: Option<String>,
    /// IAID (default derived stably from the resource name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iaid: Option<u32>,
    /// Use Rapid Commit (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rapid_commit: Option<bool>,
    /// Options requested with ORO (default dns-servers, domain-search, sntp-servers, aftr-name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_options: Option<Vec<String>>,
}

impl DHCPv6PrefixDelegationSpec {
    pub(crate) fn validate(&self, c: &mut Checker) {
        if let Some(h) = self.prefix_length_hint {
            c.range("prefixLengthHint", h, 1, 128);
        }
        if let Some(d) = &self.duid {
            c.hex("duid", d);
        }
        if let Some(opts) = &self.request_options {
            for (i, o) in opts.iter().enumerate() {
                if dhcpv6_request_option_code(o).is_none() {
                    c.error(
                        &format!("requestOptions[{i}]"),
                        format!(
                            "unknown option {o:?} ({})",
                            dhcpv6_request_option_names().join(", ")
                        ),
                    );
                }
            }
        }
    }
    pub(crate) fn references(&self) -> Vec<Reference> {
        vec![Reference::new(
            "spec.interface",
            Kind::Interface,
            &self.interface,
        )]
    }
}
