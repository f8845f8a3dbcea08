//! The address conflict probe of RFC 5227 §2.1, without I/O: the frames to send, the schedule, and what
//! in a received ARP packet means "this address is taken".
//!
//! RFC 5227 spaces three probes 1–2 s apart after a random 0–1 s wait and then waits 2 s more (about
//! 5–7 s; dhcpcd's default). A router's WAN address is needed at once, and a host that holds the address
//! answers within milliseconds, so the default [`ProbePlan`] sends the same three probes 200 ms apart and
//! listens 400 ms after the last: conflicts are still found, the client is bound in under a second.

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::frame::{BROADCAST_MAC, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETH_HEADER_LEN, MIN_FRAME_LEN};

const ARP_REQUEST: u16 = 1;
const ARP_REPLY: u16 = 2;
const ARP_LEN: usize = 28;

/// How to probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbePlan {
    /// ARP probes sent (RFC 5227 PROBE_NUM is 3).
    pub probes: u32,
    /// Between probes.
    pub interval: Duration,
    /// Listening after the last probe.
    pub wait: Duration,
}

impl Default for ProbePlan {
    fn default() -> Self {
        ProbePlan {
            probes: 3,
            interval: Duration::from_millis(200),
            wait: Duration::from_millis(400),
        }
    }
}

impl ProbePlan {
    /// When each probe is sent, from the start.
    pub fn send_times(&self) -> impl Iterator<Item = Duration> + '_ {
        (0..self.probes).map(move |i| self.interval * i)
    }

    /// When the probe is over without a conflict.
    pub fn duration(&self) -> Duration {
        self.interval * self.probes.saturating_sub(1) + self.wait
    }
}

/// An ARP packet for IPv4 over Ethernet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpPacket {
    pub operation: u16,
    pub sender_mac: [u8; 6],
    pub sender_ip: Ipv4Addr,
    pub target_mac: [u8; 6],
    pub target_ip: Ipv4Addr,
}

/// An ARP probe (RFC 5227 §2.1.1): a broadcast request for `target` with sender IP 0.0.0.0, so no host
/// updates its ARP cache from it.
pub fn probe_frame(mac: [u8; 6], target: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::with_capacity(MIN_FRAME_LEN);
    f.extend_from_slice(&BROADCAST_MAC);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    f.extend_from_slice(&[0, 1]); // hardware: Ethernet
    f.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    f.extend_from_slice(&[6, 4]);
    f.extend_from_slice(&ARP_REQUEST.to_be_bytes());
    f.extend_from_slice(&mac);
    f.extend_from_slice(&Ipv4Addr::UNSPECIFIED.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target.octets());
    f.resize(MIN_FRAME_LEN, 0);
    f
}

/// Parses an Ethernet frame as an IPv4-over-Ethernet ARP request or reply.
pub fn parse_arp_frame(f: &[u8]) -> Option<ArpPacket> {
    let a = f.get(ETH_HEADER_LEN..ETH_HEADER_LEN + ARP_LEN)?;
    if f.get(12..14)? != ETHERTYPE_ARP.to_be_bytes() || a[0..6] != [0, 1, 8, 0, 6, 4] {
        return None;
    }
    let operation = u16::from_be_bytes([a[6], a[7]]);
    if operation != ARP_REQUEST && operation != ARP_REPLY {
        return None;
    }
    let mac = |s: &[u8]| {
        let mut m = [0u8; 6];
        m.copy_from_slice(s);
        m
    };
    Some(ArpPacket {
        operation,
        sender_mac: mac(&a[8..14]),
        sender_ip: Ipv4Addr::new(a[14], a[15], a[16], a[17]),
        target_mac: mac(&a[18..24]),
        target_ip: Ipv4Addr::new(a[24], a[25], a[26], a[27]),
    })
}

/// RFC 5227 §2.1.1: while probing `probed`, any ARP packet whose sender IP is `probed`, or any ARP probe
/// for `probed` from another host, means the address is taken. Returns the other host's MAC.
pub fn conflict(packet: &ArpPacket, our_mac: [u8; 6], probed: Ipv4Addr) -> Option<[u8; 6]> {
    if packet.sender_mac == our_mac {
        return None;
    }
    let claims = packet.sender_ip == probed;
    let probes_too = packet.operation == ARP_REQUEST
        && packet.sender_ip.is_unspecified()
        && packet.target_ip == probed;
    (claims || probes_too).then_some(packet.sender_mac)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const US: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const THEM: [u8; 6] = [2, 0, 0, 0, 0, 2];
    const ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);

    fn reply_from(mac: [u8; 6], ip: Ipv4Addr) -> Vec<u8> {
        let mut f = probe_frame(mac, Ipv4Addr::UNSPECIFIED);
        f[20..22].copy_from_slice(&ARP_REPLY.to_be_bytes());
        f[28..32].copy_from_slice(&ip.octets());
        f
    }

    #[test]
    fn probe_frame_is_an_rfc5227_probe() {
        let f = probe_frame(US, ADDR);
        assert_eq!(f.len(), 60);
        let p = parse_arp_frame(&f).unwrap();
        assert_eq!(p.operation, ARP_REQUEST);
        assert_eq!(p.sender_mac, US);
        assert_eq!(p.sender_ip, Ipv4Addr::UNSPECIFIED);
        assert_eq!(p.target_mac, [0; 6]);
        assert_eq!(p.target_ip, ADDR);
        assert_eq!(&f[0..6], &BROADCAST_MAC);
    }

    #[test]
    fn what_counts_as_a_conflict() {
        let reply = parse_arp_frame(&reply_from(THEM, ADDR)).unwrap();
        assert_eq!(conflict(&reply, US, ADDR), Some(THEM));
        let other = parse_arp_frame(&reply_from(THEM, Ipv4Addr::new(192, 0, 2, 11))).unwrap();
        assert_eq!(conflict(&other, US, ADDR), None);
        let their_probe = parse_arp_frame(&probe_frame(THEM, ADDR)).unwrap();
        assert_eq!(conflict(&their_probe, US, ADDR), Some(THEM));
        let our_probe = parse_arp_frame(&probe_frame(US, ADDR)).unwrap();
        assert_eq!(
            conflict(&our_probe, US, ADDR),
            None,
            "our own probe looped back"
        );
        assert_eq!(parse_arp_frame(&[0u8; 30]), None);
    }

    #[test]
    fn default_plan_fits_the_benchmark_budget() {
        let p = ProbePlan::default();
        assert_eq!(
            p.send_times().collect::<Vec<_>>(),
            [
                Duration::ZERO,
                Duration::from_millis(200),
                Duration::from_millis(400)
            ]
        );
        assert_eq!(p.duration(), Duration::from_millis(800));
    }

    proptest! {
        #[test]
        fn arbitrary_frames_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Some(p) = parse_arp_frame(&bytes) {
                let _ = conflict(&p, US, ADDR);
            }
        }
    }
}
