//! One long-poll per daemon into routerd's event store: each batch is persisted together with the
//! daemon cursor that covers it (one transaction), so a routerd restart neither loses nor repeats a
//! daemon event. On `410 CursorExpired` the poller continues from the daemon's head and says so.

use crate::daemon_client::{request, DaemonClientError};
use crate::events::EventBus;
use crate::shutdown::stopped;
use routerd_api::event::{Event, NewEvent};
use routerd_api::Severity;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::watch;

pub fn cursor_key(executable: &str, instance: &str) -> String {
    format!("poller:{executable}/{instance}")
}

fn to_new_event(e: Event) -> NewEvent {
    NewEvent {
        time: e.time,
        topic: e.topic,
        severity: e.severity,
        source: e.source,
        message: e.message,
        attributes: e.attributes,
    }
}

pub async fn run(
    bus: EventBus,
    executable: &'static str,
    instance: String,
    socket: PathBuf,
    mut stop: watch::Receiver<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let key = cursor_key(executable, &instance);
    let mut cursor = bus.consumer_cursor(&key).ok().flatten();
    let mut failing = false;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/events?since={c}&wait=30s&limit=1000"),
            None => "/v1/events?wait=30s&limit=1000".to_string(),
        };
        let result = tokio::select! {
            r = request(&socket, "GET", &path, Duration::from_secs(40)) => r,
            _ = stopped(&mut stop) => return,
            _ = stopped(&mut shutdown) => return,
        };
        match result {
            Ok(v) => {
                if failing {
                    tracing::info!(daemon = executable, %instance, "event poller reconnected");
                    failing = false;
                }
                let items: Vec<Event> =
                    serde_json::from_value(v["items"].clone()).unwrap_or_default();
                let Some(last) = items.last().map(|e| e.cursor.clone()) else {
                    continue;
                };
                let events = items.into_iter().map(to_new_event).collect();
                match bus.import(events, &key, &last).await {
                    Ok(_) => cursor = Some(last),
                    Err(e) => {
                        tracing::error!(error = %e, "daemon events could not be stored; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
            Err(DaemonClientError::Status {
                status: 410, body, ..
            }) => {
                let head = body["error"]["cursor"]
                    .as_str()
                    .map(str::to_string)
                    .or(status_head(&socket).await);
                let msg = format!("{executable} {instance}: events after {} are no longer kept by the daemon; continuing from {}", cursor.as_deref().unwrap_or("the start"), head.as_deref().unwrap_or("its head"));
                tracing::warn!("{msg}");
                let ev = NewEvent::new("routerd.store.events.dropped", Severity::Warning, msg)
                    .source(executable, &instance)
                    .attr("from", cursor.clone().unwrap_or_default())
                    .attr("to", head.clone().unwrap_or_default());
                let _ = bus
                    .import(vec![ev], &key, head.as_deref().unwrap_or(""))
                    .await;
                cursor = head.filter(|h| !h.is_empty());
            }
            Err(e) => {
                if !failing {
                    tracing::debug!(daemon = executable, %instance, error = %e, "event poller cannot reach the daemon; retrying");
                    failing = true;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = stopped(&mut stop) => return,
                    _ = stopped(&mut shutdown) => return,
                }
            }
        }
    }
}

async fn status_head(socket: &std::path::Path) -> Option<String> {
    let v = request(socket, "GET", "/v1/status", Duration::from_secs(5))
        .await
        .ok()?;
    v["eventCursor"].as_str().map(str::to_string)
}
