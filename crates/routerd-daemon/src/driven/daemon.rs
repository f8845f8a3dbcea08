//! The [`Daemon`] of a driver-backed daemon: status from the loop's last snapshot, commands forwarded to
//! the loop (a `reload` reads and validates `config.json` first, so a broken or invalid file is refused
//! before the loop sees it and no driver repeats the check), and an orderly shutdown.

use super::request::Request;
use super::shared::SharedStatus;
use crate::config::load_config;
use crate::daemon::{CommandError, Daemon};
use routerd_api::daemon::{CommandResult, DaemonResourceStatus};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How long the loop may go without a heartbeat before `/v1/healthz` reports it wedged.
pub const WEDGED_AFTER: Duration = Duration::from_secs(120);
/// How long `stop` waits for the loop to finish.
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// What the kit needs to know about a driver-backed daemon's protocol.
pub trait Protocol: Send + Sync + 'static {
    /// The daemon's executable name, e.g. `routerd-dhcpv4-client`.
    const KIND: &'static str;
    /// Commands besides `reload`, `renew` and `stop`, named in the answer to an unknown command.
    const EXTRA_COMMANDS: &'static [&'static str];
    /// The key under which a command's answer carries `observed` next to `phase`.
    const OBSERVED_KEY: &'static str;
    /// The protocol's commands, carried to the loop.
    type Command: Send + 'static;
    /// The daemon's `config.json`.
    type Config: DeserializeOwned + Send + 'static;

    /// The command called `name`; `None` when unknown (`reload` and `stop` never get here).
    fn command(name: &str) -> Option<Self::Command>;

    /// Checks a config beyond what decoding does; the message says what is wrong.
    fn validate(config: &Self::Config) -> Result<(), String>;

    /// The status to show before the loop has published one.
    fn initial_status(name: &str, config: &Self::Config) -> DaemonResourceStatus;
}

/// Forwards the API's commands to the loop and answers status from its snapshot.
pub struct DrivenDaemon<P: Protocol> {
    config_path: PathBuf,
    requests: mpsc::Sender<Request<P::Command, P::Config>>,
    shared: Arc<SharedStatus>,
}

impl<P: Protocol> DrivenDaemon<P> {
    pub fn new(
        config_path: PathBuf,
        requests: mpsc::Sender<Request<P::Command, P::Config>>,
        shared: Arc<SharedStatus>,
    ) -> DrivenDaemon<P> {
        DrivenDaemon {
            config_path,
            requests,
            shared,
        }
    }

    /// Sends a request to the loop and waits for its answer.
    async fn ask(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<String, String>>) -> Request<P::Command, P::Config>,
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
        let mut result = serde_json::Map::new();
        result.insert("phase".into(), serde_json::json!(status.phase));
        result.insert(
            P::OBSERVED_KEY.into(),
            serde_json::Value::Object(status.observed),
        );
        CommandResult {
            command: command.to_string(),
            accepted: true,
            message,
            result: Some(serde_json::Value::Object(result)),
        }
    }
}

impl<P: Protocol> Daemon for DrivenDaemon<P> {
    fn resources(&self) -> Vec<DaemonResourceStatus> {
        vec![self.shared.status()]
    }

    fn command<'a>(
        &'a self,
        name: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<CommandResult, CommandError>> + Send + 'a>> {
        Box::pin(async move {
            let message = if name == "reload" {
                let refused = |e: &dyn std::fmt::Display| {
                    CommandError::Rejected(format!(
                        "config not reloaded, the previous one stays in force: {e}"
                    ))
                };
                let config: P::Config = load_config(&self.config_path).map_err(|e| refused(&e))?;
                P::validate(&config).map_err(|e| refused(&e))?;
                self.ask(|tx| Request::Reload(Box::new(config), tx)).await?
            } else {
                let command = P::command(name).ok_or(CommandError::Unknown)?;
                self.ask(|tx| Request::Command(command, tx)).await?
            };
            Ok(self.result(name, message))
        })
    }

    fn extra_commands(&self) -> &'static [&'static str] {
        P::EXTRA_COMMANDS
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

#[cfg(test)]
mod tests {
    use super::*;
    use routerd_api::daemon::ResourceRef;

    struct Toy;

    impl Protocol for Toy {
        const KIND: &'static str = "toy";
        const EXTRA_COMMANDS: &'static [&'static str] = &[];
        const OBSERVED_KEY: &'static str = "observed";
        type Command = ();
        type Config = u32;

        fn command(_: &str) -> Option<()> {
            None
        }

        fn validate(config: &u32) -> Result<(), String> {
            if *config > 10 {
                return Err(format!("{config} is over 10"));
            }
            Ok(())
        }

        fn initial_status(name: &str, _: &u32) -> DaemonResourceStatus {
            DaemonResourceStatus {
                resource: ResourceRef {
                    api_version: String::new(),
                    kind: "Toy".into(),
                    name: name.into(),
                },
                phase: routerd_api::Phase::Pending,
                conditions: Vec::new(),
                observed: serde_json::Map::new(),
                since: None,
            }
        }
    }

    /// A reload with a config that decodes but does not validate never reaches the loop: the check
    /// is the kit's, once, for every driver.
    #[tokio::test]
    async fn an_invalid_config_is_refused_before_the_loop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, "11").unwrap();
        let (tx, mut rx) = mpsc::channel(4);
        let shared = Arc::new(SharedStatus::new(Toy::initial_status("t", &0)));
        let daemon = DrivenDaemon::<Toy>::new(path.clone(), tx, shared);
        match daemon.command("reload").await {
            Err(CommandError::Rejected(why)) => {
                assert!(why.ends_with("11 is over 10"), "{why}");
                assert!(why.starts_with("config not reloaded"), "{why}");
            }
            other => panic!("not refused: {other:?}"),
        }
        assert!(rx.try_recv().is_err(), "the loop saw nothing");

        std::fs::write(&path, "7").unwrap();
        let answer = tokio::spawn(async move { daemon.command("reload").await.map(|r| r.message) });
        match rx.recv().await {
            Some(Request::Reload(config, reply)) => {
                assert_eq!(*config, 7);
                reply.send(Ok("reloaded".into())).unwrap();
            }
            _ => panic!("a valid config goes to the loop"),
        }
        assert_eq!(answer.await.unwrap().unwrap(), "reloaded");
    }
}
