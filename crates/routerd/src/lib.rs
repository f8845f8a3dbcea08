//! `routerd serve`: the config ledger, controllers and their runtime, the event store and bus, and the
//! control API. It never speaks a WAN protocol itself and never parses packets.
//!
//! Where to start: [`serve::run`] wires everything together in start-up order. A change enters through
//! [`config::ConfigService`] (validate, commit a generation, publish the desired state); the
//! [`controllers::runtime`] wakes each controller (its module doc draws the wake-up paths), and the
//! controllers change the host through `routerd_host::NetHost`. Managed daemons are run by
//! [`supervisor`], their events imported by its pollers into [`events::EventBus`]; the HTTP API is
//! [`server`], its endpoint table in `server/endpoints.rs`.

pub mod config;
pub mod conntrack_usage;
pub mod controllers;
pub mod daemon_client;
pub mod events;
pub mod observers;
pub mod paths;
pub mod rules;
pub mod sd_notify;
pub mod serve;
pub mod server;
pub mod shutdown;
pub mod status_report;
pub mod supervisor;
