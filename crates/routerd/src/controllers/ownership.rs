//! What routerd installed on the host, per resource, persisted in `routerd.db`: a delete removes exactly
//! that (even after a restart between apply and delete), and an object that was there before routerd is
//! never recorded, so it is never removed. Every change of a record returns once it is committed, so a
//! controller never acts on the host believing in a record that was lost.

use super::runtime::{Context, ReconcileError};
use routerd_api::Kind;
use routerd_host::HostError;
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

/// Records `artifact` as routerd's for `name`; returns once the record is committed.
pub async fn record<A: Artifact>(ctx: &Context, name: &str, artifact: &A) -> Result<(), String> {
    let value = serde_json::to_value(artifact).map_err(|e| e.to_string())?;
    ctx.state
        .put_artifact(A::KIND.as_str(), name, &value)
        .await
        .map_err(|e| e.to_string())
}

/// Forgets the record of `name`; returns once that is committed.
async fn forget<A: Artifact>(ctx: &Context, name: &str) -> Result<(), String> {
    ctx.state
        .delete_artifact(A::KIND.as_str(), name)
        .await
        .map_err(|e| e.to_string())
}

/// Records what is installed for `name` now, or forgets the record when nothing is (`None`), so a
/// resource that holds nothing leaves no row behind.
pub async fn keep<A: Artifact>(
    ctx: &Context,
    name: &str,
    installed: Option<&A>,
) -> Result<(), String> {
    match installed {
        Some(artifact) => record(ctx, name, artifact).await,
        None => forget::<A>(ctx, name).await,
    }
}

/// How an [`install`] that did not fail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Installed {
    /// Created now, and recorded as routerd's.
    Created,
    /// The host already had it (`AlreadyExists`): someone else created it after the controller looked.
    /// It is theirs; no record claims it.
    Foreign,
}

/// Why an [`install`] failed. Either way no record claims an object routerd did not create.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The ownership record could not be committed (so the object was not created), or could not be
    /// withdrawn from an object that turned out to be someone else's.
    #[error("cannot record ownership: {0}")]
    Record(String),
    /// The host refused the object.
    #[error(transparent)]
    Host(HostError),
}

/// Installs an object routerd will own, record first. The record is committed before `create` runs,
/// so neither a store failure nor a crash in between leaves an object of routerd's unrecorded (a later
/// reconcile would take it for someone else's and never remove it). `create` must have exclusive
/// semantics: `AlreadyExists` means someone else created the object after the controller's snapshot,
/// and the record is withdrawn. `had_record` says the record predates this attempt (a repair); it is
/// kept when the host refuses for another reason.
pub async fn install<A, F>(
    ctx: &Context,
    name: &str,
    artifact: &A,
    had_record: bool,
    create: F,
) -> Result<Installed, InstallError>
where
    A: Artifact,
    F: Future<Output = Result<(), HostError>>,
{
    record(ctx, name, artifact)
        .await
        .map_err(InstallError::Record)?;
    match create.await {
        Ok(()) => Ok(Installed::Created),
        Err(HostError::AlreadyExists(_)) => match forget::<A>(ctx, name).await {
            Ok(()) => Ok(Installed::Foreign),
            Err(e) => Err(InstallError::Record(format!(
                "the object exists and is not routerd's, but the record claiming it could not be withdrawn: {e}"
            ))),
        },
        Err(e) => {
            if !had_record {
                if let Err(forgot) = forget::<A>(ctx, name).await {
                    tracing::warn!(error = %forgot, kind = %A::KIND, name, "record of an object that was not created could not be withdrawn");
                }
            }
            Err(InstallError::Host(e))
        }
    }
}

/// [`install`] for one more object in a record that holds several (a session's IPv4 and IPv6 default
/// routes): `next` — `previous` plus the new object — is committed before `create` runs; when the
/// object turns out to be someone else's (`AlreadyExists`) or the host refuses it, the record goes back
/// to `previous`, so the objects already held stay recorded.
pub async fn install_into<A, F>(
    ctx: &Context,
    name: &str,
    previous: Option<&A>,
    next: &A,
    create: F,
) -> Result<Installed, InstallError>
where
    A: Artifact,
    F: Future<Output = Result<(), HostError>>,
{
    record(ctx, name, next)
        .await
        .map_err(InstallError::Record)?;
    let result = create.await;
    let restore = |why: &'static str| async move {
        keep(ctx, name, previous).await.map_err(|e| {
            InstallError::Record(format!(
                "{why}, but the record claiming it could not be withdrawn: {e}"
            ))
        })
    };
    match result {
        Ok(()) => Ok(Installed::Created),
        Err(HostError::AlreadyExists(_)) => {
            restore("the object exists and is not routerd's").await?;
            Ok(Installed::Foreign)
        }
        Err(e) => {
            if let Err(forgot) = restore("the object was not created").await {
                tracing::warn!(error = %forgot, kind = %A::KIND, name, "record of an object that was not created could not be withdrawn");
            }
            Err(InstallError::Host(e))
        }
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
    forget::<A>(ctx, name).await
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
