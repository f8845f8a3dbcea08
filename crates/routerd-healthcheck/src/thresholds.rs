//! The threshold state machine of a `HealthCheck`, without I/O: probe outcomes and the time in, phase,
//! status, conditions and events out. The daemon owns the clock and the sockets; this owns the decision.
//!
//! # Phases (`resources.md`, `protocols.md` "Health probes")
//!
//! - `Pending` until a threshold is met for the first time.
//! - `Healthy` once `healthyThreshold` consecutive probes passed.
//! - `Unhealthy` once `unhealthyThreshold` consecutive probes failed or timed out.
//! - `Error` ("cannot probe: bad target, no permission") once `unhealthyThreshold` consecutive attempts
//!   could not even be sent ([`ProbeOutcome::CannotProbe`]: the socket could not be bound as asked, the
//!   kernel refused it, the target name did not resolve, the probe settings are unusable).
//! - Otherwise the phase stays what it was: one probe never flips it (no flapping).
//!
//! Why `Error` needs a streak rather than a single attempt: a source interface that is briefly missing
//! (a PPP link re-dialling) or a resolver hiccup is as transient as a lost echo reply, and the same
//! threshold keeps the phase as steady as it is for path failures. An attempt that cannot probe is also
//! a failure (it adds to `consecutiveFailed`), so a mixed streak of path failures and unprobeable attempts
//! makes the check `Unhealthy`, never `Healthy`; only a streak made of nothing but unprobeable attempts
//! means `Error`. A probe that is sent again ends the unprobeable streak, so `Error` turns into `Unhealthy`
//! at once when the probe is sent and still fails (the failure streak already met the threshold).

use crate::config::{protocol_name, DEFAULT_HEALTHY_THRESHOLD, DEFAULT_UNHEALTHY_THRESHOLD};
use crate::events::{self, attr};
use crate::outcome::{FailureKind, ProbeOutcome, ProbeResult};
use routerd_api::condition::merge_transition_times;
use routerd_api::daemon::{DaemonResourceStatus, ResourceRef};
use routerd_api::event::{NewEvent, Severity};
use routerd_api::kind::NET_API_VERSION;
use routerd_api::spec::HealthCheckSpec;
use routerd_api::status::{HealthCheckStatus, ProbeRecord};
use routerd_api::{Condition, ConditionStatus, Phase, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Number of probes kept in `status.history`.
pub const HISTORY_LEN: usize = 20;

/// Condition type: is the target healthy by the thresholds?
pub const CONDITION_HEALTHY: &str = "Healthy";
/// Condition type: can the daemon send probes at all?
pub const CONDITION_PROBING: &str = "Probing";

/// `healthyThreshold` and `unhealthyThreshold` with their defaults applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub healthy: u32,
    pub unhealthy: u32,
}

impl Thresholds {
    /// Defaults 2 and 3; a 0 (which validation rejects) counts as 1, so a threshold is always reachable.
    pub fn from_spec(spec: &HealthCheckSpec) -> Thresholds {
        Thresholds {
            healthy: spec
                .healthy_threshold
                .unwrap_or(DEFAULT_HEALTHY_THRESHOLD)
                .max(1),
            unhealthy: spec
                .unhealthy_threshold
                .unwrap_or(DEFAULT_UNHEALTHY_THRESHOLD)
                .max(1),
        }
    }
}

/// Everything the daemon persists in `state.json` for one check, so counters, phase, history and
/// condition transition times survive a restart (a restart must not re-announce a known state, nor
/// forget two of the three failures it had seen).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthState {
    name: String,
    phase: Phase,
    /// When the phase last changed.
    #[serde(default)]
    since: Option<Timestamp>,
    #[serde(default)]
    consecutive_passed: u32,
    /// Failures, timeouts and unprobeable attempts in a row.
    #[serde(default)]
    consecutive_failed: u32,
    /// Attempts in a row that could not be sent (the `Error` streak).
    #[serde(default)]
    consecutive_unprobeable: u32,
    #[serde(default)]
    last_result: Option<ProbeResult>,
    /// The last probe's error and kind; cleared by a pass (history keeps earlier ones).
    #[serde(default)]
    last_error: Option<String>,
    #[serde(default)]
    failure_kind: Option<FailureKind>,
    /// Whether the last attempt was sent: drives the `Probing` condition.
    #[serde(default)]
    last_sent: Option<bool>,
    /// The last probe's latency; absent when it got no answer.
    #[serde(default)]
    last_latency_millis: Option<f64>,
    #[serde(default)]
    last_checked_at: Option<Timestamp>,
    #[serde(default)]
    last_success_at: Option<Timestamp>,
    #[serde(default)]
    last_failure_at: Option<Timestamp>,
    /// Oldest first, at most [`HISTORY_LEN`].
    #[serde(default)]
    history: VecDeque<ProbeRecord>,
    #[serde(default)]
    conditions: Vec<Condition>,
}

impl HealthState {
    /// A check that has not probed yet: `Pending` since `now`.
    pub fn new(name: &str, now: Timestamp) -> HealthState {
        let mut s = HealthState {
            name: name.to_string(),
            phase: Phase::Pending,
            since: Some(now),
            consecutive_passed: 0,
            consecutive_failed: 0,
            consecutive_unprobeable: 0,
            last_result: None,
            last_error: None,
            failure_kind: None,
            last_sent: None,
            last_latency_millis: None,
            last_checked_at: None,
            last_success_at: None,
            last_failure_at: None,
            history: VecDeque::new(),
            conditions: Vec::new(),
        };
        s.conditions = s.compute_conditions(Thresholds {
            healthy: DEFAULT_HEALTHY_THRESHOLD,
            unhealthy: DEFAULT_UNHEALTHY_THRESHOLD,
        });
        merge_transition_times(&[], &mut s.conditions, now);
        s
    }

    /// The resource name events and status refer to.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// When the phase last changed.
    pub fn since(&self) -> Option<Timestamp> {
        self.since
    }

    /// `Healthy` and `Probing`, with transition times.
    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }

    pub fn consecutive_passed(&self) -> u32 {
        self.consecutive_passed
    }

    pub fn consecutive_failed(&self) -> u32 {
        self.consecutive_failed
    }

    pub fn last_result(&self) -> Option<ProbeResult> {
        self.last_result
    }

    /// Feeds one probe outcome observed at `now`; returns the events to emit, in order (the probe event
    /// first, then the state event). `spec` supplies the thresholds (re-read on every step, so a reload
    /// applies at the next probe) and the `target`/`protocol` attributes.
    pub fn observe(
        &mut self,
        spec: &HealthCheckSpec,
        outcome: &ProbeOutcome,
        now: Timestamp,
    ) -> Vec<NewEvent> {
        let thresholds = Thresholds::from_spec(spec);
        let result = outcome.result();
        let previous_result = self.last_result;
        let previous_phase = self.phase;

        match outcome {
            ProbeOutcome::Passed { .. } => {
                self.consecutive_passed = self.consecutive_passed.saturating_add(1);
                self.consecutive_failed = 0;
                self.consecutive_unprobeable = 0;
                self.last_success_at = Some(now);
            }
            ProbeOutcome::Failed { .. } | ProbeOutcome::Timeout { .. } => {
                self.consecutive_passed = 0;
                self.consecutive_failed = self.consecutive_failed.saturating_add(1);
                self.consecutive_unprobeable = 0;
                self.last_failure_at = Some(now);
            }
            ProbeOutcome::CannotProbe { .. } => {
                self.consecutive_passed = 0;
                self.consecutive_failed = self.consecutive_failed.saturating_add(1);
                self.consecutive_unprobeable = self.consecutive_unprobeable.saturating_add(1);
                self.last_failure_at = Some(now);
            }
        }
        self.last_result = Some(result);
        self.last_error = outcome.error().map(str::to_string);
        self.failure_kind = outcome.failure_kind();
        self.last_sent = Some(outcome.was_sent());
        self.last_latency_millis = outcome.latency_millis();
        self.last_checked_at = Some(now);
        self.push_history(ProbeRecord {
            time: now,
            result: result.as_str().to_string(),
            latency_millis: outcome.latency_millis(),
            error: outcome.error().map(|e| match outcome.failure_kind() {
                Some(k) => format!("{k}: {e}"),
                None => e.to_string(),
            }),
        });

        self.phase = self.next_phase(thresholds);
        if self.phase != previous_phase {
            self.since = Some(now);
        }
        let mut conditions = self.compute_conditions(thresholds);
        merge_transition_times(&self.conditions, &mut conditions, now);
        self.conditions = conditions;

        let mut out = Vec::new();
        if previous_result != Some(result) {
            out.push(self.probe_event(spec, outcome, now));
        }
        if let Some(e) = self.state_event(spec, previous_phase, now) {
            out.push(e);
        }
        out
    }

    fn next_phase(&self, t: Thresholds) -> Phase {
        if self.consecutive_passed >= t.healthy {
            Phase::Healthy
        } else if self.consecutive_unprobeable >= t.unhealthy {
            Phase::Error
        } else if self.consecutive_failed >= t.unhealthy {
            Phase::Unhealthy
        } else {
            self.phase
        }
    }

    fn push_history(&mut self, record: ProbeRecord) {
        while self.history.len() >= HISTORY_LEN {
            self.history.pop_front();
        }
        self.history.push_back(record);
    }

    /// Base event: topic, severity, source, resource and the attributes every health event carries.
    fn event(
        &self,
        spec: &HealthCheckSpec,
        topic: &str,
        severity: Severity,
        message: String,
        now: Timestamp,
    ) -> NewEvent {
        let mut e = NewEvent::new(topic, severity, message)
            .source(events::SOURCE_KIND, &self.name)
            .resource(events::RESOURCE_KIND, &self.name)
            .attr(attr::TARGET, spec.target.as_str())
            .attr(attr::PROTOCOL, protocol_name(spec.protocol));
        e.time = now;
        e
    }

    fn probe_event(
        &self,
        spec: &HealthCheckSpec,
        outcome: &ProbeOutcome,
        now: Timestamp,
    ) -> NewEvent {
        let what = format!("{} probe to {}", protocol_name(spec.protocol), spec.target);
        let (topic, severity, message) = match outcome {
            ProbeOutcome::Passed { .. } => (
                events::PROBE_PASSED,
                Severity::Info,
                format!("{what} passed"),
            ),
            ProbeOutcome::Timeout { error } => (
                events::PROBE_TIMEOUT,
                Severity::Warning,
                format!("{what} timed out: {error}"),
            ),
            ProbeOutcome::Failed { kind, error, .. } => (
                events::PROBE_FAILED,
                Severity::Warning,
                format!("{what} failed ({kind}): {error}"),
            ),
            ProbeOutcome::CannotProbe { kind, error } => (
                events::PROBE_FAILED,
                Severity::Warning,
                format!("{what} could not be sent ({kind}): {error}"),
            ),
        };
        let mut e = self.event(spec, topic, severity, message, now);
        if let Some(ms) = outcome.latency_millis() {
            e = e.attr(attr::LATENCY_MILLIS, ms.to_string());
        }
        if let Some(k) = outcome.failure_kind() {
            e = e.attr(attr::FAILURE_KIND, k.as_str());
        }
        if let Some(err) = outcome.error() {
            e = e.attr(attr::ERROR, err);
        }
        e
    }

    /// `state.healthy` when the phase became `Healthy`; `state.unhealthy` when it became `Unhealthy` or
    /// `Error` from a phase that was neither. A change between `Unhealthy` and `Error` is not a health
    /// transition (the target was not usable before and is not now); routerd's own
    /// `routerd.resource.phase.changed` reports it.
    fn state_event(
        &self,
        spec: &HealthCheckSpec,
        previous: Phase,
        now: Timestamp,
    ) -> Option<NewEvent> {
        let bad = |p: Phase| matches!(p, Phase::Unhealthy | Phase::Error);
        let (topic, severity, message) =
            if self.phase == Phase::Healthy && previous != Phase::Healthy {
                (
                    events::STATE_HEALTHY,
                    Severity::Info,
                    format!(
                        "HealthCheck {} is healthy: {} consecutive probes passed",
                        self.name, self.consecutive_passed
                    ),
                )
            } else if bad(self.phase) && !bad(previous) {
                let why = if self.phase == Phase::Error {
                    format!(
                        "cannot probe: {} consecutive attempts could not be sent",
                        self.consecutive_unprobeable
                    )
                } else {
                    format!("{} consecutive probes failed", self.consecutive_failed)
                };
                (
                    events::STATE_UNHEALTHY,
                    if self.phase == Phase::Error {
                        Severity::Error
                    } else {
                        Severity::Warning
                    },
                    format!("HealthCheck {} is {}: {why}", self.name, self.phase),
                )
            } else {
                return None;
            };
        let mut e = self
            .event(spec, topic, severity, message, now)
            .attr(attr::PHASE, self.phase.as_str())
            .attr(attr::PREVIOUS_PHASE, previous.as_str())
            .attr(
                attr::CONSECUTIVE_PASSED,
                self.consecutive_passed.to_string(),
            )
            .attr(
                attr::CONSECUTIVE_FAILED,
                self.consecutive_failed.to_string(),
            );
        if let Some(ms) = self.last_latency_millis {
            e = e.attr(attr::LATENCY_MILLIS, ms.to_string());
        }
        if let Some(k) = self.failure_kind {
            e = e.attr(attr::FAILURE_KIND, k.as_str());
        }
        if let Some(err) = &self.last_error {
            e = e.attr(attr::ERROR, err.as_str());
        }
        Some(e)
    }

    fn last_failure_text(&self) -> String {
        match (self.failure_kind, &self.last_error) {
            (Some(k), Some(e)) => format!("; last: {k}: {e}"),
            _ => String::new(),
        }
    }

    /// The conditions for the current counters and phase, without transition times.
    fn compute_conditions(&self, t: Thresholds) -> Vec<Condition> {
        let healthy = match self.phase {
            Phase::Healthy => Condition::new(
                CONDITION_HEALTHY,
                true,
                "ThresholdMet",
                format!(
                    "{} consecutive probes passed (healthyThreshold {})",
                    self.consecutive_passed, t.healthy
                ),
            ),
            Phase::Unhealthy => Condition::new(
                CONDITION_HEALTHY,
                false,
                "FailureThresholdMet",
                format!(
                    "{} consecutive probes failed (unhealthyThreshold {}){}",
                    self.consecutive_failed,
                    t.unhealthy,
                    self.last_failure_text()
                ),
            ),
            Phase::Error => Condition::new(
                CONDITION_HEALTHY,
                false,
                "CannotProbe",
                format!(
                    "{} consecutive attempts could not be sent (unhealthyThreshold {}){}",
                    self.consecutive_unprobeable,
                    t.unhealthy,
                    self.last_failure_text()
                ),
            ),
            _ => {
                let message = if self.last_result.is_none() {
                    "no probe yet".to_string()
                } else if self.consecutive_passed > 0 {
                    format!(
                        "{} of {} consecutive passes needed",
                        self.consecutive_passed, t.healthy
                    )
                } else {
                    format!(
                        "{} of {} consecutive failures needed{}",
                        self.consecutive_failed,
                        t.unhealthy,
                        self.last_failure_text()
                    )
                };
                Condition {
                    status: ConditionStatus::Unknown,
                    ..Condition::new(CONDITION_HEALTHY, false, "AwaitingProbes", message)
                }
            }
        };
        let probing = match self.last_sent {
            None => Condition {
                status: ConditionStatus::Unknown,
                ..Condition::new(
                    CONDITION_PROBING,
                    false,
                    "NotStarted",
                    "no probe attempted yet",
                )
            },
            Some(true) => Condition::new(
                CONDITION_PROBING,
                true,
                "ProbeSent",
                match self.last_result {
                    Some(r) => format!("last probe {r}"),
                    None => String::new(),
                },
            ),
            Some(false) => {
                let reason = match self.failure_kind {
                    Some(FailureKind::Binding) => "BindingFailed",
                    Some(FailureKind::Permission) => "PermissionDenied",
                    Some(FailureKind::Dns) => "TargetUnresolvable",
                    _ => "InvalidProbe",
                };
                Condition::new(
                    CONDITION_PROBING,
                    false,
                    reason,
                    self.last_error.clone().unwrap_or_default(),
                )
            }
        };
        vec![healthy, probing]
    }

    /// The kind-specific status fields of `HealthCheck` (`resources.md`).
    pub fn to_status(&self) -> HealthCheckStatus {
        HealthCheckStatus {
            last_result: self.last_result.map(|r| r.as_str().to_string()),
            last_error: self.last_error.clone(),
            failure_kind: self.failure_kind.map(|k| k.as_str().to_string()),
            last_latency_millis: self.last_latency_millis,
            consecutive_passed: Some(self.consecutive_passed),
            consecutive_failed: Some(self.consecutive_failed),
            last_checked_at: self.last_checked_at,
            last_success_at: self.last_success_at,
            last_failure_at: self.last_failure_at,
            history: self.history.iter().cloned().collect(),
        }
    }

    /// The check as the daemon's `/v1/status` reports it: phase, conditions, `since`, and the status
    /// fields as `observed`.
    pub fn to_daemon_status(&self) -> DaemonResourceStatus {
        let observed = match serde_json::to_value(self.to_status()) {
            Ok(serde_json::Value::Object(m)) => m,
            // A struct of strings, numbers and lists always serialises to an object.
            _ => serde_json::Map::new(),
        };
        DaemonResourceStatus {
            resource: ResourceRef {
                api_version: NET_API_VERSION.to_string(),
                kind: events::RESOURCE_KIND.to_string(),
                name: self.name.clone(),
            },
            phase: self.phase,
            conditions: self.conditions.clone(),
            observed,
            since: self.since,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use routerd_api::spec::ProbeProtocol;
    use std::time::Duration;

    /// A virtual clock: every probe happens one interval after the previous one.
    struct Clock(Timestamp);

    impl Clock {
        fn new() -> Clock {
            Clock(Timestamp(1_795_459_200_000_000_000))
        }
        fn tick(&mut self) -> Timestamp {
            self.0 = self.0.saturating_add(Duration::from_secs(10));
            self.0
        }
    }

    fn spec(healthy: Option<u32>, unhealthy: Option<u32>) -> HealthCheckSpec {
        HealthCheckSpec {
            target: "192.0.2.1".into(),
            protocol: ProbeProtocol::Tcp,
            port: Some(443),
            interval: None,
            timeout: None,
            healthy_threshold: healthy,
            unhealthy_threshold: unhealthy,
            source_interface: None,
            source_address: None,
            fwmark: None,
            http: None,
            dns: None,
        }
    }

    fn pass() -> ProbeOutcome {
        ProbeOutcome::Passed {
            latency: Duration::from_micros(1250),
        }
    }
    fn fail() -> ProbeOutcome {
        ProbeOutcome::failed(FailureKind::Refused, "connection refused")
    }
    fn timeout() -> ProbeOutcome {
        ProbeOutcome::Timeout {
            error: "no answer within 2s".into(),
        }
    }
    fn unbindable() -> ProbeOutcome {
        ProbeOutcome::cannot_probe(FailureKind::Binding, "SO_BINDTODEVICE wan0: No such device")
    }

    fn topics(events: &[NewEvent]) -> Vec<&str> {
        events.iter().map(|e| e.topic.as_str()).collect()
    }

    /// Feeds outcomes in order; returns the phase after each and every event emitted.
    fn run(
        s: &mut HealthState,
        spec: &HealthCheckSpec,
        clock: &mut Clock,
        outcomes: &[ProbeOutcome],
    ) -> (Vec<Phase>, Vec<NewEvent>) {
        let mut phases = Vec::new();
        let mut all = Vec::new();
        for o in outcomes {
            all.extend(s.observe(spec, o, clock.tick()));
            phases.push(s.phase());
        }
        (phases, all)
    }

    #[test]
    fn starts_pending_with_unknown_conditions() {
        let clock = Clock::new();
        let s = HealthState::new("internet", clock.0);
        assert_eq!(s.phase(), Phase::Pending);
        assert_eq!(s.since(), Some(clock.0));
        let c = s.conditions();
        assert_eq!(c[0].type_, "Healthy");
        assert_eq!(c[0].status, ConditionStatus::Unknown);
        assert_eq!(c[0].reason, "AwaitingProbes");
        assert_eq!(c[1].type_, "Probing");
        assert_eq!(c[1].status, ConditionStatus::Unknown);
        assert_eq!(c[1].last_transition_time, Some(clock.0));
        let st = s.to_status();
        assert_eq!(st.last_result, None);
        assert_eq!(st.consecutive_passed, Some(0));
        assert!(st.history.is_empty());
    }

    #[test]
    fn pending_to_healthy_after_healthy_threshold_passes() {
        let mut clock = Clock::new();
        let spec = spec(None, None);
        let mut s = HealthState::new("internet", clock.0);
        let t1 = clock.tick();
        let e1 = s.observe(&spec, &pass(), t1);
        assert_eq!(
            s.phase(),
            Phase::Pending,
            "one pass is not enough (default 2)"
        );
        assert_eq!(
            topics(&e1),
            [events::PROBE_PASSED],
            "first probe is a change"
        );
        assert_eq!(
            s.conditions()[0].message,
            "1 of 2 consecutive passes needed"
        );
        let t2 = clock.tick();
        let e2 = s.observe(&spec, &pass(), t2);
        assert_eq!(s.phase(), Phase::Healthy);
        assert_eq!(s.since(), Some(t2));
        assert_eq!(
            topics(&e2),
            [events::STATE_HEALTHY],
            "same result: no probe event"
        );
        let e = &e2[0];
        assert_eq!(e.time, t2);
        assert_eq!(e.severity, Severity::Info);
        assert_eq!(e.attributes["consecutivePassed"], "2");
        assert_eq!(e.attributes["consecutiveFailed"], "0");
        assert_eq!(e.attributes["phase"], "Healthy");
        assert_eq!(e.attributes["previousPhase"], "Pending");
        let c = &s.conditions()[0];
        assert_eq!(
            (c.status, c.reason.as_str()),
            (ConditionStatus::True, "ThresholdMet")
        );
        assert_eq!(c.last_transition_time, Some(t2));
        // More passes: nothing to say, and the condition keeps its transition time.
        let e3 = s.observe(&spec, &pass(), clock.tick());
        assert!(e3.is_empty());
        assert_eq!(s.conditions()[0].last_transition_time, Some(t2));
        assert_eq!(s.since(), Some(t2));
    }

    #[test]
    fn healthy_to_unhealthy_after_unhealthy_threshold_failures_and_timeouts() {
        let mut clock = Clock::new();
        let spec = spec(None, None);
        let mut s = HealthState::new("internet", clock.0);
        run(&mut s, &spec, &mut clock, &[pass(), pass()]);
        assert_eq!(s.phase(), Phase::Healthy);
        let (phases, evs) = run(&mut s, &spec, &mut clock, &[fail(), timeout(), timeout()]);
        assert_eq!(phases, [Phase::Healthy, Phase::Healthy, Phase::Unhealthy]);
        assert_eq!(
            topics(&evs),
            [
                events::PROBE_FAILED,
                events::PROBE_TIMEOUT,
                events::STATE_UNHEALTHY
            ]
        );
        let unhealthy = &evs[2];
        assert_eq!(unhealthy.severity, Severity::Warning);
        assert_eq!(unhealthy.attributes["consecutiveFailed"], "3");
        assert_eq!(unhealthy.attributes["consecutivePassed"], "0");
        assert_eq!(unhealthy.attributes["failureKind"], "timeout");
        assert_eq!(unhealthy.attributes["phase"], "Unhealthy");
        let c = &s.conditions()[0];
        assert_eq!(
            (c.status, c.reason.as_str()),
            (ConditionStatus::False, "FailureThresholdMet")
        );
        assert!(
            c.message.contains("3 consecutive probes failed"),
            "{}",
            c.message
        );
        // And back: two passes.
        let (phases, evs) = run(&mut s, &spec, &mut clock, &[pass(), pass()]);
        assert_eq!(phases, [Phase::Unhealthy, Phase::Healthy]);
        assert_eq!(topics(&evs), [events::PROBE_PASSED, events::STATE_HEALTHY]);
    }

    #[test]
    fn thresholds_of_one_decide_on_every_probe() {
        let mut clock = Clock::new();
        let spec = spec(Some(1), Some(1));
        let mut s = HealthState::new("t1", clock.0);
        let (phases, evs) = run(
            &mut s,
            &spec,
            &mut clock,
            &[pass(), fail(), pass(), timeout()],
        );
        assert_eq!(
            phases,
            [
                Phase::Healthy,
                Phase::Unhealthy,
                Phase::Healthy,
                Phase::Unhealthy
            ]
        );
        assert_eq!(
            topics(&evs),
            [
                events::PROBE_PASSED,
                events::STATE_HEALTHY,
                events::PROBE_FAILED,
                events::STATE_UNHEALTHY,
                events::PROBE_PASSED,
                events::STATE_HEALTHY,
                events::PROBE_TIMEOUT,
                events::STATE_UNHEALTHY,
            ]
        );
    }

    #[test]
    fn larger_thresholds_need_the_whole_streak() {
        let mut clock = Clock::new();
        let spec = spec(Some(4), Some(5));
        let mut s = HealthState::new("t", clock.0);
        let (phases, _) = run(&mut s, &spec, &mut clock, &[pass(), pass(), pass(), pass()]);
        assert_eq!(
            phases,
            [
                Phase::Pending,
                Phase::Pending,
                Phase::Pending,
                Phase::Healthy
            ]
        );
        let (phases, _) = run(&mut s, &spec, &mut clock, &vec![fail(); 5]);
        assert_eq!(
            phases,
            [
                Phase::Healthy,
                Phase::Healthy,
                Phase::Healthy,
                Phase::Healthy,
                Phase::Unhealthy
            ]
        );
        // A pass in the middle of a failure streak restarts the count.
        let mut s = HealthState::new("t", clock.0);
        let (phases, _) = run(
            &mut s,
            &spec,
            &mut clock,
            &[
                fail(),
                fail(),
                fail(),
                fail(),
                pass(),
                fail(),
                fail(),
                fail(),
                fail(),
            ],
        );
        assert!(phases.iter().all(|p| *p == Phase::Pending), "{phases:?}");
    }

    #[test]
    fn alternating_results_never_flap() {
        let spec = spec(None, None);
        for start in [None, Some(Phase::Healthy), Some(Phase::Unhealthy)] {
            let mut clock = Clock::new();
            let mut s = HealthState::new("alt", clock.0);
            match start {
                Some(Phase::Healthy) => {
                    run(&mut s, &spec, &mut clock, &[pass(), pass()]);
                }
                Some(_) => {
                    run(&mut s, &spec, &mut clock, &[fail(), fail(), fail()]);
                }
                None => {}
            }
            let before = s.phase();
            let since = s.since();
            let seq: Vec<ProbeOutcome> = (0..30)
                .map(|i| if i % 2 == 0 { pass() } else { fail() })
                .collect();
            let (phases, evs) = run(&mut s, &spec, &mut clock, &seq);
            assert!(phases.iter().all(|p| *p == before), "{start:?}: {phases:?}");
            assert_eq!(s.since(), since);
            // Every probe differs from the previous one: one probe event each, no state events.
            assert!(evs.iter().all(|e| e.topic.contains(".probe.")), "{start:?}");
            assert!(evs.len() >= 29, "{}", evs.len());
        }
    }

    #[test]
    fn probe_events_only_on_change_of_result() {
        let mut clock = Clock::new();
        let spec = spec(Some(100), Some(100));
        let mut s = HealthState::new("c", clock.0);
        let seq = [
            pass(),
            pass(),
            fail(),
            ProbeOutcome::failed(FailureKind::Unreachable, "no route"),
            timeout(),
            timeout(),
            unbindable(),
            fail(),
            pass(),
        ];
        let (_, evs) = run(&mut s, &spec, &mut clock, &seq);
        assert_eq!(
            topics(&evs),
            [
                events::PROBE_PASSED,
                events::PROBE_FAILED,
                events::PROBE_TIMEOUT,
                events::PROBE_FAILED,
                events::PROBE_PASSED,
            ]
        );
    }

    #[test]
    fn every_event_names_the_resource_target_and_protocol() {
        let mut clock = Clock::new();
        let spec = spec(Some(1), Some(1));
        let mut s = HealthState::new("internet", clock.0);
        let (_, evs) = run(
            &mut s,
            &spec,
            &mut clock,
            &[pass(), fail(), timeout(), unbindable()],
        );
        assert!(!evs.is_empty());
        for e in &evs {
            assert_eq!(e.resource_kind(), Some("HealthCheck"));
            assert_eq!(e.resource_name(), Some("internet"));
            assert_eq!(e.attributes["target"], "192.0.2.1");
            assert_eq!(e.attributes["protocol"], "tcp");
            assert_eq!(e.source.kind, "routerd-healthcheck");
            assert_eq!(e.source.instance, "internet");
        }
        let passed = &evs[0];
        assert_eq!(passed.topic, events::PROBE_PASSED);
        assert_eq!(passed.attributes["latencyMillis"], "1.25");
        assert!(!passed.attributes.contains_key("failureKind"));
        assert!(!passed.attributes.contains_key("error"));
        let failed = evs
            .iter()
            .find(|e| e.topic == events::PROBE_FAILED)
            .unwrap();
        assert_eq!(failed.attributes["failureKind"], "refused");
        assert_eq!(failed.attributes["error"], "connection refused");
        assert!(!failed.attributes.contains_key("latencyMillis"));
        let t = evs
            .iter()
            .find(|e| e.topic == events::PROBE_TIMEOUT)
            .unwrap();
        assert_eq!(t.attributes["failureKind"], "timeout");
    }

    #[test]
    fn unprobeable_streak_means_error_and_sending_again_ends_it() {
        let mut clock = Clock::new();
        let spec = spec(None, None);
        let mut s = HealthState::new("e", clock.0);
        run(&mut s, &spec, &mut clock, &[pass(), pass()]);
        let (phases, evs) = run(
            &mut s,
            &spec,
            &mut clock,
            &[unbindable(), unbindable(), unbindable()],
        );
        assert_eq!(phases, [Phase::Healthy, Phase::Healthy, Phase::Error]);
        assert_eq!(
            topics(&evs),
            [events::PROBE_FAILED, events::STATE_UNHEALTHY]
        );
        assert_eq!(evs[1].attributes["phase"], "Error");
        assert_eq!(evs[1].attributes["failureKind"], "binding");
        assert_eq!(evs[1].severity, Severity::Error);
        let c = s.conditions();
        assert_eq!(
            (c[0].status, c[0].reason.as_str()),
            (ConditionStatus::False, "CannotProbe")
        );
        assert_eq!(
            (c[1].status, c[1].reason.as_str()),
            (ConditionStatus::False, "BindingFailed")
        );
        let st = s.to_status();
        assert_eq!(st.failure_kind.as_deref(), Some("binding"));
        assert_eq!(st.consecutive_failed, Some(3));

        // The probe is sent again and fails: Unhealthy at once, no second unhealthy event.
        let (phases, evs) = run(&mut s, &spec, &mut clock, &[timeout()]);
        assert_eq!(phases, [Phase::Unhealthy]);
        assert_eq!(topics(&evs), [events::PROBE_TIMEOUT]);
        assert_eq!(s.conditions()[1].reason, "ProbeSent");
        assert_eq!(s.conditions()[1].status, ConditionStatus::True);

        // Unprobeable again from Unhealthy: Error after a new streak of three, still no event.
        let (phases, evs) = run(
            &mut s,
            &spec,
            &mut clock,
            &[unbindable(), unbindable(), unbindable()],
        );
        assert_eq!(phases, [Phase::Unhealthy, Phase::Unhealthy, Phase::Error]);
        assert_eq!(topics(&evs), [events::PROBE_FAILED]);

        // From Error, passes follow the healthy threshold like from any other phase.
        let (phases, evs) = run(&mut s, &spec, &mut clock, &[pass(), pass()]);
        assert_eq!(phases, [Phase::Error, Phase::Healthy]);
        assert_eq!(topics(&evs), [events::PROBE_PASSED, events::STATE_HEALTHY]);
    }

    #[test]
    fn mixed_streak_of_path_failures_and_unprobeable_attempts_is_unhealthy() {
        let mut clock = Clock::new();
        let spec = spec(None, None);
        let mut s = HealthState::new("m", clock.0);
        let (phases, evs) = run(
            &mut s,
            &spec,
            &mut clock,
            &[fail(), unbindable(), unbindable()],
        );
        assert_eq!(phases, [Phase::Pending, Phase::Pending, Phase::Unhealthy]);
        assert_eq!(
            topics(&evs),
            [events::PROBE_FAILED, events::STATE_UNHEALTHY]
        );
        assert_eq!(evs[1].attributes["phase"], "Unhealthy");
        let (phases, _) = run(&mut s, &spec, &mut clock, &[unbindable()]);
        assert_eq!(phases, [Phase::Error], "three unprobeable in a row now");
    }

    #[test]
    fn unprobeable_reasons_name_the_cause() {
        let spec = spec(Some(1), Some(1));
        for (kind, reason) in [
            (FailureKind::Binding, "BindingFailed"),
            (FailureKind::Permission, "PermissionDenied"),
            (FailureKind::Dns, "TargetUnresolvable"),
            (FailureKind::Other, "InvalidProbe"),
        ] {
            let mut clock = Clock::new();
            let mut s = HealthState::new("r", clock.0);
            s.observe(
                &spec,
                &ProbeOutcome::cannot_probe(kind, "why"),
                clock.tick(),
            );
            assert_eq!(s.phase(), Phase::Error);
            assert_eq!(s.conditions()[1].reason, reason);
            assert_eq!(s.conditions()[1].message, "why");
        }
    }

    #[test]
    fn history_keeps_the_last_twenty_oldest_first() {
        let mut clock = Clock::new();
        let spec = spec(None, None);
        let mut s = HealthState::new("h", clock.0);
        let mut times = Vec::new();
        for i in 0..25 {
            let t = clock.tick();
            times.push(t);
            let o = if i % 3 == 0 { fail() } else { pass() };
            s.observe(&spec, &o, t);
        }
        let st = s.to_status();
        assert_eq!(st.history.len(), HISTORY_LEN);
        let kept: Vec<Timestamp> = st.history.iter().map(|r| r.time).collect();
        assert_eq!(kept, times[5..]);
        let failed = st.history.iter().find(|r| r.result == "failed").unwrap();
        assert_eq!(failed.error.as_deref(), Some("refused: connection refused"));
        assert_eq!(failed.latency_millis, None);
        let passed = st.history.iter().find(|r| r.result == "passed").unwrap();
        assert_eq!(passed.latency_millis, Some(1.25));
        assert_eq!(passed.error, None);
    }

    #[test]
    fn status_fields_follow_the_last_probe() {
        let mut clock = Clock::new();
        let spec = spec(None, None);
        let mut s = HealthState::new("s", clock.0);
        let t1 = clock.tick();
        s.observe(&spec, &pass(), t1);
        let t2 = clock.tick();
        let http_503 = ProbeOutcome::Failed {
            kind: FailureKind::HttpStatus,
            error: "HTTP status 503, expected 2xx or 3xx".into(),
            latency: Some(Duration::from_millis(4)),
        };
        s.observe(&spec, &http_503, t2);
        let st = s.to_status();
        assert_eq!(st.last_result.as_deref(), Some("failed"));
        assert_eq!(st.failure_kind.as_deref(), Some("http-status"));
        assert_eq!(
            st.last_error.as_deref(),
            Some("HTTP status 503, expected 2xx or 3xx")
        );
        assert_eq!(st.last_latency_millis, Some(4.0));
        assert_eq!(st.last_checked_at, Some(t2));
        assert_eq!(st.last_success_at, Some(t1));
        assert_eq!(st.last_failure_at, Some(t2));
        assert_eq!(
            (st.consecutive_passed, st.consecutive_failed),
            (Some(0), Some(1))
        );
        let t3 = clock.tick();
        s.observe(&spec, &timeout(), t3);
        assert_eq!(
            s.to_status().last_latency_millis,
            None,
            "no answer, no latency"
        );
        let t4 = clock.tick();
        s.observe(&spec, &pass(), t4);
        let st = s.to_status();
        assert_eq!(st.last_error, None);
        assert_eq!(st.failure_kind, None);
        assert_eq!(st.last_failure_at, Some(t3));
        assert_eq!(st.last_success_at, Some(t4));

        let d = s.to_daemon_status();
        assert_eq!(d.resource.kind, "HealthCheck");
        assert_eq!(d.resource.api_version, "net.routerd.net/v1alpha1");
        assert_eq!(d.resource.name, "s");
        assert_eq!(d.observed["lastResult"], "passed");
        assert_eq!(d.observed["consecutivePassed"], 1);
        assert_eq!(d.observed["history"].as_array().map(Vec::len), Some(4));
    }

    #[test]
    fn state_survives_a_serde_round_trip_mid_streak() {
        let mut clock = Clock::new();
        let spec = spec(None, None);
        let mut s = HealthState::new("persist", clock.0);
        run(&mut s, &spec, &mut clock, &[pass(), pass(), fail(), fail()]);
        let json = serde_json::to_string_pretty(&s).unwrap();
        let mut back: HealthState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.phase(), Phase::Healthy);
        assert_eq!(back.consecutive_failed(), 2);
        // The third failure after the restart completes the streak, and the previous result is known,
        // so no probe.failed is repeated.
        let evs = back.observe(&spec, &fail(), clock.tick());
        assert_eq!(back.phase(), Phase::Unhealthy);
        assert_eq!(topics(&evs), [events::STATE_UNHEALTHY]);
        // The persisted form uses the status vocabulary.
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["phase"], "Healthy");
        assert_eq!(v["lastResult"], "failed");
        assert_eq!(v["failureKind"], "refused");
        assert_eq!(v["consecutiveFailed"], 2);
    }

    #[test]
    fn reloaded_thresholds_apply_at_the_next_probe() {
        let mut clock = Clock::new();
        let mut s = HealthState::new("reload", clock.0);
        run(&mut s, &spec(Some(5), None), &mut clock, &[pass(), pass()]);
        assert_eq!(s.phase(), Phase::Pending);
        let evs = s.observe(&spec(Some(2), None), &pass(), clock.tick());
        assert_eq!(s.phase(), Phase::Healthy);
        assert_eq!(topics(&evs), [events::STATE_HEALTHY]);
        // A zero threshold (rejected by validation) behaves as one instead of never deciding.
        assert_eq!(
            Thresholds::from_spec(&spec(Some(0), Some(0))),
            Thresholds {
                healthy: 1,
                unhealthy: 1
            }
        );
    }
}
