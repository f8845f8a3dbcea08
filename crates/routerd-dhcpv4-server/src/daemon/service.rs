//! The managed-daemon API side: no commands besides the kit's `reload` and `stop` (a server has nothing
//! to renew), its config and its first status.

use routerd_api::daemon::DaemonResourceStatus;
use routerd_api::spec::DHCPv4ServerDaemonConfig;
use routerd_api::Timestamp;
use routerd_daemon::driven::Protocol;
use routerd_dhcpv4_server::config::server_config;
use routerd_dhcpv4_server::status::StatusProjection;

/// The DHCPv4 server as the kit sees it.
pub struct Dhcpv4Server;

/// The server takes no commands of its own.
pub enum Command {}

impl Protocol for Dhcpv4Server {
    const KIND: &'static str = "routerd-dhcpv4-server";
    const EXTRA_COMMANDS: &'static [&'static str] = &[];
    const OBSERVED_KEY: &'static str = "leases";
    type Command = Command;
    type Config = DHCPv4ServerDaemonConfig;

    fn command(_name: &str) -> Option<Command> {
        None
    }

    fn validate(config: &DHCPv4ServerDaemonConfig) -> Result<(), String> {
        server_config("validate", config).map(|_| ())
    }

    fn initial_status(name: &str, _config: &DHCPv4ServerDaemonConfig) -> DaemonResourceStatus {
        StatusProjection::new(name, Timestamp::now()).update(None, None, Timestamp::now())
    }
}
