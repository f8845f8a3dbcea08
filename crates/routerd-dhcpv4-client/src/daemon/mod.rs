//! The daemon shell: sockets, the link, the conflict probe and the main loop around the state machine
//! of the library, plus the managed-daemon API glue.

pub mod driver;
pub mod link;
pub mod probe;
pub mod service;
#[allow(unsafe_code)]
pub mod sockets;
