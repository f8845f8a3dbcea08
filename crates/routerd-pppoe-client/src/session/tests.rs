//! Virtual-clock tests of the session layer against a scripted access concentrator ([`Ac`]) that
//! speaks discovery, LCP, PAP/CHAP, IPCP and IPv6CP through the same codecs, with fault knobs.

use std::net::Ipv4Addr;
use std::time::Duration;

use proptest::prelude::*;
use routerd_proto::ppp::auth::{chap_md5_response, ChapPacket, PapPacket};
use routerd_proto::ppp::control::{
    AuthProtocol, ControlPacket, IpcpOption, Ipv6cpOption, LcpOption, CHAP_MD5,
};
use routerd_proto::ppp::{Packet, Protocol, Secret};
use routerd_proto::pppoe::{Code, DiscoveryPacket, SessionFrame, Tag};
use routerd_sansio::{Now, XorShift};

use super::*;
use crate::auth::Credentials;
use crate::discovery::Timers as DiscoveryTimers;

const AC_MAC: Mac = [0x02, 0, 0, 0, 0, 0xac];
const SESSION_ID: u16 = 0x1234;
const PEER_IPV4: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);
const OUR_IPV4: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 2);
const DNS1: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 53);
const DNS2: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 54);
const PEER_IID: [u8; 8] = [0x02, 0, 0, 0xff, 0xfe, 0, 0, 1];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AcAuth {
    None,
    Pap,
    Chap,
}

/// A scripted access concentrator: answers what the client sends, like a real BRAS would.
struct Ac {
    auth: AcAuth,
    password: Vec<u8>,
    echo_replies: bool,
    silent: bool,
    /// MRU the AC asks for in its LCP Configure-Request.
    mru: u16,
    pads_error: Option<Tag>,
    next_session: u16,
    session: Option<u16>,
    lcp_requested: bool,
    lcp_ours_acked: bool,
    lcp_theirs_acked: bool,
    challenge_id: u8,
    challenge: Vec<u8>,
    challenged: bool,
    ipcp_requested: bool,
    ipv6cp_requested: bool,
    padi: u32,
    padt: Vec<u16>,
    terminate_requests: u32,
    echo_requests: u32,
    ppp_received: Vec<Protocol>,
    protocol_rejects: Vec<Protocol>,
}

impl Ac {
    fn new(auth: AcAuth) -> Self {
        Self {
            auth,
            password: b"hunter2".to_vec(),
            echo_replies: true,
            silent: false,
            mru: 1492,
            pads_error: None,
            next_session: SESSION_ID,
            session: None,
            lcp_requested: false,
            lcp_ours_acked: false,
            lcp_theirs_acked: false,
            challenge_id: 0x40,
            challenge: vec![0xc0, 0xff, 0xee, 0x00, 0x11, 0x22, 0x33, 0x44],
            challenged: false,
            ipcp_requested: false,
            ipv6cp_requested: false,
            padi: 0,
            padt: Vec::new(),
            terminate_requests: 0,
            echo_requests: 0,
            ppp_received: Vec::new(),
            protocol_rejects: Vec::new(),
        }
    }

    fn reset_ppp(&mut self) {
        self.session = None;
        self.lcp_requested = false;
        self.lcp_ours_acked = false;
        self.lcp_theirs_acked = false;
        self.challenged = false;
        self.ipcp_requested = false;
        self.ipv6cp_requested = false;
    }

    /// Reacts to one output of the client; returns the frames it answers with.
    fn react(&mut self, output: &Output) -> Vec<Wire> {
        if self.silent {
            return Vec::new();
        }
        match output {
            Output::Discovery(frame) => self.discovery(&frame.packet),
            Output::Session(packet) => self.session(packet),
            _ => Vec::new(),
        }
    }

    fn discovery(&mut self, packet: &DiscoveryPacket) -> Vec<Wire> {
        let host_uniq = packet
            .find(routerd_proto::pppoe::tag_type::HOST_UNIQ)
            .cloned();
        match packet.code {
            Code::Padi => {
                self.padi += 1;
                let mut tags = vec![Tag::ServiceName(vec![]), Tag::AcName(b"test-ac".to_vec())];
                tags.extend(host_uniq);
                vec![Wire::discovery(Code::Pado, 0, tags)]
            }
            Code::Padr => {
                let mut tags = vec![Tag::ServiceName(vec![])];
                tags.extend(host_uniq);
                if let Some(error) = &self.pads_error {
                    tags.push(error.clone());
                    return vec![Wire::discovery(Code::Pads, 0, tags)];
                }
                let id = self.next_session;
                self.next_session = self.next_session.wrapping_add(1);
                self.reset_ppp();
                self.session = Some(id);
                vec![Wire::discovery(Code::Pads, id, tags)]
            }
            Code::Padt => {
                self.padt.push(packet.session_id);
                if Some(packet.session_id) == self.session {
                    self.reset_ppp();
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn session(&mut self, packet: &SessionPacket) -> Vec<Wire> {
        let Some(id) = self.session else {
            return Vec::new();
        };
        if packet.session_id != id {
            return Vec::new();
        }
        let decoded = Packet::decode(&packet.ppp).expect("the client sends valid PPP");
        self.ppp_received.push(decoded.protocol());
        let mut replies = Vec::new();
        match decoded {
            Packet::Lcp(lcp) => self.lcp(lcp, &mut replies),
            Packet::Pap(PapPacket::AuthenticateRequest {
                identifier,
                password,
                ..
            }) => {
                let reply = if password.expose() == self.password.as_slice() {
                    PapPacket::AuthenticateAck {
                        identifier,
                        message: b"Login ok".to_vec(),
                    }
                } else {
                    PapPacket::AuthenticateNak {
                        identifier,
                        message: b"Authentication failed".to_vec(),
                    }
                };
                replies.push(Packet::Pap(reply));
                if self.password.is_empty() {
                    replies.clear();
                }
            }
            Packet::Chap(ChapPacket::Response {
                identifier, value, ..
            }) => {
                let expected = chap_md5_response(
                    identifier,
                    &Secret::new(self.password.clone()),
                    &self.challenge,
                );
                let reply = if identifier == self.challenge_id && value == expected {
                    ChapPacket::Success {
                        identifier,
                        message: b"Welcome".to_vec(),
                    }
                } else {
                    ChapPacket::Failure {
                        identifier,
                        message: b"E=691 R=0".to_vec(),
                    }
                };
                replies.push(Packet::Chap(reply));
            }
            Packet::Ipcp(ControlPacket::ConfigureRequest {
                identifier,
                options,
            }) => {
                if !self.ipcp_requested {
                    self.ipcp_requested = true;
                    replies.push(Packet::Ipcp(ControlPacket::ConfigureRequest {
                        identifier: 1,
                        options: vec![IpcpOption::IpAddress(PEER_IPV4)],
                    }));
                }
                let wants_assignment = options
                    .iter()
                    .any(|o| matches!(o, IpcpOption::IpAddress(a) if a.is_unspecified()));
                if wants_assignment {
                    replies.push(Packet::Ipcp(ControlPacket::ConfigureNak {
                        identifier,
                        options: vec![
                            IpcpOption::IpAddress(OUR_IPV4),
                            IpcpOption::PrimaryDns(DNS1),
                            IpcpOption::SecondaryDns(DNS2),
                        ],
                    }));
                } else {
                    replies.push(Packet::Ipcp(ControlPacket::ConfigureAck {
                        identifier,
                        options,
                    }));
                }
            }
            Packet::Ipv6cp(ControlPacket::ConfigureRequest {
                identifier,
                options,
            }) => {
                if !self.ipv6cp_requested {
                    self.ipv6cp_requested = true;
                    replies.push(Packet::Ipv6cp(ControlPacket::ConfigureRequest {
                        identifier: 1,
                        options: vec![Ipv6cpOption::InterfaceId(PEER_IID)],
                    }));
                }
                replies.push(Packet::Ipv6cp(ControlPacket::ConfigureAck {
                    identifier,
                    options,
                }));
            }
            _ => {}
        }
        replies.into_iter().map(|p| Wire::session(id, &p)).collect()
    }

    fn lcp(&mut self, lcp: LcpPacket, replies: &mut Vec<Packet<'static>>) {
        match lcp {
            ControlPacket::ConfigureRequest {
                identifier,
                options,
            } => {
                if !self.lcp_requested {
                    self.lcp_requested = true;
                    let mut ours = vec![
                        LcpOption::Mru(self.mru),
                        LcpOption::MagicNumber(0x5eed_5eed),
                    ];
                    match self.auth {
                        AcAuth::None => {}
                        AcAuth::Pap => ours.push(LcpOption::AuthProtocol(AuthProtocol::Pap)),
                        AcAuth::Chap => ours.push(LcpOption::AuthProtocol(AuthProtocol::Chap {
                            algorithm: CHAP_MD5,
                        })),
                    }
                    replies.push(Packet::Lcp(ControlPacket::ConfigureRequest {
                        identifier: 1,
                        options: ours,
                    }));
                }
                replies.push(Packet::Lcp(ControlPacket::ConfigureAck {
                    identifier,
                    options,
                }));
                self.lcp_ours_acked = true;
            }
            ControlPacket::ConfigureAck { .. } => self.lcp_theirs_acked = true,
            ControlPacket::ConfigureNak {
                identifier,
                options,
            } => {
                // Take the client's suggestion (e.g. another MRU) and ask again.
                let mut ours = vec![LcpOption::MagicNumber(0x5eed_5eed)];
                for o in options {
                    if let LcpOption::Mru(m) = o {
                        self.mru = m;
                    }
                }
                ours.insert(0, LcpOption::Mru(self.mru));
                replies.push(Packet::Lcp(ControlPacket::ConfigureRequest {
                    identifier: identifier.wrapping_add(1),
                    options: ours,
                }));
            }
            ControlPacket::EchoRequest {
                identifier, data, ..
            } => {
                self.echo_requests += 1;
                if self.echo_replies {
                    replies.push(Packet::Lcp(ControlPacket::EchoReply {
                        identifier,
                        magic: 0x5eed_5eed,
                        data,
                    }));
                }
            }
            ControlPacket::TerminateRequest { identifier, .. } => {
                self.terminate_requests += 1;
                replies.push(Packet::Lcp(ControlPacket::TerminateAck {
                    identifier,
                    data: vec![],
                }));
            }
            ControlPacket::ProtocolReject { protocol, .. } => self.protocol_rejects.push(protocol),
            _ => {}
        }
        if self.auth == AcAuth::Chap
            && self.lcp_ours_acked
            && self.lcp_theirs_acked
            && !self.challenged
        {
            self.challenged = true;
            replies.push(Packet::Chap(ChapPacket::Challenge {
                identifier: self.challenge_id,
                value: self.challenge.clone(),
                name: b"test-ac".to_vec(),
            }));
        }
    }

    fn rechallenge(&mut self) -> Wire {
        self.challenge_id = self.challenge_id.wrapping_add(1);
        self.challenge = vec![0x99; 16];
        Wire::session(
            self.session.unwrap_or(0),
            &Packet::Chap(ChapPacket::Challenge {
                identifier: self.challenge_id,
                value: self.challenge.clone(),
                name: b"test-ac".to_vec(),
            }),
        )
    }

    fn padt(&mut self) -> Wire {
        let id = self.session.unwrap_or(0);
        self.reset_ppp();
        Wire::discovery(
            Code::Padt,
            id,
            vec![Tag::GenericError(b"admin reset".to_vec())],
        )
    }
}

/// A frame on the wire from the AC: EtherType and Ethernet payload.
#[derive(Debug, Clone)]
enum Wire {
    Discovery(Vec<u8>),
    Session(Vec<u8>),
}

impl Wire {
    fn discovery(code: Code, session_id: u16, tags: Vec<Tag>) -> Self {
        let mut bytes = Vec::new();
        DiscoveryPacket {
            code,
            session_id,
            tags,
        }
        .encode(&mut bytes)
        .unwrap();
        Wire::Discovery(bytes)
    }

    fn session(session_id: u16, packet: &Packet<'_>) -> Self {
        let mut ppp = Vec::new();
        packet.encode(&mut ppp).unwrap();
        let mut bytes = Vec::new();
        SessionFrame {
            session_id,
            payload: &ppp,
        }
        .encode(&mut bytes)
        .unwrap();
        Wire::Session(bytes)
    }
}

fn config(auth: AuthMethods) -> ConnectionConfig {
    ConnectionConfig {
        name: "wan".into(),
        ifname: "ppp-wan".into(),
        discovery: DiscoveryConfig {
            timers: DiscoveryTimers::default(),
            ..DiscoveryConfig::default()
        },
        credentials: Credentials {
            username: b"alice".to_vec(),
            password: Secret::new(b"hunter2".to_vec()),
        },
        auth,
        mru: 1492,
        ipv6: true,
        echo_interval: Duration::from_secs(30),
        echo_failure: 4,
        redial: RedialConfig::default(),
        ppp_timers: negotiation::Timers::default(),
        auth_timers: AuthTimers::default(),
    }
}

/// The client, the AC, the virtual clock, and everything the client produced.
struct Rig {
    conn: Connection,
    ac: Ac,
    now: Now,
    log: Vec<Output>,
}

impl Rig {
    fn new(config: ConnectionConfig, ac: Ac) -> Self {
        let conn = Connection::new(config, Box::new(XorShift::new(7))).unwrap();
        Self {
            conn,
            ac,
            now: Now::system(),
            log: Vec::new(),
        }
    }

    /// Shuttles the client's outputs to the AC and its answers back until both are quiet.
    fn pump(&mut self, outputs: Vec<Output>) {
        let mut queue: std::collections::VecDeque<Output> = outputs.into();
        let mut rounds = 0;
        while let Some(output) = queue.pop_front() {
            rounds += 1;
            assert!(rounds < 10_000, "no convergence");
            for wire in self.ac.react(&output) {
                let answer = match &wire {
                    Wire::Discovery(bytes) => self.conn.handle(
                        Input::Discovery {
                            from: AC_MAC,
                            bytes,
                        },
                        self.now,
                    ),
                    Wire::Session(bytes) => self.conn.handle(
                        Input::Session {
                            from: AC_MAC,
                            bytes,
                        },
                        self.now,
                    ),
                };
                queue.extend(answer);
            }
            self.log.push(output);
        }
    }

    fn start(&mut self) {
        let out = self.conn.start(self.now, None);
        self.pump(out);
    }

    fn feed(&mut self, wire: Wire) {
        let out = match &wire {
            Wire::Discovery(bytes) => self.conn.handle(
                Input::Discovery {
                    from: AC_MAC,
                    bytes,
                },
                self.now,
            ),
            Wire::Session(bytes) => self.conn.handle(
                Input::Session {
                    from: AC_MAC,
                    bytes,
                },
                self.now,
            ),
        };
        self.pump(out);
    }

    fn command(&mut self, command: Command) {
        let out = self.conn.handle(Input::Command(command), self.now);
        self.pump(out);
    }

    /// Advances the virtual clock to `until`, delivering every deadline on the way.
    fn run_until(&mut self, until: Now) {
        loop {
            match self.conn.next_deadline() {
                Some(d) if d <= until.mono => {
                    if d > self.now.mono {
                        self.now = self.now.after(d - self.now.mono);
                    }
                    let out = self.conn.handle(Input::Timer, self.now);
                    self.pump(out);
                }
                _ => break,
            }
        }
        if until.mono > self.now.mono {
            self.now = until;
        }
    }

    fn advance(&mut self, d: Duration) {
        let until = self.now.after(d);
        self.run_until(until);
    }

    fn topics(&self) -> Vec<String> {
        self.log
            .iter()
            .filter_map(|o| match o {
                Output::Event(e) => Some(e.topic.clone()),
                _ => None,
            })
            .collect()
    }

    fn event(&self, topic: &str) -> Option<&NewEvent> {
        self.log.iter().rev().find_map(|o| match o {
            Output::Event(e) if e.topic == topic => Some(e),
            _ => None,
        })
    }

    fn links(&self) -> Vec<LinkChange> {
        self.log
            .iter()
            .filter_map(|o| match o {
                Output::Link(l) => Some(l.clone()),
                _ => None,
            })
            .collect()
    }

    fn clear(&mut self) {
        self.log.clear();
    }
}

fn attr<'a>(event: &'a NewEvent, key: &str) -> Option<&'a str> {
    event.attributes.get(key).map(String::as_str)
}

#[test]
fn a_pap_session_comes_up_with_address_peer_dns_and_ipv6_identifiers() {
    let mut rig = Rig::new(config(AuthMethods::Any), Ac::new(AcAuth::Pap));
    rig.start();
    assert_eq!(rig.conn.stage(), Stage::Network);
    assert!(rig.conn.is_up());
    assert!(rig.conn.authenticated());
    assert_eq!(
        rig.topics(),
        vec![
            events::DISCOVERY_COMPLETED,
            events::AUTH_SUCCEEDED,
            events::SESSION_UP
        ]
    );
    let completed = rig.event(events::DISCOVERY_COMPLETED).unwrap();
    assert_eq!(attr(completed, attr::AC_NAME), Some("test-ac"));
    assert_eq!(attr(completed, attr::SESSION_ID), Some("4660"));
    let up = rig.event(events::SESSION_UP).unwrap();
    assert_eq!(attr(up, attr::LOCAL_ADDRESS), Some("100.64.0.2"));
    assert_eq!(attr(up, attr::PEER_ADDRESS), Some("100.64.0.1"));
    assert_eq!(attr(up, attr::IFNAME), Some("ppp-wan"));
    let ipcp = *rig.conn.ipcp().unwrap();
    assert_eq!(ipcp.address, OUR_IPV4);
    assert_eq!(ipcp.peer_address, Some(PEER_IPV4));
    assert_eq!(
        (ipcp.primary_dns, ipcp.secondary_dns),
        (Some(DNS1), Some(DNS2))
    );
    let ipv6 = *rig.conn.ipv6cp().unwrap();
    assert_eq!(ipv6.peer, Some(PEER_IID));
    assert!(ipv6.ours.is_some_and(|id| id != [0; 8] && id != PEER_IID));
    let links = rig.links();
    assert!(matches!(links[0], LinkChange::Established(ref s) if s.session_id == SESSION_ID));
    assert!(links.contains(&LinkChange::Ipv4Up { ipcp, mtu: 1492 }));
    assert!(links.contains(&LinkChange::Ipv6Up {
        ipv6cp: ipv6,
        mtu: 1492
    }));
    assert_eq!(
        rig.conn.data_session(Protocol::IPV4),
        Some((SESSION_ID, AC_MAC))
    );
    assert_eq!(
        rig.conn.data_session(Protocol::IPV6),
        Some((SESSION_ID, AC_MAC))
    );
    assert_eq!(rig.ac.padi, 1);
    assert!(rig.conn.connected_at().is_some());
    assert_eq!(rig.conn.authentication(), Some(Authentication::Pap));
}

#[test]
fn a_chap_session_comes_up_and_answers_rechallenges() {
    let mut rig = Rig::new(config(AuthMethods::Chap), Ac::new(AcAuth::Chap));
    rig.start();
    assert!(rig.conn.is_up());
    assert_eq!(rig.conn.authentication(), Some(Authentication::ChapMd5));
    assert_eq!(
        attr(rig.event(events::AUTH_SUCCEEDED).unwrap(), attr::METHOD),
        Some("CHAP")
    );
    rig.clear();
    let challenge = rig.ac.rechallenge();
    rig.feed(challenge);
    assert!(
        rig.conn.is_up(),
        "a rechallenge answered correctly keeps the session"
    );
    assert!(rig.ac.ppp_received.contains(&Protocol::CHAP));
    assert!(
        rig.topics().is_empty(),
        "no second auth.succeeded: {:?}",
        rig.topics()
    );
}

#[test]
fn without_auth_the_network_phase_follows_lcp_directly() {
    let mut rig = Rig::new(config(AuthMethods::Any), Ac::new(AcAuth::None));
    rig.start();
    assert!(rig.conn.is_up());
    assert!(!rig.topics().contains(&events::AUTH_SUCCEEDED.to_string()));
}

#[test]
fn ipv6_off_runs_ipcp_only_and_rejects_the_peers_ipv6cp() {
    let mut cfg = config(AuthMethods::Any);
    cfg.ipv6 = false;
    let mut rig = Rig::new(cfg, Ac::new(AcAuth::Pap));
    rig.start();
    assert!(rig.conn.ipcp().is_some());
    assert!(rig.conn.ipv6cp().is_none());
    let ipv6cp = Wire::session(
        SESSION_ID,
        &Packet::Ipv6cp(ControlPacket::ConfigureRequest {
            identifier: 9,
            options: vec![Ipv6cpOption::InterfaceId(PEER_IID)],
        }),
    );
    rig.feed(ipv6cp);
    assert_eq!(rig.ac.protocol_rejects, vec![Protocol::IPV6CP]);
}

#[test]
fn an_unknown_protocol_gets_a_protocol_reject_once_lcp_is_open() {
    let mut rig = Rig::new(config(AuthMethods::Any), Ac::new(AcAuth::Pap));
    rig.start();
    let unknown = Wire::session(
        SESSION_ID,
        &Packet::Other {
            protocol: Protocol(0x80fd), // CCP
            payload: &[1, 1, 0, 4],
        },
    );
    rig.feed(unknown);
    assert_eq!(rig.ac.protocol_rejects, vec![Protocol(0x80fd)]);
    assert_eq!(rig.conn.counters().protocol_rejects_sent, 1);
    assert!(rig.conn.is_up());
}

#[test]
fn a_wrong_password_is_an_error_with_backoff_and_no_padi_storm() {
    let mut ac = Ac::new(AcAuth::Pap);
    ac.password = b"not-the-password".to_vec();
    let mut rig = Rig::new(config(AuthMethods::Any), ac);
    rig.start();
    assert!(!rig.conn.is_up());
    assert_eq!(rig.conn.stage(), Stage::Waiting);
    let failure = rig.conn.last_failure().unwrap().clone();
    assert_eq!(failure.reason, EndReason::AuthenticationFailed);
    assert_eq!(failure.code, "AuthenticationFailed");
    assert!(
        failure.message.contains("PAP authentication rejected"),
        "{}",
        failure.message
    );
    assert!(
        failure.message.contains("Authentication failed"),
        "{}",
        failure.message
    );
    let failed = rig.event(events::AUTH_FAILED).unwrap();
    assert_eq!(attr(failed, attr::METHOD), Some("PAP"));
    // The client terminated LCP and sent PADT for the session.
    assert_eq!(rig.ac.terminate_requests, 1);
    assert_eq!(rig.ac.padt, vec![SESSION_ID]);
    assert!(!rig.topics().contains(&events::SESSION_DOWN.to_string()));
    // Ten minutes of wrong passwords: 1,2,4,...,32,60,60... s apart (less jitter) — 14 attempts at
    // most, never a storm.
    rig.advance(Duration::from_secs(600));
    let attempts = rig.ac.padi;
    assert!(
        (10..=16).contains(&attempts),
        "{attempts} PADIs in ten minutes"
    );
    assert_eq!(
        rig.conn.last_failure().map(|f| f.reason),
        Some(EndReason::AuthenticationFailed)
    );
    // At the cap the waits are close to maxDelay.
    let before = rig.ac.padi;
    rig.advance(Duration::from_secs(120));
    assert!(
        rig.ac.padi - before <= 3,
        "{} in 2 min",
        rig.ac.padi - before
    );
}

#[test]
fn a_chap_failure_is_an_authentication_error() {
    let mut ac = Ac::new(AcAuth::Chap);
    ac.password = b"other".to_vec();
    let mut rig = Rig::new(config(AuthMethods::Any), ac);
    rig.start();
    let failure = rig.conn.last_failure().unwrap();
    assert_eq!(failure.reason, EndReason::AuthenticationFailed);
    assert!(failure.message.contains("CHAP"), "{}", failure.message);
    assert!(failure.message.contains("E=691"), "{}", failure.message);
}

#[test]
fn pap_unanswered_gives_up_after_max_requests() {
    let mut ac = Ac::new(AcAuth::Pap);
    ac.password = Vec::new(); // the scripted AC then stays silent on PAP
    let mut rig = Rig::new(config(AuthMethods::Any), ac);
    rig.start();
    assert_eq!(rig.conn.stage(), Stage::Authenticating);
    rig.advance(Duration::from_secs(29));
    assert_eq!(rig.conn.stage(), Stage::Authenticating);
    // The 10th request went at 27 s; at 30 s it is given up (the redial comes ~1 s later).
    rig.advance(Duration::from_millis(1500));
    assert_eq!(rig.conn.stage(), Stage::Waiting);
    let pap_sent = rig
        .ac
        .ppp_received
        .iter()
        .filter(|p| **p == Protocol::PAP)
        .count();
    assert_eq!(pap_sent, 10);
    assert!(rig
        .conn
        .last_failure()
        .unwrap()
        .message
        .contains("timed out"));
}

#[test]
fn a_padt_from_the_ac_takes_the_session_down_and_it_redials() {
    let mut rig = Rig::new(config(AuthMethods::Any), Ac::new(AcAuth::Pap));
    rig.start();
    rig.clear();
    let padt = rig.ac.padt();
    rig.feed(padt);
    assert!(!rig.conn.is_up());
    assert_eq!(rig.conn.stage(), Stage::Waiting);
    assert_eq!(
        rig.topics(),
        vec![events::PADT_RECEIVED, events::SESSION_DOWN]
    );
    let down = rig.event(events::SESSION_DOWN).unwrap();
    assert!(attr(down, attr::REASON).unwrap().contains("PADT"));
    assert!(attr(down, attr::REASON).unwrap().contains("admin reset"));
    assert!(rig.links().contains(&LinkChange::Ipv4Down));
    assert!(rig.links().contains(&LinkChange::Ipv6Down));
    assert!(rig.links().contains(&LinkChange::Ended));
    assert!(
        rig.ac.padt.is_empty(),
        "no PADT back for a session the AC ended"
    );
    assert_eq!(
        rig.conn.last_termination(),
        Some("PADT from the access concentrator (Generic-Error: admin reset)")
    );
    // Redial after initialDelay (1 s less jitter): a new session comes up.
    rig.advance(Duration::from_millis(1001));
    assert!(rig.conn.is_up());
    assert_eq!(rig.conn.session().unwrap().session_id, SESSION_ID + 1);
    assert_eq!(rig.ac.padi, 2);
}

#[test]
fn unanswered_echoes_take_the_session_down_after_lcp_echo_failure() {
    let mut rig = Rig::new(config(AuthMethods::Any), Ac::new(AcAuth::Pap));
    rig.start();
    // Answered echoes are counted.
    rig.advance(Duration::from_secs(61));
    assert_eq!(rig.conn.counters().echo_requests_sent, 2);
    assert_eq!(rig.conn.counters().echo_replies_received, 2);
    rig.ac.echo_replies = false;
    rig.clear();
    // 4 requests unanswered at 90, 120, 150, 180 s; the verdict at 210 s.
    rig.advance(Duration::from_secs(148));
    assert!(rig.conn.is_up());
    rig.advance(Duration::from_millis(1200));
    assert!(!rig.conn.is_up(), "down after 4 unanswered echoes");
    assert_eq!(rig.topics(), vec![events::ECHO_LOST, events::SESSION_DOWN]);
    assert_eq!(rig.ac.padt, vec![SESSION_ID], "PADT sent to the silent AC");
    assert_eq!(
        rig.ac.terminate_requests, 0,
        "no Terminate-Request to a dead peer"
    );
    assert_eq!(rig.conn.last_failure().unwrap().code, "EchoLost");
}

#[test]
fn the_peers_terminate_request_is_acked_then_padt_and_redial() {
    let mut rig = Rig::new(config(AuthMethods::Any), Ac::new(AcAuth::Pap));
    rig.start();
    rig.clear();
    let terminate = Wire::session(
        SESSION_ID,
        &Packet::Lcp(ControlPacket::TerminateRequest {
            identifier: 77,
            data: vec![],
        }),
    );
    rig.feed(terminate);
    assert!(!rig.conn.is_up());
    let sent: Vec<_> = rig
        .log
        .iter()
        .filter_map(|o| match o {
            Output::Session(p) => Some(Packet::decode(&p.ppp).unwrap().protocol()),
            Output::Discovery(f) => Some(Protocol(u16::from(f.packet.code.to_u8()))),
            _ => None,
        })
        .collect();
    assert_eq!(
        sent,
        vec![Protocol::LCP, Protocol(u16::from(Code::Padt.to_u8()))]
    );
    assert_eq!(rig.ac.padt, vec![SESSION_ID]);
    assert_eq!(rig.conn.stage(), Stage::Waiting);
}

#[test]
fn stop_sends_terminate_request_and_padt_and_never_redials() {
    let mut rig = Rig::new(config(AuthMethods::Any), Ac::new(AcAuth::Pap));
    rig.start();
    rig.clear();
    rig.command(Command::Stop);
    assert_eq!(rig.ac.terminate_requests, 1);
    assert_eq!(rig.ac.padt, vec![SESSION_ID]);
    assert_eq!(rig.conn.stage(), Stage::Stopped);
    assert_eq!(rig.conn.next_deadline(), None);
    assert!(rig.conn.last_failure().is_none(), "a stop is not a failure");
    assert_eq!(rig.topics(), vec![events::SESSION_DOWN]);
    assert!(rig.links().contains(&LinkChange::Ended));
}

#[test]
fn renew_sends_an_echo_when_up_and_redials_at_once_when_waiting() {
    let mut rig = Rig::new(config(AuthMethods::Any), Ac::new(AcAuth::Pap));
    rig.start();
    rig.command(Command::Renew);
    assert_eq!(rig.ac.echo_requests, 1);
    assert_eq!(rig.conn.counters().echo_replies_received, 1);
    let padt = rig.ac.padt();
    rig.feed(padt);
    assert_eq!(rig.conn.stage(), Stage::Waiting);
    rig.command(Command::Renew);
    assert!(rig.conn.is_up(), "renew redials without waiting");
    assert_eq!(rig.ac.padi, 2);
}

#[test]
fn a_stale_session_from_a_previous_run_gets_its_padt_first() {
    let mut rig = Rig::new(config(AuthMethods::Any), Ac::new(AcAuth::Pap));
    rig.ac.session = Some(0x0bad);
    let out = rig.conn.start(rig.now, Some((0x0bad, AC_MAC)));
    match &out[0] {
        Output::Discovery(f) => {
            assert_eq!(f.packet.code, Code::Padt);
            assert_eq!(f.packet.session_id, 0x0bad);
            assert_eq!(f.destination, AC_MAC);
        }
        other => panic!("first output {other:?}"),
    }
    assert!(matches!(&out[1], Output::Discovery(f) if f.packet.code == Code::Padi));
    rig.pump(out);
    assert_eq!(rig.ac.padt, vec![0x0bad]);
    assert!(rig.conn.is_up());
}

#[test]
fn a_pads_with_an_error_tag_is_a_clear_reason() {
    let mut ac = Ac::new(AcAuth::Pap);
    ac.pads_error = Some(Tag::AcSystemError(b"out of sessions".to_vec()));
    let mut rig = Rig::new(config(AuthMethods::Any), ac);
    rig.start();
    let failure = rig.conn.last_failure().unwrap();
    assert_eq!(failure.code, "Refused");
    assert_eq!(failure.reason, EndReason::DiscoveryFailed);
    assert!(
        failure.message.contains("AC-System-Error: out of sessions"),
        "{}",
        failure.message
    );
    assert!(failure.message.contains("PADS"), "{}", failure.message);
    assert_eq!(rig.conn.stage(), Stage::Waiting);
    assert!(rig.links().is_empty(), "no session existed");
}

#[test]
fn an_absurd_mru_from_the_ac_is_nakd_and_named_if_lcp_fails() {
    // The AC first asks for an MRU of 10: we Nak with 1492 and the (scripted) AC takes it.
    let mut ac = Ac::new(AcAuth::Pap);
    ac.mru = 10;
    let mut rig = Rig::new(config(AuthMethods::Any), ac);
    rig.start();
    assert!(rig.conn.is_up());
    assert_eq!(rig.ac.mru, 1492);

    // An AC that never answers our LCP requests after asking for MRU 10: LCP fails, and the reason
    // names the MRU.
    let mut rig = Rig::new(config(AuthMethods::Any), Ac::new(AcAuth::Pap));
    let out = rig.conn.start(rig.now, None);
    rig.pump(out);
    let padt = rig.ac.padt();
    rig.feed(padt);
    rig.ac.silent = true;
    rig.advance(Duration::from_secs(2));
    // Fresh session by hand: PADO/PADS, then only a bad LCP request.
    let host_uniq = rig.conn.discovery.host_uniq().to_vec();
    rig.feed(Wire::discovery(
        Code::Pado,
        0,
        vec![Tag::ServiceName(vec![]), Tag::HostUniq(host_uniq.clone())],
    ));
    rig.feed(Wire::discovery(
        Code::Pads,
        0x77,
        vec![Tag::ServiceName(vec![]), Tag::HostUniq(host_uniq)],
    ));
    assert_eq!(rig.conn.stage(), Stage::Link);
    rig.feed(Wire::session(
        0x77,
        &Packet::Lcp(ControlPacket::ConfigureRequest {
            identifier: 1,
            options: vec![LcpOption::Mru(10)],
        }),
    ));
    rig.advance(Duration::from_secs(40));
    let failure = rig.conn.last_failure().unwrap();
    assert_eq!(failure.code, "LCPFailed");
    assert!(failure.message.contains("MRU of 10"), "{}", failure.message);
}

#[test]
fn frames_of_other_sessions_and_macs_are_ignored() {
    let mut rig = Rig::new(config(AuthMethods::Any), Ac::new(AcAuth::Pap));
    rig.start();
    let before = rig.conn.counters().frames_ignored;
    let terminate = Wire::session(
        SESSION_ID + 9,
        &Packet::Lcp(ControlPacket::TerminateRequest {
            identifier: 1,
            data: vec![],
        }),
    );
    let Wire::Session(bytes) = terminate else {
        unreachable!()
    };
    rig.conn.handle(
        Input::Session {
            from: AC_MAC,
            bytes: &bytes,
        },
        rig.now,
    );
    let Wire::Session(bytes) = Wire::session(
        SESSION_ID,
        &Packet::Lcp(ControlPacket::TerminateRequest {
            identifier: 1,
            data: vec![],
        }),
    ) else {
        unreachable!()
    };
    rig.conn.handle(
        Input::Session {
            from: [2, 0, 0, 0, 0, 9],
            bytes: &bytes,
        },
        rig.now,
    );
    assert!(rig.conn.is_up());
    assert_eq!(rig.conn.counters().frames_ignored, before + 2);
}

#[test]
fn a_silent_ac_gets_backoff_between_discovery_attempts() {
    let mut ac = Ac::new(AcAuth::Pap);
    ac.silent = true;
    let mut rig = Rig::new(config(AuthMethods::Any), ac);
    rig.start();
    rig.advance(Duration::from_secs(600));
    let padi = rig.conn.counters().padi_sent;
    // 5 PADIs per 31 s attempt, then 1,2,4..60 s between attempts: far below one per second.
    assert!(padi <= 100, "{padi} PADIs in ten minutes");
    assert_eq!(rig.conn.last_failure().unwrap().code, "NoOffer");
}

#[test]
fn carrier_loss_ends_the_session_and_its_return_dials_at_once() {
    let mut rig = Rig::new(config(AuthMethods::Any), Ac::new(AcAuth::Pap));
    rig.start();
    rig.clear();
    let out = rig.conn.handle(Input::Carrier(false), rig.now);
    rig.pump(out);
    assert!(!rig.conn.is_up());
    assert_eq!(rig.conn.last_failure().unwrap().code, "CarrierLost");
    assert_eq!(rig.topics(), vec![events::SESSION_DOWN]);
    assert_eq!(
        rig.conn.next_deadline(),
        None,
        "no dialling without carrier"
    );
    rig.advance(Duration::from_secs(300));
    assert_eq!(rig.ac.padi, 1);
    let out = rig.conn.handle(Input::Carrier(true), rig.now);
    rig.pump(out);
    assert!(
        rig.conn.is_up(),
        "dialled at once when the carrier returned"
    );
    assert_eq!(rig.ac.padi, 2);
    // A repeated report changes nothing.
    let out = rig.conn.handle(Input::Carrier(true), rig.now);
    assert!(out.is_empty());
}

#[test]
fn status_is_up_then_error_naming_authentication_then_pending() {
    use crate::status::{DataPlaneState, StatusProjection};
    use routerd_api::Phase;
    let data = DataPlaneState {
        ifname: "ppp-wan".into(),
        kind: "tun".into(),
        ..Default::default()
    };
    let mut rig = Rig::new(config(AuthMethods::Any), Ac::new(AcAuth::Chap));
    rig.start();
    let mut projection = StatusProjection::new("wan", rig.now.wall);
    let s = projection.update(Some(&rig.conn), &data, rig.now.wall, rig.now.mono);
    assert_eq!(s.phase, Phase::Up);
    let types: Vec<_> = s
        .conditions
        .iter()
        .map(|c| (c.type_.as_str(), c.reason.as_str()))
        .collect();
    assert_eq!(
        types,
        vec![
            ("Discovered", "SessionEstablished"),
            ("Authenticated", "Succeeded"),
            ("IPCPOpened", "Opened"),
            ("IPv6CPOpened", "Opened")
        ]
    );
    let session = &s.observed["session"];
    assert_eq!(session["localAddress"], "100.64.0.2");
    assert_eq!(session["peerAddress"], "100.64.0.1");
    assert_eq!(
        session["dnsServers"],
        serde_json::json!(["192.0.2.53", "192.0.2.54"])
    );
    assert_eq!(session["sessionID"], 4660);
    assert_eq!(session["acName"], "test-ac");
    assert_eq!(session["peerInterfaceIdentifier"], "200:ff:fe00:1");
    assert!(session["connectedAt"].is_string());

    // The AC now refuses the password: Error, naming authentication.
    rig.ac.password = b"changed".to_vec();
    let padt = rig.ac.padt();
    rig.feed(padt);
    rig.advance(Duration::from_millis(1001));
    let s = projection.update(Some(&rig.conn), &data, rig.now.wall, rig.now.mono);
    assert_eq!(s.phase, Phase::Error);
    assert_eq!(s.conditions[1].reason, "AuthenticationFailed");
    assert!(s.conditions[1]
        .message
        .contains("CHAP authentication rejected"));
    assert!(s.observed["redialAt"].is_string());
    assert_eq!(s.observed["authFailures"], 1);
    assert!(!serde_json::to_string(&s).unwrap().contains("hunter2"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary bytes as discovery and session frames, in every stage the scripted AC can bring the
    /// client to, never panic; with the right session header they reach the PPP decoders and machines.
    #[test]
    fn arbitrary_frames_never_panic(
        stage in 0u8..4,
        frames in proptest::collection::vec((any::<bool>(), any::<bool>(), proptest::collection::vec(any::<u8>(), 0..200)), 1..30),
        ticks in proptest::collection::vec(0u64..40_000, 0..10),
    ) {
        let auth = match stage { 0 => AcAuth::Pap, 1 => AcAuth::Chap, _ => AcAuth::None };
        let mut ac = Ac::new(auth);
        if stage == 3 {
            ac.silent = true;
        }
        let mut rig = Rig::new(config(AuthMethods::Any), ac);
        rig.start();
        rig.ac.silent = true;
        for (discovery, wrap, bytes) in frames {
            let payload = if wrap && !discovery {
                let mut framed = Vec::new();
                SessionFrame { session_id: SESSION_ID, payload: &bytes }.encode(&mut framed).unwrap();
                framed
            } else {
                bytes
            };
            let input = if discovery {
                Input::Discovery { from: AC_MAC, bytes: &payload }
            } else {
                Input::Session { from: AC_MAC, bytes: &payload }
            };
            let out = rig.conn.handle(input, rig.now);
            for o in &out {
                if let Output::Session(p) = o {
                    prop_assert!(Packet::decode(&p.ppp).is_ok());
                    prop_assert!(p.ppp.len() <= 1492);
                }
            }
        }
        for t in ticks {
            rig.advance(Duration::from_millis(t));
        }
        // Whatever happened, the client is either up or has a way forward.
        prop_assert!(rig.conn.next_deadline().is_some());
    }
}
