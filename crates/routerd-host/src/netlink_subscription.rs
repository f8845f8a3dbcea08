//! Netfilter event streams behind a trait: conntrack events (NEW and DESTROY) and an NFLOG group. The
//! collectors in routerd read datagrams through [`Subscription`], so their decoding, overrun handling
//! and batching are tested with [`FakeSubscription`]'s scripted datagrams, and the kernel one is tested
//! for real in a namespace.

use crate::netfilter_socket::NetfilterSocket;
use routerd_proto::netfilter::nflog::{bind_group_requests, GroupSettings};
use routerd_proto::netfilter::{
    nlattr::{NFNLGRP_CONNTRACK_DESTROY, NFNLGRP_CONNTRACK_NEW},
    NetlinkItem, NetlinkMessages,
};
use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What one receive produced.
#[derive(Debug)]
pub enum Received {
    /// `n` bytes of whole netlink messages are in the buffer.
    Data(usize),
    /// The socket's receive buffer overflowed (`ENOBUFS`): the kernel dropped messages we will never
    /// see. The stream goes on; the caller resynchronises.
    Overrun,
    /// Nothing arrived within the receive timeout (lets the caller check for shutdown and flush).
    Idle,
}

/// A stream of netfilter datagrams. Blocking: run it on its own thread.
pub trait Subscription: Send {
    /// Waits up to the stream's receive timeout for the next datagram.
    fn receive(&mut self, buffer: &mut [u8]) -> io::Result<Received>;
}

/// A subscription on a kernel socket.
#[derive(Debug)]
pub struct KernelSubscription {
    socket: NetfilterSocket,
    /// What `SO_RCVBUF` ended up as (reported in status).
    pub receive_buffer: usize,
}

/// How long one receive waits before it reports [`Received::Idle`].
pub const SUBSCRIPTION_IDLE: Duration = Duration::from_millis(200);

fn group_bit(group: u32) -> u32 {
    1 << (group - 1)
}

impl KernelSubscription {
    /// Conntrack NEW and DESTROY events (DESTROY carries the final counters when
    /// `nf_conntrack_acct` is on), with a receive buffer of `receive_buffer` bytes for bursts.
    pub fn conntrack_events(receive_buffer: usize) -> io::Result<KernelSubscription> {
        let socket = NetfilterSocket::open_subscribed(
            SUBSCRIPTION_IDLE,
            group_bit(NFNLGRP_CONNTRACK_NEW) | group_bit(NFNLGRP_CONNTRACK_DESTROY),
        )?;
        let receive_buffer = socket.force_receive_buffer(receive_buffer)?;
        Ok(KernelSubscription {
            socket,
            receive_buffer,
        })
    }

    /// Binds NFLOG `group` with `settings` (copy range, queue threshold, flush timeout, kernel buffer and
    /// sequence numbers). Fails with the kernel's errno when the group is taken (`EBUSY`).
    pub fn nflog_group(
        group: u16,
        settings: &GroupSettings,
        receive_buffer: usize,
    ) -> io::Result<KernelSubscription> {
        let socket = NetfilterSocket::open(SUBSCRIPTION_IDLE)?;
        let receive_buffer = socket.force_receive_buffer(receive_buffer)?;
        let mut buffer = vec![0u8; 8192];
        for request in bind_group_requests(group, settings, 1) {
            socket.send(&request)?;
            // Every config request asks for an ack; PF_(UN)BIND may be refused by new kernels (ignored).
            let length = socket.recv(&mut buffer)?;
            for item in NetlinkMessages::new(buffer.get(..length).unwrap_or_default()) {
                if let Ok(NetlinkItem::Error { errno, .. }) = item {
                    let is_bind = request.len() > 20 && is_group_request(&request);
                    if is_bind {
                        return Err(io::Error::from_raw_os_error(errno));
                    }
                }
            }
        }
        Ok(KernelSubscription {
            socket,
            receive_buffer,
        })
    }
}

/// Whether an encoded config request names a group (res_id != 0): the group bind and its parameters,
/// whose refusal is fatal, as opposed to the PF (un)bind no-ops.
fn is_group_request(request: &[u8]) -> bool {
    // nlmsghdr (16) + nfgenmsg: family(1) version(1) res_id(2, big endian)
    request.get(18..20).is_some_and(|id| id != [0, 0])
}

impl Subscription for KernelSubscription {
    fn receive(&mut self, buffer: &mut [u8]) -> io::Result<Received> {
        match self.socket.recv(buffer) {
            Ok(length) => Ok(Received::Data(length)),
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => Ok(Received::Overrun),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(Received::Idle)
            }
            Err(e) => Err(e),
        }
    }
}

/// One scripted receive of a [`FakeSubscription`].
#[derive(Debug, Clone)]
pub enum FakeReceive {
    Data(Vec<u8>),
    Overrun,
    Failure(io::ErrorKind),
}

/// A scripted subscription: yields the queued receives in order, then [`Received::Idle`]. The script is
/// shared, so a test can keep feeding it while a collector thread reads.
#[derive(Debug, Clone, Default)]
pub struct FakeSubscription {
    script: Arc<Mutex<VecDeque<FakeReceive>>>,
}

impl FakeSubscription {
    pub fn new() -> FakeSubscription {
        FakeSubscription::default()
    }

    /// Queues a receive.
    pub fn push(&self, receive: FakeReceive) {
        if let Ok(mut script) = self.script.lock() {
            script.push_back(receive);
        }
    }

    /// Receives not yet consumed.
    pub fn pending(&self) -> usize {
        self.script.lock().map(|s| s.len()).unwrap_or(0)
    }
}

impl Subscription for FakeSubscription {
    fn receive(&mut self, buffer: &mut [u8]) -> io::Result<Received> {
        let next = self.script.lock().ok().and_then(|mut s| s.pop_front());
        match next {
            Some(FakeReceive::Data(bytes)) => {
                let length = bytes.len().min(buffer.len());
                buffer
                    .get_mut(..length)
                    .unwrap_or_default()
                    .copy_from_slice(bytes.get(..length).unwrap_or_default());
                Ok(Received::Data(length))
            }
            Some(FakeReceive::Overrun) => Ok(Received::Overrun),
            Some(FakeReceive::Failure(kind)) => Err(io::Error::from(kind)),
            None => {
                std::thread::sleep(Duration::from_millis(5));
                Ok(Received::Idle)
            }
        }
    }
}
