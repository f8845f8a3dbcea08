//! The PPPoE topics of `events.md` and their attribute keys, in one place so the state machine, the
//! daemon and the tests spell them the same way.

pub const DISCOVERY_COMPLETED: &str = "routerd.pppoe.client.discovery.completed";
pub const AUTH_SUCCEEDED: &str = "routerd.pppoe.client.auth.succeeded";
pub const AUTH_FAILED: &str = "routerd.pppoe.client.auth.failed";
pub const SESSION_UP: &str = "routerd.pppoe.client.session.up";
pub const SESSION_DOWN: &str = "routerd.pppoe.client.session.down";
pub const ECHO_LOST: &str = "routerd.pppoe.client.echo.lost";
pub const PADT_RECEIVED: &str = "routerd.pppoe.client.padt.received";

/// Every PPPoE topic, for tests and documentation.
pub const ALL: [&str; 7] = [
    DISCOVERY_COMPLETED,
    AUTH_SUCCEEDED,
    AUTH_FAILED,
    SESSION_UP,
    SESSION_DOWN,
    ECHO_LOST,
    PADT_RECEIVED,
];

/// `resource.kind` of every event this daemon emits.
pub const RESOURCE_KIND: &str = "PPPoESession";

/// Attribute keys (the catalogue's, plus detail).
pub mod attr {
    pub const AC_NAME: &str = "acName";
    pub const SESSION_ID: &str = "sessionID";
    pub const LOCAL_ADDRESS: &str = "localAddress";
    pub const PEER_ADDRESS: &str = "peerAddress";
    pub const IFNAME: &str = "ifname";
    pub const REASON: &str = "reason";
    /// `PAP` or `CHAP` on the auth events.
    pub const METHOD: &str = "method";
    /// The peer's message on the auth events.
    pub const MESSAGE: &str = "message";
    /// The AC's MAC on discovery.completed and padt.received.
    pub const AC_MAC: &str = "acMAC";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_follow_the_catalogue_grammar() {
        for t in ALL {
            routerd_api::topic::validate_topic(t).unwrap();
            assert!(t.starts_with("routerd.pppoe.client."), "{t}");
        }
    }
}
