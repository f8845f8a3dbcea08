//! The stop signal every task listens to: a `watch<bool>` that flips to true once. The daemon's own code
//! may request a stop (a fatal condition), and the kit raises it on `stop` and SIGTERM/SIGINT so the
//! daemon's tasks wind down.

use tokio::sync::watch;

/// Clone-able; every clone shares one flag.
#[derive(Debug, Clone)]
pub struct StopHandle {
    tx: watch::Sender<bool>,
}

impl Default for StopHandle {
    fn default() -> Self {
        StopHandle::new()
    }
}

impl StopHandle {
    pub fn new() -> Self {
        let (tx, _) = watch::channel(false);
        StopHandle { tx }
    }

    /// Asks everything to stop; further requests are no-ops.
    pub fn request(&self) {
        self.tx.send_replace(true);
    }

    /// Resolves once a stop has been requested (at once if it already was).
    pub async fn stopped(&self) {
        let mut rx = self.tx.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = rx.wait_for(|stopped| *stopped).await;
    }

    pub fn is_stopped(&self) -> bool {
        *self.tx.borrow()
    }

    /// A receiver for `select!` loops that prefer to hold their own.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn request_wakes_every_clone() {
        let stop = StopHandle::new();
        let other = stop.clone();
        assert!(!other.is_stopped());
        let waiter = tokio::spawn(async move { other.stopped().await });
        stop.request();
        waiter.await.unwrap();
        assert!(stop.is_stopped());
        assert!(*stop.subscribe().borrow());
        stop.stopped().await; // already stopped: returns at once
    }
}
