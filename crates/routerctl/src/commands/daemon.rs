//! `routerctl daemon KIND/NAME ACTION`: a resource's managed daemon, spoken to on its own socket
//! (`<runtime-dir>/<daemon>/<name>.sock`), so an operator can see exactly what the daemon believes.

use super::events::format_line;
use super::Ctx;
use crate::cli::DaemonArgs;
use crate::client::{Client, ClientError, Socket};
use crate::failure::UsageError;
use crate::output::{self, OutputFormat};
use crate::relative_time::relative_opt;
use crate::table::Table;
use anyhow::Result;
use routerd_api::daemon::{
    daemon_dir_name, CommandResult, DaemonEventList, DaemonLog, DaemonStatus,
};
use routerd_api::ResourceId;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The daemon socket of a resource, or a usage error naming kinds that have daemons.
pub fn socket_of(runtime_dir: &Path, target: &str) -> Result<(ResourceId, PathBuf), UsageError> {
    let id = ResourceId::parse_short(target).map_err(UsageError)?;
    let exe = id.kind.info().daemon.ok_or_else(|| {
        let with: Vec<&str> = routerd_api::kind::KINDS
            .iter()
            .filter(|k| k.daemon.is_some())
            .map(|k| k.name)
            .collect();
        UsageError(format!(
            "{} has no managed daemon (kinds with one: {})",
            id.kind,
            with.join(", ")
        ))
    })?;
    let path = runtime_dir
        .join(daemon_dir_name(exe))
        .join(format!("{}.sock", id.name));
    Ok((id, path))
}

pub async fn run(ctx: &Ctx, runtime_dir: &Path, args: DaemonArgs) -> Result<()> {
    let (_, socket) = socket_of(runtime_dir, &args.target)?;
    let client = Client::daemon(socket, ctx.client.timeout());
    match args.action.as_str() {
        "status" => {
            let v = client.get(Socket::Status, "/v1/status").await?;
            if ctx.output != OutputFormat::Table {
                return output::print_value(ctx.output, &v);
            }
            let s: DaemonStatus = output::decode(v, "daemon status")?;
            output::print(&render_status(&s, ctx))
        }
        "events" => events(ctx, &client, &args).await,
        "logs" => {
            let v = client
                .get(Socket::Status, &format!("/v1/logs?lines={}", args.lines))
                .await?;
            if ctx.output != OutputFormat::Table {
                return output::print_value(ctx.output, &v);
            }
            let log: DaemonLog = output::decode(v, "daemon log")?;
            output::print(&log.lines.join("\n"))
        }
        command => {
            let v = client
                .post(
                    Socket::Main,
                    &format!("/v1/commands/{command}"),
                    &serde_json::json!({}),
                )
                .await?;
            if ctx.output != OutputFormat::Table {
                return output::print_value(ctx.output, &v);
            }
            let r: CommandResult = output::decode(v, "command result")?;
            let mut text = format!(
                "{} accepted{}",
                r.command,
                if r.message.is_empty() {
                    String::new()
                } else {
                    format!(": {}", r.message)
                }
            );
            if let Some(result) = r.result {
                text.push('\n');
                text.push_str(&output::render_value(OutputFormat::Yaml, &result)?);
            }
            output::print(&text)
        }
    }
}

fn render_status(s: &DaemonStatus, ctx: &Ctx) -> String {
    let mut out = output::fields(&[
        ("Daemon", format!("{} {}", s.daemon.kind, s.daemon.instance)),
        ("PID", s.daemon.pid.to_string()),
        ("Version", s.daemon.version.clone()),
        ("Started", relative_opt(Some(s.daemon.started_at), ctx.now)),
        ("Phase", s.phase.clone()),
        (
            "Event cursor",
            s.event_cursor.clone().unwrap_or_else(|| "-".into()),
        ),
    ]);
    for r in &s.resources {
        out.push_str(&format!(
            "\n{}/{}: {} (since {})\n",
            r.resource.kind,
            r.resource.name,
            r.phase,
            relative_opt(r.since, ctx.now)
        ));
        let mut t = Table::new(["TYPE", "STATUS", "REASON", "MESSAGE"]);
        for c in &r.conditions {
            t.row([
                c.type_.clone(),
                format!("{:?}", c.status),
                c.reason.clone(),
                c.message.clone(),
            ]);
        }
        out.push_str(&output::indent(&t.render(), 2));
        if !r.observed.is_empty() {
            out.push_str("\n  Observed:\n");
            let mut keys: Vec<&String> = r
                .observed
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, _)| k)
                .collect();
            keys.sort();
            for k in keys {
                let v = &r.observed[k];
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Array(a) if a.len() > 3 => format!("[{} entries]", a.len()),
                    other => other.to_string(),
                };
                out.push_str(&format!("    {k}: {text}\n"));
            }
        }
    }
    out
}

async fn events(ctx: &Ctx, client: &Client, args: &DaemonArgs) -> Result<()> {
    let mut since = args.since.clone();
    loop {
        let mut path = String::from("/v1/events?limit=1000");
        if let Some(s) = &since {
            path.push_str(&format!("&since={s}"));
        }
        for t in &args.topic {
            path.push_str(&format!("&topic={t}"));
        }
        if args.follow && since.is_some() {
            path.push_str("&wait=30s");
        }
        let v = match client
            .get_slow(Socket::Status, &path, Duration::from_secs(40))
            .await
        {
            Ok(v) => v,
            Err(ClientError::Api { status: 410, error }) if args.follow => {
                output::warn(&format!(
                    "{}; continuing from the daemon's head",
                    error.message
                ));
                since = error.cursor;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let list: DaemonEventList = output::decode(v.clone(), "daemon events")?;
        if ctx.output != OutputFormat::Table && !args.follow {
            return output::print_value(ctx.output, &v);
        }
        let mut stdout = std::io::stdout().lock();
        for e in &list.items {
            let line = if ctx.output == OutputFormat::Json {
                serde_json::to_string(e)?
            } else {
                format_line(e)
            };
            if writeln!(stdout, "{line}").is_err() {
                return Ok(());
            }
        }
        let _ = stdout.flush();
        since = Some(list.cursor);
        if !args.follow {
            return Ok(());
        }
    }
}
