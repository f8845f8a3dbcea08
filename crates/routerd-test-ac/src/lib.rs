//! `routerd-test-ac`: a PPPoE access concentrator for routerd's tests, benchmarks and demo — the ISP
//! end that `routerd-pppoe-client` dials. Never shipped to routers.
//!
//! The protocol half is sans-IO ([`Concentrator`]): Ethernet frames, timer expiries and control
//! commands in; frames to send, IP datagrams for the TUN and JSON notes out, with the clock and
//! randomness injected, so it is unit-tested without sockets. It speaks:
//!
//! - PPPoE discovery, server side (RFC 2516 §5): PADI → PADO (AC-Name, the requested Service-Name or a
//!   Service-Name-Error, an AC-Cookie, Host-Uniq and Relay-Session-Id echoed), PADR → PADS with a fresh
//!   session id, PADT both ways; sessions are keyed by (peer MAC, session id);
//! - PPP on each session: LCP with the access concentrator's option policy ([`policy`]) on the client
//!   crate's RFC 1661 automaton, the authenticator side of PAP and CHAP-MD5, IPCP (the client's
//!   address and DNS by Nak), IPv6CP (interface identifiers), LCP Echo-Reply;
//! - fault knobs ([`Knobs`]): no echo replies, silence, PADT on demand.
//!
//! The binary (`src/main.rs`) adds the AF_PACKET sockets, the TUN device and the control socket.
#![forbid(unsafe_code)]

pub mod concentrator;
pub mod policy;
mod session;

pub use concentrator::{Concentrator, Config, Knobs, Output, Stats};
pub use policy::AuthKind;

/// An Ethernet address.
pub type Mac = [u8; 6];

/// `aa:bb:cc:dd:ee:ff`, as notes and stats print it.
pub fn format_mac(mac: &Mac) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}
