//! `routerctl describe KIND/NAME`: everything about one resource on one screen, including the events
//! that explain how it got into its phase.

use super::{resources, Ctx};
use crate::cli::DescribeArgs;
use crate::client::Socket;
use crate::failure::UsageError;
use crate::output::{self, OutputFormat};
use crate::query::Query;
use crate::relative_time::{relative, relative_opt};
use crate::table::Table;
use anyhow::Result;
use routerd_api::control::EventList;
use routerd_api::{Event, ResourceId, Timestamp};
use serde_json::Value;

/// Events listed under the resource; older ones are a `routerctl get events --resource` away.
const RECENT_EVENTS: usize = 10;

pub async fn run(ctx: &Ctx, args: DescribeArgs) -> Result<()> {
    let id = target(&args)?;
    let value = resources::fetch(ctx, id.kind, &id.name).await?;
    if ctx.output != OutputFormat::Table {
        return output::print_value(ctx.output, &value);
    }
    let mut q = Query::new();
    q.push("resource", id.short())
        .push("limit", RECENT_EVENTS.to_string())
        .push("latest", "true");
    let events = match ctx.client.get(Socket::Status, &q.apply_to("/events")).await {
        Ok(v) => output::decode::<EventList>(v, "event list")?.items,
        Err(e) => {
            output::warn(&format!("cannot read the events of {}: {e}", id.short()));
            Vec::new()
        }
    };
    let start = events.len().saturating_sub(RECENT_EVENTS);
    output::print(&render(&value, &events[start..], ctx.now)?)
}

fn target(args: &DescribeArgs) -> Result<ResourceId, UsageError> {
    let mut parts = vec![args.target.clone()];
    parts.extend(args.name.clone());
    let mut ids = crate::target::parse_targets(&parts).map_err(UsageError)?;
    match (ids.pop(), ids.is_empty()) {
        (Some(id), true) => Ok(id),
        _ => Err(UsageError(
            "describe shows one resource; give one Kind/name".to_string(),
        )),
    }
}

/// Keys of `status` shown in the header block rather than in the kind-specific part.
const COMMON_STATUS_KEYS: &[&str] = &["phase", "conditions", "observedGeneration", "since"];

pub fn render(item: &Value, events: &[Event], now: Timestamp) -> Result<String> {
    let status = resources::status_of(item);
    let labels = item
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let since = status.as_ref().and_then(|s| s.since);
    let mut out = output::fields(&[
        ("Name", resources::name_of(item).to_string()),
        ("Kind", resources::kind_of(item).to_string()),
        (
            "API version",
            item.get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        ),
        ("Labels", labels),
        (
            "Phase",
            status
                .as_ref()
                .map(|s| s.phase.as_str().to_string())
                .unwrap_or_default(),
        ),
        (
            "Since",
            since
                .map(|t| format!("{} ({t})", relative(t, now)))
                .unwrap_or_default(),
        ),
        (
            "Observed generation",
            status
                .as_ref()
                .and_then(|s| s.observed_generation)
                .map(|g| g.to_string())
                .unwrap_or_default(),
        ),
    ]);

    out.push_str("\nSpec:\n");
    out.push_str(&yaml_block(item.get("spec"))?);

    let specific: serde_json::Map<String, Value> = item
        .get("status")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !COMMON_STATUS_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    if let Some(block) = egress_block(item, now) {
        out.push_str(&block);
    } else if !specific.is_empty() {
        out.push_str("\nStatus:\n");
        out.push_str(&yaml_block(Some(&Value::Object(specific)))?);
    }

    out.push_str("\nConditions:\n");
    match status.as_ref().filter(|s| !s.conditions.is_empty()) {
        None => out.push_str("  (none)\n"),
        Some(s) => {
            let mut t = Table::new(["type", "status", "reason", "message", "last-transition"]);
            for c in &s.conditions {
                t.row([
                    c.type_.clone(),
                    format!("{:?}", c.status),
                    c.reason.clone(),
                    c.message.clone(),
                    relative_opt(c.last_transition_time, now),
                ]);
            }
            out.push_str(&output::indent(&t.render(), 2));
        }
    }

    out.push_str("\nEvents:\n");
    if events.is_empty() {
        out.push_str("  (none)\n");
    } else {
        let mut t = Table::new(["time", "severity", "topic", "message"]);
        for e in events {
            t.row([
                relative(e.time, now),
                e.severity.as_str().to_string(),
                e.topic.clone(),
                e.message.clone(),
            ]);
        }
        out.push_str(&output::indent(&t.render(), 2));
    }
    Ok(out)
}

/// An `EgressRoutePolicy`'s status as an operator reads it: which candidate carries the default route,
/// when it last changed, and for every candidate (with its priority, source and HealthCheck from the
/// spec) whether it is ready and why not.
fn egress_block(item: &Value, now: Timestamp) -> Option<String> {
    if resources::kind_of(item) != "EgressRoutePolicy" {
        return None;
    }
    let status = item.get("status");
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("-").to_string();
    let last_switch = status
        .and_then(|s| s.get("lastSwitchAt"))
        .and_then(Value::as_str)
        .and_then(|t| Timestamp::parse(t).ok());
    let mut out = String::from("\nEgress:\n");
    out.push_str(&output::indent(
        &output::fields(&[
            ("Selected", text(status.and_then(|s| s.get("selected")))),
            (
                "Last switch",
                last_switch
                    .map(|t| format!("{} ({t})", relative(t, now)))
                    .unwrap_or_else(|| "never".into()),
            ),
            (
                "Switches",
                status
                    .and_then(|s| s.get("switchCount"))
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
                    .to_string(),
            ),
        ]),
        2,
    ));
    let mut t = Table::new([
        "candidate",
        "priority",
        "source",
        "healthcheck",
        "ready",
        "reason",
    ]);
    let states = status
        .and_then(|s| s.get("candidates"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let selected = status
        .and_then(|s| s.get("selected"))
        .and_then(Value::as_str);
    for c in item
        .pointer("/spec/candidates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
        let state = states
            .iter()
            .find(|s| s.get("name").and_then(Value::as_str) == Some(name));
        let ready = match state.and_then(|s| s.get("ready")).and_then(Value::as_bool) {
            Some(true) => "yes",
            Some(false) => "no",
            None => "-",
        };
        t.row([
            if Some(name) == selected {
                format!("{name} *")
            } else {
                name.to_string()
            },
            c.get("priority")
                .and_then(Value::as_u64)
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".into()),
            format!(
                "{}/{}",
                text(c.pointer("/source/kind")),
                text(c.pointer("/source/name"))
            ),
            text(c.get("healthCheck")),
            ready.to_string(),
            text(state.and_then(|s| s.get("reason"))),
        ]);
    }
    out.push_str("\nCandidates (* = selected):\n");
    out.push_str(&output::indent(&t.render(), 2));
    Some(out)
}

fn yaml_block(value: Option<&Value>) -> Result<String> {
    match value {
        None | Some(Value::Null) => Ok("  (none)\n".to_string()),
        Some(v) => Ok(output::indent(
            &output::render_value(OutputFormat::Yaml, v)?,
            2,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use routerd_api::event::NewEvent;
    use routerd_api::Severity;
    use serde_json::json;

    #[test]
    fn target_accepts_both_spellings_and_only_one_resource() {
        let one = DescribeArgs {
            target: "addr/lan".into(),
            name: None,
        };
        assert_eq!(
            target(&one).map(|id| id.short()).ok().as_deref(),
            Some("IPv4StaticAddress/lan")
        );
        let split = DescribeArgs {
            target: "dhcp4".into(),
            name: Some("wan".into()),
        };
        assert_eq!(
            target(&split).map(|id| id.short()).ok().as_deref(),
            Some("DHCPv4Client/wan")
        );
        let two = DescribeArgs {
            target: "addr/lan".into(),
            name: Some("addr/wan".into()),
        };
        assert!(target(&two).is_err());
    }

    #[test]
    fn shows_spec_specific_status_conditions_and_events() {
        let now = Timestamp::parse("2026-11-23T18:40:12Z").unwrap();
        let item = json!({
            "apiVersion": "net.routerd.net/v1alpha1", "kind": "IPv4StaticAddress",
            "metadata": {"name": "lan", "labels": {"role": "lan"}},
            "spec": {"interface": "lan", "address": "192.0.2.1/24"},
            "status": {"phase": "Applied", "observedGeneration": 3, "since": "2026-11-23T18:35:12Z",
                "ifname": "eth1", "owned": true,
                "conditions": [{"type": "AddressApplied", "status": "True", "reason": "Applied",
                    "message": "192.0.2.1/24 on eth1", "lastTransitionTime": "2026-11-23T18:35:12Z"}]}
        });
        let mut e = NewEvent::new("routerd.address.applied", Severity::Info, "address added")
            .resource("IPv4StaticAddress", "lan")
            .with_cursor(9);
        e.time = Timestamp(now.0 - 300_000_000_000);
        let text = render(&item, &[e], now).unwrap();
        assert!(text.starts_with("Name:                 lan\n"), "{text}");
        assert!(text.contains("Labels:               role=lan\n"), "{text}");
        assert!(
            text.contains("Since:                5m ago (2026-11-23T18:35:12"),
            "{text}"
        );
        assert!(
            text.contains("Spec:\n  address: 192.0.2.1/24\n  interface: lan\n"),
            "{text}"
        );
        assert!(
            text.contains("Status:\n  ifname: eth1\n  owned: true\n"),
            "{text}"
        );
        assert!(!text.contains("observedGeneration"), "{text}");
        assert!(
            text.contains("  AddressApplied  True    Applied  192.0.2.1/24 on eth1  5m ago\n"),
            "{text}"
        );
        assert!(
            text.contains("Events:\n  TIME    SEVERITY  TOPIC"),
            "{text}"
        );
        assert!(
            text.contains("  5m ago  info      routerd.address.applied  address added\n"),
            "{text}"
        );
    }

    #[test]
    fn an_egress_policy_shows_its_candidates_with_reasons() {
        let now = Timestamp::parse("2026-11-23T18:40:12Z").unwrap();
        let item = json!({
            "apiVersion": "net.routerd.net/v1alpha1", "kind": "EgressRoutePolicy",
            "metadata": {"name": "uplink"},
            "spec": {"candidates": [
                {"name": "isp1", "source": {"kind": "DHCPv4Client", "name": "wan1"}, "healthCheck": "isp1", "priority": 10},
                {"name": "isp2", "source": {"kind": "DHCPv4Client", "name": "wan2"}, "healthCheck": "isp2", "priority": 20}]},
            "status": {"phase": "Installed", "selected": "isp2", "switchCount": 3,
                "lastSwitchAt": "2026-11-23T18:39:12Z",
                "candidates": [
                    {"name": "isp1", "ready": false, "reason": "HealthCheck isp1 is Unhealthy (ProbeFailed: timeout)"},
                    {"name": "isp2", "ready": true}]}
        });
        let text = render(&item, &[], now).unwrap();
        assert!(text.contains("Selected:     isp2\n"), "{text}");
        assert!(
            text.contains("Last switch:  1m ago (2026-11-23T18:39:12"),
            "{text}"
        );
        assert!(text.contains("Switches:     3\n"), "{text}");
        assert!(
            text.contains("isp1       10        DHCPv4Client/wan1  isp1         no     HealthCheck isp1 is Unhealthy (ProbeFailed: timeout)"),
            "{text}"
        );
        assert!(
            text.contains("isp2 *     20        DHCPv4Client/wan2  isp2         yes    -"),
            "{text}"
        );
        assert!(!text.contains("\nStatus:"), "{text}");
    }

    #[test]
    fn a_resource_without_status_still_renders() {
        let item = json!({"apiVersion": "net.routerd.net/v1alpha1", "kind": "Interface",
            "metadata": {"name": "lan"}, "spec": {"ifname": "eth1"}});
        let text = render(&item, &[], Timestamp(0)).unwrap();
        assert!(text.contains("Phase:                -\n"), "{text}");
        assert!(text.contains("Conditions:\n  (none)\n"), "{text}");
        assert!(!text.contains("Status:"), "{text}");
    }
}
