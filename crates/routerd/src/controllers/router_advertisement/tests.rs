use super::*;
use crate::controllers::runtime::testing::{resource, Fixture};
use crate::controllers::status_book::StatusUpdate;
use routerd_api::status::DHCPv6Lease;
use routerd_api::{Condition, Timestamp};
use routerd_host::Ipv6AddressFlags;
use serde_json::json;

const LAN: u32 = 2;

fn bound(prefix: &str, acquired: Timestamp, preferred: u32, valid: u32) -> StatusUpdate {
    let pd = DHCPv6PrefixDelegationStatus {
        lease: Some(DHCPv6Lease {
            prefix: Some(prefix.into()),
            preferred_lifetime_seconds: Some(preferred),
            valid_lifetime_seconds: Some(valid),
            acquired_at: Some(acquired),
            state: Some("Bound".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    StatusUpdate::new(
        Phase::Bound,
        vec![Condition::new("PrefixBound", true, "Bound", "")],
    )
    .with_fields(&pd)
}

fn desired(ra: serde_json::Value, extra: Vec<routerd_api::Resource>) -> Vec<routerd_api::Resource> {
    let mut v = vec![
        resource("Interface", "lan", json!({"ifname": "rt-lan"})),
        resource(
            "IPv6DelegatedAddress",
            "lan6",
            json!({"prefixDelegation": "wan-pd", "interface": "lan", "subnetID": "1"}),
        ),
        resource("IPv6RouterAdvertisement", "lan", ra),
    ];
    v.extend(extra);
    v
}

fn spec_of(t: &Fixture) -> IPv6RouterAdvertisementSpec {
    match &t.context().desired.get(KIND, "lan").unwrap().spec {
        ResourceSpec::IPv6RouterAdvertisement(s) => s.clone(),
        _ => panic!("an IPv6RouterAdvertisement"),
    }
}

fn address(a: &str, deprecated: bool) -> Ipv6Address {
    Ipv6Address {
        ifindex: LAN,
        address: a.parse().unwrap(),
        prefix_len: 64,
        preferred_lifetime: None,
        valid_lifetime: None,
        flags: Ipv6AddressFlags {
            deprecated,
            ..Default::default()
        },
    }
}

/// A `from` prefix is the delegated address's subnet with the delegation's lifetime ends, identical
/// across reconciles (so the daemon is not reloaded for nothing), and follows a renumbering.
#[tokio::test]
async fn a_delegated_prefix_follows_the_delegation() {
    let mut t = Fixture::new();
    t.set_desired(desired(
        json!({"interface": "lan", "prefixes": [{"from": "lan6"}, {"prefix": "2001:db8:ff::/64"}],
               "dnssl": ["home.arpa"], "rdnss": ["2001:db8:ff::53"], "maxInterval": "30s", "routerLifetime": "90s"}),
        vec![],
    ));
    let spec = spec_of(&t);
    let ctx = t.context();
    // No delegation yet: only the literal prefix.
    let c = daemon_config(&ctx, &spec, "rt-lan", LAN, &[]);
    assert_eq!(c.prefixes.len(), 1);
    assert_eq!(c.prefixes[0].prefix, "2001:db8:ff::/64");
    assert_eq!(
        c.prefixes[0].valid_lifetime_seconds, None,
        "RFC 4861 defaults apply in the daemon"
    );
    assert_eq!(
        (c.router_lifetime_seconds, c.max_interval_seconds),
        (90, 30)
    );
    assert_eq!(c.rdnss, ["2001:db8:ff::53".parse::<Ipv6Addr>().unwrap()]);

    let acquired = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
    let pd = ResourceId::new(Kind::DHCPv6PrefixDelegation, "wan-pd");
    ctx.status
        .set(&pd, 1, bound("2001:db8:1200:1200::/56", acquired, 14, 20))
        .await;
    let c1 = daemon_config(&ctx, &spec, "rt-lan", LAN, &[]);
    let p = &c1.prefixes[0];
    assert_eq!(p.prefix, "2001:db8:1200:1201::/64");
    assert!(p.autonomous);
    assert_eq!(
        p.preferred_until,
        Some(acquired.saturating_add(Duration::from_secs(14)))
    );
    assert_eq!(
        p.valid_until,
        Some(acquired.saturating_add(Duration::from_secs(20)))
    );
    assert_eq!(daemon_config(&ctx, &spec, "rt-lan", LAN, &[]), c1, "stable");

    // Renumbered: the new subnet replaces the old in the config (the daemon deprecates the old).
    ctx.status
        .set(&pd, 2, bound("2001:db8:1200:1300::/56", acquired, 14, 20))
        .await;
    let c2 = daemon_config(&ctx, &spec, "rt-lan", LAN, &[]);
    assert_eq!(c2.prefixes[0].prefix, "2001:db8:1200:1301::/64");
    assert_eq!(c2.prefixes.len(), 2);

    // Lost: back to the literal alone.
    let lost = StatusUpdate::new(
        Phase::Pending,
        vec![Condition::new("PrefixBound", false, "Soliciting", "")],
    );
    ctx.status.set(&pd, 3, lost).await;
    assert_eq!(
        daemon_config(&ctx, &spec, "rt-lan", LAN, &[])
            .prefixes
            .len(),
        1
    );
}

/// Without `rdnss` the router's address on the LAN is advertised when a DNSResolver listens there.
#[tokio::test]
async fn rdnss_defaults_to_the_resolver_on_the_interface() {
    let mut t = Fixture::new();
    let on_lan = [
        address("fe80::1", false),
        address("2001:db8:1200:1201::1", false),
        address("2001:db8:1200:1101::1", true),
    ];
    t.set_desired(desired(
        json!({"interface": "lan", "prefixes": [{"from": "lan6"}]}),
        vec![],
    ));
    let spec = spec_of(&t);
    assert!(
        daemon_config(&t.context(), &spec, "rt-lan", LAN, &on_lan)
            .rdnss
            .is_empty(),
        "no resolver"
    );

    let resolver = |listen: serde_json::Value| {
        resource(
            "DNSResolver",
            "lan",
            json!({"listen": listen, "upstreams": [{"address": "192.0.2.53"}]}),
        )
    };
    t.set_desired(desired(
        json!({"interface": "lan", "prefixes": [{"from": "lan6"}]}),
        vec![resolver(json!([
            "[2001:db8:1200:1201::1]:53",
            "[2001:db8:99::1]:53",
            "127.0.0.1:53"
        ]))],
    ));
    assert_eq!(
        daemon_config(&t.context(), &spec, "rt-lan", LAN, &on_lan).rdnss,
        ["2001:db8:1200:1201::1".parse::<Ipv6Addr>().unwrap()],
        "only the listener on this link"
    );
    t.set_desired(desired(
        json!({"interface": "lan", "prefixes": [{"from": "lan6"}]}),
        vec![resolver(json!(["[::]:53"]))],
    ));
    assert_eq!(
        daemon_config(&t.context(), &spec, "rt-lan", LAN, &on_lan).rdnss,
        ["2001:db8:1200:1201::1".parse::<Ipv6Addr>().unwrap()],
        "a wildcard: the link's global, not deprecated addresses"
    );
    // An explicit empty list advertises none.
    t.set_desired(desired(
        json!({"interface": "lan", "prefixes": [{"from": "lan6"}], "rdnss": []}),
        vec![resolver(json!(["[::]:53"]))],
    ));
    let spec = spec_of(&t);
    assert!(daemon_config(&t.context(), &spec, "rt-lan", LAN, &on_lan)
        .rdnss
        .is_empty());
}

/// A prefix longer than /64 cannot carry SLAAC: advertised on-link only.
#[test]
fn a_non_64_subnet_is_not_autonomous() {
    let spec: IPv6DelegatedAddressSpec = serde_json::from_value(
        json!({"prefixDelegation": "wan-pd", "interface": "lan", "prefixLength": 80}),
    )
    .unwrap();
    let s = ResourceStatus {
        phase: Phase::Bound,
        fields: serde_json::to_value(DHCPv6PrefixDelegationStatus {
            lease: Some(DHCPv6Lease {
                prefix: Some("2001:db8:1200::/56".into()),
                preferred_lifetime_seconds: Some(u32::MAX),
                valid_lifetime_seconds: Some(u32::MAX),
                acquired_at: Some(Timestamp::now()),
                ..Default::default()
            }),
            ..Default::default()
        })
        .unwrap()
        .as_object()
        .unwrap()
        .clone(),
        conditions: Vec::new(),
        observed_generation: None,
        since: None,
    };
    let p = carve_from(&spec, Some(&s), true).unwrap();
    assert_eq!(p.prefix, "2001:db8:1200::/80");
    assert!(!p.autonomous);
    assert_eq!(
        p.valid_lifetime_seconds,
        Some(u32::MAX),
        "infinite stays infinite"
    );
    assert_eq!(p.valid_until, None);
}

#[tokio::test]
async fn a_missing_executable_is_an_error_naming_it() {
    let mut t = Fixture::new();
    t.host.add_link("rt-lan", LAN, true);
    t.set_desired(desired(
        json!({"interface": "lan", "prefixes": [{"prefix": "2001:db8:1::/64"}]}),
        vec![],
    ));
    RouterAdvertisementController
        .reconcile(&t.context())
        .await
        .unwrap();
    let s = t.status.get(&ResourceId::new(KIND, "lan")).unwrap();
    assert_eq!(s.phase, Phase::Error);
    assert!(s.conditions[0].message.contains(EXECUTABLE));
}
