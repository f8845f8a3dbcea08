//! SQLite storage of routerd: the config ledger, the event store, resource status objects and records of
//! what routerd installed on the host. One database file (`routerd.db`) in WAL mode so readers never block
//! the writer; knows nothing about HTTP.
//!
//! Where to start: [`db::open`] creates the schema; [`Ledger`] holds config generations, [`EventStore`]
//! the events (group commit, cursors, retention), [`StateStore`] resource status and the ownership
//! records of what routerd installed.
#![forbid(unsafe_code)]

pub mod db;
pub mod dns_queries;
pub mod error;
pub mod event_store;
pub mod firewall_log;
pub mod flow_log;
pub mod ledger;
pub mod log_writer;
pub mod state;

pub use dns_queries::{
    DnsAggregate, DnsQueryFilter, DnsQueryLog, DnsQueryReader, DnsQueryRecord, DNS_QUERY_LOG_FILE,
};
pub use error::StoreError;
pub use event_store::{EventFilter, EventStore, Page, RetentionPolicy, SkippedEvent};
pub use firewall_log::{FirewallFilter, FirewallLog, FirewallRecord, FIREWALL_LOG_FILE};
pub use flow_log::{FlowFilter, FlowLog, FlowRecord, FlowWrite, FLOW_LOG_FILE};
pub use ledger::{Generation, Ledger, NewGeneration};
pub use log_writer::{AddressRange, LogReader, LogStore, LogTable, WriterCounters};
pub use state::StateStore;
