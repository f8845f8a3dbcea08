//! `routerctl get flows` and `routerctl get firewall-logs`: routerd's `GET /traffic-flows` and
//! `GET /firewall-logs` as tables, newest first, with the API's filters; `--watch` redraws every two
//! seconds until interrupted.

use super::Ctx;
use crate::cli::{ConnectionFilter, LogFilter};
use crate::client::Socket;
use crate::output::{self, OutputFormat};
use crate::query::Query;
use crate::relative_time::absolute_millis;
use crate::table::{Table, ABSENT};
use anyhow::Result;
use routerd_api::traffic_flow::{FirewallLogList, TrafficFlowList};
use std::io::IsTerminal as _;
use std::time::Duration;

const WATCH_INTERVAL: Duration = Duration::from_secs(2);

/// Which list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogList {
    Flows,
    FirewallLogs,
}

/// The request path: the shared window and limit, then the list's own filters.
pub fn path(
    list: LogList,
    log: &LogFilter,
    shared: &ConnectionFilter,
    since: Option<&str>,
    limit: Option<u32>,
) -> String {
    let mut q = Query::new();
    q.push_opt("since", since)
        .push_opt("from", log.from.as_deref())
        .push_opt("to", log.to.as_deref())
        .push_opt(
            "protocol",
            shared.protocol.as_deref().map(str::to_ascii_lowercase),
        );
    match list {
        LogList::Flows => {
            q.push_opt("client", log.client.as_deref())
                .push_opt("peer", log.peer.as_deref())
                .push_opt("port", shared.port.map(|p| p.to_string()))
                .push_opt("open", log.open.map(|o| o.to_string()));
        }
        LogList::FirewallLogs => {
            q.push_opt("action", log.action.as_deref())
                .push_opt("rule", log.rule.as_deref())
                .push_opt("src", shared.src.as_deref())
                .push_opt("dst", shared.dst.as_deref());
        }
    }
    q.push_opt("limit", limit.map(|l| l.to_string()));
    q.apply_to(match list {
        LogList::Flows => "/traffic-flows",
        LogList::FirewallLogs => "/firewall-logs",
    })
}

pub async fn show(ctx: &Ctx, list: LogList, request: &str, watch: bool) -> Result<()> {
    if !watch {
        return show_once(ctx, list, request, false).await;
    }
    let stop = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let watching = async {
        loop {
            show_once(ctx, list, request, true).await?;
            tokio::time::sleep(WATCH_INTERVAL).await;
        }
    };
    tokio::select! {
        result = watching => result,
        () = stop => Ok(()),
    }
}

async fn show_once(ctx: &Ctx, list: LogList, request: &str, watch: bool) -> Result<()> {
    let value = ctx.client.get(Socket::Status, request).await?;
    if ctx.output != OutputFormat::Table {
        if watch {
            return output::print(&serde_json::to_string(&value)?);
        }
        return output::print_value(ctx.output, &value);
    }
    let mut text = String::new();
    if watch && std::io::stdout().is_terminal() {
        text.push_str("\x1b[H\x1b[2J");
    }
    text.push_str(&match list {
        LogList::Flows => render_flows(&output::decode(value, "traffic flow list")?),
        LogList::FirewallLogs => render_firewall(&output::decode(value, "firewall log list")?),
    });
    output::print(&text)
}

fn endpoint(address: &str, port: Option<u16>) -> String {
    match port {
        Some(p) if address.contains(':') => format!("[{address}]:{p}"),
        Some(p) => format!("{address}:{p}"),
        None => address.to_string(),
    }
}

fn truncated_note(truncated: bool, shown: usize) -> String {
    if truncated {
        format!("first {shown} shown (raise --limit)\n")
    } else {
        String::new()
    }
}

pub fn render_flows(list: &TrafficFlowList) -> String {
    let mut t = Table::new([
        "id", "start", "end", "proto", "client", "peer", "nat", "bytes", "packets", "duration",
    ]);
    for f in &list.items {
        t.row([
            f.id.to_string(),
            absolute_millis(f.start),
            f.end.map(absolute_millis).unwrap_or_else(|| "open".into()),
            f.protocol.clone(),
            endpoint(&f.client, Some(f.client_port)),
            endpoint(&f.peer, Some(f.peer_port)),
            f.nat_address.clone().unwrap_or_else(|| ABSENT.into()),
            format!("{}/{}", f.bytes_out, f.bytes_in),
            format!("{}/{}", f.packets_out, f.packets_in),
            f.duration_millis
                .map(|ms| format!("{:.3}s", ms / 1000.0))
                .unwrap_or_else(|| ABSENT.into()),
        ]);
    }
    let mut out = if list.items.is_empty() {
        "no flows\n".to_string()
    } else {
        t.render()
    };
    out.push_str(&truncated_note(list.truncated, list.items.len()));
    out
}

pub fn render_firewall(list: &FirewallLogList) -> String {
    let mut t = Table::new([
        "id",
        "time",
        "action",
        "rule",
        "in",
        "out",
        "proto",
        "source",
        "destination",
        "len",
        "flags",
    ]);
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| ABSENT.into());
    for e in &list.items {
        t.row([
            e.id.to_string(),
            absolute_millis(e.time),
            e.action.clone(),
            if e.rule.is_empty() {
                e.prefix.clone()
            } else {
                e.rule.clone()
            },
            opt(&e.in_interface),
            opt(&e.out_interface),
            e.protocol.clone(),
            endpoint(&e.source, e.source_port),
            endpoint(&e.destination, e.destination_port),
            e.length.to_string(),
            opt(&e.tcp_flags),
        ]);
    }
    let mut out = if list.items.is_empty() {
        "no firewall log entries\n".to_string()
    } else {
        t.render()
    };
    out.push_str(&truncated_note(list.truncated, list.items.len()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_carry_each_lists_filters_only() {
        let log = LogFilter {
            client: Some("192.0.2.0/24".into()),
            open: Some(true),
            rule: Some("wan-in".into()),
            ..LogFilter::default()
        };
        let shared = ConnectionFilter {
            protocol: Some("TCP".into()),
            port: Some(80),
            src: Some("198.51.100.1".into()),
            ..ConnectionFilter::default()
        };
        assert_eq!(
            path(LogList::Flows, &log, &shared, Some("15m"), Some(10)),
            "/traffic-flows?since=15m&protocol=tcp&client=192.0.2.0/24&port=80&open=true&limit=10"
        );
        assert_eq!(
            path(LogList::FirewallLogs, &log, &shared, None, None),
            "/firewall-logs?protocol=tcp&rule=wan-in&src=198.51.100.1"
        );
    }
}
