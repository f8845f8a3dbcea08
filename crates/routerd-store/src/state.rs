//! Resource status objects and records of what routerd installed on the host (so a delete removes
//! exactly that, even after a restart). Reads come from memory; writes are committed by the event
//! store's single writer thread, in the order they are made, so they never contend with event commits
//! for SQLite's write lock.
//!
//! The two kinds of write differ in what a caller is told:
//! - an ownership record ([`StateStore::put_artifact`], [`StateStore::delete_artifact`]) returns only
//!   once it is committed, and changes what [`StateStore::get_artifact`] answers only then. A record
//!   that was lost would make routerd take its own object for someone else's and never remove it, so
//!   its caller must know before it acts on the host;
//! - a status write updates memory at once and is persisted behind it; a failure is logged. Status is
//!   an observation the next reconcile writes again, and the status book's callers are synchronous.

use crate::db;
use crate::event_store::{EventStore, WriteOp};
use crate::StoreError;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

type Key = (String, String);
type Records = Arc<Mutex<HashMap<Key, serde_json::Value>>>;

pub struct StateStore {
    status: Mutex<HashMap<Key, serde_json::Value>>,
    /// Ownership records as committed: changed by the writer thread after each commit.
    artifacts: Records,
    writer: EventStore,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn key(kind: &str, name: &str) -> Key {
    (kind.to_string(), name.to_string())
}

fn load(
    conn: &rusqlite::Connection,
    sql: &str,
) -> Result<HashMap<Key, serde_json::Value>, StoreError> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    let mut out = HashMap::new();
    for row in rows {
        let (k, n, s) = row?;
        let v =
            serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("{k}/{n}: {e}")))?;
        out.insert((k, n), v);
    }
    Ok(out)
}

impl StateStore {
    /// Loads what is stored; later writes go through `writer` (the event store of the same database).
    pub fn open(path: &Path, writer: EventStore) -> Result<StateStore, StoreError> {
        let conn = db::open(path)?;
        let status = load(&conn, "SELECT kind, name, status FROM resource_status")?;
        let artifacts = load(&conn, "SELECT kind, name, artifact FROM owned_artifacts")?;
        Ok(StateStore {
            status: Mutex::new(status),
            artifacts: Arc::new(Mutex::new(artifacts)),
            writer,
        })
    }

    /// Queues a status write; a failure is logged (see the module doc).
    fn persist_status(&self, what: String, op: WriteOp) -> Result<(), StoreError> {
        self.writer.write(
            op,
            Box::new(move |outcome| {
                if let Err(error) = outcome {
                    tracing::warn!(%error, status = %what, "status could not be persisted");
                }
            }),
        )
    }

    /// Commits an ownership write; once it is committed, `then` updates the records in memory (on the
    /// writer thread, so memory follows the commit order).
    async fn persist_record(
        &self,
        op: WriteOp,
        then: impl FnOnce(&mut HashMap<Key, serde_json::Value>) + Send + 'static,
    ) -> Result<(), StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let records = self.artifacts.clone();
        self.writer.write(
            op,
            Box::new(move |outcome| {
                if outcome.is_ok() {
                    then(&mut lock(&records));
                }
                let _ = tx.send(outcome);
            }),
        )?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::WriteFailed(e)),
            Err(_) => Err(StoreError::WriterStopped),
        }
    }

    pub fn put_status(
        &self,
        kind: &str,
        name: &str,
        status: &serde_json::Value,
    ) -> Result<(), StoreError> {
        lock(&self.status).insert(key(kind, name), status.clone());
        let (k, n, v) = (kind.to_string(), name.to_string(), status.to_string());
        self.persist_status(
            format!("{kind}/{name}"),
            Box::new(move |tx| {
                tx.execute(
                    "INSERT INTO resource_status (kind, name, status) VALUES (?1, ?2, ?3)
                 ON CONFLICT(kind, name) DO UPDATE SET status = excluded.status",
                    rusqlite::params![k, n, v],
                )
                .map(|_| ())
            }),
        )
    }

    pub fn delete_status(&self, kind: &str, name: &str) -> Result<(), StoreError> {
        lock(&self.status).remove(&key(kind, name));
        let (k, n) = (kind.to_string(), name.to_string());
        self.persist_status(
            format!("{kind}/{name}"),
            Box::new(move |tx| {
                tx.execute(
                    "DELETE FROM resource_status WHERE kind = ?1 AND name = ?2",
                    [k, n],
                )
                .map(|_| ())
            }),
        )
    }

    /// Every stored status, as (kind, name, status).
    pub fn all_status(&self) -> Result<Vec<(String, String, serde_json::Value)>, StoreError> {
        Ok(lock(&self.status)
            .iter()
            .map(|((k, n), v)| (k.clone(), n.clone(), v.clone()))
            .collect())
    }

    /// Records what routerd installed for `kind`/`name`; returns once the record is committed.
    pub async fn put_artifact(
        &self,
        kind: &str,
        name: &str,
        artifact: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let (k, n, v) = (kind.to_string(), name.to_string(), artifact.to_string());
        let (entry, value) = (key(kind, name), artifact.clone());
        self.persist_record(
            Box::new(move |tx| {
                tx.execute(
                    "INSERT INTO owned_artifacts (kind, name, artifact) VALUES (?1, ?2, ?3)
                 ON CONFLICT(kind, name) DO UPDATE SET artifact = excluded.artifact",
                    rusqlite::params![k, n, v],
                )
                .map(|_| ())
            }),
            move |records| {
                records.insert(entry, value);
            },
        )
        .await
    }

    pub fn get_artifact(
        &self,
        kind: &str,
        name: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        Ok(lock(&self.artifacts).get(&key(kind, name)).cloned())
    }

    /// Forgets the record of `kind`/`name`; returns once that is committed.
    pub async fn delete_artifact(&self, kind: &str, name: &str) -> Result<(), StoreError> {
        let (k, n) = (kind.to_string(), name.to_string());
        let entry = key(kind, name);
        self.persist_record(
            Box::new(move |tx| {
                tx.execute(
                    "DELETE FROM owned_artifacts WHERE kind = ?1 AND name = ?2",
                    [k, n],
                )
                .map(|_| ())
            }),
            move |records| {
                records.remove(&entry);
            },
        )
        .await
    }

    /// Names with a recorded artifact of `kind` (to find what must be removed after a delete).
    pub fn artifact_names(&self, kind: &str) -> Result<Vec<String>, StoreError> {
        let mut names: Vec<String> = lock(&self.artifacts)
            .keys()
            .filter(|(k, _)| k == kind)
            .map(|(_, n)| n.clone())
            .collect();
        names.sort();
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    fn flush(s: &EventStore) {
        let (tx, rx) = mpsc::channel();
        s.flush(Box::new(move || {
            let _ = tx.send(());
        }))
        .unwrap();
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
    }

    #[tokio::test]
    async fn status_and_artifacts_round_trip_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("routerd.db");
        let events = EventStore::open(&db, 1, Box::new(|_| {})).unwrap();
        let s = StateStore::open(&db, events.clone()).unwrap();
        s.put_status("Interface", "lan", &serde_json::json!({"phase": "Up"}))
            .unwrap();
        s.put_status("Interface", "lan", &serde_json::json!({"phase": "Pending"}))
            .unwrap();
        assert_eq!(s.all_status().unwrap()[0].2["phase"], "Pending");
        s.put_artifact(
            "IPv4StaticAddress",
            "lan",
            &serde_json::json!({"address": "192.0.2.1/24"}),
        )
        .await
        .unwrap();
        s.put_artifact("IPv4StaticAddress", "gone", &serde_json::json!({}))
            .await
            .unwrap();
        s.delete_artifact("IPv4StaticAddress", "gone")
            .await
            .unwrap();
        assert_eq!(s.artifact_names("IPv4StaticAddress").unwrap(), ["lan"]);
        flush(&events);
        let again = StateStore::open(&db, events.clone()).unwrap();
        assert_eq!(again.all_status().unwrap()[0].2["phase"], "Pending");
        assert_eq!(again.artifact_names("IPv4StaticAddress").unwrap(), ["lan"]);
        again
            .delete_artifact("IPv4StaticAddress", "lan")
            .await
            .unwrap();
        assert!(again
            .get_artifact("IPv4StaticAddress", "lan")
            .unwrap()
            .is_none());
        events.close();
    }

    #[tokio::test]
    async fn a_record_that_cannot_be_committed_is_an_error_and_is_not_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("routerd.db");
        let events = EventStore::open(&db, 1, Box::new(|_| {})).unwrap();
        let s = StateStore::open(&db, events.clone()).unwrap();
        let other = db::open(&db).unwrap();
        other
            .execute_batch(
                "CREATE TRIGGER no_ownership BEFORE INSERT ON owned_artifacts
                 BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
            )
            .unwrap();
        let artifact = serde_json::json!({"address": "192.0.2.1/24"});
        // Queued together with a write that succeeds: only the failing one fails.
        s.put_status(
            "IPv4StaticAddress",
            "lan",
            &serde_json::json!({"phase": "Applied"}),
        )
        .unwrap();
        let err = s
            .put_artifact("IPv4StaticAddress", "lan", &artifact)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("injected failure"), "{err}");
        assert!(s
            .get_artifact("IPv4StaticAddress", "lan")
            .unwrap()
            .is_none());
        other.execute_batch("DROP TRIGGER no_ownership").unwrap();
        s.put_artifact("IPv4StaticAddress", "lan", &artifact)
            .await
            .unwrap();
        flush(&events);
        let again = StateStore::open(&db, events.clone()).unwrap();
        assert_eq!(
            again.get_artifact("IPv4StaticAddress", "lan").unwrap(),
            Some(artifact)
        );
        assert_eq!(again.all_status().unwrap().len(), 1);
        events.close();
    }
}
