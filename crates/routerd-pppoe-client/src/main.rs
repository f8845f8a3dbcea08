//! `routerd-pppoe-client`: one PPPoE session per process, serving the managed-daemon API. routerd starts
//! it for each `PPPoESession`; it dials, keeps the session up (redialling with backoff), carries its IP
//! traffic through a TUN device (or the kernel's PPP when it has it), configures that device's addresses,
//! and reports the session. The default route is routerd's.
#![deny(unsafe_code)]

mod daemon;

use daemon::driver::Driver;
use daemon::service::Pppoe;
use routerd_daemon::driven::run_driven;
use std::process::ExitCode;

fn main() -> ExitCode {
    run_driven::<Pppoe, _, _>(
        "PPPoE client daemon of routerd: dials and keeps one PPPoE session (RFC 2516, RFC 1661, PAP/CHAP, IPCP, IPv6CP) and carries its traffic on a TUN or kernel PPP device",
        |parts| Driver::new(parts).run(),
    )
}
