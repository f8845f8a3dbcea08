//! `icmp` probe: one echo request, passed when the matching echo reply comes back.
//!
//! The socket is an unprivileged ping socket (`SOCK_DGRAM`/`IPPROTO_ICMP[V6]`) when
//! `net.ipv4.ping_group_range` allows our group; otherwise a raw socket (the daemon runs as root). A ping
//! socket gets only replies to its own identifier (the kernel picks the identifier and demultiplexes);
//! a raw socket sees every ICMP message on the host, so replies are matched here on identifier,
//! sequence number and payload, and an ICMP error quoting our request ends the probe as `unreachable`.

pub mod echo;

use super::binding::{path_error, setup_error, Binding};
use crate::outcome::{FailureKind, ProbeOutcome};
use echo::{Message, Version};
use socket2::{Protocol, Socket, Type};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use tokio::net::UdpSocket;
use tokio::time::Instant;

/// Sequence numbers increase across probes of the process, so a late reply to an earlier probe never
/// matches the current one.
static NEXT_SEQ: AtomicU16 = AtomicU16::new(1);

/// Which kind of ICMP socket the probe got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SocketKind {
    Ping,
    Raw,
}

/// Runs the probe; `nonce` makes the identifier (raw sockets) and the payload unique to this probe.
pub async fn probe(binding: &Binding, target: IpAddr, nonce: u64) -> ProbeOutcome {
    let version = Version::of(target);
    let (sock, kind) = match open(target) {
        Ok(s) => s,
        Err(o) => return o,
    };
    if let Err(o) = binding.apply(&sock, target) {
        return o;
    }
    // tokio has no ICMP socket type; a datagram socket's send_to/recv_from are exactly the calls a ping
    // or raw ICMP socket needs, so it drives this one.
    let sock = match UdpSocket::from_std(sock.into()) {
        Ok(s) => s,
        Err(e) => {
            return setup_error(FailureKind::Other, "registering the ICMP socket", &e);
        }
    };
    let id = (nonce >> 48) as u16;
    let seq = NEXT_SEQ.fetch_add(1, Ordering::Relaxed);
    let mut payload = b"routerd-".to_vec();
    payload.extend_from_slice(&nonce.to_be_bytes());
    let request = echo::encode_request(version, id, seq, &payload);

    let start = Instant::now();
    if let Err(e) = sock.send_to(&request, SocketAddr::new(target, 0)).await {
        return path_error(&format!("sending the echo request to {target}"), &e);
    }
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, from) = match sock.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => return path_error(&format!("waiting for the echo reply from {target}"), &e),
        };
        let packet = buf.get(..n).unwrap_or_default();
        // Raw IPv4 sockets deliver the IP header too; ping sockets and ICMPv6 sockets do not.
        let icmp = if kind == SocketKind::Raw && version == Version::V4 {
            match echo::strip_ipv4_header(packet) {
                Ok(m) => m,
                Err(_) => continue,
            }
        } else {
            packet
        };
        // The kernel rewrites the identifier of a ping socket's requests and only hands it its own
        // replies, so only a raw socket checks the identifier.
        let id_matches = |got: u16| kind == SocketKind::Ping || got == id;
        match echo::parse(version, icmp) {
            Ok(Message::EchoReply(r))
                if id_matches(r.id) && r.seq == seq && r.payload == payload.as_slice() =>
            {
                return ProbeOutcome::Passed {
                    latency: start.elapsed(),
                };
            }
            Ok(Message::Error {
                kind: err,
                code,
                quoted: Some(q),
            }) if id_matches(q.id) && q.seq == seq && q.destination == target => {
                return ProbeOutcome::Failed {
                    kind: FailureKind::Unreachable,
                    error: format!(
                        "{} from {} for {target}",
                        echo::describe_error(version, err, code),
                        from.ip()
                    ),
                    latency: Some(start.elapsed()),
                };
            }
            _ => continue,
        }
    }
}

/// A ping socket when the ping group range allows it, else a raw socket. When neither can be had, the
/// raw socket's error is the one reported (EPERM → `permission`).
fn open(target: IpAddr) -> Result<(Socket, SocketKind), ProbeOutcome> {
    let domain = socket2::Domain::for_address(SocketAddr::new(target, 0));
    let protocol = match target {
        IpAddr::V4(_) => Protocol::ICMPV4,
        IpAddr::V6(_) => Protocol::ICMPV6,
    };
    let (sock, kind) = match Socket::new(domain, Type::DGRAM, Some(protocol)) {
        Ok(s) => (s, SocketKind::Ping),
        Err(e) => {
            tracing::debug!(error = %e, "no ping socket (net.ipv4.ping_group_range), using a raw socket");
            let s = Socket::new(domain, Type::RAW, Some(protocol))
                .map_err(|e| setup_error(FailureKind::Other, "opening a raw ICMP socket", &e))?;
            (s, SocketKind::Raw)
        }
    };
    sock.set_nonblocking(true).map_err(|e| {
        setup_error(
            FailureKind::Other,
            "making the ICMP socket non-blocking",
            &e,
        )
    })?;
    Ok((sock, kind))
}
