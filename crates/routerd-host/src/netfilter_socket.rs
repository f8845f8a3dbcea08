//! A netfilter netlink socket (`NETLINK_NETFILTER`): the one place that opens, binds and reads one, for
//! every netfilter adapter (the conntrack table today; conntrack events and NFLOG use the same calls).
//! Blocking by design: callers run it on a blocking thread, where a dump of 100k entries is a tight
//! `recv` loop without an async wake-up per buffer.

use nix::sys::socket::{
    bind, recv, send, setsockopt, socket, sockopt, AddressFamily, MsgFlags, NetlinkAddr, SockFlag,
    SockProtocol, SockType,
};
use nix::sys::time::TimeVal;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

/// How large a buffer [`NetfilterSocket::recv`] should be given: the kernel fills dump buffers up to the
/// largest `recv` length it has seen, capped near 32 KiB, so 64 KiB never truncates a message.
pub const NETFILTER_RECV_BUFFER: usize = 64 * 1024;

/// An open `NETLINK_NETFILTER` socket bound to a kernel-chosen port id.
#[derive(Debug)]
pub struct NetfilterSocket {
    fd: OwnedFd,
}

impl NetfilterSocket {
    /// Opens and binds the socket; `receive_timeout` bounds every `recv` so a kernel that never answers
    /// cannot hang the caller.
    pub fn open(receive_timeout: Duration) -> io::Result<NetfilterSocket> {
        Self::open_subscribed(receive_timeout, 0)
    }

    /// Like [`NetfilterSocket::open`], and joins the multicast groups of the bit mask `groups` (bit
    /// `n - 1` for group `n`, e.g. `NFNLGRP_CONNTRACK_NEW`): event sockets.
    pub fn open_subscribed(receive_timeout: Duration, groups: u32) -> io::Result<NetfilterSocket> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkNetFilter,
        )?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, groups))?;
        let timeout = TimeVal::new(
            i64::try_from(receive_timeout.as_secs()).unwrap_or(i64::MAX),
            i64::from(receive_timeout.subsec_micros()),
        );
        setsockopt(&fd, sockopt::ReceiveTimeout, &timeout)?;
        Ok(NetfilterSocket { fd })
    }

    /// Asks for a receive buffer of `bytes` (the kernel caps it at `net.core.rmem_max`); event sockets
    /// size it for bursts.
    pub fn set_receive_buffer(&self, bytes: usize) -> io::Result<()> {
        setsockopt(&self.fd, sockopt::RcvBuf, &bytes)?;
        Ok(())
    }

    /// Sizes the receive buffer for bursts past `net.core.rmem_max` (`SO_RCVBUFFORCE`, needs
    /// CAP_NET_ADMIN), falling back to the capped `SO_RCVBUF` without the capability. Returns the size
    /// the kernel granted (it doubles the request for bookkeeping).
    pub fn force_receive_buffer(&self, bytes: usize) -> io::Result<usize> {
        if setsockopt(&self.fd, sockopt::RcvBufForce, &bytes).is_err() {
            setsockopt(&self.fd, sockopt::RcvBuf, &bytes)?;
        }
        Ok(nix::sys::socket::getsockopt(&self.fd, sockopt::RcvBuf)?)
    }

    /// Sends one request (the kernel takes a netlink datagram whole or not at all).
    pub fn send(&self, request: &[u8]) -> io::Result<()> {
        let sent = send(self.fd.as_raw_fd(), request, MsgFlags::empty())?;
        if sent != request.len() {
            return Err(io::Error::other(format!(
                "netlink send took {sent} of {} bytes",
                request.len()
            )));
        }
        Ok(())
    }

    /// Receives one datagram (one or more whole netlink messages) into `buffer`, returning its length.
    /// A timeout is `ErrorKind::WouldBlock`/`TimedOut` from the OS.
    pub fn recv(&self, buffer: &mut [u8]) -> io::Result<usize> {
        loop {
            match recv(self.fd.as_raw_fd(), buffer, MsgFlags::empty()) {
                Err(nix::errno::Errno::EINTR) => continue,
                Err(errno) => return Err(errno.into()),
                Ok(length) => return Ok(length),
            }
        }
    }
}
