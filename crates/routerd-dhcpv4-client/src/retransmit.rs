//! Retransmission timing (RFC 2131 §4.1 and §4.4.5).
//!
//! - SELECTING, REQUESTING, REBOOTING: the n-th transmission is followed by a wait of 4 s, 8 s, 16 s,
//!   32 s, then 64 s for every later one, each randomised by a uniform ±1 s ([`backoff`]).
//! - RENEWING and REBINDING: wait half the time left until T2 (renewing) or expiry (rebinding), but at
//!   least the lease's floor (60 s; 10 s for short leases); when that would reach the deadline, the
//!   deadline itself is the next step ([`halfway`]).

use routerd_sansio::Random;
use std::time::{Duration, Instant};

/// The first retransmission delay.
pub const INITIAL: Duration = Duration::from_secs(4);
/// The retransmission delay stops doubling here.
pub const MAXIMUM: Duration = Duration::from_secs(64);
/// Each delay is moved by a uniformly random amount in `-JITTER..=+JITTER`.
pub const JITTER: Duration = Duration::from_secs(1);

/// The wait after the `transmissions`-th transmission of a message (1 for the first).
pub fn backoff(transmissions: u32, random: &mut dyn Random) -> Duration {
    let doublings = transmissions.saturating_sub(1).min(4);
    let base = (INITIAL * (1u32 << doublings)).min(MAXIMUM);
    let jitter_ms = JITTER.as_millis() as u32;
    let offset = random.below(2 * jitter_ms + 1);
    // base >= 4 s > 1 s, so the subtraction cannot go below zero.
    base + Duration::from_millis(u64::from(offset)) - JITTER
}

/// The next retransmission while renewing (`until` = T2) or rebinding (`until` = expiry): halfway to
/// `until`, at least `floor` from `now`; `None` when that would not come before `until`.
pub fn halfway(now: Instant, until: Instant, floor: Duration) -> Option<Instant> {
    let remaining = until.saturating_duration_since(now);
    let wait = (remaining / 2).max(floor);
    let at = now + wait;
    (at < until).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use routerd_sansio::Sequence;

    #[test]
    fn doubles_from_four_to_sixty_four_seconds_with_one_second_of_jitter() {
        // below(2001) of 1000 is no jitter, 0 is -1 s, 2000 is +1 s.
        let mut mid = Sequence::new(vec![1000]);
        let waits: Vec<u64> = (1..=7).map(|n| backoff(n, &mut mid).as_secs()).collect();
        assert_eq!(waits, [4, 8, 16, 32, 64, 64, 64]);
        let mut low = Sequence::new(vec![0]);
        assert_eq!(backoff(1, &mut low), Duration::from_secs(3));
        let mut high = Sequence::new(vec![2000]);
        assert_eq!(backoff(5, &mut high), Duration::from_secs(65));
        assert_eq!(backoff(u32::MAX, &mut high), Duration::from_secs(65));
    }

    #[test]
    fn jitter_stays_within_one_second_for_any_random_value() {
        let mut r = Sequence::new((0..5000).map(|i| i * 7919).collect());
        for n in 1..=8 {
            let base = (INITIAL * (1 << (n - 1).min(4))).min(MAXIMUM);
            for _ in 0..200 {
                let w = backoff(n, &mut r);
                assert!(w >= base - JITTER && w <= base + JITTER, "{n}: {w:?}");
            }
        }
    }

    #[test]
    fn renewing_waits_half_the_remaining_time_with_a_floor() {
        let now = Instant::now();
        let floor = Duration::from_secs(60);
        let t2 = now + Duration::from_secs(1000);
        assert_eq!(
            halfway(now, t2, floor),
            Some(now + Duration::from_secs(500))
        );
        let t2 = now + Duration::from_secs(100);
        assert_eq!(halfway(now, t2, floor), Some(now + Duration::from_secs(60)));
        let t2 = now + Duration::from_secs(60);
        assert_eq!(halfway(now, t2, floor), None, "the floor reaches T2");
        assert_eq!(halfway(now, now, floor), None);
    }
}
