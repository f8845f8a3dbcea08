//! The LAN-service topics of `events.md` this daemon emits and their attribute keys.

pub const LEASE_GRANTED: &str = "routerd.dhcpv4.server.lease.granted";
pub const LEASE_RENEWED: &str = "routerd.dhcpv4.server.lease.renewed";
pub const LEASE_RELEASED: &str = "routerd.dhcpv4.server.lease.released";
pub const LEASE_EXPIRED: &str = "routerd.dhcpv4.server.lease.expired";
pub const LEASE_DECLINED: &str = "routerd.dhcpv4.server.lease.declined";
pub const NAK_SENT: &str = "routerd.dhcpv4.server.nak.sent";
pub const POOL_EXHAUSTED: &str = "routerd.dhcpv4.server.pool.exhausted";

/// Every topic, for tests and documentation.
pub const ALL: [&str; 7] = [
    LEASE_GRANTED,
    LEASE_RENEWED,
    LEASE_RELEASED,
    LEASE_EXPIRED,
    LEASE_DECLINED,
    NAK_SENT,
    POOL_EXHAUSTED,
];

/// `resource.kind` of every event this daemon emits.
pub const RESOURCE_KIND: &str = "DHCPv4Server";

pub mod attr {
    pub const MAC: &str = "mac";
    pub const ADDRESS: &str = "address";
    pub const HOSTNAME: &str = "hostname";
}

#[cfg(test)]
mod tests {
    #[test]
    fn topics_follow_the_catalogue_grammar() {
        for t in super::ALL {
            routerd_api::topic::validate_topic(t).unwrap();
        }
    }
}
