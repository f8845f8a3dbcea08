//! The DerivedEvent truth with hysteresis, sans-IO: fed observed truths and the clock, it says when the
//! recorded truth changes. A new truth must hold for `hold` before it is recorded; flipping back before
//! that cancels it. The first observation (nothing recorded yet) is recorded at once and reported as
//! initial, so the caller can emit it or not (`emitInitial`).

use routerd_api::Timestamp;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// First evaluation: nothing was recorded before.
    Initial(bool),
    /// The recorded truth became this.
    Flipped(bool),
}

#[derive(Debug, Clone)]
pub struct Hysteresis {
    hold: Duration,
    recorded: Option<bool>,
    /// A different truth observed since this time, not yet held long enough.
    pending: Option<(bool, Timestamp)>,
}

impl Hysteresis {
    /// `recorded`: the truth recorded before (restored after a restart), if any.
    pub fn new(hold: Duration, recorded: Option<bool>) -> Hysteresis {
        Hysteresis {
            hold,
            recorded,
            pending: None,
        }
    }

    pub fn recorded(&self) -> Option<bool> {
        self.recorded
    }

    /// The truth waiting for its hold time, if any.
    pub fn pending(&self) -> Option<bool> {
        self.pending.map(|(v, _)| v)
    }

    /// The truth evaluated at `now`.
    pub fn observe(&mut self, truth: bool, now: Timestamp) -> Option<Change> {
        let Some(recorded) = self.recorded else {
            self.recorded = Some(truth);
            return Some(Change::Initial(truth));
        };
        if truth == recorded {
            self.pending = None;
            return None;
        }
        if self.pending.map(|(v, _)| v) != Some(truth) {
            self.pending = Some((truth, now));
        }
        self.tick(now)
    }

    /// The clock advanced to `now`.
    pub fn tick(&mut self, now: Timestamp) -> Option<Change> {
        let (value, since) = self.pending?;
        if since.until(now) >= self.hold {
            self.pending = None;
            self.recorded = Some(value);
            return Some(Change::Flipped(value));
        }
        None
    }

    /// When the pending truth will have held long enough.
    pub fn deadline(&self) -> Option<Timestamp> {
        self.pending
            .map(|(_, since)| since.saturating_add(self.hold))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn the_first_observation_is_initial_then_changes_need_the_hold_time() {
        let mut h = Hysteresis::new(Duration::from_secs(10), None);
        assert_eq!(h.observe(false, Timestamp(0)), Some(Change::Initial(false)));
        assert_eq!(h.observe(false, Timestamp(S)), None);
        assert_eq!(h.observe(true, Timestamp(2 * S)), None);
        assert_eq!(h.deadline(), Some(Timestamp(12 * S)));
        assert_eq!(h.observe(true, Timestamp(5 * S)), None, "still holding");
        assert_eq!(h.tick(Timestamp(11 * S)), None);
        assert_eq!(h.tick(Timestamp(12 * S)), Some(Change::Flipped(true)));
        assert_eq!(h.recorded(), Some(true));
        assert_eq!(h.deadline(), None);
    }

    #[test]
    fn a_flip_back_cancels_the_pending_change() {
        let mut h = Hysteresis::new(Duration::from_secs(10), Some(true));
        assert_eq!(h.observe(false, Timestamp(0)), None);
        assert_eq!(h.pending(), Some(false));
        assert_eq!(h.observe(true, Timestamp(9 * S)), None, "flipped back");
        assert_eq!(h.pending(), None);
        assert_eq!(
            h.tick(Timestamp(20 * S)),
            None,
            "nothing happens at the old deadline"
        );
        // A new flip starts its own hold time.
        assert_eq!(h.observe(false, Timestamp(21 * S)), None);
        assert_eq!(h.tick(Timestamp(30 * S)), None);
        assert_eq!(h.tick(Timestamp(31 * S)), Some(Change::Flipped(false)));
    }

    #[test]
    fn without_hysteresis_changes_are_immediate_and_restored_state_is_not_initial() {
        let mut h = Hysteresis::new(Duration::ZERO, Some(false));
        assert_eq!(h.observe(false, Timestamp(0)), None);
        assert_eq!(h.observe(true, Timestamp(1)), Some(Change::Flipped(true)));
        assert_eq!(h.observe(false, Timestamp(2)), Some(Change::Flipped(false)));
    }
}
