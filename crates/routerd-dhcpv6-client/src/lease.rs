//! The delegated prefix as the client holds it, persists it (`lease.json`) and times it (T1, T2,
//! expiry), and the other configuration a REPLY brings ([`Information`]).
//!
//! Times (RFC 8415 §14.2, §21.21): the lease starts when the message that brought it was first sent.
//! T1 and T2 come from the IA_PD; a 0 lets the client choose, and we then take 0.5 and 0.8 of the
//! prefix's preferred lifetime (as RFC 8415 §14.2 recommends), also when the server's T1 exceeds its
//! T2. A lifetime of 0xffffffff is infinite: nothing to renew, nothing expires.
//!
//! The identity (client DUID, IAID, interface) is stored with the lease: a remembered lease is only
//! reused when all three still match, since a server binds prefixes to exactly that identity.

use crate::duid::hex_serde;
use crate::message::{IaPd, IaPrefix, Reply};
use routerd_api::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::Ipv6Addr;
use std::time::Duration;

/// A lifetime (or T1/T2) of all ones means "infinite" (RFC 8415 §7.7).
pub const INFINITE: u32 = u32::MAX;
/// T1 as a fraction of the preferred lifetime when the server leaves it to the client.
pub const T1_FRACTION: (u64, u64) = (1, 2);
/// T2 likewise.
pub const T2_FRACTION: (u64, u64) = (4, 5);

/// A prefix delegated by the server with its lifetimes (counted from the lease's `acquiredAt`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DelegatedPrefix {
    pub prefix: Ipv6Addr,
    pub length: u8,
    pub preferred_lifetime: u32,
    pub valid_lifetime: u32,
}

impl DelegatedPrefix {
    /// The same network (address and length), whatever the lifetimes.
    pub fn same_network(&self, other: &DelegatedPrefix) -> bool {
        self.prefix == other.prefix && self.length == other.length
    }

    pub fn from_option(p: &IaPrefix) -> DelegatedPrefix {
        DelegatedPrefix {
            prefix: p.prefix,
            length: p.length,
            preferred_lifetime: p.preferred_lifetime,
            valid_lifetime: p.valid_lifetime,
        }
    }
}

impl fmt::Display for DelegatedPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.prefix, self.length)
    }
}

/// Seconds after `start`, `None` for infinite.
fn lifetime(seconds: u32) -> Option<Duration> {
    (seconds != INFINITE).then(|| Duration::from_secs(u64::from(seconds)))
}

fn fraction(seconds: u32, (num, den): (u64, u64)) -> u32 {
    u32::try_from(u64::from(seconds) * num / den).unwrap_or(INFINITE - 1)
}

/// The T1/T2 the client uses for an IA_PD holding `prefix` (see the module documentation).
pub fn effective_t1_t2(t1: u32, t2: u32, prefix: &DelegatedPrefix) -> (u32, u32) {
    let preferred = prefix.preferred_lifetime;
    let chosen = |f| {
        if preferred == INFINITE {
            INFINITE
        } else {
            fraction(preferred, f)
        }
    };
    let (d1, d2) = (chosen(T1_FRACTION), chosen(T2_FRACTION));
    if t1 > t2 && t2 != 0 {
        return (d1, d2);
    }
    let t1 = if t1 == 0 { d1 } else { t1 };
    let t2 = if t2 == 0 { d2.max(t1) } else { t2 };
    if t1 > t2 {
        (d1, d2)
    } else {
        (t1, t2)
    }
}

/// The prefix of an IA_PD the client takes: the one it already holds if the server still gives it a
/// valid lifetime, else the first usable one. Usable: valid lifetime above 0, preferred not above valid
/// (RFC 8415 §21.22 says to ignore such an IA Prefix), no error status, length 1..=128.
pub fn choose_prefix(ia: &IaPd, current: Option<&DelegatedPrefix>) -> Option<DelegatedPrefix> {
    let usable = |p: &&IaPrefix| {
        p.valid_lifetime > 0
            && p.preferred_lifetime <= p.valid_lifetime
            && p.length > 0
            && p.status.as_ref().is_none_or(|s| s.code == 0)
    };
    let mut candidates = ia.prefixes.iter().filter(usable);
    let held = current.and_then(|c| {
        ia.prefixes
            .iter()
            .filter(usable)
            .find(|p| p.prefix == c.prefix && p.length == c.length)
    });
    held.or_else(|| candidates.next())
        .map(DelegatedPrefix::from_option)
}

/// What the server delegated, as the client keeps and persists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    /// Our DUID, hex.
    #[serde(with = "hex_serde")]
    pub duid: Vec<u8>,
    pub iaid: u32,
    pub ifname: String,
    /// The server's DUID (Server Identifier), hex.
    #[serde(with = "hex_serde")]
    pub server_duid: Vec<u8>,
    /// The address the REPLY came from.
    pub server_address: Ipv6Addr,
    /// The server's Server Unicast option: RENEW may be unicast there.
    #[serde(default)]
    pub server_unicast: Option<Ipv6Addr>,
    pub prefix: DelegatedPrefix,
    /// The T1 and T2 in use (the server's, or chosen when it left them to us); [`INFINITE`] for none.
    pub t1_seconds: u32,
    pub t2_seconds: u32,
    /// When the lease starts: when the message it answers was first sent.
    pub acquired_at: Timestamp,
}

impl Lease {
    /// The lease `ia` grants with `prefix` (chosen by [`choose_prefix`]), starting at `acquired_at`.
    #[allow(clippy::too_many_arguments)]
    pub fn granted(
        duid: &[u8],
        ifname: &str,
        ia: &IaPd,
        prefix: DelegatedPrefix,
        reply: &Reply,
        server_duid: Vec<u8>,
        from: Ipv6Addr,
        acquired_at: Timestamp,
    ) -> Lease {
        let (t1, t2) = effective_t1_t2(ia.t1, ia.t2, &prefix);
        Lease {
            duid: duid.to_vec(),
            iaid: ia.iaid,
            ifname: ifname.to_string(),
            server_duid,
            server_address: from,
            server_unicast: reply.server_unicast,
            prefix,
            t1_seconds: t1,
            t2_seconds: t2,
            acquired_at,
        }
    }

    fn at(&self, seconds: u32) -> Option<Timestamp> {
        lifetime(seconds).map(|d| self.acquired_at.saturating_add(d))
    }

    /// T1 (`None`: never).
    pub fn renew_at(&self) -> Option<Timestamp> {
        self.at(self.t1_seconds)
    }

    /// T2 (`None`: never).
    pub fn rebind_at(&self) -> Option<Timestamp> {
        self.at(self.t2_seconds)
    }

    /// End of the valid lifetime (`None`: never).
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.at(self.prefix.valid_lifetime)
    }

    /// End of the preferred lifetime (`None`: never).
    pub fn preferred_until(&self) -> Option<Timestamp> {
        self.at(self.prefix.preferred_lifetime)
    }

    /// Whether the prefix is still valid at `wall`.
    pub fn valid_at(&self, wall: Timestamp) -> bool {
        self.expires_at().is_none_or(|e| wall < e)
    }

    /// Whether this lease belongs to this client identity on this interface.
    pub fn matches_identity(&self, duid: &[u8], iaid: u32, ifname: &str) -> bool {
        self.duid == duid && self.iaid == iaid && self.ifname == ifname
    }

    /// The prefix with lifetimes that are what remains at `wall` (for a previous prefix or a RENEW
    /// that lists what we hold).
    pub fn remaining(&self, wall: Timestamp) -> DelegatedPrefix {
        let left = |end: Option<Timestamp>| match end {
            None => INFINITE,
            Some(e) => u32::try_from(wall.until(e).as_secs()).unwrap_or(INFINITE - 1),
        };
        DelegatedPrefix {
            preferred_lifetime: left(self.preferred_until()),
            valid_lifetime: left(self.expires_at()),
            ..self.prefix.clone()
        }
    }
}

/// A prefix held before the current one, kept until its valid lifetime ends so LAN addresses from it
/// can be deprecated rather than vanish (RFC 7084 L-13).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviousPrefix {
    pub prefix: DelegatedPrefix,
    pub valid_until: Timestamp,
}

/// Other configuration from the server's REPLY.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Information {
    #[serde(default)]
    pub dns_servers: Vec<Ipv6Addr>,
    #[serde(default)]
    pub domain_search: Vec<String>,
    #[serde(default)]
    pub sntp_servers: Vec<Ipv6Addr>,
    #[serde(default)]
    pub aftr_name: Option<String>,
}

impl Information {
    pub fn from_reply(r: &Reply) -> Information {
        Information {
            dns_servers: r.dns_servers.clone(),
            domain_search: r.domain_search.clone(),
            sntp_servers: r.sntp_servers.clone(),
            aftr_name: r.aftr_name.clone(),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Information::default()
    }
}

/// What `lease.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistedLease {
    pub lease: Lease,
    #[serde(default)]
    pub previous_prefixes: Vec<PreviousPrefix>,
    #[serde(default)]
    pub information: Option<Information>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Status;

    fn prefix(preferred: u32, valid: u32) -> DelegatedPrefix {
        DelegatedPrefix {
            prefix: "2001:db8:1200::".parse().unwrap(),
            length: 56,
            preferred_lifetime: preferred,
            valid_lifetime: valid,
        }
    }

    fn lease() -> Lease {
        Lease {
            duid: vec![0, 1, 0, 1, 1, 2, 3, 4, 2, 0, 0, 0, 0, 1],
            iaid: 7,
            ifname: "wan0".into(),
            server_duid: vec![0, 3, 0, 1, 2, 0, 0, 0, 0, 0xfe],
            server_address: "fe80::1".parse().unwrap(),
            server_unicast: None,
            prefix: prefix(3600, 7200),
            t1_seconds: 1800,
            t2_seconds: 2880,
            acquired_at: Timestamp(1_000_000_000_000),
        }
    }

    #[test]
    fn t1_t2_default_to_half_and_four_fifths_of_preferred() {
        let p = prefix(1000, 2000);
        assert_eq!(effective_t1_t2(0, 0, &p), (500, 800));
        assert_eq!(effective_t1_t2(300, 600, &p), (300, 600));
        assert_eq!(effective_t1_t2(700, 600, &p), (500, 800), "T1 > T2");
        assert_eq!(effective_t1_t2(300, 0, &p), (300, 800));
        assert_eq!(
            effective_t1_t2(0, 400, &p),
            (500, 800),
            "chosen T1 above T2"
        );
        let inf = prefix(INFINITE, INFINITE);
        assert_eq!(effective_t1_t2(0, 0, &inf), (INFINITE, INFINITE));
    }

    #[test]
    fn times_follow_acquired_at_and_infinite_means_never() {
        let l = lease();
        let s = |n: u64| l.acquired_at.saturating_add(Duration::from_secs(n));
        assert_eq!(l.renew_at(), Some(s(1800)));
        assert_eq!(l.rebind_at(), Some(s(2880)));
        assert_eq!(l.preferred_until(), Some(s(3600)));
        assert_eq!(l.expires_at(), Some(s(7200)));
        assert!(l.valid_at(s(7199)));
        assert!(!l.valid_at(s(7200)));
        let r = l.remaining(s(3000));
        assert_eq!((r.preferred_lifetime, r.valid_lifetime), (600, 4200));
        let r = l.remaining(s(5000));
        assert_eq!((r.preferred_lifetime, r.valid_lifetime), (0, 2200));
        let mut inf = lease();
        inf.prefix = prefix(INFINITE, INFINITE);
        inf.t1_seconds = INFINITE;
        inf.t2_seconds = INFINITE;
        assert_eq!(inf.expires_at(), None);
        assert_eq!(inf.renew_at(), None);
        assert!(inf.valid_at(Timestamp(i64::MAX)));
        assert_eq!(inf.remaining(s(10)).valid_lifetime, INFINITE);
    }

    #[test]
    fn identity_must_match_entirely() {
        let l = lease();
        assert!(l.matches_identity(&l.duid.clone(), 7, "wan0"));
        assert!(!l.matches_identity(&[0, 1], 7, "wan0"));
        assert!(!l.matches_identity(&l.duid.clone(), 8, "wan0"));
        assert!(!l.matches_identity(&l.duid.clone(), 7, "wan1"));
    }

    #[test]
    fn choose_prefix_keeps_the_held_one_and_skips_unusable() {
        let mk = |p: &str, pref, valid, status: Option<u16>| IaPrefix {
            preferred_lifetime: pref,
            valid_lifetime: valid,
            length: 56,
            prefix: p.parse().unwrap(),
            status: status.map(|code| Status {
                code,
                message: String::new(),
            }),
        };
        let ia = IaPd {
            iaid: 7,
            t1: 0,
            t2: 0,
            prefixes: vec![
                mk("2001:db8:1::", 100, 50, None),     // preferred > valid: ignored
                mk("2001:db8:2::", 100, 0, None),      // valid 0: withdrawn
                mk("2001:db8:3::", 100, 200, Some(6)), // status: not usable
                mk("2001:db8:4::", 100, 200, None),
                mk("2001:db8:5::", 100, 200, None),
            ],
            status: None,
        };
        let chosen = choose_prefix(&ia, None).unwrap();
        assert_eq!(chosen.to_string(), "2001:db8:4::/56");
        let mut held = chosen.clone();
        held.prefix = "2001:db8:5::".parse().unwrap();
        assert_eq!(
            choose_prefix(&ia, Some(&held)).unwrap().to_string(),
            "2001:db8:5::/56"
        );
        let none = IaPd {
            prefixes: vec![],
            ..ia
        };
        assert_eq!(choose_prefix(&none, None), None);
    }

    #[test]
    fn persisted_lease_json_is_camel_case_with_hex_duids() {
        let p = PersistedLease {
            lease: lease(),
            previous_prefixes: vec![PreviousPrefix {
                prefix: prefix(0, 10),
                valid_until: Timestamp(5),
            }],
            information: Some(Information {
                dns_servers: vec!["2001:db8::53".parse().unwrap()],
                ..Information::default()
            }),
        };
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["lease"]["duid"], "0001000101020304020000000001");
        assert_eq!(v["lease"]["serverDuid"], "000300010200000000fe");
        assert_eq!(v["lease"]["prefix"]["preferredLifetime"], 3600);
        assert_eq!(v["lease"]["t1Seconds"], 1800);
        assert_eq!(
            v["previousPrefixes"][0]["prefix"]["prefix"],
            "2001:db8:1200::"
        );
        assert_eq!(v["information"]["dnsServers"][0], "2001:db8::53");
        let back: PersistedLease = serde_json::from_value(v).unwrap();
        assert_eq!(back, p);
    }
}
