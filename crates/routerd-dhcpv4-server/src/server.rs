//! The RFC 2131 server, sans-IO: requests, probe results and timer expiries in (with the injected time),
//! replies to send, probes to run, lease records to persist and events out.
//!
//! Ordering contract with the I/O shell: every [`Output::Persist`] of one call comes before the
//! [`Output::Send`] that depends on it, and the shell makes the records durable (one fdatasync for a
//! whole batch) before any reply of the batch leaves. An acknowledged lease is therefore never lost.
//!
//! Allocation for a DISCOVER, in order: the client's reservation; the address the client had (bound,
//! released or expired); the address it asks for (option 50) when free; a never-used pool address
//! (checked first: the core emits [`Output::Probe`] and offers only after a clear [`Server::probe_result`]);
//! the free used address that has been free longest. Nothing free: `pool.exhausted`.

use crate::events::{self, attr};
use crate::lease::{client_key, Lease, LeaseState};
use routerd_api::event::{NewEvent, Severity};
use routerd_api::spec::mac_text;
use routerd_api::Timestamp;
use routerd_proto::dhcpv4::{
    code, parse_request, ClientRequest, MessageType, ServerReply, BROADCAST_FLAG, CLIENT_PORT,
    SERVER_PORT,
};
use routerd_sansio::hex::to_hex;
use routerd_sansio::{resource_event, Now};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

/// How long an offered address is held for the client that was offered it.
pub const OFFER_HOLD: Duration = Duration::from_secs(30);
/// How long a declined (or ping-answering) address stays out of the pool.
pub const DECLINE_QUARANTINE: Duration = Duration::from_secs(600);
/// How often leases are checked for expiry.
pub const SWEEP: Duration = Duration::from_secs(1);
/// `pool.exhausted` at most this often.
const EXHAUSTED_EVERY: Duration = Duration::from_secs(60);
/// Never-used addresses probed for one DISCOVER before giving up on it (the client retries).
const MAX_PROBES: u32 = 4;

/// A fixed address for one MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub mac: [u8; 6],
    pub address: Ipv4Addr,
    pub hostname: Option<String>,
}

/// Everything the server needs, resolved (routerd's controller fills the defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Resource name, for events.
    pub name: String,
    /// Option 54 and the source of replies.
    pub server_address: Ipv4Addr,
    pub prefix_length: u8,
    pub pool_start: Ipv4Addr,
    pub pool_end: Ipv4Addr,
    pub lease_time: Duration,
    pub gateway: Option<Ipv4Addr>,
    pub dns_servers: Vec<Ipv4Addr>,
    pub domain: Option<String>,
    pub ntp_servers: Vec<Ipv4Addr>,
    pub reservations: Vec<Reservation>,
    /// NAK requests for addresses it does not lease to that client.
    pub authoritative: bool,
    /// Check never-used addresses before offering them.
    pub probe: bool,
}

impl ServerConfig {
    fn mask(&self) -> u32 {
        if self.prefix_length == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix_length.min(32)))
        }
    }
    /// Whether `a` is on the served subnet.
    pub fn on_subnet(&self, a: Ipv4Addr) -> bool {
        u32::from(a) & self.mask() == u32::from(self.server_address) & self.mask()
    }
    pub fn in_pool(&self, a: Ipv4Addr) -> bool {
        (u32::from(self.pool_start)..=u32::from(self.pool_end)).contains(&u32::from(a))
    }
    /// Addresses of the pool that can be handed out (not reserved, not the server's).
    pub fn pool_size(&self) -> u64 {
        let total = u64::from(u32::from(self.pool_end))
            .saturating_sub(u64::from(u32::from(self.pool_start)))
            + 1;
        let taken = self
            .reservations
            .iter()
            .map(|r| r.address)
            .chain([self.server_address])
            .filter(|a| self.in_pool(*a))
            .count() as u64;
        total.saturating_sub(taken)
    }
    fn reservation_of(&self, mac: &[u8; 6]) -> Option<&Reservation> {
        self.reservations.iter().find(|r| &r.mac == mac)
    }
    fn reserved_for_other(&self, a: Ipv4Addr, mac: &[u8; 6]) -> bool {
        self.reservations
            .iter()
            .any(|r| r.address == a && &r.mac != mac)
    }
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub kind: MessageType,
    pub to: SocketAddrV4,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Send(Transmit),
    /// Check whether anyone answers at this address; answer with [`Server::probe_result`].
    Probe(Ipv4Addr),
    /// Make this record durable before any later `Send` leaves.
    Persist(Lease),
    Event(NewEvent),
    /// Why a message was dropped, for the debug log.
    Note(String),
}

/// A DISCOVER waiting for the check of a never-used address.
#[derive(Debug, Clone)]
struct PendingOffer {
    request: ClientRequest,
    probes: u32,
}

/// Counts for `/v1/status` and the resource status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolCounts {
    pub pool_size: u64,
    pub active: u64,
    pub free: u64,
}

pub struct Server {
    config: ServerConfig,
    leases: HashMap<Ipv4Addr, Lease>,
    by_client: HashMap<String, Ipv4Addr>,
    pending: HashMap<Ipv4Addr, PendingOffer>,
    /// Next never-used candidate (addresses below it in the pool have been looked at).
    fresh_cursor: u32,
    next_sweep: Option<std::time::Instant>,
    last_exhausted: Option<std::time::Instant>,
    last_lease_at: Option<Timestamp>,
}

impl Server {
    /// A server with the leases read back from the journal.
    pub fn new(config: ServerConfig, restored: impl IntoIterator<Item = Lease>) -> Server {
        let mut s = Server {
            fresh_cursor: u32::from(config.pool_start),
            config,
            leases: HashMap::new(),
            by_client: HashMap::new(),
            pending: HashMap::new(),
            next_sweep: None,
            last_exhausted: None,
            last_lease_at: None,
        };
        for mut l in restored {
            // An offer does not survive a restart: the client asks again.
            if l.state == LeaseState::Offered {
                continue;
            }
            if l.state == LeaseState::Bound {
                s.last_lease_at = s.last_lease_at.max(Some(l.updated_at));
            }
            l.hostname = l.hostname.filter(|h| !h.is_empty());
            s.index(l);
        }
        s
    }

    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Every lease record, in address order.
    pub fn leases(&self) -> Vec<&Lease> {
        let mut v: Vec<&Lease> = self.leases.values().collect();
        v.sort_by_key(|l| u32::from(l.address));
        v
    }

    /// How many records the table holds (any state).
    pub fn lease_count(&self) -> usize {
        self.leases.len()
    }

    pub fn lease(&self, a: Ipv4Addr) -> Option<&Lease> {
        self.leases.get(&a)
    }

    pub fn last_lease_at(&self) -> Option<Timestamp> {
        self.last_lease_at
    }

    pub fn counts(&self, now: Timestamp) -> PoolCounts {
        let pool_size = self.config.pool_size();
        let taken = self
            .leases
            .values()
            .filter(|l| self.config.in_pool(l.address) && l.holds(now))
            .count() as u64;
        let active = self
            .leases
            .values()
            .filter(|l| l.state == LeaseState::Bound && l.expires_at > now)
            .count() as u64;
        PoolCounts {
            pool_size,
            active,
            free: pool_size.saturating_sub(taken),
        }
    }

    /// When [`Server::timer`] wants to run next.
    pub fn deadline(&self) -> Option<std::time::Instant> {
        self.next_sweep
    }

    fn index(&mut self, l: Lease) {
        if let Some(old) = self.leases.get(&l.address) {
            let old_key = old.client_key();
            if self.by_client.get(&old_key) == Some(&l.address) {
                self.by_client.remove(&old_key);
            }
        }
        let key = l.client_key();
        if l.state != LeaseState::Declined {
            if let Some(prev) = self.by_client.insert(key, l.address) {
                // The client moved: its previous address no longer points at it.
                if prev != l.address {
                    if let Some(p) = self.leases.get_mut(&prev) {
                        if p.state == LeaseState::Bound || p.state == LeaseState::Offered {
                            p.state = LeaseState::Released;
                        }
                    }
                }
            }
        }
        self.leases.insert(l.address, l);
    }

    /// Drops the record of `a` (a lapsed or refused offer): the address is never-used again, so the
    /// fresh cursor steps back to it.
    fn forget(&mut self, a: Ipv4Addr) {
        if let Some(l) = self.leases.remove(&a) {
            let key = l.client_key();
            if self.by_client.get(&key) == Some(&a) {
                self.by_client.remove(&key);
            }
        }
        if self.config.in_pool(a) {
            self.fresh_cursor = self.fresh_cursor.min(u32::from(a));
        }
    }

    fn arm_sweep(&mut self, now: Now) {
        if self.next_sweep.is_none() {
            self.next_sweep = Some(now.mono + SWEEP);
        }
    }

    /// A datagram received on port 67 from `source`.
    pub fn handle_packet(&mut self, bytes: &[u8], now: Now) -> Vec<Output> {
        let mut out = Vec::new();
        let request = match parse_request(bytes) {
            Ok(r) => r,
            Err(e) => {
                out.push(Output::Note(format!("dropped: {e}")));
                return out;
            }
        };
        if !request.giaddr.is_unspecified() && !self.config.on_subnet(request.giaddr) {
            // Only the subnet this server serves is ours; a relay for another subnet needs another pool.
            out.push(Output::Note(format!(
                "dropped {} relayed by {}: not the served subnet",
                request.kind.as_str(),
                request.giaddr
            )));
            return out;
        }
        match request.kind {
            MessageType::Discover => self.discover(request, now, &mut out),
            MessageType::Request => self.request(request, now, &mut out),
            MessageType::Decline => self.decline(request, now, &mut out),
            MessageType::Release => self.release(request, now, &mut out),
            MessageType::Inform => self.inform(request, &mut out),
            _ => {}
        }
        self.arm_sweep(now);
        out
    }

    fn key_of(r: &ClientRequest) -> (String, Option<String>, String) {
        let mac = mac_text(&r.chaddr);
        let id = r.client_id.as_deref().map(to_hex);
        (client_key(id.as_deref(), &mac), id, mac)
    }

    /// Whether `a` may be given to the client `key` with hardware address `mac` at `now`.
    fn free_for(&self, a: Ipv4Addr, key: &str, mac: &[u8; 6], now: Timestamp) -> bool {
        if a == self.config.server_address || !self.config.on_subnet(a) {
            return false;
        }
        let reserved_here = self.config.reservation_of(mac).map(|r| r.address) == Some(a);
        if !reserved_here && (!self.config.in_pool(a) || self.config.reserved_for_other(a, mac)) {
            return false;
        }
        if let Some(p) = self.pending.get(&a) {
            if Self::key_of(&p.request).0 != key {
                return false;
            }
        }
        match self.leases.get(&a) {
            None => true,
            Some(l) => (l.client_key() == key && l.state != LeaseState::Declined) || !l.holds(now),
        }
    }

    /// The address to offer and whether it must be checked first.
    fn choose(&mut self, r: &ClientRequest, key: &str, now: Timestamp) -> Option<(Ipv4Addr, bool)> {
        if let Some(res) = self.config.reservation_of(&r.chaddr) {
            let a = res.address;
            return self
                .free_for(a, key, &r.chaddr, now)
                .then_some((a, !self.leases.contains_key(&a) && self.config.probe));
        }
        if let Some(&a) = self.by_client.get(key) {
            if self.free_for(a, key, &r.chaddr, now) {
                return Some((a, false));
            }
        }
        if let Some(a) = r.requested_address {
            if self.free_for(a, key, &r.chaddr, now) {
                return Some((a, !self.leases.contains_key(&a) && self.config.probe));
            }
        }
        let end = u32::from(self.config.pool_end);
        while self.fresh_cursor <= end {
            let a = Ipv4Addr::from(self.fresh_cursor);
            self.fresh_cursor = self.fresh_cursor.saturating_add(1);
            if self.fresh_cursor == 0 {
                // Wrapped past 255.255.255.255: nothing beyond.
                self.fresh_cursor = u32::MAX;
            }
            if !self.leases.contains_key(&a)
                && !self.pending.contains_key(&a)
                && self.free_for(a, key, &r.chaddr, now)
            {
                return Some((a, self.config.probe));
            }
        }
        // Reuse: the free used address whose lease ended longest ago.
        self.leases
            .values()
            .filter(|l| {
                !l.holds(now)
                    && self.config.in_pool(l.address)
                    && self.free_for(l.address, key, &r.chaddr, now)
            })
            .min_by_key(|l| (l.updated_at, u32::from(l.address)))
            .map(|l| (l.address, false))
    }

    fn discover(&mut self, r: ClientRequest, now: Now, out: &mut Vec<Output>) {
        let (key, _, mac) = Self::key_of(&r);
        if self
            .pending
            .values()
            .any(|p| Self::key_of(&p.request).0 == key)
        {
            out.push(Output::Note(format!(
                "{mac}: still checking an address for it"
            )));
            return;
        }
        match self.choose(&r, &key, now.wall) {
            Some((a, true)) => {
                self.pending.insert(
                    a,
                    PendingOffer {
                        request: r,
                        probes: 1,
                    },
                );
                out.push(Output::Probe(a));
            }
            Some((a, false)) => self.offer(&r, a, now, out),
            None => self.exhausted(&r, now, out),
        }
    }

    fn exhausted(&mut self, r: &ClientRequest, now: Now, out: &mut Vec<Output>) {
        let due = self
            .last_exhausted
            .is_none_or(|t| now.mono.duration_since(t) >= EXHAUSTED_EVERY);
        if due {
            self.last_exhausted = Some(now.mono);
            out.push(Output::Event(
                self.event(
                    events::POOL_EXHAUSTED,
                    Severity::Warning,
                    format!(
                        "no free address for {} in {}-{}",
                        mac_text(&r.chaddr),
                        self.config.pool_start,
                        self.config.pool_end
                    ),
                    now,
                )
                .attr(attr::MAC, mac_text(&r.chaddr)),
            ));
        }
        out.push(Output::Note(format!(
            "no free address for {}",
            mac_text(&r.chaddr)
        )));
    }

    /// The result of a probe of `address`: `in_use` when something answered.
    pub fn probe_result(&mut self, address: Ipv4Addr, in_use: bool, now: Now) -> Vec<Output> {
        let mut out = Vec::new();
        let Some(p) = self.pending.remove(&address) else {
            return out;
        };
        if !in_use {
            self.offer(&p.request, address, now, &mut out);
            return out;
        }
        // Someone uses it without a lease: keep it out of the pool for a while, try another.
        let mac = mac_text(&[0; 6]);
        self.index(Lease {
            address,
            mac: mac.clone(),
            client_id: None,
            hostname: None,
            state: LeaseState::Declined,
            expires_at: now.wall.saturating_add(DECLINE_QUARANTINE),
            updated_at: now.wall,
        });
        out.push(Output::Event(
            self.event(
                events::LEASE_DECLINED,
                Severity::Warning,
                format!("{address} answered the check before an offer; quarantined"),
                now,
            )
            .attr(attr::ADDRESS, address.to_string())
            .attr(attr::MAC, mac),
        ));
        let (key, _, _) = Self::key_of(&p.request);
        match self.choose(&p.request, &key, now.wall) {
            Some((a, true)) if p.probes < MAX_PROBES => {
                self.pending.insert(
                    a,
                    PendingOffer {
                        request: p.request,
                        probes: p.probes + 1,
                    },
                );
                out.push(Output::Probe(a));
            }
            Some((a, false)) => self.offer(&p.request, a, now, &mut out),
            Some(_) => out.push(Output::Note("too many addresses in use; giving up".into())),
            None => self.exhausted(&p.request, now, &mut out),
        }
        out
    }

    fn offer(&mut self, r: &ClientRequest, a: Ipv4Addr, now: Now, out: &mut Vec<Output>) {
        let (key, id, mac) = Self::key_of(r);
        let keep_bound = self.leases.get(&a).is_some_and(|l| {
            l.client_key() == key && l.holds(now.wall) && l.state == LeaseState::Bound
        });
        if !keep_bound {
            let hostname = self.hostname_for(r);
            self.index(Lease {
                address: a,
                mac,
                client_id: id,
                hostname,
                state: LeaseState::Offered,
                expires_at: now.wall.saturating_add(OFFER_HOLD),
                updated_at: now.wall,
            });
        }
        out.push(Output::Send(self.reply(r, MessageType::Offer, a, true)));
    }

    fn hostname_for(&self, r: &ClientRequest) -> Option<String> {
        self.config
            .reservation_of(&r.chaddr)
            .and_then(|res| res.hostname.clone())
            .or_else(|| r.hostname.clone())
    }

    fn request(&mut self, r: ClientRequest, now: Now, out: &mut Vec<Output>) {
        let (key, _, mac) = Self::key_of(&r);
        if let Some(sid) = r.server_id {
            // SELECTING.
            if sid != self.config.server_address {
                // The client chose another server: our offer is free again.
                if let Some(&a) = self.by_client.get(&key) {
                    if let Some(l) = self.leases.get(&a) {
                        if l.state == LeaseState::Offered {
                            self.forget(a);
                        }
                    }
                }
                out.push(Output::Note(format!("{mac} chose server {sid}")));
                return;
            }
            let Some(a) = r.requested_address else {
                self.nak(
                    &r,
                    "REQUEST in SELECTING without a requested address",
                    now,
                    out,
                );
                return;
            };
            let ours = self
                .leases
                .get(&a)
                .is_some_and(|l| l.client_key() == key && l.state != LeaseState::Declined);
            if ours && self.free_for(a, &key, &r.chaddr, now.wall) {
                self.ack(&r, a, now, out);
            } else {
                self.nak(
                    &r,
                    "the requested address is not offered to this client",
                    now,
                    out,
                );
            }
            return;
        }
        if let Some(a) = r.requested_address.filter(|_| r.ciaddr.is_unspecified()) {
            // INIT-REBOOT: confirming a remembered address.
            if !self.config.on_subnet(a) {
                self.nak(&r, "the requested address is on another network", now, out);
            } else if self.free_for(a, &key, &r.chaddr, now.wall) && self.may_confirm(&r, &key, a) {
                self.ack(&r, a, now, out);
            } else if self.config.authoritative {
                self.nak(&r, "the requested address is not this client's", now, out);
            } else {
                out.push(Output::Note(format!("{mac}: no record of {a}; silent")));
            }
            return;
        }
        let a = r.ciaddr;
        if a.is_unspecified() {
            self.nak(
                &r,
                "REQUEST without a requested or client address",
                now,
                out,
            );
            return;
        }
        // RENEWING (unicast) or REBINDING (broadcast).
        if self.config.on_subnet(a)
            && self.free_for(a, &key, &r.chaddr, now.wall)
            && self.may_confirm(&r, &key, a)
        {
            self.ack(&r, a, now, out);
        } else if self.config.authoritative {
            self.nak(&r, "the address is not leased to this client", now, out);
        } else {
            out.push(Output::Note(format!("{mac}: no record of {a}; silent")));
        }
    }

    /// Whether a client confirming or renewing `a` without an offer may have it: its own record, or a
    /// free address with no other owner (leases survive restarts, so this covers a lost journal only).
    /// A reserved client may only have its reservation.
    fn may_confirm(&self, r: &ClientRequest, key: &str, a: Ipv4Addr) -> bool {
        if let Some(res) = self.config.reservation_of(&r.chaddr) {
            return res.address == a;
        }
        match self.by_client.get(key) {
            Some(&mine) if mine != a => self
                .leases
                .get(&mine)
                .is_none_or(|l| l.state != LeaseState::Bound),
            _ => true,
        }
    }

    fn ack(&mut self, r: &ClientRequest, a: Ipv4Addr, now: Now, out: &mut Vec<Output>) {
        let (key, id, mac) = Self::key_of(r);
        let previous = self.leases.get(&a).cloned();
        let renewed = previous.as_ref().is_some_and(|l| {
            l.client_key() == key && l.state == LeaseState::Bound && l.holds(now.wall)
        });
        let hostname = self.hostname_for(r).or_else(|| {
            previous
                .as_ref()
                .filter(|l| l.client_key() == key)
                .and_then(|l| l.hostname.clone())
        });
        let lease = Lease {
            address: a,
            mac: mac.clone(),
            client_id: id,
            hostname: hostname.clone(),
            state: LeaseState::Bound,
            expires_at: now.wall.saturating_add(self.config.lease_time),
            updated_at: now.wall,
        };
        self.index(lease.clone());
        self.last_lease_at = Some(now.wall);
        out.push(Output::Persist(lease));
        let (topic, verb) = if renewed {
            (events::LEASE_RENEWED, "renewed")
        } else {
            (events::LEASE_GRANTED, "granted")
        };
        let mut e = self
            .event(topic, Severity::Info, format!("{a} {verb} to {mac}"), now)
            .attr(attr::MAC, mac)
            .attr(attr::ADDRESS, a.to_string());
        if let Some(h) = hostname {
            e = e.attr(attr::HOSTNAME, h);
        }
        out.push(Output::Event(e));
        out.push(Output::Send(self.reply(r, MessageType::Ack, a, true)));
    }

    fn nak(&mut self, r: &ClientRequest, why: &str, now: Now, out: &mut Vec<Output>) {
        let mac = mac_text(&r.chaddr);
        let asked = r.requested_address.unwrap_or(r.ciaddr);
        out.push(Output::Event(
            self.event(
                events::NAK_SENT,
                Severity::Info,
                format!("NAK to {mac} for {asked}: {why}"),
                now,
            )
            .attr(attr::MAC, mac)
            .attr(attr::ADDRESS, asked.to_string()),
        ));
        let mut t = self.reply(r, MessageType::Nak, Ipv4Addr::UNSPECIFIED, false);
        // RFC 2131 §4.3.2: a NAK goes to the relay (with the broadcast bit) or is broadcast.
        if r.giaddr.is_unspecified() {
            t.to = SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT);
        }
        out.push(Output::Send(t));
    }

    fn decline(&mut self, r: ClientRequest, now: Now, out: &mut Vec<Output>) {
        let (key, _, mac) = Self::key_of(&r);
        if r.server_id.is_some_and(|s| s != self.config.server_address) {
            return;
        }
        let Some(a) = r.requested_address else {
            out.push(Output::Note(format!(
                "DECLINE from {mac} without an address"
            )));
            return;
        };
        let Some(l) = self
            .leases
            .get(&a)
            .filter(|l| l.client_key() == key)
            .cloned()
        else {
            out.push(Output::Note(format!(
                "DECLINE from {mac} for {a}, not its lease"
            )));
            return;
        };
        let declined = Lease {
            state: LeaseState::Declined,
            expires_at: now.wall.saturating_add(DECLINE_QUARANTINE),
            updated_at: now.wall,
            ..l
        };
        self.index(declined.clone());
        self.by_client.remove(&key);
        out.push(Output::Persist(declined));
        out.push(Output::Event(
            self.event(
                events::LEASE_DECLINED,
                Severity::Warning,
                format!("{mac} declined {a}: in use by someone else; quarantined"),
                now,
            )
            .attr(attr::MAC, mac)
            .attr(attr::ADDRESS, a.to_string()),
        ));
    }

    fn release(&mut self, r: ClientRequest, now: Now, out: &mut Vec<Output>) {
        let (key, _, mac) = Self::key_of(&r);
        let a = r.ciaddr;
        let Some(l) = self
            .leases
            .get(&a)
            .filter(|l| l.client_key() == key && l.state == LeaseState::Bound)
            .cloned()
        else {
            out.push(Output::Note(format!(
                "RELEASE from {mac} for {a}, not its lease"
            )));
            return;
        };
        let released = Lease {
            state: LeaseState::Released,
            updated_at: now.wall,
            expires_at: now.wall,
            ..l
        };
        self.index(released.clone());
        out.push(Output::Persist(released.clone()));
        let mut e = self
            .event(
                events::LEASE_RELEASED,
                Severity::Info,
                format!("{mac} released {a}"),
                now,
            )
            .attr(attr::MAC, mac)
            .attr(attr::ADDRESS, a.to_string());
        if let Some(h) = released.hostname {
            e = e.attr(attr::HOSTNAME, h);
        }
        out.push(Output::Event(e));
    }

    fn inform(&mut self, r: ClientRequest, out: &mut Vec<Output>) {
        if r.ciaddr.is_unspecified() {
            out.push(Output::Note("INFORM without ciaddr".into()));
            return;
        }
        out.push(Output::Send(self.reply(
            &r,
            MessageType::Ack,
            Ipv4Addr::UNSPECIFIED,
            false,
        )));
    }

    /// Leases whose time ran out: offers vanish, bound leases become expired, quarantine ends.
    pub fn timer(&mut self, now: Now) -> Vec<Output> {
        let mut out = Vec::new();
        if self.next_sweep.is_some_and(|t| t > now.mono) {
            return out;
        }
        let due: Vec<Ipv4Addr> = self
            .leases
            .values()
            .filter(|l| {
                matches!(
                    l.state,
                    LeaseState::Offered | LeaseState::Bound | LeaseState::Declined
                ) && l.expires_at <= now.wall
            })
            .map(|l| l.address)
            .collect();
        for a in due {
            let Some(l) = self.leases.get(&a).cloned() else {
                continue;
            };
            match l.state {
                LeaseState::Offered => {
                    // A bare offer leaves nothing to remember.
                    self.forget(a);
                }
                LeaseState::Bound | LeaseState::Declined => {
                    let was_bound = l.state == LeaseState::Bound;
                    let expired = Lease {
                        state: LeaseState::Expired,
                        updated_at: now.wall,
                        ..l
                    };
                    self.leases.insert(a, expired.clone());
                    out.push(Output::Persist(expired.clone()));
                    if was_bound {
                        let mut e = self
                            .event(
                                events::LEASE_EXPIRED,
                                Severity::Info,
                                format!("{a} of {} expired", expired.mac),
                                now,
                            )
                            .attr(attr::MAC, expired.mac.clone())
                            .attr(attr::ADDRESS, a.to_string());
                        if let Some(h) = expired.hostname {
                            e = e.attr(attr::HOSTNAME, h);
                        }
                        out.push(Output::Event(e));
                    }
                }
                _ => {}
            }
        }
        let busy = self.leases.values().any(|l| {
            matches!(
                l.state,
                LeaseState::Offered | LeaseState::Bound | LeaseState::Declined
            )
        });
        self.next_sweep = busy.then_some(now.mono + SWEEP);
        out
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

    /// A reply to `r` (RFC 2131 table 3) and where it goes (§4.1): through the relay when relayed, to
    /// `ciaddr` when the client has one, else broadcast (we never unicast to an address the client
    /// does not have yet; that would need an ARP entry the kernel does not let a UDP socket set).
    fn reply(
        &self,
        r: &ClientRequest,
        kind: MessageType,
        yiaddr: Ipv4Addr,
        lease: bool,
    ) -> Transmit {
        let c = &self.config;
        let mut options: Vec<(u8, Vec<u8>)> =
            vec![(code::SERVER_ID, c.server_address.octets().to_vec())];
        if kind != MessageType::Nak {
            if lease {
                let secs = u32::try_from(c.lease_time.as_secs()).unwrap_or(u32::MAX - 1);
                options.push((code::LEASE_TIME, secs.to_be_bytes().to_vec()));
                options.push((code::RENEWAL_TIME, (secs / 2).to_be_bytes().to_vec()));
                options.push((code::REBINDING_TIME, (secs / 8 * 7).to_be_bytes().to_vec()));
            }
            options.push((code::SUBNET_MASK, c.mask().to_be_bytes().to_vec()));
            if let Some(g) = c.gateway {
                options.push((code::ROUTER, g.octets().to_vec()));
            }
            if !c.dns_servers.is_empty() {
                options.push((
                    code::DNS_SERVERS,
                    c.dns_servers.iter().flat_map(|a| a.octets()).collect(),
                ));
            }
            if let Some(d) = &c.domain {
                options.push((code::DOMAIN_NAME, d.as_bytes().to_vec()));
            }
            if !c.ntp_servers.is_empty() {
                options.push((
                    code::NTP_SERVERS,
                    c.ntp_servers.iter().flat_map(|a| a.octets()).collect(),
                ));
            }
            if lease {
                if let Some(h) = c
                    .reservation_of(&r.chaddr)
                    .and_then(|res| res.hostname.clone())
                {
                    options.push((code::HOSTNAME, h.into_bytes()));
                }
            }
        } else {
            options.push((
                code::MESSAGE,
                b"address not available to this client".to_vec(),
            ));
        }
        if let Some(id) = &r.client_id {
            // RFC 6842: echo the client identifier.
            options.push((code::CLIENT_ID, id.clone()));
        }
        let relayed = !r.giaddr.is_unspecified();
        let mut flags = r.flags & BROADCAST_FLAG;
        let to = if relayed {
            if kind == MessageType::Nak {
                flags |= BROADCAST_FLAG;
            }
            SocketAddrV4::new(r.giaddr, SERVER_PORT)
        } else if !r.ciaddr.is_unspecified() && kind != MessageType::Nak {
            SocketAddrV4::new(r.ciaddr, CLIENT_PORT)
        } else {
            SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT)
        };
        let reply = ServerReply {
            kind,
            xid: r.xid,
            flags,
            ciaddr: if kind == MessageType::Nak {
                Ipv4Addr::UNSPECIFIED
            } else {
                r.ciaddr
            },
            yiaddr,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: r.giaddr,
            chaddr: r.chaddr,
            options,
            relay_agent_info: if relayed {
                r.relay_agent_info.clone()
            } else {
                None
            },
        };
        Transmit {
            kind,
            to,
            bytes: reply.encode(),
        }
    }
}

#[cfg(test)]
#[path = "server/tests.rs"]
mod tests;
