//! Answers kept as wire bytes and served by patching: a hit copies the stored response into the
//! caller's buffer, writes the query's ID, flags and question (the client's letter case) over it, and
//! lowers every TTL by the time it has been held. No message is decoded or built on a hit.
//!
//! The cache honours TTLs (an entry lives as long as its smallest TTL, capped), caches negative answers
//! for min(SOA TTL, SOA MINIMUM) as RFC 2308 §5 says (a negative answer without an SOA is not cached),
//! and holds at most `max_entries` entries, evicting the oldest insert first. Time is passed in, so tests
//! run it on a virtual clock.

use crate::wire::{scan_response, Question, ResponseScan, HEADER_LEN, MAX_NAME};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest an answer is kept whatever its TTL says: one day, so a changed record is seen within a day.
pub const MAX_TTL: u32 = 86_400;
/// Default `cache.maxEntries`.
pub const DEFAULT_MAX_ENTRIES: usize = 10_000;

/// A response ready to be served again: its bytes and where its TTLs are.
#[derive(Debug)]
pub struct StoredAnswer {
    pub wire: Arc<[u8]>,
    ttls: Box<[(usize, u32)]>,
    question_end: usize,
    pub rcode: u8,
}

impl StoredAnswer {
    /// A stored answer from a response and its scan.
    pub fn new(wire: Arc<[u8]>, scan: &ResponseScan) -> StoredAnswer {
        StoredAnswer {
            wire,
            ttls: scan.ttls.clone().into_boxed_slice(),
            question_end: scan.question_end,
            rcode: scan.rcode,
        }
    }

    /// Writes this answer for `query` into `out`, its TTLs lowered by `age`: the query's ID, its RD and
    /// CD bits, and its question bytes (same name up to case, so the same length).
    pub fn write_for(&self, query: &[u8], question: &Question, age: Duration, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.wire);
        if out.len() < HEADER_LEN {
            return;
        }
        out[0..2].copy_from_slice(&question.id.to_be_bytes());
        out[2] = (out[2] & !0x01) | u8::from(question.recursion_desired);
        out[3] = (out[3] & !0x10) | (u8::from(question.checking_disabled) << 4);
        if question.question_end == self.question_end {
            if let (Some(dst), Some(src)) = (
                out.get_mut(HEADER_LEN..self.question_end),
                query.get(HEADER_LEN..question.question_end),
            ) {
                dst.copy_from_slice(src);
            }
        }
        let elapsed = u32::try_from(age.as_secs()).unwrap_or(u32::MAX);
        for &(at, ttl) in self.ttls.iter() {
            if let Some(slot) = out.get_mut(at..at + 4) {
                slot.copy_from_slice(&ttl.saturating_sub(elapsed).to_be_bytes());
            }
        }
    }

    pub fn question_end(&self) -> usize {
        self.question_end
    }
}

struct Entry {
    answer: Arc<StoredAnswer>,
    stored_at: Instant,
    expires_at: Instant,
    seq: u64,
}

/// Counters shown in the status.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    pub entries: usize,
    pub hits: u64,
    pub misses: u64,
}

/// The answer cache.
pub struct Cache {
    entries: HashMap<Box<[u8]>, Entry>,
    /// Insert order, for eviction; an item whose `seq` no longer matches its entry is stale.
    order: VecDeque<(Box<[u8]>, u64)>,
    next_seq: u64,
    max_entries: usize,
    hits: u64,
    misses: u64,
}

/// What a lookup found.
pub struct Hit {
    pub answer: Arc<StoredAnswer>,
    pub age: Duration,
}

impl Cache {
    pub fn new(max_entries: usize) -> Cache {
        Cache {
            entries: HashMap::new(),
            order: VecDeque::new(),
            next_seq: 0,
            max_entries,
            hits: 0,
            misses: 0,
        }
    }

    /// Changes the bound (a reload); entries over it are evicted oldest first.
    pub fn set_max_entries(&mut self, max_entries: usize) {
        self.max_entries = max_entries;
        while self.entries.len() > self.max_entries {
            if !self.evict_oldest() {
                break;
            }
        }
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            entries: self.entries.len(),
            hits: self.hits,
            misses: self.misses,
        }
    }

    /// The live answer under `key`, if any; an expired one is removed.
    pub fn get(&mut self, key: &[u8], now: Instant) -> Option<Hit> {
        match self.entries.get(key) {
            Some(e) if e.expires_at > now => {
                self.hits += 1;
                Some(Hit {
                    answer: e.answer.clone(),
                    age: now.saturating_duration_since(e.stored_at),
                })
            }
            Some(_) => {
                self.entries.remove(key);
                self.misses += 1;
                None
            }
            None => {
                self.misses += 1;
                None
            }
        }
    }

    /// Stores `response` (as received, any ID) under `key` when it may be cached: NOERROR with answers
    /// for its smallest TTL, NXDOMAIN/NODATA with an SOA for the negative TTL. Returns how long it is
    /// kept (None: not cached).
    pub fn insert(&mut self, key: &[u8], response: Arc<[u8]>, now: Instant) -> Option<Duration> {
        if self.max_entries == 0 || key.len() > MAX_NAME + 5 {
            return None;
        }
        let scan = scan_response(&response)?;
        let ttl = cacheable_ttl(&scan)?.min(MAX_TTL);
        if ttl == 0 {
            return None;
        }
        let ttl = Duration::from_secs(u64::from(ttl));
        let seq = self.next_seq;
        self.next_seq += 1;
        let key: Box<[u8]> = key.into();
        if !self.entries.contains_key(&key) {
            while self.entries.len() >= self.max_entries {
                if !self.evict_oldest() {
                    break;
                }
            }
        }
        self.entries.insert(
            key.clone(),
            Entry {
                answer: Arc::new(StoredAnswer::new(response, &scan)),
                stored_at: now,
                expires_at: now + ttl,
                seq,
            },
        );
        self.order.push_back((key, seq));
        if self.order.len() > 2 * self.max_entries.max(16) {
            let entries = &self.entries;
            self.order
                .retain(|(k, s)| entries.get(k).is_some_and(|e| e.seq == *s));
        }
        Some(ttl)
    }

    fn evict_oldest(&mut self) -> bool {
        while let Some((key, seq)) = self.order.pop_front() {
            if self.entries.get(&key).is_some_and(|e| e.seq == seq) {
                self.entries.remove(&key);
                return true;
            }
        }
        false
    }
}

/// How long a scanned response may be cached: positive answers for their smallest TTL, negative ones
/// (NXDOMAIN, or NOERROR without answers) for the SOA's negative TTL; SERVFAIL, REFUSED and truncated
/// answers not at all.
pub fn cacheable_ttl(scan: &ResponseScan) -> Option<u32> {
    if scan.truncated {
        return None;
    }
    match scan.rcode {
        0 if scan.answers > 0 => scan.min_ttl,
        0 | 3 => scan.negative_ttl,
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::parse_query;
    use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
    use hickory_proto::rr::rdata::{A, SOA};
    use hickory_proto::rr::{Name, RData, Record, RecordType};
    use std::str::FromStr;

    fn query(name: &str) -> Vec<u8> {
        let mut m = Message::new(7, MessageType::Query, OpCode::Query);
        m.add_query(Query::query(Name::from_str(name).unwrap(), RecordType::A));
        m.metadata.recursion_desired = true;
        m.to_vec().unwrap()
    }

    fn answer(name: &str, ttl: u32) -> Arc<[u8]> {
        let n = Name::from_str(name).unwrap();
        let mut m = Message::new(99, MessageType::Response, OpCode::Query);
        m.add_query(Query::query(n.clone(), RecordType::A));
        m.add_answer(Record::from_rdata(n, ttl, RData::A(A::new(192, 0, 2, 1))));
        m.to_vec().unwrap().into()
    }

    fn nxdomain(name: &str, soa_ttl: u32, minimum: u32) -> Arc<[u8]> {
        let n = Name::from_str(name).unwrap();
        let zone = Name::from_str("example.").unwrap();
        let mut m = Message::new(99, MessageType::Response, OpCode::Query);
        m.metadata.response_code = ResponseCode::NXDomain;
        m.add_query(Query::query(n, RecordType::A));
        m.add_authority(Record::from_rdata(
            zone.clone(),
            soa_ttl,
            RData::SOA(SOA::new(zone.clone(), zone, 1, 3600, 600, 86400, minimum)),
        ));
        m.to_vec().unwrap().into()
    }

    fn key_of(raw: &[u8]) -> Vec<u8> {
        let q = parse_query(raw).unwrap();
        let mut key = [0u8; MAX_NAME + 5];
        let n = q.cache_key(&mut key);
        key[..n].to_vec()
    }

    #[test]
    fn a_hit_is_patched_with_the_id_question_and_remaining_ttl() {
        let t0 = Instant::now();
        let mut cache = Cache::new(10);
        let raw = query("www.example.");
        let key = key_of(&raw);
        assert_eq!(
            cache.insert(&key, answer("www.example.", 300), t0),
            Some(Duration::from_secs(300))
        );
        // hickory lower-cases names it encodes: write the client's letter case by hand.
        let mut asked = query("www.example.");
        asked[13..16].copy_from_slice(b"WWW");
        let q = parse_query(&asked).unwrap();
        let hit = cache
            .get(&key_of(&asked), t0 + Duration::from_secs(100))
            .unwrap();
        let mut out = Vec::new();
        hit.answer.write_for(&asked, &q, hit.age, &mut out);
        let m = Message::from_vec(&out).unwrap();
        assert_eq!(m.metadata.id, 7);
        assert!(m.metadata.recursion_desired);
        assert_eq!(&out[13..16], b"WWW");
        assert_eq!(m.answers[0].ttl, 200);
        assert!(cache.get(&key, t0 + Duration::from_secs(300)).is_none());
        assert_eq!(cache.stats().hits, 1);
        assert_eq!(cache.stats().misses, 1);
    }

    #[test]
    fn negative_answers_live_for_the_soa_minimum() {
        let t0 = Instant::now();
        let mut cache = Cache::new(10);
        let key = key_of(&query("nx.example."));
        assert_eq!(
            cache.insert(&key, nxdomain("nx.example.", 3600, 60), t0),
            Some(Duration::from_secs(60))
        );
        assert!(cache.get(&key, t0 + Duration::from_secs(59)).is_some());
        assert!(cache.get(&key, t0 + Duration::from_secs(60)).is_none());
        // Without an SOA a negative answer is not cached (RFC 2308 §5).
        let mut bare = Message::new(1, MessageType::Response, OpCode::Query);
        bare.metadata.response_code = ResponseCode::NXDomain;
        bare.add_query(Query::query(
            Name::from_str("nx.example.").unwrap(),
            RecordType::A,
        ));
        assert_eq!(cache.insert(&key, bare.to_vec().unwrap().into(), t0), None);
    }

    #[test]
    fn the_bound_evicts_the_oldest_and_zero_ttls_are_not_kept() {
        let t0 = Instant::now();
        let mut cache = Cache::new(2);
        for name in ["a.example.", "b.example.", "c.example."] {
            cache.insert(&key_of(&query(name)), answer(name, 60), t0);
        }
        assert_eq!(cache.stats().entries, 2);
        assert!(cache.get(&key_of(&query("a.example.")), t0).is_none());
        assert!(cache.get(&key_of(&query("c.example.")), t0).is_some());
        assert_eq!(
            cache.insert(&key_of(&query("z.example.")), answer("z.example.", 0), t0),
            None
        );
        cache.set_max_entries(1);
        assert_eq!(cache.stats().entries, 1);
        // Re-inserting the same names forever does not grow the eviction queue without bound.
        for i in 0..1000u64 {
            let name = if i % 2 == 0 {
                "a.example."
            } else {
                "b.example."
            };
            cache.insert(&key_of(&query(name)), answer(name, 60), t0);
        }
        assert!(cache.order.len() <= 32);
    }
}
