//! `dns-queries.db`: one row per query `routerd-dns-resolver` answered. The daemon owns the file (it
//! writes and prunes it through [`DnsQueryLog`], so an answer never waits on routerd and a restart of
//! either side loses nothing); routerd opens each resolver's file read-only through [`DnsQueryReader`]
//! for `GET /dns-queries`.
//!
//! Names are stored twice: as shown (`www.example.com`) and as a key with the labels reversed
//! (`com.example.www.`), so "this name or any subdomain" is one index range and an exact name one index
//! equality. Addresses and times are stored like the other log stores (`log_writer`): 16-byte blobs and
//! nanoseconds since the epoch.

use crate::log_writer::{
    address_blob, blob_text, push_range, AddressRange, LogReader, LogStore, LogTable,
};
use crate::StoreError;
use routerd_api::dns_query::{DnsQuery, DnsQueryCount};
use routerd_api::Timestamp;
use rusqlite::{params, params_from_iter, Connection, Transaction};
use std::net::IpAddr;

/// File name of the store under the resolver's state directory.
pub const DNS_QUERY_LOG_FILE: &str = "dns-queries.db";

/// Matches an indexed condition must have before a query walks the table newest-first instead of the
/// index: a suffix as common as `com` matches most rows, and sorting them all by id would take longer
/// than finding the newest `limit` of them in id order.
const DENSE_MATCHES: i64 = 4_096;

/// One answered query as the resolver submits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsQueryRecord {
    pub time: Timestamp,
    pub client: IpAddr,
    /// The question's name as asked (any case, with or without the trailing dot).
    pub name: String,
    /// Type mnemonic (`A`, `AAAA`, `TYPE65`).
    pub qtype: String,
    /// Rcode mnemonic (`NOERROR`, `NXDOMAIN`).
    pub rcode: String,
    /// Answer records in presentation form.
    pub answers: Vec<String>,
    pub upstream: Option<String>,
    pub cache_hit: bool,
    pub duration_micros: u64,
}

/// Which rows `GET /dns-queries` returns (every field narrows; `None` matches everything).
#[derive(Debug, Clone, Default)]
pub struct DnsQueryFilter {
    pub client: Option<AddressRange>,
    /// Exactly this name.
    pub name: Option<String>,
    /// This name or any name below it.
    pub suffix: Option<String>,
    pub rcode: Option<String>,
    pub qtype: Option<String>,
    pub upstream: Option<String>,
    pub min_duration_micros: Option<u64>,
    /// Rows at or after.
    pub from: Option<Timestamp>,
    /// Rows at or before.
    pub to: Option<Timestamp>,
    pub limit: usize,
}

/// What the aggregate view groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsAggregate {
    Name,
    Client,
}

/// `www.Example.com.` → `www.example.com` (the shown form; the root is `.`).
pub fn display_name(name: &str) -> String {
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() {
        ".".into()
    } else {
        trimmed.to_ascii_lowercase()
    }
}

/// `www.example.com` → `com.example.www.`: the index key whose prefixes are the name's parent domains.
pub fn name_key(name: &str) -> String {
    let shown = display_name(name);
    if shown == "." {
        return String::new();
    }
    let mut key = String::with_capacity(shown.len() + 1);
    for label in shown.rsplit('.') {
        key.push_str(label);
        key.push('.');
    }
    key
}

/// `dns_queries`' rows and schema; see [`DnsQueryLog`].
pub struct DnsQueryTable;

impl LogTable for DnsQueryTable {
    const WRITER_THREAD: &'static str = "dns-query-writer";
    type Write = DnsQueryRecord;
    const TABLE: &'static str = "dns_queries";
    const SCHEMA: &'static str = r#"
CREATE TABLE IF NOT EXISTS dns_queries (
    id INTEGER PRIMARY KEY,
    time INTEGER NOT NULL,
    family INTEGER NOT NULL,
    client BLOB NOT NULL,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    qtype TEXT NOT NULL,
    rcode TEXT NOT NULL,
    answers TEXT NOT NULL,
    upstream TEXT,
    cache_hit INTEGER NOT NULL,
    duration_micros INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dns_queries_time ON dns_queries (time);
CREATE INDEX IF NOT EXISTS dns_queries_client ON dns_queries (client);
CREATE INDEX IF NOT EXISTS dns_queries_name_key ON dns_queries (name_key);
"#;
    const AGE_CONDITION: &'static str = "time < ?1";

    fn apply(tx: &Transaction<'_>, writes: Vec<DnsQueryRecord>) -> rusqlite::Result<()> {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO dns_queries (time, family, client, name, name_key, qtype, rcode, answers, upstream,
                 cache_hit, duration_micros)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        for r in writes {
            let answers = serde_json::to_string(&r.answers).unwrap_or_else(|_| "[]".into());
            stmt.execute(params![
                r.time.nanos(),
                family_of(r.client),
                address_blob(r.client),
                display_name(&r.name),
                name_key(&r.name),
                r.qtype,
                r.rcode,
                answers,
                r.upstream,
                r.cache_hit,
                i64::try_from(r.duration_micros).unwrap_or(i64::MAX),
            ])?;
        }
        Ok(())
    }

    fn rows(_write: &DnsQueryRecord) -> u64 {
        1
    }
}

fn family_of(address: IpAddr) -> u8 {
    match address {
        IpAddr::V4(_) => 2,
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => 2,
        IpAddr::V6(_) => 10,
    }
}

/// The resolver's side of the store: the writer thread and a reader connection.
pub type DnsQueryLog = LogStore<DnsQueryTable>;

/// A read connection to one resolver's `dns-queries.db` (routerd opens it read-only).
pub type DnsQueryReader = LogReader<DnsQueryTable>;

impl LogReader<DnsQueryTable> {
    /// Rows matching `filter`, newest first, and whether more than `limit` matched.
    pub fn query(&self, filter: &DnsQueryFilter) -> Result<(Vec<DnsQuery>, bool), StoreError> {
        let conditions = Conditions::of(filter);
        let conn = self.connection()?;
        let source = conditions.source(&conn)?;
        let limit = filter.limit.max(1);
        let sql = format!(
            "SELECT id, time, family, client, name, qtype, rcode, answers, upstream, cache_hit, duration_micros
             FROM dns_queries {source} {} ORDER BY id DESC LIMIT {}",
            conditions.where_clause(),
            limit + 1
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params_from_iter(conditions.args.iter()))?;
        let mut items = Vec::with_capacity(limit.min(1024));
        let mut truncated = false;
        while let Some(r) = rows.next()? {
            if items.len() == limit {
                truncated = true;
                break;
            }
            let family: u8 = r.get(2)?;
            let answers: String = r.get(7)?;
            items.push(DnsQuery {
                id: r.get::<_, i64>(0)? as u64,
                time: Timestamp(r.get(1)?),
                client: blob_text(&r.get::<_, Vec<u8>>(3)?, family),
                name: r.get(4)?,
                type_: r.get(5)?,
                rcode: r.get(6)?,
                answers: serde_json::from_str(&answers).unwrap_or_default(),
                upstream: r.get(8)?,
                cache_hit: r.get(9)?,
                duration_micros: r.get::<_, i64>(10)?.max(0) as u64,
            });
        }
        Ok((items, truncated))
    }

    /// The `limit` names (or clients) with the most rows matching `filter`, most first.
    pub fn aggregate(
        &self,
        filter: &DnsQueryFilter,
        by: DnsAggregate,
    ) -> Result<Vec<DnsQueryCount>, StoreError> {
        let conditions = Conditions::of(filter);
        let key = match by {
            DnsAggregate::Name => "name",
            DnsAggregate::Client => "client, family",
        };
        let sql = format!(
            "SELECT {key}, COUNT(*) AS n FROM dns_queries {} GROUP BY {key} ORDER BY n DESC, {key} LIMIT {}",
            conditions.where_clause(),
            filter.limit.max(1)
        );
        let conn = self.connection()?;
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params_from_iter(conditions.args.iter()))?;
        let mut counts = Vec::new();
        while let Some(r) = rows.next()? {
            let (key, n) = match by {
                DnsAggregate::Name => (r.get::<_, String>(0)?, r.get::<_, i64>(1)?),
                DnsAggregate::Client => (
                    blob_text(&r.get::<_, Vec<u8>>(0)?, r.get(1)?),
                    r.get::<_, i64>(2)?,
                ),
            };
            counts.push(DnsQueryCount {
                key,
                count: n.max(0) as u64,
            });
        }
        Ok(counts)
    }
}

/// The WHERE clause of a filter, and which of its conditions an index serves.
struct Conditions {
    all: Vec<String>,
    args: Vec<rusqlite::types::Value>,
    /// The condition on an indexed column that may match many rows (a suffix, a client prefix), with
    /// its arguments, probed before choosing how to walk the table.
    range: Option<(String, Vec<rusqlite::types::Value>)>,
}

impl Conditions {
    fn of(filter: &DnsQueryFilter) -> Conditions {
        let mut all = Vec::new();
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        let mut range = None;
        if let Some(client) = filter.client {
            let mut c = Vec::new();
            let mut a = Vec::new();
            push_range("client", client, &mut c, &mut a);
            if client.first != client.last {
                range = Some((c[0].clone(), a.clone()));
            }
            all.extend(c);
            args.extend(a);
        }
        if let Some(name) = &filter.name {
            all.push("name_key = ?".into());
            args.push(name_key(name).into());
        }
        if let Some(suffix) = &filter.suffix {
            let key = name_key(suffix);
            if !key.is_empty() {
                // Every key starting with `com.example.`: from it up to the same text with the last '.'
                // raised to '/', the next character.
                let mut upper = key.clone();
                upper.pop();
                upper.push('/');
                let condition = "name_key >= ? AND name_key < ?".to_string();
                let a: Vec<rusqlite::types::Value> = vec![key.into(), upper.into()];
                range = Some((condition.clone(), a.clone()));
                all.push(condition);
                args.extend(a);
            }
        }
        // Mnemonics are stored upper case; an upstream as written in the spec.
        for (column, value, upper) in [
            ("rcode", &filter.rcode, true),
            ("qtype", &filter.qtype, true),
            ("upstream", &filter.upstream, false),
        ] {
            if let Some(v) = value {
                all.push(format!("{column} = ?"));
                args.push(
                    if upper {
                        v.to_ascii_uppercase()
                    } else {
                        v.clone()
                    }
                    .into(),
                );
            }
        }
        if let Some(min) = filter.min_duration_micros {
            all.push("duration_micros >= ?".into());
            args.push(i64::try_from(min).unwrap_or(i64::MAX).into());
        }
        if let Some(from) = filter.from {
            all.push("time >= ?".into());
            args.push(from.nanos().into());
        }
        if let Some(to) = filter.to {
            all.push("time <= ?".into());
            args.push(to.nanos().into());
        }
        Conditions { all, args, range }
    }

    fn where_clause(&self) -> String {
        if self.all.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.all.join(" AND "))
        }
    }

    /// The table as the query should walk it: through the indexes when the range condition matches few
    /// rows (sorting them is cheap), newest-first by id (`NOT INDEXED`) when it matches many (the newest
    /// `limit` matches are then near the end of the table).
    fn source(&self, conn: &Connection) -> Result<&'static str, StoreError> {
        let Some((condition, args)) = &self.range else {
            return Ok("");
        };
        let probe = format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM dns_queries WHERE {condition} LIMIT {DENSE_MATCHES})"
        );
        let matches: i64 = conn.query_row(&probe, params_from_iter(args.iter()), |r| r.get(0))?;
        Ok(if matches >= DENSE_MATCHES {
            "NOT INDEXED"
        } else {
            ""
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RetentionPolicy;
    use std::net::Ipv4Addr;
    use std::time::Duration;
    use std::time::Instant;

    fn row(i: i64, name: &str, client: u8) -> DnsQueryRecord {
        DnsQueryRecord {
            time: Timestamp(1_000_000_000 + i),
            client: IpAddr::V4(Ipv4Addr::new(192, 168, 1, client)),
            name: name.into(),
            qtype: "A".into(),
            rcode: if name.starts_with("nx") {
                "NXDOMAIN".into()
            } else {
                "NOERROR".into()
            },
            answers: vec![format!("{name}. 60 IN A 192.0.2.1")],
            upstream: Some("192.0.2.53:53".into()),
            cache_hit: i % 2 == 0,
            duration_micros: u64::try_from(i).unwrap_or(0),
        }
    }

    fn filter() -> DnsQueryFilter {
        DnsQueryFilter {
            limit: 100,
            ..DnsQueryFilter::default()
        }
    }

    #[test]
    fn names_become_reversed_keys() {
        assert_eq!(name_key("www.Example.com."), "com.example.www.");
        assert_eq!(name_key("example.com"), "com.example.");
        assert_eq!(name_key("."), "");
        assert_eq!(display_name("WWW.example.com."), "www.example.com");
        assert_eq!(display_name("."), ".");
    }

    #[test]
    fn filters_select_rows_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let log = DnsQueryLog::open(&dir.path().join(DNS_QUERY_LOG_FILE)).unwrap();
        log.submit(vec![
            row(1, "www.example.com.", 10),
            row(2, "example.com", 11),
            row(3, "badexample.com", 10),
            row(4, "nx.example.org", 12),
        ])
        .unwrap();
        log.flush().unwrap();
        let r = log.reader();
        let (all, truncated) = r.query(&filter()).unwrap();
        assert_eq!(all.len(), 4);
        assert!(!truncated);
        assert_eq!(all[0].name, "nx.example.org");
        assert_eq!(all[3].answers, vec!["www.example.com.. 60 IN A 192.0.2.1"]);
        assert_eq!(all[3].client, "192.168.1.10");
        assert_eq!(all[3].upstream.as_deref(), Some("192.0.2.53:53"));

        let suffix = |s: &str| {
            r.query(&DnsQueryFilter {
                suffix: Some(s.into()),
                ..filter()
            })
            .unwrap()
            .0
            .into_iter()
            .map(|q| q.name)
            .collect::<Vec<_>>()
        };
        assert_eq!(
            suffix("example.com"),
            vec!["example.com", "www.example.com"]
        );
        assert_eq!(
            suffix("com"),
            vec!["badexample.com", "example.com", "www.example.com"]
        );

        let exact = r
            .query(&DnsQueryFilter {
                name: Some("Example.com.".into()),
                ..filter()
            })
            .unwrap()
            .0;
        assert_eq!(exact.len(), 1);
        let by_client = r
            .query(&DnsQueryFilter {
                client: Some(AddressRange::single("192.168.1.10".parse().unwrap())),
                ..filter()
            })
            .unwrap()
            .0;
        assert_eq!(by_client.len(), 2);
        let nx = r
            .query(&DnsQueryFilter {
                rcode: Some("nxdomain".into()),
                ..filter()
            })
            .unwrap()
            .0;
        assert_eq!(nx.len(), 1);
        let slow = r
            .query(&DnsQueryFilter {
                min_duration_micros: Some(3),
                ..filter()
            })
            .unwrap()
            .0;
        assert_eq!(slow.len(), 2);
        let window = r
            .query(&DnsQueryFilter {
                from: Some(Timestamp(1_000_000_002)),
                to: Some(Timestamp(1_000_000_003)),
                ..filter()
            })
            .unwrap()
            .0;
        assert_eq!(window.len(), 2);
        let (one, truncated) = r
            .query(&DnsQueryFilter {
                limit: 1,
                ..filter()
            })
            .unwrap();
        assert_eq!(one.len(), 1);
        assert!(truncated);
    }

    #[test]
    fn aggregates_count_names_and_clients() {
        let dir = tempfile::tempdir().unwrap();
        let log = DnsQueryLog::open(&dir.path().join(DNS_QUERY_LOG_FILE)).unwrap();
        log.submit(vec![
            row(1, "a.example", 1),
            row(2, "a.example", 2),
            row(3, "b.example", 2),
        ])
        .unwrap();
        log.flush().unwrap();
        let names = log
            .reader()
            .aggregate(&filter(), DnsAggregate::Name)
            .unwrap();
        assert_eq!(
            names,
            vec![
                DnsQueryCount {
                    key: "a.example".into(),
                    count: 2
                },
                DnsQueryCount {
                    key: "b.example".into(),
                    count: 1
                }
            ]
        );
        let clients = log
            .reader()
            .aggregate(&filter(), DnsAggregate::Client)
            .unwrap();
        assert_eq!(clients[0].key, "192.168.1.2");
        assert_eq!(clients[0].count, 2);
    }

    #[test]
    fn retention_prunes_by_rows_and_age_and_a_reader_sees_the_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DNS_QUERY_LOG_FILE);
        let log = DnsQueryLog::open(&path).unwrap();
        let now = Timestamp::now().nanos();
        let mut rows: Vec<DnsQueryRecord> = (0..50).map(|i| row(i, "x.example", 1)).collect();
        for (i, r) in rows.iter_mut().enumerate().skip(10) {
            r.time = Timestamp(now + i as i64);
        }
        log.submit(rows).unwrap();
        log.flush().unwrap();
        let reader = DnsQueryReader::open_read_only(&path).unwrap();
        assert_eq!(reader.count().unwrap(), 50);
        log.retain(RetentionPolicy {
            max_age: Duration::from_secs(3600),
            max_rows: 30,
        })
        .unwrap();
        log.flush().unwrap();
        // Retention runs one slice per writer round (the age slice, then the row-count slice); a
        // flush answers after its round's slice, so the second flush has seen both.
        log.flush().unwrap();
        assert_eq!(reader.count().unwrap(), 30);
        assert_eq!(
            log.counters()
                .written
                .load(std::sync::atomic::Ordering::Relaxed),
            50
        );
    }

    /// The spec's figure: latest 100 by suffix on 1M rows in < 20 ms. Run with `--ignored` (building
    /// the million rows takes a few seconds).
    #[test]
    #[ignore]
    fn latest_100_by_suffix_on_a_million_rows() {
        let dir = tempfile::tempdir().unwrap();
        let log = DnsQueryLog::open(&dir.path().join(DNS_QUERY_LOG_FILE)).unwrap();
        let names = [
            "www.example.com",
            "api.example.net",
            "cdn.example.org",
            "rare.example.io",
        ];
        for chunk in 0..100 {
            let rows = (0..10_000)
                .map(|i| {
                    let n = chunk * 10_000 + i;
                    let name = if n % 10_000 == 0 {
                        names[3]
                    } else {
                        names[(n % 3) as usize]
                    };
                    row(n, name, (n % 200) as u8)
                })
                .collect();
            log.submit(rows).unwrap();
        }
        log.flush().unwrap();
        for suffix in ["com", "example.com", "example.io", "nothing.example"] {
            let start = Instant::now();
            let (items, _) = log
                .reader()
                .query(&DnsQueryFilter {
                    suffix: Some(suffix.into()),
                    ..filter()
                })
                .unwrap();
            let took = start.elapsed();
            println!("suffix {suffix}: {} rows in {took:?}", items.len());
            assert!(took < Duration::from_millis(20), "{suffix}: {took:?}");
        }
    }
}
