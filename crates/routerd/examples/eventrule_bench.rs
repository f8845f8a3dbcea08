//! EventRule engine figures: events/s through the engine with 100 rules of mixed operators, and the
//! latency an EventRule adds from an event's commit to its virtual event's commit.
//!
//! `cargo run --release -p routerd --example eventrule_bench [-- --events 200000 --runs 3]`
//!
//! Throughput: a store is filled with N events (20 topics, 50 resources) and the engine (with a checkpoint
//! from before them) evaluates them all; the same store read page by page with the same topic filter and
//! nothing evaluated is measured in the same run as the reference ("store read"). Latency: the engine
//! task runs live with the same 100 rules plus an `anyOf` probe rule while a load task publishes
//! background events at a fixed rate; each probe's latency is from its publish being acknowledged
//! (committed) to a subscriber seeing the probe rule's virtual event committed. Medians over runs.

use routerd::config::DesiredState;
use routerd::controllers::StatusBook;
use routerd::events::EventBus;
use routerd::rules::engine::EventRuleEngine;
use routerd_api::event::NewEvent;
use routerd_api::manifest::decode_resources;
use routerd_api::topic::TopicPattern;
use routerd_api::Severity;
use routerd_store::{EventFilter, StateStore};
use serde_json::json;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

const TOPICS: usize = 20;
const RESOURCES: usize = 50;

fn topic(i: usize) -> String {
    format!("routerd.bench.t{:02}.happened", i % TOPICS)
}

/// 100 rules cycling through the 8 operators, each on 1–3 of the 20 topics, correlated by resource.
fn rules(with_probe: bool) -> DesiredState {
    let mut docs = Vec::new();
    for i in 0..100 {
        let (a, b, c) = (topic(i), topic(i + 7), topic(i + 13));
        let m = match i % 8 {
            0 => json!({"operator": "anyOf", "topics": [a]}),
            1 => json!({"operator": "allOf", "topics": [a, b]}),
            2 => json!({"operator": "sequence", "topics": [a, b, c], "strict": true}),
            3 => json!({"operator": "window", "topics": [a], "window": "10s", "threshold": 5}),
            4 => json!({"operator": "count", "topics": [a], "threshold": 10}),
            5 => json!({"operator": "throttle", "topics": [a], "interval": "1s"}),
            6 => json!({"operator": "debounce", "topics": [a], "quiet": "500ms"}),
            _ => json!({"operator": "absence", "trigger": a, "expected": b, "timeout": "1s"}),
        };
        let mut m = m;
        m["correlateBy"] = json!("resource.name");
        docs.push(json!({
            "apiVersion": "net.routerd.net/v1alpha1", "kind": "EventRule",
            "metadata": {"name": format!("rule-{i:03}")},
            "spec": {"match": m, "emit": {"topic": format!("routerd.virtual.bench.r{i:03}"),
                     "attributes": {"from": "${topic}", "n": "${count}"}}}
        }));
    }
    if with_probe {
        docs.push(json!({
            "apiVersion": "net.routerd.net/v1alpha1", "kind": "EventRule",
            "metadata": {"name": "probe"},
            "spec": {"match": {"operator": "anyOf", "topics": ["routerd.bench.probe.sent"]},
                     "emit": {"topic": "routerd.virtual.bench.probe"}}
        }));
    }
    match decode_resources(docs) {
        Ok(r) => DesiredState::from_resources(1, r),
        Err(e) => panic!("benchmark rules do not decode: {e:?}"),
    }
}

fn load_event(i: usize) -> NewEvent {
    NewEvent::new(&topic(i * 7 + i / TOPICS), Severity::Info, "bench")
        .resource("HealthCheck", &format!("r{:02}", i % RESOURCES))
        .source("bench", "")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

struct Throughput {
    engine_eps: f64,
    read_eps: f64,
    firings: u64,
}

async fn throughput(events: usize) -> anyhow::Result<Throughput> {
    let dir = tempfile::tempdir()?;
    let bus = EventBus::open(&dir.path().join("routerd.db"))?;
    let desired = rules(false);
    // Open first: the checkpoint is recorded before the events, so the engine evaluates all of them.
    let mut engine = EventRuleEngine::open(bus.clone(), &desired).await?;
    for i in 0..events {
        bus.publish_nowait(load_event(i));
    }
    bus.flush().await;
    let before = bus.store().last_cursor()?;

    // Reference: read the same events with the same topic filter, evaluating nothing.
    let mut seen = BTreeSet::new();
    let filter: Vec<TopicPattern> = (0..TOPICS)
        .map(topic)
        .filter(|t| seen.insert(t.clone()))
        .filter_map(|t| TopicPattern::parse(&t).ok())
        .collect();
    let started = Instant::now();
    let mut since = 0;
    let mut read = 0;
    loop {
        let page = bus.query(&EventFilter {
            since,
            topics: filter.clone(),
            limit: 4096,
            ..Default::default()
        })?;
        read += page.len();
        match page.last() {
            Some(e) if page.len() == 4096 => since = e.cursor.parse()?,
            _ => break,
        }
    }
    let read_eps = read as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut evaluated = 0;
    while engine.position() < before {
        evaluated += engine.poll().await?;
    }
    let took = started.elapsed().as_secs_f64();
    let firings = bus.store().last_cursor()? - before;
    bus.close();
    Ok(Throughput {
        engine_eps: evaluated as f64 / took,
        read_eps,
        firings,
    })
}

struct Latency {
    p50_ms: f64,
    p99_ms: f64,
    probes: usize,
    firings_per_s: f64,
}

async fn latency(rate: u64, secs: u64) -> anyhow::Result<Latency> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("routerd.db");
    let bus = EventBus::open(&db)?;
    let desired = rules(true);
    let state = Arc::new(StateStore::open(&db, bus.store().clone())?);
    let book = Arc::new(StatusBook::load(state, bus.clone()));
    let (_cfg_tx, cfg_rx) = watch::channel(Arc::new(desired.clone()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let engine = EventRuleEngine::open(bus.clone(), &desired).await?;
    let start_cursor = bus.store().last_cursor()?;
    let task = tokio::spawn(engine.run(cfg_rx, book, stop_rx));

    // Watcher: when does each probe's virtual event become visible?
    let seen_at: Arc<std::sync::Mutex<HashMap<u64, Instant>>> = Default::default();
    let watcher = {
        let (bus, seen_at, mut stop) = (bus.clone(), seen_at.clone(), stop_tx.subscribe());
        tokio::spawn(async move {
            let mut rx = bus.subscribe();
            let mut since = start_cursor;
            loop {
                tokio::select! {
                    r = rx.changed() => if r.is_err() { return },
                    _ = stop.changed() => return,
                }
                let now = Instant::now();
                let Ok(found) = bus.query(&EventFilter {
                    since,
                    resource: Some(("EventRule".into(), "probe".into())),
                    limit: 4096,
                    ..Default::default()
                }) else {
                    continue;
                };
                for e in found {
                    since = e.cursor.parse().unwrap_or(since);
                    if let Some(c) = e.attributes.get("causeCursor").and_then(|c| c.parse().ok()) {
                        if let Ok(mut m) = seen_at.lock() {
                            m.insert(c, now);
                        }
                    }
                }
            }
        })
    };

    // Background load at `rate` events/s, in 1 ms ticks.
    let load = {
        let bus = bus.clone();
        tokio::spawn(async move {
            let per_ms = rate as f64 / 1000.0;
            let mut due = 0.0;
            let mut i = 0usize;
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            let end = Instant::now() + Duration::from_secs(secs);
            while Instant::now() < end {
                tick.tick().await;
                due += per_ms;
                while due >= 1.0 {
                    bus.publish_nowait(load_event(i));
                    i += 1;
                    due -= 1.0;
                }
            }
        })
    };
    // Probes every 5 ms, acknowledged (committed) before the clock starts.
    let mut sent: Vec<(u64, Instant)> = Vec::new();
    let end = Instant::now() + Duration::from_secs(secs);
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    while Instant::now() < end {
        tick.tick().await;
        let cursor = bus
            .publish(NewEvent::new(
                "routerd.bench.probe.sent",
                Severity::Info,
                "probe",
            ))
            .await?;
        sent.push((cursor, Instant::now()));
    }
    let _ = load.await;
    // Let the last probes through.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let total_firings = bus.store().last_cursor()?;
    let _ = stop_tx.send(true);
    let _ = task.await;
    let _ = watcher.await;
    let seen = seen_at.lock().map(|m| m.clone()).unwrap_or_default();
    let mut lat: Vec<f64> = sent
        .iter()
        .filter_map(|(c, t0)| {
            seen.get(c)
                .map(|t1| t1.saturating_duration_since(*t0).as_secs_f64() * 1000.0)
        })
        .collect();
    lat.sort_by(|a, b| a.total_cmp(b));
    let missing = sent.len() - lat.len();
    if missing > 0 {
        eprintln!("  warning: {missing} of {} probes never fired", sent.len());
    }
    bus.close();
    Ok(Latency {
        p50_ms: percentile(&lat, 0.5),
        p99_ms: percentile(&lat, 0.99),
        probes: lat.len(),
        firings_per_s: (total_firings.saturating_sub(start_cursor)) as f64 / secs as f64,
    })
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let events = arg("--events", 200_000);
    let runs = arg("--runs", 3).max(1);
    let secs = arg("--seconds", 5) as u64;
    eprintln!(
        "eventrule bench: 100 rules (8 operators), {TOPICS} topics, {RESOURCES} resources; {runs} runs"
    );
    let mut eng = Vec::new();
    let mut read = Vec::new();
    let mut fired = Vec::new();
    for _ in 0..runs {
        let t = throughput(events).await?;
        eng.push(t.engine_eps);
        read.push(t.read_eps);
        fired.push(t.firings as f64);
    }
    let (e, r) = (median(eng), median(read));
    println!(
        "eventrule throughput, {events} events, 100 rules: {e:.0} events/s; store read alone (same filter): {r:.0} events/s; ratio {:.2}; virtual events emitted {:.0}",
        e / r,
        median(fired)
    );
    for rate in [1_000u64, 10_000] {
        let mut p50 = Vec::new();
        let mut p99 = Vec::new();
        let mut probes = 0;
        let mut fps = Vec::new();
        for _ in 0..runs {
            let l = latency(rate, secs).await?;
            p50.push(l.p50_ms);
            p99.push(l.p99_ms);
            probes += l.probes;
            fps.push(l.firings_per_s);
        }
        println!(
            "eventrule added latency (event commit -> virtual event commit) at {rate} events/s background: p50 {:.2} ms, p99 {:.2} ms ({probes} probes; {:.0} store rows/s incl. virtual events)",
            median(p50),
            median(p99),
            median(fps)
        );
    }
    Ok(())
}
