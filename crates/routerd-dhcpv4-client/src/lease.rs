//! A lease as the client holds it, persists it (`lease.json`) and times it (T1, T2, expiry).
//!
//! Times (RFC 2131 §4.4.5): T1 defaults to 0.5 and T2 to 0.875 of the lease when the server omits them
//! or gives values that are not ordered `T1 < T2 < lease`. Leases shorter than 60 s are accepted; the
//! first renewal then happens no sooner than [`MIN_RENEW_SPACING`] after binding (or at T2 if that comes
//! first), and retransmissions while renewing or rebinding are at least that far apart (60 s for
//! ordinary leases), so a 4-second lease cannot make the client hammer its server.

use crate::message::Reply;
use crate::options::ClasslessRoute;
use routerd_api::Timestamp;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::time::Duration;

/// A lease time of all ones means "infinite" (RFC 2131 §3.3).
pub const INFINITE: u32 = u32::MAX;
/// Fraction of the lease at which to renew when the server gives no T1.
pub const T1_FRACTION: (u64, u64) = (1, 2);
/// Fraction of the lease at which to rebind when the server gives no T2.
pub const T2_FRACTION: (u64, u64) = (7, 8);
/// Leases shorter than this are "short": renewals are spaced by [`MIN_RENEW_SPACING`] instead of
/// [`RENEW_RETRANSMIT_MIN`].
pub const SHORT_LEASE: Duration = Duration::from_secs(60);
/// Minimum spacing of renewals and of their retransmissions for short leases.
pub const MIN_RENEW_SPACING: Duration = Duration::from_secs(10);
/// Minimum wait between retransmissions in RENEWING and REBINDING (RFC 2131 §4.4.5).
pub const RENEW_RETRANSMIT_MIN: Duration = Duration::from_secs(60);

/// What the server granted, as the client keeps and persists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    pub address: Ipv4Addr,
    pub prefix_length: u8,
    #[serde(rename = "serverID")]
    pub server_id: Ipv4Addr,
    /// Option 3, in the server's order of preference.
    #[serde(default)]
    pub routers: Vec<Ipv4Addr>,
    #[serde(default)]
    pub dns_servers: Vec<Ipv4Addr>,
    #[serde(default)]
    pub ntp_servers: Vec<Ipv4Addr>,
    #[serde(default)]
    pub domain: Option<String>,
    #[serde(default)]
    pub mtu: Option<u16>,
    #[serde(default)]
    pub broadcast_address: Option<Ipv4Addr>,
    /// Option 121. When the server sent it, option 3 is ignored (RFC 3442).
    #[serde(default)]
    pub classless_routes: Option<Vec<ClasslessRoute>>,
    /// Seconds; [`INFINITE`] for an infinite lease.
    pub lease_time_seconds: u32,
    /// The server's T1, if it gave one.
    #[serde(default)]
    pub renewal_time_seconds: Option<u32>,
    /// The server's T2, if it gave one.
    #[serde(default)]
    pub rebinding_time_seconds: Option<u32>,
    /// When the lease starts: when the REQUEST it answers was first sent (RFC 2131 §4.4.1).
    pub acquired_at: Timestamp,
}

/// When, counted from the start of the lease, the client renews, rebinds and lets go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTimes {
    /// `None` for an infinite lease: nothing to renew.
    pub t1: Option<Duration>,
    pub t2: Option<Duration>,
    pub expiry: Option<Duration>,
}

impl Lease {
    /// The lease an ACK grants, starting at `acquired_at`. The ACK must carry a lease time and a
    /// server identifier (RFC 2131 table 3) — or `server_id` stands in for the latter (the server we
    /// asked) — and a usable address in `yiaddr`.
    pub fn from_ack(
        ack: &Reply,
        server_id: Option<Ipv4Addr>,
        acquired_at: Timestamp,
    ) -> Result<Lease, String> {
        let lease_time = ack
            .lease_time
            .ok_or("the DHCPACK has no lease time (option 51)")?;
        if lease_time == 0 {
            return Err("the DHCPACK grants a lease of 0 seconds".into());
        }
        let server_id = ack
            .server_id
            .or(server_id)
            .ok_or("the DHCPACK has no server identifier (option 54)")?;
        if !usable_address(ack.yiaddr) {
            return Err(format!(
                "the DHCPACK offers {} (not a host address)",
                ack.yiaddr
            ));
        }
        let prefix_length = ack
            .prefix_length
            .unwrap_or_else(|| classful_prefix(ack.yiaddr));
        Ok(Lease {
            address: ack.yiaddr,
            prefix_length,
            server_id,
            routers: ack.routers.clone(),
            dns_servers: ack.dns_servers.clone(),
            ntp_servers: ack.ntp_servers.clone(),
            domain: ack.domain.clone(),
            // RFC 1191: 68 is the smallest MTU IPv4 allows; anything below is ignored.
            mtu: ack.mtu.filter(|m| *m >= 68),
            broadcast_address: ack.broadcast_address,
            classless_routes: ack.classless_routes.clone(),
            lease_time_seconds: lease_time,
            renewal_time_seconds: ack.renewal_time,
            rebinding_time_seconds: ack.rebinding_time,
            acquired_at,
        })
    }

    /// Whether the lease never expires.
    pub fn is_infinite(&self) -> bool {
        self.lease_time_seconds == INFINITE
    }

    /// The length of the lease.
    pub fn duration(&self) -> Duration {
        Duration::from_secs(u64::from(self.lease_time_seconds))
    }

    /// T1, T2 and expiry from the start of the lease (module docs).
    pub fn times(&self) -> LeaseTimes {
        if self.is_infinite() {
            return LeaseTimes {
                t1: None,
                t2: None,
                expiry: None,
            };
        }
        let lease_ms = u64::from(self.lease_time_seconds) * 1000;
        let fraction = |(n, d): (u64, u64)| lease_ms * n / d;
        let server = |s: Option<u32>| s.map(|s| u64::from(s) * 1000);
        let t2 = match server(self.rebinding_time_seconds) {
            Some(t2) if t2 > 0 && t2 < lease_ms => t2,
            _ => fraction(T2_FRACTION),
        };
        let t1 = match server(self.renewal_time_seconds) {
            Some(t1) if t1 > 0 && t1 < t2 => t1,
            _ => fraction(T1_FRACTION).min(t2),
        };
        let spacing = MIN_RENEW_SPACING.as_millis() as u64;
        let t1 = t1.max(spacing.min(t2));
        LeaseTimes {
            t1: Some(Duration::from_millis(t1)),
            t2: Some(Duration::from_millis(t2)),
            expiry: Some(Duration::from_millis(lease_ms)),
        }
    }

    /// Minimum wait between retransmissions while renewing or rebinding this lease.
    pub fn retransmit_floor(&self) -> Duration {
        if self.duration() < SHORT_LEASE {
            MIN_RENEW_SPACING
        } else {
            RENEW_RETRANSMIT_MIN
        }
    }

    /// Wall-clock time of T1, T2 and expiry.
    pub fn renew_at(&self) -> Option<Timestamp> {
        self.times().t1.map(|d| self.acquired_at.saturating_add(d))
    }
    pub fn rebind_at(&self) -> Option<Timestamp> {
        self.times().t2.map(|d| self.acquired_at.saturating_add(d))
    }
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.times()
            .expiry
            .map(|d| self.acquired_at.saturating_add(d))
    }

    /// Whether the lease is still valid at wall-clock time `now`.
    pub fn valid_at(&self, now: Timestamp) -> bool {
        self.expires_at().is_none_or(|e| now < e)
    }

    /// The default gateway the lease gives: the `0.0.0.0/0` route of option 121 when the server sent
    /// that option (RFC 3442: option 3 is then ignored), else the first router of option 3.
    pub fn gateway(&self) -> Option<Ipv4Addr> {
        match &self.classless_routes {
            Some(routes) => routes
                .iter()
                .find(|r| r.prefix_length == 0)
                .map(|r| r.gateway),
            None => self.routers.first().copied(),
        }
    }
}

/// Whether `a` can be a host's address: not 0.0.0.0, broadcast, multicast, loopback or class E.
pub fn usable_address(a: Ipv4Addr) -> bool {
    !(a.is_unspecified()
        || a.is_broadcast()
        || a.is_multicast()
        || a.is_loopback()
        || a.octets()[0] >= 240
        || a.octets()[0] == 0)
}

/// The classful prefix of `a` (RFC 791), used only when a server sends no subnet mask.
pub fn classful_prefix(a: Ipv4Addr) -> u8 {
    match a.octets()[0] {
        0..=127 => 8,
        128..=191 => 16,
        _ => 24,
    }
}

/// What `lease.json` holds: the lease and the identity it was granted to. A restart uses it only when
/// the interface and client identifier still match and it has not expired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistedLease {
    pub ifname: String,
    /// Client identifier in hex.
    #[serde(rename = "clientID")]
    pub client_id: String,
    pub lease: Lease,
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn lease(seconds: u32, t1: Option<u32>, t2: Option<u32>) -> Lease {
        Lease {
            address: Ipv4Addr::new(192, 0, 2, 10),
            prefix_length: 24,
            server_id: Ipv4Addr::new(192, 0, 2, 1),
            routers: vec![Ipv4Addr::new(192, 0, 2, 1)],
            dns_servers: vec![],
            ntp_servers: vec![],
            domain: None,
            mtu: None,
            broadcast_address: None,
            classless_routes: None,
            lease_time_seconds: seconds,
            renewal_time_seconds: t1,
            rebinding_time_seconds: t2,
            acquired_at: Timestamp(1_000_000_000_000_000_000),
        }
    }

    fn secs(d: Option<Duration>) -> f64 {
        d.map(|d| d.as_secs_f64()).unwrap_or(-1.0)
    }

    #[test]
    fn default_t1_t2_are_half_and_seven_eighths() {
        let t = lease(3600, None, None).times();
        assert_eq!(secs(t.t1), 1800.0);
        assert_eq!(secs(t.t2), 3150.0);
        assert_eq!(secs(t.expiry), 3600.0);
    }

    #[test]
    fn server_timers_are_used_when_ordered() {
        let t = lease(3600, Some(600), Some(1200)).times();
        assert_eq!((secs(t.t1), secs(t.t2)), (600.0, 1200.0));
        // T1 >= T2: T1 falls back to half the lease, capped at T2.
        let t = lease(3600, Some(1300), Some(1200)).times();
        assert_eq!((secs(t.t1), secs(t.t2)), (1200.0, 1200.0));
        // T2 >= lease: default T2.
        let t = lease(3600, Some(600), Some(3600)).times();
        assert_eq!((secs(t.t1), secs(t.t2)), (600.0, 3150.0));
        let t = lease(3600, Some(0), Some(0)).times();
        assert_eq!((secs(t.t1), secs(t.t2)), (1800.0, 3150.0));
    }

    #[test]
    fn short_leases_renew_no_sooner_than_ten_seconds() {
        let t = lease(20, None, None).times();
        assert_eq!((secs(t.t1), secs(t.t2)), (10.0, 17.5));
        let t = lease(30, Some(2), Some(20)).times();
        assert_eq!(secs(t.t1), 10.0);
        // A lease too short for that: renew at T2 (no separate RENEWING phase).
        let t = lease(8, None, None).times();
        assert_eq!((secs(t.t1), secs(t.t2), secs(t.expiry)), (7.0, 7.0, 8.0));
        assert_eq!(lease(20, None, None).retransmit_floor(), MIN_RENEW_SPACING);
        assert_eq!(
            lease(60, None, None).retransmit_floor(),
            RENEW_RETRANSMIT_MIN
        );
    }

    #[test]
    fn infinite_leases_never_renew() {
        let l = lease(INFINITE, Some(10), Some(20));
        assert_eq!(
            l.times(),
            LeaseTimes {
                t1: None,
                t2: None,
                expiry: None
            }
        );
        assert!(l.valid_at(Timestamp(i64::MAX)));
        assert_eq!(l.expires_at(), None);
    }

    #[test]
    fn gateway_prefers_the_classless_default_route() {
        let mut l = lease(3600, None, None);
        assert_eq!(l.gateway(), Some(Ipv4Addr::new(192, 0, 2, 1)));
        l.classless_routes = Some(vec![ClasslessRoute {
            destination: Ipv4Addr::new(203, 0, 113, 0),
            prefix_length: 24,
            gateway: Ipv4Addr::new(192, 0, 2, 254),
        }]);
        assert_eq!(l.gateway(), None, "option 121 without a default route");
        l.classless_routes.as_mut().unwrap().push(ClasslessRoute {
            destination: Ipv4Addr::UNSPECIFIED,
            prefix_length: 0,
            gateway: Ipv4Addr::new(192, 0, 2, 2),
        });
        assert_eq!(l.gateway(), Some(Ipv4Addr::new(192, 0, 2, 2)));
    }

    #[test]
    fn addresses_and_persisted_form() {
        assert!(usable_address(Ipv4Addr::new(192, 0, 2, 10)));
        for bad in [
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "127.0.0.1",
            "240.0.0.1",
            "0.1.2.3",
        ] {
            assert!(!usable_address(bad.parse().unwrap()), "{bad}");
        }
        assert_eq!(classful_prefix(Ipv4Addr::new(10, 1, 2, 3)), 8);
        assert_eq!(classful_prefix(Ipv4Addr::new(172, 16, 0, 1)), 16);
        assert_eq!(classful_prefix(Ipv4Addr::new(192, 0, 2, 1)), 24);
        let p = PersistedLease {
            ifname: "wan0".into(),
            client_id: "01020000000001".into(),
            lease: lease(3600, None, None),
        };
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.contains("\"serverID\":\"192.0.2.1\""), "{json}");
        assert!(json.contains("\"clientID\""), "{json}");
        let back: PersistedLease = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
    }
}
