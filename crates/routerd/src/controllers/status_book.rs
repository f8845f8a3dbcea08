//! Resource status, in memory for fast reads and persisted in `routerd.db` so `since` and conditions
//! survive a restart. A phase change is an event (`routerd.resource.phase.changed`).

use crate::events::EventBus;
use routerd_api::condition::merge_transition_times;
use routerd_api::event::{topics, NewEvent};
use routerd_api::status::ResourceStatus;
use routerd_api::{Condition, Kind, Phase, ResourceId, Severity, Timestamp};
use routerd_store::StateStore;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use tokio::sync::{broadcast, watch};

pub struct StatusBook {
    map: RwLock<HashMap<ResourceId, ResourceStatus>>,
    state: Arc<StateStore>,
    bus: EventBus,
    /// Bumped after every status change or removal, so readers (the DerivedEvent engine) wait for a
    /// change instead of polling.
    version: watch::Sender<u64>,
    /// The kind of every changed status, so controllers that read another kind's status (an
    /// `IPv6DelegatedAddress` reads its `DHCPv6PrefixDelegation`) are woken after the writer, never
    /// before it.
    kinds: broadcast::Sender<Kind>,
}

/// What a controller reports for one resource; the book adds `since` and transition times.
#[derive(Debug, Clone)]
pub struct StatusUpdate {
    pub phase: Phase,
    pub conditions: Vec<Condition>,
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// When the phase changed, if the source knows better than "now" (a daemon's own `since`).
    pub since: Option<Timestamp>,
}

impl StatusUpdate {
    pub fn new(phase: Phase, conditions: Vec<Condition>) -> StatusUpdate {
        StatusUpdate {
            phase,
            conditions,
            fields: serde_json::Map::new(),
            since: None,
        }
    }
    /// Adds the fields of a kind-specific status struct.
    pub fn with_fields<T: serde::Serialize>(mut self, fields: &T) -> StatusUpdate {
        if let Ok(serde_json::Value::Object(m)) = serde_json::to_value(fields) {
            self.fields = m;
        }
        self
    }
}

impl StatusBook {
    pub fn load(state: Arc<StateStore>, bus: EventBus) -> StatusBook {
        let mut map = HashMap::new();
        match state.all_status() {
            Ok(rows) => {
                for (kind, name, value) in rows {
                    let (Some(kind), Ok(status)) = (
                        Kind::from_exact(&kind),
                        serde_json::from_value::<ResourceStatus>(value),
                    ) else {
                        continue;
                    };
                    map.insert(ResourceId::new(kind, &name), status);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "stored resource status could not be read; starting empty")
            }
        }
        StatusBook {
            map: RwLock::new(map),
            state,
            bus,
            version: watch::channel(0).0,
            kinds: broadcast::channel(256).0,
        }
    }

    /// A receiver woken after every status change or removal (the value is a change counter).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// A receiver of the kind of every status change or removal. A lagging receiver should treat
    /// `Lagged` as "anything may have changed".
    pub fn kind_changes(&self) -> broadcast::Receiver<Kind> {
        self.kinds.subscribe()
    }

    fn changed(&self, kind: Kind) {
        self.version.send_modify(|v| *v = v.wrapping_add(1));
        let _ = self.kinds.send(kind);
    }

    pub fn get(&self, id: &ResourceId) -> Option<ResourceStatus> {
        self.map.read().ok().and_then(|m| m.get(id).cloned())
    }

    pub fn snapshot(&self) -> HashMap<ResourceId, ResourceStatus> {
        self.map.read().map(|m| m.clone()).unwrap_or_default()
    }

    /// Records a status; persists and emits only when something changed.
    pub async fn set(&self, id: &ResourceId, generation: u64, update: StatusUpdate) {
        let now = Timestamp::now();
        let previous = self.get(id);
        let mut conditions = update.conditions;
        merge_transition_times(
            previous
                .as_ref()
                .map(|p| p.conditions.as_slice())
                .unwrap_or(&[]),
            &mut conditions,
            now,
        );
        let phase_changed = previous.as_ref().map(|p| p.phase) != Some(update.phase);
        let next = ResourceStatus {
            phase: update.phase,
            conditions,
            observed_generation: Some(generation),
            since: if phase_changed {
                update.since.or(Some(now))
            } else {
                previous
                    .as_ref()
                    .and_then(|p| p.since)
                    .or(update.since)
                    .or(Some(now))
            },
            fields: update.fields,
        };
        if previous.as_ref() == Some(&next) {
            return;
        }
        if let Ok(value) = serde_json::to_value(&next) {
            if let Err(e) = self.state.put_status(id.kind.as_str(), &id.name, &value) {
                tracing::warn!(error = %e, resource = %id.short(), "status could not be persisted");
            }
        }
        let (reason, message) = next.reason();
        if let Ok(mut m) = self.map.write() {
            m.insert(id.clone(), next);
        }
        self.changed(id.kind);
        if phase_changed {
            let prev = previous
                .map(|p| p.phase.as_str().to_string())
                .unwrap_or_default();
            let severity = match update.phase {
                Phase::Error | Phase::Unhealthy => Severity::Warning,
                _ => Severity::Info,
            };
            let text = if prev.is_empty() {
                format!("{} is {} ({reason})", id.short(), update.phase)
            } else {
                format!(
                    "{} {prev} -> {} ({reason}{}{message})",
                    id.short(),
                    update.phase,
                    if message.is_empty() { "" } else { ": " }
                )
            };
            let ev = NewEvent::new(topics::RESOURCE_PHASE_CHANGED, severity, text)
                .resource(id.kind.as_str(), &id.name)
                .attr("phase", update.phase.as_str())
                .attr("previousPhase", prev)
                .attr("reason", reason);
            let ev = if id.kind.api_version() != routerd_api::kind::NET_API_VERSION {
                ev.attr("resource.apiVersion", id.kind.api_version())
            } else {
                ev
            };
            if let Err(e) = self.bus.publish(ev).await {
                tracing::warn!(error = %e, "phase change event could not be stored");
            }
        }
    }

    /// Forgets a deleted resource's status.
    pub fn remove(&self, id: &ResourceId) {
        if let Ok(mut m) = self.map.write() {
            m.remove(id);
        }
        self.changed(id.kind);
        if let Err(e) = self.state.delete_status(id.kind.as_str(), &id.name) {
            tracing::warn!(error = %e, resource = %id.short(), "status could not be removed");
        }
    }

    /// Drops status of resources of `kind` that are no longer desired.
    pub fn retain_kind(&self, kind: Kind, keep: &dyn Fn(&str) -> bool) {
        let gone: Vec<ResourceId> = self
            .map
            .read()
            .map(|m| {
                m.keys()
                    .filter(|id| id.kind == kind && !keep(&id.name))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for id in gone {
            self.remove(&id);
        }
    }
}
