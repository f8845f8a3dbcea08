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

fn address(query: &Query, key: &str) -> Result<Option<AddressRange>, Failure> {
    Ok(query.parse_with(key, AddressFilter::parse)?.map(|f| {
        let (first, last) = f.range();
        AddressRange { first, last }
    }))
}

fn unavailable(e: impl std::fmt::Display) -> Failure {
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
    let (items, truncated) = tokio::task::spawn_blocking(move || store.query(&filter))
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
    let (items, truncated) = tokio::task::spawn_blocking(move || store.query(&filter))
        .await
        .map_err(unavailable)?
        .map_err(unavailable)?;
    Ok(ok("FirewallLogList", &FirewallLogList { items, truncated }))
}
