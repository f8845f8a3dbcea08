//! The daemon's event log: a ring of the newest events in memory, answering `/v1/events`, and
//! `events.jsonl` on disk, which lets the cursor counter (and the ring) survive a restart.
//!
//! Cursors are `<epoch>:<n>`. On open the epoch and the highest `n` are recovered from `events.jsonl` and
//! `events.jsonl.1`; only when both are gone (or hold nothing readable) does a new random epoch begin, so
//! a reader can tell "the daemon restarted" (same epoch, n continues) from "the log was lost" (another
//! epoch: resynchronise from `/v1/status`).
//!
//! Writes are one `write` per line on an unbuffered file (in the page cache at once, no fsync per line):
//! a crash loses at most a torn last line, which the next open drops. If the file cannot be written (disk
//! full), events still reach readers through the ring; the failure is logged once and the file is
//! retried on the next append.

use crate::cursor::{new_epoch, Cursor};
use crate::error::{DaemonError, EventQueryError};
use routerd_api::event::{Event, EventSource, NewEvent};
use routerd_api::topic::{validate_topic, TopicPattern};
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::watch;

/// Events kept in memory, and so the furthest back a `since` cursor may reach.
pub const RING_SIZE: usize = 1000;
/// `events.jsonl` is rotated to `events.jsonl.1` before it would grow past this.
pub const ROTATE_BYTES: u64 = 4 * 1024 * 1024;
/// File name of the event log in the state directory (the old generation adds `.1`).
pub const EVENTS_FILE: &str = "events.jsonl";
/// Longest a long-poll waits; longer requests are clamped, not refused.
pub const MAX_WAIT: Duration = Duration::from_secs(60);
/// Lines longer than this are not events the kit wrote; recovery skips them unread.
const MAX_LINE: usize = 1024 * 1024;

/// Clamps a requested long-poll duration to [`MAX_WAIT`].
pub fn clamp_wait(wait: Duration) -> Duration {
    wait.min(MAX_WAIT)
}

/// Handle to one daemon's event log; clones share it.
#[derive(Clone)]
pub struct EventLog {
    inner: Arc<Inner>,
}

struct Inner {
    source: EventSource,
    path: PathBuf,
    rotated: PathBuf,
    ring_size: usize,
    rotate_bytes: u64,
    state: Mutex<State>,
    /// Highest `n`; long-pollers wait for it to change.
    head_tx: watch::Sender<u64>,
}

struct State {
    epoch: String,
    last: u64,
    ring: VecDeque<Stored>,
    file: Option<File>,
    file_len: u64,
    /// The last write failed; logged once per streak.
    failing: bool,
}

struct Stored {
    n: u64,
    event: Event,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog")
            .field("path", &self.inner.path)
            .field("head", &self.head())
            .finish()
    }
}

impl EventLog {
    /// Opens (creating the directory, mode 0700, if needed) the log in `state_dir` with the standard
    /// limits: a ring of [`RING_SIZE`] events, rotation at [`ROTATE_BYTES`]. `source_kind` and `instance`
    /// become every event's `source`.
    pub fn open(
        state_dir: &Path,
        source_kind: &str,
        instance: &str,
    ) -> Result<EventLog, DaemonError> {
        EventLog::open_with_limits(state_dir, source_kind, instance, RING_SIZE, ROTATE_BYTES)
    }

    /// [`EventLog::open`] with other limits, so tests can rotate after a few events. A `ring_size` of 0
    /// is taken as 1 (the head must stay answerable).
    pub fn open_with_limits(
        state_dir: &Path,
        source_kind: &str,
        instance: &str,
        ring_size: usize,
        rotate_bytes: u64,
    ) -> Result<EventLog, DaemonError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(state_dir)
            .map_err(DaemonError::io("create directory", state_dir))?;
        let path = state_dir.join(EVENTS_FILE);
        let rotated = state_dir.join(format!("{EVENTS_FILE}.1"));
        let ring_size = ring_size.max(1);
        let recovered = recover(&rotated, &path, ring_size)?;
        let epoch = match recovered.epoch {
            Some(epoch) => {
                tracing::info!(path = %path.display(), cursor = %format!("{epoch}:{}", recovered.last), "recovered the event log");
                epoch
            }
            None => {
                let epoch = new_epoch();
                tracing::info!(path = %path.display(), %epoch, "no event log to recover; starting a new epoch");
                epoch
            }
        };
        let (file, file_len) = open_for_append(&path)?;
        let (head_tx, _) = watch::channel(recovered.last);
        Ok(EventLog {
            inner: Arc::new(Inner {
                source: EventSource {
                    kind: source_kind.to_string(),
                    instance: instance.to_string(),
                },
                path,
                rotated,
                ring_size,
                rotate_bytes,
                state: Mutex::new(State {
                    epoch,
                    last: recovered.last,
                    ring: recovered.ring,
                    file: Some(file),
                    file_len,
                    failing: false,
                }),
                head_tx,
            }),
        })
    }

    /// Path of `events.jsonl`.
    pub fn file_path(&self) -> &Path {
        &self.inner.path
    }

    /// Assigns the next cursor, sets `source` to this daemon, appends the event to `events.jsonl` and the
    /// ring, and wakes long-pollers. Returns the stored event.
    ///
    /// Fails only for an event that breaks the topic grammar (a bug in the caller). A failing file is not
    /// an error here: the event still reaches readers and the failure is logged (see the module docs).
    pub fn append(&self, event: NewEvent) -> Result<Event, DaemonError> {
        validate_topic(&event.topic).map_err(DaemonError::InvalidEvent)?;
        let mut st = self.lock();
        let n = st.last + 1;
        let stored = Event {
            cursor: format!("{}:{n}", st.epoch),
            time: event.time,
            topic: event.topic,
            severity: event.severity,
            source: self.inner.source.clone(),
            message: event.message,
            attributes: event.attributes,
        };
        let mut line = serde_json::to_vec(&stored).map_err(|e| DaemonError::Encode {
            path: self.inner.path.clone(),
            message: e.to_string(),
        })?;
        line.push(b'\n');
        self.persist(&mut st, &line);
        st.last = n;
        st.ring.push_back(Stored {
            n,
            event: stored.clone(),
        });
        while st.ring.len() > self.inner.ring_size {
            st.ring.pop_front();
        }
        drop(st);
        // Appends may race to this point; the watched value only ever moves forward.
        self.inner
            .head_tx
            .send_modify(|head| *head = (*head).max(n));
        Ok(stored)
    }

    /// The newest cursor (`<epoch>:0` while the log is empty).
    pub fn head(&self) -> String {
        let st = self.lock();
        format!("{}:{}", st.epoch, st.last)
    }

    /// Events after `since` (`None`: from the oldest kept) whose topic matches any of `topics` (empty:
    /// all), at most `limit` (at least 1), oldest first.
    ///
    /// A `since` from another epoch, malformed, ahead of the head, or older than the ring reaches (its
    /// successor already dropped) is `CursorExpired` with the head: the reader would otherwise miss
    /// events without knowing.
    pub fn since(
        &self,
        since: Option<&str>,
        topics: &[TopicPattern],
        limit: usize,
    ) -> Result<Vec<Event>, EventQueryError> {
        let st = self.lock();
        let after = match since {
            None => 0,
            Some(cursor) => check_cursor(&st, cursor)?,
        };
        let start = st.ring.partition_point(|s| s.n <= after);
        Ok(st
            .ring
            .range(start..)
            .filter(|s| topics.is_empty() || topics.iter().any(|p| p.matches(&s.event.topic)))
            .take(limit.max(1))
            .map(|s| s.event.clone())
            .collect())
    }

    /// Long-poll: like [`EventLog::since`], but when nothing matches yet, waits until something does or
    /// `wait` (clamped to [`MAX_WAIT`]) has passed, and then returns what there is (possibly nothing).
    pub async fn wait(
        &self,
        since: Option<&str>,
        topics: &[TopicPattern],
        limit: usize,
        wait: Duration,
    ) -> Result<Vec<Event>, EventQueryError> {
        let deadline = tokio::time::Instant::now() + clamp_wait(wait);
        let mut head = self.inner.head_tx.subscribe();
        loop {
            // Mark the current head as seen before looking, so an append in between still wakes us.
            head.borrow_and_update();
            let found = self.since(since, topics, limit)?;
            if !found.is_empty() {
                return Ok(found);
            }
            match tokio::time::timeout_at(deadline, head.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) | Err(_) => return Ok(found),
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the ring half-updated in a way readers mind.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn persist(&self, st: &mut State, line: &[u8]) {
        match self.try_persist(st, line) {
            Ok(()) => {
                if st.failing {
                    st.failing = false;
                    tracing::info!(path = %self.inner.path.display(), "the event log is writable again");
                }
            }
            Err(e) => {
                if !st.failing {
                    tracing::error!(error = %e, "cannot write the event log; events are kept in memory only until it works again");
                }
                st.failing = true;
                st.file = None;
            }
        }
    }

    fn try_persist(&self, st: &mut State, line: &[u8]) -> Result<(), DaemonError> {
        let line_len = line.len() as u64;
        if st.file.is_some() && st.file_len > 0 && st.file_len + line_len > self.inner.rotate_bytes
        {
            st.file = None;
            std::fs::rename(&self.inner.path, &self.inner.rotated)
                .map_err(DaemonError::io("rotate", &self.inner.path))?;
            tracing::debug!(path = %self.inner.path.display(), "rotated the event log");
        }
        let file = match &mut st.file {
            Some(file) => file,
            None => {
                let (file, len) = open_for_append(&self.inner.path)?;
                st.file_len = len;
                st.file.insert(file)
            }
        };
        file.write_all(line)
            .map_err(DaemonError::io("append to", &self.inner.path))?;
        st.file_len += line_len;
        Ok(())
    }
}

/// The `n` to continue after, or why `cursor` cannot be served.
fn check_cursor(st: &State, cursor: &str) -> Result<u64, EventQueryError> {
    let expired = |reason: String| EventQueryError::CursorExpired {
        since: cursor.to_string(),
        head: format!("{}:{}", st.epoch, st.last),
        reason,
    };
    let Some(parsed) = Cursor::parse(cursor) else {
        return Err(expired(
            "is not a cursor of this daemon (expected <epoch>:<n>)".into(),
        ));
    };
    if parsed.epoch != st.epoch {
        return Err(expired(format!(
            "is from another epoch (the event log was reset; the epoch is now {})",
            st.epoch
        )));
    }
    if parsed.n > st.last {
        return Err(expired(
            "is ahead of the newest event (events were lost in a crash)".into(),
        ));
    }
    if let Some(oldest) = st.ring.front() {
        if parsed.n.saturating_add(1) < oldest.n {
            return Err(expired(format!(
                "is older than the {} events kept",
                st.ring.len()
            )));
        }
    }
    Ok(parsed.n)
}

struct Recovered {
    epoch: Option<String>,
    last: u64,
    ring: VecDeque<Stored>,
}

/// Reads both generations: the epoch of the newest readable event, the highest `n` of that epoch, and
/// its newest `ring_size` events. Unreadable lines (torn, foreign, garbage) are skipped. Memory stays
/// bounded by the ring, not by the files.
fn recover(rotated: &Path, current: &Path, ring_size: usize) -> Result<Recovered, DaemonError> {
    let old = read_events(rotated, ring_size)?;
    let new = read_events(current, ring_size)?;
    let Some(epoch) = new.epoch().or(old.epoch()) else {
        return Ok(Recovered {
            epoch: None,
            last: 0,
            ring: VecDeque::new(),
        });
    };
    let last = old.highest(&epoch).max(new.highest(&epoch));
    let mut all: Vec<Stored> = old
        .newest
        .into_iter()
        .chain(new.newest)
        .filter(|(cursor, _)| cursor.epoch == epoch)
        .map(|(cursor, event)| Stored { n: cursor.n, event })
        .collect();
    all.sort_by_key(|s| s.n);
    all.dedup_by_key(|s| s.n);
    let skip = all.len().saturating_sub(ring_size);
    Ok(Recovered {
        epoch: Some(epoch),
        last,
        ring: all.into_iter().skip(skip).collect(),
    })
}

/// What one file holds: its newest readable events and the highest `n` seen per epoch.
#[derive(Default)]
struct FileEvents {
    newest: VecDeque<(Cursor, Event)>,
    highest: Vec<(String, u64)>,
}

impl FileEvents {
    fn epoch(&self) -> Option<String> {
        self.newest.back().map(|(cursor, _)| cursor.epoch.clone())
    }

    fn highest(&self, epoch: &str) -> u64 {
        self.highest
            .iter()
            .find(|(e, _)| e == epoch)
            .map_or(0, |(_, n)| *n)
    }

    fn push(&mut self, cursor: Cursor, event: Event, keep: usize) {
        match self.highest.iter_mut().find(|(e, _)| *e == cursor.epoch) {
            Some((_, n)) => *n = (*n).max(cursor.n),
            None => self.highest.push((cursor.epoch.clone(), cursor.n)),
        }
        self.newest.push_back((cursor, event));
        if self.newest.len() > keep {
            self.newest.pop_front();
        }
    }
}

/// The readable event lines of `path` (the newest `keep` of them); nothing when the file is missing.
fn read_events(path: &Path, keep: usize) -> Result<FileEvents, DaemonError> {
    let mut out = FileEvents::default();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(DaemonError::io("open", path)(e)),
    };
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(DaemonError::io("read", path))?;
        if read == 0 {
            break;
        }
        if line.len() > MAX_LINE && line.last() != Some(&b'\n') {
            // Not a line the kit wrote; skip the rest of it without holding it in memory.
            reader
                .skip_until(b'\n')
                .map_err(DaemonError::io("read", path))?;
            continue;
        }
        if let Some((cursor, event)) = parse_line(&line) {
            out.push(cursor, event, keep);
        }
    }
    Ok(out)
}

fn parse_line(line: &[u8]) -> Option<(Cursor, Event)> {
    let event: Event = serde_json::from_slice(line.trim_ascii()).ok()?;
    let cursor = Cursor::parse(&event.cursor)?;
    Some((cursor, event))
}

/// Opens `events.jsonl` for appending (mode 0600), first repairing a torn last line: a complete event
/// missing its newline gets one, a partial line is cut off, so the next line starts clean.
fn open_for_append(path: &Path) -> Result<(File, u64), DaemonError> {
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(DaemonError::io("open", path))?;
    let len = file
        .metadata()
        .map_err(DaemonError::io("stat", path))?
        .len();
    let len = repair_tail(&file, path, len).map_err(DaemonError::io("repair", path))?;
    Ok((file, len))
}

fn repair_tail(mut file: &File, path: &Path, len: u64) -> std::io::Result<u64> {
    if len == 0 {
        return Ok(0);
    }
    let mut last = [0u8; 1];
    file.read_exact_at(&mut last, len - 1)?;
    if last[0] == b'\n' {
        return Ok(len);
    }
    // Find where the unterminated last line starts.
    let mut chunk = vec![0u8; 64 * 1024];
    let mut end = len;
    let mut tail_start = 0;
    while end > 0 {
        let begin = end.saturating_sub(chunk.len() as u64);
        let buf = &mut chunk[..(end - begin) as usize];
        file.read_exact_at(buf, begin)?;
        if let Some(i) = buf.iter().rposition(|&b| b == b'\n') {
            tail_start = begin + i as u64 + 1;
            break;
        }
        end = begin;
    }
    let tail_len = len - tail_start;
    if tail_len <= MAX_LINE as u64 {
        let mut tail = vec![0u8; tail_len as usize];
        file.read_exact_at(&mut tail, tail_start)?;
        if parse_line(&tail).is_some() {
            file.write_all(b"\n")?;
            return Ok(len + 1);
        }
    }
    tracing::warn!(path = %path.display(), bytes = tail_len, "dropped a torn last line from the event log");
    file.set_len(tail_start)?;
    Ok(tail_start)
}

#[cfg(test)]
mod tests;
