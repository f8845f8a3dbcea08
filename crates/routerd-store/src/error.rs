/// Failures of the stores; callers map them onto API errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite itself failed (I/O, corruption, locked beyond the busy timeout).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored JSON document could not be decoded (written by a newer or broken version).
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    /// `ifGeneration` did not match the generation in force.
    #[error("generation is {current}, not {expected}")]
    GenerationConflict { expected: u64, current: u64 },
    /// The requested cursor is older than what retention kept; continue from `oldest`.
    #[error("cursor {since} has expired; events up to {oldest} were removed by retention")]
    CursorExpired { since: u64, oldest: u64 },
    /// A queued write was not committed (SQLite refused it or its transaction failed).
    #[error("write not stored: {0}")]
    WriteFailed(String),
    /// The background writer has stopped (routerd is shutting down).
    #[error("the event writer has stopped")]
    WriterStopped,
    #[error("not found: {0}")]
    NotFound(String),
}
