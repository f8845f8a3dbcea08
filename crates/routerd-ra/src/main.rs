//! `routerd-ra`: router advertisements on one LAN interface, serving the managed-daemon API. routerd
//! starts it for each `IPv6RouterAdvertisement` resource with every prefix resolved in `config.json`
//! (a delegated one with the instants its lifetimes end) and reloads it when they change.
// One `unsafe` call, allowed where it is: registering the raw socket with tokio (`daemon/socket.rs`).
#![deny(unsafe_code)]

mod daemon;

use daemon::driver::Driver;
use daemon::service::RouterAdvertiser;
use routerd_daemon::driven::run_driven;
use std::process::ExitCode;

fn main() -> ExitCode {
    run_driven::<RouterAdvertiser, _, _>(
        "Router advertisement daemon of routerd: advertises the LAN's IPv6 prefixes, RDNSS and DNSSL on one interface (RFC 4861, 8106), answers router solicitations, deprecates prefixes that went away",
        |parts| Driver::new(parts).run(),
    )
}
