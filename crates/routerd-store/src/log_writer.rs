//! The log stores (`traffic-flows.db`, `firewall-logs.db`, `dns-queries.db`) are one [`LogStore`] each,
//! differing only in their [`LogTable`]: one thread per store owns the only write connection, commits whatever the collectors queued in one transaction (a burst costs
//! one commit), and enforces retention in small slices between batches so a prune of a million rows
//! never holds the collectors back for more than one slice.

use crate::event_store::RetentionPolicy;
use crate::StoreError;
use routerd_api::Timestamp;
use rusqlite::{Connection, OpenFlags, Transaction};
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Rows deleted per retention slice: a few milliseconds of work with the indexes of a log table, so a
/// write waits at most that long behind retention.
pub const RETENTION_SLICE: i64 = 2_000;
/// Batches a writer commits together at most.
const MAX_BATCHES_PER_COMMIT: usize = 256;
/// Queued batches before a submit is refused (and counted as dropped): bounds memory when the disk is
/// slower than the kernel for a long time.
pub const QUEUE_BATCHES: usize = 16_384;

/// One log table: its schema and how a batch of writes is applied. Implemented only by this crate's
/// tables; public because [`LogStore`] names it.
pub trait LogTable: Send + 'static {
    /// What a collector submits.
    type Write: Send + 'static;
    /// Table name (retention deletes from it by `id`).
    const TABLE: &'static str;
    /// Name of the writer thread (seen in `top -H` and in panics).
    const WRITER_THREAD: &'static str;
    /// `CREATE TABLE/INDEX IF NOT EXISTS` statements.
    const SCHEMA: &'static str;
    /// Condition on rows too old to keep, with the cutoff (ns since the epoch) bound as `?1`.
    const AGE_CONDITION: &'static str;
    /// Applies `writes` inside `tx`.
    fn apply(tx: &Transaction<'_>, writes: Vec<Self::Write>) -> rusqlite::Result<()>;
    /// How many rows `write` adds at most (for the `rows written` counter).
    fn rows(write: &Self::Write) -> u64;
}

/// Counters of one log store, shown in the status of the resource that feeds it.
#[derive(Debug, Default)]
pub struct WriterCounters {
    /// Writes committed.
    pub written: AtomicU64,
    /// Writes refused because the queue was full (the disk fell behind the kernel).
    pub dropped: AtomicU64,
    /// Writes lost because their transaction failed.
    pub failed: AtomicU64,
    /// Rows removed by retention.
    pub pruned: AtomicU64,
}

enum Message<W> {
    Writes(Vec<W>),
    Retain(RetentionPolicy),
    Flush(mpsc::Sender<()>),
}

struct LogWriter<T: LogTable> {
    sender: Mutex<Option<mpsc::SyncSender<Message<T::Write>>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    pub counters: Arc<WriterCounters>,
}

/// Opens a log database with the pragmas of `db::open` and the table's schema.
fn open_connection<T: LogTable>(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(T::SCHEMA)?;
    Ok(conn)
}

impl<T: LogTable> LogWriter<T> {
    fn start(path: &Path, name: &str) -> Result<LogWriter<T>, StoreError> {
        let conn = open_connection::<T>(path)?;
        let counters = Arc::new(WriterCounters::default());
        let (sender, receiver) = mpsc::sync_channel(QUEUE_BATCHES);
        let thread_counters = counters.clone();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || writer_loop::<T>(conn, receiver, &thread_counters))
            .map_err(|e| StoreError::Corrupt(format!("cannot start the {name} thread: {e}")))?;
        Ok(LogWriter {
            sender: Mutex::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
            counters,
        })
    }

    fn send(&self, message: Message<T::Write>) -> Result<(), mpsc::TrySendError<()>> {
        let guard = self
            .sender
            .lock()
            .map_err(|_| mpsc::TrySendError::Disconnected(()))?;
        let Some(sender) = guard.as_ref() else {
            return Err(mpsc::TrySendError::Disconnected(()));
        };
        sender.try_send(message).map_err(|e| match e {
            mpsc::TrySendError::Full(_) => mpsc::TrySendError::Full(()),
            mpsc::TrySendError::Disconnected(_) => mpsc::TrySendError::Disconnected(()),
        })
    }

    /// Queues `writes` without blocking. A full queue drops them and counts them in `dropped`.
    fn submit(&self, writes: Vec<T::Write>) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        let rows: u64 = writes.iter().map(T::rows).sum();
        match self.send(Message::Writes(writes)) {
            Ok(()) => Ok(()),
            Err(mpsc::TrySendError::Full(())) => {
                self.counters.dropped.fetch_add(rows, Ordering::Relaxed);
                Err(StoreError::WriteFailed(format!(
                    "{} queue full: {rows} rows dropped",
                    T::TABLE
                )))
            }
            Err(mpsc::TrySendError::Disconnected(())) => Err(StoreError::WriterStopped),
        }
    }

    /// Asks the writer to enforce `policy`; it does so in slices between write batches.
    fn retain(&self, policy: RetentionPolicy) -> Result<(), StoreError> {
        self.send(Message::Retain(policy))
            .map_err(|_| StoreError::WriteFailed("retention request not queued".into()))
    }

    /// Blocks until everything queued before the call is committed (tests, shutdown, benchmarks).
    fn flush(&self) -> Result<(), StoreError> {
        let (done, wait) = mpsc::channel();
        let sender = self
            .sender
            .lock()
            .map_err(|_| StoreError::WriterStopped)?
            .clone()
            .ok_or(StoreError::WriterStopped)?;
        sender
            .send(Message::Flush(done))
            .map_err(|_| StoreError::WriterStopped)?;
        wait.recv().map_err(|_| StoreError::WriterStopped)
    }

    /// Commits what is queued and joins the thread.
    fn close(&self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        if let Some(thread) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = thread.join();
        }
    }
}

impl<T: LogTable> Drop for LogWriter<T> {
    fn drop(&mut self) {
        self.close();
    }
}

/// A log store: the writer thread and one reader connection. `FlowLog`, `FirewallLog` and `DnsQueryLog`
/// are this with their table; their queries live on [`LogReader`].
pub struct LogStore<T: LogTable> {
    writer: LogWriter<T>,
    reader: LogReader<T>,
}

impl<T: LogTable> LogStore<T> {
    /// Opens (creating) `path` and starts its writer thread.
    pub fn open(path: &Path) -> Result<LogStore<T>, StoreError> {
        let writer = LogWriter::start(path, T::WRITER_THREAD)?;
        let reader = LogReader::new(open_connection::<T>(path)?);
        Ok(LogStore { writer, reader })
    }

    /// Queues writes without blocking; a full queue drops them (counted in [`LogStore::counters`]).
    pub fn submit(&self, writes: Vec<T::Write>) -> Result<(), StoreError> {
        self.writer.submit(writes)
    }

    /// Enforces `policy` (age, then row count) in slices between write batches.
    pub fn retain(&self, policy: RetentionPolicy) -> Result<(), StoreError> {
        self.writer.retain(policy)
    }

    /// Waits until everything queued so far is committed.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.writer.flush()
    }

    /// Commits what is queued and stops the writer thread.
    pub fn close(&self) {
        self.writer.close()
    }

    pub fn counters(&self) -> Arc<WriterCounters> {
        self.writer.counters.clone()
    }

    pub fn reader(&self) -> &LogReader<T> {
        &self.reader
    }

    /// Rows stored.
    pub fn count(&self) -> Result<u64, StoreError> {
        self.reader.count()
    }
}

/// A read connection to a log store: the store's own, or one opened read-only by another process
/// (routerd reads a resolver's `dns-queries.db` this way and never writes it).
pub struct LogReader<T: LogTable> {
    conn: Mutex<Connection>,
    table: std::marker::PhantomData<fn() -> T>,
}

impl<T: LogTable> LogReader<T> {
    fn new(conn: Connection) -> LogReader<T> {
        LogReader {
            conn: Mutex::new(conn),
            table: std::marker::PhantomData,
        }
    }

    /// Opens `path` read-only.
    pub fn open_read_only(path: &Path) -> Result<LogReader<T>, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        Ok(LogReader::new(conn))
    }

    pub(crate) fn connection(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StoreError> {
        self.conn
            .lock()
            .map_err(|_| StoreError::Corrupt("reader lock poisoned".into()))
    }

    /// Rows stored.
    pub fn count(&self) -> Result<u64, StoreError> {
        let conn = self.connection()?;
        let sql = format!("SELECT COUNT(*) FROM {}", T::TABLE);
        Ok(conn.query_row(&sql, [], |r| r.get::<_, i64>(0))?.max(0) as u64)
    }
}

/// Retention work left over from the last request.
#[derive(Default)]
struct PendingRetention {
    /// Delete rows matching the age condition with this cutoff.
    age_cutoff: Option<i64>,
    /// Oldest rows still to delete to get under `maxRows`.
    excess_rows: i64,
}

fn writer_loop<T: LogTable>(
    mut conn: Connection,
    receiver: mpsc::Receiver<Message<T::Write>>,
    counters: &WriterCounters,
) {
    let mut pending = PendingRetention::default();
    loop {
        let idle_wait = if pending.age_cutoff.is_some() || pending.excess_rows > 0 {
            Duration::ZERO
        } else {
            Duration::from_secs(3600)
        };
        let first = match receiver.recv_timeout(idle_wait) {
            Ok(message) => Some(message),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        let mut writes = Vec::new();
        let mut flushes = Vec::new();
        let mut next = first;
        let mut batches = 0;
        let mut requested = None;
        while let Some(message) = next {
            match message {
                Message::Writes(w) => {
                    if writes.is_empty() {
                        writes = w;
                    } else {
                        writes.extend(w);
                    }
                }
                // Planned after this commit, so it counts the rows queued before the request.
                Message::Retain(policy) => requested = Some(policy),
                Message::Flush(done) => flushes.push(done),
            }
            batches += 1;
            next = if batches < MAX_BATCHES_PER_COMMIT {
                receiver.try_recv().ok()
            } else {
                None
            };
        }
        if !writes.is_empty() {
            let rows: u64 = writes.iter().map(T::rows).sum();
            let outcome = conn.transaction().and_then(|tx| {
                T::apply(&tx, writes)?;
                tx.commit()
            });
            match outcome {
                Ok(()) => counters.written.fetch_add(rows, Ordering::Relaxed),
                Err(e) => {
                    tracing::error!(table = T::TABLE, error = %e, rows, "log batch not stored");
                    counters.failed.fetch_add(rows, Ordering::Relaxed)
                }
            };
        }
        if let Some(policy) = requested {
            match plan_retention::<T>(&conn, policy) {
                Ok(plan) => pending = plan,
                Err(e) => tracing::warn!(table = T::TABLE, error = %e, "retention not planned"),
            }
        }
        match retention_slice::<T>(&mut conn, &mut pending) {
            Ok(removed) => {
                counters.pruned.fetch_add(removed, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::warn!(table = T::TABLE, error = %e, "retention slice failed");
                pending = PendingRetention::default();
            }
        }
        // Answered after this round's retention slice, so a flush observes a whole round: the
        // batch committed and one slice of any retention it asked for (a caller that wants the
        // whole prune flushes until it sees it; each flush advances it by one slice).
        for done in flushes {
            let _ = done.send(());
        }
    }
}

fn plan_retention<T: LogTable>(
    conn: &Connection,
    policy: RetentionPolicy,
) -> rusqlite::Result<PendingRetention> {
    let cutoff = Timestamp::now().saturating_sub(policy.max_age).nanos();
    let rows: i64 = conn.query_row(&format!("SELECT COUNT(*) FROM {}", T::TABLE), [], |r| {
        r.get(0)
    })?;
    let max_rows = i64::try_from(policy.max_rows).unwrap_or(i64::MAX);
    Ok(PendingRetention {
        age_cutoff: Some(cutoff),
        excess_rows: (rows - max_rows).max(0),
    })
}

/// Deletes at most [`RETENTION_SLICE`] rows: first by age, then the oldest rows over `maxRows`.
fn retention_slice<T: LogTable>(
    conn: &mut Connection,
    pending: &mut PendingRetention,
) -> rusqlite::Result<u64> {
    if let Some(cutoff) = pending.age_cutoff {
        let removed = conn.execute(
            &format!(
                "DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE {age} ORDER BY id LIMIT {RETENTION_SLICE})",
                table = T::TABLE,
                age = T::AGE_CONDITION
            ),
            [cutoff],
        )? as i64;
        pending.excess_rows = (pending.excess_rows - removed).max(0);
        if removed < RETENTION_SLICE {
            pending.age_cutoff = None;
        }
        return Ok(removed as u64);
    }
    if pending.excess_rows > 0 {
        let slice = pending.excess_rows.min(RETENTION_SLICE);
        let removed = conn.execute(
            &format!(
                "DELETE FROM {table} WHERE id IN (SELECT id FROM {table} ORDER BY id LIMIT ?1)",
                table = T::TABLE
            ),
            [slice],
        )? as i64;
        pending.excess_rows = if removed < slice {
            0
        } else {
            pending.excess_rows - removed
        };
        return Ok(removed as u64);
    }
    Ok(0)
}

/// An inclusive range of addresses a filter matches (one address, or every address of a prefix).
/// Addresses are stored as 16-byte big-endian blobs (IPv4 as IPv4-mapped IPv6), so a prefix is an index
/// range scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressRange {
    pub first: IpAddr,
    pub last: IpAddr,
}

impl AddressRange {
    /// Exactly `address`.
    pub fn single(address: IpAddr) -> AddressRange {
        AddressRange {
            first: address,
            last: address,
        }
    }
}

/// The stored form of an address.
pub(crate) fn address_blob(address: IpAddr) -> [u8; 16] {
    match address {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The address of a stored blob, as text; IPv4 rows (`family` 2) print as IPv4.
pub(crate) fn blob_text(blob: &[u8], family: u8) -> String {
    let Ok(octets) = <[u8; 16]>::try_from(blob) else {
        return String::new();
    };
    let v6 = std::net::Ipv6Addr::from(octets);
    match (family, v6.to_ipv4_mapped()) {
        (2, Some(v4)) => v4.to_string(),
        _ => v6.to_string(),
    }
}

/// Adds the condition of `range` on `column`: equality for one address (the index then yields rows in id
/// order, so `ORDER BY id DESC LIMIT n` stops after n rows), an index range for a prefix.
pub(crate) fn push_range(
    column: &str,
    range: AddressRange,
    conditions: &mut Vec<String>,
    args: &mut Vec<rusqlite::types::Value>,
) {
    if range.first == range.last {
        conditions.push(format!("{column} = ?"));
        args.push(address_blob(range.first).to_vec().into());
    } else {
        conditions.push(format!("{column} BETWEEN ? AND ?"));
        args.push(address_blob(range.first).to_vec().into());
        args.push(address_blob(range.last).to_vec().into());
    }
}
