//! The server on a virtual clock: every path of RFC 2131 §4.3 this server takes.

use super::*;
use proptest::prelude::*;
use routerd_proto::dhcpv4::{parse_reply, ParsedReply, RequestBuilder};

const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 0xa];
const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 0xb];
const MAC_R: [u8; 6] = [2, 0, 0, 0, 0, 0x7];

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, last)
}

fn config() -> ServerConfig {
    ServerConfig {
        name: "lan".into(),
        server_address: SERVER,
        prefix_length: 24,
        pool_start: ip(100),
        pool_end: ip(103),
        lease_time: Duration::from_secs(3600),
        gateway: Some(SERVER),
        dns_servers: vec![SERVER],
        domain: Some("home.arpa".into()),
        ntp_servers: vec![],
        reservations: vec![Reservation {
            mac: MAC_R,
            address: ip(50),
            hostname: Some("printer".into()),
        }],
        authoritative: true,
        probe: true,
    }
}

struct World {
    server: Server,
    now: Now,
}

impl World {
    fn new(config: ServerConfig) -> World {
        World {
            server: Server::new(config, []),
            now: Now::system(),
        }
    }
    fn advance(&mut self, d: Duration) -> Vec<Output> {
        self.now = self.now.after(d);
        self.server.timer(self.now)
    }
    fn send(&mut self, b: RequestBuilder) -> Vec<Output> {
        self.server.handle_packet(&b.encode(), self.now)
    }
    fn probe(&mut self, a: Ipv4Addr, in_use: bool) -> Vec<Output> {
        self.server.probe_result(a, in_use, self.now)
    }
    /// DISCOVER → (probe) → OFFER → REQUEST → ACK; the acknowledged address.
    fn lease(&mut self, mac: [u8; 6]) -> Ipv4Addr {
        let out = self.send(discover(mac));
        let offer = match probes(&out).first() {
            Some(&a) => replies(&self.probe(a, false))[0].1.clone(),
            None => replies(&out)[0].1.clone(),
        };
        assert_eq!(offer.kind, MessageType::Offer);
        let out = self.send(select(mac, offer.yiaddr));
        let (_, ack) = &replies(&out)[0];
        assert_eq!(ack.kind, MessageType::Ack);
        ack.yiaddr
    }
}

fn discover(mac: [u8; 6]) -> RequestBuilder {
    RequestBuilder::new(MessageType::Discover, 1, mac)
}

fn select(mac: [u8; 6], a: Ipv4Addr) -> RequestBuilder {
    RequestBuilder::new(MessageType::Request, 2, mac)
        .option(code::SERVER_ID, &SERVER.octets())
        .option(code::REQUESTED_ADDRESS, &a.octets())
}

fn replies(out: &[Output]) -> Vec<(SocketAddrV4, ParsedReply)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(t) => Some((t.to, parse_reply(&t.bytes).unwrap())),
            _ => None,
        })
        .collect()
}

fn probes(out: &[Output]) -> Vec<Ipv4Addr> {
    out.iter()
        .filter_map(|o| match o {
            Output::Probe(a) => Some(*a),
            _ => None,
        })
        .collect()
}

fn topics(out: &[Output]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e.topic.clone()),
            _ => None,
        })
        .collect()
}

fn persisted(out: &[Output]) -> Vec<Lease> {
    out.iter()
        .filter_map(|o| match o {
            Output::Persist(l) => Some(l.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn discover_probes_a_never_used_address_then_offers_with_all_options() {
    let mut w = World::new(config());
    let out = w.send(discover(MAC_A));
    assert_eq!(probes(&out), [ip(100)]);
    assert!(replies(&out).is_empty(), "no offer before the check");
    // A retransmitted DISCOVER while checking starts no second check.
    assert!(probes(&w.send(discover(MAC_A))).is_empty());
    let out = w.probe(ip(100), false);
    let (to, offer) = &replies(&out)[0];
    assert_eq!(*to, SocketAddrV4::new(Ipv4Addr::BROADCAST, 68));
    assert_eq!(offer.kind, MessageType::Offer);
    assert_eq!(offer.yiaddr, ip(100));
    assert_eq!(offer.option(code::SERVER_ID), Some(&SERVER.octets()[..]));
    assert_eq!(
        offer.option(code::SUBNET_MASK),
        Some(&[255, 255, 255, 0][..])
    );
    assert_eq!(offer.option(code::ROUTER), Some(&SERVER.octets()[..]));
    assert_eq!(offer.option(code::DNS_SERVERS), Some(&SERVER.octets()[..]));
    assert_eq!(offer.option(code::DOMAIN_NAME), Some(&b"home.arpa"[..]));
    assert_eq!(
        offer.option(code::LEASE_TIME),
        Some(&3600u32.to_be_bytes()[..])
    );
    assert_eq!(
        offer.option(code::RENEWAL_TIME),
        Some(&1800u32.to_be_bytes()[..])
    );
    assert_eq!(
        offer.option(code::REBINDING_TIME),
        Some(&3150u32.to_be_bytes()[..])
    );
    assert!(persisted(&out).is_empty(), "an offer is not persisted");
}

#[test]
fn answered_check_quarantines_and_tries_the_next_address() {
    let mut w = World::new(config());
    assert_eq!(probes(&w.send(discover(MAC_A))), [ip(100)]);
    let out = w.probe(ip(100), true);
    assert_eq!(topics(&out), [events::LEASE_DECLINED]);
    assert_eq!(probes(&out), [ip(101)]);
    let out = w.probe(ip(101), false);
    assert_eq!(replies(&out)[0].1.yiaddr, ip(101));
    assert_eq!(w.server.lease(ip(100)).unwrap().state, LeaseState::Declined);
}

#[test]
fn selecting_request_is_acknowledged_and_persisted_before_it_is_sent() {
    let mut w = World::new(config());
    let out = w.send(discover(MAC_A));
    w.probe(probes(&out)[0], false);
    let out = w.send(select(MAC_A, ip(100)));
    let persist_at = out
        .iter()
        .position(|o| matches!(o, Output::Persist(_)))
        .unwrap();
    let send_at = out
        .iter()
        .position(|o| matches!(o, Output::Send(_)))
        .unwrap();
    assert!(persist_at < send_at);
    assert_eq!(persisted(&out)[0].state, LeaseState::Bound);
    assert_eq!(topics(&out), [events::LEASE_GRANTED]);
    let (to, ack) = &replies(&out)[0];
    assert_eq!(ack.kind, MessageType::Ack);
    assert_eq!(*to, SocketAddrV4::new(Ipv4Addr::BROADCAST, 68));
    let c = w.server.counts(w.now.wall);
    assert_eq!((c.pool_size, c.active, c.free), (4, 1, 3));
}

#[test]
fn request_for_another_server_frees_the_offer() {
    let mut w = World::new(config());
    let out = w.send(discover(MAC_A));
    w.probe(probes(&out)[0], false);
    let out = w.send(
        RequestBuilder::new(MessageType::Request, 2, MAC_A)
            .option(code::SERVER_ID, &[192, 0, 2, 254])
            .option(code::REQUESTED_ADDRESS, &ip(120).octets()),
    );
    assert!(replies(&out).is_empty());
    assert!(w.server.lease(ip(100)).is_none());
}

#[test]
fn selecting_an_address_not_offered_is_naked() {
    let mut w = World::new(config());
    let out = w.send(select(MAC_A, ip(101)));
    let (to, nak) = &replies(&out)[0];
    assert_eq!(nak.kind, MessageType::Nak);
    assert_eq!(*to, SocketAddrV4::new(Ipv4Addr::BROADCAST, 68));
    assert_eq!(topics(&out), [events::NAK_SENT]);
}

#[test]
fn the_client_gets_its_previous_address_back_without_a_check() {
    let mut w = World::new(config());
    let a = w.lease(MAC_A);
    let b = w.lease(MAC_B);
    assert_ne!(a, b);
    // Released, then DISCOVER again: the same address, no probe.
    let out = w.send(
        RequestBuilder::new(MessageType::Release, 3, MAC_A)
            .option(code::SERVER_ID, &SERVER.octets())
            .ciaddr_(a),
    );
    assert_eq!(topics(&out), [events::LEASE_RELEASED]);
    let out = w.send(discover(MAC_A));
    assert!(probes(&out).is_empty());
    assert_eq!(replies(&out)[0].1.yiaddr, a);
}

trait Ciaddr {
    fn ciaddr_(self, a: Ipv4Addr) -> Self;
}
impl Ciaddr for RequestBuilder {
    fn ciaddr_(mut self, a: Ipv4Addr) -> Self {
        self.ciaddr = a;
        self
    }
}

#[test]
fn init_reboot_confirms_own_address_and_naks_foreign_or_other_network() {
    let mut w = World::new(config());
    let a = w.lease(MAC_A);
    let reboot = |mac, addr: Ipv4Addr| {
        RequestBuilder::new(MessageType::Request, 5, mac)
            .option(code::REQUESTED_ADDRESS, &addr.octets())
    };
    let out = w.send(reboot(MAC_A, a));
    assert_eq!(replies(&out)[0].1.kind, MessageType::Ack);
    assert_eq!(topics(&out), [events::LEASE_RENEWED]);
    // Another client asking for A's address.
    let out = w.send(reboot(MAC_B, a));
    assert_eq!(replies(&out)[0].1.kind, MessageType::Nak);
    // An address of another network.
    let out = w.send(reboot(MAC_B, Ipv4Addr::new(10, 0, 0, 5)));
    assert_eq!(replies(&out)[0].1.kind, MessageType::Nak);
    // A free pool address the server has no record of (its journal was lost): granted.
    let out = w.send(reboot(MAC_B, ip(103)));
    assert_eq!(replies(&out)[0].1.kind, MessageType::Ack);
}

#[test]
fn not_authoritative_stays_silent_about_foreign_addresses() {
    let mut c = config();
    c.authoritative = false;
    let mut w = World::new(c);
    let out = w.send(
        RequestBuilder::new(MessageType::Request, 5, MAC_A)
            .option(code::REQUESTED_ADDRESS, &ip(50).octets()),
    );
    assert!(replies(&out).is_empty());
    // Still NAKs an address of another network (RFC 2131 §4.3.2).
    let out = w.send(
        RequestBuilder::new(MessageType::Request, 5, MAC_A)
            .option(code::REQUESTED_ADDRESS, &[10, 0, 0, 1]),
    );
    assert_eq!(replies(&out)[0].1.kind, MessageType::Nak);
}

#[test]
fn renewing_is_unicast_to_the_client_and_rebinding_too() {
    let mut w = World::new(config());
    let a = w.lease(MAC_A);
    w.advance(Duration::from_secs(1800));
    let out = w.send(RequestBuilder::new(MessageType::Request, 6, MAC_A).ciaddr_(a));
    let (to, ack) = &replies(&out)[0];
    assert_eq!(ack.kind, MessageType::Ack);
    assert_eq!(*to, SocketAddrV4::new(a, 68));
    assert_eq!(topics(&out), [events::LEASE_RENEWED]);
    let expires = w.server.lease(a).unwrap().expires_at;
    assert_eq!(
        expires,
        w.now.wall.saturating_add(Duration::from_secs(3600))
    );
    // Renewing an address the client does not hold: NAK, broadcast.
    let out = w.send(RequestBuilder::new(MessageType::Request, 7, MAC_B).ciaddr_(a));
    let (to, nak) = &replies(&out)[0];
    assert_eq!(nak.kind, MessageType::Nak);
    assert_eq!(to.ip(), &Ipv4Addr::BROADCAST);
}

#[test]
fn decline_quarantines_until_the_quarantine_ends() {
    let mut c = config();
    c.pool_end = ip(100);
    let mut w = World::new(c);
    let a = w.lease(MAC_A);
    let out = w.send(
        RequestBuilder::new(MessageType::Decline, 8, MAC_A)
            .option(code::SERVER_ID, &SERVER.octets())
            .option(code::REQUESTED_ADDRESS, &a.octets()),
    );
    assert_eq!(topics(&out), [events::LEASE_DECLINED]);
    assert_eq!(persisted(&out)[0].state, LeaseState::Declined);
    // The only address is quarantined: nothing to offer, to anyone.
    let out = w.send(discover(MAC_B));
    assert_eq!(topics(&out), [events::POOL_EXHAUSTED]);
    assert!(replies(&w.send(discover(MAC_A))).is_empty());
    w.advance(DECLINE_QUARANTINE + Duration::from_secs(1));
    let out = w.send(discover(MAC_B));
    assert_eq!(replies(&out)[0].1.yiaddr, a);
}

#[test]
fn release_frees_the_address_for_others() {
    let mut c = config();
    c.pool_end = ip(100);
    let mut w = World::new(c);
    let a = w.lease(MAC_A);
    assert!(replies(&w.send(discover(MAC_B))).is_empty());
    // A release by another client of A's address is ignored.
    let out = w.send(RequestBuilder::new(MessageType::Release, 9, MAC_B).ciaddr_(a));
    assert!(topics(&out).is_empty());
    let out = w.send(RequestBuilder::new(MessageType::Release, 9, MAC_A).ciaddr_(a));
    assert_eq!(persisted(&out)[0].state, LeaseState::Released);
    assert_eq!(w.lease(MAC_B), a);
}

#[test]
fn inform_is_answered_with_options_and_no_lease() {
    let mut w = World::new(config());
    let out = w.send(RequestBuilder::new(MessageType::Inform, 10, MAC_A).ciaddr_(ip(20)));
    let (to, ack) = &replies(&out)[0];
    assert_eq!(*to, SocketAddrV4::new(ip(20), 68));
    assert_eq!(ack.kind, MessageType::Ack);
    assert_eq!(ack.yiaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(ack.option(code::LEASE_TIME), None);
    assert_eq!(ack.option(code::DNS_SERVERS), Some(&SERVER.octets()[..]));
}

#[test]
fn reservations_win_and_are_never_given_to_others() {
    let mut c = config();
    c.reservations.push(Reservation {
        mac: MAC_B,
        address: ip(101),
        hostname: None,
    });
    let mut w = World::new(c);
    // A asks for B's reserved address: not given.
    let out = w.send(discover(MAC_A).option(code::REQUESTED_ADDRESS, &ip(101).octets()));
    assert_eq!(probes(&out), [ip(100)]);
    w.probe(ip(100), false);
    // The reserved client gets its address (outside the pool too), with its host name.
    let out = w.send(discover(MAC_R).option(code::REQUESTED_ADDRESS, &ip(102).octets()));
    let a = probes(&out)[0];
    assert_eq!(a, ip(50));
    let out = w.probe(a, false);
    assert_eq!(
        replies(&out)[0].1.option(code::HOSTNAME),
        Some(&b"printer"[..])
    );
    let out = w.send(select(MAC_R, ip(50)));
    assert_eq!(replies(&out)[0].1.kind, MessageType::Ack);
    assert_eq!(
        w.server.lease(ip(50)).unwrap().hostname.as_deref(),
        Some("printer")
    );
    // The reserved client may not confirm some other address.
    let out = w.send(
        RequestBuilder::new(MessageType::Request, 5, MAC_R)
            .option(code::REQUESTED_ADDRESS, &ip(103).octets()),
    );
    assert_eq!(replies(&out)[0].1.kind, MessageType::Nak);
}

#[test]
fn the_client_identifier_is_the_identity_and_is_echoed() {
    let mut w = World::new(config());
    let id = [0xff, 1, 2, 3, 4];
    // Two DISCOVERs with the same client id from different MACs are one client.
    let out = w.send(discover(MAC_A).option(code::CLIENT_ID, &id));
    let a = probes(&out)[0];
    let out = w.probe(a, false);
    assert_eq!(replies(&out)[0].1.option(code::CLIENT_ID), Some(&id[..]));
    let out = w.send(select(MAC_B, a).option(code::CLIENT_ID, &id));
    assert_eq!(replies(&out)[0].1.kind, MessageType::Ack);
    assert_eq!(
        w.server.lease(a).unwrap().client_id.as_deref(),
        Some("ff01020304")
    );
    // Without the id, MAC_A is another client.
    let out = w.send(discover(MAC_A));
    assert_ne!(
        probes(&out)
            .first()
            .copied()
            .or(replies(&out).first().map(|r| r.1.yiaddr)),
        Some(a)
    );
}

#[test]
fn relayed_requests_are_answered_through_the_relay_with_option_82() {
    let mut w = World::new(config());
    let relay = ip(254);
    let mut d = discover(MAC_A).option(code::RELAY_AGENT_INFO, &[1, 3, b'e', b't', b'h']);
    d.giaddr = relay;
    let out = w.send(d);
    let out = w.probe(probes(&out)[0], false);
    let (to, offer) = &replies(&out)[0];
    assert_eq!(*to, SocketAddrV4::new(relay, 67));
    assert_eq!(offer.giaddr, relay);
    assert_eq!(
        offer.option(code::RELAY_AGENT_INFO),
        Some(&[1, 3, b'e', b't', b'h'][..])
    );
    // A NAK through the relay has the broadcast bit.
    let mut r = select(MAC_B, ip(103));
    r.giaddr = relay;
    let (to, nak) = &replies(&w.send(r))[0];
    assert_eq!(*to, SocketAddrV4::new(relay, 67));
    assert_eq!(nak.flags & BROADCAST_FLAG, BROADCAST_FLAG);
    // A relay from another subnet is not ours.
    let mut d = discover(MAC_B);
    d.giaddr = Ipv4Addr::new(10, 9, 9, 1);
    assert!(w.send(d).iter().all(|o| matches!(o, Output::Note(_))));
}

#[test]
fn leases_expire_and_expired_addresses_are_reused_oldest_first() {
    let mut c = config();
    c.pool_end = ip(101);
    let mut w = World::new(c);
    let a = w.lease(MAC_A);
    w.advance(Duration::from_secs(10));
    let b = w.lease(MAC_B);
    let out = w.advance(Duration::from_secs(3590));
    assert_eq!(topics(&out), [events::LEASE_EXPIRED]);
    assert_eq!(w.server.lease(a).unwrap().state, LeaseState::Expired);
    let out = w.advance(Duration::from_secs(10));
    assert_eq!(topics(&out), [events::LEASE_EXPIRED]);
    assert_eq!(w.server.counts(w.now.wall).free, 2);
    // A new client gets A's address: expired longest ago.
    let c_mac = [2, 0, 0, 0, 0, 0xc];
    let out = w.send(discover(c_mac));
    assert!(probes(&out).is_empty());
    assert_eq!(replies(&out)[0].1.yiaddr, a);
    let _ = b;
}

#[test]
fn offers_that_are_not_taken_lapse() {
    let mut c = config();
    c.pool_end = ip(100);
    let mut w = World::new(c);
    let out = w.send(discover(MAC_A));
    w.probe(probes(&out)[0], false);
    assert!(replies(&w.send(discover(MAC_B))).is_empty());
    w.advance(OFFER_HOLD + SWEEP);
    assert!(w.server.lease(ip(100)).is_none());
    let out = w.send(discover(MAC_B));
    assert_eq!(probes(&out), [ip(100)]);
}

#[test]
fn pool_exhausted_is_reported_at_most_once_a_minute() {
    let mut c = config();
    c.pool_end = ip(100);
    let mut w = World::new(c);
    w.lease(MAC_A);
    assert_eq!(topics(&w.send(discover(MAC_B))), [events::POOL_EXHAUSTED]);
    assert!(topics(&w.send(discover(MAC_B))).is_empty());
    w.advance(Duration::from_secs(61));
    assert_eq!(topics(&w.send(discover(MAC_B))), [events::POOL_EXHAUSTED]);
}

#[test]
fn restored_leases_are_kept_after_a_restart() {
    let mut w = World::new(config());
    let a = w.lease(MAC_A);
    let records: Vec<Lease> = w.server.leases().into_iter().cloned().collect();
    let mut w2 = World {
        server: Server::new(config(), records),
        now: w.now,
    };
    // The other client does not get A's address; A renews it.
    assert_ne!(w2.lease(MAC_B), a);
    let out = w2.send(RequestBuilder::new(MessageType::Request, 6, MAC_A).ciaddr_(a));
    assert_eq!(replies(&out)[0].1.kind, MessageType::Ack);
    assert!(w2.server.last_lease_at().is_some());
}

#[test]
fn no_duplicate_address_under_many_clients() {
    let mut c = config();
    c.pool_start = ip(2);
    c.pool_end = ip(250);
    c.probe = false;
    let mut w = World::new(c);
    let mut seen = std::collections::HashSet::new();
    for i in 0..248u8 {
        let a = w.lease([2, 1, 0, 0, 0, i]);
        assert!(seen.insert(a), "{a} handed out twice");
    }
    assert_eq!(w.server.counts(w.now.wall).free, 0);
}

proptest! {
    #[test]
    fn arbitrary_datagrams_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut w = World::new(config());
        let _ = w.server.handle_packet(&bytes, w.now);
    }

    #[test]
    fn arbitrary_requests_never_panic_or_duplicate(
        msgs in proptest::collection::vec((1u8..=8, 0u8..4, 0u8..8, any::<bool>(), any::<bool>()), 1..60)
    ) {
        let mut c = config();
        c.probe = false;
        let mut w = World::new(c);
        for (kind, mac, addr, sid, ci) in msgs {
            let Some(kind) = MessageType::from_u8(kind) else { continue };
            let mut b = RequestBuilder::new(kind, 1, [2, 0, 0, 0, 1, mac])
                .option(code::REQUESTED_ADDRESS, &ip(98 + addr).octets());
            if sid { b = b.option(code::SERVER_ID, &SERVER.octets()); }
            if ci { b.ciaddr = ip(98 + addr); }
            let _ = w.send(b);
            w.advance(Duration::from_secs(7));
            let bound: Vec<_> = w.server.leases().into_iter()
                .filter(|l| l.state == LeaseState::Bound).map(|l| l.client_key()).collect();
            let unique: std::collections::HashSet<_> = bound.iter().collect();
            prop_assert_eq!(unique.len(), bound.len(), "a client holds two bound leases");
        }
    }
}
