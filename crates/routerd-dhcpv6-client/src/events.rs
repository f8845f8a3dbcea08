//! The DHCPv6 prefix delegation topics of `events.md` and the attribute keys they carry, in one place so
//! the state machine, the daemon and the tests spell them the same way.

pub const SOLICIT_SENT: &str = "routerd.dhcpv6.client.solicit.sent";
pub const ADVERTISE_RECEIVED: &str = "routerd.dhcpv6.client.advertise.received";
pub const REQUEST_SENT: &str = "routerd.dhcpv6.client.request.sent";
pub const REPLY_RECEIVED: &str = "routerd.dhcpv6.client.reply.received";
pub const PREFIX_BOUND: &str = "routerd.dhcpv6.client.prefix.bound";
pub const PREFIX_RENEWED: &str = "routerd.dhcpv6.client.prefix.renewed";
pub const PREFIX_REBOUND: &str = "routerd.dhcpv6.client.prefix.rebound";
pub const PREFIX_CHANGED: &str = "routerd.dhcpv6.client.prefix.changed";
pub const PREFIX_EXPIRED: &str = "routerd.dhcpv6.client.prefix.expired";
pub const PREFIX_RELEASED: &str = "routerd.dhcpv6.client.prefix.released";
pub const STATUS_RECEIVED: &str = "routerd.dhcpv6.client.status.received";
pub const INFO_RECEIVED: &str = "routerd.dhcpv6.client.info.received";
pub const SERVER_LOST: &str = "routerd.dhcpv6.client.server.lost";

/// Every DHCPv6 topic, for tests and documentation.
pub const ALL: [&str; 13] = [
    SOLICIT_SENT,
    ADVERTISE_RECEIVED,
    REQUEST_SENT,
    REPLY_RECEIVED,
    PREFIX_BOUND,
    PREFIX_RENEWED,
    PREFIX_REBOUND,
    PREFIX_CHANGED,
    PREFIX_EXPIRED,
    PREFIX_RELEASED,
    STATUS_RECEIVED,
    INFO_RECEIVED,
    SERVER_LOST,
];

/// `source.kind` of every event this daemon emits.
pub const SOURCE_KIND: &str = "routerd-dhcpv6-client";
/// `resource.kind` of every event this daemon emits.
pub const RESOURCE_KIND: &str = "DHCPv6PrefixDelegation";

/// Attribute keys.
pub mod attr {
    /// The delegated prefix, `2001:db8:1200::/56`.
    pub const PREFIX: &str = "prefix";
    /// The prefix held before (`prefix.changed`, `prefix.bound` after a loss).
    pub const PREVIOUS_PREFIX: &str = "previousPrefix";
    /// RFC 8415 status name (`Success`, `NoPrefixAvail`, ...).
    pub const STATUS_CODE: &str = "statusCode";
    /// The server's status message text, when it sent one.
    pub const STATUS_MESSAGE: &str = "statusMessage";
    /// Where the status code was found: `message`, `IA_PD` or `IA Prefix`.
    pub const STATUS_SCOPE: &str = "statusScope";
    /// The server's DUID, hex.
    pub const SERVER_DUID: &str = "serverDUID";
    /// The server's address the message came from.
    pub const SERVER_ADDRESS: &str = "serverAddress";
    /// The server's preference option (0 when absent).
    pub const PREFERENCE: &str = "preference";
    pub const PREFERRED_LIFETIME_SECONDS: &str = "preferredLifetimeSeconds";
    pub const VALID_LIFETIME_SECONDS: &str = "validLifetimeSeconds";
    pub const T1_SECONDS: &str = "t1Seconds";
    pub const T2_SECONDS: &str = "t2Seconds";
    /// The state the event happened in (`Soliciting`, `Renewing`, ...).
    pub const STATE: &str = "state";
    /// The message kind a reply answered (`REQUEST`, `RENEW`, ...).
    pub const MESSAGE_TYPE: &str = "messageType";
    /// Transmissions of this message so far in the exchange (1 = first).
    pub const ATTEMPT: &str = "attempt";
    /// The IAID of the IA_PD, decimal.
    pub const IAID: &str = "iaid";
    /// Comma-separated lists in `info.received`.
    pub const DNS_SERVERS: &str = "dnsServers";
    pub const DOMAIN_SEARCH: &str = "domainSearch";
    pub const SNTP_SERVERS: &str = "sntpServers";
    pub const AFTR_NAME: &str = "aftrName";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_follow_the_catalogue_grammar() {
        for t in ALL {
            routerd_api::topic::validate_topic(t).unwrap();
            assert!(t.starts_with("routerd.dhcpv6.client."), "{t}");
        }
    }
}
