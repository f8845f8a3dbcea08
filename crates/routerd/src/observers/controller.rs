//! The controllers of `TrafficFlowLog` and `FirewallEventLog`: start, restart (on a spec change) and
//! stop their collector, enforce `LogRetention` on their store, and report the collector's and the
//! store's counters in the resource's status (refreshed every few seconds while it runs).

use super::firewall_logger::{FirewallLogger, FirewallLoggerConfig};
use super::flow_recorder::{FlowRecorder, FlowRecorderConfig};
use super::{LogStores, ObserverHost};
use crate::controllers::runtime::{Action, Context, Controller, ReconcileFuture};
use crate::controllers::status_book::StatusUpdate;
use routerd_api::ip_protocol::parse_protocol;
use routerd_api::spec::{LogRetentionSpec, ResourceSpec};
use routerd_api::{Condition, Kind, Phase, Resource};
use routerd_store::{RetentionPolicy, WriterCounters};
use serde::Serialize;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often a running collector's status is refreshed.
const STATUS_REFRESH: Duration = Duration::from_secs(5);
/// How often retention is asked for (it is cheap when nothing is due: one COUNT on the store); a
/// changed LogRetention is enforced at once.
const RETENTION_EVERY: Duration = Duration::from_secs(10);
/// The default NFLOG group of a `FirewallEventLog` (`resources.md`).
pub const DEFAULT_NFLOG_GROUP: u16 = 100;

/// The store counters every log resource shows.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StoreStatus {
    rows: u64,
    rows_written: u64,
    rows_dropped: u64,
    rows_failed: u64,
    rows_pruned: u64,
}

fn store_status(rows: u64, counters: &WriterCounters) -> StoreStatus {
    StoreStatus {
        rows,
        rows_written: counters.written.load(Ordering::Relaxed),
        rows_dropped: counters.dropped.load(Ordering::Relaxed),
        rows_failed: counters.failed.load(Ordering::Relaxed),
        rows_pruned: counters.pruned.load(Ordering::Relaxed),
    }
}

/// Rows in a log store, counted off the async runtime: `COUNT(*)` walks a table of up to millions of rows
/// every status refresh, and must neither stall the runtime's workers nor wait on them.
async fn stored_rows<T: routerd_store::LogTable>(store: Arc<routerd_store::LogStore<T>>) -> u64 {
    tokio::task::spawn_blocking(move || store.count())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or(0)
}

/// The retention of one store from the LogRetention resource (defaults without one).
fn retention_policy(
    ctx: &Context,
    pick: fn(&LogRetentionSpec) -> Option<&routerd_api::spec::RetentionPolicy>,
) -> RetentionPolicy {
    let mut policy = RetentionPolicy::default();
    for r in ctx.desired.of_kind(Kind::LogRetention) {
        if let ResourceSpec::LogRetention(spec) = &r.spec {
            if let Some(p) = pick(spec) {
                if let Some(age) = p.max_age {
                    policy.max_age = age.0;
                }
                if let Some(rows) = p.max_rows {
                    policy.max_rows = rows;
                }
            }
        }
    }
    policy
}

/// Whether retention is due: the policy changed, or [`RETENTION_EVERY`] passed since the last request.
fn retention_due(
    last: &Mutex<Option<(RetentionPolicy, Instant)>>,
    policy: RetentionPolicy,
) -> bool {
    let Ok(mut last) = last.lock() else {
        return false;
    };
    let due = last
        .as_ref()
        .is_none_or(|(p, t)| *p != policy || t.elapsed() >= RETENTION_EVERY);
    if due {
        *last = Some((policy, Instant::now()));
    }
    due
}

/// Marks every resource `Error` when more than one exists (one collector per store).
async fn refuse_several(ctx: &Context, resources: &[&Resource], kind: &str) -> bool {
    if resources.len() <= 1 {
        return false;
    }
    for r in resources {
        let condition = Condition::new(
            "Recording",
            false,
            "Conflict",
            format!(
                "{} {kind} resources exist; keep exactly one",
                resources.len()
            ),
        );
        ctx.status
            .set(
                &r.id(),
                ctx.desired.generation,
                StatusUpdate::new(Phase::Error, vec![condition]),
            )
            .await;
    }
    true
}

pub struct FlowLogController {
    pub stores: Arc<LogStores>,
    pub host: Arc<ObserverHost>,
    recorder: Mutex<Option<(String, FlowRecorder)>>,
    last_retention: Mutex<Option<(RetentionPolicy, Instant)>>,
}

impl FlowLogController {
    pub fn new(stores: Arc<LogStores>, host: Arc<ObserverHost>) -> FlowLogController {
        FlowLogController {
            stores,
            host,
            recorder: Mutex::new(None),
            last_retention: Mutex::new(None),
        }
    }

    fn stop(&self) -> bool {
        let stopped = self.recorder.lock().ok().and_then(|mut r| r.take());
        match stopped {
            Some((_, mut recorder)) => {
                recorder.stop();
                true
            }
            None => false,
        }
    }

    /// Starts the recorder for `name` with `config`: accounting on, conntrack kept active by our table,
    /// then the subscription (before the dump, so nothing falls between them).
    fn start(&self, ctx: &Context, name: &str, config: FlowRecorderConfig) -> Result<(), String> {
        self.host
            .sysctl
            .set("nf_conntrack_acct", "1")
            .map_err(|e| format!("cannot turn on net.netfilter.nf_conntrack_acct: {e}"))?;
        // Conntrack is kept active by the conntrack keep-alive rule the firewall controller renders
        // into table inet routerd while a TrafficFlowLog is enabled.
        let (subscription, granted) = (self.host.conntrack_events)()
            .map_err(|e| format!("cannot subscribe to conntrack events: {e}"))?;
        let recorder = FlowRecorder::start(
            subscription,
            granted,
            self.host.conntrack.clone(),
            self.stores.flows.clone(),
            ctx.bus.clone(),
            config,
            name,
        )
        .map_err(|e| format!("cannot start the flow recorder thread: {e}"))?;
        if let Ok(mut slot) = self.recorder.lock() {
            *slot = Some((name.to_string(), recorder));
        }
        Ok(())
    }

    fn retention(&self, ctx: &Context) {
        let policy = retention_policy(ctx, |s| s.traffic_flows.as_ref());
        if retention_due(&self.last_retention, policy) {
            if let Err(e) = self.stores.flows.retain(policy) {
                tracing::warn!(error = %e, "traffic-flows retention not queued");
            }
        }
    }
}

fn flow_config(spec: &routerd_api::spec::TrafficFlowLogSpec) -> Result<FlowRecorderConfig, String> {
    let protocols = match &spec.protocols {
        None => None,
        Some(list) => Some(
            list.iter()
                .map(|p| {
                    parse_protocol(&p.to_ascii_lowercase())
                        .map_err(|e| format!("spec.protocols: {e}"))
                })
                .collect::<Result<Vec<u8>, String>>()?,
        ),
    };
    Ok(FlowRecorderConfig {
        protocols,
        min_bytes: spec.min_bytes,
        unwatched_recheck: None,
    })
}

impl Controller for FlowLogController {
    fn name(&self) -> &'static str {
        "traffic-flow-log"
    }
    fn kinds(&self) -> &'static [Kind] {
        &[Kind::TrafficFlowLog]
    }
    fn input_kinds(&self) -> &'static [Kind] {
        &[Kind::TrafficFlowLog, Kind::LogRetention]
    }
    fn reconcile<'a>(&'a self, ctx: &'a Context) -> ReconcileFuture<'a> {
        Box::pin(async move {
            self.retention(ctx);
            let resources: Vec<&Resource> = ctx.desired.of_kind(Kind::TrafficFlowLog).collect();
            let desired = ctx.desired.clone();
            ctx.status.retain_kind(Kind::TrafficFlowLog, &|n| {
                desired.get(Kind::TrafficFlowLog, n).is_some()
            });
            if refuse_several(ctx, &resources, "TrafficFlowLog").await {
                return Ok(Action::Idle);
            }
            let Some(resource) = resources.first() else {
                self.stop();
                return Ok(Action::Idle);
            };
            let ResourceSpec::TrafficFlowLog(spec) = &resource.spec else {
                return Ok(Action::Idle);
            };
            let name = resource.name().to_string();
            let (phase, condition) = match flow_config(spec) {
                Err(e) => {
                    self.stop();
                    (
                        Phase::Error,
                        Condition::new("Recording", false, "InvalidSpec", e),
                    )
                }
                Ok(_) if !spec.enabled => {
                    self.stop();
                    (
                        Phase::Applied,
                        Condition::new("Recording", false, "Disabled", "spec.enabled is false"),
                    )
                }
                Ok(config) => {
                    let running = self
                        .recorder
                        .lock()
                        .map(|r| {
                            r.as_ref()
                                .is_some_and(|(n, rec)| *n == name && rec.config == config)
                        })
                        .unwrap_or(false);
                    let started = if running {
                        Ok(())
                    } else {
                        self.stop();
                        self.start(ctx, &name, config)
                    };
                    match started {
                        Ok(()) => (
                            Phase::Applied,
                            Condition::new(
                                "Recording",
                                true,
                                "Subscribed",
                                "recording flows from conntrack events",
                            ),
                        ),
                        Err(e) => (
                            Phase::Error,
                            Condition::new("Recording", false, "HostRefused", e),
                        ),
                    }
                }
            };
            #[derive(Serialize)]
            struct Fields {
                #[serde(flatten)]
                store: StoreStatus,
                #[serde(flatten, skip_serializing_if = "Option::is_none")]
                recorder: Option<super::flow_recorder::FlowRecorderStatus>,
            }
            let rows = stored_rows(self.stores.flows.clone()).await;
            let recorder = self
                .recorder
                .lock()
                .ok()
                .and_then(|r| r.as_ref().map(|(_, rec)| rec.stats.snapshot()));
            let running = recorder.is_some();
            let fields = Fields {
                store: store_status(rows, &self.stores.flows.counters()),
                recorder,
            };
            ctx.status
                .set(
                    &resource.id(),
                    ctx.desired.generation,
                    StatusUpdate::new(phase, vec![condition]).with_fields(&fields),
                )
                .await;
            Ok(if running {
                Action::Requeue(STATUS_REFRESH)
            } else {
                Action::Idle
            })
        })
    }
}

pub struct FirewallLogController {
    pub stores: Arc<LogStores>,
    pub host: Arc<ObserverHost>,
    logger: Mutex<Option<(String, FirewallLogger)>>,
    last_retention: Mutex<Option<(RetentionPolicy, Instant)>>,
}

impl FirewallLogController {
    pub fn new(stores: Arc<LogStores>, host: Arc<ObserverHost>) -> FirewallLogController {
        FirewallLogController {
            stores,
            host,
            logger: Mutex::new(None),
            last_retention: Mutex::new(None),
        }
    }

    fn stop(&self) {
        if let Some((_, mut logger)) = self.logger.lock().ok().and_then(|mut l| l.take()) {
            logger.stop();
        }
    }

    fn start(&self, ctx: &Context, name: &str, config: FirewallLoggerConfig) -> Result<(), String> {
        let (subscription, granted) = (self.host.nflog)(config.group).map_err(|e| {
            format!(
                "cannot bind NFLOG group {} (another logger such as ulogd holds it?): {e}",
                config.group
            )
        })?;
        let logger = FirewallLogger::start(
            subscription,
            granted,
            self.stores.firewall.clone(),
            ctx.bus.clone(),
            config,
            name,
        )
        .map_err(|e| format!("cannot start the firewall logger thread: {e}"))?;
        if let Ok(mut slot) = self.logger.lock() {
            *slot = Some((name.to_string(), logger));
        }
        Ok(())
    }
}

impl Controller for FirewallLogController {
    fn name(&self) -> &'static str {
        "firewall-event-log"
    }
    fn kinds(&self) -> &'static [Kind] {
        &[Kind::FirewallEventLog]
    }
    fn input_kinds(&self) -> &'static [Kind] {
        &[Kind::FirewallEventLog, Kind::LogRetention]
    }
    fn reconcile<'a>(&'a self, ctx: &'a Context) -> ReconcileFuture<'a> {
        Box::pin(async move {
            let policy = retention_policy(ctx, |s| s.firewall_logs.as_ref());
            if retention_due(&self.last_retention, policy) {
                if let Err(e) = self.stores.firewall.retain(policy) {
                    tracing::warn!(error = %e, "firewall-logs retention not queued");
                }
            }
            let resources: Vec<&Resource> = ctx.desired.of_kind(Kind::FirewallEventLog).collect();
            let desired = ctx.desired.clone();
            ctx.status.retain_kind(Kind::FirewallEventLog, &|n| {
                desired.get(Kind::FirewallEventLog, n).is_some()
            });
            if refuse_several(ctx, &resources, "FirewallEventLog").await {
                return Ok(Action::Idle);
            }
            let Some(resource) = resources.first() else {
                self.stop();
                return Ok(Action::Idle);
            };
            let ResourceSpec::FirewallEventLog(spec) = &resource.spec else {
                return Ok(Action::Idle);
            };
            let name = resource.name().to_string();
            let config = FirewallLoggerConfig {
                group: spec.nflog_group.unwrap_or(DEFAULT_NFLOG_GROUP),
                actions: spec.actions.clone(),
            };
            let running = self
                .logger
                .lock()
                .map(|l| {
                    l.as_ref()
                        .is_some_and(|(n, lg)| *n == name && lg.config == config)
                })
                .unwrap_or(false);
            let started = if running {
                Ok(())
            } else {
                self.stop();
                self.start(ctx, &name, config.clone())
            };
            let (phase, condition) = match started {
                Ok(()) => (
                    Phase::Applied,
                    Condition::new(
                        "Recording",
                        true,
                        "Bound",
                        format!("recording NFLOG group {}", config.group),
                    ),
                ),
                Err(e) => (
                    Phase::Error,
                    Condition::new("Recording", false, "HostRefused", e),
                ),
            };
            #[derive(Serialize)]
            struct Fields {
                #[serde(flatten)]
                store: StoreStatus,
                #[serde(flatten, skip_serializing_if = "Option::is_none")]
                logger: Option<super::firewall_logger::FirewallLoggerStatus>,
            }
            let rows = stored_rows(self.stores.firewall.clone()).await;
            let logger = self
                .logger
                .lock()
                .ok()
                .and_then(|l| l.as_ref().map(|(_, lg)| lg.stats.snapshot(lg.config.group)));
            let fields = Fields {
                store: store_status(rows, &self.stores.firewall.counters()),
                logger,
            };
            ctx.status
                .set(
                    &resource.id(),
                    ctx.desired.generation,
                    StatusUpdate::new(phase, vec![condition]).with_fields(&fields),
                )
                .await;
            // A refused bind is retried (the group may be freed); a running logger refreshes its status.
            Ok(Action::Requeue(STATUS_REFRESH))
        })
    }
}

/// The observer controllers, sharing the stores and the host.
pub fn builtin(stores: Arc<LogStores>, host: Arc<ObserverHost>) -> Vec<Arc<dyn Controller>> {
    vec![
        Arc::new(FlowLogController::new(stores.clone(), host.clone())),
        Arc::new(FirewallLogController::new(stores, host)),
    ]
}
