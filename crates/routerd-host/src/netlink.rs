//! [`NetHost`] over rtnetlink.
//!
//! Every request goes through one rtnetlink connection; change notifications
//! come from a second socket subscribed to the link, IPv4 and IPv6 address
//! and IPv4 route multicast groups. Both sockets are opened in [`NetlinkHost::new`],
//! so they live in the network namespace of the thread that built the host,
//! whichever thread later polls them.

use std::fmt::Display;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures::{Stream, StreamExt, TryStreamExt};
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags, AddressMessage, CacheInfo};
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage, State};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use rtnetlink::packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::{
    AddressMessageBuilder, Handle, IpVersion, LinkUnspec, MulticastGroup, RouteMessageBuilder,
};
use tokio::sync::mpsc;

use crate::error::HostError;
use crate::net_host::{HostFuture, NetHost};
use crate::types::{
    format_mac, lifetime_from_kernel, lifetime_to_kernel, DadFailures, Ipv4Address, Ipv4Route,
    Ipv4Rule, Ipv6Address, Ipv6AddressFlags, Ipv6Route, Link, LinkChange, OperState,
};

/// Per-subscriber buffer. Notifications are only hints to resync, so a
/// small buffer that drops on overflow is enough and bounds memory.
const WATCH_BUFFER: usize = 256;

/// The production [`NetHost`]: talks to the kernel of the network namespace
/// the host was created in (routerd runs under `ip netns exec`).
#[derive(Debug)]
pub struct NetlinkHost {
    handle: Handle,
    /// The kernel serves one dump at a time per netlink socket (a second one gets EBUSY), so requests
    /// from concurrent controllers are serialised here.
    serial: std::sync::Arc<tokio::sync::Mutex<()>>,
    subscribe: mpsc::UnboundedSender<mpsc::Sender<String>>,
    /// Filled by the change monitor from deletions flagged `dadfailed`.
    dad_failures: std::sync::Arc<std::sync::Mutex<DadFailures>>,
}

impl NetlinkHost {
    /// Must be called inside a tokio runtime because the netlink connection
    /// and the change monitor run as tasks on it; without one this returns
    /// an error instead of panicking.
    pub fn new() -> Result<NetlinkHost, HostError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| {
            HostError::Netlink(format!("NetlinkHost::new needs a tokio runtime: {e}"))
        })?;

        let (connection, handle, _unsolicited) = rtnetlink::new_connection()
            .map_err(|e| HostError::from_io(&e, "open rtnetlink socket"))?;

        let (monitor_connection, _monitor_handle, events) = rtnetlink::new_multicast_connection(&[
            MulticastGroup::Link,
            MulticastGroup::Ipv4Ifaddr,
            MulticastGroup::Ipv6Ifaddr,
            MulticastGroup::Ipv4Route,
        ])
        .map_err(|e| HostError::from_io(&e, "open rtnetlink monitor socket"))?;

        let (subscribe, subscriptions) = mpsc::unbounded_channel();
        runtime.spawn(connection);
        runtime.spawn(monitor_connection);
        let dad_failures = std::sync::Arc::default();
        runtime.spawn(run_monitor(
            events,
            subscriptions,
            std::sync::Arc::clone(&dad_failures),
        ));

        Ok(NetlinkHost {
            handle,
            serial: Default::default(),
            subscribe,
            dad_failures,
        })
    }
}

impl NetlinkHost {
    /// Every request runs through here: the kernel serves one dump at a time
    /// per netlink socket, so `request` only starts once the requests of
    /// other controllers on this host are done.
    fn serialized<'a, T, F, Fut>(&'a self, request: F) -> HostFuture<'a, T>
    where
        F: FnOnce(Handle) -> Fut + Send + 'a,
        Fut: Future<Output = Result<T, HostError>> + Send + 'a,
    {
        let handle = self.handle.clone();
        let serial = self.serial.clone();
        Box::pin(async move {
            let _serial = serial.lock().await;
            request(handle).await
        })
    }
}

impl NetHost for NetlinkHost {
    fn links(&self) -> HostFuture<'_, Vec<Link>> {
        self.serialized(|handle| async move {
            handle
                .link()
                .get()
                .execute()
                .map_ok(link_from_message)
                .try_collect::<Vec<_>>()
                .await
                .map_err(|e| HostError::from_rtnetlink(e, "list links"))
        })
    }

    fn set_link(&self, ifindex: u32, change: LinkChange) -> HostFuture<'_, ()> {
        self.serialized(move |handle| async move {
            let mut builder = LinkUnspec::new_with_index(ifindex);
            if let Some(mtu) = change.mtu {
                builder = builder.mtu(mtu);
            }
            if let Some(mac) = change.mac {
                builder = builder.address(mac.to_vec());
            }
            match change.admin_up {
                Some(true) => builder = builder.up(),
                Some(false) => builder = builder.down(),
                None => {}
            }
            handle
                .link()
                .set(builder.build())
                .execute()
                .await
                .map_err(|e| HostError::from_rtnetlink(e, format!("set link {ifindex}")))
        })
    }

    fn ipv4_addresses(&self) -> HostFuture<'_, Vec<Ipv4Address>> {
        self.serialized(|handle| async move {
            dump_addresses(
                &handle,
                AddressFamily::Inet,
                "list addresses",
                ipv4_address_from_message,
            )
            .await
        })
    }

    fn add_ipv4_address(&self, addr: Ipv4Address) -> HostFuture<'_, ()> {
        self.serialized(move |handle| async move {
            let context = format!("add address {addr}");
            check_prefix_len(addr.prefix_len, IPV4_BITS, &context)?;
            handle
                .address()
                .add(addr.ifindex, IpAddr::V4(addr.address), addr.prefix_len)
                .execute()
                .await
                .map_err(|e| HostError::from_rtnetlink(e, context))
        })
    }

    fn del_ipv4_address(&self, addr: Ipv4Address) -> HostFuture<'_, ()> {
        self.serialized(move |handle| async move {
            let context = format!("delete address {addr}");
            check_prefix_len(addr.prefix_len, IPV4_BITS, &context)?;
            delete_address(
                &handle,
                addr.ifindex,
                IpAddr::V4(addr.address),
                addr.prefix_len,
                context,
            )
            .await
        })
    }

    fn ipv6_addresses(&self) -> HostFuture<'_, Vec<Ipv6Address>> {
        self.serialized(|handle| async move {
            dump_addresses(
                &handle,
                AddressFamily::Inet6,
                "list IPv6 addresses",
                ipv6_address_from_message,
            )
            .await
        })
    }

    fn add_ipv6_address(&self, addr: Ipv6Address) -> HostFuture<'_, ()> {
        self.serialized(move |handle| async move {
            let context = format!("add address {addr}");
            addr.check_lifetimes()
                .map_err(|why| HostError::from_errno(libc::EINVAL, format!("{context}: {why}")))?;
            let mut request = handle
                .address()
                .add(addr.ifindex, IpAddr::V6(addr.address), addr.prefix_len)
                .replace();
            request
                .message_mut()
                .attributes
                .push(AddressAttribute::CacheInfo(cache_info(&addr)));
            request
                .execute()
                .await
                .map_err(|e| HostError::from_rtnetlink(e, context))
        })
    }

    fn del_ipv6_address(&self, addr: Ipv6Address) -> HostFuture<'_, ()> {
        self.serialized(move |handle| async move {
            let context = format!("delete address {addr}");
            check_prefix_len(addr.prefix_len, IPV6_BITS, &context)?;
            delete_address(
                &handle,
                addr.ifindex,
                IpAddr::V6(addr.address),
                addr.prefix_len,
                context,
            )
            .await
        })
    }

    fn ipv4_routes(&self, table: u32) -> HostFuture<'_, Vec<Ipv4Route>> {
        self.serialized(move |handle| async move { dump_ipv4_routes(&handle, table).await })
    }

    fn add_ipv4_route(&self, route: Ipv4Route) -> HostFuture<'_, ()> {
        self.serialized(move |handle| async move {
            let context = format!("add route {route}");
            check_prefix_len(route.prefix_len, IPV4_BITS, &context)?;
            handle
                .route()
                .add(route_message(&route, RouteOp::Add))
                .execute()
                .await
                .map_err(|e| HostError::from_rtnetlink(e, context))
        })
    }

    fn del_ipv4_route(&self, route: Ipv4Route) -> HostFuture<'_, ()> {
        self.serialized(move |handle| async move {
            let context = format!("delete route {route}");
            check_prefix_len(route.prefix_len, IPV4_BITS, &context)?;
            // The kernel treats an absent metric or gateway in a delete
            // request as a wildcard, so `ip route del` semantics could remove
            // a different route. Resolve the exact route first and delete
            // with all of its keys spelled out.
            let existing = dump_ipv4_routes(&handle, route.table).await?;
            let Some(target) = existing.into_iter().find(|r| route.matches(r)) else {
                return Err(HostError::from_errno(
                    libc::ESRCH,
                    format!("{context}: no such route"),
                ));
            };
            handle
                .route()
                .del(route_message(&target, RouteOp::Delete))
                .execute()
                .await
                .map_err(|e| HostError::from_rtnetlink(e, context))
        })
    }

    fn ipv6_routes(&self, table: u32) -> HostFuture<'_, Vec<Ipv6Route>> {
        self.serialized(move |handle| async move { dump_ipv6_routes(&handle, table).await })
    }

    fn add_ipv6_route(&self, route: Ipv6Route) -> HostFuture<'_, ()> {
        self.serialized(move |handle| async move {
            let context = format!("add route {route}");
            check_prefix_len(route.prefix_len, IPV6_BITS, &context)?;
            handle
                .route()
                .add(ipv6_route_message(&route, RouteOp::Add))
                .execute()
                .await
                .map_err(|e| HostError::from_rtnetlink(e, context))
        })
    }

    fn del_ipv6_route(&self, route: Ipv6Route) -> HostFuture<'_, ()> {
        self.serialized(move |handle| async move {
            let context = format!("delete route {route}");
            check_prefix_len(route.prefix_len, IPV6_BITS, &context)?;
            // As for IPv4: resolve the exact route first so no wildcard removes another one.
            let existing = dump_ipv6_routes(&handle, route.table).await?;
            let Some(target) = existing.into_iter().find(|r| route.matches(r)) else {
                return Err(HostError::from_errno(
                    libc::ESRCH,
                    format!("{context}: no such route"),
                ));
            };
            handle
                .route()
                .del(ipv6_route_message(&target, RouteOp::Delete))
                .execute()
                .await
                .map_err(|e| HostError::from_rtnetlink(e, context))
        })
    }

    fn ipv4_rules(&self) -> HostFuture<'_, Vec<Ipv4Rule>> {
        self.serialized(|handle| async move { dump_ipv4_rules(&handle).await })
    }

    fn add_ipv4_rule(&self, rule: Ipv4Rule) -> HostFuture<'_, ()> {
        self.serialized(move |handle| async move {
            let context = format!("add rule {rule}");
            check_prefix_len(rule.source.map_or(0, |s| s.1), IPV4_BITS, &context)?;
            let mut request = handle.rule().add().v4();
            *request.message_mut() = rule_message(&rule);
            request
                .execute()
                .await
                .map_err(|e| HostError::from_rtnetlink(e, context))
        })
    }

    fn del_ipv4_rule(&self, rule: Ipv4Rule) -> HostFuture<'_, ()> {
        self.serialized(move |handle| async move {
            let context = format!("delete rule {rule}");
            check_prefix_len(rule.source.map_or(0, |s| s.1), IPV4_BITS, &context)?;
            // The kernel treats absent selectors in a delete as wildcards, so a rule that only shares
            // the priority could go; look for the exact rule first.
            if !dump_ipv4_rules(&handle).await?.contains(&rule) {
                return Err(HostError::from_errno(
                    libc::ENOENT,
                    format!("{context}: no such rule"),
                ));
            }
            handle
                .rule()
                .del(rule_message(&rule))
                .execute()
                .await
                .map_err(|e| HostError::from_rtnetlink(e, context))
        })
    }

    fn watch_changes(&self) -> mpsc::Receiver<String> {
        let (tx, rx) = mpsc::channel(WATCH_BUFFER);
        // If the monitor task is gone the sender is dropped here and the
        // receiver reports end-of-stream, as documented.
        if self.subscribe.send(tx).is_err() {
            tracing::warn!("netlink change monitor is not running");
        }
        rx
    }

    fn ipv6_dad_failures(&self) -> Vec<crate::Ipv6DadFailure> {
        self.dad_failures
            .lock()
            .map(|f| f.list())
            .unwrap_or_default()
    }
}

const IPV4_BITS: u8 = 32;
const IPV6_BITS: u8 = 128;

/// Refused here with EINVAL, like the kernel would, so the error names the
/// request instead of being a bare netlink error.
fn check_prefix_len(prefix_len: u8, bits: u8, context: &str) -> Result<(), HostError> {
    if prefix_len > bits {
        return Err(HostError::from_errno(
            libc::EINVAL,
            format!("{context}: prefix length {prefix_len} exceeds {bits}"),
        ));
    }
    Ok(())
}

/// One family's addresses: the dump is asked for `family` only, and `parse`
/// drops whatever else a kernel still sends.
async fn dump_addresses<T>(
    handle: &Handle,
    family: AddressFamily,
    context: &str,
    parse: fn(&AddressMessage) -> Option<T>,
) -> Result<Vec<T>, HostError> {
    let mut request = handle.address().get();
    request.message_mut().header.family = family;
    let messages: Vec<AddressMessage> = request
        .execute()
        .try_collect()
        .await
        .map_err(|e| HostError::from_rtnetlink(e, context))?;
    Ok(messages.iter().filter_map(parse).collect())
}

/// Deletes exactly `address/prefix_len` on `ifindex`: IFA_LOCAL plus
/// IFA_ADDRESS with the prefix length make the kernel match address *and*
/// prefix, not just the address.
async fn delete_address(
    handle: &Handle,
    ifindex: u32,
    address: IpAddr,
    prefix_len: u8,
    context: String,
) -> Result<(), HostError> {
    let message = match address {
        IpAddr::V4(ip) => AddressMessageBuilder::<Ipv4Addr>::new()
            .index(ifindex)
            .address(ip, prefix_len)
            .build(),
        IpAddr::V6(ip) => AddressMessageBuilder::<Ipv6Addr>::new()
            .index(ifindex)
            .address(ip, prefix_len)
            .build(),
    };
    handle
        .address()
        .del(message)
        .execute()
        .await
        .map_err(|e| HostError::from_rtnetlink(e, context))
}

async fn dump_ipv4_routes(handle: &Handle, table: u32) -> Result<Vec<Ipv4Route>, HostError> {
    // Without NETLINK_GET_STRICT_CHK the kernel ignores the table in a dump
    // request, so filter here. The header is left neutral (no protocol,
    // type or table) so that the dump stays complete even under strict
    // checking.
    let mut request = RouteMessage::default();
    request.header.address_family = AddressFamily::Inet;
    let messages: Vec<RouteMessage> = handle
        .route()
        .get(request)
        .execute()
        .try_collect()
        .await
        .map_err(|e| HostError::from_rtnetlink(e, format!("list routes of table {table}")))?;
    Ok(messages
        .iter()
        .filter_map(ipv4_route_from_message)
        .filter(|r| r.table == table)
        .collect())
}

async fn dump_ipv6_routes(handle: &Handle, table: u32) -> Result<Vec<Ipv6Route>, HostError> {
    let mut request = RouteMessage::default();
    request.header.address_family = AddressFamily::Inet6;
    let messages: Vec<RouteMessage> = handle
        .route()
        .get(request)
        .execute()
        .try_collect()
        .await
        .map_err(|e| HostError::from_rtnetlink(e, format!("list IPv6 routes of table {table}")))?;
    Ok(messages
        .iter()
        .filter_map(ipv6_route_from_message)
        .filter(|r| r.table == table)
        .collect())
}

fn link_from_message(message: LinkMessage) -> Link {
    let mut link = Link {
        index: message.header.index,
        name: String::new(),
        admin_up: message.header.flags.contains(LinkFlags::Up),
        oper_state: OperState::Unknown,
        mtu: None,
        mac: None,
    };
    for attribute in message.attributes {
        match attribute {
            LinkAttribute::IfName(name) => link.name = name,
            LinkAttribute::Mtu(mtu) => link.mtu = Some(mtu),
            LinkAttribute::Address(bytes) => link.mac = format_mac(&bytes),
            LinkAttribute::OperState(state) => link.oper_state = oper_state(state),
            _ => {}
        }
    }
    link
}

fn oper_state(state: State) -> OperState {
    match state {
        State::Up => OperState::Up,
        State::Down => OperState::Down,
        State::LowerLayerDown => OperState::LowerLayerDown,
        State::Dormant => OperState::Dormant,
        State::NotPresent => OperState::NotPresent,
        State::Testing => OperState::Testing,
        _ => OperState::Unknown,
    }
}

fn ipv4_address_from_message(message: &AddressMessage) -> Option<Ipv4Address> {
    if message.header.family != AddressFamily::Inet {
        return None;
    }
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on
    // point-to-point links, so only fall back to it.
    let mut local = None;
    let mut address = None;
    for attribute in &message.attributes {
        match attribute {
            AddressAttribute::Local(IpAddr::V4(ip)) => local = Some(*ip),
            AddressAttribute::Address(IpAddr::V4(ip)) => address = Some(*ip),
            _ => {}
        }
    }
    Some(Ipv4Address {
        ifindex: message.header.index,
        address: local.or(address)?,
        prefix_len: message.header.prefix_len,
    })
}

/// IFA_CACHEINFO for an add: only the two lifetimes are read by the kernel (the stamps are output).
fn cache_info(addr: &Ipv6Address) -> CacheInfo {
    let mut info = CacheInfo::default();
    info.ifa_preferred = lifetime_to_kernel(addr.preferred_lifetime);
    info.ifa_valid = lifetime_to_kernel(addr.valid_lifetime);
    info
}

fn ipv6_address_from_message(message: &AddressMessage) -> Option<Ipv6Address> {
    if message.header.family != AddressFamily::Inet6 {
        return None;
    }
    // For IPv6 IFA_ADDRESS is the address itself; IFA_LOCAL only appears on point-to-point
    // assignments with a peer, where it is the local side.
    let mut local = None;
    let mut address = None;
    let mut cache = None;
    // IFA_FLAGS carries all 32 flag bits; the header only the low 8 (older kernels send no IFA_FLAGS).
    let mut flags = AddressFlags::from_bits_retain(u32::from(message.header.flags.bits()));
    for attribute in &message.attributes {
        match attribute {
            AddressAttribute::Local(IpAddr::V6(ip)) => local = Some(*ip),
            AddressAttribute::Address(IpAddr::V6(ip)) => address = Some(*ip),
            AddressAttribute::CacheInfo(info) => cache = Some(*info),
            AddressAttribute::Flags(f) => flags = *f,
            _ => {}
        }
    }
    let (preferred, valid) = match cache {
        Some(info) => (info.ifa_preferred, info.ifa_valid),
        None => (u32::MAX, u32::MAX),
    };
    Some(Ipv6Address {
        ifindex: message.header.index,
        address: local.or(address)?,
        prefix_len: message.header.prefix_len,
        preferred_lifetime: lifetime_from_kernel(preferred),
        valid_lifetime: lifetime_from_kernel(valid),
        flags: Ipv6AddressFlags {
            tentative: flags.contains(AddressFlags::Tentative),
            deprecated: flags.contains(AddressFlags::Deprecated),
            dad_failed: flags.contains(AddressFlags::Dadfailed),
            permanent: flags.contains(AddressFlags::Permanent),
        },
    })
}

/// "2001:db8::1/64 on ifindex 3" or "10.0.0.1/24 on ifindex 3", for change notifications.
fn address_summary(message: &AddressMessage) -> Option<String> {
    ipv4_address_from_message(message)
        .map(|a| a.to_string())
        .or_else(|| ipv6_address_from_message(message).map(|a| a.to_string()))
}

fn ipv4_route_from_message(message: &RouteMessage) -> Option<Ipv4Route> {
    let header = &message.header;
    if header.address_family != AddressFamily::Inet || header.kind != RouteType::Unicast {
        return None;
    }
    let mut route = Ipv4Route {
        destination: Ipv4Addr::UNSPECIFIED,
        prefix_len: header.destination_prefix_length,
        gateway: None,
        ifindex: None,
        metric: None,
        table: u32::from(header.table),
    };
    for attribute in &message.attributes {
        match attribute {
            RouteAttribute::Destination(RouteAddress::Inet(ip)) => route.destination = *ip,
            RouteAttribute::Gateway(RouteAddress::Inet(ip)) => route.gateway = Some(*ip),
            RouteAttribute::Oif(ifindex) => route.ifindex = Some(*ifindex),
            RouteAttribute::Priority(metric) if *metric != 0 => route.metric = Some(*metric),
            RouteAttribute::Table(table) => route.table = *table,
            _ => {}
        }
    }
    Some(route)
}

async fn dump_ipv4_rules(handle: &Handle) -> Result<Vec<Ipv4Rule>, HostError> {
    let messages: Vec<RuleMessage> = handle
        .rule()
        .get(IpVersion::V4)
        .execute()
        .try_collect()
        .await
        .map_err(|e| HostError::from_rtnetlink(e, "list IPv4 rules"))?;
    Ok(messages.iter().filter_map(ipv4_rule_from_message).collect())
}

/// A "lookup" rule as [`Ipv4Rule`]; other actions (blackhole, goto...) and other families are `None`.
fn ipv4_rule_from_message(message: &RuleMessage) -> Option<Ipv4Rule> {
    let header = &message.header;
    if header.family != AddressFamily::Inet || header.action != RuleAction::ToTable {
        return None;
    }
    let mut rule = Ipv4Rule {
        priority: 0,
        source: None,
        fwmark: None,
        table: u32::from(header.table),
    };
    for attribute in &message.attributes {
        match attribute {
            RuleAttribute::Priority(p) => rule.priority = *p,
            RuleAttribute::Table(t) => rule.table = *t,
            RuleAttribute::FwMark(m) => rule.fwmark = Some(*m),
            RuleAttribute::Source(IpAddr::V4(a)) => rule.source = Some((*a, header.src_len)),
            _ => {}
        }
    }
    Some(rule)
}

fn rule_message(rule: &Ipv4Rule) -> RuleMessage {
    let mut message = RuleMessage::default();
    message.header.family = AddressFamily::Inet;
    message.header.action = RuleAction::ToTable;
    match u8::try_from(rule.table) {
        Ok(table) => message.header.table = table,
        Err(_) => {
            message.header.table = RouteHeader::RT_TABLE_UNSPEC;
            message.attributes.push(RuleAttribute::Table(rule.table));
        }
    }
    message
        .attributes
        .push(RuleAttribute::Priority(rule.priority));
    if let Some((address, len)) = rule.source {
        message.header.src_len = len;
        message
            .attributes
            .push(RuleAttribute::Source(IpAddr::V4(address)));
    }
    if let Some(mark) = rule.fwmark {
        message.attributes.push(RuleAttribute::FwMark(mark));
    }
    message
}

fn ipv6_route_from_message(message: &RouteMessage) -> Option<Ipv6Route> {
    let header = &message.header;
    if header.address_family != AddressFamily::Inet6 || header.kind != RouteType::Unicast {
        return None;
    }
    let mut route = Ipv6Route {
        destination: Ipv6Addr::UNSPECIFIED,
        prefix_len: header.destination_prefix_length,
        gateway: None,
        ifindex: None,
        metric: None,
        table: u32::from(header.table),
    };
    for attribute in &message.attributes {
        match attribute {
            RouteAttribute::Destination(RouteAddress::Inet6(ip)) => route.destination = *ip,
            RouteAttribute::Gateway(RouteAddress::Inet6(ip)) => route.gateway = Some(*ip),
            RouteAttribute::Oif(ifindex) => route.ifindex = Some(*ifindex),
            RouteAttribute::Priority(metric) => route.metric = Some(*metric),
            RouteAttribute::Table(table) => route.table = *table,
            _ => {}
        }
    }
    Some(route)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RouteOp {
    Add,
    Delete,
}

fn route_message(route: &Ipv4Route, op: RouteOp) -> RouteMessage {
    let mut builder = RouteMessageBuilder::<Ipv4Addr>::new();
    // iproute2 leaves RTA_DST out of default routes; a non-zero address
    // with /0 is still sent so that the kernel rejects it.
    if route.prefix_len > 0 || !route.destination.is_unspecified() {
        builder = builder.destination_prefix(route.destination, route.prefix_len);
    }
    if let Some(gateway) = route.gateway {
        builder = builder.gateway(gateway);
    }
    if let Some(ifindex) = route.ifindex {
        builder = builder.output_interface(ifindex);
    }
    if route.effective_metric() != 0 {
        builder = builder.priority(route.effective_metric());
    }
    builder = builder.kind(RouteType::Unicast);
    builder = match op {
        RouteOp::Add => builder
            .protocol(RouteProtocol::Static)
            .scope(if route.gateway.is_some() {
                RouteScope::Universe
            } else {
                RouteScope::Link
            }),
        // Wildcards for delete, like `ip route del`: the route may have been
        // added by someone else with another protocol.
        RouteOp::Delete => builder
            .protocol(RouteProtocol::Unspec)
            .scope(RouteScope::NoWhere),
    };
    let mut message = builder.build();
    match u8::try_from(route.table) {
        Ok(table) => message.header.table = table,
        Err(_) => {
            message.header.table = RouteHeader::RT_TABLE_UNSPEC;
            message.attributes.push(RouteAttribute::Table(route.table));
        }
    }
    message
}

fn ipv6_route_message(route: &Ipv6Route, op: RouteOp) -> RouteMessage {
    let mut builder = RouteMessageBuilder::<Ipv6Addr>::new();
    if route.prefix_len > 0 || !route.destination.is_unspecified() {
        builder = builder.destination_prefix(route.destination, route.prefix_len);
    }
    if let Some(gateway) = route.gateway {
        builder = builder.gateway(gateway);
    }
    if let Some(ifindex) = route.ifindex {
        builder = builder.output_interface(ifindex);
    }
    builder = builder.priority(route.effective_metric());
    builder = builder.kind(RouteType::Unicast);
    builder = match op {
        RouteOp::Add => builder
            .protocol(RouteProtocol::Static)
            .scope(RouteScope::Universe),
        RouteOp::Delete => builder
            .protocol(RouteProtocol::Unspec)
            .scope(RouteScope::NoWhere),
    };
    let mut message = builder.build();
    match u8::try_from(route.table) {
        Ok(table) => message.header.table = table,
        Err(_) => {
            message.header.table = RouteHeader::RT_TABLE_UNSPEC;
            message.attributes.push(RouteAttribute::Table(route.table));
        }
    }
    message
}

type MonitorEvent = (
    NetlinkMessage<RouteNetlinkMessage>,
    rtnetlink::sys::SocketAddr,
);

/// Fans kernel notifications out to every `watch_changes` receiver. Ends
/// when the monitor socket closes (receivers then see end-of-stream) or when
/// the host is dropped and no receiver is left.
async fn run_monitor(
    mut events: impl Stream<Item = MonitorEvent> + Unpin,
    mut subscriptions: mpsc::UnboundedReceiver<mpsc::Sender<String>>,
    dad_failures: std::sync::Arc<std::sync::Mutex<DadFailures>>,
) {
    let mut subscribers: Vec<mpsc::Sender<String>> = Vec::new();
    let mut host_alive = true;
    loop {
        tokio::select! {
            // Subscriptions first: an event that follows a watch_changes()
            // call must reach the new receiver.
            biased;
            subscription = subscriptions.recv(), if host_alive => match subscription {
                Some(tx) => subscribers.push(tx),
                None => host_alive = false,
            },
            event = events.next() => {
                let Some((message, _)) = event else {
                    tracing::warn!("netlink change monitor socket closed");
                    return;
                };
                if let Some(failed) = dad_failure(&message) {
                    if let Ok(mut record) = dad_failures.lock() {
                        record.record(failed.ifindex, failed.address, std::time::Instant::now());
                    }
                }
                if let Some(description) = describe(&message) {
                    subscribers.retain(|tx| match tx.try_send(description.clone()) {
                        Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => true,
                        Err(mpsc::error::TrySendError::Closed(_)) => false,
                    });
                }
            }
        }
        subscribers.retain(|tx| !tx.is_closed());
        if !host_alive && subscribers.is_empty() {
            return;
        }
    }
}

/// The address of an RTM_DELADDR the kernel sent because duplicate address detection failed.
fn dad_failure(message: &NetlinkMessage<RouteNetlinkMessage>) -> Option<Ipv6Address> {
    match &message.payload {
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelAddress(addr)) => {
            ipv6_address_from_message(addr).filter(|a| a.flags.dad_failed)
        }
        _ => None,
    }
}

fn describe(message: &NetlinkMessage<RouteNetlinkMessage>) -> Option<String> {
    match &message.payload {
        NetlinkPayload::InnerMessage(inner) => describe_inner(inner),
        NetlinkPayload::Overrun(_) => Some("monitor overrun: notifications were lost".to_string()),
        _ => None,
    }
}

fn describe_inner(message: &RouteNetlinkMessage) -> Option<String> {
    match message {
        // Per-family updates (IPv6 protinfo, bridge) also arrive as link
        // messages; only AF_UNSPEC ones describe the link itself.
        RouteNetlinkMessage::NewLink(link)
            if link.header.interface_family == AddressFamily::Unspec =>
        {
            Some(with_details("link changed", link_summary(link)))
        }
        RouteNetlinkMessage::DelLink(link) => {
            Some(with_details("link removed", link_summary(link)))
        }
        RouteNetlinkMessage::NewAddress(addr) => {
            address_summary(addr).map(|a| with_details("address added", a))
        }
        RouteNetlinkMessage::DelAddress(addr) => {
            address_summary(addr).map(|a| with_details("address removed", a))
        }
        RouteNetlinkMessage::NewRoute(route) => {
            Some(with_details("route added", route_summary(route)))
        }
        RouteNetlinkMessage::DelRoute(route) => {
            Some(with_details("route removed", route_summary(route)))
        }
        _ => None,
    }
}

fn with_details(what: &str, details: impl Display) -> String {
    format!("{what}: {details}")
}

fn link_summary(message: &LinkMessage) -> String {
    let name = message.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(name) => Some(name.as_str()),
        _ => None,
    });
    match name {
        Some(name) => format!("{name} (ifindex {})", message.header.index),
        None => format!("ifindex {}", message.header.index),
    }
}

fn route_summary(message: &RouteMessage) -> String {
    match ipv4_route_from_message(message) {
        Some(route) => route.to_string(),
        None => format!(
            "{:?} route /{} table {}",
            message.header.kind, message.header.destination_prefix_length, message.header.table
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(table: u32, metric: Option<u32>) -> Ipv4Route {
        Ipv4Route {
            destination: Ipv4Addr::new(10, 9, 0, 0),
            prefix_len: 24,
            gateway: Some(Ipv4Addr::new(10, 1, 0, 254)),
            ifindex: Some(3),
            metric,
            table,
        }
    }

    #[test]
    fn new_outside_runtime_is_an_error_not_a_panic() {
        let err = NetlinkHost::new().err();
        assert!(matches!(err, Some(HostError::Netlink(_))), "{err:?}");
    }

    #[test]
    fn add_message_encodes_protocol_scope_metric_and_table() {
        let msg = route_message(&route(100, Some(50)), RouteOp::Add);
        assert_eq!(msg.header.table, 100);
        assert_eq!(msg.header.protocol, RouteProtocol::Static);
        assert_eq!(msg.header.scope, RouteScope::Universe);
        assert!(msg.attributes.contains(&RouteAttribute::Priority(50)));
        assert!(msg.attributes.contains(&RouteAttribute::Oif(3)));
        assert!(!msg
            .attributes
            .iter()
            .any(|a| matches!(a, RouteAttribute::Table(_))));

        let mut device_route = route(1000, None);
        device_route.gateway = None;
        let msg = route_message(&device_route, RouteOp::Add);
        assert_eq!(msg.header.table, RouteHeader::RT_TABLE_UNSPEC);
        assert_eq!(msg.header.scope, RouteScope::Link);
        assert!(msg.attributes.contains(&RouteAttribute::Table(1000)));
        assert!(!msg
            .attributes
            .iter()
            .any(|a| matches!(a, RouteAttribute::Priority(_))));

        let msg = route_message(&route(254, None), RouteOp::Delete);
        assert_eq!(msg.header.protocol, RouteProtocol::Unspec);
        assert_eq!(msg.header.scope, RouteScope::NoWhere);
    }

    #[test]
    fn messages_round_trip_through_parser() {
        for r in [route(254, Some(7)), route(300, None)] {
            let parsed = ipv4_route_from_message(&route_message(&r, RouteOp::Add));
            assert_eq!(parsed, Some(r));
        }
    }

    #[test]
    fn matching_rules() {
        let listed = route(254, None);
        assert!(listed.matches(&listed));
        let mut any_if = listed;
        any_if.ifindex = None;
        assert!(any_if.matches(&listed));
        let mut metric0 = listed;
        metric0.metric = Some(0);
        assert!(metric0.matches(&listed));
        let mut other_metric = listed;
        other_metric.metric = Some(5);
        assert!(!other_metric.matches(&listed));
        let mut no_gw = listed;
        no_gw.gateway = None;
        assert!(!no_gw.matches(&listed));
        let mut other_table = listed;
        other_table.table = 100;
        assert!(!other_table.matches(&listed));
    }

    #[test]
    fn address_message_prefers_local() {
        let mut msg = AddressMessageBuilder::<Ipv4Addr>::new()
            .index(4)
            .address(Ipv4Addr::new(10, 0, 0, 1), 24)
            .build();
        assert_eq!(
            ipv4_address_from_message(&msg),
            Some(Ipv4Address {
                ifindex: 4,
                address: Ipv4Addr::new(10, 0, 0, 1),
                prefix_len: 24
            })
        );
        msg.attributes
            .retain(|a| !matches!(a, AddressAttribute::Local(_)));
        msg.attributes.insert(
            0,
            AddressAttribute::Local(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))),
        );
        assert_eq!(
            ipv4_address_from_message(&msg).map(|a| a.address),
            Some(Ipv4Addr::new(10, 0, 0, 2))
        );
    }

    #[test]
    fn ipv6_address_messages() {
        let ip: Ipv6Addr = "2001:db8:1::1".parse().unwrap();
        let addr = Ipv6Address::new(5, ip, 64).with_lifetimes(Some(0), Some(90));
        let mut msg = AddressMessageBuilder::<Ipv6Addr>::new()
            .index(5)
            .address(ip, 64)
            .build();
        msg.attributes
            .push(AddressAttribute::CacheInfo(cache_info(&addr)));
        msg.header.flags = rtnetlink::packet_route::address::AddressHeaderFlags::Tentative;
        let parsed = ipv6_address_from_message(&msg).unwrap();
        assert_eq!(parsed.address, ip);
        assert_eq!(parsed.prefix_len, 64);
        assert_eq!(parsed.preferred_lifetime, Some(0));
        assert_eq!(parsed.valid_lifetime, Some(90));
        assert!(parsed.flags.tentative);
        assert!(!parsed.flags.deprecated);
        // IFA_FLAGS wins over the header's 8 bits.
        msg.attributes.push(AddressAttribute::Flags(
            AddressFlags::Deprecated | AddressFlags::Permanent,
        ));
        let parsed = ipv6_address_from_message(&msg).unwrap();
        assert!(!parsed.flags.tentative);
        assert!(parsed.flags.deprecated && parsed.flags.permanent);
        // Infinite lifetimes, and none reported at all, are "forever".
        let forever = cache_info(&Ipv6Address::new(5, ip, 64));
        assert_eq!(
            (forever.ifa_preferred, forever.ifa_valid),
            (u32::MAX, u32::MAX)
        );
        msg.attributes
            .retain(|a| !matches!(a, AddressAttribute::CacheInfo(_)));
        let parsed = ipv6_address_from_message(&msg).unwrap();
        assert_eq!(
            (parsed.preferred_lifetime, parsed.valid_lifetime),
            (None, None)
        );
        // Families do not mix.
        assert!(ipv4_address_from_message(&msg).is_none());
        let v4 = AddressMessageBuilder::<Ipv4Addr>::new()
            .index(4)
            .address(Ipv4Addr::new(10, 0, 0, 1), 24)
            .build();
        assert!(ipv6_address_from_message(&v4).is_none());
        let text = describe_inner(&RouteNetlinkMessage::NewAddress(msg));
        assert_eq!(
            text.as_deref(),
            Some("address added: 2001:db8:1::1/64 on ifindex 5")
        );
    }

    #[test]
    fn descriptions() {
        let msg = AddressMessageBuilder::<Ipv4Addr>::new()
            .index(4)
            .address(Ipv4Addr::new(10, 0, 0, 1), 24)
            .build();
        let text = describe_inner(&RouteNetlinkMessage::DelAddress(msg));
        assert_eq!(
            text.as_deref(),
            Some("address removed: 10.0.0.1/24 on ifindex 4")
        );
        let link = LinkUnspec::new_with_name("v0").index(7).build();
        let text = describe_inner(&RouteNetlinkMessage::NewLink(link));
        assert_eq!(text.as_deref(), Some("link changed: v0 (ifindex 7)"));
    }
}
