//! The event store: a single writer thread that group-commits whatever is queued in one transaction, and
//! a small pool of reader connections for queries. An event is durable before anyone is told about it:
//! the commit hook runs only after the transaction committed.

use crate::db;
use crate::StoreError;
use routerd_api::event::{Event, EventSource, NewEvent, Severity};
use routerd_api::time::Timestamp;
use routerd_api::topic::TopicPattern;
use rusqlite::{params_from_iter, Connection};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Called with the highest committed cursor after every commit.
pub type CommitHook = Box<dyn Fn(u64) + Send + 'static>;
/// Called with the cursor of one event once it is committed.
pub type Ack = Box<dyn FnOnce(Result<u64, String>) + Send + 'static>;

/// How much history to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub max_age: Duration,
    pub max_rows: u64,
}

impl Default for RetentionPolicy {
    /// 7 days and 1,000,000 rows, as `resources.md` sets for every store.
    fn default() -> Self {
        RetentionPolicy {
            max_age: Duration::from_secs(7 * 86400),
            max_rows: 1_000_000,
        }
    }
}

/// A write to another table of `routerd.db`, run by the writer thread so that routerd has exactly one
/// SQLite writer (two connections writing the same file wait on each other in SQLite's busy handler).
/// It runs inside a transaction (in a savepoint of its own, so a failing write fails alone).
pub type WriteOp = Box<dyn FnOnce(&Connection) -> Result<(), rusqlite::Error> + Send>;
/// Called with the outcome of one [`WriteOp`] once its transaction committed (or failed).
pub type WriteAck = Box<dyn FnOnce(Result<(), String>) + Send + 'static>;

enum WriterMsg {
    Append(NewEvent, Option<Ack>),
    Write(WriteOp, WriteAck),
    /// Events imported from another stream plus the consumer cursor that covers them, committed in one
    /// transaction so a restart neither loses nor repeats them.
    Import(Vec<NewEvent>, String, String, Ack),
    Retain(RetentionPolicy, Box<dyn FnOnce(Result<u64, String>) + Send>),
    Flush(Box<dyn FnOnce() + Send>),
}

/// What `query` selects. `since` is exclusive; results ascend by cursor.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub since: u64,
    /// When true and `since` was given by the client, an expired `since` is an error (`CursorExpired`).
    pub strict_since: bool,
    pub topics: Vec<TopicPattern>,
    pub resource: Option<(String, String)>,
    pub min_severity: Option<Severity>,
    pub limit: usize,
    /// Return the last `limit` matches after `since` instead of the first (still ascending).
    pub latest: bool,
}

/// What [`EventStore::query_skipping`] read.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub events: Vec<Event>,
    /// Matching rows that could not be decoded, ascending by cursor.
    pub skipped: Vec<SkippedEvent>,
}

/// A stored event that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedEvent {
    pub cursor: u64,
    pub error: String,
}

/// Handle to the store; cheap to clone.
#[derive(Clone)]
pub struct EventStore {
    inner: Arc<Inner>,
}

struct Inner {
    tx: Mutex<Option<mpsc::Sender<WriterMsg>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    checkpointer: Mutex<Option<(mpsc::Sender<()>, JoinHandle<()>)>>,
    readers: Vec<Mutex<Connection>>,
    path: PathBuf,
}

const MAX_BATCH: usize = 4096;

impl EventStore {
    /// Opens the store and starts the writer thread. `on_commit` is called from the writer thread after
    /// each committed batch; it must not block.
    pub fn open(
        path: &Path,
        readers: usize,
        on_commit: CommitHook,
    ) -> Result<EventStore, StoreError> {
        let conn = db::open(path)?;
        // Checkpoints move WAL pages into the database file; done by the writer on commit they put
        // fsyncs in publishers' latency. A separate thread checkpoints passively instead.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let checkpoint_conn = db::open(path)?;
        let (cp_stop, cp_rx) = mpsc::channel::<()>();
        let checkpointer = std::thread::Builder::new()
            .name("wal-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpoint_conn, cp_rx))
            .map_err(|e| StoreError::Corrupt(format!("cannot start the checkpoint thread: {e}")))?;
        let mut pool = Vec::new();
        for _ in 0..readers.max(1) {
            pool.push(Mutex::new(db::open(path)?));
        }
        let (tx, rx) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("event-writer".into())
            .spawn(move || writer_loop(conn, rx, on_commit))
            .map_err(|e| {
                StoreError::Corrupt(format!("cannot start the event writer thread: {e}"))
            })?;
        Ok(EventStore {
            inner: Arc::new(Inner {
                tx: Mutex::new(Some(tx)),
                writer: Mutex::new(Some(writer)),
                checkpointer: Mutex::new(Some((cp_stop, checkpointer))),
                readers: pool,
                path: path.to_path_buf(),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn send(&self, msg: WriterMsg) -> Result<(), StoreError> {
        let guard = self
            .inner
            .tx
            .lock()
            .map_err(|_| StoreError::WriterStopped)?;
        match guard.as_ref() {
            Some(tx) => tx.send(msg).map_err(|_| StoreError::WriterStopped),
            None => Err(StoreError::WriterStopped),
        }
    }

    /// Queues an event; never blocks on the disk. `ack` is called once it is committed.
    pub fn append(&self, event: NewEvent, ack: Option<Ack>) -> Result<(), StoreError> {
        self.send(WriterMsg::Append(event, ack))
    }

    /// Queues a write to another table; it commits after everything queued before it, and `ack`
    /// receives its outcome once committed (a failed write is never only logged).
    pub fn write(&self, op: WriteOp, ack: WriteAck) -> Result<(), StoreError> {
        self.send(WriterMsg::Write(op, ack))
    }

    /// Stores `events` and sets meta `key` = `value` in the same transaction; `ack` receives the cursor of
    /// the last event (0 when `events` is empty).
    pub fn import(
        &self,
        events: Vec<NewEvent>,
        key: &str,
        value: &str,
        ack: Ack,
    ) -> Result<(), StoreError> {
        self.send(WriterMsg::Import(
            events,
            key.to_string(),
            value.to_string(),
            ack,
        ))
    }

    /// A value stored by [`EventStore::import`] (a consumer cursor), if any.
    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.with_reader(|c| {
            c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .map(Some)
                .or_else(|e| {
                    if matches!(e, rusqlite::Error::QueryReturnedNoRows) {
                        Ok(None)
                    } else {
                        Err(e)
                    }
                })
                .map_err(StoreError::from)
        })
    }

    /// Queues a retention pass; `done` receives the number of rows removed.
    pub fn retain(
        &self,
        policy: RetentionPolicy,
        done: Box<dyn FnOnce(Result<u64, String>) + Send>,
    ) -> Result<(), StoreError> {
        self.send(WriterMsg::Retain(policy, done))
    }

    /// Calls `done` once everything queued before it is committed.
    pub fn flush(&self, done: Box<dyn FnOnce() + Send>) -> Result<(), StoreError> {
        self.send(WriterMsg::Flush(done))
    }

    /// Stops accepting events, commits what is queued and joins the writer and checkpoint threads.
    pub fn close(&self) {
        self.inner.shutdown();
    }

    fn with_reader<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        for r in &self.inner.readers {
            if let Ok(conn) = r.try_lock() {
                return f(&conn);
            }
        }
        let conn = self.inner.readers[0]
            .lock()
            .map_err(|_| StoreError::Corrupt("reader lock poisoned".into()))?;
        f(&conn)
    }

    /// Highest committed cursor (0 when empty).
    pub fn last_cursor(&self) -> Result<u64, StoreError> {
        self.with_reader(|c| {
            Ok(
                c.query_row("SELECT COALESCE(MAX(cursor), 0) FROM events", [], |r| {
                    r.get::<_, i64>(0)
                })? as u64,
            )
        })
    }

    /// Highest cursor removed by retention (0 when nothing was removed).
    pub fn pruned_through(&self) -> Result<u64, StoreError> {
        self.with_reader(read_pruned_through)
    }

    pub fn count(&self) -> Result<u64, StoreError> {
        self.with_reader(|c| {
            Ok(c.query_row("SELECT COUNT(*) FROM events", [], |r| r.get::<_, i64>(0))? as u64)
        })
    }

    /// Events matching `filter`, ascending by cursor. A stored event that cannot be decoded fails the
    /// query, naming its cursor.
    pub fn query(&self, filter: &EventFilter) -> Result<Vec<Event>, StoreError> {
        self.with_reader(|c| {
            query_events(c, filter, &mut |cursor, error| {
                Err(StoreError::Corrupt(format!(
                    "event {cursor} attributes: {error}"
                )))
            })
        })
    }

    /// Like [`EventStore::query`], but a stored event that cannot be decoded is passed over and returned
    /// in [`Page::skipped`], so one bad row does not hide every event after it from a consumer.
    pub fn query_skipping(&self, filter: &EventFilter) -> Result<Page, StoreError> {
        let mut skipped = Vec::new();
        let events = self.with_reader(|c| {
            query_events(c, filter, &mut |cursor, error| {
                skipped.push(SkippedEvent { cursor, error });
                Ok(())
            })
        })?;
        Ok(Page { events, skipped })
    }
}

impl Inner {
    fn shutdown(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        if let Some(h) = self.writer.lock().ok().and_then(|mut w| w.take()) {
            let _ = h.join();
        }
        if let Some((stop, h)) = self.checkpointer.lock().ok().and_then(|mut c| c.take()) {
            drop(stop);
            let _ = h.join();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Passive checkpoints every 250 ms until the sender is dropped, then a final one.
fn checkpoint_loop(conn: Connection, stop: mpsc::Receiver<()>) {
    loop {
        let done = !matches!(
            stop.recv_timeout(Duration::from_millis(250)),
            Err(mpsc::RecvTimeoutError::Timeout)
        );
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::debug!(error = %e, "checkpoint skipped");
        }
        if done {
            return;
        }
    }
}

fn read_pruned_through(c: &Connection) -> Result<u64, StoreError> {
    let v: Option<String> = c
        .query_row(
            "SELECT value FROM meta WHERE key = 'events_pruned_through'",
            [],
            |r| r.get(0),
        )
        .map(Some)
        .or_else(|e| {
            if matches!(e, rusqlite::Error::QueryReturnedNoRows) {
                Ok(None)
            } else {
                Err(e)
            }
        })?;
    Ok(v.and_then(|s| s.parse().ok()).unwrap_or(0))
}

/// Commits what is queued in queue order: consecutive appends share one transaction, consecutive
/// writes another, so whatever was queued first is committed first.
fn writer_loop(mut conn: Connection, rx: mpsc::Receiver<WriterMsg>, on_commit: CommitHook) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        let mut queue = batch.into_iter().peekable();
        while let Some(m) = queue.next() {
            match m {
                WriterMsg::Append(e, ack) => {
                    let mut events = vec![(e, ack)];
                    while let Some(WriterMsg::Append(e, ack)) =
                        queue.next_if(|m| matches!(m, WriterMsg::Append(..)))
                    {
                        events.push((e, ack));
                    }
                    commit_events(&mut conn, events, &on_commit);
                }
                WriterMsg::Write(op, ack) => {
                    let mut writes = vec![(op, ack)];
                    while let Some(WriterMsg::Write(op, ack)) =
                        queue.next_if(|m| matches!(m, WriterMsg::Write(..)))
                    {
                        writes.push((op, ack));
                    }
                    commit_writes(&mut conn, writes);
                }
                WriterMsg::Import(events, key, value, ack) => {
                    let pairs: Vec<(NewEvent, Option<Ack>)> =
                        events.into_iter().map(|e| (e, None)).collect();
                    match import_batch(&mut conn, &pairs, &key, &value) {
                        Ok(cursors) => {
                            let last = cursors.last().copied().unwrap_or(0);
                            if last > 0 {
                                on_commit(last);
                            }
                            ack(Ok(last));
                        }
                        Err(e) => ack(Err(e.to_string())),
                    }
                }
                WriterMsg::Retain(policy, done) => {
                    done(apply_retention(&mut conn, policy).map_err(|e| e.to_string()))
                }
                WriterMsg::Flush(done) => done(),
            }
        }
    }
}

fn commit_events(
    conn: &mut Connection,
    events: Vec<(NewEvent, Option<Ack>)>,
    on_commit: &CommitHook,
) {
    match insert_batch(conn, &events) {
        Ok(cursors) => {
            let last = cursors.last().copied().unwrap_or(0);
            on_commit(last);
            for ((_, ack), cursor) in events.into_iter().zip(cursors) {
                if let Some(ack) = ack {
                    ack(Ok(cursor));
                }
            }
        }
        Err(e) => {
            tracing::error!(error = %e, count = events.len(), "event batch could not be stored");
            for (_, ack) in events {
                if let Some(ack) = ack {
                    ack(Err(e.to_string()));
                }
            }
        }
    }
}

/// Runs `writes` in one transaction, each in a savepoint: a failing write is rolled back alone and
/// told so; the others are told once the transaction committed.
fn commit_writes(conn: &mut Connection, writes: Vec<(WriteOp, WriteAck)>) {
    let mut tx = match conn.transaction() {
        Ok(tx) => tx,
        Err(e) => {
            tracing::error!(error = %e, count = writes.len(), "state writes could not start");
            for (_, ack) in writes {
                ack(Err(e.to_string()));
            }
            return;
        }
    };
    let mut outcomes: Vec<(WriteAck, Result<(), String>)> = Vec::with_capacity(writes.len());
    for (op, ack) in writes {
        let outcome = tx.savepoint().and_then(|sp| {
            op(&sp)?;
            sp.commit()
        });
        outcomes.push((ack, outcome.map_err(|e| e.to_string())));
    }
    if let Err(e) = tx.commit() {
        tracing::error!(error = %e, count = outcomes.len(), "state writes could not be committed");
        for (ack, _) in outcomes {
            ack(Err(e.to_string()));
        }
        return;
    }
    for (ack, outcome) in outcomes {
        ack(outcome);
    }
}

fn import_batch(
    conn: &mut Connection,
    events: &[(NewEvent, Option<Ack>)],
    key: &str,
    value: &str,
) -> Result<Vec<u64>, StoreError> {
    let tx = conn.transaction()?;
    let cursors = insert_rows(&tx, events)?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [key, value],
    )?;
    tx.commit()?;
    Ok(cursors)
}

fn insert_batch(
    conn: &mut Connection,
    events: &[(NewEvent, Option<Ack>)],
) -> Result<Vec<u64>, StoreError> {
    let tx = conn.transaction()?;
    let cursors = insert_rows(&tx, events)?;
    tx.commit()?;
    Ok(cursors)
}

fn insert_rows(
    tx: &rusqlite::Transaction<'_>,
    events: &[(NewEvent, Option<Ack>)],
) -> Result<Vec<u64>, StoreError> {
    let mut cursors = Vec::with_capacity(events.len());
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO events (time, topic, severity, source_kind, source_instance, message, attributes, resource_kind, resource_name)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        for (e, _) in events {
            let attrs = serde_json::to_string(&e.attributes)
                .map_err(|err| StoreError::Corrupt(err.to_string()))?;
            stmt.execute(rusqlite::params![
                e.time.nanos(),
                e.topic,
                e.severity.rank(),
                e.source.kind,
                e.source.instance,
                e.message,
                attrs,
                e.resource_kind(),
                e.resource_name(),
            ])?;
            cursors.push(tx.last_insert_rowid() as u64);
        }
    }
    Ok(cursors)
}

/// Rows removed by one retention pass at most: the writer thread does retention between batches, so a
/// large backlog is removed in slices (the retention task comes back sooner) instead of stalling
/// publishers for seconds.
pub const RETENTION_CHUNK: i64 = 100_000;

fn apply_retention(conn: &mut Connection, policy: RetentionPolicy) -> Result<u64, StoreError> {
    let cutoff = Timestamp::now().saturating_sub(policy.max_age).nanos();
    // IMMEDIATE: take the write lock up front; a deferred read-then-write transaction fails with
    // "database is locked" when another connection (the ledger) writes in between.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let max_by_age: Option<i64> = tx.query_row(
        "SELECT MAX(cursor) FROM events WHERE time < ?1",
        [cutoff],
        |r| r.get(0),
    )?;
    let (min, max): (Option<i64>, Option<i64>) =
        tx.query_row("SELECT MIN(cursor), MAX(cursor) FROM events", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    // Cursors are contiguous above what retention removed (AUTOINCREMENT, deletions only from the
    // oldest end), so the row bound is arithmetic rather than an OFFSET scan.
    let max_by_rows = match (min, max) {
        (Some(min), Some(max)) => Some(max - policy.max_rows as i64).filter(|t| *t >= min),
        _ => None,
    };
    let mut removed = 0;
    if let (Some(through), Some(min)) = (max_by_age.into_iter().chain(max_by_rows).max(), min) {
        let bounded = through.min(min + RETENTION_CHUNK - 1);
        removed = tx.execute("DELETE FROM events WHERE cursor <= ?1", [bounded])? as u64;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('events_pruned_through', ?1)
             ON CONFLICT(key) DO UPDATE SET value = MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
            [bounded.to_string()],
        )?;
    }
    tx.commit()?;
    Ok(removed)
}

/// Narrows the SQL scan for one pattern: exact topic, a range for a literal prefix, or nothing.
fn pattern_sql(p: &TopicPattern, args: &mut Vec<rusqlite::types::Value>) -> Option<String> {
    let prefix = p.literal_prefix();
    if prefix == p.as_str() {
        args.push(prefix.into());
        return Some("topic = ?".into());
    }
    if prefix.is_empty() {
        return None;
    }
    args.push(prefix.clone().into());
    args.push(format!("{prefix}/").into());
    Some("(topic >= ? AND topic < ?)".into())
}

/// `undecodable` decides about a matching row whose attributes do not decode: an error fails the query,
/// `Ok` passes over the row.
fn query_events(
    c: &Connection,
    f: &EventFilter,
    undecodable: &mut dyn FnMut(u64, String) -> Result<(), StoreError>,
) -> Result<Vec<Event>, StoreError> {
    if f.strict_since && f.since > 0 {
        let pruned = read_pruned_through(c)?;
        if f.since < pruned {
            return Err(StoreError::CursorExpired {
                since: f.since,
                oldest: pruned,
            });
        }
    }
    let limit = f.limit.max(1);
    let mut conds = vec!["cursor > ?".to_string()];
    let mut base_args: Vec<rusqlite::types::Value> = vec![(f.since as i64).into()];
    if let Some((k, n)) = &f.resource {
        conds.push("resource_kind = ? AND resource_name = ?".into());
        base_args.push(k.clone().into());
        base_args.push(n.clone().into());
    }
    if let Some(s) = f.min_severity {
        conds.push("severity >= ?".into());
        base_args.push(s.rank().into());
    }
    if !f.topics.is_empty() {
        let mut parts = Vec::new();
        let mut topic_args = Vec::new();
        let all_narrowed = f
            .topics
            .iter()
            .all(|p| match pattern_sql(p, &mut topic_args) {
                Some(s) => {
                    parts.push(s);
                    true
                }
                None => false,
            });
        // A pattern that starts with a wildcard cannot narrow the scan: then filter in Rust only.
        if all_narrowed {
            conds.push(format!("({})", parts.join(" OR ")));
            base_args.extend(topic_args);
        }
    }
    // The SQL condition may select a superset; matches are confirmed in Rust and we keep scanning in
    // pages until `limit` matches are found or the table is exhausted.
    let order = if f.latest { "DESC" } else { "ASC" };
    let page = (limit * 2).clamp(64, 4096);
    let mut out: Vec<Event> = Vec::new();
    let mut bound: Option<i64> = None;
    loop {
        let mut sql_conds = conds.clone();
        let mut args = base_args.clone();
        if let Some(b) = bound {
            sql_conds.push(if f.latest {
                "cursor < ?".into()
            } else {
                "cursor > ?".into()
            });
            args.push(b.into());
        }
        let sql = format!(
            "SELECT cursor, time, topic, severity, source_kind, source_instance, message, attributes FROM events WHERE {} ORDER BY cursor {order} LIMIT {page}",
            sql_conds.join(" AND ")
        );
        let mut stmt = c.prepare_cached(&sql)?;
        let mut rows = stmt.query(params_from_iter(args.iter()))?;
        let mut seen = 0;
        while let Some(row) = rows.next()? {
            seen += 1;
            let cursor: i64 = row.get(0)?;
            bound = Some(cursor);
            let topic: String = row.get(2)?;
            if !f.topics.is_empty() && !f.topics.iter().any(|p| p.matches(&topic)) {
                continue;
            }
            let attrs: String = row.get(7)?;
            let attributes = match serde_json::from_str(&attrs) {
                Ok(a) => a,
                Err(e) => {
                    undecodable(cursor as u64, e.to_string())?;
                    continue;
                }
            };
            out.push(Event {
                cursor: cursor.to_string(),
                time: Timestamp(row.get(1)?),
                topic,
                severity: Severity::from_rank(row.get(3)?),
                source: EventSource {
                    kind: row.get(4)?,
                    instance: row.get(5)?,
                },
                message: row.get(6)?,
                attributes,
            });
            if out.len() >= limit {
                break;
            }
        }
        if out.len() >= limit || seen < page {
            break;
        }
    }
    if f.latest {
        out.reverse();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn store(dir: &Path) -> (EventStore, Arc<AtomicU64>) {
        let last = Arc::new(AtomicU64::new(0));
        let l = last.clone();
        let s = EventStore::open(
            &dir.join("routerd.db"),
            2,
            Box::new(move |c| l.store(c, Ordering::SeqCst)),
        )
        .unwrap();
        (s, last)
    }

    fn flush(s: &EventStore) {
        let (tx, rx) = mpsc::channel();
        s.flush(Box::new(move || {
            let _ = tx.send(());
        }))
        .unwrap();
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
    }

    #[test]
    fn appends_commit_then_query_by_topic_resource_and_severity() {
        let dir = tempfile::tempdir().unwrap();
        let (s, last) = store(dir.path());
        for i in 0..50 {
            let topic = if i % 2 == 0 {
                "routerd.config.applied"
            } else {
                "routerd.address.applied"
            };
            let sev = if i % 10 == 0 {
                Severity::Warning
            } else {
                Severity::Info
            };
            s.append(
                NewEvent::new(topic, sev, format!("e{i}"))
                    .resource("IPv4StaticAddress", if i % 5 == 0 { "lan" } else { "wan" }),
                None,
            )
            .unwrap();
        }
        flush(&s);
        assert_eq!(last.load(Ordering::SeqCst), 50);
        let all = s
            .query(&EventFilter {
                limit: 1000,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(all.len(), 50);
        assert!(all
            .windows(2)
            .all(|w| w[0].cursor.parse::<u64>().unwrap() < w[1].cursor.parse::<u64>().unwrap()));
        let cfg = s
            .query(&EventFilter {
                limit: 1000,
                topics: vec![TopicPattern::parse("routerd.config.*").unwrap()],
                ..Default::default()
            })
            .unwrap();
        assert_eq!(cfg.len(), 25);
        let star = s
            .query(&EventFilter {
                limit: 3,
                topics: vec![TopicPattern::parse("**.applied").unwrap()],
                since: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            star.iter().map(|e| e.cursor.as_str()).collect::<Vec<_>>(),
            ["11", "12", "13"]
        );
        let lan = s
            .query(&EventFilter {
                limit: 1000,
                resource: Some(("IPv4StaticAddress".into(), "lan".into())),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(lan.len(), 10);
        let warn = s
            .query(&EventFilter {
                limit: 1000,
                min_severity: Some(Severity::Warning),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(warn.len(), 5);
        let latest = s
            .query(&EventFilter {
                limit: 2,
                latest: true,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            latest.iter().map(|e| e.cursor.as_str()).collect::<Vec<_>>(),
            ["49", "50"]
        );
        s.close();
    }

    #[test]
    fn retention_prunes_and_expires_old_cursors_but_cursors_keep_increasing() {
        let dir = tempfile::tempdir().unwrap();
        let (s, _) = store(dir.path());
        for _ in 0..30 {
            s.append(
                NewEvent::new("routerd.config.applied", Severity::Info, "x"),
                None,
            )
            .unwrap();
        }
        let (tx, rx) = mpsc::channel();
        s.retain(
            RetentionPolicy {
                max_age: Duration::from_secs(3600),
                max_rows: 10,
            },
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        )
        .unwrap();
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(10)).unwrap().unwrap(),
            20
        );
        assert_eq!(s.count().unwrap(), 10);
        assert_eq!(s.pruned_through().unwrap(), 20);
        let err = s
            .query(&EventFilter {
                since: 5,
                strict_since: true,
                limit: 10,
                ..Default::default()
            })
            .unwrap_err();
        assert!(matches!(
            err,
            StoreError::CursorExpired {
                since: 5,
                oldest: 20
            }
        ));
        assert!(s
            .query(&EventFilter {
                since: 20,
                strict_since: true,
                limit: 10,
                ..Default::default()
            })
            .is_ok());
        s.close();
        let (s, _) = store(dir.path());
        s.append(
            NewEvent::new("routerd.config.applied", Severity::Info, "after restart"),
            None,
        )
        .unwrap();
        flush(&s);
        assert_eq!(s.last_cursor().unwrap(), 31);
        s.close();
    }
}

#[cfg(test)]
mod order_tests {
    use super::*;

    #[test]
    fn writes_and_events_commit_in_the_order_they_were_queued() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("routerd.db");
        let s = EventStore::open(&db, 1, Box::new(|_| {})).unwrap();
        db::open(&db)
            .unwrap()
            .execute_batch(
                "CREATE TABLE order_log (n INTEGER PRIMARY KEY AUTOINCREMENT, what TEXT);
                 CREATE TRIGGER log_event AFTER INSERT ON events
                 BEGIN INSERT INTO order_log (what) VALUES ('event'); END;
                 CREATE TRIGGER log_status AFTER INSERT ON resource_status
                 BEGIN INSERT INTO order_log (what) VALUES (NEW.name); END;",
            )
            .unwrap();
        // Hold the writer so that everything below lands in one batch.
        let (release, held) = mpsc::channel::<()>();
        s.flush(Box::new(move || {
            let _ = held.recv();
        }))
        .unwrap();
        let status = |name: &'static str| -> WriteOp {
            Box::new(move |c| {
                c.execute(
                    "INSERT INTO resource_status (kind, name, status) VALUES ('K', ?1, '{}')",
                    [name],
                )
                .map(|_| ())
            })
        };
        let (acked, acks) = mpsc::channel();
        for name in ["first", "third"] {
            let acked = acked.clone();
            let op = status(name);
            if name == "third" {
                s.append(
                    NewEvent::new("routerd.config.applied", Severity::Info, "second"),
                    None,
                )
                .unwrap();
            }
            s.write(
                op,
                Box::new(move |r| {
                    let _ = acked.send(r);
                }),
            )
            .unwrap();
        }
        release.send(()).unwrap();
        for _ in 0..2 {
            acks.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
        }
        let log: Vec<String> = db::open(&db)
            .unwrap()
            .prepare("SELECT what FROM order_log ORDER BY n")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(log, ["first", "event", "third"]);
        s.close();
    }
}

#[cfg(test)]
mod import_tests {
    use super::*;

    #[test]
    fn import_stores_events_and_the_consumer_cursor_together() {
        let dir = tempfile::tempdir().unwrap();
        let s = EventStore::open(&dir.path().join("routerd.db"), 1, Box::new(|_| {})).unwrap();
        assert_eq!(s.meta("poller:x").unwrap(), None);
        let (tx, rx) = mpsc::channel();
        let evs = vec![
            NewEvent::new("routerd.healthcheck.probe.passed", Severity::Info, "a"),
            NewEvent::new("routerd.healthcheck.state.healthy", Severity::Info, "b"),
        ];
        s.import(
            evs,
            "poller:x",
            "ab12:7",
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        )
        .unwrap();
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(10)).unwrap().unwrap(),
            2
        );
        assert_eq!(s.meta("poller:x").unwrap().as_deref(), Some("ab12:7"));
        assert_eq!(s.count().unwrap(), 2);
        s.close();
    }
}
