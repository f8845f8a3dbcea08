//! Change notifications from rtnetlink: a socket subscribed to multicast groups (links, IPv4 or IPv6
//! addresses), readable whenever something changed in the namespace. Daemons that follow an interface
//! (carrier, addresses, DAD) re-read it on each notification instead of polling, and fall back to
//! polling when the socket cannot be had.

use nix::sys::socket::{
    bind, recv, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;
use tokio::io::unix::AsyncFd;

/// rtnetlink multicast groups (linux/rtnetlink.h), or-ed together for [`LinkWatcher::open`].
pub mod groups {
    /// Links appearing, going, changing flags (carrier).
    pub const LINK: u32 = 0x1;
    /// IPv4 addresses added or removed.
    pub const IPV4_IFADDR: u32 = 0x10;
    /// IPv6 addresses added, removed, or changing flags (end of DAD).
    pub const IPV6_IFADDR: u32 = 0x100;
}

/// Notifications are drained into this and dropped; their content is never parsed.
const DRAIN_BUFFER: usize = 8192;

/// Readable whenever a change of the subscribed groups happened somewhere in the namespace.
pub struct LinkWatcher {
    fd: AsyncFd<OwnedFd>,
}

impl LinkWatcher {
    /// A netlink socket subscribed to `groups` (see [`groups`]).
    pub fn open(groups: u32) -> std::io::Result<LinkWatcher> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, groups))?;
        Ok(LinkWatcher { fd: register(fd)? })
    }

    /// Waits for a change notification and drains what is queued. The content is not parsed: the
    /// caller re-reads the interface, which also covers a dropped notification (ENOBUFS).
    pub async fn changed(&self) -> std::io::Result<()> {
        let mut buf = [0u8; DRAIN_BUFFER];
        loop {
            let mut guard = self.fd.readable().await?;
            let mut got = false;
            loop {
                match recv(
                    self.fd.get_ref().as_raw_fd(),
                    &mut buf,
                    MsgFlags::MSG_DONTWAIT,
                ) {
                    Ok(_) | Err(nix::errno::Errno::ENOBUFS) => got = true,
                    Err(nix::errno::Errno::EAGAIN) => break,
                    Err(e) => return Err(e.into()),
                }
            }
            guard.clear_ready();
            if got {
                return Ok(());
            }
        }
    }
}

/// A [`LinkWatcher`] that may be missing: opened on demand, dropped when it fails, so the driver loop
/// polls meanwhile and tries again at its next look at the link.
pub struct LinkWatch {
    groups: u32,
    watcher: Option<LinkWatcher>,
    /// The failure to open was logged (once, not at every poll).
    error_logged: bool,
}

impl LinkWatch {
    /// Not open yet; see [`LinkWatch::ensure_open`].
    pub fn new(groups: u32) -> LinkWatch {
        LinkWatch {
            groups,
            watcher: None,
            error_logged: false,
        }
    }

    /// Opens the socket unless it is open; the first failure is logged, saying the loop polls every
    /// `poll` instead.
    pub fn ensure_open(&mut self, poll: Duration) {
        if self.watcher.is_some() {
            return;
        }
        match LinkWatcher::open(self.groups) {
            Ok(w) => self.watcher = Some(w),
            Err(e) if !self.error_logged => {
                self.error_logged = true;
                tracing::warn!(error = %e, "cannot subscribe to link changes; polling every {}s", poll.as_secs());
            }
            Err(_) => {}
        }
    }

    pub fn is_open(&self) -> bool {
        self.watcher.is_some()
    }

    /// Drops a socket that failed; the next [`LinkWatch::ensure_open`] opens a new one.
    pub fn close(&mut self) {
        self.watcher = None;
    }

    /// [`LinkWatcher::changed`], or never while there is no socket: a `select!` branch.
    pub async fn changed(&self) -> std::io::Result<()> {
        match &self.watcher {
            Some(w) => w.changed().await,
            None => std::future::pending().await,
        }
    }
}

/// Registers the netlink socket with the runtime. The kit's only `unsafe`: tokio takes raw descriptors
/// only through an `unsafe fn` (its safe constructor is deprecated as unsound).
#[allow(unsafe_code)]
fn register(fd: OwnedFd) -> std::io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: `OwnedFd` owns its descriptor: it stays open, and `as_raw_fd` returns the same one,
    // until the `AsyncFd` (which owns the `OwnedFd`) is dropped.
    Ok(unsafe { AsyncFd::register(fd) }?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_watcher_never_reports_a_change() {
        let watch = LinkWatch::new(groups::LINK);
        assert!(!watch.is_open());
        let waited = tokio::time::timeout(Duration::from_millis(20), watch.changed()).await;
        assert!(waited.is_err(), "pending while closed");
    }

    /// Listening to rtnetlink needs no privilege, so a failure here is a real one (the daemons would
    /// poll instead of hearing changes), not something to skip over.
    #[tokio::test]
    async fn opens_closes_and_opens_again() {
        let wanted = groups::LINK | groups::IPV6_IFADDR;
        if let Err(e) = LinkWatcher::open(wanted) {
            panic!("cannot open an rtnetlink socket subscribed to {wanted:#x}: {e}");
        }
        let mut watch = LinkWatch::new(wanted);
        watch.ensure_open(Duration::from_secs(2));
        assert!(watch.is_open());
        watch.close();
        assert!(!watch.is_open());
        let waited = tokio::time::timeout(Duration::from_millis(20), watch.changed()).await;
        assert!(waited.is_err(), "a closed watch reports nothing");
        watch.ensure_open(Duration::from_secs(2));
        assert!(watch.is_open(), "opened again after a close");
    }
}
