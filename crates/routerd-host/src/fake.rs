//! In-memory [`NetHost`] for unit tests of policy code.
//!
//! It mirrors the kernel behaviour that controllers have to cope with, so a
//! controller that passes against the fake does not get surprised on a real
//! host:
//! - an IPv4 address on an admin-up link brings a connected route
//!   (`<network>/<len> dev <link>`, table main, metric 0) with it; bringing
//!   the link up re-creates those routes;
//! - bringing a link down, removing it, or deleting its last IPv4 address
//!   flushes every route through it, in all tables;
//! - a gateway is reachable only through a gateway-less route (such as a
//!   connected route) on an admin-up link, restricted to the route's
//!   `ifindex` when given; the route is then stored with that ifindex;
//! - a route conflicts (AlreadyExists) with any route of the same
//!   destination, prefix, metric and table, whatever its gateway;
//! - a route without gateway on a down link is Unreachable (ENETDOWN);
//! - IPv6 addresses are keyed by (link, address): adding an existing one
//!   replaces its lifetimes and keeps its prefix length; preferred 0 marks it
//!   deprecated, infinite valid marks it permanent; lifetimes only run down
//!   when a test calls [`FakeHost::elapse_ipv6_lifetimes`] (an address whose
//!   valid lifetime ends is removed, as the kernel does). DAD completes at
//!   once, so addresses are never tentative. IPv6 addresses bring no routes
//!   (the fake models IPv4 routes only).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::mpsc;

use crate::error::HostError;
use crate::net_host::{HostFuture, NetHost};
use crate::types::{
    format_mac, prefix_contains, prefix_mask, DadFailures, Ipv4Address, Ipv4Route, Ipv4Rule,
    Ipv6Address, Ipv6Route, Link, LinkChange, OperState, MAIN_TABLE,
};

/// Per-watcher buffer; like the real monitor, overflow drops notifications.
const WATCH_BUFFER: usize = 256;

/// MTU given to links created with [`FakeHost::add_link`], like Ethernet.
pub const DEFAULT_MTU: u32 = 1500;

/// See the module documentation for the kernel behaviour it reproduces.
#[derive(Debug, Default)]
pub struct FakeHost {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    links: BTreeMap<u32, Link>,
    addresses: BTreeSet<Ipv4Address>,
    /// Keyed like the kernel's IPv6 addresses: (ifindex, address).
    ipv6: BTreeMap<(u32, Ipv6Addr), Ipv6Address>,
    routes: Vec<Ipv4Route>,
    /// Stored with their effective metric, as the kernel lists them.
    routes6: Vec<Ipv6Route>,
    /// Only the rules added through [`NetHost::add_ipv4_rule`] (no kernel defaults).
    rules: BTreeSet<Ipv4Rule>,
    watchers: Vec<mpsc::Sender<String>>,
    dad_failures: DadFailures,
    /// Put on the host just before the next `add_ipv4_address` runs ([`FakeHost::race_next_ipv4_add`]).
    raced_ipv4: Option<Ipv4Address>,
}

impl FakeHost {
    /// A host with no links at all (not even `lo`), so tests only see what
    /// they set up.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a link with MTU 1500, a locally administered MAC derived from
    /// `index` and oper state following `up`. An existing link with the
    /// same index is renamed and set up/down instead, keeping its
    /// addresses, as if configured by an operator.
    pub fn add_link(&self, name: impl Into<String>, index: u32, up: bool) {
        let name = name.into();
        let mut state = self.state();
        if let Some(link) = state.links.get_mut(&index) {
            link.name = name;
            state.set_admin(index, up);
        } else {
            let b = index.to_be_bytes();
            state.links.insert(
                index,
                Link {
                    index,
                    name,
                    admin_up: up,
                    oper_state: if up { OperState::Up } else { OperState::Down },
                    mtu: Some(DEFAULT_MTU),
                    mac: format_mac(&[0x02, 0x00, b[0], b[1], b[2], b[3]]),
                },
            );
        }
        let summary = state.link_summary(index);
        state.notify(format!("link changed: {summary}"));
    }

    /// Removes a link with everything on it, like unplugging a USB NIC or
    /// deleting a veth. Unknown indexes are ignored.
    pub fn remove_link(&self, index: u32) {
        let mut state = self.state();
        let summary = state.link_summary(index);
        if state.links.remove(&index).is_none() {
            return;
        }
        state.addresses.retain(|a| a.ifindex != index);
        state.ipv6.retain(|(ifindex, _), _| *ifindex != index);
        state.flush_routes(index);
        state.notify(format!("link removed: {summary}"));
    }

    /// Simulates carrier changes (cable pulled, peer down) that only the
    /// kernel can cause; routes stay, as they do in the kernel. Unknown
    /// indexes are ignored.
    pub fn set_oper_state(&self, index: u32, oper_state: OperState) {
        let mut state = self.state();
        let Some(link) = state.links.get_mut(&index) else {
            return;
        };
        link.oper_state = oper_state;
        let summary = state.link_summary(index);
        state.notify(format!("link changed: {summary}"));
    }

    /// Lets `seconds` of IPv6 address lifetime pass, as the kernel's lifetime timer would: finite
    /// lifetimes count down, an address whose preferred lifetime reaches 0 becomes deprecated and one
    /// whose valid lifetime reaches 0 is removed (with an "address removed" notification).
    pub fn elapse_ipv6_lifetimes(&self, seconds: u32) {
        let mut state = self.state();
        let mut expired = Vec::new();
        for (key, addr) in state.ipv6.iter_mut() {
            if let Some(valid) = addr.valid_lifetime {
                let left = valid.saturating_sub(seconds);
                addr.valid_lifetime = Some(left);
                if left == 0 {
                    expired.push(*key);
                }
            }
            if let Some(preferred) = addr.preferred_lifetime {
                let left = preferred.saturating_sub(seconds);
                addr.preferred_lifetime = Some(left);
                addr.flags.deprecated = left == 0;
            }
        }
        for key in expired {
            if let Some(addr) = state.ipv6.remove(&key) {
                state.notify(format!("address removed: {addr}"));
            }
        }
    }

    /// Marks the IPv6 address `address` on `ifindex` as having failed duplicate address detection,
    /// as the kernel does when another host on the link answers for it. Returns whether it was there.
    ///
    /// Like the kernel: a permanent address stays, flagged `dad_failed` (and tentative); one with
    /// lifetimes is deleted, and the deletion is remembered in [`NetHost::ipv6_dad_failures`].
    pub fn fail_ipv6_dad(&self, ifindex: u32, address: Ipv6Addr) -> bool {
        let mut state = self.state();
        let key = (ifindex, address);
        let Some(addr) = state.ipv6.get_mut(&key) else {
            return false;
        };
        addr.flags.dad_failed = true;
        addr.flags.tentative = true;
        let kept = *addr;
        if kept.valid_lifetime.is_none() {
            state.notify(format!("address changed: {kept} (dadfailed)"));
        } else {
            state.ipv6.remove(&key);
            state
                .dad_failures
                .record(ifindex, address, std::time::Instant::now());
            state.notify(format!("address removed: {kept} (dadfailed)"));
        }
        true
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not make every later call fail; the
        // state is always left consistent between statements.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set_link_now(&self, ifindex: u32, change: LinkChange) -> Result<(), HostError> {
        let mut state = self.state();
        let context = format!("set link {ifindex}");
        let Some(link) = state.links.get_mut(&ifindex) else {
            return Err(HostError::from_errno(libc::ENODEV, context));
        };
        if change.mtu == Some(0) {
            return Err(HostError::from_errno(libc::EINVAL, context));
        }
        if let Some(mtu) = change.mtu {
            link.mtu = Some(mtu);
        }
        if let Some(mac) = change.mac {
            link.mac = format_mac(&mac);
        }
        if let Some(up) = change.admin_up {
            state.set_admin(ifindex, up);
        }
        let summary = state.link_summary(ifindex);
        state.notify(format!("link changed: {summary}"));
        Ok(())
    }

    /// The next `add_ipv4_address` finds `addr` added just before it, as when an operator adds an
    /// address after a controller listed the addresses and before its add reaches the kernel: the race
    /// a controller must not win by claiming the operator's address as its own.
    pub fn race_next_ipv4_add(&self, addr: Ipv4Address) {
        self.state().raced_ipv4 = Some(addr);
    }

    fn add_address_now(&self, addr: Ipv4Address) -> Result<(), HostError> {
        let raced = self.state().raced_ipv4.take();
        if let Some(raced) = raced {
            self.add_address_now(raced)?;
        }
        let mut state = self.state();
        let context = format!("add address {addr}");
        check_prefix_len(addr.prefix_len, &context)?;
        let Some(link) = state.links.get(&addr.ifindex) else {
            return Err(HostError::from_errno(libc::ENODEV, context));
        };
        let link_up = link.admin_up;
        if state.addresses.contains(&addr) {
            return Err(HostError::from_errno(libc::EEXIST, context));
        }
        state.addresses.insert(addr);
        if link_up {
            state.add_connected_route(addr);
        }
        state.notify(format!("address added: {addr}"));
        Ok(())
    }

    fn del_address_now(&self, addr: Ipv4Address) -> Result<(), HostError> {
        let mut state = self.state();
        let context = format!("delete address {addr}");
        check_prefix_len(addr.prefix_len, &context)?;
        if !state.links.contains_key(&addr.ifindex) {
            return Err(HostError::from_errno(libc::ENODEV, context));
        }
        if !state.addresses.remove(&addr) {
            return Err(HostError::from_errno(libc::EADDRNOTAVAIL, context));
        }
        let subnet_still_used = state.addresses.iter().any(|a| {
            a.ifindex == addr.ifindex
                && a.prefix_len == addr.prefix_len
                && a.network() == addr.network()
        });
        if !subnet_still_used {
            let connected = connected_route(addr);
            state.routes.retain(|r| *r != connected);
        }
        if !state.addresses.iter().any(|a| a.ifindex == addr.ifindex) {
            state.flush_routes(addr.ifindex);
        }
        state.notify(format!("address removed: {addr}"));
        Ok(())
    }

    fn add_ipv6_address_now(&self, addr: Ipv6Address) -> Result<(), HostError> {
        let mut state = self.state();
        let context = format!("add address {addr}");
        addr.check_lifetimes()
            .map_err(|why| HostError::from_errno(libc::EINVAL, format!("{context}: {why}")))?;
        if !state.links.contains_key(&addr.ifindex) {
            return Err(HostError::from_errno(libc::ENODEV, context));
        }
        // A replace keeps the prefix length of the address that is there, like the kernel.
        let prefix_len = state
            .ipv6
            .get(&(addr.ifindex, addr.address))
            .map_or(addr.prefix_len, |old| old.prefix_len);
        let mut stored = Ipv6Address { prefix_len, ..addr };
        stored.flags.tentative = false;
        stored.flags.dad_failed = false;
        stored.flags.deprecated = stored.preferred_lifetime == Some(0);
        stored.flags.permanent = stored.valid_lifetime.is_none();
        state.ipv6.insert((addr.ifindex, addr.address), stored);
        state.notify(format!("address added: {stored}"));
        Ok(())
    }

    fn del_ipv6_address_now(&self, addr: Ipv6Address) -> Result<(), HostError> {
        let mut state = self.state();
        let context = format!("delete address {addr}");
        if addr.prefix_len > 128 {
            return Err(HostError::from_errno(libc::EINVAL, context));
        }
        if !state.links.contains_key(&addr.ifindex) {
            return Err(HostError::from_errno(libc::ENODEV, context));
        }
        let key = (addr.ifindex, addr.address);
        if state.ipv6.get(&key).map(|a| a.prefix_len) != Some(addr.prefix_len) {
            return Err(HostError::from_errno(libc::EADDRNOTAVAIL, context));
        }
        if let Some(removed) = state.ipv6.remove(&key) {
            state.notify(format!("address removed: {removed}"));
        }
        Ok(())
    }

    fn add_route_now(&self, route: Ipv4Route) -> Result<(), HostError> {
        let mut state = self.state();
        let context = format!("add route {route}");
        check_prefix_len(route.prefix_len, &context)?;
        if u32::from(route.destination) & !prefix_mask(route.prefix_len) != 0 {
            return Err(HostError::from_errno(
                libc::EINVAL,
                format!("{context}: invalid prefix for given prefix length"),
            ));
        }
        if let Some(ifindex) = route.ifindex {
            if !state.links.contains_key(&ifindex) {
                return Err(HostError::from_errno(libc::ENODEV, context));
            }
        }
        let ifindex = match (route.gateway, route.ifindex) {
            (Some(gateway), wanted_if) => state
                .on_link_interface(gateway, wanted_if, route.table)
                .ok_or_else(|| HostError::from_errno(libc::ENETUNREACH, &context))?,
            (None, Some(ifindex)) => {
                if !state.links.get(&ifindex).is_some_and(|l| l.admin_up) {
                    return Err(HostError::from_errno(libc::ENETDOWN, context));
                }
                ifindex
            }
            (None, None) => {
                return Err(HostError::from_errno(
                    libc::EINVAL,
                    format!("{context}: a route needs a gateway or an interface"),
                ))
            }
        };
        let stored = Ipv4Route {
            ifindex: Some(ifindex),
            metric: route.metric.filter(|m| *m != 0),
            ..route
        };
        if state.routes.iter().any(|r| same_key(r, &stored)) {
            return Err(HostError::from_errno(libc::EEXIST, context));
        }
        state.routes.push(stored);
        state.notify(format!("route added: {stored}"));
        Ok(())
    }

    fn add_ipv6_route_now(&self, route: Ipv6Route) -> Result<(), HostError> {
        let mut state = self.state();
        let context = format!("add route {route}");
        if route.prefix_len > 128 {
            return Err(HostError::from_errno(
                libc::EINVAL,
                format!("{context}: prefix length exceeds 128"),
            ));
        }
        // The fake resolves no gateways: every IPv6 route names its interface.
        let Some(ifindex) = route.ifindex else {
            return Err(HostError::from_errno(
                libc::EINVAL,
                format!("{context}: the fake host needs the interface of an IPv6 route"),
            ));
        };
        match state.links.get(&ifindex) {
            None => return Err(HostError::from_errno(libc::ENODEV, context)),
            Some(l) if !l.admin_up => return Err(HostError::from_errno(libc::ENETDOWN, context)),
            Some(_) => {}
        }
        let stored = Ipv6Route {
            metric: Some(route.effective_metric()),
            ..route
        };
        if state.routes6.iter().any(|r| {
            r.destination == stored.destination
                && r.prefix_len == stored.prefix_len
                && r.table == stored.table
                && r.metric == stored.metric
        }) {
            return Err(HostError::from_errno(libc::EEXIST, context));
        }
        state.routes6.push(stored);
        state.notify(format!("route added: {stored}"));
        Ok(())
    }

    fn del_ipv6_route_now(&self, route: Ipv6Route) -> Result<(), HostError> {
        let mut state = self.state();
        let Some(position) = state.routes6.iter().position(|r| route.matches(r)) else {
            return Err(HostError::from_errno(
                libc::ESRCH,
                format!("delete route {route}"),
            ));
        };
        let removed = state.routes6.remove(position);
        state.notify(format!("route removed: {removed}"));
        Ok(())
    }

    fn del_route_now(&self, route: Ipv4Route) -> Result<(), HostError> {
        let mut state = self.state();
        let context = format!("delete route {route}");
        check_prefix_len(route.prefix_len, &context)?;
        let Some(position) = state.routes.iter().position(|r| route.matches(r)) else {
            return Err(HostError::from_errno(libc::ESRCH, context));
        };
        let removed = state.routes.remove(position);
        state.notify(format!("route removed: {removed}"));
        Ok(())
    }
}

impl State {
    fn notify(&mut self, message: String) {
        self.watchers
            .retain(|tx| match tx.try_send(message.clone()) {
                Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => true,
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
    }

    fn link_summary(&self, index: u32) -> String {
        match self.links.get(&index) {
            Some(link) => format!("{} (ifindex {index})", link.name),
            None => format!("ifindex {index}"),
        }
    }

    fn set_admin(&mut self, index: u32, up: bool) {
        let Some(link) = self.links.get_mut(&index) else {
            return;
        };
        let was_up = link.admin_up;
        link.admin_up = up;
        if up && !was_up {
            link.oper_state = OperState::Up;
            let on_link: Vec<Ipv4Address> = self
                .addresses
                .iter()
                .filter(|a| a.ifindex == index)
                .copied()
                .collect();
            for addr in on_link {
                self.add_connected_route(addr);
            }
        } else if !up {
            link.oper_state = OperState::Down;
            self.flush_routes(index);
        }
    }

    fn flush_routes(&mut self, ifindex: u32) {
        self.routes.retain(|r| r.ifindex != Some(ifindex));
        self.routes6.retain(|r| r.ifindex != Some(ifindex));
    }

    fn add_connected_route(&mut self, addr: Ipv4Address) {
        if addr.prefix_len >= 32 {
            return;
        }
        let route = connected_route(addr);
        // Like the kernel, silently keep whatever already holds the key.
        if !self.routes.iter().any(|r| same_key(r, &route)) {
            self.routes.push(route);
        }
    }

    /// The interface a gateway is reachable on: via the most specific
    /// gateway-less route covering it, in the route's table or main.
    fn on_link_interface(
        &self,
        gateway: Ipv4Addr,
        wanted_if: Option<u32>,
        table: u32,
    ) -> Option<u32> {
        self.routes
            .iter()
            .filter(|r| r.table == table || r.table == MAIN_TABLE)
            .filter(|r| r.gateway.is_none())
            .filter(|r| prefix_contains(r.destination, r.prefix_len, gateway))
            .filter_map(|r| r.ifindex.map(|i| (r.prefix_len, i)))
            .filter(|(_, i)| wanted_if.is_none_or(|w| w == *i))
            .filter(|(_, i)| self.links.get(i).is_some_and(|l| l.admin_up))
            .max_by_key(|(len, _)| *len)
            .map(|(_, i)| i)
    }
}

fn connected_route(addr: Ipv4Address) -> Ipv4Route {
    Ipv4Route {
        destination: addr.network(),
        prefix_len: addr.prefix_len,
        gateway: None,
        ifindex: Some(addr.ifindex),
        metric: None,
        table: MAIN_TABLE,
    }
}

/// The kernel's uniqueness key for IPv4 routes (ignoring TOS).
fn same_key(a: &Ipv4Route, b: &Ipv4Route) -> bool {
    a.destination == b.destination
        && a.prefix_len == b.prefix_len
        && a.table == b.table
        && a.effective_metric() == b.effective_metric()
}

fn check_prefix_len(prefix_len: u8, context: &str) -> Result<(), HostError> {
    if prefix_len > 32 {
        return Err(HostError::from_errno(
            libc::EINVAL,
            format!("{context}: prefix length {prefix_len} exceeds 32"),
        ));
    }
    Ok(())
}

// Work happens when the future is polled, as with the real host, so a
// future that is dropped unpolled changes nothing.
impl NetHost for FakeHost {
    fn links(&self) -> HostFuture<'_, Vec<Link>> {
        Box::pin(async move { Ok(self.state().links.values().cloned().collect()) })
    }

    fn set_link(&self, ifindex: u32, change: LinkChange) -> HostFuture<'_, ()> {
        Box::pin(async move { self.set_link_now(ifindex, change) })
    }

    fn ipv4_addresses(&self) -> HostFuture<'_, Vec<Ipv4Address>> {
        Box::pin(async move { Ok(self.state().addresses.iter().copied().collect()) })
    }

    fn add_ipv4_address(&self, addr: Ipv4Address) -> HostFuture<'_, ()> {
        Box::pin(async move { self.add_address_now(addr) })
    }

    fn del_ipv4_address(&self, addr: Ipv4Address) -> HostFuture<'_, ()> {
        Box::pin(async move { self.del_address_now(addr) })
    }

    fn ipv6_addresses(&self) -> HostFuture<'_, Vec<Ipv6Address>> {
        Box::pin(async move { Ok(self.state().ipv6.values().copied().collect()) })
    }

    fn add_ipv6_address(&self, addr: Ipv6Address) -> HostFuture<'_, ()> {
        Box::pin(async move { self.add_ipv6_address_now(addr) })
    }

    fn del_ipv6_address(&self, addr: Ipv6Address) -> HostFuture<'_, ()> {
        Box::pin(async move { self.del_ipv6_address_now(addr) })
    }

    fn ipv4_routes(&self, table: u32) -> HostFuture<'_, Vec<Ipv4Route>> {
        Box::pin(async move {
            Ok(self
                .state()
                .routes
                .iter()
                .filter(|r| r.table == table)
                .copied()
                .collect())
        })
    }

    fn add_ipv4_route(&self, route: Ipv4Route) -> HostFuture<'_, ()> {
        Box::pin(async move { self.add_route_now(route) })
    }

    fn del_ipv4_route(&self, route: Ipv4Route) -> HostFuture<'_, ()> {
        Box::pin(async move { self.del_route_now(route) })
    }

    fn ipv6_routes(&self, table: u32) -> HostFuture<'_, Vec<Ipv6Route>> {
        Box::pin(async move {
            Ok(self
                .state()
                .routes6
                .iter()
                .filter(|r| r.table == table)
                .copied()
                .collect())
        })
    }

    fn add_ipv6_route(&self, route: Ipv6Route) -> HostFuture<'_, ()> {
        Box::pin(async move { self.add_ipv6_route_now(route) })
    }

    fn del_ipv6_route(&self, route: Ipv6Route) -> HostFuture<'_, ()> {
        Box::pin(async move { self.del_ipv6_route_now(route) })
    }

    fn ipv4_rules(&self) -> HostFuture<'_, Vec<Ipv4Rule>> {
        Box::pin(async move { Ok(self.state().rules.iter().copied().collect()) })
    }

    fn add_ipv4_rule(&self, rule: Ipv4Rule) -> HostFuture<'_, ()> {
        Box::pin(async move {
            let context = format!("add rule {rule}");
            check_prefix_len(rule.source.map_or(0, |s| s.1), &context)?;
            let mut state = self.state();
            if !state.rules.insert(rule) {
                return Err(HostError::from_errno(libc::EEXIST, context));
            }
            Ok(())
        })
    }

    fn del_ipv4_rule(&self, rule: Ipv4Rule) -> HostFuture<'_, ()> {
        Box::pin(async move {
            if !self.state().rules.remove(&rule) {
                return Err(HostError::from_errno(
                    libc::ENOENT,
                    format!("delete rule {rule}"),
                ));
            }
            Ok(())
        })
    }

    fn watch_changes(&self) -> mpsc::Receiver<String> {
        let (tx, rx) = mpsc::channel(WATCH_BUFFER);
        self.state().watchers.push(tx);
        rx
    }

    fn ipv6_dad_failures(&self) -> Vec<crate::Ipv6DadFailure> {
        self.state().dad_failures.list()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn ip(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
        Ipv4Addr::new(a, b, c, d)
    }

    fn addr(ifindex: u32, address: Ipv4Addr, prefix_len: u8) -> Ipv4Address {
        Ipv4Address {
            ifindex,
            address,
            prefix_len,
        }
    }

    fn route(destination: Ipv4Addr, prefix_len: u8, gateway: Option<Ipv4Addr>) -> Ipv4Route {
        Ipv4Route {
            destination,
            prefix_len,
            gateway,
            ifindex: None,
            metric: None,
            table: MAIN_TABLE,
        }
    }

    /// Two up links, 10.1.0.1/24 on 2 and 10.2.0.1/24 on 3.
    async fn host() -> FakeHost {
        let host = FakeHost::new();
        host.add_link("lan0", 2, true);
        host.add_link("wan0", 3, true);
        host.add_ipv4_address(addr(2, ip(10, 1, 0, 1), 24))
            .await
            .unwrap();
        host.add_ipv4_address(addr(3, ip(10, 2, 0, 1), 24))
            .await
            .unwrap();
        host
    }

    fn drain(rx: &mut mpsc::Receiver<String>) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(m) = rx.try_recv() {
            out.push(m);
        }
        out
    }

    #[tokio::test]
    async fn links_and_link_changes() {
        let host = FakeHost::new();
        host.add_link("eth0", 2, false);
        let links = host.links().await.unwrap();
        assert_eq!(links.len(), 1);
        assert_eq!(links[0].name, "eth0");
        assert!(!links[0].admin_up);
        assert_eq!(links[0].oper_state, OperState::Down);
        assert_eq!(links[0].mtu, Some(DEFAULT_MTU));
        assert_eq!(links[0].mac.as_deref(), Some("02:00:00:00:00:02"));

        host.set_link(
            2,
            LinkChange {
                admin_up: Some(true),
                mtu: Some(9000),
                mac: Some([0xAA, 0xBB, 0xCC, 0, 0, 1]),
            },
        )
        .await
        .unwrap();
        let link = &host.links().await.unwrap()[0];
        assert!(link.admin_up);
        assert_eq!(link.oper_state, OperState::Up);
        assert_eq!(link.mtu, Some(9000));
        assert_eq!(link.mac.as_deref(), Some("aa:bb:cc:00:00:01"));

        host.set_oper_state(2, OperState::LowerLayerDown);
        let link = &host.links().await.unwrap()[0];
        assert!(link.admin_up);
        assert_eq!(link.oper_state, OperState::LowerLayerDown);

        let err = host.set_link(9, LinkChange::default()).await.unwrap_err();
        assert!(matches!(err, HostError::NotFound(_)), "{err}");
        let err = host
            .set_link(
                2,
                LinkChange {
                    mtu: Some(0),
                    ..LinkChange::default()
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, HostError::Netlink(_)), "{err}");

        // Re-adding renames and sets admin state but keeps the link's data.
        host.add_link("eth0-renamed", 2, false);
        let link = &host.links().await.unwrap()[0];
        assert_eq!(link.name, "eth0-renamed");
        assert_eq!(link.mtu, Some(9000));
        assert_eq!(link.oper_state, OperState::Down);

        host.remove_link(2);
        assert!(host.links().await.unwrap().is_empty());
        // Unknown links are ignored by the test helpers.
        host.set_oper_state(42, OperState::Up);
        host.remove_link(42);
    }

    #[tokio::test]
    async fn address_lifecycle() {
        let host = FakeHost::new();
        host.add_link("lan0", 2, true);
        let a = addr(2, ip(192, 168, 1, 1), 24);
        host.add_ipv4_address(a).await.unwrap();
        assert_eq!(host.ipv4_addresses().await.unwrap(), vec![a]);
        let err = host.add_ipv4_address(a).await.unwrap_err();
        assert!(matches!(err, HostError::AlreadyExists(_)), "{err}");
        // Same address with another prefix is a different assignment.
        host.add_ipv4_address(addr(2, ip(192, 168, 1, 1), 16))
            .await
            .unwrap();
        host.del_ipv4_address(addr(2, ip(192, 168, 1, 1), 16))
            .await
            .unwrap();

        host.del_ipv4_address(a).await.unwrap();
        assert!(host.ipv4_addresses().await.unwrap().is_empty());
        let err = host.del_ipv4_address(a).await.unwrap_err();
        assert!(matches!(err, HostError::NotFound(_)), "{err}");

        let err = host
            .add_ipv4_address(addr(9, ip(10, 0, 0, 1), 8))
            .await
            .unwrap_err();
        assert!(matches!(err, HostError::NotFound(_)), "{err}");
        let err = host
            .add_ipv4_address(addr(2, ip(10, 0, 0, 1), 33))
            .await
            .unwrap_err();
        assert!(matches!(err, HostError::Netlink(_)), "{err}");
    }

    #[tokio::test]
    async fn addresses_bring_connected_routes() {
        let host = FakeHost::new();
        host.add_link("lan0", 2, false);
        host.add_ipv4_address(addr(2, ip(10, 1, 0, 1), 24))
            .await
            .unwrap();
        host.add_ipv4_address(addr(2, ip(10, 3, 0, 1), 32))
            .await
            .unwrap();
        // Link down: no connected route yet.
        assert!(host.ipv4_routes(MAIN_TABLE).await.unwrap().is_empty());
        host.set_link(
            2,
            LinkChange {
                admin_up: Some(true),
                ..LinkChange::default()
            },
        )
        .await
        .unwrap();
        let connected = Ipv4Route {
            ifindex: Some(2),
            ..route(ip(10, 1, 0, 0), 24, None)
        };
        assert_eq!(host.ipv4_routes(MAIN_TABLE).await.unwrap(), vec![connected]);
        // It occupies its key, as in the kernel.
        let err = host
            .add_ipv4_route(Ipv4Route {
                ifindex: Some(2),
                ..route(ip(10, 1, 0, 0), 24, None)
            })
            .await
            .unwrap_err();
        assert!(matches!(err, HostError::AlreadyExists(_)), "{err}");
        host.del_ipv4_address(addr(2, ip(10, 1, 0, 1), 24))
            .await
            .unwrap();
        assert!(host.ipv4_routes(MAIN_TABLE).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn route_add_semantics() {
        let host = host().await;
        let via = route(ip(10, 9, 0, 0), 24, Some(ip(10, 1, 0, 254)));
        host.add_ipv4_route(via).await.unwrap();
        let listed = host.ipv4_routes(MAIN_TABLE).await.unwrap();
        let stored = Ipv4Route {
            ifindex: Some(2),
            ..via
        };
        assert!(listed.contains(&stored), "{listed:?}");

        let err = host.add_ipv4_route(via).await.unwrap_err();
        assert!(matches!(err, HostError::AlreadyExists(_)), "{err}");
        // Same key, other gateway: the kernel refuses it too.
        let err = host
            .add_ipv4_route(route(ip(10, 9, 0, 0), 24, Some(ip(10, 2, 0, 254))))
            .await
            .unwrap_err();
        assert!(matches!(err, HostError::AlreadyExists(_)), "{err}");
        // Metric 0 is no metric.
        let err = host
            .add_ipv4_route(Ipv4Route {
                metric: Some(0),
                ..via
            })
            .await
            .unwrap_err();
        assert!(matches!(err, HostError::AlreadyExists(_)), "{err}");

        // Gateway not on any subnet.
        let err = host
            .add_ipv4_route(route(ip(10, 8, 0, 0), 24, Some(ip(192, 168, 99, 1))))
            .await
            .unwrap_err();
        assert!(matches!(err, HostError::Unreachable(_)), "{err}");
        // Gateway on a subnet of another link than the one asked for.
        let err = host
            .add_ipv4_route(Ipv4Route {
                ifindex: Some(3),
                ..route(ip(10, 8, 0, 0), 24, Some(ip(10, 1, 0, 254)))
            })
            .await
            .unwrap_err();
        assert!(matches!(err, HostError::Unreachable(_)), "{err}");
        // Unknown interface.
        let err = host
            .add_ipv4_route(Ipv4Route {
                ifindex: Some(77),
                ..route(ip(10, 8, 0, 0), 24, None)
            })
            .await
            .unwrap_err();
        assert!(matches!(err, HostError::NotFound(_)), "{err}");
        // Host bits set.
        let err = host
            .add_ipv4_route(Ipv4Route {
                ifindex: Some(2),
                ..route(ip(10, 8, 0, 1), 24, None)
            })
            .await
            .unwrap_err();
        assert!(matches!(err, HostError::Netlink(_)), "{err}");
        // Neither gateway nor interface.
        let err = host
            .add_ipv4_route(route(ip(10, 8, 0, 0), 24, None))
            .await
            .unwrap_err();
        assert!(matches!(err, HostError::Netlink(_)), "{err}");

        // Default route, metric, other tables (also > 255).
        host.add_ipv4_route(route(Ipv4Addr::UNSPECIFIED, 0, Some(ip(10, 2, 0, 254))))
            .await
            .unwrap();
        for table in [100, 1000] {
            host.add_ipv4_route(Ipv4Route {
                metric: Some(50),
                table,
                ..via
            })
            .await
            .unwrap();
            assert_eq!(
                host.ipv4_routes(table).await.unwrap(),
                vec![Ipv4Route {
                    metric: Some(50),
                    table,
                    ..stored
                }]
            );
        }
    }

    #[tokio::test]
    async fn route_delete_is_exact() {
        let host = host().await;
        let base = Ipv4Route {
            table: 100,
            ..route(ip(10, 9, 0, 0), 24, Some(ip(10, 1, 0, 254)))
        };
        let m50 = Ipv4Route {
            metric: Some(50),
            ..base
        };
        let m60 = Ipv4Route {
            metric: Some(60),
            gateway: Some(ip(10, 2, 0, 254)),
            ..base
        };
        host.add_ipv4_route(m50).await.unwrap();
        host.add_ipv4_route(m60).await.unwrap();

        // No metric means metric 0, not "any metric" as `ip route del` has it.
        let err = host.del_ipv4_route(base).await.unwrap_err();
        assert!(matches!(err, HostError::NotFound(_)), "{err}");
        // Wrong gateway, wrong interface, wrong table.
        for wrong in [
            Ipv4Route {
                gateway: Some(ip(10, 1, 0, 253)),
                ..m50
            },
            Ipv4Route {
                ifindex: Some(3),
                ..m50
            },
            Ipv4Route {
                table: MAIN_TABLE,
                ..m50
            },
            Ipv4Route {
                gateway: None,
                ..m50
            },
        ] {
            let err = host.del_ipv4_route(wrong).await.unwrap_err();
            assert!(matches!(err, HostError::NotFound(_)), "{wrong}: {err}");
        }

        host.del_ipv4_route(m50).await.unwrap();
        let left = host.ipv4_routes(100).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].metric, Some(60));
        let err = host.del_ipv4_route(m50).await.unwrap_err();
        assert!(matches!(err, HostError::NotFound(_)), "{err}");
        // An exact ifindex works as well as none.
        host.del_ipv4_route(Ipv4Route {
            ifindex: Some(3),
            ..m60
        })
        .await
        .unwrap();
        assert!(host.ipv4_routes(100).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn link_down_and_last_address_flush_routes() {
        let host = host().await;
        host.add_ipv4_route(route(ip(10, 9, 0, 0), 24, Some(ip(10, 1, 0, 254))))
            .await
            .unwrap();
        host.add_ipv4_route(Ipv4Route {
            table: 100,
            ..route(ip(10, 9, 0, 0), 24, Some(ip(10, 1, 0, 254)))
        })
        .await
        .unwrap();
        let down = LinkChange {
            admin_up: Some(false),
            ..LinkChange::default()
        };
        host.set_link(2, down).await.unwrap();
        assert!(host.ipv4_routes(100).await.unwrap().is_empty());
        let main = host.ipv4_routes(MAIN_TABLE).await.unwrap();
        assert!(main.iter().all(|r| r.ifindex == Some(3)), "{main:?}");
        // Gateway on a down link is unreachable; so is a device route.
        let err = host
            .add_ipv4_route(route(ip(10, 9, 0, 0), 24, Some(ip(10, 1, 0, 254))))
            .await
            .unwrap_err();
        assert!(matches!(err, HostError::Unreachable(_)), "{err}");
        let err = host
            .add_ipv4_route(Ipv4Route {
                ifindex: Some(2),
                ..route(ip(10, 9, 0, 0), 24, None)
            })
            .await
            .unwrap_err();
        assert!(matches!(err, HostError::Unreachable(_)), "{err}");

        // Up again: connected route back, static ones stay gone.
        host.set_link(
            2,
            LinkChange {
                admin_up: Some(true),
                ..LinkChange::default()
            },
        )
        .await
        .unwrap();
        let main = host.ipv4_routes(MAIN_TABLE).await.unwrap();
        assert!(main.contains(&Ipv4Route {
            ifindex: Some(2),
            ..route(ip(10, 1, 0, 0), 24, None)
        }));
        assert_eq!(main.len(), 2, "{main:?}");

        // Deleting the last address flushes routes through the link.
        host.add_ipv4_route(route(ip(10, 9, 0, 0), 24, Some(ip(10, 2, 0, 254))))
            .await
            .unwrap();
        host.del_ipv4_address(addr(3, ip(10, 2, 0, 1), 24))
            .await
            .unwrap();
        let main = host.ipv4_routes(MAIN_TABLE).await.unwrap();
        assert!(main.iter().all(|r| r.ifindex == Some(2)), "{main:?}");

        // Removing a link removes its addresses.
        host.remove_link(2);
        assert!(host.ipv4_addresses().await.unwrap().is_empty());
        assert!(host.ipv4_routes(MAIN_TABLE).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn watch_reports_every_mutation_and_no_failure() {
        let host = FakeHost::new();
        let mut rx = host.watch_changes();
        let dropped = host.watch_changes();
        drop(dropped);
        host.add_link("lan0", 2, true);
        let a = addr(2, ip(10, 1, 0, 1), 24);
        host.add_ipv4_address(a).await.unwrap();
        let r = route(ip(10, 9, 0, 0), 24, Some(ip(10, 1, 0, 254)));
        host.add_ipv4_route(r).await.unwrap();
        assert!(host.add_ipv4_route(r).await.is_err());
        host.del_ipv4_route(r).await.unwrap();
        host.del_ipv4_address(a).await.unwrap();
        assert!(host.del_ipv4_address(a).await.is_err());
        host.set_oper_state(2, OperState::Dormant);
        host.set_link(2, LinkChange::default()).await.unwrap();
        host.remove_link(2);

        let got = drain(&mut rx);
        let kinds: Vec<&str> = got
            .iter()
            .map(|m| m.split(':').next().unwrap_or_default())
            .collect();
        assert_eq!(
            kinds,
            vec![
                "link changed",
                "address added",
                "route added",
                "route removed",
                "address removed",
                "link changed",
                "link changed",
                "link removed",
            ],
            "{got:?}"
        );
        assert_eq!(got[1], "address added: 10.1.0.1/24 on ifindex 2");
        assert_eq!(host.state().watchers.len(), 1);

        // Dropping the host ends the stream.
        drop(host);
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test]
    async fn ipv6_addresses_replace_age_and_expire() {
        let host = FakeHost::new();
        host.add_link("lan0", 2, true);
        let mut rx = host.watch_changes();
        let ip6: Ipv6Addr = "2001:db8:1241::1".parse().unwrap();
        let a = Ipv6Address::new(2, ip6, 64).with_lifetimes(Some(100), Some(200));
        host.add_ipv6_address(a).await.unwrap();
        let listed = host.ipv6_addresses().await.unwrap();
        assert_eq!(listed, vec![a]);
        assert!(!listed[0].flags.permanent && !listed[0].flags.deprecated);

        // Replace: new lifetimes, same prefix length even when another one is given.
        host.add_ipv6_address(Ipv6Address {
            prefix_len: 56,
            ..a.with_lifetimes(Some(0), Some(50))
        })
        .await
        .unwrap();
        let listed = host.ipv6_addresses().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].prefix_len, 64);
        assert_eq!(listed[0].preferred_lifetime, Some(0));
        assert_eq!(listed[0].valid_lifetime, Some(50));
        assert!(listed[0].flags.deprecated);

        // Delete needs the prefix length that is there.
        let err = host
            .del_ipv6_address(Ipv6Address::new(2, ip6, 56))
            .await
            .unwrap_err();
        assert!(matches!(err, HostError::NotFound(_)), "{err}");

        // Lifetimes run down; at valid 0 the address goes.
        host.add_ipv6_address(a).await.unwrap();
        host.elapse_ipv6_lifetimes(150);
        let listed = host.ipv6_addresses().await.unwrap();
        assert_eq!(listed[0].preferred_lifetime, Some(0));
        assert_eq!(listed[0].valid_lifetime, Some(50));
        assert!(listed[0].flags.deprecated);
        host.elapse_ipv6_lifetimes(50);
        assert!(host.ipv6_addresses().await.unwrap().is_empty());

        // Permanent addresses never age; delete is exact.
        let forever = Ipv6Address::new(2, ip6, 64);
        host.add_ipv6_address(forever).await.unwrap();
        host.elapse_ipv6_lifetimes(1_000_000);
        let listed = host.ipv6_addresses().await.unwrap();
        assert!(listed[0].flags.permanent);
        assert_eq!(listed[0].valid_lifetime, None);
        host.del_ipv6_address(forever).await.unwrap();
        let err = host.del_ipv6_address(forever).await.unwrap_err();
        assert!(matches!(err, HostError::NotFound(_)), "{err}");

        // What the kernel refuses.
        for bad in [
            a.with_lifetimes(Some(0), Some(0)),
            a.with_lifetimes(Some(10), Some(5)),
            Ipv6Address {
                prefix_len: 129,
                ..a
            },
        ] {
            let err = host.add_ipv6_address(bad).await.unwrap_err();
            assert!(matches!(err, HostError::Netlink(_)), "{bad:?}: {err}");
        }
        let err = host
            .add_ipv6_address(Ipv6Address { ifindex: 9, ..a })
            .await
            .unwrap_err();
        assert!(matches!(err, HostError::NotFound(_)), "{err}");

        // IPv4 and IPv6 do not mix; removing the link removes its IPv6 addresses.
        host.add_ipv6_address(a).await.unwrap();
        assert!(host.ipv4_addresses().await.unwrap().is_empty());
        host.remove_link(2);
        assert!(host.ipv6_addresses().await.unwrap().is_empty());

        let got = drain(&mut rx);
        assert_eq!(got[0], "address added: 2001:db8:1241::1/64 on ifindex 2");
        assert!(
            got.contains(&"address removed: 2001:db8:1241::1/64 on ifindex 2".to_string()),
            "{got:?}"
        );
    }

    #[tokio::test]
    async fn usable_as_trait_object() {
        let host: Arc<dyn NetHost> = Arc::new(FakeHost::new());
        let task = {
            let host = Arc::clone(&host);
            tokio::spawn(async move { host.links().await })
        };
        assert!(task.await.unwrap().unwrap().is_empty());
    }

    #[tokio::test]
    async fn unpolled_futures_change_nothing() {
        let host = FakeHost::new();
        host.add_link("lan0", 2, true);
        drop(host.add_ipv4_address(addr(2, ip(10, 1, 0, 1), 24)));
        assert!(host.ipv4_addresses().await.unwrap().is_empty());
    }
}
