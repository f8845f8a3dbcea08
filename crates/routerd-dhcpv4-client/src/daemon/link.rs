//! The interface: index, hardware address, carrier and IPv4 addresses (the kit's `getifaddrs` look,
//! `routerd_daemon::interface`). The driver
//! re-reads it whenever the kit's rtnetlink watcher (`routerd_daemon::link_watch`, link and IPv4
//! address groups) reports a change, so carrier loss and routerd installing the leased address are seen
//! at once rather than by polling.

use routerd_daemon::interface;
use std::net::{IpAddr, Ipv4Addr};

/// What the daemon needs to know about its interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub ifindex: u32,
    pub mac: [u8; 6],
    /// Administratively up with carrier.
    pub carrier: bool,
    pub ipv4: Vec<Ipv4Addr>,
}

/// Looks the interface up; `None` when there is no link of that name (or it has no Ethernet address).
pub fn lookup(ifname: &str) -> Option<LinkInfo> {
    let found = interface::lookup(ifname)?;
    Some(LinkInfo {
        ifindex: found.ifindex,
        mac: found.mac?,
        carrier: found.carrier,
        ipv4: found
            .addresses
            .iter()
            .filter_map(|a| match a {
                IpAddr::V4(v4) => Some(*v4),
                IpAddr::V6(_) => None,
            })
            .collect(),
    })
}
