//! The daemon's view of its `DHCPv4Server` (`daemon-api.md`): `observed.leases`, `poolSize`, `free`,
//! `active`, `lastLeaseAt`. Phase `Applied` while serving, `Error` when the socket cannot be opened or
//! the interface is missing.

use crate::events::RESOURCE_KIND;
use crate::lease::Lease;
use crate::server::Server;
use routerd_api::daemon::DaemonResourceStatus;
use routerd_api::{Condition, Phase, Timestamp};
use routerd_sansio::StatusTracker;
use serde::{Deserialize, Serialize};

pub const CONDITION_SERVING: &str = "Serving";

/// `observed` of the daemon's resource status.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerObservation {
    pub pool_size: u64,
    pub free: u64,
    pub active: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_lease_at: Option<Timestamp>,
    #[serde(default)]
    pub leases: Vec<Lease>,
}

impl ServerObservation {
    pub fn of(server: &Server, now: Timestamp) -> ServerObservation {
        let c = server.counts(now);
        ServerObservation {
            pool_size: c.pool_size,
            free: c.free,
            active: c.active,
            last_lease_at: server.last_lease_at(),
            leases: server.leases().into_iter().cloned().collect(),
        }
    }
}

pub struct StatusProjection {
    tracker: StatusTracker,
}

impl StatusProjection {
    pub fn new(name: &str, now: Timestamp) -> StatusProjection {
        StatusProjection {
            tracker: StatusTracker::new(RESOURCE_KIND, name, now),
        }
    }

    /// `fault`: why the daemon cannot serve (no interface, no socket); `None` while serving.
    pub fn update(
        &mut self,
        server: Option<&Server>,
        fault: Option<&str>,
        now: Timestamp,
    ) -> DaemonResourceStatus {
        let observed = server
            .map(|s| ServerObservation::of(s, now))
            .unwrap_or_default();
        let (phase, condition) = match (fault, server) {
            (Some(f), _) => (
                Phase::Error,
                Condition::new(CONDITION_SERVING, false, "NotServing", f.to_string()),
            ),
            (None, Some(s)) => (
                Phase::Applied,
                Condition::new(
                    CONDITION_SERVING,
                    true,
                    "Serving",
                    format!(
                        "{}-{}: {} bound, {} free",
                        s.config().pool_start,
                        s.config().pool_end,
                        observed.active,
                        observed.free
                    ),
                ),
            ),
            (None, None) => (
                Phase::Pending,
                Condition::new(CONDITION_SERVING, false, "Starting", "starting".to_string()),
            ),
        };
        self.tracker.update(phase, vec![condition], &observed, now)
    }
}
