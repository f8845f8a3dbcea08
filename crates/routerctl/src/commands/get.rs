//! `routerctl get OBJECT [NAME]`: dispatches to the module that owns the object, after refusing flags
//! that do not apply to it (silently ignoring them would show the wrong thing).

use super::{
    connections, controllers, dhcp_leases, dns_queries, events, firewall, flow_logs, generations,
    resources, status, Ctx,
};
use crate::cli::{GetArgs, GetObject};
use crate::failure::UsageError;
use anyhow::Result;

pub async fn run(ctx: &Ctx, args: GetArgs) -> Result<()> {
    check_flags(&args)?;
    match args.object {
        GetObject::Status => status::show(ctx).await,
        GetObject::Controllers => controllers::show(ctx).await,
        GetObject::Generations => generations::show(ctx).await,
        GetObject::Events => events::list(ctx, &args.events).await,
        GetObject::Resources => resources::list(ctx, None, &args.resources).await,
        GetObject::Connections => {
            connections::show(ctx, &args.connections, args.events.limit, args.watch).await
        }
        GetObject::Flows | GetObject::FirewallLogs => {
            let list = if args.object == GetObject::Flows {
                flow_logs::LogList::Flows
            } else {
                flow_logs::LogList::FirewallLogs
            };
            let request = flow_logs::path(
                list,
                &args.logs,
                &args.connections,
                args.events.since.as_deref(),
                args.events.limit,
            );
            flow_logs::show(ctx, list, &request, args.watch).await
        }
        GetObject::DnsQueries => {
            let request = dns_queries::path(
                &args.dns,
                &args.logs,
                args.events.since.as_deref(),
                args.events.limit,
            );
            dns_queries::show(ctx, &request, args.watch).await
        }
        GetObject::Firewall => firewall::show(ctx).await,
        GetObject::Leases => dhcp_leases::show(ctx, args.name.as_deref()).await,
        GetObject::Kind(kind) => match &args.name {
            None => resources::list(ctx, Some(kind), &args.resources).await,
            Some(name) => resources::show_one(ctx, kind, name).await,
        },
    }
}

fn check_flags(args: &GetArgs) -> Result<(), UsageError> {
    let object = match args.object {
        GetObject::Status => "status",
        GetObject::Controllers => "controllers",
        GetObject::Generations => "generations",
        GetObject::Events => "events",
        GetObject::Resources => "resources",
        GetObject::Connections => "connections",
        GetObject::Flows => "flows",
        GetObject::FirewallLogs => "firewall-logs",
        GetObject::DnsQueries => "dns-queries",
        GetObject::Firewall => "firewall",
        GetObject::Leases => "leases",
        GetObject::Kind(kind) => kind.as_str(),
    };
    if args.name.is_some() && !matches!(args.object, GetObject::Kind(_) | GetObject::Leases) {
        return Err(UsageError(format!(
            "`get {object}` takes no name; a name follows a resource kind (e.g. get addr lan)"
        )));
    }
    if args.object == GetObject::DnsQueries {
        let l = &args.logs;
        let misplaced = !args.events.topic.is_empty()
            || args.events.resource.is_some()
            || args.events.severity.is_some()
            || !args.connections.is_empty()
            || l.peer.is_some()
            || l.open.is_some()
            || l.action.is_some()
            || l.rule.is_some();
        if misplaced {
            return Err(UsageError(
                "`get dns-queries` takes --client, --name, --suffix, --rcode, --type, --upstream, --min-duration-micros, --aggregate, --since, --from, --to, --limit and --watch".into(),
            ));
        }
        return Ok(());
    }
    if !args.dns.is_empty() {
        return Err(UsageError(format!(
            "--name, --suffix, --rcode, --type, --upstream, --min-duration-micros and --aggregate are for `get dns-queries`, not `get {object}`"
        )));
    }
    if matches!(args.object, GetObject::Flows | GetObject::FirewallLogs) {
        let flows = args.object == GetObject::Flows;
        let c = &args.connections;
        let l = &args.logs;
        let misplaced = !args.events.topic.is_empty()
            || args.events.resource.is_some()
            || args.events.severity.is_some()
            || c.family.is_some()
            || c.state.is_some()
            || c.mark.is_some()
            || (flows
                && (c.src.is_some() || c.dst.is_some() || l.action.is_some() || l.rule.is_some()))
            || (!flows
                && (c.port.is_some()
                    || l.client.is_some()
                    || l.peer.is_some()
                    || l.open.is_some()));
        if misplaced {
            return Err(UsageError(format!(
                "`get {object}` takes {} --protocol, --since, --from, --to, --limit and --watch",
                if flows {
                    "--client, --peer, --port, --open,"
                } else {
                    "--action, --rule, --src, --dst,"
                }
            )));
        }
        return Ok(());
    }
    if !args.logs.is_empty() {
        return Err(UsageError(format!(
            "--client, --peer, --open, --action, --rule, --from and --to are for `get flows` and `get firewall-logs`, not `get {object}`"
        )));
    }
    if args.object == GetObject::Connections {
        let mut events = args.events.clone();
        events.limit = None;
        if !events.is_empty() {
            return Err(UsageError(
                "--since, --topic, --resource and --severity filter `get events`, not `get connections`".into(),
            ));
        }
    } else if !args.connections.is_empty() || args.watch {
        return Err(UsageError(format!(
            "--family, --protocol, --src, --dst, --port, --state, --mark and --watch are for `get connections`, not `get {object}`"
        )));
    }
    if !args.events.is_empty() && !matches!(args.object, GetObject::Events | GetObject::Connections)
    {
        return Err(UsageError(format!(
            "--since, --topic, --resource, --severity and --limit filter `get events`, not `get {object}`"
        )));
    }
    let lists_resources = match args.object {
        GetObject::Resources => true,
        GetObject::Kind(_) => args.name.is_none(),
        _ => false,
    };
    if !args.resources.is_empty() && !lists_resources {
        return Err(UsageError(format!(
            "--phase and -l filter `get resources` and `get KIND`, not `get {object}{}`",
            args.name
                .as_deref()
                .map(|n| format!(" {n}"))
                .unwrap_or_default()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn get_args(args: &[&str]) -> GetArgs {
        let mut full = vec!["routerctl", "get"];
        full.extend_from_slice(args);
        match Cli::try_parse_from(full) {
            Ok(Cli {
                command: Command::Get(g),
                ..
            }) => *g,
            other => panic!("not a get command: {other:?}"),
        }
    }

    #[test]
    fn flags_must_fit_the_object() {
        assert!(check_flags(&get_args(&["events", "--limit", "5"])).is_ok());
        assert!(check_flags(&get_args(&["addr", "--phase", "error"])).is_ok());
        assert!(check_flags(&get_args(&["resources", "-l", "a=b"])).is_ok());
        assert!(check_flags(&get_args(&["addr", "lan"])).is_ok());

        assert!(check_flags(&get_args(&["status", "x"])).is_err());
        assert!(check_flags(&get_args(&["status", "--limit", "5"])).is_err());
        assert!(check_flags(&get_args(&["events", "--phase", "Up"])).is_err());
        assert!(check_flags(&get_args(&["addr", "lan", "--phase", "Up"])).is_err());
        assert!(check_flags(&get_args(&[
            "connections",
            "--limit",
            "5",
            "--protocol",
            "udp",
            "--watch"
        ]))
        .is_ok());
        assert!(check_flags(&get_args(&["connections", "--topic", "x"])).is_err());
        assert!(check_flags(&get_args(&["events", "--port", "53"])).is_err());
        assert!(check_flags(&get_args(&["status", "--watch"])).is_err());
        assert!(check_flags(&get_args(&[
            "dns-queries",
            "--client",
            "192.168.1.0/24",
            "--name",
            "nas.home.arpa",
            "--type",
            "A",
            "--since",
            "15m",
            "--aggregate",
            "name",
            "--watch"
        ]))
        .is_ok());
        assert!(check_flags(&get_args(&["dns-queries", "--port", "53"])).is_err());
        assert!(check_flags(&get_args(&["flows", "--suffix", "example.com"])).is_err());
    }
}
