//! The endpoint table: one list drives dispatch, `405 Allow` headers, the read-only rule of the status
//! socket and the OpenAPI document, so they cannot disagree.

use hyper::Method;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Status,
    Controllers,
    Resources,
    Resource,
    Events,
    Generations,
    Connections,
    DnsQueries,
    DhcpLeases,
    TrafficFlows,
    FirewallLogs,
    Healthz,
    OpenApi,
    Firewall,
    Apply,
    Delete,
    Rollback,
    Plan,
    Validate,
}

pub struct Endpoint {
    pub method: Method,
    /// Path after the API prefix; `{x}` is a parameter segment.
    pub path: &'static str,
    pub op: Op,
    /// Changes state: refused on the status socket.
    pub mutating: bool,
    pub summary: &'static str,
    /// `kind` of the success response.
    pub response_kind: &'static str,
}

macro_rules! ep {
    ($m:ident, $p:expr, $op:ident, $mutating:expr, $kind:expr, $summary:expr) => {
        Endpoint {
            method: Method::$m,
            path: $p,
            op: Op::$op,
            mutating: $mutating,
            summary: $summary,
            response_kind: $kind,
        }
    };
}

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        ep!(GET, "/status", Status, false, "Status", "routerd's own state: phase, generation, resource phases, controllers, daemons"),
        ep!(GET, "/controllers", Controllers, false, "ControllerList", "every controller's mode and runtime reconcile state"),
        ep!(GET, "/resources", Resources, false, "ResourceList", "all resources with spec and status; filters kind, name, phase, label (k=v)"),
        ep!(GET, "/resources/{kind}/{name}", Resource, false, "<Kind>", "one resource; {kind} matches case-insensitively"),
        ep!(GET, "/events", Events, false, "EventList", "stored events; since, wait (long-poll, <= 60s), topic (glob, repeatable), resource (Kind/name), severity (minimum), limit (default 100, max 1000), latest (last `limit` matches)"),
        ep!(GET, "/generations", Generations, false, "GenerationList", "the config ledger, newest first; limit (default 100, max 1000)"),
        ep!(GET, "/connections", Connections, false, "ConnectionTable", "live connections from conntrack (ctnetlink dump, filtered as it streams); filters family, protocol, src, dst, port, state, mark; limit (default 100, max 10000); count, byFamily and byProtocol cover the whole table"),
        ep!(GET, "/dns-queries", DnsQueries, false, "DNSQueryList", "DNS query history of every DNSResolver, newest first; filters client, name, suffix, rcode, type, upstream, minDurationMicros, since/from/to, limit (default 100, max 10000); aggregate=name|client gives a DNSQueryAggregate (top `limit`)"),
        ep!(GET, "/dhcp-leases", DhcpLeases, false, "DHCPLeaseList", "leases of every DHCPv4Server, by server then address; filters server, mac, address, hostname, state"),
        ep!(GET, "/traffic-flows", TrafficFlows, false, "TrafficFlowList", "traffic flow history"),
        ep!(GET, "/firewall-logs", FirewallLogs, false, "FirewallLogList", "firewall log entries"),
        ep!(GET, "/healthz", Healthz, false, "Health", "liveness of routerd itself"),
        ep!(GET, "/openapi.json", OpenApi, false, "OpenAPI", "this API as an OpenAPI 3.1 document"),
        ep!(POST, "/apply", Apply, true, "ApplyResult", "apply resources (merge or replace); dryRun; ifGeneration"),
        ep!(POST, "/delete", Delete, true, "DeleteResult", "delete resources by Kind/name"),
        ep!(POST, "/rollback", Rollback, true, "ApplyResult", "re-apply generation N's snapshot as a replace"),
        ep!(POST, "/plan", Plan, false, "ApplyResult", "what an apply would change (dryRun); also on the status socket"),
        ep!(GET, "/firewall", Firewall, false, "FirewallTable", "the applied inet routerd table, rule by rule, grouped by the resource each rule was rendered from"),
        ep!(POST, "/validate", Validate, false, "ValidateResult", "validate resources without applying; also on the status socket"),
    ]
}

/// Result of matching a path against the table.
pub enum Match<'a> {
    Found(&'a Endpoint, Vec<String>),
    WrongMethod(Vec<&'a Endpoint>),
    NotFound,
}

pub fn find<'a>(table: &'a [Endpoint], method: &Method, path: &str) -> Match<'a> {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let mut same_path = Vec::new();
    for e in table {
        let pat: Vec<&str> = e.path.split('/').skip(1).collect();
        if pat.len() != segs.len() {
            continue;
        }
        let mut params = Vec::new();
        let ok = pat.iter().zip(&segs).all(|(p, s)| {
            if p.starts_with('{') {
                params.push((*s).to_string());
                !s.is_empty()
            } else {
                p == s
            }
        });
        if ok {
            if e.method == *method {
                return Match::Found(e, params);
            }
            same_path.push(e);
        }
    }
    if same_path.is_empty() {
        Match::NotFound
    } else {
        Match::WrongMethod(same_path)
    }
}
