//! The daemon shell: the driver task (config, listeners, status, events, retention), the listeners and
//! the answer path they share, forwarding, and the query log.

pub mod driver;
pub mod forward;
pub mod listeners;
pub mod querylog;
pub mod resolver;
pub mod secure;
pub mod service;
