//! The managed-daemon API side: the commands (`renew`; `reload` and `stop` are the kit's), the config
//! and the first status. The kit's [`routerd_daemon::driven`] forwards them to the loop in `driver.rs`.

use routerd_api::daemon::DaemonResourceStatus;
use routerd_api::Timestamp;
use routerd_daemon::driven::Protocol;
use routerd_pppoe_client::config::DaemonConfig;
use routerd_pppoe_client::session::Command;
use routerd_pppoe_client::status::{DataPlaneState, StatusProjection};

/// The PPPoE client as the kit sees it.
pub struct Pppoe;

impl Protocol for Pppoe {
    const KIND: &'static str = "routerd-pppoe-client";
    const EXTRA_COMMANDS: &'static [&'static str] = &[];
    const OBSERVED_KEY: &'static str = "observed";
    type Command = Command;
    type Config = DaemonConfig;

    fn command(name: &str) -> Option<Command> {
        match name {
            "renew" => Some(Command::Renew),
            _ => None,
        }
    }

    fn validate(config: &DaemonConfig) -> Result<(), String> {
        // The resource name is not known here; the device name is checked again with it.
        config.validate("x")
    }

    fn initial_status(name: &str, config: &DaemonConfig) -> DaemonResourceStatus {
        let data = DataPlaneState {
            ifname: config.device(name),
            ..DataPlaneState::default()
        };
        StatusProjection::new(name, Timestamp::now()).update(
            None,
            &data,
            Timestamp::now(),
            std::time::Instant::now(),
        )
    }
}
