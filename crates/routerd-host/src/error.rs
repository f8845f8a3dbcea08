//! Errors shared by every [`crate::NetHost`] implementation.

use std::fmt::Display;

/// Errors are classified by what a controller should do about them, not by
/// where they came from: `AlreadyExists`/`NotFound` mean the host already is
/// (or is not) in the wanted state, `Unreachable` means "retry once the link
/// or gateway is there", and the rest need an operator.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// ENODEV, ESRCH, EADDRNOTAVAIL, ENOENT: the object to change is absent.
    #[error("not found: {0}")]
    NotFound(String),
    /// EEXIST: an equal (or, for IPv4 routes, conflicting) object exists.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// ENETUNREACH, EHOSTUNREACH, ENETDOWN: the gateway is not on-link or
    /// the link is down; usually transient while links come up.
    #[error("network unreachable: {0}")]
    Unreachable(String),
    /// EPERM, EACCES: routerd lacks CAP_NET_ADMIN.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// Anything else; the text carries the errno description.
    #[error("netlink error: {0}")]
    Netlink(String),
}

impl HostError {
    /// Classifies a positive errno value so both the netlink adapter and the
    /// fake produce the same variants for the same condition.
    pub(crate) fn from_errno(errno: i32, context: impl Display) -> Self {
        let text = std::io::Error::from_raw_os_error(errno);
        let message = format!("{context}: {text}");
        match errno {
            libc::ENODEV | libc::ESRCH | libc::EADDRNOTAVAIL | libc::ENOENT | libc::ENXIO => {
                HostError::NotFound(message)
            }
            libc::EEXIST => HostError::AlreadyExists(message),
            libc::ENETUNREACH | libc::EHOSTUNREACH | libc::ENETDOWN => {
                HostError::Unreachable(message)
            }
            libc::EPERM | libc::EACCES => HostError::PermissionDenied(message),
            _ => HostError::Netlink(message),
        }
    }

    /// Keeps the errno of I/O failures (socket creation) meaningful.
    pub(crate) fn from_io(err: &std::io::Error, context: impl Display) -> Self {
        match err.raw_os_error() {
            Some(errno) => Self::from_errno(errno, context),
            None => HostError::Netlink(format!("{context}: {err}")),
        }
    }

    /// rtnetlink reports kernel NACKs as negative errno values; everything
    /// else it reports (closed connection, undecodable reply) has no errno.
    pub(crate) fn from_rtnetlink(err: rtnetlink::Error, context: impl Display) -> Self {
        match err {
            rtnetlink::Error::NetlinkError(msg) if msg.raw_code() != 0 => {
                Self::from_errno(msg.raw_code().saturating_abs(), context)
            }
            other => HostError::Netlink(format!("{context}: {other}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_classification() {
        assert!(matches!(
            HostError::from_errno(libc::ENODEV, "x"),
            HostError::NotFound(_)
        ));
        assert!(matches!(
            HostError::from_errno(libc::EADDRNOTAVAIL, "x"),
            HostError::NotFound(_)
        ));
        assert!(matches!(
            HostError::from_errno(libc::ESRCH, "x"),
            HostError::NotFound(_)
        ));
        assert!(matches!(
            HostError::from_errno(libc::EEXIST, "x"),
            HostError::AlreadyExists(_)
        ));
        assert!(matches!(
            HostError::from_errno(libc::ENETUNREACH, "x"),
            HostError::Unreachable(_)
        ));
        assert!(matches!(
            HostError::from_errno(libc::EPERM, "x"),
            HostError::PermissionDenied(_)
        ));
        let other = HostError::from_errno(libc::EINVAL, "add route");
        match other {
            HostError::Netlink(text) => {
                assert!(text.starts_with("add route: "), "{text}");
                assert!(text.contains("Invalid argument"), "{text}");
            }
            e => panic!("unexpected {e:?}"),
        }
    }

    #[test]
    fn netlink_error_message_uses_negative_code() {
        let mut msg = rtnetlink::packet_core::ErrorMessage::default();
        msg.code = std::num::NonZeroI32::new(-libc::EEXIST);
        let err = HostError::from_rtnetlink(rtnetlink::Error::NetlinkError(msg), "add");
        assert!(matches!(err, HostError::AlreadyExists(_)), "{err:?}");
        let err = HostError::from_rtnetlink(rtnetlink::Error::RequestFailed, "add");
        assert!(matches!(err, HostError::Netlink(_)), "{err:?}");
    }
}
