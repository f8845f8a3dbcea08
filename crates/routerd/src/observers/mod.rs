//! Observers: collectors that record what the kernel reports into the log stores. The flow recorder
//! (conntrack events into `traffic-flows.db`) runs while a `TrafficFlowLog` is enabled, the firewall
//! logger (an NFLOG group into `firewall-logs.db`) while a `FirewallEventLog` exists. Their controllers
//! start and stop them, enforce `LogRetention` on the stores and report the collectors' counters in the
//! resources' status.

mod collector;
pub mod controller;
pub mod firewall_logger;
pub mod flow_recorder;

use routerd_host::netlink_subscription::{KernelSubscription, Subscription};
use routerd_host::nftables::{NftCommand, Nftables};
use routerd_host::sysctl::{ForwardingSysctl, KernelForwarding, KernelSysctl, NetfilterSysctl};
use routerd_host::{ConntrackTable, KernelConntrack};
use routerd_store::{FirewallLog, FlowLog, StoreError};
use std::path::Path;
use std::sync::Arc;

/// Opens a subscription and says what receive buffer the kernel granted.
pub type Subscribe = Box<dyn Fn() -> std::io::Result<(Box<dyn Subscription>, usize)> + Send + Sync>;
/// Opens an NFLOG subscription for a group.
pub type SubscribeGroup =
    Box<dyn Fn(u16) -> std::io::Result<(Box<dyn Subscription>, usize)> + Send + Sync>;

/// The host mechanisms the observers use, replaceable by fakes in tests.
pub struct ObserverHost {
    pub conntrack: Arc<dyn ConntrackTable>,
    pub nftables: Arc<dyn Nftables>,
    pub sysctl: Arc<dyn NetfilterSysctl>,
    /// IP forwarding switches, set by the firewall controller (which also writes `nftables`).
    pub forwarding: Arc<dyn ForwardingSysctl>,
    pub conntrack_events: Subscribe,
    pub nflog: SubscribeGroup,
}

impl ObserverHost {
    /// The kernel of routerd's network namespace.
    pub fn kernel() -> ObserverHost {
        ObserverHost {
            conntrack: Arc::new(KernelConntrack),
            nftables: Arc::new(NftCommand),
            sysctl: Arc::new(KernelSysctl),
            forwarding: Arc::new(KernelForwarding),
            conntrack_events: Box::new(|| {
                let s = KernelSubscription::conntrack_events(flow_recorder::FLOW_EVENT_BUFFER)?;
                let granted = s.receive_buffer;
                Ok((Box::new(s) as Box<dyn Subscription>, granted))
            }),
            nflog: Box::new(|group| {
                let s = KernelSubscription::nflog_group(
                    group,
                    &firewall_logger::NFLOG_SETTINGS,
                    firewall_logger::NFLOG_RECEIVE_BUFFER,
                )?;
                let granted = s.receive_buffer;
                Ok((Box::new(s) as Box<dyn Subscription>, granted))
            }),
        }
    }
}

/// The log stores under the state directory, open for the whole life of routerd (the API reads them
/// whether or not a collector runs).
pub struct LogStores {
    pub flows: Arc<FlowLog>,
    pub firewall: Arc<FirewallLog>,
}

impl LogStores {
    pub fn open(state_dir: &Path) -> Result<LogStores, StoreError> {
        Ok(LogStores {
            flows: Arc::new(FlowLog::open(
                &state_dir.join(routerd_store::FLOW_LOG_FILE),
            )?),
            firewall: Arc::new(FirewallLog::open(
                &state_dir.join(routerd_store::FIREWALL_LOG_FILE),
            )?),
        })
    }

    /// Commits what is queued and stops the writers.
    pub fn close(&self) {
        self.flows.close();
        self.firewall.close();
    }
}
