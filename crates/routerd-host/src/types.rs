//! Plain data describing host state, independent of netlink encodings so
//! that policy code and the fake never depend on rtnetlink types.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

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

/// An IPv6 address the kernel deleted because duplicate address detection failed: another host on
/// the link answered for it. The kernel deletes an address with lifetimes rather than keep it flagged
/// (only a permanent one stays, with [`Ipv6AddressFlags::dad_failed`]), so the deletion notification
/// is the only trace; [`crate::NetHost::ipv6_dad_failures`] keeps them for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6DadFailure {
    pub ifindex: u32,
    pub address: Ipv6Addr,
    /// When the deletion was seen.
    pub at: std::time::Instant,
}

/// How long [`crate::NetHost::ipv6_dad_failures`] remembers a failure.
pub const DAD_FAILURE_MEMORY: std::time::Duration = std::time::Duration::from_secs(600);

/// Remembered DAD failures: the latest per (ifindex, address), older ones than
/// [`DAD_FAILURE_MEMORY`] forgotten, so the record stays small whatever the LAN does.
#[derive(Debug, Default)]
pub(crate) struct DadFailures(Vec<Ipv6DadFailure>);

impl DadFailures {
    pub(crate) fn record(&mut self, ifindex: u32, address: Ipv6Addr, at: std::time::Instant) {
        self.0.retain(|f| {
            (f.ifindex, f.address) != (ifindex, address)
                && at.saturating_duration_since(f.at) < DAD_FAILURE_MEMORY
        });
        self.0.push(Ipv6DadFailure {
            ifindex,
            address,
            at,
        });
    }

    pub(crate) fn list(&self) -> Vec<Ipv6DadFailure> {
        self.0.clone()
    }
}

/// The kernel's "infinite" lifetime (`INFINITY_LIFE_TIME`); [`Ipv6Address`] spells it `None`.
pub const INFINITE_LIFETIME: u32 = u32::MAX;

/// What the kernel reports about an IPv6 address's state. Only read from the host: on add the kernel
/// decides these itself (DAD runs, a preferred lifetime of 0 deprecates), so they are ignored there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Ipv6AddressFlags {
    /// Duplicate address detection has not finished: the address cannot be used as a source yet.
    pub tentative: bool,
    /// The preferred lifetime ran out: kept for existing connections, not chosen for new ones.
    pub deprecated: bool,
    /// Duplicate address detection found another host with this address; the kernel will not use it.
    pub dad_failed: bool,
    /// Added without lifetimes (by an operator or with infinite lifetimes); never expires.
    pub permanent: bool,
}

/// An IPv6 address assignment with its lifetimes.
///
/// The kernel keys IPv6 addresses by (ifindex, address) only: there is at most one prefix length per
/// address and link, and [`crate::NetHost::add_ipv6_address`] on an existing address updates its
/// lifetimes but keeps its prefix length (delete it first to change the length). Lifetimes are in
/// seconds; `None` is forever. Listings report the *remaining* lifetimes at the time of the dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Address {
    pub ifindex: u32,
    pub address: Ipv6Addr,
    pub prefix_len: u8,
    /// Seconds the address stays preferred (chosen as a source); 0 deprecates it at once.
    pub preferred_lifetime: Option<u32>,
    /// Seconds until the kernel removes the address; must be at least 1 and not below the preferred
    /// lifetime.
    pub valid_lifetime: Option<u32>,
    /// Observed state; ignored on add and delete.
    pub flags: Ipv6AddressFlags,
}

impl Ipv6Address {
    /// A permanent address (both lifetimes forever), as `ip addr add` makes by default.
    pub fn new(ifindex: u32, address: Ipv6Addr, prefix_len: u8) -> Ipv6Address {
        Ipv6Address {
            ifindex,
            address,
            prefix_len,
            preferred_lifetime: None,
            valid_lifetime: None,
            flags: Ipv6AddressFlags::default(),
        }
    }

    /// The same address with other lifetimes (`None` = forever).
    pub fn with_lifetimes(self, preferred: Option<u32>, valid: Option<u32>) -> Ipv6Address {
        Ipv6Address {
            preferred_lifetime: preferred,
            valid_lifetime: valid,
            ..self
        }
    }

    /// Whether `other` is the same assignment in the kernel's sense (link and address), whatever its
    /// prefix length, lifetimes or flags.
    pub fn same_address(&self, other: &Ipv6Address) -> bool {
        self.ifindex == other.ifindex && self.address == other.address
    }

    /// Checks what the kernel would refuse with EINVAL, so the fake and the real host agree and the
    /// caller gets a message that names the problem instead of a bare errno.
    pub(crate) fn check_lifetimes(&self) -> Result<(), String> {
        if self.prefix_len > 128 {
            return Err(format!("prefix length {} exceeds 128", self.prefix_len));
        }
        let preferred = lifetime_to_kernel(self.preferred_lifetime);
        let valid = lifetime_to_kernel(self.valid_lifetime);
        if valid == 0 {
            return Err("valid lifetime must be at least 1 second".to_string());
        }
        if preferred > valid {
            return Err(format!(
                "preferred lifetime {preferred} exceeds valid lifetime {valid}"
            ));
        }
        Ok(())
    }
}

/// `None` (forever) as the kernel's infinite lifetime.
pub(crate) fn lifetime_to_kernel(lifetime: Option<u32>) -> u32 {
    lifetime.unwrap_or(INFINITE_LIFETIME)
}

/// The kernel's infinite lifetime as `None`.
pub(crate) fn lifetime_from_kernel(lifetime: u32) -> Option<u32> {
    (lifetime != INFINITE_LIFETIME).then_some(lifetime)
}

impl fmt::Display for Ipv6Address {
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

/// An IPv4 policy-routing rule that sends matching traffic to one routing table (`ip rule ... lookup
/// TABLE`): what lets each WAN uplink keep its own default route in its own table, so traffic from
/// that uplink's address (or carrying its fwmark) leaves through it whichever uplink is the main
/// table's default. Only "lookup" rules are modelled; listings skip other actions.
///
/// The kernel refuses a second rule with identical selectors, priority and table (Err(AlreadyExists));
/// a delete names all of them, so it never removes a rule that merely shares the priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Rule {
    /// Rules are evaluated in ascending priority; 0, 32766 and 32767 are the kernel's own.
    pub priority: u32,
    /// `from ADDRESS/LEN`; `None` is `from all`.
    pub source: Option<(Ipv4Addr, u8)>,
    /// `fwmark MARK` (full mask); `None` matches any mark.
    pub fwmark: Option<u32>,
    pub table: u32,
}

impl fmt::Display for Ipv4Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: from ", self.priority)?;
        match self.source {
            Some((a, 32)) => write!(f, "{a}")?,
            Some((a, len)) => write!(f, "{a}/{len}")?,
            None => write!(f, "all")?,
        }
        if let Some(mark) = self.fwmark {
            write!(f, " fwmark {mark:#x}")?;
        }
        write!(f, " lookup {}", self.table)
    }
}

/// The metric the kernel gives an IPv6 route added without one (`IP6_RT_PRIO_USER`).
pub const IPV6_DEFAULT_METRIC: u32 = 1024;

/// A unicast IPv6 route. Unlike IPv4, the kernel always stores a metric: `metric: None` on add becomes
/// [`IPV6_DEFAULT_METRIC`], and listings report the stored value. `ifindex: None` on add lets the kernel
/// pick the interface from the gateway; listings always report it. Point-to-point uplinks (a PPPoE
/// session) route through the device without a gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Route {
    pub destination: Ipv6Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv6Addr>,
    pub ifindex: Option<u32>,
    pub metric: Option<u32>,
    /// 254 is "main"; see [`MAIN_TABLE`].
    pub table: u32,
}

impl Ipv6Route {
    /// The metric as the kernel stores it.
    pub fn effective_metric(&self) -> u32 {
        self.metric.unwrap_or(IPV6_DEFAULT_METRIC)
    }

    /// Whether deleting `self` removes `listed` (as returned by [`crate::NetHost::ipv6_routes`]):
    /// destination, prefix, table, gateway and effective metric must be equal; `ifindex: None` matches
    /// any interface.
    pub fn matches(&self, listed: &Ipv6Route) -> bool {
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

impl fmt::Display for Ipv6Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.destination, self.prefix_len)?;
        if let Some(gw) = self.gateway {
            write!(f, " via {gw}")?;
        }
        if let Some(ifindex) = self.ifindex {
            write!(f, " ifindex {ifindex}")?;
        }
        write!(
            f,
            " metric {} table {}",
            self.effective_metric(),
            self.table
        )
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
    fn ipv6_lifetimes() {
        let a = Ipv6Address::new(3, "2001:db8::1".parse().unwrap(), 64);
        assert_eq!(a.preferred_lifetime, None);
        assert!(a.check_lifetimes().is_ok());
        assert!(a.with_lifetimes(Some(0), Some(1)).check_lifetimes().is_ok());
        assert!(a
            .with_lifetimes(Some(0), Some(0))
            .check_lifetimes()
            .is_err());
        assert!(a
            .with_lifetimes(Some(10), Some(5))
            .check_lifetimes()
            .is_err());
        assert!(a.with_lifetimes(None, Some(5)).check_lifetimes().is_err());
        assert!(a.with_lifetimes(Some(5), None).check_lifetimes().is_ok());
        let long = Ipv6Address {
            prefix_len: 129,
            ..a
        };
        assert!(long.check_lifetimes().is_err());
        assert_eq!(lifetime_to_kernel(None), INFINITE_LIFETIME);
        assert_eq!(lifetime_from_kernel(INFINITE_LIFETIME), None);
        assert_eq!(lifetime_from_kernel(7), Some(7));
        let other = Ipv6Address {
            prefix_len: 56,
            ..a.with_lifetimes(Some(1), Some(2))
        };
        assert!(a.same_address(&other));
        assert_eq!(a.to_string(), "2001:db8::1/64 on ifindex 3");
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
