//! The health topics of `events.md` and the attribute keys they carry, in one place so the state machine,
//! the daemon and the tests spell them the same way.

/// A probe passed after a probe that did not (or after no probe at all).
pub const PROBE_PASSED: &str = "routerd.healthcheck.probe.passed";
/// A probe failed after a probe that did not fail.
pub const PROBE_FAILED: &str = "routerd.healthcheck.probe.failed";
/// A probe timed out after a probe that did not time out.
pub const PROBE_TIMEOUT: &str = "routerd.healthcheck.probe.timeout";
/// The phase became `Healthy`.
pub const STATE_HEALTHY: &str = "routerd.healthcheck.state.healthy";
/// The phase became `Unhealthy` or `Error` from a phase that was neither (attribute `phase` says which).
pub const STATE_UNHEALTHY: &str = "routerd.healthcheck.state.unhealthy";

/// `source.kind` of every event this daemon emits.
pub const SOURCE_KIND: &str = "routerd-healthcheck";
/// `resource.kind` of every event this daemon emits.
pub const RESOURCE_KIND: &str = "HealthCheck";

/// Attribute keys.
pub mod attr {
    pub const TARGET: &str = "target";
    pub const PROTOCOL: &str = "protocol";
    pub const LATENCY_MILLIS: &str = "latencyMillis";
    pub const FAILURE_KIND: &str = "failureKind";
    pub const ERROR: &str = "error";
    pub const CONSECUTIVE_PASSED: &str = "consecutivePassed";
    pub const CONSECUTIVE_FAILED: &str = "consecutiveFailed";
    pub const PHASE: &str = "phase";
    pub const PREVIOUS_PHASE: &str = "previousPhase";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_follow_the_catalogue_grammar() {
        for t in [
            PROBE_PASSED,
            PROBE_FAILED,
            PROBE_TIMEOUT,
            STATE_HEALTHY,
            STATE_UNHEALTHY,
        ] {
            assert!(t.starts_with("routerd.healthcheck."), "{t}");
            assert!(t.split('.').all(|s| !s.is_empty()
                && s.bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'_'
                    || b == b'-')));
        }
    }
}
