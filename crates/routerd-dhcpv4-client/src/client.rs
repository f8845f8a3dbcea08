//! The DHCPv4 client state machine of RFC 2131 §4.4 (figure 5), without I/O.
//!
//! Inputs are parsed replies, timer expiries, commands, link events and the result of an address
//! conflict probe; outputs are messages to send (with their destination), lease changes, events and a
//! note for every reply that was not used. The caller owns the clock ([`Now`]: monotonic for timers,
//! wall-clock for what is shown and persisted), the randomness ([`Random`]) and the sockets, and asks
//! [`Client::deadline`] when to deliver the next [`Input::Timer`].
//!
//! ```text
//!            remembered lease                 no lease
//!   INIT-REBOOT ──REQUEST──▶ REBOOTING     INIT ──DISCOVER──▶ SELECTING ──OFFER/REQUEST──▶ REQUESTING
//!                 │ ACK       │ NAK ─────────▲                                 │ ACK (+ conflict probe)
//!                 ▼           └──────────────┘◀── NAK, DECLINE, expiry ────────┤
//!               BOUND ◀───────────────────────────────────────────────────────┘
//!   T1 ─▶ RENEWING (unicast REQUEST, ciaddr) ─T2─▶ REBINDING (broadcast) ─expiry─▶ INIT
//!            └── ACK ─▶ BOUND ◀── ACK ──┘
//! ```
//!
//! Rules worth their RFC section:
//! - §4.1 retransmission: 4, 8, 16, 32, 64 s ±1 s (`retransmit.rs`); §4.4.5 renewing/rebinding: half
//!   the time left, at least 60 s (10 s for leases under 60 s; `lease.rs`).
//! - §4.4.1 the lease starts when the REQUEST was first sent, not when the ACK arrived.
//! - §4.4.1 / RFC 5227: after a fresh ACK the address is probed with ARP before it is used; a conflict
//!   means DHCPDECLINE and a new DISCOVER no sooner than 10 s later (§3.1.5).
//! - §3.2 INIT-REBOOT: a remembered, unexpired lease is confirmed with a broadcast REQUEST carrying
//!   option 50 and no server identifier; if no server answers, the lease is used until it expires.
//! - §3.7 a lost and returned carrier means INIT-REBOOT (the link may lead somewhere else now).
//! - RFC 6842: a reply that echoes a client identifier other than ours is not for us.

use crate::config::mac_text;
use crate::events::{self, attr};
use crate::lease::{usable_address, Lease};
use crate::message::{ClientIdentity, ClientMessage, Outgoing, Reply, ReplyKind};
use crate::retransmit::{backoff, halfway};
use routerd_api::event::{NewEvent, Severity};
use routerd_sansio::resource_event;
use routerd_sansio::{Now, Random};
use std::fmt;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// REQUESTs sent in REQUESTING before giving up on the offer and discovering again.
pub const MAX_REQUEST_TRANSMISSIONS: u32 = 4;
/// REQUESTs sent in REBOOTING before using the remembered lease unconfirmed.
pub const MAX_REBOOT_TRANSMISSIONS: u32 = 3;
/// Wait after a DHCPDECLINE before discovering again (RFC 2131 §3.1.5).
pub const DECLINE_WAIT: Duration = Duration::from_secs(10);
/// How long the state machine waits for a conflict probe it asked for before going ahead without it.
pub const PROBE_GUARD: Duration = Duration::from_secs(5);
/// Consecutive NAKs from which the resource is in `Error` ("repeated NAK", `resources.md`).
pub const REPEATED_NAK: u32 = 3;

/// The states of RFC 2131 figure 5, named as the status shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Init,
    Selecting,
    Requesting,
    Bound,
    Renewing,
    Rebinding,
    InitReboot,
    Rebooting,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Init => "Init",
            State::Selecting => "Selecting",
            State::Requesting => "Requesting",
            State::Bound => "Bound",
            State::Renewing => "Renewing",
            State::Rebinding => "Rebinding",
            State::InitReboot => "InitReboot",
            State::Rebooting => "Rebooting",
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
    /// Renew now (unicast to the server), or retry the current exchange at once when there is no lease.
    Renew,
    /// Rebind now (broadcast).
    Rebind,
    /// Give the lease back (DHCPRELEASE) and stay idle until told to renew.
    Release,
    /// Stop sending; keep the lease for the next start (INIT-REBOOT).
    Stop,
}

impl Command {
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Renew => "renew",
            Command::Rebind => "rebind",
            Command::Release => "release",
            Command::Stop => "stop",
        }
    }
}

/// The interface's carrier (RFC 2131 §3.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkEvent {
    CarrierLost,
    CarrierUp,
}

/// The result of the RFC 5227 probe the client asked for with [`Output::Probe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeResult {
    /// Nobody answered for the address: it is free to use.
    Clear,
    /// Another host answered for (or probed) the address.
    Conflict { mac: [u8; 6] },
}

/// An input to [`Client::handle`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Input<'a> {
    /// Begin: INIT-REBOOT with a remembered lease, else INIT. Given once the interface is usable.
    Start,
    /// A parsed reply from the interface.
    Received(&'a Reply),
    /// [`Client::deadline`] has been reached.
    Timer,
    Link(LinkEvent),
    Probe(ProbeResult),
}

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// `255.255.255.255`, Ethernet broadcast.
    Broadcast,
    /// The server, by unicast (RENEWING, RELEASE).
    Unicast(Ipv4Addr),
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The fields of the message (for logs and tests).
    pub outgoing: Outgoing,
    /// The encoded message, padded to 300 bytes.
    pub bytes: Vec<u8>,
    pub destination: Destination,
    /// The IP source address: ours when we have one (`ciaddr`), else `0.0.0.0`.
    pub source: Ipv4Addr,
    /// The state it was sent in.
    pub state: State,
}

/// A change of the lease the client holds; the caller persists it and shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseChange {
    /// A new lease from REQUESTING, or a remembered one confirmed (or used unconfirmed) from REBOOTING.
    Bound(Lease),
    /// Extended by the same server in RENEWING.
    Renewed(Lease),
    /// Extended by any server in REBINDING.
    Rebound(Lease),
    /// Ran out; the address must no longer be used.
    Expired(Lease),
    /// Given back with DHCPRELEASE.
    Released(Lease),
    /// Refused by a server (DHCPNAK); the address must no longer be used.
    Nak(Lease),
}

/// Everything [`Client::handle`] asks of its caller, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Send(Transmit),
    /// Probe `address` with ARP (RFC 5227) and answer with [`Input::Probe`].
    Probe(Ipv4Addr),
    /// Drop a probe in progress; its result is no longer wanted.
    CancelProbe,
    Lease(LeaseChange),
    Event(NewEvent),
    /// Why a received reply was not used, or another thing worth a debug log line.
    Note(String),
}

/// Why the client holds no lease, for the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    Expired,
    Released,
    Nak,
    Declined,
}

/// Why the client is not even trying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Halt {
    /// After `release`, until `renew`.
    Released,
    /// After `stop`.
    Stopped,
}

/// How the client behaves, from the resource spec and the interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// The resource name, in events (`resource.name`).
    pub name: String,
    pub identity: ClientIdentity,
    /// `spec.requestedAddress`: asked for in DISCOVER (option 50).
    pub requested_address: Option<Ipv4Addr>,
    /// Probe an offered address with ARP before using it (RFC 5227).
    pub conflict_probe: bool,
    /// Ask servers to broadcast replies (see [`Outgoing::broadcast_flag`]).
    pub broadcast_flag: bool,
}

/// A lease in use, with its timers on the monotonic clock.
#[derive(Debug, Clone)]
struct Active {
    lease: Lease,
    t1: Option<Instant>,
    t2: Option<Instant>,
    expiry: Option<Instant>,
}

impl Active {
    /// Timers counted from `start`, the monotonic instant of `lease.acquired_at`.
    fn new(lease: Lease, start: Instant) -> Active {
        let times = lease.times();
        Active {
            t1: times.t1.map(|d| start + d),
            t2: times.t2.map(|d| start + d),
            expiry: times.expiry.map(|d| start + d),
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

/// The offer chosen in SELECTING.
#[derive(Debug, Clone)]
struct Offered {
    address: Ipv4Addr,
    server_id: Ipv4Addr,
}

/// An ACKed lease waiting for its conflict probe.
#[derive(Debug, Clone)]
struct PendingProbe {
    lease: Lease,
    start: Instant,
    deadline: Instant,
}

/// The state machine. See the module documentation.
pub struct Client {
    config: ClientConfig,
    random: Box<dyn Random>,
    state: State,
    started: bool,
    halted: Option<Halt>,
    link_up: bool,
    xid: u32,
    /// When the current exchange began, for `secs`.
    exchange_started: Option<Instant>,
    /// Transmissions of the current message so far.
    transmissions: u32,
    /// Next retransmission (or, in INIT, when to begin discovering).
    retransmit_at: Option<Instant>,
    /// When the REQUEST now outstanding was first sent: the start of the lease it may bring.
    request_sent: Option<Now>,
    offer: Option<Offered>,
    pending: Option<PendingProbe>,
    active: Option<Active>,
    /// The address to ask for in the next DISCOVER (the last one we held).
    hint: Option<Ipv4Addr>,
    /// The address of a lease that expired or was refused, until the next lease (`previousAddress`).
    lost_address: Option<Ipv4Addr>,
    consecutive_naks: u32,
    last_loss: Option<Loss>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("state", &self.state)
            .field("xid", &format_args!("{:#010x}", self.xid))
            .field("lease", &self.active.as_ref().map(|a| a.lease.address))
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client that has not started yet. `remembered` is the persisted lease: when it is still valid
    /// at `now`, [`Input::Start`] confirms it (INIT-REBOOT) instead of discovering.
    pub fn new(
        config: ClientConfig,
        random: Box<dyn Random>,
        remembered: Option<Lease>,
        now: Now,
    ) -> Client {
        let hint = remembered.as_ref().map(|l| l.address);
        let active = remembered
            .filter(|l| l.valid_at(now.wall))
            .map(|l| Active::remembered(l, now));
        Client {
            state: if active.is_some() {
                State::InitReboot
            } else {
                State::Init
            },
            config,
            random,
            started: false,
            halted: None,
            link_up: true,
            xid: 0,
            exchange_started: None,
            transmissions: 0,
            retransmit_at: None,
            request_sent: None,
            offer: None,
            pending: None,
            active,
            hint,
            lost_address: None,
            consecutive_naks: 0,
            last_loss: None,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The lease in use (also while renewing, rebinding or rebooting with a remembered one).
    pub fn lease(&self) -> Option<&Lease> {
        self.active.as_ref().map(|a| &a.lease)
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Replaces what may change without touching the lease: host name, vendor class, requested
    /// address, conflict probing. The hardware address and client identifier stay.
    pub fn update_config(&mut self, mut config: ClientConfig) {
        config.identity.mac = self.config.identity.mac;
        config.identity.client_id = self.config.identity.client_id.clone();
        self.config = config;
    }

    pub fn halted(&self) -> Option<Halt> {
        self.halted
    }

    pub fn link_up(&self) -> bool {
        self.link_up
    }

    pub fn consecutive_naks(&self) -> u32 {
        self.consecutive_naks
    }

    /// Why there is no lease (the last loss), when there is none.
    pub fn last_loss(&self) -> Option<Loss> {
        if self.active.is_some() {
            None
        } else {
            self.last_loss
        }
    }

    /// The address being probed for conflicts, if any.
    pub fn probing(&self) -> Option<Ipv4Addr> {
        self.pending.as_ref().map(|p| p.lease.address)
    }

    /// When to deliver the next [`Input::Timer`]; `None` when nothing is scheduled.
    pub fn deadline(&self) -> Option<Instant> {
        if !self.started || self.halted.is_some() {
            return None;
        }
        let mut candidates = [None; 4];
        candidates[0] = self.pending.as_ref().map(|p| p.deadline);
        if self.pending.is_none() && self.link_up {
            candidates[1] = self.retransmit_at;
        }
        if let Some(a) = &self.active {
            candidates[2] = a.expiry;
            if self.link_up {
                candidates[3] = match self.state {
                    State::Bound => a.t1,
                    State::Renewing => a.t2,
                    _ => None,
                };
            }
        }
        candidates.into_iter().flatten().min()
    }

    /// Feeds one input at `now`; returns what to do, in order.
    pub fn handle(&mut self, input: Input<'_>, now: Now) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Start => self.start(now, &mut out),
            Input::Received(reply) => self.received(reply, now, &mut out),
            Input::Timer => self.timer(now, &mut out),
            Input::Link(ev) => self.link(ev, now, &mut out),
            Input::Probe(result) => self.probed(result, now, &mut out),
        }
        out
    }

    /// Carries out a command; `Err` says why it is not possible now (nothing changed then).
    pub fn command(&mut self, command: Command, now: Now) -> Result<Vec<Output>, String> {
        let mut out = Vec::new();
        if self.halted == Some(Halt::Stopped) {
            return Err("the client is stopped".into());
        }
        match command {
            Command::Stop => {
                self.halted = Some(Halt::Stopped);
                self.retransmit_at = None;
                if self.pending.take().is_some() {
                    out.push(Output::CancelProbe);
                }
            }
            Command::Renew => self.renew_now(now, &mut out)?,
            Command::Rebind => {
                if self.active.is_none() {
                    return Err("no lease to rebind".into());
                }
                self.check_can_send()?;
                if self.state == State::Rebinding {
                    self.send_request(now, &mut out);
                } else {
                    self.enter(State::Rebinding, now, &mut out);
                }
            }
            Command::Release => self.release(now, &mut out)?,
        }
        Ok(out)
    }

    fn check_can_send(&self) -> Result<(), String> {
        if !self.started {
            return Err("the client has not started (interface missing or down)".into());
        }
        if !self.link_up {
            return Err("the interface has no carrier".into());
        }
        Ok(())
    }

    fn renew_now(&mut self, now: Now, out: &mut Vec<Output>) -> Result<(), String> {
        if self.halted == Some(Halt::Released) {
            self.check_can_send()?;
            self.halted = None;
            self.begin_discover(now, out);
            return Ok(());
        }
        self.check_can_send()?;
        if self.pending.is_some() {
            return Err("checking the offered address for conflicts; try again in a moment".into());
        }
        match self.state {
            State::Bound => self.enter(State::Renewing, now, out),
            State::Renewing | State::Rebinding | State::Requesting | State::Rebooting => {
                self.send_request(now, out)
            }
            State::Selecting => self.send_discover(now, out),
            State::Init => self.begin_discover(now, out),
            State::InitReboot => self.begin_reboot(now, out),
        }
        Ok(())
    }

    fn release(&mut self, now: Now, out: &mut Vec<Output>) -> Result<(), String> {
        let Some(active) = self.active.take() else {
            return Err("no lease to release".into());
        };
        let lease = active.lease;
        if self.pending.take().is_some() {
            out.push(Output::CancelProbe);
        }
        // RFC 2131 §4.4.6: unicast to the server, ciaddr set, a fresh xid.
        if self.link_up && self.started {
            self.xid = self.random.next_u32();
            let outgoing = Outgoing {
                kind: ClientMessage::Release,
                xid: self.xid,
                secs: 0,
                ciaddr: lease.address,
                requested_address: None,
                server_id: Some(lease.server_id),
                broadcast_flag: false,
            };
            self.transmit(
                outgoing,
                Destination::Unicast(lease.server_id),
                lease.address,
                out,
            );
        }
        out.push(Output::Event(self.lease_event(
            events::LEASE_RELEASED,
            Severity::Info,
            format!("lease of {} released", lease.address),
            &lease,
            now,
        )));
        out.push(Output::Lease(LeaseChange::Released(lease)));
        self.state = State::Init;
        self.halted = Some(Halt::Released);
        self.last_loss = Some(Loss::Released);
        self.reset_exchange();
        Ok(())
    }

    fn start(&mut self, now: Now, out: &mut Vec<Output>) {
        if self.started {
            out.push(Output::Note("already started".into()));
            return;
        }
        self.started = true;
        self.link_up = true;
        self.resume(now, out);
    }

    /// INIT-REBOOT with a valid lease, INIT otherwise.
    fn resume(&mut self, now: Now, out: &mut Vec<Output>) {
        match &self.active {
            Some(a) if !a.expired(now.mono) => self.begin_reboot(now, out),
            Some(_) => self.expire(now, out),
            None => self.begin_discover(now, out),
        }
    }

    fn reset_exchange(&mut self) {
        self.exchange_started = None;
        self.transmissions = 0;
        self.retransmit_at = None;
        self.request_sent = None;
        self.offer = None;
    }

    fn begin_discover(&mut self, now: Now, out: &mut Vec<Output>) {
        self.reset_exchange();
        self.state = State::Selecting;
        self.xid = self.random.next_u32();
        self.exchange_started = Some(now.mono);
        self.send_discover(now, out);
    }

    fn begin_reboot(&mut self, now: Now, out: &mut Vec<Output>) {
        self.reset_exchange();
        self.state = State::Rebooting;
        self.xid = self.random.next_u32();
        self.exchange_started = Some(now.mono);
        self.send_request(now, out);
    }

    /// Enters RENEWING or REBINDING with a fresh exchange and sends the first REQUEST.
    fn enter(&mut self, state: State, now: Now, out: &mut Vec<Output>) {
        self.reset_exchange();
        self.state = state;
        self.xid = self.random.next_u32();
        self.exchange_started = Some(now.mono);
        self.send_request(now, out);
    }

    fn secs(&self, now: Now) -> u16 {
        let elapsed = self
            .exchange_started
            .map(|s| now.mono.saturating_duration_since(s).as_secs())
            .unwrap_or(0);
        u16::try_from(elapsed).unwrap_or(u16::MAX)
    }

    fn send_discover(&mut self, now: Now, out: &mut Vec<Output>) {
        self.transmissions += 1;
        let outgoing = Outgoing {
            kind: ClientMessage::Discover,
            xid: self.xid,
            secs: self.secs(now),
            ciaddr: Ipv4Addr::UNSPECIFIED,
            requested_address: self.config.requested_address.or(self.hint),
            server_id: None,
            broadcast_flag: self.config.broadcast_flag,
        };
        self.retransmit_at = Some(now.mono + backoff(self.transmissions, self.random.as_mut()));
        if self.transmissions == 1 {
            let mut e = self.event(
                events::DISCOVER_SENT,
                Severity::Info,
                "DHCPDISCOVER sent".to_string(),
                now,
            );
            if let Some(a) = outgoing.requested_address {
                e = e.attr(attr::ADDRESS, a.to_string());
            }
            out.push(Output::Event(e));
        }
        self.transmit(outgoing, Destination::Broadcast, Ipv4Addr::UNSPECIFIED, out);
    }

    /// Sends (or resends) the REQUEST of the current state and schedules the next retransmission.
    fn send_request(&mut self, now: Now, out: &mut Vec<Output>) {
        self.transmissions += 1;
        if self.transmissions == 1 {
            self.request_sent = Some(now);
        }
        let secs = self.secs(now);
        let lease = self.active.as_ref().map(|a| &a.lease);
        let (ciaddr, requested, server, destination) = match (self.state, lease, &self.offer) {
            (State::Requesting, _, Some(o)) => (
                Ipv4Addr::UNSPECIFIED,
                Some(o.address),
                Some(o.server_id),
                Destination::Broadcast,
            ),
            (State::Rebooting, Some(l), _) => (
                Ipv4Addr::UNSPECIFIED,
                Some(l.address),
                None,
                Destination::Broadcast,
            ),
            (State::Renewing, Some(l), _) => {
                (l.address, None, None, Destination::Unicast(l.server_id))
            }
            (State::Rebinding, Some(l), _) => (l.address, None, None, Destination::Broadcast),
            (state, _, _) => {
                out.push(Output::Note(format!(
                    "no REQUEST to send in {state} without an offer or a lease"
                )));
                return;
            }
        };
        let outgoing = Outgoing {
            kind: ClientMessage::Request,
            xid: self.xid,
            secs,
            ciaddr,
            requested_address: requested,
            server_id: server,
            broadcast_flag: self.config.broadcast_flag && ciaddr.is_unspecified(),
        };
        self.retransmit_at = self.next_request_retransmit(now);
        if self.transmissions == 1 {
            let mut e = self
                .event(
                    events::REQUEST_SENT,
                    Severity::Info,
                    format!("DHCPREQUEST sent ({})", self.state),
                    now,
                )
                .attr(attr::STATE, self.state.as_str());
            if let Some(a) = requested.or((!ciaddr.is_unspecified()).then_some(ciaddr)) {
                e = e.attr(attr::ADDRESS, a.to_string());
            }
            if let Some(s) = server.or(match destination {
                Destination::Unicast(s) => Some(s),
                Destination::Broadcast => None,
            }) {
                e = e.attr(attr::SERVER_ID, s.to_string());
            }
            out.push(Output::Event(e));
        }
        self.transmit(outgoing, destination, ciaddr, out);
    }

    fn next_request_retransmit(&mut self, now: Now) -> Option<Instant> {
        let active = self.active.as_ref();
        match self.state {
            State::Requesting | State::Rebooting => {
                Some(now.mono + backoff(self.transmissions, self.random.as_mut()))
            }
            State::Renewing | State::Rebinding => {
                let a = active?;
                let floor = a.lease.retransmit_floor();
                let until = if self.state == State::Renewing {
                    a.t2
                } else {
                    a.expiry
                };
                match until {
                    Some(until) => halfway(now.mono, until, floor),
                    // An infinite lease renewed on command: one more try after the floor, then back
                    // to BOUND (see `retransmit`).
                    None => Some(now.mono + floor),
                }
            }
            _ => None,
        }
    }

    fn transmit(
        &mut self,
        outgoing: Outgoing,
        destination: Destination,
        source: Ipv4Addr,
        out: &mut Vec<Output>,
    ) {
        match outgoing.encode(&self.config.identity) {
            Ok(bytes) => out.push(Output::Send(Transmit {
                outgoing,
                bytes,
                destination,
                source,
                state: self.state,
            })),
            Err(e) => out.push(Output::Note(e)),
        }
    }

    fn timer(&mut self, now: Now, out: &mut Vec<Output>) {
        // Several deadlines may have passed (a suspended process, a lease shorter than its retransmit
        // floor); each step moves the state on, so a handful of steps always catches up.
        for _ in 0..8 {
            match self.deadline() {
                Some(d) if d <= now.mono => self.timer_step(now, out),
                _ => return,
            }
        }
    }

    fn timer_step(&mut self, now: Now, out: &mut Vec<Output>) {
        if self.active.as_ref().is_some_and(|a| a.expired(now.mono)) {
            return self.expire(now, out);
        }
        if self
            .pending
            .as_ref()
            .is_some_and(|p| p.deadline <= now.mono)
        {
            out.push(Output::Note(
                "no conflict probe result in time; using the address".into(),
            ));
            return self.probed(ProbeResult::Clear, now, out);
        }
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now.mono);
        let (t1, t2) = match &self.active {
            Some(a) => (a.t1, a.t2),
            None => (None, None),
        };
        match self.state {
            State::Bound if due(t1) => {
                let next = if due(t2) {
                    State::Rebinding
                } else {
                    State::Renewing
                };
                return self.enter(next, now, out);
            }
            State::Renewing if due(t2) => return self.enter(State::Rebinding, now, out),
            _ => {}
        }
        if !due(self.retransmit_at) {
            return;
        }
        match self.state {
            State::Init => self.begin_discover(now, out),
            State::Selecting => self.send_discover(now, out),
            State::Requesting => {
                if self.transmissions >= MAX_REQUEST_TRANSMISSIONS {
                    out.push(Output::Note(format!(
                        "no answer to {} DHCPREQUESTs; discovering again",
                        self.transmissions
                    )));
                    self.hint = self.offer.as_ref().map(|o| o.address).or(self.hint);
                    self.begin_discover(now, out);
                } else {
                    self.send_request(now, out);
                }
            }
            State::Rebooting => {
                if self.transmissions >= MAX_REBOOT_TRANSMISSIONS {
                    self.use_unconfirmed(now, out);
                } else {
                    self.send_request(now, out);
                }
            }
            State::Renewing | State::Rebinding => {
                if self.active.as_ref().is_some_and(|a| a.lease.is_infinite()) {
                    out.push(Output::Note(
                        "no answer about the infinite lease; keeping it".into(),
                    ));
                    self.state = State::Bound;
                    self.reset_exchange();
                } else {
                    self.send_request(now, out);
                }
            }
            State::Bound | State::InitReboot => self.retransmit_at = None,
        }
    }

    /// RFC 2131 §3.2: no server answered in INIT-REBOOT; use the remembered lease until it runs out.
    fn use_unconfirmed(&mut self, now: Now, out: &mut Vec<Output>) {
        let Some(a) = &self.active else { return };
        let lease = a.lease.clone();
        out.push(Output::Note(format!(
            "no answer to {} DHCPREQUESTs in REBOOTING; using the remembered lease of {} until it expires",
            self.transmissions, lease.address
        )));
        self.state = State::Bound;
        self.reset_exchange();
        out.push(Output::Event(
            self.lease_event(
                events::LEASE_BOUND,
                Severity::Warning,
                format!(
                    "using the remembered lease of {} unconfirmed (no server answered)",
                    lease.address
                ),
                &lease,
                now,
            )
            .attr(attr::UNCONFIRMED, "true")
            .attr(attr::STATE, State::Rebooting.as_str()),
        ));
        out.push(Output::Lease(LeaseChange::Bound(lease)));
    }

    fn expire(&mut self, now: Now, out: &mut Vec<Output>) {
        let Some(a) = self.active.take() else { return };
        let lease = a.lease;
        if self.pending.take().is_some() {
            out.push(Output::CancelProbe);
        }
        out.push(Output::Event(self.lease_event(
            events::LEASE_EXPIRED,
            Severity::Warning,
            format!("lease of {} expired", lease.address),
            &lease,
            now,
        )));
        self.hint = Some(lease.address);
        self.lost_address = Some(lease.address);
        self.last_loss = Some(Loss::Expired);
        out.push(Output::Lease(LeaseChange::Expired(lease)));
        self.state = State::Init;
        self.reset_exchange();
        if self.link_up && self.started && self.halted.is_none() {
            self.begin_discover(now, out);
        }
    }

    fn link(&mut self, ev: LinkEvent, now: Now, out: &mut Vec<Output>) {
        match ev {
            LinkEvent::CarrierLost => {
                if !self.link_up {
                    return;
                }
                self.link_up = false;
                if self.pending.take().is_some() {
                    out.push(Output::CancelProbe);
                }
                self.reset_exchange();
                if self.halted.is_none() {
                    self.state = if self.active.is_some() {
                        State::InitReboot
                    } else {
                        State::Init
                    };
                }
                out.push(Output::Note("carrier lost".into()));
            }
            LinkEvent::CarrierUp => {
                if self.link_up {
                    return;
                }
                self.link_up = true;
                out.push(Output::Note("carrier back".into()));
                if self.started && self.halted.is_none() {
                    self.resume(now, out);
                }
            }
        }
    }

    fn received(&mut self, r: &Reply, now: Now, out: &mut Vec<Output>) {
        if let Err(why) = self.addressed_to_us(r) {
            out.push(Output::Note(format!("{} ignored: {why}", r.kind.as_str())));
            return;
        }
        match (self.state, r.kind) {
            (State::Selecting, ReplyKind::Offer) => self.offer_received(r, now, out),
            (State::Requesting, ReplyKind::Ack) => self.ack_requesting(r, now, out),
            (State::Rebooting, ReplyKind::Ack) => self.ack_rebooting(r, now, out),
            (State::Renewing | State::Rebinding, ReplyKind::Ack) => self.ack_extends(r, now, out),
            (
                State::Requesting | State::Rebooting | State::Renewing | State::Rebinding,
                ReplyKind::Nak,
            ) => self.nak_received(r, now, out),
            (state, kind) => out.push(Output::Note(format!(
                "{} ignored: not expected in {state}",
                kind.as_str()
            ))),
        }
    }

    /// xid, hardware address and client identifier must be ours; the machine must be listening.
    fn addressed_to_us(&self, r: &Reply) -> Result<(), String> {
        if !self.started || self.halted.is_some() || !self.link_up {
            return Err("not listening".into());
        }
        if self.exchange_started.is_none() || self.pending.is_some() {
            return Err(format!("no exchange in progress in {}", self.state));
        }
        if r.xid != self.xid {
            return Err(format!(
                "xid {:#010x} is not ours ({:#010x})",
                r.xid, self.xid
            ));
        }
        if r.chaddr != self.config.identity.mac {
            return Err("chaddr is not our hardware address".into());
        }
        if let Some(id) = &r.client_id {
            if *id != self.config.identity.client_id {
                return Err("it echoes another client identifier (RFC 6842)".into());
            }
        }
        Ok(())
    }

    fn offer_received(&mut self, r: &Reply, now: Now, out: &mut Vec<Output>) {
        let Some(server_id) = r.server_id else {
            out.push(Output::Note(
                "DHCPOFFER ignored: no server identifier (option 54)".into(),
            ));
            return;
        };
        if !usable_address(r.yiaddr) {
            out.push(Output::Note(format!(
                "DHCPOFFER ignored: {} is not a host address",
                r.yiaddr
            )));
            return;
        }
        if r.lease_time == Some(0) {
            out.push(Output::Note("DHCPOFFER ignored: lease time 0".into()));
            return;
        }
        let mut e = self
            .event(
                events::OFFER_RECEIVED,
                Severity::Info,
                format!("DHCPOFFER of {} from {server_id}", r.yiaddr),
                now,
            )
            .attr(attr::ADDRESS, r.yiaddr.to_string())
            .attr(attr::SERVER_ID, server_id.to_string());
        if let Some(t) = r.lease_time {
            e = e.attr(attr::LEASE_TIME_SECONDS, t.to_string());
        }
        let gateway = match &r.classless_routes {
            Some(routes) => routes
                .iter()
                .find(|x| x.prefix_length == 0)
                .map(|x| x.gateway),
            None => r.routers.first().copied(),
        };
        if let Some(g) = gateway {
            e = e.attr(attr::GATEWAY, g.to_string());
        }
        out.push(Output::Event(e));
        // RFC 2131 §4.4.1: the REQUEST carries the offer's xid; the exchange (and `secs`) goes on.
        self.offer = Some(Offered {
            address: r.yiaddr,
            server_id,
        });
        self.state = State::Requesting;
        self.transmissions = 0;
        self.retransmit_at = None;
        self.request_sent = None;
        self.send_request(now, out);
    }

    fn ack_requesting(&mut self, r: &Reply, now: Now, out: &mut Vec<Output>) {
        let Some(offer) = self.offer.clone() else {
            out.push(Output::Note("DHCPACK ignored: no offer selected".into()));
            return;
        };
        if r.server_id.is_some_and(|s| s != offer.server_id) {
            out.push(Output::Note(format!(
                "DHCPACK ignored: from server {:?}, we requested from {}",
                r.server_id, offer.server_id
            )));
            return;
        }
        if r.yiaddr != offer.address {
            out.push(Output::Note(format!(
                "DHCPACK ignored: it grants {}, we requested {}",
                r.yiaddr, offer.address
            )));
            return;
        }
        let sent = self.request_sent.unwrap_or(now);
        let lease = match Lease::from_ack(r, Some(offer.server_id), sent.wall) {
            Ok(l) => l,
            Err(why) => {
                out.push(Output::Note(format!("DHCPACK ignored: {why}")));
                return;
            }
        };
        if self.config.conflict_probe {
            self.retransmit_at = None;
            out.push(Output::Probe(lease.address));
            self.pending = Some(PendingProbe {
                lease,
                start: sent.mono,
                deadline: now.mono + PROBE_GUARD,
            });
        } else {
            self.bind(lease, sent.mono, LeaseChange::Bound, now, out);
        }
    }

    fn ack_rebooting(&mut self, r: &Reply, now: Now, out: &mut Vec<Output>) {
        let Some(remembered) = self.active.as_ref().map(|a| a.lease.clone()) else {
            out.push(Output::Note("DHCPACK ignored: no remembered lease".into()));
            return;
        };
        if r.yiaddr != remembered.address {
            out.push(Output::Note(format!(
                "DHCPACK ignored: it grants {}, we asked to keep {}",
                r.yiaddr, remembered.address
            )));
            return;
        }
        let sent = self.request_sent.unwrap_or(now);
        match Lease::from_ack(r, None, sent.wall) {
            Ok(lease) => self.bind(lease, sent.mono, LeaseChange::Bound, now, out),
            Err(why) => out.push(Output::Note(format!("DHCPACK ignored: {why}"))),
        }
    }

    fn ack_extends(&mut self, r: &Reply, now: Now, out: &mut Vec<Output>) {
        let Some(current) = self.active.as_ref().map(|a| a.lease.clone()) else {
            return;
        };
        if r.yiaddr != current.address {
            out.push(Output::Note(format!(
                "DHCPACK ignored: it grants {}, we hold {}",
                r.yiaddr, current.address
            )));
            return;
        }
        if self.state == State::Renewing && r.server_id.is_some_and(|s| s != current.server_id) {
            out.push(Output::Note(format!(
                "DHCPACK ignored: renewing with {}, answered by {:?}",
                current.server_id, r.server_id
            )));
            return;
        }
        let sent = self.request_sent.unwrap_or(now);
        let fallback = (self.state == State::Renewing).then_some(current.server_id);
        match Lease::from_ack(r, fallback, sent.wall) {
            Ok(lease) => {
                let change = if self.state == State::Renewing {
                    LeaseChange::Renewed
                } else {
                    LeaseChange::Rebound
                };
                self.bind(lease, sent.mono, change, now, out)
            }
            Err(why) => out.push(Output::Note(format!("DHCPACK ignored: {why}"))),
        }
    }

    fn nak_received(&mut self, r: &Reply, now: Now, out: &mut Vec<Output>) {
        // A NAK must come from the server we are talking to, where there is one (RFC 2131 §4.4.1).
        let expected = match self.state {
            State::Requesting => self.offer.as_ref().map(|o| o.server_id),
            State::Renewing => self.active.as_ref().map(|a| a.lease.server_id),
            _ => None,
        };
        if let (Some(e), Some(s)) = (expected, r.server_id) {
            if e != s {
                out.push(Output::Note(format!(
                    "DHCPNAK ignored: from {s}, we are talking to {e}"
                )));
                return;
            }
        }
        self.consecutive_naks = self.consecutive_naks.saturating_add(1);
        let asked = match (&self.offer, &self.active) {
            (Some(o), _) if self.state == State::Requesting => Some(o.address),
            (_, Some(a)) => Some(a.lease.address),
            _ => None,
        };
        let mut e = self.event(
            events::NAK_RECEIVED,
            Severity::Warning,
            format!(
                "DHCPNAK in {}{}",
                self.state,
                r.message
                    .as_ref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
            now,
        );
        e = e.attr(attr::STATE, self.state.as_str());
        if let Some(a) = asked {
            e = e.attr(attr::ADDRESS, a.to_string());
        }
        if let Some(s) = r.server_id {
            e = e.attr(attr::SERVER_ID, s.to_string());
        }
        if let Some(m) = &r.message {
            e = e.attr(attr::MESSAGE, m.clone());
        }
        out.push(Output::Event(e));
        if let Some(a) = self.active.take() {
            self.lost_address = Some(a.lease.address);
            out.push(Output::Lease(LeaseChange::Nak(a.lease)));
        }
        // Do not ask for the refused address again.
        self.hint = None;
        self.last_loss = Some(Loss::Nak);
        self.state = State::Init;
        self.reset_exchange();
        // RFC 2131 §3.1.5 restarts at once; repeated NAKs back off (4 s doubling to 64 s) so a server
        // that NAKs everything is not flooded.
        match self.consecutive_naks {
            0 | 1 => self.begin_discover(now, out),
            n => {
                let wait =
                    (Duration::from_secs(4) * (1 << (n - 2).min(4))).min(Duration::from_secs(64));
                self.retransmit_at = Some(now.mono + wait);
            }
        }
    }

    fn probed(&mut self, result: ProbeResult, now: Now, out: &mut Vec<Output>) {
        let Some(p) = self.pending.take() else {
            out.push(Output::Note(
                "conflict probe result ignored: no probe in progress".into(),
            ));
            return;
        };
        match result {
            ProbeResult::Clear => self.bind(p.lease, p.start, LeaseChange::Bound, now, out),
            ProbeResult::Conflict { mac } => self.decline(p.lease, mac, now, out),
        }
    }

    /// RFC 2131 §3.1.5 / RFC 5227 §2.1.1: the address is in use; DHCPDECLINE, then INIT after 10 s.
    fn decline(&mut self, lease: Lease, mac: [u8; 6], now: Now, out: &mut Vec<Output>) {
        let mac_text = mac_text(&mac);
        out.push(Output::Event(
            self.lease_event(
                events::ADDRESS_CONFLICT,
                Severity::Warning,
                format!(
                    "{} is already in use by {mac_text}; declining it",
                    lease.address
                ),
                &lease,
                now,
            )
            .attr(attr::CONFLICT_MAC, mac_text),
        ));
        let outgoing = Outgoing {
            kind: ClientMessage::Decline,
            xid: self.xid,
            secs: 0,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            requested_address: Some(lease.address),
            server_id: Some(lease.server_id),
            broadcast_flag: false,
        };
        self.transmit(outgoing, Destination::Broadcast, Ipv4Addr::UNSPECIFIED, out);
        if self.hint == Some(lease.address) {
            self.hint = None;
        }
        self.last_loss = Some(Loss::Declined);
        self.state = State::Init;
        self.reset_exchange();
        self.retransmit_at = Some(now.mono + DECLINE_WAIT);
    }

    fn bind(
        &mut self,
        lease: Lease,
        start: Instant,
        change: fn(Lease) -> LeaseChange,
        now: Now,
        out: &mut Vec<Output>,
    ) {
        let from = self.state;
        let previous = self.lost_address.take().filter(|a| *a != lease.address);
        let (topic, verb) = match change(lease.clone()) {
            LeaseChange::Renewed(_) => (events::LEASE_RENEWED, "renewed"),
            LeaseChange::Rebound(_) => (events::LEASE_REBOUND, "rebound"),
            _ => (events::LEASE_BOUND, "bound"),
        };
        let mut e = self
            .lease_event(
                topic,
                Severity::Info,
                format!(
                    "lease of {}/{} {verb} from {} for {}",
                    lease.address,
                    lease.prefix_length,
                    lease.server_id,
                    lease_duration_text(&lease)
                ),
                &lease,
                now,
            )
            .attr(attr::STATE, from.as_str());
        if let Some(p) = previous.filter(|_| topic == events::LEASE_BOUND) {
            e = e.attr(attr::PREVIOUS_ADDRESS, p.to_string());
        }
        out.push(Output::Event(e));
        self.hint = Some(lease.address);
        self.consecutive_naks = 0;
        self.last_loss = None;
        self.active = Some(Active::new(lease.clone(), start));
        self.state = State::Bound;
        self.reset_exchange();
        out.push(Output::Lease(change(lease)));
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

    /// An event with the catalogue's lease attributes.
    fn lease_event(
        &self,
        topic: &str,
        severity: Severity,
        message: String,
        lease: &Lease,
        now: Now,
    ) -> NewEvent {
        let mut e = self
            .event(topic, severity, message, now)
            .attr(attr::ADDRESS, lease.address.to_string())
            .attr(attr::SERVER_ID, lease.server_id.to_string())
            .attr(
                attr::LEASE_TIME_SECONDS,
                lease.lease_time_seconds.to_string(),
            );
        if let Some(g) = lease.gateway() {
            e = e.attr(attr::GATEWAY, g.to_string());
        }
        e
    }
}

fn lease_duration_text(lease: &Lease) -> String {
    if lease.is_infinite() {
        "ever".into()
    } else {
        format!("{}s", lease.lease_time_seconds)
    }
}

#[cfg(test)]
mod tests;
