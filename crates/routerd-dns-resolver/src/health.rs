//! Upstream health: which upstream to ask first, and when one that keeps failing is skipped. After
//! [`FAILURES_TO_SKIP`] consecutive failures an upstream is marked failed and skipped for [`SKIP_FOR`];
//! then the next query tries it again (and, failing, skips it again). The first success after being
//! marked failed recovers it. Transitions come back to the caller, which turns them into events. Time is
//! passed in.

use std::time::{Duration, Instant};

/// Consecutive failures that mark an upstream failed.
pub const FAILURES_TO_SKIP: u32 = 2;
/// How long a failed upstream is skipped before it is tried again.
pub const SKIP_FOR: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Default)]
pub struct UpstreamState {
    pub healthy: bool,
    pub consecutive_failures: u32,
    pub failures: u64,
    pub last_error: Option<String>,
    skip_until: Option<Instant>,
}

/// A change worth an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    Failed { upstream: usize, error: String },
    Recovered { upstream: usize },
}

/// The health of every upstream, in config order.
#[derive(Debug, Clone, Default)]
pub struct Health {
    states: Vec<UpstreamState>,
}

impl Health {
    pub fn new(upstreams: usize) -> Health {
        Health {
            states: vec![
                UpstreamState {
                    healthy: true,
                    ..UpstreamState::default()
                };
                upstreams
            ],
        }
    }

    pub fn states(&self) -> &[UpstreamState] {
        &self.states
    }

    /// The order to try upstreams in: those not skipped now in config order, then the skipped ones (a
    /// query still tries them before giving up with SERVFAIL).
    pub fn order(&self, now: Instant) -> Vec<usize> {
        let skipped = |s: &UpstreamState| s.skip_until.is_some_and(|t| t > now);
        let mut order: Vec<usize> = (0..self.states.len())
            .filter(|&i| !skipped(&self.states[i]))
            .collect();
        order.extend((0..self.states.len()).filter(|&i| skipped(&self.states[i])));
        order
    }

    pub fn failure(&mut self, upstream: usize, error: String, now: Instant) -> Option<Transition> {
        let s = self.states.get_mut(upstream)?;
        s.consecutive_failures += 1;
        s.failures += 1;
        s.last_error = Some(error.clone());
        if s.consecutive_failures >= FAILURES_TO_SKIP {
            s.skip_until = Some(now + SKIP_FOR);
            if s.healthy {
                s.healthy = false;
                return Some(Transition::Failed { upstream, error });
            }
        }
        None
    }

    /// Ends every skip period now (the `renew` command): the next query tries every upstream again.
    pub fn retry_now(&mut self) {
        for s in &mut self.states {
            s.skip_until = None;
        }
    }

    pub fn success(&mut self, upstream: usize) -> Option<Transition> {
        let s = self.states.get_mut(upstream)?;
        s.consecutive_failures = 0;
        s.skip_until = None;
        if !s.healthy {
            s.healthy = true;
            return Some(Transition::Recovered { upstream });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_upstream_is_skipped_then_retried_and_recovers() {
        let t0 = Instant::now();
        let mut h = Health::new(2);
        assert_eq!(h.order(t0), vec![0, 1]);
        assert_eq!(h.failure(0, "timeout".into(), t0), None);
        assert_eq!(h.order(t0), vec![0, 1]);
        assert_eq!(
            h.failure(0, "timeout".into(), t0),
            Some(Transition::Failed {
                upstream: 0,
                error: "timeout".into()
            })
        );
        assert_eq!(h.order(t0), vec![1, 0]);
        assert_eq!(h.order(t0 + SKIP_FOR), vec![0, 1]);
        // Tried again and failing: skipped again, no second event.
        assert_eq!(h.failure(0, "timeout".into(), t0 + SKIP_FOR), None);
        assert_eq!(h.order(t0 + SKIP_FOR), vec![1, 0]);
        assert_eq!(h.success(0), Some(Transition::Recovered { upstream: 0 }));
        assert_eq!(h.order(t0 + SKIP_FOR), vec![0, 1]);
        assert_eq!(h.states()[0].failures, 3);
        assert_eq!(h.states()[0].last_error.as_deref(), Some("timeout"));
    }
}
