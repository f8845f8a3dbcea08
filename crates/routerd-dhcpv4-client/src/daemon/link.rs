//! The interface: index, hardware address, carrier and IPv4 addresses (`getifaddrs`). The driver
//! re-reads it whenever the kit's rtnetlink watcher (`routerd_daemon::link_watch`, link and IPv4
//! address groups) reports a change, so carrier loss and routerd installing the leased address are seen
//! at once rather than by polling.

use nix::ifaddrs::getifaddrs;
use nix::net::if_::{if_nametoindex, InterfaceFlags};
use std::net::Ipv4Addr;

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
    let ifindex = if_nametoindex(ifname).ok()?;
    let mut mac = None;
    let mut carrier = false;
    let mut ipv4 = Vec::new();
    for ifa in getifaddrs().ok()? {
        if ifa.interface_name != ifname {
            continue;
        }
        let flags = ifa.flags;
        carrier = flags.contains(InterfaceFlags::IFF_UP)
            && (flags.contains(InterfaceFlags::IFF_LOWER_UP)
                || flags.contains(InterfaceFlags::IFF_RUNNING));
        if let Some(addr) = ifa.address {
            if let Some(link) = addr.as_link_addr() {
                if let Some(m) = link.addr() {
                    mac = Some(m);
                }
            }
            if let Some(sin) = addr.as_sockaddr_in() {
                ipv4.push(sin.ip());
            }
        }
    }
    Some(LinkInfo {
        ifindex,
        mac: mac?,
        carrier,
        ipv4,
    })
}
