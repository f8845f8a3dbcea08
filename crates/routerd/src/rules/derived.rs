//! The DerivedEvent engine: asserts a condition over resource status and emits `<topic>.asserted` /
//! `<topic>.retracted` when its truth changes (`events.md`, DerivedEvent).
//!
//! - Each entry tests one resource: `phase` (one or a list), `condition` (`type` + `status`), or `field`
//!   (a JSON pointer into the status object, with `equals` or `exists`). A resource without status
//!   yet fails `phase`, `condition` and `field.equals`, and has no field (`exists: false` holds); a
//!   field that is `null` counts as absent.
//! - `when: all|any` combines them. A new truth must hold `hysteresis` long before it is emitted; a flip
//!   back cancels it. The first evaluation of a DerivedEvent (or of a changed spec) records the truth
//!   and emits it only with `emitInitial: true`.
//! - Evaluation is driven by status changes (`StatusBook::changes`, which every status write and thus
//!   every `routerd.resource.phase.changed` passes through) and by the hysteresis timer, never by polling.
//! - The recorded truth and its times are stored (meta key `derivedevent:state`) in the same transaction
//!   as the events that announce them, so a restart neither repeats nor loses an assertion. A pending
//!   hysteresis does not survive a restart: the hold time starts again.
//! - DerivedEvents that refer to each other in a cycle are not evaluated (phase `Error`): they could
//!   flip each other forever.
//! - Emitted events: `source.kind: routerd-derivedevent`, `source.instance: <name>`, subject
//!   `resource.kind: DerivedEvent` / `resource.name: <name>`, attribute `asserted` (`true|false`), and
//!   `initial: "true"` for an emitInitial announcement.

use super::hysteresis::{Change, Hysteresis};
use super::rule::fingerprint;
use super::SOURCE_DERIVEDEVENT;
use crate::config::DesiredState;
use crate::controllers::runtime::TaskHealth;
use crate::controllers::status_book::{StatusBook, StatusUpdate};
use crate::events::EventBus;
use routerd_api::event::NewEvent;
use routerd_api::spec::{DerivedEventSpec, DerivedWhen, PhaseSet, ResourceSpec};
use routerd_api::status::{DerivedEventStatus, ResourceStatus};
use routerd_api::{Condition, ConditionStatus, Kind, Phase, ResourceId, Severity, Timestamp};
use routerd_store::StoreError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tokio::sync::watch;

/// Meta key of the recorded truths.
pub const STATE_KEY: &str = "derivedevent:state";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Stored {
    #[serde(default)]
    derived: BTreeMap<String, StoredTruth>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredTruth {
    spec: String,
    asserted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_asserted_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_retracted_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
enum Test {
    Phase(Vec<Phase>),
    Condition {
        type_: String,
        status: String,
    },
    Equals {
        pointer: String,
        value: serde_json::Value,
    },
    Exists {
        pointer: String,
        exists: bool,
    },
}

#[derive(Debug, Clone)]
struct Check {
    resource: ResourceId,
    test: Test,
}

impl Check {
    fn holds(&self, status: Option<&ResourceStatus>) -> bool {
        match &self.test {
            Test::Phase(phases) => status.is_some_and(|s| phases.contains(&s.phase)),
            Test::Condition {
                type_,
                status: want,
            } => status.is_some_and(|s| {
                s.conditions.iter().any(|c| {
                    c.type_ == *type_
                        && match c.status {
                            ConditionStatus::True => want == "True",
                            ConditionStatus::False => want == "False",
                            ConditionStatus::Unknown => want == "Unknown",
                        }
                })
            }),
            Test::Equals { pointer, value } => status
                .and_then(|s| serde_json::to_value(s).ok())
                .is_some_and(|v| v.pointer(pointer) == Some(value)),
            Test::Exists { pointer, exists } => {
                let found = status
                    .and_then(|s| serde_json::to_value(s).ok())
                    .is_some_and(|v| v.pointer(pointer).is_some_and(|x| !x.is_null()));
                found == *exists
            }
        }
    }

    fn describe(&self) -> String {
        let r = self.resource.short();
        match &self.test {
            Test::Phase(p) => format!(
                "{r} phase {}",
                p.iter().map(|p| p.as_str()).collect::<Vec<_>>().join("|")
            ),
            Test::Condition { type_, status } => format!("{r} {type_}={status}"),
            Test::Equals { pointer, value } => format!("{r} {pointer}={value}"),
            Test::Exists { pointer, exists } => {
                format!(
                    "{r} {pointer} {}",
                    if *exists { "exists" } else { "absent" }
                )
            }
        }
    }
}

struct Derived {
    name: String,
    fingerprint: String,
    topic: String,
    when: DerivedWhen,
    checks: Vec<Check>,
    emit_initial: bool,
    truth: Hysteresis,
    last_asserted_at: Option<Timestamp>,
    last_retracted_at: Option<Timestamp>,
    /// Refers to itself through other DerivedEvents: not evaluated.
    cycle: Option<String>,
    /// Why the last evaluation came out as it did.
    detail: String,
    status_dirty: bool,
}

impl Derived {
    fn compile(name: &str, spec: &DerivedEventSpec, stored: Option<&StoredTruth>) -> Derived {
        let fp = fingerprint(spec);
        let checks = spec
            .conditions
            .iter()
            .filter_map(|c| {
                let resource = ResourceId::parse_short(&c.resource).ok()?;
                let test = if let Some(p) = &c.phase {
                    Test::Phase(match p {
                        PhaseSet::One(p) => vec![*p],
                        PhaseSet::Many(v) => v.clone(),
                    })
                } else if let Some(t) = &c.condition {
                    Test::Condition {
                        type_: t.type_.clone(),
                        status: t.status.clone(),
                    }
                } else {
                    let f = c.field.as_ref()?;
                    match (&f.equals, f.exists) {
                        (Some(v), _) => Test::Equals {
                            pointer: f.pointer.clone(),
                            value: v.clone(),
                        },
                        (None, exists) => Test::Exists {
                            pointer: f.pointer.clone(),
                            exists: exists.unwrap_or(true),
                        },
                    }
                };
                Some(Check { resource, test })
            })
            .collect();
        let same = stored.filter(|s| s.spec == fp);
        Derived {
            name: name.to_string(),
            fingerprint: fp,
            topic: spec.topic.clone(),
            when: spec.when,
            checks,
            emit_initial: spec.emit_initial.unwrap_or(false),
            truth: Hysteresis::new(
                spec.hysteresis.map(|h| h.0).unwrap_or_default(),
                same.map(|s| s.asserted),
            ),
            last_asserted_at: stored.and_then(|s| s.last_asserted_at),
            last_retracted_at: stored.and_then(|s| s.last_retracted_at),
            cycle: None,
            detail: String::new(),
            status_dirty: true,
        }
    }

    /// Evaluates the checks: (truth, explanation).
    fn evaluate(&self, status: &dyn Fn(&ResourceId) -> Option<ResourceStatus>) -> (bool, String) {
        let results: Vec<(bool, String)> = self
            .checks
            .iter()
            .map(|c| (c.holds(status(&c.resource).as_ref()), c.describe()))
            .collect();
        let n = results.len();
        match self.when {
            DerivedWhen::All => match results.iter().find(|(ok, _)| !ok) {
                Some((_, d)) => (false, format!("{d} does not hold")),
                None => (true, format!("all {n} conditions hold")),
            },
            DerivedWhen::Any => match results.iter().find(|(ok, _)| *ok) {
                Some((_, d)) => (true, format!("{d} holds")),
                None => (false, format!("none of {n} conditions holds")),
            },
        }
    }

    fn event(&self, asserted: bool, initial: bool, now: Timestamp) -> NewEvent {
        let verb = if asserted { "asserted" } else { "retracted" };
        let mut ev = NewEvent::new(
            &format!("{}.{verb}", self.topic),
            Severity::Info,
            format!("{} {verb}: {}", self.name, self.detail),
        )
        .source(SOURCE_DERIVEDEVENT, &self.name)
        .resource("DerivedEvent", &self.name)
        .attr("asserted", asserted.to_string());
        if initial {
            ev = ev.attr("initial", "true");
        }
        ev.time = now;
        ev
    }

    fn stored(&self) -> Option<StoredTruth> {
        Some(StoredTruth {
            spec: self.fingerprint.clone(),
            asserted: self.truth.recorded()?,
            last_asserted_at: self.last_asserted_at,
            last_retracted_at: self.last_retracted_at,
        })
    }
}

pub struct DerivedEventEngine {
    bus: EventBus,
    derived: Vec<Derived>,
    generation: u64,
    stored: Stored,
}

impl DerivedEventEngine {
    pub fn open(bus: EventBus, desired: &DesiredState) -> Result<DerivedEventEngine, StoreError> {
        let stored = match bus.consumer_cursor(STATE_KEY)? {
            Some(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "DerivedEvent state unreadable; every DerivedEvent starts over");
                Stored::default()
            }),
            None => Stored::default(),
        };
        let mut engine = DerivedEventEngine {
            bus,
            derived: Vec::new(),
            generation: 0,
            stored,
        };
        engine.apply(desired);
        Ok(engine)
    }

    /// Takes a new desired state; returns whether the set of DerivedEvents or a spec changed.
    pub fn apply(&mut self, desired: &DesiredState) -> bool {
        self.generation = desired.generation;
        let mut old: BTreeMap<String, Derived> = self
            .derived
            .drain(..)
            .map(|d| (d.name.clone(), d))
            .collect();
        let mut changed = false;
        let mut next = Vec::new();
        for r in desired.of_kind(Kind::DerivedEvent) {
            let ResourceSpec::DerivedEvent(spec) = &r.spec else {
                continue;
            };
            let fp = fingerprint(spec);
            match old.remove(r.name()) {
                Some(d) if d.fingerprint == fp => next.push(d),
                previous => {
                    changed = true;
                    // A changed spec starts over (its truth is new) but keeps the times it was last
                    // asserted and retracted.
                    let stored = previous
                        .as_ref()
                        .and_then(|p| {
                            let mut s = p.stored()?;
                            s.spec = String::new();
                            Some(s)
                        })
                        .or_else(|| self.stored.derived.get(r.name()).cloned());
                    next.push(Derived::compile(r.name(), spec, stored.as_ref()));
                }
            }
        }
        changed |= !old.is_empty();
        self.derived = next;
        mark_cycles(&mut self.derived);
        changed
    }

    /// Evaluates every DerivedEvent at `now`; returns the events to emit and whether the recorded
    /// state changed (then it must be committed, even with nothing to emit).
    pub fn evaluate(
        &mut self,
        status: &dyn Fn(&ResourceId) -> Option<ResourceStatus>,
        now: Timestamp,
    ) -> (Vec<NewEvent>, bool) {
        let mut emitted = Vec::new();
        let mut record = false;
        for d in &mut self.derived {
            if d.cycle.is_some() {
                continue;
            }
            let (truth, detail) = d.evaluate(status);
            let pending_before = d.truth.pending();
            if detail != d.detail {
                d.detail = detail;
                d.status_dirty = true;
            }
            let change = d.truth.observe(truth, now);
            if d.truth.pending() != pending_before {
                d.status_dirty = true;
            }
            let Some(change) = change else {
                continue;
            };
            record = true;
            d.status_dirty = true;
            let (value, emit, initial) = match change {
                Change::Initial(v) => (v, d.emit_initial, true),
                Change::Flipped(v) => (v, true, false),
            };
            if emit {
                if value {
                    d.last_asserted_at = Some(now);
                } else {
                    d.last_retracted_at = Some(now);
                }
                emitted.push(d.event(value, initial, now));
            }
        }
        (emitted, record || self.stored_changed())
    }

    fn snapshot(&self) -> Stored {
        Stored {
            derived: self
                .derived
                .iter()
                .filter_map(|d| Some((d.name.clone(), d.stored()?)))
                .collect(),
        }
    }

    fn stored_changed(&self) -> bool {
        self.snapshot() != self.stored
    }

    /// Commits `emitted` with the recorded truths in one transaction.
    pub async fn commit(&mut self, emitted: Vec<NewEvent>) -> Result<(), StoreError> {
        let snapshot = self.snapshot();
        let text = serde_json::to_string(&snapshot).unwrap_or_default();
        self.bus.import(emitted, STATE_KEY, &text).await?;
        self.stored = snapshot;
        Ok(())
    }

    /// When a pending truth will have held long enough.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.derived.iter().filter_map(|d| d.truth.deadline()).min()
    }

    /// The recorded truth of `name` (None before its first evaluation).
    pub fn asserted(&self, name: &str) -> Option<bool> {
        self.derived
            .iter()
            .find(|d| d.name == name)
            .and_then(|d| d.truth.recorded())
    }

    pub async fn publish_status(&mut self, book: &StatusBook, all: bool) {
        let generation = self.generation;
        for d in &mut self.derived {
            if !(all || d.status_dirty) {
                continue;
            }
            d.status_dirty = false;
            let id = ResourceId::new(Kind::DerivedEvent, &d.name);
            let update = match &d.cycle {
                Some(why) => StatusUpdate::new(
                    Phase::Error,
                    vec![Condition::new(
                        "Accepted",
                        false,
                        "ReferenceCycle",
                        why.clone(),
                    )],
                ),
                None => {
                    let recorded = d.truth.recorded();
                    let (reason, message) = match (d.truth.pending(), recorded) {
                        (Some(p), _) => (
                            "AwaitingHysteresis",
                            format!(
                                "{}; {} once that has held for the hysteresis",
                                d.detail,
                                if p { "asserts" } else { "retracts" }
                            ),
                        ),
                        (None, Some(true)) => ("ConditionsHold", d.detail.clone()),
                        (None, _) => ("ConditionsDoNotHold", d.detail.clone()),
                    };
                    let summary = format!(
                        "{} of {} conditions; emits {}.asserted / {}.retracted",
                        match d.when {
                            DerivedWhen::All => "all",
                            DerivedWhen::Any => "any",
                        },
                        d.checks.len(),
                        d.topic,
                        d.topic
                    );
                    StatusUpdate::new(
                        Phase::Applied,
                        vec![
                            Condition::new("Accepted", true, "Evaluating", summary),
                            Condition::new("Asserted", recorded == Some(true), reason, message),
                        ],
                    )
                    .with_fields(&DerivedEventStatus {
                        asserted: recorded,
                        last_asserted_at: d.last_asserted_at,
                        last_retracted_at: d.last_retracted_at,
                    })
                }
            };
            book.set(&id, generation, update).await;
        }
        if all {
            let names: BTreeSet<String> = self.derived.iter().map(|d| d.name.clone()).collect();
            book.retain_kind(Kind::DerivedEvent, &|n| names.contains(n));
        }
    }

    /// The task: evaluates on every status change and hysteresis deadline, follows applies.
    /// The task: evaluates on status changes, applies and the hysteresis timer. Returns `Ok` on stop,
    /// and the error when a commit fails: the recorded truths may then be behind memory, so the caller
    /// reopens the engine from what is stored (as a restart would).
    pub async fn run(
        mut self,
        mut config: watch::Receiver<Arc<DesiredState>>,
        book: Arc<StatusBook>,
        mut stop: watch::Receiver<bool>,
        health: Option<TaskHealth>,
    ) -> Result<(), StoreError> {
        let mut changes = book.changes();
        let mut all = true;
        let mut trigger = "startup";
        loop {
            changes.borrow_and_update();
            let started = std::time::Instant::now();
            let now = Timestamp::now();
            let (emitted, record) = self.evaluate(&|id| book.get(id), now);
            if record || !emitted.is_empty() {
                self.commit(emitted).await?;
            }
            if let Some(h) = &health {
                h.ran(trigger, started.elapsed(), Ok(())).await;
            }
            self.publish_status(&book, all).await;
            all = false;
            let deadline = self.next_deadline();
            tokio::select! {
                r = changes.changed() => {
                    if r.is_err() { return Ok(()) }
                    trigger = "status";
                }
                r = config.changed() => {
                    if r.is_err() { return Ok(()) }
                    trigger = "apply";
                    let desired = config.borrow_and_update().clone();
                    self.apply(&desired);
                    all = true;
                }
                _ = async {
                    match deadline {
                        Some(d) => tokio::time::sleep(Timestamp::now().until(d)).await,
                        None => std::future::pending().await,
                    }
                } => trigger = "timer",
                _ = crate::shutdown::stopped(&mut stop) => return Ok(()),
            }
        }
    }
}

/// Marks DerivedEvents that reach themselves through `DerivedEvent/<name>` conditions.
fn mark_cycles(derived: &mut [Derived]) {
    let edges: BTreeMap<String, Vec<String>> = derived
        .iter()
        .map(|d| {
            (
                d.name.clone(),
                d.checks
                    .iter()
                    .filter(|c| c.resource.kind == Kind::DerivedEvent)
                    .map(|c| c.resource.name.clone())
                    .collect(),
            )
        })
        .collect();
    for d in derived.iter_mut() {
        d.cycle = None;
        // Depth-first from each direct reference, looking for the way back.
        let mut stack: Vec<(String, Vec<String>)> = edges
            .get(&d.name)
            .into_iter()
            .flatten()
            .map(|n| (n.clone(), vec![d.name.clone(), n.clone()]))
            .collect();
        let mut seen = BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            if node == d.name {
                d.cycle = Some(format!(
                    "DerivedEvents refer to each other in a cycle ({}); break it",
                    path.join(" -> ")
                ));
                break;
            }
            if !seen.insert(node.clone()) {
                continue;
            }
            for next in edges.get(&node).into_iter().flatten() {
                let mut p = path.clone();
                p.push(next.clone());
                stack.push((next.clone(), p));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use routerd_api::manifest::decode_resources;
    use std::collections::HashMap;

    const S: i64 = 1_000_000_000;

    fn desired(yaml: &str) -> DesiredState {
        let docs = routerd_api::manifest::parse_documents(yaml).unwrap();
        DesiredState::from_resources(1, decode_resources(docs).unwrap())
    }

    fn status(
        phase: Phase,
        conditions: Vec<Condition>,
        fields: serde_json::Value,
    ) -> ResourceStatus {
        ResourceStatus {
            phase,
            conditions,
            observed_generation: None,
            since: None,
            fields: fields.as_object().cloned().unwrap_or_default(),
        }
    }

    struct World {
        status: HashMap<ResourceId, ResourceStatus>,
    }

    impl World {
        fn lookup(&self) -> impl Fn(&ResourceId) -> Option<ResourceStatus> + '_ {
            move |id| self.status.get(id).cloned()
        }
    }

    const SPEC: &str = r#"
apiVersion: net.routerd.net/v1alpha1
kind: DerivedEvent
metadata: {name: wan-ready}
spec:
  topic: routerd.virtual.wan.ready
  when: all
  conditions:
    - {resource: Interface/wan, phase: [Up, Applied]}
    - {resource: HealthCheck/isp, condition: {type: Healthy, status: "True"}}
    - {resource: HealthCheck/isp, field: {pointer: /target, equals: "198.51.100.129"}}
  hysteresis: 10s
  emitInitial: EMIT
"#;

    fn engine(emit_initial: bool) -> (tempfile::TempDir, DerivedEventEngine) {
        let dir = tempfile::tempdir().unwrap();
        let bus = EventBus::open(&dir.path().join("routerd.db")).unwrap();
        let d = desired(&SPEC.replace("EMIT", &emit_initial.to_string()));
        (dir, DerivedEventEngine::open(bus, &d).unwrap())
    }

    fn healthy_world() -> World {
        let mut status = HashMap::new();
        status.insert(
            ResourceId::new(Kind::Interface, "wan"),
            status_of(Phase::Up, vec![], serde_json::json!({})),
        );
        status.insert(
            ResourceId::new(Kind::HealthCheck, "isp"),
            status_of(
                Phase::Healthy,
                vec![Condition::new("Healthy", true, "ProbesPassing", "")],
                serde_json::json!({"target": "198.51.100.129"}),
            ),
        );
        World { status }
    }

    fn status_of(p: Phase, c: Vec<Condition>, f: serde_json::Value) -> ResourceStatus {
        status(p, c, f)
    }

    fn topics(evs: &[NewEvent]) -> Vec<String> {
        evs.iter().map(|e| e.topic.clone()).collect()
    }

    #[tokio::test]
    async fn emit_initial_announces_the_first_truth() {
        let (_d, mut e) = engine(true);
        let w = healthy_world();
        let (evs, record) = e.evaluate(&w.lookup(), Timestamp(0));
        assert_eq!(topics(&evs), ["routerd.virtual.wan.ready.asserted"]);
        assert!(record);
        assert_eq!(
            evs[0].attributes.get("initial").map(String::as_str),
            Some("true")
        );
        assert_eq!(evs[0].resource_kind(), Some("DerivedEvent"));
        assert_eq!(evs[0].source.kind, "routerd-derivedevent");

        let (_d, mut quiet) = engine(false);
        let (evs, record) = quiet.evaluate(&w.lookup(), Timestamp(0));
        assert!(evs.is_empty(), "emitInitial false: recorded, not emitted");
        assert!(record, "but the truth is recorded");
        assert_eq!(quiet.asserted("wan-ready"), Some(true));
    }

    #[tokio::test]
    async fn hysteresis_holds_a_flip_and_a_flip_back_cancels_it() {
        let (_d, mut e) = engine(false);
        let mut w = healthy_world();
        e.evaluate(&w.lookup(), Timestamp(0));
        // Interface goes Pending at t=1s: retraction waits 10 s.
        let wan = ResourceId::new(Kind::Interface, "wan");
        w.status.insert(
            wan.clone(),
            status_of(Phase::Pending, vec![], serde_json::json!({})),
        );
        let (evs, _) = e.evaluate(&w.lookup(), Timestamp(S));
        assert!(evs.is_empty());
        assert_eq!(e.next_deadline(), Some(Timestamp(11 * S)));
        // Back Up at 5 s: cancelled, nothing at 11 s.
        w.status.insert(
            wan.clone(),
            status_of(Phase::Applied, vec![], serde_json::json!({})),
        );
        assert!(e.evaluate(&w.lookup(), Timestamp(5 * S)).0.is_empty());
        assert_eq!(e.next_deadline(), None);
        assert!(e.evaluate(&w.lookup(), Timestamp(11 * S)).0.is_empty());
        // Down again and held: retracted after 10 s, naming the failing check.
        w.status.insert(
            wan.clone(),
            status_of(Phase::Pending, vec![], serde_json::json!({})),
        );
        assert!(e.evaluate(&w.lookup(), Timestamp(20 * S)).0.is_empty());
        let (evs, record) = e.evaluate(&w.lookup(), Timestamp(30 * S));
        assert_eq!(topics(&evs), ["routerd.virtual.wan.ready.retracted"]);
        assert!(record);
        assert!(
            evs[0]
                .message
                .contains("Interface/wan phase Up|Applied does not hold"),
            "{}",
            evs[0].message
        );
        // A wrong field value keeps it retracted even when the interface is back.
        w.status
            .insert(wan, status_of(Phase::Up, vec![], serde_json::json!({})));
        w.status.insert(
            ResourceId::new(Kind::HealthCheck, "isp"),
            status_of(
                Phase::Healthy,
                vec![Condition::new("Healthy", true, "Ok", "")],
                serde_json::json!({"target": "x"}),
            ),
        );
        e.evaluate(&w.lookup(), Timestamp(31 * S));
        assert!(e.evaluate(&w.lookup(), Timestamp(50 * S)).0.is_empty());
        assert_eq!(e.asserted("wan-ready"), Some(false));
    }

    #[tokio::test]
    async fn recorded_truth_survives_a_restart_and_is_not_announced_again() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("routerd.db");
        let d = desired(&SPEC.replace("EMIT", "true"));
        let w = healthy_world();
        {
            let bus = EventBus::open(&db).unwrap();
            let mut e = DerivedEventEngine::open(bus.clone(), &d).unwrap();
            let (evs, _) = e.evaluate(&w.lookup(), Timestamp(0));
            assert_eq!(evs.len(), 1);
            e.commit(evs).await.unwrap();
            bus.close();
        }
        let bus = EventBus::open(&db).unwrap();
        let mut e = DerivedEventEngine::open(bus, &d).unwrap();
        assert_eq!(e.asserted("wan-ready"), Some(true), "restored");
        let (evs, record) = e.evaluate(&w.lookup(), Timestamp(S));
        assert!(evs.is_empty() && !record, "{evs:?}");
    }

    #[test]
    fn cycles_are_found() {
        let d = desired(
            r#"
apiVersion: net.routerd.net/v1alpha1
kind: DerivedEvent
metadata: {name: a}
spec: {topic: routerd.virtual.a, when: all, conditions: [{resource: DerivedEvent/b, field: {pointer: /asserted, equals: false}}]}
---
apiVersion: net.routerd.net/v1alpha1
kind: DerivedEvent
metadata: {name: b}
spec: {topic: routerd.virtual.b, when: all, conditions: [{resource: DerivedEvent/a, field: {pointer: /asserted, equals: true}}]}
---
apiVersion: net.routerd.net/v1alpha1
kind: DerivedEvent
metadata: {name: c}
spec: {topic: routerd.virtual.c, when: any, conditions: [{resource: DerivedEvent/a, field: {pointer: /asserted, exists: true}}]}
"#,
        );
        let mut derived: Vec<Derived> = d
            .of_kind(Kind::DerivedEvent)
            .filter_map(|r| match &r.spec {
                ResourceSpec::DerivedEvent(s) => Some(Derived::compile(r.name(), s, None)),
                _ => None,
            })
            .collect();
        mark_cycles(&mut derived);
        let cyclic: Vec<&str> = derived
            .iter()
            .filter(|d| d.cycle.is_some())
            .map(|d| d.name.as_str())
            .collect();
        assert_eq!(cyclic, ["a", "b"], "c only reads a");
    }
}
