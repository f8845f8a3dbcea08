//! `routerd serve`: the config ledger, controllers and their runtime, the event store and bus, and the
//! control API. It never speaks a WAN protocol itself and never parses packets.

pub mod config;
pub mod controllers;
pub mod daemon_client;
pub mod events;
pub mod paths;
pub mod rules;
pub mod serve;
pub mod server;
pub mod shutdown;
pub mod status_report;
pub mod supervisor;
