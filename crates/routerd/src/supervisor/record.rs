//! `<runtime>/supervisor/<kind>-<name>.json`: which process serves a daemon, so a restarted routerd can
//! adopt it instead of starting a second one.

use routerd_api::daemon::daemon_dir_name;
use routerd_api::Timestamp;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub pid: u32,
    pub executable: String,
    pub config_hash: String,
    pub started_at: Timestamp,
    /// The process's start time (clock ticks after boot, `/proc/<pid>/stat` field 22): with the pid it
    /// names one process for good, so a recycled pid is never taken for the daemon. Absent in records
    /// of an older routerd, which are checked by executable only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<u64>,
    /// Executable name and resource name, so the file name never has to be parsed.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub instance: String,
}

impl Record {
    pub fn new(pid: u32, executable: &Path, config_hash: &str) -> Record {
        Record {
            pid,
            executable: executable.display().to_string(),
            config_hash: config_hash.to_string(),
            started_at: Timestamp::now(),
            start_time: start_time(pid),
            name: String::new(),
            instance: String::new(),
        }
    }
}

fn path(runtime_dir: &Path, executable: &str, instance: &str) -> PathBuf {
    runtime_dir
        .join("supervisor")
        .join(format!("{}-{instance}.json", daemon_dir_name(executable)))
}

pub fn write(runtime_dir: &Path, executable: &str, instance: &str, record: &Record) {
    let mut r = record.clone();
    r.name = executable.to_string();
    r.instance = instance.to_string();
    let p = path(runtime_dir, executable, instance);
    let data = serde_json::to_vec(&r).unwrap_or_default();
    if let Err(e) = super::write_atomic(&p, &data, 0o644) {
        tracing::warn!(path = %p.display(), error = %e, "cannot write the supervisor record");
    }
}

pub fn read(runtime_dir: &Path, executable: &str, instance: &str) -> Option<Record> {
    let data = std::fs::read(path(runtime_dir, executable, instance)).ok()?;
    serde_json::from_slice(&data).ok()
}

pub fn remove(runtime_dir: &Path, executable: &str, instance: &str) {
    let _ = std::fs::remove_file(path(runtime_dir, executable, instance));
}

/// Every record on disk as (executable name, instance, record).
pub fn list(runtime_dir: &Path) -> Vec<(String, String, Record)> {
    let Ok(dir) = std::fs::read_dir(runtime_dir.join("supervisor")) else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|d| serde_json::from_slice::<Record>(&d).ok())
        .filter(|r| !r.name.is_empty() && !r.instance.is_empty())
        .map(|r| (r.name.clone(), r.instance.clone(), r))
        .collect()
}

/// The start time of process `pid` (clock ticks after boot), `None` when there is no such process.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may itself hold spaces and parentheses.
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Field 3 (state) is the first after the name; field 22 (starttime) the 20th.
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// True when `pid` is alive and is the recorded process: same executable and, when recorded, same
/// start time (a recycled pid runs something else, or the same binary started later).
pub fn matches_process(record: &Record) -> bool {
    let Ok(exe) = std::fs::read_link(format!("/proc/{}/exe", record.pid)) else {
        return false;
    };
    let exe = exe.display().to_string();
    let same_exe = exe == record.executable
        || exe.strip_suffix(" (deleted)") == Some(record.executable.as_str());
    same_exe
        && record
            .start_time
            .is_none_or(|recorded| start_time(record.pid) == Some(recorded))
}
