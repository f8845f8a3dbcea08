//! The physical limit of the event pipeline: raw rusqlite inserts of ~200-byte event rows into routerd's
//! own schema (opened with `routerd_store::db::open`, so WAL, synchronous=NORMAL and the indexes are the
//! same), with 1, 100 and 1000 rows per transaction.

use crate::data::{Generator, Row};
use crate::report::{median, Figure};
use anyhow::Context as _;
use routerd_api::time::Timestamp;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const INSERT: &str = "INSERT INTO events (time, topic, severity, source_kind, source_instance, message, attributes, resource_kind, resource_name)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

/// Removes a database and its WAL/SHM files.
pub fn remove_db(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

/// Inserts rows `per_tx` at a time into a fresh database under `dir` until `rows` are in or `cap` has
/// passed (at a transaction boundary); returns rows/s.
pub fn insert_rate(
    dir: &Path,
    tag: &str,
    per_tx: usize,
    rows: usize,
    cap: Duration,
) -> anyhow::Result<f64> {
    let path = dir.join(format!("sqlite-{tag}-{per_tx}.db"));
    remove_db(&path);
    let result = (|| {
        let mut conn =
            routerd_store::db::open(&path).context("cannot open the SQLite peer database")?;
        // Row data is prepared up front: the peer measures SQLite, not string formatting.
        let mut g = Generator::new(42);
        let templates: Vec<Row> = (0..1000).map(|_| g.row()).collect();
        let start = Instant::now();
        let mut done = 0usize;
        while done < rows && start.elapsed() < cap {
            let tx = conn.transaction()?;
            {
                let mut stmt = tx.prepare_cached(INSERT)?;
                for _ in 0..per_tx {
                    let r = &templates[done % templates.len()];
                    stmt.execute(rusqlite::params![
                        Timestamp::now().nanos(),
                        r.topic,
                        r.severity,
                        r.source_kind,
                        r.source_instance,
                        r.message,
                        r.attributes,
                        r.resource_kind,
                        r.resource_name,
                    ])?;
                    done += 1;
                }
            }
            tx.commit()?;
        }
        let secs = start.elapsed().as_secs_f64();
        let stored: i64 = conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?;
        anyhow::ensure!(
            stored as usize == done,
            "peer stored {stored} rows, expected {done}"
        );
        Ok(done as f64 / secs)
    })();
    remove_db(&path);
    result
}

/// Rows per measurement for a batch size: enough for ~1-2 s on the reference machine.
fn rows_for(per_tx: usize) -> usize {
    match per_tx {
        1 => 40_000,
        100 => 250_000,
        _ => 300_000,
    }
}

pub fn run(dir: &Path, repeats: usize) -> anyhow::Result<Vec<Figure>> {
    let mut figs = Vec::new();
    for per_tx in [1usize, 100, 1000] {
        let mut rates = Vec::new();
        for rep in 0..repeats {
            let r = insert_rate(
                dir,
                &format!("r{rep}"),
                per_tx,
                rows_for(per_tx),
                Duration::from_secs(4),
            )?;
            eprintln!(
                "  sqlite {per_tx:>4} rows/tx, run {}: {r:.0} rows/s",
                rep + 1
            );
            rates.push(r);
        }
        figs.push(Figure::new(
            format!("sqlite.insert.{per_tx}_per_tx"),
            median(&rates),
            "rows/s",
        ));
    }
    Ok(figs)
}
