//! The managed-daemon kit every routerd daemon is built on (`routerd-healthcheck`,
//! `routerd-dhcpv4-client`, ...). It owns what all of them share and knows no protocol:
//!
//! - the command-line flags ([`DaemonArgs`]) and logging set-up ([`init_logging`]);
//! - the event log ([`EventLog`]): a ring of the newest events, `events.jsonl` with rotation, cursors
//!   `<epoch>:<n>` that survive restarts, long-polling;
//! - atomic state files ([`write_json_atomic`], [`write_atomic`], [`read_json`]) and config loading ([`load_config`]);
//! - the seed of a protocol core's injected randomness ([`seeded_xorshift`]); the clock, randomness,
//!   status bookkeeping ([`StatusTracker`]) and the `ifname` check themselves live in the I/O-free
//!   `routerd-sansio`, re-exported here for daemon shells;
//! - the `/v1/*` API server on the daemon's Unix socket, lifecycle events and signals ([`serve`]),
//!   driven by the [`Daemon`] trait a daemon implements, and the [`StopHandle`] every task listens to;
//! - for daemons whose protocol runs in one driver task, the [`driven`] wiring between that task and
//!   the API (status snapshot, command channel, `main`);
//! - rtnetlink change notifications for daemons that follow an interface ([`link_watch`]), the look
//!   at the interface they re-read on each ([`interface`]).
//!
//! The contract is `daemon-api.md` (`daemon.routerd.net/v1alpha1`); the wire types live in
//! `routerd_api::daemon` so routerd and routerctl read exactly what the kit writes.
// One `unsafe` call, allowed where it is: registering the netlink socket with tokio (`link_watch.rs`).
#![deny(unsafe_code)]

mod args;
mod config;
mod cursor;
mod daemon;
pub mod driven;
mod entropy;
mod entry;
mod error;
mod event_log;
pub mod interface;
pub mod link_watch;
mod logging;
mod server;
mod state_file;
mod stop;

pub use args::{DaemonArgs, LogFormat};
pub use config::load_config;
pub use cursor::Cursor;
pub use daemon::{CommandError, Daemon};
pub use entropy::seeded_xorshift;
pub use entry::run_daemon;
pub use error::{DaemonError, EventQueryError};
pub use event_log::{clamp_wait, EventLog, EVENTS_FILE, MAX_WAIT, RING_SIZE, ROTATE_BYTES};
pub use logging::{init_logging, init_logging_for, log_file, set_log_file, tail_log};
pub use routerd_sansio::{check_ifname, hex, StatusTracker, MAX_IFNAME};
pub use server::{
    serve, BODY_LIMIT, DEFAULT_EVENT_LIMIT, HEADER_READ_TIMEOUT, MAX_CONNECTIONS, SOCKET_MODE,
};
pub use state_file::{
    flush_stores, read_json, store_json, store_removal, write_atomic, write_json_atomic,
};
pub use stop::StopHandle;

/// Re-exported so a daemon names the wire types through the kit it is built on.
pub use routerd_api::daemon::{CommandResult, DaemonResourceStatus, ResourceRef};

/// Lifecycle and command topics the kit emits (the catalogue is `events.md`).
pub mod topics {
    pub const LIFECYCLE_STARTED: &str = "routerd.daemon.lifecycle.started";
    pub const LIFECYCLE_READY: &str = "routerd.daemon.lifecycle.ready";
    pub const LIFECYCLE_STOPPED: &str = "routerd.daemon.lifecycle.stopped";
    pub const COMMAND_ACCEPTED: &str = "routerd.daemon.command.accepted";
    pub const COMMAND_REJECTED: &str = "routerd.daemon.command.rejected";
}
