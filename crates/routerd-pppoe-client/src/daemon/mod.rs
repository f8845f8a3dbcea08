//! The daemon shell: sockets, the data plane (TUN or the kernel's PPP), the device's addresses and the
//! main loop around the library's [`routerd_pppoe_client::session::Connection`], plus the kit glue.

pub mod dataplane;
pub mod driver;
pub mod host;
pub mod service;
pub mod sys;
