//! The `/v1/*` endpoints of `daemon-api.md`: healthz, status, events (with long-poll), commands.

use super::query::Query;
use super::response::{ok, reply, Body, Failure};
use super::{stopped, RunPhase, Shared, DEFAULT_EVENT_LIMIT};
use crate::daemon::{CommandError, Daemon};
use crate::error::EventQueryError;
use crate::event_log::{clamp_wait, RING_SIZE};
use crate::topics;
use bytes::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use routerd_api::control::ErrorCode;
use routerd_api::daemon::{CommandResult, DaemonEventList, DaemonHealth, DaemonLog, DaemonStatus};
use routerd_api::event::{NewEvent, Severity};
use routerd_api::topic::TopicPattern;
use std::time::Duration;

const ENDPOINTS: &str = "/v1/healthz, /v1/status, /v1/events, /v1/logs, /v1/commands/{name}";
/// `GET /v1/logs`: lines answered without `lines=`, and at most.
const DEFAULT_LOG_LINES: usize = 200;
const MAX_LOG_LINES: usize = 10_000;
/// Commands every daemon answers (besides its own `extra_commands`).
const COMMON_COMMANDS: [&str; 2] = ["reload", "renew"];

enum Endpoint<'a> {
    Healthz,
    Status,
    Events,
    Logs,
    Command(&'a str),
}

impl<D: Daemon> routerd_http::Handler for Shared<D> {
    /// The socket is mode 0660: whoever got through the file mode is routerd.
    fn trusted(&self, _peer: &routerd_http::Peer) -> bool {
        true
    }

    async fn handle(&self, _peer: routerd_http::Peer, req: Request<Bytes>) -> Response<Body> {
        route(self, req).await
    }

    fn refuse(&self, refusal: &routerd_http::Refusal) -> Response<Body> {
        let (code, message) = refusal.describe();
        Failure::new(code, message).into_response()
    }
}

/// Answers one request; its body (ignored: no endpoint takes one) has already been read, so an early
/// error never meets a client that is still writing.
async fn route<D: Daemon>(shared: &Shared<D>, req: Request<Bytes>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let endpoint = match path.as_str() {
        "/v1/healthz" => Endpoint::Healthz,
        "/v1/status" => Endpoint::Status,
        "/v1/events" => Endpoint::Events,
        "/v1/logs" => Endpoint::Logs,
        other => match other.strip_prefix("/v1/commands/") {
            Some(name) if !name.is_empty() && !name.contains('/') => Endpoint::Command(name),
            _ => {
                return Failure::new(
                    ErrorCode::NotFound,
                    format!("unknown path {path}; endpoints: {ENDPOINTS}"),
                )
                .into_response()
            }
        },
    };
    let (method, allow) = match endpoint {
        Endpoint::Command(_) => (Method::POST, "POST"),
        _ => (Method::GET, "GET"),
    };
    if req.method() != method {
        let mut f = Failure::new(
            ErrorCode::MethodNotAllowed,
            format!("{} is not allowed on {path}; use {allow}", req.method()),
        );
        f.allow = Some(allow);
        return f.into_response();
    }
    match endpoint {
        Endpoint::Healthz => healthz(shared),
        Endpoint::Status => status(shared),
        Endpoint::Events => {
            let query = Query::parse(req.uri().query());
            events(shared, &query)
                .await
                .unwrap_or_else(Failure::into_response)
        }
        Endpoint::Logs => logs(&Query::parse(req.uri().query()))
            .await
            .unwrap_or_else(Failure::into_response),
        Endpoint::Command(name) => command(shared, name).await,
    }
}

fn healthz<D: Daemon>(shared: &Shared<D>) -> Response<Body> {
    match shared.daemon.health() {
        Ok(()) => ok(
            "Health",
            &DaemonHealth {
                status: "ok".into(),
                reason: None,
            },
        ),
        Err(reason) => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "Health",
            &DaemonHealth {
                status: "failing".into(),
                reason: Some(reason),
            },
        ),
    }
}

/// The newest lines of the daemon's own log file (see `logging`), read off the runtime.
async fn logs(query: &Query) -> Result<Response<Body>, Failure> {
    let count = query
        .parse_with("lines", |v| {
            v.parse::<usize>()
                .map_err(|_| format!("lines: {v:?} is not a number of lines"))
        })?
        .unwrap_or(DEFAULT_LOG_LINES)
        .min(MAX_LOG_LINES);
    let Some(path) = crate::logging::log_file() else {
        return Err(Failure::new(
            ErrorCode::NotFound,
            "this daemon has no log file (it was not started through run_daemon)",
        ));
    };
    let read = tokio::task::spawn_blocking(move || crate::logging::tail_log(path, count)).await;
    match read {
        Ok(Ok(lines)) => Ok(ok(
            "DaemonLog",
            &DaemonLog {
                file: path.display().to_string(),
                lines,
            },
        )),
        Ok(Err(e)) => Err(Failure::new(
            ErrorCode::Internal,
            format!("cannot read {}: {e}", path.display()),
        )),
        Err(e) => Err(Failure::new(ErrorCode::Internal, e.to_string())),
    }
}

fn status<D: Daemon>(shared: &Shared<D>) -> Response<Body> {
    ok(
        "DaemonStatus",
        &DaemonStatus {
            schema_version: routerd_api::daemon::STATUS_SCHEMA_VERSION,
            min_reader_version: routerd_api::daemon::STATUS_MIN_READER_VERSION,
            daemon: shared.identity.clone(),
            phase: shared.phase().as_str().to_string(),
            resources: shared.daemon.resources(),
            event_cursor: Some(shared.events.head()),
        },
    )
}

/// `wait`: a Go-style duration (`10s`, `500ms`) or plain seconds (`10`, `0.5`).
pub(crate) fn parse_wait(v: &str) -> Result<Duration, String> {
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Ok(Duration::from_secs_f64(secs.min(1e9)));
        }
        return Err(format!("{v:?} is not a non-negative duration"));
    }
    routerd_api::duration::parse_duration(v)
}

async fn events<D: Daemon>(shared: &Shared<D>, query: &Query) -> Result<Response<Body>, Failure> {
    // Absent, empty or `0`: from the oldest event held (`daemon-api.md`, as on routerd's `/events`).
    let since = query.get("since").filter(|s| !s.is_empty() && *s != "0");
    let wait = clamp_wait(query.parse_with("wait", parse_wait)?.unwrap_or_default());
    let limit = query
        .parse_with("limit", |v| {
            v.parse::<usize>()
                .map_err(|_| format!("{v:?} is not a non-negative integer"))
        })?
        .unwrap_or(DEFAULT_EVENT_LIMIT)
        .clamp(1, RING_SIZE);
    let topics = query
        .all("topic")
        .into_iter()
        .map(TopicPattern::parse)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::bad_request(format!("query parameter topic: {e}")))?;
    let log = &shared.events;
    let result = if wait.is_zero() {
        log.since(since, &topics, limit)
    } else {
        // The long-poll ends at once when the server stops, so it never holds up the shutdown.
        let mut stop = shared.server_stop.clone();
        tokio::select! {
            r = log.wait(since, &topics, limit, wait) => r,
            _ = stopped(&mut stop) => log.since(since, &topics, limit),
        }
    };
    match result {
        Ok(items) => {
            let cursor = match (items.last(), since) {
                (Some(last), _) => last.cursor.clone(),
                (None, Some(since)) => since.to_string(),
                (None, None) => log.head(),
            };
            Ok(ok("EventList", &DaemonEventList { cursor, items }))
        }
        Err(e @ EventQueryError::CursorExpired { .. }) => {
            let EventQueryError::CursorExpired { head, .. } = &e;
            let mut f = Failure::new(ErrorCode::CursorExpired, e.to_string());
            f.cursor = Some(head.clone());
            Err(f)
        }
    }
}

async fn command<D: Daemon>(shared: &Shared<D>, name: &str) -> Response<Body> {
    if name == "stop" {
        let already = shared.stop.is_stopped();
        if !already {
            shared.set_stop_reason("stop command");
        }
        shared.emit_command(topics::COMMAND_ACCEPTED, name, None);
        shared.stop.request();
        let message = if already {
            "already stopping"
        } else {
            "stopping"
        };
        return ok(
            "CommandResult",
            &CommandResult {
                command: name.to_string(),
                accepted: true,
                message: message.to_string(),
                result: None,
            },
        );
    }
    if shared.phase() == RunPhase::Stopping {
        return rejected(shared, name, "the daemon is stopping".to_string(), None);
    }
    match shared.daemon.command(name).await {
        Ok(result) if result.accepted => {
            shared.emit_command(topics::COMMAND_ACCEPTED, name, None);
            ok(
                "CommandResult",
                &CommandResult {
                    command: name.to_string(),
                    ..result
                },
            )
        }
        Ok(result) => rejected(shared, name, result.message, result.result),
        Err(CommandError::Rejected(reason)) => rejected(shared, name, reason, None),
        Err(CommandError::Unknown) => {
            let known = COMMON_COMMANDS
                .iter()
                .chain(shared.daemon.extra_commands())
                .chain(&["stop"])
                .copied()
                .collect::<Vec<_>>()
                .join(", ");
            rejected(
                shared,
                name,
                format!("unknown command {name} (known: {known})"),
                None,
            )
        }
    }
}

/// 400 with a `CommandResult` whose `accepted` is false (the shape `daemon-api.md` gives every
/// command answer) plus the usual `error` object, so generic clients find the reason either way.
fn rejected<D: Daemon>(
    shared: &Shared<D>,
    name: &str,
    reason: String,
    result: Option<serde_json::Value>,
) -> Response<Body> {
    shared.emit_command(topics::COMMAND_REJECTED, name, Some(&reason));
    let mut body = routerd_api::daemon::daemon_envelope(
        "CommandResult",
        &CommandResult {
            command: name.to_string(),
            accepted: false,
            message: reason.clone(),
            result,
        },
    );
    body["error"] = serde_json::json!({"code": ErrorCode::BadRequest, "message": reason});
    super::response::json(StatusCode::BAD_REQUEST, &body)
}

impl<D: Daemon> Shared<D> {
    /// `routerd.daemon.command.accepted` / `.rejected` with attribute `command` (and `reason`).
    fn emit_command(&self, topic: &str, name: &str, reason: Option<&str>) {
        let (severity, message) = match reason {
            None => (Severity::Info, format!("command {name} accepted")),
            Some(r) => (Severity::Warning, format!("command {name} rejected: {r}")),
        };
        // A client chooses the name; keep what lands in the log bounded.
        let shown: String = name.chars().take(64).collect();
        let mut event = NewEvent::new(topic, severity, message).attr("command", shown);
        if let Some(r) = reason {
            event = event.attr("reason", r);
        }
        self.emit(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_accepts_go_durations_and_plain_seconds() {
        assert_eq!(parse_wait("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_wait("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_wait("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_wait("0.25").unwrap(), Duration::from_millis(250));
        assert_eq!(
            clamp_wait(parse_wait("10h").unwrap()),
            Duration::from_secs(60)
        );
        for bad in ["-1", "soon", "10x", "NaN", "inf"] {
            assert!(parse_wait(bad).is_err(), "{bad}");
        }
    }
}
