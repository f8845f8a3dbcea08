//! Control API load: `GET /status` and `GET /resources` over the status socket with N keep-alive clients
//! for a fixed duration; requests/s and p50/p99 latency. Also the set-up that applies 50 resources so that
//! `/resources` has something to say.

use crate::data::TOPICS;
use crate::http::Conn;
use crate::report::{median, Figure, Samples, Target};
use anyhow::Context as _;
use hyper::StatusCode;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

/// An EventRule with no host effect (no controller for the kind in this build: stored, stays Pending).
pub fn event_rule(name: &str, topic: &str, labels: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "net.routerd.net/v1alpha1",
        "kind": "EventRule",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "match": {"operator": "anyOf", "topics": [topic]},
            "emit": {"topic": "routerd.virtual.bench", "severity": "info", "attributes": {"from": "${topic}"}}
        }
    })
}

/// Applies `count` EventRule resources (merge) on the main socket; returns the generation in force.
pub async fn apply_resources(main_socket: &Path, count: usize) -> anyhow::Result<u64> {
    let resources: Vec<serde_json::Value> = (0..count)
        .map(|i| {
            event_rule(
                &format!("bench-rule-{i:03}"),
                TOPICS[i % TOPICS.len()],
                json!({"bench": "control-api"}),
            )
        })
        .collect();
    let mut c = Conn::connect(main_socket).await?;
    let r = c
        .post_json("/apply", &json!({"apiVersion": "control.routerd.net/v1alpha1", "kind": "ApplyRequest", "resources": resources}))
        .await
        .context("applying the benchmark resources failed")?;
    let listed = c.get_json("/resources").await?;
    let n = listed["items"].as_array().map(|a| a.len()).unwrap_or(0);
    anyhow::ensure!(
        n >= count,
        "/resources lists {n} resources after applying {count}"
    );
    r["generation"]
        .as_u64()
        .context("ApplyResult has no generation")
}

pub struct LoadResult {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub requests: usize,
    pub errors: usize,
    pub body_bytes: usize,
}

/// `clients` keep-alive connections, each sending `GET path` back to back until `duration` has passed.
pub async fn load(
    socket: &Path,
    path: &str,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<LoadResult> {
    let mut conns = Vec::with_capacity(clients);
    for _ in 0..clients {
        conns.push(Conn::connect(socket).await?);
    }
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::with_capacity(clients);
    for mut c in conns {
        let path = path.to_string();
        tasks.push(tokio::spawn(async move {
            let mut lat = Samples::with_capacity(1 << 16);
            let mut errors = 0usize;
            let mut body_bytes = 0usize;
            while Instant::now() < deadline {
                let t = Instant::now();
                match c.get(&path).await {
                    Ok((StatusCode::OK, body)) => {
                        lat.push(t.elapsed());
                        body_bytes = body.len();
                    }
                    Ok(_) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        break;
                    }
                }
            }
            (lat, errors, body_bytes)
        }));
    }
    let mut all = Samples::default();
    let mut errors = 0;
    let mut body_bytes = 0;
    for t in tasks {
        let (lat, e, b) = t.await.context("a load client task failed")?;
        all.extend(lat);
        errors += e;
        body_bytes = body_bytes.max(b);
    }
    let secs = start.elapsed().as_secs_f64();
    let requests = all.len();
    Ok(LoadResult {
        rps: requests as f64 / secs,
        p50_ms: all.percentile_ms(50.0),
        p99_ms: all.percentile_ms(99.0),
        requests,
        errors,
        body_bytes,
    })
}

/// The per-run figures of one (path, clients) case.
#[derive(Default)]
struct CaseRuns {
    rps: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
    errors: usize,
}

pub async fn run(
    status_socket: &Path,
    duration: Duration,
    client_counts: &[usize],
    repeats: usize,
) -> anyhow::Result<Vec<Figure>> {
    // Warm-up: caches, allocator, the server's first connections.
    for path in ["/status", "/resources"] {
        load(status_socket, path, 8, Duration::from_millis(500)).await?;
    }
    let cases: Vec<(&str, &str, usize)> = ["/status", "/resources"]
        .iter()
        .flat_map(|p| {
            client_counts
                .iter()
                .map(move |c| (*p, p.trim_start_matches('/'), *c))
        })
        .collect();
    let mut figs = Vec::new();
    let mut per_case: Vec<CaseRuns> = (0..cases.len()).map(|_| CaseRuns::default()).collect();
    // Cases are interleaved inside each repeat so that machine noise spreads over all of them.
    for rep in 0..repeats {
        for (i, (path, _, clients)) in cases.iter().enumerate() {
            let r = load(status_socket, path, *clients, duration).await?;
            eprintln!(
                "  GET {path:<10} c={clients:<3} run {}: {:.0} req/s, p50 {:.3} ms, p99 {:.3} ms ({} requests, {} errors, body {} B)",
                rep + 1,
                r.rps,
                r.p50_ms,
                r.p99_ms,
                r.requests,
                r.errors,
                r.body_bytes
            );
            per_case[i].rps.push(r.rps);
            per_case[i].p50.push(r.p50_ms);
            per_case[i].p99.push(r.p99_ms);
            per_case[i].errors += r.errors;
        }
    }
    for (
        (_, name, clients),
        CaseRuns {
            rps,
            p50,
            p99,
            errors,
        },
    ) in cases.iter().zip(per_case)
    {
        let at64 = *clients == 64;
        let mut f = Figure::new(
            format!("control.{name}.c{clients}.rps"),
            median(&rps),
            "req/s",
        );
        if at64 {
            f = f.target(Target::AtLeast(20_000.0));
        }
        figs.push(f);
        figs.push(Figure::new(
            format!("control.{name}.c{clients}.p50"),
            median(&p50),
            "ms",
        ));
        let mut f = Figure::new(format!("control.{name}.c{clients}.p99"), median(&p99), "ms");
        if at64 {
            f = f.target(Target::AtMost(2.0));
        }
        figs.push(f);
        if errors > 0 {
            figs.push(
                Figure::new(
                    format!("control.{name}.c{clients}.errors"),
                    errors as f64,
                    "req",
                )
                .target(Target::Exactly(0.0)),
            );
        }
    }
    Ok(figs)
}
