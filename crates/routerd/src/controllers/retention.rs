//! `LogRetention`: sets how much event history the store keeps (the background retention task reads the
//! policy). Without a LogRetention resource the defaults apply: 7 days and 1,000,000 rows.

use super::runtime::{Action, Context, Controller, ReconcileFuture};
use super::status_book::StatusUpdate;
use routerd_api::spec::ResourceSpec;
use routerd_api::{Condition, Kind, Phase};
use routerd_store::RetentionPolicy;
use std::sync::{Arc, RwLock};

pub struct RetentionController {
    pub policy: Arc<RwLock<RetentionPolicy>>,
}

impl Controller for RetentionController {
    fn name(&self) -> &'static str {
        "retention"
    }
    fn kinds(&self) -> &'static [Kind] {
        &[Kind::LogRetention]
    }
    fn reconcile<'a>(&'a self, ctx: &'a Context) -> ReconcileFuture<'a> {
        Box::pin(async move {
            let mut policy = RetentionPolicy::default();
            let resources: Vec<_> = ctx.desired.of_kind(Kind::LogRetention).collect();
            for r in &resources {
                if let ResourceSpec::LogRetention(spec) = &r.spec {
                    if let Some(events) = &spec.events {
                        if let Some(age) = events.max_age {
                            policy.max_age = age.0;
                        }
                        if let Some(rows) = events.max_rows {
                            policy.max_rows = rows;
                        }
                    }
                }
            }
            if let Ok(mut p) = self.policy.write() {
                *p = policy;
            }
            let several = resources.len() > 1;
            for r in &resources {
                let (phase, cond) = if several {
                    (
                        Phase::Error,
                        Condition::new(
                            "Applied",
                            false,
                            "Conflict",
                            format!(
                                "{} LogRetention resources exist; keep exactly one",
                                resources.len()
                            ),
                        ),
                    )
                } else {
                    let msg = format!(
                        "events: max age {}, max rows {}",
                        routerd_api::GoDuration(policy.max_age),
                        policy.max_rows
                    );
                    (
                        Phase::Applied,
                        Condition::new("Applied", true, "PolicyInForce", msg),
                    )
                };
                ctx.status
                    .set(
                        &r.id(),
                        ctx.desired.generation,
                        StatusUpdate::new(phase, vec![cond]),
                    )
                    .await;
            }
            let desired = ctx.desired.clone();
            ctx.status.retain_kind(Kind::LogRetention, &|n| {
                desired.get(Kind::LogRetention, n).is_some()
            });
            Ok(Action::Idle)
        })
    }
}
