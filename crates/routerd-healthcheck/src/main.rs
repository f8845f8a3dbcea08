//! `routerd-healthcheck`: one health check per process, probing every `interval` and serving the
//! managed-daemon API. routerd starts it for each `HealthCheck` resource.

mod service;

use routerd_daemon::{init_logging_for, load_config, serve, DaemonArgs, EventLog, StopHandle};
use routerd_healthcheck::ProbeConfig;
use std::process::ExitCode;
use std::sync::Arc;

const KIND: &str = "routerd-healthcheck";

fn main() -> ExitCode {
    let args = DaemonArgs::parse_for(KIND, "Health-check daemon of routerd: probes one target (icmp, tcp, dns, http) and reports Healthy/Unhealthy with thresholds");
    init_logging_for(args.log_format, KIND, &args.name);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{KIND}: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("{KIND}: {e}");
            ExitCode::from(2)
        }
    }
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
