//! The query parameters the inspection endpoints share (`control-api.md` "Inspection endpoints"):
//! `limit` (default 100, max 10000, clamped), the time window `since` (a duration back from now) /
//! `from` / `to` (RFC 3339 or `YYYY-MM-DD[THH:MM:SS]` UTC), and the filter values several of them take
//! (`src`/`dst`/`client`/`peer` as an address or prefix, `protocol` as a name or number, `port`).
//! `/connections`, `/traffic-flows`, `/firewall-logs` and `/dns-queries` parse them here so that they agree
//! on defaults, limits and the wording of the `400` that names a bad parameter.

use super::query::Query;
use super::response::Failure;
use routerd_api::duration::parse_duration;
use routerd_api::Timestamp;
use std::net::IpAddr;

/// `limit` when the request gives none.
pub const INSPECTION_DEFAULT_LIMIT: usize = 100;
/// The largest `limit`; a larger value is clamped to it.
pub const INSPECTION_MAX_LIMIT: usize = 10_000;

/// A time window; an absent bound is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeWindow {
    /// Inclusive lower bound: the later of `since` (now minus the duration) and `from`.
    pub from: Option<Timestamp>,
    /// Inclusive upper bound (`to`).
    pub to: Option<Timestamp>,
}

impl TimeWindow {
    /// Whether `time` lies inside the window.
    pub fn contains(&self, time: Timestamp) -> bool {
        self.from.is_none_or(|from| time >= from) && self.to.is_none_or(|to| time <= to)
    }
}

/// `limit` and the time window, parsed once per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InspectionQuery {
    pub limit: usize,
    pub window: TimeWindow,
}

impl InspectionQuery {
    /// Parses `limit`, `since`, `from` and `to`; `now` anchors `since`.
    pub fn parse(query: &Query, now: Timestamp) -> Result<InspectionQuery, Failure> {
        Ok(InspectionQuery {
            limit: query.limit(INSPECTION_DEFAULT_LIMIT, INSPECTION_MAX_LIMIT)?,
            window: time_window(query, now)?,
        })
    }
}

/// `since`/`from`/`to`. Both `since` and `from` may be given: the later start applies. A window whose end
/// lies before its start is a 400 naming `to`.
pub fn time_window(query: &Query, now: Timestamp) -> Result<TimeWindow, Failure> {
    let since = query.parse_with("since", |v| {
        parse_duration(v)
            .map(|back| now.saturating_sub(back))
            .map_err(|e| format!("{e}; give a duration back from now such as 15m, 2h or 7d"))
    })?;
    let from = query.parse_with("from", Timestamp::parse)?;
    let to = query.parse_with("to", Timestamp::parse)?;
    let start = match (since, from) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    if let (Some(start), Some(end)) = (start, to) {
        if end < start {
            return Err(Failure::bad_request(format!(
                "query parameter to: {end} is before the window's start {start}"
            )));
        }
    }
    Ok(TimeWindow { from: start, to })
}

/// An address filter: one address, or a prefix `address/length` that matches every address inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressFilter {
    network: IpAddr,
    prefix_len: u8,
}

impl AddressFilter {
    /// Parses `192.0.2.1`, `2001:db8::1`, `192.0.2.0/24` or `2001:db8::/32`; host bits under the prefix
    /// are ignored (`192.0.2.7/24` means `192.0.2.0/24`).
    pub fn parse(value: &str) -> Result<AddressFilter, String> {
        let (address, length) = match value.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (value, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("{value:?} is not an IP address or prefix (address/length)"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix_len = match length {
            None => max,
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|l| *l <= max)
                .ok_or_else(|| format!("{value:?}: prefix length {l:?} is not 0..={max}"))?,
        };
        Ok(AddressFilter {
            network,
            prefix_len,
        })
    }

    /// Whether `address` is inside (an IPv4 filter never matches an IPv6 address, and the reverse).
    pub fn matches(&self, address: IpAddr) -> bool {
        match (self.network, address) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(
                u128::from(n.to_bits()),
                u128::from(a.to_bits()),
                32,
                self.prefix_len,
            ),
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                prefix_eq(n.to_bits(), a.to_bits(), 128, self.prefix_len)
            }
            _ => false,
        }
    }
}

impl AddressFilter {
    /// The first and last address the filter matches (for an index range scan).
    pub fn range(&self) -> (IpAddr, IpAddr) {
        match self.network {
            IpAddr::V4(n) => {
                let host_bits = 32 - u32::from(self.prefix_len);
                let mask = u32::MAX.checked_shl(host_bits).unwrap_or(0);
                let first = n.to_bits() & mask;
                (IpAddr::V4(first.into()), IpAddr::V4((first | !mask).into()))
            }
            IpAddr::V6(n) => {
                let host_bits = 128 - u32::from(self.prefix_len);
                let mask = u128::MAX.checked_shl(host_bits).unwrap_or(0);
                let first = n.to_bits() & mask;
                (IpAddr::V6(first.into()), IpAddr::V6((first | !mask).into()))
            }
        }
    }
}

fn prefix_eq(network: u128, address: u128, width: u32, prefix_len: u8) -> bool {
    let host_bits = width - u32::from(prefix_len);
    if host_bits >= width {
        return true;
    }
    (network ^ address) >> host_bits == 0
}

pub use routerd_api::ip_protocol::{parse_protocol, protocol_name};

/// A `port` filter: 0..=65535.
pub fn parse_port(value: &str) -> Result<u16, String> {
    parse_decimal(value, 65535)
        .map(|n| n as u16)
        .ok_or_else(|| format!("{value:?} is not a port number 0..=65535"))
}

/// Plain decimal digits (no sign: Rust's `parse` would take `+5`, which the documented integer schema
/// does not) up to `max`.
fn parse_decimal(value: &str, max: u64) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse::<u64>().ok().filter(|n| *n <= max)
}

/// The OpenAPI description of `limit`, shared by every inspection endpoint.
pub fn limit_parameter() -> serde_json::Value {
    serde_json::json!({
        "name": "limit", "in": "query", "required": false,
        "description": format!("items to return at most (default {INSPECTION_DEFAULT_LIMIT}; larger values are clamped to {INSPECTION_MAX_LIMIT})"),
        "schema": {"type": "integer", "minimum": 0, "maximum": u64::MAX}
    })
}

/// The OpenAPI schema of a `protocol` filter value, exactly what [`parse_protocol`] accepts.
pub fn protocol_schema() -> serde_json::Value {
    let mut names: Vec<&str> = routerd_api::ip_protocol::PROTOCOLS
        .iter()
        .map(|(name, _)| *name)
        .collect();
    names.push("ipv6-icmp");
    serde_json::json!({"anyOf": [
        {"type": "string", "enum": names},
        {"type": "integer", "minimum": 0, "maximum": 255}
    ]})
}

/// One IPv4 octet without leading zeros (Rust's parser refuses them).
const OCTET: &str = "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
const H16: &str = "[0-9a-fA-F]{1,4}";

/// The OpenAPI schema of an address-or-prefix filter value (what [`AddressFilter::parse`] accepts).
pub fn address_filter_schema() -> serde_json::Value {
    let h = H16;
    let ipv4 = format!("({OCTET}\\.){{3}}{OCTET}");
    // RFC 4291 text forms with the :: compression in every position.
    let ipv6 = format!(
        "(({h}:){{7}}{h}|({h}:){{1,7}}:|({h}:){{1,6}}:{h}|({h}:){{1,5}}(:{h}){{1,2}}|({h}:){{1,4}}(:{h}){{1,3}}|({h}:){{1,3}}(:{h}){{1,4}}|({h}:){{1,2}}(:{h}){{1,5}}|{h}:(:{h}){{1,6}}|:((:{h}){{1,7}}|:))"
    );
    serde_json::json!({"type": "string", "anyOf": [
        {"pattern": format!("^{ipv4}(/(3[0-2]|[12]?[0-9]))?$")},
        {"pattern": format!("^{ipv6}(/(12[0-8]|1[01][0-9]|[1-9]?[0-9]))?$")}
    ]})
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn q(s: &str) -> Query {
        Query::parse(Some(s))
    }

    #[test]
    fn limit_defaults_clamps_and_refuses_what_is_not_a_count() {
        let now = Timestamp::now();
        assert_eq!(InspectionQuery::parse(&q(""), now).unwrap().limit, 100);
        assert_eq!(
            InspectionQuery::parse(&q("limit=50000"), now)
                .unwrap()
                .limit,
            10_000
        );
        for bad in ["limit=-5", "limit=abc", "limit=99999999999999999999999"] {
            let f = InspectionQuery::parse(&q(bad), now).unwrap_err();
            assert!(
                f.message.starts_with("query parameter limit:"),
                "{bad}: {}",
                f.message
            );
        }
    }

    #[test]
    fn since_from_and_to_make_one_window() {
        let now = Timestamp::parse("2026-12-02T12:00:00Z").unwrap();
        let w = time_window(&q("since=2h"), now).unwrap();
        assert_eq!(w.from, Some(now.saturating_sub(Duration::from_secs(7200))));
        let w = time_window(&q("since=2h&from=2026-12-02T11:00:00Z&to=2026-12-02"), now);
        let f = w.unwrap_err();
        assert!(
            f.message.starts_with("query parameter to:"),
            "{}",
            f.message
        );
        let w = time_window(&q("since=2h&from=2026-12-02T11:00:00Z"), now).unwrap();
        assert_eq!(w.from, Timestamp::parse("2026-12-02T11:00:00Z").ok());
        assert!(w.contains(now) && !w.contains(Timestamp::parse("2026-12-02T10:59:59Z").unwrap()));
        for (bad, name) in [
            ("since=yesterday", "since"),
            ("from=12/02/2026", "from"),
            ("to=x", "to"),
        ] {
            let f = time_window(&q(bad), now).unwrap_err();
            assert!(
                f.message.starts_with(&format!("query parameter {name}:")),
                "{}",
                f.message
            );
        }
    }

    #[test]
    fn address_filters_match_addresses_and_prefixes() {
        let one = AddressFilter::parse("192.0.2.7").unwrap();
        assert!(one.matches("192.0.2.7".parse().unwrap()));
        assert!(!one.matches("192.0.2.8".parse().unwrap()));
        let net = AddressFilter::parse("192.0.2.77/24").unwrap();
        assert!(net.matches("192.0.2.200".parse().unwrap()));
        assert!(!net.matches("192.0.3.1".parse().unwrap()));
        assert!(!net.matches("2001:db8::1".parse().unwrap()));
        let all = AddressFilter::parse("::/0").unwrap();
        assert!(all.matches("2001:db8::1".parse().unwrap()));
        assert!(AddressFilter::parse("2001:db8::/32")
            .unwrap()
            .matches("2001:db8:ffff::1".parse().unwrap()));
        for bad in [
            "192.0.2",
            "192.0.2.0/33",
            "2001:db8::/129",
            "x",
            "10.0.0.0/",
        ] {
            assert!(AddressFilter::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn protocols_by_name_or_number() {
        assert_eq!(parse_protocol("tcp"), Ok(6));
        assert!(parse_protocol("TCP").is_err() && parse_protocol("+6").is_err());
        assert_eq!(parse_protocol("ipv6-icmp"), Ok(58));
        assert_eq!(parse_protocol("47"), Ok(47));
        assert!(parse_protocol("256").is_err() && parse_protocol("tcpp").is_err());
        assert_eq!(protocol_name(17), "udp");
        assert_eq!(protocol_name(253), "253");
        assert_eq!(parse_port("65535"), Ok(65535));
        assert!(
            parse_port("65536").is_err() && parse_port("-1").is_err() && parse_port("+1").is_err()
        );
    }
}
