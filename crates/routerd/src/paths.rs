//! Platform paths in one place, so no other module spells `/run/routerd` or `/var/lib/routerd`.

use std::path::PathBuf;

#[cfg(target_os = "freebsd")]
pub const DEFAULT_RUNTIME_DIR: &str = "/var/run/routerd";
#[cfg(not(target_os = "freebsd"))]
pub const DEFAULT_RUNTIME_DIR: &str = "/run/routerd";

#[cfg(target_os = "freebsd")]
pub const DEFAULT_STATE_DIR: &str = "/var/db/routerd";
#[cfg(not(target_os = "freebsd"))]
pub const DEFAULT_STATE_DIR: &str = "/var/lib/routerd";

#[cfg(target_os = "freebsd")]
pub const DEFAULT_CONFIG_DIR: &str = "/usr/local/etc/routerd";
#[cfg(not(target_os = "freebsd"))]
pub const DEFAULT_CONFIG_DIR: &str = "/etc/routerd";

/// The config `routerd serve` applies without `--config`: [`DEFAULT_CONFIG_DIR`] when it holds at least
/// one `*.yaml`/`*.yml`. A directory with none (the package ships only a commented `*.yaml.example`)
/// means "resume the ledger": an empty directory applied as a replace would delete everything an
/// operator set up through the API.
pub fn default_config() -> Option<PathBuf> {
    let dir = PathBuf::from(DEFAULT_CONFIG_DIR);
    crate::config::files::has_manifests(&dir).then_some(dir)
}

pub const MAIN_SOCKET: &str = "routerd.sock";
pub const STATUS_SOCKET: &str = "routerd-status.sock";
pub const DATABASE: &str = "routerd.db";

/// Resolved locations for one routerd instance.
#[derive(Debug, Clone)]
pub struct Paths {
    pub runtime_dir: PathBuf,
    pub state_dir: PathBuf,
    pub main_socket: PathBuf,
    pub status_socket: PathBuf,
}

impl Paths {
    pub fn new(
        runtime_dir: Option<PathBuf>,
        state_dir: Option<PathBuf>,
        socket: Option<PathBuf>,
        status_socket: Option<PathBuf>,
    ) -> Paths {
        let runtime_dir = runtime_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_RUNTIME_DIR));
        let state_dir = state_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR));
        Paths {
            main_socket: socket.unwrap_or_else(|| runtime_dir.join(MAIN_SOCKET)),
            status_socket: status_socket.unwrap_or_else(|| runtime_dir.join(STATUS_SOCKET)),
            runtime_dir,
            state_dir,
        }
    }

    pub fn database(&self) -> PathBuf {
        self.state_dir.join(DATABASE)
    }
}
