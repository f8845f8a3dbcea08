//! The firewall controller: the only writer of the `inet routerd` table. It renders the whole table from
//! every `FirewallZone`, `FirewallPolicy`, `FirewallRule`, `PortForward` and `NAT44Rule` (plus the base
//! rules and the conntrack keep-alive the flow and firewall logs need) and replaces it in one `nft -f`
//! transaction. nft applies a script all or nothing, so a refused table leaves the previous one in
//! place; the refusal is traced back to the resource and field that produced the refused rule
//! ([`RenderedTable::culprit`]) and that resource goes to `Error`. When no resource needs the table it
//! is deleted. It also turns on IP forwarding while a NAT44Rule, FirewallZone or EgressRoutePolicy
//! exists (`resources.md` "Forwarding").
//!
//! Rules name devices, not addresses, so a new DHCP address or a PPPoE redial changes nothing in the
//! table; a change of device (an edited `Interface.ifname`, a PPPoE `ifname`) is a change of the desired
//! state and re-renders it.

use super::firewall_render::{render, table_needed, RenderedTable, FIREWALL_KINDS};
use super::runtime::{Action, Context, Controller, ReconcileError, ReconcileFuture};
use super::status_book::StatusUpdate;
use routerd_api::control::FirewallTable;
use routerd_api::event::NewEvent;
use routerd_api::spec::ResourceSpec;
use routerd_api::status::FirewallResourceStatus;
use routerd_api::{Condition, Kind, Phase, Severity, Timestamp};
use routerd_host::nftables::{NftError, Nftables};
use routerd_host::sysctl::ForwardingSysctl;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, RwLock};

pub const FIREWALL_APPLIED: &str = "routerd.firewall.applied";
pub const FIREWALL_REJECTED: &str = "routerd.firewall.rejected";
pub const NAT_APPLIED: &str = "routerd.nat.applied";

/// Kinds whose existence turns IP forwarding on.
const FORWARDING_KINDS: [Kind; 3] = [Kind::NAT44Rule, Kind::FirewallZone, Kind::EgressRoutePolicy];

/// The table as last applied, shared with `GET /firewall`.
#[derive(Default)]
pub struct FirewallView {
    applied: RwLock<Option<(RenderedTable, Timestamp)>>,
}

impl FirewallView {
    pub fn snapshot(&self) -> FirewallTable {
        let applied = self.applied.read().ok();
        match applied.as_ref().and_then(|a| a.as_ref()) {
            Some((t, at)) => FirewallTable {
                table: routerd_host::nftables::ROUTERD_TABLE.to_string(),
                present: true,
                applied_at: Some(*at),
                rules: t.table.rule_count() as u64,
                resources: t.by_resource(),
            },
            None => FirewallTable {
                table: routerd_host::nftables::ROUTERD_TABLE.to_string(),
                present: false,
                applied_at: None,
                rules: 0,
                resources: Vec::new(),
            },
        }
    }

    fn set(&self, v: Option<(RenderedTable, Timestamp)>) {
        if let Ok(mut slot) = self.applied.write() {
            *slot = v;
        }
    }
}

/// What the controller remembers between runs.
#[derive(Default)]
struct Memory {
    /// The script last applied (and when), to skip nft when nothing changed.
    applied: Option<(String, RenderedTable, Timestamp)>,
    /// A script nft refused, with the culprit's message: not retried until the desired state changes.
    refused: Option<(String, String)>,
    /// Whether the table is known to be absent (deleted by this process).
    deleted: bool,
    /// Forwarding as last set: `Some(true)` once turned on.
    forwarding: Option<bool>,
    accept_ra: BTreeSet<String>,
}

pub struct FirewallController {
    nftables: Arc<dyn Nftables>,
    forwarding: Arc<dyn ForwardingSysctl>,
    pub view: Arc<FirewallView>,
    memory: Mutex<Memory>,
}

impl FirewallController {
    pub fn new(
        nftables: Arc<dyn Nftables>,
        forwarding: Arc<dyn ForwardingSysctl>,
        view: Arc<FirewallView>,
    ) -> FirewallController {
        FirewallController {
            nftables,
            forwarding,
            view,
            memory: Mutex::default(),
        }
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Turns forwarding on while a kind that routes between links exists; `accept_ra=2` first on the
    /// links of DHCPv6PrefixDelegations so the WAN keeps its RA-learned default route.
    fn forwarding(&self, ctx: &Context) -> Result<(), ReconcileError> {
        let wanted = FORWARDING_KINDS
            .iter()
            .any(|k| ctx.desired.of_kind(*k).next().is_some());
        if !wanted {
            return Ok(());
        }
        let pd_links: BTreeSet<String> = ctx
            .desired
            .of_kind(Kind::DHCPv6PrefixDelegation)
            .filter_map(|r| match &r.spec {
                ResourceSpec::DHCPv6PrefixDelegation(s) => {
                    super::interface::ifname_of(ctx, &s.interface)
                }
                _ => None,
            })
            .collect();
        let mut memory = self.memory();
        for ifname in pd_links.difference(&memory.accept_ra.clone()) {
            match self.forwarding.set_accept_ra(ifname, 2) {
                Ok(()) => {
                    memory.accept_ra.insert(ifname.clone());
                }
                Err(e) => tracing::warn!(ifname, error = %e, "cannot set accept_ra=2"),
            }
        }
        if memory.forwarding != Some(true) {
            for ipv6 in [false, true] {
                self.forwarding.set_forwarding(ipv6, true).map_err(|e| {
                    ReconcileError(format!(
                        "cannot turn on {} forwarding: {e}",
                        if ipv6 { "IPv6" } else { "IPv4" }
                    ))
                })?;
            }
            memory.forwarding = Some(true);
        }
        Ok(())
    }

    async fn write_statuses(
        &self,
        ctx: &Context,
        rendered: &RenderedTable,
        outcome: &Outcome,
    ) -> Result<(), ReconcileError> {
        let links: BTreeSet<String> = ctx.links().await?.into_iter().map(|l| l.name).collect();
        let previous = self.memory().applied.as_ref().map(|(_, t, _)| t.clone());
        for kind in FIREWALL_KINDS {
            let desired = ctx.desired.clone();
            ctx.status
                .retain_kind(*kind, &|n| desired.get(*kind, n).is_some());
            for r in ctx.desired.of_kind(*kind) {
                let name = r.name();
                let missing: Vec<String> = devices_of(ctx, rendered, &r.spec, name)
                    .into_iter()
                    .filter(|d| !links.contains(d))
                    .collect();
                let mut fields = FirewallResourceStatus {
                    rendered: rendered.rules_of(*kind, name) as u32,
                    last_applied_at: None,
                    device: (*kind == Kind::NAT44Rule)
                        .then(|| rendered.nat_devices.get(name).cloned())
                        .flatten(),
                };
                let (phase, condition) = match outcome {
                    Outcome::Applied(at) => {
                        fields.last_applied_at = Some(*at);
                        if missing.is_empty() {
                            (
                                Phase::Applied,
                                Condition::new(
                                    "Applied",
                                    true,
                                    "InTable",
                                    format!("{} rule(s) in table inet routerd", fields.rendered),
                                ),
                            )
                        } else {
                            (
                                Phase::Pending,
                                Condition::new(
                                    "Applied",
                                    false,
                                    "InterfaceMissing",
                                    format!(
                                        "rendered, but link(s) {} do not exist yet; the rules apply as soon as they appear",
                                        missing.join(", ")
                                    ),
                                ),
                            )
                        }
                    }
                    Outcome::Refused { culprit, message } => {
                        let unchanged = previous
                            .as_ref()
                            .is_some_and(|p| same_rules(p, rendered, *kind, name));
                        match culprit {
                            Some(c) if c.kind == *kind && c.name == name => (
                                Phase::Error,
                                Condition::new(
                                    "Applied",
                                    false,
                                    "NftRefused",
                                    format!(
                                        "nft refused {}: {} (the previous table stays in force)",
                                        c.field, c.message
                                    ),
                                ),
                            ),
                            _ if unchanged => {
                                fields.last_applied_at =
                                    self.memory().applied.as_ref().map(|(_, _, at)| *at);
                                (
                                    Phase::Applied,
                                    Condition::new(
                                        "Applied",
                                        true,
                                        "InPreviousTable",
                                        format!("unchanged and in force; the new table was refused: {message}"),
                                    ),
                                )
                            }
                            _ => (
                                Phase::Pending,
                                Condition::new(
                                    "Applied",
                                    false,
                                    "TableRefused",
                                    format!("not applied: nft refused the new table: {message}"),
                                ),
                            ),
                        }
                    }
                };
                ctx.status
                    .set(
                        &r.id(),
                        ctx.desired.generation,
                        StatusUpdate::new(phase, vec![condition]).with_fields(&fields),
                    )
                    .await;
            }
        }
        Ok(())
    }
}

/// How the last attempt to apply the rendered table went.
enum Outcome {
    Applied(Timestamp),
    Refused {
        culprit: Option<super::firewall_render::Culprit>,
        message: String,
    },
}

/// Whether resource `kind`/`name` renders the same rules in both tables.
fn same_rules(a: &RenderedTable, b: &RenderedTable, kind: Kind, name: &str) -> bool {
    let rules = |t: &RenderedTable| -> Vec<String> {
        t.by_resource()
            .into_iter()
            .filter(|r| r.kind == kind.as_str() && r.name == name)
            .flat_map(|r| {
                r.rules
                    .into_iter()
                    .map(|l| format!("{} {}", l.chain, l.rule))
            })
            .collect()
    };
    rules(a) == rules(b)
}

/// Devices a zone or NAT44Rule names (for `Pending` while a link is missing).
fn devices_of(
    ctx: &Context,
    rendered: &RenderedTable,
    spec: &ResourceSpec,
    name: &str,
) -> Vec<String> {
    match spec {
        ResourceSpec::FirewallZone(z) => z
            .interfaces
            .iter()
            .filter_map(|i| super::firewall_render::resolve_device(&ctx.desired, i))
            .collect(),
        ResourceSpec::NAT44Rule(_) => rendered
            .nat_devices
            .get(name)
            .cloned()
            .into_iter()
            .collect(),
        _ => Vec::new(),
    }
}

fn nft_message(e: &NftError) -> String {
    match e {
        NftError::Refused(m) | NftError::Spawn(m) => m
            .lines()
            .find_map(|l| l.split_once("Error: ").map(|(_, m)| m.trim().to_string()))
            .unwrap_or_else(|| m.trim().to_string()),
    }
}

impl Controller for FirewallController {
    fn name(&self) -> &'static str {
        "firewall"
    }
    fn kinds(&self) -> &'static [Kind] {
        FIREWALL_KINDS
    }
    fn input_kinds(&self) -> &'static [Kind] {
        &[
            Kind::FirewallZone,
            Kind::FirewallPolicy,
            Kind::FirewallRule,
            Kind::PortForward,
            Kind::NAT44Rule,
            Kind::Interface,
            Kind::PPPoESession,
            Kind::DHCPv4Client,
            Kind::DHCPv6PrefixDelegation,
            Kind::EgressRoutePolicy,
            Kind::TrafficFlowLog,
            Kind::FirewallEventLog,
        ]
    }
    fn watches_host(&self) -> bool {
        true
    }
    fn reconcile<'a>(&'a self, ctx: &'a Context) -> ReconcileFuture<'a> {
        Box::pin(async move {
            self.forwarding(ctx)?;
            if !table_needed(&ctx.desired) {
                let was_deleted = self.memory().deleted;
                if !was_deleted {
                    self.nftables.delete_table().map_err(|e| {
                        ReconcileError(format!("cannot remove table inet routerd: {e}"))
                    })?;
                    let mut memory = self.memory();
                    memory.deleted = true;
                    memory.applied = None;
                    memory.refused = None;
                    self.view.set(None);
                }
                for kind in FIREWALL_KINDS {
                    ctx.status.retain_kind(*kind, &|_| false);
                }
                return Ok(Action::Idle);
            }
            let rendered = render(&ctx.desired);
            let script = rendered.table.render();
            let (applied_same, refused_same) = {
                let memory = self.memory();
                (
                    memory
                        .applied
                        .as_ref()
                        .filter(|(s, _, _)| *s == script)
                        .map(|(_, _, at)| *at),
                    memory
                        .refused
                        .as_ref()
                        .filter(|(s, _)| *s == script)
                        .map(|(_, m)| m.clone()),
                )
            };
            let outcome = if let Some(at) = applied_same {
                Outcome::Applied(at)
            } else if let Some(message) = refused_same {
                Outcome::Refused {
                    culprit: rendered.culprit(&message),
                    message: nft_message(&NftError::Refused(message)),
                }
            } else {
                let nft_started = std::time::Instant::now();
                let result = self.nftables.replace_table(&rendered.table);
                let nft_micros = nft_started.elapsed().as_micros();
                match result {
                    Ok(()) => {
                        let at = Timestamp::now();
                        let previous_nat = self
                            .memory()
                            .applied
                            .as_ref()
                            .map(|(_, t, _)| t.nat_devices.clone())
                            .unwrap_or_default();
                        {
                            let mut memory = self.memory();
                            memory.applied = Some((script.clone(), rendered.clone(), at));
                            memory.refused = None;
                            memory.deleted = false;
                        }
                        self.view.set(Some((rendered.clone(), at)));
                        let rules = rendered.table.rule_count();
                        let ev = NewEvent::new(
                            FIREWALL_APPLIED,
                            Severity::Info,
                            format!("table inet routerd applied ({rules} rules, one transaction)"),
                        )
                        .attr("rules", rules.to_string())
                        .attr("nftMicros", nft_micros.to_string());
                        if let Err(e) = ctx.bus.publish(ev).await {
                            tracing::warn!(error = %e, "firewall event could not be stored");
                        }
                        for (name, device) in &rendered.nat_devices {
                            let nat_rule = rendered
                                .table
                                .chains
                                .iter()
                                .zip(&rendered.origins)
                                .flat_map(|(c, o)| c.rules.iter().zip(o))
                                .find(|(_, o)| {
                                    o.as_ref().is_some_and(|o| {
                                        o.kind == Kind::NAT44Rule && o.name == *name
                                    })
                                })
                                .map(|(r, _)| r.clone())
                                .unwrap_or_default();
                            if previous_nat.get(name) != Some(device) {
                                ctx.emit(
                                    Kind::NAT44Rule,
                                    NAT_APPLIED,
                                    name,
                                    format!("NAT44Rule {name} applied on {device}"),
                                    &[("device", device.as_str()), ("rule", nat_rule.as_str())],
                                )
                                .await;
                            }
                        }
                        Outcome::Applied(at)
                    }
                    Err(NftError::Refused(message)) => {
                        let culprit = rendered.culprit(&message);
                        let short = nft_message(&NftError::Refused(message.clone()));
                        let mut ev = NewEvent::new(
                            FIREWALL_REJECTED,
                            Severity::Error,
                            format!(
                                "nft refused table inet routerd; the previous table stays: {short}"
                            ),
                        )
                        .attr("error", short.as_str());
                        if let Some(c) = &culprit {
                            ev = ev
                                .resource(c.kind.as_str(), &c.name)
                                .attr("field", c.field.as_str());
                        }
                        if let Err(e) = ctx.bus.publish(ev).await {
                            tracing::warn!(error = %e, "firewall event could not be stored");
                        }
                        self.memory().refused = Some((script.clone(), message));
                        Outcome::Refused {
                            culprit,
                            message: short,
                        }
                    }
                    Err(e @ NftError::Spawn(_)) => return Err(ReconcileError(e.to_string())),
                }
            };
            self.write_statuses(ctx, &rendered, &outcome).await?;
            Ok(Action::Idle)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::runtime::testing::Fixture;
    use routerd_host::nftables::RouterdTable;
    use routerd_host::sysctl::FakeForwarding;

    /// nft as far as these tests need it: refuses a table holding a rate the kernel cannot hold, with
    /// nft's own error format, and counts what it was asked to do.
    #[derive(Default)]
    struct Nft {
        replaced: Mutex<Vec<RouterdTable>>,
        deleted: Mutex<u32>,
    }

    impl Nftables for Nft {
        fn replace_table(&self, table: &RouterdTable) -> Result<(), NftError> {
            let script = table.render();
            if let Some((i, line)) = script
                .lines()
                .enumerate()
                .find(|(_, l)| l.contains("18446744073709551615"))
            {
                return Err(NftError::Refused(format!(
                    "/dev/stdin:{}:9-{}: Error: Could not process rule: Value too large for defined data type\n{line}",
                    i + 1,
                    line.len()
                )));
            }
            self.replaced.lock().unwrap().push(table.clone());
            Ok(())
        }
        fn delete_table(&self) -> Result<(), NftError> {
            *self.deleted.lock().unwrap() += 1;
            Ok(())
        }
    }

    const BASE: &str = r#"apiVersion: net.routerd.net/v1alpha1
kind: Interface
metadata: {name: wan}
spec: {ifname: rt-wan}
---
apiVersion: firewall.routerd.net/v1alpha1
kind: FirewallZone
metadata: {name: wan}
spec: {interfaces: [wan]}
---
apiVersion: net.routerd.net/v1alpha1
kind: NAT44Rule
metadata: {name: masq}
spec: {type: masquerade, outInterface: wan}"#;

    const FLOOD: &str = r#"
---
apiVersion: firewall.routerd.net/v1alpha1
kind: FirewallRule
metadata: {name: flood}
spec: {from: wan, to: router, protocol: udp, action: accept, rateLimit: 18446744073709551615/second}"#;

    fn set(f: &mut Fixture, yaml: &str) {
        let docs = routerd_api::manifest::parse_documents(yaml).unwrap();
        f.set_desired(routerd_api::manifest::decode_resources(docs).unwrap());
    }

    fn phase_of(f: &Fixture, kind: Kind, name: &str) -> (Phase, String) {
        let s = f
            .status
            .get(&routerd_api::ResourceId::new(kind, name))
            .unwrap();
        (s.phase, s.conditions[0].message.clone())
    }

    #[tokio::test]
    async fn applies_once_keeps_the_previous_table_on_refusal_and_deletes_it_at_the_end() {
        let mut f = Fixture::new();
        f.host.add_link("rt-wan", 3, true);
        let nft = Arc::new(Nft::default());
        let forwarding = Arc::new(FakeForwarding::default());
        let c = FirewallController::new(nft.clone(), forwarding.clone(), Arc::default());

        set(&mut f, BASE);
        c.reconcile(&f.context()).await.unwrap();
        c.reconcile(&f.context()).await.unwrap();
        assert_eq!(
            nft.replaced.lock().unwrap().len(),
            1,
            "an unchanged table is not re-applied"
        );
        assert_eq!(phase_of(&f, Kind::NAT44Rule, "masq").0, Phase::Applied);
        assert!(forwarding.forwarding(false).unwrap() && forwarding.forwarding(true).unwrap());
        assert!(c.view.snapshot().present);

        set(&mut f, &format!("{BASE}{FLOOD}"));
        c.reconcile(&f.context()).await.unwrap();
        c.reconcile(&f.context()).await.unwrap();
        assert_eq!(
            nft.replaced.lock().unwrap().len(),
            1,
            "nothing replaced, no retry loop"
        );
        let (phase, message) = phase_of(&f, Kind::FirewallRule, "flood");
        assert_eq!(phase, Phase::Error);
        assert!(message.contains("spec.rateLimit"), "{message}");
        assert!(message.contains("Value too large"), "{message}");
        let (phase, message) = phase_of(&f, Kind::NAT44Rule, "masq");
        assert_eq!(
            phase,
            Phase::Applied,
            "unchanged and still in force: {message}"
        );

        set(&mut f, "apiVersion: net.routerd.net/v1alpha1\nkind: Interface\nmetadata: {name: wan}\nspec: {ifname: rt-wan}");
        c.reconcile(&f.context()).await.unwrap();
        assert_eq!(*nft.deleted.lock().unwrap(), 1);
        assert!(!c.view.snapshot().present);
        assert!(f
            .status
            .get(&routerd_api::ResourceId::new(Kind::NAT44Rule, "masq"))
            .is_none());
    }
}
