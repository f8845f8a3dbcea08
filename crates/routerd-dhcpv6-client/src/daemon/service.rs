//! The managed-daemon API side: which commands the daemon takes (`renew`, `rebind`, `release`,
//! `info-request`; `reload` and `stop` are the kit's), its config and its first status. The kit's
//! [`routerd_daemon::driven`] forwards them to the loop in `driver.rs`.

use routerd_api::daemon::DaemonResourceStatus;
use routerd_api::Timestamp;
use routerd_daemon::driven::Protocol;
use routerd_dhcpv6_client::events;
use routerd_dhcpv6_client::status::InterfaceState;
use routerd_dhcpv6_client::{Command, DaemonConfig, StatusProjection};

/// The DHCPv6 prefix delegation client as the kit sees it.
pub struct Dhcpv6;

impl Protocol for Dhcpv6 {
    const KIND: &'static str = events::SOURCE_KIND;
    const EXTRA_COMMANDS: &'static [&'static str] = &["rebind", "release", "info-request"];
    const OBSERVED_KEY: &'static str = "status";
    type Command = Command;
    type Config = DaemonConfig;

    fn command(name: &str) -> Option<Command> {
        match name {
            "renew" => Some(Command::Renew),
            "rebind" => Some(Command::Rebind),
            "release" => Some(Command::Release),
            "info-request" => Some(Command::InfoRequest),
            _ => None,
        }
    }

    fn validate(config: &DaemonConfig) -> Result<(), String> {
        config.validate()
    }

    fn initial_status(name: &str, config: &DaemonConfig) -> DaemonResourceStatus {
        StatusProjection::new(name, &config.ifname, Timestamp::now()).update(
            None,
            InterfaceState::Missing,
            Timestamp::now(),
        )
    }
}
