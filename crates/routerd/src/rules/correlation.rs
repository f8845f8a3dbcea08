//! Correlation: which key an event belongs to (`match.correlateBy`), and the bounded table of per-key
//! operator state. A rule keeps at most [`MAX_KEYS`] keys; a new key beyond that evicts the least
//! recently seen one (with its state and any pending timer). The table also indexes the keys' timer
//! deadlines, so finding what is due costs a peek, not a scan.

use routerd_api::event::{Event, ATTR_RESOURCE_KIND, ATTR_RESOURCE_NAME};
use routerd_api::Timestamp;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Keys one rule keeps (`events.md`).
pub const MAX_KEYS: usize = 4096;

/// Where the correlation key of an event comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorrelateBy {
    /// No `correlateBy`: every event shares the key `""`.
    Nothing,
    ResourceName,
    ResourceKind,
    SourceInstance,
    Attribute(String),
}

impl CorrelateBy {
    pub fn parse(spec: Option<&str>) -> Result<CorrelateBy, String> {
        Ok(match spec {
            None => CorrelateBy::Nothing,
            Some("resource.name") => CorrelateBy::ResourceName,
            Some("resource.kind") => CorrelateBy::ResourceKind,
            Some("source.instance") => CorrelateBy::SourceInstance,
            Some(other) => match other.strip_prefix("attributes.") {
                Some(k) if !k.is_empty() => CorrelateBy::Attribute(k.to_string()),
                _ => {
                    return Err(format!(
                        "correlateBy {other:?} is not attributes.<key>, resource.name, resource.kind or source.instance"
                    ))
                }
            },
        })
    }

    /// The key of `event`; an event without the attribute falls under the empty key.
    pub fn key<'a>(&self, event: &'a Event) -> &'a str {
        let attr = |k: &str| event.attributes.get(k).map(String::as_str).unwrap_or("");
        match self {
            CorrelateBy::Nothing => "",
            CorrelateBy::ResourceName => attr(ATTR_RESOURCE_NAME),
            CorrelateBy::ResourceKind => attr(ATTR_RESOURCE_KIND),
            CorrelateBy::SourceInstance => &event.source.instance,
            CorrelateBy::Attribute(k) => attr(k),
        }
    }
}

/// Operator state of one key, as the table needs to see it.
pub trait KeyState: Default {
    /// When a timer of this key is due, if one is pending.
    fn deadline(&self) -> Option<Timestamp>;
    /// An idle state is dropped from the table (it is the same as a key never seen).
    fn is_idle(&self) -> bool;
}

struct Slot<S> {
    state: S,
    seen: u64,
    deadline: Option<Timestamp>,
}

/// Per-key states with least-recently-seen eviction and a deadline index.
pub struct KeyTable<S> {
    capacity: usize,
    slots: HashMap<String, Slot<S>>,
    recency: BTreeMap<u64, String>,
    deadlines: BTreeSet<(Timestamp, String)>,
    clock: u64,
    evicted: u64,
}

impl<S: KeyState> KeyTable<S> {
    pub fn new(capacity: usize) -> KeyTable<S> {
        KeyTable {
            capacity: capacity.max(1),
            slots: HashMap::new(),
            recency: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            clock: 0,
            evicted: 0,
        }
    }

    /// Marks `key` seen and applies `f` to its state. A new key is only stored when `f` leaves it
    /// non-idle (an event that changes nothing, like `expected` for an unarmed key, evicts nobody); when
    /// the table is full the least recently seen key makes room.
    pub fn seen<R>(&mut self, key: &str, f: impl FnOnce(&mut S) -> R) -> R {
        self.clock += 1;
        let now = self.clock;
        if let Some(slot) = self.slots.get_mut(key) {
            let k = self
                .recency
                .remove(&slot.seen)
                .unwrap_or_else(|| key.to_string());
            slot.seen = now;
            self.recency.insert(now, k);
            let r = f(&mut slot.state);
            self.reindex(key);
            return r;
        }
        let mut state = S::default();
        let r = f(&mut state);
        if state.is_idle() {
            return r;
        }
        if self.slots.len() >= self.capacity {
            self.evict_least_recent();
        }
        let deadline = state.deadline();
        if let Some(d) = deadline {
            self.deadlines.insert((d, key.to_string()));
        }
        self.slots.insert(
            key.to_string(),
            Slot {
                state,
                seen: now,
                deadline,
            },
        );
        self.recency.insert(now, key.to_string());
        r
    }

    /// Applies `f` to an existing key without marking it seen (timers, recorded firings).
    pub fn update<R>(&mut self, key: &str, f: impl FnOnce(&mut S) -> R) -> Option<R> {
        let slot = self.slots.get_mut(key)?;
        let r = f(&mut slot.state);
        self.reindex(key);
        Some(r)
    }

    /// Brings the deadline index up to date with the key's state; drops the key when idle.
    fn reindex(&mut self, key: &str) {
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        let deadline = slot.state.deadline();
        if deadline != slot.deadline {
            if let Some(d) = slot.deadline {
                self.deadlines.remove(&(d, key.to_string()));
            }
            if let Some(d) = deadline {
                self.deadlines.insert((d, key.to_string()));
            }
            slot.deadline = deadline;
        }
        if slot.state.is_idle() {
            self.remove(key);
        }
    }

    fn remove(&mut self, key: &str) {
        if let Some(slot) = self.slots.remove(key) {
            self.recency.remove(&slot.seen);
            if let Some(d) = slot.deadline {
                self.deadlines.remove(&(d, key.to_string()));
            }
        }
    }

    fn evict_least_recent(&mut self) {
        let oldest = self.recency.first_key_value().map(|(_, k)| k.clone());
        if let Some(k) = oldest {
            self.remove(&k);
            self.evicted += 1;
        }
    }

    pub fn get(&self, key: &str) -> Option<&S> {
        self.slots.get(key).map(|s| &s.state)
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Keys evicted so far.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.deadlines.first().map(|(d, _)| *d)
    }

    /// Keys whose deadline is at or before `now`, earliest first.
    pub fn due(&self, now: Timestamp) -> Vec<String> {
        self.deadlines
            .iter()
            .take_while(|(d, _)| *d <= now)
            .map(|(_, k)| k.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use routerd_api::event::NewEvent;
    use routerd_api::Severity;

    #[derive(Default)]
    struct Counter {
        n: u32,
        due: Option<Timestamp>,
    }

    impl KeyState for Counter {
        fn deadline(&self) -> Option<Timestamp> {
            self.due
        }
        fn is_idle(&self) -> bool {
            self.n == 0 && self.due.is_none()
        }
    }

    #[test]
    fn keys_come_from_the_named_place_and_default_to_empty() {
        let ev = NewEvent::new("routerd.x.y", Severity::Info, "")
            .resource("HealthCheck", "isp")
            .source("routerd-healthcheck", "inst")
            .attr("iface", "wan")
            .with_cursor(1);
        let key = |s: Option<&str>| CorrelateBy::parse(s).unwrap().key(&ev).to_string();
        assert_eq!(key(None), "");
        assert_eq!(key(Some("resource.name")), "isp");
        assert_eq!(key(Some("resource.kind")), "HealthCheck");
        assert_eq!(key(Some("source.instance")), "inst");
        assert_eq!(key(Some("attributes.iface")), "wan");
        assert_eq!(key(Some("attributes.missing")), "");
        assert!(CorrelateBy::parse(Some("attributes.")).is_err());
        assert!(CorrelateBy::parse(Some("topic")).is_err());
    }

    #[test]
    fn the_least_recently_seen_key_is_evicted_at_4096() {
        let mut t: KeyTable<Counter> = KeyTable::new(MAX_KEYS);
        for i in 0..MAX_KEYS {
            t.seen(&format!("k{i}"), |c| c.n += 1);
        }
        // Seeing k0 again makes k1 the least recent.
        t.seen("k0", |c| c.n += 1);
        t.seen("new", |c| c.n += 1);
        assert_eq!(t.len(), MAX_KEYS);
        assert_eq!(t.evicted(), 1);
        assert!(t.get("k1").is_none(), "k1 was the least recently seen");
        assert_eq!(t.get("k0").map(|c| c.n), Some(2));
        assert_eq!(t.get("new").map(|c| c.n), Some(1));
        // A timer update does not count as seen.
        t.update("k2", |c| c.due = Some(Timestamp(5)));
        t.seen("newer", |c| c.n += 1);
        assert!(t.get("k2").is_none(), "k2 stayed least recently seen");
        assert_eq!(t.next_deadline(), None, "its deadline went with it");
        // A new key left idle is not stored and evicts nobody.
        let before = t.evicted();
        t.seen("idle", |_| ());
        assert!(t.get("idle").is_none());
        assert_eq!((t.len(), t.evicted()), (MAX_KEYS, before));
    }

    #[test]
    fn deadlines_are_indexed_and_idle_states_dropped() {
        let mut t: KeyTable<Counter> = KeyTable::new(8);
        t.seen("a", |c| c.due = Some(Timestamp(30)));
        t.seen("b", |c| c.due = Some(Timestamp(10)));
        t.seen("c", |c| c.n = 1);
        assert_eq!(t.next_deadline(), Some(Timestamp(10)));
        assert_eq!(t.due(Timestamp(30)), ["b", "a"]);
        t.update("b", |c| c.due = None);
        assert!(t.get("b").is_none(), "idle state removed");
        assert_eq!(t.next_deadline(), Some(Timestamp(30)));
        t.seen("a", |c| c.due = Some(Timestamp(40)));
        assert_eq!(t.due(Timestamp(35)), Vec::<String>::new());
        assert_eq!(t.len(), 2);
    }
}
