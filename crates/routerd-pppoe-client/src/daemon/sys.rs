//! The system calls no safe crate offers us, all in this one module: AF_PACKET sockets bound to an
//! interface and EtherType, the TUN device (`TUNSETIFF`), and the kernel's PPPoE data plane (an
//! `AF_PPPOX` socket plus the `/dev/ppp` channel and unit ioctls).
//!
//! Why `unsafe` is acceptable here: every call is a plain Linux syscall on a descriptor this module
//! owns (an [`OwnedFd`] created right before), with buffers sized and initialised on the Rust side and
//! lengths passed from those same buffers; every return value is checked. libc has no definitions for
//! the TUN and PPP ioctls, so their numbers are written out below with the header they come from.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `ETH_P_PPP_DISC` and `ETH_P_PPP_SES` (`<linux/if_ether.h>`).
pub const ETH_P_PPP_DISC: u16 = 0x8863;
pub const ETH_P_PPP_SES: u16 = 0x8864;

/// `<linux/if_tun.h>`: `TUNSETIFF = _IOW('T', 202, int)`, `IFF_TUN`, `IFF_NO_PI`.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TUN: libc::c_short = 0x0001;
const IFF_NO_PI: libc::c_short = 0x1000;

/// `<linux/ppp-ioctl.h>`.
const PPPIOCGCHAN: libc::c_ulong = 0x8004_7437; // _IOR('t', 55, int)
const PPPIOCATTCHAN: libc::c_ulong = 0x4004_7438; // _IOW('t', 56, int)
const PPPIOCCONNECT: libc::c_ulong = 0x4004_743a; // _IOW('t', 58, int)
const PPPIOCNEWUNIT: libc::c_ulong = 0xc004_743e; // _IOWR('t', 62, int)
/// `<linux/if_pppox.h>`: `AF_PPPOX`, `PX_PROTO_OE`.
const AF_PPPOX: libc::c_int = 24;
const PX_PROTO_OE: u32 = 0;

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn owned(fd: libc::c_int) -> io::Result<OwnedFd> {
    let fd = check(fd)?;
    // SAFETY: `fd` was just returned by a successful socket()/open() and nothing else owns it.
    #[allow(unsafe_code)]
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// An AF_PACKET raw socket bound to `ifindex` and `ethertype`, non-blocking: whole Ethernet frames.
#[allow(unsafe_code)]
pub fn packet_socket(ifindex: u32, ethertype: u16) -> io::Result<OwnedFd> {
    // SAFETY: socket() takes no pointers.
    let fd = owned(unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })?;
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    address.sll_family = libc::AF_PACKET as libc::sa_family_t;
    address.sll_protocol = ethertype.to_be();
    address.sll_ifindex = i32::try_from(ifindex)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "ifindex out of range"))?;
    // SAFETY: the pointer and length describe `address`, which lives across the call.
    check(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            std::ptr::addr_of!(address).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })?;
    Ok(fd)
}

/// Registers `fd` with tokio's reactor.
#[allow(unsafe_code)]
pub fn async_fd(fd: OwnedFd) -> io::Result<tokio::io::unix::AsyncFd<OwnedFd>> {
    // SAFETY: `fd` is owned by the `AsyncFd` from here on and stays open until it is dropped, so the
    // descriptor registered is never closed or reused behind the reactor's back.
    unsafe { tokio::io::unix::AsyncFd::register(fd) }.map_err(io::Error::from)
}

/// Reads one datagram/packet into `buf` (non-blocking: `WouldBlock` when none is queued).
#[allow(unsafe_code)]
pub fn read(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the duration of the call.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// Writes one datagram/packet (non-blocking).
#[allow(unsafe_code)]
pub fn write(fd: &OwnedFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes for the duration of the call.
    let n = unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// `struct ifreq` as TUNSETIFF reads it: the name, then `ifr_flags` at the start of the union.
#[repr(C)]
struct IfreqFlags {
    name: [u8; 16],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Creates (or attaches to) the TUN device `name` without packet information headers, non-blocking.
/// The device lives as long as the descriptor: it disappears when the daemon exits.
#[allow(unsafe_code)]
pub fn open_tun(name: &str) -> io::Result<OwnedFd> {
    let path = CString::new("/dev/net/tun").map_err(io::Error::other)?;
    // SAFETY: `path` is a NUL-terminated string living across the call.
    let fd = owned(unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    })?;
    let mut request = IfreqFlags {
        name: [0; 16],
        flags: IFF_TUN | IFF_NO_PI,
        _pad: [0; 22],
    };
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() > 15 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface names are 1 to 15 octets",
        ));
    }
    request.name[..bytes.len()].copy_from_slice(bytes);
    // SAFETY: TUNSETIFF reads and writes a `struct ifreq` (40 bytes); `request` is that size and layout.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF, std::ptr::addr_of_mut!(request)) })?;
    Ok(fd)
}

/// Whether the kernel has the PPPoE data plane: `/dev/ppp` exists and an `AF_PPPOX` socket can be made.
/// `Err` carries the reason for status and for tests' SKIP lines.
#[allow(unsafe_code)]
pub fn probe_kernel_ppp() -> Result<(), String> {
    if !std::path::Path::new("/dev/ppp").exists() {
        return Err("/dev/ppp is missing (the kernel has no PPP support loaded)".into());
    }
    // SAFETY: socket() takes no pointers.
    match owned(unsafe {
        libc::socket(
            AF_PPPOX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            PX_PROTO_OE as i32,
        )
    }) {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("no AF_PPPOX sockets (pppoe module missing): {e}")),
    }
}

/// `struct sockaddr_pppox` for PPPoE (`<linux/if_pppox.h>`, packed): family, protocol, then
/// `struct pppoe_addr { __be16 sid; unsigned char remote[6]; char dev[IFNAMSIZ]; }`.
#[repr(C, packed)]
struct SockaddrPppox {
    family: libc::sa_family_t,
    protocol: u32,
    sid: u16,
    remote: [u8; 6],
    dev: [u8; 16],
}

/// The kernel's half of an established PPPoE session: the PPPoE socket, the `/dev/ppp` channel (where
/// LCP, PAP/CHAP and the NCPs are read and written) and the unit (the `pppN` network interface whose
/// IP packets the kernel carries itself).
pub struct KernelSession {
    /// Held, not read: closing these three tears the kernel's session and unit down.
    _pppox: OwnedFd,
    _channel: OwnedFd,
    _unit: OwnedFd,
    /// `pppN`: rename it to the configured device name with netlink.
    pub unit_number: i32,
}

/// Connects session `session_id` with `ac_mac` on `ifname` to a new PPP unit (pppd's rp-pppoe plugin
/// does the same sequence: connect, PPPIOCGCHAN, PPPIOCATTCHAN, PPPIOCNEWUNIT, PPPIOCCONNECT).
#[allow(unsafe_code)]
pub fn kernel_session(ifname: &str, session_id: u16, ac_mac: [u8; 6]) -> io::Result<KernelSession> {
    probe_kernel_ppp().map_err(io::Error::other)?;
    // SAFETY: socket() takes no pointers.
    let pppox = owned(unsafe {
        libc::socket(
            AF_PPPOX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            PX_PROTO_OE as i32,
        )
    })?;
    let mut dev = [0u8; 16];
    let name = ifname.as_bytes();
    if name.len() > 15 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "ifname too long",
        ));
    }
    dev[..name.len()].copy_from_slice(name);
    let address = SockaddrPppox {
        family: AF_PPPOX as libc::sa_family_t,
        protocol: PX_PROTO_OE,
        sid: session_id.to_be(),
        remote: ac_mac,
        dev,
    };
    // SAFETY: pointer and length describe `address`, alive across the call.
    check(unsafe {
        libc::connect(
            pppox.as_raw_fd(),
            std::ptr::addr_of!(address).cast(),
            std::mem::size_of::<SockaddrPppox>() as libc::socklen_t,
        )
    })?;
    let mut channel_index: libc::c_int = 0;
    // SAFETY: PPPIOCGCHAN writes one int to the pointer.
    check(unsafe { libc::ioctl(pppox.as_raw_fd(), PPPIOCGCHAN, &mut channel_index) })?;
    let dev_ppp = CString::new("/dev/ppp").map_err(io::Error::other)?;
    // SAFETY: NUL-terminated path alive across the call.
    let channel = owned(unsafe {
        libc::open(
            dev_ppp.as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: PPPIOCATTCHAN reads one int.
    check(unsafe { libc::ioctl(channel.as_raw_fd(), PPPIOCATTCHAN, &channel_index) })?;
    // SAFETY: as above.
    let unit = owned(unsafe {
        libc::open(
            dev_ppp.as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    })?;
    let mut unit_number: libc::c_int = -1;
    // SAFETY: PPPIOCNEWUNIT reads and writes one int.
    check(unsafe { libc::ioctl(unit.as_raw_fd(), PPPIOCNEWUNIT, &mut unit_number) })?;
    // SAFETY: PPPIOCCONNECT reads one int.
    check(unsafe { libc::ioctl(channel.as_raw_fd(), PPPIOCCONNECT, &unit_number) })?;
    Ok(KernelSession {
        _pppox: pppox,
        _channel: channel,
        _unit: unit,
        unit_number,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_numbers_match_the_kernel_encoding() {
        // _IOC(dir, type, nr, size) = dir << 30 | size << 16 | type << 8 | nr
        let ioc = |dir: u64, ty: u8, nr: u64, size: u64| -> libc::c_ulong {
            ((dir << 30) | (size << 16) | (u64::from(ty) << 8) | nr) as libc::c_ulong
        };
        const WRITE: u64 = 1;
        const READ: u64 = 2;
        assert_eq!(TUNSETIFF, ioc(WRITE, b'T', 202, 4));
        assert_eq!(PPPIOCGCHAN, ioc(READ, b't', 55, 4));
        assert_eq!(PPPIOCATTCHAN, ioc(WRITE, b't', 56, 4));
        assert_eq!(PPPIOCCONNECT, ioc(WRITE, b't', 58, 4));
        assert_eq!(PPPIOCNEWUNIT, ioc(READ | WRITE, b't', 62, 4));
        assert_eq!(std::mem::size_of::<IfreqFlags>(), 40);
        assert_eq!(std::mem::size_of::<SockaddrPppox>(), 30);
    }

    #[test]
    fn kernel_ppp_probe_names_what_is_missing() {
        match probe_kernel_ppp() {
            Ok(()) => {
                // A kernel with PPP: a session to a MAC nobody has still connects locally only with a
                // real interface, which a unit test does not have; the probe is what we can check.
            }
            Err(reason) => {
                routerd_testkit::skip(&format!("kernel PPP data plane: {reason}"));
                assert!(reason.contains("/dev/ppp") || reason.contains("AF_PPPOX"));
                let err = kernel_session("lo", 1, [2, 0, 0, 0, 0, 1])
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                assert!(
                    !err.is_empty(),
                    "without /dev/ppp a kernel session cannot be made"
                );
            }
        }
    }
}
