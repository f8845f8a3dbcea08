//! `routerd-dhcpv4-server`: one DHCPv4 server per process, serving the managed-daemon API. routerd starts
//! it for each `DHCPv4Server` resource with the interface, address and defaults resolved in its
//! `config.json`; it answers clients on that interface and keeps its leases in a journal in its state
//! directory.
#![deny(unsafe_code)]

mod daemon;

use daemon::driver::Driver;
use daemon::service::Dhcpv4Server;
use routerd_daemon::driven::run_driven;
use std::process::ExitCode;

fn main() -> ExitCode {
    run_driven::<Dhcpv4Server, _, _>(
        "DHCPv4 server daemon of routerd: leases addresses on one interface (RFC 2131) and keeps them in a journal",
        |parts| Driver::new(parts).run(),
    )
}
