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

/// The IP forwarding switches (`net.ipv4.ip_forward`, `net.ipv6.conf.all.forwarding`) and the per-link
/// `accept_ra` that must be 2 on a WAN that learns its default route from RAs once IPv6 forwarding is on
/// (with forwarding on and `accept_ra=1` the kernel ignores RAs). Per network namespace.
pub trait ForwardingSysctl: Send + Sync {
    /// Sets forwarding of one family (`ipv6` false: IPv4).
    fn set_forwarding(&self, ipv6: bool, on: bool) -> std::io::Result<()>;
    /// Whether forwarding of that family is on.
    fn forwarding(&self, ipv6: bool) -> std::io::Result<bool>;
    /// Sets `net.ipv6.conf.<ifname>.accept_ra`.
    fn set_accept_ra(&self, ifname: &str, value: u8) -> std::io::Result<()>;
}

/// `/proc/sys/net` of the current namespace.
#[derive(Debug, Default)]
pub struct KernelForwarding;

fn forwarding_path(ipv6: bool) -> &'static str {
    if ipv6 {
        "/proc/sys/net/ipv6/conf/all/forwarding"
    } else {
        "/proc/sys/net/ipv4/ip_forward"
    }
}

impl ForwardingSysctl for KernelForwarding {
    fn set_forwarding(&self, ipv6: bool, on: bool) -> std::io::Result<()> {
        std::fs::write(forwarding_path(ipv6), if on { "1" } else { "0" })
    }

    fn forwarding(&self, ipv6: bool) -> std::io::Result<bool> {
        Ok(std::fs::read_to_string(forwarding_path(ipv6))?.trim() == "1")
    }

    fn set_accept_ra(&self, ifname: &str, value: u8) -> std::io::Result<()> {
        if ifname.is_empty()
            || ifname.len() > 15
            || ifname.contains(['/', '\0'])
            || ifname == "."
            || ifname == ".."
        {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{ifname:?} is not an interface name"),
            ));
        }
        std::fs::write(
            std::path::Path::new("/proc/sys/net/ipv6/conf")
                .join(ifname)
                .join("accept_ra"),
            value.to_string(),
        )
    }
}

/// In-memory forwarding switches for tests.
#[derive(Debug, Default)]
pub struct FakeForwarding {
    pub ipv4: Mutex<bool>,
    pub ipv6: Mutex<bool>,
    pub accept_ra: Mutex<HashMap<String, u8>>,
}

impl ForwardingSysctl for FakeForwarding {
    fn set_forwarding(&self, ipv6: bool, on: bool) -> std::io::Result<()> {
        let slot = if ipv6 { &self.ipv6 } else { &self.ipv4 };
        if let Ok(mut v) = slot.lock() {
            *v = on;
        }
        Ok(())
    }

    fn forwarding(&self, ipv6: bool) -> std::io::Result<bool> {
        let slot = if ipv6 { &self.ipv6 } else { &self.ipv4 };
        Ok(slot.lock().map(|v| *v).unwrap_or(false))
    }

    fn set_accept_ra(&self, ifname: &str, value: u8) -> std::io::Result<()> {
        if let Ok(mut m) = self.accept_ra.lock() {
            m.insert(ifname.to_string(), value);
        }
        Ok(())
    }
}
