//! Event queries on a large store: load N events straight into `routerd.db` (fast path, before routerd
//! starts), then time "latest 100 by topic" and "latest 100 by resource" through the API, against the same
//! SQL run directly with rusqlite on a warm connection.

use crate::data::{resources, Generator, TOPICS};
use crate::http::Conn;
use crate::report::{median, Figure, Samples, Target};
use anyhow::Context as _;
use hyper::StatusCode;
use routerd_api::time::Timestamp;
use rusqlite::OpenFlags;
use std::path::Path;
use std::time::{Duration, Instant};

/// Writes `n` events into the `events` table of the database at `db` (created with routerd's schema),
/// spread evenly over the last 24 hours, in transactions of 50,000 rows. Returns the total row count.
pub fn load(db: &Path, n: usize) -> anyhow::Result<u64> {
    if let Some(parent) = db.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut conn =
        routerd_store::db::open(db).with_context(|| format!("cannot open {}", db.display()))?;
    let mut g = Generator::new(1);
    let span = Duration::from_secs(24 * 3600);
    let first = Timestamp::now().saturating_sub(span).nanos();
    let step = span.as_nanos() as i64 / n.max(1) as i64;
    let start = Instant::now();
    let mut done = 0usize;
    while done < n {
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO events (time, topic, severity, source_kind, source_instance, message, attributes, resource_kind, resource_name)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            let end = (done + 50_000).min(n);
            for i in done..end {
                let r = g.row();
                stmt.execute(rusqlite::params![
                    first + step * i as i64,
                    r.topic,
                    r.severity,
                    r.source_kind,
                    r.source_instance,
                    r.message,
                    r.attributes,
                    r.resource_kind,
                    r.resource_name,
                ])?;
            }
            done = end;
        }
        tx.commit()?;
    }
    // No ANALYZE: routerd never runs it, so the planner sees what it sees in production.
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    let count: i64 = conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?;
    eprintln!(
        "  loaded {n} events in {:.1} s ({count} rows in the table)",
        start.elapsed().as_secs_f64()
    );
    Ok(count as u64)
}

const COLUMNS: &str =
    "cursor, time, topic, severity, source_kind, source_instance, message, attributes";

/// The peer: the same question asked of SQLite directly, all columns fetched into owned values.
struct Direct {
    conn: rusqlite::Connection,
}

impl Direct {
    fn open(db: &Path) -> anyhow::Result<Direct> {
        let conn = rusqlite::Connection::open_with_flags(
            db,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("cannot open {} read-only", db.display()))?;
        Ok(Direct { conn })
    }

    fn fetch(&self, sql: &str, args: &[&dyn rusqlite::ToSql]) -> anyhow::Result<usize> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let mut rows = stmt.query(args)?;
        let mut n = 0;
        while let Some(row) = rows.next()? {
            let _cursor: i64 = row.get(0)?;
            let _time: i64 = row.get(1)?;
            let _topic: String = row.get(2)?;
            let _sev: i64 = row.get(3)?;
            let _sk: String = row.get(4)?;
            let _si: String = row.get(5)?;
            let _msg: String = row.get(6)?;
            let _attrs: String = row.get(7)?;
            n += 1;
        }
        Ok(n)
    }

    fn by_topic(&self, topic: &str) -> anyhow::Result<usize> {
        self.fetch(
            &format!(
                "SELECT {COLUMNS} FROM events WHERE topic = ?1 ORDER BY cursor DESC LIMIT 100"
            ),
            &[&topic],
        )
    }

    fn by_resource(&self, kind: &str, name: &str) -> anyhow::Result<usize> {
        self.fetch(
            &format!("SELECT {COLUMNS} FROM events WHERE resource_kind = ?1 AND resource_name = ?2 ORDER BY cursor DESC LIMIT 100"),
            &[&kind, &name],
        )
    }
}

/// One timed API request that must return exactly 100 events.
async fn api_query(conn: &mut Conn, path: &str) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let (status, body) = conn.get(path).await?;
    let d = t.elapsed();
    anyhow::ensure!(
        status == StatusCode::OK,
        "GET {path}: HTTP {status}: {}",
        String::from_utf8_lossy(&body)
    );
    let v: serde_json::Value =
        serde_json::from_slice(&body).with_context(|| format!("GET {path}: not JSON"))?;
    let n = v["items"].as_array().map(|a| a.len()).unwrap_or(0);
    anyhow::ensure!(n == 100, "GET {path} returned {n} events, expected 100");
    Ok(d)
}

fn timed(f: impl FnOnce() -> anyhow::Result<usize>, what: &str) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let n = f()?;
    let d = t.elapsed();
    anyhow::ensure!(
        n == 100,
        "direct query {what} returned {n} rows, expected 100"
    );
    Ok(d)
}

pub async fn run(
    status_socket: &Path,
    db: &Path,
    requests: usize,
    repeats: usize,
) -> anyhow::Result<Vec<Figure>> {
    let direct = Direct::open(db)?;
    let total: i64 = direct
        .conn
        .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?;
    eprintln!("  {total} events in {}", db.display());
    let res = resources();
    let mut conn = Conn::connect(status_socket).await?;
    let topic_path = |i: usize| {
        format!(
            "/events?topic={}&limit=100&latest=true",
            TOPICS[i % TOPICS.len()]
        )
    };
    let res_path = |i: usize| {
        let (k, n) = &res[i % res.len()];
        format!("/events?resource={k}/{n}&limit=100&latest=true")
    };
    // Warm-up: both paths touch every topic and resource once.
    for i in 0..res.len() {
        api_query(&mut conn, &topic_path(i)).await?;
        api_query(&mut conn, &res_path(i)).await?;
        timed(|| direct.by_topic(TOPICS[i % TOPICS.len()]), "warm-up")?;
        timed(|| direct.by_resource(res[i].0, &res[i].1), "warm-up")?;
    }
    // Per repeat: [topic api, topic direct, resource api, resource direct] × [p50, p99].
    let mut stats: Vec<[Vec<f64>; 2]> = (0..4).map(|_| [Vec::new(), Vec::new()]).collect();
    for rep in 0..repeats {
        let mut s: Vec<Samples> = (0..4).map(|_| Samples::with_capacity(requests)).collect();
        for i in 0..requests {
            // Interleaved request by request, rotating over all 50 topics and all 200 resources.
            s[0].push(api_query(&mut conn, &topic_path(i)).await?);
            let topic = TOPICS[i % TOPICS.len()];
            s[1].push(timed(|| direct.by_topic(topic), topic)?);
            s[2].push(api_query(&mut conn, &res_path(i)).await?);
            let (k, n) = &res[i % res.len()];
            s[3].push(timed(|| direct.by_resource(k, n), n)?);
        }
        let p: Vec<(f64, f64)> = s
            .iter_mut()
            .map(|x| (x.percentile_ms(50.0), x.percentile_ms(99.0)))
            .collect();
        eprintln!(
            "  query run {}: by topic api p50 {:.3} / p99 {:.3} ms, sqlite p50 {:.3} / p99 {:.3} ms; by resource api p50 {:.3} / p99 {:.3} ms, sqlite p50 {:.3} / p99 {:.3} ms",
            rep + 1,
            p[0].0, p[0].1, p[1].0, p[1].1, p[2].0, p[2].1, p[3].0, p[3].1
        );
        for (k, (a, b)) in p.into_iter().enumerate() {
            stats[k][0].push(a);
            stats[k][1].push(b);
        }
    }
    let mut figs = Vec::new();
    for (label, api, peer) in [("topic", 0, 1), ("resource", 2, 3)] {
        for (q, qi) in [("p50", 0), ("p99", 1)] {
            figs.push(
                Figure::new(
                    format!("query.latest100_by_{label}.{q}"),
                    median(&stats[api][qi]),
                    "ms",
                )
                .peer(median(&stats[peer][qi]))
                .target(Target::AtMost(2.0)),
            );
        }
    }
    Ok(figs)
}
