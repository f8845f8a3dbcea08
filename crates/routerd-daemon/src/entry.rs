//! The start-up every daemon executable shares: flags, logging, a current-thread runtime (a daemon
//! does one protocol for one resource; one thread keeps its footprint small), and exit codes.

use crate::args::DaemonArgs;
use crate::logging::init_logging_for;
use std::future::Future;
use std::process::ExitCode;

/// Parses the common flags, starts logging and runs `run` to completion. Exit code 0 when it returns
/// `Ok`, 2 (with the message on stderr and in the log) when it fails, 1 when no runtime can be built.
pub fn run_daemon<F, Fut>(kind: &'static str, about: &'static str, run: F) -> ExitCode
where
    F: FnOnce(DaemonArgs) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let args = DaemonArgs::parse_for(kind, about);
    init_logging_for(args.log_format, kind, &args.name);
    crate::logging::set_log_file(routerd_api::daemon::daemon_log_path(&args.socket));
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{kind}: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("{kind}: {e}");
            ExitCode::from(2)
        }
    }
}
