//! The seed's phase vocabulary. Nothing else may serialise as a phase: detail belongs in conditions.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One of the eight phases every resource status uses.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, PartialOrd, Ord,
)]
pub enum Phase {
    Pending,
    Bound,
    Applied,
    Up,
    Installed,
    Healthy,
    Unhealthy,
    Error,
}

impl Phase {
    pub const ALL: [Phase; 8] = [
        Phase::Pending,
        Phase::Bound,
        Phase::Applied,
        Phase::Up,
        Phase::Installed,
        Phase::Healthy,
        Phase::Unhealthy,
        Phase::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Bound => "Bound",
            Phase::Applied => "Applied",
            Phase::Up => "Up",
            Phase::Installed => "Installed",
            Phase::Healthy => "Healthy",
            Phase::Unhealthy => "Unhealthy",
            Phase::Error => "Error",
        }
    }

    /// Case-insensitive parse, for query parameters and CLI flags.
    pub fn parse(s: &str) -> Option<Phase> {
        Phase::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
    }

    /// A good phase means the resource does what it was asked to do.
    pub fn is_good(self) -> bool {
        self.badness() == 0
    }

    /// Rank used to aggregate phases: `Error` > `Unhealthy` > `Pending` > every good phase.
    pub fn badness(self) -> u8 {
        match self {
            Phase::Error => 3,
            Phase::Unhealthy => 2,
            Phase::Pending => 1,
            _ => 0,
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The worst of a set of phases; `Healthy` when all are good or there are none.
pub fn aggregate<I: IntoIterator<Item = Phase>>(phases: I) -> Phase {
    let mut worst = Phase::Healthy;
    for p in phases {
        if p.badness() > worst.badness() {
            worst = p;
        }
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregate_ranks_error_over_unhealthy_over_pending() {
        assert_eq!(aggregate([]), Phase::Healthy);
        assert_eq!(
            aggregate([Phase::Bound, Phase::Applied, Phase::Up]),
            Phase::Healthy
        );
        assert_eq!(aggregate([Phase::Applied, Phase::Pending]), Phase::Pending);
        assert_eq!(
            aggregate([Phase::Pending, Phase::Unhealthy, Phase::Up]),
            Phase::Unhealthy
        );
        assert_eq!(
            aggregate([Phase::Unhealthy, Phase::Error, Phase::Pending]),
            Phase::Error
        );
    }

    #[test]
    fn only_the_eight_words_round_trip() {
        for p in Phase::ALL {
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.as_str()));
            assert_eq!(serde_json::from_str::<Phase>(&json).unwrap(), p);
        }
        assert!(serde_json::from_str::<Phase>("\"Running\"").is_err());
        assert_eq!(Phase::parse("installed"), Some(Phase::Installed));
    }
}
