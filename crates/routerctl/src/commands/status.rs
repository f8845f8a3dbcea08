//! `routerctl get status`: the one screen an operator looks at first, so problems come before details.

use super::{controllers, Ctx};
use crate::client::Socket;
use crate::output::{self, OutputFormat};
use crate::relative_time::{relative, relative_opt};
use crate::table::{opt, Table};
use anyhow::Result;
use routerd_api::control::StatusBody;
use routerd_api::Timestamp;

pub async fn show(ctx: &Ctx) -> Result<()> {
    let value = ctx.client.get(Socket::Status, "/status").await?;
    if ctx.output != OutputFormat::Table {
        return output::print_value(ctx.output, &value);
    }
    let body: StatusBody = output::decode(value, "status")?;
    output::print(&render(&body, ctx.now))
}

pub fn render(body: &StatusBody, now: Timestamp) -> String {
    let s = &body.status;
    let phases: Vec<String> = s
        .resource_phases
        .iter()
        .map(|(p, n)| format!("{p}={n}"))
        .collect();
    let mut pairs = vec![
        ("Phase", s.phase.as_str().to_string()),
        ("Version", s.version.clone()),
        ("Generation", s.generation.to_string()),
        ("Started", relative(s.started_at, now)),
        ("Last apply", relative_opt(s.last_apply_time, now)),
        ("Resources", s.resource_count.to_string()),
        ("Phases", phases.join(" ")),
    ];
    if let Some(err) = &s.config_error {
        pairs.push((
            "Config error",
            format!("{err} (running the last good generation)"),
        ));
    }
    let mut out = output::fields(&pairs);

    out.push('\n');
    if s.resource_phase_issues.is_empty() {
        out.push_str("Every resource is in a good phase.\n");
    } else {
        out.push_str("Resources not in a good phase:\n");
        let mut t = Table::new(["kind", "name", "phase", "reason", "message"]);
        for issue in &s.resource_phase_issues {
            t.row([
                issue.kind.clone(),
                issue.name.clone(),
                issue.phase.as_str().to_string(),
                issue.reason.clone(),
                issue.message.clone(),
            ]);
        }
        out.push_str(&t.render());
    }

    if !s.controllers.is_empty() {
        out.push_str("\nControllers:\n");
        out.push_str(&controllers::render_summary(&s.controllers, now));
    }

    if !s.daemons.is_empty() {
        out.push_str("\nDaemons:\n");
        let mut t = Table::new(["kind", "instance", "state", "pid", "restarts", "socket"]);
        for d in &s.daemons {
            t.row([
                d.kind.clone(),
                d.instance.clone(),
                d.state.clone(),
                opt(d.pid),
                d.restarts.to_string(),
                d.socket.clone(),
            ]);
        }
        out.push_str(&t.render());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shows_problems_controllers_and_daemons() {
        let now = Timestamp::parse("2026-11-23T18:40:12Z").unwrap();
        let body: StatusBody = serde_json::from_value(json!({
            "apiVersion": "control.routerd.net/v1alpha1",
            "kind": "Status",
            "metadata": {"name": "routerd"},
            "status": {
                "phase": "Pending",
                "version": "0.1.0",
                "startedAt": "2026-11-23T15:40:12Z",
                "generation": 7,
                "resourceCount": 3,
                "resourcePhases": {"Applied": 2, "Pending": 1},
                "resourcePhaseIssues": [{"apiVersion": "net.routerd.net/v1alpha1", "kind": "DHCPv4Client",
                    "name": "wan", "phase": "Pending", "reason": "NoLease", "message": "no offer yet"}],
                "controllers": [{"name": "address", "mode": "live", "resourceKinds": ["IPv4StaticAddress"]}],
                "daemons": [{"kind": "routerd-dhcpv4-client", "instance": "wan", "pid": 1234,
                    "socket": "/run/routerd/dhcpv4-client/wan.sock", "restarts": 0, "state": "Running"}]
            }
        }))
        .unwrap();
        let text = render(&body, now);
        assert!(text.starts_with("Phase:       Pending\n"), "{text}");
        assert!(text.contains("Started:     3h ago\n"), "{text}");
        assert!(text.contains("Last apply:  -\n"), "{text}");
        assert!(
            text.contains("Phases:      Applied=2 Pending=1\n"),
            "{text}"
        );
        assert!(
            text.contains("DHCPv4Client  wan   Pending  NoLease  no offer yet\n"),
            "{text}"
        );
        assert!(text.contains("\nControllers:\nNAME     MODE"), "{text}");
        assert!(
            text.contains("routerd-dhcpv4-client  wan       Running  1234"),
            "{text}"
        );
        for line in text.lines() {
            assert_eq!(line, line.trim_end());
        }
    }
}
