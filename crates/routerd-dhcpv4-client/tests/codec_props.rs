//! Codec safety: arbitrary bytes and malformed options (wrong lengths, no magic cookie, overlong and
//! truncated options, bit flips) go through the parse path and then into the state machine. Nothing
//! panics, and nothing malformed is accepted: for generated option lists, "parsed" must equal "well
//! formed by RFC 2132/3442" as an independent oracle below states it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed set-up is the test's failure

use dhcproto::v4::{self, DhcpOption, MessageType};
use dhcproto::{Encodable, Encoder};
use proptest::prelude::*;
use routerd_dhcpv4_client::client::{Client, ClientConfig, Command, Input, Output, ProbeResult};
use routerd_dhcpv4_client::lease::usable_address;
use routerd_dhcpv4_client::message::{parse_reply, ClientIdentity, ReplyKind};
use routerd_dhcpv4_client::options::{self, MAGIC_COOKIE};
use routerd_sansio::{Now, Sequence};
use std::net::Ipv4Addr;
use std::time::Duration;

const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const XID: u32 = 0x1234_5678;

/// A BOOTREPLY header for our MAC and xid, with the cookie, followed by `options` (raw bytes).
fn message(options: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 236];
    p[0] = 2;
    p[1] = 1;
    p[2] = 6;
    p[4..8].copy_from_slice(&XID.to_be_bytes());
    p[16..20].copy_from_slice(&[192, 0, 2, 10]);
    p[28..34].copy_from_slice(&MAC);
    p.extend_from_slice(&MAGIC_COOKIE);
    p.extend_from_slice(options);
    p
}

/// Offset of the End option, found by walking the options (255 also occurs inside values).
fn end_option(b: &[u8]) -> usize {
    let mut i = 240;
    loop {
        match b[i] {
            255 => return i,
            0 => i += 1,
            _ => i += 2 + b[i + 1] as usize,
        }
    }
}

fn encoded(m: &v4::Message) -> Vec<u8> {
    let mut buf = Vec::new();
    m.encode(&mut Encoder::new(&mut buf)).unwrap();
    buf
}

fn valid_ack(kind: MessageType) -> Vec<u8> {
    let mut m = v4::Message::new_with_id(
        XID,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::new(192, 0, 2, 10),
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        &MAC,
    );
    m.set_opcode(v4::Opcode::BootReply);
    let o = m.opts_mut();
    o.insert(DhcpOption::MessageType(kind));
    o.insert(DhcpOption::ServerIdentifier(Ipv4Addr::new(192, 0, 2, 1)));
    o.insert(DhcpOption::AddressLeaseTime(600));
    o.insert(DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0)));
    o.insert(DhcpOption::Router(vec![Ipv4Addr::new(192, 0, 2, 1)]));
    o.insert(DhcpOption::DomainNameServer(vec![Ipv4Addr::new(
        192, 0, 2, 53,
    )]));
    o.insert(DhcpOption::DomainName("example.net".into()));
    o.insert(DhcpOption::ClasslessStaticRoute(vec![(
        "203.0.113.0/24".parse().unwrap(),
        Ipv4Addr::new(192, 0, 2, 254),
    )]));
    let mut b = encoded(&m);
    b.resize(300, 0);
    b
}

/// The oracle: is one (concatenated) option value well formed for the client, per RFC 2132 / 3442?
/// `None` for options the client does not interpret (anything goes), `Some(false)` for a malformed
/// one. A NAK message (56) that is not text is dropped, not an error: `None`.
fn well_formed(code: u8, v: &[u8]) -> Option<bool> {
    let ipv4_list = |v: &[u8]| !v.is_empty() && v.len().is_multiple_of(4);
    Some(match code {
        1 => {
            v.len() == 4 && {
                let m = u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
                m != 0 && (!m).wrapping_add(1) & !m == 0
            }
        }
        3 | 6 | 42 => ipv4_list(v),
        28 | 51 | 54 | 58 | 59 => v.len() == 4,
        26 => v.len() == 2,
        53 => v.len() == 1 && (1..=8).contains(&v[0]),
        61 => v.len() >= 2,
        12 | 15 => {
            let end = v.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            end > 0
                && v[..end]
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(b))
        }
        52 => v.len() == 1 && (1..=3).contains(&v[0]),
        121 => {
            let mut i = 0;
            let mut ok = !v.is_empty();
            while ok && i < v.len() {
                let w = v[i];
                let n = (w as usize).div_ceil(8);
                if w > 32 || i + 5 + n > v.len() {
                    ok = false;
                    break;
                }
                let mut d = [0u8; 4];
                d[..n].copy_from_slice(&v[i + 1..i + 1 + n]);
                let host = if w == 0 {
                    u32::MAX
                } else {
                    !(u32::MAX << (32 - w))
                };
                ok = u32::from_be_bytes(d) & host == 0;
                i += 5 + n;
            }
            ok
        }
        _ => return None,
    })
}

/// Option codes worth generating: the interpreted ones, the ones dhcproto asserts on (80, 81, 94, 151,
/// 152) and a few others.
fn code() -> impl Strategy<Value = u8> {
    prop_oneof![
        prop::sample::select(vec![
            1u8, 3, 6, 12, 15, 26, 28, 42, 51, 54, 56, 58, 59, 61, 121, 80, 81, 94, 151, 152, 119,
            43, 125, 250
        ]),
        1u8..=254,
    ]
}

fn option() -> impl Strategy<Value = (u8, Vec<u8>)> {
    (code(), prop::collection::vec(any::<u8>(), 0..24))
}

fn concatenated(list: &[(u8, Vec<u8>)]) -> Vec<(u8, Vec<u8>)> {
    let mut out: Vec<(u8, Vec<u8>)> = Vec::new();
    for (c, v) in list {
        match out.iter_mut().find(|(x, _)| x == c) {
            Some((_, acc)) => acc.extend_from_slice(v),
            None => out.push((*c, v.clone())),
        }
    }
    out
}

fn client() -> (Client, Now) {
    let now = Now::system();
    let config = ClientConfig {
        name: "wan".into(),
        identity: ClientIdentity::for_mac(MAC),
        requested_address: None,
        conflict_probe: true,
        broadcast_flag: false,
    };
    // The first random value is the xid of the DISCOVER.
    let random = Sequence::new(vec![XID, 1000, 77, 1999, 3]);
    (Client::new(config, Box::new(random), None, now), now)
}

/// Invariants that hold whatever the client was fed.
fn check_client(c: &Client) -> Result<(), TestCaseError> {
    if let Some(l) = c.lease() {
        prop_assert!(usable_address(l.address), "bound to {}", l.address);
        prop_assert!(l.lease_time_seconds > 0);
        prop_assert!((1..=32).contains(&l.prefix_length));
        prop_assert!(l.is_infinite() || c.deadline().is_some());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_are_an_error_or_a_reply_never_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..700)) {
        if let Ok(r) = parse_reply(&bytes) {
            // Whatever was accepted went through the strict walk.
            prop_assert!(options::collect(&bytes).is_ok());
            prop_assert!(matches!(r.kind, ReplyKind::Offer | ReplyKind::Ack | ReplyKind::Nak));
        }
    }

    #[test]
    fn arbitrary_options_after_a_valid_header(opts in prop::collection::vec(any::<u8>(), 0..400)) {
        let bytes = message(&opts);
        if parse_reply(&bytes).is_ok() {
            prop_assert!(opts.contains(&255), "accepted without an End option");
        }
    }

    #[test]
    fn accepted_exactly_when_well_formed(list in prop::collection::vec(option(), 0..8), kind in prop::sample::select(vec![2u8, 5, 6])) {
        let mut all = vec![(53u8, vec![kind])];
        all.extend(list.iter().filter(|(c, _)| *c != 53).cloned());
        let mut bytes = Vec::new();
        for (c, v) in &all {
            bytes.push(*c);
            bytes.push(v.len() as u8);
            bytes.extend_from_slice(v);
        }
        bytes.push(255);
        let packet = message(&bytes);
        let joined = concatenated(&all);
        // Overload (52) pulls the zeroed file/sname fields in, which hold no options: no change.
        let expected = joined.iter().all(|(c, v)| well_formed(*c, v) != Some(false));
        let parsed = parse_reply(&packet);
        prop_assert_eq!(parsed.is_ok(), expected, "{:?} -> {:?}", joined, parsed);
        if let Ok(r) = parsed {
            for (c, v) in &joined {
                match c {
                    51 => prop_assert_eq!(r.lease_time, Some(u32::from_be_bytes([v[0], v[1], v[2], v[3]]))),
                    54 => prop_assert_eq!(r.server_id, Some(Ipv4Addr::new(v[0], v[1], v[2], v[3]))),
                    3 => prop_assert_eq!(r.routers.len(), v.len() / 4),
                    26 => prop_assert_eq!(r.mtu, Some(u16::from_be_bytes([v[0], v[1]]))),
                    121 => prop_assert!(r.classless_routes.is_some()),
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn no_magic_cookie_no_reply(cookie in any::<[u8; 4]>()) {
        prop_assume!(cookie != MAGIC_COOKIE);
        let mut b = valid_ack(MessageType::Ack);
        b[236..240].copy_from_slice(&cookie);
        prop_assert!(parse_reply(&b).is_err());
    }

    #[test]
    fn truncated_messages_are_refused_until_the_end_option(cut in 0usize..300) {
        let full = valid_ack(MessageType::Ack);
        let end = end_option(&full);
        let r = parse_reply(&full[..cut]);
        if cut <= end {
            prop_assert!(r.is_err(), "accepted {cut} bytes, End is at {end}");
        } else {
            prop_assert_eq!(r, parse_reply(&full));
        }
    }

    #[test]
    fn overlong_option_lengths_are_refused(which in 0usize..8, extra in 1u8..=255) {
        let mut b = valid_ack(MessageType::Ack);
        // Find the `which`-th option and make its length run past the End option.
        let mut i = 240;
        let mut n = 0;
        while b[i] != 255 {
            if n == which % 8 {
                let end = end_option(&b);
                let needed = (end - (i + 2)) as u8;
                b[i + 1] = needed.saturating_add(extra).max(b[i + 1].saturating_add(1));
                break;
            }
            i += 2 + b[i + 1] as usize;
            n += 1;
        }
        if let Ok(r) = parse_reply(&b) {
            // Only possible when the longer option swallowed the End and landed on another End later
            // in the padding region (there is none: padding is zeros), so never.
            prop_assert!(false, "accepted an overlong option: {r:?}");
        }
    }

    #[test]
    fn bit_flips_never_panic_and_acceptance_implies_the_walk(flips in prop::collection::vec((0usize..300, 0u8..8), 1..6)) {
        let mut b = valid_ack(MessageType::Ack);
        for (at, bit) in flips {
            b[at] ^= 1 << bit;
        }
        if parse_reply(&b).is_ok() {
            prop_assert!(options::collect(&b).is_ok());
        }
    }

    #[test]
    fn round_trip_of_valid_leases(
        addr in any::<[u8; 4]>(),
        prefix in 1u8..=32,
        lease in 1u32..,
        t1 in proptest::option::of(any::<u32>()),
        routers in prop::collection::vec(any::<[u8; 4]>(), 0..4),
        dns in prop::collection::vec(any::<[u8; 4]>(), 0..4),
        domain in "[a-z]{1,12}(\\.[a-z]{2,6})?",
        mtu in any::<u16>(),
        routes in prop::collection::vec((any::<[u8; 4]>(), 0u8..=32, any::<[u8; 4]>()), 0..4),
    ) {
        let mut m = v4::Message::new_with_id(XID, Ipv4Addr::UNSPECIFIED, Ipv4Addr::from(addr), Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED, &MAC);
        m.set_opcode(v4::Opcode::BootReply);
        let mask = Ipv4Addr::from(u32::MAX << (32 - u32::from(prefix)));
        let routes: Vec<_> = routes.into_iter().map(|(d, w, g)| {
            let d = if w == 0 { 0 } else { u32::from_be_bytes(d) & (u32::MAX << (32 - u32::from(w))) };
            (format!("{}/{w}", Ipv4Addr::from(d)).parse().unwrap(), Ipv4Addr::from(g))
        }).collect();
        let o = m.opts_mut();
        o.insert(DhcpOption::MessageType(MessageType::Ack));
        o.insert(DhcpOption::ServerIdentifier(Ipv4Addr::new(192, 0, 2, 1)));
        o.insert(DhcpOption::AddressLeaseTime(lease));
        if let Some(t) = t1 { o.insert(DhcpOption::Renewal(t)); }
        o.insert(DhcpOption::SubnetMask(mask));
        if !routers.is_empty() { o.insert(DhcpOption::Router(routers.iter().map(|r| Ipv4Addr::from(*r)).collect())); }
        if !dns.is_empty() { o.insert(DhcpOption::DomainNameServer(dns.iter().map(|r| Ipv4Addr::from(*r)).collect())); }
        o.insert(DhcpOption::DomainName(domain.clone()));
        o.insert(DhcpOption::InterfaceMtu(mtu));
        if !routes.is_empty() { o.insert(DhcpOption::ClasslessStaticRoute(routes.clone())); }
        let r = parse_reply(&encoded(&m)).unwrap();
        prop_assert_eq!(r.kind, ReplyKind::Ack);
        prop_assert_eq!(r.yiaddr, Ipv4Addr::from(addr));
        prop_assert_eq!(r.prefix_length, Some(prefix));
        prop_assert_eq!(r.lease_time, Some(lease));
        prop_assert_eq!(r.renewal_time, t1);
        prop_assert_eq!(r.routers.len(), routers.len());
        prop_assert_eq!(r.dns_servers.len(), dns.len());
        prop_assert_eq!(r.domain.as_deref(), Some(domain.as_str()));
        prop_assert_eq!(r.mtu, Some(mtu));
        let got: Vec<String> = r.classless_routes.unwrap_or_default().iter().map(|x| format!("{} via {}", x.cidr(), x.gateway)).collect();
        let want: Vec<String> = routes.iter().map(|(n, g)| format!("{n} via {g}")).collect();
        prop_assert_eq!(got, want);
    }

    /// Mutated OFFERs and ACKs with the right xid, timers, probe results and commands, in any order:
    /// the client never panics and never holds a lease that breaks the invariants.
    #[test]
    fn state_machine_survives_whatever_parses(
        steps in prop::collection::vec((0u8..6, prop::collection::vec((0usize..300, any::<u8>()), 0..4), 0u64..5000), 1..40)
    ) {
        let (mut c, mut now) = client();
        c.handle(Input::Start, now);
        let offer = valid_ack(MessageType::Offer);
        let ack = valid_ack(MessageType::Ack);
        let nak = valid_ack(MessageType::Nak);
        for (kind, edits, millis) in steps {
            now = now.after(Duration::from_millis(millis));
            let outputs = match kind {
                0..=2 => {
                    let mut b = [&offer, &ack, &nak][kind as usize].clone();
                    for (at, v) in edits { b[at] = v; }
                    match parse_reply(&b) {
                        Ok(r) => c.handle(Input::Received(&r), now),
                        Err(_) => Vec::new(),
                    }
                }
                3 => c.handle(Input::Timer, now),
                4 => c.handle(Input::Probe(if millis % 2 == 0 { ProbeResult::Clear } else { ProbeResult::Conflict { mac: [2, 0, 0, 0, 0, 9] } }), now),
                _ => c.command([Command::Renew, Command::Rebind, Command::Release][millis as usize % 3], now).unwrap_or_default(),
            };
            for o in &outputs {
                if let Output::Send(t) = o {
                    prop_assert!(t.bytes.len() >= 300, "short message");
                }
            }
            check_client(&c)?;
        }
    }
}

#[test]
fn dhcproto_assertion_traps_are_not_reached() {
    // Lengths dhcproto asserts on in debug builds: Rapid Commit with a value, Client Network Interface
    // of 1 byte, FQDN of 1 byte, status code of 0 bytes, base time of 1 byte.
    for (c, v) in [
        (80u8, vec![1u8]),
        (94, vec![1]),
        (81, vec![1]),
        (151, vec![]),
        (152, vec![1]),
    ] {
        let mut opts = vec![53, 1, 5, c, v.len() as u8];
        opts.extend_from_slice(&v);
        opts.push(255);
        let r = parse_reply(&message(&opts)).expect("unknown options are skipped, not decoded");
        assert_eq!(r.kind, ReplyKind::Ack);
    }
}
