//! The `ifname` a daemon's `config.json` carries: routerd resolves an `Interface` resource to the OS
//! link name, and each daemon checks it before binding sockets to it, with the same rule and wording.

/// Longest Linux interface name (IFNAMSIZ - 1).
pub const MAX_IFNAME: usize = 15;

/// Whether `ifname` can name a Linux link; the error names the `ifname` field, like every config check.
pub fn check_ifname(ifname: &str) -> Result<(), String> {
    if ifname.is_empty() || ifname.len() > MAX_IFNAME || ifname.contains(['/', ' ', '\0']) {
        return Err(format!(
            "ifname: {ifname:?} is not a Linux interface name (1 to {MAX_IFNAME} characters, no '/' or spaces)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_link_names() {
        for good in ["eth0", "wan", "a", "enp0s31f6.100", "123456789012345"] {
            check_ifname(good).unwrap();
        }
        for bad in ["", "1234567890123456", "a/b", "a b", "a\0"] {
            let err = check_ifname(bad).unwrap_err();
            assert!(err.starts_with("ifname: "), "{err}");
        }
    }
}
