//! `routerctl get dns-queries`: routerd's `GET /dns-queries` as a table, newest first, with the API's
//! filters; `--aggregate name|client` shows the top names or clients instead; `--watch` redraws every
//! two seconds until interrupted.

use super::Ctx;
use crate::cli::{DnsQueryFilter, LogFilter};
use crate::client::Socket;
use crate::output::{self, OutputFormat};
use crate::query::Query;
use crate::relative_time::absolute_millis;
use crate::table::{Table, ABSENT};
use anyhow::Result;
use routerd_api::dns_query::{DnsQuery, DnsQueryAggregate, DnsQueryList};
use std::io::IsTerminal as _;
use std::time::Duration;

const WATCH_INTERVAL: Duration = Duration::from_secs(2);

/// The request path: the shared window, client and limit, then the DNS filters.
pub fn path(
    dns: &DnsQueryFilter,
    log: &LogFilter,
    since: Option<&str>,
    limit: Option<u32>,
) -> String {
    let mut q = Query::new();
    q.push_opt("since", since)
        .push_opt("from", log.from.as_deref())
        .push_opt("to", log.to.as_deref())
        .push_opt("client", log.client.as_deref())
        .push_opt("name", dns.name.as_deref())
        .push_opt("suffix", dns.suffix.as_deref())
        .push_opt("rcode", dns.rcode.as_deref())
        .push_opt("type", dns.qtype.as_deref())
        .push_opt("upstream", dns.upstream.as_deref())
        .push_opt(
            "minDurationMicros",
            dns.min_duration_micros.map(|m| m.to_string()),
        )
        .push_opt("aggregate", dns.aggregate.as_deref())
        .push_opt("limit", limit.map(|l| l.to_string()));
    q.apply_to("/dns-queries")
}

pub async fn show(ctx: &Ctx, request: &str, watch: bool) -> Result<()> {
    if !watch {
        return show_once(ctx, request, false).await;
    }
    let stop = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let watching = async {
        loop {
            show_once(ctx, request, true).await?;
            tokio::time::sleep(WATCH_INTERVAL).await;
        }
    };
    tokio::select! {
        result = watching => result,
        () = stop => Ok(()),
    }
}

async fn show_once(ctx: &Ctx, request: &str, watch: bool) -> Result<()> {
    let value = ctx.client.get(Socket::Status, request).await?;
    if ctx.output != OutputFormat::Table {
        if watch {
            // One JSON document per line, so a watching script reads one screen per line.
            return output::print(&serde_json::to_string(&value)?);
        }
        return output::print_value(ctx.output, &value);
    }
    let mut text = String::new();
    if watch && std::io::stdout().is_terminal() {
        text.push_str("\x1b[H\x1b[2J");
    }
    if value["kind"] == "DNSQueryAggregate" {
        text.push_str(&render_aggregate(&output::decode(
            value,
            "DNS query aggregate",
        )?));
    } else {
        text.push_str(&render(&output::decode(value, "DNS query list")?));
    }
    output::print(&text)
}

/// The data of an answer record in presentation form (`www.example.com. 60 IN A 192.0.2.1` →
/// `192.0.2.1`); a record in another shape is shown whole.
fn answer_data(record: &str) -> &str {
    let mut rest = record.trim();
    for _ in 0..4 {
        match rest.split_once(char::is_whitespace) {
            Some((_, r)) => rest = r.trim_start(),
            None => return record,
        }
    }
    rest
}

fn row(q: &DnsQuery) -> Vec<String> {
    let answers: Vec<&str> = q.answers.iter().map(|a| answer_data(a)).collect();
    vec![
        q.id.to_string(),
        absolute_millis(q.time),
        q.client.clone(),
        q.name.clone(),
        q.type_.clone(),
        q.rcode.clone(),
        q.upstream.clone().unwrap_or_else(|| ABSENT.into()),
        if q.cache_hit { "hit" } else { ABSENT }.to_string(),
        format!("{}µs", q.duration_micros),
        if answers.is_empty() {
            ABSENT.into()
        } else {
            answers.join(", ")
        },
    ]
}

pub fn render(list: &DnsQueryList) -> String {
    if list.items.is_empty() {
        return "no DNS queries\n".into();
    }
    let mut t = Table::new([
        "id", "time", "client", "name", "type", "rcode", "upstream", "cache", "duration", "answers",
    ]);
    for q in &list.items {
        t.row(row(q));
    }
    let mut out = t.render();
    if list.truncated {
        out.push_str(&format!(
            "first {} shown (raise --limit)\n",
            list.items.len()
        ));
    }
    out
}

pub fn render_aggregate(groups: &DnsQueryAggregate) -> String {
    if groups.items.is_empty() {
        return "no DNS queries\n".into();
    }
    let mut t = Table::new([groups.by.as_str(), "queries"]);
    for g in &groups.items {
        t.row([g.key.clone(), g.count.to_string()]);
    }
    let mut out = t.render();
    if groups.truncated {
        out.push_str(&format!(
            "top {} shown (raise --limit)\n",
            groups.items.len()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use routerd_api::dns_query::DnsQueryCount;
    use routerd_api::Timestamp;

    #[test]
    fn filters_go_into_the_query() {
        let dns = DnsQueryFilter {
            suffix: Some("example.com".into()),
            qtype: Some("AAAA".into()),
            min_duration_micros: Some(500),
            aggregate: Some("client".into()),
            ..Default::default()
        };
        let log = LogFilter {
            client: Some("192.168.1.0/24".into()),
            ..Default::default()
        };
        assert_eq!(
            path(&dns, &log, Some("15m"), Some(10)),
            "/dns-queries?since=15m&client=192.168.1.0/24&suffix=example.com&type=AAAA&minDurationMicros=500&aggregate=client&limit=10"
        );
        assert_eq!(
            path(
                &DnsQueryFilter::default(),
                &LogFilter::default(),
                None,
                None
            ),
            "/dns-queries"
        );
    }

    #[test]
    fn renders_rows_and_groups() {
        let q = |id: u64, name: &str, upstream: Option<&str>, hit: bool| DnsQuery {
            id,
            time: Timestamp::parse("2026-12-02T12:00:00.250Z").unwrap(),
            client: "192.168.1.20".into(),
            name: name.into(),
            type_: "A".into(),
            rcode: "NOERROR".into(),
            answers: vec![format!("{name}. 60 IN A 192.0.2.10")],
            upstream: upstream.map(Into::into),
            cache_hit: hit,
            duration_micros: 42,
        };
        let text = render(&DnsQueryList {
            items: vec![
                q(2, "www.example.com", None, true),
                q(1, "nas.home.arpa", None, false),
            ],
            truncated: true,
        });
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("ID  TIME"), "{text}");
        assert!(
            lines[1].contains("www.example.com") && lines[1].contains("hit"),
            "{text}"
        );
        assert!(lines[1].ends_with("192.0.2.10"), "{text}");
        assert_eq!(lines[3], "first 2 shown (raise --limit)");
        let text = render_aggregate(&DnsQueryAggregate {
            by: "name".into(),
            items: vec![DnsQueryCount {
                key: "www.example.com".into(),
                count: 7,
            }],
            truncated: false,
        });
        assert_eq!(text, "NAME             QUERIES\nwww.example.com  7\n");
        assert_eq!(answer_data("x. 1 IN TXT \"a b\""), "\"a b\"");
        assert_eq!(answer_data("odd"), "odd");
    }
}
