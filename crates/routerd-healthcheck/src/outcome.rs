//! What one probe attempt found: the input of the threshold state machine and the output of every probe.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The `lastResult` / `history[].result` vocabulary of `HealthCheck` status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeResult {
    Passed,
    Failed,
    Timeout,
}

impl ProbeResult {
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeResult::Passed => "passed",
            ProbeResult::Failed => "failed",
            ProbeResult::Timeout => "timeout",
        }
    }
}

impl std::fmt::Display for ProbeResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a probe did not pass (`failureKind` in status and events; `protocols.md` fixes the words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// No answer within `timeout`.
    Timeout,
    /// The target actively refused: TCP RST, ICMP port unreachable on a DNS query.
    Refused,
    /// No route, host or network unreachable (locally or by an ICMP error on the way).
    Unreachable,
    /// The DNS answer was not a NOERROR with answers, or the target name could not be resolved.
    Dns,
    /// The HTTP status code was not the expected one.
    HttpStatus,
    /// `sourceAddress`, `sourceInterface` or the resolved target could not be applied to the socket.
    Binding,
    /// The kernel said EPERM/EACCES: missing capability, or a local firewall rule.
    Permission,
    /// Anything else: malformed answers, invalid probe settings, unexpected socket errors.
    Other,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Timeout => "timeout",
            FailureKind::Refused => "refused",
            FailureKind::Unreachable => "unreachable",
            FailureKind::Dns => "dns",
            FailureKind::HttpStatus => "http-status",
            FailureKind::Binding => "binding",
            FailureKind::Permission => "permission",
            FailureKind::Other => "other",
        }
    }

    /// Every kind, in the order `protocols.md` lists them.
    pub const ALL: [FailureKind; 8] = [
        FailureKind::Timeout,
        FailureKind::Refused,
        FailureKind::Unreachable,
        FailureKind::Dns,
        FailureKind::HttpStatus,
        FailureKind::Binding,
        FailureKind::Permission,
        FailureKind::Other,
    ];
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of one probe attempt.
///
/// `CannotProbe` is kept apart from `Failed` because it says nothing about the path to the target: the
/// probe never left the host (the socket could not be bound as asked, the kernel refused the socket, the
/// target name did not resolve, the probe settings are unusable). The state machine counts it as a
/// failure (a check that cannot probe must never look healthy) and uses it to decide the `Error` phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "camelCase")]
pub enum ProbeOutcome {
    /// The target answered as required.
    Passed {
        #[serde(with = "duration_millis")]
        latency: Duration,
    },
    /// The probe was sent and the answer (or an error on the way) says the target is not healthy.
    Failed {
        #[serde(rename = "failureKind")]
        kind: FailureKind,
        error: String,
        /// Time until the negative answer, when there was one (an HTTP 503, a DNS NXDOMAIN).
        #[serde(default, with = "opt_duration_millis")]
        latency: Option<Duration>,
    },
    /// The probe was sent and nothing came back within the timeout.
    Timeout { error: String },
    /// The probe could not be sent at all (see the type's documentation).
    CannotProbe {
        #[serde(rename = "failureKind")]
        kind: FailureKind,
        error: String,
    },
}

impl ProbeOutcome {
    pub fn failed(kind: FailureKind, error: impl Into<String>) -> ProbeOutcome {
        ProbeOutcome::Failed {
            kind,
            error: error.into(),
            latency: None,
        }
    }

    pub fn cannot_probe(kind: FailureKind, error: impl Into<String>) -> ProbeOutcome {
        ProbeOutcome::CannotProbe {
            kind,
            error: error.into(),
        }
    }

    /// The status word: a probe that could not be sent is `failed`.
    pub fn result(&self) -> ProbeResult {
        match self {
            ProbeOutcome::Passed { .. } => ProbeResult::Passed,
            ProbeOutcome::Failed { .. } | ProbeOutcome::CannotProbe { .. } => ProbeResult::Failed,
            ProbeOutcome::Timeout { .. } => ProbeResult::Timeout,
        }
    }

    pub fn failure_kind(&self) -> Option<FailureKind> {
        match self {
            ProbeOutcome::Passed { .. } => None,
            ProbeOutcome::Failed { kind, .. } | ProbeOutcome::CannotProbe { kind, .. } => {
                Some(*kind)
            }
            ProbeOutcome::Timeout { .. } => Some(FailureKind::Timeout),
        }
    }

    pub fn error(&self) -> Option<&str> {
        match self {
            ProbeOutcome::Passed { .. } => None,
            ProbeOutcome::Failed { error, .. }
            | ProbeOutcome::Timeout { error }
            | ProbeOutcome::CannotProbe { error, .. } => Some(error),
        }
    }

    pub fn latency(&self) -> Option<Duration> {
        match self {
            ProbeOutcome::Passed { latency } => Some(*latency),
            ProbeOutcome::Failed { latency, .. } => *latency,
            ProbeOutcome::Timeout { .. } | ProbeOutcome::CannotProbe { .. } => None,
        }
    }

    /// Latency in milliseconds as status shows it (microsecond resolution).
    pub fn latency_millis(&self) -> Option<f64> {
        self.latency().map(millis)
    }

    /// True when the probe left the host (everything but `CannotProbe`).
    pub fn was_sent(&self) -> bool {
        !matches!(self, ProbeOutcome::CannotProbe { .. })
    }

    pub fn is_passed(&self) -> bool {
        matches!(self, ProbeOutcome::Passed { .. })
    }
}

/// Milliseconds rounded to the microsecond, so status and events do not show float noise.
pub(crate) fn millis(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

mod duration_millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(super::millis(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let ms = f64::deserialize(d)?;
        Duration::try_from_secs_f64(ms / 1000.0).map_err(serde::de::Error::custom)
    }
}

mod opt_duration_millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&super::millis(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        match Option::<f64>::deserialize(d)? {
            Some(ms) => Duration::try_from_secs_f64(ms / 1000.0)
                .map(Some)
                .map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_kinds_serialise_as_the_spec_words() {
        let words: Vec<String> = FailureKind::ALL
            .iter()
            .map(|k| serde_json::to_string(k).unwrap())
            .collect();
        assert_eq!(
            words,
            [
                "\"timeout\"",
                "\"refused\"",
                "\"unreachable\"",
                "\"dns\"",
                "\"http-status\"",
                "\"binding\"",
                "\"permission\"",
                "\"other\""
            ]
        );
        for k in FailureKind::ALL {
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{k}\""));
        }
    }

    #[test]
    fn outcome_accessors_and_round_trip() {
        let cases = [
            ProbeOutcome::Passed {
                latency: Duration::from_micros(1500),
            },
            ProbeOutcome::Failed {
                kind: FailureKind::HttpStatus,
                error: "HTTP 503".into(),
                latency: Some(Duration::from_millis(3)),
            },
            ProbeOutcome::failed(FailureKind::Refused, "connection refused"),
            ProbeOutcome::Timeout {
                error: "no reply".into(),
            },
            ProbeOutcome::cannot_probe(FailureKind::Binding, "no device"),
        ];
        for c in &cases {
            let json = serde_json::to_string(c).unwrap();
            let back: ProbeOutcome = serde_json::from_str(&json).unwrap();
            assert_eq!(&back, c, "{json}");
        }
        assert_eq!(cases[0].latency_millis(), Some(1.5));
        assert_eq!(cases[3].failure_kind(), Some(FailureKind::Timeout));
        assert_eq!(cases[4].result(), ProbeResult::Failed);
        assert!(!cases[4].was_sent());
        assert!(cases[1].was_sent());
    }
}
