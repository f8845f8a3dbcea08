//! One look at a network interface through `getifaddrs`: its index, hardware address, carrier and
//! addresses. Every daemon that follows an interface re-reads it on each [`link_watch`] notification;
//! the walk and the carrier rule live here once so the daemons cannot come to disagree on what "has
//! carrier" means.
//!
//! [`link_watch`]: crate::link_watch

use nix::ifaddrs::getifaddrs;
use nix::net::if_::{if_nametoindex, InterfaceFlags};
use std::net::IpAddr;

/// What `getifaddrs` says about one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub ifindex: u32,
    /// The hardware address as the kernel reports it (all zeros on some virtual links); `None` when
    /// the link has none (PPP, TUN).
    pub mac: Option<[u8; 6]>,
    /// Administratively up (`IFF_UP`) with carrier (`IFF_LOWER_UP`, or `IFF_RUNNING` for drivers that
    /// do not report the lower layer).
    pub carrier: bool,
    /// Its IPv4 and IPv6 addresses, in the order `getifaddrs` lists them.
    pub addresses: Vec<IpAddr>,
}

/// Looks `ifname` up; `None` when there is no link of that name (or it was renamed or removed between
/// the index lookup and the walk, or `getifaddrs` failed).
pub fn lookup(ifname: &str) -> Option<Interface> {
    let ifindex = if_nametoindex(ifname).ok()?;
    let mut found: Option<Interface> = None;
    for ifa in getifaddrs().ok()? {
        if ifa.interface_name != ifname {
            continue;
        }
        let entry = found.get_or_insert_with(|| Interface {
            ifindex,
            mac: None,
            carrier: false,
            addresses: Vec::new(),
        });
        entry.carrier = has_carrier(ifa.flags);
        let Some(addr) = ifa.address else {
            continue;
        };
        if let Some(m) = addr.as_link_addr().and_then(|l| l.addr()) {
            entry.mac = Some(m);
        }
        if let Some(sin) = addr.as_sockaddr_in() {
            entry.addresses.push(IpAddr::V4(sin.ip()));
        }
        if let Some(sin6) = addr.as_sockaddr_in6() {
            entry.addresses.push(IpAddr::V6(sin6.ip()));
        }
    }
    found
}

/// The carrier rule: up, and the lower layer up (or running, for drivers without `IFF_LOWER_UP`).
pub fn has_carrier(flags: InterfaceFlags) -> bool {
    flags.contains(InterfaceFlags::IFF_UP)
        && (flags.contains(InterfaceFlags::IFF_LOWER_UP)
            || flags.contains(InterfaceFlags::IFF_RUNNING))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carrier_needs_up_and_lower_up_or_running() {
        let up = InterfaceFlags::IFF_UP;
        assert!(has_carrier(up | InterfaceFlags::IFF_LOWER_UP));
        assert!(has_carrier(up | InterfaceFlags::IFF_RUNNING));
        assert!(!has_carrier(up));
        assert!(!has_carrier(
            InterfaceFlags::IFF_LOWER_UP | InterfaceFlags::IFF_RUNNING
        ));
    }

    #[test]
    fn loopback_is_found_and_a_missing_link_is_not() {
        let lo = lookup("lo").expect("every network namespace has lo");
        assert!(lo.ifindex > 0);
        assert!(lookup("no-such-link0").is_none());
    }
}
