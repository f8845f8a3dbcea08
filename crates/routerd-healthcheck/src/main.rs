//! `routerd-healthcheck`: one health check per process, probing every `interval` and serving the
//! managed-daemon API. routerd starts it for each `HealthCheck` resource.

mod service;

use routerd_daemon::{load_config, run_daemon, serve, DaemonArgs, EventLog, StopHandle};
use routerd_healthcheck::ProbeConfig;
use std::process::ExitCode;
use std::sync::Arc;

const KIND: &str = "routerd-healthcheck";

fn main() -> ExitCode {
    run_daemon(KIND, "Health-check daemon of routerd: probes one target (icmp, tcp, dns, http) and reports Healthy/Unhealthy with thresholds", run)
}

async fn run(args: DaemonArgs) -> Result<(), String> {
    let config: ProbeConfig = load_config(&args.config).map_err(|e| e.to_string())?;
    let events = EventLog::open(&args.state_dir, KIND, &args.name).map_err(|e| e.to_string())?;
    let stop = StopHandle::new();
    let daemon = Arc::new(
        service::HealthDaemon::new(&args, config, events.clone()).map_err(|e| e.to_string())?,
    );
    let prober = tokio::spawn(service::probe_loop(daemon.clone(), stop.clone()));
    let result = serve(&args, KIND, daemon, events, stop.clone())
        .await
        .map_err(|e| e.to_string());
    stop.request();
    let _ = prober.await;
    result
}
