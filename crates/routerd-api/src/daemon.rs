//! Managed daemon API (`daemon.routerd.net/v1alpha1`): the objects every daemon serves on its own socket
//! and routerd reads. Shared here so the daemon kit, routerd's supervisor and routerctl agree.

use crate::condition::Condition;
use crate::event::Event;
use crate::phase::Phase;
use crate::time::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub const DAEMON_API_VERSION: &str = "daemon.routerd.net/v1alpha1";

/// Version of the `DaemonStatus` body, `observed` fields included, that this build writes. routerd and
/// an adopted daemon run different builds during and after an upgrade, in either direction, so the body
/// evolves compatibly and is read tolerantly:
///
/// - Every change of the body raises this number. A field never changes meaning or type under its
///   name: a changed field gets a new name (the old one is still written while older readers may be
///   around). So a reader reads any version: fields it does not know are ignored, optional fields an
///   older writer did not write take their defaults.
/// - A writer whose body older readers cannot read at all says so in `minReaderVersion`; a reader whose
///   own version is below it treats the status as unreadable (host left as it is, the resource in
///   `Error`, never "no lease").
/// - What a controller acts on (a lease's address) it decodes strictly: a missing or malformed value is
///   unreadable, never a default.
///
/// History: 1 — the first body (also every body without `schemaVersion`); 2 — `minReaderVersion`.
pub const STATUS_SCHEMA_VERSION: u32 = 2;

/// The oldest reader that can read what this build writes (see [`STATUS_SCHEMA_VERSION`]).
pub const STATUS_MIN_READER_VERSION: u32 = 1;

/// Daemons built before the field existed wrote version 1 without saying so.
fn unversioned_status() -> u32 {
    1
}

/// Any reader can read a body that does not say otherwise.
fn any_reader() -> u32 {
    1
}

/// Who is answering: executable kind, instance (resource name), process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DaemonIdentity {
    /// Executable name, e.g. `routerd-healthcheck`.
    pub kind: String,
    /// Resource name, e.g. `internet`.
    pub instance: String,
    pub pid: u32,
    pub version: String,
    pub started_at: Timestamp,
}

/// `{apiVersion, kind, name}` of the resource a daemon reports on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
}

/// A daemon's view of one resource: phase from the seed vocabulary, conditions, typed observations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DaemonResourceStatus {
    pub resource: ResourceRef,
    pub phase: Phase,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Kind-specific typed values (numbers are numbers, lists are lists).
    #[serde(default)]
    pub observed: serde_json::Map<String, serde_json::Value>,
    /// When the phase last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
}

/// Body of kind `DaemonStatus`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DaemonStatus {
    /// [`STATUS_SCHEMA_VERSION`] of the daemon that wrote it (absent: 1).
    #[serde(default = "unversioned_status")]
    pub schema_version: u32,
    /// [`STATUS_MIN_READER_VERSION`] of the daemon that wrote it (absent: 1, anyone reads it).
    #[serde(default = "any_reader")]
    pub min_reader_version: u32,
    pub daemon: DaemonIdentity,
    /// The process's own state: `Starting`, `Running`, `Stopping`.
    pub phase: String,
    pub resources: Vec<DaemonResourceStatus>,
    /// Newest event cursor, so a reader that got `CursorExpired` knows where to continue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_cursor: Option<String>,
}

/// Body of kind `CommandResult`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CommandResult {
    pub command: String,
    pub accepted: bool,
    #[serde(default)]
    pub message: String,
    /// Command-specific result (e.g. the probe result of a healthcheck `renew`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
}

/// Body of `GET /v1/events` (kind `EventList`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DaemonEventList {
    pub cursor: String,
    pub items: Vec<Event>,
}

/// Body of `GET /v1/healthz` (kind `Health`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DaemonHealth {
    /// `ok` or `failing`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `{"apiVersion": "daemon.routerd.net/v1alpha1", "kind": kind, ...body}`.
pub fn daemon_envelope<T: Serialize>(kind: &str, body: &T) -> serde_json::Value {
    let mut v = crate::control::envelope(kind, body);
    v["apiVersion"] = DAEMON_API_VERSION.into();
    v
}

/// The log file of the daemon serving `socket` (its stdout and stderr, written by the daemon itself):
/// `<runtime>/<kind>/<name>.log` next to `<name>.sock`, rotated to `.log.1`. routerd opens it for the
/// daemon; the daemon serves it on `GET /v1/logs`.
pub fn daemon_log_path(socket: &std::path::Path) -> std::path::PathBuf {
    socket.with_extension("log")
}

/// Body of `GET /v1/logs` (kind `DaemonLog`): the newest lines of the daemon's log file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DaemonLog {
    pub file: String,
    pub lines: Vec<String>,
}

/// The directory name a daemon kind uses under the runtime and state directories
/// (`routerd-healthcheck` → `healthcheck`).
pub fn daemon_dir_name(executable: &str) -> &str {
    executable.strip_prefix("routerd-").unwrap_or(executable)
}
