//! `routerd-dhcpv4-client`: one DHCPv4 client per process, serving the managed-daemon API. routerd starts
//! it for each `DHCPv4Client` resource; it acquires and keeps a lease and reports it, and routerd's
//! controller installs the address and routes from the reported status (the daemon changes nothing on
//! the host).
#![deny(unsafe_code)]

mod daemon;

use daemon::driver::Driver;
use daemon::service::Dhcpv4;
use routerd_daemon::driven::run_driven;
use std::process::ExitCode;

fn main() -> ExitCode {
    run_driven::<Dhcpv4, _, _>("DHCPv4 client daemon of routerd: acquires and keeps a lease on one interface (RFC 2131) and reports it; routerd installs it", |parts| Driver::new(parts).run())
}
