//! The managed-daemon API side: status from the loop's last snapshot, commands forwarded to the loop
//! (`renew`, `rebind`, `release`, `info-request`, `reload`), and an orderly shutdown (`stop` is the
//! kit's: it calls [`Daemon::shutdown`]).

use super::driver::{Request, Shared};
use routerd_api::daemon::{CommandResult, DaemonResourceStatus};
use routerd_daemon::{load_config, CommandError, Daemon};
use routerd_dhcpv6_client::{Command, DaemonConfig};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How long the loop may go without a heartbeat before `/v1/healthz` reports it wedged.
const WEDGED_AFTER: Duration = Duration::from_secs(120);
/// How long `stop` waits for the loop to finish.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

pub struct Dhcpv6Daemon {
    config_path: PathBuf,
    requests: mpsc::Sender<Request>,
    shared: Arc<Shared>,
}

impl Dhcpv6Daemon {
    pub fn new(
        config_path: PathBuf,
        requests: mpsc::Sender<Request>,
        shared: Arc<Shared>,
    ) -> Dhcpv6Daemon {
        Dhcpv6Daemon {
            config_path,
            requests,
            shared,
        }
    }

    /// Sends a request to the loop and waits for its answer.
    async fn ask(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<String, String>>) -> Request,
    ) -> Result<String, CommandError> {
        let (tx, rx) = oneshot::channel();
        let gone = || CommandError::Rejected("the client loop has stopped".into());
        self.requests.send(make(tx)).await.map_err(|_| gone())?;
        match rx.await {
            Ok(Ok(message)) => Ok(message),
            Ok(Err(reason)) => Err(CommandError::Rejected(reason)),
            Err(_) => Err(gone()),
        }
    }

    /// The answer with the status after the command, so `routerctl daemon ... renew` shows the outcome.
    fn result(&self, command: &str, message: String) -> CommandResult {
        let status = self.shared.status();
        CommandResult {
            command: command.to_string(),
            accepted: true,
            message,
            result: Some(serde_json::json!({
                "phase": status.phase,
                "status": status.observed,
            })),
        }
    }
}

impl Daemon for Dhcpv6Daemon {
    fn resources(&self) -> Vec<DaemonResourceStatus> {
        vec![self.shared.status()]
    }

    fn command<'a>(
        &'a self,
        name: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<CommandResult, CommandError>> + Send + 'a>> {
        Box::pin(async move {
            let command = match name {
                "renew" => Command::Renew,
                "rebind" => Command::Rebind,
                "release" => Command::Release,
                "info-request" => Command::InfoRequest,
                "reload" => {
                    let config: DaemonConfig = load_config(&self.config_path).map_err(|e| {
                        CommandError::Rejected(format!(
                            "config not reloaded, the previous one stays in force: {e}"
                        ))
                    })?;
                    let message = self.ask(|tx| Request::Reload(Box::new(config), tx)).await?;
                    return Ok(self.result(name, message));
                }
                _ => return Err(CommandError::Unknown),
            };
            let message = self.ask(|tx| Request::Command(command, tx)).await?;
            Ok(self.result(name, message))
        })
    }

    fn extra_commands(&self) -> &'static [&'static str] {
        &["rebind", "release", "info-request"]
    }

    fn shutdown<'a>(&'a self) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            let (tx, rx) = oneshot::channel();
            if self.requests.send(Request::Shutdown(tx)).await.is_ok()
                && tokio::time::timeout(SHUTDOWN_WAIT, rx).await.is_err()
            {
                tracing::warn!("the client loop did not stop in time");
            }
        })
    }

    fn health(&self) -> Result<(), String> {
        let age = self.shared.since_heartbeat();
        if age > WEDGED_AFTER {
            return Err(format!(
                "the client loop has not run for {}s",
                age.as_secs()
            ));
        }
        Ok(())
    }
}
