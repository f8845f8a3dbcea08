//! What a daemon implements. The kit owns the socket, the routing, the events, the lifecycle and the
//! signals; a daemon supplies its status, its commands, its shutdown and its liveness.

use routerd_api::daemon::{CommandResult, DaemonResourceStatus};
use std::future::Future;
use std::pin::Pin;

/// Why a command was not carried out; both answer 400 with a `CommandResult` whose `accepted` is false.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The daemon does not know the command; the kit lists the known ones in the answer.
    #[error("unknown command")]
    Unknown,
    /// The command is known but not possible now; the message says why (`no lease to release`).
    #[error("{0}")]
    Rejected(String),
}

/// A managed daemon as the kit sees it.
pub trait Daemon: Send + Sync + 'static {
    /// Current status of the resources this daemon reports on (phase, conditions, observed, since). The
    /// kit adds the identity, its own phase (`Starting`, `Running`, `Stopping`) and the event cursor.
    fn resources(&self) -> Vec<DaemonResourceStatus>;

    /// Handles a command: `renew`, `reload`, and the daemon's own. `stop` never reaches this: the kit
    /// handles it and then calls [`Daemon::shutdown`]. `Ok` with `accepted: true` answers 200 (an `Ok`
    /// with `accepted: false` is treated as a rejection with its message).
    fn command<'a>(
        &'a self,
        name: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<CommandResult, CommandError>> + Send + 'a>>;

    /// Commands this daemon knows besides `reload`, `renew` and `stop`, named in the answer to an
    /// unknown command.
    fn extra_commands(&self) -> &'static [&'static str] {
        &[]
    }

    /// Called once when stopping (the `stop` command, SIGTERM, SIGINT, or a requested stop), before the
    /// socket closes: finish the current exchange and persist state.
    fn shutdown<'a>(&'a self) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

    /// Liveness: `Err(reason)` when the main loop is wedged; `/v1/healthz` then answers 503.
    fn health(&self) -> Result<(), String> {
        Ok(())
    }
}
