use super::validate::{Checker, Reference};
use crate::duration::GoDuration;
use crate::kind::Kind;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PPPAuthentication {
    Pap,
    Chap,
    Any,
}

/// Where the session's IP packets are carried: the kernel's PPPoE driver (`AF_PPPOX` + `/dev/ppp`), a TUN
/// device the daemon forwards through, or `auto` (the kernel when it has PPP, else TUN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DataPlane {
    Auto,
    Kernel,
    Tun,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RedialSpec {
    /// Default 1s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_delay: Option<GoDuration>,
    /// Default 60s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_delay: Option<GoDuration>,
}

/// A PPPoE session (daemon `routerd-pppoe-client`). The password is read from `passwordFile` and never
/// appears in config, status, events or logs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PPPoESessionSpec {
    /// The Ethernet `Interface` under the session.
    pub interface: String,
    pub username: String,
    /// Path of a file holding the password.
    pub password_file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<PPPAuthentication>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ac_name: Option<String>,
    /// Default 1492.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Default 30s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lcp_echo_interval: Option<GoDuration>,
    /// Default 4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lcp_echo_failure: Option<u32>,
    /// Default `ppp-<name>`, at most 15 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ifname: Option<String>,
    /// Negotiate IPv6CP (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_default_route: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redial: Option<RedialSpec>,
    /// `auto` (default), `kernel` or `tun`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_plane: Option<DataPlane>,
}

impl PPPoESessionSpec {
    pub(crate) fn validate(&self, c: &mut Checker) {
        if self.username.is_empty() {
            c.error("username", "must not be empty");
        }
        if !self.password_file.starts_with('/') {
            c.error(
                "passwordFile",
                format!("{:?} must be an absolute path", self.password_file),
            );
        }
        if let Some(mtu) = self.mtu {
            c.range("mtu", mtu, 576, 1500);
        }
        if let Some(n) = &self.ifname {
            c.ifname("ifname", n);
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
