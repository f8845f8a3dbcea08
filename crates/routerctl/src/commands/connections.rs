//! `routerctl get connections`: routerd's `GET /connections` (the conntrack table) as a table, with the
//! same filters; `--watch` redraws it every two seconds until interrupted.

use super::Ctx;
use crate::cli::ConnectionFilter;
use crate::client::Socket;
use crate::output::{self, OutputFormat};
use crate::query::Query;
use crate::table::Table;
use anyhow::Result;
use routerd_api::connections::{Connection, ConnectionTable, ConnectionTuple};
use std::io::IsTerminal as _;
use std::time::Duration;

/// Pause between two screens of `--watch`.
const WATCH_INTERVAL: Duration = Duration::from_secs(2);

/// The request path for `filter` and `limit`. Values are normalised to the API's spelling (lower-case
/// family and protocol, upper-case state) so people can type them either way.
pub fn path(filter: &ConnectionFilter, limit: Option<u32>) -> String {
    let mut q = Query::new();
    q.push_opt(
        "family",
        filter.family.as_deref().map(str::to_ascii_lowercase),
    )
    .push_opt(
        "protocol",
        filter.protocol.as_deref().map(str::to_ascii_lowercase),
    )
    .push_opt("src", filter.src.as_deref())
    .push_opt("dst", filter.dst.as_deref())
    .push_opt("port", filter.port.map(|p| p.to_string()))
    .push_opt(
        "state",
        filter.state.as_deref().map(str::to_ascii_uppercase),
    )
    .push_opt("mark", filter.mark.as_deref())
    .push_opt("limit", limit.map(|l| l.to_string()));
    q.apply_to("/connections")
}

pub async fn show(
    ctx: &Ctx,
    filter: &ConnectionFilter,
    limit: Option<u32>,
    watch: bool,
) -> Result<()> {
    if !watch {
        return show_once(ctx, filter, limit, false).await;
    }
    let stop = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let watching = async {
        loop {
            show_once(ctx, filter, limit, true).await?;
            tokio::time::sleep(WATCH_INTERVAL).await;
        }
    };
    tokio::select! {
        result = watching => result,
        () = stop => Ok(()),
    }
}

async fn show_once(
    ctx: &Ctx,
    filter: &ConnectionFilter,
    limit: Option<u32>,
    watch: bool,
) -> Result<()> {
    let value = ctx.client.get(Socket::Status, &path(filter, limit)).await?;
    if ctx.output != OutputFormat::Table {
        if watch {
            // One JSON document per line, so a watching script reads one screen per line.
            return output::print(&serde_json::to_string(&value)?);
        }
        return output::print_value(ctx.output, &value);
    }
    let table: ConnectionTable = output::decode(value, "connection table")?;
    let mut text = String::new();
    if watch && std::io::stdout().is_terminal() {
        text.push_str("\x1b[H\x1b[2J");
    }
    text.push_str(&render(&table));
    output::print(&text)
}

/// The summary line, then one row per connection.
pub fn render(table: &ConnectionTable) -> String {
    let percent = if table.max > 0 {
        format!(" ({:.1}%)", table.count as f64 * 100.0 / table.max as f64)
    } else {
        String::new()
    };
    let counts = |m: &std::collections::BTreeMap<String, u64>| {
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = format!(
        "{} of {} entries{percent}; {}; {}; {} matched{}\n",
        table.count,
        table.max,
        counts(&table.by_family),
        counts(&table.by_protocol),
        table.matched,
        if table.truncated {
            format!(", first {} shown (raise --limit)", table.items.len())
        } else {
            String::new()
        }
    );
    if table.items.is_empty() {
        return out;
    }
    let mut t = Table::new([
        "proto",
        "state",
        "source",
        "destination",
        "nat",
        "timeout",
        "mark",
        "packets",
        "bytes",
    ]);
    for c in &table.items {
        t.row(row(c));
    }
    out.push_str(&t.render());
    out
}

fn endpoint(address: std::net::IpAddr, port: Option<u16>) -> String {
    match (address, port) {
        (std::net::IpAddr::V6(a), Some(p)) => format!("[{a}]:{p}"),
        (a, Some(p)) => format!("{a}:{p}"),
        (a, None) => a.to_string(),
    }
}

fn icmp(tuple: &ConnectionTuple) -> String {
    match (tuple.icmp_type, tuple.icmp_code, tuple.icmp_id) {
        (Some(t), Some(c), Some(id)) => format!(" type={t} code={c} id={id}"),
        _ => String::new(),
    }
}

fn both(original: Option<u64>, reply: Option<u64>) -> String {
    match (original, reply) {
        (Some(o), Some(r)) => format!("{o}/{r}"),
        _ => crate::table::ABSENT.to_string(),
    }
}

fn row(c: &Connection) -> Vec<String> {
    let mut nat = Vec::new();
    if let Some(a) = c.nat_source {
        nat.push(format!("src={a}"));
    }
    if let Some(a) = c.nat_destination {
        nat.push(format!("dst={a}"));
    }
    let mut state = c.state.clone().unwrap_or_default();
    if c.assured {
        state = if state.is_empty() {
            "[ASSURED]".into()
        } else {
            format!("{state} [ASSURED]")
        };
    }
    vec![
        c.protocol.clone(),
        if state.is_empty() {
            crate::table::ABSENT.to_string()
        } else {
            state
        },
        format!(
            "{}{}",
            endpoint(c.original.source, c.original.source_port),
            icmp(&c.original)
        ),
        endpoint(c.original.destination, c.original.destination_port),
        if nat.is_empty() {
            crate::table::ABSENT.to_string()
        } else {
            nat.join(" ")
        },
        c.timeout
            .map(|t| format!("{t}s"))
            .unwrap_or_else(|| crate::table::ABSENT.to_string()),
        if c.mark == 0 {
            "0".to_string()
        } else {
            format!("{:#x}", c.mark)
        },
        both(c.original.packets, c.reply.packets),
        both(c.original.bytes, c.reply.bytes),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuple(s: &str, sp: u16, d: &str, dp: u16, counters: Option<(u64, u64)>) -> ConnectionTuple {
        ConnectionTuple {
            source: s.parse().unwrap(),
            destination: d.parse().unwrap(),
            source_port: Some(sp),
            destination_port: Some(dp),
            icmp_type: None,
            icmp_code: None,
            icmp_id: None,
            packets: counters.map(|c| c.0),
            bytes: counters.map(|c| c.1),
        }
    }

    #[test]
    fn renders_summary_and_rows() {
        let table = ConnectionTable {
            count: 3,
            max: 1000,
            by_family: [("ipv4".to_string(), 2), ("ipv6".to_string(), 1)].into(),
            by_protocol: [("tcp".to_string(), 3)].into(),
            matched: 2,
            truncated: true,
            items: vec![Connection {
                family: "ipv4".into(),
                protocol: "tcp".into(),
                state: Some("ESTABLISHED".into()),
                timeout: Some(431_999),
                mark: 0x42,
                zone: 0,
                assured: true,
                original: tuple("192.0.2.10", 50000, "198.51.100.1", 443, Some((12, 1500))),
                reply: tuple("198.51.100.1", 443, "203.0.113.5", 61000, Some((10, 9000))),
                nat_source: Some("203.0.113.5".parse().unwrap()),
                nat_destination: None,
            }],
        };
        assert_eq!(
            render(&table),
            "3 of 1000 entries (0.3%); ipv4 2, ipv6 1; tcp 3; 2 matched, first 1 shown (raise --limit)\n\
             PROTO  STATE                  SOURCE            DESTINATION       NAT              TIMEOUT  MARK  PACKETS  BYTES\n\
             tcp    ESTABLISHED [ASSURED]  192.0.2.10:50000  198.51.100.1:443  src=203.0.113.5  431999s  0x42  12/10    1500/9000\n"
        );
    }

    #[test]
    fn filters_are_normalised_into_the_query() {
        let filter = ConnectionFilter {
            family: Some("IPv6".into()),
            protocol: Some("UDP".into()),
            src: Some("2001:db8::/32".into()),
            state: Some("established".into()),
            port: Some(53),
            ..Default::default()
        };
        assert_eq!(
            path(&filter, Some(5)),
            "/connections?family=ipv6&protocol=udp&src=2001:db8::/32&port=53&state=ESTABLISHED&limit=5"
        );
        assert_eq!(path(&ConnectionFilter::default(), None), "/connections");
    }
}
