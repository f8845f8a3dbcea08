//! `routerd-dhcpv4-server`: the protocol half of routerd's DHCPv4 server daemon.
//!
//! - [`server`]: the RFC 2131 server ([`Server`]), sans-IO: received datagrams, address-check results
//!   and timer expiries in, with the injected time (`routerd_sansio::Now`); replies, checks to run,
//!   lease records to persist and events out.
//! - [`journal`]: the append-only lease journal (synced before replies leave, compacted).
//! - [`lease`], [`events`], [`config`] (`config.json` into a [`ServerConfig`]), [`status`] (`observed`).
//!
//! The wire format is `routerd_proto::dhcpv4`. The daemon (`src/main.rs`, feature `daemon`) drives
//! this with a UDP socket bound to the interface and the clock.
#![forbid(unsafe_code)]

pub mod config;
pub mod events;
pub mod journal;
pub mod lease;
pub mod server;
pub mod status;

pub use lease::{Lease, LeaseState};
pub use server::{Output, Reservation, Server, ServerConfig, Transmit};
