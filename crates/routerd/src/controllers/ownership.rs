//! What routerd installed on the host, per resource, persisted in `routerd.db`: a delete removes exactly
//! that (even after a restart between apply and delete), and an object that was there before routerd is
//! never recorded, so it is never removed.

use super::runtime::{Context, ReconcileError};
use routerd_api::Kind;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use std::pin::Pin;

pub type RemoveFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// A host object a controller installed for one resource.
pub trait Artifact: Serialize + DeserializeOwned + Send + Sync {
    const KIND: Kind;
    /// Removes the object from the host ("already gone" is success) and reports it as an event.
    fn remove<'a>(&'a self, ctx: &'a Context, name: &'a str, reason: &'a str) -> RemoveFuture<'a>;
}

/// The artifact recorded for `name`, if any (an unreadable record counts as none).
pub fn recorded<A: Artifact>(ctx: &Context, name: &str) -> Option<A> {
    ctx.state
        .get_artifact(A::KIND.as_str(), name)
        .ok()
        .flatten()
        .and_then(|v| serde_json::from_value(v).ok())
}

pub fn record<A: Artifact>(ctx: &Context, name: &str, artifact: &A) -> Result<(), String> {
    let value = serde_json::to_value(artifact).map_err(|e| e.to_string())?;
    ctx.state
        .put_artifact(A::KIND.as_str(), name, &value)
        .map_err(|e| e.to_string())
}

/// Records what is installed for `name` now, or forgets the record when nothing is (`None`), so a
/// resource that holds nothing leaves no row behind.
pub fn keep<A: Artifact>(ctx: &Context, name: &str, installed: Option<&A>) -> Result<(), String> {
    match installed {
        Some(artifact) => record(ctx, name, artifact),
        None => ctx
            .state
            .delete_artifact(A::KIND.as_str(), name)
            .map_err(|e| e.to_string()),
    }
}

/// Removes the object and forgets the record.
pub async fn remove<A: Artifact>(
    ctx: &Context,
    name: &str,
    artifact: &A,
    reason: &str,
) -> Result<(), String> {
    artifact.remove(ctx, name, reason).await?;
    ctx.state
        .delete_artifact(A::KIND.as_str(), name)
        .map_err(|e| e.to_string())
}

/// Removes what was installed for resources of `A::KIND` that are no longer desired; returns the
/// failures (teardown keeps going past one, so a missing route never leaves the rest behind).
pub async fn remove_deleted<A: Artifact>(ctx: &Context) -> Result<Vec<String>, ReconcileError> {
    let mut failures = Vec::new();
    let names = ctx
        .state
        .artifact_names(A::KIND.as_str())
        .map_err(|e| ReconcileError(e.to_string()))?;
    for name in names {
        if ctx.desired.get(A::KIND, &name).is_some() {
            continue;
        }
        if let Some(art) = recorded::<A>(ctx, &name) {
            if let Err(e) = remove(ctx, &name, &art, "deleted").await {
                failures.push(e);
            }
        }
    }
    Ok(failures)
}
