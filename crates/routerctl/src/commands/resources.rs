//! `routerctl get resources` and `get KIND [NAME]`. Resources are read as JSON values rather than
//! decoded into typed specs: a listing must still work when routerd knows a spec field this routerctl
//! does not.

use super::Ctx;
use crate::cli::ResourceFilter;
use crate::client::Socket;
use crate::output::{self, OutputFormat};
use crate::query::Query;
use crate::relative_time::age;
use crate::table::{opt, Table};
use anyhow::Result;
use routerd_api::status::ResourceStatus;
use routerd_api::{Kind, Timestamp};
use serde_json::Value;

pub async fn list(ctx: &Ctx, kind: Option<Kind>, filter: &ResourceFilter) -> Result<()> {
    let mut query = Query::new();
    query.push_opt("kind", kind.map(Kind::as_str));
    query.push_opt("phase", filter.phase.map(|p| p.as_str()));
    for (k, v) in &filter.labels {
        query.push("label", format!("{k}={v}"));
    }
    let mut value = ctx
        .client
        .get(Socket::Status, &query.apply_to("/resources"))
        .await?;
    // routerd filters already; filtering again keeps the answer right even if it ignored a parameter.
    if let Some(Value::Array(items)) = value.get_mut("items") {
        items.retain(|item| matches(item, kind, filter));
    }
    if ctx.output != OutputFormat::Table {
        return output::print_value(ctx.output, &value);
    }
    let items = value
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if items.is_empty() {
        eprintln!("No resources found.");
        return Ok(());
    }
    output::print(&render(&items, ctx.now))
}

pub async fn show_one(ctx: &Ctx, kind: Kind, name: &str) -> Result<()> {
    let value = fetch(ctx, kind, name).await?;
    if ctx.output != OutputFormat::Table {
        return output::print_value(ctx.output, &value);
    }
    output::print(&render(std::slice::from_ref(&value), ctx.now))
}

/// `GET /resources/{Kind}/{name}`; the name is checked first because it becomes a path segment.
pub async fn fetch(ctx: &Ctx, kind: Kind, name: &str) -> Result<Value> {
    routerd_api::name::validate_name(name)
        .map_err(|e| crate::failure::UsageError(format!("{name:?}: {e}")))?;
    Ok(ctx
        .client
        .get(Socket::Status, &format!("/resources/{kind}/{name}"))
        .await?)
}

/// KIND NAME PHASE REASON AGE GEN DETAIL; AGE is the time since the phase last changed, DETAIL what the
/// resource holds (a lease, a prefix, an address) so a listing answers "what did it get".
pub fn render(items: &[Value], now: Timestamp) -> String {
    let mut t = Table::new(["kind", "name", "phase", "reason", "age", "gen", "detail"]);
    for item in items {
        let status = status_of(item);
        let reason = status.as_ref().map(|s| s.reason().0).unwrap_or_default();
        t.row([
            kind_of(item).to_string(),
            name_of(item).to_string(),
            opt(status.as_ref().map(|s| s.phase.as_str())),
            reason,
            opt(status
                .as_ref()
                .and_then(|s| s.since)
                .map(|since| age(since, now))),
            opt(status.as_ref().and_then(|s| s.observed_generation)),
            detail(item, now).unwrap_or_default(),
        ]);
    }
    t.render()
}

fn matches(item: &Value, kind: Option<Kind>, filter: &ResourceFilter) -> bool {
    if let Some(kind) = kind {
        if kind_of(item) != kind.as_str() {
            return false;
        }
    }
    if let Some(phase) = filter.phase {
        if status_of(item).map(|s| s.phase) != Some(phase) {
            return false;
        }
    }
    let labels = item.pointer("/metadata/labels");
    filter
        .labels
        .iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)).and_then(Value::as_str) == Some(v.as_str()))
}

/// The one-line summary of what a resource holds, for the kinds that hold something.
fn detail(item: &Value, now: Timestamp) -> Option<String> {
    let status = item.get("status")?;
    let text = |v: &Value, path: &str| v.pointer(path).and_then(Value::as_str).map(str::to_owned);
    let until = |v: &Value, path: &str| {
        text(v, path)
            .and_then(|t| Timestamp::parse(&t).ok())
            .map(|t| crate::relative_time::compact(now.until(t)))
    };
    let count = |path: &str| {
        status
            .pointer(path)
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
    };
    match kind_of(item) {
        "DHCPv4Client" => {
            let address = text(status, "/lease/address")?;
            let len = status
                .pointer("/lease/prefixLength")
                .and_then(Value::as_u64);
            let mut out = match len {
                Some(len) => format!("{address}/{len}"),
                None => address,
            };
            if let Some(gw) = text(status, "/lease/gateway") {
                out.push_str(&format!(" via {gw}"));
            }
            if let Some(left) = until(status, "/lease/expiresAt") {
                out.push_str(&format!(", expires in {left}"));
            }
            Some(out)
        }
        "DHCPv6PrefixDelegation" => {
            let mut out = text(status, "/lease/prefix")?;
            if let Some(state) = text(status, "/lease/state") {
                out.push_str(&format!(" {state}"));
            }
            if let Some(left) = until(status, "/lease/expiresAt") {
                out.push_str(&format!(", valid {left}"));
            }
            let previous = count("/previousPrefixes");
            if previous > 0 {
                out.push_str(&format!(" (+{previous} previous)"));
            }
            Some(out)
        }
        // What the session got (address, peer, device, session id, how long it has been up), or why
        // the last one ended while it is down.
        "PPPoESession" => {
            let Some(local) = text(status, "/session/localAddress") else {
                return text(status, "/session/lastTerminationReason")
                    .map(|why| format!("last ended: {why}"));
            };
            let mut out = local;
            if let Some(peer) = text(status, "/session/peerAddress") {
                out.push_str(&format!(" peer {peer}"));
            }
            if let Some(dev) = text(status, "/session/ifname") {
                out.push_str(&format!(" on {dev}"));
            }
            if let Some(id) = status.pointer("/session/sessionID").and_then(Value::as_u64) {
                out.push_str(&format!(", session 0x{id:04x}"));
            }
            if let Some(up) =
                text(status, "/session/connectedAt").and_then(|t| Timestamp::parse(&t).ok())
            {
                out.push_str(&format!(", up {}", crate::relative_time::age(up, now)));
            }
            Some(out)
        }
        "IPv6DelegatedAddress" => {
            let mut out = text(status, "/address")?;
            let deprecated = count("/deprecatedAddresses");
            if deprecated > 0 {
                out.push_str(&format!(" (+{deprecated} deprecated)"));
            }
            Some(out)
        }
        "DNSResolver" => {
            let listeners: Vec<&str> = status
                .pointer("/listeners")?
                .as_array()?
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let upstreams = status.pointer("/upstreams").and_then(Value::as_array);
            let healthy = upstreams.map_or(0, |u| {
                u.iter()
                    .filter(|u| u.get("healthy") == Some(&Value::Bool(true)))
                    .count()
            });
            let number = |path: &str| status.pointer(path).and_then(Value::as_u64).unwrap_or(0);
            let ratio = status
                .pointer("/cache/hitRatio")
                .and_then(Value::as_f64)
                .unwrap_or(0.0);
            let mut out = format!(
                "{}; upstreams {healthy}/{} healthy; cache {} entries, {:.0}% hits",
                listeners.join(", "),
                upstreams.map_or(0, Vec::len),
                number("/cache/entries"),
                ratio * 100.0
            );
            let dropped = number("/queryLog/dropped");
            if dropped > 0 {
                out.push_str(&format!("; {dropped} log rows dropped"));
            }
            Some(out)
        }
        _ => None,
    }
}

pub fn kind_of(item: &Value) -> &str {
    item.get("kind").and_then(Value::as_str).unwrap_or_default()
}

pub fn name_of(item: &Value) -> &str {
    item.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The status, if routerd has written one that this routerctl can read.
pub fn status_of(item: &Value) -> Option<ResourceStatus> {
    item.get("status")
        .and_then(|s| serde_json::from_value(s.clone()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use routerd_api::Phase;
    use serde_json::json;

    const NOW: Timestamp = Timestamp(1_795_459_212_000_000_000);

    fn items() -> Vec<Value> {
        vec![
            json!({"apiVersion": "net.routerd.net/v1alpha1", "kind": "Interface",
                "metadata": {"name": "wan", "labels": {"role": "uplink"}}, "spec": {"ifname": "eth0"},
                "status": {"phase": "Pending", "observedGeneration": 4,
                    "since": Timestamp(NOW.0 - 300_000_000_000).to_rfc3339(),
                    "conditions": [
                        {"type": "Exists", "status": "True", "reason": "Found"},
                        {"type": "LinkUp", "status": "False", "reason": "LinkDown", "message": "carrier lost"}]}}),
            json!({"apiVersion": "net.routerd.net/v1alpha1", "kind": "IPv4StaticAddress",
                "metadata": {"name": "lan"}, "spec": {"interface": "lan", "address": "192.0.2.1/24"}}),
        ]
    }

    #[test]
    fn detail_shows_what_a_resource_holds() {
        let in_2h = Timestamp(NOW.0 + 7_200_000_000_000).to_rfc3339();
        let pd = json!({"kind": "DHCPv6PrefixDelegation", "metadata": {"name": "wan-pd"},
            "status": {"phase": "Bound", "lease": {"prefix": "2001:db8:1200:100::/56",
                "state": "Renewing", "expiresAt": in_2h},
                "previousPrefixes": [{"prefix": "2001:db8:1200::/56", "validUntil": in_2h}]}});
        assert_eq!(
            detail(&pd, NOW).as_deref(),
            Some("2001:db8:1200:100::/56 Renewing, valid 2h (+1 previous)")
        );
        let v4 = json!({"kind": "DHCPv4Client", "status": {"lease": {"address": "198.51.100.7",
            "prefixLength": 26, "gateway": "198.51.100.65"}}});
        assert_eq!(
            detail(&v4, NOW).as_deref(),
            Some("198.51.100.7/26 via 198.51.100.65")
        );
        let addr = json!({"kind": "IPv6DelegatedAddress", "status": {"address": "2001:db8::1/64",
            "deprecatedAddresses": ["2001:db8:1::1/64"]}});
        assert_eq!(
            detail(&addr, NOW).as_deref(),
            Some("2001:db8::1/64 (+1 deprecated)")
        );
        let ten_min_ago = Timestamp(NOW.0 - 600_000_000_000).to_rfc3339();
        let pppoe = json!({"kind": "PPPoESession", "status": {"phase": "Up", "session": {
            "sessionID": 4660, "ifname": "ppp-wan", "localAddress": "198.51.100.10",
            "peerAddress": "198.51.100.1", "connectedAt": ten_min_ago}}});
        assert_eq!(
            detail(&pppoe, NOW).as_deref(),
            Some("198.51.100.10 peer 198.51.100.1 on ppp-wan, session 0x1234, up 10m")
        );
        let down = json!({"kind": "PPPoESession", "status": {"phase": "Pending", "session": {
            "lastTerminationReason": "PADT from the access concentrator"}}});
        assert_eq!(
            detail(&down, NOW).as_deref(),
            Some("last ended: PADT from the access concentrator")
        );
        let dns = json!({"kind": "DNSResolver", "status": {"listeners": ["192.0.2.1:53"],
            "upstreams": [{"healthy": true}, {"healthy": false}],
            "cache": {"entries": 12, "hitRatio": 0.75}, "queryLog": {"dropped": 3}}});
        assert_eq!(
            detail(&dns, NOW).as_deref(),
            Some("192.0.2.1:53; upstreams 1/2 healthy; cache 12 entries, 75% hits; 3 log rows dropped")
        );
        // Nothing held, or a kind that holds nothing: no detail.
        assert_eq!(
            detail(
                &json!({"kind": "DHCPv6PrefixDelegation", "status": {"lease": {"state": "Soliciting"}}}),
                NOW
            ),
            None
        );
        assert_eq!(
            detail(
                &json!({"kind": "Interface", "status": {"phase": "Up"}}),
                NOW
            ),
            None
        );
    }

    #[test]
    fn rows_show_phase_reason_age_and_generation() {
        assert_eq!(
            render(&items(), NOW),
            "KIND               NAME  PHASE    REASON    AGE  GEN  DETAIL\n\
             Interface          wan   Pending  LinkDown  5m   4    -\n\
             IPv4StaticAddress  lan   -        -         -    -    -\n"
        );
    }

    #[test]
    fn client_side_filter_checks_kind_phase_and_labels() {
        let all = items();
        let none = ResourceFilter::default();
        assert!(matches(&all[0], Some(Kind::Interface), &none));
        assert!(!matches(&all[1], Some(Kind::Interface), &none));

        let pending = ResourceFilter {
            phase: Some(Phase::Pending),
            labels: vec![],
        };
        assert!(matches(&all[0], None, &pending));
        assert!(!matches(&all[1], None, &pending));

        let uplink = ResourceFilter {
            phase: None,
            labels: vec![("role".into(), "uplink".into())],
        };
        assert!(matches(&all[0], None, &uplink));
        assert!(!matches(&all[1], None, &uplink));
    }
}
