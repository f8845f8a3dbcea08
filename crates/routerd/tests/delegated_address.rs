//! IPv6DelegatedAddress through routerd's control API (the in-process harness with the fake host): the
//! controller is registered and woken, `subnetID` is spelled as `resources.md` has it, and without a
//! bound delegation nothing is put on the LAN. The lease-driven behaviour (lifetimes, renew, renumbering,
//! expiry) is tested against the fake host in the controller's own tests and end to end in
//! `scripts/e2e/dhcpv6_pd.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed set-up is the test's failure

mod common;

use common::{call, Harness, P};
use routerd_host::NetHost;
use serde_json::{json, Value};
use std::time::Duration;

const MANIFEST: &str = r#"
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
apiVersion: net.routerd.net/v1alpha1
kind: DHCPv6PrefixDelegation
metadata: {name: wan-pd}
spec: {interface: wan, prefixLengthHint: 56}
---
apiVersion: net.routerd.net/v1alpha1
kind: IPv6DelegatedAddress
metadata: {name: lan-v6}
spec: {prefixDelegation: wan-pd, interface: lan, subnetID: "1", addressSuffix: "::1"}
"#;

async fn resource(h: &Harness, kind: &str, name: &str) -> (u16, Value) {
    let (code, v, _) = call(
        &h.status,
        "GET",
        &format!("{P}/resources/{kind}/{name}"),
        None,
    )
    .await;
    (code, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_for_the_delegation_and_spells_subnet_id_as_documented() {
    let h = Harness::start().await;
    let (code, r, _) = call(
        &h.main,
        "POST",
        &format!("{P}/apply"),
        Some(json!({"manifest": MANIFEST}).to_string().into_bytes()),
    )
    .await;
    assert_eq!(code, 200, "{r}");

    // No DHCPv6 server reaches the fake host's links: the delegation never binds, so the address
    // resource waits with PrefixNotBound (not ControllerNotAvailable: its controller runs).
    let mut last = Value::Null;
    for _ in 0..300 {
        let (code, v) = resource(&h, "IPv6DelegatedAddress", "lan-v6").await;
        assert_eq!(code, 200, "{v}");
        last = v;
        if last["status"]["conditions"][0]["reason"] == "PrefixNotBound" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(last["status"]["phase"], "Pending", "{last}");
    assert_eq!(
        last["status"]["conditions"][0]["reason"], "PrefixNotBound",
        "{last}"
    );
    assert_eq!(last["spec"]["subnetID"], "1", "{last}");
    assert!(
        last["status"].get("address").is_none_or(Value::is_null),
        "{last}"
    );
    assert!(h.host.ipv6_addresses().await.unwrap().is_empty());

    // The camelCase spelling is refused with the field named, and changes nothing.
    let wrong = MANIFEST.replace("subnetID", "subnetId");
    let (code, r, _) = call(
        &h.main,
        "POST",
        &format!("{P}/apply"),
        Some(json!({"manifest": wrong}).to_string().into_bytes()),
    )
    .await;
    assert_eq!(code, 422, "{r}");
    assert!(r.to_string().contains("subnetId"), "{r}");
    h.stop().await;
}
