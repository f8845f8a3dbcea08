//! The advertiser's one socket (`protocols.md`): raw ICMPv6 bound to the interface (SO_BINDTODEVICE)
//! and to its link-local address (the source of every RA, RFC 4861 §6.1.2), hop limit 255 for unicast
//! and multicast, a member of all-routers (`ff02::2`) where solicitations arrive, and told to report each
//! packet's hop limit so a solicitation that crossed a router (hop limit below 255) is dropped
//! (§6.1.1). The kernel computes and verifies the ICMPv6 checksum of raw ICMPv6 sockets (RFC 3542
//! §3.1). No ICMP6_FILTER is set (it needs a raw setsockopt); other ICMPv6 types are dropped by their
//! first octet before any parsing.

use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, SockaddrIn6};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io::{self, IoSliceMut};
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::AsRawFd;
use tokio::io::unix::AsyncFd;

/// All-nodes, where RAs go (RFC 4861 §6.2.4, §6.2.6).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// All-routers, where solicitations arrive.
pub const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);
/// The only hop limit ND messages may carry.
pub const ND_HOP_LIMIT: u32 = 255;

/// Why the socket could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// `EADDRNOTAVAIL`: the link-local address is tentative (DAD still running) or just went away.
    NotYet,
    Failed(io::Error),
}

impl From<io::Error> for OpenError {
    fn from(e: io::Error) -> OpenError {
        if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) {
            OpenError::NotYet
        } else {
            OpenError::Failed(e)
        }
    }
}

impl From<nix::Error> for OpenError {
    fn from(e: nix::Error) -> OpenError {
        OpenError::from(io::Error::from(e))
    }
}

/// One received packet.
pub struct Received {
    pub len: usize,
    pub from: Ipv6Addr,
    /// The IPv6 hop limit it arrived with; `None` if the kernel did not say.
    pub hop_limit: Option<i32>,
}

pub struct RaSocket {
    fd: AsyncFd<Socket>,
    ifindex: u32,
}

impl RaSocket {
    pub fn open(ifname: &str, ifindex: u32, link_local: Ipv6Addr) -> Result<RaSocket, OpenError> {
        let socket = Socket::new(
            Domain::IPV6,
            Type::RAW.nonblocking().cloexec(),
            Some(Protocol::ICMPV6),
        )?;
        socket.bind_device(Some(ifname.as_bytes()))?;
        socket.set_multicast_if_v6(ifindex)?;
        socket.set_multicast_hops_v6(ND_HOP_LIMIT)?;
        socket.set_unicast_hops_v6(ND_HOP_LIMIT)?;
        socket.set_multicast_loop_v6(false)?;
        socket.bind(&SocketAddrV6::new(link_local, 0, 0, ifindex).into())?;
        socket.join_multicast_v6(&ALL_ROUTERS, ifindex)?;
        setsockopt(&socket, sockopt::Ipv6RecvHopLimit, &true)?;
        Ok(RaSocket {
            fd: register(socket)?,
            ifindex,
        })
    }

    /// Sends an ICMPv6 message to all nodes on the link.
    pub fn send_all_nodes(&self, bytes: &[u8]) -> io::Result<usize> {
        let to = SockAddr::from(SocketAddrV6::new(ALL_NODES, 0, 0, self.ifindex));
        self.fd.get_ref().send_to(bytes, &to)
    }

    /// The next packet, with its source and hop limit.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|inner| recv_once(inner.get_ref(), buf)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }
}

/// Registers the socket with the runtime: tokio takes descriptors only through an `unsafe fn` (its safe
/// constructor is deprecated as unsound), the pattern the kit and the DHCPv4 client follow.
#[allow(unsafe_code)]
fn register(socket: Socket) -> io::Result<AsyncFd<Socket>> {
    // SAFETY: `Socket` owns its descriptor: it stays open, and `as_raw_fd` returns the same one,
    // until the `AsyncFd` (which owns the `Socket`) is dropped.
    Ok(unsafe { AsyncFd::register(socket) }?)
}

fn recv_once(socket: &Socket, buf: &mut [u8]) -> io::Result<Received> {
    let mut cmsg = nix::cmsg_space!(libc::c_int);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrIn6>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_DONTWAIT,
    )
    .map_err(io::Error::from)?;
    let from = msg.address.map_or(Ipv6Addr::UNSPECIFIED, |a| a.ip());
    let mut hop_limit = None;
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            if let ControlMessageOwned::Ipv6HopLimit(h) = c {
                hop_limit = Some(h);
            }
        }
    }
    Ok(Received {
        len: msg.bytes,
        from,
        hop_limit,
    })
}
