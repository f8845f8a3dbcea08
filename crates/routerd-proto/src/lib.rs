//! `routerd-proto`: codecs for bytes routerd receives from the wire or the kernel and no maintained crate
//! parses for us. Every decoder here is strict and bounds-checked: arbitrary input is an error, never a
//! panic (property-tested), and every encoder round-trips through its decoder. Nothing here does I/O.
#![forbid(unsafe_code)]

pub mod netfilter;
