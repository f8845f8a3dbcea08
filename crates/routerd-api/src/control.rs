//! Control API envelopes (`control.routerd.net/v1alpha1`). The structs are the bodies; every response is
//! wrapped with `apiVersion` and `kind` by [`envelope`] so the wrapping is done in exactly one place.

use crate::duration::GoDuration;
use crate::event::Event;
use crate::phase::Phase;
use crate::resource::FieldError;
use crate::time::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Wraps a body as `{"apiVersion": ..., "kind": kind, ...body}`.
pub fn envelope<T: Serialize>(kind: &str, body: &T) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    out.insert("apiVersion".into(), crate::CONTROL_API_VERSION.into());
    out.insert("kind".into(), kind.into());
    if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(body) {
        for (k, v) in fields {
            if k != "apiVersion" && k != "kind" {
                out.insert(k, v);
            }
        }
    }
    serde_json::Value::Object(out)
}

/// Stable error codes; programs switch on these, people read `message`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ErrorCode {
    BadRequest,
    Invalid,
    NotFound,
    MethodNotAllowed,
    Conflict,
    Gone,
    CursorExpired,
    PayloadTooLarge,
    /// The request body did not arrive in time after the headers.
    RequestTimeout,
    /// The peer's uid already holds its share of connections or long-polls; retry later.
    TooManyRequests,
    ReadOnlySocket,
    Forbidden,
    Unavailable,
    Internal,
}

impl ErrorCode {
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadRequest => 400,
            ErrorCode::Forbidden | ErrorCode::ReadOnlySocket => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Conflict => 409,
            ErrorCode::Gone | ErrorCode::CursorExpired => 410,
            ErrorCode::RequestTimeout => 408,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::TooManyRequests => 429,
            ErrorCode::Invalid => 422,
            ErrorCode::Internal => 500,
            ErrorCode::Unavailable => 503,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<FieldError>,
    /// `CursorExpired` only: where the client continues from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// Body of kind `Error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    pub error: ApiError,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ApplyMode {
    /// Upsert the given resources by identity, keep the others.
    #[default]
    Merge,
    /// The given set becomes the whole desired state.
    Replace,
}

/// Largest generation a request may name: 2^53 - 1, the largest integer every JSON implementation reads
/// exactly (the schema says so too).
pub const MAX_GENERATION: u64 = (1 << 53) - 1;

/// Reads a generation number: an integer, or a number with an integral value (`268435456.0`: JSON Schema
/// counts it as an integer, so generated or hand-written clients may send it), from 0 to
/// [`MAX_GENERATION`].
fn generation_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    let value = match n.as_u64() {
        Some(u) => Some(u),
        None => n
            .as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= MAX_GENERATION as f64)
            .map(|f| f as u64),
    };
    value.filter(|v| *v <= MAX_GENERATION).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "{n} is not a generation (an integer from 0 to {MAX_GENERATION})"
        ))
    })
}

/// [`generation_number`] for an optional field (`null` is absent).
fn optional_generation_number<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    struct Generation(#[serde(deserialize_with = "generation_number")] u64);
    Ok(Option::<Generation>::deserialize(d)?.map(|g| g.0))
}

/// `POST /apply`, `/plan`, `/validate`: resources as objects, or a YAML manifest (exactly one of them;
/// `null` counts as absent).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(extend("oneOf" = [
    {"required": ["resources"], "properties": {"resources": {"type": "array"}}},
    {"required": ["manifest"], "properties": {"manifest": {"type": "string"}}}
]))]
pub struct ApplyRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Resource objects (`apiVersion`, `kind`, `metadata`, `spec`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Vec<serde_json::Map<String, serde_json::Value>>>")]
    pub resources: Option<Vec<serde_json::Value>>,
    /// YAML text, one or more documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    #[serde(default)]
    pub mode: ApplyMode,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_generation_number"
    )]
    #[schemars(extend("maximum" = 9007199254740991u64))]
    pub if_generation: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChangeAction {
    Created,
    Updated,
    Unchanged,
    Deleted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Change {
    /// `<apiVersion>/<Kind>/<name>`.
    pub id: String,
    pub action: ChangeAction,
}

/// Body of kind `ApplyResult` (also returned by delete as `DeleteResult`, and by rollback).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplyResult {
    /// The generation in force after the call.
    pub generation: u64,
    pub previous_generation: u64,
    pub dry_run: bool,
    pub changes: Vec<Change>,
    #[serde(default)]
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeleteRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `Kind/name` of each resource to delete.
    #[schemars(
        length(min = 1),
        inner(regex(pattern = r"^[A-Za-z0-9]+/[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"))
    )]
    pub targets: Vec<String>,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_generation_number"
    )]
    #[schemars(extend("maximum" = 9007199254740991u64))]
    pub if_generation: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RollbackRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(deserialize_with = "generation_number")]
    #[schemars(extend("maximum" = 9007199254740991u64))]
    pub generation: u64,
    #[serde(default)]
    pub dry_run: bool,
}

/// Body of kind `ValidateResult`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ValidateResult {
    pub valid: bool,
    pub errors: Vec<FieldError>,
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// One row of the config ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GenerationInfo {
    pub generation: u64,
    pub created_at: Timestamp,
    /// `apply`, `delete`, `rollback`, `config` (files at start-up).
    pub source: String,
    pub resource_count: u64,
    pub created: u64,
    pub updated: u64,
    pub deleted: u64,
    /// Generation restored, for rollbacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GenerationList {
    pub items: Vec<GenerationInfo>,
}

/// Body of kind `EventList`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EventList {
    /// Last cursor returned, or the `since` value when nothing was.
    pub cursor: String,
    pub items: Vec<Event>,
}

/// Body of kind `ResourceList`: each item is a full resource object with `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceList {
    pub items: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    pub status: String,
}

/// A resource that is not in a good phase, as listed in `Status.status.resourcePhaseIssues`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PhaseIssue {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub phase: Phase,
    pub reason: String,
    pub message: String,
}

/// One controller's configured mode and runtime observations. Runtime fields are absent until the
/// controller has run: they are observations, not defaults.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ControllerStatus {
    pub name: String,
    /// `live`, `observe` or `disabled`.
    pub mode: String,
    pub resource_kinds: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<GoDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_millis: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_trigger: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reconcile_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_reconcile_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconcile_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconcile_error_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_error_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_error: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_duration: Option<GoDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_duration_millis: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<GoDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration_millis: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_duration: Option<GoDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_duration_millis: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_cleared_at: Option<Timestamp>,
    /// Stored events a rule engine could not decode and passed over (each reported as
    /// `routerd.rules.event.skipped`); absent while there are none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped_event_count: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ControllerList {
    pub items: Vec<ControllerStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DaemonInfo {
    pub kind: String,
    pub instance: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    pub socket: String,
    pub restarts: u64,
    pub state: String,
    /// Why routerd is not importing this daemon's events right now (absent while it is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_error: Option<String>,
}

/// `Status.status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouterStatus {
    pub phase: Phase,
    pub version: String,
    pub started_at: Timestamp,
    pub generation: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_apply_time: Option<Timestamp>,
    pub resource_count: u64,
    pub resource_phases: BTreeMap<String, u64>,
    pub resource_phase_issues: Vec<PhaseIssue>,
    pub controllers: Vec<ControllerStatus>,
    pub daemons: Vec<DaemonInfo>,
    /// Present when the config files given at start-up were refused; routerd kept the last good generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_error: Option<String>,
    /// Whether the kernel forwards IPv4/IPv6 (routerd turns both on while a NAT44Rule, FirewallZone or
    /// EgressRoutePolicy exists); absent when it cannot be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarding: Option<ForwardingStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatusMetadata {
    pub name: String,
}

/// Body of kind `Status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatusBody {
    pub metadata: StatusMetadata,
    pub status: RouterStatus,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_accept_integral_numbers_only() {
        let rollback = |g: &str| {
            serde_json::from_str::<RollbackRequest>(&format!(r#"{{"generation": {g}}}"#))
                .map(|r| r.generation)
        };
        assert_eq!(rollback("7").unwrap(), 7);
        assert_eq!(
            rollback("268435456.0").unwrap(),
            268435456,
            "JSON Schema's integer"
        );
        assert_eq!(rollback("9007199254740991").unwrap(), MAX_GENERATION);
        for bad in ["1.5", "-1", "9007199254740992", "1e300", "\"3\"", "null"] {
            assert!(rollback(bad).is_err(), "{bad}");
        }
        let apply: ApplyRequest =
            serde_json::from_str(r#"{"manifest": "", "ifGeneration": 6494.0}"#).unwrap();
        assert_eq!(apply.if_generation, Some(6494));
        let apply: ApplyRequest =
            serde_json::from_str(r#"{"manifest": "", "ifGeneration": null}"#).unwrap();
        assert_eq!(apply.if_generation, None);
    }
}

/// Body of `GET /firewall` (kind `FirewallTable`): the applied `inet routerd` table, rule by rule, grouped
/// by the resource each rule was rendered from (`base` for the rules routerd always renders).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FirewallTable {
    /// `inet routerd`.
    pub table: String,
    /// False when no resource needs the table (then it does not exist).
    pub present: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_at: Option<Timestamp>,
    /// Rules in the whole table.
    pub rules: u64,
    pub resources: Vec<FirewallResourceRules>,
}

/// The rules of one resource in [`FirewallTable`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FirewallResourceRules {
    /// A kind, or `base`.
    pub kind: String,
    pub name: String,
    pub rules: Vec<FirewallRenderedRule>,
}

/// One rule as nft was given it, with its chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FirewallRenderedRule {
    pub chain: String,
    pub rule: String,
}

/// `forwarding` of `/status`: whether the kernel forwards IPv4 and IPv6 (`resources.md` "Forwarding").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ForwardingStatus {
    pub ipv4: bool,
    pub ipv6: bool,
}
