//! Supervision of managed daemons: one process per resource, spawned with `config.json` written
//! atomically, adopted after a routerd restart when its record matches (and replaced, one at a time
//! with a hand-over, when it runs another build than the installed executable: `replace`), restarted
//! with backoff when it dies, reloaded or replaced on spec change, stopped on delete. Daemons deliberately outlive routerd
//! (their own process group) so a routerd restart never drops a lease or a probe history.

mod backoff;
mod daemon_log;
mod pidfd;
mod poller;
mod process;
mod record;
mod replace;

pub use backoff::Backoff;
pub use process::StopTimeouts;
pub use replace::REPLACE_TIMEOUT;

use crate::daemon_client::request;
use crate::events::EventBus;
use routerd_api::control::DaemonInfo;
use routerd_api::daemon::daemon_dir_name;
use routerd_api::event::NewEvent;
use routerd_api::Severity;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// What a controller asks for: this executable, for this resource, with this config.
#[derive(Debug, Clone)]
pub struct DaemonRequest {
    /// e.g. `routerd-healthcheck`.
    pub executable: &'static str,
    /// The resource name.
    pub instance: String,
    /// Written to `config.json` (mode 0600).
    pub config: serde_json::Value,
}

/// Why a daemon could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    /// The daemon executable is in none of the configured directories (never looked up on `PATH`).
    #[error("{0} not found in {1}; install it alongside routerd or pass --libexec-dir")]
    ExecutableMissing(String, String),
    /// `config.json` or a daemon directory could not be written.
    #[error("cannot write {path}: {message}")]
    Config { path: String, message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaemonState {
    Starting,
    Running,
    Backoff,
    Stopping,
    Failed,
    /// Being replaced by a new build of its executable (`replace`): stopped with a hand-over, its
    /// successor not yet back in the state it had. Controllers leave the host as it is meanwhile.
    Replacing,
}

impl DaemonState {
    fn as_str(self) -> &'static str {
        match self {
            DaemonState::Starting => "Starting",
            DaemonState::Running => "Running",
            DaemonState::Backoff => "Backoff",
            DaemonState::Stopping => "Stopping",
            DaemonState::Failed => "Failed",
            DaemonState::Replacing => "Replacing",
        }
    }
}

/// Shared view of one managed daemon.
#[derive(Debug, Clone)]
pub struct DaemonView {
    pub executable: &'static str,
    pub instance: String,
    pub pid: Option<u32>,
    pub socket: PathBuf,
    pub state_dir: PathBuf,
    pub restarts: u64,
    pub state: DaemonState,
    pub config_hash: String,
    pub last_error: Option<String>,
    /// Why the daemon's events are not being imported right now (see `poller`).
    pub events_error: Option<String>,
}

struct Managed {
    view: Arc<Mutex<DaemonView>>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// Where daemons live and how they log.
#[derive(Debug, Clone)]
pub struct SupervisorConfig {
    pub runtime_dir: PathBuf,
    pub state_dir: PathBuf,
    pub log_format: String,
    /// The only directories daemon executables are taken from, in order (routerd's own directory, then
    /// `/usr/libexec/routerd`, or `--libexec-dir`). Never `PATH`: routerd runs as root, and whoever can
    /// put a `routerd-healthcheck` early on its `PATH` would otherwise run code as root.
    pub search_dirs: Vec<PathBuf>,
}

/// (executable, instance).
type DaemonKey = (&'static str, String);
type SharedView = Arc<Mutex<DaemonView>>;

pub struct Supervisor {
    config: SupervisorConfig,
    bus: EventBus,
    managed: tokio::sync::Mutex<HashMap<DaemonKey, Managed>>,
    /// Views of the managed daemons, readable without waiting for a reconcile that holds `managed`.
    views: Mutex<HashMap<DaemonKey, SharedView>>,
    /// Executables whose records from an earlier routerd have been checked for orphans.
    swept: Mutex<std::collections::HashSet<&'static str>>,
    shutdown: watch::Receiver<bool>,
    stop_timeouts: StopTimeouts,
    /// One replacement by a new build at a time, across every daemon.
    replacements: Arc<tokio::sync::Mutex<()>>,
    replace_timeout: Duration,
}

/// FNV-1a over the canonical JSON: enough to notice a changed config, not a security boundary.
pub fn config_hash(config: &serde_json::Value) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in config.to_string().as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

impl Supervisor {
    pub fn new(
        config: SupervisorConfig,
        bus: EventBus,
        shutdown: watch::Receiver<bool>,
    ) -> Supervisor {
        Supervisor {
            config,
            bus,
            managed: tokio::sync::Mutex::new(HashMap::new()),
            views: Mutex::new(HashMap::new()),
            swept: Mutex::new(Default::default()),
            shutdown,
            stop_timeouts: StopTimeouts::default(),
            replacements: Arc::new(tokio::sync::Mutex::new(())),
            replace_timeout: REPLACE_TIMEOUT,
        }
    }

    /// Another wait than [`REPLACE_TIMEOUT`] for a replaced daemon to report its state restored.
    pub fn with_replace_timeout(mut self, timeout: Duration) -> Supervisor {
        self.replace_timeout = timeout;
        self
    }

    /// Shorter (tests) or longer stop timeouts than the default 10 s + 5 s.
    pub fn with_stop_timeouts(mut self, timeouts: StopTimeouts) -> Supervisor {
        self.stop_timeouts = timeouts;
        self
    }

    pub fn socket_path(&self, executable: &str, instance: &str) -> PathBuf {
        self.config
            .runtime_dir
            .join(daemon_dir_name(executable))
            .join(format!("{instance}.sock"))
    }

    pub fn state_dir(&self, executable: &str, instance: &str) -> PathBuf {
        self.config
            .state_dir
            .join(daemon_dir_name(executable))
            .join(instance)
    }

    fn find_executable(&self, name: &str) -> Result<PathBuf, SupervisorError> {
        self.config
            .search_dirs
            .iter()
            .map(|d| d.join(name))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                let dirs: Vec<String> = self
                    .config
                    .search_dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect();
                SupervisorError::ExecutableMissing(name.to_string(), dirs.join(", "))
            })
    }

    /// Makes sure the daemon runs with `req.config`: starts or adopts it, or reloads/replaces it when
    /// the config changed. Returns its current view.
    ///
    /// The map of managed daemons is locked only to look up, insert or remove an entry, never across a
    /// reload or a stop, so one slow daemon never holds up another controller. Each executable belongs
    /// to one controller, whose reconciles run one at a time: one key is never ensured twice at once.
    pub async fn ensure(&self, req: DaemonRequest) -> Result<DaemonView, SupervisorError> {
        let hash = config_hash(&req.config);
        let key = (req.executable, req.instance.clone());
        let existing = self.managed.lock().await.get(&key).map(|m| m.view.clone());
        if let Some(shared) = existing {
            if let Some(view) = shared.lock().ok().map(|v| v.clone()) {
                if view.config_hash == hash {
                    return Ok(view);
                }
                // Changed config: write it and ask the daemon to reload; replace it when it cannot.
                self.write_config(&view.state_dir, &req.config)?;
                let reloaded = request(
                    &view.socket,
                    "POST",
                    "/v1/commands/reload",
                    Duration::from_secs(5),
                )
                .await
                .is_ok();
                if reloaded {
                    if let Ok(mut v) = shared.lock() {
                        v.config_hash = hash.clone();
                    }
                    if let Some(pid) = view.pid {
                        record::write(
                            &self.config.runtime_dir,
                            req.executable,
                            &req.instance,
                            &record::Record::new(
                                pid,
                                &self.find_executable(req.executable)?,
                                &hash,
                            ),
                        );
                    }
                    tracing::info!(daemon = req.executable, instance = %req.instance, "daemon reloaded its config");
                    return Ok(shared.lock().map(|v| v.clone()).unwrap_or(view));
                }
                tracing::info!(daemon = req.executable, instance = %req.instance, "daemon could not reload; replacing it");
                let replaced = self.managed.lock().await.remove(&key);
                if let Some(m) = replaced {
                    let _ = m.stop.send(true);
                    let _ = m.task.await;
                }
                self.forget(&key);
            }
        }
        let executable = self.find_executable(req.executable)?;
        let state_dir = self.state_dir(req.executable, &req.instance);
        let socket = self.socket_path(req.executable, &req.instance);
        for dir in [
            &state_dir,
            &self
                .config
                .runtime_dir
                .join(daemon_dir_name(req.executable)),
            &self.config.runtime_dir.join("supervisor"),
        ] {
            std::fs::create_dir_all(dir).map_err(|e| SupervisorError::Config {
                path: dir.display().to_string(),
                message: e.to_string(),
            })?;
        }
        self.write_config(&state_dir, &req.config)?;
        let view = Arc::new(Mutex::new(DaemonView {
            executable: req.executable,
            instance: req.instance.clone(),
            pid: None,
            socket: socket.clone(),
            state_dir: state_dir.clone(),
            restarts: 0,
            state: DaemonState::Starting,
            config_hash: hash.clone(),
            last_error: None,
            events_error: None,
        }));
        let (stop_tx, stop_rx) = watch::channel(false);
        let ctx = process::MonitorContext {
            executable,
            name: req.executable,
            instance: req.instance.clone(),
            socket,
            state_dir,
            runtime_dir: self.config.runtime_dir.clone(),
            log_format: self.config.log_format.clone(),
            config_hash: hash,
            bus: self.bus.clone(),
            view: view.clone(),
            stop_timeouts: self.stop_timeouts,
            replacements: self.replacements.clone(),
            replace_timeout: self.replace_timeout,
        };
        let poller = tokio::spawn(poller::run(
            self.bus.clone(),
            req.executable,
            req.instance.clone(),
            ctx.socket.clone(),
            view.clone(),
            stop_rx.clone(),
            self.shutdown.clone(),
        ));
        tokio::spawn(daemon_log::keep_rotated(
            routerd_api::daemon::daemon_log_path(&ctx.socket),
            stop_rx.clone(),
            self.shutdown.clone(),
        ));
        let task = tokio::spawn(process::monitor(
            ctx,
            stop_rx,
            self.shutdown.clone(),
            poller,
        ));
        let snapshot = view
            .lock()
            .map(|v| v.clone())
            .map_err(|_| SupervisorError::Config {
                path: String::new(),
                message: "poisoned".into(),
            })?;
        if let Ok(mut views) = self.views.lock() {
            views.insert(key.clone(), view.clone());
        }
        self.managed.lock().await.insert(
            key,
            Managed {
                view,
                stop: stop_tx,
                task,
            },
        );
        Ok(snapshot)
    }

    fn write_config(
        &self,
        state_dir: &Path,
        config: &serde_json::Value,
    ) -> Result<(), SupervisorError> {
        let path = state_dir.join("config.json");
        write_atomic(&path, config.to_string().as_bytes(), 0o600).map_err(|e| {
            SupervisorError::Config {
                path: path.display().to_string(),
                message: e.to_string(),
            }
        })
    }

    /// Stops every daemon of `executable` whose instance is not in `keep` (the resource was deleted).
    ///
    /// `farewell` is a daemon command sent first (DHCP clients `release` their lease when the resource
    /// is deleted; a plain `stop`, as at a routerd restart, keeps it). All of them are told and stopped
    /// at once, outside the lock: deleting N daemons takes one stop timeout, not N, and blocks no other
    /// daemon's `ensure`. The stops run in their own tasks, so they finish even if this call is dropped.
    pub async fn retain(&self, executable: &'static str, keep: &[String], farewell: Option<&str>) {
        let farewell = farewell.map(str::to_string);
        let mut stops = Vec::new();
        let mut forgotten = Vec::new();
        // Daemons recorded by an earlier routerd whose resource is gone are stopped too. Only those can
        // be orphans, so the records are read once per executable, not at every reconcile.
        let first_sweep = self
            .swept
            .lock()
            .map(|mut s| s.insert(executable))
            .unwrap_or(false);
        let records = if first_sweep {
            record::list(&self.config.runtime_dir)
        } else {
            Vec::new()
        };
        {
            let mut managed = self.managed.lock().await;
            let gone: Vec<DaemonKey> = managed
                .keys()
                .filter(|(e, i)| *e == executable && !keep.contains(i))
                .cloned()
                .collect();
            for key in gone {
                let Some(m) = managed.remove(&key) else {
                    continue;
                };
                let socket = self.socket_path(key.0, &key.1);
                let farewell = farewell.clone();
                forgotten.push(key);
                stops.push(tokio::spawn(async move {
                    if let Some(command) = farewell {
                        send_farewell(&socket, &command).await;
                    }
                    let _ = m.stop.send(true);
                    let _ = m.task.await;
                }));
            }
            for (exe, instance, rec) in records {
                if exe != executable
                    || keep.contains(&instance)
                    || managed.contains_key(&(executable, instance.clone()))
                {
                    continue;
                }
                let socket = self.socket_path(executable, &instance);
                let (farewell, runtime_dir, bus) = (
                    farewell.clone(),
                    self.config.runtime_dir.clone(),
                    self.bus.clone(),
                );
                let timeouts = self.stop_timeouts;
                stops.push(tokio::spawn(async move {
                    if let Some(command) = farewell {
                        send_farewell(&socket, &command).await;
                    }
                    process::stop_orphan(&rec, &socket, timeouts).await;
                    record::remove(&runtime_dir, executable, &instance);
                    let ev = NewEvent::new(
                        "routerd.daemon.lifecycle.stopped",
                        Severity::Info,
                        format!("{executable} for {instance} stopped: its resource is gone"),
                    )
                    .source(executable, &instance)
                    .attr("reason", "resource deleted");
                    let _ = bus.publish(ev).await;
                }));
            }
        }
        for stop in stops {
            let _ = stop.await;
        }
        for key in &forgotten {
            self.forget(key);
        }
    }

    fn forget(&self, key: &(&'static str, String)) {
        if let Ok(mut views) = self.views.lock() {
            views.remove(key);
        }
    }

    /// `Status.status.daemons`.
    pub fn list(&self) -> Vec<DaemonInfo> {
        let Ok(views) = self.views.lock() else {
            return Vec::new();
        };
        let mut out: Vec<DaemonInfo> = views
            .values()
            .filter_map(|v| v.lock().ok().map(|v| v.clone()))
            .map(|v| DaemonInfo {
                kind: v.executable.to_string(),
                instance: v.instance,
                pid: v.pid,
                socket: v.socket.display().to_string(),
                restarts: v.restarts,
                state: v.state.as_str().to_string(),
                events_error: v.events_error,
            })
            .collect();
        out.sort_by(|a, b| {
            (a.kind.as_str(), a.instance.as_str()).cmp(&(b.kind.as_str(), b.instance.as_str()))
        });
        out
    }
}

/// Sends a last command before a daemon is stopped for good; a failure is logged, never fatal.
async fn send_farewell(socket: &Path, command: &str) {
    let path = format!("/v1/commands/{command}");
    if let Err(e) = request(socket, "POST", &path, Duration::from_secs(5)).await {
        tracing::warn!(socket = %socket.display(), command, error = %e, "farewell command failed; stopping anyway");
    }
}

/// temp file + fsync + rename + fsync of the directory: a reader sees the old file or the new one.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
    ));
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests;
