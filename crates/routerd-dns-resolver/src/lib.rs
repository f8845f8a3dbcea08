//! `routerd-dns-resolver`: the LAN's DNS resolver. The I/O-free core lives here: reading queries and
//! responses in place ([`wire`]), the local zone's prepared answers ([`zone`]), the answer cache served by
//! patching stored bytes ([`cache`]), upstream health ([`health`]) and the daemon's config ([`config`]).
//! The daemon shell (`src/main.rs`, `src/daemon/`) adds the sockets, the forwarding and the query log.
#![deny(unsafe_code)]

pub mod cache;
pub mod config;
pub mod health;
pub mod wire;
pub mod zone;
