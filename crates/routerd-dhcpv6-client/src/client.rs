//! The DHCPv6 prefix delegation client of RFC 8415 (IA_PD only), without I/O.
//!
//! Inputs are parsed server messages (with the address they came from), timer expiries, commands and
//! link events; outputs are messages to send (with their destination), lease changes, information
//! (DNS, search list, SNTP, AFTR), events and a note for every message that was not used. The caller
//! owns the clock ([`Now`]), the randomness ([`Random`]) and the socket, and asks
//! [`Client::deadline`] when to deliver the next [`Input::Timer`].
//!
//! ```text
//!   (delay 0..1 s) SOLICIT ──ADVERTISEs for the first RT, best preference──▶ REQUEST ──REPLY──▶ Bound
//!        ▲    └── REPLY with Rapid Commit ───────────────────────────────────────────────────▶ │
//!        │                                                                                    T1
//!        └── expiry ◀── REBIND (all servers) ◀── T2, server.lost ── RENEW (the server) ◀───────┘
//!                         └──────── REPLY ─▶ Bound ◀──────── REPLY ─────┘
//! ```
//!
//! Rules worth their RFC 8415 section:
//! - §15 retransmission (`retransmit.rs`): one transaction id per exchange, kept across
//!   retransmissions; Elapsed Time counts from the first transmission. RENEW gives up at T2, REBIND at
//!   the end of the valid lifetime, REQUEST after 10 transmissions (back to SOLICIT), RELEASE after 4.
//! - §18.2.1 the first SOLICIT waits a random 0..1 s (SOL_MAX_DELAY) so routers that boot together do
//!   not all ask at once. [`ClientConfig::initial_delay`] turns it off (benchmarks, tests); a SOLICIT
//!   after expiry, carrier return or a command is sent at once.
//! - §18.2.9 ADVERTISEs are collected until the first RT runs out (at once on preference 255); the
//!   highest preference wins, the first received on a tie. One with NoPrefixAvail, or without a usable
//!   prefix for our IAID, is not usable. After the first RT the first usable one is taken.
//! - §18.2.10 status codes: UseMulticast resends by multicast and stops unicasting; UnspecFail is like
//!   no answer; NoBinding to RENEW/REBIND sends a REQUEST (the prefix stays in use meanwhile);
//!   NoPrefixAvail to RENEW/REBIND is *not* a renewal (lifetimes and T1/T2 stay, the exchange goes on on
//!   schedule); NoPrefixAvail to REQUEST sends the client back to SOLICIT and the server is passed over
//!   for [`REFUSED_SERVER_HOLD`]; NotOnLink → SOLICIT. Every status other than Success is an event.
//! - §18.2 / §21.24-25 every ORO asks for SOL_MAX_RT (INF_MAX_RT in INFORMATION-REQUEST); a value in
//!   60..86400 s from any server message for us (even an unusable ADVERTISE) caps later SOLICIT
//!   (INFORMATION-REQUEST) retransmissions, including those of the exchange under way.
//! - §14.2 / §21.21 T1/T2 of 0 (or T1 > T2): 0.5 and 0.8 of the preferred lifetime (`lease.rs`).
//! - A REPLY whose prefix differs from the one held (the old one withdrawn with lifetime 0, or a new
//!   prefix after a loss) is a [`LeaseChange::Changed`]; a still-valid old prefix is kept in
//!   [`Client::previous_prefixes`] until its valid lifetime ends (RFC 7084 L-13).
//! - Reconfigure is accepted only with authentication, which this client does not do: it is ignored.
//! - A remembered lease is used, not re-solicited: before T1 it is simply bound, before T2 it is
//!   RENEWed, before expiry REBOUND. Carrier loss pauses everything but the expiry; carrier return
//!   REBINDs (or SOLICITs without a lease) at once — the link may lead elsewhere now.

use crate::duid::to_hex;
use crate::events::{self, attr};
use crate::lease::{choose_prefix, DelegatedPrefix, Information, Lease, PreviousPrefix, INFINITE};
use crate::message::{
    self, encode, option, status_code, status_name, IaPd, IaPrefix, MessageKind, Outgoing,
    OutgoingIaPd, Reply, StatusCode,
};
use crate::retransmit::{self, Params, Retransmission};
use routerd_api::event::{NewEvent, Severity};
use routerd_api::Timestamp;
use routerd_sansio::{resource_event, Random};
use std::fmt;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

pub use routerd_sansio::Now;

/// How long a server that answered a REQUEST with NoPrefixAvail is passed over when soliciting.
pub const REFUSED_SERVER_HOLD: Duration = Duration::from_secs(60);
/// How long a replaced prefix with an infinite valid lifetime is still listed as previous.
pub const INFINITE_PREVIOUS_HOLD: Duration = Duration::from_secs(7200);

/// The client's states: the first five are the spec's lease states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Soliciting,
    Requesting,
    Bound,
    Renewing,
    Rebinding,
    /// After `release`, until `renew`.
    Released,
    /// After `stop`.
    Stopped,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Soliciting => "Soliciting",
            State::Requesting => "Requesting",
            State::Bound => "Bound",
            State::Renewing => "Renewing",
            State::Rebinding => "Rebinding",
            State::Released => "Released",
            State::Stopped => "Stopped",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the client is told to do, besides messages and timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// RENEW now when holding a prefix (REBIND when already rebinding); SOLICIT now without one.
    Renew,
    /// REBIND now (to all servers); SOLICIT now without a prefix or with an expired one.
    Rebind,
    /// Give the prefix back (RELEASE) and stay idle until told to renew.
    Release,
    /// An Information-request exchange (DNS, search list, ...); the lease is not touched.
    InfoRequest,
    /// Stop sending; keep the lease for the next start.
    Stop,
}

impl Command {
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Renew => "renew",
            Command::Rebind => "rebind",
            Command::Release => "release",
            Command::InfoRequest => "info-request",
            Command::Stop => "stop",
        }
    }
}

/// The interface's carrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkEvent {
    CarrierLost,
    CarrierUp,
}

/// An input to [`Client::handle`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Input<'a> {
    /// Begin. Given once the interface is usable (link-local address past DAD).
    Start,
    /// A parsed server message and the address it came from.
    Received {
        reply: &'a Reply,
        from: Ipv6Addr,
    },
    /// [`Client::deadline`] has been reached.
    Timer,
    Link(LinkEvent),
}

/// Where a message goes (UDP port 547 either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// `ff02::1:2`, All_DHCP_Relay_Agents_and_Servers.
    AllServers,
    /// The server's Server Unicast address (RENEW, RELEASE).
    Unicast(Ipv6Addr),
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub kind: MessageKind,
    pub bytes: Vec<u8>,
    pub destination: Destination,
    pub xid: [u8; 3],
    /// Transmissions of this message in its exchange so far, this one included (1 = first).
    pub attempt: u32,
    /// The state it was sent in.
    pub state: State,
}

/// A change of the prefix the client holds; the caller persists it and shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseChange {
    /// A prefix from SOLICIT/REQUEST (or REQUEST after NoBinding).
    Bound(Lease),
    /// Extended by the same server (RENEW).
    Renewed(Lease),
    /// Extended by any server (REBIND).
    Rebound(Lease),
    /// A different prefix than the one held before; `previous` is the old one.
    Changed {
        lease: Lease,
        previous: DelegatedPrefix,
    },
    /// The valid lifetime ran out (or the server withdrew the prefix): it must no longer be used.
    Expired(Lease),
    /// Given back with RELEASE.
    Released(Lease),
}

/// Everything [`Client::handle`] asks of its caller, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Send(Transmit),
    Lease(LeaseChange),
    /// New configuration information (only when it differs from what was known).
    Information(Information),
    Event(NewEvent),
    /// Why a received message was not used, or another thing worth a debug log line.
    Note(String),
    /// Something an operator should see in the log although nothing changed (an unauthenticated
    /// Reconfigure, which protocols.md says is ignored and logged).
    Warning(String),
}

/// How the client behaves, from the resource spec and the interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// The resource name, in events (`resource.name`).
    pub name: String,
    /// Our DUID (Client Identifier).
    pub duid: Vec<u8>,
    pub iaid: u32,
    /// The interface, recorded in leases so a remembered one is only used on the same link.
    pub ifname: String,
    /// Ask for a prefix of this length (an IA Prefix `::/hint` in SOLICIT).
    pub prefix_length_hint: Option<u8>,
    /// Offer the Rapid Commit option in SOLICIT (two-message exchange).
    pub rapid_commit: bool,
    /// Option codes for the Option Request option.
    pub request_options: Vec<u16>,
    /// Wait a random 0..SOL_MAX_DELAY (1 s) before the very first SOLICIT (RFC 8415 §18.2.1). The
    /// daemon keeps this on; benchmarks and tests turn it off to measure the protocol, not the dice.
    pub initial_delay: bool,
}

/// A prefix in use, with its timers on the monotonic clock.
#[derive(Debug, Clone)]
struct Active {
    lease: Lease,
    t1: Option<Instant>,
    t2: Option<Instant>,
    expiry: Option<Instant>,
}

fn after(start: Instant, seconds: u32) -> Option<Instant> {
    (seconds != INFINITE).then(|| start + Duration::from_secs(u64::from(seconds)))
}

impl Active {
    /// Timers counted from `start`, the monotonic instant of `lease.acquired_at`.
    fn new(lease: Lease, start: Instant) -> Active {
        Active {
            t1: after(start, lease.t1_seconds),
            t2: after(start, lease.t2_seconds),
            expiry: after(start, lease.prefix.valid_lifetime),
            lease,
        }
    }

    /// Timers of a remembered lease, placed on the monotonic clock by its wall-clock times.
    fn remembered(lease: Lease, now: Now) -> Active {
        Active {
            t1: lease.renew_at().map(|t| now.mono_of(t)),
            t2: lease.rebind_at().map(|t| now.mono_of(t)),
            expiry: lease.expires_at().map(|t| now.mono_of(t)),
            lease,
        }
    }

    fn expired(&self, now: Instant) -> bool {
        self.expiry.is_some_and(|e| e <= now)
    }
}

/// A server that answered a SOLICIT with a usable ADVERTISE (or the one a REQUEST goes to).
#[derive(Debug, Clone)]
struct Candidate {
    server_id: Vec<u8>,
    preference: u8,
    /// What it offered (REQUEST asks for it).
    prefix: Option<DelegatedPrefix>,
}

/// Where an exchange stands. The retransmission parameters live in exactly one place: here until the
/// first transmission, then in the [`Retransmission`] built from them (a server's SOL_MAX_RT changes
/// whichever it is).
#[derive(Debug, Clone)]
enum Progress {
    /// Not sent yet. `at` is when the first transmission is due (after the initial delay); `None`
    /// only while it is being sent at once.
    Waiting {
        at: Option<Instant>,
        params: Params,
        /// MRD as an instant (RENEW: T2, REBIND: expiry).
        until: Option<Instant>,
    },
    Sent(Retransmission),
}

/// One message exchange in progress.
#[derive(Debug, Clone)]
struct Exchange {
    outgoing: Outgoing,
    destination: Destination,
    progress: Progress,
    /// When it was first sent (wall clock): the start of a lease it brings.
    began_wall: Option<Timestamp>,
    /// The server a REQUEST or RENEW is addressed to.
    server: Option<Candidate>,
}

impl Exchange {
    fn kind(&self) -> MessageKind {
        self.outgoing.kind
    }

    fn xid(&self) -> [u8; 3] {
        self.outgoing.xid
    }

    fn timeout(&self) -> Option<Instant> {
        match &self.progress {
            Progress::Sent(r) => Some(r.timeout()),
            Progress::Waiting { at, .. } => *at,
        }
    }

    /// The retransmission state once the first message went out.
    fn sent(&self) -> Option<&Retransmission> {
        match &self.progress {
            Progress::Sent(r) => Some(r),
            Progress::Waiting { .. } => None,
        }
    }

    fn attempt(&self) -> u32 {
        self.sent().map_or(0, |r| r.sent)
    }
}

/// Which exchange a received message belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Main,
    Info,
}

/// The state machine. See the module documentation.
pub struct Client {
    config: ClientConfig,
    random: Box<dyn Random>,
    state: State,
    started: bool,
    link_up: bool,
    /// SOLICIT, REQUEST, RENEW, REBIND or RELEASE in progress.
    exchange: Option<Exchange>,
    /// An Information-request in progress (independent of the lease).
    info_exchange: Option<Exchange>,
    /// Usable ADVERTISEs collected during the first RT of a SOLICIT, in order of arrival.
    advertises: Vec<Candidate>,
    active: Option<Active>,
    /// The prefix held before a loss (expiry, release, restart with an expired lease), to report a
    /// different new one as a change.
    last_prefix: Option<DelegatedPrefix>,
    /// Prefixes held before the current one, each with its `valid_until` on the monotonic clock.
    previous: Vec<(PreviousPrefix, Instant)>,
    information: Option<Information>,
    last_status: Option<(StatusCode, String)>,
    /// Servers passed over until the instant (NoPrefixAvail to REQUEST).
    refused: Vec<(Vec<u8>, Instant)>,
    /// The server asked for multicast (UseMulticast): no more unicast until the next lease.
    unicast_refused: bool,
    /// SOL_MAX_RT and INF_MAX_RT in force: the RFC's 3600 s until a server sends its own (§21.24/25).
    sol_max_rt: Duration,
    inf_max_rt: Duration,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("state", &self.state)
            .field(
                "prefix",
                &self.active.as_ref().map(|a| a.lease.prefix.to_string()),
            )
            .finish_non_exhaustive()
    }
}

/// `codes` plus `code` if it is not there yet.
fn with_code(codes: &[u16], code: u16) -> Vec<u16> {
    let mut out = codes.to_vec();
    if !out.contains(&code) {
        out.push(code);
    }
    out
}

/// A transaction id: 3 random bytes.
fn new_xid(random: &mut dyn Random) -> [u8; 3] {
    let v = random.next_u32().to_be_bytes();
    [v[1], v[2], v[3]]
}

/// An IA Prefix naming `p` without lifetimes (the server decides them).
fn prefix_option(p: &DelegatedPrefix) -> IaPrefix {
    IaPrefix {
        preferred_lifetime: 0,
        valid_lifetime: 0,
        length: p.length,
        prefix: p.prefix,
        status: None,
    }
}

impl Client {
    /// A client that has not started yet. `remembered` is the persisted lease (the caller checked its
    /// identity); when it is still valid at `now`, [`Input::Start`] uses it instead of soliciting.
    pub fn new(
        config: ClientConfig,
        random: Box<dyn Random>,
        remembered: Option<Lease>,
        now: Now,
    ) -> Client {
        let last_prefix = remembered.as_ref().map(|l| l.prefix.clone());
        let active = remembered
            .filter(|l| l.valid_at(now.wall))
            .map(|l| Active::remembered(l, now));
        Client {
            state: if active.is_some() {
                State::Bound
            } else {
                State::Soliciting
            },
            config,
            random,
            started: false,
            link_up: true,
            exchange: None,
            info_exchange: None,
            advertises: Vec::new(),
            active,
            last_prefix,
            previous: Vec::new(),
            information: None,
            last_status: None,
            refused: Vec::new(),
            unicast_refused: false,
            sol_max_rt: retransmit::SOLICIT
                .mrt
                .unwrap_or(retransmit::MAX_RT_OPTION_MAX),
            inf_max_rt: retransmit::INFORMATION_REQUEST
                .mrt
                .unwrap_or(retransmit::MAX_RT_OPTION_MAX),
        }
    }

    /// Restores what `lease.json` kept besides the lease: previous prefixes still valid at `now` and
    /// the last information.
    pub fn restore(
        &mut self,
        previous: Vec<PreviousPrefix>,
        information: Option<Information>,
        now: Now,
    ) {
        for p in previous {
            if now.wall < p.valid_until {
                let until = now.mono_of(p.valid_until);
                self.previous.push((p, until));
            }
        }
        self.information = information.filter(|i| !i.is_empty());
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The prefix in use (also while renewing, rebinding, or soliciting again after NotOnLink).
    pub fn lease(&self) -> Option<&Lease> {
        self.active.as_ref().map(|a| &a.lease)
    }

    /// Prefixes held before the current one and still valid.
    pub fn previous_prefixes(&self) -> Vec<PreviousPrefix> {
        self.previous.iter().map(|(p, _)| p.clone()).collect()
    }

    pub fn information(&self) -> Option<&Information> {
        self.information.as_ref()
    }

    /// The last status code a server sent (other than in a message that bound a prefix since).
    pub fn last_status(&self) -> Option<(StatusCode, String)> {
        self.last_status.clone()
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Whether [`Input::Start`] has been given: the driver starts the client once, the first time
    /// the link is usable, and reports changes as link events afterwards.
    pub fn started(&self) -> bool {
        self.started
    }

    /// What the last link event said (true before any): the driver compares it with the link it sees
    /// to know whether there is a change to report.
    pub fn link_up(&self) -> bool {
        self.link_up
    }

    /// Replaces what may change without touching the lease (hint, rapid commit, requested options,
    /// initial delay). DUID, IAID and interface are the client's identity and stay.
    pub fn update_config(&mut self, mut config: ClientConfig) {
        config.duid = self.config.duid.clone();
        config.iaid = self.config.iaid;
        config.ifname = self.config.ifname.clone();
        self.config = config;
    }

    /// When to deliver the next [`Input::Timer`]; `None` when nothing is scheduled.
    pub fn deadline(&self) -> Option<Instant> {
        if !self.started || self.state == State::Stopped {
            return None;
        }
        let mut candidates: Vec<Option<Instant>> =
            vec![self.previous.iter().map(|&(_, until)| until).min()];
        if let Some(a) = &self.active {
            candidates.push(a.expiry);
            if self.link_up && self.state == State::Bound {
                candidates.push(a.t1);
                candidates.push(a.t2);
            }
        }
        if self.link_up {
            candidates.push(self.exchange.as_ref().and_then(Exchange::timeout));
            candidates.push(self.info_exchange.as_ref().and_then(Exchange::timeout));
        }
        candidates.into_iter().flatten().min()
    }

    /// Feeds one input at `now`; returns what to do, in order.
    pub fn handle(&mut self, input: Input<'_>, now: Now) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Start => self.start(now, &mut out),
            Input::Received { reply, from } => self.received(reply, from, now, &mut out),
            Input::Timer => self.timer(now, &mut out),
            Input::Link(ev) => self.link(ev, now, &mut out),
        }
        out
    }

    /// Carries out a command; `Err` says why it is not possible now (nothing changed then).
    pub fn command(&mut self, command: Command, now: Now) -> Result<Vec<Output>, String> {
        if self.state == State::Stopped {
            return Err("the client is stopped".into());
        }
        let mut out = Vec::new();
        match command {
            Command::Stop => {
                self.state = State::Stopped;
                self.exchange = None;
                self.info_exchange = None;
                self.advertises.clear();
            }
            Command::Renew => {
                self.check_can_send()?;
                match (&self.active, self.state) {
                    (Some(_), State::Rebinding) => self.begin_rebind(false, now, &mut out),
                    (Some(_), _) => self.begin_renew(now, &mut out),
                    (None, _) => self.begin_solicit(false, now, &mut out),
                }
            }
            // The uplink came back (a PPPoE session redialled): confirm the prefix with any server at
            // once, or ask for one at once when there is none to confirm. A SOLICIT backing off towards
            // SOL_MAX_RT starts over from SOL_TIMEOUT, so the prefix returns with the WAN.
            Command::Rebind => {
                self.check_can_send()?;
                match &self.active {
                    Some(a) if a.expired(now.mono) => self.expire(now, &mut out),
                    Some(_) => self.begin_rebind(false, now, &mut out),
                    None => self.begin_solicit(false, now, &mut out),
                }
            }
            Command::Release => self.release(now, &mut out)?,
            Command::InfoRequest => {
                self.check_can_send()?;
                self.begin_info_request(now, &mut out);
            }
        }
        Ok(out)
    }

    fn check_can_send(&self) -> Result<(), String> {
        if !self.started {
            return Err("the client has not started (interface missing or down)".into());
        }
        if !self.link_up {
            return Err(format!(
                "{} has no carrier or no usable link-local address",
                self.config.ifname
            ));
        }
        Ok(())
    }

    fn start(&mut self, now: Now, out: &mut Vec<Output>) {
        if self.started {
            out.push(Output::Note("already started".into()));
            return;
        }
        self.started = true;
        self.link_up = true;
        match &self.active {
            Some(a) if a.expired(now.mono) => self.expire(now, out),
            Some(a) => {
                let due = |t: Option<Instant>| t.is_some_and(|t| t <= now.mono);
                if due(a.t2) {
                    self.begin_rebind(false, now, out);
                } else if due(a.t1) {
                    self.begin_renew(now, out);
                } else {
                    self.state = State::Bound;
                    out.push(Output::Note(format!(
                        "using the remembered prefix {} until T1",
                        a.lease.prefix
                    )));
                }
            }
            None => self.begin_solicit(self.config.initial_delay, now, out),
        }
    }

    // ----- exchanges -------------------------------------------------------------------------------

    fn ia_pd(&self, prefix: Option<&DelegatedPrefix>) -> OutgoingIaPd {
        let prefixes = match prefix {
            Some(p) => vec![prefix_option(p)],
            None => self
                .config
                .prefix_length_hint
                .map(|length| IaPrefix {
                    preferred_lifetime: 0,
                    valid_lifetime: 0,
                    length,
                    prefix: Ipv6Addr::UNSPECIFIED,
                    status: None,
                })
                .into_iter()
                .collect(),
        };
        OutgoingIaPd {
            iaid: self.config.iaid,
            t1: 0,
            t2: 0,
            prefixes,
        }
    }

    fn outgoing(
        &mut self,
        kind: MessageKind,
        server_id: Option<Vec<u8>>,
        ia_pd: Option<OutgoingIaPd>,
    ) -> Outgoing {
        // RFC 8415 §18.2: every ORO carries SOL_MAX_RT (INF_MAX_RT for Information-request), so a
        // server can slow down clients that SOLICIT in vain.
        let oro = match kind {
            MessageKind::Release => Vec::new(),
            MessageKind::InformationRequest => {
                with_code(&self.config.request_options, option::INF_MAX_RT)
            }
            _ => with_code(&self.config.request_options, option::SOL_MAX_RT),
        };
        Outgoing {
            kind,
            xid: new_xid(self.random.as_mut()),
            client_id: self.config.duid.clone(),
            server_id,
            elapsed_centiseconds: 0,
            ia_pd,
            oro,
            rapid_commit: kind == MessageKind::Solicit && self.config.rapid_commit,
        }
    }

    /// Where RENEW and RELEASE go: the Server Unicast address unless the server refused unicast.
    fn server_destination(&self) -> Destination {
        match self.active.as_ref().and_then(|a| a.lease.server_unicast) {
            Some(addr) if !self.unicast_refused => Destination::Unicast(addr),
            _ => Destination::AllServers,
        }
    }

    /// Starts `exchange` in the main slot: sends its first message now, or after `delay`.
    fn start_exchange(
        &mut self,
        mut exchange: Exchange,
        delay: Option<Duration>,
        now: Now,
        out: &mut Vec<Output>,
    ) {
        match delay {
            Some(d) => {
                if let Progress::Waiting { at, .. } = &mut exchange.progress {
                    *at = Some(now.mono + d);
                }
                self.exchange = Some(exchange);
            }
            None => {
                self.exchange = Some(exchange);
                self.first_transmission(Slot::Main, now, out);
            }
        }
    }

    fn new_exchange(
        &mut self,
        kind: MessageKind,
        params: Params,
        server: Option<Candidate>,
        ia_pd: Option<OutgoingIaPd>,
        destination: Destination,
        until: Option<Instant>,
    ) -> Exchange {
        let outgoing = self.outgoing(kind, server.as_ref().map(|s| s.server_id.clone()), ia_pd);
        Exchange {
            outgoing,
            destination,
            progress: Progress::Waiting {
                at: None,
                params,
                until,
            },
            began_wall: None,
            server,
        }
    }

    fn slot_mut(&mut self, slot: Slot) -> Option<&mut Exchange> {
        match slot {
            Slot::Main => self.exchange.as_mut(),
            Slot::Info => self.info_exchange.as_mut(),
        }
    }

    fn first_transmission(&mut self, slot: Slot, now: Now, out: &mut Vec<Output>) {
        let random = self.random.as_mut();
        let exchange = match slot {
            Slot::Main => self.exchange.as_mut(),
            Slot::Info => self.info_exchange.as_mut(),
        };
        let Some(ex) = exchange else {
            return;
        };
        let Progress::Waiting { params, until, .. } = ex.progress else {
            return;
        };
        // RFC 8415 §15: RAND is strictly positive for the first SOLICIT's RT.
        let positive = ex.kind() == MessageKind::Solicit;
        ex.began_wall = Some(now.wall);
        ex.progress = Progress::Sent(Retransmission::first(
            params, now.mono, until, positive, random,
        ));
        self.transmit(slot, now, out);
        self.first_send_event(slot, now, out);
    }

    fn retransmit(&mut self, slot: Slot, now: Now, out: &mut Vec<Output>) {
        let random = self.random.as_mut();
        let exchange = match slot {
            Slot::Main => self.exchange.as_mut(),
            Slot::Info => self.info_exchange.as_mut(),
        };
        if let Some(Progress::Sent(r)) = exchange.map(|e| &mut e.progress) {
            r.retransmitted(now.mono, random);
        }
        self.transmit(slot, now, out);
    }

    /// Encodes and sends the exchange's message with the current Elapsed Time.
    fn transmit(&mut self, slot: Slot, now: Now, out: &mut Vec<Output>) {
        let state = self.state;
        let Some(ex) = self.slot_mut(slot) else {
            return;
        };
        let Progress::Sent(r) = &ex.progress else {
            return;
        };
        ex.outgoing.elapsed_centiseconds = r.elapsed_centiseconds(now.mono);
        let attempt = r.sent;
        match encode(&ex.outgoing) {
            Ok(bytes) => out.push(Output::Send(Transmit {
                kind: ex.kind(),
                bytes,
                destination: ex.destination,
                xid: ex.xid(),
                attempt,
                state,
            })),
            Err(e) => out.push(Output::Note(format!("{} not sent: {e}", ex.kind()))),
        }
    }

    fn first_send_event(&mut self, slot: Slot, now: Now, out: &mut Vec<Output>) {
        let Some(ex) = (match slot {
            Slot::Main => self.exchange.as_ref(),
            Slot::Info => self.info_exchange.as_ref(),
        }) else {
            return;
        };
        let (topic, message) = match ex.kind() {
            MessageKind::Solicit => (events::SOLICIT_SENT, "SOLICIT sent".to_string()),
            MessageKind::Request => (events::REQUEST_SENT, "REQUEST sent".to_string()),
            _ => return,
        };
        let mut e = self
            .event(topic, Severity::Info, message, now)
            .attr(attr::ATTEMPT, ex.attempt().to_string())
            .attr(attr::IAID, self.config.iaid.to_string());
        if let Some(p) = ex
            .outgoing
            .ia_pd
            .as_ref()
            .and_then(|ia| ia.prefixes.first())
        {
            e = e.attr(attr::PREFIX, format!("{}/{}", p.prefix, p.length));
        }
        if let Some(s) = &ex.server {
            e = e.attr(attr::SERVER_DUID, to_hex(&s.server_id));
        }
        out.push(Output::Event(e));
    }

    fn begin_solicit(&mut self, delay: bool, now: Now, out: &mut Vec<Output>) {
        self.state = State::Soliciting;
        self.advertises.clear();
        let ia = self.ia_pd(None);
        let params = Params {
            mrt: Some(self.sol_max_rt),
            ..retransmit::SOLICIT
        };
        let ex = self.new_exchange(
            MessageKind::Solicit,
            params,
            None,
            Some(ia),
            Destination::AllServers,
            None,
        );
        let delay = delay
            .then(|| retransmit::initial_delay(retransmit::SOL_MAX_DELAY, self.random.as_mut()));
        self.start_exchange(ex, delay, now, out);
    }

    fn begin_request(&mut self, server: Candidate, now: Now, out: &mut Vec<Output>) {
        self.state = State::Requesting;
        self.advertises.clear();
        let ia = self.ia_pd(server.prefix.as_ref());
        let ex = self.new_exchange(
            MessageKind::Request,
            retransmit::REQUEST,
            Some(server),
            Some(ia),
            Destination::AllServers,
            None,
        );
        self.start_exchange(ex, None, now, out);
    }

    fn begin_renew(&mut self, now: Now, out: &mut Vec<Output>) {
        let Some(a) = &self.active else {
            return;
        };
        let server = Candidate {
            server_id: a.lease.server_duid.clone(),
            preference: 0,
            prefix: Some(a.lease.prefix.clone()),
        };
        let until = a.t2;
        let ia = self.ia_pd(server.prefix.as_ref());
        let destination = self.server_destination();
        self.state = State::Renewing;
        let ex = self.new_exchange(
            MessageKind::Renew,
            retransmit::RENEW,
            Some(server),
            Some(ia),
            destination,
            until,
        );
        self.start_exchange(ex, None, now, out);
    }

    /// REBIND to all servers; `server_lost` when the RENEW went unanswered until T2.
    fn begin_rebind(&mut self, server_lost: bool, now: Now, out: &mut Vec<Output>) {
        let Some(a) = &self.active else {
            return;
        };
        let prefix = a.lease.prefix.clone();
        let until = a.expiry;
        let server_duid = a.lease.server_duid.clone();
        if server_lost {
            out.push(Output::Event(
                self.event(
                    events::SERVER_LOST,
                    Severity::Warning,
                    format!(
                        "no answer to RENEW from server {} by T2; rebinding {prefix} with any server",
                        to_hex(&server_duid)
                    ),
                    now,
                )
                .attr(attr::SERVER_DUID, to_hex(&server_duid))
                .attr(attr::PREFIX, prefix.to_string()),
            ));
        }
        let ia = self.ia_pd(Some(&prefix));
        self.state = State::Rebinding;
        let ex = self.new_exchange(
            MessageKind::Rebind,
            retransmit::REBIND,
            None,
            Some(ia),
            Destination::AllServers,
            until,
        );
        self.start_exchange(ex, None, now, out);
    }

    fn begin_info_request(&mut self, now: Now, out: &mut Vec<Output>) {
        let params = Params {
            mrt: Some(self.inf_max_rt),
            ..retransmit::INFORMATION_REQUEST
        };
        let ex = self.new_exchange(
            MessageKind::InformationRequest,
            params,
            None,
            None,
            Destination::AllServers,
            None,
        );
        self.info_exchange = Some(ex);
        self.first_transmission(Slot::Info, now, out);
    }

    fn release(&mut self, now: Now, out: &mut Vec<Output>) -> Result<(), String> {
        let destination = self.server_destination();
        let Some(active) = self.active.take() else {
            return Err("no prefix to release".into());
        };
        let lease = active.lease;
        self.info_exchange = None;
        self.advertises.clear();
        self.state = State::Released;
        let server = Candidate {
            server_id: lease.server_duid.clone(),
            preference: 0,
            prefix: Some(lease.prefix.clone()),
        };
        let ia = self.ia_pd(server.prefix.as_ref());
        let ex = self.new_exchange(
            MessageKind::Release,
            retransmit::RELEASE,
            Some(server),
            Some(ia),
            destination,
            None,
        );
        // Without a carrier (or before start) the prefix is given up locally; the server lets the
        // binding run out.
        if self.check_can_send().is_ok() {
            self.start_exchange(ex, None, now, out);
        } else {
            self.exchange = None;
        }
        out.push(Output::Event(self.lease_event(
            events::PREFIX_RELEASED,
            Severity::Info,
            format!("delegated prefix {} released", lease.prefix),
            &lease,
            now,
        )));
        self.last_prefix = Some(lease.prefix.clone());
        self.last_status = None;
        out.push(Output::Lease(LeaseChange::Released(lease)));
        Ok(())
    }

    /// The valid lifetime ran out, or the server withdrew the prefix: let it go and SOLICIT.
    fn expire(&mut self, now: Now, out: &mut Vec<Output>) {
        let Some(active) = self.active.take() else {
            return;
        };
        let lease = active.lease;
        out.push(Output::Event(self.lease_event(
            events::PREFIX_EXPIRED,
            Severity::Warning,
            format!("delegated prefix {} expired", lease.prefix),
            &lease,
            now,
        )));
        self.last_prefix = Some(lease.prefix.clone());
        out.push(Output::Lease(LeaseChange::Expired(lease)));
        self.exchange = None;
        self.unicast_refused = false;
        if self.started && self.link_up {
            self.begin_solicit(false, now, out);
        } else {
            self.state = State::Soliciting;
        }
    }

    // ----- timers ----------------------------------------------------------------------------------

    fn timer(&mut self, now: Now, out: &mut Vec<Output>) {
        if !self.started || self.state == State::Stopped {
            return;
        }
        self.drop_previous(now);
        if self.active.as_ref().is_some_and(|a| a.expired(now.mono)) {
            self.expire(now, out);
        }
        if !self.link_up {
            return;
        }
        if self
            .info_exchange
            .as_ref()
            .and_then(Exchange::timeout)
            .is_some_and(|t| t <= now.mono)
        {
            self.info_timeout(now, out);
        }
        if self
            .exchange
            .as_ref()
            .and_then(Exchange::timeout)
            .is_some_and(|t| t <= now.mono)
        {
            self.exchange_timeout(now, out);
        }
        if self.state == State::Bound {
            let (t1, t2) = match &self.active {
                Some(a) => (a.t1, a.t2),
                None => (None, None),
            };
            let due = |t: Option<Instant>| t.is_some_and(|t| t <= now.mono);
            if due(t2) {
                self.begin_rebind(false, now, out);
            } else if due(t1) {
                self.begin_renew(now, out);
            }
        }
    }

    fn drop_previous(&mut self, now: Now) {
        self.previous.retain(|&(_, until)| until > now.mono);
    }

    fn info_timeout(&mut self, now: Now, out: &mut Vec<Output>) {
        let waiting = self
            .info_exchange
            .as_ref()
            .is_some_and(|e| e.sent().is_none());
        if waiting {
            self.first_transmission(Slot::Info, now, out);
        } else {
            self.retransmit(Slot::Info, now, out);
        }
    }

    fn exchange_timeout(&mut self, now: Now, out: &mut Vec<Output>) {
        let Some(ex) = &self.exchange else {
            return;
        };
        let Some(r) = ex.sent() else {
            self.first_transmission(Slot::Main, now, out);
            return;
        };
        let kind = ex.kind();
        let first_rt_over = r.sent == 1;
        if r.exhausted(now.mono) {
            match kind {
                MessageKind::Request => {
                    out.push(Output::Note(format!(
                        "no REPLY after {} REQUESTs; soliciting again",
                        r.sent
                    )));
                    self.begin_solicit(false, now, out);
                }
                MessageKind::Renew => self.begin_rebind(true, now, out),
                MessageKind::Release => {
                    out.push(Output::Note(format!(
                        "RELEASE not answered after {} transmissions; the prefix is released anyway",
                        r.sent
                    )));
                    self.exchange = None;
                }
                _ => {
                    // REBIND runs until the expiry, which `timer` handled first; anything else has
                    // no limit. Start over rather than stall.
                    self.exchange = None;
                    if self.active.is_some() {
                        self.state = State::Bound;
                    } else {
                        self.begin_solicit(false, now, out);
                    }
                }
            }
            return;
        }
        if kind == MessageKind::Solicit && first_rt_over && !self.advertises.is_empty() {
            if let Some(best) = self.best_advertise() {
                self.begin_request(best, now, out);
                return;
            }
        }
        self.retransmit(Slot::Main, now, out);
    }

    /// Highest preference; the first received on a tie.
    fn best_advertise(&mut self) -> Option<Candidate> {
        let mut best: Option<&Candidate> = None;
        for c in &self.advertises {
            if best.is_none_or(|b| c.preference > b.preference) {
                best = Some(c);
            }
        }
        best.cloned()
    }

    // ----- link ------------------------------------------------------------------------------------

    fn link(&mut self, ev: LinkEvent, now: Now, out: &mut Vec<Output>) {
        match ev {
            LinkEvent::CarrierLost => {
                if !self.link_up {
                    return;
                }
                self.link_up = false;
                out.push(Output::Note("carrier lost".into()));
                if matches!(self.state, State::Released | State::Stopped) {
                    return;
                }
                self.exchange = None;
                self.info_exchange = None;
                self.advertises.clear();
                self.state = if self.active.is_some() {
                    State::Bound
                } else {
                    State::Soliciting
                };
            }
            LinkEvent::CarrierUp => {
                if self.link_up {
                    return;
                }
                self.link_up = true;
                out.push(Output::Note("carrier back".into()));
                if !self.started || matches!(self.state, State::Released | State::Stopped) {
                    return;
                }
                match &self.active {
                    Some(a) if a.expired(now.mono) => self.expire(now, out),
                    Some(_) => self.begin_rebind(false, now, out),
                    None => self.begin_solicit(false, now, out),
                }
            }
        }
    }

    // ----- received messages -----------------------------------------------------------------------

    fn received(&mut self, r: &Reply, from: Ipv6Addr, now: Now, out: &mut Vec<Output>) {
        if r.kind == MessageKind::Reconfigure {
            out.push(Output::Warning(format!(
                "RECONFIGURE from {from} ignored: it is accepted only when authenticated, and this \
                 client does not do DHCPv6 authentication"
            )));
            return;
        }
        let slot = match self.addressed_to_us(r) {
            Ok(slot) => slot,
            Err(why) => {
                out.push(Output::Note(format!("{} ignored: {why}", r.kind)));
                return;
            }
        };
        self.max_rt_options(r, out);
        self.status_events(r, now, out);
        if slot == Slot::Info {
            self.info_reply(r, now, out);
            return;
        }
        let Some(kind) = self.exchange.as_ref().map(Exchange::kind) else {
            return;
        };
        match (kind, r.kind) {
            (MessageKind::Solicit, MessageKind::Advertise) => self.advertise(r, from, now, out),
            (MessageKind::Solicit, MessageKind::Reply) => {
                if !(self.config.rapid_commit && r.rapid_commit) {
                    out.push(Output::Note(
                        "REPLY to SOLICIT ignored: no Rapid Commit on both sides".into(),
                    ));
                    return;
                }
                self.reply(kind, r, from, now, out);
            }
            (
                MessageKind::Request | MessageKind::Renew | MessageKind::Rebind,
                MessageKind::Reply,
            ) => self.reply(kind, r, from, now, out),
            (MessageKind::Release, MessageKind::Reply) => {
                out.push(Output::Note("RELEASE acknowledged".into()));
                self.exchange = None;
            }
            (sent, got) => out.push(Output::Note(format!(
                "{got} ignored: not expected in answer to {sent} ({})",
                self.state
            ))),
        }
    }

    /// SOL_MAX_RT / INF_MAX_RT from any message for us, whatever its status (RFC 8415 §18.2.9: a server
    /// with nothing to give uses them to slow clients down). Out-of-range values are ignored (§21.24).
    fn max_rt_options(&mut self, r: &Reply, out: &mut Vec<Output>) {
        let valid = |v: u32| {
            (retransmit::MAX_RT_OPTION_MIN.as_secs()..=retransmit::MAX_RT_OPTION_MAX.as_secs())
                .contains(&u64::from(v))
        };
        for (value, info) in [(r.sol_max_rt, false), (r.inf_max_rt, true)] {
            let Some(v) = value else {
                continue;
            };
            let name = if info { "INF_MAX_RT" } else { "SOL_MAX_RT" };
            if !valid(v) {
                out.push(Output::Note(format!(
                    "{name} {v} s ignored: outside 60..86400"
                )));
                continue;
            }
            let new = Duration::from_secs(u64::from(v));
            let (current, slot) = if info {
                (&mut self.inf_max_rt, self.info_exchange.as_mut())
            } else {
                (&mut self.sol_max_rt, self.exchange.as_mut())
            };
            if *current != new {
                out.push(Output::Note(format!("{name} set to {v} s by the server")));
                *current = new;
            }
            // The exchange under way uses it from its next retransmission on.
            let wanted = if info {
                MessageKind::InformationRequest
            } else {
                MessageKind::Solicit
            };
            if let Some(ex) = slot.filter(|ex| ex.kind() == wanted) {
                match &mut ex.progress {
                    Progress::Waiting { params, .. } => params.mrt = Some(new),
                    Progress::Sent(rt) => rt.params.mrt = Some(new),
                }
            }
        }
    }

    /// The checks of RFC 8415 §16: an exchange waiting for it, our transaction id, our Client
    /// Identifier, a Server Identifier. (Reconfigure never gets here: see `received`.)
    fn addressed_to_us(&self, r: &Reply) -> Result<Slot, String> {
        if !self.started || self.state == State::Stopped || !self.link_up {
            return Err("not listening".into());
        }
        let live =
            |e: &Option<Exchange>| e.as_ref().filter(|e| e.sent().is_some()).map(Exchange::xid);
        let slot = if live(&self.exchange) == Some(r.xid) {
            Slot::Main
        } else if live(&self.info_exchange) == Some(r.xid) {
            Slot::Info
        } else {
            return Err(format!(
                "transaction id {} is not that of an exchange in progress",
                to_hex(&r.xid)
            ));
        };
        match &r.client_id {
            None => return Err("no Client Identifier".into()),
            Some(id) if *id != self.config.duid => {
                return Err(format!("Client Identifier {} is not ours", to_hex(id)))
            }
            Some(_) => {}
        }
        if r.server_id.is_none() {
            return Err("no Server Identifier".into());
        }
        Ok(slot)
    }

    /// One `status.received` event per status code other than Success, and `last_status`.
    fn status_events(&mut self, r: &Reply, now: Now, out: &mut Vec<Output>) {
        let mut found: Vec<(&str, &message::Status)> = Vec::new();
        if let Some(s) = &r.status {
            found.push(("message", s));
        }
        for ia in r.ia_pds.iter().filter(|ia| ia.iaid == self.config.iaid) {
            if let Some(s) = &ia.status {
                found.push(("IA_PD", s));
            }
            for p in &ia.prefixes {
                if let Some(s) = &p.status {
                    found.push(("IA Prefix", s));
                }
            }
        }
        for (scope, s) in found {
            self.last_status = Some((s.code, s.message.clone()));
            if s.code == status_code::SUCCESS {
                continue;
            }
            let name = status_name(s.code);
            let text = if s.message.is_empty() {
                String::new()
            } else {
                format!(": {}", s.message)
            };
            let mut e = self
                .event(
                    events::STATUS_RECEIVED,
                    Severity::Warning,
                    format!("{} from the server says {name} ({scope}){text}", r.kind),
                    now,
                )
                .attr(attr::STATUS_CODE, name)
                .attr(attr::STATUS_SCOPE, scope)
                .attr(attr::MESSAGE_TYPE, r.kind.as_str())
                .attr(attr::STATE, self.state.as_str());
            if !s.message.is_empty() {
                e = e.attr(attr::STATUS_MESSAGE, s.message.clone());
            }
            if let Some(id) = &r.server_id {
                e = e.attr(attr::SERVER_DUID, to_hex(id));
            }
            out.push(Output::Event(e));
        }
    }

    fn refused_now(&mut self, server_id: &[u8], now: Now) -> bool {
        self.refused.retain(|(_, until)| *until > now.mono);
        self.refused.iter().any(|(id, _)| id == server_id)
    }

    fn advertise(&mut self, r: &Reply, from: Ipv6Addr, now: Now, out: &mut Vec<Output>) {
        let Some(server_id) = r.server_id.clone() else {
            return;
        };
        if let Some(s) = r.status.as_ref().filter(|s| s.code != status_code::SUCCESS) {
            out.push(Output::Note(format!(
                "ADVERTISE from {from} not usable: status {}",
                status_name(s.code)
            )));
            return;
        }
        let Some(ia) = r.ia_pd(self.config.iaid) else {
            out.push(Output::Note(format!(
                "ADVERTISE from {from} not usable: no IA_PD for IAID {}",
                self.config.iaid
            )));
            return;
        };
        if let Some(s) = ia
            .status
            .as_ref()
            .filter(|s| s.code != status_code::SUCCESS)
        {
            out.push(Output::Note(format!(
                "ADVERTISE from {from} not usable: IA_PD status {}",
                status_name(s.code)
            )));
            return;
        }
        let Some(prefix) = choose_prefix(ia, None) else {
            out.push(Output::Note(format!(
                "ADVERTISE from {from} not usable: no usable prefix"
            )));
            return;
        };
        if self.refused_now(&server_id, now) {
            out.push(Output::Note(format!(
                "ADVERTISE from {from} passed over: that server had no prefix for us moments ago"
            )));
            return;
        }
        let preference = r.preference.unwrap_or(0);
        out.push(Output::Event(
            self.event(
                events::ADVERTISE_RECEIVED,
                Severity::Info,
                format!("ADVERTISE of {prefix} from {from} (preference {preference})"),
                now,
            )
            .attr(attr::PREFIX, prefix.to_string())
            .attr(attr::SERVER_DUID, to_hex(&server_id))
            .attr(attr::SERVER_ADDRESS, from.to_string())
            .attr(attr::PREFERENCE, preference.to_string()),
        ));
        let candidate = Candidate {
            server_id,
            preference,
            prefix: Some(prefix),
        };
        let first_rt_over = self
            .exchange
            .as_ref()
            .and_then(Exchange::sent)
            .is_some_and(|r| r.sent > 1);
        if preference == 255 || first_rt_over {
            self.begin_request(candidate, now, out);
        } else {
            self.advertises.push(candidate);
        }
    }

    /// A REPLY to SOLICIT (rapid commit), REQUEST, RENEW or REBIND.
    fn reply(
        &mut self,
        sent: MessageKind,
        r: &Reply,
        from: Ipv6Addr,
        now: Now,
        out: &mut Vec<Output>,
    ) {
        let Some(server_id) = r.server_id.clone() else {
            return;
        };
        // REQUEST and RENEW are addressed to one server; only it may answer.
        let expected = self
            .exchange
            .as_ref()
            .and_then(|e| e.server.as_ref())
            .map(|s| s.server_id.clone());
        if let Some(expected) = expected.filter(|_| sent != MessageKind::Rebind) {
            if expected != server_id {
                out.push(Output::Note(format!(
                    "REPLY ignored: from server {}, the {sent} went to {}",
                    to_hex(&server_id),
                    to_hex(&expected)
                )));
                return;
            }
        }
        out.push(Output::Event(
            self.event(
                events::REPLY_RECEIVED,
                Severity::Debug,
                format!("REPLY to {sent} from {from}"),
                now,
            )
            .attr(attr::MESSAGE_TYPE, sent.as_str())
            .attr(attr::SERVER_DUID, to_hex(&server_id))
            .attr(attr::SERVER_ADDRESS, from.to_string()),
        ));
        if let Some(s) = r.status.as_ref().filter(|s| s.code != status_code::SUCCESS) {
            match s.code {
                status_code::USE_MULTICAST => self.use_multicast(now, out),
                status_code::NOT_ON_LINK => {
                    out.push(Output::Note(format!(
                        "NotOnLink in answer to {sent}: soliciting"
                    )));
                    self.begin_solicit(false, now, out);
                }
                code => out.push(Output::Note(format!(
                    "REPLY to {sent} says {}: treated as no answer",
                    status_name(code)
                ))),
            }
            return;
        }
        let Some(ia) = r.ia_pd(self.config.iaid).cloned() else {
            out.push(Output::Note(format!(
                "REPLY to {sent} has no IA_PD for IAID {}: treated as no answer",
                self.config.iaid
            )));
            return;
        };
        if let Some(s) = ia
            .status
            .as_ref()
            .filter(|s| s.code != status_code::SUCCESS)
        {
            self.ia_status(sent, s.code, &server_id, now, out);
            return;
        }
        let current = self.active.as_ref().map(|a| a.lease.prefix.clone());
        let Some(prefix) = choose_prefix(&ia, current.as_ref()) else {
            let withdrawn = current.as_ref().is_some_and(|c| {
                ia.prefixes
                    .iter()
                    .any(|p| p.prefix == c.prefix && p.length == c.length && p.valid_lifetime == 0)
            });
            if withdrawn {
                out.push(Output::Note(
                    "the server withdrew our prefix (valid lifetime 0) and gave no other".into(),
                ));
                self.expire(now, out);
            } else {
                out.push(Output::Note(format!(
                    "REPLY to {sent} has no usable prefix: treated as no answer"
                )));
            }
            return;
        };
        self.bind(sent, r, &ia, prefix, server_id, from, now, out);
    }

    /// RFC 8415 §18.2.10: resend by multicast, and do not unicast to this server again.
    fn use_multicast(&mut self, now: Now, out: &mut Vec<Output>) {
        let Some(ex) = self.exchange.as_mut() else {
            return;
        };
        if ex.destination == Destination::AllServers {
            out.push(Output::Note(
                "UseMulticast to a multicast message: treated as no answer".into(),
            ));
            return;
        }
        ex.destination = Destination::AllServers;
        self.unicast_refused = true;
        out.push(Output::Note(
            "the server asked for multicast (UseMulticast): resending to ff02::1:2".into(),
        ));
        self.retransmit(Slot::Main, now, out);
    }

    /// A status in the IA_PD of a REPLY (RFC 8415 §18.2.10.1).
    fn ia_status(
        &mut self,
        sent: MessageKind,
        code: StatusCode,
        server_id: &[u8],
        now: Now,
        out: &mut Vec<Output>,
    ) {
        let name = status_name(code);
        match (sent, code) {
            (MessageKind::Renew | MessageKind::Rebind, status_code::NO_BINDING) => {
                // The server lost our binding: ask for it again with a REQUEST; the prefix stays in
                // use meanwhile.
                let prefix = self.active.as_ref().map(|a| a.lease.prefix.clone());
                out.push(Output::Note(format!(
                    "NoBinding in answer to {sent}: requesting the prefix again"
                )));
                let server = Candidate {
                    server_id: server_id.to_vec(),
                    preference: 0,
                    prefix,
                };
                self.begin_request(server, now, out);
            }
            (MessageKind::Renew | MessageKind::Rebind, status_code::NO_PREFIX_AVAIL) => {
                // Not a renewal: lifetimes, T1 and T2 stay; the exchange goes on on schedule.
                out.push(Output::Note(format!(
                    "NoPrefixAvail in answer to {sent}: the prefix keeps its remaining lifetime"
                )));
            }
            (MessageKind::Request | MessageKind::Solicit, status_code::NO_PREFIX_AVAIL) => {
                out.push(Output::Note(format!(
                    "NoPrefixAvail in answer to {sent}: soliciting again, passing over server {} for {}s",
                    to_hex(server_id),
                    REFUSED_SERVER_HOLD.as_secs()
                )));
                self.refused
                    .push((server_id.to_vec(), now.mono + REFUSED_SERVER_HOLD));
                self.begin_solicit(false, now, out);
            }
            (_, status_code::NOT_ON_LINK) => {
                out.push(Output::Note(format!(
                    "NotOnLink in answer to {sent}: soliciting"
                )));
                self.begin_solicit(false, now, out);
            }
            _ => out.push(Output::Note(format!(
                "IA_PD status {name} in answer to {sent}: treated as no answer"
            ))),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn bind(
        &mut self,
        sent: MessageKind,
        r: &Reply,
        ia: &IaPd,
        prefix: DelegatedPrefix,
        server_id: Vec<u8>,
        from: Ipv6Addr,
        now: Now,
        out: &mut Vec<Output>,
    ) {
        let (start_mono, start_wall) = match self.exchange.as_ref() {
            Some(ex) => (
                ex.sent().map_or(now.mono, |r| r.began),
                ex.began_wall.unwrap_or(now.wall),
            ),
            None => (now.mono, now.wall),
        };
        let lease = Lease::granted(
            &self.config.duid,
            &self.config.ifname,
            ia,
            prefix,
            r,
            server_id,
            from,
            start_wall,
        );
        let from_state = self.state;
        let held = self.active.take();
        let previous = match &held {
            Some(old) if !old.lease.prefix.same_network(&lease.prefix) => {
                // The old prefix stays listed while it is valid: its lifetime in this REPLY if the
                // server still lists it (0: gone now), else what remained of it.
                let listed = ia.prefixes.iter().find(|p| {
                    p.prefix == old.lease.prefix.prefix && p.length == old.lease.prefix.length
                });
                let until_mono = match listed {
                    Some(p) => after(now.mono, p.valid_lifetime),
                    None => old.expiry,
                }
                .unwrap_or(now.mono + INFINITE_PREVIOUS_HOLD);
                if until_mono > now.mono {
                    let kept = PreviousPrefix {
                        prefix: old.lease.remaining(now.wall),
                        valid_until: now.wall.saturating_add(until_mono - now.mono),
                    };
                    self.previous.push((kept, until_mono));
                }
                Some(old.lease.prefix.clone())
            }
            Some(_) => None,
            None => self
                .last_prefix
                .clone()
                .filter(|p| !p.same_network(&lease.prefix)),
        };
        if held.is_none() || previous.is_some() {
            self.unicast_refused = false;
        }
        let (topic, verb, change) = match (&previous, sent) {
            (Some(p), _) => (
                events::PREFIX_CHANGED,
                "now",
                LeaseChange::Changed {
                    lease: lease.clone(),
                    previous: p.clone(),
                },
            ),
            (None, MessageKind::Renew) => (
                events::PREFIX_RENEWED,
                "renewed",
                LeaseChange::Renewed(lease.clone()),
            ),
            (None, MessageKind::Rebind) => (
                events::PREFIX_REBOUND,
                "rebound",
                LeaseChange::Rebound(lease.clone()),
            ),
            (None, _) => (
                events::PREFIX_BOUND,
                "bound",
                LeaseChange::Bound(lease.clone()),
            ),
        };
        let mut e = self
            .lease_event(
                topic,
                Severity::Info,
                match &previous {
                    Some(p) => format!("delegated prefix changed from {p} to {}", lease.prefix),
                    None => format!("delegated prefix {} {verb}", lease.prefix),
                },
                &lease,
                now,
            )
            .attr(attr::STATE, from_state.as_str());
        if let Some(p) = &previous {
            e = e.attr(attr::PREVIOUS_PREFIX, p.to_string());
        }
        out.push(Output::Event(e));
        self.last_prefix = Some(lease.prefix.clone());
        self.last_status = None;
        self.active = Some(Active::new(lease, start_mono));
        self.state = State::Bound;
        self.exchange = None;
        self.advertises.clear();
        out.push(Output::Lease(change));
        self.update_information(r, now, out);
    }

    fn info_reply(&mut self, r: &Reply, now: Now, out: &mut Vec<Output>) {
        if r.kind != MessageKind::Reply {
            out.push(Output::Note(format!(
                "{} ignored: not an answer to INFORMATION-REQUEST",
                r.kind
            )));
            return;
        }
        if let Some(s) = r.status.as_ref().filter(|s| s.code != status_code::SUCCESS) {
            out.push(Output::Note(format!(
                "REPLY to INFORMATION-REQUEST says {}: treated as no answer",
                status_name(s.code)
            )));
            return;
        }
        self.info_exchange = None;
        if !self.update_information(r, now, out) {
            out.push(Output::Note(
                "REPLY to INFORMATION-REQUEST: information unchanged".into(),
            ));
        }
    }

    /// Takes the information of `r` when it has any and it differs from what is known. A REPLY without
    /// any of the options keeps what an earlier one gave (servers may answer RENEW with less).
    fn update_information(&mut self, r: &Reply, now: Now, out: &mut Vec<Output>) -> bool {
        let info = Information::from_reply(r);
        if info.is_empty() || self.information.as_ref() == Some(&info) {
            return false;
        }
        let join = |v: Vec<String>| v.join(",");
        let mut e = self
            .event(
                events::INFO_RECEIVED,
                Severity::Info,
                format!(
                    "{} DNS servers, {} search domains, {} SNTP servers{}",
                    info.dns_servers.len(),
                    info.domain_search.len(),
                    info.sntp_servers.len(),
                    info.aftr_name
                        .as_ref()
                        .map(|a| format!(", AFTR {a}"))
                        .unwrap_or_default()
                ),
                now,
            )
            .attr(
                attr::DNS_SERVERS,
                join(info.dns_servers.iter().map(|a| a.to_string()).collect()),
            )
            .attr(attr::DOMAIN_SEARCH, join(info.domain_search.clone()))
            .attr(
                attr::SNTP_SERVERS,
                join(info.sntp_servers.iter().map(|a| a.to_string()).collect()),
            );
        if let Some(a) = &info.aftr_name {
            e = e.attr(attr::AFTR_NAME, a.clone());
        }
        out.push(Output::Event(e));
        self.information = Some(info.clone());
        out.push(Output::Information(info));
        true
    }

    // ----- events ----------------------------------------------------------------------------------

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

    /// An event with the lease attributes.
    fn lease_event(
        &self,
        topic: &str,
        severity: Severity,
        message: String,
        lease: &Lease,
        now: Now,
    ) -> NewEvent {
        self.event(topic, severity, message, now)
            .attr(attr::PREFIX, lease.prefix.to_string())
            .attr(attr::SERVER_DUID, to_hex(&lease.server_duid))
            .attr(
                attr::PREFERRED_LIFETIME_SECONDS,
                lease.prefix.preferred_lifetime.to_string(),
            )
            .attr(
                attr::VALID_LIFETIME_SECONDS,
                lease.prefix.valid_lifetime.to_string(),
            )
            .attr(attr::T1_SECONDS, lease.t1_seconds.to_string())
            .attr(attr::T2_SECONDS, lease.t2_seconds.to_string())
    }
}

#[cfg(test)]
mod tests;
