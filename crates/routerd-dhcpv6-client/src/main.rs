//! `routerd-dhcpv6-client`: one DHCPv6 prefix delegation client per process, serving the managed-daemon
//! API. routerd starts it for each `DHCPv6PrefixDelegation` resource; it acquires and keeps a delegated
//! prefix (RFC 8415 IA_PD) and reports it, and routerd's `IPv6DelegatedAddress` controller carves LAN
//! addresses from the reported status (the daemon changes nothing on the host).
#![deny(unsafe_code)]

mod daemon;

use daemon::driver::Driver;
use daemon::service::Dhcpv6;
use routerd_daemon::driven::run_driven;
use std::process::ExitCode;

fn main() -> ExitCode {
    run_driven::<Dhcpv6, _, _>("DHCPv6 prefix delegation client daemon of routerd: acquires and keeps a delegated prefix on one interface (RFC 8415) and reports it; routerd installs LAN addresses from it", |parts| Driver::new(parts).run())
}
