//! The netfilter sysctls routerd turns on for its observers (`net.netfilter.nf_conntrack_acct` for flow
//! byte counts, `nf_conntrack_timestamp` for flow start times), behind a trait so controllers are tested
//! without root. They are per network namespace: writing them affects only routerd's namespace.

use std::collections::HashMap;
use std::sync::Mutex;

/// `net.netfilter.*` settings.
pub trait NetfilterSysctl: Send + Sync {
    /// Sets `net.netfilter.<name>` to `value`.
    fn set(&self, name: &str, value: &str) -> std::io::Result<()>;
    /// Reads `net.netfilter.<name>`.
    fn get(&self, name: &str) -> std::io::Result<String>;
}

/// `/proc/sys/net/netfilter` of the current namespace.
#[derive(Debug, Default)]
pub struct KernelSysctl;

fn path(name: &str) -> std::io::Result<std::path::PathBuf> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{name:?} is not a netfilter sysctl name"),
        ));
    }
    Ok(std::path::Path::new("/proc/sys/net/netfilter").join(name))
}

impl NetfilterSysctl for KernelSysctl {
    fn set(&self, name: &str, value: &str) -> std::io::Result<()> {
        std::fs::write(path(name)?, value)
    }

    fn get(&self, name: &str) -> std::io::Result<String> {
        Ok(std::fs::read_to_string(path(name)?)?.trim().to_string())
    }
}

/// In-memory settings for tests.
#[derive(Debug, Default)]
pub struct FakeSysctl {
    pub values: Mutex<HashMap<String, String>>,
}

impl NetfilterSysctl for FakeSysctl {
    fn set(&self, name: &str, value: &str) -> std::io::Result<()> {
        if let Ok(mut values) = self.values.lock() {
            values.insert(name.to_string(), value.to_string());
        }
        Ok(())
    }

    fn get(&self, name: &str) -> std::io::Result<String> {
        self.values
            .lock()
            .ok()
            .and_then(|v| v.get(name).cloned())
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
    }
}
