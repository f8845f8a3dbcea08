//! `routerd-bench conntrack-fill`: fills the conntrack table of the current network namespace with a
//! deterministic synthetic population over ctnetlink (batched create requests: 100k entries in about a
//! second, where one `conntrack -I` process per entry takes minutes). The e2e scenario and the bench
//! compare `/connections` with `conntrack -L` on it.
//!
//! Entry `i` (of `first..first+count`):
//! - every 10th is IPv6, the rest IPv4; 60% TCP `ESTABLISHED` (assured), 40% UDP (every other replied);
//! - source `10.(100+i/8000).x.y` or `2001:db8:(100+i/8000)::(i%8000)`, so each `/16` (IPv4) or `/48`
//!   (IPv6) holds at most 8000 entries and a full comparison can be done in slices under `limit`;
//! - source port `30000 + i % 30000`, destination port `10000 + i % 500` to `198.18.0.1` /
//!   `2001:db8:ffff::1` (so `port=10007` and `--dport 10007` select the same entries);
//! - every 5th IPv4 entry source-NATed to `203.0.113.(1 + i % 250)` port `1024 + i/5` (unique up to
//!   320k entries), every 7th destination-NATed to
//!   `10.200.0.1`; mark `i % 4`; zone 5 for every 50th; timeout one hour.

use routerd_host::KernelConntrack;
use routerd_proto::netfilter::conntrack::{
    ConntrackEntry, Status, TcpState, Tuple, IPPROTO_TCP, IPPROTO_UDP,
};
use routerd_proto::netfilter::nlattr::{AF_INET, AF_INET6};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

/// Entries per source `/16` (IPv4) or `/48` (IPv6).
pub const PER_SLICE: u32 = 8000;

/// Entry number `i` of the population.
pub fn entry(i: u32) -> ConntrackEntry {
    let v6 = i % 10 == 9;
    let tcp = i % 5 < 3;
    let protocol = if tcp { IPPROTO_TCP } else { IPPROTO_UDP };
    let slice = 100 + i / PER_SLICE;
    let within = i % PER_SLICE;
    let (src, dst): (IpAddr, IpAddr) = if v6 {
        (
            IpAddr::V6(Ipv6Addr::new(
                0x2001,
                0xdb8,
                slice as u16,
                0,
                0,
                0,
                0,
                within as u16,
            )),
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 1)),
        )
    } else {
        (
            IpAddr::V4(Ipv4Addr::new(
                10,
                slice as u8,
                (within >> 8) as u8,
                within as u8,
            )),
            IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)),
        )
    };
    let sport = 30000 + (i % 30000) as u16;
    let dport = 10000 + (i % 500) as u16;
    let original = Tuple::with_ports(protocol, src, sport, dst, dport);
    let mut reply = Tuple::with_ports(protocol, dst, dport, src, sport);
    if !v6 && i.is_multiple_of(5) {
        reply.dst = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1 + (i % 250) as u8));
        // A reply tuple must be unique in the table as much as an original one: one NAT port per entry.
        reply.dst_port = Some(1024 + ((i / 5) % 64000) as u16);
    }
    if !v6 && i.is_multiple_of(7) {
        reply.src = IpAddr::V4(Ipv4Addr::new(10, 200, 0, 1));
    }
    let status = if tcp || i.is_multiple_of(2) {
        Status::SEEN_REPLY | if tcp { Status::ASSURED } else { 0 }
    } else {
        0
    };
    ConntrackEntry {
        family: if v6 { AF_INET6 } else { AF_INET },
        protocol,
        original,
        reply,
        tcp_state: tcp.then_some(TcpState::Established),
        timeout: Some(3600),
        mark: Some(i % 4),
        zone: i.is_multiple_of(50).then_some(5),
        status: Status(status),
        original_counters: None,
        reply_counters: None,
        id: None,
    }
}

/// Creates entries `first..first+count` in the current namespace's table and reports the rate.
pub fn run(first: u32, count: u32) -> anyhow::Result<()> {
    let started = Instant::now();
    let created =
        KernelConntrack.create_entries(&mut (first..first.saturating_add(count)).map(entry))?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "  conntrack-fill: created {created} entries in {secs:.2} s ({:.0}/s)",
        created as f64 / secs.max(1e-9)
    );
    Ok(())
}
