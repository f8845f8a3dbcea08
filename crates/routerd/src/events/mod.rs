//! routerd's event bus on top of the event store, and the background retention task.

pub mod bus;
pub mod retention;

pub use bus::EventBus;
