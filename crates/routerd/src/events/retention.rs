//! Enforces event retention in the background so the store never grows without bound.

use super::EventBus;
use routerd_store::RetentionPolicy;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{oneshot, watch};

/// How often retention runs; cheap when there is nothing to delete.
pub const RETENTION_INTERVAL: Duration = Duration::from_secs(60);

/// Runs retention every `RETENTION_INTERVAL` with the policy in force (LogRetention or the defaults).
pub async fn run(
    bus: EventBus,
    policy: Arc<RwLock<RetentionPolicy>>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let p = policy.read().map(|p| *p).unwrap_or_default();
        let (tx, rx) = oneshot::channel();
        if bus
            .store()
            .retain(
                p,
                Box::new(move |r| {
                    let _ = tx.send(r);
                }),
            )
            .is_err()
        {
            return;
        }
        let mut next = RETENTION_INTERVAL;
        match rx.await {
            Ok(Ok(n)) if n > 0 => {
                tracing::info!(removed = n, "event retention removed old events");
                if n >= routerd_store::event_store::RETENTION_CHUNK as u64 {
                    // A backlog: come back soon for the next slice.
                    next = Duration::from_secs(1);
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "event retention failed"),
            _ => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(next) => {}
            _ = crate::shutdown::stopped(&mut stop) => return,
        }
    }
}
