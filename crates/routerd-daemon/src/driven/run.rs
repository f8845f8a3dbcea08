//! The `main` of a driver-backed daemon: load and check the config, open the event log, start the
//! driver task and serve the API until stopped, then let the driver finish.

use super::daemon::{DrivenDaemon, Protocol};
use super::request::Request;
use super::shared::SharedStatus;
use crate::args::DaemonArgs;
use crate::config::load_config;
use crate::entry::run_daemon;
use crate::event_log::EventLog;
use crate::server::serve;
use crate::stop::StopHandle;
use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Requests queued for the loop before the API side waits; commands are rare and answered quickly.
const QUEUE: usize = 16;

/// What the driver task is given.
pub struct DriverParts<P: Protocol> {
    /// The resource name (`--name`).
    pub name: String,
    pub config: P::Config,
    /// `--state-dir`, for the daemon's own state files.
    pub state_dir: PathBuf,
    pub events: EventLog,
    /// Where the driver publishes status and heartbeats.
    pub shared: Arc<SharedStatus>,
    /// The API side's requests; `None` from `recv` means the API side is gone: end the loop.
    pub requests: mpsc::Receiver<Request<P::Command, P::Config>>,
}

/// Runs the daemon process: the kit's flags and logging (see [`run_daemon`]), then the driver built by
/// `driver` next to the API server. Returns the process exit code.
pub fn run_driven<P, F, Fut>(about: &'static str, driver: F) -> ExitCode
where
    P: Protocol,
    F: FnOnce(DriverParts<P>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    run_daemon(P::KIND, about, |args| {
        serve_driven::<P, F, Fut>(args, driver)
    })
}

async fn serve_driven<P, F, Fut>(args: DaemonArgs, driver: F) -> Result<(), String>
where
    P: Protocol,
    F: FnOnce(DriverParts<P>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let config: P::Config = load_config(&args.config).map_err(|e| e.to_string())?;
    P::validate(&config).map_err(|e| format!("{}: {e}", args.config.display()))?;
    let events = EventLog::open(&args.state_dir, P::KIND, &args.name).map_err(|e| e.to_string())?;
    let stop = StopHandle::new();
    let shared = Arc::new(SharedStatus::new(P::initial_status(&args.name, &config)));
    let (tx, rx) = mpsc::channel(QUEUE);
    let driver = driver(DriverParts {
        name: args.name.clone(),
        config,
        state_dir: args.state_dir.clone(),
        events: events.clone(),
        shared: shared.clone(),
        requests: rx,
    });
    let daemon = Arc::new(DrivenDaemon::<P>::new(args.config.clone(), tx, shared));
    let driver_task = tokio::spawn(driver);
    let result = serve(&args, P::KIND, daemon.clone(), events, stop.clone())
        .await
        .map_err(|e| e.to_string());
    stop.request();
    // The loop ends on the shutdown request `serve` sent; if serve failed before that, dropping the
    // last sender ends it.
    drop(daemon);
    let _ = driver_task.await;
    result
}
