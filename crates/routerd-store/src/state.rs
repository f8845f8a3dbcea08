//! Resource status objects and records of what routerd installed on the host (so a delete removes
//! exactly that, even after a restart).

use crate::db;
use crate::StoreError;
use rusqlite::{Connection, OptionalExtension};
use std::path::Path;
use std::sync::Mutex;

pub struct StateStore {
    conn: Mutex<Connection>,
}

impl StateStore {
    pub fn open(path: &Path) -> Result<StateStore, StoreError> {
        Ok(StateStore {
            conn: Mutex::new(db::open(path)?),
        })
    }

    fn conn(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StoreError> {
        self.conn
            .lock()
            .map_err(|_| StoreError::Corrupt("state lock poisoned".into()))
    }

    pub fn put_status(
        &self,
        kind: &str,
        name: &str,
        status: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.conn()?.execute(
            "INSERT INTO resource_status (kind, name, status) VALUES (?1, ?2, ?3)
             ON CONFLICT(kind, name) DO UPDATE SET status = excluded.status",
            rusqlite::params![kind, name, status.to_string()],
        )?;
        Ok(())
    }

    pub fn delete_status(&self, kind: &str, name: &str) -> Result<(), StoreError> {
        self.conn()?.execute(
            "DELETE FROM resource_status WHERE kind = ?1 AND name = ?2",
            [kind, name],
        )?;
        Ok(())
    }

    /// Every stored status, as (kind, name, status).
    pub fn all_status(&self) -> Result<Vec<(String, String, serde_json::Value)>, StoreError> {
        let c = self.conn()?;
        let mut stmt = c.prepare("SELECT kind, name, status FROM resource_status")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (k, n, s) = row?;
            let v = serde_json::from_str(&s)
                .map_err(|e| StoreError::Corrupt(format!("status of {k}/{n}: {e}")))?;
            out.push((k, n, v));
        }
        Ok(out)
    }

    pub fn put_artifact(
        &self,
        kind: &str,
        name: &str,
        artifact: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.conn()?.execute(
            "INSERT INTO owned_artifacts (kind, name, artifact) VALUES (?1, ?2, ?3)
             ON CONFLICT(kind, name) DO UPDATE SET artifact = excluded.artifact",
            rusqlite::params![kind, name, artifact.to_string()],
        )?;
        Ok(())
    }

    pub fn get_artifact(
        &self,
        kind: &str,
        name: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let c = self.conn()?;
        let s: Option<String> = c
            .query_row(
                "SELECT artifact FROM owned_artifacts WHERE kind = ?1 AND name = ?2",
                [kind, name],
                |r| r.get(0),
            )
            .optional()?;
        s.map(|s| {
            serde_json::from_str(&s)
                .map_err(|e| StoreError::Corrupt(format!("artifact of {kind}/{name}: {e}")))
        })
        .transpose()
    }

    pub fn delete_artifact(&self, kind: &str, name: &str) -> Result<(), StoreError> {
        self.conn()?.execute(
            "DELETE FROM owned_artifacts WHERE kind = ?1 AND name = ?2",
            [kind, name],
        )?;
        Ok(())
    }

    /// Names with a recorded artifact of `kind` (to find what must be removed after a delete).
    pub fn artifact_names(&self, kind: &str) -> Result<Vec<String>, StoreError> {
        let c = self.conn()?;
        let mut stmt =
            c.prepare("SELECT name FROM owned_artifacts WHERE kind = ?1 ORDER BY name")?;
        let rows = stmt.query_map([kind], |r| r.get::<_, String>(0))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_artifacts_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateStore::open(&dir.path().join("routerd.db")).unwrap();
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
        assert_eq!(s.artifact_names("IPv4StaticAddress").unwrap(), ["lan"]);
        assert!(s
            .get_artifact("IPv4StaticAddress", "lan")
            .unwrap()
            .is_some());
        s.delete_artifact("IPv4StaticAddress", "lan").unwrap();
        assert!(s
            .get_artifact("IPv4StaticAddress", "lan")
            .unwrap()
            .is_none());
    }
}
