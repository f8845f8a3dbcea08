//! `routerd-dns-resolver`: the LAN's DNS resolver, one per `DNSResolver` resource. It answers local
//! records and registered host names itself, forwards the rest to the configured upstreams through a
//! cache, and logs every answer to `dns-queries.db` in its state directory without ever making an
//! answer wait for the log.
#![deny(unsafe_code)]

mod daemon;

use daemon::service::Dns;
use routerd_daemon::driven::run_driven;
use std::process::ExitCode;

fn main() -> ExitCode {
    run_driven::<Dns, _, _>(
        "DNS resolver daemon of routerd: answers local names, forwards the rest through a cache, logs every answer",
        daemon::driver::run,
    )
}
