//! A controller [`Context`] over the in-memory fake host with routerd's real status book, state store
//! and event bus in a temporary directory: what controller unit tests reconcile against.

use super::runtime::Context;
use super::StatusBook;
use crate::config::DesiredState;
use crate::events::EventBus;
use crate::supervisor::{Supervisor, SupervisorConfig};
use routerd_api::Resource;
use routerd_host::FakeHost;
use routerd_store::StateStore;
use serde_json::json;
use std::sync::Arc;
use tokio::sync::watch;

pub struct TestContext {
    _dir: tempfile::TempDir,
    pub host: Arc<FakeHost>,
    pub bus: EventBus,
    pub state: Arc<StateStore>,
    pub status: Arc<StatusBook>,
    pub supervisor: Arc<Supervisor>,
    pub desired: Arc<DesiredState>,
    _stop: watch::Sender<bool>,
}

/// A resource of `kind` named `name` with `spec`.
pub fn resource(kind: &str, name: &str, spec: serde_json::Value) -> Resource {
    Resource::from_value(json!({
        "apiVersion": "net.routerd.net/v1alpha1", "kind": kind,
        "metadata": {"name": name}, "spec": spec
    }))
    .unwrap()
}

impl TestContext {
    pub fn new() -> TestContext {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("routerd.db");
        let bus = EventBus::open(&db).unwrap();
        let state = Arc::new(StateStore::open(&db, bus.store().clone()).unwrap());
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
        TestContext {
            _dir: dir,
            host: Arc::new(FakeHost::new()),
            bus,
            state,
            status,
            supervisor,
            desired: Arc::default(),
            _stop: stop_tx,
        }
    }

    /// Replaces the desired state with `resources` as the next generation.
    pub fn set_resources(&mut self, resources: Vec<Resource>) {
        let generation = self.desired.generation + 1;
        self.desired = Arc::new(DesiredState::from_resources(generation, resources));
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
}
