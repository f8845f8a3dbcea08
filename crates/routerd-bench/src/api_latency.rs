//! The event pipeline through the real API: a client long-polls `GET /events?since=N&wait=30s` on the
//! status socket while another sends `POST /apply` on the main socket; the figure is the time from sending
//! the apply to the long-poll returning the `routerd.config.applied` event it caused.

use crate::control_api::event_rule;
use crate::http::Conn;
use crate::report::{median, Figure, Samples};
use anyhow::Context as _;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

/// Long-polls from `since` until a `routerd.config.applied` event arrives. Returns when it arrived, the
/// new cursor and the event's `generation` attribute.
async fn poll_applied(conn: &mut Conn, mut since: u64) -> anyhow::Result<(Instant, u64, u64)> {
    loop {
        let list = conn
            .get_json(&format!("/events?since={since}&wait=30s"))
            .await?;
        let at = Instant::now();
        let items = list["items"].as_array().cloned().unwrap_or_default();
        anyhow::ensure!(
            !items.is_empty(),
            "the long-poll from cursor {since} returned nothing within 30 s"
        );
        let applied = items
            .iter()
            .find(|e| e["topic"] == "routerd.config.applied");
        since = list["cursor"]
            .as_str()
            .and_then(|c| c.parse().ok())
            .context("EventList has no numeric cursor")?;
        if let Some(e) = applied {
            let generation = e["attributes"]["generation"]
                .as_str()
                .and_then(|g| g.parse().ok())
                .context("config.applied has no generation attribute")?;
            return Ok((at, since, generation));
        }
    }
}

pub struct RoundResult {
    pub delivered: Samples,
    pub apply_rtt: Samples,
}

async fn round(
    main_socket: &Path,
    status_socket: &Path,
    applies: usize,
) -> anyhow::Result<RoundResult> {
    let mut main = Conn::connect(main_socket).await?;
    let mut status = Some(Conn::connect(status_socket).await?);
    let latest = main.get_json("/events?latest=true&limit=1").await?;
    let mut cursor: u64 = latest["cursor"]
        .as_str()
        .and_then(|c| c.parse().ok())
        .context("EventList has no cursor")?;
    let mut out = RoundResult {
        delivered: Samples::with_capacity(applies),
        apply_rtt: Samples::with_capacity(applies),
    };
    for i in 0..applies {
        let mut poll_conn = status.take().context("status connection lost")?;
        let since = cursor;
        let poll = tokio::spawn(async move {
            let r = poll_applied(&mut poll_conn, since).await;
            (poll_conn, r)
        });
        // Let the long-poll reach routerd and park before the apply is sent.
        tokio::time::sleep(Duration::from_millis(15)).await;
        let flavour = if i % 2 == 0 { "a" } else { "b" };
        let body = json!({
            "resources": [event_rule("bench-latency", "routerd.x.y", json!({"bench": "latency", "flavour": flavour}))]
        });
        let t0 = Instant::now();
        let result = main.post_json("/apply", &body).await?;
        let rtt = t0.elapsed();
        let (conn, polled) = tokio::time::timeout(Duration::from_secs(35), poll)
            .await
            .context("the long-poll did not return within 35 s of the apply")??;
        let (at, next_cursor, generation) = polled?;
        status = Some(conn);
        let expected = result["generation"]
            .as_u64()
            .context("ApplyResult has no generation")?;
        anyhow::ensure!(
            expected != result["previousGeneration"].as_u64().unwrap_or(expected),
            "apply {i} did not create a generation: {result}"
        );
        anyhow::ensure!(generation == expected, "long-poll returned config.applied of generation {generation}, the apply made {expected}");
        out.delivered.push(at.saturating_duration_since(t0));
        out.apply_rtt.push(rtt);
        cursor = next_cursor;
    }
    Ok(out)
}

pub async fn run(
    main_socket: &Path,
    status_socket: &Path,
    applies: usize,
    repeats: usize,
) -> anyhow::Result<Vec<Figure>> {
    // One warm-up apply pair so the first measured apply is not also the first of the process.
    round(main_socket, status_socket, 2).await?;
    let (mut d50, mut d99, mut r50, mut r99) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for rep in 0..repeats {
        let mut r = round(main_socket, status_socket, applies).await?;
        let (a, b) = (
            r.delivered.percentile_ms(50.0),
            r.delivered.percentile_ms(99.0),
        );
        let (c, d) = (
            r.apply_rtt.percentile_ms(50.0),
            r.apply_rtt.percentile_ms(99.0),
        );
        let worst = r.delivered.percentile_ms(100.0);
        eprintln!(
            "  apply→long-poll run {}: p50 {a:.3} ms, p99 {b:.3} ms, max {worst:.3} ms (apply round trip p50 {c:.3} ms, p99 {d:.3} ms; {applies} applies)",
            rep + 1
        );
        d50.push(a);
        d99.push(b);
        r50.push(c);
        r99.push(d);
    }
    Ok(vec![
        Figure::new("api.apply_to_longpoll.p50", median(&d50), "ms"),
        Figure::new("api.apply_to_longpoll.p99", median(&d99), "ms"),
        Figure::new("api.apply_roundtrip.p50", median(&r50), "ms"),
        Figure::new("api.apply_roundtrip.p99", median(&r99), "ms"),
    ])
}
