//! The sockets: an AF_PACKET socket for whole Ethernet frames (with the BPF filter of `bpf.rs` for DHCP,
//! or bound to ARP for the conflict probe) and the UDP socket on port 68 bound to the interface.
//!
//! This is the only module with `unsafe`: socket2 has no safe constructor for a `sockaddr_ll`, and tokio
//! registers raw descriptors only through an `unsafe fn` (the caller vouches that it owns them).

use routerd_dhcpv4_client::bpf::Instruction;
use socket2::{Domain, Protocol, SockAddr, SockAddrStorage, SockFilter, Socket, Type};
use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddrV4};
use tokio::io::unix::AsyncFd;

pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_ARP: u16 = 0x0806;

/// A raw AF_PACKET socket bound to one interface and one Ethernet protocol.
pub struct PacketSocket {
    fd: AsyncFd<Socket>,
}

impl PacketSocket {
    /// Opens the socket with protocol 0 (it receives nothing yet), attaches `filter`, then binds it to
    /// `ifindex` and `protocol`, so no frame of another interface or protocol is ever queued.
    pub fn open(
        ifindex: u32,
        protocol: u16,
        filter: Option<&[Instruction]>,
    ) -> io::Result<PacketSocket> {
        let socket = Socket::new(
            Domain::PACKET,
            Type::RAW.nonblocking().cloexec(),
            Some(Protocol::from(0)),
        )?;
        if let Some(program) = filter {
            let program: Vec<SockFilter> = program
                .iter()
                .map(|&(code, jt, jf, k)| SockFilter::new(code, jt, jf, k))
                .collect();
            socket.attach_filter(&program)?;
        }
        socket.bind(&link_address(ifindex, protocol))?;
        // SAFETY: `Socket` owns its descriptor: it stays open, and `as_raw_fd` returns the same one,
        // until the `AsyncFd` (which owns the `Socket`) is dropped.
        let fd = unsafe { AsyncFd::register(socket) }?;
        Ok(PacketSocket { fd })
    }

    /// Receives one frame.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|s| s.get_ref().read(buf)) {
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }

    /// Sends one whole frame now, without waiting for buffer space (a full queue is an error; the
    /// caller's retransmission covers it).
    pub fn try_send(&self, frame: &[u8]) -> io::Result<usize> {
        self.fd.get_ref().send(frame)
    }

    /// Sends one whole frame (destination MAC included) out of the bound interface.
    pub async fn send(&self, frame: &[u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|s| s.get_ref().send(frame)) {
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }
}

/// `sockaddr_ll` for binding a packet socket to `ifindex` and `protocol`.
#[allow(unsafe_code)]
fn link_address(ifindex: u32, protocol: u16) -> SockAddr {
    let mut storage = SockAddrStorage::zeroed();
    // SAFETY: `sockaddr_storage` is large and aligned enough for every socket address type, including
    // `sockaddr_ll`, and it is zeroed, so every field of the view is initialised.
    let ll = unsafe { storage.view_as::<libc::sockaddr_ll>() };
    ll.sll_family = libc::AF_PACKET as libc::sa_family_t;
    ll.sll_protocol = protocol.to_be();
    ll.sll_ifindex = ifindex as libc::c_int;
    // SAFETY: the first `size_of::<sockaddr_ll>()` bytes hold the initialised `sockaddr_ll` above.
    unsafe {
        SockAddr::new(
            storage,
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    }
}

/// UDP on `0.0.0.0:68`, bound to `ifname` (SO_BINDTODEVICE), broadcast allowed. `SO_REUSEADDR` lets
/// clients on other interfaces hold port 68 as well.
pub fn udp_socket(ifname: &str) -> io::Result<tokio::net::UdpSocket> {
    let socket = Socket::new(
        Domain::IPV4,
        Type::DGRAM.nonblocking().cloexec(),
        Some(Protocol::UDP),
    )?;
    socket.set_reuse_address(true)?;
    socket.bind_device(Some(ifname.as_bytes()))?;
    socket.set_broadcast(true)?;
    socket.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68).into())?;
    tokio::net::UdpSocket::from_std(socket.into())
}
