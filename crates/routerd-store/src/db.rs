//! Opening the database with the pragmas every connection needs, and the schema.

use crate::StoreError;
use rusqlite::Connection;
use std::path::Path;
use std::time::Duration;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS generations (
    generation INTEGER PRIMARY KEY,
    created_at INTEGER NOT NULL,
    source TEXT NOT NULL,
    resources TEXT NOT NULL,
    manifest TEXT NOT NULL,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    rollback_of INTEGER
);
CREATE TABLE IF NOT EXISTS events (
    cursor INTEGER PRIMARY KEY AUTOINCREMENT,
    time INTEGER NOT NULL,
    topic TEXT NOT NULL,
    severity INTEGER NOT NULL,
    source_kind TEXT NOT NULL,
    source_instance TEXT NOT NULL,
    message TEXT NOT NULL,
    attributes TEXT NOT NULL,
    resource_kind TEXT,
    resource_name TEXT
);
CREATE INDEX IF NOT EXISTS events_topic ON events (topic, cursor);
CREATE INDEX IF NOT EXISTS events_resource ON events (resource_kind, resource_name, cursor);
CREATE INDEX IF NOT EXISTS events_time ON events (time);
CREATE TABLE IF NOT EXISTS resource_status (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (kind, name)
);
CREATE TABLE IF NOT EXISTS owned_artifacts (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    artifact TEXT NOT NULL,
    PRIMARY KEY (kind, name)
);
"#;

/// Opens (creating if needed) the database with WAL, NORMAL sync and a busy timeout, and applies the
/// schema. NORMAL in WAL mode keeps every committed transaction across a process crash; only an OS crash
/// can lose the last few, which is the usual trade for group commit.
pub fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}
