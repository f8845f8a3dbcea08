//! The daemon shell: the socket, the link, the client identity and the main loop around the state
//! machine of the library, plus the managed-daemon API glue. socket2 covers every socket option the
//! daemon needs, and the kit owns the netlink watcher: the daemon has no `unsafe`.

pub mod driver;
pub mod identity;
pub mod link;
pub mod service;
pub mod sockets;
