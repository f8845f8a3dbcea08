//! The injected clock ([`Now`]) and randomness ([`Random`], with [`XorShift`] for daemons and
//! [`Sequence`] for tests), and events stamped with the injected time ([`resource_event`]). Injecting both
//! is what lets tests replay exact schedules on a virtual clock.

use routerd_api::event::{NewEvent, Severity};
use routerd_api::Timestamp;
use std::time::{Duration, Instant};

/// The time of an input: monotonic for timers, wall-clock for lease times that are shown and persisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub mono: Instant,
    pub wall: Timestamp,
}

impl Now {
    pub fn system() -> Now {
        Now {
            mono: Instant::now(),
            wall: Timestamp::now(),
        }
    }

    /// This instant `d` later, on both clocks (for virtual clocks).
    pub fn after(self, d: Duration) -> Now {
        Now {
            mono: self.mono + d,
            wall: self.wall.saturating_add(d),
        }
    }

    /// The monotonic instant of wall-clock time `t` (now when `t` is in the past): places a persisted
    /// wall-clock deadline on the timer clock.
    pub fn mono_of(self, t: Timestamp) -> Instant {
        self.mono + self.wall.until(t)
    }
}

/// An event about the state machine's resource `resource_kind`/`resource_name`, stamped with the
/// input's wall-clock time rather than the time it is logged, so a replayed schedule yields the same
/// events.
pub fn resource_event(
    resource_kind: &str,
    resource_name: &str,
    topic: &str,
    severity: Severity,
    message: String,
    now: Now,
) -> NewEvent {
    let mut e = NewEvent::new(topic, severity, message).resource(resource_kind, resource_name);
    e.time = now.wall;
    e
}

/// A source of random numbers.
pub trait Random: Send {
    fn next_u32(&mut self) -> u32;

    /// A value in `0..n` (0 when `n` is 0). The tiny modulo bias is irrelevant for jitter and xids.
    fn below(&mut self, n: u32) -> u32 {
        if n == 0 {
            0
        } else {
            self.next_u32() % n
        }
    }
}

/// xorshift64*: fast, small, good enough for transaction ids and jitter (not for secrets).
#[derive(Debug, Clone)]
pub struct XorShift {
    state: u64,
}

impl XorShift {
    /// A generator from `seed` (a zero seed is replaced, xorshift cannot leave zero).
    pub fn new(seed: u64) -> XorShift {
        XorShift {
            state: if seed == 0 {
                0x9e37_79b9_7f4a_7c15
            } else {
                seed
            },
        }
    }
}

impl Random for XorShift {
    fn next_u32(&mut self) -> u32 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    }
}

/// Replays a fixed list of values, cycling; for tests that need exact jitter and xids.
#[derive(Debug, Clone)]
pub struct Sequence {
    values: Vec<u32>,
    next: usize,
}

impl Sequence {
    pub fn new(values: Vec<u32>) -> Sequence {
        Sequence { values, next: 0 }
    }
}

impl Random for Sequence {
    fn next_u32(&mut self) -> u32 {
        let Some(v) = self.values.get(self.next % self.values.len().max(1)) else {
            return 0;
        };
        self.next = self.next.wrapping_add(1);
        *v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xorshift_is_deterministic_per_seed_and_never_stuck() {
        let mut a = XorShift::new(42);
        let mut b = XorShift::new(42);
        let xs: Vec<u32> = (0..4).map(|_| a.next_u32()).collect();
        let ys: Vec<u32> = (0..4).map(|_| b.next_u32()).collect();
        assert_eq!(xs, ys);
        let mut z = XorShift::new(0);
        assert_ne!(z.next_u32(), z.next_u32());
        assert_eq!(z.below(0), 0);
        assert!(z.below(10) < 10);
        let mut s = Sequence::new(vec![]);
        assert_eq!(s.next_u32(), 0);
    }

    #[test]
    fn now_after_moves_both_clocks_and_mono_of_places_wall_times() {
        let n = Now::system();
        let later = n.after(Duration::from_secs(5));
        assert_eq!(later.mono - n.mono, Duration::from_secs(5));
        assert_eq!(n.mono_of(later.wall), later.mono);
        assert_eq!(later.mono_of(n.wall), later.mono, "the past is now");
    }

    #[test]
    fn resource_events_carry_the_input_time() {
        let now = Now::system().after(Duration::from_secs(60));
        let e = resource_event("Kind", "name", "a.b.c", Severity::Info, "m".into(), now);
        assert_eq!(e.time, now.wall);
        assert_eq!(e.resource_kind(), Some("Kind"));
        assert_eq!(e.resource_name(), Some("name"));
    }
}
