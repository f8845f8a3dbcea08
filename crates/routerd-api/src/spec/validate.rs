//! Helpers shared by the per-kind semantic checks.

use crate::kind::Kind;
use crate::resource::FieldError;
use std::net::{IpAddr, Ipv4Addr};

/// A reference from one resource to another, by name, with the field that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub field: String,
    /// Any of these kinds satisfies the reference (e.g. a NAT `outInterface` may name several kinds).
    pub kinds: Vec<Kind>,
    pub name: String,
}

impl Reference {
    pub fn new(field: &str, kind: Kind, name: &str) -> Reference {
        Reference {
            field: field.to_string(),
            kinds: vec![kind],
            name: name.to_string(),
        }
    }
}

/// Collects field errors so one apply reports every problem at once.
#[derive(Debug, Default)]
pub struct Checker {
    pub errors: Vec<FieldError>,
}

impl Checker {
    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors
            .push(FieldError::new(format!("spec.{field}"), message.into()));
    }

    pub fn ipv4_cidr(&mut self, field: &str, value: &str) -> Option<(Ipv4Addr, u8)> {
        match parse_ipv4_cidr(value) {
            Ok(v) => Some(v),
            Err(e) => {
                self.error(field, e);
                None
            }
        }
    }

    pub fn ipv4(&mut self, field: &str, value: &str) {
        if value.parse::<Ipv4Addr>().is_err() {
            self.error(
                field,
                format!("{value:?} is not an IPv4 address (e.g. 192.0.2.1)"),
            );
        }
    }

    pub fn ip(&mut self, field: &str, value: &str) {
        if value.parse::<IpAddr>().is_err() {
            self.error(field, format!("{value:?} is not an IP address"));
        }
    }

    pub fn hex(&mut self, field: &str, value: &str) {
        let clean: String = value.chars().filter(|c| *c != ':').collect();
        if clean.is_empty()
            || !clean.len().is_multiple_of(2)
            || !clean.chars().all(|c| c.is_ascii_hexdigit())
        {
            self.error(
                field,
                format!("{value:?} is not hex bytes (e.g. 01aabbccddeeff or 01:aa:bb)"),
            );
        }
    }

    pub fn ifname(&mut self, field: &str, value: &str) {
        if let Err(e) = check_ifname(value) {
            self.error(field, e);
        }
    }

    pub fn range<T: PartialOrd + std::fmt::Display>(
        &mut self,
        field: &str,
        value: T,
        min: T,
        max: T,
    ) {
        if value < min || value > max {
            self.error(field, format!("{value} is out of range {min}..={max}"));
        }
    }
}

/// Longest Linux interface name (IFNAMSIZ - 1).
pub const MAX_IFNAME: usize = 15;

/// Whether `value` can name a Linux link. The one rule for an interface name: routerd checks specs with
/// it at apply time and the daemons check the `ifname` of their `config.json` with it, so a name one
/// accepts is never refused by the other. "." and ".." are refused because the kernel does (they would
/// be directories under /proc/sys/net).
pub fn check_ifname(value: &str) -> Result<(), String> {
    if value.is_empty()
        || value.len() > MAX_IFNAME
        || value.contains(['/', ' ', '\0'])
        || value == "."
        || value == ".."
    {
        return Err(format!(
            "{value:?} is not a valid interface name (1-{MAX_IFNAME} characters, no '/' or spaces, not . or ..)"
        ));
    }
    Ok(())
}

/// Parses `a.b.c.d/len`; the error names what is wrong and shows the expected form.
pub fn parse_ipv4_cidr(value: &str) -> Result<(Ipv4Addr, u8), String> {
    let (addr, len) = value
        .split_once('/')
        .ok_or_else(|| format!("{value:?} needs a prefix length, e.g. 192.168.1.1/24"))?;
    let addr: Ipv4Addr = addr
        .parse()
        .map_err(|_| format!("{addr:?} is not an IPv4 address"))?;
    let len: u8 = len
        .parse()
        .map_err(|_| format!("prefix length {len:?} is not a number 0-32"))?;
    if len > 32 {
        return Err(format!("prefix length {len} is larger than 32"));
    }
    Ok((addr, len))
}

/// Parses a CIDR of either family (for `sourceRanges` and the like).
pub fn parse_ip_cidr(value: &str) -> Result<(IpAddr, u8), String> {
    let (addr, len) = value.split_once('/').unwrap_or((value, ""));
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("{addr:?} is not an IP address"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len: u8 = if len.is_empty() {
        max
    } else {
        len.parse()
            .map_err(|_| format!("prefix length {len:?} is not a number"))?
    };
    if len > max {
        return Err(format!("prefix length {len} is larger than {max}"));
    }
    Ok((ip, len))
}
