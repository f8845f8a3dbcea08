//! The conntrack usage observer: polls the table's size (the ctnetlink statistics, no dump) and emits
//! `routerd.conntrack.usage.high` when it passes 90% of `nf_conntrack_max`. A full table drops new
//! connections silently, so the operator hears about it before that happens.
//!
//! Hysteresis keeps a table hovering at the threshold from flapping: after an alert the alarm re-arms
//! only once usage falls below 80%. `events.md` names no recovery topic, so the fall is logged, not an
//! event.

use crate::events::EventBus;
use routerd_api::event::{topics, NewEvent};
use routerd_api::Severity;
use routerd_host::ConntrackTable;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Usage (percent of `max`) at or above which the alarm fires.
pub const HIGH_PERCENT: u64 = 90;
/// Usage below which a fired alarm re-arms.
pub const REARM_PERCENT: u64 = 80;
/// Default polling interval of the observer (`routerd serve --conntrack-poll-interval`).
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(10);

/// What one observation changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageChange {
    /// Usage reached [`HIGH_PERCENT`] while armed: emit the event.
    High { count: u64, max: u64 },
    /// Usage fell below [`REARM_PERCENT`] after an alert: armed again.
    Rearmed { count: u64, max: u64 },
}

/// The threshold with hysteresis, free of I/O so its transitions are unit-tested.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UsageAlarm {
    fired: bool,
}

impl UsageAlarm {
    /// Takes one reading of the table; `max == 0` (no limit known) never fires.
    pub fn observe(&mut self, count: u64, max: u64) -> Option<UsageChange> {
        if max == 0 {
            return None;
        }
        let percent_times_max = count.saturating_mul(100);
        if !self.fired && percent_times_max >= max.saturating_mul(HIGH_PERCENT) {
            self.fired = true;
            return Some(UsageChange::High { count, max });
        }
        if self.fired && percent_times_max < max.saturating_mul(REARM_PERCENT) {
            self.fired = false;
            return Some(UsageChange::Rearmed { count, max });
        }
        None
    }
}

/// The event of a [`UsageChange::High`].
pub fn usage_high_event(count: u64, max: u64) -> NewEvent {
    let percent = count.saturating_mul(100) / max.max(1);
    let mut event = NewEvent::new(
        topics::CONNTRACK_USAGE_HIGH,
        Severity::Warning,
        format!(
            "the conntrack table holds {count} of {max} entries ({percent}%); new connections are dropped when it is full"
        ),
    );
    event.attributes.insert("count".into(), count.to_string());
    event.attributes.insert("max".into(), max.to_string());
    event
}

/// Polls `table` every `interval` until `stop`, publishing the alarm's events on `bus`. A table that
/// cannot be read is logged once per distinct reason (the API's `/connections` answers 503 with it).
pub async fn run(
    table: Arc<dyn ConntrackTable>,
    bus: EventBus,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut alarm = UsageAlarm::default();
    let mut last_error: Option<String> = None;
    loop {
        let reader = table.clone();
        match tokio::task::spawn_blocking(move || reader.stats()).await {
            Ok(Ok(stats)) => {
                if last_error.take().is_some() {
                    tracing::info!("conntrack statistics readable again");
                }
                match alarm.observe(stats.count, stats.max) {
                    Some(UsageChange::High { count, max }) => {
                        tracing::warn!(count, max, "conntrack table above 90% of its maximum");
                        bus.publish_nowait(usage_high_event(count, max));
                    }
                    Some(UsageChange::Rearmed { count, max }) => {
                        tracing::info!(count, max, "conntrack table back below 80% of its maximum");
                    }
                    None => {}
                }
            }
            Ok(Err(e)) => {
                let text = e.to_string();
                if last_error.as_deref() != Some(text.as_str()) {
                    tracing::warn!(error = %text, "conntrack usage cannot be observed");
                    last_error = Some(text);
                }
            }
            Err(e) => tracing::error!(error = %e, "conntrack usage reader failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = crate::shutdown::stopped(&mut stop) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_once_at_ninety_percent_and_rearms_below_eighty() {
        let mut alarm = UsageAlarm::default();
        assert_eq!(alarm.observe(899, 1000), None);
        assert_eq!(
            alarm.observe(900, 1000),
            Some(UsageChange::High {
                count: 900,
                max: 1000
            })
        );
        // Hovering around the threshold does not flap.
        for count in [950, 890, 910, 850, 800, 999] {
            assert_eq!(alarm.observe(count, 1000), None, "{count}");
        }
        assert_eq!(
            alarm.observe(799, 1000),
            Some(UsageChange::Rearmed {
                count: 799,
                max: 1000
            })
        );
        assert_eq!(alarm.observe(850, 1000), None);
        assert!(matches!(
            alarm.observe(1000, 1000),
            Some(UsageChange::High { .. })
        ));
        assert_eq!(UsageAlarm::default().observe(5, 0), None);
    }

    #[test]
    fn the_event_carries_count_and_max() {
        let e = usage_high_event(236_000, 262_144);
        assert_eq!(e.topic, "routerd.conntrack.usage.high");
        assert_eq!(e.attributes["count"], "236000");
        assert_eq!(e.attributes["max"], "262144");
        assert!(e.message.contains("90%"), "{}", e.message);
    }
}
