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

use crate::config::ConfigService;
use crate::controllers::StatusBook;
use crate::events::EventBus;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// `source.kind` of EventRule firings.
pub const SOURCE_EVENTRULE: &str = "routerd-eventrule";
/// `source.kind` of DerivedEvent announcements.
pub const SOURCE_DERIVEDEVENT: &str = "routerd-derivedevent";

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

/// Starts both engines. Each opens its state in its own task (the EventRule engine rebuilds rule state
/// from the store there, so a long replay does not hold up the API); an engine that cannot open its
/// state logs why and does not run, and routerd keeps serving.
pub fn start(
    bus: EventBus,
    config: Arc<ConfigService>,
    status: Arc<StatusBook>,
    stop: watch::Receiver<bool>,
) -> RuleEngines {
    // Subscribe before reading, so an apply in between is not missed.
    let desired_rx = config.subscribe();
    let rules = {
        let (bus, rx, status, stop) = (
            bus.clone(),
            desired_rx.clone(),
            status.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let desired = rx.borrow().clone();
            match engine::EventRuleEngine::open(bus, &desired).await {
                Ok(e) => e.run(rx, status, stop).await,
                Err(e) => {
                    tracing::error!(error = %e, "EventRule engine cannot start: EventRules stay Pending")
                }
            }
        })
    };
    let derived = tokio::spawn(async move {
        let desired = desired_rx.borrow().clone();
        match derived::DerivedEventEngine::open(bus, &desired) {
            Ok(e) => e.run(desired_rx, status, stop).await,
            Err(e) => {
                tracing::error!(error = %e, "DerivedEvent engine cannot start: DerivedEvents stay Pending")
            }
        }
    });
    RuleEngines {
        tasks: vec![rules, derived],
    }
}
