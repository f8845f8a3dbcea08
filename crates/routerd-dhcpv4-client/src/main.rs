//! `routerd-dhcpv4-client`: one DHCPv4 client per process, serving the managed-daemon API. routerd starts
//! it for each `DHCPv4Client` resource; it acquires and keeps a lease and reports it, and routerd's
//! controller installs the address and routes from the reported status (the daemon changes nothing on
//! the host).
#![deny(unsafe_code)]

mod daemon;

use daemon::driver::{Driver, Shared};
use daemon::service::Dhcpv4Daemon;
use routerd_api::Timestamp;
use routerd_daemon::{load_config, run_daemon, serve, DaemonArgs, EventLog, StopHandle};
use routerd_dhcpv4_client::status::InterfaceState;
use routerd_dhcpv4_client::{DaemonConfig, StatusProjection};
use std::process::ExitCode;
use std::sync::Arc;

const KIND: &str = "routerd-dhcpv4-client";

fn main() -> ExitCode {
    run_daemon(KIND, "DHCPv4 client daemon of routerd: acquires and keeps a lease on one interface (RFC 2131) and reports it; routerd installs it", run)
}

async fn run(args: DaemonArgs) -> Result<(), String> {
    let config: DaemonConfig = load_config(&args.config).map_err(|e| e.to_string())?;
    config
        .validate()
        .map_err(|e| format!("{}: {e}", args.config.display()))?;
    let events = EventLog::open(&args.state_dir, KIND, &args.name).map_err(|e| e.to_string())?;
    let stop = StopHandle::new();
    let initial = StatusProjection::new(&args.name, &config.ifname, Timestamp::now()).update(
        None,
        InterfaceState::Missing,
        Timestamp::now(),
    );
    let shared = Arc::new(Shared::new(initial));
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let driver = Driver::new(
        &args.name,
        config,
        args.state_dir.clone(),
        events.clone(),
        shared.clone(),
        rx,
    );
    let daemon = Arc::new(Dhcpv4Daemon::new(args.config.clone(), tx, shared));
    let driver_task = tokio::spawn(driver.run());
    let result = serve(&args, KIND, daemon.clone(), events, stop.clone())
        .await
        .map_err(|e| e.to_string());
    stop.request();
    // The loop ends on the shutdown request `serve` sent; if serve failed before that, dropping the
    // last sender ends it.
    drop(daemon);
    let _ = driver_task.await;
    result
}
