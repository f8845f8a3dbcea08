//! The seam between policy code and the kernel.

use std::future::Future;
use std::pin::Pin;

use crate::error::HostError;
use crate::types::{Ipv4Address, Ipv4Route, Ipv4Rule, Ipv6Address, Ipv6Route, Link, LinkChange};

/// Boxed so that [`NetHost`] stays object-safe (`Arc<dyn NetHost>`), and
/// `Send` so controllers can run on a multi-threaded runtime.
pub type HostFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, HostError>> + Send + 'a>>;

/// Everything routerd needs from the host's network stack, so controllers
/// can be tested against [`crate::FakeHost`] and run against
/// [`crate::NetlinkHost`] unchanged. Both implementations report the same
/// [`HostError`] variants for the same conditions, which is what lets
/// controllers treat `AlreadyExists`/`NotFound` as "already converged".
pub trait NetHost: Send + Sync + 'static {
    /// Controllers resolve configured names to ifindexes from this.
    fn links(&self) -> HostFuture<'_, Vec<Link>>;

    /// Applies all set fields of `change` in one request, so a link is never
    /// brought up with a stale MTU or MAC. Err(NotFound) for an unknown link.
    fn set_link(&self, ifindex: u32, change: LinkChange) -> HostFuture<'_, ()>;

    /// All IPv4 addresses on all links.
    fn ipv4_addresses(&self) -> HostFuture<'_, Vec<Ipv4Address>>;

    /// Err(AlreadyExists) when present.
    fn add_ipv4_address(&self, addr: Ipv4Address) -> HostFuture<'_, ()>;

    /// Err(NotFound) when absent.
    fn del_ipv4_address(&self, addr: Ipv4Address) -> HostFuture<'_, ()>;

    /// All IPv6 addresses on all links (link-local ones too), with their remaining lifetimes and
    /// their state (tentative, deprecated...).
    fn ipv6_addresses(&self) -> HostFuture<'_, Vec<Ipv6Address>>;

    /// Adds the address, or replaces the lifetimes of an existing one (NLM_F_REPLACE): that is how a
    /// renewed lease refreshes them and how a preferred lifetime of 0 deprecates an address in place.
    /// The kernel keeps the prefix length of an existing address (see [`Ipv6Address`]) and adds the
    /// on-link prefix route, expiring with the valid lifetime. Err(NotFound) for an unknown link;
    /// Err(Netlink) for lifetimes the kernel refuses (valid 0, preferred above valid).
    fn add_ipv6_address(&self, addr: Ipv6Address) -> HostFuture<'_, ()>;

    /// Deletes the address with exactly this prefix length (lifetimes and flags are ignored).
    /// Err(NotFound) when absent.
    fn del_ipv6_address(&self, addr: Ipv6Address) -> HostFuture<'_, ()>;

    /// Routes of one table (unicast routes only; protocol-agnostic, so it
    /// includes the kernel's connected routes in the main table).
    fn ipv4_routes(&self, table: u32) -> HostFuture<'_, Vec<Ipv4Route>>;

    /// Added with protocol `static`.
    ///
    /// Err(AlreadyExists) when an identical route exists. The kernel keys
    /// IPv4 routes by (destination, prefix, metric, table), so a route that
    /// differs only in gateway or interface also gets AlreadyExists: change
    /// a route by deleting the old one first. Err(Unreachable) when the
    /// gateway is not on-link (or the route's link is down); Err(NotFound)
    /// when `ifindex` names no link.
    fn add_ipv4_route(&self, route: Ipv4Route) -> HostFuture<'_, ()>;

    /// Deletes exactly the route described: destination/prefix, gateway
    /// (`None` only matches a route without gateway), metric (`None` is
    /// metric 0) and table must match; `ifindex: None` matches any interface
    /// (the kernel picks one on add). Err(NotFound) when no route matches.
    fn del_ipv4_route(&self, route: Ipv4Route) -> HostFuture<'_, ()>;

    /// IPv6 unicast routes of one table (the kernel's own connected and multicast routes included).
    fn ipv6_routes(&self, table: u32) -> HostFuture<'_, Vec<Ipv6Route>>;

    /// Added with protocol `static`. Err(AlreadyExists) when a route with the same destination, prefix,
    /// metric and table exists (whatever its gateway or interface); Err(NotFound) when `ifindex` names
    /// no link; Err(Unreachable) when the link is down.
    fn add_ipv6_route(&self, route: Ipv6Route) -> HostFuture<'_, ()>;

    /// Deletes exactly the route described (see [`Ipv6Route::matches`]). Err(NotFound) when no route
    /// matches.
    fn del_ipv6_route(&self, route: Ipv6Route) -> HostFuture<'_, ()>;

    /// Every IPv4 "lookup" rule (the kernel's own `local`/`main`/`default` rules included).
    fn ipv4_rules(&self) -> HostFuture<'_, Vec<Ipv4Rule>>;

    /// Err(AlreadyExists) when an identical rule (priority, selectors, table) exists.
    fn add_ipv4_rule(&self, rule: Ipv4Rule) -> HostFuture<'_, ()>;

    /// Deletes the rule with exactly these priority, selectors and table. Err(NotFound) when absent.
    fn del_ipv4_rule(&self, rule: Ipv4Rule) -> HostFuture<'_, ()>;

    /// A stream of "something changed" notifications (links, IPv4 and IPv6 addresses, IPv4 routes)
    /// from netlink multicast groups, so controllers can repair drift at once instead of waiting for
    /// the next periodic resync. Each message carries a short description ("address removed",
    /// "link changed"...). The receiver simply stops receiving if the monitor dies.
    ///
    /// Messages start with one of "link changed", "link removed",
    /// "address added", "address removed", "route added", "route removed" or
    /// "monitor overrun", optionally followed by ": " and details. They are
    /// hints, not a change log: when the receiver lags, notifications are
    /// dropped rather than queued, so consumers must re-read host state.
    fn watch_changes(&self) -> tokio::sync::mpsc::Receiver<String>;

    /// IPv6 addresses the kernel deleted during duplicate address detection (seen by the change
    /// monitor, kept for [`crate::DAD_FAILURE_MEMORY`]), the latest per address. A controller that
    /// finds its address gone asks here whether to report a duplicate instead of adding it again.
    fn ipv6_dad_failures(&self) -> Vec<crate::Ipv6DadFailure>;
}
