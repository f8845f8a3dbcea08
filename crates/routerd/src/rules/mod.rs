//! Virtual events: `EventRule` (patterns in the event stream) and `DerivedEvent` (a condition over
//! resource status), `events.md`. Two tasks, started by `serve`, each writing the status of its kind
//! itself (phase `Applied`; `fireCount`/`lastFiredAt`, `asserted`/`lastAssertedAt`/`lastRetractedAt`).
//!
//! Decisions worth knowing:
//! - **Subject of an emitted event.** The emitted event's subject is the rule: `resource.kind:
//!   EventRule` (or `DerivedEvent`) and `resource.name: <rule>`, so `GET /events?resource=EventRule/x`
//!   and `routerctl describe eventrule/x` list its firings without a source filter. The subject of the
//!   event a firing carries (the correlated resource, if any) is in `subject.kind` / `subject.name`, and
//!   the correlation key in `correlation`. Templates' `${resource.name}` / `${resource.kind}` refer to
//!   the carried event.
//! - **Engine attributes** of an EventRule firing: `correlation`, `count` (window, count),
//!   `subject.kind`, `subject.name`, `causeCursor` (the carried event) and `firedAtCursor` (how far the
//!   engine had evaluated the stream; replay uses it). Templates may not set these (422 at apply).
//! - **No loops.** Events with `source.kind: routerd-eventrule` are never fed to EventRules, even when
//!   a rule's own topic matches its input. DerivedEvent announcements do feed EventRules (debouncing a
//!   flapping DerivedEvent is a use); DerivedEvents referring to each other in a cycle are refused at
//!   run time (phase `Error`).
//! - **Exactly once across restarts.** The EventRule engine consumes the store from a checkpoint (meta
//!   `consumer:eventrule`) written in the same transaction as its virtual events; at start-up each rule's
//!   state is rebuilt by replaying, without emitting, the stored events within its horizon
//!   (`replay.rs`). Fire counts live in the checkpoint too, so they survive restarts and retention.
//!   DerivedEvent truths are stored the same way (meta `derivedevent:state`).
//! - **Time.** Operators use each event's own `time`; timers (debounce, absence, throttle) fire by the
//!   wall clock, from a tokio timer in the engine task.
//! - **A changed spec is a new rule**: its state starts empty at the current position (the fire count is
//!   kept). A new rule does not look at events from before it existed.

pub mod checkpoint;
pub mod correlation;
pub mod derived;
pub mod engine;
pub mod hysteresis;
pub mod operators;
pub mod replay;
pub mod rule;
pub mod template;

use crate::config::{ConfigService, DesiredState};
use crate::controllers::runtime::TaskHealth;
use crate::controllers::status_book::StatusUpdate;
use crate::controllers::{ControllerRuntime, StatusBook};
use crate::events::EventBus;
use routerd_api::{Condition, Kind, Phase, ResourceId};
use routerd_store::StoreError;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// `source.kind` of EventRule firings.
pub const SOURCE_EVENTRULE: &str = "routerd-eventrule";
/// `source.kind` of DerivedEvent announcements.
pub const SOURCE_DERIVEDEVENT: &str = "routerd-derivedevent";
/// Topic of the report of a stored event the EventRule engine could not read and skipped.
pub const TOPIC_EVENT_SKIPPED: &str = "routerd.rules.event.skipped";

/// Longest wait before an engine that failed is reopened.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// An engine that ran this long before failing starts its backoff over.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// The running engines.
pub struct RuleEngines {
    tasks: Vec<JoinHandle<()>>,
}

impl RuleEngines {
    /// Waits for the engines to finish after `stop` fired (they checkpoint on the way out).
    pub async fn join(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Where the engines' runs and failures show: as `eventrule` and `derivedevent` among the controllers
/// of `/controllers` and `/status`, with the same counters and `reconcile.failed`/`recovered` events.
pub struct EngineHealth {
    pub rules: TaskHealth,
    pub derived: TaskHealth,
}

impl EngineHealth {
    /// Both engines' bookkeeping, not yet shown anywhere ([`EngineHealth::register`] shows it).
    pub fn new(bus: &EventBus) -> EngineHealth {
        EngineHealth {
            rules: TaskHealth::new("eventrule", &[Kind::EventRule], bus.clone()),
            derived: TaskHealth::new("derivedevent", &[Kind::DerivedEvent], bus.clone()),
        }
    }

    /// Shows both engines in `runtime`'s controller list.
    pub fn register(&self, runtime: &ControllerRuntime) {
        runtime.register(self.rules.clone());
        runtime.register(self.derived.clone());
    }
}

/// Starts both engines. Each opens its state in its own task (the EventRule engine rebuilds rule state
/// from the store there, so a long replay does not hold up the API). An engine the store fails is not
/// lost: the failure shows in `health` and in its resources' status (reason `StoreError`), and it is
/// reopened from its stored state after a backoff.
pub fn start(
    bus: EventBus,
    config: Arc<ConfigService>,
    status: Arc<StatusBook>,
    health: EngineHealth,
    stop: watch::Receiver<bool>,
) -> RuleEngines {
    // Subscribe before reading, so an apply in between is not missed.
    let desired_rx = config.subscribe();
    let EngineHealth {
        rules: rules_health,
        derived: derived_health,
    } = health;
    let rules = {
        let (bus, rx, book, stop, health) = (
            bus.clone(),
            desired_rx.clone(),
            status.clone(),
            stop.clone(),
            rules_health.clone(),
        );
        tokio::spawn(keep_running(
            Kind::EventRule,
            rules_health,
            desired_rx.clone(),
            status.clone(),
            stop.clone(),
            move || {
                let (bus, rx, book, stop, health) = (
                    bus.clone(),
                    rx.clone(),
                    book.clone(),
                    stop.clone(),
                    health.clone(),
                );
                async move {
                    let desired = rx.borrow().clone();
                    let engine = engine::EventRuleEngine::open(bus, &desired)
                        .await?
                        .with_health(health);
                    engine.run(rx, book, stop).await
                }
            },
        ))
    };
    let derived = {
        let (rx, book, stop2, health) = (
            desired_rx.clone(),
            status.clone(),
            stop.clone(),
            derived_health.clone(),
        );
        tokio::spawn(keep_running(
            Kind::DerivedEvent,
            derived_health,
            desired_rx,
            status,
            stop,
            move || {
                let (bus, rx, book, stop, health) = (
                    bus.clone(),
                    rx.clone(),
                    book.clone(),
                    stop2.clone(),
                    health.clone(),
                );
                async move {
                    let desired = rx.borrow().clone();
                    let engine = derived::DerivedEventEngine::open(bus, &desired)?;
                    engine.run(rx, book, stop, Some(health)).await
                }
            },
        ))
    };
    RuleEngines {
        tasks: vec![rules, derived],
    }
}

/// Runs an engine (`attempt` opens and runs it) until `stop`. After a store failure the failure is
/// shown (in `health`, and in the status of every resource of `kind`, reason `StoreError`), and the
/// engine is reopened from its stored state after a backoff of 1 s doubling to [`MAX_BACKOFF`].
async fn keep_running<F, Fut>(
    kind: Kind,
    health: TaskHealth,
    config: watch::Receiver<Arc<DesiredState>>,
    book: Arc<StatusBook>,
    mut stop: watch::Receiver<bool>,
    mut attempt: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), StoreError>>,
{
    let mut failures: u32 = 0;
    loop {
        let started = Instant::now();
        let error = match attempt().await {
            Ok(()) => return,
            Err(e) => e.to_string(),
        };
        if *stop.borrow() {
            return;
        }
        if started.elapsed() >= HEALTHY_RUN {
            failures = 0;
        }
        let trigger = if failures == 0 { "startup" } else { "retry" };
        failures = failures.saturating_add(1);
        let message = format!("the {kind} engine stopped on a store error and is retried: {error}");
        tracing::error!(%kind, error = %error, failures, "rule engine failed; retrying");
        health.ran(trigger, started.elapsed(), Err(&message)).await;
        show_failure(kind, &config, &book, &message).await;
        let backoff = Duration::from_secs(1 << failures.saturating_sub(1).min(5)).min(MAX_BACKOFF);
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = crate::shutdown::stopped(&mut stop) => return,
        }
    }
}

/// Every desired resource of `kind` shows the engine's failure until the engine runs again.
async fn show_failure(
    kind: Kind,
    config: &watch::Receiver<Arc<DesiredState>>,
    book: &StatusBook,
    message: &str,
) {
    let desired = config.borrow().clone();
    for r in desired.of_kind(kind) {
        let update = StatusUpdate::new(
            Phase::Error,
            vec![Condition::new("Evaluating", false, "StoreError", message)],
        );
        book.set(&ResourceId::new(kind, r.name()), desired.generation, update)
            .await;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use routerd_api::control::ApplyRequest;
    use routerd_api::event::NewEvent;
    use routerd_api::topic::TopicPattern;
    use routerd_api::{Kind, ResourceId, Severity};
    use routerd_store::{EventFilter, Ledger, StateStore};
    use std::time::Duration;

    /// An EventRule firing on every unhealthy health check, shared by the rule engine tests.
    pub(crate) const ANY: &str = r#"
apiVersion: net.routerd.net/v1alpha1
kind: EventRule
metadata: {name: each}
spec:
  match: {operator: anyOf, topics: [routerd.healthcheck.state.unhealthy]}
  emit: {topic: routerd.virtual.each}
"#;

    async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
        for _ in 0..400 {
            if check() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("never happened: {what}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_eventrule_engine_survives_a_store_failure_and_reports_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("routerd.db");
        let bus = EventBus::open(&db).unwrap();
        let config =
            Arc::new(ConfigService::open(Ledger::open(&db).unwrap(), bus.clone()).unwrap());
        config
            .apply(
                ApplyRequest {
                    manifest: Some(ANY.into()),
                    ..Default::default()
                },
                true,
            )
            .await
            .unwrap();
        let state = Arc::new(StateStore::open(&db, bus.store().clone()).unwrap());
        let book = Arc::new(StatusBook::load(state, bus.clone()));
        let (stop_tx, stop) = watch::channel(false);
        let health = EngineHealth::new(&bus);
        let engines = start(
            bus.clone(),
            config.clone(),
            book.clone(),
            EngineHealth {
                rules: health.rules.clone(),
                derived: health.derived.clone(),
            },
            stop,
        );
        let rule = ResourceId::new(Kind::EventRule, "each");
        let reason = |book: &StatusBook| book.get(&rule).map(|s| s.reason().0);
        eventually("the rule runs", || {
            reason(&book).as_deref() == Some("RuleActive")
        })
        .await;

        // The engine's checkpoint cannot be written: its first firing fails to commit.
        let other = routerd_store::db::open(&db).unwrap();
        other
            .execute_batch(
                "CREATE TRIGGER no_checkpoint BEFORE UPDATE ON meta WHEN NEW.key = 'consumer:eventrule'
                 BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
            )
            .unwrap();
        let unhealthy = || {
            NewEvent::new(
                "routerd.healthcheck.state.unhealthy",
                Severity::Warning,
                "x",
            )
            .resource("HealthCheck", "isp")
        };
        bus.publish(unhealthy()).await.unwrap();
        eventually("the failure shows in the rule's status", || {
            reason(&book).as_deref() == Some("StoreError")
        })
        .await;
        let failing = health.rules.status();
        assert_eq!(failing.current_error, Some(true), "{failing:?}");
        assert!(
            failing
                .last_error
                .as_deref()
                .unwrap_or("")
                .contains("injected failure"),
            "{failing:?}"
        );
        other.execute_batch("DROP TRIGGER no_checkpoint").unwrap();

        // Retried: the event that failed fires once, and later ones too.
        let fired = || {
            bus.query(&EventFilter {
                topics: vec![TopicPattern::parse("routerd.virtual.each").unwrap()],
                limit: 10,
                ..Default::default()
            })
            .unwrap()
            .len()
        };
        eventually("the engine recovers and fires", || fired() == 1).await;
        bus.publish(unhealthy()).await.unwrap();
        eventually("a later event fires", || fired() == 2).await;
        eventually("the rule is active again", || {
            reason(&book).as_deref() == Some("RuleActive")
        })
        .await;
        let recovered = health.rules.status();
        assert_eq!(recovered.current_error, Some(false), "{recovered:?}");
        assert_eq!(recovered.reconcile_error_count, Some(1), "{recovered:?}");
        let _ = stop_tx.send(true);
        engines.join().await;
        bus.close();
    }
}
