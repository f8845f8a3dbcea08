//! `DHCPv6PrefixDelegation`: runs one `routerd-dhcpv6-client` per resource and projects the daemon's
//! view — phase `Pending`/`Bound`/`Error`, conditions `PrefixBound` and `InformationReceived`, the
//! `lease`, `previousPrefixes` and the information options — into the resource's status. It installs
//! nothing itself: the `IPv6DelegatedAddress` controller carves LAN addresses from this status, and is
//! woken by its changes (`status:DHCPv6PrefixDelegation`).

use super::daemon_status;
use super::runtime::{Action, Context, Controller, ReconcileFuture};
use crate::supervisor::DaemonRequest;
use routerd_api::spec::ResourceSpec;
use routerd_api::Kind;

pub const EXECUTABLE: &str = "routerd-dhcpv6-client";
const KIND: Kind = Kind::DHCPv6PrefixDelegation;

pub struct PrefixDelegationController;

impl Controller for PrefixDelegationController {
    fn name(&self) -> &'static str {
        "dhcpv6-prefix-delegation"
    }
    fn kinds(&self) -> &'static [Kind] {
        &[KIND]
    }
    fn input_kinds(&self) -> &'static [Kind] {
        &[KIND, Kind::Interface]
    }
    fn wake_topics(&self) -> &'static [&'static str] {
        &["routerd.dhcpv6.**", "routerd.daemon.**"]
    }
    /// A link that appears (or is renamed into place) lets a waiting resource start its daemon.
    fn watches_host(&self) -> bool {
        true
    }
    fn reconcile<'a>(&'a self, ctx: &'a Context) -> ReconcileFuture<'a> {
        Box::pin(async move {
            let mut requeue = None;
            let mut names = Vec::new();
            let gen = ctx.desired.generation;
            let links = ctx.links().await?;
            for r in ctx.desired.of_kind(KIND) {
                let ResourceSpec::DHCPv6PrefixDelegation(spec) = &r.spec else {
                    continue;
                };
                let id = r.id();
                let name = r.name();
                names.push(name.to_string());
                let Some((ifname, _)) =
                    daemon_status::link_for(ctx, &id, &links, &spec.interface, "PrefixBound").await
                else {
                    continue;
                };
                let request = DaemonRequest {
                    executable: EXECUTABLE,
                    instance: name.to_string(),
                    config: serde_json::json!({"spec": spec, "ifname": ifname}),
                };
                let Some(view) = daemon_status::ensure(ctx, &id, request, &mut requeue).await
                else {
                    continue;
                };
                if let Some(s) = daemon_status::read_or_wait(ctx, &id, &view, &mut requeue).await {
                    ctx.status.set(&id, gen, daemon_status::projected(s)).await;
                }
            }
            // A deleted resource gives its prefix back (RELEASE) before its daemon stops.
            daemon_status::retain(ctx, EXECUTABLE, KIND, &names, Some("release")).await;
            Ok(requeue.map(Action::Requeue).unwrap_or(Action::Idle))
        })
    }
}
