//! The API socket: a stale socket file is replaced, a live one is never stolen (two daemons answering
//! for one resource would be worse than one refusing to start), mode 0660 for routerd's group.

use super::SOCKET_MODE;
use crate::error::DaemonError;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use tokio::net::UnixListener;

/// The socket file this process created, removed on drop. It answers until the server stops, so no other
/// instance can have taken it over by then (a live socket is never replaced).
#[derive(Debug)]
pub(crate) struct SocketFile {
    path: PathBuf,
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Binds `path` for daemon `kind` (named in the "in use" error).
pub(crate) fn bind_socket(
    path: &Path,
    kind: &str,
) -> Result<(UnixListener, SocketFile), DaemonError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
            .map_err(|e| {
                DaemonError::Socket(format!("cannot create directory {}: {e}", parent.display()))
            })?;
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(DaemonError::Socket(format!(
                "{} exists and is not a socket; refusing to replace it",
                path.display()
            )));
        }
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => {
                return Err(DaemonError::Socket(format!(
                    "{} is in use: another {kind} is serving on it (stop it first, or use another --socket)",
                    path.display()
                )))
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                std::fs::remove_file(path).map_err(|e| {
                    DaemonError::Socket(format!("cannot remove stale socket {}: {e}", path.display()))
                })?;
                tracing::info!(path = %path.display(), "removed stale socket");
            }
            Err(e) => {
                return Err(DaemonError::Socket(format!(
                    "{} exists and cannot be checked ({e}); refusing to replace it",
                    path.display()
                )))
            }
        }
    }
    let listener = UnixListener::bind(path)
        .map_err(|e| DaemonError::Socket(format!("cannot bind {}: {e}", path.display())))?;
    let file = SocketFile {
        path: path.to_path_buf(),
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE))
        .map_err(|e| DaemonError::Socket(format!("cannot chmod {}: {e}", path.display())))?;
    Ok((listener, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_live_socket_is_never_stolen_and_a_stale_one_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run").join("wan.sock");
        let (live, file) = bind_socket(&path, "routerd-x").unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o660);
        let err = bind_socket(&path, "routerd-x").unwrap_err().to_string();
        assert!(err.contains("another routerd-x is serving"), "{err}");
        drop(live); // the file stays behind: stale
        assert!(path.exists());
        std::mem::forget(file); // as if the process had crashed without cleaning up
        let (_again, file) = bind_socket(&path, "routerd-x").unwrap();
        drop(file);
        assert!(!path.exists(), "removed when the server is done");
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "x").unwrap();
        let err = bind_socket(&plain, "routerd-x").unwrap_err().to_string();
        assert!(err.contains("not a socket"), "{err}");
    }
}
