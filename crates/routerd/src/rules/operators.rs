//! The eight EventRule operators as sans-IO state machines (`events.md`, EventRule). A [`Machine`] holds
//! one rule's per-key state; it is fed matched events (`on_event`) and the clock (`on_timer`) and
//! answers with [`Firing`]s. It never reads a clock itself: an event's time is its own `time`, and timers
//! are driven by whoever calls `on_timer` — the engine with the wall clock, tests with a virtual one.
//!
//! Semantics, per correlation key:
//! - `anyOf`: fires on every matching event.
//! - `allOf`: fires once every listed topic has been seen, then starts over.
//! - `sequence`: fires when the listed topics arrive in order, then starts over. An event that matches
//!   a listed topic other than the next one is ignored, or with `strict: true` restarts the sequence
//!   (and counts as its first step when it is the first topic).
//! - `window`: fires when `threshold` matches fall within `window` of each other (the newest match's
//!   time minus the oldest's), then starts over: a burst of 5 with threshold 3 fires once, at the 3rd.
//! - `count`: fires at every `threshold`-th match.
//! - `throttle`: fires at once on a match when no firing happened in the last `interval`; matches inside
//!   the interval are held, and when the interval ends the last held one fires (with `count` = how many
//!   were held). So it fires at most once per `interval` and never swallows the last word.
//! - `debounce`: fires with the last event once the key has been quiet for `quiet`.
//! - `absence`: a `trigger` arms a timer of `timeout`; an `expected` disarms it; if it runs out, fires
//!   with the trigger. A trigger while armed is ignored (the first one counts); an event matching both
//!   patterns counts as `expected`.
//!
//! A timer that is already due when the next event of its key arrives fires before that event is
//! applied, so the outcome depends only on the events and their times, not on how busy the engine was.
//! That is what lets the engine rebuild state by replaying stored events.

use super::correlation::{KeyState, KeyTable, MAX_KEYS};
use routerd_api::event::Event;
use routerd_api::Timestamp;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// `absence` topic bits: the event matched `trigger` / `expected`.
pub const TRIGGER: u64 = 1;
pub const EXPECTED: u64 = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    AnyOf,
    /// `all`: the bit set of every listed topic.
    AllOf {
        all: u64,
    },
    Sequence {
        steps: usize,
        strict: bool,
    },
    Window {
        window: Duration,
        threshold: u32,
    },
    Count {
        threshold: u32,
    },
    Throttle {
        interval: Duration,
    },
    Debounce {
        quiet: Duration,
    },
    Absence {
        timeout: Duration,
    },
}

impl Operator {
    /// How far back state reaches in time; `None` when it depends on every event since the rule started
    /// (`allOf`, `sequence`, `count`) or on none (`anyOf`).
    pub fn horizon(&self) -> Option<Duration> {
        match self {
            Operator::Window { window, .. } => Some(*window),
            Operator::Throttle { interval } => Some(*interval),
            Operator::Debounce { quiet } => Some(*quiet),
            Operator::Absence { timeout } => Some(*timeout),
            _ => None,
        }
    }

    /// Whether the operator keeps any state at all.
    pub fn is_stateless(&self) -> bool {
        matches!(self, Operator::AnyOf)
    }

    /// Whether the emitted event carries the `count` attribute (`events.md`).
    pub fn reports_count(&self) -> bool {
        matches!(self, Operator::Window { .. } | Operator::Count { .. })
    }
}

/// An event whose topic matched the rule: `topics` has bit `i` set when listed pattern `i` matched
/// (for `absence`: [`TRIGGER`], [`EXPECTED`]).
#[derive(Debug, Clone)]
pub struct Matched {
    pub event: Arc<Event>,
    pub cursor: u64,
    pub topics: u64,
}

/// A rule fired for `key`, carrying `cause` (the event the firing is "with").
#[derive(Debug, Clone)]
pub struct Firing {
    pub key: String,
    /// Matches behind the firing: the window's or count's matches, `allOf`'s contributing events,
    /// `sequence`'s steps, events coalesced by `debounce`, events held by `throttle` (1 when it fired at
    /// once), 1 for `anyOf` and `absence`.
    pub count: u64,
    pub cause: Arc<Event>,
    pub cause_cursor: u64,
}

#[derive(Debug, Clone)]
struct Held {
    event: Arc<Event>,
    cursor: u64,
}

impl Held {
    fn of(m: &Matched) -> Held {
        Held {
            event: m.event.clone(),
            cursor: m.cursor,
        }
    }
}

#[derive(Debug, Default)]
enum State {
    #[default]
    Idle,
    AllOf {
        seen: u64,
        events: u64,
    },
    Sequence {
        next: usize,
    },
    Window {
        times: VecDeque<Timestamp>,
    },
    Count {
        n: u64,
    },
    Throttle {
        until: Timestamp,
        held: Option<Held>,
        suppressed: u64,
    },
    Debounce {
        last: Held,
        events: u64,
        due: Timestamp,
    },
    Absence {
        trigger: Held,
        due: Timestamp,
    },
}

impl KeyState for State {
    fn deadline(&self) -> Option<Timestamp> {
        match self {
            State::Throttle { until, .. } => Some(*until),
            State::Debounce { due, .. } | State::Absence { due, .. } => Some(*due),
            _ => None,
        }
    }
    fn is_idle(&self) -> bool {
        match self {
            State::Idle => true,
            State::AllOf { seen, .. } => *seen == 0,
            State::Sequence { next } => *next == 0,
            State::Window { times } => times.is_empty(),
            State::Count { n } => *n == 0,
            _ => false,
        }
    }
}

/// One rule's operator and per-key state.
pub struct Machine {
    op: Operator,
    keys: KeyTable<State>,
}

fn fire(key: &str, count: u64, cause: &Held, out: &mut Vec<Firing>) {
    out.push(Firing {
        key: key.to_string(),
        count,
        cause: cause.event.clone(),
        cause_cursor: cause.cursor,
    });
}

impl Machine {
    pub fn new(op: Operator) -> Machine {
        Machine::with_capacity(op, MAX_KEYS)
    }

    pub fn with_capacity(op: Operator, keys: usize) -> Machine {
        Machine {
            op,
            keys: KeyTable::new(keys),
        }
    }

    pub fn operator(&self) -> &Operator {
        &self.op
    }

    /// Keys currently holding state.
    pub fn keys(&self) -> usize {
        self.keys.len()
    }

    pub fn evicted(&self) -> u64 {
        self.keys.evicted()
    }

    /// Applies a matched event of `key`; firings are appended to `out`.
    pub fn on_event(&mut self, key: &str, m: &Matched, out: &mut Vec<Firing>) {
        let Machine { op, keys } = self;
        if op.is_stateless() {
            fire(key, 1, &Held::of(m), out);
            return;
        }
        keys.seen(key, |s| {
            if s.deadline().is_some_and(|d| d <= m.event.time) {
                on_deadline(op, s, key, out);
            }
            step(op, s, key, m, out);
        });
    }

    /// Fires every timer due at `now`.
    pub fn on_timer(&mut self, now: Timestamp, out: &mut Vec<Firing>) {
        let Machine { op, keys } = self;
        // A throttle whose next interval is also over comes due again; each round either closes a key
        // or empties its held event, so this ends.
        loop {
            let due = keys.due(now);
            if due.is_empty() {
                return;
            }
            for key in due {
                keys.update(&key, |s| on_deadline(op, s, &key, out));
            }
        }
    }

    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.keys.next_deadline()
    }

    /// Replay: the store records that this rule fired for `key` with the event at `cause_cursor`. Brings
    /// the key's state to what it was right after that firing, when the replayed state has not already
    /// got there (events before the replay horizon are not replayed, and timer firings are not replayed
    /// at all: they happened when the wall clock said so).
    pub fn on_recorded_firing(&mut self, key: &str, cause_cursor: u64) {
        let Machine { op, keys } = self;
        keys.update(key, |s| {
            let matches_pending = match s {
                State::Debounce { last, .. } => last.cursor == cause_cursor,
                State::Absence { trigger, .. } => trigger.cursor == cause_cursor,
                State::Throttle { held, .. } => {
                    held.as_ref().is_some_and(|h| h.cursor == cause_cursor)
                }
                // Firings of these start the key over; after a faithful replay it is already idle.
                State::Window { .. }
                | State::Count { .. }
                | State::AllOf { .. }
                | State::Sequence { .. } => {
                    *s = State::Idle;
                    false
                }
                State::Idle => false,
            };
            if matches_pending {
                on_deadline(op, s, key, &mut Vec::new());
            }
        });
    }
}

/// The timer of a key ran out.
fn on_deadline(op: &Operator, s: &mut State, key: &str, out: &mut Vec<Firing>) {
    match s {
        State::Throttle {
            until,
            held,
            suppressed,
        } => match held.take() {
            Some(h) => {
                fire(key, *suppressed, &h, out);
                if let Operator::Throttle { interval } = op {
                    *until = until.saturating_add(*interval);
                }
                *suppressed = 0;
            }
            None => *s = State::Idle,
        },
        State::Debounce { last, events, .. } => {
            fire(key, *events, last, out);
            *s = State::Idle;
        }
        State::Absence { trigger, .. } => {
            fire(key, 1, trigger, out);
            *s = State::Idle;
        }
        _ => {}
    }
}

/// Applies one matched event to the key's state.
fn step(op: &Operator, s: &mut State, key: &str, m: &Matched, out: &mut Vec<Firing>) {
    let t = m.event.time;
    match op {
        Operator::AnyOf => fire(key, 1, &Held::of(m), out),
        Operator::AllOf { all } => {
            let (seen, events) = match s {
                State::AllOf { seen, events } => (*seen, *events),
                _ => (0, 0),
            };
            let (seen, events) = (seen | (m.topics & all), events + 1);
            if seen == *all {
                fire(key, events, &Held::of(m), out);
                *s = State::Idle;
            } else {
                *s = State::AllOf { seen, events };
            }
        }
        Operator::Sequence { steps, strict } => {
            let mut next = match s {
                State::Sequence { next } => *next,
                _ => 0,
            };
            if next < 64 && m.topics & (1u64 << next) != 0 {
                next += 1;
            } else if *strict && m.topics != 0 {
                next = usize::from(m.topics & 1 != 0);
            }
            if next >= *steps {
                fire(key, *steps as u64, &Held::of(m), out);
                *s = State::Idle;
            } else {
                *s = State::Sequence { next };
            }
        }
        Operator::Window { window, threshold } => {
            if !matches!(s, State::Window { .. }) {
                *s = State::Window {
                    times: VecDeque::new(),
                };
            }
            let State::Window { times } = s else {
                return;
            };
            // Times almost always arrive in order; an older one is put in its place.
            let at = times.iter().rposition(|x| *x <= t).map_or(0, |i| i + 1);
            times.insert(at, t);
            let newest = times.back().copied().unwrap_or(t);
            let oldest_kept = newest.saturating_sub(*window);
            while times.front().is_some_and(|x| *x < oldest_kept) {
                times.pop_front();
            }
            if times.len() as u64 >= u64::from(*threshold) {
                fire(key, times.len() as u64, &Held::of(m), out);
                *s = State::Idle;
            }
        }
        Operator::Count { threshold } => {
            let n = match s {
                State::Count { n } => *n + 1,
                _ => 1,
            };
            if n >= u64::from(*threshold) {
                fire(key, n, &Held::of(m), out);
                *s = State::Idle;
            } else {
                *s = State::Count { n };
            }
        }
        Operator::Throttle { interval } => match s {
            State::Throttle {
                until,
                held,
                suppressed,
            } if t < *until => {
                *held = Some(Held::of(m));
                *suppressed += 1;
            }
            _ => {
                fire(key, 1, &Held::of(m), out);
                *s = State::Throttle {
                    until: t.saturating_add(*interval),
                    held: None,
                    suppressed: 0,
                };
            }
        },
        Operator::Debounce { quiet } => {
            let events = match s {
                State::Debounce { events, .. } => *events + 1,
                _ => 1,
            };
            *s = State::Debounce {
                last: Held::of(m),
                events,
                due: t.saturating_add(*quiet),
            };
        }
        Operator::Absence { timeout } => {
            if m.topics & EXPECTED != 0 {
                *s = State::Idle;
            } else if m.topics & TRIGGER != 0 && matches!(s, State::Idle) {
                *s = State::Absence {
                    trigger: Held::of(m),
                    due: t.saturating_add(*timeout),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use routerd_api::event::NewEvent;
    use routerd_api::Severity;

    const S: i64 = 1_000_000_000;

    /// A virtual clock and event factory: every event gets the next cursor and the clock's time.
    struct Clock {
        now: Timestamp,
        cursor: u64,
    }

    impl Clock {
        fn new() -> Clock {
            Clock {
                now: Timestamp(1_000 * S),
                cursor: 0,
            }
        }
        fn advance(&mut self, secs: f64) {
            self.now = Timestamp(self.now.0 + (secs * S as f64) as i64);
        }
        fn event(&mut self, topic: &str, topics: u64) -> Matched {
            self.cursor += 1;
            let mut e = NewEvent::new(topic, Severity::Info, "")
                .attr("n", self.cursor.to_string())
                .with_cursor(self.cursor);
            e.time = self.now;
            Matched {
                event: Arc::new(e),
                cursor: self.cursor,
                topics,
            }
        }
    }

    fn feed(m: &mut Machine, c: &mut Clock, key: &str, topics: u64) -> Vec<Firing> {
        let ev = c.event("routerd.test.x", topics);
        let mut out = Vec::new();
        m.on_event(key, &ev, &mut out);
        out
    }

    fn tick(m: &mut Machine, c: &Clock) -> Vec<Firing> {
        let mut out = Vec::new();
        m.on_timer(c.now, &mut out);
        out
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn any_of_fires_on_every_match() {
        let mut m = Machine::new(Operator::AnyOf);
        let mut c = Clock::new();
        for i in 1..=3 {
            let f = feed(&mut m, &mut c, "k", 1);
            assert_eq!(f.len(), 1);
            assert_eq!((f[0].count, f[0].cause_cursor), (1, i));
        }
        assert_eq!(m.keys(), 0, "anyOf keeps no state");
    }

    #[test]
    fn all_of_fires_once_every_topic_was_seen_then_resets() {
        let mut m = Machine::new(Operator::AllOf { all: 0b111 });
        let mut c = Clock::new();
        assert!(feed(&mut m, &mut c, "k", 0b001).is_empty());
        assert!(feed(&mut m, &mut c, "k", 0b001).is_empty());
        assert!(
            feed(&mut m, &mut c, "other", 0b110).is_empty(),
            "keys are separate"
        );
        assert!(feed(&mut m, &mut c, "k", 0b100).is_empty());
        let f = feed(&mut m, &mut c, "k", 0b010);
        assert_eq!((f.len(), f[0].count, f[0].key.as_str()), (1, 4, "k"));
        assert!(
            feed(&mut m, &mut c, "k", 0b110).is_empty(),
            "reset after firing"
        );
        assert_eq!(feed(&mut m, &mut c, "other", 0b001).len(), 1);
    }

    #[test]
    fn sequence_in_order_fires_and_out_of_order_is_ignored() {
        let mut m = Machine::new(Operator::Sequence {
            steps: 3,
            strict: false,
        });
        let mut c = Clock::new();
        assert!(feed(&mut m, &mut c, "k", 0b001).is_empty());
        assert!(
            feed(&mut m, &mut c, "k", 0b100).is_empty(),
            "c before b: ignored"
        );
        assert!(feed(&mut m, &mut c, "k", 0b010).is_empty());
        let f = feed(&mut m, &mut c, "k", 0b100);
        assert_eq!((f.len(), f[0].count), (1, 3));
    }

    #[test]
    fn strict_sequence_restarts_on_an_out_of_order_listed_topic() {
        let mut m = Machine::new(Operator::Sequence {
            steps: 3,
            strict: true,
        });
        let mut c = Clock::new();
        feed(&mut m, &mut c, "k", 0b001);
        feed(&mut m, &mut c, "k", 0b010);
        assert!(
            feed(&mut m, &mut c, "k", 0b010).is_empty(),
            "b twice: restart"
        );
        assert!(
            feed(&mut m, &mut c, "k", 0b100).is_empty(),
            "so c does not complete it"
        );
        // a, a, b, c: the second a restarts and counts as the first step.
        feed(&mut m, &mut c, "k", 0b001);
        feed(&mut m, &mut c, "k", 0b001);
        feed(&mut m, &mut c, "k", 0b010);
        assert_eq!(feed(&mut m, &mut c, "k", 0b100).len(), 1);
        // Unlisted events (no bit) never reset.
        feed(&mut m, &mut c, "k", 0b001);
        feed(&mut m, &mut c, "k", 0);
        feed(&mut m, &mut c, "k", 0b010);
        assert_eq!(feed(&mut m, &mut c, "k", 0b100).len(), 1);
    }

    #[test]
    fn window_fires_when_threshold_matches_fall_within_it() {
        let mut m = Machine::new(Operator::Window {
            window: secs(60),
            threshold: 3,
        });
        let mut c = Clock::new();
        feed(&mut m, &mut c, "isp", 1);
        c.advance(50.0);
        feed(&mut m, &mut c, "isp", 1);
        c.advance(20.0); // the first is now 70 s old
        assert!(feed(&mut m, &mut c, "isp", 1).is_empty());
        c.advance(10.0);
        let f = feed(&mut m, &mut c, "isp", 1);
        assert_eq!((f.len(), f[0].count, f[0].cause_cursor), (1, 3, 4));
        // Starts over: the 5th and 6th do not fire, the 7th does.
        assert!(feed(&mut m, &mut c, "isp", 1).is_empty());
        assert!(feed(&mut m, &mut c, "isp", 1).is_empty());
        assert_eq!(feed(&mut m, &mut c, "isp", 1).len(), 1);
        // Per key.
        feed(&mut m, &mut c, "a", 1);
        feed(&mut m, &mut c, "b", 1);
        feed(&mut m, &mut c, "a", 1);
        assert!(feed(&mut m, &mut c, "b", 1).is_empty());
        assert_eq!(feed(&mut m, &mut c, "a", 1)[0].key, "a");
    }

    #[test]
    fn count_fires_at_every_threshold_th_match() {
        let mut m = Machine::new(Operator::Count { threshold: 2 });
        let mut c = Clock::new();
        let fired: Vec<usize> = (0..6).map(|_| feed(&mut m, &mut c, "k", 1).len()).collect();
        assert_eq!(fired, [0, 1, 0, 1, 0, 1]);
    }

    #[test]
    fn throttle_fires_at_once_then_at_most_once_per_interval_with_the_last_held() {
        let mut m = Machine::new(Operator::Throttle { interval: secs(10) });
        let mut c = Clock::new();
        assert_eq!(feed(&mut m, &mut c, "k", 1).len(), 1, "leading edge");
        c.advance(2.0);
        assert!(feed(&mut m, &mut c, "k", 1).is_empty());
        c.advance(2.0);
        assert!(feed(&mut m, &mut c, "k", 1).is_empty());
        assert_eq!(m.next_deadline(), Some(Timestamp(1_010 * S)));
        c.advance(5.9);
        assert!(tick(&mut m, &c).is_empty(), "not yet");
        c.advance(0.1);
        let f = tick(&mut m, &c);
        assert_eq!(f.len(), 1, "trailing edge with the last held event");
        assert_eq!((f[0].cause_cursor, f[0].count), (3, 2));
        // The next interval runs from the trailing firing: an event 5 s later is held.
        c.advance(5.0);
        assert!(feed(&mut m, &mut c, "k", 1).is_empty());
        c.advance(5.0);
        assert_eq!(tick(&mut m, &c).len(), 1);
        // Nothing held: the interval closes silently and the key is forgotten.
        c.advance(10.0);
        assert!(tick(&mut m, &c).is_empty());
        assert_eq!(m.keys(), 0);
        assert_eq!(feed(&mut m, &mut c, "k", 1).len(), 1, "leading again");
    }

    #[test]
    fn throttle_due_trailing_fires_before_a_late_event() {
        let mut m = Machine::new(Operator::Throttle { interval: secs(10) });
        let mut c = Clock::new();
        feed(&mut m, &mut c, "k", 1);
        c.advance(1.0);
        feed(&mut m, &mut c, "k", 1);
        // No tick ran (busy engine); the next event is 30 s later.
        c.advance(30.0);
        let f = feed(&mut m, &mut c, "k", 1);
        assert_eq!(
            f.iter().map(|f| f.cause_cursor).collect::<Vec<_>>(),
            [2, 3],
            "trailing for #2 first, then #3 leads a new interval"
        );
    }

    #[test]
    fn debounce_fires_with_the_last_event_after_quiet() {
        let mut m = Machine::new(Operator::Debounce { quiet: secs(5) });
        let mut c = Clock::new();
        for _ in 0..4 {
            assert!(feed(&mut m, &mut c, "k", 1).is_empty());
            c.advance(3.0);
            assert!(tick(&mut m, &c).is_empty(), "never quiet for 5 s");
        }
        c.advance(1.9);
        assert!(tick(&mut m, &c).is_empty());
        c.advance(0.1);
        let f = tick(&mut m, &c);
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].cause_cursor, f[0].count),
            (4, 4),
            "the last of 4 events"
        );
        assert_eq!(
            f[0].cause.attributes.get("n").map(String::as_str),
            Some("4")
        );
        assert!(tick(&mut m, &c).is_empty());
        assert_eq!(m.keys(), 0);
    }

    #[test]
    fn absence_fires_when_expected_does_not_follow_and_is_cancelled_by_it() {
        let mut m = Machine::new(Operator::Absence { timeout: secs(30) });
        let mut c = Clock::new();
        feed(&mut m, &mut c, "wan", TRIGGER);
        c.advance(20.0);
        feed(&mut m, &mut c, "wan", EXPECTED);
        c.advance(20.0);
        assert!(tick(&mut m, &c).is_empty(), "expected arrived in time");
        assert_eq!(m.keys(), 0);

        let first = feed(&mut m, &mut c, "wan", TRIGGER);
        assert!(first.is_empty());
        c.advance(10.0);
        feed(&mut m, &mut c, "wan", TRIGGER); // ignored: already armed
        feed(&mut m, &mut c, "lan", EXPECTED); // another key
        c.advance(19.0);
        assert!(tick(&mut m, &c).is_empty());
        c.advance(1.0);
        let f = tick(&mut m, &c);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].cause_cursor, 3, "with the first trigger");
        // An event matching both counts as expected.
        feed(&mut m, &mut c, "wan", TRIGGER | EXPECTED);
        assert_eq!(m.keys(), 0);
    }

    #[test]
    fn recorded_firings_align_replayed_state() {
        // Debounce: a recorded timer firing for the pending event clears it; one for an older event
        // (the key moved on) changes nothing.
        let mut m = Machine::new(Operator::Debounce { quiet: secs(5) });
        let mut c = Clock::new();
        feed(&mut m, &mut c, "k", 1);
        m.on_recorded_firing("k", 1);
        assert_eq!(m.keys(), 0);
        feed(&mut m, &mut c, "k", 1);
        m.on_recorded_firing("k", 1);
        assert_eq!(m.keys(), 1);
        // Window: a firing seen in the store resets the key even if the replay started too late to
        // see the matches before it.
        let mut w = Machine::new(Operator::Window {
            window: secs(60),
            threshold: 3,
        });
        feed(&mut w, &mut c, "k", 1);
        w.on_recorded_firing("k", c.cursor);
        assert_eq!(w.keys(), 0);
    }

    #[test]
    fn a_rule_keeps_4096_keys_and_forgets_the_least_recently_seen() {
        let mut m = Machine::new(Operator::Count { threshold: 2 });
        let mut c = Clock::new();
        for i in 0..=MAX_KEYS {
            assert!(feed(&mut m, &mut c, &format!("k{i}"), 1).is_empty());
        }
        assert_eq!((m.keys(), m.evicted()), (MAX_KEYS, 1));
        assert!(
            feed(&mut m, &mut c, "k0", 1).is_empty(),
            "k0 was evicted: its first match was forgotten"
        );
        assert_eq!(feed(&mut m, &mut c, "k2", 1).len(), 1, "k2 was kept");
    }

    #[test]
    fn evicted_keys_lose_their_timers() {
        let mut m = Machine::with_capacity(Operator::Debounce { quiet: secs(1) }, 2);
        let mut c = Clock::new();
        feed(&mut m, &mut c, "a", 1);
        feed(&mut m, &mut c, "b", 1);
        feed(&mut m, &mut c, "c", 1);
        c.advance(2.0);
        let keys: Vec<String> = tick(&mut m, &c).into_iter().map(|f| f.key).collect();
        assert_eq!(keys, ["b", "c"]);
        assert_eq!(m.evicted(), 1);
    }
}
