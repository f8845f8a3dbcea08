//! The daemon's view of its `DHCPv6PrefixDelegation`: phase, the `PrefixBound` and `InformationReceived`
//! conditions, and `observed`, which is `DHCPv6PrefixDelegationStatus` (`resources.md`): routerd's
//! controllers copy it into the resource status, and the `IPv6DelegatedAddress` controller installs LAN
//! addresses from `lease.prefix`, its lifetimes and `acquiredAt`, and deprecates those of
//! `previousPrefixes`.
//!
//! Phases: `Bound` while a prefix is held (also while renewing or rebinding, and while the link is down:
//! the prefix stays valid until its lifetime ends and the LAN keeps using it), `Pending` while there is
//! none, `Error` when the interface is missing or the daemon cannot work at all (a socket or DUID it
//! cannot set up).
//!
//! `lease` is always present with its `state`, so a client without a prefix shows `Soliciting` or
//! `Requesting`; `lease.prefix` is null then.

use crate::client::{Client, State};
use crate::duid::to_hex;
use crate::events::RESOURCE_KIND;
use crate::lease::{Information, Lease};
use crate::message::status_name;
use routerd_api::daemon::DaemonResourceStatus;
use routerd_api::status::{DHCPv6Lease, DHCPv6PrefixDelegationStatus, PreviousPrefix};
use routerd_api::{Condition, Phase, Timestamp};
use routerd_sansio::StatusTracker;

/// True while a delegated prefix is held.
pub const CONDITION_PREFIX_BOUND: &str = "PrefixBound";
/// True once a server's DNS/SNTP/AFTR information was received.
pub const CONDITION_INFORMATION_RECEIVED: &str = "InformationReceived";

/// `observed` for `client` (`None` before the interface was first seen).
pub fn observe(client: Option<&Client>) -> DHCPv6PrefixDelegationStatus {
    let state = client.map_or(State::Soliciting, Client::state);
    let lease = match client.and_then(Client::lease) {
        Some(l) => lease_observation(l, state),
        None => DHCPv6Lease {
            state: Some(state.as_str().to_string()),
            ..DHCPv6Lease::default()
        },
    };
    let previous_prefixes = client
        .map(|c| {
            c.previous_prefixes()
                .iter()
                .map(|p| PreviousPrefix {
                    prefix: p.prefix.to_string(),
                    valid_until: p.valid_until,
                })
                .collect()
        })
        .unwrap_or_default();
    let info = client
        .and_then(Client::information)
        .cloned()
        .unwrap_or_default();
    let strings = |v: &[std::net::Ipv6Addr]| v.iter().map(|a| a.to_string()).collect();
    DHCPv6PrefixDelegationStatus {
        lease: Some(lease),
        previous_prefixes,
        dns_servers: strings(&info.dns_servers),
        domain_search: info.domain_search.clone(),
        sntp_servers: strings(&info.sntp_servers),
        aftr_name: info.aftr_name.clone(),
    }
}

/// A held prefix in `state`.
pub fn lease_observation(lease: &Lease, state: State) -> DHCPv6Lease {
    DHCPv6Lease {
        prefix: Some(lease.prefix.to_string()),
        preferred_lifetime_seconds: Some(lease.prefix.preferred_lifetime),
        valid_lifetime_seconds: Some(lease.prefix.valid_lifetime),
        t1_seconds: Some(lease.t1_seconds),
        t2_seconds: Some(lease.t2_seconds),
        server_duid: Some(to_hex(&lease.server_duid)),
        acquired_at: Some(lease.acquired_at),
        renew_at: lease.renew_at(),
        rebind_at: lease.rebind_at(),
        expires_at: lease.expires_at(),
        state: Some(state.as_str().to_string()),
    }
}

/// The interface as the daemon last saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterfaceState {
    /// No link of that name.
    Missing,
    /// The link exists but is down or has no carrier.
    NoCarrier,
    /// Up, but without an IPv6 link-local address (IPv6 disabled on it, or not configured yet).
    NoLinkLocal,
    /// Up; the link-local address is still tentative (duplicate address detection, ~1–2 s).
    WaitingForDad,
    /// Up, with the socket bound to the link-local address.
    Up,
}

/// A failure that keeps the daemon from working at all: phase `Error` with `reason` until cleared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// CamelCase reason (`SocketError`, `DuidError`, `ConfigError`).
    pub reason: String,
    pub message: String,
}

/// Phase, `since` and conditions across updates, so transition times say when a fact became true.
#[derive(Debug, Clone)]
pub struct StatusProjection {
    tracker: StatusTracker,
    ifname: String,
    fault: Option<Fault>,
}

impl StatusProjection {
    pub fn new(name: &str, ifname: &str, now: Timestamp) -> StatusProjection {
        StatusProjection {
            tracker: StatusTracker::new(RESOURCE_KIND, name, now),
            ifname: ifname.to_string(),
            fault: None,
        }
    }

    /// Sets or clears (`None`) the fault that overrides everything else.
    pub fn set_fault(&mut self, fault: Option<Fault>) {
        self.fault = fault;
    }

    pub fn fault(&self) -> Option<&Fault> {
        self.fault.as_ref()
    }

    /// The resource status for the current `client` (`None` before the interface was first seen).
    pub fn update(
        &mut self,
        client: Option<&Client>,
        interface: InterfaceState,
        now: Timestamp,
    ) -> DaemonResourceStatus {
        let (phase, bound) = self.assess(client, interface);
        let conditions = vec![
            bound,
            information_condition(client.and_then(Client::information)),
        ];
        self.tracker
            .update(phase, conditions, &observe(client), now)
    }

    fn assess(&self, client: Option<&Client>, interface: InterfaceState) -> (Phase, Condition) {
        let ifname = &self.ifname;
        let c = |status: bool, reason: &str, message: String| {
            Condition::new(CONDITION_PREFIX_BOUND, status, reason, message)
        };
        if let Some(f) = &self.fault {
            return (Phase::Error, c(false, &f.reason, f.message.clone()));
        }
        if interface == InterfaceState::Missing {
            return (
                Phase::Error,
                c(
                    false,
                    "InterfaceMissing",
                    format!("no interface named {ifname:?}"),
                ),
            );
        }
        let Some(client) = client else {
            return (
                Phase::Pending,
                c(false, "Starting", format!("waiting for {ifname}")),
            );
        };
        let state = client.state();
        if let Some(lease) = client.lease() {
            let reason = if interface == InterfaceState::Up {
                state.as_str()
            } else {
                "LinkDown"
            };
            let until = lease
                .expires_at()
                .map(|t| format!("valid until {t}"))
                .unwrap_or_else(|| "valid forever".into());
            return (
                Phase::Bound,
                c(
                    true,
                    reason,
                    format!(
                        "{} from server {} {until} ({state})",
                        lease.prefix,
                        to_hex(&lease.server_duid)
                    ),
                ),
            );
        }
        let (reason, message) = match (state, interface) {
            (State::Released, _) => (
                "Released".to_string(),
                "prefix released; `renew` asks for a new one".to_string(),
            ),
            (State::Stopped, _) => ("Stopped".into(), "the daemon is stopping".into()),
            (_, InterfaceState::NoCarrier) => {
                ("LinkDown".into(), format!("{ifname} is down or has no carrier"))
            }
            (_, InterfaceState::NoLinkLocal) => (
                "NoLinkLocal".into(),
                format!("{ifname} has no IPv6 link-local address (is IPv6 disabled on it?)"),
            ),
            (_, InterfaceState::WaitingForDad) => (
                "WaitingForDAD".into(),
                format!("the link-local address of {ifname} is still tentative (duplicate address detection)"),
            ),
            _ => match client.last_status() {
                Some((code, text)) if code != 0 => {
                    let name = status_name(code);
                    let text = if text.is_empty() {
                        String::new()
                    } else {
                        format!(" ({text:?})")
                    };
                    (name.clone(), format!("the server answered {name}{text}; {state}"))
                }
                _ => (state.as_str().to_string(), format!("no prefix yet; {state}")),
            },
        };
        (Phase::Pending, c(false, &reason, message))
    }
}

fn information_condition(info: Option<&Information>) -> Condition {
    match info {
        Some(i) => Condition::new(
            CONDITION_INFORMATION_RECEIVED,
            true,
            "Received",
            format!(
                "{} DNS servers, {} search domains, {} SNTP servers, AFTR {}",
                i.dns_servers.len(),
                i.domain_search.len(),
                i.sntp_servers.len(),
                i.aftr_name.as_deref().unwrap_or("none")
            ),
        ),
        None => Condition::new(
            CONDITION_INFORMATION_RECEIVED,
            false,
            "NotReceived",
            "no server information yet",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(s: &DaemonResourceStatus, type_: &str) -> (bool, String) {
        let c = s
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .unwrap_or_else(|| panic!("no {type_} in {:?}", s.conditions));
        (
            c.status == routerd_api::condition::ConditionStatus::True,
            c.reason.clone(),
        )
    }

    #[test]
    fn without_a_client_missing_is_an_error_and_present_is_pending() {
        let t0 = Timestamp::now();
        let mut p = StatusProjection::new("wan-pd", "eth0", t0);
        let s = p.update(None, InterfaceState::Missing, t0);
        assert_eq!(s.phase, Phase::Error);
        assert_eq!(s.since, Some(t0));
        assert_eq!(
            reason(&s, CONDITION_PREFIX_BOUND),
            (false, "InterfaceMissing".into())
        );
        assert_eq!(
            reason(&s, CONDITION_INFORMATION_RECEIVED),
            (false, "NotReceived".into())
        );
        assert_eq!(s.resource.kind, "DHCPv6PrefixDelegation");
        assert_eq!(s.resource.name, "wan-pd");
        let t1 = t0.saturating_add(std::time::Duration::from_secs(3));
        let s = p.update(None, InterfaceState::WaitingForDad, t1);
        assert_eq!(s.phase, Phase::Pending);
        assert_eq!(s.since, Some(t1), "since moves with the phase");
        assert_eq!(
            reason(&s, CONDITION_PREFIX_BOUND),
            (false, "Starting".into())
        );
        let s = p.update(
            None,
            InterfaceState::Up,
            t1.saturating_add(std::time::Duration::from_secs(1)),
        );
        assert_eq!(s.since, Some(t1), "same phase, same since");
    }

    #[test]
    fn a_fault_wins() {
        let t0 = Timestamp::now();
        let mut p = StatusProjection::new("wan-pd", "eth0", t0);
        p.set_fault(Some(Fault {
            reason: "SocketError".into(),
            message: "cannot bind".into(),
        }));
        let s = p.update(None, InterfaceState::Up, t0);
        assert_eq!(s.phase, Phase::Error);
        assert_eq!(
            reason(&s, CONDITION_PREFIX_BOUND),
            (false, "SocketError".into())
        );
        p.set_fault(None);
        assert_eq!(p.update(None, InterfaceState::Up, t0).phase, Phase::Pending);
    }

    fn client(remembered: Option<Lease>, now: crate::client::Now) -> Client {
        let config = crate::client::ClientConfig {
            name: "wan-pd".into(),
            duid: vec![0, 3, 0, 1, 2, 0, 0, 0, 0, 1],
            iaid: 7,
            ifname: "eth0".into(),
            prefix_length_hint: Some(56),
            rapid_commit: false,
            request_options: vec![23],
            initial_delay: false,
        };
        Client::new(
            config,
            Box::new(routerd_sansio::Sequence::new(vec![0])),
            remembered,
            now,
        )
    }

    fn lease(acquired_at: Timestamp) -> Lease {
        Lease {
            duid: vec![0, 3, 0, 1, 2, 0, 0, 0, 0, 1],
            iaid: 7,
            ifname: "eth0".into(),
            server_duid: vec![0, 2, 0, 0, 9, 0xbf, 1],
            server_address: "fe80::1".parse().unwrap(),
            server_unicast: None,
            prefix: crate::lease::DelegatedPrefix {
                prefix: "2001:db8:1200::".parse().unwrap(),
                length: 56,
                preferred_lifetime: 3000,
                valid_lifetime: 4000,
            },
            t1_seconds: 1000,
            t2_seconds: 2000,
            acquired_at,
        }
    }

    #[test]
    fn a_held_prefix_is_bound_with_the_lease_routerd_installs_from() {
        let now = crate::client::Now::system();
        let mut c = client(Some(lease(now.wall)), now);
        c.restore(
            vec![crate::lease::PreviousPrefix {
                prefix: crate::lease::DelegatedPrefix {
                    prefix: "2001:db8:3400::".parse().unwrap(),
                    length: 56,
                    preferred_lifetime: 0,
                    valid_lifetime: 600,
                },
                valid_until: now.wall.saturating_add(std::time::Duration::from_secs(600)),
            }],
            Some(Information {
                dns_servers: vec!["2001:db8:ffff::53".parse().unwrap()],
                domain_search: vec!["isp.test".into()],
                sntp_servers: vec![],
                aftr_name: Some("aftr.isp.test".into()),
            }),
            now,
        );
        let mut p = StatusProjection::new("wan-pd", "eth0", now.wall);
        let s = p.update(Some(&c), InterfaceState::Up, now.wall);
        assert_eq!(s.phase, Phase::Bound);
        assert_eq!(reason(&s, CONDITION_PREFIX_BOUND), (true, "Bound".into()));
        assert_eq!(
            reason(&s, CONDITION_INFORMATION_RECEIVED),
            (true, "Received".into())
        );
        let o = serde_json::Value::Object(s.observed.clone());
        let status: DHCPv6PrefixDelegationStatus = serde_json::from_value(o.clone()).unwrap();
        let l = status.lease.unwrap();
        assert_eq!(l.prefix.as_deref(), Some("2001:db8:1200::/56"));
        assert_eq!(l.preferred_lifetime_seconds, Some(3000));
        assert_eq!(l.valid_lifetime_seconds, Some(4000));
        assert_eq!((l.t1_seconds, l.t2_seconds), (Some(1000), Some(2000)));
        assert_eq!(l.server_duid.as_deref(), Some("0002000009bf01"));
        assert_eq!(l.acquired_at, Some(now.wall));
        let secs = |d| now.wall.saturating_add(std::time::Duration::from_secs(d));
        assert_eq!(l.renew_at, Some(secs(1000)));
        assert_eq!(l.rebind_at, Some(secs(2000)));
        assert_eq!(l.expires_at, Some(secs(4000)));
        assert_eq!(l.state.as_deref(), Some("Bound"));
        assert_eq!(status.previous_prefixes.len(), 1);
        assert_eq!(status.previous_prefixes[0].prefix, "2001:db8:3400::/56");
        assert_eq!(status.dns_servers, ["2001:db8:ffff::53"]);
        assert_eq!(status.domain_search, ["isp.test"]);
        assert_eq!(status.aftr_name.as_deref(), Some("aftr.isp.test"));
        // The wire names the controllers read.
        assert!(o["lease"]["serverDUID"].is_string());
        assert!(o["previousPrefixes"][0]["validUntil"].is_string());

        // Without carrier the prefix is still held: Bound, reason LinkDown.
        let s = p.update(Some(&c), InterfaceState::NoCarrier, now.wall);
        assert_eq!(s.phase, Phase::Bound);
        assert_eq!(
            reason(&s, CONDITION_PREFIX_BOUND),
            (true, "LinkDown".into())
        );
    }

    #[test]
    fn without_a_prefix_the_reason_says_what_is_missing() {
        let now = crate::client::Now::system();
        let c = client(None, now);
        let mut p = StatusProjection::new("wan-pd", "eth0", now.wall);
        for (interface, expected) in [
            (InterfaceState::Up, "Soliciting"),
            (InterfaceState::NoCarrier, "LinkDown"),
            (InterfaceState::NoLinkLocal, "NoLinkLocal"),
            (InterfaceState::WaitingForDad, "WaitingForDAD"),
        ] {
            let s = p.update(Some(&c), interface, now.wall);
            assert_eq!(s.phase, Phase::Pending, "{interface:?}");
            assert_eq!(
                reason(&s, CONDITION_PREFIX_BOUND),
                (false, expected.to_string())
            );
        }
        // An expired remembered lease is no lease.
        let old = lease(
            now.wall
                .saturating_sub(std::time::Duration::from_secs(5000)),
        );
        let c = client(Some(old), now);
        assert_eq!(
            p.update(Some(&c), InterfaceState::Up, now.wall).phase,
            Phase::Pending
        );
    }

    #[test]
    fn observed_without_a_prefix_has_the_state_and_typed_lists() {
        let o = serde_json::to_value(observe(None)).unwrap();
        assert_eq!(o["lease"]["state"], "Soliciting");
        assert!(o["lease"]["prefix"].is_null());
        assert_eq!(o["previousPrefixes"], serde_json::json!([]));
        assert_eq!(o["dnsServers"], serde_json::json!([]));
        assert!(o["aftrName"].is_null());
    }
}
