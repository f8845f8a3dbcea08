//! The controller runtime: one task per controller, woken by `startup`, `periodic`, `apply`, an event
//! topic, or `netlink` (the kernel reported a change of links, addresses or routes). Triggers that
//! arrive while a reconcile runs are coalesced into one follow-up run. Counters and durations are
//! measured here, once, for every controller.
//!
//! Wake-up paths (each arrow is a task of this module feeding one controller's trigger channel):
//!
//! ```text
//!  ControllerRuntime::start ------------------------------ "startup" ----------------+
//!  ConfigService (watch of the desired state) --- wake_on_apply --- "apply" ---------+
//!  EventBus (watch of the committed cursor) ----- wake_on_topics -- "<topic>" -------+
//!      query_async on the blocking pool, rows after the last seen cursor only        |
//!  StatusBook (broadcast of changed kinds) ------ wake_on_status -- "status:<Kind>" -+
//!      only the kinds in Controller::status_inputs                                   |
//!  NetHost::watch_changes (rtnetlink) ----------- wake_on_host ---- "netlink" -------+
//!      debounced 50 ms, only controllers whose watches_host is true                  |
//!                                                                                    v
//!                    mpsc channel (64) --> run_controller: coalesce triggers, reconcile(ctx)
//!                                            ^                 |
//!              "periodic" (sleep until next_due)               +--> Requeue(d) / Idle / error
//!                                            +--------------------  backoff sets next_due
//! ```
//!
//! A full channel drops the trigger (`try_send`): a run is already due and will see the latest state.

use super::status_book::StatusBook;
use crate::config::{ConfigService, DesiredState};
use crate::events::EventBus;
use routerd_api::control::ControllerStatus;
use routerd_api::event::{topics, NewEvent};
use routerd_api::topic::TopicPattern;
use routerd_api::{GoDuration, Kind, Severity, Timestamp};
use routerd_host::{Ipv4Address, Ipv6Address, Link, NetHost};
use routerd_store::{EventFilter, StateStore};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// What a reconcile asks of the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Run again after this long (capped by the periodic interval).
    Requeue(Duration),
    /// Nothing pending: run at the next periodic resync or trigger.
    Idle,
}

/// A reconcile that could not do its job at all (as opposed to one resource being in `Error`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ReconcileError(pub String);

pub type ReconcileFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Action, ReconcileError>> + Send + 'a>>;

/// Everything a reconcile may read or change.
pub struct Context {
    pub desired: Arc<DesiredState>,
    pub host: Arc<dyn NetHost>,
    pub status: Arc<StatusBook>,
    pub bus: EventBus,
    pub state: Arc<StateStore>,
    pub supervisor: Arc<crate::supervisor::Supervisor>,
    pub trigger: String,
}

/// The host reads most reconciles start with. Without them no resource can be judged, so a failure
/// fails the whole reconcile (the runtime retries it) rather than one resource.
impl Context {
    pub async fn links(&self) -> Result<Vec<Link>, ReconcileError> {
        self.host
            .links()
            .await
            .map_err(|e| ReconcileError(format!("cannot list links: {e}")))
    }

    pub async fn ipv4_addresses(&self) -> Result<Vec<Ipv4Address>, ReconcileError> {
        self.host
            .ipv4_addresses()
            .await
            .map_err(|e| ReconcileError(format!("cannot list addresses: {e}")))
    }

    pub async fn ipv6_addresses(&self) -> Result<Vec<Ipv6Address>, ReconcileError> {
        self.host
            .ipv6_addresses()
            .await
            .map_err(|e| ReconcileError(format!("cannot list IPv6 addresses: {e}")))
    }

    /// Publishes an event about resource `kind`/`name` that this reconcile caused. A store failure is
    /// only logged: what the event reports has happened, and the resource's status shows it.
    pub async fn emit<V: AsRef<str>>(
        &self,
        kind: Kind,
        topic: &str,
        name: &str,
        message: String,
        attrs: &[(&str, V)],
    ) {
        let mut ev = NewEvent::new(topic, Severity::Info, message).resource(kind.as_str(), name);
        for (k, v) in attrs {
            ev = ev.attr(k, v.as_ref());
        }
        if let Err(e) = self.bus.publish(ev).await {
            tracing::warn!(error = %e, topic, "{kind} event could not be stored");
        }
    }
}

pub trait Controller: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    /// Kinds whose status this controller writes.
    fn kinds(&self) -> &'static [Kind];
    /// Kinds whose changes should wake it (its own plus those it reads).
    fn input_kinds(&self) -> &'static [Kind] {
        self.kinds()
    }
    /// Kinds whose *status* it reads (from the status book): it is woken after their writer updates
    /// them (trigger `status:<Kind>`), so it never acts on the status the writer is about to replace.
    fn status_inputs(&self) -> &'static [Kind] {
        &[]
    }
    /// Event topics (patterns) that wake it.
    fn wake_topics(&self) -> &'static [&'static str] {
        &[]
    }
    /// Woken by kernel link/address/route changes.
    fn watches_host(&self) -> bool {
        false
    }
    fn reconcile<'a>(&'a self, ctx: &'a Context) -> ReconcileFuture<'a>;
}

/// Runtime observations of one controller; `None` until it has run.
#[derive(Debug, Default, Clone)]
struct Stats {
    last_trigger: Option<String>,
    last_reconcile_time: Option<Timestamp>,
    next_reconcile_time: Option<Timestamp>,
    reconcile_count: u64,
    error_count: u64,
    consecutive_errors: u64,
    current_error: Option<bool>,
    last_duration: Option<Duration>,
    max_duration: Option<Duration>,
    total_duration: Duration,
    last_error: Option<String>,
    last_error_time: Option<Timestamp>,
    last_error_cleared_at: Option<Timestamp>,
    /// Stored events a rule engine could not decode and passed over.
    skipped_events: u64,
}

impl Stats {
    /// Books one run of `name` and returns the event it is worth: `reconcile.failed` for a failure,
    /// `reconcile.recovered` for the first success after failures.
    fn record(
        &mut self,
        name: &str,
        trigger: String,
        took: Duration,
        result: Result<(), &str>,
    ) -> Option<NewEvent> {
        let now = Timestamp::now();
        self.last_trigger = Some(trigger);
        self.last_reconcile_time = Some(now);
        self.last_duration = Some(took);
        self.max_duration = Some(self.max_duration.map_or(took, |m| m.max(took)));
        match result {
            Ok(()) => {
                self.reconcile_count += 1;
                self.total_duration += took;
                let recovered = self.consecutive_errors > 0;
                self.consecutive_errors = 0;
                self.current_error = Some(false);
                recovered.then(|| {
                    self.last_error_cleared_at = Some(now);
                    NewEvent::new(
                        topics::RECONCILE_RECOVERED,
                        Severity::Info,
                        format!("controller {name} recovered"),
                    )
                    .attr("controller", name)
                })
            }
            Err(error) => {
                self.error_count += 1;
                self.consecutive_errors += 1;
                self.current_error = Some(true);
                self.last_error = Some(error.to_string());
                self.last_error_time = Some(now);
                tracing::warn!(controller = name, %error, consecutive = self.consecutive_errors, "reconcile failed");
                Some(
                    NewEvent::new(
                        topics::RECONCILE_FAILED,
                        Severity::Error,
                        format!("controller {name} failed: {error}"),
                    )
                    .attr("controller", name)
                    .attr("error", error)
                    .attr("consecutiveErrors", self.consecutive_errors.to_string()),
                )
            }
        }
    }
}

/// The runtime bookkeeping of a task that is not a controller but is shown as one in `/controllers`
/// and `/status` (the rule engines): same fields, same `reconcile.failed`/`recovered` events, so a
/// stopped or failing engine is as visible as a failing controller.
#[derive(Clone)]
pub struct TaskHealth {
    name: &'static str,
    kinds: &'static [Kind],
    stats: Arc<Mutex<Stats>>,
    bus: EventBus,
}

impl TaskHealth {
    /// `name` and `kinds` are what the task shows as in the controller list; its events go to `bus`.
    pub fn new(name: &'static str, kinds: &'static [Kind], bus: EventBus) -> TaskHealth {
        TaskHealth {
            name,
            kinds,
            stats: Arc::default(),
            bus,
        }
    }

    fn stats(&self) -> std::sync::MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Books one run (`Err` carries the failure) and records the event it is worth.
    pub async fn ran(&self, trigger: &str, took: Duration, result: Result<(), &str>) {
        let event = self
            .stats()
            .record(self.name, trigger.to_string(), took, result);
        if let Some(ev) = event {
            if let Err(e) = self.bus.publish(ev).await {
                tracing::warn!(error = %e, "controller event could not be stored");
            }
        }
    }

    /// Counts a stored event that was passed over because it could not be decoded.
    pub fn skipped_event(&self) {
        self.stats().skipped_events += 1;
    }

    /// The task as a `ControllerStatus` (no periodic interval: tasks are not resynced).
    pub fn status(&self) -> ControllerStatus {
        let s = self.stats().clone();
        project(self.name, self.kinds, &s, None)
    }
}

struct Handle {
    controller: Arc<dyn Controller>,
    stats: Arc<Mutex<Stats>>,
    trigger: mpsc::Sender<String>,
}

/// Owns the controller tasks.
pub struct ControllerRuntime {
    handles: Vec<Handle>,
    interval: Duration,
    /// Tasks shown alongside the controllers ([`ControllerRuntime::register`]).
    tasks: Mutex<Vec<TaskHealth>>,
}

/// Shared inputs of every controller task.
#[derive(Clone)]
pub struct RuntimeDeps {
    pub config: Arc<ConfigService>,
    pub host: Arc<dyn NetHost>,
    pub status: Arc<StatusBook>,
    pub bus: EventBus,
    pub state: Arc<StateStore>,
    pub supervisor: Arc<crate::supervisor::Supervisor>,
}

impl ControllerRuntime {
    /// Starts every controller (first run has trigger `startup`) and the tasks that wake them.
    pub fn start(
        controllers: Vec<Arc<dyn Controller>>,
        deps: RuntimeDeps,
        interval: Duration,
        stop: watch::Receiver<bool>,
    ) -> ControllerRuntime {
        let mut handles = Vec::new();
        for c in controllers {
            let (tx, rx) = mpsc::channel(64);
            let stats = Arc::new(Mutex::new(Stats::default()));
            let _ = tx.try_send("startup".to_string());
            tokio::spawn(run_controller(
                c.clone(),
                deps.clone(),
                stats.clone(),
                rx,
                interval,
                stop.clone(),
            ));
            if !c.status_inputs().is_empty() {
                tokio::spawn(wake_on_status(
                    c.status_inputs().to_vec(),
                    deps.status.kind_changes(),
                    tx.clone(),
                    stop.clone(),
                ));
            }
            if !c.wake_topics().is_empty() {
                tokio::spawn(wake_on_topics(
                    c.clone(),
                    deps.bus.clone(),
                    tx.clone(),
                    stop.clone(),
                ));
            }
            handles.push(Handle {
                controller: c,
                stats,
                trigger: tx,
            });
        }
        let rt = ControllerRuntime {
            handles,
            interval,
            tasks: Mutex::default(),
        };
        tokio::spawn(wake_on_apply(
            deps.config.subscribe(),
            rt.triggers(|c| c.input_kinds().to_vec()),
            stop.clone(),
        ));
        let host_triggers: Vec<mpsc::Sender<String>> = rt
            .handles
            .iter()
            .filter(|h| h.controller.watches_host())
            .map(|h| h.trigger.clone())
            .collect();
        tokio::spawn(wake_on_host(deps.host.clone(), host_triggers, stop));
        rt
    }

    fn triggers(
        &self,
        kinds: impl Fn(&dyn Controller) -> Vec<Kind>,
    ) -> Vec<(Vec<Kind>, mpsc::Sender<String>)> {
        self.handles
            .iter()
            .map(|h| (kinds(h.controller.as_ref()), h.trigger.clone()))
            .collect()
    }

    /// Shows `task` in [`ControllerRuntime::statuses`] from now on.
    pub fn register(&self, task: TaskHealth) {
        self.tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(task);
    }

    /// `ControllerStatus` of every controller and registered task, sorted by name.
    pub fn statuses(&self) -> Vec<ControllerStatus> {
        let mut out: Vec<ControllerStatus> = self
            .handles
            .iter()
            .map(|h| {
                let s = h.stats.lock().map(|s| s.clone()).unwrap_or_default();
                let c = h.controller.as_ref();
                project(c.name(), c.kinds(), &s, Some(self.interval))
            })
            .collect();
        out.extend(
            self.tasks
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .map(TaskHealth::status),
        );
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// True once every controller has finished its first reconcile (successful or not): the moment
    /// routerd tells systemd it is ready, so "started" means the host was looked at, not only that the
    /// sockets exist.
    pub fn every_controller_ran(&self) -> bool {
        self.handles.iter().all(|h| {
            h.stats
                .lock()
                .map(|s| s.reconcile_count > 0)
                .unwrap_or(true)
        })
    }

    /// Kinds some controller reconciles (others show as waiting for their controller).
    pub fn handled_kinds(&self) -> Vec<Kind> {
        self.handles
            .iter()
            .flat_map(|h| h.controller.kinds().iter().copied())
            .collect()
    }
}

/// `interval` is the periodic resync, for controllers (tasks have none).
fn project(name: &str, kinds: &[Kind], s: &Stats, interval: Option<Duration>) -> ControllerStatus {
    let ran = s.reconcile_count > 0 || s.error_count > 0;
    let dur = |d: Option<Duration>| d.map(GoDuration);
    let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
    let runs = s.reconcile_count;
    let avg = if runs > 0 {
        Some(s.total_duration / runs as u32)
    } else {
        None
    };
    ControllerStatus {
        name: name.to_string(),
        mode: "live".to_string(),
        resource_kinds: kinds.iter().map(|k| k.as_str().to_string()).collect(),
        interval: interval.filter(|_| ran).map(GoDuration),
        interval_millis: interval.filter(|_| ran).map(|i| i.as_secs_f64() * 1000.0),
        last_trigger: s.last_trigger.clone(),
        last_reconcile_time: s.last_reconcile_time,
        next_reconcile_time: s.next_reconcile_time,
        reconcile_count: ran.then_some(s.reconcile_count),
        reconcile_error_count: ran.then_some(s.error_count),
        consecutive_error_count: ran.then_some(s.consecutive_errors),
        current_error: s.current_error,
        last_duration: dur(s.last_duration),
        last_duration_millis: ms(s.last_duration),
        max_duration: dur(s.max_duration),
        max_duration_millis: ms(s.max_duration),
        average_duration: dur(avg),
        average_duration_millis: ms(avg),
        last_error: s.last_error.clone(),
        last_error_time: s.last_error_time,
        last_error_cleared_at: s.last_error_cleared_at,
        skipped_event_count: (s.skipped_events > 0).then_some(s.skipped_events),
    }
}

/// Backoff after a failed reconcile: 1s, 2s, 4s ... capped by the interval.
fn error_backoff(consecutive: u64, interval: Duration) -> Duration {
    let exp = consecutive.saturating_sub(1).min(6) as u32;
    Duration::from_secs(1u64 << exp).min(interval)
}

async fn run_controller(
    c: Arc<dyn Controller>,
    deps: RuntimeDeps,
    stats: Arc<Mutex<Stats>>,
    mut rx: mpsc::Receiver<String>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut next_due = tokio::time::Instant::now() + interval;
    loop {
        let trigger = tokio::select! {
            t = rx.recv() => match t { Some(t) => t, None => return },
            _ = tokio::time::sleep_until(next_due) => "periodic".to_string(),
            _ = crate::shutdown::stopped(&mut stop) => return,
        };
        // Coalesce whatever else arrived; the last trigger names the run.
        let mut trigger = trigger;
        while let Ok(t) = rx.try_recv() {
            if trigger != "startup" {
                trigger = t;
            }
        }
        let ctx = Context {
            desired: deps.config.current(),
            host: deps.host.clone(),
            status: deps.status.clone(),
            bus: deps.bus.clone(),
            state: deps.state.clone(),
            supervisor: deps.supervisor.clone(),
            trigger: trigger.clone(),
        };
        let started = Instant::now();
        let result = c.reconcile(&ctx).await;
        let took = started.elapsed();
        let (delay, event) = {
            let mut s = match stats.lock() {
                Ok(s) => s,
                Err(p) => p.into_inner(),
            };
            let delay = match &result {
                Ok(Action::Requeue(d)) => (*d).min(interval),
                Ok(Action::Idle) => interval,
                Err(_) => error_backoff(s.consecutive_errors + 1, interval),
            };
            let outcome = result.as_ref().map(|_| ()).map_err(|e| e.0.as_str());
            (delay, s.record(c.name(), trigger, took, outcome))
        };
        let now = Timestamp::now();
        next_due = tokio::time::Instant::now() + delay;
        if let Ok(mut s) = stats.lock() {
            s.next_reconcile_time = Some(now.saturating_add(delay));
        }
        if let Some(ev) = event {
            if let Err(e) = deps.bus.publish(ev).await {
                tracing::warn!(error = %e, "controller event could not be stored");
            }
        }
    }
}

/// Wakes controllers whose input kinds changed in a new generation.
async fn wake_on_apply(
    mut desired: watch::Receiver<Arc<DesiredState>>,
    targets: Vec<(Vec<Kind>, mpsc::Sender<String>)>,
    mut stop: watch::Receiver<bool>,
) {
    let mut previous = desired.borrow_and_update().clone();
    loop {
        tokio::select! {
            r = desired.changed() => if r.is_err() { return },
            _ = crate::shutdown::stopped(&mut stop) => return,
        }
        let next = desired.borrow_and_update().clone();
        for (kinds, tx) in &targets {
            let changed = kinds.iter().any(|k| {
                let a: Vec<_> = previous.of_kind(*k).collect();
                let b: Vec<_> = next.of_kind(*k).collect();
                a != b
            });
            if changed {
                let _ = tx.try_send("apply".to_string());
            }
        }
        previous = next;
    }
}

/// Wakes a controller when an event matching one of its topics is committed; the trigger is the topic.
async fn wake_on_topics(
    c: Arc<dyn Controller>,
    bus: EventBus,
    tx: mpsc::Sender<String>,
    mut stop: watch::Receiver<bool>,
) {
    let patterns: Vec<TopicPattern> = c
        .wake_topics()
        .iter()
        .filter_map(|p| TopicPattern::parse(p).ok())
        .collect();
    let mut rx = bus.subscribe();
    let mut cursor = bus.last_cursor().await.unwrap_or(0);
    loop {
        tokio::select! {
            r = rx.changed() => if r.is_err() { return },
            _ = crate::shutdown::stopped(&mut stop) => return,
        }
        let filter = EventFilter {
            since: cursor,
            topics: patterns.clone(),
            limit: 1000,
            latest: true,
            ..Default::default()
        };
        // After every commit: on the blocking pool, never on the workers the controllers run on.
        if let Ok(events) = bus.query_async(&filter).await {
            if let Some(last) = events.last() {
                cursor = last.cursor.parse().unwrap_or(cursor);
                let _ = tx.try_send(last.topic.clone());
            }
        }
        let _ = rx.borrow_and_update();
    }
}

/// Wakes a controller when the status of a kind it reads ([`Controller::status_inputs`]) changes; the
/// trigger is `status:<Kind>`. This orders readers after writers: a controller that acts on another
/// resource's status sees the new status, where waking on the same daemon event could race its writer.
async fn wake_on_status(
    kinds: Vec<Kind>,
    mut changes: tokio::sync::broadcast::Receiver<Kind>,
    tx: mpsc::Sender<String>,
    mut stop: watch::Receiver<bool>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let kind = tokio::select! {
            r = changes.recv() => match r {
                Ok(k) if kinds.contains(&k) => k,
                Ok(_) => continue,
                // Missed some: any of ours may be among them.
                Err(RecvError::Lagged(_)) => match kinds.first() {
                    Some(k) => *k,
                    None => return,
                },
                Err(RecvError::Closed) => return,
            },
            _ = crate::shutdown::stopped(&mut stop) => return,
        };
        let _ = tx.try_send(format!("status:{}", kind.as_str()));
    }
}

/// Wakes host-watching controllers on kernel change notifications, debounced by 50 ms so a burst of
/// netlink messages costs one reconcile.
async fn wake_on_host(
    host: Arc<dyn NetHost>,
    targets: Vec<mpsc::Sender<String>>,
    mut stop: watch::Receiver<bool>,
) {
    if targets.is_empty() {
        return;
    }
    let mut changes = host.watch_changes();
    loop {
        tokio::select! {
            m = changes.recv() => if m.is_none() { return },
            _ = crate::shutdown::stopped(&mut stop) => return,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        while changes.try_recv().is_ok() {}
        for tx in &targets {
            let _ = tx.try_send("netlink".to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::Fixture;
    use super::*;
    use crate::config::ConfigService;
    use routerd_store::Ledger;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Fails its first `failures` reconciles, then succeeds.
    struct Flaky {
        failures: u32,
        calls: AtomicU32,
    }

    impl Controller for Flaky {
        fn name(&self) -> &'static str {
            "flaky"
        }
        fn kinds(&self) -> &'static [Kind] {
            &[Kind::EventRule]
        }
        fn reconcile<'a>(&'a self, _ctx: &'a Context) -> ReconcileFuture<'a> {
            Box::pin(async move {
                let n = self.calls.fetch_add(1, Ordering::SeqCst);
                if n < self.failures {
                    Err(ReconcileError(format!("failure {n}")))
                } else {
                    Ok(Action::Idle)
                }
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn counters_follow_the_seed_semantics() {
        let f = Fixture::new();
        let bus = f.bus.clone();
        let config =
            Arc::new(ConfigService::open(Ledger::open(&f.db()).unwrap(), bus.clone()).unwrap());
        let deps = f.deps(config);
        let (_stop_tx, stop) = watch::channel(false);
        let flaky = Arc::new(Flaky {
            failures: 3,
            calls: AtomicU32::new(0),
        });
        let interval = Duration::from_secs(30);

        // Before the first run every runtime field is absent.
        let rt = ControllerRuntime {
            handles: vec![Handle {
                controller: flaky.clone(),
                stats: Default::default(),
                trigger: mpsc::channel(1).0,
            }],
            interval,
            tasks: Mutex::default(),
        };
        let before = serde_json::to_value(&rt.statuses()[0]).unwrap();
        let keys: Vec<&String> = before.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["mode", "name", "resourceKinds"], "{before}");

        let rt = ControllerRuntime::start(vec![flaky.clone()], deps, interval, stop);
        // startup fails, then backoff 1s, 2s: three failures, then success at the fourth run.
        let wait_until = |pred: fn(&ControllerStatus) -> bool| {
            let rt = &rt;
            async move {
                for _ in 0..300 {
                    let s = rt.statuses().remove(0);
                    if pred(&s) {
                        return s;
                    }
                    // Virtual time races ahead; the event writer is a real thread and needs real time.
                    std::thread::sleep(Duration::from_millis(2));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                panic!("condition never reached: {:?}", rt.statuses());
            }
        };
        let failing = wait_until(|s| s.reconcile_error_count == Some(2)).await;
        assert_eq!(failing.current_error, Some(true));
        assert_eq!(failing.consecutive_error_count, Some(2));
        assert_eq!(failing.reconcile_error_count, Some(2));
        assert!(failing.last_error_cleared_at.is_none());
        let ok = wait_until(|s| s.reconcile_count == Some(1)).await;
        assert_eq!(ok.current_error, Some(false));
        assert_eq!(ok.consecutive_error_count, Some(0));
        assert_eq!(
            ok.reconcile_error_count,
            Some(3),
            "cumulative errors never decrease"
        );
        assert_eq!(ok.reconcile_count, Some(1));
        assert_eq!(
            ok.last_error.as_deref(),
            Some("failure 2"),
            "the last error is kept after recovery"
        );
        assert!(ok.last_error_cleared_at.is_some());
        assert_eq!(ok.interval, Some(GoDuration(interval)));
        assert!(ok.next_reconcile_time.is_some());
        bus.flush().await;
        let events = bus
            .query(&EventFilter {
                limit: 100,
                topics: vec![TopicPattern::parse("routerd.controller.**").unwrap()],
                ..Default::default()
            })
            .unwrap();
        let topics: Vec<&str> = events.iter().map(|e| e.topic.as_str()).collect();
        assert_eq!(
            topics,
            [
                topics::RECONCILE_FAILED,
                topics::RECONCILE_FAILED,
                topics::RECONCILE_FAILED,
                topics::RECONCILE_RECOVERED
            ]
        );
    }
}

/// A controller context over the fake host with routerd's real store, status book, event bus and
/// supervisor in a temporary directory: the fixture of controller unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::supervisor::{Supervisor, SupervisorConfig};
    use routerd_api::Resource;
    use routerd_host::FakeHost;
    use std::path::PathBuf;

    pub struct Fixture {
        pub dir: tempfile::TempDir,
        pub host: Arc<FakeHost>,
        pub bus: EventBus,
        pub state: Arc<StateStore>,
        pub status: Arc<StatusBook>,
        pub supervisor: Arc<Supervisor>,
        pub desired: Arc<DesiredState>,
        _stop: watch::Sender<bool>,
    }

    /// A resource of `kind` in the net API group.
    pub fn resource(kind: &str, name: &str, spec: serde_json::Value) -> Resource {
        Resource::from_value(serde_json::json!({
            "apiVersion": "net.routerd.net/v1alpha1", "kind": kind,
            "metadata": {"name": name}, "spec": spec
        }))
        .expect("a valid test resource")
    }

    impl Fixture {
        /// An empty host and desired state.
        pub fn new() -> Fixture {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let db = dir.path().join("routerd.db");
            let bus = EventBus::open(&db).expect("the event store opens");
            let state =
                Arc::new(StateStore::open(&db, bus.store().clone()).expect("the state opens"));
            let status = Arc::new(StatusBook::load(state.clone(), bus.clone()));
            let (stop_tx, stop) = watch::channel(false);
            let supervisor = Arc::new(Supervisor::new(
                SupervisorConfig {
                    runtime_dir: dir.path().join("run"),
                    state_dir: dir.path().join("state"),
                    log_format: "text".into(),
                    search_dirs: Vec::new(),
                },
                bus.clone(),
                stop,
            ));
            Fixture {
                dir,
                host: Arc::new(FakeHost::new()),
                bus,
                state,
                status,
                supervisor,
                desired: Arc::default(),
                _stop: stop_tx,
            }
        }

        pub fn db(&self) -> PathBuf {
            self.dir.path().join("routerd.db")
        }

        /// Makes `resources` the desired state, as a new generation.
        pub fn set_desired(&mut self, resources: Vec<Resource>) {
            let generation = self.desired.generation + 1;
            self.desired = Arc::new(DesiredState::from_resources(generation, resources));
        }

        /// Re-reads status and ownership records from the database, as a restarted routerd does.
        pub async fn restart_state(&mut self) {
            self.bus.flush().await;
            self.state = Arc::new(
                StateStore::open(&self.db(), self.bus.store().clone()).expect("the state opens"),
            );
            self.status = Arc::new(StatusBook::load(self.state.clone(), self.bus.clone()));
        }

        pub fn context(&self) -> Context {
            Context {
                desired: self.desired.clone(),
                host: self.host.clone(),
                status: self.status.clone(),
                bus: self.bus.clone(),
                state: self.state.clone(),
                supervisor: self.supervisor.clone(),
                trigger: "test".into(),
            }
        }

        pub fn deps(&self, config: Arc<ConfigService>) -> RuntimeDeps {
            RuntimeDeps {
                config,
                host: self.host.clone(),
                status: self.status.clone(),
                bus: self.bus.clone(),
                state: self.state.clone(),
                supervisor: self.supervisor.clone(),
            }
        }
    }
}
