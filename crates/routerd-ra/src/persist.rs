//! `advertised.json` in the daemon's state dir: the prefixes it advertised, so a restarted daemon whose
//! config no longer has one still deprecates it (hosts would otherwise keep a dead prefix preferred
//! until its lifetimes, possibly days, ran out).

use routerd_api::Timestamp;
use serde::{Deserialize, Serialize};

/// File name in the state dir.
pub const ADVERTISED_FILE: &str = "advertised.json";

/// One prefix advertised, and when its validity ends (`None`: an infinite lifetime).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistedPrefix {
    pub prefix: String,
    pub autonomous: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<Timestamp>,
}

/// The file's content.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Persisted {
    #[serde(default)]
    pub prefixes: Vec<PersistedPrefix>,
}
