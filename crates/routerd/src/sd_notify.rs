//! The systemd readiness protocol (`sd_notify(3)`), spoken directly: one datagram to `$NOTIFY_SOCKET`.
//!
//! A unit with `Type=notify` is "started" only when routerd says `READY=1`, so units ordered after
//! routerd (and `systemctl start` itself) wait until both sockets listen and every controller has run
//! once. The protocol is a few bytes over a Unix datagram socket; linking libsystemd for it would add a C
//! dependency for nothing. Outside systemd (`NOTIFY_SOCKET` unset) every call is a no-op.

use std::os::unix::net::{SocketAddr, UnixDatagram};

/// What routerd can tell its service manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Both sockets listen and the first reconcile of every controller ran.
    Ready,
    /// Shutdown began: systemd shows "deactivating" instead of waiting for the process to exit.
    Stopping,
}

impl Notice {
    fn message(self) -> &'static str {
        match self {
            Notice::Ready => "READY=1\nSTATUS=serving",
            Notice::Stopping => "STOPPING=1\nSTATUS=stopping",
        }
    }
}

/// Sends `notice` to `$NOTIFY_SOCKET` when it is set. Returns whether a message was sent; a failure is
/// logged and never fatal (the service manager then times the start out, which says more than we could).
pub fn notify(notice: Notice) -> bool {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return false;
    };
    match send(&target.to_string_lossy(), notice.message()) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, socket = %target.to_string_lossy(), "sd_notify failed");
            false
        }
    }
}

fn send(target: &str, message: &str) -> std::io::Result<()> {
    let addr = address(target)?;
    let socket = UnixDatagram::unbound()?;
    socket.send_to_addr(message.as_bytes(), &addr)?;
    Ok(())
}

/// `NOTIFY_SOCKET` is a path, or `@name` for an abstract socket (what systemd itself uses).
fn address(target: &str) -> std::io::Result<SocketAddr> {
    if let Some(name) = target.strip_prefix('@') {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            use std::os::linux::net::SocketAddrExt;
            return SocketAddr::from_abstract_name(name.as_bytes());
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            let _ = name;
            return Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "abstract sockets exist on Linux only",
            ));
        }
    }
    SocketAddr::from_pathname(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_and_stopping_reach_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let receiver = UnixDatagram::bind(&path).unwrap();
        send(path.to_str().unwrap(), Notice::Ready.message()).unwrap();
        send(path.to_str().unwrap(), Notice::Stopping.message()).unwrap();
        let mut buf = [0u8; 128];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=serving");
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1\nSTATUS=stopping");
    }

    #[test]
    fn abstract_socket_names_start_with_at() {
        let name = format!("routerd-notify-test-{}", std::process::id());
        let addr = address(&format!("@{name}")).unwrap();
        let receiver = UnixDatagram::bind_addr(&addr).unwrap();
        send(&format!("@{name}"), Notice::Ready.message()).unwrap();
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=serving");
    }
}
