//! The option-negotiation automaton of RFC 1661 §4, shared by LCP, IPCP and IPv6CP.
//!
//! One [`Negotiation`] runs one control protocol. What differs between the protocols — which options
//! we ask for, how we judge the peer's, how we adapt to a Nak or a Reject, what the result means — is
//! an [`OptionPolicy`] ([`lcp::LcpPolicy`], [`ipcp::IpcpPolicy`], [`ipv6cp::Ipv6cpPolicy`]); the states,
//! counters, identifiers and timer are here, once.
//!
//! The transition table of RFC 1661 §4.1 is the pure function [`transition`], so it can be read next to
//! the RFC and tested cell by cell. Decisions the RFC leaves open:
//!
//! - **Identifiers** (§5.1): a retransmission after TO+ keeps the Identifier and options of the request it
//!   repeats, so a slow peer's late Configure-Ack to the first copy still counts; every other
//!   Configure-Request takes a new Identifier.
//! - **Reply validation**: a Configure-Ack/Nak/Reject is taken only when it answers the request that is
//!   outstanding (same Identifier; an Ack must repeat our options exactly, a Reject may name only options
//!   we sent) — otherwise it is silently discarded (§5.2–5.4). A request stops being outstanding once a
//!   valid reply arrived, so a duplicated Ack can never reach the Ack-Rcvd/Opened cells that restart the
//!   negotiation (pppd behaves the same). In Closed/Stopped/Closing/Stopping no check applies: those cells
//!   only answer Terminate-Ack or ignore.
//! - The **restart** ("r") and **passive** ("p") options of §4.1 are not implemented: Open in
//!   Stopped/Closing/Stopping/Opened only changes what Close would do, and TO- in the request states goes
//!   to Stopped.
//! - **Max-Failure** (§4.6): counted per Configure-Nak sent, reset when a fresh negotiation starts and
//!   by every Configure-Ack we send (not by irc, which a peer's Nak triggers); once reached, a Nak becomes a Configure-Reject of the peer's offending options.
//! - A fresh negotiation (scr from a state other than Req-Sent/Ack-Rcvd/Ack-Sent) first resets the
//!   policy to what we want, like pppd's `resetci`, so a renegotiation does not inherit the last round's
//!   concessions.

pub mod ipcp;
pub mod ipv6cp;
pub mod keepalive;
pub mod lcp;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::{Duration, Instant};

use routerd_proto::ppp::control::{code, ConfigOption, ControlPacket};
use routerd_proto::ppp::Protocol;
use routerd_sansio::Now;

/// The ten states of RFC 1661 §4.2, numbered as in the RFC's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// 0: lower layer down, no Open.
    Initial,
    /// 1: Open given, waiting for the lower layer.
    Starting,
    /// 2: lower layer up, no Open.
    Closed,
    /// 3: gave up (or the peer terminated); waits for the peer's Configure-Request.
    Stopped,
    /// 4: Terminate-Request sent after Close.
    Closing,
    /// 5: Terminate-Request sent (or being waited out) on the way to Stopped.
    Stopping,
    /// 6: Configure-Request sent, nothing acked either way.
    ReqSent,
    /// 7: our request was acked, the peer's not yet.
    AckRcvd,
    /// 8: we acked the peer's request, ours is not acked yet.
    AckSent,
    /// 9: both acked: the layer is up.
    Opened,
}

impl State {
    /// All states in the RFC's order (for tables and tests).
    pub const ALL: [State; 10] = [
        State::Initial,
        State::Starting,
        State::Closed,
        State::Stopped,
        State::Closing,
        State::Stopping,
        State::ReqSent,
        State::AckRcvd,
        State::AckSent,
        State::Opened,
    ];

    /// Whether the restart timer runs in this state (§4.6: it runs while a Configure-Request or
    /// Terminate-Request awaits its answer).
    pub fn timer_runs(self) -> bool {
        matches!(
            self,
            State::Closing | State::Stopping | State::ReqSent | State::AckRcvd | State::AckSent
        )
    }
}

/// The events of RFC 1661 §4.3 as the table names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// Lower layer is Up.
    Up,
    /// Lower layer is Down.
    Down,
    /// Administrative Open.
    Open,
    /// Administrative Close.
    Close,
    /// TO+: restart timer expired, counter not exhausted.
    TimeoutRetry,
    /// TO-: restart timer expired, counter exhausted.
    TimeoutGiveUp,
    /// RCR+: good Configure-Request (we ack it).
    ReceiveGoodRequest,
    /// RCR-: bad Configure-Request (we nak or reject it).
    ReceiveBadRequest,
    /// RCA: Configure-Ack.
    ReceiveAck,
    /// RCN: Configure-Nak or Configure-Reject.
    ReceiveNak,
    /// RTR: Terminate-Request.
    ReceiveTerminateRequest,
    /// RTA: Terminate-Ack.
    ReceiveTerminateAck,
    /// RUC: unknown code.
    ReceiveUnknownCode,
    /// RXJ+: permitted Code-Reject or Protocol-Reject.
    ReceiveRejectPermitted,
    /// RXJ-: catastrophic Code-Reject or Protocol-Reject.
    ReceiveRejectCatastrophic,
    /// RXR: Echo-Request, Echo-Reply or Discard-Request.
    ReceiveEchoOrDiscard,
}

impl Event {
    /// All events in the RFC's order (for tables and tests).
    pub const ALL: [Event; 16] = [
        Event::Up,
        Event::Down,
        Event::Open,
        Event::Close,
        Event::TimeoutRetry,
        Event::TimeoutGiveUp,
        Event::ReceiveGoodRequest,
        Event::ReceiveBadRequest,
        Event::ReceiveAck,
        Event::ReceiveNak,
        Event::ReceiveTerminateRequest,
        Event::ReceiveTerminateAck,
        Event::ReceiveUnknownCode,
        Event::ReceiveRejectPermitted,
        Event::ReceiveRejectCatastrophic,
        Event::ReceiveEchoOrDiscard,
    ];
}

/// The actions of RFC 1661 §4.4, in the order a table cell lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// tlu: This-Layer-Up.
    ThisLayerUp,
    /// tld: This-Layer-Down.
    ThisLayerDown,
    /// tls: This-Layer-Started.
    ThisLayerStarted,
    /// tlf: This-Layer-Finished.
    ThisLayerFinished,
    /// irc: Initialize-Restart-Count (Max-Terminate before str, Max-Configure otherwise).
    InitializeRestartCount,
    /// zrc: Zero-Restart-Count (and start the timer: the peer gets one interval to see our Ack).
    ZeroRestartCount,
    /// scr: Send-Configure-Request.
    SendConfigureRequest,
    /// sca: Send-Configure-Ack.
    SendConfigureAck,
    /// scn: Send-Configure-Nak/Rej.
    SendConfigureNak,
    /// str: Send-Terminate-Request.
    SendTerminateRequest,
    /// sta: Send-Terminate-Ack.
    SendTerminateAck,
    /// scj: Send-Code-Reject.
    SendCodeReject,
    /// ser: Send-Echo-Reply.
    SendEchoReply,
}

/// One cell of the table: the actions, then the next state.
pub type Transition = (&'static [Action], State);

/// RFC 1661 §4.1's state transition table; `None` is the RFC's "-" (the event cannot happen in that
/// state — e.g. a packet before the lower layer is up — and is ignored).
pub fn transition(state: State, event: Event) -> Option<Transition> {
    use Action::*;
    use Event::*;
    use State::*;
    const IRC_SCR: &[Action] = &[InitializeRestartCount, SendConfigureRequest];
    const IRC_STR: &[Action] = &[InitializeRestartCount, SendTerminateRequest];
    const NONE: &[Action] = &[];
    Some(match (state, event) {
        (Initial, Up) => (NONE, Closed),
        (Starting, Up) => (IRC_SCR, ReqSent),
        (_, Up) => return None,

        (Initial | Starting, Down) => return None,
        (Closed | Closing, Down) => (NONE, Initial),
        (Stopped, Down) => (&[ThisLayerStarted], Starting),
        (Stopping | ReqSent | AckRcvd | AckSent, Down) => (NONE, Starting),
        (Opened, Down) => (&[ThisLayerDown], Starting),

        (Initial, Open) => (&[ThisLayerStarted], Starting),
        (Closed, Open) => (IRC_SCR, ReqSent),
        (Closing, Open) => (NONE, Stopping),
        (state, Open) => (NONE, state),

        (Initial, Close) => (NONE, Initial),
        (Starting, Close) => (&[ThisLayerFinished], Initial),
        (Closed | Stopped, Close) => (NONE, Closed),
        (Closing | Stopping, Close) => (NONE, Closing),
        (ReqSent | AckRcvd | AckSent, Close) => (IRC_STR, Closing),
        (Opened, Close) => (
            &[ThisLayerDown, InitializeRestartCount, SendTerminateRequest],
            Closing,
        ),

        (Closing | Stopping, TimeoutRetry) => (&[SendTerminateRequest], state),
        (ReqSent | AckRcvd, TimeoutRetry) => (&[SendConfigureRequest], ReqSent),
        (AckSent, TimeoutRetry) => (&[SendConfigureRequest], AckSent),
        (_, TimeoutRetry) => return None,

        (Closing, TimeoutGiveUp) => (&[ThisLayerFinished], Closed),
        (Stopping | ReqSent | AckRcvd | AckSent, TimeoutGiveUp) => (&[ThisLayerFinished], Stopped),
        (_, TimeoutGiveUp) => return None,

        (Initial | Starting, _) => return None,

        (Closed, ReceiveGoodRequest | ReceiveBadRequest | ReceiveAck | ReceiveNak) => {
            (&[SendTerminateAck], Closed)
        }
        (Stopped, ReceiveGoodRequest) => (
            &[
                InitializeRestartCount,
                SendConfigureRequest,
                SendConfigureAck,
            ],
            AckSent,
        ),
        (Stopped, ReceiveBadRequest) => (
            &[
                InitializeRestartCount,
                SendConfigureRequest,
                SendConfigureNak,
            ],
            ReqSent,
        ),
        (Stopped, ReceiveAck | ReceiveNak) => (&[SendTerminateAck], Stopped),
        (Closing | Stopping, ReceiveGoodRequest | ReceiveBadRequest | ReceiveAck | ReceiveNak) => {
            (NONE, state)
        }
        (ReqSent | AckSent, ReceiveGoodRequest) => (&[SendConfigureAck], AckSent),
        (AckRcvd, ReceiveGoodRequest) => (&[SendConfigureAck, ThisLayerUp], Opened),
        (Opened, ReceiveGoodRequest) => (
            &[ThisLayerDown, SendConfigureRequest, SendConfigureAck],
            AckSent,
        ),
        (ReqSent | AckSent, ReceiveBadRequest) => (&[SendConfigureNak], ReqSent),
        (AckRcvd, ReceiveBadRequest) => (&[SendConfigureNak], AckRcvd),
        (Opened, ReceiveBadRequest) => (
            &[ThisLayerDown, SendConfigureRequest, SendConfigureNak],
            ReqSent,
        ),
        (ReqSent, ReceiveAck) => (&[InitializeRestartCount], AckRcvd),
        (AckRcvd, ReceiveAck | ReceiveNak) => (&[SendConfigureRequest], ReqSent),
        (AckSent, ReceiveAck) => (&[InitializeRestartCount, ThisLayerUp], Opened),
        (Opened, ReceiveAck | ReceiveNak) => (&[ThisLayerDown, SendConfigureRequest], ReqSent),
        (ReqSent, ReceiveNak) => (IRC_SCR, ReqSent),
        (AckSent, ReceiveNak) => (IRC_SCR, AckSent),

        (Closed | Stopped | Closing | Stopping, ReceiveTerminateRequest) => {
            (&[SendTerminateAck], state)
        }
        (ReqSent | AckRcvd | AckSent, ReceiveTerminateRequest) => (&[SendTerminateAck], ReqSent),
        (Opened, ReceiveTerminateRequest) => (
            &[ThisLayerDown, ZeroRestartCount, SendTerminateAck],
            Stopping,
        ),

        (Closed | Stopped, ReceiveTerminateAck) => (NONE, state),
        (Closing, ReceiveTerminateAck) => (&[ThisLayerFinished], Closed),
        (Stopping, ReceiveTerminateAck) => (&[ThisLayerFinished], Stopped),
        (ReqSent | AckRcvd, ReceiveTerminateAck) => (NONE, ReqSent),
        (AckSent, ReceiveTerminateAck) => (NONE, AckSent),
        (Opened, ReceiveTerminateAck) => (&[ThisLayerDown, SendConfigureRequest], ReqSent),

        (state, ReceiveUnknownCode) => (&[SendCodeReject], state),

        (
            state @ (Closed | Stopped | Closing | Stopping | AckSent | Opened),
            ReceiveRejectPermitted,
        ) => (NONE, state),
        (ReqSent | AckRcvd, ReceiveRejectPermitted) => (NONE, ReqSent),

        (Closed | Closing, ReceiveRejectCatastrophic) => (&[ThisLayerFinished], Closed),
        (Stopped | Stopping | ReqSent | AckRcvd | AckSent, ReceiveRejectCatastrophic) => {
            (&[ThisLayerFinished], Stopped)
        }
        (Opened, ReceiveRejectCatastrophic) => (
            &[ThisLayerDown, InitializeRestartCount, SendTerminateRequest],
            Stopping,
        ),

        (Opened, ReceiveEchoOrDiscard) => (&[SendEchoReply], Opened),
        (state, ReceiveEchoOrDiscard) => (NONE, state),
    })
}

/// How this layer's state changed, for the layer above (RFC 1661 §4.4): LCP's Up starts authentication,
/// an NCP's Up configures the interface; Finished tells the session to drop the lower layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerEvent {
    /// tlu: negotiation converged.
    Up,
    /// tld: the layer left Opened.
    Down,
    /// tls: the layer needs the lower layer.
    Started,
    /// tlf: the layer no longer needs the lower layer.
    Finished,
}

/// What the automaton asks of the outside world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output<O> {
    /// Send this control packet in a frame of the policy's protocol.
    Send(ControlPacket<O>),
    /// This layer's state changed.
    Layer(LayerEvent),
    /// An Echo-Reply arrived in Opened (LCP): for the keepalive ([`keepalive::EchoKeepalive`]).
    EchoReply { identifier: u8, magic: u32 },
    /// The peer Protocol-Rejected another protocol (LCP): the session stops that protocol's
    /// automaton with [`Input::ProtocolRejected`].
    ProtocolRejected(Protocol),
}

/// The inputs of the automaton.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input<O> {
    /// The lower layer is up.
    Up,
    /// The lower layer went down.
    Down,
    /// Administrative Open.
    Open,
    /// Administrative Close.
    Close,
    /// A packet of this protocol arrived.
    Packet(ControlPacket<O>),
    /// The peer's LCP Protocol-Rejected this protocol: RXJ- for this automaton (RFC 1661 §5.7).
    ProtocolRejected,
}

/// The peer's request, judged: what the policy would answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict<O> {
    /// Every option acceptable as sent.
    Ack,
    /// Options with the values we would accept instead (options the peer omitted may be added).
    Nak(Vec<O>),
    /// Options we will not negotiate, copied exactly from the request.
    Reject(Vec<O>),
}

/// One option's judgement, combined by [`Verdict::collect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionVerdict<O> {
    /// Acceptable.
    Ack,
    /// Acceptable with this value instead.
    Nak(O),
    /// Not negotiable.
    Reject,
}

impl<O: Clone> Verdict<O> {
    /// Judges each option and combines as RFC 1661 §5.3–5.4 demands: any reject wins (only the rejected
    /// options are sent back), then any nak, else ack.
    pub fn collect(options: &[O], mut judge: impl FnMut(&O) -> OptionVerdict<O>) -> Self {
        let mut naks = Vec::new();
        let mut rejects = Vec::new();
        for option in options {
            match judge(option) {
                OptionVerdict::Ack => {}
                OptionVerdict::Nak(suggested) => naks.push(suggested),
                OptionVerdict::Reject => rejects.push(option.clone()),
            }
        }
        if !rejects.is_empty() {
            Verdict::Reject(rejects)
        } else if !naks.is_empty() {
            Verdict::Nak(naks)
        } else {
            Verdict::Ack
        }
    }
}

/// What one control protocol negotiates: the per-protocol half of the automaton.
pub trait OptionPolicy {
    /// The protocol's typed options.
    type Option: ConfigOption + Clone + PartialEq + fmt::Debug;
    /// What a converged negotiation means to the session (addresses, MRU, authentication...).
    type Negotiated: Clone + PartialEq + fmt::Debug;

    /// Forget concessions of an earlier round: called before the first request of a fresh negotiation.
    fn reset(&mut self);
    /// The options of our next Configure-Request.
    fn request(&self) -> Vec<Self::Option>;
    /// Judges the peer's Configure-Request.
    fn judge(&mut self, peer: &[Self::Option]) -> Verdict<Self::Option>;
    /// Adapts our request to the peer's Configure-Nak (values it would accept).
    fn nak_received(&mut self, suggested: &[Self::Option]);
    /// Adapts our request to the peer's Configure-Reject (options it will not negotiate).
    fn reject_received(&mut self, rejected: &[Self::Option]);
    /// The result from our acked request and the peer's request we acked.
    fn negotiated(&self, ours: &[Self::Option], theirs: &[Self::Option]) -> Self::Negotiated;
    /// The Magic-Number to put in Echo-Reply (LCP; 0 when none was negotiated, RFC 1661 §5.8).
    fn magic_number(&self) -> u32 {
        0
    }
}

/// The timers and counters of RFC 1661 §4.6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// Restart timer: how long a request waits for its answer.
    pub restart: Duration,
    /// Terminate-Requests sent before giving up on the peer's Terminate-Ack.
    pub max_terminate: u32,
    /// Configure-Requests sent before giving up on convergence.
    pub max_configure: u32,
    /// Configure-Naks sent before they turn into Configure-Rejects.
    pub max_failure: u32,
}

impl Default for Timers {
    /// The RFC's suggested values: 3 s, 2, 10, 5.
    fn default() -> Self {
        Self {
            restart: Duration::from_secs(3),
            max_terminate: 2,
            max_configure: 10,
            max_failure: 5,
        }
    }
}

/// A timer setting that would make the automaton spin or never send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimersError {
    /// A zero restart interval would retransmit in a busy loop.
    #[error("restart interval must be positive")]
    ZeroRestart,
    /// With Max-Configure or Max-Terminate 0 nothing would ever be sent.
    #[error("{name} must be at least 1")]
    ZeroCount { name: &'static str },
}

impl Timers {
    /// Checks a configured set of timers.
    pub fn validate(self) -> Result<Self, TimersError> {
        if self.restart.is_zero() {
            return Err(TimersError::ZeroRestart);
        }
        if self.max_configure == 0 {
            return Err(TimersError::ZeroCount {
                name: "max_configure",
            });
        }
        if self.max_terminate == 0 {
            return Err(TimersError::ZeroCount {
                name: "max_terminate",
            });
        }
        Ok(self)
    }
}

/// The request awaiting its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outstanding<O> {
    identifier: u8,
    options: Vec<O>,
}

/// What the received packet contributes to the actions of its cell.
struct Trigger<O> {
    /// The received packet's Identifier (sta answers with it).
    identifier: u8,
    /// The prepared Configure-Ack/Nak/Reject (sca, scn) or Echo-Reply (ser).
    reply: Option<ControlPacket<O>>,
    /// The packet to quote in a Code-Reject (scj).
    unknown: Vec<u8>,
}

impl<O> Trigger<O> {
    fn none() -> Self {
        Self {
            identifier: 0,
            reply: None,
            unknown: Vec::new(),
        }
    }
}

/// The RFC 1661 automaton for one control protocol, sans I/O: inputs with the injected time in,
/// outputs and [`Negotiation::next_deadline`] out.
#[derive(Debug)]
pub struct Negotiation<P: OptionPolicy> {
    policy: P,
    timers: Timers,
    state: State,
    restart_count: u32,
    failures: u32,
    deadline: Option<Instant>,
    next_identifier: u8,
    outstanding: Option<Outstanding<P::Option>>,
    ours_acked: Vec<P::Option>,
    theirs_acked: Vec<P::Option>,
}

impl<P: OptionPolicy> Negotiation<P> {
    /// A new automaton in Initial.
    pub fn new(policy: P, timers: Timers) -> Self {
        Self {
            policy,
            timers,
            state: State::Initial,
            restart_count: 0,
            failures: 0,
            deadline: None,
            next_identifier: 1,
            outstanding: None,
            ours_acked: Vec::new(),
            theirs_acked: Vec::new(),
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The policy, for its configuration and result.
    pub fn policy(&self) -> &P {
        &self.policy
    }

    /// When [`Negotiation::on_timer`] must be called next (the restart timer), if it runs.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The negotiated result, while Opened.
    pub fn negotiated(&self) -> Option<P::Negotiated> {
        (self.state == State::Opened)
            .then(|| self.policy.negotiated(&self.ours_acked, &self.theirs_acked))
    }

    /// The Magic-Number this side uses in LCP Echo packets (0 for the NCPs).
    pub fn magic_number(&self) -> u32 {
        self.policy.magic_number()
    }

    /// Feeds one input.
    pub fn handle(&mut self, input: Input<P::Option>, now: Now) -> Vec<Output<P::Option>> {
        let mut out = Vec::new();
        match input {
            Input::Up => self.fire(Event::Up, Trigger::none(), now, &mut out),
            Input::Down => self.fire(Event::Down, Trigger::none(), now, &mut out),
            Input::Open => self.fire(Event::Open, Trigger::none(), now, &mut out),
            Input::Close => self.fire(Event::Close, Trigger::none(), now, &mut out),
            Input::ProtocolRejected => self.fire(
                Event::ReceiveRejectCatastrophic,
                Trigger::none(),
                now,
                &mut out,
            ),
            Input::Packet(packet) => self.receive(packet, now, &mut out),
        }
        out
    }

    /// The restart timer: TO+ or TO- when the deadline has passed, nothing before it (so a spurious
    /// wake-up is harmless).
    pub fn on_timer(&mut self, now: Now) -> Vec<Output<P::Option>> {
        let mut out = Vec::new();
        if self.deadline.is_some_and(|deadline| now.mono >= deadline) {
            self.deadline = None;
            let event = if self.restart_count > 0 {
                Event::TimeoutRetry
            } else {
                Event::TimeoutGiveUp
            };
            self.fire(event, Trigger::none(), now, &mut out);
        }
        out
    }

    fn receive(
        &mut self,
        packet: ControlPacket<P::Option>,
        now: Now,
        out: &mut Vec<Output<P::Option>>,
    ) {
        let identifier = packet.identifier();
        let mut trigger = Trigger {
            identifier,
            reply: None,
            unknown: Vec::new(),
        };
        let event = match packet {
            ControlPacket::ConfigureRequest { options, .. } => {
                let good = self.judge_request(identifier, options, &mut trigger);
                if good {
                    Event::ReceiveGoodRequest
                } else {
                    Event::ReceiveBadRequest
                }
            }
            ControlPacket::ConfigureAck { options, .. } => {
                if self.checks_replies() {
                    match self.take_outstanding(identifier, |sent| sent == options.as_slice()) {
                        Some(sent) => self.ours_acked = sent.options,
                        None => return,
                    }
                }
                Event::ReceiveAck
            }
            ControlPacket::ConfigureNak { options, .. } => {
                if self.checks_replies() {
                    if self.take_outstanding(identifier, |_| true).is_none() {
                        return;
                    }
                    self.policy.nak_received(&options);
                }
                Event::ReceiveNak
            }
            ControlPacket::ConfigureReject { options, .. } => {
                if self.checks_replies() {
                    let only_sent = |sent: &[P::Option]| options.iter().all(|o| sent.contains(o));
                    if self.take_outstanding(identifier, only_sent).is_none() {
                        return;
                    }
                    self.policy.reject_received(&options);
                }
                Event::ReceiveNak
            }
            ControlPacket::TerminateRequest { .. } => Event::ReceiveTerminateRequest,
            ControlPacket::TerminateAck { .. } => Event::ReceiveTerminateAck,
            ControlPacket::CodeReject { rejected, .. } => {
                // RFC 1661 §5.6: rejecting a code the automaton needs (1–7) is fatal; rejecting an
                // extension (Echo, Discard...) is not.
                match rejected.first() {
                    Some(code::CONFIGURE_REQUEST..=code::CODE_REJECT) => {
                        Event::ReceiveRejectCatastrophic
                    }
                    _ => Event::ReceiveRejectPermitted,
                }
            }
            ControlPacket::ProtocolReject { protocol, .. } => {
                if protocol == Protocol::LCP {
                    Event::ReceiveRejectCatastrophic
                } else {
                    if self.state == State::Opened {
                        out.push(Output::ProtocolRejected(protocol));
                    }
                    Event::ReceiveRejectPermitted
                }
            }
            ControlPacket::EchoRequest { magic, data, .. } => {
                let ours = self.policy.magic_number();
                if ours != 0 && magic == ours {
                    // RFC 1661 §5.8: our own Magic-Number came back, the link is looped back;
                    // answering would only feed the loop.
                    return;
                }
                trigger.reply = Some(ControlPacket::EchoReply {
                    identifier,
                    magic: self.policy.magic_number(),
                    data,
                });
                Event::ReceiveEchoOrDiscard
            }
            ControlPacket::EchoReply { magic, .. } => {
                if self.state == State::Opened {
                    out.push(Output::EchoReply { identifier, magic });
                }
                Event::ReceiveEchoOrDiscard
            }
            ControlPacket::DiscardRequest { .. } => Event::ReceiveEchoOrDiscard,
            unknown @ ControlPacket::Unknown { .. } => {
                // The packet decoded from at most 65535 octets, so re-encoding cannot fail; if it ever
                // did, an empty quote still tells the peer the code was not understood.
                let _ = unknown.encode(&mut trigger.unknown);
                Event::ReceiveUnknownCode
            }
        };
        self.fire(event, trigger, now, out);
    }

    /// Whether replies must answer the outstanding request in this state (see the module doc).
    fn checks_replies(&self) -> bool {
        matches!(
            self.state,
            State::ReqSent | State::AckRcvd | State::AckSent | State::Opened
        )
    }

    /// Takes the outstanding request if `identifier` answers it and `valid` accepts its options.
    fn take_outstanding(
        &mut self,
        identifier: u8,
        valid: impl FnOnce(&[P::Option]) -> bool,
    ) -> Option<Outstanding<P::Option>> {
        let sent = self.outstanding.as_ref()?;
        if sent.identifier != identifier || !valid(&sent.options) {
            return None;
        }
        self.outstanding.take()
    }

    /// Judges a Configure-Request where its verdict matters and prepares the reply; returns RCR+ or RCR-.
    fn judge_request(
        &mut self,
        identifier: u8,
        options: Vec<P::Option>,
        trigger: &mut Trigger<P::Option>,
    ) -> bool {
        let judged = matches!(
            self.state,
            State::Stopped | State::ReqSent | State::AckRcvd | State::AckSent | State::Opened
        );
        if !judged {
            return true;
        }
        let verdict = match self.policy.judge(&options) {
            Verdict::Nak(suggested) if self.failures >= self.timers.max_failure => {
                // §4.6: the peer keeps asking for values we nak; stop negotiating those options.
                let rejected: Vec<_> = options
                    .iter()
                    .filter(|o| suggested.iter().any(|s| s.kind() == o.kind()))
                    .cloned()
                    .collect();
                if rejected.is_empty() {
                    Verdict::Ack
                } else {
                    Verdict::Reject(rejected)
                }
            }
            verdict => verdict,
        };
        let (good, reply) = match verdict {
            Verdict::Ack => (
                true,
                ControlPacket::ConfigureAck {
                    identifier,
                    options,
                },
            ),
            Verdict::Nak(options) => (
                false,
                ControlPacket::ConfigureNak {
                    identifier,
                    options,
                },
            ),
            Verdict::Reject(options) => (
                false,
                ControlPacket::ConfigureReject {
                    identifier,
                    options,
                },
            ),
        };
        trigger.reply = Some(reply);
        good
    }

    /// Runs the table cell of `event` in the current state: its actions in order, then the state change.
    fn fire(
        &mut self,
        event: Event,
        mut trigger: Trigger<P::Option>,
        now: Now,
        out: &mut Vec<Output<P::Option>>,
    ) {
        let Some((actions, next)) = transition(self.state, event) else {
            return;
        };
        let from = self.state;
        for action in actions {
            self.act(*action, from, next, &mut trigger, now, out);
        }
        self.state = next;
        if !next.timer_runs() {
            self.deadline = None;
        }
        if matches!(
            next,
            State::Initial | State::Starting | State::Closed | State::Stopped
        ) {
            self.outstanding = None;
        }
    }

    fn act(
        &mut self,
        action: Action,
        from: State,
        next: State,
        trigger: &mut Trigger<P::Option>,
        now: Now,
        out: &mut Vec<Output<P::Option>>,
    ) {
        match action {
            Action::ThisLayerUp => out.push(Output::Layer(LayerEvent::Up)),
            Action::ThisLayerDown => out.push(Output::Layer(LayerEvent::Down)),
            Action::ThisLayerStarted => out.push(Output::Layer(LayerEvent::Started)),
            Action::ThisLayerFinished => out.push(Output::Layer(LayerEvent::Finished)),
            Action::InitializeRestartCount => {
                self.restart_count = if matches!(next, State::Closing | State::Stopping) {
                    self.timers.max_terminate
                } else {
                    self.timers.max_configure
                };
            }
            Action::ZeroRestartCount => {
                self.restart_count = 0;
                self.deadline = Some(now.mono + self.timers.restart);
            }
            Action::SendConfigureRequest => self.send_configure_request(from, now, out),
            Action::SendConfigureAck | Action::SendConfigureNak | Action::SendEchoReply => {
                if let Some(reply) = trigger.reply.take() {
                    match &reply {
                        ControlPacket::ConfigureAck { options, .. } => {
                            self.theirs_acked = options.clone();
                            self.failures = 0;
                        }
                        ControlPacket::ConfigureNak { .. } => {
                            self.failures = self.failures.saturating_add(1);
                        }
                        _ => {}
                    }
                    out.push(Output::Send(reply));
                }
            }
            Action::SendTerminateRequest => {
                self.restart_count = self.restart_count.saturating_sub(1);
                self.deadline = Some(now.mono + self.timers.restart);
                let identifier = self.new_identifier();
                out.push(Output::Send(ControlPacket::TerminateRequest {
                    identifier,
                    data: Vec::new(),
                }));
            }
            Action::SendTerminateAck => out.push(Output::Send(ControlPacket::TerminateAck {
                identifier: trigger.identifier,
                data: Vec::new(),
            })),
            Action::SendCodeReject => {
                let identifier = self.new_identifier();
                out.push(Output::Send(ControlPacket::CodeReject {
                    identifier,
                    rejected: std::mem::take(&mut trigger.unknown),
                }));
            }
        }
    }

    /// scr: a retransmission (TO+ with the request still unanswered) repeats the outstanding request;
    /// anything else is a new request with a new Identifier.
    fn send_configure_request(&mut self, from: State, now: Now, out: &mut Vec<Output<P::Option>>) {
        self.restart_count = self.restart_count.saturating_sub(1);
        self.deadline = Some(now.mono + self.timers.restart);
        // A reply consumes the outstanding request before its transition runs (and Closed/Stopped drop
        // it), so a request still outstanding here was never answered: this scr is TO+'s retransmission.
        let request = match self.outstanding.clone() {
            Some(sent) => sent,
            _ => {
                if !matches!(from, State::ReqSent | State::AckRcvd | State::AckSent) {
                    self.policy.reset();
                    self.failures = 0;
                }
                Outstanding {
                    identifier: self.new_identifier(),
                    options: self.policy.request(),
                }
            }
        };
        out.push(Output::Send(ControlPacket::ConfigureRequest {
            identifier: request.identifier,
            options: request.options.clone(),
        }));
        self.outstanding = Some(request);
    }

    fn new_identifier(&mut self) -> u8 {
        let identifier = self.next_identifier;
        self.next_identifier = self.next_identifier.wrapping_add(1);
        identifier
    }
}
