//! The kit's errors. Each says what failed and where (a path, a socket, a line and field), so the message
//! routerd copies from a daemon's stderr is enough to act on.

use std::path::PathBuf;

/// A failure of the kit: files, sockets, signals, events.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// A file or directory operation failed (`action` is e.g. `read`, `rename`, `create`).
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A JSON file is malformed or does not fit the expected type. `field` is the path to the offending
    /// value (`probe.target`, `servers[1]`), empty when the document itself is broken.
    #[error("{}:{line}:{column}: {}{message}", .path.display(), field_prefix(.field))]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        field: String,
        message: String,
    },
    /// A value could not be encoded as JSON (a map with non-string keys, a failing `Serialize`).
    #[error("cannot encode {}: {message}", .path.display())]
    Encode { path: PathBuf, message: String },
    /// The API socket could not be set up: in use by a live process, not a socket, or not bindable.
    #[error("{0}")]
    Socket(String),
    /// A signal handler could not be installed, so SIGTERM would kill the daemon without a clean stop.
    #[error("cannot handle {signal}: {source}")]
    Signal {
        signal: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// An event was refused before it got a cursor (its topic breaks the grammar of `events.md`).
    #[error("invalid event: {0}")]
    InvalidEvent(String),
}

fn field_prefix(field: &str) -> String {
    if field.is_empty() || field == "." {
        String::new()
    } else {
        format!("field {field}: ")
    }
}

impl DaemonError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> DaemonError {
        let path = path.into();
        move |source| DaemonError::Io {
            action,
            path,
            source,
        }
    }
}

/// Why a query of the event log cannot be answered; the reader resynchronises from `/v1/status`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventQueryError {
    /// `since` is from another epoch (the log was reset), malformed, ahead of the newest event, or older
    /// than the ring keeps. `head` is the newest cursor, where the reader continues.
    #[error("cursor {since:?} {reason}; re-read /v1/status and continue from cursor {head}")]
    CursorExpired {
        since: String,
        head: String,
        reason: String,
    },
}
