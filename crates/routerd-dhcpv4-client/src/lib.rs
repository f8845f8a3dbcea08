//! `routerd-dhcpv4-client`: the protocol half of routerd's DHCPv4 client daemon.
//!
//! - [`client`]: the RFC 2131 state machine ([`Client`]), sans-IO: parsed replies, timer expiries,
//!   commands, link events and conflict-probe results in; messages to send, lease changes, events and
//!   the next deadline out. Time (`routerd_sansio::Now`) and randomness
//!   (`routerd_sansio::Random`) are injected.
//! - [`message`] and [`options`]: the wire format. dhcproto encodes and decodes; the strict option walker
//!   in `options` checks every received byte first, so malformed input is an error, never a panic.
//! - [`lease`] (T1/T2/expiry, `lease.json`), [`retransmit`] (backoff), [`status`] (phase, conditions and
//!   the `observed` lease routerd's controller installs from), [`config`] (`config.json`).
//! - [`frame`], [`arp`], [`bpf`]: Ethernet/IPv4/UDP framing, the RFC 5227 probe and the socket filter
//!   for the AF_PACKET socket, also without I/O.
//!
//! The daemon (`src/main.rs` and its modules, feature `daemon`, on by default) drives these with real
//! sockets and the clock; without that feature this library depends on no async runtime or I/O crate.
#![forbid(unsafe_code)]

pub mod arp;
pub mod bpf;
pub mod client;
pub mod config;
pub mod events;
pub mod frame;
pub mod lease;
pub mod message;
pub mod options;
pub mod retransmit;
pub mod status;

pub use client::{
    Client, ClientConfig, Command, Destination, Input, LeaseChange, LinkEvent, Output, ProbeResult,
    State, Transmit,
};
pub use config::DaemonConfig;
pub use lease::{Lease, PersistedLease};
pub use message::{parse_reply, ClientIdentity, ParseError, Reply, ReplyKind};
pub use status::{LeaseObservation, StatusProjection};
