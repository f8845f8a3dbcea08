//! `routerd-proto`: codecs for bytes routerd receives from the wire or the kernel and no maintained crate
//! parses for us. Every decoder here is strict and bounds-checked: arbitrary input is an error, never a
//! panic (property-tested), and every encoder round-trips through its decoder. Nothing here does I/O.
//!
//! - [`dhcpv4`]: DHCPv4 messages as a server reads and writes them (RFC 2131/2132, 3046 relay info);
//! - [`pppoe`]: PPPoE discovery (PADI/PADO/PADR/PADS/PADT and their tags) and session frames (RFC 2516);
//! - [`ppp`]: PPP framing, the RFC 1661 control-packet family (LCP, IPCP, IPv6CP) with typed options,
//!   PAP and CHAP-MD5;
//! - [`netfilter`]: netlink framing and nfnetlink messages: conntrack entries and events (ctnetlink) and
//!   NFLOG packets (nfnetlink_log), with the requests routerd sends;
//! - [`ndp`]: router solicitations and advertisements with their options (RFC 4861, RDNSS/DNSSL of
//!   RFC 8106).
#![forbid(unsafe_code)]

pub mod dhcpv4;
pub mod ndp;
pub mod netfilter;
pub mod ppp;
pub mod pppoe;
