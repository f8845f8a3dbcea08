//! When to dial again after a PPPoE session ended or an attempt failed: `PPPoESession.spec.redial`
//! (`initialDelay`, default 1 s, doubling up to `maxDelay`, default 60 s), so that an access
//! concentrator that is down, refuses us or rejects our password is never hammered.
//!
//! Rules (decisions, tested below):
//! - The first dial after start is immediate (the caller does not ask); every later one waits the current delay, which starts
//!   at `initialDelay` and doubles after each wait, capped at `maxDelay`: 1, 2, 4, … 32, 60, 60 s.
//! - Jitter: each wait is shortened by a random 0–10 % (never lengthened, so `maxDelay` really is the
//!   longest wait). Routers that lost the same AC at the same moment then do not all redial together.
//! - The doubling starts over only after a session that stayed up for [`Redial::stable_after`]
//!   (`max(maxDelay, 60 s)`): a session that comes up and drops at once (an AC that accepts and then
//!   sends PADT, an LCP that dies) must not turn the backoff into a redial storm.
//! - An authentication failure never resets the doubling and never waits less than the delay a
//!   failure would have; it is also never immediate (at least `initialDelay`, less the jitter). It climbs to `maxDelay`
//!   like any failure and stays there until a session is up long enough. ISPs lock accounts that
//!   retry wrong passwords quickly, so the wrong password costs one attempt per `maxDelay` at most.

use routerd_sansio::Random;
use std::time::{Duration, Instant};

/// How long a session must have been up for the backoff to start over, at least.
pub const MIN_STABLE_SESSION: Duration = Duration::from_secs(60);
/// The longest `maxDelay` accepted: longer is a typo, and would overflow the clock if absurd.
pub const MAX_REDIAL_DELAY: Duration = Duration::from_secs(24 * 3600);
/// The largest share of a wait the jitter takes off, in per mille.
const JITTER_PER_MILLE: u32 = 100;

/// `PPPoESession.spec.redial`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedialConfig {
    /// The first wait after a failure or a session's end.
    pub initial_delay: Duration,
    /// The longest wait.
    pub max_delay: Duration,
}

impl Default for RedialConfig {
    /// The spec's defaults: 1 s doubling to 60 s.
    fn default() -> Self {
        Self {
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
        }
    }
}

/// A `redial` block that cannot work, rejected before the daemon starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedialConfigError {
    /// A zero initial delay would make every failure an immediate redial: the storm this prevents.
    #[error("redial.initialDelay must be greater than zero")]
    ZeroInitialDelay,
    /// A cap over [`MAX_REDIAL_DELAY`] (a day).
    #[error("redial.maxDelay ({0:?}) is longer than a day")]
    MaxTooLong(Duration),
    /// The cap must not be below the start, or the sequence would not be a backoff.
    #[error("redial.maxDelay ({max:?}) is shorter than redial.initialDelay ({initial:?})")]
    MaxBelowInitial { initial: Duration, max: Duration },
}

impl RedialConfig {
    /// Checks the values (a zero start or a cap below the start are refused).
    pub fn validate(&self) -> Result<(), RedialConfigError> {
        if self.initial_delay.is_zero() {
            return Err(RedialConfigError::ZeroInitialDelay);
        }
        if self.max_delay > MAX_REDIAL_DELAY {
            return Err(RedialConfigError::MaxTooLong(self.max_delay));
        }
        if self.max_delay < self.initial_delay {
            return Err(RedialConfigError::MaxBelowInitial {
                initial: self.initial_delay,
                max: self.max_delay,
            });
        }
        Ok(())
    }
}

/// Why the last attempt or session ended; decides whether the backoff may start over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// Discovery got no usable answer (no PADO, no PADS) or the AC refused with an error tag.
    DiscoveryFailed,
    /// The session was up and went down: PADT, LCP echo failure, carrier loss, a Terminate-Request.
    SessionLost,
    /// LCP or an NCP never opened (max-configure, max-failure, a reject of something required).
    NegotiationFailed,
    /// The peer rejected our credentials (PAP Authenticate-Nak, CHAP Failure).
    AuthenticationFailed,
}

/// The redial schedule of one `PPPoESession`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redial {
    config: RedialConfig,
    /// The wait the next failure gets (before jitter).
    next_delay: Duration,
    /// When the current session came up, if it is up.
    up_since: Option<Instant>,
    /// Failures in a row since the backoff last started over, for status and events.
    consecutive_failures: u32,
}

impl Redial {
    /// A schedule for `config` (validate it first; out-of-range delays are clamped here, a zero one
    /// to 1 ms and a huge one to a day, so that a caller that did not still gets a backoff, neither a
    /// loop nor a clock overflow).
    pub fn new(config: RedialConfig) -> Self {
        let initial_delay = config
            .initial_delay
            .clamp(Duration::from_millis(1), MAX_REDIAL_DELAY);
        let config = RedialConfig {
            initial_delay,
            max_delay: config.max_delay.clamp(initial_delay, MAX_REDIAL_DELAY),
        };
        Self {
            config,
            next_delay: config.initial_delay,
            up_since: None,
            consecutive_failures: 0,
        }
    }

    /// How long a session must stay up before the backoff starts over: `max(maxDelay, 60 s)`, so a
    /// session that only outlives the longest wait proves the AC is really back.
    pub fn stable_after(&self) -> Duration {
        self.config.max_delay.max(MIN_STABLE_SESSION)
    }

    /// Failures (attempts or short sessions) since the backoff last started over.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// Records that the session is up (IPCP or IPv6CP opened) at `now`.
    pub fn session_up(&mut self, now: Instant) {
        self.up_since = Some(now);
    }

    /// The attempt or session ended at `now` for `reason`: returns when to dial again.
    pub fn ended(&mut self, now: Instant, reason: EndReason, random: &mut dyn Random) -> Instant {
        let was_stable = self
            .up_since
            .take()
            .is_some_and(|since| now.saturating_duration_since(since) >= self.stable_after());
        if was_stable && reason != EndReason::AuthenticationFailed {
            self.next_delay = self.config.initial_delay;
            self.consecutive_failures = 0;
        }
        let base = self.next_delay;
        self.next_delay = base.saturating_mul(2).min(self.config.max_delay);
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        now + jittered(base, random)
    }
}

/// `base` less a random 0–10 % of it (in steps of 0.1 %).
fn jittered(base: Duration, random: &mut dyn Random) -> Duration {
    let per_mille = random.below(JITTER_PER_MILLE + 1);
    base.saturating_sub(base.mul_f64(f64::from(per_mille) / 1000.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use routerd_sansio::Sequence;

    fn no_jitter() -> Sequence {
        Sequence::new(vec![0])
    }

    fn waits(redial: &mut Redial, start: Instant, reasons: &[EndReason]) -> Vec<u64> {
        let mut now = start;
        let mut random = no_jitter();
        reasons
            .iter()
            .map(|reason| {
                let at = redial.ended(now, *reason, &mut random);
                let wait = at - now;
                now = at;
                wait.as_secs()
            })
            .collect()
    }

    #[test]
    fn failures_double_from_initial_delay_to_max_delay() {
        let mut redial = Redial::new(RedialConfig::default());
        let got = waits(
            &mut redial,
            Instant::now(),
            &[EndReason::DiscoveryFailed; 9],
        );
        assert_eq!(got, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(redial.consecutive_failures(), 9);
    }

    #[test]
    fn a_short_session_does_not_reset_the_backoff_but_a_stable_one_does() {
        let mut redial = Redial::new(RedialConfig::default());
        let mut random = no_jitter();
        let t0 = Instant::now();
        assert_eq!(
            redial.ended(t0, EndReason::DiscoveryFailed, &mut random) - t0,
            Duration::from_secs(1)
        );
        let up = t0 + Duration::from_secs(1);
        redial.session_up(up);
        let down = up + Duration::from_secs(59);
        assert_eq!(
            redial.ended(down, EndReason::SessionLost, &mut random) - down,
            Duration::from_secs(2),
            "59 s is not stable: keep doubling"
        );
        let up = down + Duration::from_secs(2);
        redial.session_up(up);
        let down = up + Duration::from_secs(60);
        assert_eq!(
            redial.ended(down, EndReason::SessionLost, &mut random) - down,
            Duration::from_secs(1),
            "60 s up: start over"
        );
        assert_eq!(redial.consecutive_failures(), 1);
    }

    #[test]
    fn stable_threshold_follows_a_long_max_delay() {
        let mut redial = Redial::new(RedialConfig {
            initial_delay: Duration::from_secs(5),
            max_delay: Duration::from_secs(300),
        });
        assert_eq!(redial.stable_after(), Duration::from_secs(300));
        let t0 = Instant::now();
        let got = waits(&mut redial, t0, &[EndReason::SessionLost; 3]);
        assert_eq!(got, vec![5, 10, 20]);
        let mut random = no_jitter();
        redial.session_up(t0);
        let down = t0 + Duration::from_secs(120);
        assert_eq!(
            redial.ended(down, EndReason::SessionLost, &mut random) - down,
            Duration::from_secs(40)
        );
    }

    #[test]
    fn authentication_failures_back_off_to_max_delay_and_never_reset() {
        let mut redial = Redial::new(RedialConfig {
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
        });
        let got = waits(
            &mut redial,
            Instant::now(),
            &[EndReason::AuthenticationFailed; 7],
        );
        assert_eq!(got, vec![1, 2, 4, 8, 16, 30, 30]);
        // Even after a (somehow) long-lived session, an authentication failure does not start over.
        let mut random = no_jitter();
        let t = Instant::now();
        redial.session_up(t);
        let later = t + Duration::from_secs(3600);
        assert_eq!(
            redial.ended(later, EndReason::AuthenticationFailed, &mut random) - later,
            Duration::from_secs(30)
        );
    }

    #[test]
    fn authentication_failure_after_a_mix_keeps_climbing() {
        let mut redial = Redial::new(RedialConfig::default());
        let got = waits(
            &mut redial,
            Instant::now(),
            &[
                EndReason::DiscoveryFailed,
                EndReason::AuthenticationFailed,
                EndReason::NegotiationFailed,
                EndReason::AuthenticationFailed,
            ],
        );
        assert_eq!(got, vec![1, 2, 4, 8]);
    }

    #[test]
    fn jitter_only_shortens_by_at_most_ten_percent() {
        let mut redial = Redial::new(RedialConfig::default());
        let t0 = Instant::now();
        let mut random = Sequence::new(vec![100]);
        assert_eq!(
            redial.ended(t0, EndReason::DiscoveryFailed, &mut random) - t0,
            Duration::from_millis(900)
        );
        let mut random = Sequence::new(vec![50]);
        assert_eq!(
            redial.ended(t0, EndReason::DiscoveryFailed, &mut random) - t0,
            Duration::from_millis(1900)
        );
        let mut random = routerd_sansio::XorShift::new(7);
        for _ in 0..5 {
            redial.ended(t0, EndReason::DiscoveryFailed, &mut random);
        }
        for _ in 0..50 {
            let wait = redial.ended(t0, EndReason::DiscoveryFailed, &mut random) - t0;
            assert!(wait <= Duration::from_secs(60) && wait >= Duration::from_secs(54));
        }
    }

    /// A silent AC for ten minutes with the default timers and redial: attempts of 5 PADIs (31 s)
    /// separated by 1, 2, 4, … 60 s; 50 PADIs in all, never more than 5 within any 31 s.
    #[test]
    fn silent_ac_gets_attempts_on_the_redial_schedule() {
        use crate::discovery::{Discovery, DiscoveryConfig, Outcome};
        let mut discovery = Discovery::new(DiscoveryConfig::default()).unwrap();
        let mut redial = Redial::new(RedialConfig::default());
        let mut random = no_jitter();
        let t0 = Instant::now();
        let mut starts = Vec::new();
        let mut padi_at = Vec::new();
        let mut next_start = t0;
        while next_start < t0 + Duration::from_secs(600) {
            starts.push((next_start - t0).as_secs());
            let out = discovery.start(next_start, &mut random);
            padi_at.extend(out.frames.iter().map(|_| next_start));
            loop {
                let Some(at) = discovery.deadline() else {
                    panic!("discovery stopped without an outcome");
                };
                let out = discovery.handle_timer(at);
                padi_at.extend(out.frames.iter().map(|_| at));
                if let Some(outcome) = out.outcome {
                    assert!(matches!(outcome, Outcome::DiscoveryFailed(_)));
                    next_start = redial.ended(at, EndReason::DiscoveryFailed, &mut random);
                    break;
                }
            }
        }
        assert_eq!(starts, vec![0, 32, 65, 100, 139, 186, 249, 340, 431, 522]);
        assert_eq!(padi_at.len(), 50);
        assert_eq!(discovery.counters().padi_sent, 50);
        for window in padi_at.windows(6) {
            assert!(window[5] - window[0] > Duration::from_secs(31));
        }
    }

    #[test]
    fn config_validation_and_defensive_construction() {
        assert_eq!(RedialConfig::default().validate(), Ok(()));
        assert_eq!(
            RedialConfig {
                initial_delay: Duration::ZERO,
                max_delay: Duration::from_secs(1)
            }
            .validate(),
            Err(RedialConfigError::ZeroInitialDelay)
        );
        let inverted = RedialConfig {
            initial_delay: Duration::from_secs(10),
            max_delay: Duration::from_secs(5),
        };
        assert!(matches!(
            inverted.validate(),
            Err(RedialConfigError::MaxBelowInitial { .. })
        ));
        let mut redial = Redial::new(RedialConfig {
            initial_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        });
        let t0 = Instant::now();
        assert!(redial.ended(t0, EndReason::DiscoveryFailed, &mut no_jitter()) > t0);
        let absurd = RedialConfig {
            initial_delay: Duration::MAX,
            max_delay: Duration::MAX,
        };
        assert_eq!(
            absurd.validate(),
            Err(RedialConfigError::MaxTooLong(Duration::MAX))
        );
        let mut redial = Redial::new(absurd);
        assert_eq!(
            redial.ended(t0, EndReason::DiscoveryFailed, &mut no_jitter()) - t0,
            MAX_REDIAL_DELAY
        );
    }
}
