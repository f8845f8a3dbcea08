//! `routerctl get events` and `routerctl events [--follow]`.
//!
//! Following is a long-poll loop on `GET /events?since=CURSOR&wait=30s`. The cursor is the only state:
//! routerd persists an event before delivering it, so reconnecting with the last cursor seen after a
//! restart misses nothing, and a cursor that retention has overtaken is answered with the cursor to
//! continue from.

use super::Ctx;
use crate::cli::{EventFilter, EventsArgs};
use crate::client::{ClientError, Socket};
use crate::output::{self, OutputFormat};
use crate::query::Query;
use crate::relative_time::{absolute_millis, relative};
use crate::table::Table;
use anyhow::Result;
use routerd_api::control::{ErrorCode, EventList};
use routerd_api::event::{ATTR_RESOURCE_KIND, ATTR_RESOURCE_NAME};
use routerd_api::{Event, Timestamp};
use serde_json::Value;
use std::time::Duration;

/// How long one long poll waits for news; routerd allows up to 60 s.
const WAIT: Duration = Duration::from_secs(30);
/// routerd's maximum page; used to catch up quickly.
const PAGE: u32 = 1000;
/// Events shown before following when no `--since` is given, like `tail -f`.
const TAIL: usize = 10;
/// Pause between reconnection attempts while routerd is away.
const RETRY: Duration = Duration::from_millis(500);

pub async fn run(ctx: &Ctx, args: EventsArgs) -> Result<()> {
    if !args.follow {
        return list(ctx, &args.filter).await;
    }
    let stop = async {
        // If no handler can be installed, Ctrl-C keeps its default effect; never end early because of it.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = follow(ctx, &args.filter) => result,
        () = stop => Ok(()),
    }
}

/// One page of stored events, as a table or routerd's own JSON/YAML.
pub async fn list(ctx: &Ctx, filter: &EventFilter) -> Result<()> {
    let path = query(filter, filter.since.as_deref(), filter.limit, None).apply_to("/events");
    let value = ctx.client.get(Socket::Status, &path).await?;
    if ctx.output != OutputFormat::Table {
        return output::print_value(ctx.output, &value);
    }
    let list: EventList = output::decode(value, "event list")?;
    if list.items.is_empty() {
        eprintln!("No events found.");
        return Ok(());
    }
    output::print(&render_table(&list.items, ctx.now))
}

/// CURSOR TIME SEVERITY TOPIC RESOURCE MESSAGE.
pub fn render_table(events: &[Event], now: Timestamp) -> String {
    let mut t = Table::new(["cursor", "time", "severity", "topic", "resource", "message"]);
    for e in events {
        t.row([
            e.cursor.clone(),
            relative(e.time, now),
            e.severity.as_str().to_string(),
            e.topic.clone(),
            subject(e),
            e.message.clone(),
        ]);
    }
    t.render()
}

/// The query of `GET /events` for the filter, with an explicit cursor and page size.
fn query(
    filter: &EventFilter,
    since: Option<&str>,
    limit: Option<u32>,
    wait: Option<Duration>,
) -> Query {
    let mut q = Query::new();
    q.push_opt("since", since);
    for topic in &filter.topic {
        q.push("topic", topic);
    }
    q.push_opt("resource", filter.resource.as_ref().map(|r| r.short()));
    q.push_opt("severity", filter.severity.map(|s| s.as_str()));
    q.push_opt("limit", limit.map(|l| l.to_string()));
    q.push_opt("wait", wait.map(routerd_api::duration::format_duration));
    q
}

/// What the event is about: the subject resource when there is one, else who emitted it.
pub fn subject(e: &Event) -> String {
    match (
        e.attributes.get(ATTR_RESOURCE_KIND),
        e.attributes.get(ATTR_RESOURCE_NAME),
    ) {
        (Some(kind), Some(name)) => format!("{kind}/{name}"),
        _ if e.source.instance.is_empty() => e.source.kind.clone(),
        _ => format!("{}/{}", e.source.kind, e.source.instance),
    }
}

/// `TIME SEVERITY TOPIC SUBJECT MESSAGE key=value ...`: one line per event, greppable, with the
/// attributes other than the subject (already shown) at the end.
pub fn format_line(e: &Event) -> String {
    let mut line = format!(
        "{} {} {} {}",
        absolute_millis(e.time),
        e.severity.as_str(),
        e.topic,
        subject(e)
    );
    if !e.message.is_empty() {
        line.push(' ');
        line.push_str(&e.message.replace(['\n', '\r'], " "));
    }
    for (k, v) in &e.attributes {
        if k == ATTR_RESOURCE_KIND || k == ATTR_RESOURCE_NAME {
            continue;
        }
        line.push(' ');
        line.push_str(k);
        line.push('=');
        if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c == '"' || c == '=') {
            line.push_str(&format!("{v:?}"));
        } else {
            line.push_str(v);
        }
    }
    line
}

/// Prints followed events in the chosen format: lines for people, JSON Lines or YAML documents for
/// programs (a stream cannot be one JSON document).
fn emit(format: OutputFormat, raw: &Value, event: &Event) -> Result<()> {
    match format {
        OutputFormat::Table => output::print(&format_line(event)),
        OutputFormat::Json => output::print(&serde_json::to_string(raw)?),
        OutputFormat::Yaml => {
            output::print(&format!("---\n{}", output::render_value(format, raw)?))
        }
    }
}

/// One page as typed events paired with routerd's raw JSON (printed unchanged with `-o json`).
struct Page {
    cursor: String,
    events: Vec<(Value, Event)>,
}

fn page(value: Value) -> Result<Page> {
    let raw_items = value
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let list: EventList = output::decode(value, "event list")?;
    Ok(Page {
        cursor: list.cursor,
        events: raw_items.into_iter().zip(list.items).collect(),
    })
}

async fn follow(ctx: &Ctx, filter: &EventFilter) -> Result<()> {
    let mut cursor = match &filter.since {
        Some(since) => since.clone(),
        None => tail(ctx, filter).await?,
    };
    // Until routerd has answered once, unreachable most likely means a wrong --runtime-dir, which
    // waiting would not fix; afterwards it means a restart, which waiting does.
    let mut connected = filter.since.is_none();
    let mut away = false;
    loop {
        let path = query(filter, Some(&cursor), Some(PAGE), Some(WAIT)).apply_to("/events");
        match ctx
            .client
            .get_slow(Socket::Status, &path, WAIT + ctx.client.timeout())
            .await
        {
            Ok(value) => {
                connected = true;
                if away {
                    eprintln!(
                        "routerctl: reconnected to routerd; continuing after cursor {cursor}"
                    );
                    away = false;
                }
                let page = page(value)?;
                for (raw, event) in &page.events {
                    emit(ctx.output, raw, event)?;
                }
                if let Some((_, last)) = page.events.last() {
                    cursor = last.cursor.clone();
                }
                if !page.cursor.is_empty() {
                    cursor = page.cursor;
                }
            }
            Err(ClientError::Api { error, .. }) if error.code == ErrorCode::CursorExpired => {
                cursor = match error.cursor {
                    Some(next) => {
                        output::warn(&format!(
                            "events after cursor {cursor} were removed by retention; continuing from {next}"
                        ));
                        next
                    }
                    None => {
                        output::warn(&format!(
                            "events after cursor {cursor} were removed by retention; starting again from the newest"
                        ));
                        tail(ctx, filter).await?
                    }
                };
            }
            Err(e) if e.is_transient() && connected => {
                if !away {
                    eprintln!(
                        "routerctl: {e}; retrying every {} (will continue after cursor {cursor})",
                        routerd_api::duration::format_duration(RETRY)
                    );
                    away = true;
                }
                tokio::time::sleep(RETRY).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Prints the last [`TAIL`] matching events (`latest=true` asks routerd for the newest page directly)
/// and returns the cursor to follow from. Following from the newest match with the same filter misses
/// nothing: events after it either match (and are printed) or would not have been shown anyway.
/// Unreachable routerd here is an error, not a retry (see [`follow`]).
async fn tail(ctx: &Ctx, filter: &EventFilter) -> Result<String> {
    let mut q = query(filter, None, Some(TAIL as u32), None);
    q.push("latest", "true");
    let page = page(
        ctx.client
            .get(Socket::Status, &q.apply_to("/events"))
            .await?,
    )?;
    let mut cursor = None;
    for (raw, event) in &page.events {
        emit(ctx.output, raw, event)?;
        cursor = Some(event.cursor.clone());
    }
    match cursor {
        Some(c) => Ok(c),
        // Nothing matches yet: follow from the current end of the whole stream.
        None => {
            let mut q = Query::new();
            q.push("latest", "true").push("limit", "1");
            let end = page_cursor(
                ctx.client
                    .get(Socket::Status, &q.apply_to("/events"))
                    .await?,
            )?;
            Ok(end)
        }
    }
}

fn page_cursor(value: Value) -> Result<String> {
    let p = page(value)?;
    Ok(p.events
        .last()
        .map(|(_, e)| e.cursor.clone())
        .unwrap_or_else(|| {
            if p.cursor.is_empty() {
                "0".to_string()
            } else {
                p.cursor
            }
        }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use routerd_api::event::NewEvent;
    use routerd_api::Severity;

    fn event() -> Event {
        let mut e = NewEvent::new(
            "routerd.dhcpv4.client.lease.bound",
            Severity::Info,
            "lease bound",
        )
        .resource("DHCPv4Client", "wan")
        .source("routerd-dhcpv4-client", "wan")
        .attr("address", "198.51.100.7")
        .attr("note", "two words")
        .with_cursor(1042);
        e.time = Timestamp::parse("2026-11-23T18:40:12.123456789Z").unwrap_or(Timestamp(0));
        e
    }

    #[test]
    fn follow_lines_are_absolute_and_carry_attributes() {
        assert_eq!(
            format_line(&event()),
            "2026-11-23T18:40:12.123Z info routerd.dhcpv4.client.lease.bound DHCPv4Client/wan lease bound address=198.51.100.7 note=\"two words\""
        );
    }

    #[test]
    fn subject_falls_back_to_the_source() {
        let mut e = event();
        e.attributes.clear();
        assert_eq!(subject(&e), "routerd-dhcpv4-client/wan");
        e.source.instance.clear();
        assert_eq!(subject(&e), "routerd-dhcpv4-client");
    }

    #[test]
    fn table_times_are_relative() {
        let e = event();
        let now = Timestamp(e.time.0 + 65_000_000_000);
        assert_eq!(
            render_table(&[e], now),
            "CURSOR  TIME    SEVERITY  TOPIC                              RESOURCE          MESSAGE\n\
             1042    1m ago  info      routerd.dhcpv4.client.lease.bound  DHCPv4Client/wan  lease bound\n"
        );
    }

    #[test]
    fn query_carries_every_filter() {
        let filter = EventFilter {
            since: None,
            topic: vec!["routerd.dhcpv4.**".into(), "routerd.route.*".into()],
            resource: crate::target::parse_ref("dhcp4/wan").ok(),
            severity: Some(Severity::Warning),
            limit: None,
        };
        assert_eq!(
            query(&filter, Some("17"), Some(1000), Some(WAIT)).apply_to("/events"),
            "/events?since=17&topic=routerd.dhcpv4.**&topic=routerd.route.*&resource=DHCPv4Client/wan&severity=warning&limit=1000&wait=30s"
        );
    }
}
