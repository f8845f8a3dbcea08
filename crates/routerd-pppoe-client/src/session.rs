//! The session layer: one [`Connection`] chains the machines of this crate into a PPPoE client,
//! sans I/O.
//!
//! ```text
//!  start ─▶ Discovering ─PADS─▶ Link (LCP) ─Opened─▶ Authenticating (PAP|CHAP, as LCP agreed)
//!              ▲                                        │ success (or no auth asked)
//!              │                                        ▼
//!   Waiting (redial backoff) ◀── any end ──────  Network (IPCP, IPv6CP when `ipv6`) ─▶ Up
//! ```
//!
//! Inputs ([`Input`]): the Ethernet payloads of received discovery (0x8863) and session (0x8864) frames
//! with their source MAC, as raw bytes (decoded here, so arbitrary bytes are a supported input), the
//! timer, and commands. Outputs ([`Output`]): frames to send, changes of the link the daemon configures,
//! events. [`Connection::next_deadline`] says when to deliver the next [`Input::Timer`].
//!
//! Decisions:
//! - IP packets (protocols 0x0021, 0x0057) are the data plane's: the daemon hands them to its TUN (or
//!   the kernel does) after checking [`Connection::data_session`]; here they are only dropped (and
//!   counted) when they arrive before their NCP opened.
//! - Every end of a session — PADT received, LCP echo failure, the peer's Terminate-Request, LCP or all
//!   NCPs failing, authentication failure, `stop` — sends what the peer still needs (a Terminate-Request
//!   when we end an open LCP, a PADT whenever the AC still holds the session) and, except on `stop`,
//!   schedules the redial through [`crate::redial`], which never lets an authentication failure storm.
//! - LCP renegotiation by the peer (a Configure-Request while Opened) takes the NCPs down and
//!   authenticates again once LCP re-opens; the PPPoE session stays.
//! - A protocol we do not run gets an LCP Protocol-Reject while LCP is Opened (RFC 1661 §5.7),
//!   IPv6CP included when `ipv6` is off; PAP/CHAP packets outside authentication and NCP packets before
//!   the network phase are silently discarded (RFC 1661 §3.5).
//! - The phase the status shows: `Up` while IPCP or IPv6CP is opened; `Error` after an authentication
//!   failure until a session is up again; `Pending` otherwise, with the last failure as the reason.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use routerd_api::event::{NewEvent, Severity};
use routerd_api::Timestamp;
use routerd_proto::ppp::control::{ControlPacket, LcpOption, LcpPacket};
use routerd_proto::ppp::{Packet, Protocol};
use routerd_proto::pppoe::{DiscoveryPacket, SessionFrame};
use routerd_sansio::{resource_event, Now, Random, XorShift};

use crate::auth::{AuthOutcome, AuthOutput, AuthTimers, Authenticatee, Credentials};
use crate::discovery::{
    mac_string, Discovery, DiscoveryConfig, DiscoveryConfigError, DiscoveryFailure, Frame, Mac,
    Outcome, Session,
};
use crate::events::{self, attr};
use crate::negotiation::ipcp::{IpcpNegotiated, IpcpPolicy};
use crate::negotiation::ipv6cp::{Ipv6cpNegotiated, Ipv6cpPolicy};
use crate::negotiation::keepalive::{EchoKeepalive, KeepaliveAction};
use crate::negotiation::lcp::{AuthMethods, Authentication, LcpPolicy, MIN_MRU};
use crate::negotiation::{self, LayerEvent, Negotiation, State as FsmState};
use crate::redial::{EndReason, Redial, RedialConfig, RedialConfigError};

/// Everything a [`Connection`] needs from `PPPoESession.spec` and the daemon.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// The resource name (events name it).
    pub name: String,
    /// The device the session's traffic uses (`session.up`'s `ifname`).
    pub ifname: String,
    /// Service-Name, AC-Name and discovery timers.
    pub discovery: DiscoveryConfig,
    /// Username and password.
    pub credentials: Credentials,
    /// `spec.authentication`.
    pub auth: AuthMethods,
    /// `spec.mtu`: the MRU we ask for.
    pub mru: u16,
    /// `spec.ipv6`: run IPv6CP.
    pub ipv6: bool,
    /// `spec.lcpEchoInterval` (zero disables the keepalive).
    pub echo_interval: Duration,
    /// `spec.lcpEchoFailure`.
    pub echo_failure: u32,
    /// `spec.redial`.
    pub redial: RedialConfig,
    /// RFC 1661 restart timer and counters for LCP, IPCP and IPv6CP.
    pub ppp_timers: negotiation::Timers,
    /// PAP/CHAP limits.
    pub auth_timers: AuthTimers,
}

/// A configuration the connection cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionConfigError {
    #[error(transparent)]
    Discovery(#[from] DiscoveryConfigError),
    #[error(transparent)]
    Redial(#[from] RedialConfigError),
    #[error("PPP timers: {0}")]
    Timers(#[from] negotiation::TimersError),
    #[error("mtu {0} is outside {MIN_MRU}..=1492 (PPPoE's largest MRU)")]
    Mru(u16),
}

/// Commands from the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Redial now when down; an LCP Echo-Request now when up.
    Renew,
    /// Terminate-Request, PADT, and no redial.
    Stop,
}

/// One input.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// A frame of EtherType 0x8863 from `from`: its payload (PPPoE header first).
    Discovery { from: Mac, bytes: &'a [u8] },
    /// A frame of EtherType 0x8864 from `from`: its payload (PPPoE header first).
    Session { from: Mac, bytes: &'a [u8] },
    /// The deadline of [`Connection::next_deadline`] has come (an early call is harmless).
    Timer,
    /// A command.
    Command(Command),
    /// The Ethernet link's carrier went down (`false`) or came back (`true`). PPPoE has no carrier of
    /// its own; losing the Ethernet's ends the session at once (the AC's side is gone or unreachable),
    /// and no PADI goes out until it returns, then one at once.
    Carrier(bool),
}

/// A PPP packet to send in a session frame (EtherType 0x8864).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPacket {
    /// The AC's MAC.
    pub destination: Mac,
    /// The PPPoE SESSION_ID.
    pub session_id: u16,
    /// The PPP frame: protocol field, then the packet.
    pub ppp: Vec<u8>,
}

/// What the daemon must change on the host or remember.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkChange {
    /// A PPPoE session exists (persist it: a restarted daemon sends its PADT first).
    Established(Session),
    /// IPCP opened: configure the address and the point-to-point peer; MTU is the peer's MRU.
    Ipv4Up { ipcp: IpcpNegotiated, mtu: u16 },
    /// IPCP left Opened: remove the address.
    Ipv4Down,
    /// IPv6CP opened: configure `fe80::<ours>/64`.
    Ipv6Up { ipv6cp: Ipv6cpNegotiated, mtu: u16 },
    /// IPv6CP left Opened.
    Ipv6Down,
    /// The PPPoE session is gone (forget the persisted one).
    Ended,
}

/// What a step produced, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A discovery packet to encode and send (EtherType 0x8863).
    Discovery(Frame),
    /// A session packet to send (EtherType 0x8864).
    Session(SessionPacket),
    /// A host change or a session to persist.
    Link(LinkChange),
    /// An event for the log.
    Event(NewEvent),
    /// Why an input was not used (debug log).
    Note(String),
}

/// Where the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Created, not started.
    Idle,
    /// PADI/PADR out.
    Discovering,
    /// LCP negotiating on an established PPPoE session.
    Link,
    /// LCP opened; PAP or CHAP under way.
    Authenticating,
    /// NCPs negotiating or opened.
    Network,
    /// Waiting for the redial.
    Waiting,
    /// Stopped by command: no redial.
    Stopped,
}

impl Stage {
    /// For status messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Idle => "Idle",
            Stage::Discovering => "Discovering",
            Stage::Link => "Link",
            Stage::Authenticating => "Authenticating",
            Stage::Network => "Network",
            Stage::Waiting => "Waiting",
            Stage::Stopped => "Stopped",
        }
    }
}

/// The last failure, for the status reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What kind of end it was (`AuthenticationFailed` makes the phase `Error`).
    pub reason: EndReason,
    /// CamelCase reason for the condition.
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
}

/// Counters for status and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConnectionCounters {
    pub padi_sent: u64,
    pub echo_requests_sent: u64,
    pub echo_replies_received: u64,
    pub protocol_rejects_sent: u64,
    pub frames_ignored: u64,
    pub sessions_up: u64,
    pub auth_failures: u64,
}

/// One PPPoE client session, redialled for ever until stopped.
pub struct Connection {
    config: ConnectionConfig,
    random: Box<dyn Random>,
    discovery: Discovery,
    redial: Redial,
    stage: Stage,
    waiting_until: Option<Instant>,
    lcp: Negotiation<LcpPolicy>,
    ipcp: Negotiation<IpcpPolicy>,
    ipv6cp: Negotiation<Ipv6cpPolicy>,
    keepalive: EchoKeepalive,
    /// Echo counters of earlier sessions (the keepalive is per session).
    echoes_before: (u64, u64),
    auth: Option<Authenticatee>,
    authenticated: bool,
    ipv4: Option<IpcpNegotiated>,
    ipv6: Option<Ipv6cpNegotiated>,
    /// Whether session.up was emitted for the current session.
    announced_up: bool,
    /// Whether a PPPoE session (PADS) exists that has not ended yet.
    session_live: bool,
    connected_at: Option<Timestamp>,
    last_termination: Option<String>,
    last_failure: Option<Failure>,
    /// Last PPPoE session (kept after it ended for status).
    last_session: Option<Session>,
    reject_identifier: u8,
    counters: ConnectionCounters,
    /// A remark about the peer's LCP requests (an absurd MRU), added to an LCP failure's message.
    lcp_remark: Option<String>,
    /// The Ethernet link has no carrier: no dialling until it returns.
    carrier_down: bool,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("stage", &self.stage)
            .field("session", &self.discovery.session())
            .finish_non_exhaustive()
    }
}

/// The seed of a sub-generator for a policy, from the connection's own randomness.
fn child_random(random: &mut dyn Random) -> Box<dyn Random> {
    let seed = (u64::from(random.next_u32()) << 32) | u64::from(random.next_u32());
    Box::new(XorShift::new(seed))
}

impl Connection {
    /// A connection for `config`, not started.
    pub fn new(
        config: ConnectionConfig,
        mut random: Box<dyn Random>,
    ) -> Result<Self, ConnectionConfigError> {
        config.redial.validate()?;
        config.ppp_timers.validate()?;
        if !(MIN_MRU..=crate::negotiation::lcp::PPPOE_MAX_MRU).contains(&config.mru) {
            return Err(ConnectionConfigError::Mru(config.mru));
        }
        let discovery = Discovery::new(config.discovery.clone())?;
        let (lcp, ipcp, ipv6cp) = Self::automata(&config, random.as_mut());
        Ok(Self {
            redial: Redial::new(config.redial),
            keepalive: EchoKeepalive::new(config.echo_interval, config.echo_failure),
            config,
            random,
            discovery,
            stage: Stage::Idle,
            waiting_until: None,
            lcp,
            ipcp,
            ipv6cp,
            echoes_before: (0, 0),
            auth: None,
            authenticated: false,
            ipv4: None,
            ipv6: None,
            announced_up: false,
            session_live: false,
            connected_at: None,
            last_termination: None,
            last_failure: None,
            last_session: None,
            reject_identifier: 0,
            counters: ConnectionCounters::default(),
            lcp_remark: None,
            carrier_down: false,
        })
    }

    fn automata(
        config: &ConnectionConfig,
        random: &mut dyn Random,
    ) -> (
        Negotiation<LcpPolicy>,
        Negotiation<IpcpPolicy>,
        Negotiation<Ipv6cpPolicy>,
    ) {
        (
            Negotiation::new(
                LcpPolicy::new(config.mru, config.auth, child_random(random)),
                config.ppp_timers,
            ),
            Negotiation::new(IpcpPolicy::new(), config.ppp_timers),
            Negotiation::new(Ipv6cpPolicy::new(child_random(random)), config.ppp_timers),
        )
    }

    /// The configuration (the daemon compares it on reload).
    pub fn config(&self) -> &ConnectionConfig {
        &self.config
    }

    /// Where the connection stands.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// The current PPPoE session, if any.
    pub fn session(&self) -> Option<&Session> {
        self.discovery.session()
    }

    /// The last PPPoE session, current or ended (status keeps showing its id and AC).
    pub fn last_session(&self) -> Option<&Session> {
        self.last_session.as_ref()
    }

    /// The session id and AC MAC the data plane may carry `protocol` (IPv4 or IPv6) on now: only while
    /// its NCP is Opened.
    pub fn data_session(&self, protocol: Protocol) -> Option<(u16, Mac)> {
        let open = match protocol {
            Protocol::IPV4 => self.ipv4.is_some(),
            Protocol::IPV6 => self.ipv6.is_some(),
            _ => false,
        };
        let session = self.discovery.session()?;
        open.then_some((session.session_id, session.ac_mac))
    }

    /// What IPCP agreed, while opened.
    pub fn ipcp(&self) -> Option<&IpcpNegotiated> {
        self.ipv4.as_ref()
    }

    /// What IPv6CP agreed, while opened.
    pub fn ipv6cp(&self) -> Option<&Ipv6cpNegotiated> {
        self.ipv6.as_ref()
    }

    /// Whether the peer accepted our credentials in the current session (or asked for none).
    pub fn authenticated(&self) -> bool {
        self.authenticated
    }

    /// The authentication LCP agreed in the current session.
    pub fn authentication(&self) -> Option<Authentication> {
        (self.lcp.state() == FsmState::Opened)
            .then(|| self.lcp.negotiated().map(|n| n.authentication))
            .flatten()
    }

    /// Whether the session is up (an NCP opened).
    pub fn is_up(&self) -> bool {
        self.ipv4.is_some() || self.ipv6.is_some()
    }

    /// When the current session came up.
    pub fn connected_at(&self) -> Option<Timestamp> {
        self.connected_at
    }

    /// Why the last session ended.
    pub fn last_termination(&self) -> Option<&str> {
        self.last_termination.as_deref()
    }

    /// The last failure, cleared when a session comes up.
    pub fn last_failure(&self) -> Option<&Failure> {
        self.last_failure.as_ref()
    }

    /// When the redial is due, while waiting.
    pub fn redial_at(&self) -> Option<Instant> {
        self.waiting_until
    }

    /// Counters across sessions.
    pub fn counters(&self) -> ConnectionCounters {
        let (sent, replies) = self.keepalive.counters();
        ConnectionCounters {
            padi_sent: self.discovery.counters().padi_sent,
            echo_requests_sent: self.echoes_before.0 + sent,
            echo_replies_received: self.echoes_before.1 + replies,
            ..self.counters
        }
    }

    /// When [`Input::Timer`] is due next.
    pub fn next_deadline(&self) -> Option<Instant> {
        [
            self.discovery.deadline(),
            self.lcp.next_deadline(),
            self.ipcp.next_deadline(),
            self.ipv6cp.next_deadline(),
            self.keepalive.next_deadline(),
            self.auth.as_ref().and_then(Authenticatee::deadline),
            self.waiting_until,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Starts dialling. `stale` is a session a previous run left (from `session.json`): its PADT goes
    /// out first so the AC does not keep it.
    pub fn start(&mut self, now: Now, stale: Option<(u16, Mac)>) -> Vec<Output> {
        let mut out = Vec::new();
        if let Some((session_id, ac_mac)) = stale {
            out.push(Output::Discovery(
                self.discovery.terminate(session_id, ac_mac),
            ));
        }
        self.dial(now, &mut out);
        out
    }

    /// Feeds one input.
    pub fn handle(&mut self, input: Input<'_>, now: Now) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Discovery { from, bytes } => self.on_discovery(from, bytes, now, &mut out),
            Input::Session { from, bytes } => self.on_session(from, bytes, now, &mut out),
            Input::Timer => self.on_timer(now, &mut out),
            Input::Command(command) => self.on_command(command, now, &mut out),
            Input::Carrier(up) => self.on_carrier(up, now, &mut out),
        }
        out
    }

    fn dial(&mut self, now: Now, out: &mut Vec<Output>) {
        self.waiting_until = None;
        self.stage = Stage::Discovering;
        let step = self.discovery.start(now.mono, self.random.as_mut());
        self.discovery_output(step, now, out);
    }

    fn on_command(&mut self, command: Command, now: Now, out: &mut Vec<Output>) {
        match command {
            Command::Renew => match self.stage {
                Stage::Waiting | Stage::Stopped | Stage::Idle => self.dial(now, out),
                Stage::Discovering => {}
                Stage::Link | Stage::Authenticating | Stage::Network => {
                    if self.lcp.state() == FsmState::Opened {
                        let packet = self.keepalive.send_now(self.lcp.magic_number());
                        self.send_ppp(Packet::Lcp(packet), out);
                    }
                }
            },
            Command::Stop => {
                self.finish(
                    EndReason::SessionLost,
                    "Stopped",
                    "stopped by command".into(),
                    Teardown::Terminate,
                    now,
                    out,
                );
                self.stage = Stage::Stopped;
                self.waiting_until = None;
            }
        }
    }

    fn on_carrier(&mut self, up: bool, now: Now, out: &mut Vec<Output>) {
        if up != self.carrier_down {
            return;
        }
        self.carrier_down = !up;
        if matches!(self.stage, Stage::Stopped | Stage::Idle) {
            return;
        }
        if up {
            self.dial(now, out);
        } else if self.stage != Stage::Waiting {
            self.finish(
                EndReason::SessionLost,
                "CarrierLost",
                "the Ethernet link lost its carrier".into(),
                Teardown::None,
                now,
                out,
            );
        } else {
            self.waiting_until = None;
        }
    }

    fn on_timer(&mut self, now: Now, out: &mut Vec<Output>) {
        if self.discovery.deadline().is_some_and(|d| now.mono >= d) {
            let step = self.discovery.handle_timer(now.mono);
            self.discovery_output(step, now, out);
        }
        if self.lcp.next_deadline().is_some_and(|d| now.mono >= d) {
            let outs = self.lcp.on_timer(now);
            self.lcp_outputs(outs, now, out);
        }
        if self
            .auth
            .as_ref()
            .and_then(Authenticatee::deadline)
            .is_some_and(|d| now.mono >= d)
        {
            if let Some(auth) = self.auth.as_mut() {
                let step = auth.on_timer(now);
                self.auth_output(step, now, out);
            }
        }
        if self.ipcp.next_deadline().is_some_and(|d| now.mono >= d) {
            let outs = self.ipcp.on_timer(now);
            self.ipcp_outputs(outs, now, out);
        }
        if self.ipv6cp.next_deadline().is_some_and(|d| now.mono >= d) {
            let outs = self.ipv6cp.on_timer(now);
            self.ipv6cp_outputs(outs, now, out);
        }
        if self
            .keepalive
            .next_deadline()
            .is_some_and(|d| now.mono >= d)
        {
            match self.keepalive.on_timer(now, self.lcp.magic_number()) {
                Some(KeepaliveAction::Send(packet)) => self.send_ppp(Packet::Lcp(packet), out),
                Some(KeepaliveAction::PeerDead) => {
                    let message = format!(
                        "no LCP Echo-Reply to {} Echo-Requests {}s apart",
                        self.config.echo_failure,
                        self.config.echo_interval.as_secs()
                    );
                    out.push(Output::Event(self.event(
                        events::ECHO_LOST,
                        Severity::Warning,
                        message.clone(),
                        now,
                    )));
                    self.finish(
                        EndReason::SessionLost,
                        "EchoLost",
                        message,
                        Teardown::Padt,
                        now,
                        out,
                    );
                }
                None => {}
            }
        }
        if self.waiting_until.is_some_and(|d| now.mono >= d) {
            self.dial(now, out);
        }
    }

    fn on_discovery(&mut self, from: Mac, bytes: &[u8], now: Now, out: &mut Vec<Output>) {
        let packet = match DiscoveryPacket::decode(bytes) {
            Ok(p) => p,
            Err(e) => {
                self.ignored(
                    format!("discovery frame from {}: {e}", mac_string(&from)),
                    out,
                );
                return;
            }
        };
        let step = self.discovery.handle_packet(from, &packet, now.mono);
        if let Some(note) = &step.note {
            self.counters.frames_ignored += 1;
            out.push(Output::Note(format!(
                "discovery packet from {} not used: {note:?}",
                mac_string(&from)
            )));
        }
        self.discovery_output(step, now, out);
    }

    fn discovery_output(
        &mut self,
        step: crate::discovery::Output,
        now: Now,
        out: &mut Vec<Output>,
    ) {
        out.extend(step.frames.into_iter().map(Output::Discovery));
        match step.outcome {
            None => {}
            Some(Outcome::SessionEstablished(session)) => self.established(session, now, out),
            Some(Outcome::DiscoveryFailed(failure)) => {
                let code = match &failure {
                    DiscoveryFailure::NoOffer { .. } => "NoOffer",
                    DiscoveryFailure::Refused(_) => "Refused",
                    DiscoveryFailure::ZeroSessionId { .. } => "Refused",
                };
                self.finish(
                    EndReason::DiscoveryFailed,
                    code,
                    failure.to_string(),
                    Teardown::None,
                    now,
                    out,
                );
            }
            Some(Outcome::SessionTerminated {
                session_id,
                ac_mac,
                reason,
            }) => {
                let message = match reason {
                    Some(r) => format!("PADT from the access concentrator ({r})"),
                    None => "PADT from the access concentrator".to_string(),
                };
                out.push(Output::Event(
                    self.event(
                        events::PADT_RECEIVED,
                        Severity::Warning,
                        message.clone(),
                        now,
                    )
                    .attr(attr::SESSION_ID, session_id.to_string())
                    .attr(attr::AC_MAC, mac_string(&ac_mac)),
                ));
                self.finish(
                    EndReason::SessionLost,
                    "PadtReceived",
                    message,
                    Teardown::None,
                    now,
                    out,
                );
            }
        }
    }

    fn established(&mut self, session: Session, now: Now, out: &mut Vec<Output>) {
        let ac_name = String::from_utf8_lossy(&session.ac_name).into_owned();
        out.push(Output::Event(
            self.event(
                events::DISCOVERY_COMPLETED,
                Severity::Info,
                format!(
                    "PPPoE session {} with access concentrator {ac_name:?} ({})",
                    session.session_id,
                    mac_string(&session.ac_mac)
                ),
                now,
            )
            .attr(attr::AC_NAME, ac_name)
            .attr(attr::SESSION_ID, session.session_id.to_string())
            .attr(attr::AC_MAC, mac_string(&session.ac_mac)),
        ));
        out.push(Output::Link(LinkChange::Established(session.clone())));
        self.last_session = Some(session);
        self.session_live = true;
        self.stage = Stage::Link;
        self.lcp_remark = None;
        let (lcp, ipcp, ipv6cp) = Self::automata(&self.config, self.random.as_mut());
        self.lcp = lcp;
        self.ipcp = ipcp;
        self.ipv6cp = ipv6cp;
        let mut outs = self.lcp.handle(negotiation::Input::Up, now);
        outs.extend(self.lcp.handle(negotiation::Input::Open, now));
        self.lcp_outputs(outs, now, out);
    }

    fn on_session(&mut self, from: Mac, bytes: &[u8], now: Now, out: &mut Vec<Output>) {
        let frame = match SessionFrame::decode(bytes) {
            Ok(f) => f,
            Err(e) => {
                self.ignored(
                    format!("session frame from {}: {e}", mac_string(&from)),
                    out,
                );
                return;
            }
        };
        let Some(session) = self.discovery.session() else {
            self.ignored("session frame without a session".into(), out);
            return;
        };
        if session.ac_mac != from || session.session_id != frame.session_id {
            self.ignored(
                format!(
                    "session frame for session {} from {}: not ours",
                    frame.session_id,
                    mac_string(&from)
                ),
                out,
            );
            return;
        }
        let packet = match Packet::decode(frame.payload) {
            Ok(p) => p,
            Err(e) => {
                self.ignored(format!("PPP packet: {e}"), out);
                return;
            }
        };
        let lcp_open = self.lcp.state() == FsmState::Opened;
        match packet {
            Packet::Lcp(packet) => {
                self.remark_absurd_mru(&packet);
                let outs = self.lcp.handle(negotiation::Input::Packet(packet), now);
                self.lcp_outputs(outs, now, out);
            }
            Packet::Pap(packet) => match (self.stage, self.auth.as_mut()) {
                (Stage::Authenticating | Stage::Network, Some(auth)) => {
                    let step = auth.on_pap(&packet);
                    self.auth_output(step, now, out);
                }
                _ => self.ignored("PAP packet outside authentication".into(), out),
            },
            Packet::Chap(packet) => match (self.stage, self.auth.as_mut()) {
                (Stage::Authenticating | Stage::Network, Some(auth)) => {
                    let step = auth.on_chap(&packet);
                    self.auth_output(step, now, out);
                }
                _ => self.ignored("CHAP packet outside authentication".into(), out),
            },
            Packet::Ipcp(packet) => {
                if self.stage == Stage::Network {
                    let outs = self.ipcp.handle(negotiation::Input::Packet(packet), now);
                    self.ipcp_outputs(outs, now, out);
                } else {
                    self.ignored("IPCP packet before the network phase".into(), out);
                }
            }
            Packet::Ipv6cp(packet) => {
                if !self.config.ipv6 {
                    if lcp_open {
                        self.protocol_reject(Protocol::IPV6CP, frame.payload, out);
                    }
                } else if self.stage == Stage::Network {
                    let outs = self.ipv6cp.handle(negotiation::Input::Packet(packet), now);
                    self.ipv6cp_outputs(outs, now, out);
                } else {
                    self.ignored("IPv6CP packet before the network phase".into(), out);
                }
            }
            Packet::Ipv4(_) | Packet::Ipv6(_) => {
                self.ignored("IP packet while its NCP is not opened".into(), out);
            }
            Packet::Other { protocol, .. } => {
                if lcp_open {
                    self.protocol_reject(protocol, frame.payload, out);
                } else {
                    self.ignored(format!("{protocol:?} before LCP opened"), out);
                }
            }
        }
    }

    /// RFC 1661 §5.7: the rejected packet starts with its protocol field; quote at most what fits the
    /// peer's MRU.
    fn protocol_reject(&mut self, protocol: Protocol, ppp: &[u8], out: &mut Vec<Output>) {
        let mru = self
            .lcp
            .negotiated()
            .map_or(crate::negotiation::lcp::PPPOE_MAX_MRU, |n| n.peer_mru);
        // LCP header (4) + rejected protocol (2) + protocol field of our frame (2).
        let room = usize::from(mru).saturating_sub(8);
        let rejected = ppp.get(2..).unwrap_or_default();
        let rejected = rejected.get(..room.min(rejected.len())).unwrap_or_default();
        self.reject_identifier = self.reject_identifier.wrapping_add(1);
        self.counters.protocol_rejects_sent += 1;
        out.push(Output::Note(format!("Protocol-Reject of {protocol:?}")));
        self.send_ppp(
            Packet::Lcp(ControlPacket::ProtocolReject {
                identifier: self.reject_identifier,
                protocol,
                rejected: rejected.to_vec(),
            }),
            out,
        );
    }

    fn remark_absurd_mru(&mut self, packet: &LcpPacket) {
        if let ControlPacket::ConfigureRequest { options, .. } = packet {
            for option in options {
                if let LcpOption::Mru(mru) = option {
                    if *mru < MIN_MRU {
                        self.lcp_remark = Some(format!(
                            "the access concentrator asked for an MRU of {mru} octets (below {MIN_MRU}); it was Nak'd"
                        ));
                    }
                }
            }
        }
    }

    fn lcp_outputs(
        &mut self,
        outs: Vec<negotiation::Output<LcpOption>>,
        now: Now,
        out: &mut Vec<Output>,
    ) {
        let mut went_down = false;
        let mut finished = false;
        let mut came_up = false;
        for o in outs {
            match o {
                negotiation::Output::Send(packet) => self.send_ppp(Packet::Lcp(packet), out),
                negotiation::Output::Layer(LayerEvent::Up) => came_up = true,
                negotiation::Output::Layer(LayerEvent::Down) => went_down = true,
                negotiation::Output::Layer(LayerEvent::Finished) => finished = true,
                negotiation::Output::Layer(LayerEvent::Started) => {}
                negotiation::Output::EchoReply { magic, .. } => {
                    self.keepalive
                        .reply_received(magic, self.lcp.magic_number());
                }
                negotiation::Output::ProtocolRejected(protocol) => {
                    out.push(Output::Note(format!("the peer rejected {protocol:?}")));
                    if protocol == Protocol::IPCP {
                        let outs = self.ipcp.handle(negotiation::Input::ProtocolRejected, now);
                        self.ipcp_outputs(outs, now, out);
                    } else if protocol == Protocol::IPV6CP {
                        let outs = self
                            .ipv6cp
                            .handle(negotiation::Input::ProtocolRejected, now);
                        self.ipv6cp_outputs(outs, now, out);
                    }
                }
            }
        }
        if went_down {
            self.network_down(now, out);
            let state = self.lcp.state();
            if matches!(
                state,
                FsmState::Stopping | FsmState::Stopped | FsmState::Closing | FsmState::Closed
            ) {
                // The peer's Terminate-Request (its Ack is already out) or a catastrophic reject.
                self.finish(
                    EndReason::SessionLost,
                    "PeerTerminated",
                    "the access concentrator terminated LCP".into(),
                    Teardown::Padt,
                    now,
                    out,
                );
                return;
            }
            // Renegotiation: authenticate again when LCP re-opens.
            self.stage = Stage::Link;
        }
        if finished
            && matches!(
                self.stage,
                Stage::Link | Stage::Authenticating | Stage::Network
            )
        {
            let mut message = "LCP negotiation failed (no agreement within Max-Configure, or the peer rejected LCP)".to_string();
            if let Some(remark) = &self.lcp_remark {
                message.push_str(": ");
                message.push_str(remark);
            }
            self.finish(
                EndReason::NegotiationFailed,
                "LCPFailed",
                message,
                Teardown::Padt,
                now,
                out,
            );
            return;
        }
        if came_up {
            self.link_opened(now, out);
        }
    }

    /// LCP opened: start the keepalive and the authentication LCP agreed on.
    fn link_opened(&mut self, now: Now, out: &mut Vec<Output>) {
        self.keepalive.start(now);
        let negotiated = self.lcp.negotiated();
        let authentication = negotiated.map_or(Authentication::None, |n| n.authentication);
        let credentials = self.config.credentials.clone();
        match authentication {
            Authentication::None => {
                self.authenticated = true;
                self.auth = None;
                self.enter_network(now, out);
            }
            Authentication::Pap => {
                self.stage = Stage::Authenticating;
                let (auth, step) = Authenticatee::pap(credentials, self.config.auth_timers, now);
                self.auth = Some(auth);
                self.auth_output(step, now, out);
            }
            Authentication::ChapMd5 => {
                self.stage = Stage::Authenticating;
                self.auth = Some(Authenticatee::chap(
                    credentials,
                    self.config.auth_timers,
                    now,
                ));
            }
        }
    }

    fn auth_output(&mut self, step: AuthOutput, now: Now, out: &mut Vec<Output>) {
        for packet in step.send {
            self.send_ppp(packet, out);
        }
        let method = self.auth.as_ref().map_or("", Authenticatee::method);
        match step.outcome {
            None => {}
            Some(AuthOutcome::Succeeded { message }) => {
                self.authenticated = true;
                out.push(Output::Event(
                    self.event(
                        events::AUTH_SUCCEEDED,
                        Severity::Info,
                        format!("{method} authentication succeeded"),
                        now,
                    )
                    .attr(attr::METHOD, method)
                    .attr(attr::MESSAGE, message),
                ));
                if self.stage == Stage::Authenticating {
                    self.enter_network(now, out);
                }
            }
            Some(AuthOutcome::Failed { reason }) => {
                self.authenticated = false;
                self.counters.auth_failures += 1;
                let message = reason.to_string();
                out.push(Output::Event(
                    self.event(events::AUTH_FAILED, Severity::Error, message.clone(), now)
                        .attr(attr::METHOD, method)
                        .attr(attr::REASON, message.clone()),
                ));
                self.finish(
                    EndReason::AuthenticationFailed,
                    "AuthenticationFailed",
                    message,
                    Teardown::Terminate,
                    now,
                    out,
                );
            }
        }
    }

    fn enter_network(&mut self, now: Now, out: &mut Vec<Output>) {
        self.stage = Stage::Network;
        let mut outs = self.ipcp.handle(negotiation::Input::Up, now);
        outs.extend(self.ipcp.handle(negotiation::Input::Open, now));
        self.ipcp_outputs(outs, now, out);
        if self.config.ipv6 && self.stage == Stage::Network {
            let mut outs = self.ipv6cp.handle(negotiation::Input::Up, now);
            outs.extend(self.ipv6cp.handle(negotiation::Input::Open, now));
            self.ipv6cp_outputs(outs, now, out);
        }
    }

    fn ipcp_outputs(
        &mut self,
        outs: Vec<negotiation::Output<routerd_proto::ppp::control::IpcpOption>>,
        now: Now,
        out: &mut Vec<Output>,
    ) {
        for o in outs {
            match o {
                negotiation::Output::Send(packet) => self.send_ppp(Packet::Ipcp(packet), out),
                negotiation::Output::Layer(LayerEvent::Up) => {
                    if let Some(n) = self.ipcp.negotiated() {
                        self.ipv4 = Some(n);
                        out.push(Output::Link(LinkChange::Ipv4Up {
                            ipcp: n,
                            mtu: self.mtu(),
                        }));
                        self.session_up(now, out);
                    }
                }
                negotiation::Output::Layer(LayerEvent::Down) if self.ipv4.take().is_some() => {
                    out.push(Output::Link(LinkChange::Ipv4Down));
                }
                negotiation::Output::Layer(LayerEvent::Finished) => {
                    self.ncp_finished("IPCP", now, out);
                    return;
                }
                _ => {}
            }
        }
    }

    fn ipv6cp_outputs(
        &mut self,
        outs: Vec<negotiation::Output<routerd_proto::ppp::control::Ipv6cpOption>>,
        now: Now,
        out: &mut Vec<Output>,
    ) {
        for o in outs {
            match o {
                negotiation::Output::Send(packet) => self.send_ppp(Packet::Ipv6cp(packet), out),
                negotiation::Output::Layer(LayerEvent::Up) => {
                    if let Some(n) = self.ipv6cp.negotiated() {
                        self.ipv6 = Some(n);
                        out.push(Output::Link(LinkChange::Ipv6Up {
                            ipv6cp: n,
                            mtu: self.mtu(),
                        }));
                        self.session_up(now, out);
                    }
                }
                negotiation::Output::Layer(LayerEvent::Down) if self.ipv6.take().is_some() => {
                    out.push(Output::Link(LinkChange::Ipv6Down));
                }
                negotiation::Output::Layer(LayerEvent::Finished) => {
                    self.ncp_finished("IPv6CP", now, out);
                    return;
                }
                _ => {}
            }
        }
    }

    /// An NCP gave up (or was Protocol-Rejected): the session ends only when no NCP can still carry
    /// traffic (pppd does the same: the link stays while one network protocol runs).
    fn ncp_finished(&mut self, which: &str, now: Now, out: &mut Vec<Output>) {
        if self.stage != Stage::Network {
            return;
        }
        let alive = |state: FsmState| !matches!(state, FsmState::Stopped | FsmState::Closed);
        let ipcp_alive = alive(self.ipcp.state());
        let ipv6cp_alive = self.config.ipv6 && alive(self.ipv6cp.state());
        out.push(Output::Note(format!("{which} gave up")));
        if self.is_up() {
            // IPv6CP opened but IPCP gave up: the session is up without IPv4.
            self.session_up(now, out);
        }
        if !ipcp_alive && !ipv6cp_alive {
            self.finish(
                EndReason::NegotiationFailed,
                "NCPFailed",
                format!("{which} negotiation failed and no other network protocol is open"),
                Teardown::Terminate,
                now,
                out,
            );
        }
    }

    /// The peer's MRU, the most we may send: the interface MTU.
    fn mtu(&self) -> u16 {
        self.lcp
            .negotiated()
            .map_or(crate::negotiation::lcp::PPPOE_MAX_MRU, |n| n.peer_mru)
    }

    fn session_up(&mut self, now: Now, out: &mut Vec<Output>) {
        // Once per session; while IPCP still negotiates, wait for it so session.up carries the address.
        let ipcp_pending = self.ipv4.is_none()
            && !matches!(self.ipcp.state(), FsmState::Stopped | FsmState::Closed);
        if self.announced_up || !self.is_up() || ipcp_pending {
            return;
        }
        self.announced_up = true;
        self.connected_at = Some(now.wall);
        self.last_failure = None;
        self.counters.sessions_up += 1;
        self.redial.session_up(now.mono);
        let local = self.ipv4.map(|n| n.address.to_string()).unwrap_or_default();
        let peer = self
            .ipv4
            .and_then(|n| n.peer_address)
            .map(|a: Ipv4Addr| a.to_string())
            .unwrap_or_default();
        out.push(Output::Event(
            self.event(
                events::SESSION_UP,
                Severity::Info,
                format!(
                    "session up on {}: {} peer {}",
                    self.config.ifname,
                    if local.is_empty() { "-" } else { &local },
                    if peer.is_empty() { "-" } else { &peer }
                ),
                now,
            )
            .attr(attr::LOCAL_ADDRESS, local)
            .attr(attr::PEER_ADDRESS, peer)
            .attr(attr::IFNAME, self.config.ifname.clone()),
        ));
    }

    /// NCPs down (LCP left Opened or the session ends).
    fn network_down(&mut self, now: Now, out: &mut Vec<Output>) {
        self.keepalive.stop();
        self.auth = None;
        self.authenticated = false;
        let outs = self.ipcp.handle(negotiation::Input::Down, now);
        drop(outs);
        let outs = self.ipv6cp.handle(negotiation::Input::Down, now);
        drop(outs);
        if self.ipv4.take().is_some() {
            out.push(Output::Link(LinkChange::Ipv4Down));
        }
        if self.ipv6.take().is_some() {
            out.push(Output::Link(LinkChange::Ipv6Down));
        }
    }

    /// Ends the session (if any) and schedules the redial (unless the caller stops).
    fn finish(
        &mut self,
        reason: EndReason,
        code: &'static str,
        message: String,
        teardown: Teardown,
        now: Now,
        out: &mut Vec<Output>,
    ) {
        let was_up = self.announced_up;
        let had_session = std::mem::take(&mut self.session_live);
        if teardown == Teardown::Terminate
            && !matches!(
                self.lcp.state(),
                FsmState::Initial | FsmState::Starting | FsmState::Closed | FsmState::Stopped
            )
        {
            // Only the Terminate-Request goes out: the session ends now, its Ack is not awaited.
            for o in self.lcp.handle(negotiation::Input::Close, now) {
                if let negotiation::Output::Send(packet) = o {
                    self.send_ppp(Packet::Lcp(packet), out);
                }
            }
        }
        self.network_down(now, out);
        let (sent, replies) = self.keepalive.counters();
        self.echoes_before.0 += sent;
        self.echoes_before.1 += replies;
        self.keepalive = EchoKeepalive::new(self.config.echo_interval, self.config.echo_failure);
        let step = self.discovery.stop();
        out.extend(step.frames.into_iter().map(Output::Discovery));
        if had_session {
            out.push(Output::Link(LinkChange::Ended));
            self.last_termination = Some(message.clone());
        }
        let (lcp, ipcp, ipv6cp) = Self::automata(&self.config, self.random.as_mut());
        self.lcp = lcp;
        self.ipcp = ipcp;
        self.ipv6cp = ipv6cp;
        self.announced_up = false;
        self.connected_at = None;
        if was_up {
            out.push(Output::Event(
                self.event(
                    events::SESSION_DOWN,
                    Severity::Warning,
                    format!("session down: {message}"),
                    now,
                )
                .attr(attr::REASON, message.clone()),
            ));
        }
        if code != "Stopped" {
            self.last_failure = Some(Failure {
                reason,
                code,
                message,
            });
        }
        let until = self.redial.ended(now.mono, reason, self.random.as_mut());
        // Without carrier there is no one to dial: the carrier's return dials.
        self.waiting_until = (!self.carrier_down).then_some(until);
        self.stage = Stage::Waiting;
        out.push(Output::Note(format!(
            "redial in {} ms",
            until.saturating_duration_since(now.mono).as_millis()
        )));
    }

    fn send_ppp(&mut self, packet: Packet<'_>, out: &mut Vec<Output>) {
        let Some(session) = self.discovery.session() else {
            return;
        };
        let mut ppp = Vec::with_capacity(64);
        if packet.encode(&mut ppp).is_err() {
            out.push(Output::Note(format!(
                "{:?} packet too long to encode; not sent",
                packet.protocol()
            )));
            return;
        }
        out.push(Output::Session(SessionPacket {
            destination: session.ac_mac,
            session_id: session.session_id,
            ppp,
        }));
    }

    fn ignored(&mut self, why: String, out: &mut Vec<Output>) {
        self.counters.frames_ignored += 1;
        out.push(Output::Note(why));
    }

    fn event(&self, topic: &str, severity: Severity, message: String, now: Now) -> NewEvent {
        resource_event(
            events::RESOURCE_KIND,
            &self.config.name,
            topic,
            severity,
            message,
            now,
        )
    }
}

/// What an end sends to the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Teardown {
    /// The session is already gone on the AC's side (PADT received, discovery failed): nothing.
    None,
    /// PADT only (the peer terminated LCP, or is dead).
    Padt,
    /// LCP Terminate-Request (when LCP is not closed), then PADT.
    Terminate,
}

#[cfg(test)]
mod tests;
