//! The query log, off the answer path. An answer hands over one [`LoggedAnswer`] (the answer's bytes
//! are shared, not copied) with `try_send` on a bounded channel: when the channel is full the row is
//! dropped and counted, and the answer goes out regardless. A formatter thread turns rows into
//! [`DnsQueryRecord`]s (decoding the answer only there) and hands batches to the store's writer thread,
//! which commits them to `dns-queries.db` in one transaction per batch.

use hickory_proto::op::Message;
use routerd_api::Timestamp;
use routerd_store::{DnsQueryLog, DnsQueryRecord, WriterCounters};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Rows waiting for the formatter before new ones are dropped.
pub const QUEUE: usize = 65_536;
/// Rows handed to the store at once at most.
const BATCH: usize = 4_096;
/// How long a row waits for its batch to fill at most.
const LINGER: Duration = Duration::from_millis(200);

/// One answered query as the answer path leaves it.
pub struct LoggedAnswer {
    pub time: Timestamp,
    pub client: IpAddr,
    /// The answer as stored or received (its ID and TTLs may differ from what the client got).
    pub response: Arc<[u8]>,
    pub upstream: Option<Arc<str>>,
    pub cache_hit: bool,
    pub duration_micros: u32,
}

/// The answer path's end of the log.
pub struct LogSink {
    sender: Option<SyncSender<LoggedAnswer>>,
    enabled: AtomicBool,
    /// Rows dropped because the channel was full.
    pub dropped: AtomicU64,
    store: Option<Arc<DnsQueryLog>>,
}

impl LogSink {
    /// A sink that logs nothing (no store could be opened).
    pub fn disabled() -> LogSink {
        LogSink {
            sender: None,
            enabled: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            store: None,
        }
    }

    pub fn set_enabled(&self, enabled: bool) {
        self.enabled
            .store(enabled && self.sender.is_some(), Ordering::Relaxed);
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Hands a row over without waiting; a full channel drops it (counted).
    pub fn record(&self, row: LoggedAnswer) {
        if !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        if let Some(sender) = &self.sender {
            if let Err(TrySendError::Full(_)) = sender.try_send(row) {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn store(&self) -> Option<&Arc<DnsQueryLog>> {
        self.store.as_ref()
    }

    /// Rows committed, and rows dropped (channel full, or the store's queue full or its batch failed).
    pub fn counts(&self) -> (u64, u64) {
        let dropped = self.dropped.load(Ordering::Relaxed);
        match &self.store {
            Some(store) => {
                let c: Arc<WriterCounters> = store.counters();
                (
                    c.written.load(Ordering::Relaxed),
                    dropped + c.dropped.load(Ordering::Relaxed) + c.failed.load(Ordering::Relaxed),
                )
            }
            None => (0, dropped),
        }
    }

    /// Closes the channel: the formatter hands over what is queued and the store commits it.
    pub fn close(&mut self) {
        self.sender.take();
    }
}

/// Opens the store and starts the formatter thread. Returns the sink and the thread (joined at
/// shutdown, after the sink is closed).
pub fn start(store: DnsQueryLog, enabled: bool) -> std::io::Result<(LogSink, JoinHandle<()>)> {
    let store = Arc::new(store);
    let (sender, receiver) = mpsc::sync_channel(QUEUE);
    let thread_store = store.clone();
    let thread = std::thread::Builder::new()
        .name("dns-query-log".into())
        .spawn(move || format_loop(receiver, &thread_store))?;
    Ok((
        LogSink {
            sender: Some(sender),
            enabled: AtomicBool::new(enabled),
            dropped: AtomicU64::new(0),
            store: Some(store),
        },
        thread,
    ))
}

/// Rows handed to the store but not committed yet before the formatter waits for the store: the wait
/// fills the channel, and the answer path then drops rows instead of memory growing.
const MAX_OUTSTANDING: u64 = 4 * BATCH as u64;

fn format_loop(receiver: Receiver<LoggedAnswer>, store: &DnsQueryLog) {
    let mut batch = Vec::with_capacity(BATCH);
    let counters = store.counters();
    let mut submitted: u64 = 0;
    while let Ok(first) = receiver.recv() {
        batch.push(record_of(first));
        let deadline = std::time::Instant::now() + LINGER;
        let mut closed = false;
        while batch.len() < BATCH {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match receiver.recv_timeout(left) {
                Ok(row) => batch.push(record_of(row)),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        let rows = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
        submitted += rows.len() as u64;
        if let Err(e) = store.submit(rows) {
            tracing::warn!(error = %e, "query log rows not stored");
        }
        let settled = counters.written.load(Ordering::Relaxed)
            + counters.dropped.load(Ordering::Relaxed)
            + counters.failed.load(Ordering::Relaxed);
        if submitted.saturating_sub(settled) > MAX_OUTSTANDING {
            if let Err(e) = store.flush() {
                tracing::warn!(error = %e, "query log writer gone");
            }
        }
        if closed {
            break;
        }
    }
    if let Err(e) = store.flush() {
        tracing::warn!(error = %e, "query log not flushed");
    }
}

/// Mnemonic of an rcode.
pub fn rcode_name(rcode: u8) -> String {
    match rcode {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        n => format!("RCODE{n}"),
    }
}

fn record_of(row: LoggedAnswer) -> DnsQueryRecord {
    let rcode = row.response.get(3).map_or(0, |b| b & 0x0F);
    let (name, qtype, answers) = match Message::from_vec(&row.response) {
        Ok(m) => {
            let (name, qtype) = m.queries.first().map_or_else(
                || (".".to_string(), "NONE".to_string()),
                |q| (q.name().to_string(), q.query_type().to_string()),
            );
            (
                name,
                qtype,
                m.answers.iter().map(|r| r.to_string()).collect(),
            )
        }
        Err(_) => (".".to_string(), "NONE".to_string(), Vec::new()),
    };
    DnsQueryRecord {
        time: row.time,
        client: row.client,
        name,
        qtype,
        rcode: rcode_name(rcode),
        answers,
        upstream: row.upstream.map(|u| u.to_string()),
        cache_hit: row.cache_hit,
        duration_micros: u64::from(row.duration_micros),
    }
}
