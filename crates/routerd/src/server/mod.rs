//! The control API over two Unix sockets: the main socket (every endpoint, peers checked with
//! `SO_PEERCRED` on every connection) and the status socket (read endpoints, plan and validate).

pub mod app;
pub mod caller;
pub mod connections;
pub mod dhcp_leases;
pub mod dns_queries;
pub mod endpoints;
pub mod handlers;
pub mod inspection_query;
pub mod listener;
pub mod log_queries;
pub mod openapi;
pub mod query;
pub mod response;

pub use app::App;
pub use listener::{serve_socket, PeerPolicy, SocketRole};
