//! Wiring of `routerd serve`: directories, sockets, stores, controllers, and an orderly shutdown.

use crate::config::{files::read_manifests, ConfigService};
use crate::controllers::runtime::RuntimeDeps;
use crate::controllers::{self, ControllerRuntime, StatusBook};
use crate::events::{retention, EventBus};
use crate::paths::Paths;
use crate::server::{serve_socket, App, PeerPolicy, SocketRole};
use crate::supervisor::{Supervisor, SupervisorConfig};
use anyhow::Context as _;
use routerd_api::Timestamp;
use routerd_host::{ConntrackTable, KernelConntrack, NetHost, NetlinkHost};
use routerd_store::{Ledger, RetentionPolicy, StateStore};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;

pub struct ServeOptions {
    pub config: Option<PathBuf>,
    pub paths: Paths,
    pub control_group: String,
    pub reconcile_interval: Duration,
    /// Passed to managed daemons (`text` or `json`).
    pub log_format: String,
    /// The one directory daemon executables are taken from; `None`: routerd's own directory, then
    /// [`DEFAULT_LIBEXEC_DIR`].
    pub libexec_dir: Option<PathBuf>,
    /// Replaces the kernel's conntrack, NFLOG, nftables and sysctls for the observers (tests).
    pub observer_host: Option<crate::observers::ObserverHost>,
    /// The conntrack table `/connections` and the usage observer read; `None`: the kernel's, over
    /// ctnetlink (tests pass a fake).
    pub conntrack: Option<Arc<dyn ConntrackTable>>,
    /// How often the conntrack usage observer reads the table's size.
    pub conntrack_poll_interval: Duration,
}

/// Where packaged daemon executables live when they are not next to routerd.
pub const DEFAULT_LIBEXEC_DIR: &str = "/usr/libexec/routerd";

/// The directories daemon executables are taken from (never `PATH`).
fn daemon_dirs(libexec_dir: Option<&Path>) -> Vec<PathBuf> {
    if let Some(dir) = libexec_dir {
        return vec![dir.to_path_buf()];
    }
    let own_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf));
    own_dir
        .into_iter()
        .chain([PathBuf::from(DEFAULT_LIBEXEC_DIR)])
        .collect()
}

fn ensure_dir(path: &Path, mode: u32) -> anyhow::Result<()> {
    std::fs::create_dir_all(path).with_context(|| format!("cannot create {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot chmod {}", path.display()))?;
    Ok(())
}

/// `routerd serve` on the real host: netlink in the current network namespace, stopped by SIGTERM/SIGINT.
pub async fn serve(opts: ServeOptions) -> anyhow::Result<()> {
    let signals = signal_stream()?;
    run(opts, None, signals).await
}

/// Runs routerd until `shutdown` resolves. `host` replaces netlink (tests use the in-memory fake).
pub async fn run(
    mut opts: ServeOptions,
    host: Option<Arc<dyn NetHost>>,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let paths = &opts.paths;
    ensure_dir(&paths.runtime_dir, 0o755)?;
    ensure_dir(&paths.state_dir, 0o700)?;
    for sock in [&paths.main_socket, &paths.status_socket] {
        if let Some(parent) = sock.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
    }

    let group = nix::unistd::Group::from_name(&opts.control_group)
        .ok()
        .flatten();
    if group.is_none() {
        tracing::info!(group = %opts.control_group, "control group does not exist; the main socket is for root only");
    }
    let policy = Arc::new(PeerPolicy::resolve(
        nix::unistd::geteuid().as_raw(),
        group.as_ref(),
    ));
    // Bind first: a second routerd on the same sockets fails here, before touching anything.
    let socket = |mode, group| routerd_http::SocketOptions {
        mode,
        group,
        server: "routerd",
        hint: "stop it first, or use --runtime-dir",
    };
    let (main_listener, main_file) =
        routerd_http::bind_socket(&paths.main_socket, &socket(0o660, policy.group_gid))?;
    let (status_listener, status_file) =
        routerd_http::bind_socket(&paths.status_socket, &socket(0o666, None))?;

    let db = paths.database();
    let bus = EventBus::open(&db)
        .with_context(|| format!("cannot open the event store {}", db.display()))?;
    let ledger = Ledger::open(&db).context("cannot open the config ledger")?;
    let state = Arc::new(
        StateStore::open(&db, bus.store().clone()).context("cannot open the status store")?,
    );
    let config = Arc::new(
        ConfigService::open(ledger, bus.clone()).context("cannot load the current generation")?,
    );
    tracing::info!(generation = config.current().generation, db = %db.display(), "ledger loaded");

    if let Some(path) = &opts.config {
        match config.apply_startup_files(read_manifests(path)).await {
            Ok(r) if r.generation != r.previous_generation => {
                tracing::info!(generation = r.generation, "config files applied")
            }
            Ok(_) => tracing::info!("config files match the current generation"),
            Err(e) => {
                tracing::error!(error = %e, path = %path.display(), "config files refused; keeping the last good generation")
            }
        }
    }

    let host: Arc<dyn NetHost> = match host {
        Some(h) => h,
        None => Arc::new(NetlinkHost::new().context("cannot open netlink")?),
    };
    let status = Arc::new(StatusBook::load(state.clone(), bus.clone()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let supervisor = Arc::new(Supervisor::new(
        SupervisorConfig {
            runtime_dir: paths.runtime_dir.clone(),
            state_dir: paths.state_dir.clone(),
            log_format: opts.log_format.clone(),
            search_dirs: daemon_dirs(opts.libexec_dir.as_deref()),
        },
        bus.clone(),
        stop_rx.clone(),
    ));
    let deps = RuntimeDeps {
        config: config.clone(),
        host,
        status: status.clone(),
        bus: bus.clone(),
        state,
        supervisor: supervisor.clone(),
    };
    let retention_policy = Arc::new(RwLock::new(RetentionPolicy::default()));
    let logs = Arc::new(
        crate::observers::LogStores::open(&paths.state_dir)
            .context("cannot open the log stores (traffic-flows.db, firewall-logs.db)")?,
    );
    let mut controller_list = controllers::builtin(retention_policy.clone());
    let observer_host = Arc::new(
        opts.observer_host
            .take()
            .unwrap_or_else(crate::observers::ObserverHost::kernel),
    );
    let firewall_view = Arc::new(controllers::firewall::FirewallView::default());
    controller_list.push(Arc::new(controllers::firewall::FirewallController::new(
        observer_host.nftables.clone(),
        observer_host.forwarding.clone(),
        firewall_view.clone(),
    )));
    controller_list.extend(crate::observers::controller::builtin(
        logs.clone(),
        observer_host.clone(),
    ));
    let runtime = Arc::new(ControllerRuntime::start(
        controller_list,
        deps,
        opts.reconcile_interval,
        stop_rx.clone(),
    ));
    tokio::spawn(retention::run(
        bus.clone(),
        retention_policy,
        stop_rx.clone(),
    ));
    let conntrack: Arc<dyn ConntrackTable> = opts
        .conntrack
        .clone()
        .unwrap_or_else(|| Arc::new(KernelConntrack));
    tokio::spawn(crate::conntrack_usage::run(
        conntrack.clone(),
        bus.clone(),
        opts.conntrack_poll_interval,
        stop_rx.clone(),
    ));
    let engine_health = crate::rules::EngineHealth::new(&bus);
    engine_health.register(&runtime);
    let rule_engines = crate::rules::start(
        bus.clone(),
        config.clone(),
        status.clone(),
        engine_health,
        stop_rx.clone(),
    );

    let app = Arc::new(App {
        config,
        bus: bus.clone(),
        status,
        runtime: runtime.clone(),
        supervisor,
        conntrack,
        started_at: Timestamp::now(),
        logs: logs.clone(),
        firewall: firewall_view,
        forwarding: observer_host.forwarding.clone(),
        stop: stop_rx.clone(),
    });
    let main_task = tokio::spawn(serve_socket(
        main_listener,
        SocketRole::Main,
        policy.clone(),
        app.clone(),
        stop_rx.clone(),
    ));
    let status_task = tokio::spawn(serve_socket(
        status_listener,
        SocketRole::Status,
        policy,
        app,
        stop_rx.clone(),
    ));
    tracing::info!(socket = %paths.main_socket.display(), status_socket = %paths.status_socket.display(), "routerd serving");

    tokio::pin!(shutdown);
    let shutting_down = tokio::select! {
        () = wait_first_reconcile(&runtime) => false,
        () = &mut shutdown => true,
    };
    if !shutting_down {
        crate::sd_notify::notify(crate::sd_notify::Notice::Ready);
        shutdown.await;
    }
    crate::sd_notify::notify(crate::sd_notify::Notice::Stopping);
    tracing::info!("shutting down: no new connections, finishing requests in flight");
    let _ = stop_tx.send(true);
    let _ = main_task.await;
    let _ = status_task.await;
    rule_engines.join().await;
    // The runtime holds the collectors; they stop with it and hand what they decoded to the stores.
    let log_stores = logs.clone();
    let _ = tokio::task::spawn_blocking(move || log_stores.close()).await;
    bus.flush().await;
    bus.close();
    drop((main_file, status_file));
    tracing::info!("routerd stopped");
    Ok(())
}

/// Resolves once every controller ran once, or after [`READY_AT_THE_LATEST`]: a controller stuck on a
/// dead netlink call must not keep systemd from ever seeing routerd start (its status says it is stuck).
async fn wait_first_reconcile(runtime: &ControllerRuntime) {
    let deadline = tokio::time::Instant::now() + READY_AT_THE_LATEST;
    while !runtime.every_controller_ran() {
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(
                "a controller has not finished its first reconcile; reporting ready anyway"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tracing::info!("first reconcile done");
}

/// Well below systemd's default `TimeoutStartSec` (90 s).
const READY_AT_THE_LATEST: Duration = Duration::from_secs(30);

/// Installs the handlers now (so a signal during start-up is not lost) and resolves on the first one.
fn signal_stream() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    })
}
