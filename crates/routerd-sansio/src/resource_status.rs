//! The bookkeeping behind a daemon's resource status: `since` moves only when the phase changes, and a
//! condition's transition time only when its status does, so both say when a fact became true rather
//! than when it was last looked at. What the phase and conditions are is the daemon's business.

use routerd_api::condition::merge_transition_times;
use routerd_api::daemon::{DaemonResourceStatus, ResourceRef};
use routerd_api::kind::NET_API_VERSION;
use routerd_api::{Condition, Phase, Timestamp};
use serde::Serialize;

/// Phase, `since` and conditions of one resource across updates.
#[derive(Debug, Clone)]
pub struct StatusTracker {
    kind: &'static str,
    name: String,
    phase: Phase,
    since: Timestamp,
    conditions: Vec<Condition>,
}

impl StatusTracker {
    /// A `net.routerd.net` resource of `kind` called `name`, `Pending` since `now`.
    pub fn new(kind: &'static str, name: &str, now: Timestamp) -> StatusTracker {
        StatusTracker {
            kind,
            name: name.to_string(),
            phase: Phase::Pending,
            since: now,
            conditions: Vec::new(),
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The status with `phase`, `conditions` (transition times carried over from the last update where
    /// the status is unchanged) and `observed` (a struct, serialised to a JSON object).
    pub fn update(
        &mut self,
        phase: Phase,
        mut conditions: Vec<Condition>,
        observed: &impl Serialize,
        now: Timestamp,
    ) -> DaemonResourceStatus {
        if phase != self.phase {
            self.phase = phase;
            self.since = now;
        }
        merge_transition_times(&self.conditions, &mut conditions, now);
        self.conditions = conditions.clone();
        let observed = match serde_json::to_value(observed) {
            Ok(serde_json::Value::Object(m)) => m,
            // A struct of strings, numbers and lists always serialises to an object.
            _ => serde_json::Map::new(),
        };
        DaemonResourceStatus {
            resource: ResourceRef {
                api_version: NET_API_VERSION.to_string(),
                kind: self.kind.to_string(),
                name: self.name.clone(),
            },
            phase,
            conditions,
            observed,
            since: Some(self.since),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn since_and_transition_times_move_only_on_change() {
        let t0 = Timestamp::now();
        let t1 = t0.saturating_add(Duration::from_secs(5));
        let t2 = t0.saturating_add(Duration::from_secs(9));
        let mut s = StatusTracker::new("DHCPv4Client", "wan", t0);
        let c = |status| vec![Condition::new("LeaseBound", status, "Bound", "x")];
        let observed = serde_json::json!({"state": "Bound"});
        let a = s.update(Phase::Bound, c(true), &observed, t1);
        assert_eq!(a.since, Some(t1));
        assert_eq!(a.resource.kind, "DHCPv4Client");
        assert_eq!(a.observed.get("state"), Some(&serde_json::json!("Bound")));
        let b = s.update(Phase::Bound, c(true), &observed, t2);
        assert_eq!(b.since, Some(t1), "same phase: since stays");
        assert_eq!(
            b.conditions[0].last_transition_time,
            a.conditions[0].last_transition_time
        );
        assert_eq!(s.phase(), Phase::Bound);
        let e = s.update(Phase::Error, c(false), &"not an object", t2);
        assert_eq!(e.since, Some(t2));
        assert!(e.observed.is_empty());
    }
}
