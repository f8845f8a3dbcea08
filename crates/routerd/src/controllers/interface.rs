//! `Interface`: finds the named link, applies `adminUp`/`mtu`/`macAddress`, and reports its state.

use super::runtime::{Action, Context, Controller, ReconcileFuture};
use super::status_book::StatusUpdate;
use routerd_api::spec::ResourceSpec;
use routerd_api::status::InterfaceStatus;
use routerd_api::{Condition, Kind, Phase};
use routerd_host::{Link, LinkChange, OperState};
use std::time::Duration;

pub struct InterfaceController;

/// Oper state `unknown` is what dummy, tun and loopback links report while working: count it as up
/// when the link is administratively up.
fn is_up(link: &Link) -> bool {
    link.oper_state == OperState::Up || (link.oper_state == OperState::Unknown && link.admin_up)
}

/// The ifname an `Interface` resource names, if that resource exists.
pub fn ifname_of(ctx: &Context, interface: &str) -> Option<String> {
    match ctx.desired.get(Kind::Interface, interface).map(|r| &r.spec) {
        Some(ResourceSpec::Interface(s)) => Some(s.ifname.clone()),
        _ => None,
    }
}

/// The host link an `Interface` resource names, or the message that says why there is none (shown in
/// the referring resource's `InterfaceMissing` condition).
pub fn link_of<'l>(
    ctx: &Context,
    links: &'l [Link],
    interface: &str,
) -> Result<(String, &'l Link), String> {
    let ifname =
        ifname_of(ctx, interface).ok_or_else(|| format!("no Interface named {interface:?}"))?;
    match links.iter().find(|l| l.name == ifname) {
        Some(link) => Ok((ifname, link)),
        None => Err(format!(
            "Interface {interface:?} (link {ifname:?}) does not exist"
        )),
    }
}

impl Controller for InterfaceController {
    fn name(&self) -> &'static str {
        "interface"
    }
    fn kinds(&self) -> &'static [Kind] {
        &[Kind::Interface]
    }
    fn watches_host(&self) -> bool {
        true
    }
    fn reconcile<'a>(&'a self, ctx: &'a Context) -> ReconcileFuture<'a> {
        Box::pin(async move {
            let links = ctx.links().await?;
            let addrs = ctx.ipv4_addresses().await?;
            let mut requeue = None;
            for r in ctx.desired.of_kind(Kind::Interface) {
                let ResourceSpec::Interface(spec) = &r.spec else {
                    continue;
                };
                let id = r.id();
                let Some(link) = links.iter().find(|l| l.name == spec.ifname) else {
                    let update = StatusUpdate::new(
                        Phase::Pending,
                        vec![
                            Condition::new(
                                "Exists",
                                false,
                                "LinkMissing",
                                format!("no link named {:?} on this host", spec.ifname),
                            ),
                            Condition::new("LinkUp", false, "LinkMissing", ""),
                        ],
                    );
                    ctx.status.set(&id, ctx.desired.generation, update).await;
                    continue;
                };
                let mut change = LinkChange::default();
                if spec.admin_up() != link.admin_up {
                    change.admin_up = Some(spec.admin_up());
                }
                if spec.mtu.is_some() && spec.mtu != link.mtu {
                    change.mtu = spec.mtu;
                }
                if let Some(mac) = spec.mac_bytes() {
                    let want = mac
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<Vec<_>>()
                        .join(":");
                    if link.mac.as_deref() != Some(want.as_str()) {
                        change.mac = Some(mac);
                    }
                }
                let mut link = link.clone();
                if !change.is_empty() {
                    if let Err(e) = ctx.host.set_link(link.index, change.clone()).await {
                        let update = StatusUpdate::new(
                            Phase::Error,
                            vec![
                                Condition::new(
                                    "Exists",
                                    true,
                                    "Found",
                                    format!("ifindex {}", link.index),
                                ),
                                Condition::new(
                                    "LinkUp",
                                    false,
                                    "ApplyFailed",
                                    format!("could not change {}: {e}", spec.ifname),
                                ),
                            ],
                        );
                        ctx.status.set(&id, ctx.desired.generation, update).await;
                        continue;
                    }
                    tracing::info!(ifname = %spec.ifname, ?change, "link changed");
                    // Re-read: oper state follows admin state asynchronously.
                    if let Ok(again) = ctx.host.links().await {
                        if let Some(l) = again.into_iter().find(|l| l.index == link.index) {
                            link = l;
                        }
                    }
                }
                let fields = InterfaceStatus {
                    ifindex: Some(link.index),
                    oper_state: Some(link.oper_state.as_str().to_string()),
                    mac: link.mac.clone(),
                    mtu: link.mtu,
                    addresses: addrs
                        .iter()
                        .filter(|a| a.ifindex == link.index)
                        .map(|a| format!("{}/{}", a.address, a.prefix_len))
                        .collect(),
                };
                let exists =
                    Condition::new("Exists", true, "Found", format!("ifindex {}", link.index));
                let update = if is_up(&link) {
                    StatusUpdate::new(
                        Phase::Up,
                        vec![
                            Condition::new(
                                "LinkUp",
                                true,
                                "OperUp",
                                format!("oper state {}", link.oper_state),
                            ),
                            exists,
                        ],
                    )
                } else {
                    // Carrier may follow shortly after admin up; look again soon.
                    requeue = Some(Duration::from_secs(2));
                    let why = if link.admin_up {
                        format!("oper state {} (no carrier?)", link.oper_state)
                    } else {
                        "administratively down".to_string()
                    };
                    StatusUpdate::new(
                        Phase::Pending,
                        vec![exists, Condition::new("LinkUp", false, "LinkDown", why)],
                    )
                };
                ctx.status
                    .set(&id, ctx.desired.generation, update.with_fields(&fields))
                    .await;
            }
            let desired = ctx.desired.clone();
            ctx.status.retain_kind(Kind::Interface, &|n| {
                desired.get(Kind::Interface, n).is_some()
            });
            Ok(requeue.map(Action::Requeue).unwrap_or(Action::Idle))
        })
    }
}
