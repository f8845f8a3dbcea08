use super::validate::{check_ifname, Checker, Reference, MAX_IFNAME};
use crate::duration::GoDuration;
use crate::kind::Kind;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

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

/// Prefix of the session device's default name (`ppp-<name>`).
pub const PPPOE_IFNAME_PREFIX: &str = "ppp-";
/// Shortest `lcpEchoInterval`: a keepalive more often than once a second is a typo.
const MIN_ECHO_INTERVAL: Duration = Duration::from_secs(1);
/// Longest `lcpEchoInterval`: beyond an hour a dead session would go unnoticed for most of a day.
const MAX_ECHO_INTERVAL: Duration = Duration::from_secs(3600);
/// Longest `redial.maxDelay` (the daemon's own cap).
const MAX_REDIAL_DELAY: Duration = Duration::from_secs(86_400);
/// `redial` defaults (`resources.md`).
const DEFAULT_REDIAL_INITIAL: Duration = Duration::from_secs(1);
const DEFAULT_REDIAL_MAX: Duration = Duration::from_secs(60);

impl PPPoESessionSpec {
    /// The session's network device: `ifname`, or `ppp-<name>` for the resource `name`. The one place
    /// the default is made, so routerd's controller, the daemon's config and the references of other
    /// resources agree.
    pub fn session_ifname(&self, name: &str) -> String {
        self.ifname
            .clone()
            .unwrap_or_else(|| format!("{PPPOE_IFNAME_PREFIX}{name}"))
    }

    /// The checks that need the resource's name: the default device name `ppp-<name>` must be a valid
    /// interface name too (a long resource name would make it longer than 15 characters).
    pub fn validate_named(&self, name: &str, c: &mut Checker) {
        if self.ifname.is_none() {
            let default = self.session_ifname(name);
            if check_ifname(&default).is_err() {
                c.error(
                    "ifname",
                    format!(
                        "the default device name {default:?} (ppp-<name>) is longer than {MAX_IFNAME} characters; set ifname to a shorter name"
                    ),
                );
            }
        }
    }

    pub(crate) fn validate(&self, c: &mut Checker) {
        if self.username.is_empty() {
            c.error("username", "must not be empty");
        }
        if !self.password_file.starts_with('/') {
            c.error(
                "passwordFile",
                format!(
                    "{:?} must be an absolute path (e.g. /etc/routerd/secrets/wan-pppoe)",
                    self.password_file
                ),
            );
        }
        if let Some(mtu) = self.mtu {
            c.range("mtu", mtu, 576, 1500);
        }
        if let Some(n) = &self.ifname {
            c.ifname("ifname", n);
        }
        if let Some(i) = self.lcp_echo_interval {
            if i.0 < MIN_ECHO_INTERVAL || i.0 > MAX_ECHO_INTERVAL {
                c.error(
                    "lcpEchoInterval",
                    format!("{i} is out of range 1s..=1h (e.g. 30s)"),
                );
            }
        }
        if let Some(n) = self.lcp_echo_failure {
            c.range("lcpEchoFailure", n, 1, 100);
        }
        if let Some(r) = &self.redial {
            let initial = r.initial_delay.map_or(DEFAULT_REDIAL_INITIAL, |d| d.0);
            let max = r.max_delay.map_or(DEFAULT_REDIAL_MAX, |d| d.0);
            if initial.is_zero() {
                c.error(
                    "redial.initialDelay",
                    "must be longer than 0 (e.g. 1s): redialing at once after every failure is a storm",
                );
            }
            if max > MAX_REDIAL_DELAY {
                c.error(
                    "redial.maxDelay",
                    format!("{} is longer than a day (24h)", GoDuration(max)),
                );
            }
            if max < initial {
                c.error(
                    "redial.maxDelay",
                    format!(
                        "{} is shorter than redial.initialDelay {}; raise maxDelay or lower initialDelay",
                        GoDuration(max),
                        GoDuration(initial)
                    ),
                );
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

#[cfg(test)]
mod tests {
    use crate::Resource;
    use serde_json::json;

    fn session(name: &str, spec: serde_json::Value) -> Result<Resource, Vec<(String, String)>> {
        Resource::from_value(
            json!({"apiVersion": "net.routerd.net/v1alpha1", "kind": "PPPoESession",
            "metadata": {"name": name}, "spec": spec}),
        )
        .map_err(|errs| errs.into_iter().map(|e| (e.field, e.message)).collect())
    }

    fn base() -> serde_json::Value {
        json!({"interface": "wan", "username": "u@isp", "passwordFile": "/etc/routerd/pw"})
    }

    fn with(field: &str, value: serde_json::Value) -> serde_json::Value {
        let mut spec = base();
        spec[field] = value;
        spec
    }

    /// Each error names the field and says how to fix it.
    fn refused(name: &str, spec: serde_json::Value, field: &str, says: &str) {
        let errs = session(name, spec).expect_err("refused");
        assert!(
            errs.iter().any(|(f, m)| f == field && m.contains(says)),
            "{errs:?}"
        );
    }

    #[test]
    fn a_plain_session_is_accepted_and_gets_ppp_name() {
        let r = session("wan", base()).unwrap();
        let crate::spec::ResourceSpec::PPPoESession(s) = &r.spec else {
            panic!("a PPPoESession");
        };
        assert_eq!(s.session_ifname("wan"), "ppp-wan");
        let r = session("wan", with("ifname", json!("pppoe0"))).unwrap();
        let crate::spec::ResourceSpec::PPPoESession(s) = &r.spec else {
            panic!("a PPPoESession");
        };
        assert_eq!(s.session_ifname("wan"), "pppoe0");
    }

    #[test]
    fn a_long_name_needs_an_explicit_ifname() {
        refused("fibre-uplink-main", base(), "spec.ifname", "set ifname");
        assert!(session("fibre-uplink-main", with("ifname", json!("ppp0"))).is_ok());
        refused(
            "wan",
            with("ifname", json!("a-much-too-long-name")),
            "spec.ifname",
            "1-15",
        );
    }

    #[test]
    fn bad_fields_are_named() {
        refused(
            "wan",
            with("passwordFile", json!("secrets/pw")),
            "spec.passwordFile",
            "absolute path",
        );
        refused(
            "wan",
            with("authentication", json!("mschap")),
            "spec.authentication",
            "pap",
        );
        refused(
            "wan",
            with("lcpEchoInterval", json!("100ms")),
            "spec.lcpEchoInterval",
            "1s..=1h",
        );
        refused(
            "wan",
            with("lcpEchoInterval", json!("soon")),
            "spec.lcpEchoInterval",
            "",
        );
        refused(
            "wan",
            with("lcpEchoFailure", json!(0)),
            "spec.lcpEchoFailure",
            "1..=100",
        );
        refused(
            "wan",
            with("redial", json!({"initialDelay": "0s"})),
            "spec.redial.initialDelay",
            "longer than 0",
        );
        refused(
            "wan",
            with("redial", json!({"initialDelay": "2m"})),
            "spec.redial.maxDelay",
            "shorter than redial.initialDelay",
        );
        refused(
            "wan",
            with("redial", json!({"maxDelay": "48h"})),
            "spec.redial.maxDelay",
            "longer than a day",
        );
        assert!(session(
            "wan",
            with("redial", json!({"initialDelay": "2s", "maxDelay": "5m"}))
        )
        .is_ok());
    }
}
