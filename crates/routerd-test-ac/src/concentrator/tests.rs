//! Sans-IO tests of the access concentrator against the client crate's own state machines (LCP, IPCP
//! and IPv6CP with the client's policies) and hand-written PAP/CHAP answers, on a virtual clock.

use std::net::Ipv4Addr;
use std::time::Duration;

use proptest::prelude::*;
use routerd_pppoe_client::negotiation::ipcp::IpcpPolicy;
use routerd_pppoe_client::negotiation::ipv6cp::Ipv6cpPolicy;
use routerd_pppoe_client::negotiation::lcp::{AuthMethods, LcpPolicy};
use routerd_pppoe_client::negotiation::{
    Input, LayerEvent, Negotiation, Output as NcpOutput, State,
};
use routerd_proto::ppp::auth::{chap_md5_response, ChapPacket, PapPacket};
use routerd_proto::ppp::control::{ControlPacket, LcpOption, LcpPacket};
use routerd_proto::ppp::{Packet, Protocol, Secret};
use routerd_proto::pppoe::{tag_type, Code, DiscoveryPacket, SessionFrame, Tag};
use routerd_sansio::{Now, Sequence, XorShift};

use super::*;

const AC_MAC: Mac = [0x02, 0, 0, 0, 0, 0xac];
const CLIENT_MAC: Mac = [0x02, 0, 0, 0, 0, 0x01];
const LOCAL: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 2);
const DNS: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 53);

fn config(auth: AuthKind) -> Config {
    Config {
        ac_name: "TestAC".into(),
        service_names: vec!["internet".into()],
        auth,
        username: Some("alice".into()),
        password: Some(Secret::new(b"s3cret".to_vec())),
        local_ipv4: LOCAL,
        peer_ipv4: PEER,
        dns: vec![DNS],
        interface_id: [0x02, 0, 0, 0xff, 0xfe, 0, 0, 0xac],
        mac: AC_MAC,
        timers: Timers::default(),
    }
}

fn ac(auth: AuthKind) -> Concentrator {
    Concentrator::new(config(auth), Box::new(XorShift::new(7)))
}

fn discovery_frame(src: Mac, dst: Mac, packet: &DiscoveryPacket) -> Vec<u8> {
    let mut frame = ethernet_header(dst, src, ETHERTYPE_DISCOVERY);
    packet.encode(&mut frame).unwrap();
    frame
}

fn padi(service: &[u8]) -> DiscoveryPacket {
    DiscoveryPacket {
        code: Code::Padi,
        session_id: 0,
        tags: vec![
            Tag::ServiceName(service.to_vec()),
            Tag::HostUniq(vec![1, 2, 3, 4]),
            Tag::RelaySessionId(vec![9, 9]),
        ],
    }
}

fn frames(out: &[Output]) -> Vec<&[u8]> {
    out.iter()
        .filter_map(|o| match o {
            Output::Frame(frame) => Some(frame.as_slice()),
            Output::Note(_) => None,
        })
        .collect()
}

fn events(out: &[Output]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            Output::Note(note) => note["event"].as_str().map(str::to_owned),
            Output::Frame(_) => None,
        })
        .collect()
}

fn discovery_replies(out: &[Output]) -> Vec<DiscoveryPacket> {
    frames(out)
        .into_iter()
        .filter(|f| f[12..14] == ETHERTYPE_DISCOVERY.to_be_bytes())
        .map(|f| {
            assert_eq!(&f[..6], &CLIENT_MAC, "replies go to the client");
            assert_eq!(&f[6..12], &AC_MAC);
            DiscoveryPacket::decode(&f[14..]).unwrap()
        })
        .collect()
}

#[test]
fn padi_gets_an_offer_with_name_service_cookie_and_echoed_tags() {
    let mut ac = ac(AuthKind::Pap);
    let now = Now::system();
    let mut out = Vec::new();
    let frame = discovery_frame(CLIENT_MAC, BROADCAST, &padi(b"internet"));
    assert_eq!(ac.handle_frame(&frame, now, &mut out), None);
    let [pado] = discovery_replies(&out).try_into().unwrap();
    assert_eq!(pado.code, Code::Pado);
    assert_eq!(pado.tags[0], Tag::AcName(b"TestAC".to_vec()));
    assert_eq!(pado.tags[1], Tag::ServiceName(b"internet".to_vec()));
    assert!(matches!(pado.find(tag_type::AC_COOKIE), Some(Tag::AcCookie(c)) if c.len() == 16));
    assert_eq!(
        pado.find(tag_type::HOST_UNIQ),
        Some(&Tag::HostUniq(vec![1, 2, 3, 4]))
    );
    assert_eq!(
        pado.find(tag_type::RELAY_SESSION_ID),
        Some(&Tag::RelaySessionId(vec![9, 9]))
    );
    assert_eq!(pado.error_tag(), None);
    assert_eq!(events(&out), ["padi", "pado"]);
    assert_eq!(ac.stats().padi_received, 1);
}

#[test]
fn a_service_not_offered_is_refused_with_service_name_error() {
    let mut ac = ac(AuthKind::Pap);
    let mut out = Vec::new();
    let frame = discovery_frame(CLIENT_MAC, BROADCAST, &padi(b"video"));
    ac.handle_frame(&frame, Now::system(), &mut out);
    let [pado] = discovery_replies(&out).try_into().unwrap();
    assert!(matches!(pado.error_tag(), Some(Tag::ServiceNameError(_))));
    assert_eq!(pado.find(tag_type::AC_COOKIE), None);
}

/// Runs discovery for `client` and returns the session id of the PADS.
fn discover(ac: &mut Concentrator, client: Mac, now: Now, out: &mut Vec<Output>) -> u16 {
    let frame = discovery_frame(client, BROADCAST, &padi(b""));
    ac.handle_frame(&frame, now, out);
    let pado = discovery_replies_for(out, client).pop().unwrap();
    let Some(Tag::AcCookie(cookie)) = pado.find(tag_type::AC_COOKIE).cloned() else {
        panic!("no cookie in {pado:?}");
    };
    out.clear();
    let padr = DiscoveryPacket {
        code: Code::Padr,
        session_id: 0,
        tags: vec![
            Tag::ServiceName(Vec::new()),
            Tag::HostUniq(vec![1, 2, 3, 4]),
            Tag::AcCookie(cookie),
        ],
    };
    ac.handle_frame(&discovery_frame(client, AC_MAC, &padr), now, out);
    let pads = discovery_replies_for(out, client)
        .into_iter()
        .find(|p| p.code == Code::Pads)
        .unwrap();
    assert_eq!(pads.error_tag(), None);
    assert_eq!(
        pads.find(tag_type::HOST_UNIQ),
        Some(&Tag::HostUniq(vec![1, 2, 3, 4]))
    );
    assert_ne!(pads.session_id, 0);
    pads.session_id
}

fn discovery_replies_for(out: &[Output], client: Mac) -> Vec<DiscoveryPacket> {
    frames(out)
        .into_iter()
        .filter(|f| f[12..14] == ETHERTYPE_DISCOVERY.to_be_bytes() && f[..6] == client)
        .map(|f| DiscoveryPacket::decode(&f[14..]).unwrap())
        .collect()
}

#[test]
fn padr_without_our_cookie_is_ignored_and_an_unoffered_service_refused() {
    let mut ac = ac(AuthKind::Pap);
    let now = Now::system();
    let mut out = Vec::new();
    let forged = DiscoveryPacket {
        code: Code::Padr,
        session_id: 0,
        tags: vec![Tag::ServiceName(vec![]), Tag::AcCookie(vec![0; 16])],
    };
    ac.handle_frame(&discovery_frame(CLIENT_MAC, AC_MAC, &forged), now, &mut out);
    assert!(frames(&out).is_empty());
    assert_eq!(events(&out), ["padr-ignored"]);
    out.clear();
    let cookie = ac.cookie(&CLIENT_MAC);
    let unoffered = DiscoveryPacket {
        code: Code::Padr,
        session_id: 0,
        tags: vec![Tag::ServiceName(b"video".to_vec()), Tag::AcCookie(cookie)],
    };
    ac.handle_frame(
        &discovery_frame(CLIENT_MAC, AC_MAC, &unoffered),
        now,
        &mut out,
    );
    let [pads] = discovery_replies(&out).try_into().unwrap();
    assert_eq!((pads.code, pads.session_id), (Code::Pads, 0));
    assert!(matches!(pads.error_tag(), Some(Tag::ServiceNameError(_))));
    assert!(ac.stats_json()["sessions"].as_array().unwrap().is_empty());
}

/// The client side of one session: the client crate's automata plus hand-written PAP/CHAP answers.
struct Client {
    mac: Mac,
    session: u16,
    lcp: Negotiation<LcpPolicy>,
    ipcp: Negotiation<IpcpPolicy>,
    ipv6cp: Negotiation<Ipv6cpPolicy>,
    user: &'static [u8],
    password: &'static [u8],
    auth_result: Option<bool>,
    lcp_up: bool,
}

impl Client {
    fn new(mac: Mac, session: u16, password: &'static [u8], mru: u16) -> Self {
        Self {
            mac,
            session,
            lcp: Negotiation::new(
                LcpPolicy::new(mru, AuthMethods::Any, Box::new(XorShift::new(0x5151))),
                Timers::default(),
            ),
            ipcp: Negotiation::new(IpcpPolicy::new(), Timers::default()),
            ipv6cp: Negotiation::new(
                Ipv6cpPolicy::new(Box::new(Sequence::new(vec![0x0a0b_0c0d, 0x0e0f_1011]))),
                Timers::default(),
            ),
            user: b"alice",
            password,
            auth_result: None,
            lcp_up: false,
        }
    }

    fn frame(&self, packet: &Packet<'_>) -> Vec<u8> {
        let mut frame = ethernet_header(AC_MAC, self.mac, ETHERTYPE_SESSION);
        assert!(encode_session(self.session, packet, &mut frame));
        frame
    }

    fn control_outputs<O: Clone>(
        &mut self,
        outputs: Vec<NcpOutput<O>>,
        wrap: fn(ControlPacket<O>) -> Packet<'static>,
        sent: &mut Vec<Vec<u8>>,
    ) -> Vec<LayerEvent> {
        let mut layers = Vec::new();
        for output in outputs {
            match output {
                NcpOutput::Send(packet) => sent.push(self.frame(&wrap(packet))),
                NcpOutput::Layer(event) => layers.push(event),
                _ => {}
            }
        }
        layers
    }

    fn start(&mut self, now: Now) -> Vec<Vec<u8>> {
        let mut sent = Vec::new();
        for input in [Input::Up, Input::Open] {
            let out = self.lcp.handle(input, now);
            self.control_outputs(out, Packet::Lcp, &mut sent);
        }
        sent
    }

    fn open_ncps(&mut self, now: Now, sent: &mut Vec<Vec<u8>>) {
        for input in [Input::Up, Input::Open] {
            let out = self.ipcp.handle(input, now);
            self.control_outputs(out, Packet::Ipcp, sent);
        }
        for input in [Input::Up, Input::Open] {
            let out = self.ipv6cp.handle(input, now);
            self.control_outputs(out, Packet::Ipv6cp, sent);
        }
    }

    /// One frame from the AC; returns the client's answers.
    fn receive(&mut self, frame: &[u8], now: Now) -> Vec<Vec<u8>> {
        let mut sent = Vec::new();
        if frame[..6] != self.mac || frame[12..14] != ETHERTYPE_SESSION.to_be_bytes() {
            return sent;
        }
        let session = SessionFrame::decode(&frame[14..]).unwrap();
        assert_eq!(session.session_id, self.session);
        match Packet::decode(session.payload).unwrap() {
            Packet::Lcp(packet) => {
                let out = self.lcp.handle(Input::Packet(packet), now);
                if self
                    .control_outputs(out, Packet::Lcp, &mut sent)
                    .contains(&LayerEvent::Up)
                {
                    self.lcp_up = true;
                    let negotiated = self.lcp.negotiated().unwrap();
                    if negotiated.authentication
                        == routerd_pppoe_client::negotiation::lcp::Authentication::Pap
                    {
                        sent.push(self.frame(&Packet::Pap(PapPacket::AuthenticateRequest {
                            identifier: 1,
                            peer_id: self.user.to_vec(),
                            password: Secret::new(self.password.to_vec()),
                        })));
                    }
                }
            }
            Packet::Pap(PapPacket::AuthenticateAck { .. }) => {
                self.auth_result = Some(true);
                self.open_ncps(now, &mut sent);
            }
            Packet::Pap(PapPacket::AuthenticateNak { .. }) => self.auth_result = Some(false),
            Packet::Chap(ChapPacket::Challenge {
                identifier, value, ..
            }) => {
                let secret = Secret::new(self.password.to_vec());
                sent.push(self.frame(&Packet::Chap(ChapPacket::Response {
                    identifier,
                    value: chap_md5_response(identifier, &secret, &value).to_vec(),
                    name: self.user.to_vec(),
                })));
            }
            Packet::Chap(ChapPacket::Success { .. }) => {
                self.auth_result = Some(true);
                self.open_ncps(now, &mut sent);
            }
            Packet::Chap(ChapPacket::Failure { .. }) => self.auth_result = Some(false),
            Packet::Ipcp(packet) => {
                let out = self.ipcp.handle(Input::Packet(packet), now);
                self.control_outputs(out, Packet::Ipcp, &mut sent);
            }
            Packet::Ipv6cp(packet) => {
                let out = self.ipv6cp.handle(Input::Packet(packet), now);
                self.control_outputs(out, Packet::Ipv6cp, &mut sent);
            }
            other => panic!("unexpected {other:?}"),
        }
        sent
    }
}

/// Exchanges frames between the AC and the client until both are quiet; returns every AC output.
fn pump(ac: &mut Concentrator, client: &mut Client, first: Vec<Vec<u8>>, now: Now) -> Vec<Output> {
    let mut all = Vec::new();
    let mut to_ac = first;
    for _ in 0..50 {
        if to_ac.is_empty() {
            break;
        }
        let mut out = Vec::new();
        for frame in to_ac.drain(..) {
            assert_eq!(ac.handle_frame(&frame, now, &mut out), None);
        }
        for frame in frames(&out) {
            to_ac.extend(client.receive(frame, now));
        }
        all.extend(out);
    }
    all
}

/// Discovery then PPP up to the NCPs, for `auth` with the client's `password`.
fn session(auth: AuthKind, password: &'static [u8]) -> (Concentrator, Client, Vec<Output>, Now) {
    let mut ac = ac(auth);
    let now = Now::system();
    let mut out = Vec::new();
    let id = discover(&mut ac, CLIENT_MAC, now, &mut out);
    let mut client = Client::new(CLIENT_MAC, id, password, 1492);
    let mut first = client.start(now);
    // The AC's own Configure-Request went out with the PADS.
    for frame in frames(&out) {
        first.extend(client.receive(frame, now));
    }
    let mut all = out;
    all.extend(pump(&mut ac, &mut client, first, now));
    (ac, client, all, now)
}

#[test]
fn a_pap_session_comes_up_with_address_dns_and_identifiers() {
    let (ac, client, out, _) = session(AuthKind::Pap, b"s3cret");
    assert_eq!(client.auth_result, Some(true));
    assert_eq!(client.lcp.state(), State::Opened);
    let ipcp = client.ipcp.negotiated().expect("IPCP opened");
    assert_eq!(ipcp.address, PEER);
    assert_eq!(ipcp.peer_address, Some(LOCAL));
    assert_eq!(ipcp.primary_dns, Some(DNS));
    assert_eq!(ipcp.secondary_dns, None);
    let ipv6cp = client.ipv6cp.negotiated().expect("IPv6CP opened");
    assert_eq!(ipv6cp.peer, Some([0x02, 0, 0, 0xff, 0xfe, 0, 0, 0xac]));
    assert_eq!(
        ipv6cp.ours,
        Some([0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11])
    );
    let events = events(&out);
    for expected in [
        "pads",
        "lcp-opened",
        "auth-ok",
        "ipcp-opened",
        "ipv6cp-opened",
    ] {
        assert!(
            events.iter().any(|e| e == expected),
            "{expected} in {events:?}"
        );
    }
    let stats = ac.stats_json();
    assert_eq!(stats["sessions"][0]["phase"], "network");
    assert_eq!(stats["sessions"][0]["peerAddress"], "100.64.0.2");
    assert_eq!(stats["sessions"][0]["peerMAC"], "02:00:00:00:00:01");
}

#[test]
fn a_chap_session_comes_up() {
    let (_, client, out, _) = session(AuthKind::Chap, b"s3cret");
    assert_eq!(client.auth_result, Some(true));
    assert!(client.ipcp.negotiated().is_some());
    assert!(events(&out).iter().any(|e| e == "auth-ok"));
}

#[test]
fn a_wrong_password_fails_counts_and_ends_the_session_with_padt() {
    for auth in [AuthKind::Pap, AuthKind::Chap] {
        let (mut ac, client, out, now) = session(auth, b"wrong");
        assert_eq!(client.auth_result, Some(false), "{auth:?}");
        assert_eq!(ac.stats().auth_failures, 1);
        assert!(events(&out).iter().any(|e| e == "auth-failed"));
        assert_eq!(
            client.ipcp.state(),
            State::Initial,
            "no NCP after a failure"
        );
        // The AC sent an LCP Terminate-Request; the client (the pump) acked it and LCP finished.
        assert_eq!(client.lcp.state(), State::Stopping);
        assert!(
            events(&out).iter().any(|e| e == "padt-sent"),
            "{:?}",
            events(&out)
        );
        assert!(ac.stats_json()["sessions"].as_array().unwrap().is_empty());
        // Nothing is left to time out.
        let mut late = Vec::new();
        ac.on_timer(now.after(Duration::from_secs(30)), &mut late);
        assert!(frames(&late).is_empty());
    }
}

#[test]
fn datagrams_cross_in_both_directions_once_the_ncps_are_open() {
    let (mut ac, client, _, now) = session(AuthKind::Pap, b"s3cret");
    let ipv4 = [
        0x45, 0, 0, 20, 0, 0, 0, 0, 64, 1, 0, 0, 100, 64, 0, 2, 100, 64, 0, 1,
    ];
    let frame = client.frame(&Packet::Ipv4(&ipv4));
    let mut out = Vec::new();
    assert_eq!(ac.handle_frame(&frame, now, &mut out), Some(&ipv4[..]));
    assert!(out.is_empty());
    let mut back = Vec::new();
    assert!(ac.encapsulate(&ipv4, &mut back));
    assert_eq!(&back[..6], &CLIENT_MAC);
    let session = SessionFrame::decode(&back[14..]).unwrap();
    assert_eq!(session.session_id, client.session);
    assert_eq!(
        Packet::decode(session.payload).unwrap(),
        Packet::Ipv4(&ipv4)
    );
    let ipv6 = [0x60u8; 40];
    assert!(ac.encapsulate(&ipv6, &mut back));
    assert!(
        !ac.encapsulate(&[0x10, 0, 0], &mut back),
        "neither IPv4 nor IPv6"
    );
}

#[test]
fn datagrams_before_ipcp_opened_are_dropped() {
    let mut ac = ac(AuthKind::Pap);
    let now = Now::system();
    let mut out = Vec::new();
    let id = discover(&mut ac, CLIENT_MAC, now, &mut out);
    let client = Client::new(CLIENT_MAC, id, b"s3cret", 1492);
    let frame = client.frame(&Packet::Ipv4(&[0x45, 0, 0, 20]));
    assert_eq!(ac.handle_frame(&frame, now, &mut out), None);
    assert!(!ac.encapsulate(&[0x45, 0, 0, 20], &mut Vec::new()));
}

#[test]
fn echo_requests_are_answered_unless_switched_off_and_counted_either_way() {
    let (mut ac, client, _, now) = session(AuthKind::Pap, b"s3cret");
    let echo = client.frame(&Packet::Lcp(LcpPacket::EchoRequest {
        identifier: 9,
        magic: client.lcp.magic_number(),
        data: vec![],
    }));
    let mut out = Vec::new();
    ac.handle_frame(&echo, now, &mut out);
    let [reply] = frames(&out).try_into().unwrap();
    let session = SessionFrame::decode(&reply[14..]).unwrap();
    assert!(matches!(
        Packet::decode(session.payload).unwrap(),
        Packet::Lcp(LcpPacket::EchoReply { identifier: 9, .. })
    ));
    ac.knobs_mut().echo_replies = false;
    out.clear();
    ac.handle_frame(&echo, now, &mut out);
    assert!(out.is_empty());
    assert_eq!(ac.stats().echo_requests_received, 2);
    assert_eq!(ac.stats().echo_replies_sent, 1);
}

#[test]
fn padt_from_the_client_removes_the_session_and_is_counted_even_when_unknown() {
    let (mut ac, client, _, now) = session(AuthKind::Pap, b"s3cret");
    let padt = |id| DiscoveryPacket {
        code: Code::Padt,
        session_id: id,
        tags: vec![],
    };
    let mut out = Vec::new();
    ac.handle_frame(
        &discovery_frame(CLIENT_MAC, AC_MAC, &padt(client.session)),
        now,
        &mut out,
    );
    assert!(ac.stats_json()["sessions"].as_array().unwrap().is_empty());
    assert!(!ac.encapsulate(&[0x45, 0, 0, 20], &mut Vec::new()));
    ac.handle_frame(
        &discovery_frame(CLIENT_MAC, AC_MAC, &padt(0x4242)),
        now,
        &mut out,
    );
    assert_eq!(ac.stats().padt_received, 2);
    assert_eq!(events(&out), ["padt-received", "padt-received"]);
    assert!(frames(&out).is_empty(), "a PADT is not answered");
}

#[test]
fn padt_command_ends_every_session_and_the_newest_carries_the_tun_traffic() {
    let (mut ac, client, _, now) = session(AuthKind::Pap, b"s3cret");
    // A second client (a restarted daemon with a new MAC-session pair) comes up too.
    let other: Mac = [0x02, 0, 0, 0, 0, 0x02];
    let mut out = Vec::new();
    let id = discover(&mut ac, other, now, &mut out);
    let mut second = Client::new(other, id, b"s3cret", 1492);
    let mut first = second.start(now);
    for frame in frames(&out) {
        first.extend(second.receive(frame, now));
    }
    pump(&mut ac, &mut second, first, now);
    assert!(second.ipcp.negotiated().is_some());
    let mut frame = Vec::new();
    assert!(ac.encapsulate(&[0x45, 0, 0, 20], &mut frame));
    assert_eq!(
        &frame[..6],
        &other,
        "the newest session gets the TUN's datagrams"
    );
    let mut out = Vec::new();
    ac.terminate_all(&mut out);
    let padts: Vec<_> = frames(&out)
        .into_iter()
        .map(|f| (f[..6].to_vec(), DiscoveryPacket::decode(&f[14..]).unwrap()))
        .collect();
    assert_eq!(padts.len(), 2);
    assert!(padts.iter().all(|(_, p)| p.code == Code::Padt));
    assert!(padts
        .iter()
        .any(|(mac, p)| mac == &CLIENT_MAC && p.session_id == client.session));
    assert!(ac.stats_json()["sessions"].as_array().unwrap().is_empty());
}

#[test]
fn silence_ignores_every_frame_but_is_switched_back() {
    let mut ac = ac(AuthKind::Pap);
    ac.knobs_mut().silent = true;
    let mut out = Vec::new();
    let frame = discovery_frame(CLIENT_MAC, BROADCAST, &padi(b""));
    ac.handle_frame(&frame, Now::system(), &mut out);
    assert!(out.is_empty());
    assert_eq!(
        ac.stats().padi_received,
        1,
        "PADIs are counted while silent"
    );
    ac.knobs_mut().silent = false;
    ac.handle_frame(&frame, Now::system(), &mut out);
    assert_eq!(discovery_replies(&out).len(), 1);
}

#[test]
fn an_absurd_mru_is_nakked_and_an_unknown_protocol_rejected() {
    let (mut ac, client, _, now) = session(AuthKind::Pap, b"s3cret");
    let mut out = Vec::new();
    let request = client.frame(&Packet::Lcp(LcpPacket::ConfigureRequest {
        identifier: 77,
        options: vec![LcpOption::Mru(20)],
    }));
    ac.handle_frame(&request, now, &mut out);
    let replies: Vec<_> = frames(&out)
        .into_iter()
        .map(|f| Packet::decode(SessionFrame::decode(&f[14..]).unwrap().payload).unwrap())
        .map(|p| match p {
            Packet::Lcp(packet) => packet,
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(replies.contains(&LcpPacket::ConfigureNak {
        identifier: 77,
        options: vec![LcpOption::Mru(1492)]
    }));
    let mut out = Vec::new();
    let (mut ac, client, _, now) = session(AuthKind::Pap, b"s3cret");
    let ccp = client.frame(&Packet::Other {
        protocol: Protocol(0x80fd),
        payload: &[1, 1, 0, 4],
    });
    ac.handle_frame(&ccp, now, &mut out);
    let [reject] = frames(&out).try_into().unwrap();
    let packet = Packet::decode(SessionFrame::decode(&reject[14..]).unwrap().payload).unwrap();
    assert!(matches!(
        packet,
        Packet::Lcp(LcpPacket::ProtocolReject { protocol: Protocol(0x80fd), ref rejected, .. })
            if rejected == &[1, 1, 0, 4]
    ));
}

#[test]
fn an_unanswered_lcp_request_times_out_and_the_session_ends() {
    let mut ac = ac(AuthKind::Pap);
    let mut now = Now::system();
    let mut out = Vec::new();
    discover(&mut ac, CLIENT_MAC, now, &mut out);
    let mut sent = 0;
    for _ in 0..20 {
        let Some(deadline) = ac.next_deadline() else {
            break;
        };
        now = now.after(deadline - now.mono);
        let mut out = Vec::new();
        ac.on_timer(now, &mut out);
        sent += frames(&out).len();
        if events(&out).iter().any(|e| e == "padt-sent") {
            break;
        }
    }
    // Max-Configure 10: nine retransmissions, then the PADT.
    assert_eq!(sent, 9 + 1);
    assert!(ac.stats_json()["sessions"].as_array().unwrap().is_empty());
}

proptest! {
    #[test]
    fn arbitrary_frames_never_panic(
        ethertype in prop_oneof![Just(ETHERTYPE_DISCOVERY), Just(ETHERTYPE_SESSION), any::<u16>()],
        broadcast in any::<bool>(),
        payload in proptest::collection::vec(any::<u8>(), 0..120),
    ) {
        let (mut ac, client, _, now) = session(AuthKind::Chap, b"s3cret");
        let dst = if broadcast { BROADCAST } else { AC_MAC };
        let mut frame = ethernet_header(dst, client.mac, ethertype);
        frame.extend_from_slice(&payload);
        let mut out = Vec::new();
        let _ = ac.handle_frame(&frame, now, &mut out);
        // Also as the payload of a well-formed session frame of the live session.
        let mut frame = ethernet_header(AC_MAC, client.mac, ETHERTYPE_SESSION);
        SessionFrame { session_id: client.session, payload: &payload }.encode(&mut frame).unwrap();
        let _ = ac.handle_frame(&frame, now, &mut out);
        ac.on_timer(now.after(Duration::from_secs(4)), &mut out);
    }
}

#[test]
fn a_repeated_padr_gets_the_same_session_until_the_client_speaks() {
    let mut ac = ac(AuthKind::Pap);
    let now = Now::system();
    let mut out = Vec::new();
    let first = discover(&mut ac, CLIENT_MAC, now, &mut out);
    // The PADS was lost: the client repeats its PADR (same Host-Uniq, same cookie).
    out.clear();
    let again = discover(&mut ac, CLIENT_MAC, now, &mut out);
    assert_eq!(again, first);
    assert_eq!(ac.stats_json()["sessions"].as_array().unwrap().len(), 1);
    // Once the session has carried a frame, a PADR is a new dial with a new session.
    let client = Client::new(CLIENT_MAC, first, b"s3cret", 1492);
    let echo = client.frame(&Packet::Lcp(LcpPacket::DiscardRequest {
        identifier: 1,
        magic: 0,
        data: vec![],
    }));
    ac.handle_frame(&echo, now, &mut out);
    out.clear();
    let next = discover(&mut ac, CLIENT_MAC, now, &mut out);
    assert_ne!(next, first);
    assert_eq!(ac.stats_json()["sessions"].as_array().unwrap().len(), 2);
}
