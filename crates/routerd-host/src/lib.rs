//! Host adapters for routerd.
//!
//! Controllers decide *what* the host should look like; this crate is the only
//! place that knows *how* to ask the kernel. Keeping that behind the
//! [`NetHost`] trait lets policy code be unit-tested against [`FakeHost`]
//! without root or a network namespace, while [`NetlinkHost`] talks rtnetlink
//! in production.
#![forbid(unsafe_code)]

pub mod conntrack;
pub mod error;
pub mod fake;
pub mod net_host;
pub mod netfilter_socket;
pub mod netlink;
pub mod netlink_subscription;
pub mod nftables;
pub mod sysctl;
pub mod types;

pub use conntrack::{
    ConntrackError, ConntrackStats, ConntrackTable, FakeConntrack, KernelConntrack, WalkSummary,
};
pub use error::HostError;
pub use fake::FakeHost;
pub use net_host::{HostFuture, NetHost};
pub use netlink::NetlinkHost;
pub use types::*;
