//! The interface: index, hardware address, carrier and IPv4 addresses (`getifaddrs`), and an rtnetlink
//! socket subscribed to link and IPv4 address changes, so carrier loss and routerd installing the
//! leased address are seen at once rather than by polling.

use nix::ifaddrs::getifaddrs;
use nix::net::if_::{if_nametoindex, InterfaceFlags};
use nix::sys::socket::{
    bind, recv, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
};
use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;
use tokio::io::unix::AsyncFd;

/// rtnetlink multicast groups (linux/rtnetlink.h): link changes, IPv4 address changes.
const RTMGRP_LINK: u32 = 0x1;
const RTMGRP_IPV4_IFADDR: u32 = 0x10;

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

/// Readable whenever a link or an IPv4 address changed somewhere in the namespace.
pub struct LinkWatcher {
    fd: AsyncFd<OwnedFd>,
}

impl LinkWatcher {
    pub fn open() -> std::io::Result<LinkWatcher> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )?;
        bind(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            &NetlinkAddr::new(0, RTMGRP_LINK | RTMGRP_IPV4_IFADDR),
        )?;
        Ok(LinkWatcher {
            fd: super::sockets::register_owned(fd)?,
        })
    }

    /// Waits for a change notification and drains what is queued. The content is not parsed: the
    /// caller re-reads the interface, which also covers a dropped notification (ENOBUFS).
    pub async fn changed(&self) -> std::io::Result<()> {
        let mut buf = [0u8; 8192];
        loop {
            let mut guard = self.fd.readable().await?;
            let mut got = false;
            loop {
                match recv(
                    std::os::fd::AsRawFd::as_raw_fd(self.fd.get_ref()),
                    &mut buf,
                    MsgFlags::MSG_DONTWAIT,
                ) {
                    Ok(_) => got = true,
                    Err(nix::errno::Errno::EAGAIN) => break,
                    Err(nix::errno::Errno::ENOBUFS) => got = true,
                    Err(e) => return Err(e.into()),
                }
            }
            guard.clear_ready();
            if got {
                return Ok(());
            }
        }
    }
}
