//! Virtual-clock tests of the automaton: every cell of RFC 1661 §4.1's table (as a pure function and
//! through the automaton), then scenarios of two automata talking, timers, counters and keepalive.

use std::net::Ipv4Addr;
use std::time::Duration;

use proptest::prelude::*;
use routerd_proto::ppp::control::{
    AuthProtocol, ControlPacket, IpcpOption, Ipv6cpOption, LcpOption, LcpPacket, CHAP_MD5,
};
use routerd_sansio::{Now, Sequence, XorShift};

use super::ipcp::IpcpPolicy;
use super::ipv6cp::Ipv6cpPolicy;
use super::keepalive::{EchoKeepalive, KeepaliveAction};
use super::lcp::{AuthMethods, Authentication, LcpPolicy};
use super::*;

/// RFC 1661 §4.1, transcribed cell by cell (rows: events in the RFC's order; columns: states 0–9).
/// The "r", "p" and "x" option marks are left out (see the module doc).
const RFC_TABLE: [[&str; 10]; 16] = [
    ["2", "irc,scr/6", "-", "-", "-", "-", "-", "-", "-", "-"],
    ["-", "-", "0", "tls/1", "0", "1", "1", "1", "1", "tld/1"],
    ["tls/1", "1", "irc,scr/6", "3", "5", "5", "6", "7", "8", "9"],
    [
        "0",
        "tlf/0",
        "2",
        "2",
        "4",
        "4",
        "irc,str/4",
        "irc,str/4",
        "irc,str/4",
        "tld,irc,str/4",
    ],
    [
        "-", "-", "-", "-", "str/4", "str/5", "scr/6", "scr/6", "scr/8", "-",
    ],
    [
        "-", "-", "-", "-", "tlf/2", "tlf/3", "tlf/3", "tlf/3", "tlf/3", "-",
    ],
    [
        "-",
        "-",
        "sta/2",
        "irc,scr,sca/8",
        "4",
        "5",
        "sca/8",
        "sca,tlu/9",
        "sca/8",
        "tld,scr,sca/8",
    ],
    [
        "-",
        "-",
        "sta/2",
        "irc,scr,scn/6",
        "4",
        "5",
        "scn/6",
        "scn/7",
        "scn/6",
        "tld,scr,scn/6",
    ],
    [
        "-",
        "-",
        "sta/2",
        "sta/3",
        "4",
        "5",
        "irc/7",
        "scr/6",
        "irc,tlu/9",
        "tld,scr/6",
    ],
    [
        "-",
        "-",
        "sta/2",
        "sta/3",
        "4",
        "5",
        "irc,scr/6",
        "scr/6",
        "irc,scr/8",
        "tld,scr/6",
    ],
    [
        "-",
        "-",
        "sta/2",
        "sta/3",
        "sta/4",
        "sta/5",
        "sta/6",
        "sta/6",
        "sta/6",
        "tld,zrc,sta/5",
    ],
    [
        "-",
        "-",
        "2",
        "3",
        "tlf/2",
        "tlf/3",
        "6",
        "6",
        "8",
        "tld,scr/6",
    ],
    [
        "-", "-", "scj/2", "scj/3", "scj/4", "scj/5", "scj/6", "scj/7", "scj/8", "scj/9",
    ],
    ["-", "-", "2", "3", "4", "5", "6", "6", "8", "9"],
    [
        "-",
        "-",
        "tlf/2",
        "tlf/3",
        "tlf/2",
        "tlf/3",
        "tlf/3",
        "tlf/3",
        "tlf/3",
        "tld,irc,str/5",
    ],
    ["-", "-", "2", "3", "4", "5", "6", "7", "8", "ser/9"],
];

fn action_name(action: Action) -> &'static str {
    match action {
        Action::ThisLayerUp => "tlu",
        Action::ThisLayerDown => "tld",
        Action::ThisLayerStarted => "tls",
        Action::ThisLayerFinished => "tlf",
        Action::InitializeRestartCount => "irc",
        Action::ZeroRestartCount => "zrc",
        Action::SendConfigureRequest => "scr",
        Action::SendConfigureAck => "sca",
        Action::SendConfigureNak => "scn",
        Action::SendTerminateRequest => "str",
        Action::SendTerminateAck => "sta",
        Action::SendCodeReject => "scj",
        Action::SendEchoReply => "ser",
    }
}

/// The cell as "actions/state" (or "-"), in the RFC's notation.
fn cell_of(transition: Option<Transition>) -> String {
    match transition {
        None => "-".to_owned(),
        Some((actions, next)) => {
            let number = State::ALL.iter().position(|s| *s == next).unwrap_or(99);
            let names: Vec<_> = actions.iter().map(|a| action_name(*a)).collect();
            if names.is_empty() {
                number.to_string()
            } else {
                format!("{}/{number}", names.join(","))
            }
        }
    }
}

#[test]
fn transition_function_is_rfc_1661_table() {
    let mut cells = 0;
    for (row, event) in Event::ALL.iter().enumerate() {
        for (column, state) in State::ALL.iter().enumerate() {
            assert_eq!(
                cell_of(transition(*state, *event)),
                RFC_TABLE[row][column],
                "{state:?} × {event:?}"
            );
            cells += 1;
        }
    }
    assert_eq!(cells, 160);
}

fn t0() -> Now {
    Now::system()
}

fn lcp_policy(seed: u64) -> LcpPolicy {
    LcpPolicy::new(1492, AuthMethods::Any, Box::new(XorShift::new(seed)))
}

fn lcp(seed: u64) -> Negotiation<LcpPolicy> {
    Negotiation::new(lcp_policy(seed), Timers::default())
}

const OUTSTANDING_ID: u8 = 7;
const PEER_ID: u8 = 42;

/// An LCP automaton placed in `state` as if it got there by the protocol: a request outstanding where
/// one can be, the restart timer running where it runs, with 5 restarts left.
fn placed_in(state: State, now: Now) -> Negotiation<LcpPolicy> {
    let mut automaton = lcp(1);
    automaton.state = state;
    if matches!(
        state,
        State::ReqSent | State::AckSent | State::AckRcvd | State::Opened
    ) {
        automaton.outstanding = Some(Outstanding {
            identifier: OUTSTANDING_ID,
            options: automaton.policy.request(),
        });
    }
    if state.timer_runs() {
        automaton.restart_count = 5;
        automaton.deadline = Some(now.mono + Duration::from_secs(3));
    }
    automaton
}

/// Produces `event` in the automaton and returns its outputs.
fn produce(
    automaton: &mut Negotiation<LcpPolicy>,
    event: Event,
    now: Now,
) -> Vec<Output<LcpOption>> {
    let packet = |p: LcpPacket| Input::Packet(p);
    let ours = automaton.policy.request();
    match event {
        Event::Up => automaton.handle(Input::Up, now),
        Event::Down => automaton.handle(Input::Down, now),
        Event::Open => automaton.handle(Input::Open, now),
        Event::Close => automaton.handle(Input::Close, now),
        Event::TimeoutRetry => automaton.on_timer(now.after(Duration::from_secs(3))),
        Event::TimeoutGiveUp => {
            automaton.restart_count = 0;
            automaton.on_timer(now.after(Duration::from_secs(3)))
        }
        Event::ReceiveGoodRequest => automaton.handle(
            packet(LcpPacket::ConfigureRequest {
                identifier: PEER_ID,
                options: vec![LcpOption::Mru(1492), LcpOption::MagicNumber(0x1111_1111)],
            }),
            now,
        ),
        Event::ReceiveBadRequest => automaton.handle(
            packet(LcpPacket::ConfigureRequest {
                identifier: PEER_ID,
                options: vec![LcpOption::ProtocolFieldCompression],
            }),
            now,
        ),
        Event::ReceiveAck => automaton.handle(
            packet(LcpPacket::ConfigureAck {
                identifier: OUTSTANDING_ID,
                options: ours,
            }),
            now,
        ),
        Event::ReceiveNak => automaton.handle(
            packet(LcpPacket::ConfigureNak {
                identifier: OUTSTANDING_ID,
                options: vec![LcpOption::Mru(1400)],
            }),
            now,
        ),
        Event::ReceiveTerminateRequest => automaton.handle(
            packet(LcpPacket::TerminateRequest {
                identifier: PEER_ID,
                data: vec![],
            }),
            now,
        ),
        Event::ReceiveTerminateAck => automaton.handle(
            packet(LcpPacket::TerminateAck {
                identifier: PEER_ID,
                data: vec![],
            }),
            now,
        ),
        Event::ReceiveUnknownCode => automaton.handle(
            packet(LcpPacket::Unknown {
                code: 99,
                identifier: PEER_ID,
                data: vec![1, 2],
            }),
            now,
        ),
        Event::ReceiveRejectPermitted => automaton.handle(
            packet(LcpPacket::CodeReject {
                identifier: PEER_ID,
                rejected: vec![11, 1, 0, 8, 0, 0, 0, 0],
            }),
            now,
        ),
        Event::ReceiveRejectCatastrophic => automaton.handle(
            packet(LcpPacket::CodeReject {
                identifier: PEER_ID,
                rejected: vec![1, 1, 0, 4],
            }),
            now,
        ),
        Event::ReceiveEchoOrDiscard => automaton.handle(
            packet(LcpPacket::EchoRequest {
                identifier: PEER_ID,
                magic: 0x2222_2222,
                data: vec![],
            }),
            now,
        ),
    }
}

/// The visible actions behind the outputs, in order.
fn observed_actions(outputs: &[Output<LcpOption>]) -> Vec<&'static str> {
    outputs
        .iter()
        .filter_map(|output| match output {
            Output::Send(packet) => Some(match packet {
                ControlPacket::ConfigureRequest { .. } => "scr",
                ControlPacket::ConfigureAck { .. } => "sca",
                ControlPacket::ConfigureNak { .. } | ControlPacket::ConfigureReject { .. } => "scn",
                ControlPacket::TerminateRequest { .. } => "str",
                ControlPacket::TerminateAck { .. } => "sta",
                ControlPacket::CodeReject { .. } => "scj",
                ControlPacket::EchoReply { .. } => "ser",
                _ => "unexpected packet",
            }),
            Output::Layer(LayerEvent::Up) => Some("tlu"),
            Output::Layer(LayerEvent::Down) => Some("tld"),
            Output::Layer(LayerEvent::Started) => Some("tls"),
            Output::Layer(LayerEvent::Finished) => Some("tlf"),
            Output::EchoReply { .. } | Output::ProtocolRejected(_) => None,
        })
        .collect()
}

#[test]
fn every_cell_of_the_table_through_the_automaton() {
    let timers = Timers::default();
    for (row, event) in Event::ALL.iter().enumerate() {
        for (column, state) in State::ALL.iter().enumerate() {
            let now = t0();
            let mut automaton = placed_in(*state, now);
            let outputs = produce(&mut automaton, *event, now);
            let cell = RFC_TABLE[row][column];
            let context = format!("{state:?} × {event:?} ({cell}): {outputs:?}");
            if cell == "-" {
                assert_eq!(automaton.state(), *state, "{context}");
                assert!(outputs.is_empty(), "{context}");
                continue;
            }
            let (actions, next) = cell.split_once('/').unwrap_or(("", cell));
            let expected_next: usize = next.parse().unwrap();
            assert_eq!(automaton.state(), State::ALL[expected_next], "{context}");
            let expected: Vec<&str> = actions
                .split(',')
                .filter(|a| !a.is_empty() && *a != "irc" && *a != "zrc")
                .collect();
            assert_eq!(observed_actions(&outputs), expected, "{context}");
            let sends = expected
                .iter()
                .filter(|a| **a == "scr" || **a == "str")
                .count();
            let sends = u32::try_from(sends).unwrap();
            if actions.contains("irc") {
                let initial = if actions.contains("str") {
                    timers.max_terminate
                } else {
                    timers.max_configure
                };
                assert_eq!(automaton.restart_count, initial - sends, "{context}");
            }
            if actions.contains("zrc") {
                assert_eq!(automaton.restart_count, 0, "{context}");
            }
            assert_eq!(
                automaton.next_deadline().is_some(),
                automaton.state().timer_runs(),
                "{context}"
            );
        }
    }
}

/// Delivers packets between two automata until neither has anything to say; returns how many packets
/// went each way.
fn converse<A, B>(
    a: &mut Negotiation<A>,
    b: &mut Negotiation<B>,
    first_a: Vec<Output<A::Option>>,
    first_b: Vec<Output<A::Option>>,
    now: Now,
) -> usize
where
    A: OptionPolicy,
    B: OptionPolicy<Option = A::Option>,
{
    let mut to_b: Vec<_> = first_a;
    let mut to_a: Vec<_> = first_b;
    let mut delivered = 0;
    while !to_a.is_empty() || !to_b.is_empty() {
        assert!(delivered < 100, "no convergence");
        let mut next_to_a = Vec::new();
        for output in to_b.drain(..) {
            if let Output::Send(packet) = output {
                delivered += 1;
                next_to_a.extend(b.handle(Input::Packet(packet), now));
            }
        }
        let mut next_to_b = Vec::new();
        for output in to_a.drain(..) {
            if let Output::Send(packet) = output {
                delivered += 1;
                next_to_b.extend(a.handle(Input::Packet(packet), now));
            }
        }
        to_a = next_to_a;
        to_b = next_to_b;
    }
    delivered
}

fn open<P: OptionPolicy>(automaton: &mut Negotiation<P>, now: Now) -> Vec<Output<P::Option>> {
    let mut out = automaton.handle(Input::Open, now);
    out.extend(automaton.handle(Input::Up, now));
    out
}

#[test]
fn two_lcp_automata_converge_to_opened() {
    let now = t0();
    let mut client = lcp(1);
    let mut server = lcp(2);
    let first_client = open(&mut client, now);
    let first_server = open(&mut server, now);
    converse(&mut client, &mut server, first_client, first_server, now);
    assert_eq!(client.state(), State::Opened);
    assert_eq!(server.state(), State::Opened);
    let ours = client.negotiated().unwrap();
    let theirs = server.negotiated().unwrap();
    assert_eq!(ours.our_magic, theirs.peer_magic);
    assert_eq!(ours.peer_magic, theirs.our_magic);
    assert_ne!(ours.our_magic, 0);
    assert_eq!(ours.peer_mru, 1492);
    assert_eq!(ours.authentication, Authentication::None);
    assert_eq!(client.next_deadline(), None, "no timer in Opened");
}

/// A concentrator's IPCP: has its own address, assigns ours and DNS by Nak.
#[derive(Debug)]
struct ConcentratorIpcp;

const AC_ADDRESS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const ASSIGNED: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const DNS1: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 53);
const DNS2: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 54);

impl OptionPolicy for ConcentratorIpcp {
    type Option = IpcpOption;
    type Negotiated = ();
    fn reset(&mut self) {}
    fn request(&self) -> Vec<IpcpOption> {
        vec![IpcpOption::IpAddress(AC_ADDRESS)]
    }
    fn judge(&mut self, peer: &[IpcpOption]) -> Verdict<IpcpOption> {
        Verdict::collect(peer, |option| match option {
            IpcpOption::IpAddress(a) if *a != ASSIGNED => {
                OptionVerdict::Nak(IpcpOption::IpAddress(ASSIGNED))
            }
            IpcpOption::PrimaryDns(a) if *a != DNS1 => {
                OptionVerdict::Nak(IpcpOption::PrimaryDns(DNS1))
            }
            IpcpOption::SecondaryDns(a) if *a != DNS2 => {
                OptionVerdict::Nak(IpcpOption::SecondaryDns(DNS2))
            }
            IpcpOption::Raw { .. } => OptionVerdict::Reject,
            _ => OptionVerdict::Ack,
        })
    }
    fn nak_received(&mut self, _: &[IpcpOption]) {}
    fn reject_received(&mut self, _: &[IpcpOption]) {}
    fn negotiated(&self, _: &[IpcpOption], _: &[IpcpOption]) {}
}

#[test]
fn ipcp_client_takes_address_and_dns_from_the_concentrators_nak() {
    let now = t0();
    let mut client = Negotiation::new(IpcpPolicy::new(), Timers::default());
    let mut ac = Negotiation::new(ConcentratorIpcp, Timers::default());
    let first_client = open(&mut client, now);
    assert_eq!(
        first_client,
        vec![
            Output::Layer(LayerEvent::Started),
            Output::Send(ControlPacket::ConfigureRequest {
                identifier: 1,
                options: vec![
                    IpcpOption::IpAddress(Ipv4Addr::UNSPECIFIED),
                    IpcpOption::PrimaryDns(Ipv4Addr::UNSPECIFIED),
                    IpcpOption::SecondaryDns(Ipv4Addr::UNSPECIFIED),
                ],
            })
        ]
    );
    let first_ac = open(&mut ac, now);
    converse(&mut client, &mut ac, first_client, first_ac, now);
    assert_eq!((client.state(), ac.state()), (State::Opened, State::Opened));
    let result = client.negotiated().unwrap();
    assert_eq!(result.address, ASSIGNED);
    assert_eq!(result.peer_address, Some(AC_ADDRESS));
    assert_eq!(result.primary_dns, Some(DNS1));
    assert_eq!(result.secondary_dns, Some(DNS2));
}

#[test]
fn ipcp_rejects_dns_from_the_peer_and_drops_what_the_peer_rejects() {
    let mut policy = IpcpPolicy::new();
    assert_eq!(
        policy.judge(&[
            IpcpOption::IpAddress(AC_ADDRESS),
            IpcpOption::PrimaryDns(DNS1)
        ]),
        Verdict::Reject(vec![IpcpOption::PrimaryDns(DNS1)])
    );
    assert_eq!(
        policy.judge(&[IpcpOption::IpAddress(AC_ADDRESS)]),
        Verdict::Ack
    );
    policy.reject_received(&[IpcpOption::SecondaryDns(Ipv4Addr::UNSPECIFIED)]);
    assert_eq!(
        policy.request(),
        vec![
            IpcpOption::IpAddress(Ipv4Addr::UNSPECIFIED),
            IpcpOption::PrimaryDns(Ipv4Addr::UNSPECIFIED)
        ]
    );
}

#[test]
fn two_ipv6cp_automata_converge_with_distinct_identifiers() {
    let now = t0();
    let mut a = Negotiation::new(
        Ipv6cpPolicy::new(Box::new(XorShift::new(5))),
        Timers::default(),
    );
    let mut b = Negotiation::new(
        Ipv6cpPolicy::new(Box::new(XorShift::new(6))),
        Timers::default(),
    );
    let first_a = open(&mut a, now);
    let first_b = open(&mut b, now);
    converse(&mut a, &mut b, first_a, first_b, now);
    assert_eq!((a.state(), b.state()), (State::Opened, State::Opened));
    let (ra, rb) = (a.negotiated().unwrap(), b.negotiated().unwrap());
    assert_eq!(ra.ours, rb.peer);
    assert_eq!(ra.peer, rb.ours);
    assert_ne!(ra.ours, ra.peer);
    assert!(ra.ours.is_some_and(|id| id != [0; 8]));
}

#[test]
fn ipv6cp_identifier_collision_is_naked_and_resolved() {
    let now = t0();
    // Both sides draw the same identifier first (RFC 5072 §4.1), then their randomness diverges.
    let draws = |then: u32| {
        Box::new(Sequence::new(vec![
            0x0211_22ff,
            0xfe33_4455,
            then,
            then + 1,
            then + 2,
            then + 3,
        ]))
    };
    let mut a = Negotiation::new(Ipv6cpPolicy::new(draws(100)), Timers::default());
    let mut b = Negotiation::new(Ipv6cpPolicy::new(draws(200)), Timers::default());
    assert_eq!(a.policy().request(), b.policy().request());
    let first_a = open(&mut a, now);
    let first_b = open(&mut b, now);
    converse(&mut a, &mut b, first_a, first_b, now);
    assert_eq!((a.state(), b.state()), (State::Opened, State::Opened));
    let (ra, rb) = (a.negotiated().unwrap(), b.negotiated().unwrap());
    assert!(ra.ours.is_some() && ra.peer.is_some(), "{ra:?}");
    assert_ne!(ra.ours, ra.peer);
    assert_eq!(ra.ours, rb.peer);
    // A zero identifier from the peer is Nak'd with a non-zero suggestion.
    let mut policy = Ipv6cpPolicy::new(Box::new(XorShift::new(3)));
    match policy.judge(&[Ipv6cpOption::InterfaceId([0; 8])]) {
        Verdict::Nak(options) => {
            assert!(matches!(options[..], [Ipv6cpOption::InterfaceId(id)] if id != [0; 8]))
        }
        other => panic!("expected a Nak, got {other:?}"),
    }
}

fn sent_requests(outputs: &[Output<LcpOption>]) -> Vec<u8> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send(ControlPacket::ConfigureRequest { identifier, .. }) => Some(*identifier),
            _ => None,
        })
        .collect()
}

#[test]
fn unanswered_requests_are_sent_ten_times_3_s_apart_then_tlf() {
    let start = t0();
    let mut automaton = lcp(1);
    let mut outputs = open(&mut automaton, start);
    let mut times = vec![Duration::ZERO];
    let mut now = start;
    while let Some(deadline) = automaton.next_deadline() {
        // A wake-up a little early does nothing.
        assert!(automaton
            .on_timer(Now {
                mono: deadline - Duration::from_millis(1),
                wall: now.wall
            })
            .is_empty());
        now = start.after(deadline - start.mono);
        let fired = automaton.on_timer(now);
        if !sent_requests(&fired).is_empty() {
            times.push(deadline - start.mono);
        }
        outputs.extend(fired);
    }
    let identifiers = sent_requests(&outputs);
    assert_eq!(identifiers.len(), 10);
    assert!(
        identifiers.iter().all(|id| *id == identifiers[0]),
        "retransmissions keep the identifier"
    );
    let expected: Vec<_> = (0..10).map(|k| Duration::from_secs(3 * k)).collect();
    assert_eq!(times, expected);
    assert_eq!(now.mono - start.mono, Duration::from_secs(30));
    assert_eq!(outputs.last(), Some(&Output::Layer(LayerEvent::Finished)));
    assert_eq!(automaton.state(), State::Stopped);
}

#[test]
fn replies_with_a_foreign_identifier_are_discarded_and_new_requests_get_new_identifiers() {
    let now = t0();
    let mut automaton = lcp(1);
    let first = sent_requests(&open(&mut automaton, now))[0];
    let options = automaton.policy().request();
    let stray = automaton.handle(
        Input::Packet(LcpPacket::ConfigureAck {
            identifier: first.wrapping_add(1),
            options: options.clone(),
        }),
        now,
    );
    assert!(stray.is_empty());
    assert_eq!(automaton.state(), State::ReqSent);
    // An Ack with the right identifier but altered options is no Ack (RFC 1661 §5.2).
    let altered = automaton.handle(
        Input::Packet(LcpPacket::ConfigureAck {
            identifier: first,
            options: vec![LcpOption::Mru(1000)],
        }),
        now,
    );
    assert!(altered.is_empty());
    // A Nak answers the request: the next one has a new identifier and the Nak'd MRU.
    let after_nak = automaton.handle(
        Input::Packet(LcpPacket::ConfigureNak {
            identifier: first,
            options: vec![LcpOption::Mru(1400)],
        }),
        now,
    );
    match &after_nak[..] {
        [Output::Send(ControlPacket::ConfigureRequest {
            identifier,
            options,
        })] => {
            assert_ne!(*identifier, first);
            assert_eq!(options[0], LcpOption::Mru(1400));
        }
        other => panic!("expected one new request, got {other:?}"),
    }
    // The same Nak again is a duplicate now and changes nothing.
    let duplicate = automaton.handle(
        Input::Packet(LcpPacket::ConfigureNak {
            identifier: first,
            options: vec![LcpOption::Mru(1400)],
        }),
        now,
    );
    assert!(duplicate.is_empty());
}

#[test]
fn naks_turn_into_rejects_after_max_failure() {
    let now = t0();
    let mut automaton = lcp(1);
    open(&mut automaton, now);
    let mut replies = Vec::new();
    for identifier in 0..7 {
        let outputs = automaton.handle(
            Input::Packet(LcpPacket::ConfigureRequest {
                identifier,
                options: vec![LcpOption::Mru(64), LcpOption::MagicNumber(0x5555_5555)],
            }),
            now,
        );
        replies.extend(outputs.into_iter().filter_map(|o| match o {
            Output::Send(p @ ControlPacket::ConfigureNak { .. })
            | Output::Send(p @ ControlPacket::ConfigureReject { .. }) => Some(p),
            _ => None,
        }));
    }
    let naks = replies
        .iter()
        .filter(|p| matches!(p, ControlPacket::ConfigureNak { .. }))
        .count();
    assert_eq!(naks, 5);
    assert_eq!(
        replies[5],
        ControlPacket::ConfigureReject {
            identifier: 5,
            options: vec![LcpOption::Mru(64)]
        }
    );
    assert_eq!(replies.len(), 7);
}

/// Brings a client and a server LCP to Opened and returns them.
fn opened_pair(now: Now) -> (Negotiation<LcpPolicy>, Negotiation<LcpPolicy>) {
    let mut client = lcp(1);
    let mut server = lcp(2);
    let first_client = open(&mut client, now);
    let first_server = open(&mut server, now);
    converse(&mut client, &mut server, first_client, first_server, now);
    assert_eq!(client.state(), State::Opened);
    (client, server)
}

#[test]
fn peer_terminate_request_acks_then_stops_after_one_restart_interval() {
    let now = t0();
    let (mut client, _) = opened_pair(now);
    let outputs = client.handle(
        Input::Packet(LcpPacket::TerminateRequest {
            identifier: 9,
            data: vec![],
        }),
        now,
    );
    assert_eq!(
        outputs,
        vec![
            Output::Layer(LayerEvent::Down),
            Output::Send(ControlPacket::TerminateAck {
                identifier: 9,
                data: vec![]
            })
        ]
    );
    assert_eq!(client.state(), State::Stopping);
    assert_eq!(
        client.next_deadline(),
        Some(now.mono + Duration::from_secs(3))
    );
    let later = client.on_timer(now.after(Duration::from_secs(3)));
    assert_eq!(later, vec![Output::Layer(LayerEvent::Finished)]);
    assert_eq!(client.state(), State::Stopped);
}

#[test]
fn our_close_sends_two_terminate_requests_then_closed() {
    let now = t0();
    let (mut client, _) = opened_pair(now);
    let mut outputs = client.handle(Input::Close, now);
    assert_eq!(outputs[0], Output::Layer(LayerEvent::Down));
    outputs.extend(client.on_timer(now.after(Duration::from_secs(3))));
    assert_eq!(client.state(), State::Closing);
    outputs.extend(client.on_timer(now.after(Duration::from_secs(6))));
    let terminates = outputs
        .iter()
        .filter(|o| matches!(o, Output::Send(ControlPacket::TerminateRequest { .. })))
        .count();
    assert_eq!(terminates, 2);
    assert_eq!(outputs.last(), Some(&Output::Layer(LayerEvent::Finished)));
    assert_eq!(client.state(), State::Closed);
    assert_eq!(client.next_deadline(), None);
}

#[test]
fn close_answered_by_terminate_ack_finishes_at_once() {
    let now = t0();
    let (mut client, mut server) = opened_pair(now);
    let close = client.handle(Input::Close, now);
    converse(&mut client, &mut server, close, vec![], now);
    assert_eq!(client.state(), State::Closed);
    assert_eq!(server.state(), State::Stopping);
}

#[test]
fn echo_request_in_opened_is_answered_with_our_magic() {
    let now = t0();
    let (mut client, _) = opened_pair(now);
    let magic = client.negotiated().unwrap().our_magic;
    let outputs = client.handle(
        Input::Packet(LcpPacket::EchoRequest {
            identifier: 3,
            magic: 0x0bad_cafe,
            data: vec![1, 2, 3],
        }),
        now,
    );
    assert_eq!(
        outputs,
        vec![Output::Send(LcpPacket::EchoReply {
            identifier: 3,
            magic,
            data: vec![1, 2, 3]
        })]
    );
    let looped = client.handle(
        Input::Packet(LcpPacket::EchoRequest {
            identifier: 4,
            magic,
            data: vec![],
        }),
        now,
    );
    assert!(looped.is_empty(), "our own magic is not answered");
    let reply = client.handle(
        Input::Packet(LcpPacket::EchoReply {
            identifier: 4,
            magic: 0x0bad_cafe,
            data: vec![],
        }),
        now,
    );
    assert_eq!(
        reply,
        vec![Output::EchoReply {
            identifier: 4,
            magic: 0x0bad_cafe
        }]
    );
}

#[test]
fn echo_keepalive_declares_the_peer_dead_after_n_missed_replies() {
    let start = t0();
    let mut keepalive = EchoKeepalive::new(Duration::from_secs(10), 3);
    keepalive.start(start);
    let mut sent = 0;
    let mut dead_at = None;
    for second in 1..=60 {
        let now = start.after(Duration::from_secs(second));
        match keepalive.on_timer(now, 0x1234) {
            Some(KeepaliveAction::Send(LcpPacket::EchoRequest { magic, .. })) => {
                assert_eq!(magic, 0x1234);
                sent += 1;
            }
            Some(KeepaliveAction::PeerDead) => {
                dead_at = Some(second);
                break;
            }
            Some(other) => panic!("unexpected {other:?}"),
            None => {}
        }
    }
    assert_eq!(sent, 3);
    assert_eq!(dead_at, Some(40));
    assert_eq!(keepalive.next_deadline(), None);
}

#[test]
fn echo_replies_keep_the_link_alive_but_looped_back_ones_do_not() {
    let start = t0();
    let mut keepalive = EchoKeepalive::new(Duration::from_secs(10), 2);
    keepalive.start(start);
    for round in 1..=10u64 {
        let now = start.after(Duration::from_secs(10 * round));
        assert!(matches!(
            keepalive.on_timer(now, 0x1234),
            Some(KeepaliveAction::Send(_))
        ));
        keepalive.reply_received(0x9999, 0x1234);
    }
    assert_eq!(keepalive.counters(), (10, 10));
    keepalive.reply_received(0x1234, 0x1234);
    assert_eq!(keepalive.counters(), (10, 10), "our own magic is a loop");
}

#[test]
fn looped_back_link_is_detected_by_magic_number() {
    let now = t0();
    let mut automaton = lcp(1);
    let first = open(&mut automaton, now);
    let Some(Output::Send(ControlPacket::ConfigureRequest {
        identifier,
        options,
    })) = first.into_iter().nth(1)
    else {
        panic!("expected a request")
    };
    let before = automaton.magic_number();
    let outputs = automaton.handle(
        Input::Packet(LcpPacket::ConfigureRequest {
            identifier,
            options,
        }),
        now,
    );
    assert!(matches!(
        &outputs[..],
        [Output::Send(ControlPacket::ConfigureNak { options, .. })]
            if matches!(options[..], [LcpOption::MagicNumber(m)] if m != before && m != 0)
    ));
    assert_eq!(automaton.policy().loopbacks(), 1);
    assert_ne!(automaton.magic_number(), before);
}

#[test]
fn lcp_auth_request_accepted_or_naked_per_configuration() {
    let chap = LcpOption::AuthProtocol(AuthProtocol::Chap {
        algorithm: CHAP_MD5,
    });
    let pap = LcpOption::AuthProtocol(AuthProtocol::Pap);
    let chap_sha = LcpOption::AuthProtocol(AuthProtocol::Chap { algorithm: 6 });
    let mut pap_only = LcpPolicy::new(1492, AuthMethods::Pap, Box::new(XorShift::new(1)));
    assert_eq!(pap_only.judge(std::slice::from_ref(&pap)), Verdict::Ack);
    assert_eq!(
        pap_only.judge(std::slice::from_ref(&chap)),
        Verdict::Nak(vec![pap.clone()])
    );
    let mut any = lcp_policy(1);
    assert_eq!(any.judge(std::slice::from_ref(&pap)), Verdict::Ack);
    assert_eq!(any.judge(std::slice::from_ref(&chap)), Verdict::Ack);
    assert_eq!(any.judge(&[chap_sha]), Verdict::Nak(vec![chap.clone()]));
    assert_eq!(
        any.judge(&[
            LcpOption::ProtocolFieldCompression,
            LcpOption::AddressControlFieldCompression,
            chap.clone()
        ]),
        Verdict::Reject(vec![
            LcpOption::ProtocolFieldCompression,
            LcpOption::AddressControlFieldCompression
        ])
    );
    assert_eq!(
        any.negotiated(&[], &[chap, LcpOption::Mru(1500)]),
        lcp::LcpNegotiated {
            our_mru: 1500,
            peer_mru: 1492,
            our_magic: 0,
            peer_magic: 0,
            authentication: Authentication::ChapMd5
        }
    );
    assert_eq!("chap".parse(), Ok(AuthMethods::Chap));
    assert!("eap".parse::<AuthMethods>().is_err());
}

#[test]
fn unknown_code_is_code_rejected_quoting_the_packet() {
    let now = t0();
    let (mut client, _) = opened_pair(now);
    let outputs = client.handle(
        Input::Packet(LcpPacket::Unknown {
            code: 99,
            identifier: 5,
            data: vec![0xaa],
        }),
        now,
    );
    match &outputs[..] {
        [Output::Send(ControlPacket::CodeReject { rejected, .. })] => {
            assert_eq!(rejected, &vec![99, 5, 0, 5, 0xaa])
        }
        other => panic!("expected a Code-Reject, got {other:?}"),
    }
    assert_eq!(client.state(), State::Opened);
}

#[test]
fn protocol_reject_of_an_ncp_is_reported_and_stops_that_ncp() {
    let now = t0();
    let (mut client, _) = opened_pair(now);
    let outputs = client.handle(
        Input::Packet(LcpPacket::ProtocolReject {
            identifier: 1,
            protocol: routerd_proto::ppp::Protocol::IPV6CP,
            rejected: vec![],
        }),
        now,
    );
    assert_eq!(
        outputs,
        vec![Output::ProtocolRejected(
            routerd_proto::ppp::Protocol::IPV6CP
        )]
    );
    let mut ipv6cp = Negotiation::new(
        Ipv6cpPolicy::new(Box::new(XorShift::new(1))),
        Timers::default(),
    );
    open(&mut ipv6cp, now);
    let stopped = ipv6cp.handle(Input::ProtocolRejected, now);
    assert_eq!(stopped, vec![Output::Layer(LayerEvent::Finished)]);
    assert_eq!(ipv6cp.state(), State::Stopped);
}

#[test]
fn timers_are_validated() {
    assert_eq!(Timers::default().validate(), Ok(Timers::default()));
    let zero = Timers {
        restart: Duration::ZERO,
        ..Timers::default()
    };
    assert_eq!(zero.validate(), Err(TimersError::ZeroRestart));
}

fn arbitrary_lcp_packet() -> impl Strategy<Value = LcpPacket> {
    let option = prop_oneof![
        any::<u16>().prop_map(LcpOption::Mru),
        any::<u32>().prop_map(LcpOption::MagicNumber),
        Just(LcpOption::AuthProtocol(AuthProtocol::Pap)),
        any::<u8>().prop_map(|algorithm| LcpOption::AuthProtocol(AuthProtocol::Chap { algorithm })),
        Just(LcpOption::ProtocolFieldCompression),
        (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..4))
            .prop_map(|(kind, value)| LcpOption::Raw { kind, value }),
    ];
    let options = proptest::collection::vec(option, 0..4);
    let data = proptest::collection::vec(any::<u8>(), 0..8);
    // Small identifiers so replies often match the outstanding request.
    let id = 0u8..4;
    prop_oneof![
        (id.clone(), options.clone()).prop_map(|(identifier, options)| {
            LcpPacket::ConfigureRequest {
                identifier,
                options,
            }
        }),
        (id.clone(), options.clone()).prop_map(|(identifier, options)| LcpPacket::ConfigureAck {
            identifier,
            options
        }),
        (id.clone(), options.clone()).prop_map(|(identifier, options)| LcpPacket::ConfigureNak {
            identifier,
            options
        }),
        (id.clone(), options).prop_map(|(identifier, options)| LcpPacket::ConfigureReject {
            identifier,
            options
        }),
        (id.clone(), data.clone())
            .prop_map(|(identifier, data)| LcpPacket::TerminateRequest { identifier, data }),
        (id.clone(), data.clone())
            .prop_map(|(identifier, data)| LcpPacket::TerminateAck { identifier, data }),
        (id.clone(), data.clone()).prop_map(|(identifier, rejected)| LcpPacket::CodeReject {
            identifier,
            rejected
        }),
        (id.clone(), any::<u16>(), data.clone()).prop_map(|(identifier, p, rejected)| {
            LcpPacket::ProtocolReject {
                identifier,
                protocol: routerd_proto::ppp::Protocol(p),
                rejected,
            }
        }),
        (id.clone(), any::<u32>(), data.clone()).prop_map(|(identifier, magic, data)| {
            LcpPacket::EchoRequest {
                identifier,
                magic,
                data,
            }
        }),
        (id.clone(), any::<u32>(), data.clone()).prop_map(|(identifier, magic, data)| {
            LcpPacket::EchoReply {
                identifier,
                magic,
                data,
            }
        }),
        (id.clone(), any::<u32>(), data.clone()).prop_map(|(identifier, magic, data)| {
            LcpPacket::DiscardRequest {
                identifier,
                magic,
                data,
            }
        }),
        (12u8.., id, data).prop_map(|(code, identifier, data)| LcpPacket::Unknown {
            code,
            identifier,
            data
        }),
    ]
}

#[derive(Debug, Clone)]
enum Step {
    Input(Input<LcpOption>),
    Timer(u64),
}

fn arbitrary_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        Just(Step::Input(Input::Up)),
        Just(Step::Input(Input::Down)),
        Just(Step::Input(Input::Open)),
        Just(Step::Input(Input::Close)),
        Just(Step::Input(Input::ProtocolRejected)),
        (0u64..5000).prop_map(Step::Timer),
        arbitrary_lcp_packet().prop_map(|p| Step::Input(Input::Packet(p))),
        arbitrary_lcp_packet().prop_map(|p| Step::Input(Input::Packet(p))),
        arbitrary_lcp_packet().prop_map(|p| Step::Input(Input::Packet(p))),
    ]
}

proptest! {
    #[test]
    fn arbitrary_packets_in_arbitrary_states_never_panic(
        steps in proptest::collection::vec(arbitrary_step(), 0..60),
        seed in any::<u64>(),
    ) {
        let start = t0();
        let mut now = start;
        let mut automaton = lcp(seed);
        for step in steps {
            match step {
                Step::Input(input) => { automaton.handle(input, now); }
                Step::Timer(millis) => {
                    now = now.after(Duration::from_millis(millis));
                    automaton.on_timer(now);
                }
            }
            // The restart timer runs exactly in the states that wait for an answer.
            prop_assert_eq!(
                automaton.next_deadline().is_some(),
                automaton.state().timer_runs(),
                "{:?}", automaton.state()
            );
            if automaton.state() == State::Opened {
                prop_assert!(automaton.negotiated().is_some());
            }
        }
    }
}

fn drive<P: OptionPolicy>(
    automaton: &mut Negotiation<P>,
    frames: Vec<Vec<u8>>,
    decode: impl Fn(&[u8]) -> Option<ControlPacket<P::Option>>,
) {
    let mut now = t0();
    open(automaton, now);
    for frame in frames {
        if let Some(packet) = decode(&frame) {
            automaton.handle(Input::Packet(packet), now);
        }
        now = now.after(Duration::from_secs(1));
        automaton.on_timer(now);
    }
}

/// Frames that mostly decode: a valid code, identifier and Length, then arbitrary options.
fn control_frame() -> impl Strategy<Value = Vec<u8>> {
    (
        1u8..12,
        0u8..4,
        proptest::collection::vec(any::<u8>(), 0..24),
    )
        .prop_map(|(code, identifier, body)| {
            let mut frame = vec![code, identifier, 0, 0];
            frame.extend_from_slice(&body);
            let len = u16::try_from(frame.len()).unwrap_or(u16::MAX);
            frame[2..4].copy_from_slice(&len.to_be_bytes());
            frame
        })
}

proptest! {
    #[test]
    fn arbitrary_ncp_frames_never_panic(
        frames in proptest::collection::vec(control_frame(), 0..40),
        seed in any::<u64>(),
    ) {
        let mut ipcp = Negotiation::new(IpcpPolicy::new(), Timers::default());
        drive(&mut ipcp, frames.clone(), |b| ControlPacket::decode(b).ok());
        let mut ipv6cp = Negotiation::new(
            Ipv6cpPolicy::new(Box::new(XorShift::new(seed))),
            Timers::default(),
        );
        drive(&mut ipv6cp, frames.clone(), |b| ControlPacket::decode(b).ok());
        let mut lcp = lcp(seed);
        drive(&mut lcp, frames, |b| ControlPacket::decode(b).ok());
    }
}

#[test]
fn keepalive_failure_takes_lcp_down_as_a_lower_layer_down() {
    let start = t0();
    let (mut client, _) = opened_pair(start);
    let mut keepalive = EchoKeepalive::new(Duration::from_secs(5), 2);
    keepalive.start(start);
    let mut verdict = None;
    let mut now = start;
    while let Some(deadline) = keepalive.next_deadline() {
        now = start.after(deadline - start.mono);
        verdict = keepalive.on_timer(now, client.magic_number());
    }
    assert_eq!(verdict, Some(KeepaliveAction::PeerDead));
    assert_eq!(now.mono - start.mono, Duration::from_secs(15));
    assert_eq!(
        client.handle(Input::Down, now),
        vec![Output::Layer(LayerEvent::Down)]
    );
    assert_eq!(client.state(), State::Starting);
}
