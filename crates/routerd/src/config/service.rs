//! The one place the desired state changes. Applies, deletes and rollbacks are serialised, validated in
//! full before anything changes, and committed to the ledger in one transaction before any controller is
//! told; a request that fails validation changes nothing.
//!
//! Commit and publish are one step that the request cannot split: they run in a task of their own that
//! holds the write lock until the new generation is published, so a client that hangs up (and hyper
//! dropping the request future with it) never leaves the ledger one generation ahead of memory.

use super::desired::{changes_anything, DesiredState};
use super::validate::{check_dhcp_pools, check_duplicates, check_references, referrers};
use crate::events::EventBus;
use routerd_api::control::{
    ApplyMode, ApplyRequest, ApplyResult, DeleteRequest, RollbackRequest, ValidateResult,
};
use routerd_api::event::{topics, NewEvent};
use routerd_api::manifest::{decode_resources, parse_documents, to_yaml};
use routerd_api::{FieldError, Resource, ResourceId, Severity, Timestamp};
use routerd_store::{Ledger, NewGeneration, StoreError};
use std::sync::{Arc, Mutex as StdMutex};
use tokio::sync::{watch, Mutex, OwnedMutexGuard};

/// Why a request was refused; maps one-to-one onto API error codes.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{} invalid field(s)", .0.len())]
    Invalid(Vec<FieldError>),
    #[error("{0}")]
    NotFound(String),
    #[error("generation is {current}, request expected {expected}")]
    Conflict { expected: u64, current: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type ApplyOutcome = ApplyResult;

/// Where the new desired set comes from, for the ledger's `source` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeSource {
    Apply,
    Delete,
    Rollback(u64),
    ConfigFiles,
}

impl ChangeSource {
    fn as_str(self) -> &'static str {
        match self {
            ChangeSource::Apply => "apply",
            ChangeSource::Delete => "delete",
            ChangeSource::Rollback(_) => "rollback",
            ChangeSource::ConfigFiles => "config",
        }
    }
}

pub struct ConfigService {
    /// What the detached commit task needs; shared with it.
    publisher: Arc<Publisher>,
    /// Held from reading the current state until the next one is published (by the commit task).
    write_lock: Arc<Mutex<()>>,
    config_error: StdMutex<Option<String>>,
}

/// The ledger and the published desired state: changed together, only by [`Publisher::commit`].
struct Publisher {
    ledger: Arc<Ledger>,
    bus: EventBus,
    desired_tx: watch::Sender<Arc<DesiredState>>,
    last_apply: StdMutex<Option<Timestamp>>,
}

/// A new generation ready to be committed.
struct Pending {
    previous: u64,
    next: DesiredState,
    record: NewGeneration,
    source: ChangeSource,
}

impl ConfigService {
    /// Loads the latest generation from the ledger.
    pub fn open(ledger: Ledger, bus: EventBus) -> Result<ConfigService, ConfigError> {
        let latest = ledger.latest()?;
        let last_apply = latest.as_ref().map(|g| g.info.created_at);
        let state = match latest {
            Some(g) => {
                let values: Vec<serde_json::Value> = serde_json::from_str(&g.resources_json)
                    .map_err(|e| {
                        StoreError::Corrupt(format!("generation {}: {e}", g.info.generation))
                    })?;
                let resources = decode_resources(values).map_err(|errs| {
                    StoreError::Corrupt(format!(
                        "generation {} no longer decodes: {}",
                        g.info.generation,
                        errs.iter()
                            .map(|e| e.to_string())
                            .collect::<Vec<_>>()
                            .join("; ")
                    ))
                })?;
                DesiredState::from_resources(g.info.generation, resources)
            }
            None => DesiredState::default(),
        };
        let (desired_tx, _) = watch::channel(Arc::new(state));
        Ok(ConfigService {
            publisher: Arc::new(Publisher {
                ledger: Arc::new(ledger),
                bus,
                desired_tx,
                last_apply: StdMutex::new(last_apply),
            }),
            write_lock: Arc::new(Mutex::new(())),
            config_error: StdMutex::new(None),
        })
    }

    pub fn current(&self) -> Arc<DesiredState> {
        self.publisher.desired_tx.borrow().clone()
    }

    /// Controllers watch this to be woken by applies.
    pub fn subscribe(&self) -> watch::Receiver<Arc<DesiredState>> {
        self.publisher.desired_tx.subscribe()
    }

    pub fn ledger(&self) -> &Ledger {
        &self.publisher.ledger
    }

    /// Runs a ledger read on the blocking pool: it is disk I/O, and must never hold an async worker.
    async fn read_ledger<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Ledger) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let ledger = self.publisher.ledger.clone();
        tokio::task::spawn_blocking(move || read(&ledger))
            .await
            .map_err(|e| StoreError::Corrupt(format!("ledger read task failed: {e}")))?
    }

    /// `GET /generations`: the newest `limit` generations, read off the async workers.
    pub async fn generations(
        &self,
        limit: usize,
    ) -> Result<Vec<routerd_api::control::GenerationInfo>, StoreError> {
        self.read_ledger(move |l| l.list(limit)).await
    }

    pub fn last_apply_time(&self) -> Option<Timestamp> {
        self.publisher.last_apply.lock().ok().and_then(|g| *g)
    }

    pub fn config_error(&self) -> Option<String> {
        self.config_error.lock().ok().and_then(|g| g.clone())
    }

    /// Decodes the resources of a request (objects or a YAML manifest).
    pub fn decode(req: &ApplyRequest) -> Result<Vec<Resource>, ConfigError> {
        let docs = match (&req.resources, &req.manifest) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::BadRequest(
                    "give either resources or manifest, not both".into(),
                ))
            }
            (Some(r), None) => r.clone(),
            (None, Some(m)) => {
                parse_documents(m).map_err(|e| ConfigError::BadRequest(e.to_string()))?
            }
            (None, None) => {
                return Err(ConfigError::BadRequest(
                    "the request has neither resources nor manifest".into(),
                ))
            }
        };
        let resources = decode_resources(docs).map_err(ConfigError::Invalid)?;
        let dups = check_duplicates(&resources);
        if !dups.is_empty() {
            return Err(ConfigError::Invalid(dups));
        }
        Ok(resources)
    }

    /// Validation only; never changes anything and never emits events.
    pub fn validate(&self, req: &ApplyRequest) -> ValidateResult {
        match Self::decode(req).and_then(|rs| self.compose(&rs, req.mode).map(|_| ())) {
            Ok(()) => ValidateResult {
                valid: true,
                errors: Vec::new(),
                warnings: Vec::new(),
            },
            Err(ConfigError::Invalid(errors)) => ValidateResult {
                valid: false,
                errors,
                warnings: Vec::new(),
            },
            Err(e) => ValidateResult {
                valid: false,
                errors: vec![FieldError::new("", e.to_string())],
                warnings: Vec::new(),
            },
        }
    }

    fn compose(&self, given: &[Resource], mode: ApplyMode) -> Result<DesiredState, ConfigError> {
        let current = self.current();
        let mut next = match mode {
            ApplyMode::Merge => (*current).clone(),
            ApplyMode::Replace => DesiredState {
                generation: current.generation,
                ..Default::default()
            },
        };
        for r in given {
            next.resources.insert(r.id(), r.clone());
        }
        let mut errors = check_references(&next);
        errors.extend(check_dhcp_pools(&next));
        if !errors.is_empty() {
            return Err(ConfigError::Invalid(errors));
        }
        Ok(next)
    }

    /// `POST /apply` and `/plan`. `emit_rejections` is false for plan (it is a question, not a change).
    pub async fn apply(
        &self,
        req: ApplyRequest,
        emit_rejections: bool,
    ) -> Result<ApplyOutcome, ConfigError> {
        let source = ChangeSource::Apply;
        let result = async {
            let resources = Self::decode(&req)?;
            self.apply_resources(resources, req.mode, req.dry_run, req.if_generation, source)
                .await
        }
        .await;
        if emit_rejections && !req.dry_run {
            self.report_rejection(&result, "apply").await;
        }
        result
    }

    async fn report_rejection(&self, result: &Result<ApplyOutcome, ConfigError>, what: &str) {
        let Err(e) = result else { return };
        let (summary, count) = match e {
            ConfigError::Invalid(errs) => (
                errs.iter()
                    .take(5)
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
                errs.len(),
            ),
            ConfigError::Store(_) => return,
            other => (other.to_string(), 1),
        };
        let ev = NewEvent::new(
            topics::CONFIG_REJECTED,
            Severity::Warning,
            format!("{what} rejected: {summary}"),
        )
        .attr("operation", what)
        .attr("errorCount", count.to_string());
        if let Err(err) = self.publisher.bus.publish(ev).await {
            tracing::warn!(error = %err, "could not record config rejection");
        }
    }

    async fn apply_resources(
        &self,
        resources: Vec<Resource>,
        mode: ApplyMode,
        dry_run: bool,
        if_generation: Option<u64>,
        source: ChangeSource,
    ) -> Result<ApplyOutcome, ConfigError> {
        let guard = self.write_lock.clone().lock_owned().await;
        let current = self.current();
        if let Some(expected) = if_generation {
            if expected != current.generation {
                return Err(ConfigError::Conflict {
                    expected,
                    current: current.generation,
                });
            }
        }
        let next = self.compose(&resources, mode)?;
        let mentioned: Vec<ResourceId> = resources.iter().map(|r| r.id()).collect();
        let changes = current.diff(&next, &mentioned);
        self.commit(guard, current, next, changes, dry_run, source)
            .await
    }

    /// Commits and publishes `next` unless this is a dry run or nothing changes. `guard` is the write
    /// lock taken before `current` was read; it is released only once `next` is published.
    async fn commit(
        &self,
        guard: OwnedMutexGuard<()>,
        current: Arc<DesiredState>,
        next: DesiredState,
        changes: Vec<routerd_api::control::Change>,
        dry_run: bool,
        source: ChangeSource,
    ) -> Result<ApplyOutcome, ConfigError> {
        use routerd_api::control::ChangeAction;
        let previous = current.generation;
        if dry_run || !changes_anything(&changes) {
            return Ok(ApplyResult {
                generation: previous,
                previous_generation: previous,
                dry_run,
                changes,
                warnings: Vec::new(),
            });
        }
        let list = next.to_vec();
        let resources_json =
            serde_json::to_string(&list).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let manifest = to_yaml(&list).map_err(StoreError::Corrupt)?;
        let count = |a: ChangeAction| changes.iter().filter(|c| c.action == a).count() as u64;
        let record = NewGeneration {
            source: source.as_str().to_string(),
            resources_json,
            manifest,
            resource_count: list.len() as u64,
            created: count(ChangeAction::Created),
            updated: count(ChangeAction::Updated),
            deleted: count(ChangeAction::Deleted),
            rollback_of: match source {
                ChangeSource::Rollback(g) => Some(g),
                _ => None,
            },
        };
        let pending = Pending {
            previous,
            next,
            record,
            source,
        };
        // Detached: once started, the commit is published even if this request is dropped.
        let publisher = self.publisher.clone();
        let generation = tokio::spawn(async move {
            let generation = publisher.commit(pending).await;
            drop(guard);
            generation
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("commit task failed: {e}")))??;
        Ok(ApplyResult {
            generation,
            previous_generation: previous,
            dry_run: false,
            changes,
            warnings: Vec::new(),
        })
    }

    /// `POST /delete`.
    pub async fn delete(&self, req: DeleteRequest) -> Result<ApplyOutcome, ConfigError> {
        let dry_run = req.dry_run;
        let result = self.delete_inner(req).await;
        if !dry_run {
            self.report_rejection(&result, "delete").await;
        }
        result
    }

    async fn delete_inner(&self, req: DeleteRequest) -> Result<ApplyOutcome, ConfigError> {
        if req.targets.is_empty() {
            return Err(ConfigError::BadRequest(
                "targets is empty; name resources as Kind/name".into(),
            ));
        }
        let mut ids = Vec::new();
        for (i, t) in req.targets.iter().enumerate() {
            let id = ResourceId::parse_short(t).map_err(|e| {
                ConfigError::Invalid(vec![FieldError::new(format!("targets[{i}]"), e)])
            })?;
            ids.push(id);
        }
        let guard = self.write_lock.clone().lock_owned().await;
        let current = self.current();
        if let Some(expected) = req.if_generation {
            if expected != current.generation {
                return Err(ConfigError::Conflict {
                    expected,
                    current: current.generation,
                });
            }
        }
        let missing: Vec<String> = ids
            .iter()
            .filter(|id| !current.resources.contains_key(id))
            .map(|id| id.short())
            .collect();
        if !missing.is_empty() {
            return Err(ConfigError::NotFound(format!(
                "no such resource: {}",
                missing.join(", ")
            )));
        }
        let mut next = (*current).clone();
        for id in &ids {
            next.resources.remove(id);
        }
        let mut errors = Vec::new();
        for id in &ids {
            let refs = referrers(&next, id);
            if !refs.is_empty() {
                errors.push(
                    FieldError::new(
                        "targets",
                        format!(
                            "{} is still referenced by {}; delete or change those first",
                            id.short(),
                            refs.iter()
                                .map(|r| r.short())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                    .in_resource(id.short()),
                );
            }
        }
        if !errors.is_empty() {
            return Err(ConfigError::Invalid(errors));
        }
        let changes = current.diff(&next, &[]);
        self.commit(
            guard,
            current,
            next,
            changes,
            req.dry_run,
            ChangeSource::Delete,
        )
        .await
    }

    /// `POST /rollback`: re-applies generation N's snapshot as a replace, recorded as a new generation.
    pub async fn rollback(&self, req: RollbackRequest) -> Result<ApplyOutcome, ConfigError> {
        let wanted = req.generation;
        let g = self
            .read_ledger(move |l| l.get(wanted))
            .await?
            .ok_or_else(|| {
                ConfigError::NotFound(format!(
                    "generation {} is not in the ledger",
                    req.generation
                ))
            })?;
        let values: Vec<serde_json::Value> = serde_json::from_str(&g.resources_json)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let resources = decode_resources(values).map_err(ConfigError::Invalid)?;
        let result = self
            .apply_resources(
                resources,
                ApplyMode::Replace,
                req.dry_run,
                None,
                ChangeSource::Rollback(req.generation),
            )
            .await;
        if !req.dry_run {
            self.report_rejection(&result, "rollback").await;
        }
        result
    }

    /// Applies the config files given at start-up as a replace. A refusal keeps the last good generation
    /// and is reported, not fatal.
    pub async fn apply_startup_files(
        &self,
        text: Result<String, String>,
    ) -> Result<ApplyOutcome, ConfigError> {
        let result = async {
            let text = text.map_err(ConfigError::BadRequest)?;
            let req = ApplyRequest {
                manifest: Some(text),
                mode: ApplyMode::Replace,
                ..Default::default()
            };
            let resources = Self::decode(&req)?;
            self.apply_resources(
                resources,
                ApplyMode::Replace,
                false,
                None,
                ChangeSource::ConfigFiles,
            )
            .await
        }
        .await;
        if let Ok(mut slot) = self.config_error.lock() {
            *slot = match &result {
                Ok(_) => None,
                Err(ConfigError::Invalid(errs)) => Some(
                    errs.iter()
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
                Err(e) => Some(e.to_string()),
            };
        }
        self.report_rejection(&result, "config").await;
        result
    }
}

impl Publisher {
    /// Commits `pending` to the ledger, then publishes it to the controllers and records
    /// `config.applied`. Runs in its own task (see the module doc); returns the new generation.
    async fn commit(&self, pending: Pending) -> Result<u64, StoreError> {
        let Pending {
            previous,
            mut next,
            record,
            source,
        } = pending;
        let (created, updated, deleted) = (record.created, record.updated, record.deleted);
        let ledger = self.ledger.clone();
        // The commit fsyncs: off the async workers.
        let generation = tokio::task::spawn_blocking(move || ledger.commit(previous, record))
            .await
            .map_err(|e| StoreError::Corrupt(format!("ledger task failed: {e}")))??;
        next.generation = generation;
        self.desired_tx.send_replace(Arc::new(next));
        if let Ok(mut t) = self.last_apply.lock() {
            *t = Some(Timestamp::now());
        }
        let ev = NewEvent::new(
            topics::CONFIG_APPLIED,
            Severity::Info,
            format!(
                "generation {generation} applied ({created} created, {updated} updated, {deleted} deleted; source {})",
                source.as_str()
            ),
        )
        .attr("generation", generation.to_string())
        .attr("previousGeneration", previous.to_string())
        .attr("source", source.as_str());
        if let Err(e) = self.bus.publish(ev).await {
            tracing::warn!(error = %e, "could not record config.applied");
        }
        Ok(generation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// An apply that changes `Interface/lan` every time (`i` picks the ifname).
    fn change(i: usize) -> ApplyRequest {
        ApplyRequest {
            manifest: Some(format!(
                "apiVersion: net.routerd.net/v1alpha1\nkind: Interface\nmetadata: {{name: lan}}\nspec: {{ifname: lan{i}}}\n"
            )),
            ..Default::default()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_apply_dropped_during_its_commit_still_takes_effect_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("routerd.db");
        let bus = EventBus::open(&db).unwrap();
        let svc = ConfigService::open(Ledger::open(&db).unwrap(), bus.clone()).unwrap();
        for i in 0..50 {
            // Polled once, then dropped, as hyper drops the handler of a client that hung up: the
            // apply has taken the lock, composed the next state and started its commit.
            let _ = tokio::time::timeout(Duration::ZERO, svc.apply(change(i), true)).await;
        }
        let last = svc
            .apply(change(1000), true)
            .await
            .expect("an apply after dropped ones succeeds");
        assert_eq!(last.generation, svc.current().generation);
        assert_eq!(
            svc.ledger().current_generation().unwrap(),
            svc.current().generation,
            "ledger and memory agree"
        );
        let reopened = ConfigService::open(Ledger::open(&db).unwrap(), bus.clone()).unwrap();
        assert_eq!(
            reopened.current().resources,
            svc.current().resources,
            "a restart changes nothing"
        );
        bus.close();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn listing_generations_while_a_commit_waits_for_the_database_stalls_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("routerd.db");
        let bus = EventBus::open(&db).unwrap();
        let svc = Arc::new(ConfigService::open(Ledger::open(&db).unwrap(), bus.clone()).unwrap());
        // Another writer holds SQLite's write lock: the commit below waits in the busy handler.
        let other = routerd_store::db::open(&db).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let apply = tokio::spawn({
            let svc = svc.clone();
            async move { svc.apply(change(1), true).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        let started = std::time::Instant::now();
        let listed = svc.generations(10).await.unwrap();
        assert!(listed.is_empty());
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the list waited {:?} behind the commit",
            started.elapsed()
        );
        other.execute_batch("ROLLBACK").unwrap();
        let applied = apply.await.unwrap().unwrap();
        assert_eq!(applied.generation, 1);
        bus.close();
    }
}
