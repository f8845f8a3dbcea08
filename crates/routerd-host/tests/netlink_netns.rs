//! NetlinkHost against the real kernel, each test in its own throw-away
//! network namespace. Needs root and iproute2; skipped (with a message)
//! otherwise. All netlink traffic happens on a thread that has entered the
//! test namespace, never in the host's own namespace.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed set-up is the test's failure

use std::future::Future;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use routerd_host::{
    HostError, Ipv4Address, Ipv4Route, Ipv4Rule, Ipv6Address, Ipv6Route, LinkChange, NetHost,
    NetlinkHost, OperState, IPV6_DEFAULT_METRIC,
};
use routerd_testkit::{ip_in, Netns};
use tokio::sync::mpsc;

/// Runs `ip -n <ns> ...` for setup and for checking what the kernel shows.
#[derive(Clone)]
struct Ip {
    ns: String,
}

impl Ip {
    fn output(&self, args: &[&str]) -> (bool, String) {
        ip_in(&self.ns, args)
    }

    /// Runs a command that must succeed and returns its output.
    fn run(&self, args: &[&str]) -> String {
        let (ok, text) = self.output(args);
        assert!(ok, "ip -n {} {}: {text}", self.ns, args.join(" "));
        text
    }

    fn ifindex(&self, name: &str) -> u32 {
        let text = self.run(&["-o", "link", "show", "dev", name]);
        text.split(':')
            .next()
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no ifindex in {text:?}"))
    }
}

/// A throw-away namespace (routerd-testkit) and the test bodies that run inside it.
struct TestNetns {
    netns: Netns,
    ip: Ip,
}

impl TestNetns {
    /// `None` (after a counted skip) when the environment cannot run these tests.
    fn create() -> Option<TestNetns> {
        Netns::create("rdh").map(|netns| TestNetns {
            ip: Ip {
                ns: netns.name().to_string(),
            },
            netns,
        })
    }

    /// Runs `body` with a NetlinkHost created on a thread that entered this namespace, on a
    /// current-thread runtime, within the testkit's body timeout.
    fn run<F, Fut>(&self, body: F)
    where
        F: FnOnce(NetlinkHost, Ip) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let ip = self.ip.clone();
        self.netns.run(move || async move {
            let host = NetlinkHost::new().expect("NetlinkHost::new");
            body(host, ip).await
        });
    }
}

/// A veth pair v0/v1 in the namespace, both down; their ifindexes.
fn veth(ip: &Ip) -> (u32, u32) {
    ip.run(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
    (ip.ifindex("v0"), ip.ifindex("v1"))
}

/// A veth pair v0/v1 in the namespace, both up, 10.1.0.1/24 on v0.
fn veth_with_address(ip: &Ip) -> (u32, u32) {
    let pair = veth(ip);
    ip.run(&["link", "set", "v0", "up"]);
    ip.run(&["link", "set", "v1", "up"]);
    ip.run(&["addr", "add", "10.1.0.1/24", "dev", "v0"]);
    pair
}

/// `$result` must be an error of variant `HostError::$variant`: controllers
/// branch on the variant, so the kind matters, not just the failure.
macro_rules! assert_host_err {
    ($result:expr, $variant:ident, $what:expr) => {{
        let err = $result.expect_err($what);
        assert!(matches!(err, HostError::$variant(_)), "{}: {err}", $what);
    }};
}

/// Waits up to 10 s for a change notification that `wanted` accepts; fails
/// listing the notifications seen meanwhile.
async fn expect_change(changes: &mut mpsc::Receiver<String>, wanted: impl Fn(&str) -> bool) {
    let mut seen = Vec::new();
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(message) = changes.recv().await {
            let hit = wanted(&message);
            seen.push(message);
            if hit {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "notifications seen: {seen:?}");
}

fn ipv4(s: &str) -> Ipv4Addr {
    s.parse().expect("IPv4 literal")
}

#[test]
fn links_are_listed_and_changed() {
    let Some(ns) = TestNetns::create() else {
        return;
    };
    let (v0, v1) = veth(&ns.ip);
    ns.run(move |host, ip| async move {
        let links = host.links().await.expect("links");
        let mut names: Vec<&str> = links.iter().map(|l| l.name.as_str()).collect();
        names.sort_unstable();
        // Only the namespace's own links: proof we are not on the host.
        assert_eq!(names, vec!["lo", "v0", "v1"]);
        let link = links.iter().find(|l| l.name == "v0").expect("v0");
        assert_eq!(link.index, v0);
        assert!(!link.admin_up);
        assert_eq!(link.oper_state, OperState::Down);
        assert_eq!(link.mtu, Some(1500));
        let mac = link.mac.clone().expect("veth has a MAC");
        assert_eq!(mac.len(), 17);
        assert_eq!(mac, mac.to_lowercase());

        host.set_link(
            v0,
            LinkChange {
                admin_up: Some(true),
                mtu: Some(1400),
                mac: Some([0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x01]),
            },
        )
        .await
        .expect("set v0");
        let shown = ip.run(&["link", "show", "dev", "v0"]);
        assert!(shown.contains("mtu 1400"), "{shown}");
        assert!(shown.contains("02:aa:bb:cc:dd:01"), "{shown}");
        assert!(shown.contains(",UP") || shown.contains("<UP"), "{shown}");

        host.set_link(
            v1,
            LinkChange {
                admin_up: Some(true),
                ..LinkChange::default()
            },
        )
        .await
        .expect("set v1 up");
        // Carrier comes up asynchronously once both ends are up.
        let mut oper = OperState::Unknown;
        for _ in 0..100 {
            let links = host.links().await.expect("links");
            let v0_link = links.iter().find(|l| l.index == v0).expect("v0");
            assert!(v0_link.admin_up);
            assert_eq!(v0_link.mtu, Some(1400));
            assert_eq!(v0_link.mac.as_deref(), Some("02:aa:bb:cc:dd:01"));
            oper = v0_link.oper_state.clone();
            if oper == OperState::Up {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(oper, OperState::Up);

        host.set_link(
            v0,
            LinkChange {
                admin_up: Some(false),
                ..LinkChange::default()
            },
        )
        .await
        .expect("set v0 down");
        let shown = ip.run(&["link", "show", "dev", "v0"]);
        assert!(shown.contains("state DOWN"), "{shown}");

        assert_host_err!(
            host.set_link(9999, LinkChange::default()).await,
            NotFound,
            "unknown link"
        );
    });
}

#[test]
fn address_lifecycle() {
    let Some(ns) = TestNetns::create() else {
        return;
    };
    let (v0, _v1) = veth(&ns.ip);
    ns.run(move |host, ip| async move {
        let addr = Ipv4Address {
            ifindex: v0,
            address: ipv4("10.5.0.1"),
            prefix_len: 24,
        };
        host.add_ipv4_address(addr).await.expect("add address");
        let shown = ip.run(&["-4", "addr", "show", "dev", "v0"]);
        assert!(shown.contains("inet 10.5.0.1/24"), "{shown}");
        assert!(host.ipv4_addresses().await.expect("list").contains(&addr));

        assert_host_err!(
            host.add_ipv4_address(addr).await,
            AlreadyExists,
            "duplicate"
        );

        // Same address, other prefix: a different assignment, untouched by
        // deleting the first one.
        let other = Ipv4Address {
            prefix_len: 16,
            ..addr
        };
        host.add_ipv4_address(other).await.expect("add /16");

        host.del_ipv4_address(addr).await.expect("delete");
        let shown = ip.run(&["-4", "addr", "show", "dev", "v0"]);
        assert!(!shown.contains("10.5.0.1/24"), "{shown}");
        assert!(shown.contains("10.5.0.1/16"), "{shown}");
        let listed = host.ipv4_addresses().await.expect("list");
        assert!(!listed.contains(&addr), "{listed:?}");
        assert!(listed.contains(&other), "{listed:?}");

        assert_host_err!(host.del_ipv4_address(addr).await, NotFound, "absent");

        assert_host_err!(
            host.add_ipv4_address(Ipv4Address {
                ifindex: 9999,
                ..addr
            })
            .await,
            NotFound,
            "unknown link"
        );
    });
}

#[test]
fn routes_are_added_listed_and_deleted_exactly() {
    let Some(ns) = TestNetns::create() else {
        return;
    };
    let (v0, _v1) = veth_with_address(&ns.ip);
    ns.run(move |host, ip| async move {
        // Via a gateway on the connected subnet, main table.
        let via = Ipv4Route {
            destination: ipv4("10.9.0.0"),
            prefix_len: 24,
            gateway: Some(ipv4("10.1.0.254")),
            ifindex: None,
            metric: None,
            table: 254,
        };
        host.add_ipv4_route(via).await.expect("add via route");
        let shown = ip.run(&["route", "show", "10.9.0.0/24"]);
        assert!(
            shown.contains("via 10.1.0.254 dev v0 proto static"),
            "{shown}"
        );
        let main = host.ipv4_routes(254).await.expect("list main");
        let listed = Ipv4Route {
            ifindex: Some(v0),
            ..via
        };
        assert!(main.contains(&listed), "{main:?}");
        // The connected route is listed too (protocol-agnostic).
        assert!(
            main.iter()
                .any(|r| r.destination == ipv4("10.1.0.0") && r.gateway.is_none()),
            "{main:?}"
        );

        assert_host_err!(host.add_ipv4_route(via).await, AlreadyExists, "duplicate");

        // Gateway not on any subnet, with and without a default route.
        let far = Ipv4Route {
            destination: ipv4("10.8.0.0"),
            gateway: Some(ipv4("192.168.99.1")),
            ..via
        };
        assert_host_err!(
            host.add_ipv4_route(far).await,
            Unreachable,
            "unreachable gw"
        );
        let default = Ipv4Route {
            destination: Ipv4Addr::UNSPECIFIED,
            prefix_len: 0,
            ..via
        };
        host.add_ipv4_route(default).await.expect("add default");
        let shown = ip.run(&["route", "show", "default"]);
        assert!(shown.contains("default via 10.1.0.254"), "{shown}");
        assert_host_err!(
            host.add_ipv4_route(far).await,
            Unreachable,
            "unreachable gw"
        );
        host.del_ipv4_route(default).await.expect("delete default");

        // Device route without gateway gets scope link.
        let device = Ipv4Route {
            destination: ipv4("10.7.0.0"),
            gateway: None,
            ifindex: Some(v0),
            ..via
        };
        host.add_ipv4_route(device).await.expect("add device route");
        let shown = ip.run(&["route", "show", "10.7.0.0/24"]);
        assert!(shown.contains("dev v0 proto static scope link"), "{shown}");
        // A gateway-less delete must not remove the route via a gateway.
        assert_host_err!(
            host.del_ipv4_route(Ipv4Route {
                gateway: None,
                ..via
            })
            .await,
            NotFound,
            "no such device route"
        );
        host.del_ipv4_route(device)
            .await
            .expect("delete device route");

        // Metric and a non-main table; a second route differing in metric.
        let m50 = Ipv4Route {
            metric: Some(50),
            table: 100,
            ..via
        };
        let m60 = Ipv4Route {
            metric: Some(60),
            table: 100,
            gateway: Some(ipv4("10.1.0.253")),
            ..via
        };
        host.add_ipv4_route(m50).await.expect("add metric 50");
        host.add_ipv4_route(m60).await.expect("add metric 60");
        let shown = ip.run(&["route", "show", "table", "100"]);
        assert!(
            shown.contains("10.9.0.0/24 via 10.1.0.254 dev v0 proto static metric 50"),
            "{shown}"
        );
        assert!(
            shown.contains("10.9.0.0/24 via 10.1.0.253 dev v0 proto static metric 60"),
            "{shown}"
        );
        let table100 = host.ipv4_routes(100).await.expect("list 100");
        assert_eq!(table100.len(), 2, "{table100:?}");
        assert!(table100.contains(&Ipv4Route {
            ifindex: Some(v0),
            ..m50
        }));

        host.del_ipv4_route(m50).await.expect("delete metric 50");
        let shown = ip.run(&["route", "show", "table", "100"]);
        assert!(!shown.contains("metric 50"), "{shown}");
        assert!(shown.contains("metric 60"), "{shown}");
        assert_host_err!(host.del_ipv4_route(m50).await, NotFound, "already gone");
        // Without a metric `ip route del` would remove the metric 60 route;
        // this API only deletes a metric-0 route.
        assert_host_err!(
            host.del_ipv4_route(Ipv4Route {
                metric: None,
                ..m60
            })
            .await,
            NotFound,
            "no metric 0 route"
        );
        assert!(ip
            .run(&["route", "show", "table", "100"])
            .contains("metric 60"));
        host.del_ipv4_route(m60).await.expect("delete metric 60");
        assert!(host.ipv4_routes(100).await.expect("list 100").is_empty());

        // Tables above 255 travel in RTA_TABLE.
        let big = Ipv4Route {
            table: 1000,
            ifindex: Some(v0),
            ..via
        };
        host.add_ipv4_route(big).await.expect("add table 1000");
        let shown = ip.run(&["route", "show", "table", "1000"]);
        assert!(
            shown.contains("10.9.0.0/24 via 10.1.0.254 dev v0"),
            "{shown}"
        );
        assert_eq!(host.ipv4_routes(1000).await.expect("list 1000"), vec![big]);
        host.del_ipv4_route(big).await.expect("delete table 1000");
        assert!(ip
            .run(&["route", "show", "table", "1000"])
            .trim()
            .is_empty());

        // The main-table route was not touched by any of that.
        host.del_ipv4_route(via).await.expect("delete via route");
        assert!(ip.run(&["route", "show", "10.9.0.0/24"]).trim().is_empty());
    });
}

#[test]
fn watch_reports_address_removed_by_someone_else() {
    let Some(ns) = TestNetns::create() else {
        return;
    };
    veth_with_address(&ns.ip);
    ns.run(move |host, ip| async move {
        let mut changes = host.watch_changes();
        ip.run(&["addr", "del", "10.1.0.1/24", "dev", "v0"]);
        expect_change(&mut changes, |m| {
            m.starts_with("address removed") && m.contains("10.1.0.1/24")
        })
        .await;

        // Link changes are reported as well.
        ip.run(&["link", "set", "v1", "mtu", "1300"]);
        expect_change(&mut changes, |m| {
            m.starts_with("link changed") && m.contains("v1")
        })
        .await;
    });
}

#[test]
fn ipv6_addresses_with_lifetimes() {
    let Some(ns) = TestNetns::create() else {
        return;
    };
    let (v0, _v1) = veth_with_address(&ns.ip);
    ns.run(move |host, ip| async move {
        let ip6: Ipv6Addr = "2001:db8:1241::1".parse().expect("IPv6 literal");
        let addr = Ipv6Address::new(v0, ip6, 64).with_lifetimes(Some(600), Some(1200));
        host.add_ipv6_address(addr).await.expect("add IPv6 address");
        let shown = ip.run(&["-6", "addr", "show", "dev", "v0"]);
        assert!(shown.contains("inet6 2001:db8:1241::1/64"), "{shown}");
        assert!(
            shown.contains("valid_lft 1200sec") || shown.contains("valid_lft 1199sec"),
            "{shown}"
        );
        // The kernel adds the on-link prefix route (the LAN needs it), expiring with the address.
        let routes = ip.run(&["-6", "route", "show", "2001:db8:1241::/64"]);
        assert!(routes.contains("dev v0 proto kernel"), "{routes}");
        assert!(routes.contains("expires"), "{routes}");

        let find = |list: &[Ipv6Address]| list.iter().find(|a| a.same_address(&addr)).copied();
        let listed = find(&host.ipv6_addresses().await.expect("list")).expect("listed");
        assert_eq!(listed.prefix_len, 64);
        let valid = listed.valid_lifetime.expect("finite valid lifetime");
        let preferred = listed
            .preferred_lifetime
            .expect("finite preferred lifetime");
        assert!((1190..=1200).contains(&valid), "{listed:?}");
        assert!((590..=600).contains(&preferred), "{listed:?}");
        assert!(
            !listed.flags.deprecated && !listed.flags.permanent,
            "{listed:?}"
        );
        // Link-local addresses are listed too, permanent.
        let all = host.ipv6_addresses().await.expect("list");
        assert!(
            all.iter()
                .any(|a| a.ifindex == v0 && a.address.segments()[0] == 0xfe80 && a.flags.permanent),
            "{all:?}"
        );

        // Replace with preferred 0: deprecated in place, valid lifetime updated, no EEXIST.
        host.add_ipv6_address(addr.with_lifetimes(Some(0), Some(300)))
            .await
            .expect("replace lifetimes");
        let listed = find(&host.ipv6_addresses().await.expect("list")).expect("still listed");
        assert!(listed.flags.deprecated, "{listed:?}");
        assert_eq!(listed.preferred_lifetime, Some(0));
        assert!(
            (290..=300).contains(&listed.valid_lifetime.unwrap_or(0)),
            "{listed:?}"
        );
        let shown = ip.run(&["-6", "addr", "show", "dev", "v0"]);
        assert!(shown.contains("deprecated"), "{shown}");

        // Back to preferred (a renew) and to forever.
        host.add_ipv6_address(addr.with_lifetimes(None, None))
            .await
            .expect("replace with forever");
        let listed = find(&host.ipv6_addresses().await.expect("list")).expect("still listed");
        assert!(
            !listed.flags.deprecated && listed.flags.permanent,
            "{listed:?}"
        );
        assert_eq!(
            (listed.preferred_lifetime, listed.valid_lifetime),
            (None, None)
        );

        // Lifetimes the kernel refuses.
        assert_host_err!(
            host.add_ipv6_address(addr.with_lifetimes(Some(10), Some(5)))
                .await,
            Netlink,
            "preferred above valid"
        );

        // Delete is exact about the prefix length.
        assert_host_err!(
            host.del_ipv6_address(Ipv6Address::new(v0, ip6, 56)).await,
            NotFound,
            "other prefix length"
        );
        host.del_ipv6_address(addr).await.expect("delete");
        let shown = ip.run(&["-6", "addr", "show", "dev", "v0"]);
        assert!(!shown.contains("2001:db8:1241::1"), "{shown}");
        assert!(find(&host.ipv6_addresses().await.expect("list")).is_none());
        assert_host_err!(host.del_ipv6_address(addr).await, NotFound, "absent");
        assert_host_err!(
            host.add_ipv6_address(Ipv6Address {
                ifindex: 9999,
                ..addr
            })
            .await,
            NotFound,
            "unknown link"
        );
    });
}

#[test]
fn watch_reports_ipv6_address_changes() {
    let Some(ns) = TestNetns::create() else {
        return;
    };
    veth_with_address(&ns.ip);
    ns.run(move |host, ip| async move {
        let mut changes = host.watch_changes();
        ip.run(&["addr", "add", "2001:db8:5::1/64", "dev", "v0", "nodad"]);
        ip.run(&["addr", "del", "2001:db8:5::1/64", "dev", "v0"]);
        expect_change(&mut changes, |m| {
            m.starts_with("address removed") && m.contains("2001:db8:5::1/64")
        })
        .await;
    });
}

#[test]
fn a_failed_dad_deletion_is_remembered() {
    let Some(ns) = TestNetns::create() else {
        return;
    };
    let (v0, _) = veth_with_address(&ns.ip);
    ns.run(move |host, ip| async move {
        let mut changes = host.watch_changes();
        // The peer already has the address: DAD on v0 fails, and the kernel deletes an address with
        // lifetimes instead of keeping it flagged.
        ip.run(&["addr", "add", "2001:db8:6::99/64", "dev", "v1", "nodad"]);
        let ours = Ipv6Address::new(v0, "2001:db8:6::99".parse().expect("literal"), 64)
            .with_lifetimes(Some(50), Some(100));
        host.add_ipv6_address(ours).await.expect("add");
        expect_change(&mut changes, |m| {
            m.starts_with("address removed") && m.contains("2001:db8:6::99/64")
        })
        .await;
        let failures = host.ipv6_dad_failures();
        assert!(
            failures
                .iter()
                .any(|f| f.ifindex == v0 && f.address == ours.address),
            "{failures:?}"
        );
        // An ordinary delete is not a DAD failure.
        ip.run(&["addr", "add", "2001:db8:6::1/64", "dev", "v0", "nodad"]);
        ip.run(&["addr", "del", "2001:db8:6::1/64", "dev", "v0"]);
        expect_change(&mut changes, |m| {
            m.starts_with("address removed") && m.contains("2001:db8:6::1/64")
        })
        .await;
        assert_eq!(host.ipv6_dad_failures().len(), 1);
    });
}

/// A default route through a device without a gateway (a PPPoE session's), IPv6: added, listed with the
/// kernel's metric, refused twice, deleted exactly (another default with another metric stays).
#[test]
fn ipv6_device_routes_are_added_listed_and_deleted_exactly() {
    let Some(ns) = TestNetns::create() else {
        return;
    };
    let (v0, v1) = veth(&ns.ip);
    ns.ip.run(&["link", "set", "v0", "up"]);
    ns.ip.run(&["link", "set", "v1", "up"]);
    ns.run(move |host, ip| async move {
        let default = Ipv6Route {
            destination: Ipv6Addr::UNSPECIFIED,
            prefix_len: 0,
            gateway: None,
            ifindex: Some(v0),
            metric: None,
            table: 254,
        };
        host.add_ipv6_route(default).await.expect("add ::/0 dev v0");
        let shown = ip.run(&["-6", "route", "show", "default"]);
        assert!(
            shown.contains("default dev v0 proto static metric 1024"),
            "{shown}"
        );
        let listed = host.ipv6_routes(254).await.expect("list");
        assert!(
            listed.iter().any(|r| r.prefix_len == 0
                && r.ifindex == Some(v0)
                && r.metric == Some(IPV6_DEFAULT_METRIC)),
            "{listed:?}"
        );
        assert_host_err!(
            host.add_ipv6_route(default).await,
            AlreadyExists,
            "a second default with the same metric"
        );
        let other = Ipv6Route {
            ifindex: Some(v1),
            metric: Some(2000),
            ..default
        };
        host.add_ipv6_route(other)
            .await
            .expect("add ::/0 dev v1 metric 2000");
        host.del_ipv6_route(default)
            .await
            .expect("delete ::/0 dev v0");
        let shown = ip.run(&["-6", "route", "show", "default"]);
        assert!(!shown.contains("dev v0"), "{shown}");
        assert!(shown.contains("dev v1"), "{shown}");
        assert_host_err!(host.del_ipv6_route(default).await, NotFound, "already gone");
    });
}

#[test]
fn ipv4_rules_are_added_listed_and_deleted_exactly() {
    let Some(ns) = TestNetns::create() else {
        return;
    };
    ns.run(|host, ip| async move {
        let by_source = Ipv4Rule {
            priority: 1001,
            source: Some((ipv4("192.0.2.10"), 32)),
            fwmark: None,
            table: 1001,
        };
        let by_mark = Ipv4Rule {
            priority: 1002,
            source: None,
            fwmark: Some(0x65),
            table: 1001,
        };
        host.add_ipv4_rule(by_source).await.unwrap();
        host.add_ipv4_rule(by_mark).await.unwrap();
        assert_host_err!(
            host.add_ipv4_rule(by_source).await,
            AlreadyExists,
            "an identical rule"
        );
        let listed = host.ipv4_rules().await.unwrap();
        assert!(
            listed.contains(&by_source) && listed.contains(&by_mark),
            "{listed:?}"
        );
        // The kernel's own rules are listed too (local, main, default).
        assert!(listed.iter().any(|r| r.priority == 32766 && r.table == 254));
        let shown = ip.run(&["rule", "show"]);
        assert!(
            shown.contains("1001:\tfrom 192.0.2.10 lookup 1001"),
            "{shown}"
        );
        assert!(
            shown.contains("1002:\tfrom all fwmark 0x65 lookup 1001"),
            "{shown}"
        );
        // A rule sharing the priority but not the selectors is not deleted.
        let other = Ipv4Rule {
            source: Some((ipv4("192.0.2.11"), 32)),
            ..by_source
        };
        assert_host_err!(host.del_ipv4_rule(other).await, NotFound, "another rule");
        host.del_ipv4_rule(by_source).await.unwrap();
        host.del_ipv4_rule(by_mark).await.unwrap();
        let listed = host.ipv4_rules().await.unwrap();
        assert!(!listed.iter().any(|r| r.table == 1001), "{listed:?}");
    });
}
