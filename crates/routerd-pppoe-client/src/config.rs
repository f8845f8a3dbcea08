//! What the daemon's `config.json` holds and how it becomes a [`ConnectionConfig`]; and the password
//! file, which the daemon reads itself so the password never passes through routerd, argv or
//! `config.json`.
//!
//! `config.json` is `{"spec": <PPPoESessionSpec>, "ifname": "<the Ethernet link's OS name>"}` like the
//! DHCP clients' (routerd resolves `spec.interface`); a bare `PPPoESessionSpec` is accepted too, its
//! `interface` then taken as the link name.

use std::path::Path;
use std::time::Duration;

use routerd_api::spec::{DataPlane, PPPAuthentication, PPPoESessionSpec};
use routerd_proto::ppp::Secret;
use routerd_sansio::check_ifname;
use serde::{Deserialize, Serialize};

use crate::auth::{AuthTimers, Credentials};
use crate::discovery::DiscoveryConfig;
use crate::negotiation;
use crate::negotiation::lcp::{AuthMethods, MIN_MRU, PPPOE_MAX_MRU};
use crate::redial::RedialConfig;
use crate::session::ConnectionConfig;

/// `config.json` of one `PPPoESession`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "ConfigFile")]
pub struct DaemonConfig {
    pub spec: PPPoESessionSpec,
    /// The Ethernet link the session runs on (OS name).
    pub ifname: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ConfigFile {
    Resolved {
        spec: PPPoESessionSpec,
        ifname: String,
    },
    Bare(PPPoESessionSpec),
}

impl From<ConfigFile> for DaemonConfig {
    fn from(file: ConfigFile) -> Self {
        match file {
            ConfigFile::Resolved { spec, ifname } => Self { spec, ifname },
            ConfigFile::Bare(spec) => Self {
                ifname: spec.interface.clone(),
                spec,
            },
        }
    }
}

/// Defaults of `resources.md`.
pub const DEFAULT_MTU: u16 = 1492;
pub const DEFAULT_ECHO_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_ECHO_FAILURE: u32 = 4;

impl DaemonConfig {
    /// Checks what the daemon relies on; the error names the field.
    pub fn validate(&self, name: &str) -> Result<(), String> {
        check_ifname(&self.ifname).map_err(|e| format!("ifname: {e}"))?;
        check_ifname(&self.device(name)).map_err(|e| format!("spec.ifname: {e}"))?;
        if self.spec.username.is_empty() || self.spec.username.len() > 255 {
            return Err("spec.username: must be 1 to 255 octets".into());
        }
        if !self.spec.password_file.starts_with('/') {
            return Err("spec.passwordFile: must be an absolute path".into());
        }
        let mtu = self.mtu()?;
        if !(MIN_MRU..=PPPOE_MAX_MRU).contains(&mtu) {
            return Err(format!(
                "spec.mtu: {mtu} is outside {MIN_MRU}..={PPPOE_MAX_MRU}"
            ));
        }
        self.redial()?
            .validate()
            .map_err(|e| format!("spec.redial: {e}"))?;
        self.discovery()
            .validate()
            .map_err(|e| format!("spec.serviceName: {e}"))?;
        Ok(())
    }

    /// The session's device: `spec.ifname`, default `ppp-<name>` (cut to 15 characters).
    pub fn device(&self, name: &str) -> String {
        match &self.spec.ifname {
            Some(n) => n.clone(),
            None => format!("ppp-{name}").chars().take(15).collect(),
        }
    }

    /// `spec.mtu`, default 1492.
    pub fn mtu(&self) -> Result<u16, String> {
        match self.spec.mtu {
            None => Ok(DEFAULT_MTU),
            Some(m) => u16::try_from(m).map_err(|_| format!("spec.mtu: {m} is too large")),
        }
    }

    /// `spec.dataPlane`, default `auto`.
    pub fn data_plane(&self) -> DataPlane {
        self.spec.data_plane.unwrap_or(DataPlane::Auto)
    }

    /// `spec.ipv6`, default true.
    pub fn ipv6(&self) -> bool {
        self.spec.ipv6.unwrap_or(true)
    }

    fn redial(&self) -> Result<RedialConfig, String> {
        let defaults = RedialConfig::default();
        let Some(r) = &self.spec.redial else {
            return Ok(defaults);
        };
        Ok(RedialConfig {
            initial_delay: r
                .initial_delay
                .as_ref()
                .map_or(defaults.initial_delay, |d| d.0),
            max_delay: r.max_delay.as_ref().map_or(defaults.max_delay, |d| d.0),
        })
    }

    fn discovery(&self) -> DiscoveryConfig {
        DiscoveryConfig {
            service_name: self
                .spec
                .service_name
                .clone()
                .unwrap_or_default()
                .into_bytes(),
            ac_name: self.spec.ac_name.clone().map(String::into_bytes),
            timers: Default::default(),
        }
    }

    /// The connection's configuration for resource `name` with `password`.
    pub fn connection(&self, name: &str, password: Secret) -> Result<ConnectionConfig, String> {
        self.validate(name)?;
        Ok(ConnectionConfig {
            name: name.to_string(),
            ifname: self.device(name),
            discovery: self.discovery(),
            credentials: Credentials {
                username: self.spec.username.clone().into_bytes(),
                password,
            },
            auth: match self.spec.authentication.unwrap_or(PPPAuthentication::Any) {
                PPPAuthentication::Pap => AuthMethods::Pap,
                PPPAuthentication::Chap => AuthMethods::Chap,
                PPPAuthentication::Any => AuthMethods::Any,
            },
            mru: self.mtu()?,
            ipv6: self.ipv6(),
            echo_interval: self
                .spec
                .lcp_echo_interval
                .as_ref()
                .map_or(DEFAULT_ECHO_INTERVAL, |d| d.0),
            echo_failure: self.spec.lcp_echo_failure.unwrap_or(DEFAULT_ECHO_FAILURE),
            redial: self.redial()?,
            ppp_timers: negotiation::Timers::default(),
            auth_timers: AuthTimers::default(),
        })
    }
}

/// `session.json`: the PPPoE session the daemon holds, so that a restarted daemon (after `kill -9`)
/// first sends a PADT for it instead of leaving it to the AC's own timeout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistedSession {
    #[serde(rename = "sessionID")]
    pub session_id: u16,
    #[serde(rename = "acMAC")]
    pub ac_mac: String,
    #[serde(rename = "ourMAC")]
    pub our_mac: String,
    /// The Ethernet link it was on.
    pub interface: String,
}

impl PersistedSession {
    /// The stale session to end on `interface` with `our_mac`: `None` when it was on another link or
    /// from another address (its PADT would come from the wrong place), or unreadable.
    pub fn stale_on(&self, interface: &str, our_mac: &[u8; 6]) -> Option<(u16, [u8; 6])> {
        if self.interface != interface
            || parse_mac(&self.our_mac)? != *our_mac
            || self.session_id == 0
        {
            return None;
        }
        Some((self.session_id, parse_mac(&self.ac_mac)?))
    }
}

/// `aa:bb:cc:dd:ee:ff` to octets.
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for octet in mac.iter_mut() {
        *octet = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// Why the password file was not used (the message never contains its content).
#[derive(Debug, thiserror::Error)]
pub enum PasswordFileError {
    #[error("passwordFile {path}: {source}")]
    Unreadable {
        path: String,
        source: std::io::Error,
    },
    #[error("passwordFile {path} has mode {mode:04o}; it must not be readable by group or others (0600 or 0400)")]
    TooOpen { path: String, mode: u32 },
    #[error("passwordFile {path} is owned by uid {owner}; it must be owned by root or by the daemon's uid {me}")]
    WrongOwner { path: String, owner: u32, me: u32 },
    #[error("passwordFile {path} is not a regular file")]
    NotAFile { path: String },
    #[error("passwordFile {path} is empty")]
    Empty { path: String },
    #[error("passwordFile {path} holds more than 255 octets (PAP's limit)")]
    TooLong { path: String },
}

/// Reads the password from `path`, refusing a file group or others could read, or one owned by
/// someone other than root or `my_uid`. A single trailing newline (`echo pw > file`) is not part of
/// the password.
pub fn read_password_file(path: &Path, my_uid: u32) -> Result<Secret, PasswordFileError> {
    use std::os::unix::fs::MetadataExt;
    let shown = path.display().to_string();
    let unreadable = |source| PasswordFileError::Unreadable {
        path: shown.clone(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(unreadable)?;
    if !metadata.is_file() {
        return Err(PasswordFileError::NotAFile { path: shown });
    }
    let mode = metadata.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(PasswordFileError::TooOpen { path: shown, mode });
    }
    if metadata.uid() != 0 && metadata.uid() != my_uid {
        return Err(PasswordFileError::WrongOwner {
            path: shown,
            owner: metadata.uid(),
            me: my_uid,
        });
    }
    let mut bytes = std::fs::read(path).map_err(unreadable)?;
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    if bytes.is_empty() {
        return Err(PasswordFileError::Empty { path: shown });
    }
    if bytes.len() > 255 {
        return Err(PasswordFileError::TooLong { path: shown });
    }
    Ok(Secret::new(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn spec_json() -> serde_json::Value {
        serde_json::json!({
            "interface": "wan",
            "username": "alice",
            "passwordFile": "/etc/routerd/pppoe.pw",
            "authentication": "chap",
            "mtu": 1454,
            "lcpEchoInterval": "10s",
            "lcpEchoFailure": 3,
            "redial": {"initialDelay": "2s", "maxDelay": "30s"},
            "dataPlane": "tun"
        })
    }

    #[test]
    fn resolved_and_bare_configs_both_load() {
        let resolved: DaemonConfig =
            serde_json::from_value(serde_json::json!({"spec": spec_json(), "ifname": "eth1"}))
                .unwrap();
        assert_eq!(resolved.ifname, "eth1");
        let bare: DaemonConfig = serde_json::from_value(spec_json()).unwrap();
        assert_eq!(bare.ifname, "wan");
        assert_eq!(bare.spec, resolved.spec);
        let c = resolved
            .connection("wan-pppoe", Secret::new(b"x".to_vec()))
            .unwrap();
        assert_eq!(c.ifname, "ppp-wan-pppoe");
        assert_eq!(c.mru, 1454);
        assert_eq!(c.auth, AuthMethods::Chap);
        assert_eq!(c.echo_interval, Duration::from_secs(10));
        assert_eq!(c.echo_failure, 3);
        assert_eq!(c.redial.initial_delay, Duration::from_secs(2));
        assert_eq!(c.redial.max_delay, Duration::from_secs(30));
        assert_eq!(resolved.data_plane(), DataPlane::Tun);
        assert_eq!(
            resolved.device("a-very-long-resource-name"),
            "ppp-a-very-long"
        );
    }

    #[test]
    fn bad_values_are_refused_naming_the_field() {
        let mut c: DaemonConfig = serde_json::from_value(spec_json()).unwrap();
        c.spec.mtu = Some(9000);
        assert!(c.validate("w").unwrap_err().starts_with("spec.mtu"));
        c.spec.mtu = None;
        c.spec.ifname = Some("this-name-is-far-too-long".into());
        assert!(c.validate("w").unwrap_err().starts_with("spec.ifname"));
    }

    #[test]
    fn a_persisted_session_is_stale_only_on_the_same_link_and_mac() {
        let p = PersistedSession {
            session_id: 7,
            ac_mac: "02:00:00:00:00:ac".into(),
            our_mac: "02:00:00:00:00:01".into(),
            interface: "eth1".into(),
        };
        let ours = [2, 0, 0, 0, 0, 1];
        assert_eq!(p.stale_on("eth1", &ours), Some((7, [2, 0, 0, 0, 0, 0xac])));
        assert_eq!(p.stale_on("eth2", &ours), None);
        assert_eq!(p.stale_on("eth1", &[2, 0, 0, 0, 0, 2]), None);
        assert_eq!(parse_mac("02:00:00:00:00"), None);
        assert_eq!(parse_mac("02:00:00:00:00:01:02"), None);
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["sessionID"], 7);
        assert_eq!(json["acMAC"], "02:00:00:00:00:ac");
    }

    #[test]
    fn the_password_file_must_be_private_and_its_newline_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret\n").unwrap();
        let me = std::fs::metadata(dir.path()).map(|m| {
            use std::os::unix::fs::MetadataExt;
            m.uid()
        });
        let me = me.unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_password_file(&path, me).unwrap_err();
        assert!(err.to_string().contains("mode 0644"), "{err}");
        assert!(!err.to_string().contains("s3cret"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_password_file(&path, me).unwrap().expose(), b"s3cret");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(read_password_file(&path, me).is_ok());
        if me != 0 {
            let err = read_password_file(&path, me + 1).unwrap_err();
            assert!(err.to_string().contains("owned by uid"), "{err}");
        }
        let err = read_password_file(&dir.path().join("missing"), me).unwrap_err();
        assert!(err.to_string().starts_with("passwordFile"), "{err}");
        std::fs::write(dir.path().join("empty"), "\n").unwrap();
        std::fs::set_permissions(
            dir.path().join("empty"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        assert!(matches!(
            read_password_file(&dir.path().join("empty"), me),
            Err(PasswordFileError::Empty { .. })
        ));
    }
}
