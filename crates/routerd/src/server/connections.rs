//! `GET /connections`: the conntrack table, filtered and counted while the dump is decoded. Every entry
//! passes through [`TableTally::add`] once and is dropped unless it matches the filters and fits under
//! `limit`, so a 100k-entry table costs one receive buffer and at most `limit` items, never a copy of
//! the table.

use super::inspection_query::{
    parse_port, parse_protocol, protocol_name, AddressFilter, INSPECTION_DEFAULT_LIMIT,
    INSPECTION_MAX_LIMIT,
};
use super::query::Query;
use super::response::Failure;
use routerd_api::connections::{Connection, ConnectionTable, ConnectionTuple};
use routerd_api::control::ErrorCode;
use routerd_host::{ConntrackError, ConntrackTable};
use routerd_proto::netfilter::conntrack::{ConntrackEntry, Counters, TcpState, Tuple};
use routerd_proto::netfilter::nlattr::{AF_INET, AF_INET6};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The filters of `/connections`; each absent one matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionFilter {
    /// `family`: `AF_INET` or `AF_INET6`.
    pub family: Option<u8>,
    pub protocol: Option<u8>,
    /// `src`: the original direction's source (as `conntrack -s`).
    pub src: Option<AddressFilter>,
    /// `dst`: the original direction's destination (as `conntrack -d`).
    pub dst: Option<AddressFilter>,
    /// `port`: the original direction's source or destination port.
    pub port: Option<u16>,
    /// `state`: the TCP state; entries without a state never match.
    pub state: Option<TcpState>,
    /// `mark`: `value` or `value/mask` (decimal or `0x` hex), as `conntrack --mark`.
    pub mark: Option<(u32, u32)>,
}

const TCP_STATES: [TcpState; 10] = [
    TcpState::None,
    TcpState::SynSent,
    TcpState::SynRecv,
    TcpState::Established,
    TcpState::FinWait,
    TcpState::CloseWait,
    TcpState::LastAck,
    TcpState::TimeWait,
    TcpState::Close,
    TcpState::SynSent2,
];

/// A mark or mask: decimal, or `0x` hex; digits only (no sign), as [`MARK_PATTERN`] documents.
fn parse_u32(value: &str) -> Option<u32> {
    let (digits, radix) = match value
        .strip_prefix("0x")
        .or_else(|| value.strip_prefix("0X"))
    {
        Some(hex) => (hex, 16),
        None => (value, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u32::from_str_radix(digits, radix).ok()
}

/// One u32 in decimal (every value up to 4294967295, leading zeros allowed) or 1..8 hex digits.
const U32_PATTERN: &str = "(0[xX]0*[0-9a-fA-F]{1,8}|0*([0-9]{1,9}|[1-3][0-9]{9}|4[01][0-9]{8}|42[0-8][0-9]{7}|429[0-3][0-9]{6}|4294[0-8][0-9]{5}|42949[0-5][0-9]{4}|429496[0-6][0-9]{3}|4294967[01][0-9]{2}|42949672[0-8][0-9]|429496729[0-5]))";

/// `mark` as the OpenAPI document states it: `value` or `value/mask`.
fn mark_pattern() -> String {
    format!("^{U32_PATTERN}(/{U32_PATTERN})?$")
}

/// The query parameters of `/connections` for the OpenAPI document, next to the parser they describe.
pub fn openapi_parameters() -> Vec<serde_json::Value> {
    use super::inspection_query::{address_filter_schema, limit_parameter, protocol_schema};
    use serde_json::json;
    let states: Vec<&str> = TCP_STATES.iter().map(|s| s.as_str()).collect();
    let param = |name: &str, description: &str, schema: serde_json::Value| json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema});
    vec![
        limit_parameter(),
        param(
            "family",
            "ipv4 or ipv6",
            json!({"type": "string", "enum": ["ipv4", "ipv6"]}),
        ),
        param("protocol", "protocol name or number", protocol_schema()),
        param(
            "src",
            "source address or prefix of the original direction",
            address_filter_schema(),
        ),
        param(
            "dst",
            "destination address or prefix of the original direction",
            address_filter_schema(),
        ),
        param(
            "port",
            "source or destination port of the original direction",
            json!({"type": "integer", "minimum": 0, "maximum": 65535}),
        ),
        param(
            "state",
            "TCP state as conntrack names it",
            json!({"type": "string", "enum": states}),
        ),
        param(
            "mark",
            "mark, or mark/mask (decimal or 0x hex)",
            json!({"type": "string", "pattern": mark_pattern()}),
        ),
    ]
}

impl ConnectionFilter {
    /// Parses the filters; a malformed one is a 400 naming its parameter.
    pub fn parse(query: &Query) -> Result<ConnectionFilter, Failure> {
        Ok(ConnectionFilter {
            family: query.parse_with("family", |v| match v {
                "ipv4" => Ok(AF_INET),
                "ipv6" => Ok(AF_INET6),
                _ => Err(format!("{v:?} is not a family: give ipv4 or ipv6")),
            })?,
            protocol: query.parse_with("protocol", parse_protocol)?,
            src: query.parse_with("src", AddressFilter::parse)?,
            dst: query.parse_with("dst", AddressFilter::parse)?,
            port: query.parse_with("port", parse_port)?,
            state: query.parse_with("state", |v| {
                TCP_STATES
                    .into_iter()
                    .find(|s| s.as_str() == v)
                    .ok_or_else(|| {
                        let names: Vec<&str> = TCP_STATES.iter().map(|s| s.as_str()).collect();
                        format!("{v:?} is not a state: give one of {}", names.join(", "))
                    })
            })?,
            mark: query.parse_with("mark", |v| {
                let (value, mask) = v.split_once('/').unwrap_or((v, "0xffffffff"));
                match (parse_u32(value), parse_u32(mask)) {
                    (Some(value), Some(mask)) => Ok((value, mask)),
                    _ => Err(format!(
                        "{v:?} is not a mark: give a number or number/mask (decimal or 0x hex)"
                    )),
                }
            })?,
        })
    }

    /// Whether `entry` passes every filter.
    pub fn matches(&self, entry: &ConntrackEntry) -> bool {
        let original = &entry.original;
        self.family.is_none_or(|f| entry.family == f)
            && self.protocol.is_none_or(|p| entry.protocol == p)
            && self.src.is_none_or(|a| a.matches(original.src))
            && self.dst.is_none_or(|a| a.matches(original.dst))
            && self
                .port
                .is_none_or(|p| original.src_port == Some(p) || original.dst_port == Some(p))
            && self.state.is_none_or(|s| entry.tcp_state == Some(s))
            && self
                .mark
                .is_none_or(|(value, mask)| entry.mark.unwrap_or(0) & mask == value & mask)
    }
}

/// Counts the whole table and keeps the first `limit` matching entries, as the dump goes by.
pub struct TableTally {
    filter: ConnectionFilter,
    limit: usize,
    count: u64,
    by_family: [u64; 2],
    by_protocol: Box<[u64; 256]>,
    matched: u64,
    items: Vec<Connection>,
}

impl TableTally {
    pub fn new(filter: ConnectionFilter, limit: usize) -> TableTally {
        TableTally {
            filter,
            limit,
            count: 0,
            by_family: [0; 2],
            by_protocol: Box::new([0; 256]),
            matched: 0,
            items: Vec::with_capacity(limit.min(1024)),
        }
    }

    /// Takes one entry of the dump.
    pub fn add(&mut self, entry: &ConntrackEntry) {
        self.count += 1;
        self.by_family[usize::from(entry.family == AF_INET6)] += 1;
        self.by_protocol[usize::from(entry.protocol)] += 1;
        if self.filter.matches(entry) {
            self.matched += 1;
            if self.items.len() < self.limit {
                self.items.push(connection(entry));
            }
        }
    }

    /// The response body, with the table's limit `max`.
    pub fn finish(self, max: u64) -> ConnectionTable {
        let mut by_family = BTreeMap::new();
        for (name, n) in [("ipv4", self.by_family[0]), ("ipv6", self.by_family[1])] {
            if n > 0 {
                by_family.insert(name.to_string(), n);
            }
        }
        let by_protocol = (0u8..=255)
            .zip(self.by_protocol.iter())
            .filter(|(_, n)| **n > 0)
            .map(|(p, n)| (protocol_name(p).into_owned(), *n))
            .collect();
        ConnectionTable {
            count: self.count,
            max,
            by_family,
            by_protocol,
            matched: self.matched,
            truncated: self.matched > self.items.len() as u64,
            items: self.items,
        }
    }
}

fn tuple(tuple: &Tuple, counters: Option<Counters>) -> ConnectionTuple {
    ConnectionTuple {
        source: tuple.src,
        destination: tuple.dst,
        source_port: tuple.src_port,
        destination_port: tuple.dst_port,
        icmp_type: tuple.icmp_type,
        icmp_code: tuple.icmp_code,
        icmp_id: tuple.icmp_id,
        packets: counters.map(|c| c.packets),
        bytes: counters.map(|c| c.bytes),
    }
}

/// The API shape of one entry.
pub fn connection(entry: &ConntrackEntry) -> Connection {
    Connection {
        family: if entry.family == AF_INET6 {
            "ipv6"
        } else {
            "ipv4"
        }
        .to_string(),
        protocol: protocol_name(entry.protocol).into_owned(),
        state: entry.state_name().map(str::to_string),
        timeout: entry.timeout,
        mark: entry.mark.unwrap_or(0),
        zone: entry.zone.unwrap_or(0),
        assured: entry.status.assured(),
        original: tuple(&entry.original, entry.original_counters),
        reply: tuple(&entry.reply, entry.reply_counters),
        nat_source: entry.nat_source(),
        nat_destination: entry.nat_destination(),
    }
}

impl From<ConntrackError> for Failure {
    fn from(e: ConntrackError) -> Failure {
        Failure::new(ErrorCode::Unavailable, format!("/connections: {e}"))
    }
}

/// Reads the table on a blocking thread (the dump is a tight `recv` loop) and answers the request.
pub async fn connections(
    table: Arc<dyn ConntrackTable>,
    query: &Query,
) -> Result<ConnectionTable, Failure> {
    let limit = query.limit(INSPECTION_DEFAULT_LIMIT, INSPECTION_MAX_LIMIT)?;
    let filter = ConnectionFilter::parse(query)?;
    tokio::task::spawn_blocking(move || {
        let stats = table.stats()?;
        let mut tally = TableTally::new(filter, limit);
        let summary = table.walk(&mut |entry| tally.add(entry))?;
        if summary.undecodable > 0 {
            tracing::warn!(
                undecodable = summary.undecodable,
                "conntrack dump: entries that could not be decoded were skipped"
            );
        }
        Ok(tally.finish(stats.max))
    })
    .await
    .map_err(|e| Failure::new(ErrorCode::Internal, format!("conntrack reader: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use routerd_host::FakeConntrack;
    use routerd_proto::netfilter::conntrack::{Status, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP};

    fn entry(family_v6: bool, protocol: u8, n: u16, mark: u32) -> ConntrackEntry {
        let (a, b): (std::net::IpAddr, std::net::IpAddr) = if family_v6 {
            (
                "2001:db8::10".parse().unwrap(),
                "2001:db8:1::1".parse().unwrap(),
            )
        } else {
            (
                format!("192.0.2.{}", n % 250).parse().unwrap(),
                "198.51.100.1".parse().unwrap(),
            )
        };
        let nat: std::net::IpAddr = "203.0.113.5".parse().unwrap();
        ConntrackEntry {
            family: if family_v6 { AF_INET6 } else { AF_INET },
            protocol,
            original: Tuple::with_ports(protocol, a, 40000 + n, b, 53),
            reply: Tuple::with_ports(protocol, b, 53, if family_v6 { a } else { nat }, 40000 + n),
            tcp_state: (protocol == IPPROTO_TCP).then_some(TcpState::Established),
            timeout: Some(100),
            mark: Some(mark),
            zone: None,
            status: Status(Status::ASSURED | Status::SEEN_REPLY | Status::CONFIRMED),
            original_counters: Some(Counters {
                packets: 2,
                bytes: 120,
            }),
            reply_counters: None,
            id: None,
        }
    }

    fn table() -> Vec<ConntrackEntry> {
        let mut entries = Vec::new();
        for n in 0..300 {
            entries.push(entry(false, IPPROTO_UDP, n, u32::from(n % 3)));
        }
        for n in 0..50 {
            entries.push(entry(false, IPPROTO_TCP, n, 0x10));
        }
        for n in 0..20 {
            entries.push(entry(true, IPPROTO_UDP, n, 0));
        }
        entries
    }

    async fn run(query: &str) -> Result<ConnectionTable, Failure> {
        let fake = Arc::new(FakeConntrack::new(table(), 1000));
        connections(fake, &Query::parse(Some(query))).await
    }

    #[tokio::test]
    async fn counts_cover_the_table_and_items_the_filter_and_limit() {
        let all = run("").await.unwrap();
        assert_eq!((all.count, all.max, all.matched), (370, 1000, 370));
        assert_eq!(all.items.len(), 100);
        assert!(all.truncated);
        assert_eq!(all.by_family.get("ipv4"), Some(&350));
        assert_eq!(all.by_family.get("ipv6"), Some(&20));
        assert_eq!(all.by_protocol.get("udp"), Some(&320));
        assert_eq!(all.by_protocol.get("tcp"), Some(&50));

        let tcp = run("protocol=tcp&state=ESTABLISHED&limit=10000")
            .await
            .unwrap();
        assert_eq!((tcp.count, tcp.matched, tcp.items.len()), (370, 50, 50));
        assert!(!tcp.truncated);
        let first = &tcp.items[0];
        assert_eq!(first.state.as_deref(), Some("ESTABLISHED"));
        assert_eq!(first.nat_source, Some("203.0.113.5".parse().unwrap()));
        assert_eq!(first.original.packets, Some(2));
        assert_eq!(first.reply.packets, None);

        let v6 = run("family=ipv6").await.unwrap();
        assert_eq!(v6.matched, 20);
        assert!(v6
            .items
            .iter()
            .all(|c| c.family == "ipv6" && c.nat_source.is_none()));
        let port = run("port=40007&protocol=udp").await.unwrap();
        assert_eq!(
            port.matched, 2,
            "the IPv4 and the IPv6 entry with source port 40007"
        );
        let src = run("src=192.0.2.0/29").await.unwrap();
        assert!(
            src.matched > 0
                && src.items.iter().all(|c| {
                    matches!(c.original.source, std::net::IpAddr::V4(a) if a.octets()[3] < 8)
                })
        );
        assert_eq!(run("dst=198.51.100.1").await.unwrap().matched, 350);
        assert_eq!(run("mark=0x10").await.unwrap().matched, 50);
        assert_eq!(run("mark=0x2/0x2").await.unwrap().matched, 100);
        assert_eq!(run("protocol=icmp").await.unwrap().matched, 0);
        assert_eq!(IPPROTO_ICMP, 1);
    }

    #[test]
    fn the_mark_pattern_and_parser_agree_at_the_edges() {
        assert_eq!(parse_u32("4294967295"), Some(u32::MAX));
        assert_eq!(parse_u32("0xFFFFFFFF"), Some(u32::MAX));
        assert_eq!(parse_u32("4294967296"), None);
        assert_eq!(parse_u32("+5"), None);
        assert_eq!(parse_u32("0x+5"), None);
        assert_eq!(parse_u32("0x"), None);
    }

    #[tokio::test]
    async fn bad_parameters_name_themselves() {
        for (query, name) in [
            ("family=ipx", "family"),
            ("protocol=tcpx", "protocol"),
            ("src=192.0.2.300", "src"),
            ("dst=2001:db8::/200", "dst"),
            ("port=70000", "port"),
            ("state=OPEN", "state"),
            ("state=established", "state"),
            ("family=IPv4", "family"),
            ("mark=zz", "mark"),
            ("limit=-1", "limit"),
            ("limit=123456789012345678901234567890", "limit"),
        ] {
            let f = run(query).await.unwrap_err();
            assert_eq!(f.code, ErrorCode::BadRequest, "{query}");
            assert!(
                f.message.starts_with(&format!("query parameter {name}:")),
                "{query}: {}",
                f.message
            );
        }
        assert_eq!(run("limit=50000").await.unwrap().items.len(), 370);
    }

    #[tokio::test]
    async fn an_unreadable_table_is_unavailable_with_the_reason() {
        let fake = Arc::new(FakeConntrack::new(table(), 1000));
        fake.set_failure(Some(ConntrackError::PermissionDenied("EPERM".into())));
        let f = connections(fake, &Query::parse(None)).await.unwrap_err();
        assert_eq!(f.code, ErrorCode::Unavailable);
        assert!(f.message.contains("CAP_NET_ADMIN"), "{}", f.message);
    }
}
