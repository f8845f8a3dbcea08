//! A handle on one process that a later process reusing its pid cannot be mistaken for: a Linux pidfd
//! (`pidfd_open`, kernel 5.3+). Signals go through it (`pidfd_send_signal`) and its exit is awaited on
//! it (the fd turns readable), so an adopted daemon that exited is never "alive forever" because its
//! pid was recycled, and a stop never signals the stranger that got the pid.
//!
//! This module holds `unsafe` because neither std, nix nor tokio wraps these two system calls; each
//! call passes only integers (no memory), and the one fd the kernel returns is owned at once.
#![allow(unsafe_code)]

use nix::libc;
use nix::sys::signal::Signal;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

pub struct PidFd {
    fd: AsyncFd<OwnedFd>,
}

impl PidFd {
    /// A pidfd for the process that has `pid` now (`ESRCH` when there is none).
    pub fn open(pid: u32) -> io::Result<PidFd> {
        let pid = libc::pid_t::try_from(pid)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
        // SAFETY: pidfd_open(pid, flags) takes two integers and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = RawFd::try_from(fd)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "fd out of range"))?;
        // SAFETY: the kernel just returned this fd to us; nothing else owns or closes it.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: the OwnedFd moves into the AsyncFd and stays open, the same fd, until it is dropped.
        let fd = unsafe { AsyncFd::register_with_interest(owned, Interest::READABLE) }?;
        Ok(PidFd { fd })
    }

    /// Sends `signal` to exactly this process (`ESRCH` once it has exited).
    pub fn signal(&self, signal: Signal) -> io::Result<()> {
        // SAFETY: pidfd_send_signal(fd, sig, info = NULL, flags = 0): integers and a null pointer.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.fd.get_ref().as_raw_fd(),
                signal as libc::c_int,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Resolves once the process has exited (the fd stays readable from then on).
    pub async fn exited(&self) {
        // An error here means the fd itself is unusable: nothing left to wait for.
        let _ = self.fd.readable().await;
    }

    /// True once the process has exited.
    pub async fn has_exited(&self) -> bool {
        tokio::time::timeout(std::time::Duration::ZERO, self.exited())
            .await
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn tells_exit_and_signals_only_its_process() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pidfd = PidFd::open(child.id()).unwrap();
        assert!(!pidfd.has_exited().await);
        pidfd.signal(Signal::SIGTERM).unwrap();
        tokio::time::timeout(Duration::from_secs(5), pidfd.exited())
            .await
            .expect("exit seen on the pidfd");
        let _ = child.wait();
        // Reaped: the pid may belong to anyone now, the pidfd still names the dead process.
        assert!(pidfd.signal(Signal::SIGTERM).is_err());
    }
}
