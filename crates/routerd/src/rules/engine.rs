//! The EventRule engine task. It consumes routerd's event store from its checkpoint cursor, runs each
//! event through the rules whose topics match it (the topic is tested before correlation, so unrelated
//! events never touch rule state), and commits the virtual events it emits together with the advanced
//! checkpoint in one transaction. Timers (`debounce`, `absence`, `throttle`) fire from a tokio timer in
//! this task; their firings are committed with the cursor where the engine stood.
//!
//! When nothing fired the checkpoint is advanced lazily (at most once a second): re-evaluating events
//! that fired nothing can fire nothing, so that is safe, and it keeps one extra transaction per event
//! off the store.

use super::checkpoint::{Checkpoint, RuleCheckpoint, KEY};
use super::operators::{Machine, Matched};
use super::replay;
use super::rule::Rule;
use super::{SOURCE_EVENTRULE, TOPIC_EVENT_SKIPPED};
use crate::config::DesiredState;
use crate::controllers::runtime::TaskHealth;
use crate::controllers::status_book::{StatusBook, StatusUpdate};
use crate::events::EventBus;
use routerd_api::event::{Event, NewEvent};
use routerd_api::spec::ResourceSpec;
use routerd_api::status::EventRuleStatus;
use routerd_api::topic::TopicPattern;
use routerd_api::{Condition, Kind, Phase, ResourceId, Severity, Timestamp};
use routerd_store::{EventFilter, SkippedEvent, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

/// Events read from the store per query.
const PAGE: usize = 4096;
/// Longest the checkpoint lags behind evaluated events when nothing fires.
const IDLE_CHECKPOINT: Duration = Duration::from_secs(1);
/// Status is written at most this often while rules keep firing.
const STATUS_INTERVAL: Duration = Duration::from_millis(250);
/// Topics whose routes are cached (the catalogue is far smaller; this only bounds odd streams).
const ROUTE_CACHE: usize = 8192;

struct Active {
    rule: Rule,
    machine: Machine,
    since: u64,
    fire_count: u64,
    last_fired_at: Option<Timestamp>,
    status_dirty: bool,
}

/// A rule that could not be compiled (apply-time validation should make this impossible).
struct Broken {
    name: String,
    error: String,
}

pub struct EventRuleEngine {
    bus: EventBus,
    committed: watch::Receiver<u64>,
    rules: Vec<Active>,
    broken: Vec<Broken>,
    /// Every event up to here has been evaluated.
    position: u64,
    /// Position recorded in the stored checkpoint.
    checkpointed: u64,
    last_checkpoint: Instant,
    last_status: Option<Instant>,
    generation: u64,
    /// The union of the rules' patterns (what is read from the store).
    filter: Vec<TopicPattern>,
    /// Topic → the rules listening to it and which of their patterns matched.
    routes: HashMap<String, Arc<[(usize, u64)]>>,
    /// Stored events passed over because they could not be decoded.
    skipped: u64,
    /// Where failures and skipped events are shown (`/controllers`, `/status`).
    health: Option<TaskHealth>,
}

impl EventRuleEngine {
    /// Loads the checkpoint and rebuilds every rule's state by replay. Without a checkpoint it starts at
    /// the end of the store (history before the first start is not evaluated) and records that at once,
    /// so a crash before the first firing does not move the start.
    pub async fn open(
        bus: EventBus,
        desired: &DesiredState,
    ) -> Result<EventRuleEngine, StoreError> {
        let stored = match consumer_cursor(&bus).await? {
            Some(text) => match Checkpoint::parse(&text) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "EventRule checkpoint unreadable; starting at the end of the store");
                    None
                }
            },
            None => None,
        };
        let position = match &stored {
            Some(c) => c.cursor,
            None => bus.last_cursor().await?,
        };
        let first_start = stored.is_none();
        let stored = stored.unwrap_or_default();
        let mut engine = EventRuleEngine {
            committed: bus.subscribe(),
            bus,
            rules: Vec::new(),
            broken: Vec::new(),
            position,
            checkpointed: position,
            last_checkpoint: Instant::now(),
            last_status: None,
            generation: desired.generation,
            filter: Vec::new(),
            routes: HashMap::new(),
            skipped: 0,
            health: None,
        };
        for (name, rule) in compile_all(desired, &mut engine.broken) {
            let record = stored.rules.get(&name);
            let since = match record {
                Some(r) if r.spec == rule.fingerprint => r.since.min(position),
                _ => position,
            };
            let started = Instant::now();
            // The replay reads the store synchronously: keep it off the async workers.
            let bus = engine.bus.clone();
            let (rule, machine, done) = tokio::task::spawn_blocking(move || {
                let mut machine = Machine::new(rule.operator.clone());
                let done = replay::rebuild(&bus, &rule, &mut machine, since, position);
                (rule, machine, done)
            })
            .await
            .map_err(|e| StoreError::Corrupt(format!("EventRule replay task failed: {e}")))?;
            let done = done?;
            if done.events > 0 || done.recorded_firings > 0 {
                tracing::info!(rule = %name, from = done.from, to = position, events = done.events, firings = done.recorded_firings, keys = machine.keys(), took_ms = started.elapsed().as_millis() as u64, "EventRule state rebuilt");
            }
            engine.rules.push(Active {
                rule,
                machine,
                since,
                fire_count: record.map(|r| r.fire_count).unwrap_or(0),
                last_fired_at: record.and_then(|r| r.last_fired_at),
                status_dirty: true,
            });
        }
        engine.reroute();
        if first_start || engine.checkpoint().rules != stored.rules {
            engine.commit(Vec::new()).await?;
        }
        Ok(engine)
    }

    /// Stored events passed over since the engine opened because they could not be decoded.
    pub fn skipped_events(&self) -> u64 {
        self.skipped
    }

    /// Reports skipped events to `health` as well.
    pub fn with_health(mut self, health: TaskHealth) -> EventRuleEngine {
        self.health = Some(health);
        self
    }

    /// A stored event at `cursor` that could not be decoded: passed over (the position moves past it)
    /// and reported by an event committed with the checkpoint that passes it, so it is reported once.
    fn skip(&mut self, skipped: SkippedEvent, emitted: &mut Vec<NewEvent>) {
        self.position = self.position.max(skipped.cursor);
        self.skipped += 1;
        if let Some(h) = &self.health {
            h.skipped_event();
        }
        tracing::warn!(cursor = skipped.cursor, error = %skipped.error, "EventRule engine skipped an event it cannot read");
        emitted.push(
            NewEvent::new(
                TOPIC_EVENT_SKIPPED,
                Severity::Warning,
                format!(
                    "EventRules passed over event {}: it cannot be read ({})",
                    skipped.cursor, skipped.error
                ),
            )
            .source(SOURCE_EVENTRULE, "engine")
            .attr("cursor", skipped.cursor.to_string())
            .attr("error", skipped.error),
        );
    }

    /// Evaluated position.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Fire count of `rule`, if it is loaded.
    pub fn fire_count(&self, rule: &str) -> Option<u64> {
        self.rules
            .iter()
            .find(|a| a.rule.name == rule)
            .map(|a| a.fire_count)
    }

    fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            cursor: self.position,
            rules: self
                .rules
                .iter()
                .map(|a| {
                    (
                        a.rule.name.clone(),
                        RuleCheckpoint {
                            spec: a.rule.fingerprint.clone(),
                            since: a.since,
                            fire_count: a.fire_count,
                            last_fired_at: a.last_fired_at,
                        },
                    )
                })
                .collect(),
        }
    }

    /// Commits `emitted` together with the checkpoint at the current position.
    pub async fn commit(&mut self, emitted: Vec<NewEvent>) -> Result<(), StoreError> {
        let queued = self.queue_commit(emitted)?;
        settle(queued).await
    }

    /// Queues the commit on the store's single writer without waiting for it. Commits are applied in
    /// the order they are queued, each atomic with its checkpoint, so the next page can be evaluated
    /// while this one is written; a failure is reported by [`settle`].
    fn queue_commit(&mut self, emitted: Vec<NewEvent>) -> Result<Queued, StoreError> {
        let text = self.checkpoint().encode();
        let (tx, rx) = oneshot::channel();
        self.bus.store().import(
            emitted,
            KEY,
            &text,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        )?;
        self.checkpointed = self.position;
        self.last_checkpoint = Instant::now();
        Ok(rx)
    }

    /// Takes a new desired state: new or changed rules start fresh at the current position (a changed
    /// spec is a new rule; its fire count is kept), removed rules are dropped. Returns whether the rule
    /// set changed.
    pub fn apply(&mut self, desired: &DesiredState) -> bool {
        self.generation = desired.generation;
        let mut broken = Vec::new();
        let compiled = compile_all(desired, &mut broken);
        let mut old: BTreeMap<String, Active> = self
            .rules
            .drain(..)
            .map(|a| (a.rule.name.clone(), a))
            .collect();
        let mut changed = broken.len() != self.broken.len();
        self.broken = broken;
        for (name, rule) in compiled {
            match old.remove(&name) {
                Some(a) if a.rule.fingerprint == rule.fingerprint => self.rules.push(a),
                previous => {
                    changed = true;
                    self.rules.push(Active {
                        machine: Machine::new(rule.operator.clone()),
                        rule,
                        since: self.position,
                        fire_count: previous.as_ref().map(|a| a.fire_count).unwrap_or(0),
                        last_fired_at: previous.and_then(|a| a.last_fired_at),
                        status_dirty: true,
                    });
                }
            }
        }
        changed |= !old.is_empty();
        if changed {
            self.reroute();
        }
        changed
    }

    fn reroute(&mut self) {
        let mut seen = std::collections::BTreeSet::new();
        self.filter = self
            .rules
            .iter()
            .flat_map(|a| a.rule.patterns().iter())
            .filter(|p| seen.insert(p.as_str().to_string()))
            .cloned()
            .collect();
        self.routes.clear();
    }

    fn routes_for(&mut self, topic: &str) -> Arc<[(usize, u64)]> {
        if let Some(r) = self.routes.get(topic) {
            return r.clone();
        }
        let r: Arc<[(usize, u64)]> = self
            .rules
            .iter()
            .enumerate()
            .filter_map(|(i, a)| {
                let bits = a.rule.topic_bits(topic);
                (bits != 0).then_some((i, bits))
            })
            .collect();
        if self.routes.len() >= ROUTE_CACHE {
            self.routes.clear();
        }
        self.routes.insert(topic.to_string(), r.clone());
        r
    }

    /// Evaluates one stored event; virtual events are appended to `emitted`.
    fn evaluate(&mut self, ev: Event, now: Timestamp, emitted: &mut Vec<NewEvent>) {
        let Ok(cursor) = ev.cursor.parse::<u64>() else {
            return;
        };
        self.position = self.position.max(cursor);
        // Virtual events never feed EventRules, even when a rule's own topic matches its input.
        if ev.source.kind == SOURCE_EVENTRULE {
            return;
        }
        let routes = self.routes_for(&ev.topic);
        if routes.is_empty() {
            return;
        }
        let event = Arc::new(ev);
        let mut firings = Vec::new();
        for &(i, bits) in routes.iter() {
            let Some(a) = self.rules.get_mut(i) else {
                continue;
            };
            let m = Matched {
                event: event.clone(),
                cursor,
                topics: bits,
            };
            a.machine
                .on_event(a.rule.correlate.key(&event), &m, &mut firings);
            for f in firings.drain(..) {
                emitted.push(a.rule.emitted(&f, cursor, now));
                a.fire_count += 1;
                a.last_fired_at = Some(now);
                a.status_dirty = true;
            }
        }
    }

    /// Evaluates every committed event after the position; commits firings as they happen. Returns the
    /// number of events read.
    pub async fn poll(&mut self) -> Result<usize, StoreError> {
        let upto = (*self.committed.borrow_and_update()).max(self.position);
        let mut read = 0;
        let mut in_flight = None;
        if self.filter.is_empty() {
            self.position = upto;
        } else {
            loop {
                let page = self
                    .bus
                    .query_skipping(&EventFilter {
                        since: self.position,
                        topics: self.filter.clone(),
                        limit: PAGE,
                        ..Default::default()
                    })
                    .await?;
                let n = page.events.len();
                read += n;
                let now = Timestamp::now();
                let mut emitted = Vec::new();
                for skipped in page.skipped {
                    self.skip(skipped, &mut emitted);
                }
                for ev in page.events {
                    self.evaluate(ev, now, &mut emitted);
                }
                if n < PAGE {
                    // Everything committed up to `upto` has been seen, matching or not.
                    self.position = self.position.max(upto);
                }
                if !emitted.is_empty() {
                    // One commit in flight at a time: this page is written while the next is read.
                    if let Some(q) = in_flight.take() {
                        settle(q).await?;
                    }
                    in_flight = Some(self.queue_commit(emitted)?);
                }
                if n < PAGE {
                    break;
                }
            }
        }
        if let Some(q) = in_flight.take() {
            settle(q).await?;
        }
        if self.position != self.checkpointed && self.last_checkpoint.elapsed() >= IDLE_CHECKPOINT {
            self.commit(Vec::new()).await?;
        }
        Ok(read)
    }

    /// Fires the timers due at `now`; commits the firings at the current position. Returns how many.
    pub async fn fire_timers(&mut self, now: Timestamp) -> Result<usize, StoreError> {
        let mut emitted = Vec::new();
        let mut firings = Vec::new();
        let position = self.position;
        for a in &mut self.rules {
            if a.machine.next_deadline().is_none_or(|d| d > now) {
                continue;
            }
            a.machine.on_timer(now, &mut firings);
            for f in firings.drain(..) {
                emitted.push(a.rule.emitted(&f, position, now));
                a.fire_count += 1;
                a.last_fired_at = Some(now);
                a.status_dirty = true;
            }
        }
        let n = emitted.len();
        if n > 0 {
            self.commit(emitted).await?;
        }
        Ok(n)
    }

    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.rules
            .iter()
            .filter_map(|a| a.machine.next_deadline())
            .min()
    }

    /// Writes the status of rules whose fire count changed (all of them with `all`), and drops the
    /// status of removed rules.
    pub async fn publish_status(&mut self, book: &StatusBook, all: bool) {
        let generation = self.generation;
        for a in &mut self.rules {
            if !(all || a.status_dirty) {
                continue;
            }
            a.status_dirty = false;
            let update = StatusUpdate::new(
                Phase::Applied,
                vec![Condition::new(
                    "Accepted",
                    true,
                    "RuleActive",
                    a.rule.summary().to_string(),
                )],
            )
            .with_fields(&EventRuleStatus {
                fire_count: Some(a.fire_count),
                last_fired_at: a.last_fired_at,
            });
            book.set(
                &ResourceId::new(Kind::EventRule, &a.rule.name),
                generation,
                update,
            )
            .await;
        }
        if all {
            for b in &self.broken {
                let update = StatusUpdate::new(
                    Phase::Error,
                    vec![Condition::new(
                        "Accepted",
                        false,
                        "InvalidRule",
                        b.error.clone(),
                    )],
                );
                book.set(
                    &ResourceId::new(Kind::EventRule, &b.name),
                    generation,
                    update,
                )
                .await;
            }
            let names: Vec<String> = self
                .rules
                .iter()
                .map(|a| a.rule.name.clone())
                .chain(self.broken.iter().map(|b| b.name.clone()))
                .collect();
            book.retain_kind(Kind::EventRule, &|n| names.iter().any(|x| x == n));
        }
        self.last_status = Some(Instant::now());
    }

    fn status_pending(&self) -> bool {
        self.rules.iter().any(|a| a.status_dirty)
    }

    /// The task: evaluates on every commit, fires timers, follows applies, writes status; on stop it
    /// checkpoints the position it reached and returns `Ok`. A store failure ends it with the error:
    /// what was evaluated since the last checkpoint may not be committed, so the caller reopens the
    /// engine from its checkpoint (as a restart would) rather than carry on from memory.
    pub async fn run(
        mut self,
        mut config: watch::Receiver<Arc<DesiredState>>,
        book: Arc<StatusBook>,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), StoreError> {
        let mut committed = self.bus.subscribe();
        self.publish_status(&book, true).await;
        let mut trigger = "startup";
        loop {
            committed.borrow_and_update();
            let started = Instant::now();
            self.poll().await?;
            self.fire_timers(Timestamp::now()).await?;
            if let Some(h) = &self.health {
                h.ran(trigger, started.elapsed(), Ok(())).await;
            }
            let status_at = self.status_pending().then(|| {
                self.last_status
                    .map_or(Instant::now(), |t| t + STATUS_INTERVAL)
            });
            if status_at.is_some_and(|t| t <= Instant::now()) {
                self.publish_status(&book, false).await;
                continue;
            }
            let deadline = self.next_deadline().map(instant_of);
            let checkpoint_at = (self.position != self.checkpointed)
                .then(|| self.last_checkpoint + IDLE_CHECKPOINT);
            tokio::select! {
                r = committed.changed() => {
                    if r.is_err() { return Ok(()) }
                    trigger = "commit";
                }
                r = config.changed() => {
                    if r.is_err() { return Ok(()) }
                    trigger = "apply";
                    let desired = config.borrow_and_update().clone();
                    if self.apply(&desired) {
                        self.commit(Vec::new()).await?;
                    }
                    self.publish_status(&book, true).await;
                }
                _ = sleep_until(deadline), if deadline.is_some() => trigger = "timer",
                _ = sleep_until(checkpoint_at.map(tokio::time::Instant::from_std)), if checkpoint_at.is_some() => trigger = "checkpoint",
                _ = sleep_until(status_at.map(tokio::time::Instant::from_std)), if status_at.is_some() => trigger = "status",
                _ = crate::shutdown::stopped(&mut stop) => {
                    if self.position != self.checkpointed {
                        let _ = self.commit(Vec::new()).await;
                    }
                    self.publish_status(&book, false).await;
                    return Ok(());
                }
            }
        }
    }
}

/// The stored checkpoint text, read on the blocking pool.
async fn consumer_cursor(bus: &EventBus) -> Result<Option<String>, StoreError> {
    let bus = bus.clone();
    tokio::task::spawn_blocking(move || bus.consumer_cursor(KEY))
        .await
        .map_err(|e| StoreError::Corrupt(format!("checkpoint read failed: {e}")))?
}

/// A commit queued on the store's writer.
type Queued = oneshot::Receiver<Result<u64, String>>;

/// Waits for a queued commit.
async fn settle(queued: Queued) -> Result<(), StoreError> {
    match queued.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(StoreError::Corrupt(e)),
        Err(_) => Err(StoreError::WriterStopped),
    }
}

fn compile_all(desired: &DesiredState, broken: &mut Vec<Broken>) -> Vec<(String, Rule)> {
    let mut out = Vec::new();
    for r in desired.of_kind(Kind::EventRule) {
        let ResourceSpec::EventRule(spec) = &r.spec else {
            continue;
        };
        match Rule::compile(r.name(), spec) {
            Ok(rule) => out.push((r.name().to_string(), rule)),
            Err(error) => {
                tracing::error!(rule = %r.name(), %error, "EventRule cannot run");
                broken.push(Broken {
                    name: r.name().to_string(),
                    error,
                });
            }
        }
    }
    out
}

/// The tokio instant at which the wall clock reads `t`.
fn instant_of(t: Timestamp) -> tokio::time::Instant {
    tokio::time::Instant::now() + Timestamp::now().until(t)
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use routerd_api::manifest::{decode_resources, parse_documents};

    fn desired(yaml: &str) -> DesiredState {
        DesiredState::from_resources(1, decode_resources(parse_documents(yaml).unwrap()).unwrap())
    }

    const WINDOW: &str = r#"
apiVersion: net.routerd.net/v1alpha1
kind: EventRule
metadata: {name: wan-flapping}
spec:
  match: {operator: window, topics: [routerd.healthcheck.state.unhealthy], window: 1m, threshold: 3, correlateBy: resource.name}
  emit: {topic: routerd.virtual.wan.flapping, severity: warning, attributes: {check: "${resource.name}"}}
"#;

    async fn unhealthy(bus: &EventBus, check: &str) {
        bus.publish(
            NewEvent::new(
                "routerd.healthcheck.state.unhealthy",
                Severity::Warning,
                "x",
            )
            .resource("HealthCheck", check)
            .source("routerd-healthcheck", check),
        )
        .await
        .unwrap();
    }

    /// The virtual events `rule` emitted, oldest first.
    fn firings(bus: &EventBus, rule: &str) -> Vec<Event> {
        bus.query(&EventFilter {
            resource: Some(("EventRule".into(), rule.into())),
            limit: 1000,
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .filter(|e| e.source.kind == SOURCE_EVENTRULE)
        .collect()
    }

    async fn open(bus: &EventBus, d: &DesiredState) -> EventRuleEngine {
        EventRuleEngine::open(bus.clone(), d).await.unwrap()
    }

    #[tokio::test]
    async fn window_fires_exactly_once_when_its_matches_are_split_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let bus = EventBus::open(&dir.path().join("routerd.db")).unwrap();
        let d = desired(WINDOW);
        let mut e = open(&bus, &d).await;
        unhealthy(&bus, "isp").await;
        unhealthy(&bus, "other").await;
        unhealthy(&bus, "isp").await;
        e.poll().await.unwrap();
        // The checkpoint covers the first three events; then a crash (the engine is dropped).
        e.commit(Vec::new()).await.unwrap();
        drop(e);

        unhealthy(&bus, "isp").await; // while routerd is down
        let mut e = open(&bus, &d).await;
        assert!(
            firings(&bus, "wan-flapping").is_empty(),
            "replay never emits"
        );
        e.poll().await.unwrap();
        let fired = firings(&bus, "wan-flapping");
        assert_eq!(fired.len(), 1, "{fired:?}");
        let a = &fired[0].attributes;
        assert_eq!(a.get("count").map(String::as_str), Some("3"));
        assert_eq!(a.get("correlation").map(String::as_str), Some("isp"));
        assert_eq!(a.get("check").map(String::as_str), Some("isp"));
        assert_eq!(
            a.get("subject.kind").map(String::as_str),
            Some("HealthCheck")
        );
        assert_eq!(e.fire_count("wan-flapping"), Some(1));

        // A restart after the firing replays all of it without emitting and does not fire again; the
        // fire count survives.
        drop(e);
        let mut e = open(&bus, &d).await;
        e.poll().await.unwrap();
        assert_eq!(firings(&bus, "wan-flapping").len(), 1);
        assert_eq!(e.fire_count("wan-flapping"), Some(1));
        // The window started over at the firing: two more matches are not enough, three are.
        unhealthy(&bus, "isp").await;
        unhealthy(&bus, "isp").await;
        e.poll().await.unwrap();
        assert_eq!(firings(&bus, "wan-flapping").len(), 1);
        drop(e);
        let mut e = open(&bus, &d).await;
        unhealthy(&bus, "isp").await;
        e.poll().await.unwrap();
        assert_eq!(firings(&bus, "wan-flapping").len(), 2);
        assert_eq!(e.fire_count("wan-flapping"), Some(2));
        bus.close();
    }

    #[tokio::test]
    async fn a_crash_before_the_checkpoint_re_evaluates_and_a_crash_after_it_does_not_repeat() {
        let dir = tempfile::tempdir().unwrap();
        let bus = EventBus::open(&dir.path().join("routerd.db")).unwrap();
        let d = desired(WINDOW);
        let mut e = open(&bus, &d).await;
        for _ in 0..2 {
            unhealthy(&bus, "isp").await;
        }
        e.poll().await.unwrap();
        drop(e); // evaluated but not checkpointed (nothing fired, less than a second)
        unhealthy(&bus, "isp").await;
        let mut e = open(&bus, &d).await;
        e.poll().await.unwrap();
        assert_eq!(
            firings(&bus, "wan-flapping").len(),
            1,
            "re-evaluated, fired once"
        );
        drop(e); // the firing was committed with its checkpoint
        let mut e = open(&bus, &d).await;
        e.poll().await.unwrap();
        assert_eq!(firings(&bus, "wan-flapping").len(), 1, "not repeated");
        bus.close();
    }

    #[tokio::test]
    async fn a_pending_debounce_survives_a_restart_and_fires_once() {
        let dir = tempfile::tempdir().unwrap();
        let bus = EventBus::open(&dir.path().join("routerd.db")).unwrap();
        let d = desired(
            r#"
apiVersion: net.routerd.net/v1alpha1
kind: EventRule
metadata: {name: settle}
spec:
  match: {operator: debounce, topics: ["routerd.healthcheck.**"], quiet: 30s, correlateBy: resource.name}
  emit: {topic: routerd.virtual.settled, attributes: {last: "${topic}"}}
"#,
        );
        let mut e = open(&bus, &d).await;
        unhealthy(&bus, "isp").await;
        e.poll().await.unwrap();
        e.commit(Vec::new()).await.unwrap();
        drop(e);
        let mut e = open(&bus, &d).await;
        let due = e.next_deadline().expect("the debounce timer was rebuilt");
        assert_eq!(
            e.fire_timers(due.saturating_sub(Duration::from_secs(1)))
                .await
                .unwrap(),
            0
        );
        assert_eq!(e.fire_timers(due).await.unwrap(), 1);
        let fired = firings(&bus, "settle");
        assert_eq!(fired.len(), 1);
        assert_eq!(
            fired[0].attributes.get("last").map(String::as_str),
            Some("routerd.healthcheck.state.unhealthy")
        );
        // After another restart the recorded firing clears the timer: nothing fires twice.
        drop(e);
        let mut e = open(&bus, &d).await;
        assert_eq!(e.next_deadline(), None);
        assert_eq!(e.fire_timers(due).await.unwrap(), 0);
        bus.close();
    }

    #[tokio::test]
    async fn emitted_events_are_never_fed_back() {
        let dir = tempfile::tempdir().unwrap();
        let bus = EventBus::open(&dir.path().join("routerd.db")).unwrap();
        let d = desired(
            r#"
apiVersion: net.routerd.net/v1alpha1
kind: EventRule
metadata: {name: echo}
spec:
  match: {operator: anyOf, topics: ["routerd.virtual.**"]}
  emit: {topic: routerd.virtual.echo}
"#,
        );
        let mut e = open(&bus, &d).await;
        bus.publish(NewEvent::new("routerd.virtual.start", Severity::Info, "x"))
            .await
            .unwrap();
        for _ in 0..3 {
            e.poll().await.unwrap();
        }
        assert_eq!(firings(&bus, "echo").len(), 1);
        bus.close();
    }

    #[tokio::test]
    async fn a_changed_spec_starts_fresh_and_keeps_the_fire_count() {
        let dir = tempfile::tempdir().unwrap();
        let bus = EventBus::open(&dir.path().join("routerd.db")).unwrap();
        let mut e = open(&bus, &desired(WINDOW)).await;
        for _ in 0..3 {
            unhealthy(&bus, "isp").await;
        }
        unhealthy(&bus, "isp").await;
        e.poll().await.unwrap();
        assert_eq!(e.fire_count("wan-flapping"), Some(1));
        let changed = desired(&WINDOW.replace("threshold: 3", "threshold: 2"));
        assert!(e.apply(&changed));
        assert!(!e.apply(&changed), "same spec again: nothing changes");
        e.commit(Vec::new()).await.unwrap();
        unhealthy(&bus, "isp").await;
        e.poll().await.unwrap();
        assert_eq!(
            e.fire_count("wan-flapping"),
            Some(1),
            "the 4th match is not carried over"
        );
        unhealthy(&bus, "isp").await;
        e.poll().await.unwrap();
        assert_eq!(e.fire_count("wan-flapping"), Some(2));
        drop(e);
        let e = open(&bus, &changed).await;
        assert_eq!(e.fire_count("wan-flapping"), Some(2));
        bus.close();
    }

    use crate::rules::tests::ANY;

    #[tokio::test]
    async fn a_corrupt_event_is_skipped_and_reported_and_later_events_still_fire() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("routerd.db");
        let bus = EventBus::open(&db).unwrap();
        let mut e = open(&bus, &desired(ANY)).await;
        unhealthy(&bus, "a").await;
        unhealthy(&bus, "poison").await;
        unhealthy(&bus, "b").await;
        let poison = bus
            .query(&EventFilter {
                resource: Some(("HealthCheck".into(), "poison".into())),
                limit: 1,
                ..Default::default()
            })
            .unwrap()[0]
            .cursor
            .clone();
        routerd_store::db::open(&db)
            .unwrap()
            .execute_batch(&format!(
                "UPDATE events SET attributes = '{{not json' WHERE cursor = {poison}"
            ))
            .unwrap();
        e.poll()
            .await
            .expect("a corrupt row does not fail the page");
        unhealthy(&bus, "c").await;
        e.poll().await.unwrap();
        assert_eq!(firings(&bus, "each").len(), 3, "a, b and c fire");
        let skipped = bus
            .query(&EventFilter {
                topics: vec![TopicPattern::parse(super::super::TOPIC_EVENT_SKIPPED).unwrap()],
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert_eq!(
            skipped[0].attributes.get("cursor"),
            Some(&poison),
            "the report names the row"
        );
        assert_eq!(e.skipped_events(), 1);
        bus.close();
    }
}
