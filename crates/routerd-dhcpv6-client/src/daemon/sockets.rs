//! The client's one socket (RFC 8415 §7.2, `protocols.md`): UDP bound to the interface's link-local
//! address port 546 and to the interface itself, multicast out of that interface with hop limit 1 to
//! All_DHCP_Relay_Agents_and_Servers (`ff02::1:2`) port 547, or unicast to a server that sent the
//! Server Unicast option. Servers and relays answer to the source address, so no group is joined.

use routerd_dhcpv6_client::Destination;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{Ipv6Addr, SocketAddrV6};

pub const CLIENT_PORT: u16 = 546;
pub const SERVER_PORT: u16 = 547;
/// All_DHCP_Relay_Agents_and_Servers (RFC 8415 §7.1).
pub const ALL_SERVERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);

/// Why the socket could not be bound.
#[derive(Debug)]
pub enum BindError {
    /// `EADDRNOTAVAIL`: the address is tentative (DAD still running) or just went away. Try again soon.
    NotYet,
    Failed(io::Error),
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BindError::NotYet => f.write_str("the address is not usable yet (tentative)"),
            BindError::Failed(e) => e.fmt(f),
        }
    }
}

impl From<io::Error> for BindError {
    fn from(e: io::Error) -> BindError {
        if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) {
            BindError::NotYet
        } else {
            BindError::Failed(e)
        }
    }
}

/// The bound socket: `recv` for the loop to await, `send` (the same socket, a second descriptor) for
/// sending at once from synchronous code. tokio's `try_send_to` answers `WouldBlock` until its reactor
/// has seen the socket writable, which loses the first message after every bind (a REBIND on carrier
/// return, a RENEW after a restart); a plain non-blocking `sendto` only fails when the buffer is full.
pub struct ClientSocket {
    pub recv: tokio::net::UdpSocket,
    pub send: Socket,
}

/// UDP on `[link_local%ifindex]:546`, bound to `ifname` (SO_BINDTODEVICE), multicast leaving through
/// `ifindex` with hop limit 1 and without loopback. `SO_REUSEADDR` lets clients on other interfaces
/// (other link-local addresses) hold port 546 as well.
pub fn client_socket(
    ifname: &str,
    ifindex: u32,
    link_local: Ipv6Addr,
) -> Result<ClientSocket, BindError> {
    let socket = Socket::new(
        Domain::IPV6,
        Type::DGRAM.nonblocking().cloexec(),
        Some(Protocol::UDP),
    )?;
    socket.set_only_v6(true)?;
    socket.set_reuse_address(true)?;
    socket.bind_device(Some(ifname.as_bytes()))?;
    socket.set_multicast_if_v6(ifindex)?;
    socket.set_multicast_hops_v6(1)?;
    socket.set_multicast_loop_v6(false)?;
    socket.bind(&SocketAddrV6::new(link_local, CLIENT_PORT, 0, ifindex).into())?;
    let send = socket.try_clone()?;
    Ok(ClientSocket {
        recv: tokio::net::UdpSocket::from_std(socket.into())?,
        send,
    })
}

/// Where a message for `destination` goes; link-scoped addresses carry the interface as scope id.
pub fn address_of(destination: Destination, ifindex: u32) -> SocketAddrV6 {
    let ip = match destination {
        Destination::AllServers => ALL_SERVERS,
        Destination::Unicast(ip) => ip,
    };
    let scoped = ip.is_unicast_link_local() || ip.segments()[0] & 0xff0f == 0xff02;
    SocketAddrV6::new(ip, SERVER_PORT, 0, if scoped { ifindex } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        assert_eq!(
            address_of(Destination::AllServers, 7).to_string(),
            "[ff02::1:2%7]:547"
        );
        assert_eq!(
            address_of(Destination::Unicast("fe80::1".parse().unwrap()), 7).to_string(),
            "[fe80::1%7]:547"
        );
        assert_eq!(
            address_of(Destination::Unicast("2001:db8::1".parse().unwrap()), 7).to_string(),
            "[2001:db8::1]:547"
        );
    }

    #[test]
    fn eaddrnotavail_means_not_yet() {
        let e = io::Error::from_raw_os_error(libc::EADDRNOTAVAIL);
        assert!(matches!(BindError::from(e), BindError::NotYet));
        let e = io::Error::from_raw_os_error(libc::EACCES);
        assert!(matches!(BindError::from(e), BindError::Failed(_)));
    }
}
