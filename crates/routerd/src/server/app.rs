//! Shared state every request handler reads.

use crate::config::ConfigService;
use crate::controllers::{ControllerRuntime, StatusBook};
use crate::events::EventBus;
use routerd_api::Timestamp;
use std::sync::Arc;
use tokio::sync::watch;

pub struct App {
    pub config: Arc<ConfigService>,
    pub bus: EventBus,
    pub status: Arc<StatusBook>,
    pub runtime: Arc<ControllerRuntime>,
    pub supervisor: Arc<crate::supervisor::Supervisor>,
    /// The conntrack table `/connections` reads (the kernel's, or a fake in tests).
    pub conntrack: Arc<dyn routerd_host::ConntrackTable>,
    pub started_at: Timestamp,
    /// `traffic-flows.db` and `firewall-logs.db`, read by `/traffic-flows` and `/firewall-logs`.
    pub logs: Arc<crate::observers::LogStores>,
    /// The applied `inet routerd` table by resource, for `/firewall`.
    pub firewall: Arc<crate::controllers::firewall::FirewallView>,
    /// The forwarding switches `/status` reports.
    pub forwarding: Arc<dyn routerd_host::sysctl::ForwardingSysctl>,
    /// Flips to true at shutdown so long-polls return at once.
    pub stop: watch::Receiver<bool>,
}
