//! The daemon's view of its `PPPoESession`: phase, the four conditions of `resources.md` and
//! `observed` (`session` as `PPPoESession.status.session`, plus counters tests and operators watch).
//!
//! Phases: `Up` while IPCP or IPv6CP is opened; `Error` after an authentication failure (until a
//! session is up again) or when the daemon cannot work at all (a fault: the password file refused, no
//! socket); `Pending` otherwise, the condition reasons saying what it is doing or what failed last.

use routerd_api::daemon::DaemonResourceStatus;
use routerd_api::status::PPPoESessionInfo;
use routerd_api::{Condition, Phase, Timestamp};
use routerd_sansio::StatusTracker;
use serde::{Deserialize, Serialize};

use crate::discovery::mac_string;
use crate::events::RESOURCE_KIND;
use crate::negotiation::lcp::Authentication;
use crate::redial::EndReason;
use crate::session::{Connection, Stage};

pub const CONDITION_DISCOVERED: &str = "Discovered";
pub const CONDITION_AUTHENTICATED: &str = "Authenticated";
pub const CONDITION_IPCP_OPENED: &str = "IPCPOpened";
pub const CONDITION_IPV6CP_OPENED: &str = "IPv6CPOpened";

/// `observed` of the daemon's resource status.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionObservation {
    pub session: PPPoESessionInfo,
    /// Where the connection stands (`Discovering`, `Link`, `Authenticating`, `Network`, `Waiting`...).
    pub stage: String,
    /// `tun` or `kernel`: the data plane in use.
    pub data_plane: String,
    pub padi_sent: u64,
    pub echo_requests_sent: u64,
    pub echo_replies_received: u64,
    /// Sessions that came up since the daemon started.
    pub sessions_up: u64,
    pub auth_failures: u64,
    /// When the next dial happens, while waiting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redial_at: Option<Timestamp>,
}

/// What the daemon adds to the connection's own state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataPlaneState {
    /// The device (`ifname`).
    pub ifname: String,
    /// `tun` or `kernel`.
    pub kind: String,
    /// Octets of IP packets received from / sent to the session.
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// Phase, `since` and conditions across updates.
#[derive(Debug, Clone)]
pub struct StatusProjection {
    tracker: StatusTracker,
    fault: Option<(String, String)>,
}

impl StatusProjection {
    pub fn new(name: &str, now: Timestamp) -> Self {
        Self {
            tracker: StatusTracker::new(RESOURCE_KIND, name, now),
            fault: None,
        }
    }

    /// A failure that keeps the daemon from dialling at all: phase `Error` with `reason` until cleared.
    pub fn set_fault(&mut self, fault: Option<(&str, String)>) {
        self.fault = fault.map(|(r, m)| (r.to_string(), m));
    }

    pub fn phase(&self) -> Phase {
        self.tracker.phase()
    }

    /// The status of `connection` (`None` before it exists) with the data plane's state.
    pub fn update(
        &mut self,
        connection: Option<&Connection>,
        data: &DataPlaneState,
        now: Timestamp,
        mono_now: std::time::Instant,
    ) -> DaemonResourceStatus {
        let (phase, conditions) = self.assess(connection);
        let observed = observe(connection, data, now, mono_now);
        self.tracker.update(phase, conditions, &observed, now)
    }

    fn assess(&self, connection: Option<&Connection>) -> (Phase, Vec<Condition>) {
        if let Some((reason, message)) = &self.fault {
            return (
                Phase::Error,
                vec![
                    c(CONDITION_DISCOVERED, false, reason, message.clone()),
                    c(CONDITION_AUTHENTICATED, false, reason, message.clone()),
                    c(CONDITION_IPCP_OPENED, false, reason, message.clone()),
                    c(CONDITION_IPV6CP_OPENED, false, reason, message.clone()),
                ],
            );
        }
        let Some(conn) = connection else {
            let waiting = "waiting for the interface";
            return (
                Phase::Pending,
                vec![
                    c(CONDITION_DISCOVERED, false, "Starting", waiting),
                    c(CONDITION_AUTHENTICATED, false, "Starting", waiting),
                    c(CONDITION_IPCP_OPENED, false, "Starting", waiting),
                    c(CONDITION_IPV6CP_OPENED, false, "Starting", waiting),
                ],
            );
        };
        let failure = conn.last_failure();
        let stage = conn.stage();
        let discovered = match conn.session() {
            Some(s) => c(
                CONDITION_DISCOVERED,
                true,
                "SessionEstablished",
                format!(
                    "session {} with {:?} ({})",
                    s.session_id,
                    String::from_utf8_lossy(&s.ac_name),
                    mac_string(&s.ac_mac)
                ),
            ),
            None => match (stage, failure) {
                (Stage::Stopped, _) => c(CONDITION_DISCOVERED, false, "Stopped", "stopped"),
                (Stage::Discovering, None) => c(
                    CONDITION_DISCOVERED,
                    false,
                    "Discovering",
                    "PADI sent, waiting for an offer",
                ),
                (_, Some(f)) => c(CONDITION_DISCOVERED, false, f.code, f.message.clone()),
                _ => c(CONDITION_DISCOVERED, false, stage.as_str(), ""),
            },
        };
        let authenticated = if conn.authenticated() {
            let how = match conn.authentication() {
                Some(Authentication::Pap) => "PAP",
                Some(Authentication::ChapMd5) => "CHAP",
                _ => "",
            };
            if how.is_empty() {
                c(
                    CONDITION_AUTHENTICATED,
                    true,
                    "NotRequired",
                    "the access concentrator asked for no authentication",
                )
            } else {
                c(
                    CONDITION_AUTHENTICATED,
                    true,
                    "Succeeded",
                    format!("{how} accepted"),
                )
            }
        } else {
            match failure {
                Some(f) if f.reason == EndReason::AuthenticationFailed => c(
                    CONDITION_AUTHENTICATED,
                    false,
                    "AuthenticationFailed",
                    f.message.clone(),
                ),
                _ if stage == Stage::Authenticating => c(
                    CONDITION_AUTHENTICATED,
                    false,
                    "Authenticating",
                    "waiting for the access concentrator",
                ),
                _ => c(CONDITION_AUTHENTICATED, false, "NotYet", ""),
            }
        };
        let ipcp = match conn.ipcp() {
            Some(n) => c(
                CONDITION_IPCP_OPENED,
                true,
                "Opened",
                format!(
                    "{} peer {}",
                    n.address,
                    n.peer_address.map(|a| a.to_string()).unwrap_or_default()
                ),
            ),
            None => c(CONDITION_IPCP_OPENED, false, "NotOpened", stage.as_str()),
        };
        let ipv6cp = match conn.ipv6cp() {
            Some(_) => c(CONDITION_IPV6CP_OPENED, true, "Opened", ""),
            None if !conn.config().ipv6 => c(
                CONDITION_IPV6CP_OPENED,
                false,
                "Disabled",
                "spec.ipv6 is false",
            ),
            None => c(CONDITION_IPV6CP_OPENED, false, "NotOpened", stage.as_str()),
        };
        let phase = if conn.is_up() {
            Phase::Up
        } else if failure.is_some_and(|f| f.reason == EndReason::AuthenticationFailed) {
            Phase::Error
        } else {
            Phase::Pending
        };
        (phase, vec![discovered, authenticated, ipcp, ipv6cp])
    }
}

fn c(type_: &str, status: bool, reason: &str, message: impl Into<String>) -> Condition {
    Condition::new(type_, status, reason, message)
}

fn iid_text(id: &[u8; 8]) -> String {
    let groups: Vec<String> = id
        .chunks(2)
        .map(|p| {
            format!(
                "{:x}",
                u16::from_be_bytes([p[0], p.get(1).copied().unwrap_or(0)])
            )
        })
        .collect();
    groups.join(":")
}

/// `observed` for `connection`.
pub fn observe(
    connection: Option<&Connection>,
    data: &DataPlaneState,
    now: Timestamp,
    mono_now: std::time::Instant,
) -> SessionObservation {
    let Some(conn) = connection else {
        return SessionObservation {
            session: PPPoESessionInfo {
                ifname: Some(data.ifname.clone()),
                ..PPPoESessionInfo::default()
            },
            data_plane: data.kind.clone(),
            ..SessionObservation::default()
        };
    };
    let session = conn.session().or(conn.last_session());
    let ipcp = conn.ipcp();
    let ipv6cp = conn.ipv6cp();
    let counters = conn.counters();
    SessionObservation {
        session: PPPoESessionInfo {
            session_id: session.map(|s| s.session_id),
            ac_name: session.map(|s| String::from_utf8_lossy(&s.ac_name).into_owned()),
            ac_mac: session.map(|s| mac_string(&s.ac_mac)),
            ifname: Some(data.ifname.clone()),
            local_address: ipcp.map(|n| n.address.to_string()),
            peer_address: ipcp.and_then(|n| n.peer_address).map(|a| a.to_string()),
            dns_servers: ipcp
                .map(|n| {
                    [n.primary_dns, n.secondary_dns]
                        .into_iter()
                        .flatten()
                        .map(|a| a.to_string())
                        .collect()
                })
                .unwrap_or_default(),
            interface_identifier: ipv6cp.and_then(|n| n.ours).map(|id| iid_text(&id)),
            peer_interface_identifier: ipv6cp.and_then(|n| n.peer).map(|id| iid_text(&id)),
            connected_at: conn.connected_at(),
            bytes_in: Some(data.bytes_in),
            bytes_out: Some(data.bytes_out),
            last_termination_reason: conn.last_termination().map(str::to_string),
        },
        stage: conn.stage().as_str().to_string(),
        data_plane: data.kind.clone(),
        padi_sent: counters.padi_sent,
        echo_requests_sent: counters.echo_requests_sent,
        echo_replies_received: counters.echo_replies_received,
        sessions_up: counters.sessions_up,
        auth_failures: counters.auth_failures,
        redial_at: conn
            .redial_at()
            .map(|at| now.saturating_add(at.saturating_duration_since(mono_now))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_identifiers_read_like_ipv6_groups() {
        assert_eq!(
            iid_text(&[0x02, 0x00, 0x00, 0xff, 0xfe, 0x00, 0x00, 0x01]),
            "200:ff:fe00:1"
        );
    }

    #[test]
    fn without_a_connection_the_status_is_pending_and_a_fault_is_an_error() {
        let now = Timestamp::now();
        let mut p = StatusProjection::new("wan", now);
        let data = DataPlaneState {
            ifname: "ppp-wan".into(),
            kind: "tun".into(),
            ..Default::default()
        };
        let s = p.update(None, &data, now, std::time::Instant::now());
        assert_eq!(s.phase, Phase::Pending);
        assert_eq!(s.conditions.len(), 4);
        assert_eq!(s.observed["session"]["ifname"], "ppp-wan");
        p.set_fault(Some(("PasswordFileRejected", "mode 0644".into())));
        let s = p.update(None, &data, now, std::time::Instant::now());
        assert_eq!(s.phase, Phase::Error);
        assert_eq!(s.conditions[0].reason, "PasswordFileRejected");
    }
}
