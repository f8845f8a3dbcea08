//! The OpenAPI 3.1 document, generated from the endpoint table and the wire types' JSON Schemas, so it
//! cannot drift from the code.

use super::endpoints::{endpoints, Op};
use routerd_api::control::*;
use routerd_api::event::Event;
use routerd_api::CONTROL_API_PREFIX;
use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};

pub fn document() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "/components/schemas".into())
        .into_generator();
    let mut refs = Map::new();
    macro_rules! reg {
        ($name:expr, $t:ty) => {
            refs.insert(
                $name.to_string(),
                generator.subschema_for::<$t>().to_value(),
            );
        };
    }
    reg!("ApplyRequest", ApplyRequest);
    reg!("ApplyResult", ApplyResult);
    reg!("DeleteRequest", DeleteRequest);
    reg!("RollbackRequest", RollbackRequest);
    reg!("ValidateResult", ValidateResult);
    reg!("GenerationList", GenerationList);
    reg!("EventList", EventList);
    reg!("Event", Event);
    reg!("ResourceList", ResourceList);
    reg!("Health", Health);
    reg!("ControllerList", ControllerList);
    reg!("Status", StatusBody);
    reg!("Error", ErrorBody);
    reg!("ConnectionTable", routerd_api::connections::ConnectionTable);
    reg!(
        "TrafficFlowList",
        routerd_api::traffic_flow::TrafficFlowList
    );
    reg!(
        "FirewallLogList",
        routerd_api::traffic_flow::FirewallLogList
    );
    reg!("DNSQueryList", routerd_api::dns_query::DnsQueryList);
    reg!("FirewallTable", FirewallTable);
    reg!("DHCPLeaseList", routerd_api::dhcp_lease::DHCPLeaseList);
    reg!(
        "DNSQueryAggregate",
        routerd_api::dns_query::DnsQueryAggregate
    );
    let mut schemas = generator.take_definitions(true);
    for (k, v) in &refs {
        if !schemas.contains_key(k) {
            schemas.insert(k.clone(), v.clone());
        }
    }
    let mut paths = Map::new();
    for e in endpoints() {
        let schema_for = |kind: &str| {
            refs.get(kind)
                .cloned()
                .unwrap_or_else(|| json!({"type": "object"}))
        };
        let request = match e.op {
            Op::Apply | Op::Plan | Op::Validate => Some(schema_for("ApplyRequest")),
            Op::Delete => Some(schema_for("DeleteRequest")),
            Op::Rollback => Some(schema_for("RollbackRequest")),
            _ => None,
        };
        let mut op = json!({
            "summary": e.summary,
            "operationId": format!("{:?}", e.op),
            "responses": {
                "200": {"description": e.response_kind, "content": {"application/json": {"schema": schema_for(e.response_kind)}}},
                "default": {"description": "Error", "content": {"application/json": {"schema": schema_for("Error")}}}
            }
        });
        let mut parameters: Vec<Value> = e
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string", "minLength": 1}}))
            .collect();
        if e.op == Op::Connections {
            parameters.extend(super::connections::openapi_parameters());
        }
        if e.op == Op::TrafficFlows {
            parameters.extend(super::log_queries::traffic_flow_parameters());
        }
        if e.op == Op::FirewallLogs {
            parameters.extend(super::log_queries::firewall_log_parameters());
        }
        if e.op == Op::DhcpLeases {
            parameters.extend(super::dhcp_leases::openapi_parameters());
        }
        if e.op == Op::DnsQueries {
            parameters.extend(super::dns_queries::openapi_parameters());
            // Rows, or with `aggregate` the groups.
            op["responses"]["200"]["content"]["application/json"]["schema"] = json!({"anyOf": [
                schema_for("DNSQueryList"),
                schema_for("DNSQueryAggregate")
            ]});
        }
        if !parameters.is_empty() {
            op["parameters"] = Value::Array(parameters);
        }
        if let Some(r) = request {
            op["requestBody"] =
                json!({"required": true, "content": {"application/json": {"schema": r}}});
        }
        if e.mutating {
            op["description"] =
                json!("Main socket only; the status socket answers 403 ReadOnlySocket.");
        }
        let entry = paths
            .entry(format!("{CONTROL_API_PREFIX}{}", e.path))
            .or_insert_with(|| json!({}));
        entry[e.method.as_str().to_lowercase()] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "routerd control API", "version": routerd_api::CONTROL_API_VERSION},
        "paths": paths,
        "components": {"schemas": schemas}
    })
}
