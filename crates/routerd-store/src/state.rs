//! Resource status objects and records of what routerd installed on the host (so a delete removes
//! exactly that, even after a restart). Reads come from memory; writes update memory at once and are
//! persisted in order by the event store's single writer thread, so status writes never contend with
//! event commits for SQLite's write lock.

use crate::db;
use crate::event_store::EventStore;
use crate::StoreError;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

type Key = (String, String);

pub struct StateStore {
    status: Mutex<HashMap<Key, serde_json::Value>>,
    artifacts: Mutex<HashMap<Key, serde_json::Value>>,
    writer: EventStore,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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
            artifacts: Mutex::new(artifacts),
            writer,
        })
    }

    fn persist(&self, op: crate::event_store::WriteOp) -> Result<(), StoreError> {
        self.writer.write(op)
    }

    pub fn put_status(
        &self,
        kind: &str,
        name: &str,
        status: &serde_json::Value,
    ) -> Result<(), StoreError> {
        lock(&self.status).insert((kind.to_string(), name.to_string()), status.clone());
        let (k, n, v) = (kind.to_string(), name.to_string(), status.to_string());
        self.persist(Box::new(move |tx| {
            tx.execute(
                "INSERT INTO resource_status (kind, name, status) VALUES (?1, ?2, ?3)
                 ON CONFLICT(kind, name) DO UPDATE SET status = excluded.status",
                rusqlite::params![k, n, v],
            )
            .map(|_| ())
        }))
    }

    pub fn delete_status(&self, kind: &str, name: &str) -> Result<(), StoreError> {
        lock(&self.status).remove(&(kind.to_string(), name.to_string()));
        let (k, n) = (kind.to_string(), name.to_string());
        self.persist(Box::new(move |tx| {
            tx.execute(
                "DELETE FROM resource_status WHERE kind = ?1 AND name = ?2",
                [k, n],
            )
            .map(|_| ())
        }))
    }

    /// Every stored status, as (kind, name, status).
    pub fn all_status(&self) -> Result<Vec<(String, String, serde_json::Value)>, StoreError> {
        Ok(lock(&self.status)
            .iter()
            .map(|((k, n), v)| (k.clone(), n.clone(), v.clone()))
            .collect())
    }

    pub fn put_artifact(
        &self,
        kind: &str,
        name: &str,
        artifact: &serde_json::Value,
    ) -> Result<(), StoreError> {
        lock(&self.artifacts).insert((kind.to_string(), name.to_string()), artifact.clone());
        let (k, n, v) = (kind.to_string(), name.to_string(), artifact.to_string());
        self.persist(Box::new(move |tx| {
            tx.execute(
                "INSERT INTO owned_artifacts (kind, name, artifact) VALUES (?1, ?2, ?3)
                 ON CONFLICT(kind, name) DO UPDATE SET artifact = excluded.artifact",
                rusqlite::params![k, n, v],
            )
            .map(|_| ())
        }))
    }

    pub fn get_artifact(
        &self,
        kind: &str,
        name: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        Ok(lock(&self.artifacts)
            .get(&(kind.to_string(), name.to_string()))
            .cloned())
    }

    pub fn delete_artifact(&self, kind: &str, name: &str) -> Result<(), StoreError> {
        lock(&self.artifacts).remove(&(kind.to_string(), name.to_string()));
        let (k, n) = (kind.to_string(), name.to_string());
        self.persist(Box::new(move |tx| {
            tx.execute(
                "DELETE FROM owned_artifacts WHERE kind = ?1 AND name = ?2",
                [k, n],
            )
            .map(|_| ())
        }))
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

    #[test]
    fn status_and_artifacts_round_trip_and_survive_reopen() {
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
        .unwrap();
        s.put_artifact("IPv4StaticAddress", "gone", &serde_json::json!({}))
            .unwrap();
        s.delete_artifact("IPv4StaticAddress", "gone").unwrap();
        assert_eq!(s.artifact_names("IPv4StaticAddress").unwrap(), ["lan"]);
        flush(&events);
        let again = StateStore::open(&db, events.clone()).unwrap();
        assert_eq!(again.all_status().unwrap()[0].2["phase"], "Pending");
        assert_eq!(again.artifact_names("IPv4StaticAddress").unwrap(), ["lan"]);
        again.delete_artifact("IPv4StaticAddress", "lan").unwrap();
        assert!(again
            .get_artifact("IPv4StaticAddress", "lan")
            .unwrap()
            .is_none());
        events.close();
    }
}
