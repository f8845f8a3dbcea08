//! The `ifname` a daemon's `config.json` carries: routerd resolves an `Interface` resource to the OS
//! link name, and each daemon checks it before binding sockets to it. The rule itself is routerd-api's
//! [`routerd_api::spec::check_ifname`], the one routerd applies to specs, so the two never disagree.

pub use routerd_api::spec::MAX_IFNAME;

/// Whether `ifname` can name a Linux link; the error names the `ifname` field, like every config check.
pub fn check_ifname(ifname: &str) -> Result<(), String> {
    routerd_api::spec::check_ifname(ifname).map_err(|e| format!("ifname: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_link_names() {
        for good in [
            "eth0",
            "wan",
            "a",
            "enp0s31f6.100",
            "123456789012345",
            "...",
        ] {
            check_ifname(good).unwrap();
        }
        for bad in ["", "1234567890123456", "a/b", "a b", "a\0", ".", ".."] {
            let err = check_ifname(bad).unwrap_err();
            assert!(err.starts_with("ifname: "), "{err}");
        }
    }
}
