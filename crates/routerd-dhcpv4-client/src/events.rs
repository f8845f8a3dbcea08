//! The DHCPv4 topics of `events.md` and the attribute keys they carry, in one place so the state machine,
//! the daemon and the tests spell them the same way.

pub const DISCOVER_SENT: &str = "routerd.dhcpv4.client.discover.sent";
pub const OFFER_RECEIVED: &str = "routerd.dhcpv4.client.offer.received";
pub const REQUEST_SENT: &str = "routerd.dhcpv4.client.request.sent";
pub const LEASE_BOUND: &str = "routerd.dhcpv4.client.lease.bound";
pub const LEASE_RENEWED: &str = "routerd.dhcpv4.client.lease.renewed";
pub const LEASE_REBOUND: &str = "routerd.dhcpv4.client.lease.rebound";
pub const LEASE_EXPIRED: &str = "routerd.dhcpv4.client.lease.expired";
pub const LEASE_RELEASED: &str = "routerd.dhcpv4.client.lease.released";
pub const NAK_RECEIVED: &str = "routerd.dhcpv4.client.nak.received";
pub const ADDRESS_CONFLICT: &str = "routerd.dhcpv4.client.address.conflict";

/// Every DHCPv4 topic, for tests and documentation.
pub const ALL: [&str; 10] = [
    DISCOVER_SENT,
    OFFER_RECEIVED,
    REQUEST_SENT,
    LEASE_BOUND,
    LEASE_RENEWED,
    LEASE_REBOUND,
    LEASE_EXPIRED,
    LEASE_RELEASED,
    NAK_RECEIVED,
    ADDRESS_CONFLICT,
];

/// `source.kind` of every event this daemon emits.
pub const SOURCE_KIND: &str = "routerd-dhcpv4-client";
/// `resource.kind` of every event this daemon emits.
pub const RESOURCE_KIND: &str = "DHCPv4Client";

/// Attribute keys (the catalogue's `address`, `gateway`, `serverID`, `leaseTimeSeconds`, plus detail).
pub mod attr {
    pub const ADDRESS: &str = "address";
    pub const GATEWAY: &str = "gateway";
    pub const SERVER_ID: &str = "serverID";
    pub const LEASE_TIME_SECONDS: &str = "leaseTimeSeconds";
    /// The RFC 2131 state the event happened in (`Requesting`, `Rebooting`, `Renewing`, ...).
    pub const STATE: &str = "state";
    /// Transmissions of this message so far in the exchange (1 = first).
    pub const ATTEMPT: &str = "attempt";
    /// The server's option 56 text on a NAK.
    pub const MESSAGE: &str = "message";
    /// MAC address that answered for an address we probed.
    pub const CONFLICT_MAC: &str = "conflictMAC";
    /// The address the lease had before (`lease.bound` after an expiry or NAK).
    pub const PREVIOUS_ADDRESS: &str = "previousAddress";
    /// `true` on `lease.bound` when no server confirmed a remembered lease and it is used until it expires.
    pub const UNCONFIRMED: &str = "unconfirmed";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_follow_the_catalogue_grammar() {
        for t in ALL {
            routerd_api::topic::validate_topic(t).unwrap();
            assert!(t.starts_with("routerd.dhcpv4.client."), "{t}");
        }
    }
}
