//! Whole-set validation: duplicates within a request and references between resources.

use super::desired::DesiredState;
use routerd_api::{FieldError, Resource, ResourceId};
use std::collections::HashSet;

/// The same identity given twice in one request is an error, not "last one wins".
pub fn check_duplicates(resources: &[Resource]) -> Vec<FieldError> {
    let mut seen = HashSet::new();
    let mut errors = Vec::new();
    for (i, r) in resources.iter().enumerate() {
        if !seen.insert(r.id()) {
            errors.push(
                FieldError::new(
                    "metadata.name",
                    format!(
                        "duplicate identity {} (resources[{i}]); each Kind/name may appear once",
                        r.id()
                    ),
                )
                .in_resource(r.id().short()),
            );
        }
    }
    errors
}

/// Every reference must name a resource present in the resulting desired set.
pub fn check_references(state: &DesiredState) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for r in state.resources.values() {
        for reference in r.spec.references() {
            let found = reference
                .kinds
                .iter()
                .any(|k| state.get(*k, &reference.name).is_some());
            if !found {
                let kinds = reference
                    .kinds
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ");
                let known: Vec<&str> = reference
                    .kinds
                    .iter()
                    .flat_map(|k| state.of_kind(*k).map(|r| r.name()))
                    .collect();
                let known = if known.is_empty() {
                    "none defined".to_string()
                } else {
                    format!("known: {}", known.join(", "))
                };
                errors.push(
                    FieldError::new(
                        reference.field.clone(),
                        format!("no {kinds} named {:?} ({known})", reference.name),
                    )
                    .in_resource(r.id().short()),
                );
            }
        }
    }
    errors
}

/// Resources in `state` that refer to `target`.
pub fn referrers(state: &DesiredState, target: &ResourceId) -> Vec<ResourceId> {
    state
        .resources
        .values()
        .filter(|r| r.id() != *target)
        .filter(|r| {
            r.spec
                .references()
                .iter()
                .any(|rf| rf.name == target.name && rf.kinds.contains(&target.kind))
        })
        .map(|r| r.id())
        .collect()
}
