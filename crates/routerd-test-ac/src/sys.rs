//! The kernel interfaces std, socket2 and tokio do not wrap: binding an AF_PACKET socket (a
//! `sockaddr_ll`), `PACKET_IGNORE_OUTGOING`, and creating a TUN device (`TUNSETIFF`). The only module of
//! the crate with `unsafe`, each use with its justification; a maintained TUN crate (`tun`, `tun-rs`)
//! would bring an async-runtime abstraction and a dozen dependencies for one ioctl.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

use socket2::{Domain, Protocol, SockAddr, SockAddrStorage, Socket, Type};

/// `PACKET_IGNORE_OUTGOING` (Linux 4.20, `linux/if_packet.h`); not in every libc release.
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;

/// An AF_PACKET socket for whole Ethernet frames of `protocol` (an EtherType) on `ifindex`, without our
/// own transmissions looped back (they would double the data plane's receive work).
pub fn packet_socket(ifindex: u32, protocol: u16) -> io::Result<Socket> {
    // Protocol 0 first: nothing is queued before the bind narrows it to one interface and EtherType.
    let socket = Socket::new(
        Domain::PACKET,
        Type::RAW.nonblocking().cloexec(),
        Some(Protocol::from(0)),
    )?;
    socket.bind(&link_address(ifindex, protocol))?;
    let one: libc::c_int = 1;
    // SAFETY: a valid descriptor, a pointer to a live c_int and its exact size; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_PACKET,
            PACKET_IGNORE_OUTGOING,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        // Older kernels: our own frames come back and are dropped by their source MAC instead.
        let _ = io::Error::last_os_error();
    }
    // Bursts of a TCP transfer must not overflow the default ~200 KiB queues.
    let _ = socket.set_recv_buffer_size(4 << 20);
    let _ = socket.set_send_buffer_size(4 << 20);
    Ok(socket)
}

/// `sockaddr_ll` for binding a packet socket to `ifindex` and `protocol`.
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

/// `struct ifreq` as TUNSETIFF reads it: the name, the flags, padding to the union's size.
#[repr(C)]
struct IfReqFlags {
    name: [libc::c_char; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Creates (or attaches to) the TUN device `name`: IP packets without a packet-information header,
/// non-blocking. The device lives as long as the returned file.
pub fn open_tun(name: &str) -> io::Result<File> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("TUN name {name:?} must have 1 to 15 octets"),
        ));
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open("/dev/net/tun")?;
    let mut request = IfReqFlags {
        name: [0; libc::IFNAMSIZ],
        flags: (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short,
        _pad: [0; 22],
    };
    for (slot, byte) in request.name.iter_mut().zip(name.bytes()) {
        *slot = byte as libc::c_char;
    }
    // SAFETY: TUNSETIFF reads (and writes back the name into) a `struct ifreq`; `IfReqFlags` has its
    // layout (16-octet name, then the flags at the start of the 24-octet union) and lives across the call.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut request) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(file)
}

/// Registers an owned descriptor with tokio.
pub fn register<T: AsRawFd>(owner: T) -> io::Result<tokio::io::unix::AsyncFd<T>> {
    // SAFETY: `owner` owns its descriptor (a `Socket` or `File`): it stays open, and `as_raw_fd` returns
    // the same one, until the `AsyncFd` (which takes `owner`) is dropped.
    unsafe { tokio::io::unix::AsyncFd::register(owner) }.map_err(io::Error::from)
}
