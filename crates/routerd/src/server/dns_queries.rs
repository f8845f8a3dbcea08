//! `GET /dns-queries`: the rows every `routerd-dns-resolver` wrote to its own `dns-queries.db`, opened
//! read-only (the daemon owns the file, so an answer never waits on routerd), newest first across
//! resolvers; or, with `aggregate=name|client`, the names or clients with the most matching rows.
//! The shared parameters (`limit`, `since`/`from`/`to`, `client`) come from `inspection_query`.

use super::app::App;
use super::inspection_query::InspectionQuery;
use super::log_queries::{address, common_parameters, parameter, unavailable};
use super::query::Query;
use super::response::{ok, Body, Failure};
use crate::controllers::dns_resolver::EXECUTABLE;
use hyper::Response;
use routerd_api::dns_query::{DnsQuery, DnsQueryAggregate, DnsQueryCount, DnsQueryList};
use routerd_api::{Kind, Timestamp};
use routerd_store::dns_queries::{
    DnsAggregate, DnsQueryFilter, DnsQueryReader, DNS_QUERY_LOG_FILE,
};
use std::collections::HashMap;
use std::path::PathBuf;

/// Longest `name`/`suffix` value: a DNS name is at most 253 characters, plus a trailing dot.
const MAX_NAME: usize = 254;
/// Longest `rcode`/`type` mnemonic (`NXRRSET`, `TYPE65535`).
const MAX_MNEMONIC: usize = 16;
/// One label of a name filter, exactly what [`parse_name`] accepts.
const LABEL: &str = "[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?";

/// A `name` or `suffix` value: `.` (the root), or dot-separated labels of 1-63 letters, digits, `-` or
/// `_` not starting or ending with `-`, with an optional trailing dot; at most [`MAX_NAME`] characters.
fn parse_name(value: &str) -> Result<String, String> {
    let bad = || {
        format!(
            "{value:?} is not a DNS name (labels of letters, digits, '-' or '_' separated by dots, e.g. example.com)"
        )
    };
    if value == "." {
        return Ok(value.to_string());
    }
    if value.is_empty() || value.len() > MAX_NAME {
        return Err(bad());
    }
    let trimmed = value.strip_suffix('.').unwrap_or(value);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if trimmed.split('.').all(label_ok) {
        Ok(value.to_string())
    } else {
        Err(bad())
    }
}

fn name_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "string", "minLength": 1, "maxLength": MAX_NAME,
        "pattern": format!("^(\\.|{LABEL}(\\.{LABEL})*\\.?)$")
    })
}

/// An `rcode` or `type` mnemonic (`NXDOMAIN`, `aaaa`, `TYPE65`): a letter, then letters or digits.
fn parse_mnemonic(value: &str) -> Result<String, String> {
    let ok = value.len() <= MAX_MNEMONIC
        && value
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
        && value.bytes().all(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(value.to_ascii_uppercase())
    } else {
        Err(format!(
            "{value:?} is not a mnemonic (a letter, then letters or digits, e.g. NXDOMAIN, AAAA or TYPE65)"
        ))
    }
}

fn mnemonic_schema() -> serde_json::Value {
    serde_json::json!({"type": "string", "pattern": format!("^[A-Za-z][A-Za-z0-9]{{0,{}}}$", MAX_MNEMONIC - 1)})
}

/// `minDurationMicros`: plain decimal digits, at most `i64::MAX` (the store's integer).
fn parse_micros(value: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "{value:?} is not a whole number of microseconds 0..={}",
            i64::MAX
        )
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    value
        .parse::<u64>()
        .ok()
        .filter(|v| i64::try_from(*v).is_ok())
        .ok_or_else(bad)
}

fn parse_aggregate(value: &str) -> Result<DnsAggregate, String> {
    match value {
        "name" => Ok(DnsAggregate::Name),
        "client" => Ok(DnsAggregate::Client),
        other => Err(format!("{other:?} is not name or client")),
    }
}

/// What one request asks for.
#[derive(Debug, Clone)]
pub struct DnsQueryRequest {
    pub filter: DnsQueryFilter,
    pub aggregate: Option<DnsAggregate>,
}

impl DnsQueryRequest {
    /// Parses the parameters; a malformed one is a 400 naming it.
    pub fn parse(query: &Query, now: Timestamp) -> Result<DnsQueryRequest, Failure> {
        let common = InspectionQuery::parse(query, now)?;
        Ok(DnsQueryRequest {
            filter: DnsQueryFilter {
                client: address(query, "client")?,
                name: query.parse_with("name", parse_name)?,
                suffix: query.parse_with("suffix", parse_name)?,
                rcode: query.parse_with("rcode", parse_mnemonic)?,
                qtype: query.parse_with("type", parse_mnemonic)?,
                upstream: query.get("upstream").map(str::to_string),
                min_duration_micros: query.parse_with("minDurationMicros", parse_micros)?,
                from: common.window.from,
                to: common.window.to,
                limit: common.limit,
            },
            aggregate: query.parse_with("aggregate", parse_aggregate)?,
        })
    }
}

/// The answer: rows or groups.
#[derive(Debug, Clone, PartialEq)]
pub enum DnsQueryAnswer {
    Rows(DnsQueryList),
    Groups(DnsQueryAggregate),
}

/// The `dns-queries.db` of every `DNSResolver` in the desired state that has one yet.
fn log_files(app: &App) -> Vec<PathBuf> {
    app.config
        .current()
        .of_kind(Kind::DNSResolver)
        .map(|r| {
            app.supervisor
                .state_dir(EXECUTABLE, r.name())
                .join(DNS_QUERY_LOG_FILE)
        })
        .filter(|p| p.is_file())
        .collect()
}

/// Answers `request` from `files` (blocking: SQLite is synchronous). Rows of several resolvers are
/// merged newest first; groups are summed across them (each file's groups are read whole when there are
/// several, so a group split across resolvers is counted exactly).
pub fn answer(files: &[PathBuf], request: &DnsQueryRequest) -> Result<DnsQueryAnswer, String> {
    let limit = request.filter.limit.max(1);
    let open = |path: &PathBuf| {
        DnsQueryReader::open_read_only(path).map_err(|e| format!("{}: {e}", path.display()))
    };
    match request.aggregate {
        None => {
            let mut items: Vec<DnsQuery> = Vec::new();
            let mut truncated = false;
            for path in files {
                let (rows, more) = open(path)?
                    .query(&request.filter)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                truncated |= more;
                items.extend(rows);
            }
            items.sort_by(|a, b| b.time.cmp(&a.time).then(b.id.cmp(&a.id)));
            if items.len() > limit {
                items.truncate(limit);
                truncated = true;
            }
            Ok(DnsQueryAnswer::Rows(DnsQueryList { items, truncated }))
        }
        Some(by) => {
            let mut filter = request.filter.clone();
            // One more than asked tells whether there were more; with several files, every group.
            filter.limit = if files.len() > 1 {
                i64::MAX as usize
            } else {
                limit + 1
            };
            let mut counts: HashMap<String, u64> = HashMap::new();
            for path in files {
                let groups = open(path)?
                    .aggregate(&filter, by)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                for g in groups {
                    *counts.entry(g.key).or_default() += g.count;
                }
            }
            let mut items: Vec<DnsQueryCount> = counts
                .into_iter()
                .map(|(key, count)| DnsQueryCount { key, count })
                .collect();
            items.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
            let truncated = items.len() > limit;
            items.truncate(limit);
            Ok(DnsQueryAnswer::Groups(DnsQueryAggregate {
                by: match by {
                    DnsAggregate::Name => "name",
                    DnsAggregate::Client => "client",
                }
                .into(),
                items,
                truncated,
            }))
        }
    }
}

pub async fn dns_queries(app: &App, query: &Query) -> Result<Response<Body>, Failure> {
    let request = DnsQueryRequest::parse(query, Timestamp::now())?;
    let files = log_files(app);
    let answered = tokio::task::spawn_blocking(move || answer(&files, &request))
        .await
        .map_err(unavailable)?
        .map_err(unavailable)?;
    Ok(match answered {
        DnsQueryAnswer::Rows(list) => ok("DNSQueryList", &list),
        DnsQueryAnswer::Groups(groups) => ok("DNSQueryAggregate", &groups),
    })
}

/// The query parameters of `GET /dns-queries` for the OpenAPI document, next to the parsers they
/// describe.
pub fn openapi_parameters() -> Vec<serde_json::Value> {
    use super::inspection_query::address_filter_schema;
    let mut out = common_parameters();
    out.extend([
        parameter(
            "client",
            "the asking client: address or prefix",
            address_filter_schema(),
        ),
        parameter(
            "name",
            "exactly this name (any case, trailing dot optional)",
            name_schema(),
        ),
        parameter("suffix", "this name or any name below it", name_schema()),
        parameter(
            "rcode",
            "response code mnemonic (NOERROR, NXDOMAIN, SERVFAIL, ...)",
            mnemonic_schema(),
        ),
        parameter(
            "type",
            "question type mnemonic (A, AAAA, PTR, TYPE65, ...)",
            mnemonic_schema(),
        ),
        parameter(
            "upstream",
            "the upstream that answered, as the rows show it",
            serde_json::json!({"type": "string"}),
        ),
        parameter(
            "minDurationMicros",
            "only answers that took at least this long",
            serde_json::json!({"type": "integer", "minimum": 0, "maximum": i64::MAX}),
        ),
        parameter(
            "aggregate",
            "count rows per name or per client instead of listing them (top `limit`, most first)",
            serde_json::json!({"type": "string", "enum": ["name", "client"]}),
        ),
    ]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use routerd_store::dns_queries::{DnsQueryLog, DnsQueryRecord};
    use std::time::Duration;

    fn record(secs: u64, client: &str, name: &str, upstream: Option<&str>) -> DnsQueryRecord {
        DnsQueryRecord {
            time: Timestamp::parse("2026-12-02T12:00:00Z")
                .unwrap()
                .saturating_add(Duration::from_secs(secs)),
            client: client.parse().unwrap(),
            name: name.into(),
            qtype: "A".into(),
            rcode: if name.starts_with("nx") {
                "NXDOMAIN"
            } else {
                "NOERROR"
            }
            .into(),
            answers: Vec::new(),
            upstream: upstream.map(Into::into),
            cache_hit: upstream.is_none(),
            duration_micros: secs * 100,
        }
    }

    /// Two resolvers' logs with interleaved times.
    fn two_logs(dir: &std::path::Path) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for (n, rows) in [
            (
                "lan",
                vec![
                    record(1, "192.168.1.10", "nas.home.arpa", None),
                    record(3, "192.168.1.10", "www.example.com", Some("192.0.2.53:53")),
                    record(5, "192.168.1.11", "nx.example.com", Some("192.0.2.53:53")),
                ],
            ),
            (
                "guest",
                vec![
                    record(2, "10.0.0.5", "www.example.com", Some("192.0.2.53:53")),
                    record(4, "10.0.0.5", "mail.example.org", Some("192.0.2.54:53")),
                ],
            ),
        ] {
            let path = dir.join(n).join(DNS_QUERY_LOG_FILE);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let log = DnsQueryLog::open(&path).unwrap();
            log.submit(rows).unwrap();
            log.flush().unwrap();
            log.close();
            files.push(path);
        }
        files
    }

    fn ask(files: &[PathBuf], q: &str) -> DnsQueryAnswer {
        let now = Timestamp::parse("2026-12-02T12:01:00Z").unwrap();
        let request = DnsQueryRequest::parse(&Query::parse(Some(q)), now).unwrap();
        answer(files, &request).unwrap()
    }

    fn names(a: DnsQueryAnswer) -> (Vec<String>, bool) {
        match a {
            DnsQueryAnswer::Rows(l) => (l.items.into_iter().map(|i| i.name).collect(), l.truncated),
            other => panic!("rows expected: {other:?}"),
        }
    }

    #[test]
    fn rows_of_every_resolver_newest_first_with_filters() {
        let dir = tempfile::tempdir().unwrap();
        let files = two_logs(dir.path());
        let (all, truncated) = names(ask(&files, ""));
        assert_eq!(
            all,
            [
                "nx.example.com",
                "mail.example.org",
                "www.example.com",
                "www.example.com",
                "nas.home.arpa"
            ]
        );
        assert!(!truncated);
        let (two, truncated) = names(ask(&files, "limit=2"));
        assert_eq!(two, ["nx.example.com", "mail.example.org"]);
        assert!(truncated);
        assert_eq!(
            names(ask(&files, "suffix=example.com")).0,
            ["nx.example.com", "www.example.com", "www.example.com"]
        );
        assert_eq!(
            names(ask(&files, "name=WWW.example.com.")).0,
            ["www.example.com", "www.example.com"]
        );
        assert_eq!(
            names(ask(&files, "client=10.0.0.0/8")).0,
            ["mail.example.org", "www.example.com"]
        );
        assert_eq!(names(ask(&files, "rcode=nxdomain")).0, ["nx.example.com"]);
        assert_eq!(
            names(ask(&files, "upstream=192.0.2.54:53")).0,
            ["mail.example.org"]
        );
        assert_eq!(
            names(ask(&files, "minDurationMicros=400")).0,
            ["nx.example.com", "mail.example.org"]
        );
        assert_eq!(
            names(ask(
                &files,
                "from=2026-12-02T12:00:02Z&to=2026-12-02T12:00:03Z"
            ))
            .0,
            ["www.example.com", "www.example.com"]
        );
        assert_eq!(
            names(ask(&files, "since=56s")).0,
            ["nx.example.com", "mail.example.org"]
        );
        assert_eq!(
            names(ask(&[], "")).0,
            Vec::<String>::new(),
            "no resolver, no rows"
        );
    }

    #[test]
    fn aggregates_sum_across_resolvers_top_n() {
        let dir = tempfile::tempdir().unwrap();
        let files = two_logs(dir.path());
        let DnsQueryAnswer::Groups(g) = ask(&files, "aggregate=name&limit=2") else {
            panic!("groups expected");
        };
        assert_eq!(g.by, "name");
        assert_eq!(
            g.items[0],
            DnsQueryCount {
                key: "www.example.com".into(),
                count: 2
            }
        );
        assert_eq!(g.items.len(), 2);
        assert!(g.truncated);
        let DnsQueryAnswer::Groups(g) = ask(&files[..1], "aggregate=client") else {
            panic!("groups expected");
        };
        assert_eq!(
            g.items,
            [
                DnsQueryCount {
                    key: "192.168.1.10".into(),
                    count: 2
                },
                DnsQueryCount {
                    key: "192.168.1.11".into(),
                    count: 1
                }
            ]
        );
        assert!(!g.truncated);
    }

    #[test]
    fn bad_parameters_name_themselves() {
        let now = Timestamp::now();
        for (q, param) in [
            ("client=nope", "client"),
            ("name=a..b", "name"),
            ("suffix=-x.com", "suffix"),
            ("rcode=NX-DOMAIN", "rcode"),
            ("type=1A", "type"),
            ("minDurationMicros=-1", "minDurationMicros"),
            (
                "minDurationMicros=99999999999999999999",
                "minDurationMicros",
            ),
            ("aggregate=domain", "aggregate"),
            ("limit=x", "limit"),
            ("since=yesterday", "since"),
            ("from=never", "from"),
        ] {
            let f = DnsQueryRequest::parse(&Query::parse(Some(q)), now).unwrap_err();
            assert!(
                f.message.starts_with(&format!("query parameter {param}:")),
                "{q}: {}",
                f.message
            );
        }
        let r = DnsQueryRequest::parse(&Query::parse(Some("limit=50000&name=.")), now).unwrap();
        assert_eq!(r.filter.limit, 10_000);
        assert_eq!(r.filter.name.as_deref(), Some("."));
    }

    #[test]
    fn the_name_pattern_and_parser_agree() {
        let long_label = "a".repeat(63);
        let too_long_label = "a".repeat(64);
        for (value, accepted) in [
            ("example.com", true),
            ("example.com.", true),
            ("_dmarc.example.com", true),
            (".", true),
            (long_label.as_str(), true),
            (too_long_label.as_str(), false),
            ("", false),
            ("a..b", false),
            ("-a.com", false),
            ("a-.com", false),
            ("ex ample.com", false),
        ] {
            assert_eq!(parse_name(value).is_ok(), accepted, "{value:?}");
        }
    }
}
