//! The bus: publish persists first and only then wakes subscribers. Subscribers never receive events
//! pushed at them (which a slow one could block); they are told the newest committed cursor through a
//! `watch` channel and read from the store by cursor, so a subscriber that falls behind loses nothing and
//! never holds up the publisher.

use routerd_api::event::{Event, NewEvent};
use routerd_store::{EventFilter, EventStore, Page, StoreError};
use std::path::Path;
use std::time::Duration;
use tokio::sync::{oneshot, watch};

#[derive(Clone)]
pub struct EventBus {
    store: EventStore,
    committed: watch::Receiver<u64>,
}

impl EventBus {
    pub fn open(path: &Path) -> Result<EventBus, StoreError> {
        let (tx, rx) = watch::channel(0u64);
        let store = EventStore::open(
            path,
            4,
            Box::new(move |cursor| {
                tx.send_replace(cursor);
            }),
        )?;
        Ok(EventBus {
            store,
            committed: rx,
        })
    }

    pub fn store(&self) -> &EventStore {
        &self.store
    }

    /// Persists an event and returns its cursor once committed.
    pub async fn publish(&self, event: NewEvent) -> Result<u64, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.store.append(
            event,
            Some(Box::new(move |r| {
                let _ = tx.send(r);
            })),
        )?;
        match rx.await {
            Ok(Ok(cursor)) => Ok(cursor),
            Ok(Err(e)) => Err(StoreError::Corrupt(e)),
            Err(_) => Err(StoreError::WriterStopped),
        }
    }

    /// Stores events read from a daemon together with the poller's cursor, in one transaction, and
    /// returns the last stored cursor (0 when `events` is empty).
    pub async fn import(
        &self,
        events: Vec<NewEvent>,
        key: &str,
        cursor: &str,
    ) -> Result<u64, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.store.import(
            events,
            key,
            cursor,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        )?;
        match rx.await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(StoreError::Corrupt(e)),
            Err(_) => Err(StoreError::WriterStopped),
        }
    }

    /// A consumer cursor stored by [`EventBus::import`].
    pub fn consumer_cursor(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.store.meta(key)
    }

    /// Queues an event without waiting for the commit (for hot paths that do not need the cursor).
    pub fn publish_nowait(&self, event: NewEvent) {
        if let Err(e) = self.store.append(event, None) {
            tracing::warn!(error = %e, "event dropped: store closed");
        }
    }

    /// A receiver of the newest committed cursor.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.committed.clone()
    }

    pub fn query(&self, filter: &EventFilter) -> Result<Vec<Event>, StoreError> {
        self.store.query(filter)
    }

    /// [`EventBus::query`] on the blocking pool, so a slow scan never holds an async worker.
    pub async fn query_async(&self, filter: &EventFilter) -> Result<Vec<Event>, StoreError> {
        let store = self.store.clone();
        let filter = filter.clone();
        tokio::task::spawn_blocking(move || store.query(&filter))
            .await
            .map_err(|e| StoreError::Corrupt(format!("query task failed: {e}")))?
    }

    /// [`EventStore::query_skipping`] on the blocking pool: for consumers that must get past a row that
    /// does not decode (the EventRule engine).
    pub async fn query_skipping(&self, filter: &EventFilter) -> Result<Page, StoreError> {
        let store = self.store.clone();
        let filter = filter.clone();
        tokio::task::spawn_blocking(move || store.query_skipping(&filter))
            .await
            .map_err(|e| StoreError::Corrupt(format!("query task failed: {e}")))?
    }

    /// The highest committed cursor, read on the blocking pool.
    pub async fn last_cursor(&self) -> Result<u64, StoreError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.last_cursor())
            .await
            .map_err(|e| StoreError::Corrupt(format!("cursor task failed: {e}")))?
    }

    /// Long-poll: returns as soon as at least one event matches after `filter.since`, or empty when
    /// `wait` has passed or `stop` fires.
    pub async fn wait_for(
        &self,
        filter: &EventFilter,
        wait: Duration,
        stop: watch::Receiver<bool>,
    ) -> Result<Vec<Event>, StoreError> {
        long_poll(self.subscribe(), filter, wait, stop, |f| async move {
            self.query_async(&f).await
        })
        .await
    }

    /// Commits everything queued so far.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self
            .store
            .flush(Box::new(move || {
                let _ = tx.send(());
            }))
            .is_ok()
        {
            let _ = rx.await;
        }
    }

    pub fn close(&self) {
        self.store.close();
    }
}

/// The long-poll loop of [`EventBus::wait_for`], with the query passed in so a test can see which rows
/// each wake-up reads.
///
/// A wake-up reads only rows newer than those already scanned: when a query finds nothing, every row up
/// to the committed head it saw has been looked at, so the next query starts there instead of at the
/// client's `since`. Without that, a topic pattern that starts with a wildcard (which cannot narrow the
/// SQL scan) would rescan the whole table on every commit for as long as the poll waits.
async fn long_poll<Q, F>(
    mut committed: watch::Receiver<u64>,
    filter: &EventFilter,
    wait: Duration,
    mut stop: watch::Receiver<bool>,
    query: Q,
) -> Result<Vec<Event>, StoreError>
where
    Q: Fn(EventFilter) -> F,
    F: std::future::Future<Output = Result<Vec<Event>, StoreError>>,
{
    let deadline = tokio::time::Instant::now() + wait;
    let mut filter = filter.clone();
    loop {
        // Everything up to `head` is committed, so the query below sees all of it.
        let head = *committed.borrow_and_update();
        let found = query(filter.clone()).await?;
        if !found.is_empty() || wait.is_zero() {
            return Ok(found);
        }
        filter.since = filter.since.max(head);
        // Only the first query needs the expiry check; later ones start from what it already read.
        filter.strict_since = false;
        tokio::select! {
            changed = committed.changed() => if changed.is_err() { return Ok(Vec::new()) },
            _ = tokio::time::sleep_until(deadline) => return Ok(Vec::new()),
            _ = crate::shutdown::stopped(&mut stop) => return Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use routerd_api::topic::TopicPattern;
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn a_long_poll_wake_up_reads_only_rows_it_has_not_scanned() {
        let (head_tx, head_rx) = watch::channel(1000u64);
        let (_stop_tx, stop) = watch::channel(false);
        let filter = EventFilter {
            since: 0,
            strict_since: true,
            topics: vec![TopicPattern::parse("**.never").unwrap()],
            limit: 100,
            ..EventFilter::default()
        };
        let scanned_from = Arc::new(Mutex::new(Vec::new()));
        let poll = tokio::spawn({
            let scanned_from = scanned_from.clone();
            async move {
                long_poll(head_rx, &filter, Duration::from_secs(30), stop, |f| {
                    scanned_from.lock().unwrap().push(f.since);
                    async { Ok(Vec::new()) }
                })
                .await
            }
        });
        for head in [1001, 1002] {
            tokio::time::sleep(Duration::from_millis(50)).await;
            head_tx.send_replace(head);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(head_tx);
        assert!(poll.await.unwrap().unwrap().is_empty());
        assert_eq!(
            *scanned_from.lock().unwrap(),
            [0, 1000, 1001],
            "each wake-up starts after the rows the previous query already read"
        );
    }
}
