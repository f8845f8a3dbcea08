//! The command line. The help text is the manual most operators will read, so it carries the socket
//! rules, the exit codes and an example for every command.

use crate::client::DEFAULT_RUNTIME_DIR;
use crate::output::OutputFormat;
use clap::builder::{PossibleValue, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use routerd_api::kind::KINDS;
use routerd_api::{Kind, Phase, ResourceId, Severity};
use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::Duration;

const TOP_AFTER_HELP: &str = "\
Sockets:
  Reads (get, describe, events, export, validate) go to <runtime-dir>/routerd-status.sock, which any
  user may use. Changes (apply, delete, rollback) go to <runtime-dir>/routerd.sock, which needs root or
  membership of the `routerd` group.

Exit codes:
  0  success
  1  routerd answered with an error (4xx/5xx), validate found errors, or an input file is unusable
  2  usage error: unknown command, flag, kind or bad argument
  3  cannot reach routerd: socket missing, connection refused, or no answer within --timeout
  4  permission denied on the socket (use sudo, or join the `routerd` group)

Examples:
  routerctl get status
  routerctl get addr                      # every IPv4StaticAddress
  routerctl describe dhcp4/wan
  routerctl apply -f /etc/routerd/        # every *.yaml, *.yml, *.json in the directory
  routerctl events -f --topic 'routerd.dhcpv4.**'
  routerctl --runtime-dir /tmp/rd get controllers -o yaml";

/// routerctl: the command-line client of routerd, the declarative router control plane.
#[derive(Debug, Parser)]
#[command(name = "routerctl", version, after_help = TOP_AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags accepted by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Output format: `table` for people; `json` and `yaml` print routerd's answer unchanged
    /// (absolute times), for scripts
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Table, global = true)]
    pub output: OutputFormat,

    /// Directory holding routerd's sockets (as given to `routerd serve --runtime-dir`)
    #[arg(long, value_name = "DIR", env = "ROUTERD_RUNTIME_DIR", default_value = DEFAULT_RUNTIME_DIR, global = true)]
    pub runtime_dir: PathBuf,

    /// Main (read-write) socket; default <runtime-dir>/routerd.sock
    #[arg(long, value_name = "PATH", global = true)]
    pub socket: Option<PathBuf>,

    /// Read-only status socket; default <runtime-dir>/routerd-status.sock
    #[arg(long, value_name = "PATH", global = true)]
    pub status_socket: Option<PathBuf>,

    /// How long to wait for routerd (Go-style duration: 30s, 1m, 500ms); with `events --follow` it
    /// bounds only connecting
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_timeout, global = true)]
    pub timeout: Duration,
}

// `get` carries every list's filters; the command line is parsed once per run, so its size is moot.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show routerd's status, controllers, generations, events, or resources
    #[command(after_help = GET_AFTER_HELP)]
    Get(Box<GetArgs>),
    /// Show one resource in detail: spec, status, conditions and its recent events
    #[command(after_help = DESCRIBE_AFTER_HELP)]
    Describe(DescribeArgs),
    /// Send manifests to routerd; they become a new config generation
    #[command(after_help = APPLY_AFTER_HELP)]
    Apply(ApplyArgs),
    /// Delete resources (refused while other resources reference them)
    #[command(after_help = DELETE_AFTER_HELP)]
    Delete(DeleteArgs),
    /// Check manifests against routerd's rules without applying them
    #[command(after_help = VALIDATE_AFTER_HELP)]
    Validate(ValidateArgs),
    /// Restore the desired state of an earlier generation (recorded as a new generation)
    #[command(after_help = ROLLBACK_AFTER_HELP)]
    Rollback(RollbackArgs),
    /// Print stored events, or follow the stream as it happens
    #[command(after_help = EVENTS_AFTER_HELP)]
    Events(EventsArgs),
    /// Print the desired state as a YAML manifest that `apply` accepts
    #[command(after_help = EXPORT_AFTER_HELP)]
    Export,
    /// Talk to a resource's managed daemon on its own socket: status, events, commands
    #[command(after_help = DAEMON_AFTER_HELP)]
    Daemon(DaemonArgs),
    /// Print a shell completion script
    #[command(after_help = COMPLETION_AFTER_HELP)]
    Completion(CompletionArgs),
    /// Print the man page (roff) generated from this command line; used by the Debian package build
    #[command(hide = true)]
    Manpage,
}

const DAEMON_AFTER_HELP: &str = "\
Actions:
  status          the daemon's identity, phase and its view of the resource
  events          the daemon's own event log (--follow to stream it)
  logs            the newest lines of the daemon's stdout/stderr (--lines, default 200)
  renew           the daemon's active operation now: healthcheck probes at once,
                  DHCP renews its lease
  reload          re-read config.json
  stop            stop the daemon safely (routerd restarts it unless the resource is deleted)
  <other>         daemon-specific commands (release, rebind, info-request, connect, ...)

The socket is <runtime-dir>/<daemon>/<name>.sock, e.g. /run/routerd/healthcheck/internet.sock.

Examples:
  routerctl daemon healthcheck/internet status
  routerctl daemon hc/internet renew
  routerctl daemon pd/wan-pd rebind              # DHCPv6-PD: REBIND now (also release, info-request)
  routerctl daemon healthcheck/internet events --follow
  routerctl daemon dhcpv4/wan logs --lines 50";

/// `routerctl daemon KIND/NAME ACTION`.
#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// The resource whose daemon to talk to, as Kind/name (e.g. healthcheck/internet)
    pub target: String,
    /// status, events, logs, renew, reload, stop, or a daemon-specific command
    pub action: String,
    /// With `events`: keep printing events as the daemon records them
    #[arg(short, long)]
    pub follow: bool,
    /// With `events`: start after this daemon cursor (`<epoch>:<n>`)
    #[arg(long, value_name = "CURSOR")]
    pub since: Option<String>,
    /// With `events`: only topics matching this glob (repeatable)
    #[arg(long, value_name = "GLOB")]
    pub topic: Vec<String>,
    /// With `logs`: how many of the newest lines
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub lines: usize,
}

const GET_AFTER_HELP: &str = "\
Objects:
  status        routerd's phase, generation, resources not in a good phase, controllers, daemons
  controllers   every controller's mode and reconcile statistics
  generations   the config ledger, newest first
  events        stored events (filters: --since, --topic, --resource, --severity, --limit)
  resources     every resource (filters: --phase, -l)
  <kind>        resources of one kind; kinds match case-insensitively, with plurals and short names
                (addr, route, hc, dhcp4, pd, pppoe, nat, ...); add a NAME for one resource

Examples:
  routerctl get status
  routerctl get controllers
  routerctl get resources --phase Error
  routerctl get interfaces -l role=uplink
  routerctl get ipv4staticaddress lan -o yaml
  routerctl get pd wan-pd                        # DETAIL: the delegated prefix, its state and validity
  routerctl get events --topic 'routerd.healthcheck.**' --severity warning --limit 20";

const DESCRIBE_AFTER_HELP: &str = "\
Examples:
  routerctl describe addr/lan
  routerctl describe DHCPv4Client wan
  routerctl describe hc/internet -o yaml     # the whole object";

const APPLY_AFTER_HELP: &str = "\
By default resources are merged: the ones given are created or updated and every other resource is
kept. With --replace the given set becomes the whole desired state: resources not in it are deleted.

Examples:
  routerctl apply -f router.yaml
  routerctl apply -f /etc/routerd/ --replace --dry-run
  cat lan.yaml | routerctl apply -f -
  routerctl apply -f wan.yaml --if-generation 7   # refused if someone applied in between";

const DELETE_AFTER_HELP: &str = "\
Examples:
  routerctl delete addr/lan
  routerctl delete hc internet internet6         # a kind, then names of that kind
  routerctl delete route/default --dry-run";

const VALIDATE_AFTER_HELP: &str = "\
Prints `valid`, or each problem as `Kind/name: field: message`; exits 1 when there are problems.
References are checked against the resources routerd already has, as `apply` would.

Examples:
  routerctl validate -f router.yaml
  routerctl validate -f /etc/routerd/ --replace";

const ROLLBACK_AFTER_HELP: &str = "\
Examples:
  routerctl get generations
  routerctl rollback --to 6
  routerctl rollback --to 6 --dry-run";

const EVENTS_AFTER_HELP: &str = "\
Topic globs: `*` matches exactly one segment, `**` zero or more (routerd.dhcpv4.**).
With --follow, the last 10 matching events are printed, then new ones as they happen, one line each:
  TIME SEVERITY TOPIC SUBJECT MESSAGE key=value ...
Give --since CURSOR to resume exactly after an event you have seen. When routerd restarts, routerctl
reconnects and continues from the same cursor. With -o json each event is one JSON object per line.

Examples:
  routerctl events
  routerctl events -f
  routerctl events -f --topic 'routerd.dhcpv6.**' --topic 'routerd.route.egress.*'
  routerctl events -f --resource hc/internet --severity warning
  routerctl events -f --since 1042 -o json | jq .topic";

const EXPORT_AFTER_HELP: &str = "\
Prints apiVersion, kind, metadata and spec of every resource (no status), one YAML document each.
With -o json, a JSON array that `apply -f FILE.json` accepts.

Examples:
  routerctl export > /etc/routerd/router.yaml
  routerctl export -o json > backup.json";

const COMPLETION_AFTER_HELP: &str = "\
Examples:
  routerctl completion bash > /etc/bash_completion.d/routerctl
  routerctl completion zsh > \"${fpath[1]}/_routerctl\"
  routerctl completion fish > ~/.config/fish/completions/routerctl.fish";

#[derive(Debug, Args)]
pub struct GetArgs {
    /// status, controllers, generations, events, resources, or a resource kind
    #[arg(value_name = "OBJECT", value_parser = GetObjectParser, hide_possible_values = true)]
    pub object: GetObject,

    /// Name of one resource (only after a kind)
    pub name: Option<String>,

    #[command(flatten)]
    pub events: EventFilter,

    #[command(flatten)]
    pub resources: ResourceFilter,

    #[command(flatten)]
    pub connections: ConnectionFilter,

    #[command(flatten)]
    pub logs: LogFilter,

    #[command(flatten)]
    pub dns: DnsQueryFilter,

    /// Redraw every 2 s until interrupted (get connections, flows, firewall-logs, dns-queries)
    #[arg(long)]
    pub watch: bool,
}

/// What `get` shows. The fixed words come first, so no kind alias can shadow them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetObject {
    Status,
    Controllers,
    Generations,
    Events,
    Resources,
    Connections,
    Flows,
    FirewallLogs,
    DnsQueries,
    Firewall,
    Leases,
    Kind(Kind),
}

impl GetObject {
    pub fn parse(s: &str) -> Result<GetObject, String> {
        match s.to_ascii_lowercase().as_str() {
            "status" => Ok(GetObject::Status),
            "controllers" | "controller" => Ok(GetObject::Controllers),
            "generations" | "generation" | "gen" => Ok(GetObject::Generations),
            "events" | "event" | "ev" => Ok(GetObject::Events),
            "resources" | "resource" | "all" => Ok(GetObject::Resources),
            "connections" | "connection" | "conntrack" | "conn" => Ok(GetObject::Connections),
            "flows" | "flow" | "traffic-flows" => Ok(GetObject::Flows),
            "firewall-logs" | "firewall-log" | "fwlogs" | "fwlog" => Ok(GetObject::FirewallLogs),
            "dns-queries" | "dns-query" | "dnsqueries" | "queries" => Ok(GetObject::DnsQueries),
            "firewall" | "fw" | "nftables" => Ok(GetObject::Firewall),
            "leases" | "lease" | "dhcp-leases" => Ok(GetObject::Leases),
            _ => crate::target::parse_kind(s)
                .map(GetObject::Kind)
                .map_err(|e| {
                    format!("{e}\n(or one of: status, controllers, generations, events, resources, connections, flows, firewall-logs, dns-queries, firewall, leases)")
                }),
        }
    }
}

/// Accepts aliases that a fixed list of values could not, while still offering the canonical words to
/// shell completion.
#[derive(Debug, Clone, Copy)]
struct GetObjectParser;

impl TypedValueParser for GetObjectParser {
    type Value = GetObject;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<GetObject, clap::Error> {
        let text = value.to_str().ok_or_else(|| {
            clap::Error::raw(clap::error::ErrorKind::InvalidUtf8, "OBJECT is not UTF-8\n")
                .with_cmd(cmd)
        })?;
        GetObject::parse(text).map_err(|e| {
            clap::Error::raw(clap::error::ErrorKind::InvalidValue, format!("{e}\n")).with_cmd(cmd)
        })
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        let fixed = [
            "status",
            "controllers",
            "generations",
            "events",
            "resources",
            "connections",
            "flows",
            "firewall-logs",
            "dns-queries",
            "firewall",
            "leases",
        ]
        .into_iter()
        .map(PossibleValue::new);
        let kinds = KINDS.iter().map(|k| PossibleValue::new(k.name));
        Some(Box::new(fixed.chain(kinds)))
    }
}

/// Filters of `get events` and `events`, passed to routerd's `GET /events`.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Event filters (get events, events)")]
pub struct EventFilter {
    /// Only events after this cursor (the CURSOR column)
    #[arg(long, value_name = "CURSOR")]
    pub since: Option<String>,

    /// Topic glob; repeat for several (`*` one segment, `**` any number)
    #[arg(long, value_name = "GLOB")]
    pub topic: Vec<String>,

    /// Only events about this resource, as Kind/name (kind aliases accepted)
    #[arg(long, value_name = "KIND/NAME", value_parser = crate::target::parse_ref)]
    pub resource: Option<ResourceId>,

    /// Minimum severity: debug, info, warning, error
    #[arg(long, value_name = "SEVERITY", value_parser = parse_severity)]
    pub severity: Option<Severity>,

    /// Most items per request (routerd's default is 100; its maximum 1000 for events, 10000 for
    /// connections)
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
}

impl EventFilter {
    pub fn is_empty(&self) -> bool {
        self.since.is_none()
            && self.topic.is_empty()
            && self.resource.is_none()
            && self.severity.is_none()
            && self.limit.is_none()
    }
}

/// Filters of `get connections`, passed to routerd's `GET /connections` (`--limit` is shared with
/// `get events`).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Connection filters (get connections)")]
pub struct ConnectionFilter {
    /// ipv4 or ipv6
    #[arg(long, value_name = "FAMILY")]
    pub family: Option<String>,
    /// Protocol name (tcp, udp, icmp, icmpv6, ...) or number
    #[arg(long, value_name = "PROTO")]
    pub protocol: Option<String>,
    /// Source address or prefix of the original direction
    #[arg(long, value_name = "ADDR[/LEN]")]
    pub src: Option<String>,
    /// Destination address or prefix of the original direction
    #[arg(long, value_name = "ADDR[/LEN]")]
    pub dst: Option<String>,
    /// Source or destination port of the original direction
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// TCP state (ESTABLISHED, TIME_WAIT, ...)
    #[arg(long, value_name = "STATE")]
    pub state: Option<String>,
    /// Mark, or mark/mask (decimal or 0x hex)
    #[arg(long, value_name = "MARK[/MASK]")]
    pub mark: Option<String>,
}

impl ConnectionFilter {
    pub fn is_empty(&self) -> bool {
        self.family.is_none()
            && self.protocol.is_none()
            && self.src.is_none()
            && self.dst.is_none()
            && self.port.is_none()
            && self.state.is_none()
            && self.mark.is_none()
    }
}

/// Filters of `get flows` and `get firewall-logs` beyond the shared `--protocol`, `--src`, `--dst`,
/// `--port`, `--limit` and `--since` (a duration back from now there, such as 15m).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Log filters (get flows, get firewall-logs)")]
pub struct LogFilter {
    /// Flows opened by (get flows), or queries asked by (get dns-queries), this address or prefix
    #[arg(long, value_name = "ADDR[/LEN]")]
    pub client: Option<String>,
    /// Flows to this address or prefix (get flows)
    #[arg(long, value_name = "ADDR[/LEN]")]
    pub peer: Option<String>,
    /// Only open (true) or only ended (false) flows (get flows)
    #[arg(long, value_name = "BOOL")]
    pub open: Option<bool>,
    /// Action of the routerd:<action>:<rule> prefix (get firewall-logs)
    #[arg(long, value_name = "ACTION")]
    pub action: Option<String>,
    /// Rule of the routerd:<action>:<rule> prefix (get firewall-logs)
    #[arg(long, value_name = "RULE")]
    pub rule: Option<String>,
    /// Rows at or after this time (RFC 3339 or YYYY-MM-DD[THH:MM:SS], UTC)
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// Rows at or before this time
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
}

impl LogFilter {
    pub fn is_empty(&self) -> bool {
        self.client.is_none()
            && self.peer.is_none()
            && self.open.is_none()
            && self.action.is_none()
            && self.rule.is_none()
            && self.from.is_none()
            && self.to.is_none()
    }
}

/// Filters of `get dns-queries` beyond the shared `--client`, `--since`, `--from`, `--to` and `--limit`.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "DNS query filters (get dns-queries)")]
pub struct DnsQueryFilter {
    /// Exactly this name
    #[arg(long = "name", id = "dns_name", value_name = "NAME")]
    pub name: Option<String>,
    /// This name or any name below it
    #[arg(long, value_name = "DOMAIN")]
    pub suffix: Option<String>,
    /// Response code (NOERROR, NXDOMAIN, SERVFAIL, ...)
    #[arg(long, value_name = "RCODE")]
    pub rcode: Option<String>,
    /// Question type (A, AAAA, PTR, ...)
    #[arg(long = "type", id = "dns_type", value_name = "TYPE")]
    pub qtype: Option<String>,
    /// The upstream that answered, as the UPSTREAM column shows it
    #[arg(long, value_name = "UPSTREAM")]
    pub upstream: Option<String>,
    /// Only answers that took at least this many microseconds
    #[arg(long, value_name = "MICROS")]
    pub min_duration_micros: Option<u64>,
    /// Count queries per name or per client instead of listing them (top --limit)
    #[arg(long, value_name = "name|client", value_parser = ["name", "client"])]
    pub aggregate: Option<String>,
}

impl DnsQueryFilter {
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.suffix.is_none()
            && self.rcode.is_none()
            && self.qtype.is_none()
            && self.upstream.is_none()
            && self.min_duration_micros.is_none()
            && self.aggregate.is_none()
    }
}

/// Filters of `get resources` and `get <kind>`.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Resource filters (get resources, get KIND)")]
pub struct ResourceFilter {
    /// Only resources in this phase (Pending, Bound, Applied, Up, Installed, Healthy, Unhealthy, Error)
    #[arg(long, value_name = "PHASE", value_parser = parse_phase)]
    pub phase: Option<Phase>,

    /// Only resources with this label, as key=value; repeat or separate with commas to require several
    #[arg(short = 'l', long = "selector", value_name = "KEY=VALUE", value_delimiter = ',', value_parser = parse_label)]
    pub labels: Vec<(String, String)>,
}

impl ResourceFilter {
    pub fn is_empty(&self) -> bool {
        self.phase.is_none() && self.labels.is_empty()
    }
}

#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// Kind/name, or a kind followed by NAME
    #[arg(value_name = "KIND/NAME")]
    pub target: String,
    /// Name, when the kind is given on its own
    pub name: Option<String>,
}

/// Where manifests come from, shared by `apply` and `validate`.
#[derive(Debug, Args)]
pub struct ManifestArgs {
    /// File, directory (its *.yaml, *.yml, *.json, sorted) or `-` for stdin; repeatable
    #[arg(
        short = 'f',
        long = "file",
        visible_alias = "filename",
        value_name = "FILE|DIR|-",
        required = true
    )]
    pub files: Vec<PathBuf>,

    /// The given resources become the whole desired state; every other resource is deleted
    #[arg(long)]
    pub replace: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub manifests: ManifestArgs,

    /// Show what would change without changing anything
    #[arg(long)]
    pub dry_run: bool,

    /// Refuse (exit 1) unless the current generation is N, so concurrent edits are not overwritten
    #[arg(long, value_name = "N")]
    pub if_generation: Option<u64>,

    /// Also list resources that did not change
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Kind/name..., or a kind followed by names
    #[arg(value_name = "KIND/NAME", required = true)]
    pub targets: Vec<String>,

    /// Show what would be deleted without deleting
    #[arg(long)]
    pub dry_run: bool,

    /// Refuse (exit 1) unless the current generation is N
    #[arg(long, value_name = "N")]
    pub if_generation: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub manifests: ManifestArgs,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// Generation to restore (see `routerctl get generations`)
    #[arg(long, value_name = "N")]
    pub to: u64,

    /// Show what would change without changing anything
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Keep printing events as they happen (Ctrl-C to stop)
    #[arg(short, long)]
    pub follow: bool,

    #[command(flatten)]
    pub filter: EventFilter,
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// Shell to generate the script for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = routerd_api::duration::parse_duration(s)?;
    if d.is_zero() {
        return Err("the timeout must be longer than 0s".to_string());
    }
    Ok(d)
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    Severity::parse(s)
        .ok_or_else(|| format!("{s:?} is not a severity (debug, info, warning, error)"))
}

fn parse_phase(s: &str) -> Result<Phase, String> {
    Phase::parse(s).ok_or_else(|| {
        let all: Vec<&str> = Phase::ALL.iter().map(|p| p.as_str()).collect();
        format!("{s:?} is not a phase ({})", all.join(", "))
    })
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!("{s:?} is not key=value (e.g. role=uplink)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn get_accepts_fixed_words_and_kind_aliases() {
        assert_eq!(GetObject::parse("Status"), Ok(GetObject::Status));
        assert_eq!(GetObject::parse("events"), Ok(GetObject::Events));
        assert_eq!(
            GetObject::parse("addr"),
            Ok(GetObject::Kind(Kind::IPv4StaticAddress))
        );
        assert_eq!(
            GetObject::parse("interfaces"),
            Ok(GetObject::Kind(Kind::Interface))
        );
        assert!(GetObject::parse("nonsense")
            .unwrap_err()
            .contains("known kinds"));
    }

    #[test]
    fn parses_a_full_command_line() {
        let cli = Cli::try_parse_from([
            "routerctl",
            "get",
            "addr",
            "lan",
            "-o",
            "yaml",
            "--runtime-dir",
            "/tmp/x",
            "--timeout",
            "2s",
        ])
        .unwrap();
        assert_eq!(cli.global.output, OutputFormat::Yaml);
        assert_eq!(cli.global.timeout, Duration::from_secs(2));
        match cli.command {
            Command::Get(get) => {
                assert_eq!(get.object, GetObject::Kind(Kind::IPv4StaticAddress));
                assert_eq!(get.name.as_deref(), Some("lan"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn labels_split_on_commas_and_need_an_equals_sign() {
        let cli =
            Cli::try_parse_from(["routerctl", "get", "resources", "-l", "role=uplink,site=a"])
                .unwrap();
        let Command::Get(get) = cli.command else {
            panic!("not get")
        };
        assert_eq!(
            get.resources.labels,
            [
                ("role".to_string(), "uplink".to_string()),
                ("site".to_string(), "a".to_string())
            ]
        );
        assert!(Cli::try_parse_from(["routerctl", "get", "resources", "-l", "role"]).is_err());
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for args in [
            vec!["routerctl", "get", "nonsense"],
            vec!["routerctl", "get", "events", "--severity", "loud"],
            vec!["routerctl", "events", "--resource", "lan"],
            vec!["routerctl", "--timeout", "0s", "get", "status"],
            vec!["routerctl", "apply"],
        ] {
            let err = Cli::try_parse_from(&args).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}");
        }
    }
}
