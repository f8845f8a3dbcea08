//! routerd's control API in-process: real sockets in a temporary runtime directory, the real ledger and
//! event store, and the in-memory fake host instead of netlink.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed set-up is the test's failure

mod common;

use common::{call, Harness, P};
use routerd_host::{Ipv4Address, NetHost};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

async fn get(sock: &Path, path: &str) -> Value {
    let (code, v, _) = call(sock, "GET", &format!("{P}{path}"), None).await;
    assert_eq!(code, 200, "{path}: {v}");
    v
}

async fn post(sock: &Path, path: &str, body: Value) -> (u16, Value) {
    let (code, v, _) = call(
        sock,
        "POST",
        &format!("{P}{path}"),
        Some(body.to_string().into_bytes()),
    )
    .await;
    (code, v)
}

const MANIFEST: &str = r#"
apiVersion: net.routerd.net/v1alpha1
kind: Interface
metadata: {name: lan}
spec: {ifname: rt-lan}
---
apiVersion: net.routerd.net/v1alpha1
kind: IPv4StaticAddress
metadata: {name: lan}
spec: {interface: lan, address: 192.0.2.1/24}
---
apiVersion: net.routerd.net/v1alpha1
kind: IPv4StaticRoute
metadata: {name: lab}
spec: {destination: 198.51.100.0/24, gateway: 192.0.2.10, interface: lan}
"#;

async fn wait_phase(h: &Harness, kind: &str, name: &str, phase: &str) -> Value {
    for _ in 0..300 {
        let (code, v, _) = call(
            &h.status,
            "GET",
            &format!("{P}/resources/{kind}/{name}"),
            None,
        )
        .await;
        if code == 200 && v["status"]["phase"] == phase {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{kind}/{name} never reached {phase}");
}

async fn generation(h: &Harness) -> u64 {
    get(&h.status, "/status").await["status"]["generation"]
        .as_u64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_reconcile_repair_delete() {
    let h = Harness::start().await;
    let s = get(&h.status, "/status").await;
    assert_eq!(s["kind"], "Status");
    assert_eq!(s["status"]["generation"], 0);

    let (code, r) = post(&h.main, "/apply", json!({"manifest": MANIFEST})).await;
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["generation"], 1);
    assert_eq!(r["changes"].as_array().unwrap().len(), 3);

    let addr = wait_phase(&h, "IPv4StaticAddress", "lan", "Applied").await;
    assert_eq!(addr["status"]["observedGeneration"], 1);
    assert_eq!(addr["status"]["owned"], true);
    assert!(addr["status"]["since"].is_string());
    wait_phase(&h, "ipv4staticroute", "lab", "Installed").await;
    wait_phase(&h, "interface", "lan", "Up").await;
    let want = Ipv4Address {
        ifindex: 2,
        address: "192.0.2.1".parse().unwrap(),
        prefix_len: 24,
    };
    assert!(h.host.ipv4_addresses().await.unwrap().contains(&want));

    // Same manifest again: nothing changes, no generation.
    let (code, r) = post(&h.main, "/apply", json!({"manifest": MANIFEST})).await;
    assert_eq!(code, 200);
    assert_eq!(r["generation"], 1);
    assert!(r["changes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["action"] == "unchanged"));

    // Drift behind routerd's back is repaired (the fake reports the change like netlink does).
    h.host.del_ipv4_address(want).await.unwrap();
    let mut repaired = false;
    for _ in 0..300 {
        if h.host.ipv4_addresses().await.unwrap().contains(&want) {
            repaired = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(repaired, "address was not re-added");
    let ev = get(
        &h.status,
        "/events?topic=routerd.address.applied&resource=IPv4StaticAddress/lan",
    )
    .await;
    assert!(
        ev["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["attributes"]["reason"] == "repaired"),
        "{ev}"
    );

    // Delete the referenced Interface: refused, naming the referrers.
    let (code, r) = post(&h.main, "/delete", json!({"targets": ["Interface/lan"]})).await;
    assert_eq!(code, 422, "{r}");
    assert!(r["error"]["details"][0]["message"]
        .as_str()
        .unwrap()
        .contains("IPv4StaticAddress/lan"));
    let (code, r) = post(&h.main, "/delete", json!({"targets": ["Interface/nope"]})).await;
    assert_eq!((code, r["error"]["code"].as_str()), (404, Some("NotFound")));

    // Delete address and route: exactly those disappear.
    let (code, r) = post(
        &h.main,
        "/delete",
        json!({"targets": ["addr/lan", "route/lab"]}),
    )
    .await;
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["generation"], 2);
    for _ in 0..300 {
        if !h.host.ipv4_addresses().await.unwrap().contains(&want) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!h.host.ipv4_addresses().await.unwrap().contains(&want));
    assert!(h
        .host
        .ipv4_routes(254)
        .await
        .unwrap()
        .iter()
        .all(|r| r.gateway.is_none()));

    // Rollback to generation 1 brings them back as generation 3.
    let (code, r) = post(&h.main, "/rollback", json!({"generation": 1})).await;
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["generation"], 3);
    wait_phase(&h, "IPv4StaticAddress", "lan", "Applied").await;
    let gens = get(&h.status, "/generations").await;
    assert_eq!(gens["items"][0]["source"], "rollback");
    assert_eq!(gens["items"][0]["rollbackOf"], 1);

    // Controllers report runtime state once they ran.
    let c = get(&h.status, "/controllers").await;
    let names: Vec<&str> = c["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "address",
            "derivedevent",
            "dhcpv4-client",
            "dhcpv4-server",
            "dhcpv6-prefix-delegation",
            "dns-resolver",
            "egress",
            "eventrule",
            "firewall",
            "firewall-event-log",
            "healthcheck",
            "interface",
            "ipv6-delegated-address",
            "pppoe-session",
            "retention",
            "route",
            "router-advertisement",
            "traffic-flow-log"
        ]
    );
    for item in c["items"].as_array().unwrap() {
        assert!(item["reconcileCount"].as_u64().unwrap() >= 1, "{item}");
        assert!(item["lastDurationMillis"].is_number());
        assert_eq!(item["currentError"], false);
    }
    let status = get(&h.status, "/status").await;
    assert_eq!(status["status"]["phase"], "Healthy", "{status}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_changes_nothing() {
    let h = Harness::start().await;
    let (code, _) = post(&h.main, "/apply", json!({"manifest": MANIFEST})).await;
    assert_eq!(code, 200);
    let gen = generation(&h).await;

    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("malformed JSON", b"{\"manifest\": ".to_vec(), 400, "BadRequest"),
        ("malformed YAML", json!({"manifest": "kind: [unclosed\n"}).to_string().into_bytes(), 400, "BadRequest"),
        ("unknown request field", json!({"manifest": MANIFEST, "dryrun": true}).to_string().into_bytes(), 400, "BadRequest"),
        ("unknown field", json!({"resources": [{"apiVersion": "net.routerd.net/v1alpha1", "kind": "Interface", "metadata": {"name": "x"}, "spec": {"ifname": "x", "colour": "red"}}]}).to_string().into_bytes(), 422, "Invalid"),
        ("unknown kind", json!({"resources": [{"apiVersion": "net.routerd.net/v1alpha1", "kind": "Toaster", "metadata": {"name": "x"}, "spec": {}}]}).to_string().into_bytes(), 422, "Invalid"),
        ("name ../x", json!({"resources": [{"apiVersion": "net.routerd.net/v1alpha1", "kind": "Interface", "metadata": {"name": "../x"}, "spec": {"ifname": "x"}}]}).to_string().into_bytes(), 422, "Invalid"),
        ("64-char name", json!({"resources": [{"apiVersion": "net.routerd.net/v1alpha1", "kind": "Interface", "metadata": {"name": "a".repeat(64)}, "spec": {"ifname": "x"}}]}).to_string().into_bytes(), 422, "Invalid"),
        ("dangling reference", json!({"resources": [{"apiVersion": "net.routerd.net/v1alpha1", "kind": "IPv4StaticAddress", "metadata": {"name": "x"}, "spec": {"interface": "wan9", "address": "192.0.2.9/24"}}]}).to_string().into_bytes(), 422, "Invalid"),
        ("duplicate identity", json!({"resources": [
            {"apiVersion": "net.routerd.net/v1alpha1", "kind": "Interface", "metadata": {"name": "d"}, "spec": {"ifname": "x"}},
            {"apiVersion": "net.routerd.net/v1alpha1", "kind": "Interface", "metadata": {"name": "d"}, "spec": {"ifname": "y"}}]}).to_string().into_bytes(), 422, "Invalid"),
        ("2 MiB body", json!({"manifest": "#".repeat(2 * 1024 * 1024)}).to_string().into_bytes(), 413, "PayloadTooLarge"),
    ];
    for (what, body, want_code, want_err) in cases {
        let (code, v, _) = call(&h.main, "POST", &format!("{P}/apply"), Some(body)).await;
        assert_eq!(code, want_code, "{what}: {v}");
        assert_eq!(v["error"]["code"], want_err, "{what}: {v}");
        assert_eq!(v["kind"], "Error");
        assert_eq!(generation(&h).await, gen, "{what} changed the generation");
    }
    // Field-level details name the field.
    let (_, v, _) = call(&h.main, "POST", &format!("{P}/apply"), Some(json!({"resources": [{"apiVersion": "net.routerd.net/v1alpha1", "kind": "Interface", "metadata": {"name": "x"}, "spec": {"ifname": "x", "colour": "red"}}]}).to_string().into_bytes())).await;
    assert_eq!(v["error"]["details"][0]["field"], "spec.colour");
    assert_eq!(v["error"]["details"][0]["resource"], "Interface/x");

    // Mutations on the status socket are refused; plan and validate are allowed there.
    for path in ["/apply", "/delete", "/rollback"] {
        let (code, v) = post(&h.status, path, json!({"manifest": MANIFEST})).await;
        assert_eq!(
            (code, v["error"]["code"].as_str()),
            (403, Some("ReadOnlySocket")),
            "{path}"
        );
    }
    let (code, v) = post(&h.status, "/validate", json!({"resources": [{"apiVersion": "net.routerd.net/v1alpha1", "kind": "IPv4StaticAddress", "metadata": {"name": "x"}, "spec": {"interface": "nope", "address": "192.0.2.9/24"}}]})).await;
    assert_eq!(code, 200);
    assert_eq!(v["valid"], false);
    assert_eq!(v["errors"][0]["field"], "spec.interface");
    let (code, v) = post(
        &h.status,
        "/plan",
        json!({"manifest": MANIFEST.replace("192.0.2.1/24", "192.0.2.2/24")}),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(v["dryRun"], true);
    assert!(v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["action"] == "updated"));

    // ifGeneration precondition.
    let (code, v) = post(&h.main, "/apply", json!({"manifest": MANIFEST.replace("192.0.2.1/24", "192.0.2.2/24"), "ifGeneration": gen + 5})).await;
    assert_eq!((code, v["error"]["code"].as_str()), (409, Some("Conflict")));
    assert_eq!(generation(&h).await, gen);

    // Routing errors.
    let (code, v, headers) = call(&h.status, "GET", &format!("{P}/apply"), None).await;
    assert_eq!(
        (code, v["error"]["code"].as_str()),
        (405, Some("MethodNotAllowed"))
    );
    assert_eq!(headers.get("allow").unwrap(), "POST");
    let (code, _, _) = call(&h.status, "GET", &format!("{P}/nope"), None).await;
    assert_eq!(code, 404);
    let (code, v, _) = call(&h.status, "GET", &format!("{P}/events?since=abc"), None).await;
    assert_eq!(
        (code, v["error"]["code"].as_str()),
        (400, Some("BadRequest"))
    );
    assert!(v["error"]["message"].as_str().unwrap().contains("since"));
    // No DNSResolver: no query history, and bad parameters are still refused by name.
    let (code, v, _) = call(&h.status, "GET", &format!("{P}/dns-queries"), None).await;
    assert_eq!(
        (code, v["kind"].as_str()),
        (200, Some("DNSQueryList")),
        "{v}"
    );
    assert_eq!(v["items"], serde_json::json!([]));
    let (code, v, _) = call(
        &h.status,
        "GET",
        &format!("{P}/dns-queries?aggregate=domain"),
        None,
    )
    .await;
    assert_eq!(code, 400, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("query parameter aggregate:"));

    // The rejections were recorded as events.
    let ev = get(
        &h.status,
        "/events?topic=routerd.config.rejected&limit=1000",
    )
    .await;
    assert!(ev["items"].as_array().unwrap().len() >= 6, "{ev}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_wakes_on_commit_and_state_survives_restart() {
    let h = Harness::start().await;
    let last = get(&h.status, "/events").await["cursor"]
        .as_str()
        .unwrap()
        .to_string();
    let status_sock = h.status.clone();
    let waiter = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let v = get(
            &status_sock,
            &format!("/events?since={last}&wait=10s&topic=routerd.config.*"),
        )
        .await;
        (started.elapsed(), v)
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (code, _) = post(&h.main, "/apply", json!({"manifest": MANIFEST})).await;
    assert_eq!(code, 200);
    let (elapsed, v) = waiter.await.unwrap();
    assert!(
        elapsed < Duration::from_secs(5),
        "long-poll took {elapsed:?}"
    );
    assert_eq!(v["items"][0]["topic"], "routerd.config.applied");
    assert_eq!(v["items"][0]["attributes"]["generation"], "1");

    let openapi = get(&h.status, "/openapi.json").await;
    assert_eq!(openapi["openapi"], "3.1.0");
    assert!(openapi["paths"][format!("{P}/apply")]["post"].is_object());

    let cursor_before: u64 = get(&h.status, "/events?latest=true&limit=1").await["cursor"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let host = h.host.clone();
    let dir = h.stop().await;
    // Restart on the same state: same generation, cursors continue.
    let h = Harness::start_in(dir, host).await;
    assert_eq!(generation(&h).await, 1);
    wait_phase(&h, "IPv4StaticAddress", "lan", "Applied").await;
    let (code, _) = post(
        &h.main,
        "/apply",
        json!({"manifest": MANIFEST.replace("192.0.2.1/24", "192.0.2.3/24")}),
    )
    .await;
    assert_eq!(code, 200);
    let after: u64 = get(&h.status, "/events?latest=true&limit=1").await["cursor"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(after > cursor_before);
    assert!(h.state_dir.join("routerd.db").exists());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applies_whose_client_hangs_up_leave_the_ledger_and_memory_in_step() {
    use tokio::io::AsyncWriteExt;
    let h = Harness::start().await;
    let apply_body = |i: usize| {
        json!({"manifest": format!(
            "apiVersion: net.routerd.net/v1alpha1\nkind: Interface\nmetadata: {{name: lan}}\nspec: {{ifname: lan{i}}}\n"
        )})
        .to_string()
    };
    for i in 0..40 {
        // The whole request, then the client is gone before the answer.
        let body = apply_body(i);
        let mut s = tokio::net::UnixStream::connect(&h.main).await.unwrap();
        let request = format!(
            "POST {P}/apply HTTP/1.1\r\nhost: routerd\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(request.as_bytes()).await.unwrap();
        drop(s);
    }
    // Time for routerd to read them and notice the hang-ups.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let newest = get(&h.status, "/generations").await["items"][0]["generation"].clone();
    assert_eq!(newest.as_u64().unwrap_or(0), generation(&h).await);
    let (code, r) = post(
        &h.main,
        "/apply",
        serde_json::from_str(&apply_body(1000)).unwrap(),
    )
    .await;
    assert_eq!(code, 200, "an apply after hung-up ones succeeds: {r}");
    let newest = get(&h.status, "/generations").await["items"][0]["generation"].clone();
    assert_eq!(newest, r["generation"]);
    assert_eq!(Some(generation(&h).await), r["generation"].as_u64());
    h.stop().await;
}

fn udp_entry(n: u32) -> routerd_proto::netfilter::conntrack::ConntrackEntry {
    use routerd_proto::netfilter::conntrack::{ConntrackEntry, Status, Tuple, IPPROTO_UDP};
    let client = std::net::IpAddr::V4(std::net::Ipv4Addr::from(0xc000_0200 + (n % 200)));
    let server: std::net::IpAddr = "198.51.100.53".parse().unwrap();
    ConntrackEntry {
        family: routerd_proto::netfilter::nlattr::AF_INET,
        protocol: IPPROTO_UDP,
        original: Tuple::with_ports(IPPROTO_UDP, client, 20000 + n as u16, server, 53),
        reply: Tuple::with_ports(IPPROTO_UDP, server, 53, client, 20000 + n as u16),
        tcp_state: None,
        timeout: Some(30),
        mark: Some(0),
        zone: None,
        status: Status(Status::CONFIRMED),
        original_counters: None,
        reply_counters: None,
        id: None,
    }
}

/// `/connections` through the real sockets on a fake table: the envelope, filters, 400s naming their
/// parameter, 503 with the reason when the table cannot be read, and the usage alarm's event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_table_filters_errors_and_usage_alarm() {
    let h = Harness::start().await;
    h.conntrack.set_entries((0..120).map(udp_entry).collect());
    let v = get(&h.status, "/connections?protocol=udp&port=20005").await;
    assert_eq!(v["kind"], "ConnectionTable");
    assert_eq!(
        (
            v["count"].as_u64(),
            v["max"].as_u64(),
            v["matched"].as_u64()
        ),
        (Some(120), Some(1000), Some(1))
    );
    assert_eq!(v["items"][0]["original"]["sourcePort"], 20005);
    assert_eq!(v["truncated"], false);
    let v = get(&h.status, "/connections").await;
    assert_eq!(
        (
            v["items"].as_array().unwrap().len(),
            v["truncated"].as_bool()
        ),
        (100, Some(true))
    );
    for (query, name) in [
        ("family=ipx", "family"),
        ("limit=-3", "limit"),
        ("src=10.0.0.999", "src"),
    ] {
        let (code, v, _) = call(&h.status, "GET", &format!("{P}/connections?{query}"), None).await;
        assert_eq!(
            (code, v["error"]["code"].as_str()),
            (400, Some("BadRequest")),
            "{query}"
        );
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("query parameter {name}:")),
            "{message}"
        );
    }

    // 950 of 1000: the observer (polling every 100 ms here) reports it once.
    h.conntrack.set_entries((0..950).map(udp_entry).collect());
    let mut found = Value::Null;
    for _ in 0..100 {
        found = get(&h.status, "/events?topic=routerd.conntrack.usage.high").await;
        if !found["items"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let items = found["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{found}");
    assert_eq!(items[0]["attributes"]["count"], "950");
    assert_eq!(items[0]["attributes"]["max"], "1000");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = get(&h.status, "/events?topic=routerd.conntrack.usage.high").await;
    assert_eq!(
        again["items"].as_array().unwrap().len(),
        1,
        "no flapping: {again}"
    );

    h.conntrack
        .set_failure(Some(routerd_host::ConntrackError::PermissionDenied(
            "EPERM".into(),
        )));
    let (code, v, _) = call(&h.status, "GET", &format!("{P}/connections"), None).await;
    assert_eq!(
        (code, v["error"]["code"].as_str()),
        (503, Some("Unavailable"))
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("CAP_NET_ADMIN"),
        "{v}"
    );
    h.stop().await;
}

/// `/dns-queries` reads the `dns-queries.db` that each DNSResolver's daemon writes in its state directory
/// (here written directly through the store module the daemon uses), through the real sockets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_queries_come_from_each_resolvers_log() {
    use routerd_store::dns_queries::{DnsQueryLog, DnsQueryRecord, DNS_QUERY_LOG_FILE};
    let h = Harness::start().await;
    let manifest =
        "apiVersion: net.routerd.net/v1alpha1\nkind: DNSResolver\nmetadata: {name: lan}\n\
                    spec: {listen: ['127.0.0.1:5353'], upstreams: [{address: 192.0.2.53}]}\n";
    let (code, v) = post(&h.main, "/apply", json!({"manifest": manifest})).await;
    assert_eq!(code, 200, "{v}");
    let dir = h.state_dir.join("dns-resolver/lan");
    std::fs::create_dir_all(&dir).unwrap();
    let log = DnsQueryLog::open(&dir.join(DNS_QUERY_LOG_FILE)).unwrap();
    let row = |name: &str, upstream: Option<&str>| DnsQueryRecord {
        time: routerd_api::Timestamp::now(),
        client: "192.168.1.20".parse().unwrap(),
        name: name.into(),
        qtype: "A".into(),
        rcode: "NOERROR".into(),
        answers: vec![format!("{name}. 60 IN A 192.168.1.10")],
        upstream: upstream.map(Into::into),
        cache_hit: false,
        duration_micros: 120,
    };
    log.submit(vec![
        row("nas.home.arpa", None),
        row("www.example.com", Some("192.0.2.53:53")),
    ])
    .unwrap();
    log.flush().unwrap();
    log.close();
    let list = get(&h.status, "/dns-queries?client=192.168.1.0/24").await;
    assert_eq!(list["kind"], "DNSQueryList", "{list}");
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["www.example.com", "nas.home.arpa"]);
    assert_eq!(list["items"][0]["upstream"], "192.0.2.53:53");
    let top = get(&h.status, "/dns-queries?aggregate=client").await;
    assert_eq!(top["kind"], "DNSQueryAggregate", "{top}");
    assert_eq!(top["items"], json!([{"key": "192.168.1.20", "count": 2}]));
    h.stop().await;
}

const FIREWALL: &str = r#"
apiVersion: net.routerd.net/v1alpha1
kind: Interface
metadata: {name: lan}
spec: {ifname: rt-lan}
---
apiVersion: net.routerd.net/v1alpha1
kind: Interface
metadata: {name: wan}
spec: {ifname: rt-wan}
---
apiVersion: firewall.routerd.net/v1alpha1
kind: FirewallZone
metadata: {name: lan}
spec: {interfaces: [lan], input: accept}
---
apiVersion: firewall.routerd.net/v1alpha1
kind: FirewallZone
metadata: {name: wan}
spec: {interfaces: [wan], log: true}
---
apiVersion: firewall.routerd.net/v1alpha1
kind: FirewallPolicy
metadata: {name: lan-to-wan}
spec: {from: lan, to: wan, action: accept}
---
apiVersion: firewall.routerd.net/v1alpha1
kind: PortForward
metadata: {name: web}
spec: {from: wan, protocol: tcp, port: 8080, to: {address: 192.0.2.10, port: 80}}
---
apiVersion: net.routerd.net/v1alpha1
kind: NAT44Rule
metadata: {name: masq}
spec: {type: masquerade, outInterface: wan, sourceRanges: [192.0.2.0/24]}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firewall_is_applied_shown_by_resource_and_checked_at_apply() {
    let h = Harness::start().await;
    let (code, v) = post(&h.main, "/apply", json!({"manifest": FIREWALL})).await;
    assert_eq!(code, 200, "{v}");
    let nat = wait_phase(&h, "NAT44Rule", "masq", "Applied").await;
    assert_eq!(nat["status"]["rendered"], 1, "{nat}");
    assert_eq!(nat["status"]["device"], "rt-wan", "{nat}");
    assert!(nat["status"]["lastAppliedAt"].is_string(), "{nat}");
    let zone = wait_phase(&h, "FirewallZone", "wan", "Applied").await;
    assert_eq!(zone["status"]["rendered"], 4, "{zone}");

    let table = get(&h.status, "/firewall").await;
    assert_eq!(table["kind"], "FirewallTable");
    assert_eq!(table["present"], true, "{table}");
    let rules_of = |kind: &str, name: &str| -> Vec<String> {
        table["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["kind"] == kind && r["name"] == name)
            .flat_map(|r| r["rules"].as_array().unwrap().clone())
            .map(|r| {
                format!(
                    "{} {}",
                    r["chain"].as_str().unwrap(),
                    r["rule"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(
        rules_of("NAT44Rule", "masq"),
        ["postrouting meta nfproto ipv4 oifname \"rt-wan\" ip saddr 192.0.2.0/24 masquerade"]
    );
    assert_eq!(
        rules_of("PortForward", "web"),
        [
            "zone-wan-forward ct status dnat ip daddr 192.0.2.10 meta l4proto tcp th dport 80 accept",
            "prerouting iifname \"rt-wan\" fib daddr type local meta l4proto tcp th dport 8080 dnat ip to 192.0.2.10:80"
        ]
    );
    let status = get(&h.status, "/status").await;
    assert_eq!(
        status["status"]["forwarding"],
        json!({"ipv4": true, "ipv6": true})
    );
    let events = get(&h.status, "/events?topic=routerd.firewall.applied").await;
    assert!(!events["items"].as_array().unwrap().is_empty(), "{events}");

    // What the spec alone shows is refused at apply, naming the field and the fix.
    let bad = json!({"resources": [{"apiVersion": "firewall.routerd.net/v1alpha1", "kind": "FirewallRule",
        "metadata": {"name": "bad"}, "spec": {"from": "wan", "to": "router", "protocol": "icmp",
        "ports": ["90-80"], "action": "accept", "rateLimit": "5/fortnight"}}]});
    let (code, v) = post(&h.main, "/apply", bad).await;
    assert_eq!(code, 422, "{v}");
    let text = v.to_string();
    assert!(text.contains("spec.ports"), "{text}");
    assert!(text.contains("spec.rateLimit"), "{text}");
    let (code, v) = post(&h.main, "/apply", json!({"resources": [{"apiVersion": "firewall.routerd.net/v1alpha1", "kind": "FirewallPolicy",
        "metadata": {"name": "x"}, "spec": {"from": "lan", "to": "dmz", "action": "accept"}}]})).await;
    assert_eq!(code, 422, "{v}");
    assert!(v.to_string().contains("spec.to"), "{v}");

    // Deleting every firewall and NAT resource removes the table.
    let (code, v) = post(
        &h.main,
        "/apply",
        json!({"manifest": MANIFEST, "mode": "replace"}),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    for _ in 0..300 {
        if get(&h.status, "/firewall").await["present"] == false {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the table was not removed");
}
