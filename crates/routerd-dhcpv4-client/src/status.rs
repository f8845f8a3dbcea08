//! The daemon's view of its `DHCPv4Client`: phase, the `LeaseBound` condition and `observed`, which is
//! the `lease` object of `DHCPv4ClientStatus` (`resources.md`) plus `classlessRoutes`, so routerd's
//! controller installs the address and routes from it without another lookup.
//!
//! Phases: `Bound` while a lease is held (also while renewing, rebinding, or confirming a remembered
//! lease after a restart — the address stays in use throughout), `Pending` while there is none, `Error`
//! when the interface is missing or servers keep refusing (`REPEATED_NAK` NAKs in a row).

use crate::client::{Client, Halt, Loss, State, REPEATED_NAK};
use crate::events::RESOURCE_KIND;
use crate::lease::Lease;
use routerd_api::daemon::DaemonResourceStatus;
use routerd_api::status::DHCPv4Lease;
use routerd_api::{Condition, Phase, Timestamp};
use routerd_sansio::StatusTracker;
use serde::{Deserialize, Serialize};

/// Condition type the daemon reports (`AddressApplied` and `DefaultRouteInstalled` are routerd's).
pub const CONDITION_LEASE_BOUND: &str = "LeaseBound";

/// One classless static route as `observed` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteObservation {
    /// `a.b.c.d/len`.
    pub destination: String,
    /// `0.0.0.0` for an on-link route.
    pub gateway: String,
}

/// `observed` of the daemon's resource status.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseObservation {
    #[serde(flatten)]
    pub lease: DHCPv4Lease,
    /// Option 121 (RFC 3442); when present, option 3 was ignored and `gateway` is its default route.
    #[serde(default)]
    pub classless_routes: Vec<RouteObservation>,
}

impl LeaseObservation {
    /// What `client` holds (or is doing, when it holds nothing).
    pub fn of(client: Option<&Client>) -> LeaseObservation {
        let state = client.map_or(State::Init, Client::state);
        match client.and_then(Client::lease) {
            Some(lease) => LeaseObservation::of_lease(lease, state),
            None => LeaseObservation {
                lease: DHCPv4Lease {
                    state: Some(state.as_str().to_string()),
                    ..DHCPv4Lease::default()
                },
                classless_routes: Vec::new(),
            },
        }
    }

    /// A held lease in `state`.
    pub fn of_lease(lease: &Lease, state: State) -> LeaseObservation {
        let strings = |v: &[std::net::Ipv4Addr]| v.iter().map(|a| a.to_string()).collect();
        LeaseObservation {
            lease: DHCPv4Lease {
                address: Some(lease.address.to_string()),
                prefix_length: Some(lease.prefix_length),
                gateway: lease.gateway().map(|g| g.to_string()),
                server_id: Some(lease.server_id.to_string()),
                dns_servers: strings(&lease.dns_servers),
                ntp_servers: strings(&lease.ntp_servers),
                domain: lease.domain.clone(),
                mtu: lease.mtu,
                lease_time_seconds: Some(lease.lease_time_seconds),
                acquired_at: Some(lease.acquired_at),
                renew_at: lease.renew_at(),
                rebind_at: lease.rebind_at(),
                expires_at: lease.expires_at(),
                state: Some(state.as_str().to_string()),
            },
            classless_routes: lease
                .classless_routes
                .iter()
                .flatten()
                .map(|r| RouteObservation {
                    destination: r.cidr(),
                    gateway: r.gateway.to_string(),
                })
                .collect(),
        }
    }
}

/// The interface as the daemon last saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterfaceState {
    /// No link of that name.
    Missing,
    /// The link exists but has no carrier.
    NoCarrier,
    Up,
}

/// Phase, `since` and conditions across updates, so transition times say when a fact became true.
#[derive(Debug, Clone)]
pub struct StatusProjection {
    tracker: StatusTracker,
    ifname: String,
    fault: Option<String>,
}

impl StatusProjection {
    pub fn new(name: &str, ifname: &str, now: Timestamp) -> StatusProjection {
        StatusProjection {
            tracker: StatusTracker::new(RESOURCE_KIND, name, now),
            ifname: ifname.to_string(),
            fault: None,
        }
    }

    /// A failure that stops the daemon from working at all (a socket it cannot open): phase `Error`
    /// with reason `SocketError` until cleared with `None`.
    pub fn set_fault(&mut self, fault: Option<String>) {
        self.fault = fault;
    }

    pub fn phase(&self) -> Phase {
        self.tracker.phase()
    }

    /// The resource status for the current `client` (`None` before the interface was first seen).
    pub fn update(
        &mut self,
        client: Option<&Client>,
        interface: InterfaceState,
        now: Timestamp,
    ) -> DaemonResourceStatus {
        let (phase, condition) = self.assess(client, interface);
        self.tracker
            .update(phase, vec![condition], &LeaseObservation::of(client), now)
    }

    fn assess(&self, client: Option<&Client>, interface: InterfaceState) -> (Phase, Condition) {
        let ifname = &self.ifname;
        let c = |status: bool, reason: &str, message: String| {
            Condition::new(CONDITION_LEASE_BOUND, status, reason, message)
        };
        if let Some(fault) = &self.fault {
            return (Phase::Error, c(false, "SocketError", fault.clone()));
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
        if let Some(lease) = client.lease() {
            let state = client.state();
            let reason = match state {
                State::InitReboot => "LinkDown",
                s => s.as_str(),
            };
            let until = lease
                .expires_at()
                .map(|t| format!("until {t}"))
                .unwrap_or_else(|| "forever".into());
            return (
                Phase::Bound,
                c(
                    true,
                    reason,
                    format!(
                        "{}/{} from {} {until} ({state})",
                        lease.address, lease.prefix_length, lease.server_id
                    ),
                ),
            );
        }
        if client.consecutive_naks() >= REPEATED_NAK {
            return (
                Phase::Error,
                c(
                    false,
                    "RepeatedNak",
                    format!(
                        "{} DHCPNAKs in a row; retrying with backoff",
                        client.consecutive_naks()
                    ),
                ),
            );
        }
        let (reason, message) = if client.halted() == Some(Halt::Released) {
            (
                "Released",
                "lease released; `renew` acquires a new one".to_string(),
            )
        } else if client.halted() == Some(Halt::Stopped) {
            ("Stopped", "the daemon is stopping".to_string())
        } else if interface == InterfaceState::NoCarrier || !client.link_up() {
            ("LinkDown", format!("{ifname} has no carrier"))
        } else if let Some(a) = client.probing() {
            (
                "ProbingAddress",
                format!("checking that {a} is not in use (RFC 5227)"),
            )
        } else {
            let state = client.state();
            match client.last_loss() {
                Some(Loss::Expired) => ("Expired", format!("the lease expired; {state}")),
                Some(Loss::Nak) => ("Nak", format!("a server refused the lease; {state}")),
                Some(Loss::Declined) => (
                    "AddressConflict",
                    format!("the offered address was in use and was declined; {state}"),
                ),
                Some(Loss::Released) | None => ("Acquiring", format!("no lease yet; {state}")),
            }
        };
        (Phase::Pending, c(false, reason, message))
    }
}
