//! HTTP/1.1 over Unix sockets, once for routerd's control API, the managed daemons' `/v1` API, routerctl
//! and the bench, so the rules of `control-api.md` "Sockets" and `daemon-api.md` hold the same way
//! everywhere.
//!
//! - [`bind_socket`]: a stale socket file is removed, a live one is never stolen, mode and group set.
//! - [`serve`]: the accept loop. Peers are identified with `SO_PEERCRED`; peers the [`Handler`] does not
//!   trust are limited per uid and can never take the connections kept for trusted ones; header and
//!   body read timeouts; the body is read (bounded) before the handler answers, so an early error never
//!   meets a client that is still writing; graceful shutdown.
//! - [`UidSlots`]: per-uid counting, also for handlers that limit something else per uid (long-polls).
//! - [`client`]: the small client every caller of these sockets uses.

#![forbid(unsafe_code)]

mod accept;
mod bind;
mod body;
pub mod client;
mod uid_slots;

pub use accept::{serve, Handler, Peer, Refusal, ServerLimits};
pub use bind::{bind_socket, BindError, SocketFile, SocketOptions};
pub use body::{read_body, BodyError};
pub use uid_slots::{UidSlot, UidSlots};

/// The response body every handler produces: the whole answer in memory (answers are JSON documents).
pub type Body = http_body_util::Full<bytes::Bytes>;
