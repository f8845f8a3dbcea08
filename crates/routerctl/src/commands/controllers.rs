//! `routerctl get controllers`, and the controller summary inside `get status`.

use super::Ctx;
use crate::client::Socket;
use crate::output::{self, OutputFormat};
use crate::relative_time::relative_opt;
use crate::table::{opt, Table};
use anyhow::Result;
use routerd_api::control::{ControllerList, ControllerStatus};
use routerd_api::Timestamp;

pub async fn show(ctx: &Ctx) -> Result<()> {
    let value = ctx.client.get(Socket::Status, "/controllers").await?;
    if ctx.output != OutputFormat::Table {
        return output::print_value(ctx.output, &value);
    }
    let list: ControllerList = output::decode(value, "controller list")?;
    output::print(&render(&list.items, ctx.now))
}

/// Every runtime field of every controller; absent observations (not run yet) show as `-`.
pub fn render(items: &[ControllerStatus], now: Timestamp) -> String {
    let mut t = Table::new([
        "name",
        "mode",
        "kinds",
        "last-trigger",
        "last-reconcile",
        "reconciles",
        "errors",
        "last-duration",
        "next",
    ]);
    for c in items {
        t.row([
            c.name.clone(),
            c.mode.clone(),
            c.resource_kinds.join(","),
            opt(c.last_trigger.as_deref()),
            relative_opt(c.last_reconcile_time, now),
            opt(c.reconcile_count),
            errors(c),
            opt(c.last_duration),
            relative_opt(c.next_reconcile_time, now),
        ]);
    }
    t.render()
}

/// The short form for `get status`: whether each controller runs and whether it is failing now.
pub fn render_summary(items: &[ControllerStatus], now: Timestamp) -> String {
    let mut t = Table::new([
        "name",
        "mode",
        "last-reconcile",
        "reconciles",
        "errors",
        "current-error",
    ]);
    for c in items {
        let current = if c.current_error == Some(true) {
            c.last_error.clone().unwrap_or_else(|| "yes".to_string())
        } else {
            String::new()
        };
        t.row([
            c.name.clone(),
            c.mode.clone(),
            relative_opt(c.last_reconcile_time, now),
            opt(c.reconcile_count),
            errors(c),
            current,
        ]);
    }
    t.render()
}

/// `consecutive/total`: the first says whether it is failing now, the second whether it ever did.
fn errors(c: &ControllerStatus) -> String {
    match (c.consecutive_error_count, c.reconcile_error_count) {
        (None, None) => String::new(),
        (consecutive, total) => format!("{}/{}", opt(consecutive), opt(total)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use routerd_api::GoDuration;

    const NOW: Timestamp = Timestamp(1_795_459_212_000_000_000);

    #[test]
    fn a_controller_that_never_ran_shows_dashes() {
        let fresh = ControllerStatus {
            name: "nat".into(),
            mode: "live".into(),
            resource_kinds: vec!["NAT44Rule".into()],
            ..Default::default()
        };
        let busy = ControllerStatus {
            name: "address".into(),
            mode: "observe".into(),
            resource_kinds: vec!["IPv4StaticAddress".into(), "IPv6DelegatedAddress".into()],
            last_trigger: Some("periodic".into()),
            last_reconcile_time: Some(Timestamp(NOW.0 - 12_000_000_000)),
            next_reconcile_time: Some(Timestamp(NOW.0 + 20_000_000_000)),
            reconcile_count: Some(41),
            reconcile_error_count: Some(3),
            consecutive_error_count: Some(1),
            current_error: Some(true),
            last_duration: Some(GoDuration(std::time::Duration::from_micros(1500))),
            last_error: Some("netlink: permission denied".into()),
            ..Default::default()
        };
        let text = render(&[busy.clone(), fresh.clone()], NOW);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "NAME     MODE     KINDS                                   LAST-TRIGGER  LAST-RECONCILE  RECONCILES  ERRORS  LAST-DURATION  NEXT"
        );
        assert_eq!(
            lines[1],
            "address  observe  IPv4StaticAddress,IPv6DelegatedAddress  periodic      12s ago         41          1/3     1.5ms          in 20s"
        );
        assert_eq!(
            lines[2],
            "nat      live     NAT44Rule                               -             -               -           -       -              -"
        );

        let summary = render_summary(&[busy, fresh], NOW);
        assert!(summary
            .lines()
            .nth(1)
            .unwrap_or_default()
            .ends_with("netlink: permission denied"));
        assert!(summary.lines().nth(2).unwrap_or_default().ends_with("-"));
    }
}
