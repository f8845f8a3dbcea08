//! Puts every probe socket where the spec asks: `sourceAddress` (bind), `sourceInterface`
//! (`SO_BINDTODEVICE`), `fwmark` (`SO_MARK`). A check bound to a WAN link exists to say whether *that* link
//! works, so a socket that cannot be bound as asked is never used unbound: the probe fails closed with
//! `failureKind: binding` (or `permission` when the kernel says EPERM/EACCES).

use crate::config::ProbeConfig;
use crate::outcome::{FailureKind, ProbeOutcome};
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{IpAddr, SocketAddr};

/// Longest link name the kernel accepts (`IFNAMSIZ` - 1).
const IFNAME_MAX: usize = 15;

/// The binding of one check, validated once per probe.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Binding {
    pub source_address: Option<IpAddr>,
    pub ifname: Option<String>,
    pub fwmark: Option<u32>,
}

impl Binding {
    /// Reads the binding from the config. Settings that can never be applied are a `CannotProbe`
    /// outcome: a `sourceInterface` without the link name routerd resolved, an invalid link name, a
    /// `sourceAddress` that is not an IP address.
    pub fn from_config(config: &ProbeConfig) -> Result<Binding, ProbeOutcome> {
        let spec = &config.spec;
        let source_address = match &spec.source_address {
            None => None,
            Some(a) => Some(a.trim().parse::<IpAddr>().map_err(|_| {
                ProbeOutcome::cannot_probe(
                    FailureKind::Binding,
                    format!("sourceAddress {a:?} is not an IP address"),
                )
            })?),
        };
        let ifname = match (&spec.source_interface, &config.source_ifname) {
            (_, Some(ifname)) => Some(ifname.clone()),
            (Some(iface), None) => {
                return Err(ProbeOutcome::cannot_probe(
                    FailureKind::Binding,
                    format!(
                        "sourceInterface {iface:?} has no resolved link name (config.json sourceIfname); \
                         refusing to probe unbound"
                    ),
                ))
            }
            (None, None) => None,
        };
        if let Some(name) = &ifname {
            if name.is_empty()
                || name.len() > IFNAME_MAX
                || name
                    .bytes()
                    .any(|b| b == b'/' || b == 0 || b.is_ascii_whitespace())
            {
                return Err(ProbeOutcome::cannot_probe(
                    FailureKind::Binding,
                    format!("link name {name:?} is not a valid interface name (1-15 bytes, no '/', no spaces)"),
                ));
            }
        }
        Ok(Binding {
            source_address,
            ifname,
            fwmark: spec.fwmark,
        })
    }

    /// Creates a non-blocking socket for `target`'s family and applies the binding to it. Errors are
    /// `CannotProbe`: nothing was sent yet.
    pub fn socket(
        &self,
        target: IpAddr,
        ty: Type,
        protocol: Protocol,
    ) -> Result<Socket, ProbeOutcome> {
        let domain = Domain::for_address(SocketAddr::new(target, 0));
        let sock = Socket::new(domain, ty, Some(protocol))
            .map_err(|e| setup_error(FailureKind::Other, "creating the probe socket", &e))?;
        sock.set_nonblocking(true).map_err(|e| {
            setup_error(
                FailureKind::Other,
                "making the probe socket non-blocking",
                &e,
            )
        })?;
        self.apply(&sock, target)?;
        Ok(sock)
    }

    /// Applies device, mark and source address to `sock`, in that order (the device and mark must be
    /// set before `bind` and `connect` pick a route).
    pub fn apply(&self, sock: &Socket, target: IpAddr) -> Result<(), ProbeOutcome> {
        if let Some(ifname) = &self.ifname {
            sock.bind_device(Some(ifname.as_bytes())).map_err(|e| {
                setup_error(
                    FailureKind::Binding,
                    &format!("SO_BINDTODEVICE {ifname}"),
                    &e,
                )
            })?;
        }
        if let Some(mark) = self.fwmark {
            sock.set_mark(mark).map_err(|e| {
                setup_error(FailureKind::Binding, &format!("SO_MARK {mark:#x}"), &e)
            })?;
        }
        if let Some(src) = self.source_address {
            if src.is_ipv4() != target.is_ipv4() {
                return Err(ProbeOutcome::cannot_probe(
                    FailureKind::Binding,
                    format!(
                        "sourceAddress {src} and target {target} are different address families"
                    ),
                ));
            }
            sock.bind(&SocketAddr::new(src, 0).into()).map_err(|e| {
                setup_error(
                    FailureKind::Binding,
                    &format!("binding to sourceAddress {src}"),
                    &e,
                )
            })?;
        }
        Ok(())
    }
}

/// True for the errors the kernel gives when the caller lacks a capability or a rule forbids it.
pub fn is_permission_error(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES))
}

/// An error while preparing the socket: the probe was not sent. EPERM/EACCES are `permission`, anything
/// else is `default_kind` (`binding` for the binding steps).
pub fn setup_error(default_kind: FailureKind, what: &str, e: &io::Error) -> ProbeOutcome {
    let kind = if is_permission_error(e) {
        FailureKind::Permission
    } else {
        default_kind
    };
    ProbeOutcome::cannot_probe(kind, format!("{what}: {e}"))
}

/// An error while the probe was on its way (connect, send, receive): what it says about the path.
pub fn path_error(what: &str, e: &io::Error) -> ProbeOutcome {
    let kind = match e.raw_os_error() {
        Some(libc::ECONNREFUSED) => FailureKind::Refused,
        Some(
            libc::ENETUNREACH
            | libc::EHOSTUNREACH
            | libc::EHOSTDOWN
            | libc::ENETDOWN
            | libc::ENONET,
        ) => FailureKind::Unreachable,
        Some(libc::EPERM | libc::EACCES) => FailureKind::Permission,
        Some(libc::ETIMEDOUT) => {
            return ProbeOutcome::Timeout {
                error: format!("{what}: {e}"),
            }
        }
        // The bound device or source address went away between bind and send: the probe could not
        // leave as asked.
        Some(libc::ENODEV | libc::EADDRNOTAVAIL) => {
            return ProbeOutcome::cannot_probe(FailureKind::Binding, format!("{what}: {e}"))
        }
        _ => FailureKind::Other,
    };
    ProbeOutcome::failed(kind, format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use routerd_api::spec::{HealthCheckSpec, ProbeProtocol};

    fn config(src: Option<&str>, iface: Option<&str>, ifname: Option<&str>) -> ProbeConfig {
        ProbeConfig {
            spec: HealthCheckSpec {
                target: "192.0.2.1".into(),
                protocol: ProbeProtocol::Icmp,
                port: None,
                interval: None,
                timeout: None,
                healthy_threshold: None,
                unhealthy_threshold: None,
                source_interface: iface.map(str::to_string),
                source_address: src.map(str::to_string),
                fwmark: Some(7),
                http: None,
                dns: None,
            },
            source_ifname: ifname.map(str::to_string),
        }
    }

    fn kind(r: Result<Binding, ProbeOutcome>) -> Option<FailureKind> {
        match r {
            Ok(_) => None,
            Err(o) => {
                assert!(!o.was_sent());
                o.failure_kind()
            }
        }
    }

    #[test]
    fn unusable_bindings_fail_closed() {
        assert_eq!(
            kind(Binding::from_config(&config(None, Some("wan"), None))),
            Some(FailureKind::Binding),
            "sourceInterface without a resolved ifname must not run unbound"
        );
        assert_eq!(
            kind(Binding::from_config(&config(Some("nope"), None, None))),
            Some(FailureKind::Binding)
        );
        for bad in ["", "a/b", "this-name-is-too-long", "a b"] {
            assert_eq!(
                kind(Binding::from_config(&config(None, Some("wan"), Some(bad)))),
                Some(FailureKind::Binding),
                "{bad:?}"
            );
        }
        let b =
            Binding::from_config(&config(Some(" 192.0.2.9 "), Some("wan"), Some("eth1"))).unwrap();
        assert_eq!(
            b,
            Binding {
                source_address: Some("192.0.2.9".parse().unwrap()),
                ifname: Some("eth1".into()),
                fwmark: Some(7),
            }
        );
    }

    #[test]
    fn errno_maps_to_failure_kinds() {
        let e = |n| io::Error::from_raw_os_error(n);
        let k = |o: ProbeOutcome| (o.failure_kind(), o.was_sent());
        assert_eq!(
            k(path_error("x", &e(libc::ECONNREFUSED))),
            (Some(FailureKind::Refused), true)
        );
        assert_eq!(
            k(path_error("x", &e(libc::ENETUNREACH))),
            (Some(FailureKind::Unreachable), true)
        );
        assert_eq!(
            k(path_error("x", &e(libc::EHOSTUNREACH))),
            (Some(FailureKind::Unreachable), true)
        );
        assert_eq!(
            k(path_error("x", &e(libc::EACCES))),
            (Some(FailureKind::Permission), true)
        );
        assert_eq!(
            k(path_error("x", &e(libc::ETIMEDOUT))),
            (Some(FailureKind::Timeout), true)
        );
        assert_eq!(
            k(path_error("x", &e(libc::ENODEV))),
            (Some(FailureKind::Binding), false)
        );
        assert_eq!(
            k(path_error("x", &e(libc::EINVAL))),
            (Some(FailureKind::Other), true)
        );
        assert_eq!(
            k(setup_error(FailureKind::Binding, "x", &e(libc::EPERM))),
            (Some(FailureKind::Permission), false)
        );
        assert_eq!(
            k(setup_error(FailureKind::Binding, "x", &e(libc::ENODEV))),
            (Some(FailureKind::Binding), false)
        );
    }
}
