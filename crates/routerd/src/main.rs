//! The `routerd` executable.

use clap::{Parser, Subcommand, ValueEnum};
use routerd::paths::Paths;
use routerd::serve::{serve, ServeOptions};
use routerd_api::spec::ResourceSpec;
use routerd_api::Kind;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "routerd", version, about = "Declarative router control plane for Linux", long_about = None,
    after_help = "Examples:\n  routerd serve --config /etc/routerd/\n  routerd serve --runtime-dir /tmp/rd/run --state-dir /tmp/rd/state --config examples/\n  routerd schema IPv4StaticAddress\n\nThe CLI for a running routerd is routerctl.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the control plane: load the config, reconcile the host, serve the control API.
    Serve {
        /// A YAML file or a directory of *.yaml applied as a replace at start-up (a new generation only
        /// if it differs). Default: /etc/routerd when it holds at least one *.yaml; otherwise routerd
        /// resumes the latest generation in its ledger.
        #[arg(long, value_name = "FILE|DIR")]
        config: Option<PathBuf>,
        /// Directory of the sockets (default /run/routerd).
        #[arg(long, value_name = "DIR")]
        runtime_dir: Option<PathBuf>,
        /// Directory of routerd.db and daemon state (default /var/lib/routerd).
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// Main (read-write) socket path (default <runtime-dir>/routerd.sock).
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
        /// Read-only status socket path (default <runtime-dir>/routerd-status.sock).
        #[arg(long, value_name = "PATH")]
        status_socket: Option<PathBuf>,
        /// Group whose members may use the main socket besides root.
        #[arg(long, default_value = "routerd", value_name = "GROUP")]
        control_group: String,
        #[arg(long, value_enum, default_value = "text")]
        log_format: LogFormat,
        /// Directory of the daemon executables (default: routerd's own directory, then
        /// /usr/libexec/routerd). PATH is never searched.
        #[arg(long, value_name = "DIR")]
        libexec_dir: Option<PathBuf>,
        /// Periodic resync of every controller: drift not reported by netlink is repaired this often.
        #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = parse_interval)]
        reconcile_interval: std::time::Duration,
        /// How often the conntrack table's size is read for the usage alarm
        /// (routerd.conntrack.usage.high at 90% of nf_conntrack_max).
        #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = parse_interval)]
        conntrack_poll_interval: std::time::Duration,
    },
    /// Print the JSON Schema of a kind's spec, or of every kind.
    Schema {
        /// Kind name or alias (IPv4StaticAddress, addr, route ...); all kinds when omitted.
        kind: Option<String>,
    },
    /// Print a shell completion script (the Debian package installs them).
    #[command(hide = true)]
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) generated from this command line (the Debian package installs it).
    #[command(hide = true)]
    Manpage,
}

/// `routerd completion SHELL` / `routerd manpage`: generated from the clap definition above, so the
/// packaged completions and man page never drift from the real flags.
fn generated(command: &Command) -> std::io::Result<()> {
    use clap::CommandFactory;
    use std::io::Write;
    let mut text = Vec::new();
    match command {
        Command::Completion { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "routerd", &mut text)
        }
        // Section 8: routerd is in /usr/sbin, an administrator's command.
        _ => clap_mangen::Man::new(Cli::command())
            .section("8")
            .render(&mut text)?,
    }
    let mut out = std::io::stdout().lock();
    out.write_all(&text)?;
    out.flush()
}

fn parse_interval(s: &str) -> Result<std::time::Duration, String> {
    let d = routerd_api::duration::parse_duration(s)?;
    if d < std::time::Duration::from_millis(100) {
        return Err("must be at least 100ms".into());
    }
    Ok(d)
}

fn init_logging(format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn schema(kind: Option<String>) -> Result<(), String> {
    let kinds: Vec<Kind> = match kind {
        Some(k) => vec![Kind::lookup(&k).ok_or_else(|| {
            format!(
                "unknown kind {k:?}; known kinds: {}",
                Kind::all()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?],
        None => Kind::all().collect(),
    };
    let mut out = serde_json::Map::new();
    for k in &kinds {
        let mut s = ResourceSpec::schema(*k).to_value();
        s["title"] = format!("{} spec ({})", k.as_str(), k.api_version()).into();
        out.insert(k.as_str().to_string(), s);
    }
    let value = if kinds.len() == 1 {
        out.into_iter().next().map(|(_, v)| v).unwrap_or_default()
    } else {
        serde_json::Value::Object(out)
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?
    );
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        command @ (Command::Completion { .. } | Command::Manpage) => match generated(&command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Schema { kind } => match schema(kind) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::Serve {
            config,
            runtime_dir,
            state_dir,
            socket,
            status_socket,
            control_group,
            log_format,
            libexec_dir,
            reconcile_interval,
            conntrack_poll_interval,
        } => {
            init_logging(log_format);
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let opts = ServeOptions {
                config: config.or_else(routerd::paths::default_config),
                paths: Paths::new(runtime_dir, state_dir, socket, status_socket),
                control_group,
                reconcile_interval,
                log_format: match log_format {
                    LogFormat::Text => "text".into(),
                    LogFormat::Json => "json".into(),
                },
                libexec_dir,
                observer_host: None,
                conntrack: None,
                conntrack_poll_interval,
            };
            match runtime.block_on(serve(opts)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("routerd: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
