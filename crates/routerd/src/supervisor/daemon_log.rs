//! Each daemon's stdout and stderr go to its own file, `<runtime>/<kind>/<name>.log` (next to its
//! socket), opened by the supervisor in append mode. The daemon holds the file itself, so its lines
//! survive a routerd restart (a pipe to the routerd that spawned it would break, and its lines with
//! it) and an adopted daemon keeps writing where `routerctl daemon KIND/NAME logs` reads. The file is
//! rotated at [`ROTATE_AT`] by copy and truncate, keeping one old file (`.log.1`): the daemon's
//! descriptor stays valid, and append mode makes its next write land at the new end.

use crate::shutdown::stopped;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::watch;

/// Size at which a daemon's log file is rotated.
pub const ROTATE_AT: u64 = 1024 * 1024;
/// How often the size is looked at.
const CHECK_EVERY: Duration = Duration::from_secs(10);

/// Opens (creating) a daemon's log file for appending; mode 0640 (the control group may read it).
pub fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
}

fn old_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

/// Rotates `path` when it has reached `limit` bytes: its contents become `<path>.1` (replacing the
/// older one) and it starts empty. True when it rotated.
pub fn rotate_if_large(path: &Path, limit: u64) -> io::Result<bool> {
    let size = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if size < limit {
        return Ok(false);
    }
    std::fs::copy(path, old_path(path))?;
    OpenOptions::new().write(true).open(path)?.set_len(0)?;
    Ok(true)
}

/// Keeps `path` rotated until `stop` or `shutdown`.
pub async fn keep_rotated(
    path: PathBuf,
    mut stop: watch::Receiver<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(CHECK_EVERY) => {}
            _ = stopped(&mut stop) => return,
            _ = stopped(&mut shutdown) => return,
        }
        let p = path.clone();
        let rotated = tokio::task::spawn_blocking(move || rotate_if_large(&p, ROTATE_AT)).await;
        if let Ok(Err(e)) = rotated {
            tracing::warn!(path = %path.display(), error = %e, "cannot rotate a daemon log");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn rotates_at_the_limit_keeping_one_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let mut writer = open(&path).unwrap();
        writer.write_all(b"first\n").unwrap();
        assert!(!rotate_if_large(&path, 100).unwrap());
        writer.write_all(&[b'x'; 120]).unwrap();
        assert!(rotate_if_large(&path, 100).unwrap());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        // The writer's next line lands at the start of the emptied file (append mode).
        writer.write_all(b"after\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"after\n");
        assert!(std::fs::read_to_string(old_path(&path))
            .unwrap()
            .starts_with("first\n"));
    }
}
