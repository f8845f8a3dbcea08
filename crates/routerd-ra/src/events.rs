//! The router advertisement topics of `events.md` and their attribute keys, in one place so the
//! advertiser, the daemon and routerd's tests spell them the same way.

/// A prefix is advertised for the first time (it appeared in the settings).
pub const PREFIX_ADVERTISED: &str = "routerd.ra.prefix.advertised";
/// A prefix left the settings and is advertised with preferred lifetime 0 until it expires.
pub const PREFIX_DEPRECATED: &str = "routerd.ra.prefix.deprecated";

/// `source.kind` of every event this daemon emits.
pub const SOURCE_KIND: &str = "routerd-ra";
/// `resource.kind` of every event this daemon emits.
pub const RESOURCE_KIND: &str = "IPv6RouterAdvertisement";

/// Attribute keys.
pub mod attr {
    /// `2001:db8:1::/64`.
    pub const PREFIX: &str = "prefix";
    pub const PREFERRED_LIFETIME_SECONDS: &str = "preferredLifetimeSeconds";
    pub const VALID_LIFETIME_SECONDS: &str = "validLifetimeSeconds";
}
