//! The kit's rtnetlink watcher against the real kernel, in a throw-away namespace: it must wake on a
//! change of a group it subscribed to, and stay quiet for changes of other groups and when nothing
//! happens. (Listening needs no privilege; causing the changes needs root, hence the namespace.)
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed set-up is the test's failure

use routerd_daemon::link_watch::{groups, LinkWatcher};
use routerd_testkit::{ip_in, Netns};
use std::time::Duration;

/// How long "no notification" is waited for; changes arrive within microseconds.
const QUIET: Duration = Duration::from_millis(300);
const WAKE: Duration = Duration::from_secs(5);

async fn woke(w: &LinkWatcher, within: Duration) -> bool {
    match tokio::time::timeout(within, w.changed()).await {
        Ok(r) => {
            r.expect("reading the netlink socket");
            true
        }
        Err(_) => false,
    }
}

#[test]
fn wakes_on_changes_of_its_groups_only() {
    let Some(ns) = Netns::create("rdlw") else {
        return;
    };
    let name = ns.name().to_string();
    ns.run(move || async move {
        let ip = |args: &[&str]| {
            let (ok, text) = ip_in(&name, args);
            assert!(ok, "ip {}: {text}", args.join(" "));
        };
        let links = LinkWatcher::open(groups::LINK).expect("subscribe to links");
        let v4 = LinkWatcher::open(groups::IPV4_IFADDR).expect("subscribe to IPv4 addresses");
        assert!(!woke(&links, QUIET).await, "no change yet, no notification");

        ip(&["link", "add", "lw0", "type", "veth", "peer", "name", "lw1"]);
        assert!(
            woke(&links, WAKE).await,
            "a new link (veth pair) wakes the link watcher"
        );
        ip(&["link", "set", "lw0", "up"]);
        assert!(woke(&links, WAKE).await, "a link going up wakes it");
        assert!(
            !woke(&v4, QUIET).await,
            "link changes do not wake an IPv4-address watcher"
        );

        ip(&["addr", "add", "192.0.2.7/24", "dev", "lw0"]);
        assert!(
            woke(&v4, WAKE).await,
            "a new IPv4 address wakes its watcher"
        );
        // Drained: nothing further is pending after the one change.
        assert!(!woke(&v4, QUIET).await, "one change, one wake-up");
    });
}
