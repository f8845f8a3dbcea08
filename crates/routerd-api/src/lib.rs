//! Wire types of routerd: everything a client of the control API or a daemon API needs, and nothing that
//! opens a socket or a file. Keeping I/O out lets routerctl, routerd and the daemons share one definition
//! of every object, and lets the codecs here be tested exhaustively without a host.
//!
//! Where to start: [`Resource`] (one desired object, identified by [`ResourceId`]) and [`Kind`] (every
//! kind with its spec type and JSON Schema, `kind.rs`); the typed specs live in [`spec`], statuses in
//! [`status`]. The control API's envelopes are in [`control`], a daemon's in [`daemon`], and the event
//! object with its topic catalogue in [`event`] (matched by [`topic::TopicPattern`]).
#![forbid(unsafe_code)]

pub mod condition;
pub mod connections;
pub mod control;
pub mod daemon;
pub mod dhcp_lease;
pub mod dns_query;
pub mod duration;
pub mod event;
pub mod ip_protocol;
pub mod kind;
pub mod manifest;
pub mod name;
pub mod phase;
pub mod query;
pub mod resource;
pub mod spec;
pub mod status;
pub mod time;
pub mod topic;
pub mod traffic_flow;

pub use condition::{Condition, ConditionStatus};
pub use duration::GoDuration;
pub use event::{Event, EventSource, Severity};
pub use kind::{Kind, KindInfo};
pub use phase::Phase;
pub use resource::{FieldError, Metadata, Resource, ResourceId};
pub use time::Timestamp;

/// `apiVersion` of every control API envelope.
pub const CONTROL_API_VERSION: &str = "control.routerd.net/v1alpha1";
/// Path prefix of every control API endpoint.
pub const CONTROL_API_PREFIX: &str = "/api/control.routerd.net/v1alpha1";
