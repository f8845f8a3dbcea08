//! Plain data describing host state, independent of netlink encodings so
//! that policy code and the fake never depend on rtnetlink types.

use std::fmt;
use std::net::Ipv4Addr;

/// The kernel's "main" routing table, the one `ip route` shows by default.
pub const MAIN_TABLE: u32 = 254;

/// RFC 2863 operational state as the kernel reports it (IFLA_OPERSTATE);
/// controllers need it to tell "configured up" from "actually forwarding".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperState {
    Up,
    Down,
    LowerLayerDown,
    Dormant,
    NotPresent,
    Testing,
    Unknown,
}

impl OperState {
    /// Stable lower-case spelling for status output and APIs; matches the
    /// names in `/sys/class/net/*/operstate`.
    pub fn as_str(&self) -> &'static str {
        match self {
            OperState::Up => "up",
            OperState::Down => "down",
            OperState::LowerLayerDown => "lowerlayerdown",
            OperState::Dormant => "dormant",
            OperState::NotPresent => "notpresent",
            OperState::Testing => "testing",
            OperState::Unknown => "unknown",
        }
    }
}

impl fmt::Display for OperState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A network interface as observed, so controllers can match configuration
/// (by name or MAC) to the kernel's ifindex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// IFF_UP: what was configured, as opposed to `oper_state`.
    pub admin_up: bool,
    pub oper_state: OperState,
    pub mtu: Option<u32>,
    /// Lower-case "aa:bb:cc:dd:ee:ff"; `None` for links without a 6-byte
    /// hardware address (tunnels, some virtual devices).
    pub mac: Option<String>,
}

/// A partial link update: `None` fields are left as they are, so a
/// controller only touches what it owns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkChange {
    pub admin_up: Option<bool>,
    pub mtu: Option<u32>,
    pub mac: Option<[u8; 6]>,
}

impl LinkChange {
    /// Lets callers skip a kernel round trip when nothing would change.
    pub fn is_empty(&self) -> bool {
        self.admin_up.is_none() && self.mtu.is_none() && self.mac.is_none()
    }
}

/// An IPv4 address assignment; the kernel keys them by
/// (ifindex, address, prefix length), and so does equality here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Address {
    pub ifindex: u32,
    pub address: Ipv4Addr,
    pub prefix_len: u8,
}

impl Ipv4Address {
    /// Whether `ip` is on the subnet this address makes directly reachable;
    /// that is what decides if a gateway is on-link.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        prefix_contains(self.address, self.prefix_len, ip)
    }

    /// The subnet's network address, i.e. the destination of the kernel's
    /// connected route for this address.
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.address) & prefix_mask(self.prefix_len))
    }
}

impl fmt::Display for Ipv4Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} on ifindex {}",
            self.address, self.prefix_len, self.ifindex
        )
    }
}

/// A unicast IPv4 route.
///
/// `metric: None` and `Some(0)` mean the same to the kernel (it reports
/// neither); listings return `None`. `ifindex: None` on add lets the kernel
/// pick the interface from the gateway; listings always report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Route {
    pub destination: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    pub ifindex: Option<u32>,
    pub metric: Option<u32>,
    /// 254 is "main"; see [`MAIN_TABLE`].
    pub table: u32,
}

impl Ipv4Route {
    /// The metric as the kernel stores it, so `None` and `Some(0)` compare
    /// equal when matching routes.
    pub fn effective_metric(&self) -> u32 {
        self.metric.unwrap_or(0)
    }

    /// Whether deleting `self` removes `listed` (a route as returned by
    /// [`crate::NetHost::ipv4_routes`]): destination, prefix, table, gateway
    /// and effective metric must be equal; `ifindex: None` matches any
    /// interface because the kernel fills it in on add.
    pub fn matches(&self, listed: &Ipv4Route) -> bool {
        self.destination == listed.destination
            && self.prefix_len == listed.prefix_len
            && self.table == listed.table
            && self.gateway == listed.gateway
            && self.effective_metric() == listed.effective_metric()
            && self
                .ifindex
                .is_none_or(|ifindex| listed.ifindex == Some(ifindex))
    }
}

impl fmt::Display for Ipv4Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.destination, self.prefix_len)?;
        if let Some(gw) = self.gateway {
            write!(f, " via {gw}")?;
        }
        if let Some(ifindex) = self.ifindex {
            write!(f, " ifindex {ifindex}")?;
        }
        if let Some(metric) = self.metric {
            write!(f, " metric {metric}")?;
        }
        write!(f, " table {}", self.table)
    }
}

/// Netmask for a prefix length; lengths above 32 saturate to /32 so that
/// callers never hit a shift overflow.
pub(crate) fn prefix_mask(prefix_len: u8) -> u32 {
    match prefix_len {
        0 => 0,
        p if p >= 32 => u32::MAX,
        p => u32::MAX << (32 - u32::from(p)),
    }
}

pub(crate) fn prefix_contains(network: Ipv4Addr, prefix_len: u8, ip: Ipv4Addr) -> bool {
    let mask = prefix_mask(prefix_len);
    u32::from(network) & mask == u32::from(ip) & mask
}

/// Canonical MAC spelling used in [`Link::mac`].
pub(crate) fn format_mac(bytes: &[u8]) -> Option<String> {
    if bytes.len() != 6 {
        return None;
    }
    Some(
        bytes
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oper_state_strings() {
        assert_eq!(OperState::LowerLayerDown.as_str(), "lowerlayerdown");
        assert_eq!(OperState::NotPresent.to_string(), "notpresent");
    }

    #[test]
    fn masks_and_subnets() {
        assert_eq!(prefix_mask(0), 0);
        assert_eq!(prefix_mask(24), 0xffff_ff00);
        assert_eq!(prefix_mask(32), u32::MAX);
        assert_eq!(prefix_mask(40), u32::MAX);
        let a = Ipv4Address {
            ifindex: 1,
            address: Ipv4Addr::new(10, 1, 2, 3),
            prefix_len: 24,
        };
        assert!(a.contains(Ipv4Addr::new(10, 1, 2, 254)));
        assert!(!a.contains(Ipv4Addr::new(10, 1, 3, 1)));
        assert_eq!(a.network(), Ipv4Addr::new(10, 1, 2, 0));
        assert_eq!(a.to_string(), "10.1.2.3/24 on ifindex 1");
    }

    #[test]
    fn mac_format() {
        assert_eq!(
            format_mac(&[0xAA, 0xbb, 0, 1, 2, 0xff]).as_deref(),
            Some("aa:bb:00:01:02:ff")
        );
        assert_eq!(format_mac(&[1, 2, 3, 4]), None);
    }
}
