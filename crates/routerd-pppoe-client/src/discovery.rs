//! PPPoE discovery (RFC 2516 §5) without I/O: the host side of PADI → PADO → PADR → PADS, and PADT
//! both ways.
//!
//! Inputs are decoded discovery packets with the Ethernet source address they came from, timer
//! expiries and commands; outputs are frames to send (destination MAC and typed packet, encoded by the
//! caller with [`DiscoveryPacket::encode`]), an [`Outcome`] when something decisive happened, and a
//! note for every packet that was not used. The caller owns the clock and the socket and asks
//! [`Discovery::deadline`] when to deliver the next [`Discovery::handle_timer`].
//!
//! ```text
//!  start ─▶ Soliciting ──valid PADO──▶ Requesting ──PADS, id≠0──▶ Established ──PADT (our AC, our id)──▶ Idle
//!  (PADI, 1,2,4,8,16 s)  ◀─3 PADRs unanswered─┘ (PADR, 1,2,4 s)  └─PADS with error tag─▶ Idle (Refused)
//!     └─ 5 PADIs unanswered (31 s) ─▶ Idle (DiscoveryFailed)
//! ```
//!
//! Decisions worth their reasons:
//! - Timers ([`Timers::default`]): RFC 2516 §7 says to resend the PADI doubling the wait "as many
//!   times as desired", to do the same with the PADR, and after a number of PADRs to go back to PADI.
//!   rp-pppoe and pppd's rp-pppoe plugin (`pppoe.h`: `PADI_TIMEOUT 5`, `MAX_PADI_ATTEMPTS 3`, the
//!   timeout doubled per attempt) start at 5 s with 3 PADIs. We start at 1 s (a lost first PADI on a
//!   link that just came up then costs one second, not five), double to at most 16 s, and give up
//!   after 5 PADIs (1+2+4+8+16 = 31 s, about rp-pppoe's 5+10+20 = 35 s), so the AC sees no more than
//!   5 PADIs per attempt; the pace between attempts is the redial backoff's ([`crate::redial`]).
//!   PADR: 3 sends at 1, 2, 4 s, then back to PADI. The PADI count is kept across that return, so an
//!   AC that offers but never confirms cannot keep discovery going for ever: the attempt still ends
//!   after 5 PADIs.
//! - Host-Uniq: 8 random octets per attempt (kept across retransmissions). A PADO or PADS without it
//!   is not for us: it was meant for another host, or it is a stale answer to an earlier attempt.
//! - Offer selection: the first valid PADO wins; later ones are ignored and counted. Valid means our
//!   Host-Uniq, a unicast source, no error tag, the Service-Name we asked for (any offer will do when
//!   we asked for "" — RFC 2516 §5.2 requires the AC to echo it, but real ACs omit it, and rp-pppoe
//!   accepts that too), and the configured `acName` when there is one. Unlike rp-pppoe, an offer
//!   without AC-Name is taken when no `acName` is configured (its name is then "").
//! - An offer with an error tag is reported ([`Note::OfferRefused`]) but does not end discovery:
//!   another AC on the segment may serve us; the refusal is kept and named if the attempt fails.
//!   A PADS with an error tag (or a session id of 0) does end it: that AC was chosen and said no.
//! - The AC-Cookie and the Relay-Session-Id of the chosen PADO are echoed in every PADR (§5.3).
//! - Only the chosen AC's PADS (its MAC, our Host-Uniq) and its PADT for our session id count.

use routerd_proto::pppoe::{tag_type, Code, DiscoveryPacket, Tag, MAX_DISCOVERY_PAYLOAD};
use routerd_sansio::Random;
use std::fmt;
use std::time::{Duration, Instant};

/// An Ethernet address.
pub type Mac = [u8; 6];
/// Where PADIs go.
pub const BROADCAST: Mac = [0xff; 6];
/// Octets of the Host-Uniq we send.
pub const HOST_UNIQ_LEN: usize = 8;

/// Retransmission schedule of PADI and PADR (see the module notes for the choice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// The wait after the first PADI (and after the first PADR).
    pub initial_timeout: Duration,
    /// The longest wait; each retransmission doubles the previous one up to this.
    pub max_timeout: Duration,
    /// PADIs per attempt, the first included; after the last one's wait the attempt has failed.
    pub max_padi: u32,
    /// PADRs per offer, the first included; after the last one's wait it is back to PADI.
    pub max_padr: u32,
}

impl Default for Timers {
    fn default() -> Self {
        Self {
            initial_timeout: Duration::from_secs(1),
            max_timeout: Duration::from_secs(16),
            max_padi: 5,
            max_padr: 3,
        }
    }
}

/// What to ask for: the `serviceName` and `acName` of the `PPPoESession`, and the timers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DiscoveryConfig {
    /// The Service-Name to request; empty = any service.
    pub service_name: Vec<u8>,
    /// Only offers from an AC of this name are taken; `None` = the first valid offer.
    pub ac_name: Option<Vec<u8>>,
    /// Retransmission schedule; [`Timers::default`] except in tests and benchmarks.
    pub timers: Timers,
}

/// A configuration that cannot produce valid packets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryConfigError {
    /// The Service-Name must fit in a PADI with our Host-Uniq.
    #[error(
        "serviceName of {len} octets is too long for a PPPoE discovery packet (at most {max})"
    )]
    ServiceNameTooLong { len: usize, max: usize },
    /// Zero PADIs or PADRs would never ask anything; a zero timeout would be a send loop; a timeout
    /// over [`MAX_TIMEOUT`] is a typo (and could overflow the clock).
    #[error(
        "PPPoE discovery timers need timeouts between 1 ns and 1 h and at least one PADI and PADR"
    )]
    BadTimers,
}

/// The longest PADI/PADR timeout a configuration may ask for.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

/// Service-Name tag header + Host-Uniq tag (header and value).
const FIXED_PADI_TAGS: usize = 4 + 4 + HOST_UNIQ_LEN;

impl DiscoveryConfig {
    /// Checks that PADIs can be built and the schedule terminates.
    pub fn validate(&self) -> Result<(), DiscoveryConfigError> {
        let max = MAX_DISCOVERY_PAYLOAD - FIXED_PADI_TAGS;
        if self.service_name.len() > max {
            return Err(DiscoveryConfigError::ServiceNameTooLong {
                len: self.service_name.len(),
                max,
            });
        }
        let t = &self.timers;
        if t.initial_timeout.is_zero()
            || t.initial_timeout > MAX_TIMEOUT
            || t.max_timeout > MAX_TIMEOUT
            || t.max_padi == 0
            || t.max_padr == 0
        {
            return Err(DiscoveryConfigError::BadTimers);
        }
        Ok(())
    }
}

/// A discovery packet to send and the Ethernet address to send it to (EtherType 0x8863).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// [`BROADCAST`] for PADI, the AC's address for PADR and PADT.
    pub destination: Mac,
    /// Typed, so tests compare tags; the daemon encodes it with [`DiscoveryPacket::encode`].
    pub packet: DiscoveryPacket,
}

/// An established session: what PPP runs on and what status shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The SESSION_ID of the PADS (never 0).
    pub session_id: u16,
    /// The AC's Ethernet address: session frames and PADT go there.
    pub ac_mac: Mac,
    /// The AC-Name of its offer (empty when it sent none).
    pub ac_name: Vec<u8>,
    /// The service: the one asked for, or when any was asked for, the first one the AC named.
    pub service_name: Vec<u8>,
}

/// Which of the three error tags (RFC 2516 Appendix A) an AC answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorTag {
    /// 0x0201: the service asked for cannot be provided.
    ServiceNameError,
    /// 0x0202: the AC itself failed (typically out of sessions).
    AcSystemError,
    /// 0x0203: anything else.
    GenericError,
}

impl ErrorTag {
    /// The tag's name as RFC 2516 spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ServiceNameError => "Service-Name-Error",
            Self::AcSystemError => "AC-System-Error",
            Self::GenericError => "Generic-Error",
        }
    }

    fn of(tag: &Tag) -> Option<(Self, &[u8])> {
        match tag {
            Tag::ServiceNameError(text) => Some((Self::ServiceNameError, text)),
            Tag::AcSystemError(text) => Some((Self::AcSystemError, text)),
            Tag::GenericError(text) => Some((Self::GenericError, text)),
            _ => None,
        }
    }
}

impl fmt::Display for ErrorTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An AC's refusal: which AC, which tag, and its text (lossily UTF-8, as ACs send anything).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "access concentrator {ac} ({}) answered {} with {tag}{}",
    mac_string(ac_mac),
    code_name(*code),
    text_suffix(text)
)]
pub struct Refusal {
    /// PADO or PADS.
    pub code: Code,
    /// Which AC: several may answer on one segment.
    pub ac_mac: Mac,
    /// Its AC-Name, "" when it sent none.
    pub ac: String,
    /// Which error tag.
    pub tag: ErrorTag,
    /// The tag's text ("" when it had none).
    pub text: String,
}

/// The packet names RFC 2516 uses, for messages.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Padi => "PADI",
        Code::Pado => "PADO",
        Code::Padr => "PADR",
        Code::Pads => "PADS",
        Code::Padt => "PADT",
        Code::Session => "session frame",
    }
}

fn text_suffix(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn mac_string(mac: &Mac) -> String {
    mac.iter()
        .map(|octet| format!("{octet:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Why a discovery attempt ended without a session, for the status reason and the redial.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryFailure {
    /// No usable PADO (or no PADS after the offers) within the PADI budget.
    #[error("no usable PADO after {padi_sent} PADIs{}", last_refusal.as_ref().map(|r| format!(" (last refusal: {r})")).unwrap_or_default())]
    NoOffer {
        padi_sent: u32,
        /// The last offer that carried an error tag, so "silence" and "refused" read differently.
        last_refusal: Option<Refusal>,
    },
    /// The chosen AC's PADS carried an error tag.
    #[error("{0}")]
    Refused(Refusal),
    /// The chosen AC's PADS carried session id 0 without an error tag (RFC 2516 §5.4 reserves 0).
    #[error(
        "access concentrator {} ({}) sent a PADS with session id 0",
        ac,
        mac_string(ac_mac)
    )]
    ZeroSessionId { ac_mac: Mac, ac: String },
}

/// What a discovery step decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// PADS accepted: PPP may start on this session.
    SessionEstablished(Session),
    /// The attempt is over without a session; the redial backoff decides when to try again.
    DiscoveryFailed(DiscoveryFailure),
    /// Our AC sent PADT for our session; `reason` is its Generic-Error text, if any.
    SessionTerminated {
        session_id: u16,
        ac_mac: Mac,
        reason: Option<String>,
    },
}

/// Why a received packet was not used (for debug logs and counters; never an error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// A code the host never acts on (PADI, PADR: another host's) or not expected in this state.
    Unexpected { code: Code },
    /// No Host-Uniq, or not ours.
    NotOurHostUniq { code: Code },
    /// From a multicast/broadcast or zero source address.
    BadSource,
    /// A PADO without the Service-Name we asked for.
    ServiceNotOffered,
    /// A PADO from an AC whose name is not `acName`.
    OtherAcName,
    /// A PADO while a PADR is outstanding: the first valid offer already won.
    OfferAfterChoice,
    /// A PADO whose PADR would not fit a discovery packet (huge cookie).
    OfferTooLarge,
    /// A PADO with an error tag.
    OfferRefused(Refusal),
    /// A PADS or PADT from another MAC, or for another session.
    Stranger { code: Code },
}

/// Counters kept for status and the property tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// PADIs sent: the number to watch when an AC is silent or refuses (no storm).
    pub padi_sent: u64,
    /// PADRs sent.
    pub padr_sent: u64,
    /// PADTs sent (stop, restart, stale sessions).
    pub padt_sent: u64,
    /// Valid offers not taken because another one was first.
    pub offers_ignored: u64,
    /// Packets not used for any reason (including `offers_ignored`).
    pub packets_ignored: u64,
}

/// The result of one input.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Output {
    /// Frames to send now, in order (a PADT before the PADI of a restart).
    pub frames: Vec<Frame>,
    /// Set when the step decided something the daemon acts on (start PPP, redial, report).
    pub outcome: Option<Outcome>,
    /// Why the input packet was not used, for a debug log; already counted in [`Counters`].
    pub note: Option<Note>,
}

/// The chosen offer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Offer {
    ac_mac: Mac,
    ac_name: Vec<u8>,
    /// The first Service-Name the AC named (used when we asked for any).
    offered_service: Option<Vec<u8>>,
    /// The PADR to (re)send: Service-Name, Host-Uniq, AC-Cookie and Relay-Session-Id echoed.
    padr: DiscoveryPacket,
}

/// A retransmitted request: how often sent, the current wait, the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Retry {
    sent: u32,
    timeout: Duration,
    deadline: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Not started, or the last attempt/session is over.
    Idle,
    Soliciting {
        padi: Retry,
    },
    Requesting {
        /// PADIs sent so far in this attempt, carried back to Soliciting.
        padi_sent: u32,
        offer: Offer,
        padr: Retry,
    },
    Established(Session),
}

/// The discovery state of the host's side of one PPPoE session.
#[derive(Debug, Clone)]
pub struct Discovery {
    config: DiscoveryConfig,
    state: State,
    /// This attempt's Host-Uniq.
    host_uniq: Vec<u8>,
    /// The last PADO with an error tag in this attempt, named when it fails.
    last_refusal: Option<Refusal>,
    counters: Counters,
}

/// Which phase discovery is in, for status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Nothing under way: before start, after an outcome, after stop.
    Idle,
    /// PADIs out, waiting for an offer.
    Soliciting,
    /// An offer taken, PADRs out, waiting for the PADS.
    Requesting,
    /// PADS received: the session stage runs.
    Established,
}

impl Discovery {
    /// A discovery machine for `config` (checked with [`DiscoveryConfig::validate`]).
    pub fn new(config: DiscoveryConfig) -> Result<Self, DiscoveryConfigError> {
        config.validate()?;
        Ok(Self {
            config,
            state: State::Idle,
            host_uniq: Vec::new(),
            last_refusal: None,
            counters: Counters::default(),
        })
    }

    /// Where discovery stands, for status and for the daemon to know whether PPP may run.
    pub fn phase(&self) -> Phase {
        match self.state {
            State::Idle => Phase::Idle,
            State::Soliciting { .. } => Phase::Soliciting,
            State::Requesting { .. } => Phase::Requesting,
            State::Established(_) => Phase::Established,
        }
    }

    /// Packets sent and ignored since creation (across attempts), for status.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// The Host-Uniq of the current attempt (empty before the first).
    pub fn host_uniq(&self) -> &[u8] {
        &self.host_uniq
    }

    /// The established session, if any.
    pub fn session(&self) -> Option<&Session> {
        match &self.state {
            State::Established(session) => Some(session),
            _ => None,
        }
    }

    /// When [`Discovery::handle_timer`] is due: the PADI or PADR retransmission or give-up.
    pub fn deadline(&self) -> Option<Instant> {
        match &self.state {
            State::Soliciting { padi } => Some(padi.deadline),
            State::Requesting { padr, .. } => Some(padr.deadline),
            State::Idle | State::Established(_) => None,
        }
    }

    /// Begins an attempt: a new Host-Uniq and the first PADI. An attempt under way is abandoned; a
    /// session that is up is ended first with a PADT (in the same output), so the AC does not keep it.
    pub fn start(&mut self, now: Instant, random: &mut dyn Random) -> Output {
        let mut output = self.stop();
        let mut host_uniq = Vec::with_capacity(HOST_UNIQ_LEN);
        host_uniq.extend_from_slice(&random.next_u32().to_be_bytes());
        host_uniq.extend_from_slice(&random.next_u32().to_be_bytes());
        self.host_uniq = host_uniq;
        self.last_refusal = None;
        output.frames.append(&mut self.solicit(now, 0).frames);
        output
    }

    /// Gives up whatever is under way. With a session, returns the PADT for it (`stop`).
    pub fn stop(&mut self) -> Output {
        let state = std::mem::replace(&mut self.state, State::Idle);
        let mut output = Output::default();
        if let State::Established(session) = state {
            output
                .frames
                .push(self.terminate(session.session_id, session.ac_mac));
        }
        output
    }

    /// A PADT for `session_id` to `ac_mac` (RFC 2516 §5.5), e.g. for a stale session left by a
    /// previous run of the daemon: the AC would otherwise keep it until its own keepalive gives up.
    /// Does not change the state; counted in [`Counters::padt_sent`].
    pub fn terminate(&mut self, session_id: u16, ac_mac: Mac) -> Frame {
        self.counters.padt_sent = self.counters.padt_sent.saturating_add(1);
        Frame {
            destination: ac_mac,
            packet: DiscoveryPacket {
                code: Code::Padt,
                session_id,
                tags: Vec::new(),
            },
        }
    }

    /// The session ended on the PPP side (LCP down, echo failure): forget it; returns its PADT.
    pub fn session_ended(&mut self) -> Output {
        self.stop()
    }

    /// The deadline has come: retransmit, fall back from PADR to PADI, or give up.
    pub fn handle_timer(&mut self, now: Instant) -> Output {
        match self.state.clone() {
            State::Soliciting { padi } if now >= padi.deadline => {
                if padi.sent >= self.config.timers.max_padi {
                    self.state = State::Idle;
                    return Output {
                        outcome: Some(Outcome::DiscoveryFailed(DiscoveryFailure::NoOffer {
                            padi_sent: padi.sent,
                            last_refusal: self.last_refusal.take(),
                        })),
                        ..Output::default()
                    };
                }
                let padi = self.next_retry(padi, now);
                self.counters.padi_sent = self.counters.padi_sent.saturating_add(1);
                self.state = State::Soliciting { padi };
                self.only(self.padi_frame())
            }
            State::Requesting {
                padi_sent,
                offer,
                padr,
            } if now >= padr.deadline => {
                if padr.sent >= self.config.timers.max_padr {
                    if padi_sent >= self.config.timers.max_padi {
                        self.state = State::Idle;
                        return Output {
                            outcome: Some(Outcome::DiscoveryFailed(DiscoveryFailure::NoOffer {
                                padi_sent,
                                last_refusal: self.last_refusal.take(),
                            })),
                            ..Output::default()
                        };
                    }
                    return self.solicit(now, padi_sent);
                }
                let padr = self.next_retry(padr, now);
                self.request(padi_sent, offer, padr)
            }
            _ => Output::default(),
        }
    }

    /// A discovery packet from Ethernet address `from`.
    pub fn handle_packet(&mut self, from: Mac, packet: &DiscoveryPacket, now: Instant) -> Output {
        let result = match packet.code {
            Code::Pado => self.on_pado(from, packet, now),
            Code::Pads => self.on_pads(from, packet),
            Code::Padt => self.on_padt(from, packet),
            code => Err(Note::Unexpected { code }),
        };
        match result {
            Ok(output) => output,
            Err(note) => {
                self.counters.packets_ignored = self.counters.packets_ignored.saturating_add(1);
                if note == Note::OfferAfterChoice {
                    self.counters.offers_ignored = self.counters.offers_ignored.saturating_add(1);
                }
                Output {
                    note: Some(note),
                    ..Output::default()
                }
            }
        }
    }

    fn on_pado(&mut self, from: Mac, pado: &DiscoveryPacket, now: Instant) -> Result<Output, Note> {
        let padi_sent = match &self.state {
            State::Soliciting { padi } => padi.sent,
            State::Requesting { .. } => {
                // Still judge it, so a stranger's or a refusing offer is not counted as a lost one.
                self.check_offer(from, pado)?;
                return Err(Note::OfferAfterChoice);
            }
            State::Idle | State::Established(_) => {
                return Err(Note::Unexpected { code: Code::Pado })
            }
        };
        let offer = self.check_offer(from, pado)?;
        let padr = Retry {
            sent: 1,
            timeout: self.config.timers.initial_timeout,
            deadline: now + self.config.timers.initial_timeout,
        };
        Ok(self.request(padi_sent, offer, padr))
    }

    /// Sends (or resends) the PADR of `offer` and waits for its PADS until `padr`'s deadline.
    fn request(&mut self, padi_sent: u32, offer: Offer, padr: Retry) -> Output {
        self.counters.padr_sent = self.counters.padr_sent.saturating_add(1);
        let frame = Frame {
            destination: offer.ac_mac,
            packet: offer.padr.clone(),
        };
        self.state = State::Requesting {
            padi_sent,
            offer,
            padr,
        };
        self.only(frame)
    }

    /// The offer a PADO makes, or why it is not one we take.
    fn check_offer(&mut self, from: Mac, pado: &DiscoveryPacket) -> Result<Offer, Note> {
        if !is_unicast(&from) {
            return Err(Note::BadSource);
        }
        self.check_host_uniq(pado)?;
        let ac_name = ac_name_of(pado);
        // The name first: a refusal from an AC we would not take anyway is not worth reporting.
        if let Some(wanted) = &self.config.ac_name {
            if *wanted != ac_name {
                return Err(Note::OtherAcName);
            }
        }
        if let Some((tag, text)) = pado.error_tag().and_then(ErrorTag::of) {
            let refusal = refusal(Code::Pado, from, &ac_name, tag, text);
            self.last_refusal = Some(refusal.clone());
            return Err(Note::OfferRefused(refusal));
        }
        let services: Vec<&Vec<u8>> = pado
            .tags
            .iter()
            .filter_map(|tag| match tag {
                Tag::ServiceName(name) => Some(name),
                _ => None,
            })
            .collect();
        if !self.config.service_name.is_empty()
            && !services.iter().any(|s| **s == self.config.service_name)
        {
            return Err(Note::ServiceNotOffered);
        }
        let mut tags = vec![
            Tag::ServiceName(self.config.service_name.clone()),
            Tag::HostUniq(self.host_uniq.clone()),
        ];
        if let Some(cookie) = pado.find(tag_type::AC_COOKIE) {
            tags.push(cookie.clone());
        }
        if let Some(relay) = pado.find(tag_type::RELAY_SESSION_ID) {
            tags.push(relay.clone());
        }
        let padr = DiscoveryPacket {
            code: Code::Padr,
            session_id: 0,
            tags,
        };
        if padr.encode(&mut Vec::new()).is_err() {
            return Err(Note::OfferTooLarge);
        }
        Ok(Offer {
            ac_mac: from,
            ac_name,
            offered_service: services.first().map(|s| s.to_vec()),
            padr,
        })
    }

    fn on_pads(&mut self, from: Mac, pads: &DiscoveryPacket) -> Result<Output, Note> {
        let State::Requesting { offer, .. } = &self.state else {
            return Err(Note::Unexpected { code: Code::Pads });
        };
        if from != offer.ac_mac {
            return Err(Note::Stranger { code: Code::Pads });
        }
        self.check_host_uniq(pads)?;
        let offer = offer.clone();
        let failure = if let Some((tag, text)) = pads.error_tag().and_then(ErrorTag::of) {
            Some(DiscoveryFailure::Refused(refusal(
                Code::Pads,
                from,
                &offer.ac_name,
                tag,
                text,
            )))
        } else if pads.session_id == 0 {
            Some(DiscoveryFailure::ZeroSessionId {
                ac_mac: from,
                ac: String::from_utf8_lossy(&offer.ac_name).into_owned(),
            })
        } else {
            None
        };
        if let Some(failure) = failure {
            self.state = State::Idle;
            return Ok(Output {
                outcome: Some(Outcome::DiscoveryFailed(failure)),
                ..Output::default()
            });
        }
        let service_name = if self.config.service_name.is_empty() {
            first_service(pads)
                .or(offer.offered_service)
                .unwrap_or_default()
        } else {
            self.config.service_name.clone()
        };
        let session = Session {
            session_id: pads.session_id,
            ac_mac: from,
            ac_name: offer.ac_name,
            service_name,
        };
        self.state = State::Established(session.clone());
        Ok(Output {
            outcome: Some(Outcome::SessionEstablished(session)),
            ..Output::default()
        })
    }

    fn on_padt(&mut self, from: Mac, padt: &DiscoveryPacket) -> Result<Output, Note> {
        let State::Established(session) = &self.state else {
            return Err(Note::Unexpected { code: Code::Padt });
        };
        if from != session.ac_mac || padt.session_id != session.session_id {
            return Err(Note::Stranger { code: Code::Padt });
        }
        let outcome = Outcome::SessionTerminated {
            session_id: session.session_id,
            ac_mac: session.ac_mac,
            reason: padt
                .error_tag()
                .and_then(ErrorTag::of)
                .map(|(tag, text)| format!("{tag}{}", text_suffix(&lossy(text)))),
        };
        self.state = State::Idle;
        Ok(Output {
            outcome: Some(outcome),
            ..Output::default()
        })
    }

    fn check_host_uniq(&self, packet: &DiscoveryPacket) -> Result<(), Note> {
        match packet.find(tag_type::HOST_UNIQ) {
            Some(Tag::HostUniq(value))
                if !self.host_uniq.is_empty() && *value == self.host_uniq =>
            {
                Ok(())
            }
            _ => Err(Note::NotOurHostUniq { code: packet.code }),
        }
    }

    /// Sends a PADI (the first of an attempt or after PADRs went unanswered): `padi_sent` so far.
    fn solicit(&mut self, now: Instant, padi_sent: u32) -> Output {
        let timeout = if padi_sent == 0 {
            self.config.timers.initial_timeout
        } else {
            self.backoff(padi_sent)
        };
        self.state = State::Soliciting {
            padi: Retry {
                sent: padi_sent.saturating_add(1),
                timeout,
                deadline: now + timeout,
            },
        };
        self.counters.padi_sent = self.counters.padi_sent.saturating_add(1);
        self.only(self.padi_frame())
    }

    /// The wait after the `sent`+1-th send: initial · 2^sent, capped.
    fn backoff(&self, sent: u32) -> Duration {
        let t = &self.config.timers;
        t.initial_timeout
            .saturating_mul(2u32.saturating_pow(sent.min(31)))
            .min(t.max_timeout.max(t.initial_timeout))
    }

    fn next_retry(&self, retry: Retry, now: Instant) -> Retry {
        let timeout = retry
            .timeout
            .saturating_mul(2)
            .min(self.config.timers.max_timeout.max(retry.timeout));
        Retry {
            sent: retry.sent.saturating_add(1),
            timeout,
            deadline: now + timeout,
        }
    }

    fn padi_frame(&self) -> Frame {
        Frame {
            destination: BROADCAST,
            packet: DiscoveryPacket {
                code: Code::Padi,
                session_id: 0,
                tags: vec![
                    Tag::ServiceName(self.config.service_name.clone()),
                    Tag::HostUniq(self.host_uniq.clone()),
                ],
            },
        }
    }

    fn only(&self, frame: Frame) -> Output {
        Output {
            frames: vec![frame],
            ..Output::default()
        }
    }
}

fn is_unicast(mac: &Mac) -> bool {
    mac[0] & 1 == 0 && *mac != [0; 6]
}

fn ac_name_of(packet: &DiscoveryPacket) -> Vec<u8> {
    match packet.find(tag_type::AC_NAME) {
        Some(Tag::AcName(name)) => name.clone(),
        _ => Vec::new(),
    }
}

fn first_service(packet: &DiscoveryPacket) -> Option<Vec<u8>> {
    match packet.find(tag_type::SERVICE_NAME) {
        Some(Tag::ServiceName(name)) if !name.is_empty() => Some(name.clone()),
        _ => None,
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn refusal(code: Code, ac_mac: Mac, ac_name: &[u8], tag: ErrorTag, text: &[u8]) -> Refusal {
    Refusal {
        code,
        ac_mac,
        ac: lossy(ac_name),
        tag,
        text: lossy(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use routerd_sansio::Sequence;

    const AC_A: Mac = [0x02, 0, 0, 0, 0, 0xaa];
    const AC_B: Mac = [0x02, 0, 0, 0, 0, 0xbb];
    /// The Host-Uniq [`random`] makes the first attempt use.
    const OUR_UNIQ: [u8; 8] = [0, 0, 0, 1, 0, 0, 0, 2];

    fn random() -> Sequence {
        Sequence::new(vec![1, 2, 3, 4])
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn config(service: &str, ac: Option<&str>) -> DiscoveryConfig {
        DiscoveryConfig {
            service_name: service.as_bytes().to_vec(),
            ac_name: ac.map(|a| a.as_bytes().to_vec()),
            timers: Timers::default(),
        }
    }

    fn started(config: DiscoveryConfig) -> (Discovery, Instant) {
        let mut d = Discovery::new(config).unwrap();
        let t0 = Instant::now();
        let out = d.start(t0, &mut random());
        assert_eq!(out.frames.len(), 1);
        (d, t0)
    }

    fn packet(code: Code, session_id: u16, tags: Vec<Tag>) -> DiscoveryPacket {
        DiscoveryPacket {
            code,
            session_id,
            tags,
        }
    }

    fn pado(ac_name: &str, services: &[&str], extra: Vec<Tag>) -> DiscoveryPacket {
        let mut tags = vec![Tag::AcName(ac_name.as_bytes().to_vec())];
        tags.extend(
            services
                .iter()
                .map(|s| Tag::ServiceName(s.as_bytes().to_vec())),
        );
        tags.push(Tag::HostUniq(OUR_UNIQ.to_vec()));
        tags.extend(extra);
        packet(Code::Pado, 0, tags)
    }

    fn pads(session_id: u16, extra: Vec<Tag>) -> DiscoveryPacket {
        let mut tags = vec![Tag::HostUniq(OUR_UNIQ.to_vec())];
        tags.extend(extra);
        packet(Code::Pads, session_id, tags)
    }

    fn established(config: DiscoveryConfig) -> (Discovery, Instant) {
        let (mut d, t0) = started(config);
        d.handle_packet(AC_A, &pado("A", &[""], vec![]), t0);
        let out = d.handle_packet(AC_A, &pads(0x1234, vec![]), t0);
        assert!(matches!(out.outcome, Some(Outcome::SessionEstablished(_))));
        (d, t0)
    }

    #[test]
    fn padi_is_broadcast_with_service_name_and_random_host_uniq() {
        let mut d = Discovery::new(config("inet", None)).unwrap();
        let out = d.start(Instant::now(), &mut random());
        assert_eq!(
            out.frames,
            vec![Frame {
                destination: BROADCAST,
                packet: packet(
                    Code::Padi,
                    0,
                    vec![
                        Tag::ServiceName(b"inet".to_vec()),
                        Tag::HostUniq(OUR_UNIQ.to_vec())
                    ]
                ),
            }]
        );
        assert_eq!(d.phase(), Phase::Soliciting);
        // Every attempt draws a new Host-Uniq, so late answers to the previous one are not ours.
        let mut rnd = Sequence::new(vec![9, 9]);
        d.start(Instant::now(), &mut rnd);
        assert_eq!(d.host_uniq(), &[0, 0, 0, 9, 0, 0, 0, 9]);
        let mut encoded = Vec::new();
        out.frames[0].packet.encode(&mut encoded).unwrap();
        assert_eq!(
            DiscoveryPacket::decode(&encoded).unwrap(),
            out.frames[0].packet
        );
    }

    #[test]
    fn padi_retransmits_at_1_2_4_8_16_s_then_fails_at_31_s() {
        let (mut d, t0) = started(config("", None));
        let mut sent_at = vec![0];
        let mut failed_at = None;
        for s in 1..=40 {
            let now = t0 + secs(s);
            assert!(d
                .handle_timer(now - Duration::from_millis(1))
                .frames
                .is_empty());
            if d.deadline() != Some(now) {
                continue;
            }
            let out = d.handle_timer(now);
            if !out.frames.is_empty() {
                assert_eq!(out.frames[0].destination, BROADCAST);
                assert_eq!(out.frames[0].packet.code, Code::Padi);
                sent_at.push(s);
            }
            if let Some(outcome) = out.outcome {
                assert_eq!(
                    outcome,
                    Outcome::DiscoveryFailed(DiscoveryFailure::NoOffer {
                        padi_sent: 5,
                        last_refusal: None
                    })
                );
                failed_at = Some(s);
            }
        }
        assert_eq!(sent_at, vec![0, 1, 3, 7, 15]);
        assert_eq!(failed_at, Some(31));
        assert_eq!(d.counters().padi_sent, 5);
        assert_eq!(d.phase(), Phase::Idle);
        assert_eq!(d.deadline(), None);
    }

    #[test]
    fn early_timer_does_nothing() {
        let (mut d, t0) = started(config("", None));
        assert_eq!(
            d.handle_timer(t0 + Duration::from_millis(999)),
            Output::default()
        );
        assert_eq!(d.deadline(), Some(t0 + secs(1)));
    }

    #[test]
    fn pado_gets_a_unicast_padr_echoing_cookie_and_relay_session_id() {
        let (mut d, t0) = started(config("", None));
        let offer = pado(
            "BRAS-1",
            &[""],
            vec![
                Tag::AcCookie(vec![0xc0, 0x0c]),
                Tag::VendorSpecific {
                    vendor_id: 3561,
                    data: vec![1],
                },
                Tag::RelaySessionId(vec![7, 7, 7]),
            ],
        );
        let out = d.handle_packet(AC_A, &offer, t0 + Duration::from_millis(20));
        assert_eq!(
            out.frames,
            vec![Frame {
                destination: AC_A,
                packet: packet(
                    Code::Padr,
                    0,
                    vec![
                        Tag::ServiceName(vec![]),
                        Tag::HostUniq(OUR_UNIQ.to_vec()),
                        Tag::AcCookie(vec![0xc0, 0x0c]),
                        Tag::RelaySessionId(vec![7, 7, 7]),
                    ]
                ),
            }]
        );
        assert_eq!(d.phase(), Phase::Requesting);
        assert_eq!(d.deadline(), Some(t0 + Duration::from_millis(1020)));
    }

    #[test]
    fn padr_retransmits_at_1_2_s_then_falls_back_to_padi_keeping_the_padi_count() {
        let (mut d, t0) = started(config("", None));
        d.handle_timer(t0 + secs(1)); // second PADI, waits 2 s
        let t = t0 + secs(2);
        d.handle_packet(AC_A, &pado("A", &[""], vec![]), t);
        let mut padrs = vec![t];
        for _ in 0..2 {
            let at = d.deadline().unwrap();
            let out = d.handle_timer(at);
            assert_eq!(out.frames[0].destination, AC_A);
            assert_eq!(out.frames[0].packet.code, Code::Padr);
            padrs.push(at);
        }
        assert_eq!(padrs, vec![t, t + secs(1), t + secs(3)]);
        let at = d.deadline().unwrap();
        assert_eq!(at, t + secs(7));
        let out = d.handle_timer(at);
        assert_eq!(out.frames[0].destination, BROADCAST);
        assert_eq!(out.frames[0].packet.code, Code::Padi);
        assert_eq!(d.phase(), Phase::Soliciting);
        // The third PADI of the attempt: it waits 4 s, and two more PADIs are left.
        assert_eq!(d.deadline(), Some(at + secs(4)));
        let c = d.counters();
        assert_eq!((c.padi_sent, c.padr_sent), (3, 3));
        d.handle_timer(at + secs(4));
        d.handle_timer(at + secs(12));
        let out = d.handle_timer(at + secs(28));
        assert!(matches!(
            out.outcome,
            Some(Outcome::DiscoveryFailed(DiscoveryFailure::NoOffer {
                padi_sent: 5,
                ..
            }))
        ));
    }

    #[test]
    fn an_ac_that_offers_but_never_confirms_cannot_keep_discovery_going() {
        let (mut d, t0) = started(config("", None));
        let mut now = t0;
        let mut outcome = None;
        for _ in 0..100 {
            if d.phase() == Phase::Soliciting {
                d.handle_packet(AC_A, &pado("A", &[""], vec![]), now);
            }
            let Some(at) = d.deadline() else { break };
            now = at;
            if let Some(o) = d.handle_timer(now).outcome {
                outcome = Some(o);
                break;
            }
        }
        assert!(matches!(
            outcome,
            Some(Outcome::DiscoveryFailed(DiscoveryFailure::NoOffer {
                padi_sent: 5,
                ..
            }))
        ));
        // 5 PADIs, 3 PADRs after each: 5 × 7 s.
        assert_eq!(now - t0, secs(35));
        assert_eq!(d.counters().padr_sent, 15);
    }

    #[test]
    fn pads_establishes_the_session_with_the_offered_service() {
        let (mut d, t0) = started(config("", None));
        d.handle_packet(AC_A, &pado("BRAS-1", &["fibre", "voip"], vec![]), t0);
        let out = d.handle_packet(AC_A, &pads(0x1234, vec![]), t0);
        let session = Session {
            session_id: 0x1234,
            ac_mac: AC_A,
            ac_name: b"BRAS-1".to_vec(),
            service_name: b"fibre".to_vec(),
        };
        assert_eq!(
            out.outcome,
            Some(Outcome::SessionEstablished(session.clone()))
        );
        assert!(out.frames.is_empty());
        assert_eq!(d.session(), Some(&session));
        assert_eq!(d.deadline(), None);
        assert_eq!(d.phase(), Phase::Established);
    }

    #[test]
    fn ac_is_selected_by_name() {
        let (mut d, t0) = started(config("", Some("B")));
        let out = d.handle_packet(AC_A, &pado("A", &[""], vec![]), t0);
        assert_eq!(out.note, Some(Note::OtherAcName));
        assert!(out.frames.is_empty());
        let out = d.handle_packet(AC_B, &pado("B", &[""], vec![]), t0);
        assert_eq!(out.frames[0].destination, AC_B);
        let out = d.handle_packet(AC_B, &pads(9, vec![]), t0);
        assert!(matches!(
            out.outcome,
            Some(Outcome::SessionEstablished(Session {
                ac_mac: AC_B,
                session_id: 9,
                ..
            }))
        ));
        assert_eq!(d.counters().packets_ignored, 1);
    }

    #[test]
    fn refusal_from_an_ac_we_would_not_take_is_not_reported() {
        let (mut d, t0) = started(config("", Some("B")));
        let refusing = pado("A", &[""], vec![Tag::GenericError(b"busy".to_vec())]);
        assert_eq!(
            d.handle_packet(AC_A, &refusing, t0).note,
            Some(Note::OtherAcName)
        );
        let mut out = Output::default();
        while let Some(at) = d.deadline() {
            out = d.handle_timer(at);
        }
        assert_eq!(
            out.outcome,
            Some(Outcome::DiscoveryFailed(DiscoveryFailure::NoOffer {
                padi_sent: 5,
                last_refusal: None
            }))
        );
    }

    #[test]
    fn ac_is_selected_by_service() {
        let (mut d, t0) = started(config("inet", None));
        let out = d.handle_packet(AC_A, &pado("A", &["voip"], vec![]), t0);
        assert_eq!(out.note, Some(Note::ServiceNotOffered));
        let out = d.handle_packet(AC_A, &pado("A", &[], vec![]), t0);
        assert_eq!(out.note, Some(Note::ServiceNotOffered));
        let out = d.handle_packet(AC_B, &pado("B", &["voip", "inet"], vec![]), t0);
        assert_eq!(out.frames[0].destination, AC_B);
        assert_eq!(
            out.frames[0].packet.find(tag_type::SERVICE_NAME),
            Some(&Tag::ServiceName(b"inet".to_vec()))
        );
        let out = d.handle_packet(AC_B, &pads(9, vec![]), t0);
        let Some(Outcome::SessionEstablished(session)) = out.outcome else {
            panic!("not established: {out:?}");
        };
        assert_eq!(session.service_name, b"inet");
    }

    #[test]
    fn any_service_accepts_an_offer_without_service_name() {
        let (mut d, t0) = started(config("", None));
        let out = d.handle_packet(AC_A, &pado("A", &[], vec![]), t0);
        assert_eq!(out.frames.len(), 1);
        let Some(Outcome::SessionEstablished(session)) =
            d.handle_packet(AC_A, &pads(3, vec![]), t0).outcome
        else {
            panic!("not established");
        };
        assert_eq!(session.service_name, b"");
    }

    #[test]
    fn first_valid_offer_wins_and_later_ones_are_counted() {
        let (mut d, t0) = started(config("", None));
        d.handle_packet(AC_A, &pado("A", &[""], vec![]), t0);
        let out = d.handle_packet(AC_B, &pado("B", &[""], vec![]), t0);
        assert_eq!(out.note, Some(Note::OfferAfterChoice));
        assert!(out.frames.is_empty());
        // A stranger's offer while requesting is not a lost offer.
        let mut theirs = pado("C", &[""], vec![]);
        theirs.tags[2] = Tag::HostUniq(vec![1]);
        let out = d.handle_packet(AC_B, &theirs, t0);
        assert_eq!(out.note, Some(Note::NotOurHostUniq { code: Code::Pado }));
        let c = d.counters();
        assert_eq!((c.offers_ignored, c.packets_ignored), (1, 2));
        // B's PADS is a stranger's: we asked A.
        let out = d.handle_packet(AC_B, &pads(5, vec![]), t0);
        assert_eq!(out.note, Some(Note::Stranger { code: Code::Pads }));
        assert_eq!(d.phase(), Phase::Requesting);
    }

    #[test]
    fn offers_without_our_host_uniq_or_from_group_addresses_are_ignored() {
        let (mut d, t0) = started(config("", None));
        let mut no_uniq = pado("A", &[""], vec![]);
        no_uniq.tags.retain(|t| t.tag_type() != tag_type::HOST_UNIQ);
        assert_eq!(
            d.handle_packet(AC_A, &no_uniq, t0).note,
            Some(Note::NotOurHostUniq { code: Code::Pado })
        );
        let mut other = pado("A", &[""], vec![]);
        other.tags[2] = Tag::HostUniq(OUR_UNIQ[..4].to_vec());
        assert_eq!(
            d.handle_packet(AC_A, &other, t0).note,
            Some(Note::NotOurHostUniq { code: Code::Pado })
        );
        let valid = pado("A", &[""], vec![]);
        assert_eq!(
            d.handle_packet(BROADCAST, &valid, t0).note,
            Some(Note::BadSource)
        );
        assert_eq!(
            d.handle_packet([0; 6], &valid, t0).note,
            Some(Note::BadSource)
        );
        assert_eq!(
            d.handle_packet([0x01, 0, 0x5e, 0, 0, 1], &valid, t0).note,
            Some(Note::BadSource)
        );
        for code in [Code::Padi, Code::Padr] {
            assert_eq!(
                d.handle_packet(AC_A, &packet(code, 0, valid.tags.clone()), t0)
                    .note,
                Some(Note::Unexpected { code })
            );
        }
        assert_eq!(d.phase(), Phase::Soliciting);
        assert_eq!(d.counters().packets_ignored, 7);
        assert_eq!(d.counters().offers_ignored, 0);
    }

    #[test]
    fn packets_before_start_are_ignored() {
        let mut d = Discovery::new(config("", None)).unwrap();
        let t0 = Instant::now();
        // Before start our Host-Uniq is empty: even an AC echoing an empty one is not for us.
        let mut empty = pado("A", &[""], vec![]);
        empty.tags[2] = Tag::HostUniq(vec![]);
        assert_eq!(
            d.handle_packet(AC_A, &empty, t0).note,
            Some(Note::Unexpected { code: Code::Pado })
        );
        assert_eq!(
            d.handle_packet(AC_A, &pads(1, vec![]), t0).note,
            Some(Note::Unexpected { code: Code::Pads })
        );
        assert_eq!(d.handle_timer(t0 + secs(100)), Output::default());
    }

    #[test]
    fn huge_cookie_makes_an_offer_unusable() {
        let (mut d, t0) = started(config("", None));
        // A PADO without AC-Name and Service-Name whose cookie fills it: the PADR adds an (empty)
        // Service-Name tag and no longer fits.
        let offer = packet(
            Code::Pado,
            0,
            vec![
                Tag::HostUniq(OUR_UNIQ.to_vec()),
                Tag::AcCookie(vec![0; MAX_DISCOVERY_PAYLOAD - 16]),
            ],
        );
        offer.encode(&mut Vec::new()).unwrap();
        assert_eq!(
            d.handle_packet(AC_A, &offer, t0).note,
            Some(Note::OfferTooLarge)
        );
        assert_eq!(d.phase(), Phase::Soliciting);
    }

    #[test]
    fn refusing_offer_is_reported_and_named_when_the_attempt_fails() {
        let (mut d, t0) = started(config("inet", None));
        let refusing = pado(
            "A",
            &["inet"],
            vec![Tag::AcSystemError(b"out of sessions".to_vec())],
        );
        let out = d.handle_packet(AC_A, &refusing, t0);
        let refusal = Refusal {
            code: Code::Pado,
            ac_mac: AC_A,
            ac: "A".into(),
            tag: ErrorTag::AcSystemError,
            text: "out of sessions".into(),
        };
        assert_eq!(out.note, Some(Note::OfferRefused(refusal.clone())));
        assert_eq!(d.phase(), Phase::Soliciting);
        let mut out = Output::default();
        while let Some(at) = d.deadline() {
            out = d.handle_timer(at);
        }
        let Some(Outcome::DiscoveryFailed(failure)) = out.outcome else {
            panic!("no failure: {out:?}");
        };
        assert_eq!(
            failure.to_string(),
            "no usable PADO after 5 PADIs (last refusal: access concentrator A (02:00:00:00:00:aa) \
             answered PADO with AC-System-Error: out of sessions)"
        );
        assert_eq!(
            failure,
            DiscoveryFailure::NoOffer {
                padi_sent: 5,
                last_refusal: Some(refusal)
            }
        );
    }

    #[test]
    fn pads_with_an_error_tag_ends_the_attempt_naming_tag_text_and_ac() {
        for (tag, name) in [
            (
                Tag::ServiceNameError(b"no such service".to_vec()),
                "Service-Name-Error",
            ),
            (
                Tag::AcSystemError(b"no such service".to_vec()),
                "AC-System-Error",
            ),
            (
                Tag::GenericError(b"no such service".to_vec()),
                "Generic-Error",
            ),
        ] {
            let (mut d, t0) = started(config("inet", None));
            d.handle_packet(AC_A, &pado("BRAS", &["inet"], vec![]), t0);
            let out = d.handle_packet(AC_A, &pads(0, vec![tag]), t0);
            let Some(Outcome::DiscoveryFailed(failure)) = out.outcome else {
                panic!("no failure: {out:?}");
            };
            assert!(matches!(failure, DiscoveryFailure::Refused(_)));
            assert_eq!(
                failure.to_string(),
                format!(
                    "access concentrator BRAS (02:00:00:00:00:aa) answered PADS with {name}: no such service"
                )
            );
            assert_eq!(d.phase(), Phase::Idle);
            assert_eq!(d.deadline(), None);
        }
    }

    #[test]
    fn pads_with_session_zero_and_no_error_tag_is_a_failure() {
        let (mut d, t0) = started(config("", None));
        d.handle_packet(AC_A, &pado("BRAS", &[""], vec![]), t0);
        let out = d.handle_packet(AC_A, &pads(0, vec![]), t0);
        assert_eq!(
            out.outcome,
            Some(Outcome::DiscoveryFailed(DiscoveryFailure::ZeroSessionId {
                ac_mac: AC_A,
                ac: "BRAS".into()
            }))
        );
    }

    #[test]
    fn pads_without_our_host_uniq_is_ignored() {
        let (mut d, t0) = started(config("", None));
        d.handle_packet(AC_A, &pado("A", &[""], vec![]), t0);
        let foreign = packet(Code::Pads, 7, vec![Tag::HostUniq(vec![1, 2])]);
        assert_eq!(
            d.handle_packet(AC_A, &foreign, t0).note,
            Some(Note::NotOurHostUniq { code: Code::Pads })
        );
        let bare = packet(Code::Pads, 7, vec![]);
        assert_eq!(
            d.handle_packet(AC_A, &bare, t0).note,
            Some(Note::NotOurHostUniq { code: Code::Pads })
        );
        assert_eq!(d.phase(), Phase::Requesting);
    }

    #[test]
    fn padt_ends_our_session_only_from_our_ac_for_our_id() {
        let (mut d, t0) = established(config("", None));
        let padt = |id| packet(Code::Padt, id, vec![]);
        assert_eq!(
            d.handle_packet(AC_B, &padt(0x1234), t0).note,
            Some(Note::Stranger { code: Code::Padt })
        );
        assert_eq!(
            d.handle_packet(AC_A, &padt(0x1235), t0).note,
            Some(Note::Stranger { code: Code::Padt })
        );
        assert_eq!(d.phase(), Phase::Established);
        let out = d.handle_packet(
            AC_A,
            &packet(
                Code::Padt,
                0x1234,
                vec![Tag::GenericError(b"admin reset".to_vec())],
            ),
            t0,
        );
        assert_eq!(
            out.outcome,
            Some(Outcome::SessionTerminated {
                session_id: 0x1234,
                ac_mac: AC_A,
                reason: Some("Generic-Error: admin reset".into())
            })
        );
        assert_eq!(d.phase(), Phase::Idle);
        assert_eq!(d.session(), None);
        // A repeated PADT after the session is gone is not acted on again.
        assert_eq!(
            d.handle_packet(AC_A, &padt(0x1234), t0).note,
            Some(Note::Unexpected { code: Code::Padt })
        );
    }

    #[test]
    fn padt_before_the_session_is_ignored_and_pads_after_it_too() {
        let (mut d, t0) = started(config("", None));
        assert_eq!(
            d.handle_packet(AC_A, &packet(Code::Padt, 1, vec![]), t0)
                .note,
            Some(Note::Unexpected { code: Code::Padt })
        );
        let (mut d, t0) = established(config("", None));
        assert_eq!(
            d.handle_packet(AC_A, &pads(0x9999, vec![]), t0).note,
            Some(Note::Unexpected { code: Code::Pads })
        );
        assert_eq!(d.session().map(|s| s.session_id), Some(0x1234));
    }

    #[test]
    fn stop_sends_padt_for_the_session_and_terminate_serves_a_stale_one() {
        let (mut d, _) = established(config("", None));
        let out = d.stop();
        assert_eq!(
            out.frames,
            vec![Frame {
                destination: AC_A,
                packet: packet(Code::Padt, 0x1234, vec![]),
            }]
        );
        assert_eq!(d.phase(), Phase::Idle);
        assert!(d.stop().frames.is_empty(), "nothing left to terminate");
        let stale = d.terminate(0x0042, AC_B);
        assert_eq!(stale.destination, AC_B);
        assert_eq!(stale.packet, packet(Code::Padt, 0x0042, vec![]));
        assert_eq!(d.counters().padt_sent, 2);
        let mut buf = Vec::new();
        stale.packet.encode(&mut buf).unwrap();
        assert_eq!(buf, [0x11, 0xa7, 0x00, 0x42, 0x00, 0x00]);
    }

    #[test]
    fn start_with_a_session_up_ends_it_with_padt_first() {
        let (mut d, t0) = established(config("", None));
        let out = d.start(t0, &mut Sequence::new(vec![7, 8]));
        let codes: Vec<(Mac, Code)> = out
            .frames
            .iter()
            .map(|f| (f.destination, f.packet.code))
            .collect();
        assert_eq!(codes, vec![(AC_A, Code::Padt), (BROADCAST, Code::Padi)]);
        assert_eq!(d.phase(), Phase::Soliciting);
    }

    #[test]
    fn stop_while_discovering_goes_quiet() {
        let (mut d, t0) = started(config("", None));
        assert_eq!(d.stop(), Output::default());
        assert_eq!(d.deadline(), None);
        assert_eq!(d.handle_timer(t0 + secs(60)), Output::default());
    }

    #[test]
    fn config_is_validated() {
        assert!(Discovery::new(DiscoveryConfig::default()).is_ok());
        let long = DiscoveryConfig {
            service_name: vec![b'x'; MAX_DISCOVERY_PAYLOAD],
            ..DiscoveryConfig::default()
        };
        assert!(matches!(
            Discovery::new(long).err(),
            Some(DiscoveryConfigError::ServiceNameTooLong { .. })
        ));
        let longest = DiscoveryConfig {
            service_name: vec![b'x'; MAX_DISCOVERY_PAYLOAD - FIXED_PADI_TAGS],
            ..DiscoveryConfig::default()
        };
        let mut d = Discovery::new(longest).unwrap();
        let out = d.start(Instant::now(), &mut random());
        out.frames[0].packet.encode(&mut Vec::new()).unwrap();
        let mut eternal = DiscoveryConfig::default();
        eternal.timers.max_timeout = Duration::MAX;
        assert_eq!(
            Discovery::new(eternal).err(),
            Some(DiscoveryConfigError::BadTimers)
        );
        let mut no_padi = DiscoveryConfig::default();
        no_padi.timers.max_padi = 0;
        assert_eq!(
            Discovery::new(no_padi).err(),
            Some(DiscoveryConfigError::BadTimers)
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Who a generated Host-Uniq belongs to; ours is filled in when the packet is delivered.
        #[derive(Debug, Clone)]
        enum Uniq {
            Ours,
            Absent,
            Other(Vec<u8>),
        }

        #[derive(Debug, Clone)]
        enum Event {
            Start,
            Stop,
            /// Advance the clock by this many milliseconds and deliver the timer if due.
            Wait(u64),
            /// A typed packet (made by routerd-proto's types, so every encodable shape occurs).
            Packet {
                from: Mac,
                code: Code,
                session_id: u16,
                uniq: Uniq,
                tags: Vec<Tag>,
            },
            /// Arbitrary bytes through the decoder, delivered when they decode.
            Bytes {
                from: Mac,
                bytes: Vec<u8>,
            },
            /// A PADO shaped like a real one (AC-Name "A", Service-Names "" and "inet", our
            /// Host-Uniq) with a few arbitrary tags more, so the later states are reached often.
            Offer {
                from: Mac,
                extra: Vec<Tag>,
            },
            /// A PADT from `from` (no Host-Uniq: PADT needs none).
            Hangup {
                from: Mac,
                session_id: u16,
            },
            /// Likewise a PADS.
            Confirm {
                from: Mac,
                session_id: u16,
                extra: Vec<Tag>,
            },
        }

        fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
            proptest::collection::vec(any::<u8>(), 0..max)
        }

        fn mac() -> impl Strategy<Value = Mac> {
            prop_oneof![
                4 => Just(AC_A),
                2 => Just(AC_B),
                1 => Just(BROADCAST),
                1 => any::<[u8; 6]>()
            ]
        }

        fn name() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                Just(Vec::new()),
                Just(b"A".to_vec()),
                Just(b"inet".to_vec()),
                bytes(8)
            ]
        }

        fn tag() -> impl Strategy<Value = Tag> {
            prop_oneof![
                name().prop_map(Tag::ServiceName),
                name().prop_map(Tag::AcName),
                bytes(12).prop_map(Tag::HostUniq),
                bytes(40).prop_map(Tag::AcCookie),
                bytes(12).prop_map(Tag::RelaySessionId),
                bytes(12).prop_map(Tag::ServiceNameError),
                bytes(12).prop_map(Tag::AcSystemError),
                bytes(12).prop_map(Tag::GenericError),
                (any::<u32>(), bytes(8))
                    .prop_map(|(vendor_id, data)| Tag::VendorSpecific { vendor_id, data }),
                Just(Tag::EndOfList),
            ]
        }

        fn event() -> impl Strategy<Value = Event> {
            let code = prop_oneof![
                Just(Code::Padi),
                Just(Code::Pado),
                Just(Code::Padr),
                Just(Code::Pads),
                Just(Code::Padt)
            ];
            let uniq = prop_oneof![
                4 => Just(Uniq::Ours),
                1 => Just(Uniq::Absent),
                1 => bytes(10).prop_map(Uniq::Other),
            ];
            prop_oneof![
                2 => Just(Event::Start),
                1 => Just(Event::Stop),
                3 => (0u64..20_000).prop_map(Event::Wait),
                8 => (mac(), code, prop_oneof![Just(0u16), Just(0x1234), any::<u16>()], uniq,
                      proptest::collection::vec(tag(), 0..6))
                    .prop_map(|(from, code, session_id, uniq, tags)| Event::Packet {
                        from, code, session_id, uniq, tags
                    }),
                2 => (mac(), bytes(80)).prop_map(|(from, bytes)| Event::Bytes { from, bytes }),
                4 => (mac(), proptest::collection::vec(tag(), 0..2))
                    .prop_map(|(from, extra)| Event::Offer { from, extra }),
                1 => (mac(), prop_oneof![Just(0x1234u16), any::<u16>()])
                    .prop_map(|(from, session_id)| Event::Hangup { from, session_id }),
                4 => (mac(), prop_oneof![1 => Just(0u16), 2 => Just(0x1234), 1 => any::<u16>()],
                      proptest::collection::vec(tag(), 0..2))
                    .prop_map(|(from, session_id, extra)| Event::Confirm { from, session_id, extra }),
            ]
        }

        fn config() -> impl Strategy<Value = DiscoveryConfig> {
            (
                prop_oneof![Just(Vec::new()), Just(b"inet".to_vec())],
                prop_oneof![Just(None), Just(Some(b"A".to_vec()))],
            )
                .prop_map(|(service_name, ac_name)| DiscoveryConfig {
                    service_name,
                    ac_name,
                    timers: Timers::default(),
                })
        }

        /// Checks one step's output: frames encodable, the PADI budget kept, a session only from a
        /// PADS carrying our Host-Uniq, from the MAC our PADR went to, with a non-zero id.
        fn check(
            d: &Discovery,
            out: &Output,
            now: Instant,
            uniq_before: &[u8],
            padr_to: &mut Option<Mac>,
            padis_this_attempt: &mut u32,
            delivered: Option<(Mac, &DiscoveryPacket)>,
        ) -> Result<(), TestCaseError> {
            for frame in &out.frames {
                prop_assert!(frame.packet.encode(&mut Vec::new()).is_ok());
                match frame.packet.code {
                    Code::Padi => *padis_this_attempt += 1,
                    Code::Padr => *padr_to = Some(frame.destination),
                    _ => {}
                }
            }
            prop_assert!(*padis_this_attempt <= d.config.timers.max_padi);
            if let Some(deadline) = d.deadline() {
                prop_assert!(deadline > now, "a deadline in the past would spin");
            }
            if let Some(Outcome::SessionEstablished(session)) = &out.outcome {
                let Some((from, packet)) = delivered else {
                    return Err(TestCaseError::fail("session without a packet"));
                };
                prop_assert_eq!(packet.code, Code::Pads);
                prop_assert!(!uniq_before.is_empty());
                prop_assert_eq!(
                    packet.find(tag_type::HOST_UNIQ),
                    Some(&Tag::HostUniq(uniq_before.to_vec()))
                );
                prop_assert_eq!(Some(from), *padr_to);
                prop_assert_eq!(session.ac_mac, from);
                prop_assert_ne!(session.session_id, 0);
            }
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn any_packets_in_any_state_never_panic_nor_establish_without_our_host_uniq(
                config in config(),
                start_first in proptest::bool::weighted(0.8),
                events in proptest::collection::vec(event(), 1..40),
            ) {
                let mut d = Discovery::new(config).unwrap();
                let mut random = routerd_sansio::XorShift::new(5);
                let mut now = Instant::now();
                let mut padr_to = None;
                let mut padis = 0;
                // Mostly begin with a PADI; sometimes start idle (packets before start).
                if start_first {
                    let out = d.start(now, &mut random);
                    let uniq = d.host_uniq().to_vec();
                    check(&d, &out, now, &uniq, &mut padr_to, &mut padis, None)?;
                }
                for event in events {
                    let uniq_before = d.host_uniq().to_vec();
                    match event {
                        Event::Start => {
                            padis = 0;
                            padr_to = None;
                            let out = d.start(now, &mut random);
                            let uniq = d.host_uniq().to_vec();
                            check(&d, &out, now, &uniq, &mut padr_to, &mut padis, None)?;
                        }
                        Event::Stop => {
                            let out = d.stop();
                            check(&d, &out, now, &uniq_before, &mut padr_to, &mut padis, None)?;
                        }
                        Event::Wait(ms) => {
                            now += Duration::from_millis(ms);
                            if d.deadline().is_some_and(|at| at <= now) {
                                let out = d.handle_timer(now);
                                check(&d, &out, now, &uniq_before, &mut padr_to, &mut padis, None)?;
                            }
                        }
                        Event::Offer { from, mut extra } => {
                            let mut tags = vec![
                                Tag::AcName(b"A".to_vec()),
                                Tag::ServiceName(Vec::new()),
                                Tag::ServiceName(b"inet".to_vec()),
                                Tag::HostUniq(uniq_before.clone()),
                            ];
                            tags.append(&mut extra);
                            let packet = DiscoveryPacket { code: Code::Pado, session_id: 0, tags };
                            let out = d.handle_packet(from, &packet, now);
                            check(&d, &out, now, &uniq_before, &mut padr_to, &mut padis,
                                  Some((from, &packet)))?;
                        }
                        Event::Hangup { from, session_id } => {
                            let packet = DiscoveryPacket { code: Code::Padt, session_id, tags: vec![] };
                            let was = d.session().cloned();
                            let out = d.handle_packet(from, &packet, now);
                            if let Some(Outcome::SessionTerminated { session_id: id, ac_mac, .. }) = &out.outcome {
                                let was = was.ok_or_else(|| TestCaseError::fail("terminated without a session"))?;
                                prop_assert_eq!((was.session_id, was.ac_mac), (*id, *ac_mac));
                                prop_assert_eq!((session_id, from), (*id, *ac_mac));
                            }
                            check(&d, &out, now, &uniq_before, &mut padr_to, &mut padis,
                                  Some((from, &packet)))?;
                        }
                        Event::Confirm { from, session_id, mut extra } => {
                            let mut tags = vec![Tag::HostUniq(uniq_before.clone())];
                            tags.append(&mut extra);
                            let packet = DiscoveryPacket { code: Code::Pads, session_id, tags };
                            let out = d.handle_packet(from, &packet, now);
                            check(&d, &out, now, &uniq_before, &mut padr_to, &mut padis,
                                  Some((from, &packet)))?;
                        }
                        Event::Packet { from, code, session_id, uniq, mut tags } => {
                            match uniq {
                                Uniq::Ours => tags.insert(0, Tag::HostUniq(uniq_before.clone())),
                                Uniq::Absent => tags.retain(|t| t.tag_type() != tag_type::HOST_UNIQ),
                                Uniq::Other(v) => tags.insert(0, Tag::HostUniq(v)),
                            }
                            let session_id = if matches!(code, Code::Padi | Code::Pado | Code::Padr) {
                                0
                            } else {
                                session_id
                            };
                            let packet = DiscoveryPacket { code, session_id, tags };
                            // Only what the wire can carry: through the encoder and decoder.
                            let mut buf = Vec::new();
                            if packet.encode(&mut buf).is_ok() {
                                let packet = DiscoveryPacket::decode(&buf).unwrap();
                                let out = d.handle_packet(from, &packet, now);
                                check(&d, &out, now, &uniq_before, &mut padr_to, &mut padis,
                                      Some((from, &packet)))?;
                            }
                        }
                        Event::Bytes { from, bytes } => {
                            if let Ok(packet) = DiscoveryPacket::decode(&bytes) {
                                let out = d.handle_packet(from, &packet, now);
                                check(&d, &out, now, &uniq_before, &mut padr_to, &mut padis,
                                      Some((from, &packet)))?;
                            }
                        }
                    }
                }
            }
        }
    }
}
