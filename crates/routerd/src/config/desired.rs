//! The desired set of resources of one generation, and the diff between two of them.

use routerd_api::control::{Change, ChangeAction};
use routerd_api::{Kind, Resource, ResourceId};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct DesiredState {
    pub generation: u64,
    pub resources: BTreeMap<ResourceId, Resource>,
}

impl DesiredState {
    pub fn from_resources(generation: u64, resources: Vec<Resource>) -> DesiredState {
        DesiredState {
            generation,
            resources: resources.into_iter().map(|r| (r.id(), r)).collect(),
        }
    }

    pub fn get(&self, kind: Kind, name: &str) -> Option<&Resource> {
        self.resources.get(&ResourceId::new(kind, name))
    }

    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &Resource> {
        self.resources.values().filter(move |r| r.kind == kind)
    }

    pub fn to_vec(&self) -> Vec<Resource> {
        self.resources.values().cloned().collect()
    }

    /// Changes that turn `self` into `next`, ordered by identity; `unchanged` entries are included for
    /// the resources named in `mentioned` so an apply reports on everything it was given.
    pub fn diff(&self, next: &DesiredState, mentioned: &[ResourceId]) -> Vec<Change> {
        let mut out = Vec::new();
        for (id, r) in &next.resources {
            match self.resources.get(id) {
                None => out.push(Change {
                    id: id.to_string(),
                    action: ChangeAction::Created,
                }),
                Some(old) if old != r => out.push(Change {
                    id: id.to_string(),
                    action: ChangeAction::Updated,
                }),
                Some(_) if mentioned.contains(id) => out.push(Change {
                    id: id.to_string(),
                    action: ChangeAction::Unchanged,
                }),
                Some(_) => {}
            }
        }
        for id in self.resources.keys() {
            if !next.resources.contains_key(id) {
                out.push(Change {
                    id: id.to_string(),
                    action: ChangeAction::Deleted,
                });
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }
}

/// True when a change list would alter the desired state.
pub fn changes_anything(changes: &[Change]) -> bool {
    changes.iter().any(|c| c.action != ChangeAction::Unchanged)
}
