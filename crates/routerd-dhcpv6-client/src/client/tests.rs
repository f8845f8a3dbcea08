//! Virtual-clock tests of every transition and of the retransmission schedules. What the client sends
//! is decoded with dhcproto (an independent codec), so these also check the encoder.
//!
//! Randomness is [`Steady`]: every draw is ≡ 1000 (mod 2001) and ≡ 999 (mod 1000), so RAND is 0 for
//! every RT except the first SOLICIT's, where it is +0.1 (RT 1.1 s); transaction ids still differ.

use super::*;
use crate::message::{IaPd, IaPrefix, Status};
use dhcproto::v6::{self as d6, DhcpOption, OptionCode};
use dhcproto::{Decodable, Decoder};

/// See the module documentation.
struct Steady(u32);

impl Random for Steady {
    fn next_u32(&mut self) -> u32 {
        let v = 1_999_999 + 2_001_000 * self.0;
        self.0 += 1;
        v
    }
}

const SERVER_A: &[u8] = &[0, 3, 0, 1, 2, 0, 0, 0, 0, 0xa];
const SERVER_B: &[u8] = &[0, 3, 0, 1, 2, 0, 0, 0, 0, 0xb];
const SERVER_C: &[u8] = &[0, 3, 0, 1, 2, 0, 0, 0, 0, 0xc];
const OUR_DUID: &[u8] = &[0, 3, 0, 1, 2, 0, 0, 0, 0, 1];
const IAID: u32 = 7;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn t0() -> Now {
    Now {
        mono: Instant::now(),
        wall: Timestamp(1_795_459_200_000_000_000),
    }
}

fn addr(text: &str) -> Ipv6Addr {
    text.parse().unwrap()
}

fn config() -> ClientConfig {
    ClientConfig {
        name: "wan-pd".into(),
        duid: OUR_DUID.to_vec(),
        iaid: IAID,
        ifname: "wan0".into(),
        prefix_length_hint: Some(56),
        rapid_commit: false,
        request_options: vec![23, 24],
        initial_delay: false,
    }
}

fn client_with(config: ClientConfig, remembered: Option<Lease>, now: Now) -> Client {
    Client::new(config, Box::new(Steady(0)), remembered, now)
}

fn new_client(now: Now) -> Client {
    client_with(config(), None, now)
}

fn sends(out: &[Output]) -> Vec<&Transmit> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(t) => Some(t),
            _ => None,
        })
        .collect()
}

fn one_send(out: &[Output]) -> &Transmit {
    let s = sends(out);
    assert_eq!(s.len(), 1, "{out:#?}");
    s[0]
}

fn topics(out: &[Output]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e.topic.clone()),
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

fn attr_of<'a>(e: &'a NewEvent, key: &str) -> Option<&'a str> {
    e.attributes.get(key).map(String::as_str)
}

fn changes(out: &[Output]) -> Vec<&LeaseChange> {
    out.iter()
        .filter_map(|o| match o {
            Output::Lease(c) => Some(c),
            _ => None,
        })
        .collect()
}

fn notes(out: &[Output]) -> Vec<&str> {
    out.iter()
        .filter_map(|o| match o {
            Output::Note(n) => Some(n.as_str()),
            _ => None,
        })
        .collect()
}

fn decode(t: &Transmit) -> d6::Message {
    d6::Message::decode(&mut Decoder::new(&t.bytes)).unwrap()
}

fn elapsed(t: &Transmit) -> u16 {
    match decode(t).opts().get(OptionCode::ElapsedTime) {
        Some(DhcpOption::ElapsedTime(e)) => *e,
        other => panic!("no elapsed time: {other:?}"),
    }
}

fn server_id_of(t: &Transmit) -> Option<Vec<u8>> {
    match decode(t).opts().get(OptionCode::ServerId) {
        Some(DhcpOption::ServerId(id)) => Some(id.clone()),
        _ => None,
    }
}

/// (iaid, t1, t2, [(prefix, length)]) of an IA_PD.
type SentIaPd = (u32, u32, u32, Vec<(Ipv6Addr, u8)>);

/// The IA_PD sent.
fn ia_pd_of(t: &Transmit) -> Option<SentIaPd> {
    match decode(t).opts().get(OptionCode::IAPD) {
        Some(DhcpOption::IAPD(ia)) => Some((
            ia.id,
            ia.t1,
            ia.t2,
            ia.opts
                .iter()
                .filter_map(|o| match o {
                    DhcpOption::IAPrefix(p) => Some((p.prefix_ip, p.prefix_len)),
                    _ => None,
                })
                .collect(),
        )),
        _ => None,
    }
}

fn ia(prefixes: Vec<IaPrefix>, t1: u32, t2: u32) -> IaPd {
    IaPd {
        iaid: IAID,
        t1,
        t2,
        prefixes,
        status: None,
    }
}

fn pfx(p: &str, length: u8, preferred: u32, valid: u32) -> IaPrefix {
    IaPrefix {
        preferred_lifetime: preferred,
        valid_lifetime: valid,
        length,
        prefix: addr(p),
        status: None,
    }
}

fn status(code: StatusCode) -> Option<Status> {
    Some(Status {
        code,
        message: String::new(),
    })
}

/// A server message for `xid` from `server` with the IA_PD `ia`.
fn msg(kind: MessageKind, xid: [u8; 3], server: &[u8], ia: Option<IaPd>) -> Reply {
    let mut r = Reply::new(kind, xid);
    r.server_id = Some(server.to_vec());
    r.client_id = Some(OUR_DUID.to_vec());
    r.ia_pds = ia.into_iter().collect();
    r
}

/// The usual grant: 2001:db8:1200::/56, preferred 3600, valid 7200, T1 1800, T2 2880.
fn grant(kind: MessageKind, xid: [u8; 3], server: &[u8]) -> Reply {
    msg(
        kind,
        xid,
        server,
        Some(ia(vec![pfx("2001:db8:1200::", 56, 3600, 7200)], 1800, 2880)),
    )
}

/// Server A's reply to `xid` granting `prefixes`, with the usual T1 1800 and T2 2880.
fn reply_granting(xid: [u8; 3], prefixes: Vec<IaPrefix>) -> Reply {
    msg(
        MessageKind::Reply,
        xid,
        SERVER_A,
        Some(ia(prefixes, 1800, 2880)),
    )
}

const SERVER_ADDR: &str = "fe80::a";

fn receive(c: &mut Client, r: &Reply, now: Now) -> Vec<Output> {
    c.handle(
        Input::Received {
            reply: r,
            from: addr(SERVER_ADDR),
        },
        now,
    )
}

/// The RENEW a client bound at `start` (see [`bound`]) sends at T1, 1800 s later.
fn renew_at_t1(c: &mut Client, start: Now) -> Transmit {
    one_send(&c.handle(Input::Timer, start.after(s(1800)))).clone()
}

/// Delivers timers until `end`; returns (offset from `origin`, transmit) of everything sent.
fn run_until(
    c: &mut Client,
    origin: Now,
    end: Duration,
) -> (Vec<(Duration, Transmit)>, Vec<Output>) {
    let mut sent = Vec::new();
    let mut all = Vec::new();
    while let Some(d) = c.deadline() {
        if d > origin.mono + end {
            break;
        }
        let now = origin.after(d - origin.mono);
        let out = c.handle(Input::Timer, now);
        for t in sends(&out) {
            sent.push((d - origin.mono, t.clone()));
        }
        all.extend(out);
    }
    (sent, all)
}

/// A client that sent its REQUEST to server A at `t` (A advertised with preference 255).
fn requesting(t: Now) -> (Client, Transmit) {
    let mut c = new_client(t);
    let xid = one_send(&c.handle(Input::Start, t)).xid;
    let mut adv = grant(MessageKind::Advertise, xid, SERVER_A);
    adv.preference = Some(255);
    let req = one_send(&receive(&mut c, &adv, t)).clone();
    assert_eq!(req.kind, MessageKind::Request);
    (c, req)
}

/// A client bound to the usual grant from server A via SOLICIT/ADVERTISE/REQUEST; the REQUEST went out
/// at `t0 + 1.1 s`, which is when the lease starts. Returns the client and that instant.
fn bound(cfg: ClientConfig, t: Now) -> (Client, Now) {
    let mut c = client_with(cfg, None, t);
    let out = c.handle(Input::Start, t);
    let sol = one_send(&out).clone();
    let adv = grant(MessageKind::Advertise, sol.xid, SERVER_A);
    receive(&mut c, &adv, t.after(ms(100)));
    let at = t.after(ms(1100));
    let out = c.handle(Input::Timer, at);
    let req = one_send(&out).clone();
    assert_eq!(req.kind, MessageKind::Request);
    let out = receive(
        &mut c,
        &grant(MessageKind::Reply, req.xid, SERVER_A),
        at.after(ms(50)),
    );
    assert!(
        matches!(changes(&out)[..], [LeaseChange::Bound(_)]),
        "{out:#?}"
    );
    (c, at)
}

// ----- SOLICIT ------------------------------------------------------------------------------------

#[test]
fn solicit_carries_ia_pd_with_hint_client_id_elapsed_time_and_oro() {
    let t = t0();
    let mut c = new_client(t);
    assert_eq!(c.deadline(), None, "nothing before start");
    let out = c.handle(Input::Start, t);
    let sol = one_send(&out);
    assert_eq!(sol.kind, MessageKind::Solicit);
    assert_eq!(sol.destination, Destination::AllServers);
    assert_eq!(sol.attempt, 1);
    assert_eq!(sol.state, State::Soliciting);
    let m = decode(sol);
    assert_eq!(m.msg_type(), d6::MessageType::Solicit);
    assert_eq!(m.xid(), sol.xid);
    assert_eq!(
        m.opts().get(OptionCode::ClientId),
        Some(&DhcpOption::ClientId(OUR_DUID.to_vec()))
    );
    assert_eq!(elapsed(sol), 0);
    assert_eq!(server_id_of(sol), None);
    assert_eq!(
        ia_pd_of(sol),
        Some((IAID, 0, 0, vec![(Ipv6Addr::UNSPECIFIED, 56)]))
    );
    match m.opts().get(OptionCode::ORO) {
        Some(DhcpOption::ORO(o)) => assert_eq!(
            o.opts,
            vec![
                OptionCode::DomainNameServers,
                OptionCode::DomainSearchList,
                OptionCode::from(82u16) // SOL_MAX_RT, always (RFC 8415 §18.2)
            ]
        ),
        other => panic!("{other:?}"),
    }
    assert!(m.opts().get(OptionCode::RapidCommit).is_none());
    assert_eq!(topics(&out), [events::SOLICIT_SENT]);
    assert_eq!(
        attr_of(event(&out, events::SOLICIT_SENT), attr::ATTEMPT),
        Some("1")
    );
    assert_eq!(c.state(), State::Soliciting);
    // Without a hint the IA_PD is empty.
    let mut cfg = config();
    cfg.prefix_length_hint = None;
    let mut c = client_with(cfg, None, t);
    let out = c.handle(Input::Start, t);
    assert_eq!(ia_pd_of(one_send(&out)), Some((IAID, 0, 0, vec![])));
}

#[test]
fn the_first_solicit_waits_a_random_initial_delay_when_configured() {
    let t = t0();
    let mut cfg = config();
    cfg.initial_delay = true;
    let mut c = client_with(cfg, None, t);
    let out = c.handle(Input::Start, t);
    assert!(sends(&out).is_empty());
    // The second draw (after the xid) is 3_001_999 % 1001 = 2 ms.
    assert_eq!(c.deadline(), Some(t.mono + ms(2)));
    let out = c.handle(Input::Timer, t.after(ms(2)));
    let sol = one_send(&out);
    assert_eq!(
        (sol.kind, sol.attempt, elapsed(sol)),
        (MessageKind::Solicit, 1, 0)
    );
    assert_eq!(c.deadline(), Some(t.mono + ms(2) + ms(1100)));
}

#[test]
fn solicit_retransmits_with_the_same_xid_doubling_to_one_hour() {
    let t = t0();
    let mut c = new_client(t);
    let out = c.handle(Input::Start, t);
    let xid = one_send(&out).xid;
    let (sent, all) = run_until(&mut c, t, s(20_000));
    assert!(topics(&all).is_empty(), "retransmissions are not events");
    let offsets: Vec<u64> = sent.iter().map(|(d, _)| d.as_millis() as u64).collect();
    // RT 1.1 s (RAND > 0 for the first), then doubling: 2.2, 4.4, ... 2252.8 s, then MRT 3600 s.
    let mut want = vec![];
    let (mut at, mut rt) = (0u64, 1100u64);
    for _ in 0..20 {
        at += rt;
        if at > 20_000_000 {
            break;
        }
        want.push(at);
        rt = (rt * 2).min(3_600_000);
    }
    assert_eq!(offsets, want);
    assert_eq!(&offsets[..4], [1100, 3300, 7700, 16500]);
    assert_eq!(offsets[11] - offsets[10], 2_252_800);
    assert_eq!(offsets[12] - offsets[11], 3_600_000, "capped at SOL_MAX_RT");
    assert!(sent
        .iter()
        .all(|(_, t)| t.xid == xid && t.kind == MessageKind::Solicit));
    let attempts: Vec<u32> = sent.iter().map(|(_, t)| t.attempt).collect();
    assert_eq!(attempts[..3], [2, 3, 4]);
    // Elapsed time in centiseconds, capped at 0xffff (655.35 s).
    assert_eq!(elapsed(&sent[0].1), 110);
    assert_eq!(elapsed(&sent[1].1), 330);
    assert_eq!(elapsed(&sent[9].1), u16::MAX);
}

#[test]
fn advertises_are_collected_for_the_first_rt_and_the_highest_preference_wins() {
    let t = t0();
    let mut c = new_client(t);
    let out = c.handle(Input::Start, t);
    let xid = one_send(&out).xid;
    let offer = |server: &[u8], p: &str, pref: Option<u8>| {
        let mut r = msg(
            MessageKind::Advertise,
            xid,
            server,
            Some(ia(vec![pfx(p, 56, 3600, 7200)], 0, 0)),
        );
        r.preference = pref;
        r
    };
    for (i, r) in [
        offer(SERVER_A, "2001:db8:a::", None),
        offer(SERVER_B, "2001:db8:b::", Some(50)),
        offer(SERVER_C, "2001:db8:c::", Some(50)),
    ]
    .iter()
    .enumerate()
    {
        let out = receive(&mut c, r, t.after(ms(100 * (i as u64 + 1))));
        assert!(sends(&out).is_empty(), "collecting: {out:#?}");
        assert_eq!(topics(&out), [events::ADVERTISE_RECEIVED]);
    }
    assert_eq!(c.state(), State::Soliciting);
    assert_eq!(c.deadline(), Some(t.mono + ms(1100)));
    let out = c.handle(Input::Timer, t.after(ms(1100)));
    let req = one_send(&out);
    assert_eq!(req.kind, MessageKind::Request);
    assert_eq!(
        server_id_of(req),
        Some(SERVER_B.to_vec()),
        "B: preference 50, first of the tie"
    );
    assert_eq!(
        ia_pd_of(req),
        Some((IAID, 0, 0, vec![(addr("2001:db8:b::"), 56)]))
    );
    assert_ne!(req.xid, xid, "a new exchange, a new transaction id");
    assert_eq!((req.attempt, elapsed(req)), (1, 0));
    assert_eq!(req.state, State::Requesting);
    assert_eq!(c.state(), State::Requesting);
    assert_eq!(topics(&out), [events::REQUEST_SENT]);
    assert_eq!(
        attr_of(event(&out, events::REQUEST_SENT), attr::SERVER_DUID),
        Some("0003000102000000000b")
    );
    // The old SOLICIT's xid is no longer answered.
    let out = receive(
        &mut c,
        &offer(SERVER_A, "2001:db8:a::", Some(255)),
        t.after(ms(1200)),
    );
    assert!(notes(&out)[0].contains("transaction id"), "{out:#?}");
}

#[test]
fn preference_255_is_requested_at_once() {
    let t = t0();
    let mut c = new_client(t);
    let xid = one_send(&c.handle(Input::Start, t)).xid;
    let mut adv = grant(MessageKind::Advertise, xid, SERVER_C);
    adv.preference = Some(255);
    let out = receive(&mut c, &adv, t.after(ms(10)));
    let req = one_send(&out);
    assert_eq!(req.kind, MessageKind::Request);
    assert_eq!(server_id_of(req), Some(SERVER_C.to_vec()));
    assert_eq!(
        topics(&out),
        [events::ADVERTISE_RECEIVED, events::REQUEST_SENT]
    );
}

#[test]
fn after_the_first_rt_the_first_usable_advertise_is_taken() {
    let t = t0();
    let mut c = new_client(t);
    let xid = one_send(&c.handle(Input::Start, t)).xid;
    let out = c.handle(Input::Timer, t.after(ms(1100)));
    assert_eq!(
        one_send(&out).kind,
        MessageKind::Solicit,
        "nothing came: retransmit"
    );
    let out = receive(
        &mut c,
        &grant(MessageKind::Advertise, xid, SERVER_A),
        t.after(s(2)),
    );
    assert_eq!(one_send(&out).kind, MessageKind::Request);
}

#[test]
fn sol_max_rt_from_a_server_caps_solicit_retransmissions() {
    let t = t0();
    let mut c = new_client(t);
    let xid = one_send(&c.handle(Input::Start, t)).xid;
    // Out of range (RFC 8415 §21.24: 60..86400): ignored.
    let mut too_low = grant(MessageKind::Advertise, xid, SERVER_B);
    too_low.ia_pds[0].prefixes.clear();
    too_low.sol_max_rt = Some(30);
    let out = receive(&mut c, &too_low, t.after(ms(5)));
    assert!(
        notes(&out)
            .iter()
            .any(|n| n.contains("SOL_MAX_RT 30 s ignored")),
        "{out:#?}"
    );
    // A server with nothing to give asks for SOLICITs at most every 120 s: honoured even though its
    // ADVERTISE itself is not usable.
    let mut no_prefix = grant(MessageKind::Advertise, xid, SERVER_A);
    no_prefix.ia_pds[0].prefixes.clear();
    no_prefix.ia_pds[0].status = status(status_code::NO_PREFIX_AVAIL);
    no_prefix.sol_max_rt = Some(120);
    let out = receive(&mut c, &no_prefix, t.after(ms(10)));
    assert!(
        notes(&out)
            .iter()
            .any(|n| n.contains("SOL_MAX_RT set to 120 s")),
        "{out:#?}"
    );
    let (sent, _) = run_until(&mut c, t, s(1000));
    let offsets: Vec<u64> = sent.iter().map(|(d, _)| d.as_millis() as u64).collect();
    // 1.1, 2.2, ... 70.4 s, then 140.8 capped to the server's 120 s (not the default 3600 s).
    assert_eq!(
        offsets[..9],
        [1100, 3300, 7700, 16500, 34100, 69300, 139700, 259700, 379700]
    );
}

#[test]
fn information_request_asks_for_inf_max_rt() {
    let t = t0();
    let mut c = new_client(t);
    c.handle(Input::Start, t);
    let out = c.command(Command::InfoRequest, t.after(ms(1))).unwrap();
    let inf = sends(&out)
        .into_iter()
        .find(|x| x.kind == MessageKind::InformationRequest)
        .expect("an INFORMATION-REQUEST");
    match decode(inf).opts().get(OptionCode::ORO) {
        Some(DhcpOption::ORO(o)) => {
            assert!(o.opts.contains(&OptionCode::from(83u16)), "{o:?}");
            assert!(!o.opts.contains(&OptionCode::from(82u16)), "{o:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn advertises_without_a_usable_prefix_are_not_usable() {
    let t = t0();
    let mut c = new_client(t);
    let xid = one_send(&c.handle(Input::Start, t)).xid;
    let mut no_prefix = grant(MessageKind::Advertise, xid, SERVER_A);
    no_prefix.ia_pds[0].prefixes.clear();
    no_prefix.ia_pds[0].status = status(status_code::NO_PREFIX_AVAIL);
    let out = receive(&mut c, &no_prefix, t.after(ms(10)));
    assert_eq!(topics(&out), [events::STATUS_RECEIVED]);
    let e = event(&out, events::STATUS_RECEIVED);
    assert_eq!(attr_of(e, attr::STATUS_CODE), Some("NoPrefixAvail"));
    assert!(notes(&out)[0].contains("not usable"));
    assert_eq!(
        c.last_status(),
        Some((status_code::NO_PREFIX_AVAIL, String::new()))
    );
    let mut empty = grant(MessageKind::Advertise, xid, SERVER_B);
    empty.ia_pds[0].prefixes.clear();
    let out = receive(&mut c, &empty, t.after(ms(20)));
    assert!(notes(&out)[0].contains("no usable prefix"));
    let mut other_ia = grant(MessageKind::Advertise, xid, SERVER_B);
    other_ia.ia_pds[0].iaid = 8;
    let out = receive(&mut c, &other_ia, t.after(ms(30)));
    assert!(notes(&out)[0].contains("no IA_PD"));
    // Nothing collected: the first RT ends with a retransmission.
    let out = c.handle(Input::Timer, t.after(ms(1100)));
    assert_eq!(one_send(&out).kind, MessageKind::Solicit);
}

#[test]
fn rapid_commit_reply_binds_directly() {
    let t = t0();
    let mut cfg = config();
    cfg.rapid_commit = true;
    let mut c = client_with(cfg, None, t);
    let out = c.handle(Input::Start, t);
    let sol = one_send(&out);
    assert!(decode(sol).opts().get(OptionCode::RapidCommit).is_some());
    let xid = sol.xid;
    // A REPLY without Rapid Commit is not for a SOLICIT.
    let out = receive(
        &mut c,
        &grant(MessageKind::Reply, xid, SERVER_A),
        t.after(ms(10)),
    );
    assert!(notes(&out)[0].contains("Rapid Commit"));
    assert!(changes(&out).is_empty());
    let mut r = grant(MessageKind::Reply, xid, SERVER_A);
    r.rapid_commit = true;
    let out = receive(&mut c, &r, t.after(ms(20)));
    assert!(sends(&out).is_empty());
    let [LeaseChange::Bound(l)] = changes(&out)[..] else {
        panic!("{out:#?}")
    };
    assert_eq!(
        l.acquired_at, t.wall,
        "the lease starts when the SOLICIT was sent"
    );
    assert_eq!(c.state(), State::Bound);
    assert!(topics(&out).contains(&events::PREFIX_BOUND.to_string()));
}

// ----- REQUEST ------------------------------------------------------------------------------------

#[test]
fn request_reply_binds_with_the_lease_fields() {
    let t = t0();
    let mut c = new_client(t);
    let xid = one_send(&c.handle(Input::Start, t)).xid;
    let mut adv = grant(MessageKind::Advertise, xid, SERVER_A);
    adv.preference = Some(255);
    let out = receive(&mut c, &adv, t.after(ms(100)));
    let req = one_send(&out).clone();
    let mut r = grant(MessageKind::Reply, req.xid, SERVER_A);
    r.dns_servers = vec![addr("2001:db8::53")];
    r.domain_search = vec!["example.net".into()];
    let out = receive(&mut c, &r, t.after(ms(150)));
    let [LeaseChange::Bound(l)] = changes(&out)[..] else {
        panic!("{out:#?}")
    };
    assert_eq!(l.prefix.to_string(), "2001:db8:1200::/56");
    assert_eq!(
        (
            l.prefix.preferred_lifetime,
            l.prefix.valid_lifetime,
            l.t1_seconds,
            l.t2_seconds
        ),
        (3600, 7200, 1800, 2880)
    );
    assert_eq!(
        l.acquired_at,
        t.after(ms(100)).wall,
        "when the REQUEST was first sent"
    );
    assert_eq!(l.server_duid, SERVER_A);
    assert_eq!(l.server_address, addr(SERVER_ADDR));
    assert!(l.matches_identity(OUR_DUID, IAID, "wan0"));
    assert_eq!(c.lease(), Some(l));
    assert_eq!(c.state(), State::Bound);
    assert_eq!(c.deadline(), Some(t.mono + ms(100) + s(1800)), "T1");
    assert_eq!(
        topics(&out),
        [
            events::REPLY_RECEIVED,
            events::PREFIX_BOUND,
            events::INFO_RECEIVED
        ]
    );
    let e = event(&out, events::PREFIX_BOUND);
    assert_eq!(attr_of(e, attr::PREFIX), Some("2001:db8:1200::/56"));
    assert_eq!(attr_of(e, attr::SERVER_DUID), Some("0003000102000000000a"));
    assert_eq!(
        e.attributes.get("resource.kind").map(String::as_str),
        Some(events::RESOURCE_KIND)
    );
    assert!(out.contains(&Output::Information(Information {
        dns_servers: vec![addr("2001:db8::53")],
        domain_search: vec!["example.net".into()],
        ..Information::default()
    })));
    assert_eq!(c.information().map(|i| i.dns_servers.len()), Some(1));
}

#[test]
fn request_retransmits_with_the_same_xid_then_gives_up_after_ten() {
    let t = t0();
    let mut c = new_client(t);
    let xid = one_send(&c.handle(Input::Start, t)).xid;
    let mut adv = grant(MessageKind::Advertise, xid, SERVER_A);
    adv.preference = Some(255);
    let out = receive(&mut c, &adv, t);
    let req_xid = one_send(&out).xid;
    let (sent, _) = run_until(&mut c, t, s(181));
    let (reqs, rest): (Vec<_>, Vec<_>) = sent
        .iter()
        .partition(|(_, t)| t.kind == MessageKind::Request);
    let offsets: Vec<u64> = reqs.iter().map(|(d, _)| d.as_secs()).collect();
    assert_eq!(
        offsets,
        [1, 3, 7, 15, 31, 61, 91, 121, 151],
        "RT 1, 2, 4, 8, 16, 30, 30 ..."
    );
    assert!(reqs.iter().all(|(_, t)| t.xid == req_xid));
    let el: Vec<u16> = reqs.iter().map(|(_, t)| elapsed(t)).collect();
    assert_eq!(el, [100, 300, 700, 1500, 3100, 6100, 9100, 12100, 15100]);
    assert_eq!(reqs.last().map(|(_, t)| t.attempt), Some(10));
    // The 10th RT runs out at 181 s: back to SOLICIT with a new xid.
    assert_eq!(rest.len(), 1);
    let (at, sol) = rest[0];
    assert_eq!((*at, sol.kind), (s(181), MessageKind::Solicit));
    assert_ne!(sol.xid, req_xid);
    assert_eq!(c.state(), State::Soliciting);
}

#[test]
fn no_prefix_avail_to_request_solicits_again_and_passes_over_that_server() {
    let t = t0();
    let (mut c, req) = requesting(t);
    let mut r = msg(
        MessageKind::Reply,
        req.xid,
        SERVER_A,
        Some(ia(vec![], 0, 0)),
    );
    r.ia_pds[0].status = status(status_code::NO_PREFIX_AVAIL);
    let out = receive(&mut c, &r, t.after(ms(10)));
    let sol = one_send(&out);
    assert_eq!(sol.kind, MessageKind::Solicit);
    assert!(topics(&out).contains(&events::STATUS_RECEIVED.to_string()));
    assert_eq!(c.state(), State::Soliciting);
    let mut again = grant(MessageKind::Advertise, sol.xid, SERVER_A);
    again.preference = Some(255);
    let out = receive(&mut c, &again, t.after(ms(20)));
    assert!(sends(&out).is_empty());
    assert!(notes(&out)[0].contains("passed over"));
    // After the hold, the server is asked again.
    let out = receive(&mut c, &again, t.after(REFUSED_SERVER_HOLD + ms(20)));
    assert_eq!(one_send(&out).kind, MessageKind::Request);
}

#[test]
fn not_on_link_to_request_solicits_again() {
    let t = t0();
    let (mut c, req) = requesting(t);
    let mut r = msg(MessageKind::Reply, req.xid, SERVER_A, None);
    r.status = status(status_code::NOT_ON_LINK);
    let out = receive(&mut c, &r, t.after(ms(10)));
    assert_eq!(one_send(&out).kind, MessageKind::Solicit);
    assert_eq!(
        attr_of(event(&out, events::STATUS_RECEIVED), attr::STATUS_CODE),
        Some("NotOnLink")
    );
}

// ----- T1 / T2 / expiry ---------------------------------------------------------------------------

#[test]
fn t1_t2_of_zero_are_half_and_four_fifths_of_the_preferred_lifetime() {
    let t = t0();
    let (mut c, req) = requesting(t);
    let r = msg(
        MessageKind::Reply,
        req.xid,
        SERVER_A,
        Some(ia(vec![pfx("2001:db8:1200::", 56, 1000, 4000)], 0, 0)),
    );
    receive(&mut c, &r, t.after(ms(10)));
    let l = c.lease().unwrap();
    assert_eq!((l.t1_seconds, l.t2_seconds), (500, 800));
    assert_eq!(c.deadline(), Some(t.mono + s(500)));
}

#[test]
fn renew_at_t1_then_rebind_at_t2_then_expiry_and_solicit() {
    let t = t0();
    let (mut c, start) = bound(config(), t);
    let origin = start;
    let (sent, all) = run_until(&mut c, origin, s(7200));
    let of = |k: MessageKind| -> Vec<u64> {
        sent.iter()
            .filter(|(_, t)| t.kind == k)
            .map(|(d, _)| d.as_secs())
            .collect()
    };
    // RENEW: REN_TIMEOUT 10 s doubling, given up at T2 (2880).
    assert_eq!(
        of(MessageKind::Renew),
        [1800, 1810, 1830, 1870, 1950, 2110, 2430]
    );
    // REBIND from T2, doubling to REB_MAX_RT 600 s, until the valid lifetime ends (7200).
    assert_eq!(
        of(MessageKind::Rebind),
        [2880, 2890, 2910, 2950, 3030, 3190, 3510, 4110, 4710, 5310, 5910, 6510, 7110]
    );
    assert_eq!(of(MessageKind::Solicit), [7200]);
    let renews: Vec<&Transmit> = sent
        .iter()
        .filter(|(_, t)| t.kind == MessageKind::Renew)
        .map(|(_, t)| t)
        .collect();
    assert!(renews.iter().all(|t| t.xid == renews[0].xid));
    assert_eq!(
        renews[0].destination,
        Destination::AllServers,
        "no Server Unicast option"
    );
    assert_eq!(server_id_of(renews[0]), Some(SERVER_A.to_vec()));
    assert_eq!(
        ia_pd_of(renews[0]),
        Some((IAID, 0, 0, vec![(addr("2001:db8:1200::"), 56)]))
    );
    let rebinds: Vec<&Transmit> = sent
        .iter()
        .filter(|(_, t)| t.kind == MessageKind::Rebind)
        .map(|(_, t)| t)
        .collect();
    assert_eq!(
        server_id_of(rebinds[0]),
        None,
        "REBIND carries no Server Identifier"
    );
    assert_eq!(rebinds[0].state, State::Rebinding);
    assert_ne!(rebinds[0].xid, renews[0].xid);
    assert_eq!(
        topics(&all),
        [
            events::SERVER_LOST,
            events::PREFIX_EXPIRED,
            events::SOLICIT_SENT
        ]
    );
    let [LeaseChange::Expired(l)] = changes(&all)[..] else {
        panic!()
    };
    assert_eq!(l.prefix.to_string(), "2001:db8:1200::/56");
    assert_eq!(c.lease(), None);
    assert_eq!(c.state(), State::Soliciting);
}

#[test]
fn renew_is_unicast_when_the_server_allows_it_and_a_reply_renews() {
    let t = t0();
    let (mut c, req) = requesting(t);
    let mut r = grant(MessageKind::Reply, req.xid, SERVER_A);
    r.server_unicast = Some(addr("2001:db8::547"));
    receive(&mut c, &r, t);
    let out = c.handle(Input::Timer, t.after(s(1800)));
    let ren = one_send(&out).clone();
    assert_eq!(ren.kind, MessageKind::Renew);
    assert_eq!(ren.destination, Destination::Unicast(addr("2001:db8::547")));
    assert_eq!(c.state(), State::Renewing);
    assert!(topics(&out).is_empty(), "RENEW is not an event; renewed is");
    // A REPLY from another server does not renew.
    let out = receive(
        &mut c,
        &grant(MessageKind::Reply, ren.xid, SERVER_B),
        t.after(s(1801)),
    );
    assert!(notes(&out)[0].contains("went to"), "{out:#?}");
    let mut reply = grant(MessageKind::Reply, ren.xid, SERVER_A);
    reply.ia_pds[0].prefixes[0].valid_lifetime = 9000;
    let out = receive(&mut c, &reply, t.after(s(1802)));
    let [LeaseChange::Renewed(l)] = changes(&out)[..] else {
        panic!("{out:#?}")
    };
    assert_eq!(
        l.acquired_at,
        t.after(s(1800)).wall,
        "counted from the RENEW"
    );
    assert_eq!(l.prefix.valid_lifetime, 9000);
    assert_eq!(c.state(), State::Bound);
    assert_eq!(
        c.deadline(),
        Some(t.mono + s(3600)),
        "next T1 from the RENEW"
    );
    assert_eq!(
        topics(&out),
        [events::REPLY_RECEIVED, events::PREFIX_RENEWED]
    );
}

#[test]
fn rebind_reply_from_any_server_rebinds() {
    let t = t0();
    let (mut c, start) = bound(config(), t);
    let out = c.handle(Input::Timer, start.after(s(2880)));
    assert_eq!(
        one_send(&out).kind,
        MessageKind::Rebind,
        "T1 and T2 both due: REBIND"
    );
    let reb = one_send(&out).clone();
    let out = receive(
        &mut c,
        &grant(MessageKind::Reply, reb.xid, SERVER_B),
        start.after(s(2881)),
    );
    let [LeaseChange::Rebound(l)] = changes(&out)[..] else {
        panic!("{out:#?}")
    };
    assert_eq!(l.server_duid, SERVER_B);
    assert!(topics(&out).contains(&events::PREFIX_REBOUND.to_string()));
}

#[test]
fn no_prefix_avail_to_renew_is_not_a_renewal() {
    let t = t0();
    let (mut c, start) = bound(config(), t);
    let before = c.lease().cloned().unwrap();
    let ren = renew_at_t1(&mut c, start);
    let mut r = grant(MessageKind::Reply, ren.xid, SERVER_A);
    r.ia_pds[0].prefixes.clear();
    r.ia_pds[0].status = Some(Status {
        code: status_code::NO_PREFIX_AVAIL,
        message: "pool exhausted".into(),
    });
    let out = receive(&mut c, &r, start.after(s(1801)));
    assert!(changes(&out).is_empty());
    assert!(sends(&out).is_empty());
    let e = event(&out, events::STATUS_RECEIVED);
    assert_eq!(attr_of(e, attr::STATUS_CODE), Some("NoPrefixAvail"));
    assert_eq!(attr_of(e, attr::STATUS_MESSAGE), Some("pool exhausted"));
    assert_eq!(c.lease(), Some(&before), "lifetimes and T1/T2 unchanged");
    assert_eq!(c.state(), State::Renewing);
    assert_eq!(
        c.last_status(),
        Some((status_code::NO_PREFIX_AVAIL, "pool exhausted".into()))
    );
    // The RENEW goes on on schedule, and T2 still means REBIND.
    assert_eq!(c.deadline(), Some(start.mono + s(1810)));
    let out = c.handle(Input::Timer, start.after(s(1810)));
    assert_eq!(one_send(&out).kind, MessageKind::Renew);
    let (sent, all) = run_until(&mut c, start, s(2880));
    assert_eq!(
        sent.last().map(|(d, t)| (d.as_secs(), t.kind)),
        Some((2880, MessageKind::Rebind))
    );
    assert!(topics(&all).contains(&events::SERVER_LOST.to_string()));
}

#[test]
fn no_binding_to_renew_sends_request_and_binds() {
    let t = t0();
    let (mut c, start) = bound(config(), t);
    let ren = renew_at_t1(&mut c, start);
    let mut r = grant(MessageKind::Reply, ren.xid, SERVER_A);
    r.ia_pds[0].prefixes.clear();
    r.ia_pds[0].status = status(status_code::NO_BINDING);
    let out = receive(&mut c, &r, start.after(s(1801)));
    let req = one_send(&out).clone();
    assert_eq!(req.kind, MessageKind::Request);
    assert_eq!(server_id_of(&req), Some(SERVER_A.to_vec()));
    assert_eq!(
        ia_pd_of(&req),
        Some((IAID, 0, 0, vec![(addr("2001:db8:1200::"), 56)]))
    );
    assert_eq!(c.state(), State::Requesting);
    assert!(c.lease().is_some(), "the prefix stays in use meanwhile");
    assert_eq!(
        attr_of(event(&out, events::STATUS_RECEIVED), attr::STATUS_CODE),
        Some("NoBinding")
    );
    let out = receive(
        &mut c,
        &grant(MessageKind::Reply, req.xid, SERVER_A),
        start.after(s(1802)),
    );
    let [LeaseChange::Bound(l)] = changes(&out)[..] else {
        panic!("{out:#?}")
    };
    assert_eq!(l.acquired_at, start.after(s(1801)).wall);
    assert_eq!(c.state(), State::Bound);
}

#[test]
fn use_multicast_resends_by_multicast_and_stops_unicasting() {
    let t = t0();
    let (mut c, req) = requesting(t);
    let mut r = grant(MessageKind::Reply, req.xid, SERVER_A);
    r.server_unicast = Some(addr("2001:db8::547"));
    receive(&mut c, &r, t);
    let ren = one_send(&c.handle(Input::Timer, t.after(s(1800)))).clone();
    assert!(matches!(ren.destination, Destination::Unicast(_)));
    let mut um = msg(MessageKind::Reply, ren.xid, SERVER_A, None);
    um.status = status(status_code::USE_MULTICAST);
    let out = receive(&mut c, &um, t.after(s(1801)));
    let again = one_send(&out);
    assert_eq!(
        (again.kind, again.xid, again.destination),
        (MessageKind::Renew, ren.xid, Destination::AllServers)
    );
    assert_eq!(elapsed(again), 100);
    assert_eq!(
        attr_of(event(&out, events::STATUS_RECEIVED), attr::STATUS_CODE),
        Some("UseMulticast")
    );
    // Later retransmissions stay multicast.
    let d = c.deadline().unwrap();
    let out = c.handle(Input::Timer, t.after(d - t.mono));
    assert_eq!(one_send(&out).destination, Destination::AllServers);
}

#[test]
fn unspec_fail_is_like_no_answer() {
    let t = t0();
    let (mut c, start) = bound(config(), t);
    let ren = renew_at_t1(&mut c, start);
    let mut r = msg(MessageKind::Reply, ren.xid, SERVER_A, None);
    r.status = status(status_code::UNSPEC_FAIL);
    let out = receive(&mut c, &r, start.after(s(1801)));
    assert!(sends(&out).is_empty() && changes(&out).is_empty());
    assert_eq!(
        attr_of(event(&out, events::STATUS_RECEIVED), attr::STATUS_CODE),
        Some("UnspecFail")
    );
    assert_eq!(c.deadline(), Some(start.mono + s(1810)));
}

#[test]
fn a_withdrawn_prefix_replaced_by_a_new_one_is_a_change() {
    let t = t0();
    let (mut c, start) = bound(config(), t);
    let ren = renew_at_t1(&mut c, start);
    let r = reply_granting(
        ren.xid,
        vec![
            pfx("2001:db8:1200::", 56, 0, 0),
            pfx("2001:db8:3400::", 56, 3600, 7200),
        ],
    );
    let out = receive(&mut c, &r, start.after(s(1801)));
    let [LeaseChange::Changed { lease, previous }] = changes(&out)[..] else {
        panic!("{out:#?}")
    };
    assert_eq!(lease.prefix.to_string(), "2001:db8:3400::/56");
    assert_eq!(previous.to_string(), "2001:db8:1200::/56");
    let e = event(&out, events::PREFIX_CHANGED);
    assert_eq!(attr_of(e, attr::PREFIX), Some("2001:db8:3400::/56"));
    assert_eq!(
        attr_of(e, attr::PREVIOUS_PREFIX),
        Some("2001:db8:1200::/56")
    );
    assert!(!topics(&out).contains(&events::PREFIX_RENEWED.to_string()));
    assert!(
        c.previous_prefixes().is_empty(),
        "valid lifetime 0: gone at once"
    );
}

#[test]
fn a_replaced_prefix_is_kept_as_previous_until_its_valid_lifetime_ends() {
    let t = t0();
    let (mut c, start) = bound(config(), t);
    let ren = renew_at_t1(&mut c, start);
    // The old prefix is not listed: it keeps what remained of its own valid lifetime (7200 - 1801).
    let r = reply_granting(ren.xid, vec![pfx("2001:db8:3400::", 56, 3600, 7200)]);
    let out = receive(&mut c, &r, start.after(s(1801)));
    assert!(matches!(changes(&out)[..], [LeaseChange::Changed { .. }]));
    let prev = c.previous_prefixes().to_vec();
    assert_eq!(prev.len(), 1);
    assert_eq!(prev[0].prefix.to_string(), "2001:db8:1200::/56");
    assert_eq!(prev[0].prefix.valid_lifetime, 7200 - 1801);
    assert_eq!(prev[0].prefix.preferred_lifetime, 3600 - 1801);
    assert_eq!(prev[0].valid_until, start.after(s(7200)).wall);
    assert_eq!(
        c.deadline(),
        Some(start.mono + s(1800 + 1800)),
        "T1 of the new lease (from the RENEW) first"
    );
    c.handle(Input::Timer, start.after(s(7199)));
    assert_eq!(c.previous_prefixes().len(), 1);
    c.handle(Input::Timer, start.after(s(7200)));
    assert!(
        c.previous_prefixes().is_empty(),
        "dropped at its valid_until"
    );
    // A listed old prefix with a remaining lifetime keeps that one.
    let (mut c, start) = bound(config(), t);
    let ren = renew_at_t1(&mut c, start);
    let r = reply_granting(
        ren.xid,
        vec![
            pfx("2001:db8:1200::", 56, 0, 300),
            pfx("2001:db8:3400::", 56, 3600, 7200),
        ],
    );
    receive(&mut c, &r, start.after(s(1801)));
    // The server still lists the old prefix as valid, and it is the one held: it stays current.
    assert_eq!(c.lease().unwrap().prefix.to_string(), "2001:db8:1200::/56");
}

#[test]
fn a_different_prefix_after_expiry_is_a_change_without_previous() {
    let t = t0();
    let (mut c, start) = bound(config(), t);
    let (sent, _) = run_until(&mut c, start, s(7200));
    let sol = sent.last().unwrap().1.clone();
    assert_eq!(sol.kind, MessageKind::Solicit);
    let mut adv = msg(
        MessageKind::Advertise,
        sol.xid,
        SERVER_A,
        Some(ia(vec![pfx("2001:db8:5600::", 56, 3600, 7200)], 0, 0)),
    );
    adv.preference = Some(255);
    let req = one_send(&receive(&mut c, &adv, start.after(s(7201)))).clone();
    let r = msg(
        MessageKind::Reply,
        req.xid,
        SERVER_A,
        Some(ia(vec![pfx("2001:db8:5600::", 56, 3600, 7200)], 0, 0)),
    );
    let out = receive(&mut c, &r, start.after(s(7202)));
    let [LeaseChange::Changed { previous, .. }] = changes(&out)[..] else {
        panic!("{out:#?}")
    };
    assert_eq!(previous.to_string(), "2001:db8:1200::/56");
    assert!(c.previous_prefixes().is_empty(), "the old one had expired");
}

// ----- restart ------------------------------------------------------------------------------------

fn remembered(acquired: Timestamp) -> Lease {
    Lease {
        duid: OUR_DUID.to_vec(),
        iaid: IAID,
        ifname: "wan0".into(),
        server_duid: SERVER_A.to_vec(),
        server_address: addr(SERVER_ADDR),
        server_unicast: None,
        prefix: DelegatedPrefix {
            prefix: addr("2001:db8:1200::"),
            length: 56,
            preferred_lifetime: 3600,
            valid_lifetime: 7200,
        },
        t1_seconds: 1800,
        t2_seconds: 2880,
        acquired_at: acquired,
    }
}

#[test]
fn a_remembered_lease_before_t1_is_used_without_a_message() {
    let t = t0();
    let lease = remembered(t.wall.saturating_sub(s(1000)));
    let mut c = client_with(config(), Some(lease.clone()), t);
    let out = c.handle(Input::Start, t);
    assert!(
        sends(&out).is_empty() && changes(&out).is_empty(),
        "{out:#?}"
    );
    assert_eq!(c.state(), State::Bound);
    assert_eq!(c.lease(), Some(&lease));
    assert_eq!(c.deadline(), Some(t.mono + s(800)), "T1");
    let out = c.handle(Input::Timer, t.after(s(800)));
    assert_eq!(one_send(&out).kind, MessageKind::Renew);
}

#[test]
fn a_remembered_lease_after_t1_is_renewed_after_t2_rebound() {
    let t = t0();
    let mut c = client_with(
        config(),
        Some(remembered(t.wall.saturating_sub(s(2000)))),
        t,
    );
    let out = c.handle(Input::Start, t);
    let ren = one_send(&out);
    assert_eq!((ren.kind, c.state()), (MessageKind::Renew, State::Renewing));
    // MRD is the time left until T2: 880 s.
    let (sent, _) = run_until(&mut c, t, s(880));
    assert_eq!(
        sent.last().map(|(d, t)| (d.as_secs(), t.kind)),
        Some((880, MessageKind::Rebind))
    );

    let mut c = client_with(
        config(),
        Some(remembered(t.wall.saturating_sub(s(3000)))),
        t,
    );
    let out = c.handle(Input::Start, t);
    assert_eq!(one_send(&out).kind, MessageKind::Rebind);
    assert_eq!(c.state(), State::Rebinding);
    assert!(topics(&out).is_empty(), "not server.lost: nobody was asked");
}

#[test]
fn an_expired_remembered_lease_means_solicit() {
    let t = t0();
    let mut c = client_with(
        config(),
        Some(remembered(t.wall.saturating_sub(s(7200)))),
        t,
    );
    assert_eq!(c.lease(), None);
    let out = c.handle(Input::Start, t);
    assert_eq!(one_send(&out).kind, MessageKind::Solicit);
    assert!(changes(&out).is_empty());
}

#[test]
fn restore_keeps_previous_prefixes_still_valid() {
    let t = t0();
    let mut c = client_with(config(), Some(remembered(t.wall)), t);
    let keep = PreviousPrefix {
        prefix: DelegatedPrefix {
            prefix: addr("2001:db8:9900::"),
            length: 56,
            preferred_lifetime: 0,
            valid_lifetime: 100,
        },
        valid_until: t.wall.saturating_add(s(100)),
    };
    let gone = PreviousPrefix {
        valid_until: t.wall,
        ..keep.clone()
    };
    c.restore(vec![keep.clone(), gone], Some(Information::default()), t);
    assert_eq!(c.previous_prefixes(), [keep]);
    assert_eq!(c.information(), None, "empty information is none");
    c.handle(Input::Start, t);
    assert_eq!(c.deadline(), Some(t.mono + s(100)));
    c.handle(Input::Timer, t.after(s(100)));
    assert!(c.previous_prefixes().is_empty());
}

// ----- link ---------------------------------------------------------------------------------------

#[test]
fn carrier_loss_pauses_and_carrier_return_rebinds_with_a_lease() {
    let t = t0();
    let (mut c, start) = bound(config(), t);
    let out = c.handle(Input::Link(LinkEvent::CarrierLost), start.after(s(10)));
    assert!(sends(&out).is_empty());
    assert_eq!(
        c.deadline(),
        Some(start.mono + s(7200)),
        "only the expiry runs"
    );
    assert!(c.command(Command::Renew, start.after(s(11))).is_err());
    let out = c.handle(Input::Link(LinkEvent::CarrierUp), start.after(s(2000)));
    let reb = one_send(&out);
    assert_eq!(reb.kind, MessageKind::Rebind);
    assert_eq!((reb.attempt, elapsed(reb)), (1, 0));
    assert_eq!(c.state(), State::Rebinding);
    assert_eq!(
        c.deadline(),
        Some(start.mono + s(2010)),
        "a fresh REB schedule"
    );
}

#[test]
fn carrier_return_without_a_lease_solicits_at_once() {
    let t = t0();
    let mut cfg = config();
    cfg.initial_delay = true;
    let mut c = client_with(cfg, None, t);
    c.handle(Input::Start, t);
    c.handle(Input::Link(LinkEvent::CarrierLost), t.after(ms(1)));
    assert_eq!(c.deadline(), None);
    let out = c.handle(Input::Link(LinkEvent::CarrierUp), t.after(s(5)));
    assert_eq!(
        one_send(&out).kind,
        MessageKind::Solicit,
        "no initial delay"
    );
}

#[test]
fn expiry_while_the_carrier_is_lost_waits_for_the_carrier_to_solicit() {
    let t = t0();
    let (mut c, start) = bound(config(), t);
    c.handle(Input::Link(LinkEvent::CarrierLost), start.after(s(10)));
    let out = c.handle(Input::Timer, start.after(s(7200)));
    assert!(matches!(changes(&out)[..], [LeaseChange::Expired(_)]));
    assert!(sends(&out).is_empty());
    assert_eq!(c.deadline(), None);
    let out = c.handle(Input::Link(LinkEvent::CarrierUp), start.after(s(7300)));
    assert_eq!(one_send(&out).kind, MessageKind::Solicit);
}

// ----- commands -----------------------------------------------------------------------------------

#[test]
fn release_gives_the_prefix_back_and_goes_quiet() {
    let t = t0();
    let (mut c, start) = bound(config(), t);
    let at = start.after(s(100));
    let out = c.command(Command::Release, at).unwrap();
    let rel = one_send(&out).clone();
    assert_eq!(rel.kind, MessageKind::Release);
    assert_eq!(rel.destination, Destination::AllServers);
    assert_eq!(server_id_of(&rel), Some(SERVER_A.to_vec()));
    assert_eq!(
        ia_pd_of(&rel),
        Some((IAID, 0, 0, vec![(addr("2001:db8:1200::"), 56)]))
    );
    assert!(decode(&rel).opts().get(OptionCode::ORO).is_none());
    assert!(matches!(changes(&out)[..], [LeaseChange::Released(_)]));
    assert_eq!(topics(&out), [events::PREFIX_RELEASED]);
    assert_eq!((c.state(), c.lease()), (State::Released, None));
    let (sent, _) = run_until(&mut c, at, s(100_000));
    let offsets: Vec<u64> = sent.iter().map(|(d, _)| d.as_secs()).collect();
    assert_eq!(offsets, [1, 3, 7], "REL_MAX_RC 4 in all");
    assert!(sent.iter().all(|(_, t)| t.xid == rel.xid));
    assert_eq!(c.deadline(), None, "then nothing");
    assert!(c.command(Command::Release, at).is_err());
    let out = c.command(Command::Renew, at.after(s(200))).unwrap();
    assert_eq!(one_send(&out).kind, MessageKind::Solicit);
}

#[test]
fn release_without_a_carrier_is_local() {
    let t = t0();
    let (mut c, start) = bound(config(), t);
    c.handle(Input::Link(LinkEvent::CarrierLost), start);
    let out = c.command(Command::Release, start.after(s(1))).unwrap();
    assert!(sends(&out).is_empty());
    assert!(matches!(changes(&out)[..], [LeaseChange::Released(_)]));
    assert_eq!(c.state(), State::Released);
    let out = c.handle(Input::Link(LinkEvent::CarrierUp), start.after(s(2)));
    assert!(sends(&out).is_empty(), "released: quiet until renew");
    assert_eq!(c.deadline(), None);
}

#[test]
fn a_reply_to_release_ends_it() {
    let t = t0();
    let (mut c, start) = bound(config(), t);
    let rel = one_send(&c.command(Command::Release, start).unwrap()).clone();
    let out = receive(
        &mut c,
        &msg(MessageKind::Reply, rel.xid, SERVER_A, None),
        start,
    );
    assert!(notes(&out)[0].contains("RELEASE acknowledged"));
    assert_eq!(c.deadline(), None);
}

#[test]
fn renew_and_rebind_commands() {
    let t = t0();
    let mut c = new_client(t);
    assert!(c.command(Command::Renew, t).is_err(), "not started");
    c.handle(Input::Start, t);
    let out = c.command(Command::Rebind, t).unwrap();
    assert_eq!(
        one_send(&out).kind,
        MessageKind::Solicit,
        "without a prefix a rebind solicits"
    );
    let out = c.command(Command::Renew, t.after(ms(500))).unwrap();
    assert_eq!(one_send(&out).kind, MessageKind::Solicit);
    let (mut c, start) = bound(config(), t);
    let out = c.command(Command::Renew, start.after(s(5))).unwrap();
    assert_eq!(one_send(&out).kind, MessageKind::Renew);
    let out = c.command(Command::Rebind, start.after(s(6))).unwrap();
    assert_eq!(one_send(&out).kind, MessageKind::Rebind);
    let out = c.command(Command::Renew, start.after(s(7))).unwrap();
    assert_eq!(
        one_send(&out).kind,
        MessageKind::Rebind,
        "already rebinding"
    );
}

#[test]
fn info_request_fetches_information_without_touching_the_lease() {
    let t = t0();
    let (mut c, start) = bound(config(), t);
    let lease = c.lease().cloned();
    let out = c.command(Command::InfoRequest, start.after(s(10))).unwrap();
    let ir = one_send(&out).clone();
    assert_eq!(ir.kind, MessageKind::InformationRequest);
    assert_eq!(ia_pd_of(&ir), None);
    assert_eq!(server_id_of(&ir), None);
    assert!(decode(&ir).opts().get(OptionCode::ORO).is_some());
    assert_eq!(c.state(), State::Bound);
    // INF_TIMEOUT 1 s; T1 still scheduled.
    assert_eq!(c.deadline(), Some(start.mono + s(11)));
    let mut r = msg(MessageKind::Reply, ir.xid, SERVER_B, None);
    r.dns_servers = vec![addr("2001:db8::53"), addr("2001:db8::54")];
    r.sntp_servers = vec![addr("2001:db8::123")];
    r.aftr_name = Some("aftr.example.net".into());
    let out = receive(&mut c, &r, start.after(s(10)));
    let info = Information {
        dns_servers: vec![addr("2001:db8::53"), addr("2001:db8::54")],
        domain_search: vec![],
        sntp_servers: vec![addr("2001:db8::123")],
        aftr_name: Some("aftr.example.net".into()),
    };
    assert!(out.contains(&Output::Information(info.clone())));
    let e = event(&out, events::INFO_RECEIVED);
    assert_eq!(
        attr_of(e, attr::DNS_SERVERS),
        Some("2001:db8::53,2001:db8::54")
    );
    assert_eq!(attr_of(e, attr::AFTR_NAME), Some("aftr.example.net"));
    assert!(changes(&out).is_empty());
    assert_eq!(c.lease().cloned(), lease);
    assert_eq!(c.information(), Some(&info));
    assert_eq!(c.deadline(), Some(start.mono + s(1800)));
    // The same information again is not news.
    let ir = one_send(&c.command(Command::InfoRequest, start.after(s(20))).unwrap()).clone();
    let mut r2 = r.clone();
    r2.xid = ir.xid;
    let out = receive(&mut c, &r2, start.after(s(20)));
    assert!(!out.iter().any(|o| matches!(o, Output::Information(_))));
}

#[test]
fn stop_ends_all_traffic_and_keeps_the_lease() {
    let t = t0();
    let (mut c, start) = bound(config(), t);
    c.command(Command::Stop, start).unwrap();
    assert_eq!(c.state(), State::Stopped);
    assert!(c.lease().is_some());
    assert_eq!(c.deadline(), None);
    assert!(c.command(Command::Renew, start).is_err());
    assert!(sends(&c.handle(Input::Timer, start.after(s(5000)))).is_empty());
}

#[test]
fn update_config_keeps_the_identity() {
    let t = t0();
    let mut c = new_client(t);
    let mut next = config();
    next.duid = vec![9, 9];
    next.iaid = 99;
    next.ifname = "other".into();
    next.prefix_length_hint = Some(60);
    c.update_config(next);
    assert_eq!(c.config().duid, OUR_DUID);
    assert_eq!(
        (c.config().iaid, c.config().ifname.as_str()),
        (IAID, "wan0")
    );
    assert_eq!(c.config().prefix_length_hint, Some(60));
}

// ----- validation ---------------------------------------------------------------------------------

#[test]
fn messages_not_for_us_are_ignored_with_a_note() {
    let t = t0();
    let mut c = new_client(t);
    let xid = one_send(&c.handle(Input::Start, t)).xid;
    let check = |c: &mut Client, r: Reply, why: &str| {
        let out = receive(c, &r, t.after(ms(10)));
        assert_eq!(out.len(), 1, "{out:#?}");
        assert!(notes(&out)[0].contains(why), "{why}: {out:#?}");
    };
    let good = || grant(MessageKind::Advertise, xid, SERVER_A);
    let mut r = good();
    r.xid = [9, 9, 9];
    check(&mut c, r, "transaction id 090909");
    let mut r = good();
    r.client_id = Some(vec![0, 3, 0, 1, 2, 0, 0, 0, 0, 2]);
    check(&mut c, r, "is not ours");
    let mut r = good();
    r.client_id = None;
    check(&mut c, r, "no Client Identifier");
    let mut r = good();
    r.server_id = None;
    check(&mut c, r, "no Server Identifier");
    // A Reconfigure is ignored too, but as a warning the operator sees (protocols.md: "ignored,
    // logged"): this client does no DHCPv6 authentication.
    let mut r = good();
    r.kind = MessageKind::Reconfigure;
    let out = receive(&mut c, &r, t.after(ms(10)));
    assert!(
        matches!(out.as_slice(), [Output::Warning(w)] if w.contains("RECONFIGURE") && w.contains("authenticated")),
        "{out:#?}"
    );
    assert_eq!(c.state(), State::Soliciting);
    // An ADVERTISE to a REQUEST is not expected.
    let mut adv = good();
    adv.preference = Some(255);
    let req = one_send(&receive(&mut c, &adv, t)).clone();
    let out = receive(&mut c, &grant(MessageKind::Advertise, req.xid, SERVER_A), t);
    assert!(notes(&out)[0].contains("not expected"), "{out:#?}");
    // Nothing is listened to before start.
    let mut fresh = new_client(t);
    let out = receive(&mut fresh, &good(), t);
    assert!(notes(&out)[0].contains("not listening"));
}

#[test]
fn state_and_command_names() {
    let names: Vec<&str> = [
        State::Soliciting,
        State::Requesting,
        State::Bound,
        State::Renewing,
        State::Rebinding,
        State::Released,
        State::Stopped,
    ]
    .iter()
    .map(|s| s.as_str())
    .collect();
    assert_eq!(
        names,
        [
            "Soliciting",
            "Requesting",
            "Bound",
            "Renewing",
            "Rebinding",
            "Released",
            "Stopped"
        ]
    );
    assert_eq!(Command::InfoRequest.as_str(), "info-request");
}

/// A PPPoE session that comes back wakes the client with `rebind`: a SOLICIT that was backing off
/// towards SOL_MAX_RT goes out at once, and a prefix that expired while the WAN was down is dropped and
/// a new one solicited.
#[test]
fn rebind_command_solicits_at_once_when_there_is_nothing_to_rebind() {
    let t = t0();
    let mut c = new_client(t);
    c.handle(Input::Start, t);
    // Let the SOLICIT back off for a while: its next retransmission is far away.
    let mut now = t;
    for _ in 0..8 {
        if let Some(d) = c.deadline() {
            now = now.after(d.saturating_duration_since(now.mono));
        }
        c.handle(Input::Timer, now);
    }
    let waiting = c
        .deadline()
        .expect("a retransmission is due")
        .saturating_duration_since(now.mono);
    assert!(waiting > s(30), "the SOLICIT did not back off: {waiting:?}");
    let out = c.command(Command::Rebind, now.after(ms(10))).unwrap();
    assert_eq!(one_send(&out).kind, MessageKind::Solicit);
    assert!(
        c.deadline()
            .expect("a retransmission is due")
            .saturating_duration_since(now.mono)
            < s(3),
        "the backoff started over"
    );

    let (mut c, start) = bound(config(), t);
    let late = start.after(s(100_000));
    let out = c.command(Command::Rebind, late).unwrap();
    assert_eq!(
        one_send(&out).kind,
        MessageKind::Solicit,
        "an expired prefix is not rebound"
    );
    assert!(c.lease().is_none());
}
