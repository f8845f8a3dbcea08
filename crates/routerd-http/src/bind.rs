//! Binding a Unix socket the way `control-api.md` "Sockets" says: a stale socket file (nothing answers on
//! it) is removed, a live one belongs to another process and is never stolen (two servers answering for one
//! thing would be worse than one refusing to start), and anything that is not a socket is left alone.

use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use tokio::net::UnixListener;

/// How the socket file is set up, and how a refusal names the server that already holds it.
#[derive(Debug, Clone, Copy)]
pub struct SocketOptions<'a> {
    /// File mode of the socket (`0o660` for routerd-only sockets, `0o666` for the status socket).
    pub mode: u32,
    /// Group given to the socket file, so the mode's group bits mean "the control group".
    pub group: Option<u32>,
    /// Who would be serving on a live socket (`routerd`, `routerd-healthcheck`), for the error.
    pub server: &'a str,
    /// What the operator can do about a live socket (`stop it first, or use --runtime-dir`).
    pub hint: &'a str,
}

/// Why a socket could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The path holds a file of another type; replacing it could destroy data.
    #[error("{} exists and is not a socket; refusing to replace it", path.display())]
    NotASocket { path: PathBuf },
    /// Something answers on the socket: another server owns it.
    #[error("{} is in use: another {server} is serving on it ({hint})", path.display())]
    InUse {
        path: PathBuf,
        server: String,
        hint: String,
    },
    /// Connecting failed for another reason than "nobody listens" (permissions, say), so we cannot
    /// tell stale from live and leave it.
    #[error("{} exists and cannot be checked ({source}); refusing to replace it", path.display())]
    Unverifiable {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file-system step failed (`action` says which).
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The socket file this process created; removed on drop. It answers for as long as the server runs, so
/// no other instance can have taken it over by the time it is removed (a live socket is never replaced).
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
}

impl SocketFile {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Binds `path` (creating its directory, mode 0755, when missing): refuses when another process answers
/// on it, removes a stale socket file, then sets the mode and group.
pub fn bind_socket(
    path: &Path,
    options: &SocketOptions<'_>,
) -> Result<(UnixListener, SocketFile), BindError> {
    let io = |action: &'static str, at: &Path| {
        let path = at.to_path_buf();
        move |source| BindError::Io {
            action,
            path,
            source,
        }
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
            .map_err(io("create directory", parent))?;
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(BindError::NotASocket {
                path: path.to_path_buf(),
            });
        }
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => {
                return Err(BindError::InUse {
                    path: path.to_path_buf(),
                    server: options.server.to_string(),
                    hint: options.hint.to_string(),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                std::fs::remove_file(path).map_err(io("remove stale socket", path))?;
                tracing::info!(path = %path.display(), "removed stale socket");
            }
            Err(source) => {
                return Err(BindError::Unverifiable {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
    }
    let listener = UnixListener::bind(path).map_err(io("bind", path))?;
    let file = SocketFile {
        path: path.to_path_buf(),
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(options.mode))
        .map_err(io("chmod", path))?;
    if let Some(gid) = options.group {
        std::os::unix::fs::chown(path, None, Some(gid)).map_err(io("chgrp", path))?;
    }
    Ok((listener, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: SocketOptions<'static> = SocketOptions {
        mode: 0o660,
        group: None,
        server: "routerd-x",
        hint: "stop it first",
    };

    #[tokio::test]
    async fn a_live_socket_is_never_stolen_and_a_stale_one_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run").join("x.sock");
        let (live, file) = bind_socket(&path, &OPTIONS).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o660);
        let err = bind_socket(&path, &OPTIONS).unwrap_err().to_string();
        assert!(
            err.contains("is in use: another routerd-x is serving on it (stop it first)"),
            "{err}"
        );
        drop(live); // the file stays behind: stale
        assert!(path.exists());
        std::mem::forget(file); // as if the process had crashed without cleaning up
        let (_again, file) = bind_socket(&path, &OPTIONS).unwrap();
        drop(file);
        assert!(!path.exists(), "removed when the server is done");
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "x").unwrap();
        let err = bind_socket(&plain, &OPTIONS).unwrap_err().to_string();
        assert!(err.contains("not a socket"), "{err}");
        assert_eq!(std::fs::read_to_string(&plain).unwrap(), "x");
    }
}
