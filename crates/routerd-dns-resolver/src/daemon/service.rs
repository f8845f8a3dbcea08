//! What the kit needs to know about this daemon: its kind, commands, config type and first status.

use routerd_api::daemon::DaemonResourceStatus;
use routerd_api::spec::DNSResolverDaemonConfig;
use routerd_api::{Phase, Timestamp};
use routerd_daemon::driven::Protocol;
use routerd_dns_resolver::config::Settings;
use routerd_sansio::StatusTracker;

/// Resource kind this daemon reports on.
pub const RESOURCE_KIND: &str = "DNSResolver";

/// Commands besides `reload` and `stop`.
pub enum Command {
    /// Try skipped upstreams again at once instead of after their skip period.
    Renew,
}

pub struct Dns;

impl Protocol for Dns {
    const KIND: &'static str = "routerd-dns-resolver";
    const EXTRA_COMMANDS: &'static [&'static str] = &[];
    const OBSERVED_KEY: &'static str = "resolver";
    type Command = Command;
    type Config = DNSResolverDaemonConfig;

    fn command(name: &str) -> Option<Command> {
        match name {
            "renew" => Some(Command::Renew),
            _ => None,
        }
    }

    fn validate(config: &DNSResolverDaemonConfig) -> Result<(), String> {
        Settings::from_config(config).map(|_| ())
    }

    fn initial_status(name: &str, _config: &DNSResolverDaemonConfig) -> DaemonResourceStatus {
        let now = Timestamp::now();
        StatusTracker::new(RESOURCE_KIND, name, now).update(
            Phase::Pending,
            Vec::new(),
            &serde_json::json!({}),
            now,
        )
    }
}
