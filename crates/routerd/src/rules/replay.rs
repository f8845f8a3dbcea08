//! Start-up rebuild of one rule's state: the stored events the rule listens to are fed to its machine
//! again, without emitting, from the start of its horizon up to the checkpoint cursor. The rule's own
//! recorded firings are put back at the point the engine had reached when they happened
//! (`firedAtCursor`): timer firings depend on the wall clock, which a replay cannot re-run, and firings
//! before the horizon explain why a key started over.
//!
//! Horizon: `window`, `throttle`, `debounce`, `absence` look back twice their duration plus a minute
//! before the last evaluated event (so a timer that was pending when routerd stopped is found even if
//! the engine lagged); `allOf`, `sequence` and `count` depend on every event since the rule's spec took
//! effect, so they replay from there (bounded by retention); `anyOf` has no state.

use super::operators::{Machine, Matched};
use super::rule::{Rule, ATTR_CAUSE_CURSOR, ATTR_CORRELATION, ATTR_FIRED_AT_CURSOR};
use super::SOURCE_EVENTRULE;
use crate::events::EventBus;
use routerd_api::event::Event;
use routerd_api::Timestamp;
use routerd_store::{EventFilter, StoreError};
use std::sync::Arc;
use std::time::Duration;

const PAGE: usize = 4096;
/// Added to twice the horizon when looking back from the last evaluated event.
const HORIZON_SLACK: Duration = Duration::from_secs(60);

/// What a rebuild did, for the log.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    /// Cursor the replay started after.
    pub from: u64,
    pub events: u64,
    pub recorded_firings: u64,
}

/// Reads stored events for a replay. Rows that cannot be decoded are passed over: the engine reports
/// each when it first meets one, not again at every start.
fn read(bus: &EventBus, filter: &EventFilter) -> Result<Vec<Event>, StoreError> {
    Ok(bus.store().query_skipping(filter)?.events)
}

/// A firing found in the store.
struct Recorded {
    at: u64,
    key: String,
    cause: u64,
}

/// Rebuilds `machine` (fresh) for `rule`, in force since cursor `since`, up to cursor `upto`.
pub fn rebuild(
    bus: &EventBus,
    rule: &Rule,
    machine: &mut Machine,
    since: u64,
    upto: u64,
) -> Result<Replayed, StoreError> {
    let mut done = Replayed {
        from: since,
        ..Default::default()
    };
    if machine.operator().is_stateless() || upto <= since {
        return Ok(done);
    }
    let start = match rule.operator.horizon() {
        Some(h) => horizon_start(bus, since, upto, h.saturating_mul(2) + HORIZON_SLACK)?,
        None => since,
    };
    done.from = start;
    let recorded = recorded_firings(bus, rule, start)?;
    done.recorded_firings = recorded.len() as u64;
    let mut next = 0;
    let mut discard = Vec::new();
    let mut after = start;
    'pages: loop {
        let page = read(
            bus,
            &EventFilter {
                since: after,
                topics: rule.patterns().to_vec(),
                limit: PAGE,
                ..Default::default()
            },
        )?;
        let n = page.len();
        for ev in page {
            let Ok(cursor) = ev.cursor.parse::<u64>() else {
                continue;
            };
            if cursor > upto {
                break 'pages;
            }
            after = cursor;
            while let Some(r) = recorded.get(next).filter(|r| r.at < cursor) {
                machine.on_recorded_firing(&r.key, r.cause);
                next += 1;
            }
            if ev.source.kind == SOURCE_EVENTRULE {
                continue;
            }
            let bits = rule.topic_bits(&ev.topic);
            if bits == 0 {
                continue;
            }
            let key = rule.correlate.key(&ev).to_string();
            let m = Matched {
                event: Arc::new(ev),
                cursor,
                topics: bits,
            };
            machine.on_event(&key, &m, &mut discard);
            discard.clear();
            done.events += 1;
        }
        if n < PAGE {
            break;
        }
    }
    for r in &recorded[next.min(recorded.len())..] {
        machine.on_recorded_firing(&r.key, r.cause);
    }
    Ok(done)
}

/// The rule's firings recorded after `start`, ordered by the point they happened at.
fn recorded_firings(bus: &EventBus, rule: &Rule, start: u64) -> Result<Vec<Recorded>, StoreError> {
    let mut out = Vec::new();
    let mut after = start;
    loop {
        let page = read(
            bus,
            &EventFilter {
                since: after,
                resource: Some(("EventRule".to_string(), rule.name.clone())),
                limit: PAGE,
                ..Default::default()
            },
        )?;
        let n = page.len();
        for ev in page {
            after = ev.cursor.parse().unwrap_or(after);
            if ev.source.kind != SOURCE_EVENTRULE || ev.source.instance != rule.name {
                continue;
            }
            let num = |k: &str| ev.attributes.get(k).and_then(|v| v.parse::<u64>().ok());
            let (Some(at), Some(cause)) = (num(ATTR_FIRED_AT_CURSOR), num(ATTR_CAUSE_CURSOR))
            else {
                continue;
            };
            if at < start {
                continue;
            }
            let key = ev
                .attributes
                .get(ATTR_CORRELATION)
                .cloned()
                .unwrap_or_default();
            out.push(Recorded { at, key, cause });
        }
        if n < PAGE {
            break;
        }
    }
    out.sort_by_key(|r| r.at);
    Ok(out)
}

/// The cursor to replay after: events up to it are older than `look_back` before the event at `upto`
/// (cursors and times rise together closely enough for a binary search; daemons' events keep their own
/// time, which is why the look-back has slack).
fn horizon_start(
    bus: &EventBus,
    since: u64,
    upto: u64,
    look_back: Duration,
) -> Result<u64, StoreError> {
    let first_after = |c: u64| -> Result<Option<(u64, Timestamp)>, StoreError> {
        Ok(read(
            bus,
            &EventFilter {
                since: c,
                limit: 1,
                ..Default::default()
            },
        )?
        .first()
        .and_then(|e| e.cursor.parse().ok().map(|cur| (cur, e.time))))
    };
    let reference = match first_after(upto.saturating_sub(1))? {
        Some((c, t)) if c == upto => t,
        _ => return Ok(since),
    };
    let oldest = reference.saturating_sub(look_back);
    let (mut lo, mut hi) = (since, upto);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match first_after(mid)? {
            Some((c, t)) if t < oldest && c <= hi => lo = c,
            _ => hi = mid,
        }
    }
    Ok(lo)
}
