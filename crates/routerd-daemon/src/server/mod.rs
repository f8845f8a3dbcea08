//! `serve`: the daemon's API server and lifecycle. Binds the socket, emits the lifecycle events, answers
//! `/v1/*` until a stop (the `stop` command, SIGTERM/SIGINT, or the daemon's own request), then lets the
//! daemon finish and persist, emits `stopped`, closes the socket and returns.
//!
//! The server keeps answering while the daemon shuts down (status shows `Stopping`, and the events the
//! shutdown produces still reach routerd's poller); it closes only after `lifecycle.stopped` is stored.

mod query;
mod response;
mod routes;

use crate::args::DaemonArgs;
use crate::daemon::Daemon;
use crate::error::DaemonError;
use crate::event_log::{EventLog, RING_SIZE};
use crate::stop::StopHandle;
use crate::topics;
use routerd_api::daemon::DaemonIdentity;
use routerd_api::event::{NewEvent, Severity};
use routerd_api::Timestamp;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::watch;

/// Request bodies larger than this are refused with 413.
pub const BODY_LIMIT: usize = 64 * 1024;
/// Connections served at once; further ones wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 64;
/// A client must send its request headers within this long.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// A request body must arrive within this long after the headers.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// In-flight requests get this long to finish after the stop; long-polls end at once on their own.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The socket is mode 0660, so only routerd (owner or group) connects: every peer is trusted and the
/// per-uid limits that protect routerd's world-accessible status socket do not apply.
const LIMITS: routerd_http::ServerLimits = routerd_http::ServerLimits {
    max_connections: MAX_CONNECTIONS,
    reserved_for_trusted: 0,
    per_uid_connections: MAX_CONNECTIONS,
    header_read_timeout: HEADER_READ_TIMEOUT,
    body_limit: BODY_LIMIT,
    body_read_timeout: BODY_READ_TIMEOUT,
    drain_timeout: DRAIN_TIMEOUT,
};
/// Mode of the API socket: routerd (owner or group) only.
pub const SOCKET_MODE: u32 = 0o660;
/// `limit` of `/v1/events` when none is given (the whole ring).
pub const DEFAULT_EVENT_LIMIT: usize = RING_SIZE;

/// The process's own phase, reported in `DaemonStatus.phase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum RunPhase {
    Starting = 0,
    Running = 1,
    Stopping = 2,
}

impl RunPhase {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RunPhase::Starting => "Starting",
            RunPhase::Running => "Running",
            RunPhase::Stopping => "Stopping",
        }
    }
}

/// What every request handler sees.
pub(crate) struct Shared<D> {
    pub(crate) identity: DaemonIdentity,
    pub(crate) daemon: Arc<D>,
    pub(crate) events: EventLog,
    pub(crate) stop: StopHandle,
    /// Fires when the server itself stops (after the daemon has shut down), ending long-polls.
    pub(crate) server_stop: watch::Receiver<bool>,
    phase: AtomicU8,
    stop_reason: Mutex<Option<&'static str>>,
}

impl<D> Shared<D> {
    pub(crate) fn phase(&self) -> RunPhase {
        match self.phase.load(Ordering::Acquire) {
            0 => RunPhase::Starting,
            1 => RunPhase::Running,
            _ => RunPhase::Stopping,
        }
    }

    fn set_phase(&self, phase: RunPhase) {
        self.phase.store(phase as u8, Ordering::Release);
    }

    pub(crate) fn set_stop_reason(&self, reason: &'static str) {
        let mut r = self
            .stop_reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        r.get_or_insert(reason);
    }

    fn stop_reason(&self) -> Option<&'static str> {
        *self
            .stop_reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends a kit event; a refused event is a bug in the kit, logged rather than fatal.
    pub(crate) fn emit(&self, event: NewEvent) {
        if let Err(e) = self.events.append(event) {
            tracing::error!(error = %e, "could not record an event");
        }
    }
}

/// Resolves once `rx` is true (or its sender is gone).
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Runs the daemon's API server until stop: binds `args.socket` (mode 0660; a stale socket is removed, a
/// live one refused), emits `routerd.daemon.lifecycle.started` and, once the accept loop runs, `.ready`; answers the
/// `/v1/*` endpoints; treats SIGTERM and SIGINT like the `stop` command. On stop: phase `Stopping`,
/// [`Daemon::shutdown`], `routerd.daemon.lifecycle.stopped`, then the socket closes (long-polls end at
/// once) and is removed. Returns `Ok` when stopped cleanly; the caller exits 0.
///
/// `kind` is the executable (`routerd-healthcheck`); the instance is `args.name`.
pub async fn serve<D: Daemon>(
    args: &DaemonArgs,
    kind: &str,
    daemon: Arc<D>,
    events: EventLog,
    stop: StopHandle,
) -> Result<(), DaemonError> {
    // Installed first, so a SIGTERM during start-up stops cleanly instead of killing the process.
    let mut signals = Signals::install()?;
    let (server_stop_tx, server_stop_rx) = watch::channel(false);
    let pid = std::process::id();
    let shared = Arc::new(Shared {
        identity: DaemonIdentity {
            kind: kind.to_string(),
            instance: args.name.clone(),
            pid,
            version: env!("CARGO_PKG_VERSION").to_string(),
            started_at: Timestamp::now(),
        },
        daemon: daemon.clone(),
        events: events.clone(),
        stop: stop.clone(),
        server_stop: server_stop_rx.clone(),
        phase: AtomicU8::new(RunPhase::Starting as u8),
        stop_reason: Mutex::new(None),
    });
    // Bound before the first event: a second instance started by mistake must fail without writing into
    // the log of the one that is serving.
    let (listener, socket_file) = routerd_http::bind_socket(
        &args.socket,
        &routerd_http::SocketOptions {
            mode: SOCKET_MODE,
            group: None,
            server: kind,
            hint: "stop it first, or use another --socket",
        },
    )
    .map_err(|e| DaemonError::Socket(e.to_string()))?;
    shared.emit(
        NewEvent::new(
            topics::LIFECYCLE_STARTED,
            Severity::Info,
            format!("{kind} {} started", args.name),
        )
        .attr("pid", pid.to_string())
        .attr("version", env!("CARGO_PKG_VERSION")),
    );
    let server = tokio::spawn(routerd_http::serve(
        listener,
        LIMITS,
        shared.clone(),
        server_stop_rx,
    ));
    shared.set_phase(RunPhase::Running);
    shared.emit(
        NewEvent::new(
            topics::LIFECYCLE_READY,
            Severity::Info,
            format!("{kind} {} is serving", args.name),
        )
        .attr("socket", args.socket.display().to_string()),
    );
    tracing::info!(socket = %args.socket.display(), cursor = %events.head(), "serving");

    let reason = tokio::select! {
        _ = stop.stopped() => shared.stop_reason().unwrap_or("requested by the daemon"),
        signal = signals.recv() => {
            shared.set_stop_reason(signal);
            signal
        }
    };
    stop.request();
    shared.set_phase(RunPhase::Stopping);
    tracing::info!(reason, "stopping");
    daemon.shutdown().await;
    shared.emit(
        NewEvent::new(
            topics::LIFECYCLE_STOPPED,
            Severity::Info,
            format!("{kind} {} stopped ({reason})", args.name),
        )
        .attr("reason", reason),
    );
    server_stop_tx.send_replace(true);
    if let Err(e) = server.await {
        tracing::warn!(error = %e, "the API server task ended abnormally");
    }
    drop(socket_file);
    tracing::info!("stopped");
    Ok(())
}

/// SIGTERM (routerd deleting the resource) and SIGINT (an operator's Ctrl-C).
struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    fn install() -> Result<Signals, DaemonError> {
        let term = signal(SignalKind::terminate()).map_err(|source| DaemonError::Signal {
            signal: "SIGTERM",
            source,
        })?;
        let int = signal(SignalKind::interrupt()).map_err(|source| DaemonError::Signal {
            signal: "SIGINT",
            source,
        })?;
        Ok(Signals { term, int })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}
