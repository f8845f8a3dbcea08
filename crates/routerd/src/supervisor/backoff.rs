//! Restart backoff: 1 s doubling to 60 s, reset after 5 minutes of uptime.

use std::time::Duration;

pub const INITIAL: Duration = Duration::from_secs(1);
pub const MAX: Duration = Duration::from_secs(60);
pub const RESET_AFTER: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: INITIAL }
    }
}

impl Backoff {
    /// Delay before the next restart of a daemon that ran for `uptime`.
    pub fn after_exit(&mut self, uptime: Duration) -> Duration {
        if uptime >= RESET_AFTER {
            self.next = INITIAL;
        }
        let delay = self.next;
        self.next = (self.next * 2).min(MAX);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_a_minute_and_resets_after_five_minutes_up() {
        let mut b = Backoff::default();
        let quick = Duration::from_secs(1);
        let delays: Vec<u64> = (0..8).map(|_| b.after_exit(quick).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(b.after_exit(Duration::from_secs(301)), INITIAL);
        assert_eq!(b.after_exit(quick), Duration::from_secs(2));
    }
}
