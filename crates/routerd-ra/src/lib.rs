//! `routerd-ra`: the protocol half of routerd's router advertisement daemon.
//!
//! - [`advertiser`]: what goes out on one interface and when (RFC 4861 §6.2, RFC 7084 L-13), sans-IO:
//!   settings, solicitations, timer expiries and stop in, advertisements, events and the prefixes to
//!   persist out. Time ([`Now`]) and randomness (`routerd_sansio::Random`) are injected.
//! - [`persist`] (`advertised.json`), [`events`] (topics), [`status`] (the `/v1/status` projection).
//!
//! The wire format is `routerd_proto::ndp`. The daemon (`src/main.rs` and its modules, feature
//! `daemon`, on by default) drives the advertiser with a raw ICMPv6 socket and the clock; without that
//! feature this library depends on no async runtime or I/O crate.
#![forbid(unsafe_code)]

pub mod advertiser;
pub mod events;
pub mod persist;
pub mod status;

pub use advertiser::{Advertiser, Lifetime, Now, Output, PrefixEntry, Settings, SettingsError};
pub use persist::{Persisted, PersistedPrefix, ADVERTISED_FILE};
