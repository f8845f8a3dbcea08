//! Virtual-clock tests of every transition and of the retransmission schedules. Servers' replies are
//! built with dhcproto and go through the real parser, so these also exercise the codec end to end.

use super::*;
use crate::message::parse_reply;
use crate::message::tests::{bytes, server_reply, MAC};
use crate::options::ClasslessRoute;
use crate::status::{InterfaceState, StatusProjection};
use dhcproto::v4::{self, DhcpOption, MessageType, OptionCode};
use dhcproto::{Decodable, Decoder};
use routerd_api::{Phase, Timestamp};
use routerd_sansio::Sequence;

const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const OTHER_SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const PEER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x99];

/// Random values: xids are these numbers; `below(2001)` of 1000 is zero jitter.
fn mid_random() -> Box<dyn Random> {
    Box::new(Sequence::new((0..64).map(|k| 1000 + 2001 * k).collect()))
}

fn config(probe: bool) -> ClientConfig {
    ClientConfig {
        name: "wan".into(),
        identity: ClientIdentity::for_mac(MAC),
        requested_address: None,
        conflict_probe: probe,
        broadcast_flag: false,
    }
}

struct Harness {
    client: Client,
    now: Now,
    start: Now,
}

impl Harness {
    fn new(probe: bool) -> Harness {
        Harness::with(config(probe), None)
    }

    fn with(config: ClientConfig, remembered: Option<Lease>) -> Harness {
        let now = Now {
            mono: Instant::now(),
            wall: Timestamp(1_795_459_200_000_000_000),
        };
        Harness {
            client: Client::new(config, mid_random(), remembered, now),
            now,
            start: now,
        }
    }

    fn elapsed(&self) -> Duration {
        self.now.mono - self.start.mono
    }

    fn advance(&mut self, d: Duration) {
        self.now = self.now.after(d);
    }

    fn input(&mut self, input: Input<'_>) -> Vec<Output> {
        self.client.handle(input, self.now)
    }

    fn start(&mut self) -> Vec<Output> {
        self.input(Input::Start)
    }

    /// Advances to the next deadline and fires it; returns the wait and what happened.
    fn fire(&mut self) -> (Duration, Vec<Output>) {
        let d = self.client.deadline().expect("a deadline");
        let wait = d.saturating_duration_since(self.now.mono);
        self.advance(wait);
        (wait, self.input(Input::Timer))
    }

    fn deliver(&mut self, m: &v4::Message) -> Vec<Output> {
        let reply = parse_reply(&bytes(m)).expect("a valid reply");
        self.input(Input::Received(&reply))
    }

    fn xid(&self) -> u32 {
        self.client.xid
    }

    fn offer(&self) -> v4::Message {
        server_reply(MessageType::Offer, self.xid(), ADDR)
    }

    fn ack(&self) -> v4::Message {
        server_reply(MessageType::Ack, self.xid(), ADDR)
    }

    fn nak(&self) -> v4::Message {
        server_reply(MessageType::Nak, self.xid(), Ipv4Addr::UNSPECIFIED)
    }

    /// Start → DISCOVER → OFFER → REQUEST → ACK (→ probe clear): BOUND.
    fn bind(&mut self) -> Vec<Output> {
        self.start();
        self.deliver(&self.offer());
        let mut out = self.deliver(&self.ack());
        if self.client.config.conflict_probe {
            out = self.input(Input::Probe(ProbeResult::Clear));
        }
        assert_eq!(self.client.state(), State::Bound);
        out
    }
}

fn sent(out: &[Output]) -> Vec<&Transmit> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(t) => Some(t),
            _ => None,
        })
        .collect()
}

fn one_sent(out: &[Output]) -> &Transmit {
    let s = sent(out);
    assert_eq!(s.len(), 1, "{out:#?}");
    s[0]
}

fn topics(out: &[Output]) -> Vec<&str> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e.topic.as_str()),
            _ => None,
        })
        .collect()
}

fn event<'a>(out: &'a [Output], topic: &str) -> &'a NewEvent {
    out.iter()
        .find_map(|o| match o {
            Output::Event(e) if e.topic == topic => Some(e),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no {topic} in {out:#?}"))
}

fn changes(out: &[Output]) -> Vec<&LeaseChange> {
    out.iter()
        .filter_map(|o| match o {
            Output::Lease(c) => Some(c),
            _ => None,
        })
        .collect()
}

fn notes(out: &[Output]) -> String {
    out.iter()
        .filter_map(|o| match o {
            Output::Note(n) => Some(n.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The message on the wire, decoded again.
fn wire(t: &Transmit) -> v4::Message {
    v4::Message::decode(&mut Decoder::new(&t.bytes)).unwrap()
}

fn opt(m: &v4::Message, code: OptionCode) -> Option<DhcpOption> {
    m.opts().get(code).cloned()
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[test]
fn init_selecting_requesting_probe_bound() {
    let mut h = Harness::new(true);
    assert_eq!(h.client.deadline(), None, "nothing before start");
    let out = h.start();
    assert_eq!(h.client.state(), State::Selecting);
    let d = one_sent(&out);
    assert_eq!(d.outgoing.kind, ClientMessage::Discover);
    assert_eq!(d.destination, Destination::Broadcast);
    assert_eq!(d.source, Ipv4Addr::UNSPECIFIED);
    assert_eq!(d.bytes.len(), 300);
    let m = wire(d);
    assert_eq!(m.xid(), h.xid());
    assert!(
        !m.flags().broadcast(),
        "no broadcast flag: the packet socket takes unicast"
    );
    assert_eq!(
        opt(&m, OptionCode::ClientIdentifier),
        Some(DhcpOption::ClientIdentifier(vec![
            1, 2, 0, 0x5e, 0x10, 0, 1
        ]))
    );
    assert_eq!(topics(&out), [events::DISCOVER_SENT]);

    h.advance(Duration::from_millis(1500));
    let out = h.deliver(&h.offer());
    assert_eq!(h.client.state(), State::Requesting);
    assert_eq!(topics(&out), [events::OFFER_RECEIVED, events::REQUEST_SENT]);
    let offer = event(&out, events::OFFER_RECEIVED);
    assert_eq!(offer.attributes["address"], "192.0.2.10");
    assert_eq!(offer.attributes["serverID"], "192.0.2.1");
    assert_eq!(offer.attributes["gateway"], "192.0.2.1");
    assert_eq!(offer.attributes["leaseTimeSeconds"], "3600");
    let r = one_sent(&out);
    let m = wire(r);
    assert_eq!(r.outgoing.kind, ClientMessage::Request);
    assert_eq!(r.destination, Destination::Broadcast);
    assert_eq!(m.xid(), h.xid(), "the REQUEST carries the offer's xid");
    assert_eq!(m.secs(), 1, "secs counts from the DISCOVER");
    assert_eq!(m.ciaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(
        opt(&m, OptionCode::RequestedIpAddress),
        Some(DhcpOption::RequestedIpAddress(ADDR))
    );
    assert_eq!(
        opt(&m, OptionCode::ServerIdentifier),
        Some(DhcpOption::ServerIdentifier(SERVER))
    );
    let request_time = h.now;

    h.advance(Duration::from_millis(20));
    let out = h.deliver(&h.ack());
    assert_eq!(
        out,
        [Output::Probe(ADDR)],
        "an ACKed address is probed first"
    );
    assert_eq!(h.client.state(), State::Requesting);
    assert_eq!(h.client.probing(), Some(ADDR));
    assert_eq!(h.client.deadline(), Some(h.now.mono + PROBE_GUARD));
    assert!(h.client.lease().is_none());

    h.advance(Duration::from_millis(800));
    let out = h.input(Input::Probe(ProbeResult::Clear));
    assert_eq!(h.client.state(), State::Bound);
    let bound = event(&out, events::LEASE_BOUND);
    for (k, v) in [
        ("address", "192.0.2.10"),
        ("gateway", "192.0.2.1"),
        ("serverID", "192.0.2.1"),
        ("leaseTimeSeconds", "3600"),
        ("resource.kind", "DHCPv4Client"),
        ("resource.name", "wan"),
        ("state", "Requesting"),
    ] {
        assert_eq!(bound.attributes[k], v, "{k}");
    }
    assert_eq!(bound.time, h.now.wall, "events carry the injected time");
    let [LeaseChange::Bound(lease)] = changes(&out)[..] else {
        panic!("{out:#?}")
    };
    assert_eq!(lease.address, ADDR);
    assert_eq!(lease.prefix_length, 24);
    assert_eq!(
        lease.acquired_at, request_time.wall,
        "the lease starts when the REQUEST was sent"
    );
    // T1 is counted from the REQUEST, not from the ACK or the end of the probe.
    assert_eq!(
        h.client.deadline(),
        Some(request_time.mono + Duration::from_secs(1800))
    );
}

#[test]
fn discover_retransmits_at_4_8_16_32_64_64_seconds_with_jitter() {
    let mut h = Harness::new(false);
    // Jitter: -1 s, +1 s, 0, -0.5 s, +0.25 s, ... (below(2001) of these values).
    let values = [0u32, 2000, 1000, 500, 1250, 1000, 0];
    h.client.random = Box::new(Sequence::new(
        std::iter::once(0xabcd_0001).chain(values).collect(),
    ));
    h.start();
    let xid = h.xid();
    assert_eq!(xid, 0xabcd_0001);
    let mut waits = Vec::new();
    let mut secs_field = Vec::new();
    for _ in 0..6 {
        let (wait, out) = h.fire();
        waits.push(secs(wait));
        let d = one_sent(&out);
        assert_eq!(d.outgoing.kind, ClientMessage::Discover);
        assert_eq!(d.outgoing.xid, xid, "retransmissions keep the xid");
        secs_field.push(d.outgoing.secs);
        assert!(
            topics(&out).is_empty(),
            "discover.sent only for the first transmission"
        );
    }
    assert_eq!(waits, [3.0, 9.0, 16.0, 31.5, 64.25, 64.0]);
    assert_eq!(
        secs_field,
        [3, 12, 28, 59, 123, 187],
        "secs since the exchange began"
    );
}

#[test]
fn requesting_gives_up_after_four_requests_and_discovers_again() {
    let mut h = Harness::new(false);
    h.start();
    h.deliver(&h.offer());
    let first_xid = h.xid();
    let mut waits = Vec::new();
    for _ in 0..3 {
        let (wait, out) = h.fire();
        waits.push(secs(wait));
        assert_eq!(one_sent(&out).outgoing.kind, ClientMessage::Request);
    }
    assert_eq!(waits, [4.0, 8.0, 16.0]);
    let (wait, out) = h.fire();
    assert_eq!(secs(wait), 32.0);
    assert_eq!(h.client.state(), State::Selecting);
    let d = one_sent(&out);
    assert_eq!(d.outgoing.kind, ClientMessage::Discover);
    assert_eq!(
        d.outgoing.requested_address,
        Some(ADDR),
        "asks for the offered address again"
    );
    assert!(notes(&out).contains("no answer to 4 DHCPREQUESTs"));
    let _ = first_xid;
}

#[test]
fn renewing_unicasts_at_t1_and_retransmits_halfway_to_t2() {
    let mut h = Harness::new(false);
    h.bind();
    let (wait, out) = h.fire();
    assert_eq!(secs(wait), 1800.0);
    assert_eq!(h.client.state(), State::Renewing);
    let r = one_sent(&out);
    let m = wire(r);
    assert_eq!(r.destination, Destination::Unicast(SERVER));
    assert_eq!(r.source, ADDR);
    assert_eq!(m.ciaddr(), ADDR, "RENEWING sets ciaddr");
    assert_eq!(
        opt(&m, OptionCode::RequestedIpAddress),
        None,
        "no option 50 when renewing"
    );
    assert_eq!(
        opt(&m, OptionCode::ServerIdentifier),
        None,
        "no option 54 when renewing"
    );
    assert_eq!(topics(&out), [events::REQUEST_SENT]);
    // Retransmissions: half the time left to T2 (3150 s), at least 60 s.
    let mut at = Vec::new();
    loop {
        let (_, out) = h.fire();
        if h.client.state() != State::Renewing {
            assert_eq!(h.client.state(), State::Rebinding);
            let b = one_sent(&out);
            assert_eq!(b.destination, Destination::Broadcast);
            assert_eq!(wire(b).ciaddr(), ADDR, "REBINDING keeps ciaddr");
            assert_eq!(secs(h.elapsed()), 3150.0, "rebinding at T2");
            break;
        }
        assert_eq!(one_sent(&out).destination, Destination::Unicast(SERVER));
        at.push(secs(h.elapsed()));
    }
    assert_eq!(at, [2475.0, 2812.5, 2981.25, 3065.625, 3125.625]);
    // Rebinding retransmits halfway to expiry with the same floor: 3150 + 225 = 3375, + 112.5 ...
    let (_, out) = h.fire();
    assert_eq!(h.client.state(), State::Rebinding);
    assert_eq!(one_sent(&out).destination, Destination::Broadcast);
    assert_eq!(secs(h.elapsed()), 3375.0);
    let (_, out) = h.fire();
    assert_eq!(secs(h.elapsed()), 3487.5);
    assert_eq!(sent(&out).len(), 1);
    let (_, out) = h.fire();
    assert_eq!(secs(h.elapsed()), 3547.5);
    assert_eq!(sent(&out).len(), 1);
    // 52.5 s left: the floor reaches expiry, so the next step is the expiry itself.
    let (_, out) = h.fire();
    assert_eq!(secs(h.elapsed()), 3600.0);
    assert_eq!(topics(&out), [events::LEASE_EXPIRED, events::DISCOVER_SENT]);
    assert!(matches!(changes(&out)[..], [LeaseChange::Expired(l)] if l.address == ADDR));
    assert_eq!(h.client.state(), State::Selecting);
    assert_eq!(
        one_sent(&out).outgoing.requested_address,
        Some(ADDR),
        "after expiry the client asks for its old address"
    );
    let expired = event(&out, events::LEASE_EXPIRED);
    assert_eq!(expired.attributes["address"], "192.0.2.10");
    assert_eq!(expired.severity, Severity::Warning);
}

#[test]
fn ack_in_renewing_renews_from_the_request_time() {
    let mut h = Harness::new(false);
    h.bind();
    h.fire();
    let renew_sent = h.now;
    h.advance(Duration::from_millis(3));
    let out = h.deliver(&h.ack());
    assert_eq!(h.client.state(), State::Bound);
    assert_eq!(topics(&out), [events::LEASE_RENEWED]);
    let [LeaseChange::Renewed(l)] = changes(&out)[..] else {
        panic!("{out:#?}")
    };
    assert_eq!(l.acquired_at, renew_sent.wall);
    assert_eq!(
        h.client.deadline(),
        Some(renew_sent.mono + Duration::from_secs(1800))
    );
    // A late duplicate of the ACK is ignored.
    let out = h.deliver(&h.ack());
    assert!(changes(&out).is_empty());
    assert!(notes(&out).contains("ignored"), "{out:#?}");
}

#[test]
fn ack_in_rebinding_from_another_server_rebinds() {
    let mut h = Harness::new(false);
    h.bind();
    h.client.command(Command::Rebind, h.now).unwrap();
    assert_eq!(h.client.state(), State::Rebinding);
    let mut ack = h.ack();
    ack.opts_mut()
        .insert(DhcpOption::ServerIdentifier(OTHER_SERVER));
    let out = h.deliver(&ack);
    assert_eq!(topics(&out), [events::LEASE_REBOUND]);
    let [LeaseChange::Rebound(l)] = changes(&out)[..] else {
        panic!("{out:#?}")
    };
    assert_eq!(
        l.server_id, OTHER_SERVER,
        "the new server is the one to renew with"
    );
    h.fire();
    assert_eq!(
        one_sent(&h.client.command(Command::Renew, h.now).unwrap()).destination,
        Destination::Unicast(OTHER_SERVER)
    );
}

#[test]
fn renewing_ignores_an_ack_from_another_server_and_another_address() {
    let mut h = Harness::new(false);
    h.bind();
    h.fire();
    let mut ack = h.ack();
    ack.opts_mut()
        .insert(DhcpOption::ServerIdentifier(OTHER_SERVER));
    assert!(changes(&h.deliver(&ack)).is_empty());
    let other = server_reply(MessageType::Ack, h.xid(), Ipv4Addr::new(192, 0, 2, 77));
    let out = h.deliver(&other);
    assert!(changes(&out).is_empty());
    assert!(notes(&out).contains("we hold 192.0.2.10"));
    assert_eq!(h.client.state(), State::Renewing);
}

#[test]
fn short_lease_renews_no_sooner_than_ten_seconds() {
    let mut h = Harness::new(false);
    h.start();
    let mut offer = h.offer();
    offer.opts_mut().insert(DhcpOption::AddressLeaseTime(20));
    h.deliver(&offer);
    let mut ack = h.ack();
    ack.opts_mut().insert(DhcpOption::AddressLeaseTime(20));
    h.deliver(&ack);
    let bound_at = h.elapsed();
    let (wait, out) = h.fire();
    assert_eq!(secs(wait), 10.0);
    assert_eq!(one_sent(&out).destination, Destination::Unicast(SERVER));
    // 7.5 s to T2 and a 10 s floor: no retransmission before T2.
    let (wait, out) = h.fire();
    assert_eq!(secs(wait), 7.5);
    assert_eq!(h.client.state(), State::Rebinding);
    assert_eq!(one_sent(&out).destination, Destination::Broadcast);
    let (wait, out) = h.fire();
    assert_eq!(secs(wait), 2.5);
    assert_eq!(topics(&out)[0], events::LEASE_EXPIRED);
    assert_eq!(secs(h.elapsed() - bound_at), 20.0);
}

#[test]
fn server_t1_t2_are_used() {
    let mut h = Harness::new(false);
    h.start();
    h.deliver(&h.offer());
    let mut ack = h.ack();
    ack.opts_mut().insert(DhcpOption::Renewal(100));
    ack.opts_mut().insert(DhcpOption::Rebinding(200));
    h.deliver(&ack);
    let (wait, _) = h.fire();
    assert_eq!(secs(wait), 100.0);
    // 100 s to T2 → retransmit after 60 s (floor), then 40 s left → T2.
    let (wait, _) = h.fire();
    assert_eq!(secs(wait), 60.0);
    let (wait, _) = h.fire();
    assert_eq!(secs(wait), 40.0);
    assert_eq!(h.client.state(), State::Rebinding);
}

#[test]
fn infinite_lease_has_no_timers() {
    let mut h = Harness::new(false);
    h.start();
    h.deliver(&h.offer());
    let mut ack = h.ack();
    ack.opts_mut()
        .insert(DhcpOption::AddressLeaseTime(u32::MAX));
    let out = h.deliver(&ack);
    assert!(matches!(changes(&out)[..], [LeaseChange::Bound(_)]));
    assert_eq!(h.client.deadline(), None);
    // `renew` still asks; with no answer the lease simply stays.
    h.client.command(Command::Renew, h.now).unwrap();
    let (wait, out) = h.fire();
    assert_eq!(secs(wait), 60.0);
    assert!(sent(&out).is_empty());
    assert_eq!(h.client.state(), State::Bound);
    assert_eq!(h.client.deadline(), None);
}

#[test]
fn nak_in_requesting_restarts_at_once_and_repeated_naks_back_off() {
    let mut h = Harness::new(false);
    h.start();
    h.deliver(&h.offer());
    let mut nak = h.nak();
    nak.opts_mut()
        .insert(DhcpOption::Message("wrong network".into()));
    let old_xid = h.xid();
    let out = h.deliver(&nak);
    assert_eq!(topics(&out), [events::NAK_RECEIVED, events::DISCOVER_SENT]);
    let e = event(&out, events::NAK_RECEIVED);
    assert_eq!(e.attributes["message"], "wrong network");
    assert_eq!(e.attributes["address"], "192.0.2.10");
    assert_eq!(e.attributes["state"], "Requesting");
    assert!(changes(&out).is_empty(), "no lease was held");
    let d = one_sent(&out);
    assert_ne!(d.outgoing.xid, old_xid);
    assert_eq!(
        d.outgoing.requested_address, None,
        "the refused address is not asked for again"
    );
    // Second NAK: DISCOVER after 4 s; third: after 8 s.
    for expected in [4.0, 8.0] {
        h.deliver(&h.offer());
        let out = h.deliver(&h.nak());
        assert!(sent(&out).is_empty());
        assert_eq!(h.client.state(), State::Init);
        let (wait, out) = h.fire();
        assert_eq!(secs(wait), expected);
        assert_eq!(one_sent(&out).outgoing.kind, ClientMessage::Discover);
    }
    assert_eq!(h.client.consecutive_naks(), 3);
    let mut status = StatusProjection::new("wan", "eth0", h.now.wall);
    let s = status.update(Some(&h.client), InterfaceState::Up, h.now.wall);
    assert_eq!(s.phase, Phase::Error);
    assert_eq!(s.conditions[0].reason, "RepeatedNak");
    // A lease resets the count.
    h.deliver(&h.offer());
    h.deliver(&h.ack());
    assert_eq!(h.client.consecutive_naks(), 0);
}

#[test]
fn nak_from_another_server_is_ignored_in_requesting() {
    let mut h = Harness::new(false);
    h.start();
    h.deliver(&h.offer());
    let mut nak = h.nak();
    nak.opts_mut()
        .insert(DhcpOption::ServerIdentifier(OTHER_SERVER));
    let out = h.deliver(&nak);
    assert!(topics(&out).is_empty());
    assert_eq!(h.client.state(), State::Requesting);
}

#[test]
fn nak_in_renewing_drops_the_lease() {
    let mut h = Harness::new(false);
    h.bind();
    h.fire();
    let out = h.deliver(&h.nak());
    assert_eq!(topics(&out), [events::NAK_RECEIVED, events::DISCOVER_SENT]);
    assert!(matches!(changes(&out)[..], [LeaseChange::Nak(l)] if l.address == ADDR));
    assert!(h.client.lease().is_none());
    assert_eq!(h.client.state(), State::Selecting);
}

#[test]
fn conflict_means_decline_then_discover_after_ten_seconds() {
    let mut h = Harness::new(true);
    h.start();
    h.deliver(&h.offer());
    h.deliver(&h.ack());
    let out = h.input(Input::Probe(ProbeResult::Conflict { mac: PEER_MAC }));
    assert_eq!(topics(&out), [events::ADDRESS_CONFLICT]);
    let e = event(&out, events::ADDRESS_CONFLICT);
    assert_eq!(e.attributes["address"], "192.0.2.10");
    assert_eq!(e.attributes["serverID"], "192.0.2.1");
    assert_eq!(e.attributes["conflictMAC"], "02:00:00:00:00:99");
    let d = one_sent(&out);
    let m = wire(d);
    assert_eq!(d.outgoing.kind, ClientMessage::Decline);
    assert_eq!(d.destination, Destination::Broadcast);
    assert_eq!(m.ciaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(
        opt(&m, OptionCode::RequestedIpAddress),
        Some(DhcpOption::RequestedIpAddress(ADDR))
    );
    assert_eq!(
        opt(&m, OptionCode::ServerIdentifier),
        Some(DhcpOption::ServerIdentifier(SERVER))
    );
    assert!(
        changes(&out).is_empty(),
        "the declined address was never bound"
    );
    assert_eq!(h.client.state(), State::Init);
    let (wait, out) = h.fire();
    assert_eq!(wait, DECLINE_WAIT);
    let d = one_sent(&out);
    assert_eq!(d.outgoing.kind, ClientMessage::Discover);
    assert_eq!(
        d.outgoing.requested_address, None,
        "never ask for the declined address"
    );
    let mut status = StatusProjection::new("wan", "eth0", h.now.wall);
    let s = status.update(Some(&h.client), InterfaceState::Up, h.now.wall);
    assert_eq!(
        (s.phase, s.conditions[0].reason.as_str()),
        (Phase::Pending, "AddressConflict")
    );
}

#[test]
fn a_probe_that_never_answers_does_not_block_binding() {
    let mut h = Harness::new(true);
    h.start();
    h.deliver(&h.offer());
    h.deliver(&h.ack());
    let (wait, out) = h.fire();
    assert_eq!(wait, PROBE_GUARD);
    assert_eq!(topics(&out), [events::LEASE_BOUND]);
    // The late result is ignored.
    let out = h.input(Input::Probe(ProbeResult::Conflict { mac: PEER_MAC }));
    assert!(topics(&out).is_empty());
    assert_eq!(h.client.state(), State::Bound);
}

fn remembered(h: &Harness, age: Duration) -> Lease {
    let mut l = Lease::from_ack(
        &parse_reply(&bytes(&server_reply(MessageType::Ack, 1, ADDR))).unwrap(),
        None,
        h.now.wall.saturating_sub(age),
    )
    .unwrap();
    l.lease_time_seconds = 3600;
    l
}

#[test]
fn init_reboot_confirms_a_remembered_lease_without_discover() {
    let h0 = Harness::new(false);
    let lease = remembered(&h0, Duration::from_secs(600));
    let mut h = Harness::with(config(true), Some(lease.clone()));
    assert_eq!(h.client.state(), State::InitReboot);
    assert_eq!(
        h.client.lease(),
        Some(&lease),
        "the remembered lease is held from the start"
    );
    let out = h.start();
    assert_eq!(h.client.state(), State::Rebooting);
    assert_eq!(topics(&out), [events::REQUEST_SENT]);
    let r = one_sent(&out);
    let m = wire(r);
    assert_eq!(r.outgoing.kind, ClientMessage::Request);
    assert_eq!(r.destination, Destination::Broadcast);
    assert_eq!(
        m.ciaddr(),
        Ipv4Addr::UNSPECIFIED,
        "INIT-REBOOT leaves ciaddr zero"
    );
    assert_eq!(
        opt(&m, OptionCode::RequestedIpAddress),
        Some(DhcpOption::RequestedIpAddress(ADDR))
    );
    assert_eq!(
        opt(&m, OptionCode::ServerIdentifier),
        None,
        "INIT-REBOOT has no server id"
    );
    let mut status = StatusProjection::new("wan", "eth0", h.now.wall);
    let s = status.update(Some(&h.client), InterfaceState::Up, h.now.wall);
    assert_eq!(
        s.phase,
        Phase::Bound,
        "the remembered address stays in use while it is confirmed"
    );
    assert_eq!(s.observed["state"], "Rebooting");
    let out = h.deliver(&h.ack());
    assert_eq!(
        topics(&out),
        [events::LEASE_BOUND],
        "no probe for a confirmed lease"
    );
    assert_eq!(
        event(&out, events::LEASE_BOUND).attributes["state"],
        "Rebooting"
    );
    assert!(matches!(changes(&out)[..], [LeaseChange::Bound(l)] if l.address == ADDR));
    assert_eq!(h.client.state(), State::Bound);
}

#[test]
fn init_reboot_nak_starts_over() {
    let h0 = Harness::new(false);
    let mut h = Harness::with(
        config(false),
        Some(remembered(&h0, Duration::from_secs(60))),
    );
    h.start();
    let out = h.deliver(&h.nak());
    assert_eq!(topics(&out), [events::NAK_RECEIVED, events::DISCOVER_SENT]);
    assert!(matches!(changes(&out)[..], [LeaseChange::Nak(_)]));
    assert_eq!(h.client.state(), State::Selecting);
    let other = Ipv4Addr::new(192, 0, 2, 99);
    h.deliver(&server_reply(MessageType::Offer, h.xid(), other));
    let out = h.deliver(&server_reply(MessageType::Ack, h.xid(), other));
    assert_eq!(
        event(&out, events::LEASE_BOUND).attributes["previousAddress"],
        "192.0.2.10",
        "the new lease names the refused one"
    );
}

#[test]
fn init_reboot_without_answer_uses_the_lease_until_it_expires() {
    let h0 = Harness::new(false);
    // 1700 s old: T1 is 100 s away.
    let mut h = Harness::with(
        config(false),
        Some(remembered(&h0, Duration::from_secs(1700))),
    );
    h.start();
    let (w1, o1) = h.fire();
    let (w2, o2) = h.fire();
    assert_eq!((secs(w1), secs(w2)), (4.0, 8.0));
    assert_eq!(sent(&o1).len() + sent(&o2).len(), 2);
    let (w3, out) = h.fire();
    assert_eq!(secs(w3), 16.0);
    assert!(sent(&out).is_empty());
    assert_eq!(h.client.state(), State::Bound);
    let e = event(&out, events::LEASE_BOUND);
    assert_eq!(e.attributes["unconfirmed"], "true");
    // T1 of the remembered lease still applies.
    let (wait, out) = h.fire();
    assert_eq!(secs(wait), 100.0 - 28.0);
    assert_eq!(h.client.state(), State::Renewing);
    assert_eq!(one_sent(&out).destination, Destination::Unicast(SERVER));
}

#[test]
fn an_expired_remembered_lease_means_discover_with_a_hint() {
    let h0 = Harness::new(false);
    let mut h = Harness::with(
        config(false),
        Some(remembered(&h0, Duration::from_secs(4000))),
    );
    assert_eq!(h.client.state(), State::Init);
    assert!(h.client.lease().is_none());
    let out = h.start();
    let d = one_sent(&out);
    assert_eq!(d.outgoing.kind, ClientMessage::Discover);
    assert_eq!(d.outgoing.requested_address, Some(ADDR));
}

#[test]
fn release_unicasts_and_idles_until_renew() {
    let mut h = Harness::new(false);
    assert!(h.client.command(Command::Release, h.now).is_err());
    h.bind();
    let out = h.client.command(Command::Release, h.now).unwrap();
    let r = one_sent(&out);
    let m = wire(r);
    assert_eq!(r.outgoing.kind, ClientMessage::Release);
    assert_eq!(r.destination, Destination::Unicast(SERVER));
    assert_eq!(r.source, ADDR);
    assert_eq!(m.ciaddr(), ADDR);
    assert_eq!(
        opt(&m, OptionCode::ServerIdentifier),
        Some(DhcpOption::ServerIdentifier(SERVER))
    );
    assert_eq!(topics(&out), [events::LEASE_RELEASED]);
    assert!(matches!(changes(&out)[..], [LeaseChange::Released(_)]));
    assert_eq!(h.client.deadline(), None, "nothing happens after a release");
    assert_eq!(
        h.client.command(Command::Release, h.now).unwrap_err(),
        "no lease to release"
    );
    assert!(h.client.command(Command::Rebind, h.now).is_err());
    let mut status = StatusProjection::new("wan", "eth0", h.now.wall);
    let s = status.update(Some(&h.client), InterfaceState::Up, h.now.wall);
    assert_eq!(
        (s.phase, s.conditions[0].reason.as_str()),
        (Phase::Pending, "Released")
    );
    // Replies to the old exchange are ignored while idle.
    assert!(changes(&h.deliver(&h.ack())).is_empty());
    let out = h.client.command(Command::Renew, h.now).unwrap();
    assert_eq!(one_sent(&out).outgoing.kind, ClientMessage::Discover);
}

#[test]
fn renew_and_rebind_commands() {
    let mut h = Harness::new(false);
    assert!(
        h.client.command(Command::Renew, h.now).is_err(),
        "not started"
    );
    h.bind();
    let out = h.client.command(Command::Renew, h.now).unwrap();
    assert_eq!(h.client.state(), State::Renewing);
    assert_eq!(one_sent(&out).destination, Destination::Unicast(SERVER));
    let xid = h.xid();
    let out = h.client.command(Command::Renew, h.now).unwrap();
    assert_eq!(
        one_sent(&out).outgoing.xid,
        xid,
        "renew while renewing retransmits"
    );
    let out = h.client.command(Command::Rebind, h.now).unwrap();
    assert_eq!(h.client.state(), State::Rebinding);
    let b = one_sent(&out);
    assert_eq!(b.destination, Destination::Broadcast);
    assert_ne!(b.outgoing.xid, xid);
    let out = h.deliver(&h.ack());
    assert_eq!(topics(&out), [events::LEASE_REBOUND]);
    // Renew while selecting resends the DISCOVER at once.
    let mut h = Harness::new(false);
    h.start();
    let out = h.client.command(Command::Renew, h.now).unwrap();
    assert_eq!(one_sent(&out).outgoing.kind, ClientMessage::Discover);
}

#[test]
fn carrier_loss_and_return_confirm_the_lease_with_init_reboot() {
    let mut h = Harness::new(false);
    h.bind();
    let out = h.input(Input::Link(LinkEvent::CarrierLost));
    assert!(sent(&out).is_empty());
    assert_eq!(h.client.state(), State::InitReboot);
    assert!(h.client.lease().is_some());
    assert_eq!(
        h.client.deadline(),
        Some(h.now.mono + Duration::from_secs(3600)),
        "only the expiry runs without carrier"
    );
    assert!(h.client.command(Command::Renew, h.now).is_err());
    h.advance(Duration::from_secs(30));
    let out = h.input(Input::Link(LinkEvent::CarrierUp));
    assert_eq!(h.client.state(), State::Rebooting);
    let r = one_sent(&out);
    assert_eq!(r.destination, Destination::Broadcast);
    assert_eq!(r.outgoing.requested_address, Some(ADDR));
    assert_eq!(r.outgoing.ciaddr, Ipv4Addr::UNSPECIFIED);
    let out = h.deliver(&h.ack());
    assert_eq!(topics(&out), [events::LEASE_BOUND]);
    // A repeated "up" changes nothing.
    assert!(h.input(Input::Link(LinkEvent::CarrierUp)).is_empty());
}

#[test]
fn carrier_loss_while_probing_cancels_and_expiry_without_carrier_waits_for_it() {
    let mut h = Harness::new(true);
    h.start();
    h.deliver(&h.offer());
    h.deliver(&h.ack());
    let out = h.input(Input::Link(LinkEvent::CarrierLost));
    assert!(out.contains(&Output::CancelProbe));
    assert_eq!(h.client.state(), State::Init);
    assert_eq!(h.client.deadline(), None);
    let out = h.input(Input::Link(LinkEvent::CarrierUp));
    assert_eq!(one_sent(&out).outgoing.kind, ClientMessage::Discover);

    let mut h = Harness::new(false);
    h.bind();
    h.input(Input::Link(LinkEvent::CarrierLost));
    let (_, out) = h.fire();
    assert_eq!(topics(&out), [events::LEASE_EXPIRED]);
    assert!(sent(&out).is_empty(), "no DISCOVER without carrier");
    assert_eq!(h.client.deadline(), None);
    let mut status = StatusProjection::new("wan", "eth0", h.now.wall);
    let s = status.update(Some(&h.client), InterfaceState::NoCarrier, h.now.wall);
    assert_eq!(
        (s.phase, s.conditions[0].reason.as_str()),
        (Phase::Pending, "LinkDown")
    );
    let out = h.input(Input::Link(LinkEvent::CarrierUp));
    assert_eq!(one_sent(&out).outgoing.kind, ClientMessage::Discover);
}

#[test]
fn replies_not_for_us_are_ignored_with_a_reason() {
    let mut h = Harness::new(false);
    h.start();
    let mut wrong_xid = h.offer();
    wrong_xid.set_xid(h.xid().wrapping_add(1));
    assert!(notes(&h.deliver(&wrong_xid)).contains("is not ours"));
    let mut wrong_mac = h.offer();
    wrong_mac.set_chaddr(&PEER_MAC);
    assert!(notes(&h.deliver(&wrong_mac)).contains("chaddr"));
    let mut wrong_id = h.offer();
    wrong_id
        .opts_mut()
        .insert(DhcpOption::ClientIdentifier(vec![1, 2, 3]));
    assert!(notes(&h.deliver(&wrong_id)).contains("client identifier"));
    assert!(notes(&h.deliver(&h.ack())).contains("not expected in Selecting"));
    let mut no_server = h.offer();
    no_server.opts_mut().remove(OptionCode::ServerIdentifier);
    assert!(notes(&h.deliver(&no_server)).contains("no server identifier"));
    let bad_addr = server_reply(MessageType::Offer, h.xid(), Ipv4Addr::new(224, 0, 0, 1));
    assert!(notes(&h.deliver(&bad_addr)).contains("not a host address"));
    assert_eq!(h.client.state(), State::Selecting);
    // Our own client id echoed back is fine.
    let mut echoed = h.offer();
    echoed.opts_mut().insert(DhcpOption::ClientIdentifier(vec![
        1, 2, 0, 0x5e, 0x10, 0, 1,
    ]));
    h.deliver(&echoed);
    assert_eq!(h.client.state(), State::Requesting);
    assert!(notes(&h.deliver(&h.offer())).contains("not expected in Requesting"));
    let other = server_reply(MessageType::Ack, h.xid(), Ipv4Addr::new(192, 0, 2, 77));
    assert!(notes(&h.deliver(&other)).contains("we requested 192.0.2.10"));
    let mut no_lease_time = h.ack();
    no_lease_time
        .opts_mut()
        .remove(OptionCode::AddressLeaseTime);
    assert!(notes(&h.deliver(&no_lease_time)).contains("no lease time"));
    let mut zero = h.ack();
    zero.opts_mut().insert(DhcpOption::AddressLeaseTime(0));
    assert!(notes(&h.deliver(&zero)).contains("0 seconds"));
    let mut from_other = h.ack();
    from_other
        .opts_mut()
        .insert(DhcpOption::ServerIdentifier(OTHER_SERVER));
    assert!(notes(&h.deliver(&from_other)).contains("we requested from"));
    assert_eq!(h.client.state(), State::Requesting);
}

#[test]
fn classless_routes_override_option_3() {
    let mut h = Harness::new(false);
    h.start();
    h.deliver(&h.offer());
    let mut ack = h.ack();
    ack.opts_mut().insert(DhcpOption::ClasslessStaticRoute(vec![
        ("0.0.0.0/0".parse().unwrap(), Ipv4Addr::new(192, 0, 2, 254)),
        (
            "203.0.113.0/24".parse().unwrap(),
            Ipv4Addr::new(192, 0, 2, 253),
        ),
    ]));
    let out = h.deliver(&ack);
    assert_eq!(
        event(&out, events::LEASE_BOUND).attributes["gateway"],
        "192.0.2.254"
    );
    let lease = h.client.lease().unwrap();
    assert_eq!(
        lease.classless_routes.as_deref().unwrap()[1],
        ClasslessRoute {
            destination: Ipv4Addr::new(203, 0, 113, 0),
            prefix_length: 24,
            gateway: Ipv4Addr::new(192, 0, 2, 253)
        }
    );
    let mut status = StatusProjection::new("wan", "eth0", h.now.wall);
    let s = status.update(Some(&h.client), InterfaceState::Up, h.now.wall);
    assert_eq!(s.observed["gateway"], "192.0.2.254");
    assert_eq!(
        s.observed["classlessRoutes"],
        serde_json::json!([
            {"destination": "0.0.0.0/0", "gateway": "192.0.2.254"},
            {"destination": "203.0.113.0/24", "gateway": "192.0.2.253"}
        ])
    );
}

#[test]
fn stop_silences_the_client() {
    let mut h = Harness::new(false);
    h.bind();
    assert!(h.client.command(Command::Stop, h.now).unwrap().is_empty());
    assert_eq!(h.client.deadline(), None);
    assert!(h.client.command(Command::Renew, h.now).is_err());
    assert!(
        h.client.lease().is_some(),
        "the lease is kept for the next start"
    );
}

#[test]
fn a_suspended_process_catches_up_in_one_timer() {
    let mut h = Harness::new(false);
    h.bind();
    h.advance(Duration::from_secs(10_000));
    let out = h.input(Input::Timer);
    assert_eq!(topics(&out), [events::LEASE_EXPIRED, events::DISCOVER_SENT]);
    assert_eq!(h.client.state(), State::Selecting);
}

#[test]
fn status_observed_is_the_dhcpv4_lease_plus_classless_routes() {
    let mut h = Harness::new(false);
    let mut status = StatusProjection::new("wan", "eth0", h.now.wall);
    let s = status.update(None, InterfaceState::Missing, h.now.wall);
    assert_eq!(
        (s.phase, s.conditions[0].reason.as_str()),
        (Phase::Error, "InterfaceMissing")
    );
    h.start();
    let s = status.update(Some(&h.client), InterfaceState::Up, h.now.wall);
    assert_eq!(
        (s.phase, s.conditions[0].reason.as_str()),
        (Phase::Pending, "Acquiring")
    );
    assert_eq!(s.observed["state"], "Selecting");
    assert_eq!(s.observed["address"], serde_json::Value::Null);
    let pending_since = s.since;
    h.deliver(&h.offer());
    h.advance(Duration::from_secs(1));
    h.deliver(&h.ack());
    let s = status.update(Some(&h.client), InterfaceState::Up, h.now.wall);
    assert_eq!(s.phase, Phase::Bound);
    assert_ne!(s.since, pending_since);
    assert_eq!(s.since, Some(h.now.wall));
    assert_eq!(s.resource.kind, "DHCPv4Client");
    assert_eq!(s.resource.name, "wan");
    assert_eq!(s.conditions[0].type_, "LeaseBound");
    assert_eq!(s.conditions[0].status, routerd_api::ConditionStatus::True);
    let mut keys: Vec<&str> = s.observed.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "acquiredAt",
            "address",
            "classlessRoutes",
            "dnsServers",
            "domain",
            "expiresAt",
            "gateway",
            "leaseTimeSeconds",
            "mtu",
            "ntpServers",
            "prefixLength",
            "rebindAt",
            "renewAt",
            "serverID",
            "state"
        ]
    );
    assert_eq!(s.observed["address"], "192.0.2.10");
    assert_eq!(s.observed["prefixLength"], 24);
    assert_eq!(s.observed["leaseTimeSeconds"], 3600);
    assert_eq!(s.observed["mtu"], 1492);
    assert_eq!(
        s.observed["dnsServers"],
        serde_json::json!(["192.0.2.53", "192.0.2.54"])
    );
    assert_eq!(s.observed["domain"], "example.net");
    assert_eq!(s.observed["state"], "Bound");
    let lease = h.client.lease().unwrap();
    assert_eq!(
        s.observed["renewAt"],
        serde_json::to_value(lease.renew_at().unwrap()).unwrap()
    );
    // The observed object reads back as routerd's DHCPv4Lease.
    let typed: routerd_api::status::DHCPv4Lease =
        serde_json::from_value(serde_json::Value::Object(s.observed.clone())).unwrap();
    assert_eq!(typed.server_id.as_deref(), Some("192.0.2.1"));
    // Transition times stay while the condition holds.
    let t = s.conditions[0].last_transition_time;
    h.advance(Duration::from_secs(5));
    let s = status.update(Some(&h.client), InterfaceState::Up, h.now.wall);
    assert_eq!(s.conditions[0].last_transition_time, t);
}

#[test]
fn configured_requested_address_is_asked_for() {
    let mut c = config(false);
    c.requested_address = Some(Ipv4Addr::new(192, 0, 2, 50));
    let mut h = Harness::with(c, None);
    let out = h.start();
    let m = wire(one_sent(&out));
    assert_eq!(
        opt(&m, OptionCode::RequestedIpAddress),
        Some(DhcpOption::RequestedIpAddress(Ipv4Addr::new(192, 0, 2, 50)))
    );
}
