//! `routerd-healthcheck`: the protocol half of the health-check daemon.
//!
//! - [`thresholds`]: the sans-IO state machine ([`HealthState`]): probe outcomes and an injected clock
//!   in; phase, conditions, `HealthCheck` status and events out. Persisted by the daemon in `state.json`.
//! - [`probe`]: the ICMP, TCP, DNS and HTTP probes ([`run_probe`], [`probe_once`]) on sockets bound as
//!   the spec asks ([`probe::binding`]), and target resolution ([`resolve_target`]).
//! - [`probe::dns::message`] and [`probe::icmp::echo`]: the wire codecs, free of sockets, property-tested
//!   against arbitrary bytes.
//!
//! The daemon shell (socket API, events log, scheduling) lives elsewhere and drives these: every
//! `interval` it calls [`probe_once`], feeds the outcome to [`HealthState::observe`], appends the
//! returned events to its log and saves the state.
#![forbid(unsafe_code)]

pub mod config;
pub mod events;
pub mod outcome;
pub mod probe;
pub mod thresholds;

pub use config::ProbeConfig;
pub use outcome::{FailureKind, ProbeOutcome, ProbeResult};
pub use probe::{probe_once, resolve_target, run_probe};
pub use thresholds::{HealthState, Thresholds};
