//! `DNSResolver`: runs one `routerd-dns-resolver` per resource through the supervisor and projects the
//! daemon's status (listeners bound, upstream health, cache size and hit ratio, query-log rows written
//! and dropped) into the resource's status.
//!
//! The daemon's `config.json` is the spec, the host names the DHCP server registered and the
//! `dns-queries` retention (`LogRetention.spec.dnsQueries`): the daemon owns `dns-queries.db` and prunes
//! it itself. A changed spec or retention is a changed config, which the supervisor hands to the running
//! daemon with `reload` (the cache is kept), not a restart.

use super::daemon_status;
use super::runtime::{Action, Context, Controller, ReconcileFuture};
use crate::supervisor::DaemonRequest;
use routerd_api::spec::{
    DNSResolverDaemonConfig, DNSResolverSpec, RegisteredHost, ResourceSpec, RetentionPolicy,
};
use routerd_api::{GoDuration, Kind};
use std::time::Duration;

pub const EXECUTABLE: &str = "routerd-dns-resolver";
const KIND: Kind = Kind::DNSResolver;
/// How often the status of a running resolver is read again: the cache and the query log change with
/// every query, and no event says so.
const STATUS_REFRESH: Duration = Duration::from_secs(10);

pub struct DNSResolverController;

/// The `dns-queries` retention in force: `LogRetention.spec.dnsQueries` over the defaults (7 days,
/// 1,000,000 rows), the same fold the event store's retention takes.
pub fn dns_query_retention(ctx: &Context) -> RetentionPolicy {
    let defaults = routerd_store::RetentionPolicy::default();
    let mut policy = RetentionPolicy {
        max_age: Some(GoDuration(defaults.max_age)),
        max_rows: Some(defaults.max_rows),
    };
    for r in ctx.desired.of_kind(Kind::LogRetention) {
        if let ResourceSpec::LogRetention(spec) = &r.spec {
            if let Some(dns) = &spec.dns_queries {
                policy.max_age = dns.max_age.or(policy.max_age);
                policy.max_rows = dns.max_rows.or(policy.max_rows);
            }
        }
    }
    policy
}

/// The daemon's `config.json` for one resolver, with the host names the DHCP servers registered
/// (`dhcpv4_server::registered_hosts`).
pub fn daemon_config(
    spec: &DNSResolverSpec,
    retention: &RetentionPolicy,
    registered_hosts: Vec<RegisteredHost>,
) -> serde_json::Value {
    let config = DNSResolverDaemonConfig {
        spec: spec.clone(),
        registered_hosts,
        retention: Some(retention.clone()),
        // DoT/DoH upstreams are verified against the system's trust anchors: the spec names no other.
        tls_trust_file: None,
    };
    serde_json::to_value(config).unwrap_or_default()
}

impl Controller for DNSResolverController {
    fn name(&self) -> &'static str {
        "dns-resolver"
    }
    fn kinds(&self) -> &'static [Kind] {
        &[KIND]
    }
    fn input_kinds(&self) -> &'static [Kind] {
        &[KIND, Kind::LogRetention, Kind::DHCPv4Server]
    }
    fn wake_topics(&self) -> &'static [&'static str] {
        // Lease changes of the DHCP server change the registered host names.
        &[
            "routerd.dns.resolver.**",
            "routerd.daemon.**",
            "routerd.dhcpv4.server.lease.**",
        ]
    }
    fn reconcile<'a>(&'a self, ctx: &'a Context) -> ReconcileFuture<'a> {
        Box::pin(async move {
            let mut requeue = None;
            let retention = dns_query_retention(ctx);
            let mut names = Vec::new();
            let mut running = Vec::new();
            for r in ctx.desired.of_kind(KIND) {
                let ResourceSpec::DNSResolver(spec) = &r.spec else {
                    continue;
                };
                names.push(r.name().to_string());
                let request = DaemonRequest {
                    executable: EXECUTABLE,
                    instance: r.name().to_string(),
                    config: daemon_config(
                        spec,
                        &retention,
                        super::dhcpv4_server::registered_hosts(ctx, &spec.listen).await,
                    ),
                };
                let id = r.id();
                if let Some(view) = daemon_status::ensure(ctx, &id, request, &mut requeue).await {
                    running.push((id, view));
                }
            }
            if !running.is_empty() {
                requeue = Some(requeue.map_or(STATUS_REFRESH, |r| r.min(STATUS_REFRESH)));
            }
            daemon_status::project_all(ctx, running, &mut requeue).await;
            daemon_status::retain(ctx, EXECUTABLE, KIND, &names, None).await;
            Ok(requeue.map(Action::Requeue).unwrap_or(Action::Idle))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::runtime::testing::{resource, Fixture};
    use routerd_api::{Phase, Resource};
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    fn resolver(name: &str, upstream: &str) -> Resource {
        resource(
            "DNSResolver",
            name,
            json!({"listen": ["127.0.0.1:5353"], "upstreams": [{"address": upstream}],
                   "localRecords": [{"name": "nas.home.arpa", "type": "A", "value": "192.168.1.10"}],
                   "queryLog": {"enabled": true}}),
        )
    }

    fn retention(spec: serde_json::Value) -> Resource {
        Resource::from_value(json!({
            "apiVersion": "system.routerd.net/v1alpha1", "kind": "LogRetention",
            "metadata": {"name": "default"}, "spec": spec
        }))
        .unwrap()
    }

    /// A fake `routerd-dns-resolver`: a shell script that serves nothing, so the controller sees a daemon
    /// that is starting.
    fn fake_daemon(dir: &Path) {
        let libexec = dir.join("libexec");
        std::fs::create_dir_all(&libexec).unwrap();
        let path = libexec.join(EXECUTABLE);
        std::fs::write(&path, "#!/bin/sh\nexec sleep 5\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn config_carries_spec_retention_and_no_registered_hosts_yet() {
        let mut t = Fixture::new();
        t.set_desired(vec![
            resolver("lan", "192.0.2.53"),
            retention(json!({"dnsQueries": {"maxRows": 5000}})),
        ]);
        let ctx = t.context();
        let policy = dns_query_retention(&ctx);
        assert_eq!(policy.max_rows, Some(5000));
        assert_eq!(
            policy.max_age,
            Some(GoDuration(Duration::from_secs(7 * 86400))),
            "an absent maxAge keeps the default"
        );
        let r = ctx.desired.get(KIND, "lan").unwrap();
        let ResourceSpec::DNSResolver(spec) = &r.spec else {
            panic!("a DNSResolver");
        };
        let config = daemon_config(spec, &policy, Vec::new());
        assert_eq!(config["spec"]["listen"], json!(["127.0.0.1:5353"]));
        assert_eq!(config["spec"]["localRecords"][0]["value"], "192.168.1.10");
        let read: DNSResolverDaemonConfig = serde_json::from_value(config.clone()).unwrap();
        assert!(read.registered_hosts.is_empty());
        assert_eq!(
            config["retention"],
            json!({"maxAge": "168h0m0s", "maxRows": 5000})
        );
        // Without a LogRetention resource the defaults apply.
        t.set_desired(vec![resolver("lan", "192.0.2.53")]);
        assert_eq!(
            serde_json::to_value(dns_query_retention(&t.context())).unwrap(),
            json!({"maxAge": "168h0m0s", "maxRows": 1000000})
        );
    }

    #[test]
    fn the_daemon_status_becomes_the_resource_status() {
        let answer = json!({"schemaVersion": 1, "resources": [{
            "resource": {"apiVersion": "net.routerd.net/v1alpha1", "kind": "DNSResolver", "name": "lan"},
            "phase": "Applied",
            "conditions": [{"type": "Listening", "status": "True", "reason": "Bound", "message": "2 listeners"}],
            "observed": {
                "listeners": ["udp 127.0.0.1:5353", "tcp 127.0.0.1:5353"],
                "upstreams": [{"address": "192.0.2.53:53", "protocol": "udp", "healthy": false, "lastError": "timeout", "failures": 3}],
                "cache": {"entries": 12, "hits": 30, "misses": 10, "hitRatio": 0.75},
                "queryLog": {"written": 40, "dropped": 2}
            }
        }]});
        let s = daemon_status::resource_in(&answer, "lan").unwrap();
        let u = daemon_status::projected(s);
        assert_eq!(u.phase, Phase::Applied);
        assert_eq!(u.fields["cache"]["hitRatio"], 0.75);
        assert_eq!(u.fields["upstreams"][0]["healthy"], false);
        assert_eq!(u.fields["queryLog"]["dropped"], 2);
        assert_eq!(u.fields["listeners"].as_array().map(Vec::len), Some(2));
    }

    #[tokio::test]
    async fn one_daemon_per_resolver_reloaded_on_change_and_stopped_on_delete() {
        let mut t = Fixture::new();
        let dir = t.dir.path().to_path_buf();
        fake_daemon(&dir);
        t.supervisor = std::sync::Arc::new(
            crate::supervisor::Supervisor::new(
                crate::supervisor::SupervisorConfig {
                    runtime_dir: dir.join("run"),
                    state_dir: dir.join("state"),
                    log_format: "text".into(),
                    search_dirs: vec![dir.join("libexec")],
                },
                t.bus.clone(),
                tokio::sync::watch::channel(false).1,
            )
            .with_stop_timeouts(crate::supervisor::StopTimeouts {
                grace: Duration::from_millis(200),
                after_term: Duration::from_millis(500),
            }),
        );
        t.set_desired(vec![
            resolver("lan", "192.0.2.53"),
            resolver("guest", "192.0.2.54"),
        ]);
        let action = DNSResolverController.reconcile(&t.context()).await.unwrap();
        assert!(
            matches!(action, Action::Requeue(d) if d <= STATUS_REFRESH),
            "{action:?}"
        );
        let config_of = |name: &str| -> serde_json::Value {
            let path = dir
                .join("state/dns-resolver")
                .join(name)
                .join("config.json");
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
        };
        assert_eq!(
            config_of("lan")["spec"]["upstreams"][0]["address"],
            "192.0.2.53"
        );
        assert_eq!(
            config_of("guest")["spec"]["upstreams"][0]["address"],
            "192.0.2.54"
        );
        // The fake never answers: the resources wait for their daemons, naming why.
        for name in ["lan", "guest"] {
            let s = t
                .status
                .get(&routerd_api::ResourceId::new(KIND, name))
                .unwrap();
            assert_eq!(s.phase, Phase::Pending, "{name}");
            assert_eq!(s.conditions[0].type_, "DaemonRunning");
        }

        // A spec change rewrites config.json (the supervisor asks for `reload`, and replaces a daemon that
        // cannot take it — the fake cannot).
        t.set_desired(vec![
            resolver("lan", "192.0.2.99"),
            resolver("guest", "192.0.2.54"),
        ]);
        DNSResolverController.reconcile(&t.context()).await.unwrap();
        assert_eq!(
            config_of("lan")["spec"]["upstreams"][0]["address"],
            "192.0.2.99"
        );

        // Deleting a resolver stops its daemon and drops its status.
        t.set_desired(vec![resolver("guest", "192.0.2.54")]);
        DNSResolverController.reconcile(&t.context()).await.unwrap();
        let daemons: Vec<String> = t
            .supervisor
            .list()
            .into_iter()
            .map(|d| d.instance)
            .collect();
        assert_eq!(daemons, ["guest"]);
        assert!(t
            .status
            .get(&routerd_api::ResourceId::new(KIND, "lan"))
            .is_none());
        t.set_desired(Vec::new());
        DNSResolverController.reconcile(&t.context()).await.unwrap();
    }

    #[tokio::test]
    async fn a_missing_executable_is_an_error_naming_it() {
        let mut t = Fixture::new();
        t.set_desired(vec![resolver("lan", "192.0.2.53")]);
        DNSResolverController.reconcile(&t.context()).await.unwrap();
        let s = t
            .status
            .get(&routerd_api::ResourceId::new(KIND, "lan"))
            .unwrap();
        assert_eq!(s.phase, Phase::Error);
        assert_eq!(s.conditions[0].reason, "DaemonNotFound");
        assert!(s.conditions[0].message.contains(EXECUTABLE));
    }
}
