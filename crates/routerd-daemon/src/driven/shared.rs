//! What the driver task shares with the API side: the last status it published and when it last went
//! round its loop (for `/v1/healthz`).

use routerd_api::daemon::DaemonResourceStatus;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// The loop wakes at least this often, so `/v1/healthz` can tell a wedged loop from an idle one.
pub const HEARTBEAT: Duration = Duration::from_secs(30);

/// The status snapshot and the heartbeat. Locks are held only to copy a value in or out, so a panic
/// while holding one cannot leave a half-written value: a poisoned lock is used as is.
pub struct SharedStatus {
    status: Mutex<DaemonResourceStatus>,
    heartbeat: Mutex<tokio::time::Instant>,
}

impl SharedStatus {
    pub fn new(status: DaemonResourceStatus) -> SharedStatus {
        SharedStatus {
            status: Mutex::new(status),
            heartbeat: Mutex::new(tokio::time::Instant::now()),
        }
    }

    /// The status the loop last published.
    pub fn status(&self) -> DaemonResourceStatus {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Time since the loop last went round.
    pub fn since_heartbeat(&self) -> Duration {
        self.heartbeat
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .elapsed()
    }

    /// Called by the loop each time it goes round.
    pub fn beat(&self) {
        *self
            .heartbeat
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = tokio::time::Instant::now();
    }

    /// Replaces the snapshot the API side answers with.
    pub fn set_status(&self, s: DaemonResourceStatus) {
        *self.status.lock().unwrap_or_else(PoisonError::into_inner) = s;
    }
}
