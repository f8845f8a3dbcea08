//! The EventRule engine's checkpoint: the consumer cursor (meta key `consumer:eventrule`) plus, per rule,
//! the spec it ran, the cursor from which that spec has been in force, and the fire count. It is
//! written in the same transaction as the virtual events it accounts for (`EventBus::import`), so a
//! restart neither loses nor repeats an evaluation and fire counts survive restarts and retention.

use routerd_api::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Meta key of the checkpoint.
pub const KEY: &str = "consumer:eventrule";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// Every event up to this cursor has been evaluated.
    pub cursor: u64,
    #[serde(default)]
    pub rules: BTreeMap<String, RuleCheckpoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleCheckpoint {
    /// Fingerprint of the spec in force.
    pub spec: String,
    /// Cursor from which this spec has been evaluated: its state never reaches before it.
    pub since: u64,
    #[serde(default)]
    pub fire_count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fired_at: Option<Timestamp>,
}

impl Checkpoint {
    /// Parses a stored checkpoint; a bare number is read as a cursor with no rule records.
    pub fn parse(text: &str) -> Result<Checkpoint, String> {
        if let Ok(cursor) = text.trim().parse::<u64>() {
            return Ok(Checkpoint {
                cursor,
                rules: BTreeMap::new(),
            });
        }
        serde_json::from_str(text).map_err(|e| format!("{KEY} is not a checkpoint: {e}"))
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| self.cursor.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reads_a_bare_cursor() {
        let mut c = Checkpoint {
            cursor: 42,
            ..Default::default()
        };
        c.rules.insert(
            "wan-flapping".into(),
            RuleCheckpoint {
                spec: "00ff".into(),
                since: 7,
                fire_count: 3,
                last_fired_at: Some(Timestamp(1_700_000_000_000_000_000)),
            },
        );
        assert_eq!(Checkpoint::parse(&c.encode()).unwrap(), c);
        assert_eq!(Checkpoint::parse("17").unwrap().cursor, 17);
        assert!(Checkpoint::parse("{").is_err());
    }
}
