//! Builds `/status` and the resource objects of `/resources` from the desired state and the status book.

use crate::server::App;
use routerd_api::control::{PhaseIssue, RouterStatus, StatusBody, StatusMetadata};
use routerd_api::status::ResourceStatus;
use routerd_api::{Condition, ConditionStatus, Kind, Phase, Resource};
use std::collections::BTreeMap;

/// Status shown for a resource no controller has reported on yet.
fn placeholder(r: &Resource, handled: &[Kind]) -> ResourceStatus {
    let (reason, message) = if handled.contains(&r.kind) {
        (
            "AwaitingReconcile",
            "accepted; waiting for its controller's first reconcile".to_string(),
        )
    } else {
        ("ControllerNotAvailable", format!("no controller for {} in this build of routerd yet; the resource is stored and will be reconciled once its controller lands", r.kind))
    };
    ResourceStatus {
        phase: Phase::Pending,
        conditions: vec![Condition {
            type_: "Reconciled".into(),
            status: ConditionStatus::False,
            reason: reason.into(),
            message,
            last_transition_time: None,
        }],
        observed_generation: None,
        since: None,
        fields: Default::default(),
    }
}

/// A resource as the API shows it: the resource's own fields plus `status`, serialised in one pass.
#[derive(serde::Serialize)]
pub struct ResourceObject<'a> {
    #[serde(flatten)]
    pub resource: &'a Resource,
    pub status: ResourceStatus,
}

/// The desired set and the status of each resource, for building [`ResourceObject`]s without copying
/// the resources.
pub struct ResourceSnapshot {
    pub desired: std::sync::Arc<crate::config::DesiredState>,
    book: std::collections::HashMap<routerd_api::ResourceId, ResourceStatus>,
    handled: Vec<Kind>,
}

impl ResourceSnapshot {
    pub fn take(app: &App) -> ResourceSnapshot {
        ResourceSnapshot {
            desired: app.config.current(),
            book: app.status.snapshot(),
            handled: app.runtime.handled_kinds(),
        }
    }

    /// Every desired resource with its status, ordered by kind then name.
    pub fn objects(&self) -> impl Iterator<Item = ResourceObject<'_>> {
        self.desired.resources.values().map(|r| ResourceObject {
            resource: r,
            status: self
                .book
                .get(&r.id())
                .cloned()
                .unwrap_or_else(|| placeholder(r, &self.handled)),
        })
    }
}

pub fn status(app: &App) -> StatusBody {
    let desired = app.config.current();
    let book = app.status.snapshot();
    let handled = app.runtime.handled_kinds();
    let mut phases: BTreeMap<String, u64> = BTreeMap::new();
    let mut issues = Vec::new();
    let mut all = Vec::new();
    for r in desired.resources.values() {
        let s = book
            .get(&r.id())
            .cloned()
            .unwrap_or_else(|| placeholder(r, &handled));
        *phases.entry(s.phase.as_str().to_string()).or_default() += 1;
        all.push(s.phase);
        if !s.phase.is_good() {
            let (reason, message) = s.reason();
            issues.push(PhaseIssue {
                api_version: r.kind.api_version().into(),
                kind: r.kind.as_str().into(),
                name: r.name().into(),
                phase: s.phase,
                reason,
                message,
            });
        }
    }
    issues.sort_by(|a, b| {
        b.phase
            .badness()
            .cmp(&a.phase.badness())
            .then(a.kind.cmp(&b.kind))
            .then(a.name.cmp(&b.name))
    });
    StatusBody {
        metadata: StatusMetadata {
            name: "routerd".into(),
        },
        status: RouterStatus {
            phase: routerd_api::phase::aggregate(all),
            version: env!("CARGO_PKG_VERSION").into(),
            started_at: app.started_at,
            generation: desired.generation,
            last_apply_time: app.config.last_apply_time(),
            resource_count: desired.resources.len() as u64,
            resource_phases: phases,
            resource_phase_issues: issues,
            controllers: app.runtime.statuses(),
            daemons: app.supervisor.list(),
            config_error: app.config.config_error(),
            forwarding: match (
                app.forwarding.forwarding(false),
                app.forwarding.forwarding(true),
            ) {
                (Ok(ipv4), Ok(ipv6)) => Some(routerd_api::control::ForwardingStatus { ipv4, ipv6 }),
                _ => None,
            },
        },
    }
}
