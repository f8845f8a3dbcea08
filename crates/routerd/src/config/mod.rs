//! Desired state: decoding and validating requests, the apply/delete/rollback service, config files.

pub mod desired;
pub mod files;
pub mod service;
pub mod validate;

pub use desired::DesiredState;
pub use service::{ApplyOutcome, ConfigError, ConfigService};
