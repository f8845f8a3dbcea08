//! The managed-daemon API side: `renew` sends an RA now (`reload` and `stop` are the kit's), the config
//! and the first status.

use routerd_api::daemon::DaemonResourceStatus;
use routerd_api::spec::RaDaemonConfig;
use routerd_daemon::driven::Protocol;
use routerd_ra::advertiser::Advertiser;
use routerd_ra::status::{LinkState, StatusProjection};
use routerd_ra::{events, Now, Settings};

/// Commands the loop takes.
#[derive(Debug, Clone, Copy)]
pub enum Command {
    /// Send an unsolicited RA now.
    Advertise,
}

/// The router advertiser as the kit sees it.
pub struct RouterAdvertiser;

impl Protocol for RouterAdvertiser {
    const KIND: &'static str = events::SOURCE_KIND;
    const EXTRA_COMMANDS: &'static [&'static str] = &[];
    const OBSERVED_KEY: &'static str = "status";
    type Command = Command;
    type Config = RaDaemonConfig;

    fn command(name: &str) -> Option<Command> {
        (name == "renew").then_some(Command::Advertise)
    }

    fn validate(config: &RaDaemonConfig) -> Result<(), String> {
        Settings::from_config(config)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn initial_status(name: &str, config: &RaDaemonConfig) -> DaemonResourceStatus {
        let now = Now::system();
        let settings = match Settings::from_config(config) {
            Ok(s) => s,
            Err(_) => Settings {
                prefixes: Vec::new(),
                managed: false,
                other_config: false,
                rdnss: Vec::new(),
                dnssl: Vec::new(),
                mtu: None,
                router_lifetime: 0,
                max_interval: std::time::Duration::from_secs(600),
            },
        };
        let (a, _) = Advertiser::new(
            name,
            settings,
            Box::new(routerd_sansio::Sequence::new(vec![0])),
            &[],
            now,
        );
        StatusProjection::new(name, &config.ifname, now.wall).update(
            &a,
            &LinkState::NotReady("starting".into()),
            now,
        )
    }
}
