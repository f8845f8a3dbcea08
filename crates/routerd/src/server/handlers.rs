//! One function per endpoint. Each returns a response or a `Failure` with a stable error code.

use super::app::App;
use super::caller::Caller;
use super::endpoints::Op;
use super::query::Query;
use super::response::{ok, Body, Failure};
use crate::status_report;
use hyper::Response;
use routerd_api::control::{
    ApplyRequest, DeleteRequest, ErrorCode, EventList, GenerationList, Health, RollbackRequest,
};
use routerd_api::duration::parse_duration;
use routerd_api::topic::TopicPattern;
use routerd_api::{Kind, Phase, ResourceId, Severity};
use routerd_store::EventFilter;
use std::time::Duration;

/// Longest long-poll a client may ask for; larger values are clamped.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

pub async fn handle(
    app: &App,
    caller: &Caller,
    op: Op,
    params: Vec<String>,
    query: Query,
    body: Option<bytes::Bytes>,
) -> Result<Response<Body>, Failure> {
    match op {
        Op::Healthz => Ok(ok(
            "Health",
            &Health {
                status: "ok".into(),
            },
        )),
        Op::Status => Ok(ok("Status", &status_report::status(app))),
        Op::Controllers => Ok(ok(
            "ControllerList",
            &routerd_api::control::ControllerList {
                items: app.runtime.statuses(),
            },
        )),
        Op::Resources => resources(app, &query),
        Op::Resource => resource(app, &params),
        Op::Events => events(app, caller, &query).await,
        Op::Generations => {
            let limit = query.limit(100, 1000)?;
            Ok(ok(
                "GenerationList",
                &GenerationList {
                    items: app.config.generations(limit).await.map_err(Failure::from)?,
                },
            ))
        }
        Op::Connections => {
            let table = super::connections::connections(app.conntrack.clone(), &query).await?;
            Ok(ok("ConnectionTable", &table))
        }
        Op::TrafficFlows => super::log_queries::traffic_flows(app, &query).await,
        Op::FirewallLogs => super::log_queries::firewall_logs(app, &query).await,
        Op::Firewall => Ok(ok("FirewallTable", &app.firewall.snapshot())),
        Op::DnsQueries => super::dns_queries::dns_queries(app, &query).await,
        Op::DhcpLeases => super::dhcp_leases::dhcp_leases(app, &query).await,
        Op::OpenApi => Ok(super::response::json(
            hyper::StatusCode::OK,
            &super::openapi::document(),
        )),
        Op::Apply | Op::Plan => {
            let mut req: ApplyRequest = decode_body(body)?;
            if op == Op::Plan {
                req.dry_run = true;
            }
            let result = app.config.apply(req, op == Op::Apply).await?;
            Ok(ok("ApplyResult", &result))
        }
        Op::Validate => {
            let req: ApplyRequest = decode_body(body)?;
            // A malformed request is a 400 as on /apply; `valid: false` is for resources that are wrong.
            if req.resources.is_some() == req.manifest.is_some() {
                return Err(Failure::bad_request(
                    "give exactly one of resources (a list of objects) or manifest (YAML text)",
                ));
            }
            Ok(ok("ValidateResult", &app.config.validate(&req)))
        }
        Op::Delete => {
            let req: DeleteRequest = decode_body(body)?;
            Ok(ok("DeleteResult", &app.config.delete(req).await?))
        }
        Op::Rollback => {
            let req: RollbackRequest = decode_body(body)?;
            Ok(ok("ApplyResult", &app.config.rollback(req).await?))
        }
    }
}

fn decode_body<T: serde::de::DeserializeOwned>(body: Option<bytes::Bytes>) -> Result<T, Failure> {
    let body = body.unwrap_or_default();
    if body.is_empty() {
        return Err(Failure::bad_request(
            "the request body is empty; send a JSON object",
        ));
    }
    // serde would also read a struct from a JSON array; every request body is an object.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Failure::bad_request(
            "the request body is not a JSON object; send {...}",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(&body);
    serde_path_to_error_free(de).map_err(|e| Failure::bad_request(format!("malformed JSON: {e}")))
}

fn serde_path_to_error_free<'de, T: serde::de::DeserializeOwned>(
    de: &mut serde_json::Deserializer<serde_json::de::SliceRead<'de>>,
) -> Result<T, serde_json::Error> {
    let v = T::deserialize(&mut *de)?;
    de.end()?;
    Ok(v)
}

fn resources(app: &App, query: &Query) -> Result<Response<Body>, Failure> {
    let kind = query.parse_with("kind", |k| {
        Kind::lookup(k).ok_or_else(|| format!("unknown kind {k:?}"))
    })?;
    let phase = query.parse_with("phase", |p| Phase::parse(p).ok_or_else(|| format!("{p:?} is not a phase (Pending, Bound, Applied, Up, Installed, Healthy, Unhealthy, Error)")))?;
    let label = query.parse_with("label", |l| {
        l.split_once('=')
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .ok_or_else(|| format!("{l:?} is not key=value"))
    })?;
    let name = query.get("name");
    let snapshot = status_report::ResourceSnapshot::take(app);
    let items: Vec<_> = snapshot
        .objects()
        .filter(|o| {
            let r = o.resource;
            kind.is_none_or(|k| r.kind == k)
                && name.is_none_or(|n| r.name() == n)
                && phase.is_none_or(|p| o.status.phase == p)
                && label
                    .as_ref()
                    .is_none_or(|(k, v)| r.metadata.labels.get(k) == Some(v))
        })
        .collect();
    #[derive(serde::Serialize)]
    struct List<'a> {
        items: Vec<status_report::ResourceObject<'a>>,
    }
    Ok(ok("ResourceList", &List { items }))
}

fn resource(app: &App, params: &[String]) -> Result<Response<Body>, Failure> {
    let (k, n) = match params {
        [k, n] => (k, n),
        _ => {
            return Err(Failure::new(
                ErrorCode::NotFound,
                "expected /resources/{kind}/{name}",
            ))
        }
    };
    let kind = Kind::lookup(k)
        .ok_or_else(|| Failure::new(ErrorCode::NotFound, format!("unknown kind {k:?}")))?;
    let id = ResourceId::new(kind, n);
    let snapshot = status_report::ResourceSnapshot::take(app);
    let found = snapshot.objects().find(|o| o.resource.id() == id);
    found
        .map(|o| super::response::json_body(hyper::StatusCode::OK, &o))
        .ok_or_else(|| {
            Failure::new(
                ErrorCode::NotFound,
                format!("no {} named {n:?}", kind.as_str()),
            )
        })
}

async fn events(app: &App, caller: &Caller, query: &Query) -> Result<Response<Body>, Failure> {
    let since = query.parse_with("since", |s| {
        s.parse::<u64>()
            .map_err(|_| format!("{s:?} is not a cursor (a number from a previous response)"))
    })?;
    let wait = query
        .parse_with("wait", |w| {
            parse_duration(w).or_else(|e| w.parse::<u64>().map(Duration::from_secs).map_err(|_| e))
        })?
        .unwrap_or(Duration::ZERO)
        .min(MAX_WAIT);
    let mut topics = Vec::new();
    for t in query.all("topic") {
        topics.push(
            TopicPattern::parse(t)
                .map_err(|e| Failure::bad_request(format!("query parameter topic: {e}")))?,
        );
    }
    let resource = query.parse_with("resource", |r| {
        let (k, n) = r
            .split_once('/')
            .ok_or_else(|| format!("{r:?} is not Kind/name"))?;
        let kind = Kind::lookup(k).ok_or_else(|| format!("unknown kind {k:?}"))?;
        Ok((kind.as_str().to_string(), n.to_string()))
    })?;
    let min_severity = query.parse_with("severity", |s| {
        Severity::parse(s).ok_or_else(|| format!("{s:?} is not debug, info, warning or error"))
    })?;
    let limit = query.limit(100, 1000)?;
    let latest = query.bool("latest")?;
    let filter = EventFilter {
        since: since.unwrap_or(0),
        strict_since: since.is_some(),
        topics,
        resource,
        min_severity,
        limit,
        latest,
    };
    let items = if wait.is_zero() {
        app.bus.query_async(&filter).await?
    } else {
        let _long_poll = caller.long_poll()?;
        app.bus.wait_for(&filter, wait, app.stop.clone()).await?
    };
    let cursor = items
        .last()
        .map(|e| e.cursor.clone())
        .unwrap_or_else(|| filter.since.to_string());
    Ok(ok("EventList", &EventList { cursor, items }))
}
