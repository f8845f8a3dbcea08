//! One long-poll per daemon into routerd's event store: each batch is persisted together with the
//! daemon cursor that covers it (one transaction), so a routerd restart neither loses nor repeats a
//! daemon event. On `410 CursorExpired` the poller continues from the daemon's head and says so.
//!
//! Every failure (the stored cursor cannot be read, the daemon cannot be reached, a page that does not
//! decode, a batch that cannot be stored) is retried after a growing delay that a stop interrupts, and
//! shown: on the daemon in `/status` (`eventsError`) and, except for an unreachable daemon (normal
//! while it restarts), as one `routerd.daemon.events.failed` event per run of failures. A cursor that
//! cannot be read is read again; it never means "from the start", which would import events twice.

use super::SharedView;
use crate::daemon_client::{request, DaemonClientError};
use crate::events::EventBus;
use crate::shutdown::stopped;
use routerd_api::daemon::DaemonEventList;
use routerd_api::event::{Event, NewEvent};
use routerd_api::Severity;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Topic of the event that says a daemon's events are not being imported, and why.
pub const EVENTS_FAILED: &str = "routerd.daemon.events.failed";
/// Topic of the event that says they are imported again.
pub const EVENTS_RECOVERED: &str = "routerd.daemon.events.recovered";

/// First retry delay after a failure; it doubles up to [`RETRY_MAX`] and resets on success.
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(30);
/// An empty page sooner than this after asking means the daemon did not wait: pause before asking
/// again instead of spinning.
const EMPTY_PAGE_PAUSE: Duration = Duration::from_secs(1);

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

/// What went wrong, for the log, the event and `/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Failure {
    /// The daemon does not answer: normal while it starts or restarts.
    Unreachable(String),
    /// Anything else: routerd cannot import the daemon's events until it is fixed.
    Failed { reason: &'static str, error: String },
}

/// Where one daemon's poller stands: where it continues, how long it waits after a failure, and which
/// failure it has already reported.
struct Poller {
    bus: EventBus,
    executable: &'static str,
    instance: String,
    key: String,
    view: SharedView,
    delay: Duration,
    reported: Option<Failure>,
    stop: watch::Receiver<bool>,
    shutdown: watch::Receiver<bool>,
}

impl Poller {
    /// Records a failure (once per kind of failure in a row) and waits before the next try; false when
    /// stopped meanwhile.
    async fn failed(&mut self, failure: Failure) -> bool {
        if self.reported.as_ref() != Some(&failure) {
            let text = match &failure {
                Failure::Unreachable(e) => {
                    tracing::debug!(daemon = self.executable, instance = %self.instance, error = %e, "event poller cannot reach the daemon; retrying");
                    format!("cannot reach the daemon: {e}")
                }
                Failure::Failed { reason, error } => {
                    let text = format!("{reason}: {error}");
                    tracing::warn!(daemon = self.executable, instance = %self.instance, "daemon events are not imported: {text}; retrying");
                    let ev = NewEvent::new(
                        EVENTS_FAILED,
                        Severity::Warning,
                        format!(
                            "events of {} for {} are not imported: {text}",
                            self.executable, self.instance
                        ),
                    )
                    .source(self.executable, &self.instance)
                    .attr("reason", *reason)
                    .attr("error", error.clone());
                    if let Err(e) = self.bus.publish(ev).await {
                        tracing::warn!(error = %e, "the events.failed event could not be stored");
                    }
                    text
                }
            };
            if let Ok(mut v) = self.view.lock() {
                v.events_error = Some(text);
            }
            self.reported = Some(failure);
        }
        let delay = self.delay;
        self.delay = (self.delay * 2).min(RETRY_MAX);
        self.pause(delay).await
    }

    /// A success: the delay starts over and a reported failure is cleared.
    async fn succeeded(&mut self) {
        self.delay = RETRY_FIRST;
        let Some(failure) = self.reported.take() else {
            return;
        };
        if let Ok(mut v) = self.view.lock() {
            v.events_error = None;
        }
        if let Failure::Failed { .. } = failure {
            tracing::info!(daemon = self.executable, instance = %self.instance, "daemon events are imported again");
            let ev = NewEvent::new(
                EVENTS_RECOVERED,
                Severity::Info,
                format!(
                    "events of {} for {} are imported again",
                    self.executable, self.instance
                ),
            )
            .source(self.executable, &self.instance);
            let _ = self.bus.publish(ev).await;
        }
    }

    /// Sleeps `delay`; false when stopped meanwhile.
    async fn pause(&mut self, delay: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(delay) => true,
            _ = stopped(&mut self.stop) => false,
            _ = stopped(&mut self.shutdown) => false,
        }
    }

    /// The cursor stored with the last imported batch (`None`: nothing imported yet), read until it
    /// can be; `None` from the outer option when stopped meanwhile.
    async fn stored_cursor(&mut self) -> Option<Option<String>> {
        loop {
            let (bus, key) = (self.bus.clone(), self.key.clone());
            let read = tokio::task::spawn_blocking(move || bus.consumer_cursor(&key)).await;
            let error = match read {
                Ok(Ok(cursor)) => return Some(cursor),
                Ok(Err(e)) => e.to_string(),
                Err(e) => e.to_string(),
            };
            let failure = Failure::Failed {
                reason: "CursorUnreadable",
                error: format!("cannot read the stored cursor {}: {error}", self.key),
            };
            if !self.failed(failure).await {
                return None;
            }
        }
    }
}

pub async fn run(
    bus: EventBus,
    executable: &'static str,
    instance: String,
    socket: PathBuf,
    view: SharedView,
    stop: watch::Receiver<bool>,
    shutdown: watch::Receiver<bool>,
) {
    let key = cursor_key(executable, &instance);
    let mut p = Poller {
        bus,
        executable,
        instance,
        key,
        view,
        delay: RETRY_FIRST,
        reported: None,
        stop,
        shutdown,
    };
    let Some(mut cursor) = p.stored_cursor().await else {
        return;
    };
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/events?since={c}&wait=30s&limit=1000"),
            None => "/v1/events?wait=30s&limit=1000".to_string(),
        };
        let asked = Instant::now();
        let result = tokio::select! {
            r = request(&socket, "GET", &path, Duration::from_secs(40)) => r,
            _ = stopped(&mut p.stop) => return,
            _ = stopped(&mut p.shutdown) => return,
        };
        let retry = match result {
            Ok(v) => match serde_json::from_value::<DaemonEventList>(v) {
                Err(e) => {
                    p.failed(Failure::Failed {
                        reason: "MalformedPage",
                        error: format!("GET {path}: {e}"),
                    })
                    .await
                }
                Ok(page) => {
                    let Some(last) = page.items.last().map(|e| e.cursor.clone()) else {
                        p.succeeded().await;
                        if asked.elapsed() < EMPTY_PAGE_PAUSE && !p.pause(EMPTY_PAGE_PAUSE).await {
                            return;
                        }
                        continue;
                    };
                    let events = page.items.into_iter().map(to_new_event).collect();
                    match p.bus.import(events, &p.key, &last).await {
                        Ok(_) => {
                            cursor = Some(last);
                            p.succeeded().await;
                            true
                        }
                        Err(e) => {
                            p.failed(Failure::Failed {
                                reason: "StoreFailed",
                                error: format!("cannot store the events up to {last}: {e}"),
                            })
                            .await
                        }
                    }
                }
            },
            Err(DaemonClientError::Status {
                status: 410, body, ..
            }) => {
                let head = match body["error"]["cursor"].as_str() {
                    Some(h) => Some(h.to_string()),
                    None => status_head(&socket).await,
                };
                let msg = format!("{executable} {}: events after {} are no longer kept by the daemon; continuing from {}", p.instance, cursor.as_deref().unwrap_or("the start"), head.as_deref().unwrap_or("its head"));
                tracing::warn!("{msg}");
                let ev = NewEvent::new("routerd.store.events.dropped", Severity::Warning, msg)
                    .source(executable, &p.instance)
                    .attr("from", cursor.clone().unwrap_or_default())
                    .attr("to", head.clone().unwrap_or_default());
                match p
                    .bus
                    .import(vec![ev], &p.key, head.as_deref().unwrap_or(""))
                    .await
                {
                    Ok(_) => {
                        cursor = head.filter(|h| !h.is_empty());
                        p.succeeded().await;
                        true
                    }
                    Err(e) => {
                        p.failed(Failure::Failed {
                            reason: "StoreFailed",
                            error: format!("cannot store the dropped-events record: {e}"),
                        })
                        .await
                    }
                }
            }
            Err(e) => p.failed(Failure::Unreachable(e.to_string())).await,
        };
        if !retry {
            return;
        }
    }
}

async fn status_head(socket: &std::path::Path) -> Option<String> {
    let v = request(socket, "GET", "/v1/status", Duration::from_secs(5))
        .await
        .ok()?;
    v["eventCursor"].as_str().map(str::to_string)
}

#[cfg(test)]
mod tests;
