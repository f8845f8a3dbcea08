//! The config ledger: one row per generation holding the whole desired set and the manifest snapshot,
//! written in one transaction so a generation is either entirely there or not at all.

use crate::db;
use crate::StoreError;
use routerd_api::control::GenerationInfo;
use routerd_api::time::Timestamp;
use rusqlite::{Connection, OptionalExtension};
use std::path::Path;
use std::sync::Mutex;

/// A committed generation with its desired set (a JSON array of resources).
#[derive(Debug, Clone)]
pub struct Generation {
    pub info: GenerationInfo,
    pub resources_json: String,
    pub manifest: String,
}

/// What a new generation records.
#[derive(Debug, Clone)]
pub struct NewGeneration {
    pub source: String,
    pub resources_json: String,
    pub manifest: String,
    pub resource_count: u64,
    pub created: u64,
    pub updated: u64,
    pub deleted: u64,
    pub rollback_of: Option<u64>,
}

/// The ledger's connections: reads have their own, so a list never waits behind a commit that waits
/// (up to the busy timeout) for SQLite's write lock; in WAL mode a reader never blocks on a writer.
pub struct Ledger {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
}

fn lock(conn: &Mutex<Connection>) -> Result<std::sync::MutexGuard<'_, Connection>, StoreError> {
    conn.lock()
        .map_err(|_| StoreError::Corrupt("ledger lock poisoned".into()))
}

impl Ledger {
    pub fn open(path: &Path) -> Result<Ledger, StoreError> {
        let writer = db::open(path)?;
        // The event store's checkpoint thread checkpoints; a commit here never does.
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        Ok(Ledger {
            writer: Mutex::new(writer),
            reader: Mutex::new(db::open(path)?),
        })
    }

    fn conn(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StoreError> {
        lock(&self.reader)
    }

    /// The generation in force (0 before the first commit).
    pub fn current_generation(&self) -> Result<u64, StoreError> {
        let c = self.conn()?;
        Ok(c.query_row(
            "SELECT COALESCE(MAX(generation), 0) FROM generations",
            [],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    /// Commits a new generation if the current one is still `expected`; returns its number.
    pub fn commit(&self, expected: u64, g: NewGeneration) -> Result<u64, StoreError> {
        let mut c = lock(&self.writer)?;
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let current: i64 = tx.query_row(
            "SELECT COALESCE(MAX(generation), 0) FROM generations",
            [],
            |r| r.get(0),
        )?;
        if current as u64 != expected {
            return Err(StoreError::GenerationConflict {
                expected,
                current: current as u64,
            });
        }
        let next = current + 1;
        tx.execute(
            "INSERT INTO generations (generation, created_at, source, resources, manifest, created, updated, deleted, rollback_of)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            rusqlite::params![
                next,
                Timestamp::now().nanos(),
                g.source,
                g.resources_json,
                g.manifest,
                g.created as i64,
                g.updated as i64,
                g.deleted as i64,
                g.rollback_of.map(|r| r as i64),
            ],
        )?;
        tx.commit()?;
        Ok(next as u64)
    }

    pub fn get(&self, generation: u64) -> Result<Option<Generation>, StoreError> {
        let c = self.conn()?;
        c.query_row(
            "SELECT generation, created_at, source, resources, manifest, created, updated, deleted, rollback_of FROM generations WHERE generation = ?1",
            [generation as i64],
            row_to_generation,
        )
        .optional()
        .map_err(StoreError::from)
    }

    pub fn latest(&self) -> Result<Option<Generation>, StoreError> {
        let current = self.current_generation()?;
        if current == 0 {
            return Ok(None);
        }
        self.get(current)
    }

    /// Newest first.
    pub fn list(&self, limit: usize) -> Result<Vec<GenerationInfo>, StoreError> {
        let c = self.conn()?;
        let mut stmt = c.prepare_cached(
            "SELECT generation, created_at, source, resources, manifest, created, updated, deleted, rollback_of FROM generations ORDER BY generation DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit as i64], row_to_generation)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r?.info);
        }
        Ok(out)
    }
}

fn row_to_generation(r: &rusqlite::Row<'_>) -> rusqlite::Result<Generation> {
    let resources_json: String = r.get(3)?;
    let resource_count = serde_json::from_str::<Vec<serde_json::Value>>(&resources_json)
        .map(|v| v.len() as u64)
        .unwrap_or(0);
    Ok(Generation {
        info: GenerationInfo {
            generation: r.get::<_, i64>(0)? as u64,
            created_at: Timestamp(r.get(1)?),
            source: r.get(2)?,
            resource_count,
            created: r.get::<_, i64>(5)? as u64,
            updated: r.get::<_, i64>(6)? as u64,
            deleted: r.get::<_, i64>(7)? as u64,
            rollback_of: r.get::<_, Option<i64>>(8)?.map(|v| v as u64),
        },
        resources_json,
        manifest: r.get(4)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gen(n: usize) -> NewGeneration {
        NewGeneration {
            source: "apply".into(),
            resources_json: format!("[{}]", vec!["{}"; n].join(",")),
            manifest: String::new(),
            resource_count: n as u64,
            created: n as u64,
            updated: 0,
            deleted: 0,
            rollback_of: None,
        }
    }

    #[test]
    fn generations_increase_and_conflicts_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::open(&dir.path().join("routerd.db")).unwrap();
        assert_eq!(l.current_generation().unwrap(), 0);
        assert_eq!(l.commit(0, gen(1)).unwrap(), 1);
        assert_eq!(l.commit(1, gen(2)).unwrap(), 2);
        assert!(matches!(
            l.commit(1, gen(3)),
            Err(StoreError::GenerationConflict {
                expected: 1,
                current: 2
            })
        ));
        let list = l.list(10).unwrap();
        assert_eq!(
            list.iter().map(|g| g.generation).collect::<Vec<_>>(),
            [2, 1]
        );
        assert_eq!(list[0].resource_count, 2);
        assert_eq!(l.latest().unwrap().unwrap().info.generation, 2);
        assert!(l.get(9).unwrap().is_none());
    }
}
