//! The event pipeline in process, through `routerd::events::EventBus` on a temporary database:
//! (a) the highest sustained publish rate with nothing lost, against SQLite's own 1000-rows-per-transaction
//! rate measured on the same disk in the same run; (b) latency from publish to persisted to delivered to a
//! long-poller (`wait_for`) at paced rates.

use crate::data::event_templates;
use crate::report::{median, Figure, Samples, Target};
use crate::sqlite_insert::{insert_rate, remove_db};
use anyhow::Context as _;
use routerd::events::EventBus;
use routerd_api::time::Timestamp;
use routerd_store::EventFilter;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

const SENT_ATTR: &str = "bench.sentNanos";

pub struct Options {
    pub events: usize,
    pub latency_secs: f64,
    pub rates: Vec<u64>,
    pub repeats: usize,
}

/// Publishes `n` events with `publish_nowait` as fast as possible, flushes, and counts what was stored.
/// Returns (events/s from the first publish to the flush, events lost).
async fn throughput(dir: &Path, tag: &str, n: usize) -> anyhow::Result<(f64, u64)> {
    let db = dir.join(format!("pipeline-{tag}.db"));
    remove_db(&db);
    let result = async {
        let bus = EventBus::open(&db).context("cannot open the event bus")?;
        // The same seed and mix as the SQLite peer's rows.
        let templates = event_templates(42, 1000);
        let before = bus.store().count()?;
        let start = Instant::now();
        for i in 0..n {
            let mut e = templates[i % templates.len()].clone();
            e.time = Timestamp::now();
            bus.publish_nowait(e);
        }
        bus.flush().await;
        let secs = start.elapsed().as_secs_f64();
        let stored = bus.store().count()? - before;
        tokio::task::spawn_blocking(move || bus.close()).await?;
        Ok::<_, anyhow::Error>((n as f64 / secs, (n as u64).saturating_sub(stored)))
    }
    .await;
    remove_db(&db);
    result
}

/// Publishes `rate` events/s for `secs` from a plain thread (each event carries its send time on a
/// monotonic clock shared with the poller) while a task long-polls with `wait_for`. Returns the
/// publish→delivered latencies, and (published, received).
async fn latency(
    dir: &Path,
    tag: &str,
    rate: u64,
    secs: f64,
) -> anyhow::Result<(Samples, u64, u64)> {
    let db = dir.join(format!("latency-{tag}.db"));
    remove_db(&db);
    let result = latency_on(&db, rate, secs).await;
    remove_db(&db);
    result
}

async fn latency_on(db: &Path, rate: u64, secs: f64) -> anyhow::Result<(Samples, u64, u64)> {
    let bus = EventBus::open(db).context("cannot open the event bus")?;
    let total = (rate as f64 * secs) as u64;
    let base = Arc::new(Instant::now());
    let (stop_tx, stop_rx) = watch::channel(false);
    let start_cursor = bus.store().last_cursor()?;

    let poller = {
        let bus = bus.clone();
        let base = base.clone();
        let stop_rx = stop_rx.clone();
        tokio::spawn(async move {
            // Every event (no topic filter), like a consumer of the whole stream.
            let mut filter = EventFilter {
                since: start_cursor,
                limit: 1000,
                ..Default::default()
            };
            let mut lat = Samples::with_capacity(total as usize);
            let mut received = 0u64;
            while received < total {
                let events = bus
                    .wait_for(&filter, Duration::from_secs(1), stop_rx.clone())
                    .await?;
                let now = base.elapsed().as_nanos() as u64;
                if events.is_empty() {
                    if *stop_rx.borrow() {
                        break;
                    }
                    continue;
                }
                for e in &events {
                    let sent: u64 = e
                        .attributes
                        .get(SENT_ATTR)
                        .and_then(|s| s.parse().ok())
                        .with_context(|| format!("event {} has no {SENT_ATTR}", e.cursor))?;
                    lat.push_nanos(now.saturating_sub(sent));
                    received += 1;
                }
                if let Some(last) = events.last() {
                    filter.since = last.cursor.parse().context("cursor is not a number")?;
                }
            }
            Ok::<_, anyhow::Error>((lat, received))
        })
    };

    let publisher = {
        let bus = bus.clone();
        let base = base.clone();
        let templates = event_templates(7, 1000);
        std::thread::Builder::new()
            .name("bench-publisher".into())
            .spawn(move || {
                let start = Instant::now();
                let step = 1e9 / rate as f64;
                for i in 0..total {
                    let due = start + Duration::from_nanos((i as f64 * step) as u64);
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    let sent = base.elapsed().as_nanos() as u64;
                    let mut e = templates[i as usize % templates.len()].clone();
                    e.time = Timestamp::now();
                    bus.publish_nowait(e.attr(SENT_ATTR, sent.to_string()));
                }
                total
            })?
    };
    let published = tokio::task::spawn_blocking(move || publisher.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the publisher thread panicked"))?;
    // Everything should arrive within a few ms; give stragglers up to 10 s, then stop the poller.
    let mut poller = poller;
    let joined = match tokio::time::timeout(Duration::from_secs(10), &mut poller).await {
        Ok(r) => r,
        Err(_) => {
            let _ = stop_tx.send(true);
            poller.await
        }
    };
    let (lat, received) = joined??;
    let _ = stop_tx.send(true);
    tokio::task::spawn_blocking(move || bus.close()).await?;
    Ok((lat, published, received))
}

pub async fn run(dir: &Path, opts: &Options) -> anyhow::Result<Vec<Figure>> {
    let mut figs = Vec::new();
    // (a) throughput, interleaved with the SQLite peer so both see the same machine noise.
    let mut ours = Vec::new();
    let mut peer = Vec::new();
    let mut lost_total = 0u64;
    for rep in 0..opts.repeats {
        let d = dir.to_path_buf();
        let n = opts.events;
        let p = tokio::task::spawn_blocking(move || {
            insert_rate(&d, &format!("peer{rep}"), 1000, n, Duration::from_secs(10))
        })
        .await??;
        let (rate, lost) = throughput(dir, &format!("r{rep}"), opts.events).await?;
        eprintln!(
            "  pipeline run {}: bus {rate:.0} events/s ({lost} lost), sqlite 1000/tx {p:.0} rows/s",
            rep + 1
        );
        ours.push(rate);
        peer.push(p);
        lost_total += lost;
    }
    figs.push(
        Figure::new("pipeline.max_sustained", median(&ours), "ev/s")
            .peer(median(&peer))
            .target(Target::RatioAtLeast(0.5)),
    );
    figs.push(
        Figure::new("pipeline.max_sustained.lost", lost_total as f64, "events")
            .target(Target::Exactly(0.0)),
    );

    // (b) latency at paced rates.
    for &rate in &opts.rates {
        let mut p50 = Vec::new();
        let mut p99 = Vec::new();
        let mut lost = 0u64;
        for rep in 0..opts.repeats {
            let (mut lat, published, received) =
                latency(dir, &format!("{rate}-{rep}"), rate, opts.latency_secs).await?;
            let (a, b) = (lat.percentile_ms(50.0), lat.percentile_ms(99.0));
            eprintln!(
                "  latency {rate}/s run {}: p50 {a:.3} ms, p99 {b:.3} ms ({received}/{published} delivered)",
                rep + 1
            );
            p50.push(a);
            p99.push(b);
            lost += published.saturating_sub(received);
        }
        let label = if rate % 1000 == 0 {
            format!("{}k", rate / 1000)
        } else {
            rate.to_string()
        };
        figs.push(Figure::new(
            format!("pipeline.latency_{label}.p50"),
            median(&p50),
            "ms",
        ));
        let mut f99 = Figure::new(format!("pipeline.latency_{label}.p99"), median(&p99), "ms");
        if rate == 10_000 {
            f99 = f99.target(Target::AtMost(5.0));
        }
        figs.push(f99);
        figs.push(
            Figure::new(
                format!("pipeline.latency_{label}.lost"),
                lost as f64,
                "events",
            )
            .target(Target::Exactly(0.0)),
        );
    }
    Ok(figs)
}
