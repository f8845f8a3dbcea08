//! The daemon shell: the raw ICMPv6 socket, the interface and the main loop around the advertiser of
//! the library, plus the managed-daemon API glue.

pub mod driver;
pub mod service;
pub mod socket;
