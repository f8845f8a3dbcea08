//! The advertiser: what a router sends on one interface and when (RFC 4861 §6.2), sans-IO. Settings,
//! solicitations, timer expiries and stop go in with the injected time ([`Now`]); advertisements to
//! send, events and the prefixes to persist come out, with the next deadline.
//!
//! - Unsolicited RAs at random intervals in [0.33×, 1×] `maxInterval` (§6.2.4); the first
//!   [`MAX_INITIAL_RTR_ADVERTISEMENTS`] after the interface starts advertising at most
//!   [`MAX_INITIAL_RTR_ADVERT_INTERVAL`] apart.
//! - A valid solicitation is answered by a multicast RA after a random delay of up to
//!   [`MAX_RA_DELAY_TIME`], and never sooner than [`MIN_DELAY_BETWEEN_RAS`] after the last multicast RA
//!   (§6.2.6): all solicitations in that window share one answer, which is the rate limit.
//! - A prefix that appears is advertised at once. A prefix that leaves the settings (the delegation
//!   moved, the spec dropped it) is advertised at once with preferred lifetime 0 and the rest of its
//!   valid lifetime, capped at [`DEPRECATED_VALID_CAP`] (RFC 7084 L-13, and RFC 4862 §5.5.3 e's two
//!   hours, below which hosts would ignore a shorter valid lifetime anyway), until that runs out.
//!   Changed settings are sent at once too, even inside [`MIN_DELAY_BETWEEN_RAS`]: a host must hear
//!   of a dead prefix now, not seconds later.
//! - Stop sends a final RA with router lifetime 0 and every prefix deprecated (§6.2.5).

use crate::events;
use crate::persist::PersistedPrefix;
use routerd_api::event::{NewEvent, Severity};
use routerd_api::spec::{parse_ipv6_prefix, RaDaemonConfig};
use routerd_api::status::AdvertisedPrefix;
use routerd_api::Timestamp;
use routerd_proto::ndp::{NdOption, PrefixInformation, RouterAdvertisement, RouterSolicitation};
use routerd_sansio::{resource_event, Random};
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

pub use routerd_sansio::Now;

/// RFC 4861 §10.
pub const MAX_INITIAL_RTR_ADVERT_INTERVAL: Duration = Duration::from_secs(16);
pub const MAX_INITIAL_RTR_ADVERTISEMENTS: u32 = 3;
pub const MIN_DELAY_BETWEEN_RAS: Duration = Duration::from_secs(3);
pub const MAX_RA_DELAY_TIME: Duration = Duration::from_millis(500);
/// Longest valid lifetime a deprecated prefix is advertised with (RFC 7084 L-13: short, so hosts drop a
/// dead prefix within two hours instead of holding it for days).
pub const DEPRECATED_VALID_CAP: u32 = 2 * 3600;
/// RFC 4861 §6.2.1 defaults for a literal prefix.
pub const DEFAULT_VALID_LIFETIME: u32 = 30 * 86400;
pub const DEFAULT_PREFERRED_LIFETIME: u32 = 7 * 86400;
/// AdvCurHopLimit: the Internet's usual default (RFC 4861 §6.2.1 points at the IANA value).
pub const CUR_HOP_LIMIT: u8 = 64;
/// The all-ones lifetime that means "forever".
pub const INFINITE: u32 = u32::MAX;

/// How long a lifetime lasts: advertised as it is, or counting down to an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    Fixed(u32),
    Until(Timestamp),
}

impl Lifetime {
    /// Seconds left at `now` (a `Fixed` lifetime never runs down).
    pub fn remaining(self, now: Timestamp) -> u32 {
        match self {
            Lifetime::Fixed(s) => s,
            Lifetime::Until(t) => u32::try_from(now.until(t).as_secs()).unwrap_or(INFINITE - 1),
        }
    }
}

/// One prefix of the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixEntry {
    pub network: Ipv6Addr,
    pub length: u8,
    pub autonomous: bool,
    pub preferred: Lifetime,
    pub valid: Lifetime,
}

impl PrefixEntry {
    fn key(&self) -> (Ipv6Addr, u8) {
        (self.network, self.length)
    }
}

/// What to advertise: the daemon config, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub prefixes: Vec<PrefixEntry>,
    pub managed: bool,
    pub other_config: bool,
    pub rdnss: Vec<Ipv6Addr>,
    pub dnssl: Vec<String>,
    pub mtu: Option<u32>,
    pub router_lifetime: u16,
    pub max_interval: Duration,
}

/// Why a config cannot be advertised; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

impl Settings {
    pub fn from_config(c: &RaDaemonConfig) -> Result<Settings, SettingsError> {
        let err = |s: String| SettingsError(s);
        routerd_sansio::check_ifname(&c.ifname).map_err(|e| err(format!("ifname: {e}")))?;
        let mut prefixes: Vec<PrefixEntry> = Vec::new();
        for (i, p) in c.prefixes.iter().enumerate() {
            let (network, length) = parse_ipv6_prefix(&p.prefix)
                .map_err(|e| err(format!("prefixes[{i}].prefix: {e}")))?;
            let lifetime =
                |seconds: Option<u32>, until: Option<Timestamp>, default: u32| match until {
                    Some(t) => Lifetime::Until(t),
                    None => Lifetime::Fixed(seconds.unwrap_or(default)),
                };
            let entry = PrefixEntry {
                network,
                length,
                autonomous: p.autonomous,
                preferred: lifetime(
                    p.preferred_lifetime_seconds,
                    p.preferred_until,
                    DEFAULT_PREFERRED_LIFETIME,
                ),
                valid: lifetime(
                    p.valid_lifetime_seconds,
                    p.valid_until,
                    DEFAULT_VALID_LIFETIME,
                ),
            };
            if prefixes.iter().any(|q| q.key() == entry.key()) {
                return Err(err(format!("prefixes[{i}]: {} is listed twice", p.prefix)));
            }
            prefixes.push(entry);
        }
        for d in &c.dnssl {
            routerd_proto::ndp::check_domain(d).map_err(|e| err(format!("dnssl: {e}")))?;
        }
        if !(4..=1800).contains(&c.max_interval_seconds) {
            return Err(err(format!(
                "maxIntervalSeconds: {} is out of range 4..=1800 (RFC 4861)",
                c.max_interval_seconds
            )));
        }
        Ok(Settings {
            prefixes,
            managed: c.managed,
            other_config: c.other_config,
            rdnss: c.rdnss.clone(),
            dnssl: c.dnssl.clone(),
            mtu: c.mtu,
            router_lifetime: c.router_lifetime_seconds,
            max_interval: Duration::from_secs(u64::from(c.max_interval_seconds)),
        })
    }

    fn min_interval(&self) -> Duration {
        self.max_interval.mul_f64(0.33)
    }
}

/// A prefix that left the settings, advertised deprecated until `valid_until` (wall clock, persisted)
/// which is `expires` on the monotonic clock: timers and the advertised lifetime count on that one, so a
/// step of the wall clock can neither keep a dead prefix alive nor spin the timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Retiring {
    network: Ipv6Addr,
    length: u8,
    autonomous: bool,
    valid_until: Timestamp,
    expires: Instant,
}

impl Retiring {
    fn new(
        network: Ipv6Addr,
        length: u8,
        autonomous: bool,
        valid_until: Timestamp,
        now: Now,
    ) -> Retiring {
        Retiring {
            network,
            length,
            autonomous,
            valid_until,
            expires: now.mono_of(valid_until),
        }
    }

    /// Whole seconds of validity left at `now`.
    fn remaining(&self, now: Now) -> u32 {
        u32::try_from(self.expires.saturating_duration_since(now.mono).as_secs())
            .unwrap_or(INFINITE - 1)
    }
}

/// What the advertiser asks of its shell.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send this RA to all nodes (`ff02::1`) on the interface.
    Send(RouterAdvertisement),
    Event(NewEvent),
    /// The prefixes advertised now (current and retiring), to be kept across a restart.
    Persist(Vec<PersistedPrefix>),
}

/// Why a solicitation was not answered (RFC 4861 §6.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SolicitationError {
    #[error("source is the unspecified address but the RS carries a source link-layer address")]
    UnspecifiedSourceWithLinkLayer,
    #[error("the advertiser has stopped")]
    Stopped,
}

fn prefix_text(network: Ipv6Addr, length: u8) -> String {
    format!("{network}/{length}")
}

/// The advertiser of one interface.
pub struct Advertiser {
    name: String,
    settings: Settings,
    random: Box<dyn Random>,
    link_layer: Option<[u8; 6]>,
    retiring: Vec<Retiring>,
    started: bool,
    stopped: bool,
    /// Initial advertisements still to go after the next one.
    initial_left: u32,
    next_unsolicited: Option<Instant>,
    /// When the answer to pending solicitations goes out.
    answer_at: Option<Instant>,
    /// Solicitations the next RA answers.
    waiting: u64,
    last_multicast: Option<Instant>,
    last_sent_at: Option<Timestamp>,
    solicitations_answered: u64,
}

impl Advertiser {
    /// An advertiser for resource `name`. `restored` is what the previous run advertised: a prefix there
    /// and not in `settings` is advertised deprecated until it expires.
    pub fn new(
        name: &str,
        settings: Settings,
        random: Box<dyn Random>,
        restored: &[PersistedPrefix],
        now: Now,
    ) -> (Advertiser, Vec<Output>) {
        let mut a = Advertiser {
            name: name.to_string(),
            settings,
            random,
            link_layer: None,
            retiring: Vec::new(),
            started: false,
            stopped: false,
            initial_left: 0,
            next_unsolicited: None,
            answer_at: None,
            waiting: 0,
            last_multicast: None,
            last_sent_at: None,
            solicitations_answered: 0,
        };
        let mut out = Vec::new();
        for p in restored {
            let Ok((network, length)) = parse_ipv6_prefix(&p.prefix) else {
                continue;
            };
            if a.settings
                .prefixes
                .iter()
                .any(|q| q.key() == (network, length))
            {
                continue;
            }
            let cap = now
                .wall
                .saturating_add(Duration::from_secs(u64::from(DEPRECATED_VALID_CAP)));
            let valid_until = p.valid_until.map_or(cap, |t| t.min(cap));
            if valid_until <= now.wall {
                continue;
            }
            a.retiring.push(Retiring::new(
                network,
                length,
                p.autonomous,
                valid_until,
                now,
            ));
            out.push(a.deprecated_event(
                network,
                length,
                "it was advertised before the restart and is no longer configured",
                now,
            ));
        }
        for p in a.settings.prefixes.clone() {
            let text = prefix_text(p.network, p.length);
            if !restored.iter().any(|r| r.prefix == text) {
                out.push(a.advertised_event(&p, now));
            }
        }
        out.push(Output::Persist(a.persisted(now)));
        (a, out)
    }

    /// The sender's link-layer address, carried as the source link-layer address option.
    pub fn set_link_layer(&mut self, mac: Option<[u8; 6]>) {
        self.link_layer = mac;
    }

    /// The interface can send now (first time, or again after losing its link): an RA goes at once and
    /// the initial, faster ones follow (§6.2.4).
    pub fn start(&mut self, now: Now) -> Vec<Output> {
        if self.stopped {
            return Vec::new();
        }
        self.started = true;
        self.initial_left = MAX_INITIAL_RTR_ADVERTISEMENTS;
        self.send(now, false)
    }

    /// The interface cannot send (no link, no link-local address): timers wait for [`Self::start`].
    pub fn pause(&mut self) {
        self.started = false;
        self.next_unsolicited = None;
        self.answer_at = None;
    }

    pub fn started(&self) -> bool {
        self.started
    }

    /// New settings: prefixes that appeared are advertised, those that left are deprecated, and the
    /// changed advertisement goes out at once.
    pub fn reconfigure(&mut self, settings: Settings, now: Now) -> Vec<Output> {
        if settings == self.settings {
            return Vec::new();
        }
        let mut out = Vec::new();
        let old = std::mem::replace(&mut self.settings, settings);
        for p in &old.prefixes {
            if self.settings.prefixes.iter().any(|q| q.key() == p.key()) {
                continue;
            }
            if let Some(r) = self.retire(p, now) {
                self.retiring.push(r);
                out.push(self.deprecated_event(
                    p.network,
                    p.length,
                    "it left the configuration (the delegation moved or the spec dropped it)",
                    now,
                ));
            }
        }
        for p in self.settings.prefixes.clone() {
            self.retiring.retain(|r| (r.network, r.length) != p.key());
            if !old.prefixes.iter().any(|q| q.key() == p.key()) {
                out.push(self.advertised_event(&p, now));
            }
        }
        out.push(Output::Persist(self.persisted(now)));
        if self.started {
            // A change restarts the initial burst so hosts that missed one RA hear the next soon.
            self.initial_left = MAX_INITIAL_RTR_ADVERTISEMENTS;
            out.extend(self.send(now, false));
        }
        out
    }

    /// A Router Solicitation from `source` that passed the socket's checks (hop limit 255).
    pub fn solicitation(
        &mut self,
        source: Ipv6Addr,
        rs: &RouterSolicitation,
        now: Now,
    ) -> Result<(), SolicitationError> {
        if self.stopped {
            return Err(SolicitationError::Stopped);
        }
        if source.is_unspecified() && rs.source_link_layer_address().is_some() {
            return Err(SolicitationError::UnspecifiedSourceWithLinkLayer);
        }
        if !self.started {
            // Nothing can leave now; the RA at start answers it.
            self.waiting += 1;
            return Ok(());
        }
        self.waiting += 1;
        if self.answer_at.is_none() {
            let delay = Duration::from_millis(u64::from(
                self.random.below(MAX_RA_DELAY_TIME.as_millis() as u32 + 1),
            ));
            let mut at = now.mono + delay;
            if let Some(last) = self.last_multicast {
                if now.mono < last + MIN_DELAY_BETWEEN_RAS {
                    at = last + MIN_DELAY_BETWEEN_RAS + delay;
                }
            }
            self.answer_at = Some(at);
        }
        Ok(())
    }

    /// Timers: due advertisements go out; expired deprecated prefixes are dropped.
    pub fn timer(&mut self, now: Now) -> Vec<Output> {
        let mut out = Vec::new();
        let before = self.retiring.len();
        self.retiring.retain(|r| r.expires > now.mono);
        if self.retiring.len() != before {
            out.push(Output::Persist(self.persisted(now)));
        }
        if !self.started || self.stopped {
            return out;
        }
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now.mono);
        if due(self.answer_at) || due(self.next_unsolicited) {
            out.extend(self.send(now, false));
        }
        out
    }

    /// The final RA: router lifetime 0 and every prefix deprecated. Nothing is sent afterwards.
    pub fn stop(&mut self, now: Now) -> Vec<Output> {
        if self.stopped {
            return Vec::new();
        }
        let out = if self.started {
            self.send(now, true)
        } else {
            Vec::new()
        };
        self.stopped = true;
        self.next_unsolicited = None;
        self.answer_at = None;
        out
    }

    /// When [`Self::timer`] wants to run next.
    pub fn deadline(&self) -> Option<Instant> {
        let expiry = self.retiring.iter().map(|r| r.expires).min();
        [self.next_unsolicited, self.answer_at, expiry]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn last_sent_at(&self) -> Option<Timestamp> {
        self.last_sent_at
    }

    pub fn solicitations_answered(&self) -> u64 {
        self.solicitations_answered
    }

    /// Whether a prefix is configured (what `Applied` means; none is `Pending`).
    pub fn has_prefix(&self) -> bool {
        !self.settings.prefixes.is_empty()
    }

    /// The prefixes with the lifetimes an RA sent at `now` carries.
    pub fn advertised(&self, now: Now) -> Vec<AdvertisedPrefix> {
        self.prefix_options(now, false)
            .into_iter()
            .map(|(p, deprecated)| AdvertisedPrefix {
                prefix: prefix_text(p.prefix, p.prefix_length),
                preferred_lifetime_seconds: p.preferred_lifetime,
                valid_lifetime_seconds: p.valid_lifetime,
                deprecated,
            })
            .collect()
    }

    /// The record for the state dir: every prefix advertised now and when its validity ends.
    pub fn persisted(&self, now: Now) -> Vec<PersistedPrefix> {
        let mut v: Vec<PersistedPrefix> = self
            .settings
            .prefixes
            .iter()
            .map(|p| PersistedPrefix {
                prefix: prefix_text(p.network, p.length),
                autonomous: p.autonomous,
                valid_until: match p.valid {
                    Lifetime::Until(t) => Some(t),
                    Lifetime::Fixed(INFINITE) => None,
                    Lifetime::Fixed(s) => {
                        Some(now.wall.saturating_add(Duration::from_secs(u64::from(s))))
                    }
                },
            })
            .collect();
        v.extend(self.retiring.iter().map(|r| PersistedPrefix {
            prefix: prefix_text(r.network, r.length),
            autonomous: r.autonomous,
            valid_until: Some(r.valid_until),
        }));
        v
    }

    /// A prefix leaving the settings, deprecated with the rest of its valid lifetime (capped).
    fn retire(&self, p: &PrefixEntry, now: Now) -> Option<Retiring> {
        let left = p.valid.remaining(now.wall).min(DEPRECATED_VALID_CAP);
        if left == 0 {
            return None;
        }
        Some(Retiring::new(
            p.network,
            p.length,
            p.autonomous,
            now.wall
                .saturating_add(Duration::from_secs(u64::from(left))),
            now,
        ))
    }

    /// The PIOs at `now`: configured prefixes (all deprecated when `final_ra`), then retiring ones;
    /// prefixes whose valid lifetime has run out are left out.
    fn prefix_options(&self, now: Now, final_ra: bool) -> Vec<(PrefixInformation, bool)> {
        let mut v = Vec::new();
        for p in &self.settings.prefixes {
            let valid = p.valid.remaining(now.wall);
            if valid == 0 {
                continue;
            }
            let preferred = p.preferred.remaining(now.wall).min(valid);
            let (preferred, valid) = if final_ra {
                (0, valid.min(DEPRECATED_VALID_CAP))
            } else {
                (preferred, valid)
            };
            v.push((
                PrefixInformation {
                    prefix: p.network,
                    prefix_length: p.length,
                    on_link: true,
                    autonomous: p.autonomous,
                    valid_lifetime: valid,
                    preferred_lifetime: preferred,
                },
                final_ra,
            ));
        }
        for r in &self.retiring {
            let valid = r.remaining(now);
            if valid == 0 {
                continue;
            }
            v.push((
                PrefixInformation {
                    prefix: r.network,
                    prefix_length: r.length,
                    on_link: true,
                    autonomous: r.autonomous,
                    valid_lifetime: valid,
                    preferred_lifetime: 0,
                },
                true,
            ));
        }
        v
    }

    /// The RA as of `now`.
    pub fn advertisement(&self, now: Now, final_ra: bool) -> RouterAdvertisement {
        let s = &self.settings;
        let mut options = Vec::new();
        if let Some(mac) = self.link_layer {
            options.push(NdOption::SourceLinkLayerAddress(mac.to_vec()));
        }
        if let Some(mtu) = s.mtu {
            options.push(NdOption::Mtu(mtu));
        }
        for (p, _) in self.prefix_options(now, final_ra) {
            options.push(NdOption::PrefixInformation(p));
        }
        // RFC 8106 §5.1: at least 3 × MaxRtrAdvInterval, so two lost RAs do not expire them.
        let dns_lifetime =
            u32::try_from(s.max_interval.as_secs().saturating_mul(3)).unwrap_or(INFINITE - 1);
        if !s.rdnss.is_empty() {
            options.push(NdOption::Rdnss {
                lifetime: if final_ra { 0 } else { dns_lifetime },
                servers: s.rdnss.clone(),
            });
        }
        if !s.dnssl.is_empty() {
            options.push(NdOption::Dnssl {
                lifetime: if final_ra { 0 } else { dns_lifetime },
                domains: s.dnssl.clone(),
            });
        }
        RouterAdvertisement {
            cur_hop_limit: CUR_HOP_LIMIT,
            managed: s.managed,
            other_config: s.other_config,
            router_lifetime: if final_ra { 0 } else { s.router_lifetime },
            reachable_time: 0,
            retrans_timer: 0,
            options,
        }
    }

    fn send(&mut self, now: Now, final_ra: bool) -> Vec<Output> {
        let mut out = Vec::new();
        let before = self.retiring.len();
        self.retiring.retain(|r| r.expires > now.mono);
        if self.retiring.len() != before {
            out.push(Output::Persist(self.persisted(now)));
        }
        out.push(Output::Send(self.advertisement(now, final_ra)));
        self.last_multicast = Some(now.mono);
        self.last_sent_at = Some(now.wall);
        self.solicitations_answered += self.waiting;
        self.waiting = 0;
        self.answer_at = None;
        let max = self.settings.max_interval;
        let min = self.settings.min_interval();
        let span = (max - min).as_millis() as u32;
        let mut interval = min + Duration::from_millis(u64::from(self.random.below(span + 1)));
        if self.initial_left > 0 {
            self.initial_left -= 1;
            if self.initial_left > 0 {
                interval = interval.min(MAX_INITIAL_RTR_ADVERT_INTERVAL);
            }
        }
        self.next_unsolicited = Some(now.mono + interval);
        out
    }

    fn advertised_event(&self, p: &PrefixEntry, now: Now) -> Output {
        let text = prefix_text(p.network, p.length);
        let e = resource_event(
            events::RESOURCE_KIND,
            &self.name,
            events::PREFIX_ADVERTISED,
            Severity::Info,
            format!("advertising {text}"),
            now,
        )
        .attr(events::attr::PREFIX, text)
        .attr(
            events::attr::PREFERRED_LIFETIME_SECONDS,
            p.preferred.remaining(now.wall).to_string(),
        )
        .attr(
            events::attr::VALID_LIFETIME_SECONDS,
            p.valid.remaining(now.wall).to_string(),
        );
        Output::Event(e)
    }

    fn deprecated_event(&self, network: Ipv6Addr, length: u8, why: &str, now: Now) -> Output {
        let text = prefix_text(network, length);
        let valid = self
            .retiring
            .iter()
            .find(|r| (r.network, r.length) == (network, length))
            .map_or(0, |r| r.remaining(now));
        let e = resource_event(
            events::RESOURCE_KIND,
            &self.name,
            events::PREFIX_DEPRECATED,
            Severity::Info,
            format!("deprecating {text} (preferred 0, valid {valid}s): {why}"),
            now,
        )
        .attr(events::attr::PREFIX, text)
        .attr(events::attr::VALID_LIFETIME_SECONDS, valid.to_string());
        Output::Event(e)
    }
}

#[cfg(test)]
mod tests;
