//! `routerd-pppoe-client`: the protocol half of routerd's PPPoE client. Sans-IO state machines: frames
//! (decoded by `routerd-proto`), timer expiries and commands in; frames to send, state changes, events and
//! the next deadline out, with time ([`routerd_sansio::Now`]) and randomness injected, so every
//! retransmission and timeout is tested on a virtual clock.
//!
//! - [`discovery`]: PPPoE discovery (RFC 2516 §5): PADI with backoff, offer selection by `acName` and
//!   `serviceName`, PADR, PADS, PADT both ways;
//! - [`redial`]: the backoff between attempts (`redial.initialDelay` doubling to `redial.maxDelay`), never a
//!   storm after an authentication failure;
//! - [`negotiation`]: the RFC 1661 option-negotiation automaton shared by LCP, IPCP and IPv6CP, with their
//!   option policies and the LCP echo keepalive.
//!
//! - [`auth`]: the PAP and CHAP-MD5 authenticatee;
//! - [`session`]: the [`session::Connection`] that chains them: discovery → LCP → PAP/CHAP → IPCP and
//!   IPv6CP → up, keepalive, termination both ways, Protocol-Reject, redial;
//! - [`events`]: the PPPoE topics of `events.md`; [`config`]: `config.json` and the password file;
//!   [`status`]: the resource status the daemon serves.
//!
//! The daemon (`src/main.rs` and `src/daemon/`, feature `daemon`, on by default) drives these with
//! AF_PACKET sockets, a TUN device (or the kernel's PPP) and the clock.
#![forbid(unsafe_code)]

pub mod auth;
pub mod config;
pub mod discovery;
pub mod events;
pub mod negotiation;
pub mod redial;
pub mod session;
pub mod status;
