//! The answer path. A query is answered from the local zone or the cache at once, by copying prepared
//! bytes into the listener's reused buffer and patching them; only a miss goes to the upstreams. Locks
//! (settings, cache, health) are std mutexes taken for a copy or a counter and never held across an
//! await. Every answer leaves one row for the query log through a bounded channel that never blocks.

use super::forward::{self, Forwarded};
use super::querylog::{LogSink, LoggedAnswer};
use super::secure::SecureClients;
use routerd_api::event::{NewEvent, Severity};
use routerd_api::spec::UpstreamProtocol;
use routerd_api::Timestamp;
use routerd_daemon::EventLog;
use routerd_dns_resolver::cache::{Cache, CacheStats};
use routerd_dns_resolver::config::Settings;
use routerd_dns_resolver::health::{Health, Transition, UpstreamState};
use routerd_dns_resolver::wire::{
    error_response, parse_query, truncated_response, Question, WireError, MAX_NAME,
};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Instant;

pub const TOPIC_UPSTREAM_FAILED: &str = "routerd.dns.resolver.upstream.failed";
pub const TOPIC_UPSTREAM_RECOVERED: &str = "routerd.dns.resolver.upstream.recovered";
pub const TOPIC_QUERYLOG_DROPPED: &str = "routerd.dns.resolver.querylog.dropped";
const RESOURCE_KIND: &str = "DNSResolver";

/// rcodes this resolver writes itself.
const FORMERR: u8 = 1;
const SERVFAIL: u8 = 2;
const NOTIMP: u8 = 4;

/// How a query arrived: UDP answers are cut to what the client can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// What the fast path decided.
pub enum Immediate {
    /// `out` holds the answer.
    Reply,
    /// Nothing to send (not a query).
    Drop,
    /// Not local, not cached: forward.
    Forward(Box<Question>),
}

/// Counters of the answer path.
#[derive(Debug, Default)]
pub struct Counters {
    pub queries: AtomicU64,
    pub local: AtomicU64,
    pub forwarded: AtomicU64,
    pub servfail: AtomicU64,
    pub malformed: AtomicU64,
}

/// The state every listener shares.
pub struct Resolver {
    pub name: String,
    settings: RwLock<Arc<Settings>>,
    cache: Mutex<Cache>,
    health: Mutex<Health>,
    pub counters: Counters,
    pub log: LogSink,
    events: EventLog,
    ids: AtomicU64,
    /// TLS clients for DoT/DoH upstreams (`Err`: why they cannot be used, e.g. an unreadable trust file).
    secure: Mutex<Arc<Result<SecureClients, String>>>,
}

/// TLS clients when some upstream needs them.
fn secure_clients(settings: &Settings) -> Result<SecureClients, String> {
    if !settings
        .upstreams
        .iter()
        .any(|u| matches!(u.protocol, UpstreamProtocol::Tls | UpstreamProtocol::Https))
    {
        return Err("no TLS upstream configured".into());
    }
    SecureClients::new(settings.tls_trust_file.as_deref())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Resolver {
    pub fn new(name: &str, settings: Settings, log: LogSink, events: EventLog) -> Resolver {
        let cache = Cache::new(settings.max_entries);
        let health = Health::new(settings.upstreams.len());
        let seed = routerd_daemon::seeded_xorshift().next_u64_value();
        let secure = Mutex::new(Arc::new(secure_clients(&settings)));
        Resolver {
            secure,
            name: name.to_string(),
            settings: RwLock::new(Arc::new(settings)),
            cache: Mutex::new(cache),
            health: Mutex::new(health),
            counters: Counters::default(),
            log,
            events,
            ids: AtomicU64::new(seed),
        }
    }

    pub fn settings(&self) -> Arc<Settings> {
        self.settings
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Takes a reloaded config: the cache is kept (re-bounded); upstream health restarts only when the
    /// upstreams changed.
    pub fn replace_settings(&self, settings: Settings) {
        lock(&self.cache).set_max_entries(settings.max_entries);
        if settings.upstreams != self.settings().upstreams {
            *lock(&self.health) = Health::new(settings.upstreams.len());
        }
        self.log.set_enabled(settings.query_log);
        *lock(&self.secure) = Arc::new(secure_clients(&settings));
        *self
            .settings
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(settings);
    }

    pub fn cache_stats(&self) -> CacheStats {
        lock(&self.cache).stats()
    }

    pub fn upstream_states(&self) -> Vec<UpstreamState> {
        lock(&self.health).states().to_vec()
    }

    /// A transaction ID for an upstream query: a counter run through a keyed hash, so IDs are not
    /// guessable from the ones seen before (the socket's random source port adds the rest).
    pub fn next_id(&self) -> u16 {
        let n = self.ids.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        let mut z = n;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as u16
    }

    /// The TLS clients (taken out of the lock before any await).
    pub fn secure(&self) -> Arc<Result<SecureClients, String>> {
        lock(&self.secure).clone()
    }

    pub fn upstream_order(&self) -> Vec<usize> {
        lock(&self.health).order(Instant::now())
    }

    pub fn retry_upstreams(&self) {
        lock(&self.health).retry_now();
    }

    pub fn upstream_succeeded(&self, settings: &Settings, index: usize) {
        let t = lock(&self.health).success(index);
        self.transition(settings, t);
    }

    pub fn upstream_failed(&self, settings: &Settings, index: usize, error: String) {
        tracing::debug!(upstream = index, %error, "upstream failed");
        let t = lock(&self.health).failure(index, error, Instant::now());
        self.transition(settings, t);
    }

    fn transition(&self, settings: &Settings, t: Option<Transition>) {
        let event = match t {
            None => return,
            Some(Transition::Failed { upstream, error }) => {
                let label = label_of(settings, upstream);
                NewEvent::new(
                    TOPIC_UPSTREAM_FAILED,
                    Severity::Warning,
                    format!("upstream {label} keeps failing ({error}); skipped for a while"),
                )
                .attr("upstream", label)
                .attr("error", error)
            }
            Some(Transition::Recovered { upstream }) => {
                let label = label_of(settings, upstream);
                NewEvent::new(
                    TOPIC_UPSTREAM_RECOVERED,
                    Severity::Info,
                    format!("upstream {label} answers again"),
                )
                .attr("upstream", label)
            }
        };
        self.emit(event);
    }

    pub fn emit(&self, event: NewEvent) {
        let event = event.resource(RESOURCE_KIND, &self.name);
        if let Err(e) = self.events.append(event) {
            tracing::warn!(error = %e, "event not recorded");
        }
    }

    /// Answers from the zone or the cache into `out`, or says what else to do. Never awaits.
    pub fn answer_now(
        &self,
        query: &[u8],
        client: SocketAddr,
        transport: Transport,
        started: Instant,
        out: &mut Vec<u8>,
    ) -> Immediate {
        self.counters.queries.fetch_add(1, Ordering::Relaxed);
        let question = match parse_query(query) {
            Ok(q) => q,
            Err(e) => {
                self.counters.malformed.fetch_add(1, Ordering::Relaxed);
                return match e {
                    WireError::Ignore => Immediate::Drop,
                    WireError::FormErr => {
                        error_response(query, None, FORMERR, out);
                        Immediate::Reply
                    }
                    WireError::NotImp => {
                        error_response(query, None, NOTIMP, out);
                        Immediate::Reply
                    }
                };
            }
        };
        let settings = self.settings();
        if let Some(local) = settings.zone.answer(&question) {
            self.counters.local.fetch_add(1, Ordering::Relaxed);
            local.write_for(query, &question, std::time::Duration::ZERO, out);
            self.finish(&question, transport, out);
            self.log.record(LoggedAnswer {
                time: Timestamp::now(),
                client: client.ip(),
                response: local.wire.clone(),
                upstream: None,
                cache_hit: false,
                duration_micros: micros(started),
            });
            return Immediate::Reply;
        }
        let mut key = [0u8; MAX_NAME + 5];
        let n = question.cache_key(&mut key);
        let hit = lock(&self.cache).get(&key[..n], Instant::now());
        if let Some(hit) = hit {
            hit.answer.write_for(query, &question, hit.age, out);
            self.finish(&question, transport, out);
            self.log.record(LoggedAnswer {
                time: Timestamp::now(),
                client: client.ip(),
                response: hit.answer.wire.clone(),
                upstream: None,
                cache_hit: true,
                duration_micros: micros(started),
            });
            return Immediate::Reply;
        }
        Immediate::Forward(Box::new(question))
    }

    /// Forwards a miss to the upstreams, caches what may be cached, and writes the answer (or SERVFAIL
    /// when every upstream failed) into `out`.
    pub async fn answer_forwarded(
        &self,
        query: &[u8],
        question: &Question,
        client: SocketAddr,
        transport: Transport,
        started: Instant,
        out: &mut Vec<u8>,
    ) {
        let settings = self.settings();
        self.counters.forwarded.fetch_add(1, Ordering::Relaxed);
        let (response, upstream): (Arc<[u8]>, Option<Arc<str>>) =
            match forward::forward(self, &settings, query, question).await {
                Some(Forwarded { response, upstream }) => {
                    let response: Arc<[u8]> = response.into();
                    let mut key = [0u8; MAX_NAME + 5];
                    let n = question.cache_key(&mut key);
                    lock(&self.cache).insert(&key[..n], response.clone(), Instant::now());
                    out.clear();
                    out.extend_from_slice(&response);
                    if out.len() >= 2 {
                        out[0..2].copy_from_slice(&question.id.to_be_bytes());
                    }
                    (response, Some(upstream))
                }
                None => {
                    self.counters.servfail.fetch_add(1, Ordering::Relaxed);
                    error_response(query, Some(question), SERVFAIL, out);
                    (Arc::from(out.as_slice()), None)
                }
            };
        self.finish(question, transport, out);
        self.log.record(LoggedAnswer {
            time: Timestamp::now(),
            client: client.ip(),
            response,
            upstream,
            cache_hit: false,
            duration_micros: micros(started),
        });
    }

    /// Cuts a UDP answer the client cannot take down to a truncated one (it retries over TCP).
    fn finish(&self, question: &Question, transport: Transport, out: &mut Vec<u8>) {
        if transport == Transport::Udp && out.len() > question.udp_limit() {
            let full = std::mem::take(out);
            truncated_response(&full, question.question_end, out);
        }
    }
}

fn label_of(settings: &Settings, index: usize) -> String {
    settings
        .upstreams
        .get(index)
        .map_or_else(|| format!("#{index}"), |u| u.label.to_string())
}

fn micros(started: Instant) -> u32 {
    u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX)
}

/// `XorShift::next_u32` twice, as one value (the seed of the ID sequence).
trait NextU64 {
    fn next_u64_value(&mut self) -> u64;
}

impl NextU64 for routerd_sansio::XorShift {
    fn next_u64_value(&mut self) -> u64 {
        use routerd_sansio::Random;
        (u64::from(self.next_u32()) << 32) | u64::from(self.next_u32())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use routerd_api::spec::DNSResolverDaemonConfig;

    fn resolver(dir: &std::path::Path) -> Resolver {
        let config: DNSResolverDaemonConfig = serde_json::from_str(
            r#"{"spec": {"listen": ["127.0.0.1:53"], "upstreams": [],
                "localRecords": [{"name": "router.lan", "type": "A", "value": "192.168.1.1"},
                                 {"name": "big.lan", "type": "TXT", "value": "x"}]}}"#,
        )
        .unwrap();
        let settings = Settings::from_config(&config).unwrap();
        let events = EventLog::open(dir, "routerd-dns-resolver", "t").unwrap();
        Resolver::new("t", settings, LogSink::disabled(), events)
    }

    fn client() -> SocketAddr {
        "192.168.1.20:5353".parse().unwrap()
    }

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0xAB, 0xCD, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.extend_from_slice(&[0, 0, qtype as u8, 0, 1]);
        q
    }

    #[test]
    fn local_names_are_answered_at_once_and_misses_go_upstream() {
        let dir = tempfile::tempdir().unwrap();
        let r = resolver(dir.path());
        let mut out = Vec::new();
        let now = Instant::now();
        assert!(matches!(
            r.answer_now(
                &query("router.lan", 1),
                client(),
                Transport::Udp,
                now,
                &mut out
            ),
            Immediate::Reply
        ));
        assert_eq!(&out[0..2], &[0xAB, 0xCD]);
        assert_eq!(out[3] & 0x0F, 0);
        assert!(matches!(
            r.answer_now(
                &query("example.com", 1),
                client(),
                Transport::Udp,
                now,
                &mut out
            ),
            Immediate::Forward(_)
        ));
    }

    #[tokio::test]
    async fn without_upstreams_a_miss_is_servfail() {
        let dir = tempfile::tempdir().unwrap();
        let r = resolver(dir.path());
        let raw = query("example.com", 1);
        let mut out = Vec::new();
        let Immediate::Forward(q) =
            r.answer_now(&raw, client(), Transport::Udp, Instant::now(), &mut out)
        else {
            panic!("not forwarded");
        };
        r.answer_forwarded(&raw, &q, client(), Transport::Udp, Instant::now(), &mut out)
            .await;
        assert_eq!(out[3] & 0x0F, SERVFAIL);
        assert_eq!(&out[0..2], &[0xAB, 0xCD]);
        assert_eq!(r.counters.servfail.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn fifty_questions_and_garbage_get_formerr_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let r = resolver(dir.path());
        let mut out = Vec::new();
        let mut fifty = query("router.lan", 1);
        fifty[5] = 50;
        assert!(matches!(
            r.answer_now(&fifty, client(), Transport::Udp, Instant::now(), &mut out),
            Immediate::Reply
        ));
        assert_eq!(out[3] & 0x0F, FORMERR);
        assert!(matches!(
            r.answer_now(
                &[1, 2, 3],
                client(),
                Transport::Udp,
                Instant::now(),
                &mut out
            ),
            Immediate::Drop
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// Arbitrary bytes through the answer path: an answer, FORMERR, or nothing; never a panic, and
        /// a UDP answer never exceeds what a client without EDNS takes unless it asked for more.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let dir = tempfile::tempdir().unwrap();
            let r = resolver(dir.path());
            let mut out = Vec::new();
            if let Immediate::Reply = r.answer_now(&bytes, client(), Transport::Udp, Instant::now(), &mut out) {
                prop_assert!(out.len() >= 12 || out.is_empty());
            }
        }

        /// Valid queries with bytes flipped and cut reach deeper into the parser.
        #[test]
        fn mutated_queries_never_panic(
            flips in proptest::collection::vec((0usize..64, any::<u8>()), 0..8),
            cut in 0usize..64,
            edns in any::<bool>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let r = resolver(dir.path());
            let mut q = query("router.lan", 1);
            if edns {
                q[11] = 1;
                q.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0, 0, 0]);
            }
            for (at, b) in flips {
                if let Some(slot) = q.get_mut(at) {
                    *slot = b;
                }
            }
            q.truncate(q.len().saturating_sub(cut % 8));
            let mut out = Vec::new();
            let _ = r.answer_now(&q, client(), Transport::Udp, Instant::now(), &mut out);
            let _ = r.answer_now(&q, client(), Transport::Tcp, Instant::now(), &mut out);
        }
    }
}
