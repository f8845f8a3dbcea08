//! Retransmission of client messages (RFC 8415 §15), one [`Retransmission`] per message exchange.
//!
//! ```text
//! RT  = IRT + RAND·IRT                       first transmission (RAND > 0 for the first SOLICIT)
//! RT  = 2·RTprev + RAND·RTprev               every later one
//! RT  = MRT + RAND·MRT                       when RT would exceed MRT (MRT 0: no cap)
//! RAND uniform in [-0.1, +0.1]
//! ```
//! The exchange fails after MRC transmissions (when the last RT runs out) or when MRD has elapsed
//! since the first one; the last wait is cut short so that it ends exactly at MRD. RENEW and REBIND get
//! their MRD from the lease (until T2, until the valid lifetime ends), so they are given an explicit
//! give-up instant instead of a duration.
//!
//! RAND is drawn in steps of 0.0001 (one of 2001 values) and applied in nanoseconds, so even the
//! smallest positive draw makes the first SOLICIT's RT strictly greater than IRT.

use routerd_sansio::Random;
use std::time::{Duration, Instant};

/// The §7.6 parameters of one message type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// IRT, the initial retransmission time.
    pub irt: Duration,
    /// MRT, the cap of RT (`None`: no cap).
    pub mrt: Option<Duration>,
    /// MRC, the most transmissions (`None`: unlimited).
    pub mrc: Option<u32>,
    // No MRD: of the messages this client sends only RENEW and REBIND have one, and theirs comes from
    // the lease (`Retransmission::first`'s `until`), not from a constant.
}

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// SOL_TIMEOUT 1 s, SOL_MAX_RT 3600 s.
pub const SOLICIT: Params = Params {
    irt: secs(1),
    mrt: Some(secs(3600)),
    mrc: None,
};
/// REQ_TIMEOUT 1 s, REQ_MAX_RT 30 s, REQ_MAX_RC 10.
pub const REQUEST: Params = Params {
    irt: secs(1),
    mrt: Some(secs(30)),
    mrc: Some(10),
};
/// REN_TIMEOUT 10 s, REN_MAX_RT 600 s; MRD is the time until T2.
pub const RENEW: Params = Params {
    irt: secs(10),
    mrt: Some(secs(600)),
    mrc: None,
};
/// REB_TIMEOUT 10 s, REB_MAX_RT 600 s; MRD is the time until the valid lifetimes end.
pub const REBIND: Params = Params {
    irt: secs(10),
    mrt: Some(secs(600)),
    mrc: None,
};
/// REL_TIMEOUT 1 s, REL_MAX_RC 4.
pub const RELEASE: Params = Params {
    irt: secs(1),
    mrt: None,
    mrc: Some(4),
};
/// INF_TIMEOUT 1 s, INF_MAX_RT 3600 s.
pub const INFORMATION_REQUEST: Params = Params {
    irt: secs(1),
    mrt: Some(secs(3600)),
    mrc: None,
};
/// The range a server's SOL_MAX_RT / INF_MAX_RT option must fall in to be used (RFC 8415 §21.24/25).
pub const MAX_RT_OPTION_MIN: Duration = secs(60);
pub const MAX_RT_OPTION_MAX: Duration = secs(86400);

/// SOL_MAX_DELAY: the first SOLICIT waits a random time up to this (RFC 8415 §18.2.1).
pub const SOL_MAX_DELAY: Duration = secs(1);
/// INF_MAX_DELAY: likewise for the first INFORMATION-REQUEST.
pub const INF_MAX_DELAY: Duration = secs(1);

/// `base + RAND·base`, RAND in `[-0.1, +0.1]`, or in `(0, +0.1]` when `positive`.
pub fn jitter(base: Duration, positive: bool, random: &mut dyn Random) -> Duration {
    let nanos = base.as_nanos();
    // RAND = r / 10000.
    let (r, negative) = if positive {
        (u128::from(random.below(1000)) + 1, false)
    } else {
        let v = i64::from(random.below(2001)) - 1000;
        (u128::from(v.unsigned_abs()), v < 0)
    };
    let delta = nanos * r / 10_000;
    let total = if negative {
        nanos - delta
    } else {
        nanos + delta
    };
    Duration::from_nanos(u64::try_from(total).unwrap_or(u64::MAX))
}

/// A random delay in `[0, max]` (SOL_MAX_DELAY, INF_MAX_DELAY), in milliseconds.
pub fn initial_delay(max: Duration, random: &mut dyn Random) -> Duration {
    let ms = u32::try_from(max.as_millis()).unwrap_or(u32::MAX);
    Duration::from_millis(u64::from(random.below(ms.saturating_add(1))))
}

/// The RT after the first transmission.
pub fn first_rt(p: &Params, positive: bool, random: &mut dyn Random) -> Duration {
    jitter(p.irt, positive, random)
}

/// The RT after a retransmission, from the previous one.
pub fn next_rt(previous: Duration, p: &Params, random: &mut dyn Random) -> Duration {
    let rt = previous.saturating_add(jitter(previous, false, random));
    match p.mrt {
        Some(mrt) if rt > mrt => jitter(mrt, false, random),
        _ => rt,
    }
}

/// The retransmission state of one exchange: how often it was sent, the current RT, and when to give up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retransmission {
    pub params: Params,
    /// When the exchange began (the first transmission), for the Elapsed Time option.
    pub began: Instant,
    /// When the message was last sent.
    pub last_sent: Instant,
    /// Transmissions so far (1 after the first).
    pub sent: u32,
    /// The current RT.
    pub rt: Duration,
    /// MRD as an instant: the lease's T2 (RENEW) or end of valid lifetime (REBIND).
    pub give_up_at: Option<Instant>,
}

impl Retransmission {
    /// The first transmission at `now`. `until` is the MRD as an instant (RENEW: T2, REBIND: the end
    /// of the valid lifetime; `None`: no limit); `positive` asks for RAND > 0 (the first SOLICIT).
    pub fn first(
        params: Params,
        now: Instant,
        until: Option<Instant>,
        positive: bool,
        random: &mut dyn Random,
    ) -> Retransmission {
        Retransmission {
            params,
            began: now,
            last_sent: now,
            sent: 1,
            rt: first_rt(&params, positive, random),
            give_up_at: until,
        }
    }

    /// When the current RT runs out (or MRD ends, whichever comes first).
    pub fn timeout(&self) -> Instant {
        let t = self.last_sent + self.rt;
        match self.give_up_at {
            Some(g) if g < t => g,
            _ => t,
        }
    }

    /// Whether the exchange has failed at `now`: MRC transmissions made and the last RT over, or MRD
    /// over.
    pub fn exhausted(&self, now: Instant) -> bool {
        if self.give_up_at.is_some_and(|g| now >= g) {
            return true;
        }
        self.params
            .mrc
            .is_some_and(|mrc| self.sent >= mrc && now >= self.last_sent + self.rt)
    }

    /// Records a retransmission at `now` with the next RT. Call only when not [`exhausted`].
    ///
    /// [`exhausted`]: Retransmission::exhausted
    pub fn retransmitted(&mut self, now: Instant, random: &mut dyn Random) {
        self.rt = next_rt(self.rt, &self.params, random);
        self.sent = self.sent.saturating_add(1);
        self.last_sent = now;
    }

    /// Elapsed Time (RFC 8415 §21.9): hundredths of a second since the first transmission, capped at
    /// 0xffff.
    pub fn elapsed_centiseconds(&self, now: Instant) -> u16 {
        let cs = now.saturating_duration_since(self.began).as_millis() / 10;
        u16::try_from(cs).unwrap_or(u16::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use routerd_sansio::Sequence;

    /// `below(2001)` of 1000 is RAND 0; 0 is -0.1; 2000 is +0.1.
    fn no_jitter() -> Sequence {
        Sequence::new(vec![1000])
    }

    fn sequence(p: Params, positive: bool, random: &mut dyn Random, n: usize) -> Vec<Duration> {
        let start = Instant::now();
        let mut r = Retransmission::first(p, start, None, positive, random);
        let mut out = vec![r.rt];
        for _ in 1..n {
            let at = r.timeout();
            r.retransmitted(at, random);
            out.push(r.rt);
        }
        out
    }

    #[test]
    fn jitter_is_ten_percent_either_way_and_positive_on_request() {
        let s = Duration::from_secs(10);
        assert_eq!(jitter(s, false, &mut Sequence::new(vec![0])), secs(9));
        assert_eq!(jitter(s, false, &mut Sequence::new(vec![2000])), secs(11));
        assert_eq!(jitter(s, false, &mut no_jitter()), s);
        // below(1000) of 999 is 999, +1 = RAND 0.1; of 1000 is 0, +1 = RAND 0.0001.
        assert_eq!(jitter(s, true, &mut Sequence::new(vec![999])), secs(11));
        let smallest = jitter(secs(1), true, &mut Sequence::new(vec![1000]));
        assert_eq!(smallest, Duration::from_micros(1_000_100));
        assert!(smallest > secs(1));
    }

    #[test]
    fn solicit_doubles_to_the_one_hour_cap() {
        let rts = sequence(SOLICIT, false, &mut no_jitter(), 15);
        let want: Vec<Duration> = [
            1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 3600, 3600, 3600,
        ]
        .into_iter()
        .map(secs)
        .collect();
        assert_eq!(rts, want);
        // With RAND at +0.1 throughout, the cap itself is jittered: MRT + 0.1·MRT.
        let rts = sequence(SOLICIT, false, &mut Sequence::new(vec![2000]), 14);
        assert_eq!(rts[13], secs(3960));
    }

    #[test]
    fn the_first_solicit_rt_is_strictly_greater_than_irt() {
        for v in [0, 1, 999, 1000, 123_456] {
            let rt = sequence(SOLICIT, true, &mut Sequence::new(vec![v]), 1)[0];
            assert!(
                rt > secs(1) && rt <= Duration::from_millis(1100),
                "{v}: {rt:?}"
            );
        }
    }

    #[test]
    fn request_gives_up_after_ten_transmissions() {
        let mut random = no_jitter();
        let start = Instant::now();
        let mut r = Retransmission::first(REQUEST, start, None, false, &mut random);
        let mut rts = vec![r.rt];
        while !r.exhausted(r.timeout()) {
            let at = r.timeout();
            r.retransmitted(at, &mut random);
            rts.push(r.rt);
        }
        assert_eq!(r.sent, 10);
        let want: Vec<Duration> = [1, 2, 4, 8, 16, 30, 30, 30, 30, 30]
            .into_iter()
            .map(secs)
            .collect();
        assert_eq!(rts, want);
        assert_eq!(r.timeout(), start + secs(181));
    }

    #[test]
    fn release_is_sent_four_times() {
        let mut random = no_jitter();
        let start = Instant::now();
        let mut r = Retransmission::first(RELEASE, start, None, false, &mut random);
        let mut sends = vec![start];
        while !r.exhausted(r.timeout()) {
            let at = r.timeout();
            r.retransmitted(at, &mut random);
            sends.push(at);
        }
        let offsets: Vec<u64> = sends.iter().map(|t| (*t - start).as_secs()).collect();
        assert_eq!(offsets, [0, 1, 3, 7]);
        assert_eq!(
            r.timeout(),
            start + secs(15),
            "fails when the 4th RT runs out"
        );
    }

    #[test]
    fn renew_stops_at_its_deadline_and_the_last_wait_is_cut_short() {
        let mut random = no_jitter();
        let start = Instant::now();
        let t2 = start + secs(100);
        let mut r = Retransmission::first(RENEW, start, Some(t2), false, &mut random);
        let mut sends = vec![0];
        while !r.exhausted(r.timeout()) {
            let at = r.timeout();
            r.retransmitted(at, &mut random);
            sends.push((at - start).as_secs());
        }
        // 10, 20, 40 s waits: sent at 0, 10, 30, 70; the next would be at 150, past T2 (100).
        assert_eq!(sends, [0, 10, 30, 70]);
        assert_eq!(r.timeout(), t2);
        assert!(r.exhausted(t2));
        assert!(!r.exhausted(t2 - Duration::from_millis(1)));
    }

    #[test]
    fn renew_and_rebind_cap_at_ten_minutes() {
        let rts = sequence(RENEW, false, &mut no_jitter(), 8);
        let want: Vec<Duration> = [10, 20, 40, 80, 160, 320, 600, 600]
            .into_iter()
            .map(secs)
            .collect();
        assert_eq!(rts, want);
        assert_eq!(sequence(REBIND, false, &mut no_jitter(), 8), want);
    }

    #[test]
    fn elapsed_time_is_in_centiseconds_and_saturates() {
        let mut random = no_jitter();
        let start = Instant::now();
        let r = Retransmission::first(SOLICIT, start, None, false, &mut random);
        assert_eq!(r.elapsed_centiseconds(start), 0);
        assert_eq!(
            r.elapsed_centiseconds(start + Duration::from_millis(1234)),
            123
        );
        assert_eq!(r.elapsed_centiseconds(start + secs(700)), u16::MAX);
    }

    #[test]
    fn initial_delay_is_within_bounds() {
        assert_eq!(
            initial_delay(SOL_MAX_DELAY, &mut Sequence::new(vec![1000])),
            secs(1)
        );
        assert_eq!(
            initial_delay(SOL_MAX_DELAY, &mut Sequence::new(vec![1001])),
            Duration::ZERO
        );
    }
}
