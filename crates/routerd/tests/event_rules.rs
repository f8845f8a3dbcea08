//! EventRule and DerivedEvent through routerd's control API, in-process: real sockets in a temporary
//! runtime directory, the real ledger and event store, and the in-memory fake host instead of netlink.
//! Apply-time refusals name the field; a window rule fires once over a flapping link, counts survive a
//! restart; a DerivedEvent asserts and retracts with the link.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed set-up is the test's failure

mod common;

use common::{Harness, P, WAN_INDEX};
use routerd_host::OperState;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// The shared client with the API prefix added and the headers dropped.
async fn call(sock: &Path, method: &str, path: &str, body: Option<Vec<u8>>) -> (u16, Value) {
    let (code, v, _) = common::call(sock, method, &format!("{P}{path}"), body).await;
    (code, v)
}

async fn get(sock: &Path, path: &str) -> Value {
    let (code, v) = call(sock, "GET", path, None).await;
    assert_eq!(code, 200, "{path}: {v}");
    v
}

async fn apply(h: &Harness, manifest: &str) -> (u16, Value) {
    call(
        &h.main,
        "POST",
        "/apply",
        Some(json!({ "manifest": manifest }).to_string().into_bytes()),
    )
    .await
}

/// Polls `GET path` until `pred` holds (5 s at most).
async fn wait_until(h: &Harness, path: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..500 {
        let (code, v) = call(&h.status, "GET", path, None).await;
        if code == 200 && pred(&v) {
            return v;
        }
        last = v;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what}: never reached; last {path}: {last}");
}

async fn wait_phase(h: &Harness, kind: &str, name: &str, phase: &str) -> Value {
    wait_until(
        h,
        &format!("/resources/{kind}/{name}"),
        &format!("{kind}/{name} {phase}"),
        |v| v["status"]["phase"] == phase,
    )
    .await
}

fn items(v: &Value) -> Vec<Value> {
    v["items"].as_array().cloned().unwrap_or_default()
}

const WAN: &str = r#"
apiVersion: net.routerd.net/v1alpha1
kind: Interface
metadata: {name: wan}
spec: {ifname: rt-wan}
"#;

const FLAPPING: &str = r#"
apiVersion: net.routerd.net/v1alpha1
kind: EventRule
metadata: {name: wan-flapping}
spec:
  match:
    operator: window
    topics: [routerd.resource.phase.changed]
    window: 1m
    threshold: 3
    correlateBy: resource.name
  emit:
    topic: routerd.virtual.wan.flapping
    severity: warning
    attributes: {link: "${resource.kind}/${resource.name}", phase: "${attributes.phase}"}
"#;

const READY: &str = r#"
apiVersion: net.routerd.net/v1alpha1
kind: DerivedEvent
metadata: {name: wan-ready}
spec:
  topic: routerd.virtual.wan.ready
  when: all
  conditions:
    - {resource: Interface/wan, phase: Up}
    - {resource: Interface/wan, condition: {type: LinkUp, status: "True"}}
  hysteresis: 200ms
  emitInitial: true
"#;

fn resource(kind: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": "net.routerd.net/v1alpha1", "kind": kind, "metadata": {"name": name}, "spec": spec})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_at_apply_name_the_field() {
    let h = Harness::start().await;
    let (code, r) = apply(&h, WAN).await;
    assert_eq!(code, 200, "{r}");
    let generation = r["generation"].as_u64().unwrap();
    let emit = json!({"topic": "routerd.virtual.x"});
    let rule =
        |m: Value, emit: Value| resource("EventRule", "r", json!({"match": m, "emit": emit}));
    let derived = |conds: Value| {
        resource(
            "DerivedEvent",
            "d",
            json!({"topic": "routerd.virtual.d", "when": "all", "conditions": conds}),
        )
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "unknown operator",
            rule(
                json!({"operator": "sometimes", "topics": ["routerd.a"]}),
                emit.clone(),
            ),
            "spec.match.operator",
        ),
        (
            "bad duration",
            rule(
                json!({"operator": "window", "topics": ["routerd.a"], "window": "5 minutes", "threshold": 3}),
                emit.clone(),
            ),
            "spec.match.window",
        ),
        (
            "window without threshold",
            rule(
                json!({"operator": "window", "topics": ["routerd.a"], "window": "5m"}),
                emit.clone(),
            ),
            "spec.match.threshold",
        ),
        (
            "zero window",
            rule(
                json!({"operator": "window", "topics": ["routerd.a"], "window": "0s", "threshold": 3}),
                emit.clone(),
            ),
            "spec.match.window",
        ),
        (
            "field the operator ignores",
            rule(
                json!({"operator": "count", "topics": ["routerd.a"], "threshold": 3, "quiet": "5s"}),
                emit.clone(),
            ),
            "spec.match.quiet",
        ),
        (
            "absence with topics",
            rule(
                json!({"operator": "absence", "topics": ["routerd.a"], "trigger": "routerd.a", "expected": "routerd.b", "timeout": "5s"}),
                emit.clone(),
            ),
            "spec.match.topics",
        ),
        (
            "absence without expected",
            rule(
                json!({"operator": "absence", "trigger": "routerd.a", "timeout": "5s"}),
                emit.clone(),
            ),
            "spec.match.expected",
        ),
        (
            "sequence of one",
            rule(
                json!({"operator": "sequence", "topics": ["routerd.a"]}),
                emit.clone(),
            ),
            "spec.match.topics",
        ),
        (
            "bad pattern",
            rule(
                json!({"operator": "anyOf", "topics": ["routerd.A*"]}),
                emit.clone(),
            ),
            "spec.match.topics[0]",
        ),
        (
            "bad correlateBy",
            rule(
                json!({"operator": "anyOf", "topics": ["routerd.a"], "correlateBy": "topic"}),
                emit.clone(),
            ),
            "spec.match.correlateBy",
        ),
        (
            "bad emit topic",
            rule(
                json!({"operator": "anyOf", "topics": ["routerd.a"]}),
                json!({"topic": "virtual.x"}),
            ),
            "spec.emit.topic",
        ),
        (
            "unknown template variable",
            rule(
                json!({"operator": "anyOf", "topics": ["routerd.a"]}),
                json!({"topic": "routerd.virtual.x", "attributes": {"s": "${severity}"}}),
            ),
            "spec.emit.attributes.s",
        ),
        (
            "engine attribute in template",
            rule(
                json!({"operator": "anyOf", "topics": ["routerd.a"]}),
                json!({"topic": "routerd.virtual.x", "attributes": {"correlation": "x"}}),
            ),
            "spec.emit.attributes.correlation",
        ),
        (
            "unknown field",
            rule(
                json!({"operator": "anyOf", "topics": ["routerd.a"], "colour": "red"}),
                emit.clone(),
            ),
            "spec.match.colour",
        ),
        (
            "missing resource",
            derived(json!([{"resource": "Interface/nope", "phase": "Up"}])),
            "spec.conditions[0].resource",
        ),
        (
            "unknown kind",
            derived(json!([{"resource": "Toaster/x", "phase": "Up"}])),
            "spec.conditions[0].resource",
        ),
        (
            "two tests in one entry",
            derived(
                json!([{"resource": "Interface/wan", "phase": "Up", "condition": {"type": "LinkUp", "status": "True"}}]),
            ),
            "spec.conditions[0]",
        ),
        (
            "empty phase list",
            derived(json!([{"resource": "Interface/wan", "phase": []}])),
            "spec.conditions[0].phase",
        ),
        (
            "unknown phase",
            derived(json!([{"resource": "Interface/wan", "phase": "Ready"}])),
            "spec.conditions[0].phase",
        ),
        (
            "bad condition status",
            derived(
                json!([{"resource": "Interface/wan", "condition": {"type": "LinkUp", "status": "yes"}}]),
            ),
            "spec.conditions[0].condition.status",
        ),
        (
            "field without equals or exists",
            derived(json!([{"resource": "Interface/wan", "field": {"pointer": "/mtu"}}])),
            "spec.conditions[0].field",
        ),
        (
            "pointer without slash",
            derived(
                json!([{"resource": "Interface/wan", "field": {"pointer": "mtu", "exists": true}}]),
            ),
            "spec.conditions[0].field.pointer",
        ),
        ("no conditions", derived(json!([])), "spec.conditions"),
        (
            "bad when",
            resource(
                "DerivedEvent",
                "d",
                json!({"topic": "routerd.virtual.d", "when": "most", "conditions": [{"resource": "Interface/wan", "phase": "Up"}]}),
            ),
            "spec.when",
        ),
    ];
    for (what, res, field) in cases {
        let (code, v) = call(
            &h.main,
            "POST",
            "/apply",
            Some(json!({ "resources": [res] }).to_string().into_bytes()),
        )
        .await;
        assert_eq!(code, 422, "{what}: {v}");
        assert_eq!(v["error"]["code"], "Invalid", "{what}: {v}");
        let details = v["error"]["details"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            details.iter().any(|d| d["field"] == field),
            "{what}: no detail names {field}: {v}"
        );
    }
    let s = get(&h.status, "/status").await;
    assert_eq!(
        s["status"]["generation"], generation,
        "a refusal changed the generation"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_rule_fires_once_over_a_flapping_link_and_counts_survive_a_restart() {
    let h = Harness::start().await;
    let (code, r) = apply(&h, FLAPPING).await;
    assert_eq!(code, 200, "{r}");
    let rule = wait_phase(&h, "EventRule", "wan-flapping", "Applied").await;
    assert_eq!(rule["status"]["fireCount"], 0, "{rule}");

    // Interface/wan: Up (1st phase change), carrier lost -> Pending (2nd), back -> Up (3rd).
    let (code, r) = apply(&h, WAN).await;
    assert_eq!(code, 200, "{r}");
    wait_phase(&h, "Interface", "wan", "Up").await;
    h.host.set_oper_state(WAN_INDEX, OperState::Down);
    wait_phase(&h, "Interface", "wan", "Pending").await;
    h.host.set_oper_state(WAN_INDEX, OperState::Up);
    wait_phase(&h, "Interface", "wan", "Up").await;

    let fired = wait_until(
        &h,
        "/events?resource=EventRule/wan-flapping&topic=routerd.virtual.wan.flapping",
        "the window rule fired",
        |v| !items(v).is_empty(),
    )
    .await;
    let ev = &items(&fired)[0];
    assert_eq!(ev["severity"], "warning");
    assert_eq!(ev["source"]["kind"], "routerd-eventrule");
    assert_eq!(ev["source"]["instance"], "wan-flapping");
    let a = &ev["attributes"];
    assert_eq!(a["count"], "3", "{ev}");
    assert_eq!(a["correlation"], "wan");
    assert_eq!(a["link"], "Interface/wan");
    assert_eq!(a["phase"], "Up");
    assert_eq!(a["subject.kind"], "Interface");
    assert_eq!(a["subject.name"], "wan");
    let rule = wait_until(
        &h,
        "/resources/EventRule/wan-flapping",
        "fireCount 1",
        |v| v["status"]["fireCount"] == 1,
    )
    .await;
    assert!(rule["status"]["lastFiredAt"].is_string(), "{rule}");
    // `describe` reads exactly this: the rule's latest events.
    let recent = get(
        &h.status,
        "/events?resource=EventRule/wan-flapping&latest=true&limit=10",
    )
    .await;
    assert!(items(&recent)
        .iter()
        .any(|e| e["topic"] == "routerd.virtual.wan.flapping"));

    // Restart: nothing fires again, the count is kept, and the rule keeps counting from its state.
    let host = h.host.clone();
    let dir = h.stop().await;
    let h = Harness::start_in(dir, host).await;
    wait_phase(&h, "EventRule", "wan-flapping", "Applied").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rule = get(&h.status, "/resources/EventRule/wan-flapping").await;
    assert_eq!(rule["status"]["fireCount"], 1, "{rule}");
    let all = get(
        &h.status,
        "/events?resource=EventRule/wan-flapping&topic=routerd.virtual.wan.flapping",
    )
    .await;
    assert_eq!(items(&all).len(), 1, "{all}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_derived_event_asserts_and_retracts_with_the_link() {
    let h = Harness::start().await;
    let (code, r) = apply(&h, WAN).await;
    assert_eq!(code, 200, "{r}");
    wait_phase(&h, "Interface", "wan", "Up").await;
    let (code, r) = apply(&h, READY).await;
    assert_eq!(code, 200, "{r}");
    let path = "/events?resource=DerivedEvent/wan-ready&topic=routerd.virtual.wan.ready.*";
    let v = wait_until(&h, path, "initial assertion", |v| items(v).len() == 1).await;
    assert_eq!(items(&v)[0]["topic"], "routerd.virtual.wan.ready.asserted");
    assert_eq!(items(&v)[0]["attributes"]["initial"], "true");
    let d = wait_until(&h, "/resources/DerivedEvent/wan-ready", "asserted", |v| {
        v["status"]["asserted"] == true
    })
    .await;
    assert_eq!(d["status"]["phase"], "Applied");
    assert!(d["status"]["lastAssertedAt"].is_string());

    h.host.set_oper_state(WAN_INDEX, OperState::Down);
    let v = wait_until(&h, path, "retraction", |v| items(v).len() == 2).await;
    let retracted = &items(&v)[1];
    assert_eq!(retracted["topic"], "routerd.virtual.wan.ready.retracted");
    assert_eq!(retracted["source"]["kind"], "routerd-derivedevent");
    assert!(
        retracted["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Interface/wan"),
        "{retracted}"
    );
    let d = wait_until(&h, "/resources/DerivedEvent/wan-ready", "retracted", |v| {
        v["status"]["asserted"] == false
    })
    .await;
    assert!(d["status"]["lastRetractedAt"].is_string(), "{d}");

    // Restart while retracted: the recorded truth is kept, nothing is announced again.
    let host = h.host.clone();
    let dir = h.stop().await;
    let h = Harness::start_in(dir, host).await;
    wait_phase(&h, "DerivedEvent", "wan-ready", "Applied").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(items(&get(&h.status, path).await).len(), 2);
    h.host.set_oper_state(WAN_INDEX, OperState::Up);
    let v = wait_until(&h, path, "assertion after restart", |v| items(v).len() == 3).await;
    assert_eq!(items(&v)[2]["topic"], "routerd.virtual.wan.ready.asserted");
    h.stop().await;
}
