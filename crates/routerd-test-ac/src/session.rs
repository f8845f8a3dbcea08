//! One PPP session as the access concentrator runs it (RFC 1661 §3.2 phases): LCP, then the
//! authenticator side of PAP (RFC 1334 §2) or CHAP-MD5 (RFC 1994 §4), then IPCP and IPv6CP.

use std::net::Ipv4Addr;
use std::time::Instant;

use routerd_pppoe_client::negotiation::ipv6cp::Ipv6cpPolicy;
use routerd_pppoe_client::negotiation::{Input, LayerEvent, Negotiation, Output, State};
use routerd_proto::ppp::auth::{chap_md5_response, ChapPacket, PapPacket};
use routerd_proto::ppp::control::{ControlPacket, IpcpOption, Ipv6cpOption, LcpOption, LcpPacket};
use routerd_proto::ppp::{Packet, Protocol, Secret};
use routerd_sansio::{Now, Random, XorShift};
use serde_json::json;

use crate::concentrator::{Config, Stats};
use crate::policy::{AuthKind, Prefixed, ServerIpcpPolicy, ServerLcpPolicy};
use crate::{format_mac, Mac};

/// How often an unanswered CHAP Challenge is repeated, and how many times (RFC 1994 §4.1 leaves both
/// to the implementation; these are pppd's defaults).
const CHAP_RESTART: std::time::Duration = std::time::Duration::from_secs(3);
const CHAP_MAX_CHALLENGES: u32 = 10;

/// The RFC 1661 §3.2 phase a session is in, as `stats` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// LCP negotiating.
    Establish,
    /// LCP opened, waiting for the client's credentials.
    Authenticate,
    /// Authenticated: the NCPs run (and, once opened, carry datagrams).
    Network,
    /// LCP terminating.
    Terminate,
}

impl Phase {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Establish => "establish",
            Self::Authenticate => "authenticate",
            Self::Network => "network",
            Self::Terminate => "terminate",
        }
    }
}

/// Where authentication stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Auth {
    /// Not started (LCP not opened yet), or PAP waiting for the Authenticate-Request.
    Waiting,
    /// A CHAP Challenge is out.
    Challenged {
        identifier: u8,
        challenge: [u8; 16],
        deadline: Instant,
        remaining: u32,
    },
    /// Succeeded; a repeated request (our Ack was lost) is answered again.
    Succeeded { identifier: u8 },
    /// Failed; LCP is being closed.
    Failed,
}

/// What a session's inputs produce besides its own state: the PPP packets to send, notes and counters.
pub(crate) struct Effects<'a> {
    pub(crate) packets: Vec<Packet<'static>>,
    pub(crate) notes: Vec<serde_json::Value>,
    pub(crate) stats: &'a mut Stats,
    pub(crate) random: &'a mut dyn Random,
}

/// One session's PPP state.
pub(crate) struct Session {
    pub(crate) peer: Mac,
    pub(crate) id: u16,
    pub(crate) phase: Phase,
    /// The Host-Uniq of the PADR that created it, to answer a repeated PADR with the same PADS.
    pub(crate) host_uniq: Option<Vec<u8>>,
    /// Whether any session frame arrived: until then a repeated PADR means our PADS was lost.
    pub(crate) heard_from: bool,
    /// Set when LCP finished: the concentrator sends PADT and forgets the session.
    pub(crate) finished: bool,
    /// A counter value taken when an NCP opened: the newest open session carries the TUN's traffic.
    pub(crate) opened_order: Option<u64>,
    pub(crate) ipcp_opened: bool,
    pub(crate) ipv6cp_opened: bool,
    pub(crate) peer_address: Option<Ipv4Addr>,
    lcp: Negotiation<ServerLcpPolicy>,
    ipcp: Negotiation<ServerIpcpPolicy>,
    ipv6cp: Negotiation<Ipv6cpPolicy>,
    auth: Auth,
    next_identifier: u8,
}

impl Session {
    pub(crate) fn new(peer: Mac, id: u16, config: &Config, random: &mut dyn Random) -> Self {
        let mut seed = || u64::from(random.next_u32()) << 32 | u64::from(random.next_u32());
        let lcp_random = Box::new(XorShift::new(seed()));
        let [a, b, c, d, e, f, g, h] = config.interface_id;
        let ipv6cp_random = Box::new(Prefixed::new(
            [
                u32::from_be_bytes([a, b, c, d]),
                u32::from_be_bytes([e, f, g, h]),
            ],
            XorShift::new(seed()),
        ));
        Self {
            peer,
            id,
            phase: Phase::Establish,
            host_uniq: None,
            heard_from: false,
            finished: false,
            opened_order: None,
            ipcp_opened: false,
            ipv6cp_opened: false,
            peer_address: None,
            lcp: Negotiation::new(ServerLcpPolicy::new(config.auth, lcp_random), config.timers),
            ipcp: Negotiation::new(
                ServerIpcpPolicy::new(config.local_ipv4, config.peer_ipv4, &config.dns),
                config.timers,
            ),
            ipv6cp: Negotiation::new(Ipv6cpPolicy::new(ipv6cp_random), config.timers),
            auth: Auth::Waiting,
            next_identifier: 1,
        }
    }

    fn fields(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut map = serde_json::Map::new();
        map.insert("sessionID".into(), json!(self.id));
        map.insert("peerMAC".into(), json!(format_mac(&self.peer)));
        map
    }

    fn note(&self, fx: &mut Effects<'_>, event: &str, extra: serde_json::Value) {
        let mut map = self.fields();
        map.insert("event".into(), json!(event));
        if let serde_json::Value::Object(extra) = extra {
            map.extend(extra);
        }
        fx.notes.push(serde_json::Value::Object(map));
    }

    fn new_identifier(&mut self) -> u8 {
        let identifier = self.next_identifier;
        self.next_identifier = self.next_identifier.wrapping_add(1);
        identifier
    }

    /// The session exists (PADS sent): LCP is up and opens, sending our Configure-Request.
    pub(crate) fn start(&mut self, config: &Config, now: Now, fx: &mut Effects<'_>) {
        self.lcp_input(Input::Up, config, now, fx);
        self.lcp_input(Input::Open, config, now, fx);
    }

    /// Ends the session from our side: LCP Terminate-Request (the PADT follows when LCP finishes).
    pub(crate) fn close(&mut self, config: &Config, now: Now, fx: &mut Effects<'_>) {
        self.lcp_input(Input::Close, config, now, fx);
    }

    /// The earliest timer of the session's machines.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let chap = match self.auth {
            Auth::Challenged { deadline, .. } => Some(deadline),
            _ => None,
        };
        [
            self.lcp.next_deadline(),
            self.ipcp.next_deadline(),
            self.ipv6cp.next_deadline(),
            chap,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub(crate) fn on_timer(&mut self, config: &Config, now: Now, fx: &mut Effects<'_>) {
        let out = self.lcp.on_timer(now);
        self.lcp_outputs(out, config, now, fx);
        let out = self.ipcp.on_timer(now);
        self.ipcp_outputs(out, now, fx);
        let out = self.ipv6cp.on_timer(now);
        self.ipv6cp_outputs(out, fx);
        if let Auth::Challenged {
            deadline,
            remaining,
            ..
        } = self.auth
        {
            if now.mono >= deadline {
                if remaining == 0 {
                    self.auth_failed(config, "no CHAP response", now, fx);
                } else {
                    self.send_challenge(remaining - 1, config, now, fx);
                }
            }
        }
    }

    /// A PPP packet of this session (not an IP datagram, which the concentrator forwards itself).
    pub(crate) fn receive(
        &mut self,
        packet: Packet<'_>,
        echo_replies: bool,
        config: &Config,
        now: Now,
        fx: &mut Effects<'_>,
    ) {
        self.heard_from = true;
        match packet {
            Packet::Lcp(packet) => {
                if let LcpPacket::EchoRequest { .. } = packet {
                    fx.stats.echo_requests_received += 1;
                    if !echo_replies {
                        return;
                    }
                }
                self.lcp_input(Input::Packet(packet), config, now, fx);
            }
            Packet::Pap(packet) => self.pap_input(packet, config, now, fx),
            Packet::Chap(packet) => self.chap_input(packet, config, now, fx),
            // RFC 1661 §3.5: NCP packets before the Network phase are silently discarded.
            Packet::Ipcp(packet) if self.phase == Phase::Network => {
                let out = self.ipcp.handle(Input::Packet(packet), now);
                self.ipcp_outputs(out, now, fx);
            }
            Packet::Ipv6cp(packet) if self.phase == Phase::Network => {
                let out = self.ipv6cp.handle(Input::Packet(packet), now);
                self.ipv6cp_outputs(out, fx);
            }
            Packet::Ipcp(_) | Packet::Ipv6cp(_) | Packet::Ipv4(_) | Packet::Ipv6(_) => {}
            Packet::Other { protocol, payload } => self.protocol_reject(protocol, payload, fx),
        }
    }

    /// RFC 1661 §5.7: a protocol we do not run, answered while LCP is opened.
    fn protocol_reject(&mut self, protocol: Protocol, payload: &[u8], fx: &mut Effects<'_>) {
        if self.lcp.state() != State::Opened {
            return;
        }
        let identifier = self.new_identifier();
        // Quote no more than fits the client's MRU with the Protocol-Reject's own 6 octets.
        let mru = self
            .lcp
            .negotiated()
            .map_or(1492, |negotiated| negotiated.peer_mru);
        let room = usize::from(mru).saturating_sub(6);
        let rejected = payload.get(..room).unwrap_or(payload).to_vec();
        fx.packets.push(Packet::Lcp(ControlPacket::ProtocolReject {
            identifier,
            protocol,
            rejected,
        }));
    }

    fn lcp_input(
        &mut self,
        input: Input<LcpOption>,
        config: &Config,
        now: Now,
        fx: &mut Effects<'_>,
    ) {
        let out = self.lcp.handle(input, now);
        self.lcp_outputs(out, config, now, fx);
    }

    fn lcp_outputs(
        &mut self,
        outputs: Vec<Output<LcpOption>>,
        config: &Config,
        now: Now,
        fx: &mut Effects<'_>,
    ) {
        for output in outputs {
            match output {
                Output::Send(packet) => {
                    if let LcpPacket::EchoReply { .. } = packet {
                        fx.stats.echo_replies_sent += 1;
                    }
                    fx.packets.push(Packet::Lcp(packet));
                }
                Output::Layer(LayerEvent::Up) => {
                    self.phase = Phase::Authenticate;
                    self.note(fx, "lcp-opened", json!({}));
                    self.start_auth(config, now, fx);
                }
                Output::Layer(LayerEvent::Down) => {
                    self.phase = if self.lcp.state() == State::Closing {
                        Phase::Terminate
                    } else {
                        Phase::Establish
                    };
                    self.auth = Auth::Waiting;
                    let out = self.ipcp.handle(Input::Down, now);
                    self.ipcp_outputs(out, now, fx);
                    let out = self.ipv6cp.handle(Input::Down, now);
                    self.ipv6cp_outputs(out, fx);
                }
                Output::Layer(LayerEvent::Finished) => {
                    self.phase = Phase::Terminate;
                    self.finished = true;
                }
                Output::Layer(LayerEvent::Started) | Output::EchoReply { .. } => {}
                Output::ProtocolRejected(Protocol::IPCP) => {
                    let out = self.ipcp.handle(Input::ProtocolRejected, now);
                    self.ipcp_outputs(out, now, fx);
                }
                Output::ProtocolRejected(Protocol::IPV6CP) => {
                    let out = self.ipv6cp.handle(Input::ProtocolRejected, now);
                    self.ipv6cp_outputs(out, fx);
                }
                Output::ProtocolRejected(_) => {}
            }
        }
        // The LCP state may have moved to Closing by a Close input after the Down it reported.
        if self.lcp.state() == State::Closing {
            self.phase = Phase::Terminate;
        }
    }

    fn ipcp_outputs(&mut self, outputs: Vec<Output<IpcpOption>>, _now: Now, fx: &mut Effects<'_>) {
        for output in outputs {
            match output {
                Output::Send(packet) => fx.packets.push(Packet::Ipcp(packet)),
                Output::Layer(LayerEvent::Up) => {
                    self.ipcp_opened = true;
                    self.peer_address = self
                        .ipcp
                        .negotiated()
                        .and_then(|negotiated| negotiated.peer_address);
                    self.mark_opened(fx);
                    let peer = self.peer_address.map(|a| a.to_string());
                    self.note(fx, "ipcp-opened", json!({ "peerAddress": peer }));
                }
                Output::Layer(LayerEvent::Down) => self.ipcp_opened = false,
                _ => {}
            }
        }
    }

    fn ipv6cp_outputs(&mut self, outputs: Vec<Output<Ipv6cpOption>>, fx: &mut Effects<'_>) {
        for output in outputs {
            match output {
                Output::Send(packet) => fx.packets.push(Packet::Ipv6cp(packet)),
                Output::Layer(LayerEvent::Up) => {
                    self.ipv6cp_opened = true;
                    self.mark_opened(fx);
                    let negotiated = self.ipv6cp.negotiated();
                    let hex = |id: Option<[u8; 8]>| id.map(|id| routerd_sansio::hex::to_hex(&id));
                    self.note(
                        fx,
                        "ipv6cp-opened",
                        json!({
                            "interfaceIdentifier": hex(negotiated.and_then(|n| n.ours)),
                            "peerInterfaceIdentifier": hex(negotiated.and_then(|n| n.peer)),
                        }),
                    );
                }
                Output::Layer(LayerEvent::Down) => self.ipv6cp_opened = false,
                _ => {}
            }
        }
    }

    fn mark_opened(&mut self, fx: &mut Effects<'_>) {
        fx.stats.ncp_openings += 1;
        self.opened_order = Some(fx.stats.ncp_openings);
    }

    fn start_auth(&mut self, config: &Config, now: Now, fx: &mut Effects<'_>) {
        match config.auth {
            AuthKind::Pap => self.auth = Auth::Waiting,
            AuthKind::Chap => self.send_challenge(CHAP_MAX_CHALLENGES - 1, config, now, fx),
        }
    }

    fn send_challenge(&mut self, remaining: u32, config: &Config, now: Now, fx: &mut Effects<'_>) {
        let identifier = self.new_identifier();
        let mut challenge = [0u8; 16];
        for chunk in challenge.chunks_mut(4) {
            chunk.copy_from_slice(&fx.random.next_u32().to_be_bytes());
        }
        fx.packets.push(Packet::Chap(ChapPacket::Challenge {
            identifier,
            value: challenge.to_vec(),
            name: config.ac_name.as_bytes().to_vec(),
        }));
        self.auth = Auth::Challenged {
            identifier,
            challenge,
            deadline: now.mono + CHAP_RESTART,
            remaining,
        };
    }

    fn user_matches(config: &Config, user: &[u8]) -> bool {
        config
            .username
            .as_ref()
            .is_none_or(|expected| expected.as_bytes() == user)
    }

    fn pap_input(&mut self, packet: PapPacket, config: &Config, now: Now, fx: &mut Effects<'_>) {
        if config.auth != AuthKind::Pap {
            return;
        }
        let PapPacket::AuthenticateRequest {
            identifier,
            peer_id,
            password,
        } = packet
        else {
            return;
        };
        match self.auth {
            Auth::Succeeded { .. } if self.phase == Phase::Network => {
                fx.packets.push(Packet::Pap(PapPacket::AuthenticateAck {
                    identifier,
                    message: b"welcome".to_vec(),
                }));
            }
            Auth::Waiting if self.phase == Phase::Authenticate => {
                let password_ok = config
                    .password
                    .as_ref()
                    .is_none_or(|expected| expected == &password);
                if Self::user_matches(config, &peer_id) && password_ok {
                    fx.packets.push(Packet::Pap(PapPacket::AuthenticateAck {
                        identifier,
                        message: b"welcome".to_vec(),
                    }));
                    self.auth_succeeded(identifier, &peer_id, now, fx);
                } else {
                    fx.packets.push(Packet::Pap(PapPacket::AuthenticateNak {
                        identifier,
                        message: b"authentication failed".to_vec(),
                    }));
                    self.auth_failed(config, "wrong user name or password", now, fx);
                }
            }
            _ => {}
        }
    }

    fn chap_input(&mut self, packet: ChapPacket, config: &Config, now: Now, fx: &mut Effects<'_>) {
        if config.auth != AuthKind::Chap {
            return;
        }
        let ChapPacket::Response {
            identifier,
            value,
            name,
        } = packet
        else {
            return;
        };
        match self.auth {
            Auth::Succeeded { identifier: last } if last == identifier => {
                fx.packets.push(Packet::Chap(ChapPacket::Success {
                    identifier,
                    message: b"welcome".to_vec(),
                }));
            }
            Auth::Challenged {
                identifier: asked,
                challenge,
                ..
            } if asked == identifier => {
                let value_ok = config.password.as_ref().is_none_or(|secret: &Secret| {
                    value == chap_md5_response(identifier, secret, &challenge)
                });
                if Self::user_matches(config, &name) && value_ok {
                    fx.packets.push(Packet::Chap(ChapPacket::Success {
                        identifier,
                        message: b"welcome".to_vec(),
                    }));
                    self.auth_succeeded(identifier, &name, now, fx);
                } else {
                    fx.packets.push(Packet::Chap(ChapPacket::Failure {
                        identifier,
                        message: b"authentication failed".to_vec(),
                    }));
                    self.auth_failed(config, "wrong user name or CHAP response", now, fx);
                }
            }
            _ => {}
        }
    }

    fn auth_succeeded(&mut self, identifier: u8, user: &[u8], now: Now, fx: &mut Effects<'_>) {
        self.auth = Auth::Succeeded { identifier };
        self.phase = Phase::Network;
        let user = String::from_utf8_lossy(user).into_owned();
        self.note(fx, "auth-ok", json!({ "user": user }));
        for input in [Input::Up, Input::Open] {
            let out = self.ipcp.handle(input.clone(), now);
            self.ipcp_outputs(out, now, fx);
        }
        for input in [Input::Up, Input::Open] {
            let out = self.ipv6cp.handle(input.clone(), now);
            self.ipv6cp_outputs(out, fx);
        }
    }

    fn auth_failed(&mut self, config: &Config, reason: &str, now: Now, fx: &mut Effects<'_>) {
        self.auth = Auth::Failed;
        fx.stats.auth_failures += 1;
        self.note(fx, "auth-failed", json!({ "reason": reason }));
        self.close(config, now, fx);
    }

    /// `stats`' view of the session.
    pub(crate) fn stats_json(&self) -> serde_json::Value {
        let mut map = self.fields();
        map.insert("phase".into(), json!(self.phase.name()));
        map.insert("ipcpOpened".into(), json!(self.ipcp_opened));
        map.insert("ipv6cpOpened".into(), json!(self.ipv6cp_opened));
        map.insert(
            "peerAddress".into(),
            json!(self.peer_address.map(|a| a.to_string())),
        );
        serde_json::Value::Object(map)
    }
}
