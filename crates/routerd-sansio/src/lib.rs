//! `routerd-sansio`: the seams of routerd's sans-IO protocol cores (the DHCPv4 and DHCPv6 clients and
//! the state machines after them). A core takes packets, timer expiries and commands and returns packets,
//! state changes and events; everything it would otherwise fetch from the world is handed to it from
//! here, so a test can replay an exact schedule on a virtual clock:
//!
//! - [`Now`]: the injected time of an input (monotonic for timers, wall clock for what is shown);
//! - [`Random`]: injected randomness ([`XorShift`] in daemons, [`Sequence`] in tests);
//! - [`resource_event`]: events stamped with the input's time, not the time they are logged;
//! - [`StatusTracker`]: phase `since` and condition transition times across status updates;
//! - [`check_ifname`] and [`hex::to_hex`]: the checks and encodings every daemon's config and status share.
//!
//! This crate does no I/O and pulls in no async runtime, HTTP stack or CLI parser: a protocol library
//! built on it can be fuzzed, benchmarked or embedded without the daemon kit (`routerd-daemon`).
#![forbid(unsafe_code)]

mod clock;
pub mod hex;
mod ifname;
mod resource_status;

pub use clock::{resource_event, Now, Random, Sequence, XorShift};
pub use ifname::{check_ifname, MAX_IFNAME};
pub use resource_status::StatusTracker;
