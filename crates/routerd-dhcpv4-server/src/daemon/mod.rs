//! The daemon shell: the UDP socket on port 67, the ICMP echo check, the journal and the main loop
//! around the server core of the library, plus the managed-daemon API glue.

pub mod driver;
pub mod ping;
pub mod service;
