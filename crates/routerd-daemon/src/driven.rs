//! A daemon whose protocol runs in one driver task (the DHCP clients): the task owns the protocol state,
//! its sockets and timers, and the kit's API side only reads a status snapshot and forwards commands.
//! Keeping every mutation on that one task is what lets the protocol code be plain `&mut self`.
//!
//! What a daemon supplies: a [`Protocol`] (its command names, its config type, its first status) and
//! a driver that handles [`Request`]s through [`Handler`] and publishes into [`SharedStatus`].
//! [`run_driven`] wires the two together with the API server; [`DrivenDaemon`] is the [`Daemon`]
//! implementation in between.
//!
//! [`Daemon`]: crate::Daemon

mod daemon;
mod request;
mod run;
mod shared;

pub use daemon::{DrivenDaemon, Protocol, SHUTDOWN_WAIT, WEDGED_AFTER};
pub use request::{Handled, Handler, Reply, Request};
pub use run::{run_driven, DriverParts};
pub use shared::{SharedStatus, HEARTBEAT};

/// Sleeps until `deadline`, or forever without one: a `select!` branch for an optional timer.
pub async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
