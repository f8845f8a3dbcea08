//! `routerd-bench`: the benchmark harness of routerd. Each subcommand measures one area and prints one
//! line per figure (`name  ours  peer  ratio  unit  target`), medians over repeated runs. `bench/run`
//! drives them all against a freshly built routerd; see `bench/README.md`.

mod api_latency;
mod conntrack_fill;
mod control_api;
mod data;
mod event_query;
mod http;
mod pipeline;
mod report;
mod sqlite_insert;
mod udp_flood;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use report::{Figure, Reporter};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "routerd-bench",
    about = "Benchmarks of routerd (see bench/README.md)"
)]
struct Cli {
    /// Append every figure as a tab-separated line to this file (for bench/run's summary).
    #[arg(long, global = true, value_name = "FILE")]
    results: Option<PathBuf>,
    /// Runs per figure; the figure is the median.
    #[arg(long, global = true, default_value_t = 3)]
    repeats: usize,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Raw rusqlite inserts of ~200-byte event rows into routerd's schema: 1, 100, 1000 rows per transaction.
    Sqlite {
        /// Scratch directory for the temporary databases.
        #[arg(long)]
        dir: PathBuf,
    },
    /// In-process EventBus: max sustained events/s (vs SQLite 1000/tx) and publish→long-poller latency.
    Pipeline {
        #[arg(long)]
        dir: PathBuf,
        /// Events published as fast as possible per throughput run.
        #[arg(long, default_value_t = 200_000)]
        events: usize,
        /// Seconds of paced publishing per latency run.
        #[arg(long, default_value_t = 3.0)]
        latency_secs: f64,
        /// Paced publish rates (events/s) for the latency runs.
        #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
        rates: Vec<u64>,
    },
    /// Paced UDP datagrams (for bench/firewall_log.sh and bench/flows.sh); prints the packets sent and
    /// the achieved rate.
    UdpFlood {
        #[arg(long)]
        target: std::net::IpAddr,
        #[arg(long, default_value_t = 5201)]
        port: u16,
        /// Destination ports cycled over, from --port (each a distinct flow).
        #[arg(long, default_value_t = 1)]
        ports: u16,
        /// Packets per second.
        #[arg(long)]
        rate: u64,
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Payload bytes per datagram.
        #[arg(long, default_value_t = 18)]
        size: usize,
    },
    /// Waits until routerd answers GET /healthz on the socket.
    WaitReady {
        #[arg(long)]
        socket: PathBuf,
        #[arg(long, default_value_t = 30)]
        timeout_secs: u64,
    },
    /// Applies N EventRule resources (no host effect) through the main socket.
    ApplyResources {
        #[arg(long)]
        socket: PathBuf,
        #[arg(long, default_value_t = 50)]
        count: usize,
    },
    /// Time from POST /apply (main socket) to a GET /events?wait= long-poll (status socket) returning
    /// the routerd.config.applied event.
    ApplyLatency {
        #[arg(long)]
        socket: PathBuf,
        #[arg(long)]
        status_socket: PathBuf,
        #[arg(long, default_value_t = 50)]
        applies: usize,
    },
    /// GET /status and GET /resources load over the status socket: req/s, p50, p99.
    ControlApi {
        #[arg(long)]
        status_socket: PathBuf,
        /// Seconds per case.
        #[arg(long, default_value_t = 5.0)]
        duration_secs: f64,
        /// Concurrent keep-alive clients per case.
        #[arg(long, value_delimiter = ',', default_value = "1,64")]
        clients: Vec<usize>,
        /// Worker threads of the load generator's runtime (routerd itself runs 2).
        #[arg(long, default_value_t = 1)]
        client_threads: usize,
    },
    /// Writes N synthetic events (~50 topics, ~200 resources) straight into a routerd.db.
    LoadEvents {
        #[arg(long)]
        db: PathBuf,
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
    },
    /// Fills the current network namespace's conntrack table with a deterministic population over
    /// ctnetlink (see conntrack_fill.rs); for the /connections scenario and bench.
    ConntrackFill {
        /// Number of the first entry (a second call continues the population).
        #[arg(long, default_value_t = 0)]
        first: u32,
        #[arg(long)]
        count: u32,
    },
    /// Latest 100 events by topic and by resource through the API vs the same SQL in rusqlite.
    EventQuery {
        #[arg(long)]
        status_socket: PathBuf,
        /// The routerd.db routerd is serving (opened read-only for the peer).
        #[arg(long)]
        db: PathBuf,
        /// Requests per figure per run.
        #[arg(long, default_value_t = 200)]
        requests: usize,
    },
}

fn runtime(threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let reporter = Reporter::new(cli.results.as_deref());
    let repeats = cli.repeats.max(1);
    let figs: Vec<Figure> = match cli.command {
        Command::Sqlite { dir } => sqlite_insert::run(&dir, repeats)?,
        Command::Pipeline {
            dir,
            events,
            latency_secs,
            rates,
        } => {
            let opts = pipeline::Options {
                events,
                latency_secs,
                rates,
                repeats,
            };
            // Two workers, like routerd's own runtime.
            runtime(2)?.block_on(pipeline::run(&dir, &opts))?
        }
        Command::UdpFlood {
            target,
            port,
            ports,
            rate,
            seconds,
            size,
        } => {
            let sent = udp_flood::run(target, port, ports, rate, seconds, size)
                .context("cannot send UDP datagrams")?;
            println!(
                "sent {} packets in {:.3} s ({:.0} packets/s)",
                sent.packets,
                sent.elapsed.as_secs_f64(),
                sent.packets as f64 / sent.elapsed.as_secs_f64().max(1e-9)
            );
            Vec::new()
        }
        Command::WaitReady {
            socket,
            timeout_secs,
        } => {
            runtime(1)?.block_on(http::wait_ready(&socket, Duration::from_secs(timeout_secs)))?;
            Vec::new()
        }
        Command::ApplyResources { socket, count } => {
            let generation = runtime(1)?.block_on(control_api::apply_resources(&socket, count))?;
            eprintln!("  applied {count} EventRule resources (generation {generation})");
            Vec::new()
        }
        Command::ApplyLatency {
            socket,
            status_socket,
            applies,
        } => runtime(1)?.block_on(api_latency::run(&socket, &status_socket, applies, repeats))?,
        Command::ControlApi {
            status_socket,
            duration_secs,
            clients,
            client_threads,
        } => runtime(client_threads)?.block_on(control_api::run(
            &status_socket,
            Duration::from_secs_f64(duration_secs),
            &clients,
            repeats,
        ))?,
        Command::LoadEvents { db, events } => {
            event_query::load(&db, events)?;
            Vec::new()
        }
        Command::ConntrackFill { first, count } => {
            conntrack_fill::run(first, count)?;
            Vec::new()
        }
        Command::EventQuery {
            status_socket,
            db,
            requests,
        } => runtime(1)?.block_on(event_query::run(&status_socket, &db, requests, repeats))?,
    };
    reporter.emit_all(&figs)
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("routerd-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
