//! What the API side asks of the driver loop, and how the loop answers: each request carries the channel
//! its answer goes back on, so the API side can wait for the outcome of a command.

use tokio::sync::oneshot;

/// Where the answer to a command or reload goes: a message for `CommandResult.message`, or why not.
pub type Reply = oneshot::Sender<Result<String, String>>;

/// A request to the loop. `C` is the protocol's command, `K` its config.
pub enum Request<C, K> {
    Command(C, Reply),
    /// A config read, decoded and validated (`Protocol::validate`) by the API side; the loop only
    /// decides whether it can apply without a restart.
    Reload(Box<K>, Reply),
    /// Finish the current exchange, persist, and end the loop; answered when done.
    Shutdown(oneshot::Sender<()>),
}

/// The loop's side of the requests.
pub trait Handler<C, K> {
    fn command(&mut self, command: C) -> Result<String, String>;
    fn reload(&mut self, config: K) -> Result<String, String>;
    fn shutdown(&mut self);
}

/// What became of a request: the loop goes on, or it was told to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    Answered,
    ShutDown,
}

impl<C, K> Request<C, K> {
    /// Carries the request out on `handler` and sends the answer. A gone asker is not an error: the
    /// command has been carried out either way.
    pub fn handle(self, handler: &mut impl Handler<C, K>) -> Handled {
        match self {
            Request::Command(command, reply) => {
                let _ = reply.send(handler.command(command));
                Handled::Answered
            }
            Request::Reload(config, reply) => {
                let _ = reply.send(handler.reload(*config));
                Handled::Answered
            }
            Request::Shutdown(done) => {
                handler.shutdown();
                let _ = done.send(());
                Handled::ShutDown
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Loop {
        seen: Vec<String>,
    }

    impl Handler<&'static str, u32> for Loop {
        fn command(&mut self, command: &'static str) -> Result<String, String> {
            self.seen.push(command.to_string());
            if command == "release" {
                return Err("no lease to release".into());
            }
            Ok(format!("{command} sent"))
        }
        fn reload(&mut self, config: u32) -> Result<String, String> {
            self.seen.push(format!("reload {config}"));
            Ok("config reloaded".into())
        }
        fn shutdown(&mut self) {
            self.seen.push("shutdown".into());
        }
    }

    #[test]
    fn each_request_reaches_its_method_and_is_answered() {
        let mut l = Loop::default();
        let (tx, mut rx) = oneshot::channel();
        assert_eq!(
            Request::Command("renew", tx).handle(&mut l),
            Handled::Answered
        );
        assert_eq!(rx.try_recv(), Ok(Ok("renew sent".to_string())));
        let (tx, mut rx) = oneshot::channel();
        assert_eq!(
            Request::Command("release", tx).handle(&mut l),
            Handled::Answered
        );
        assert_eq!(rx.try_recv(), Ok(Err("no lease to release".to_string())));
        let (tx, mut rx) = oneshot::channel();
        assert_eq!(
            Request::Reload(Box::new(7), tx).handle(&mut l),
            Handled::Answered
        );
        assert_eq!(rx.try_recv(), Ok(Ok("config reloaded".to_string())));
        let (tx, rx) = oneshot::channel();
        drop(rx); // an asker that gave up does not stop the shutdown
        assert_eq!(
            Request::<&str, u32>::Shutdown(tx).handle(&mut l),
            Handled::ShutDown
        );
        assert_eq!(l.seen, ["renew", "release", "reload 7", "shutdown"]);
    }
}
