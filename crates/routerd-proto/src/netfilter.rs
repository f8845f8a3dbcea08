//! Netfilter netlink codecs: ctnetlink (conntrack table dumps, events, delete requests) and nfnetlink_log
//! (NFLOG packets and the config messages that bind a group). Codecs only: the sockets live in routerd.
//!
//! # Why our own codec, not `netlink-packet-netfilter`
//!
//! The rust-netlink project's `netlink-packet-netfilter` (checked at its current release, 0.4.0) was the
//! first choice, since we prefer maintained crates. It does not fit:
//! - its conntrack support decodes only `CTA_TUPLE_ORIG/REPLY` (addresses and ports, no ICMP id/type/code),
//!   `CTA_PROTOINFO`, `CTA_STATUS`, `CTA_TIMEOUT` and `CTA_MARK`; `CTA_COUNTERS_*`, `CTA_ZONE` and `CTA_ID`
//!   come back as opaque `DefaultNla` bytes, so the `Connection` shape and traffic-flow byte counts would
//!   need a second decoder on top anyway;
//! - every message is decoded into nested `Vec`s of attributes, and NFLOG payloads are copied into a
//!   `Vec<u8>`: one set of allocations per conntrack entry or logged packet, where issue #11 wants 100k
//!   entries and 100k packets/s decoded and filtered while streaming;
//! - its NFLOG half does cover packets and config (it would fit alone), but with our own attribute walker
//!   needed for conntrack, NFLOG on the same walker is a few hundred lines and borrows the payload
//!   instead of copying it, and we avoid its `libc`/`derive_more 0.99`/`zerocopy` dependency tree.
//!
//! So this module decodes into small `Copy` structs that borrow from the receive buffer. Every decoder is
//! strict and bounds-checked: malformed input is a [`DecodeError`] naming what was wrong, never a panic
//! (property-tested with arbitrary bytes), and every encoder round-trips through the decoder. The layout
//! was checked against Linux 6.18: bytes captured in a throw-away namespace are decoded in the tests
//! (`netfilter/testdata`), and the kernel acknowledged the requests these encoders produce.

pub mod conntrack;
pub mod nflog;
pub mod nlattr;

pub use nlattr::{DecodeError, Item, NetlinkItem, NetlinkMessages};
