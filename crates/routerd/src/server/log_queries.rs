//! `GET /traffic-flows` and `GET /firewall-logs`: the shared inspection parameters (limit, since/from/to)
//! plus each list's filters, answered from the log stores newest first. Queries run on a blocking thread:
//! SQLite is synchronous.

use super::app::App;
use super::inspection_query::{parse_port, parse_protocol, AddressFilter, InspectionQuery};
use super::query::Query;
use super::response::{ok, Body, Failure};
use hyper::Response;
use routerd_api::control::ErrorCode;
use routerd_api::traffic_flow::{FirewallLogList, TrafficFlowList};
use routerd_api::Timestamp;
use routerd_store::{AddressRange, FirewallFilter, FlowFilter};

pub(super) fn address(query: &Query, key: &str) -> Result<Option<AddressRange>, Failure> {
    Ok(query.parse_with(key, AddressFilter::parse)?.map(|f| {
        let (first, last) = f.range();
        AddressRange { first, last }
    }))
}

pub(super) fn unavailable(e: impl std::fmt::Display) -> Failure {
    Failure::new(
        ErrorCode::Unavailable,
        format!("the log store cannot be read: {e}"),
    )
}

pub async fn traffic_flows(app: &App, query: &Query) -> Result<Response<Body>, Failure> {
    let common = InspectionQuery::parse(query, Timestamp::now())?;
    let filter = FlowFilter {
        client: address(query, "client")?,
        peer: address(query, "peer")?,
        protocol: query.parse_with("protocol", parse_protocol)?,
        port: query.parse_with("port", parse_port)?,
        open: if query.get("open").is_some() {
            Some(query.bool("open")?)
        } else {
            None
        },
        from: common.window.from,
        to: common.window.to,
        limit: common.limit,
    };
    let store = app.logs.flows.clone();
    let (items, truncated) = tokio::task::spawn_blocking(move || store.reader().query(&filter))
        .await
        .map_err(unavailable)?
        .map_err(unavailable)?;
    Ok(ok("TrafficFlowList", &TrafficFlowList { items, truncated }))
}

pub async fn firewall_logs(app: &App, query: &Query) -> Result<Response<Body>, Failure> {
    let common = InspectionQuery::parse(query, Timestamp::now())?;
    let filter = FirewallFilter {
        action: query.get("action").map(str::to_string),
        rule: query.get("rule").map(str::to_string),
        source: address(query, "src")?,
        destination: address(query, "dst")?,
        protocol: query.parse_with("protocol", parse_protocol)?,
        from: common.window.from,
        to: common.window.to,
        limit: common.limit,
    };
    let store = app.logs.firewall.clone();
    let (items, truncated) = tokio::task::spawn_blocking(move || store.reader().query(&filter))
        .await
        .map_err(unavailable)?
        .map_err(unavailable)?;
    Ok(ok("FirewallLogList", &FirewallLogList { items, truncated }))
}

/// `limit` and the time window of the history lists.
pub(super) fn common_parameters() -> Vec<serde_json::Value> {
    use super::inspection_query::limit_parameter;
    let time = |name: &str, description: &str| serde_json::json!({"name": name, "in": "query", "required": false, "description": description, "schema": {"type": "string"}});
    vec![
        limit_parameter(),
        time(
            "since",
            "a duration back from now (15m, 2h, 7d): rows at or after now minus it",
        ),
        time(
            "from",
            "rows at or after this time: RFC 3339 or YYYY-MM-DD[THH:MM:SS] (UTC)",
        ),
        time(
            "to",
            "rows at or before this time: RFC 3339 or YYYY-MM-DD[THH:MM:SS] (UTC); not before the start",
        ),
    ]
}

pub(super) fn parameter(
    name: &str,
    description: &str,
    schema: serde_json::Value,
) -> serde_json::Value {
    serde_json::json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
}

/// The query parameters of `GET /traffic-flows` for the OpenAPI document.
pub fn traffic_flow_parameters() -> Vec<serde_json::Value> {
    use super::inspection_query::{address_filter_schema, protocol_schema};
    let mut out = common_parameters();
    out.extend([
        parameter("client", "the side that opened the flow: address or prefix", address_filter_schema()),
        parameter("peer", "the side that answered: address or prefix", address_filter_schema()),
        parameter("protocol", "protocol name or number", protocol_schema()),
        parameter(
            "port",
            "the client's or the peer's port",
            serde_json::json!({"type": "integer", "minimum": 0, "maximum": 65535}),
        ),
        parameter(
            "open",
            "true: only flows still open; false: only ended flows",
            serde_json::json!({"type": "string", "enum": ["", "true", "false", "1", "0", "yes", "no"]}),
        ),
    ]);
    out
}

/// The query parameters of `GET /firewall-logs` for the OpenAPI document.
pub fn firewall_log_parameters() -> Vec<serde_json::Value> {
    use super::inspection_query::{address_filter_schema, protocol_schema};
    let text = serde_json::json!({"type": "string"});
    let mut out = common_parameters();
    out.extend([
        parameter(
            "action",
            "the action of the routerd:<action>:<rule> prefix (log for other prefixes)",
            text.clone(),
        ),
        parameter(
            "rule",
            "the rule of the routerd:<action>:<rule> prefix",
            text,
        ),
        parameter("src", "source address or prefix", address_filter_schema()),
        parameter(
            "dst",
            "destination address or prefix",
            address_filter_schema(),
        ),
        parameter("protocol", "protocol name or number", protocol_schema()),
    ]);
    out
}
