//! Replacing an adopted daemon whose executable changed (a package upgrade installed a new build while
//! it ran), without dropping what it holds.
//!
//! **Detection.** A process keeps running the file it was started from even after `dpkg` renamed a new
//! file over its path; `/proc/<pid>/exe` then names the old, unlinked inode (`... (deleted)`). The check
//! is: the inode the process runs (`stat` through the `/proc/<pid>/exe` magic link, which works for an
//! unlinked file too) is another (device, inode) than the file at the path routerd would launch, **and**
//! their contents differ. The inode test alone catches every replacement (an executable in use cannot be
//! rewritten in place: `ETXTBSY`), the content test keeps a re-install of the identical build (or a
//! file system whose inode numbers are not stable) from churning every daemon. The daemon's reported
//! `version` is not used: two builds of one crate version report the same string.
//!
//! **Hand-over.** One daemon at a time (a lock in the supervisor): the old process gets the `stop`
//! command, which for every daemon means "persist your state and exit; give nothing up" (the DHCP
//! clients keep `lease.json` and send no RELEASE; a RELEASE is only the explicit `release` farewell sent
//! when a resource is deleted). The new process starts from the same state directory — a DHCPv4 client
//! confirms its remembered lease with a REQUEST (INIT-REBOOT) instead of a DISCOVER, a DHCPv6 client
//! renews its binding — and the next daemon waits until this one reports the phase the old one had
//! (`Bound`, `Up`, `Healthy`, ...) or [`REPLACE_TIMEOUT`] passed. Meanwhile the daemon's view says
//! [`DaemonState::Replacing`](super::DaemonState::Replacing), so controllers leave the host as it is
//! instead of following a half-started daemon's `Pending`.
//!
//! **Sessions that cannot be handed over.** A PPPoE session lives in the kernel only as long as the
//! process that holds its PPP channel; a new process would have to dial again. So a session-holding
//! daemon whose session is `Up` is not replaced: it keeps running its old executable
//! (`routerd.daemon.lifecycle.replacement.deferred`) and picks up the new one the next time it is
//! started (its session went down and it exited, it was killed, or routerd restarts while it is down).

use crate::daemon_client::request;
use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long the next replacement waits for this one to report its state restored.
pub const REPLACE_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the new daemon's status is looked at while waiting.
const RESTORE_POLL: Duration = Duration::from_millis(200);

/// Daemons whose state is a kernel session held by the process itself: replacing one while its
/// session is `Up` drops the session, so they are replaced only while it is down.
const SESSION_HOLDERS: &[&str] = &["routerd-pppoe-client"];

/// Phases that a replacement restores: the new daemon must report the same one before the next
/// replacement starts. From any other phase (`Pending`, `Error`, `Unhealthy`) there is nothing to
/// restore, and the first answer will do.
const RESTORABLE_PHASES: &[&str] = &["Bound", "Up", "Healthy", "Applied", "Installed"];

/// Why process `pid` runs another build than the file at `path`, or `None` when it runs that file (or
/// an identical copy of it), or when either cannot be looked at (then nothing is replaced).
pub fn executable_changed(pid: u32, path: &Path) -> Option<String> {
    let proc_exe = format!("/proc/{pid}/exe");
    let running = std::fs::metadata(&proc_exe).ok()?;
    let on_disk = std::fs::metadata(path).ok()?;
    if (running.dev(), running.ino()) == (on_disk.dev(), on_disk.ino()) {
        return None;
    }
    if same_contents(Path::new(&proc_exe), path, running.len(), on_disk.len()) {
        return None;
    }
    let link = std::fs::read_link(&proc_exe)
        .map(|l| l.display().to_string())
        .unwrap_or_default();
    Some(if link.ends_with(" (deleted)") {
        format!(
            "it runs {link}; {} is a new build (inode {})",
            path.display(),
            on_disk.ino()
        )
    } else {
        format!(
            "it runs inode {} but {} is inode {} with other contents",
            running.ino(),
            path.display(),
            on_disk.ino()
        )
    })
}

/// Byte-for-byte equality, stopping at the first difference. An unreadable file counts as different.
fn same_contents(a: &Path, b: &Path, len_a: u64, len_b: u64) -> bool {
    if len_a != len_b {
        return false;
    }
    let (Ok(mut fa), Ok(mut fb)) = (std::fs::File::open(a), std::fs::File::open(b)) else {
        return false;
    };
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let Ok(n) = read_full(&mut fa, &mut ba) else {
            return false;
        };
        let Ok(m) = read_full(&mut fb, &mut bb) else {
            return false;
        };
        if n != m || ba[..n] != bb[..m] {
            return false;
        }
        if n == 0 {
            return true;
        }
    }
}

/// Reads until `buf` is full or the file ends.
fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match f.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Whether `executable` holds a session that a replacement would drop.
pub fn holds_session(executable: &str) -> bool {
    SESSION_HOLDERS.contains(&executable)
}

/// The phase of every resource in a daemon's `/v1/status` answer, read tolerantly (any schema version:
/// only `resources[].resource.name` and `resources[].phase` are looked at).
pub fn phases(answer: &serde_json::Value) -> HashMap<String, String> {
    answer
        .get("resources")
        .and_then(|r| r.as_array())
        .map(|resources| {
            resources
                .iter()
                .filter_map(|r| {
                    let name = r.get("resource")?.get("name")?.as_str()?;
                    let phase = r.get("phase")?.as_str()?;
                    Some((name.to_string(), phase.to_string()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The daemon's resource phases now, when it answers.
pub async fn current_phases(socket: &Path) -> Option<HashMap<String, String>> {
    request(socket, "GET", "/v1/status", Duration::from_secs(2))
        .await
        .ok()
        .map(|a| phases(&a))
}

/// True when `now` shows every resource of `before` back: in the same phase when that phase is one a
/// replacement restores, merely reported otherwise.
pub fn restored(before: &HashMap<String, String>, now: &HashMap<String, String>) -> bool {
    before.iter().all(|(name, phase)| match now.get(name) {
        None => false,
        Some(p) => !RESTORABLE_PHASES.contains(&phase.as_str()) || p == phase,
    })
}

/// Polls the new daemon's status until [`restored`] holds or `timeout` passes; the phases seen last.
pub async fn wait_restored(
    socket: &Path,
    before: &HashMap<String, String>,
    timeout: Duration,
) -> Result<HashMap<String, String>, HashMap<String, String>> {
    let until = Instant::now() + timeout;
    let mut last = HashMap::new();
    loop {
        if let Some(now) = current_phases(socket).await {
            // A daemon that reported nothing before must at least answer.
            if restored(before, &now) && (!before.is_empty() || !now.is_empty()) {
                return Ok(now);
            }
            last = now;
        }
        if Instant::now() >= until {
            return Err(last);
        }
        tokio::time::sleep(RESTORE_POLL).await;
    }
}

/// `name=Phase,name=Phase` in name order, for event attributes.
pub fn describe(phases: &HashMap<String, String>) -> String {
    let mut v: Vec<String> = phases.iter().map(|(n, p)| format!("{n}={p}")).collect();
    v.sort();
    v.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn restored_means_the_same_good_phase_back() {
        let before = map(&[("wan", "Bound")]);
        assert!(!restored(&before, &map(&[])));
        assert!(!restored(&before, &map(&[("wan", "Pending")])));
        assert!(restored(&before, &map(&[("wan", "Bound")])));
        // Nothing to restore from Pending or Error: any report will do.
        let pending = map(&[("wan", "Pending")]);
        assert!(restored(&pending, &map(&[("wan", "Error")])));
        assert!(!restored(&pending, &map(&[])));
    }

    #[test]
    fn phases_are_read_from_any_schema_version() {
        let future = json!({"schemaVersion": 7, "newTopLevel": {"x": 1}, "resources": [
            {"resource": {"name": "wan", "kind": "DHCPv4Client", "uid": "new"}, "phase": "Bound", "extra": []},
            {"resource": {"name": "broken"}},
        ]});
        assert_eq!(phases(&future), map(&[("wan", "Bound")]));
        assert!(phases(&json!("garbage")).is_empty());
    }

    #[test]
    fn a_process_running_a_replaced_file_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("routerd-stub");
        std::fs::copy("/bin/sleep", &exe).unwrap();
        let mut child = std::process::Command::new(&exe).arg("30").spawn().unwrap();
        assert_eq!(executable_changed(child.id(), &exe), None, "same file");
        // An identical copy renamed over the path (a re-install of the same build): not a change.
        let staged = dir.path().join(".staged");
        std::fs::copy("/bin/sleep", &staged).unwrap();
        std::fs::rename(&staged, &exe).unwrap();
        assert_eq!(executable_changed(child.id(), &exe), None, "identical copy");
        // Another build renamed over it, as dpkg does: the process runs a deleted inode now.
        let mut other = std::fs::read("/bin/sleep").unwrap();
        other.extend_from_slice(b"another build");
        std::fs::write(&staged, other).unwrap();
        std::fs::rename(&staged, &exe).unwrap();
        let why = executable_changed(child.id(), &exe).expect("a changed executable");
        assert!(why.contains("(deleted)"), "{why}");
        let _ = child.kill();
        let _ = child.wait();
    }
}
