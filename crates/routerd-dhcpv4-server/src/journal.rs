//! The lease journal: one JSON line per lease change, appended and made durable (`fdatasync`) before the
//! replies that depend on it leave. One sync covers every change of one loop turn, which is what keeps
//! the server fast under load and still loses no acknowledged lease across `kill -9`.
//!
//! Replay takes the last record of each address; a torn last line (a crash mid-write) is skipped. The
//! journal is rewritten from the live records (temporary file, sync, rename, directory sync) at start and
//! whenever it holds more than twice the live records plus [`COMPACT_SLACK`].

use crate::lease::Lease;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// File name in the daemon's state directory.
pub const JOURNAL_FILE: &str = "leases.jsonl";
/// Records beyond twice the live ones tolerated before compaction.
pub const COMPACT_SLACK: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

pub struct Journal {
    path: PathBuf,
    file: File,
    records: usize,
    /// Lines that could not be read at the last open (torn or foreign).
    pub skipped: usize,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl Journal {
    /// Opens (or creates) the journal at `path`, replays it and compacts it. Returns the leases.
    pub fn open(path: &Path) -> Result<(Journal, Vec<Lease>), JournalError> {
        let mut latest: HashMap<Ipv4Addr, Lease> = HashMap::new();
        let mut skipped = 0;
        match File::open(path) {
            Ok(f) => {
                for line in BufReader::new(f).lines() {
                    let line = line.map_err(io_err(path))?;
                    if line.trim().is_empty() {
                        continue;
                    }
                    match serde_json::from_str::<Lease>(&line) {
                        Ok(l) => {
                            latest.insert(l.address, l);
                        }
                        Err(_) => skipped += 1,
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(path)(e)),
        }
        let mut leases: Vec<Lease> = latest.into_values().collect();
        leases.sort_by_key(|l| u32::from(l.address));
        let file = rewrite(path, leases.iter())?;
        Ok((
            Journal {
                path: path.to_path_buf(),
                file,
                records: leases.len(),
                skipped,
            },
            leases,
        ))
    }

    /// Appends `changes` and syncs them to disk: when this returns `Ok`, they survive a crash.
    pub fn append(&mut self, changes: &[Lease]) -> Result<(), JournalError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(changes.len() * 200);
        for l in changes {
            serde_json::to_writer(&mut buf, l).map_err(|e| io_err(&self.path)(e.into()))?;
            buf.push(b'\n');
        }
        self.file.write_all(&buf).map_err(io_err(&self.path))?;
        self.file.sync_data().map_err(io_err(&self.path))?;
        self.records += changes.len();
        Ok(())
    }

    /// Whether the journal has grown enough past `live` records to be rewritten.
    pub fn needs_compaction(&self, live: usize) -> bool {
        self.records > live.saturating_mul(2).saturating_add(COMPACT_SLACK)
    }

    /// Rewrites the journal to exactly `live`.
    pub fn compact<'a>(
        &mut self,
        live: impl ExactSizeIterator<Item = &'a Lease>,
    ) -> Result<(), JournalError> {
        let n = live.len();
        self.file = rewrite(&self.path, live)?;
        self.records = n;
        Ok(())
    }
}

/// Writes `leases` to a temporary file, syncs it, renames it over `path`, syncs the directory, and
/// returns `path` opened for appending.
fn rewrite<'a>(path: &Path, leases: impl Iterator<Item = &'a Lease>) -> Result<File, JournalError> {
    let tmp = path.with_extension("jsonl.tmp");
    {
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        let mut buf = Vec::new();
        for l in leases {
            serde_json::to_writer(&mut buf, l).map_err(|e| io_err(&tmp)(e.into()))?;
            buf.push(b'\n');
        }
        f.write_all(&buf).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
    }
    std::fs::rename(&tmp, path).map_err(io_err(path))?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::LeaseState;
    use routerd_api::Timestamp;

    fn lease(last: u8, state: LeaseState) -> Lease {
        Lease {
            address: Ipv4Addr::new(192, 0, 2, last),
            mac: format!("02:00:00:00:00:{last:02x}"),
            client_id: None,
            hostname: Some("h".into()),
            state,
            expires_at: Timestamp::parse("2030-01-01T00:00:00Z").unwrap(),
            updated_at: Timestamp::parse("2029-01-01T00:00:00Z").unwrap(),
        }
    }

    #[test]
    fn last_record_wins_torn_line_skipped_and_compacted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        let (mut j, leases) = Journal::open(&path).unwrap();
        assert!(leases.is_empty());
        j.append(&[lease(10, LeaseState::Bound), lease(11, LeaseState::Bound)])
            .unwrap();
        j.append(&[lease(10, LeaseState::Released)]).unwrap();
        drop(j);
        // A crash mid-write leaves half a line.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"address":"192.0.2.12","ma"#).unwrap();
        drop(f);
        let (j, leases) = Journal::open(&path).unwrap();
        assert_eq!(j.skipped, 1);
        assert_eq!(leases.len(), 2);
        assert_eq!(leases[0].state, LeaseState::Released);
        assert_eq!(leases[1].state, LeaseState::Bound);
        // Compacted at open: one line per live lease.
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
    }

    #[test]
    fn compaction_threshold() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        let (mut j, _) = Journal::open(&path).unwrap();
        let l = lease(10, LeaseState::Bound);
        for _ in 0..(COMPACT_SLACK + 3) {
            j.append(std::slice::from_ref(&l)).unwrap();
        }
        assert!(j.needs_compaction(1));
        j.compact([&l].into_iter()).unwrap();
        assert!(!j.needs_compaction(1));
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
    }
}
