//! `routerd-dhcpv6-client`: one DHCPv6 prefix delegation client per process, serving the managed-daemon
//! API. routerd starts it for each `DHCPv6PrefixDelegation` resource; it acquires and keeps a delegated
//! prefix (RFC 8415 IA_PD) and reports it, and routerd's `IPv6DelegatedAddress` controller carves LAN
//! addresses from the reported status (the daemon changes nothing on the host).
#![deny(unsafe_code)]

mod daemon;

use daemon::driver::{Driver, Shared};
use daemon::service::Dhcpv6Daemon;
use routerd_api::Timestamp;
use routerd_daemon::{load_config, run_daemon, serve, DaemonArgs, EventLog, StopHandle};
use routerd_dhcpv6_client::status::InterfaceState;
use routerd_dhcpv6_client::{DaemonConfig, StatusProjection};
use std::process::ExitCode;
use std::sync::Arc;

const KIND: &str = "routerd-dhcpv6-client";

fn main() -> ExitCode {
    run_daemon(KIND, "DHCPv6 prefix delegation client daemon of routerd: acquires and keeps a delegated prefix on one interface (RFC 8415) and reports it; routerd installs LAN addresses from it", run)
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
    let daemon = Arc::new(Dhcpv6Daemon::new(args.config.clone(), tx, shared));
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
