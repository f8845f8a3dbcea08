//! The address check before a never-used address is offered (RFC 2131 §4.4.1 "SHOULD probe", RFC 5227
//! spirit): an ICMP echo request to it; an echo reply within the timeout means someone uses it.
//!
//! A raw ICMP socket (the daemon runs as root), bound to the interface. It is driven through a tokio
//! `UdpSocket`, which only needs a datagram-style descriptor: that avoids `unsafe` registration.

use socket2::{Domain, Protocol, Socket, Type};
use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

const ECHO_REQUEST: u8 = 8;
const ECHO_REPLY: u8 = 0;

pub struct Pinger {
    socket: UdpSocket,
    ident: u16,
    seq: u16,
    timeout: Duration,
    /// Address → when its check ends without an answer.
    pending: HashMap<Ipv4Addr, Instant>,
}

impl Pinger {
    pub fn open(ifname: &str, timeout: Duration) -> io::Result<Pinger> {
        let socket = Socket::new(
            Domain::IPV4,
            Type::RAW.nonblocking().cloexec(),
            Some(Protocol::ICMPV4),
        )?;
        socket.bind_device(Some(ifname.as_bytes()))?;
        let std: std::net::UdpSocket = socket.into();
        Ok(Pinger {
            socket: UdpSocket::from_std(std)?,
            ident: (std::process::id() & 0xffff) as u16,
            seq: 0,
            timeout,
            pending: HashMap::new(),
        })
    }

    /// Sends an echo request to `a`; the check ends at an answer or the timeout.
    pub fn start(&mut self, a: Ipv4Addr, now: Instant) {
        self.seq = self.seq.wrapping_add(1);
        let mut p = vec![ECHO_REQUEST, 0, 0, 0];
        p.extend_from_slice(&self.ident.to_be_bytes());
        p.extend_from_slice(&self.seq.to_be_bytes());
        p.extend_from_slice(b"routerd-dhcpv4-server");
        let sum = checksum(&p);
        p[2..4].copy_from_slice(&sum.to_be_bytes());
        // A send failure (no route) means nobody can be reached there: the timeout ends the check.
        let _ = self
            .socket
            .try_send_to(&p, SocketAddr::V4(SocketAddrV4::new(a, 0)));
        self.pending.insert(a, now + self.timeout);
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.pending.values().min().copied()
    }

    /// Checks whose time is up: nobody answered.
    pub fn expired(&mut self, now: Instant) -> Vec<Ipv4Addr> {
        let done: Vec<Ipv4Addr> = self
            .pending
            .iter()
            .filter(|(_, d)| **d <= now)
            .map(|(a, _)| *a)
            .collect();
        for a in &done {
            self.pending.remove(a);
        }
        done
    }

    /// Waits for an echo reply to one of our checks; the address that answered.
    pub async fn answered(&mut self, buf: &mut [u8]) -> io::Result<Ipv4Addr> {
        loop {
            let (n, from) = self.socket.recv_from(buf).await?;
            let SocketAddr::V4(from) = from else { continue };
            let a = *from.ip();
            let Some(packet) = buf.get(..n) else { continue };
            // Raw sockets deliver the IPv4 header first.
            let ihl = usize::from(packet.first().map_or(0, |b| b & 0x0f)) * 4;
            let Some(icmp) = packet.get(ihl..ihl + 8) else {
                continue;
            };
            let ident = u16::from_be_bytes([icmp[4], icmp[5]]);
            if icmp[0] == ECHO_REPLY && ident == self.ident && self.pending.remove(&a).is_some() {
                return Ok(a);
            }
        }
    }
}

/// The Internet checksum (RFC 1071).
fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in b.chunks(2) {
        let w = match c {
            [h, l] => u16::from_be_bytes([*h, *l]),
            [h] => u16::from_be_bytes([*h, 0]),
            _ => 0,
        };
        sum += u32::from(w);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    #[test]
    fn checksum_of_a_known_echo() {
        // type 8, code 0, id 1, seq 1: checksum 0xf7fd.
        assert_eq!(super::checksum(&[8, 0, 0, 0, 0, 1, 0, 1]), 0xf7fd);
    }
}
