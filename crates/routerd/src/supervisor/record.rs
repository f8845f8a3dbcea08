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

/// True when `pid` is alive and runs the recorded executable (a recycled pid runs something else).
pub fn matches_process(record: &Record) -> bool {
    let Ok(exe) = std::fs::read_link(format!("/proc/{}/exe", record.pid)) else {
        return false;
    };
    let exe = exe.display().to_string();
    exe == record.executable || exe.strip_suffix(" (deleted)") == Some(record.executable.as_str())
}
