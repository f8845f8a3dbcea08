//! `routerd-dhcpv6-client`: the protocol half of routerd's DHCPv6 prefix delegation client daemon.
//!
//! - [`client`]: the RFC 8415 IA_PD state machine ([`Client`]), sans-IO: parsed replies, timer
//!   expiries, commands and link events in; messages to send, lease changes, information, events and the
//!   next deadline out. Time ([`Now`]) and randomness (`routerd_sansio::Random`) are injected.
//! - [`message`]: the wire format. dhcproto encodes what we send; received bytes are parsed by our own
//!   bounds-checked walker, so malformed input is an error, never a panic.
//! - [`lease`] (T1/T2/expiry, `lease.json`), [`retransmit`] (RFC 8415 §15 backoff), [`duid`] (DUID-LLT,
//!   IAID), [`events`] (topics), [`status`] and [`config`] (the daemon shell's projection and config).
//!
//! The daemon (`src/main.rs` and its modules, feature `daemon`, on by default) drives these with a real
//! socket and the clock; without that feature this library depends on no async runtime or I/O crate.
#![forbid(unsafe_code)]

pub mod client;
pub mod config;
pub mod duid;
pub mod events;
pub mod lease;
pub mod message;
pub mod retransmit;
pub mod status;

pub use client::{
    Client, ClientConfig, Command, Destination, Input, LeaseChange, LinkEvent, Now, Output, State,
    Transmit,
};
pub use config::DaemonConfig;
pub use lease::{DelegatedPrefix, Information, Lease, PersistedLease, PreviousPrefix};
pub use message::{parse_reply, MessageKind, ParseError, Reply, StatusCode};
pub use status::{InterfaceState, StatusProjection};
