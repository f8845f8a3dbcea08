//! Atomic JSON state files (`lease.json`, `session.json`, `state.json`). A crash or power loss leaves
//! either the old file or the new one, never a torn mix: write a temporary file in the same directory,
//! fsync it, rename it over the target, fsync the directory so the rename itself is durable.
//!
//! Daemons run on a current-thread runtime (`entry.rs`), where a blocking fsync (tens of ms on a real
//! disk) stalls every timer, packet and API request of the daemon. Their hot-path writes go through
//! [`store_json`] / [`store_removal`]: the caller's value is encoded at once, the disk work runs on the
//! blocking pool, and the writes of one path land in the order they were issued (a newer one that
//! already landed makes an older one a no-op). [`flush_stores`] waits for them.

use crate::error::DaemonError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

/// Distinguishes temporary files of concurrent writers in one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `value` as pretty JSON to `path` atomically, mode 0600 (state files may hold secrets and
/// lease details that are nobody else's business).
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<(), DaemonError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| DaemonError::Encode {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// Writes `bytes` to `path` atomically, mode 0600, for state that is not JSON (the DHCPv6 DUID file).
/// The temporary file is created new under a name unique to this process and write, so concurrent
/// writers and a stale leftover never share or truncate one another's file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DaemonError> {
    let Some(file_name) = path.file_name() else {
        return Err(DaemonError::Io {
            action: "write",
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path"),
        });
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let temp = dir.join(format!(
        ".{}.tmp-{}-{}",
        file_name.to_string_lossy(),
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = write_then_rename(&temp, path, &dir, bytes);
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

fn write_then_rename(
    temp: &Path,
    path: &Path,
    dir: &Path,
    bytes: &[u8],
) -> Result<(), DaemonError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(temp)
        .map_err(DaemonError::io("create", temp))?;
    // The mode given to open is filtered by the umask; state files are 0600 whatever it is.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(DaemonError::io("chmod", temp))?;
    file.write_all(bytes)
        .map_err(DaemonError::io("write", temp))?;
    file.sync_all().map_err(DaemonError::io("fsync", temp))?;
    drop(file);
    std::fs::rename(temp, path).map_err(DaemonError::io("rename into place", path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(DaemonError::io("fsync directory", dir))
}

/// The background writes of one path: how many were issued, and the newest that has landed (its lock
/// is held while one is written, so two never run at once).
#[derive(Default)]
struct PathQueue {
    issued: AtomicU64,
    landed: Mutex<u64>,
}

static QUEUES: LazyLock<Mutex<HashMap<PathBuf, Arc<PathQueue>>>> = LazyLock::new(Default::default);

fn queue_of(path: &Path) -> Arc<PathQueue> {
    let mut queues = QUEUES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    queues.entry(path.to_path_buf()).or_default().clone()
}

/// Writes `value` as [`write_json_atomic`] does, off the async runtime: returns once the value is
/// encoded (an encoding error is returned), and logs a failed write with `consequence` (what a
/// restart would lose). Outside a runtime it writes at once.
pub fn store_json<T: Serialize>(
    path: &Path,
    value: &T,
    consequence: &'static str,
) -> Result<(), DaemonError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| DaemonError::Encode {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    bytes.push(b'\n');
    enqueue(path, Some(bytes), consequence);
    Ok(())
}

/// Removes `path` (missing is fine), in order with the [`store_json`] writes of the same path.
pub fn store_removal(path: &Path, consequence: &'static str) {
    enqueue(path, None, consequence);
}

fn enqueue(path: &Path, contents: Option<Vec<u8>>, consequence: &'static str) {
    let queue = queue_of(path);
    let seq = queue.issued.fetch_add(1, Ordering::SeqCst) + 1;
    let path = path.to_path_buf();
    let work = move || {
        let mut landed = queue
            .landed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if *landed >= seq {
            return; // a newer write of this path already landed
        }
        let result = match &contents {
            Some(bytes) => write_atomic(&path, bytes),
            None => match std::fs::remove_file(&path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(DaemonError::io("remove", &path)(e)),
            },
        };
        // Landed or not, an older write must not overwrite what this one meant.
        *landed = seq;
        if let Err(e) = result {
            tracing::error!(error = %e, "{consequence}");
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn_blocking(work);
        }
        Err(_) => work(),
    }
}

/// Waits until every write of `path` issued so far has landed (or failed): before a daemon exits.
pub async fn flush_stores(path: &Path) {
    let queue = queue_of(path);
    let issued = queue.issued.load(Ordering::SeqCst);
    loop {
        let landed = *queue
            .landed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if landed >= issued {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Reads a JSON state file: `None` when it does not exist (first start), an error naming the file, the
/// line and column and the field when it is malformed (never silently reset state).
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, DaemonError> {
    match std::fs::read(path) {
        Ok(bytes) => decode_json(path, &bytes).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(DaemonError::io("read", path)(e)),
    }
}

/// Decodes `bytes` (the contents of `path`) with the path to the offending field in the error.
pub(crate) fn decode_json<T: DeserializeOwned>(
    path: &Path,
    bytes: &[u8],
) -> Result<T, DaemonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        json_error(path, field, e.inner())
    })?;
    de.end().map_err(|e| json_error(path, String::new(), &e))?;
    Ok(value)
}

fn json_error(path: &Path, field: String, e: &serde_json::Error) -> DaemonError {
    // serde_json appends " at line L column C"; the error carries them as numbers instead.
    let text = e.to_string();
    let message = match text.rsplit_once(" at line ") {
        Some((message, _)) => message.to_string(),
        None => text,
    };
    DaemonError::Json {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        field,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Lease {
        address: String,
        lease_seconds: u32,
    }

    #[test]
    fn writes_atomically_with_mode_0600_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lease.json");
        assert_eq!(read_json::<Lease>(&path).unwrap(), None);
        let lease = Lease {
            address: "192.0.2.10".into(),
            lease_seconds: 3600,
        };
        write_json_atomic(&path, &lease).unwrap();
        write_json_atomic(&path, &lease).unwrap();
        assert_eq!(read_json::<Lease>(&path).unwrap(), Some(lease));
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, ["lease.json"], "no temporary file left behind");
    }

    #[test]
    fn raw_bytes_are_written_atomically_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("duid");
        write_atomic(&path, b"0001\n").unwrap();
        write_atomic(&path, b"0002\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"0002\n");
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, ["duid"], "no temporary file left behind");
    }

    #[test]
    fn a_malformed_file_names_path_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lease.json");
        std::fs::write(
            &path,
            "{\n  \"address\": \"192.0.2.10\",\n  \"lease_seconds\": \"long\"\n}\n",
        )
        .unwrap();
        let err = read_json::<Lease>(&path).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}:3:", path.display())), "{err}");
        assert!(err.contains("field lease_seconds: invalid type"), "{err}");
        std::fs::write(&path, "{\"address\": \"x\", \"lease_seconds\": 1} trailing").unwrap();
        assert!(read_json::<Lease>(&path).is_err());
    }

    /// The state directory of these tests: on the real disk (where fsync costs what it costs in
    /// production), not a tmpfs.
    fn disk_dir() -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix(".state-file-test")
            .tempdir_in(env!("CARGO_MANIFEST_DIR"))
            .unwrap()
    }

    /// A current-thread runtime (as every daemon's) keeps running while lease files are written: ten
    /// stores of a lease hold the runtime's thread for far less than ten fsyncs, and the file ends
    /// with the last value.
    #[tokio::test(flavor = "current_thread")]
    async fn stores_leave_a_current_thread_runtime_free_and_keep_order() {
        let dir = disk_dir();
        let path = dir.path().join("lease.json");
        // One synchronous write, for scale.
        let t = std::time::Instant::now();
        write_json_atomic(&path, &0).unwrap();
        let one_fsync = t.elapsed();
        let t = std::time::Instant::now();
        for n in 1..=10u32 {
            let lease = Lease {
                address: "192.0.2.10".into(),
                lease_seconds: n,
            };
            store_json(&path, &lease, "lease.json not written").unwrap();
        }
        let held = t.elapsed();
        flush_stores(&path).await;
        assert!(
            held < Duration::from_millis(50),
            "10 stores held the runtime {held:?} (one synchronous write: {one_fsync:?})"
        );
        let last = read_json::<Lease>(&path).unwrap().unwrap();
        assert_eq!(last.lease_seconds, 10, "an older write landed last");
        store_removal(&path, "lease.json not removed");
        flush_stores(&path).await;
        assert!(!path.exists());
    }

    #[test]
    fn writing_into_a_missing_directory_fails_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("state.json");
        let err = write_json_atomic(&path, &1).unwrap_err().to_string();
        assert!(err.contains("missing"), "{err}");
    }
}
