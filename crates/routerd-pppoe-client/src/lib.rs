//! `routerd-pppoe-client`: the protocol half of routerd's PPPoE client. Sans-IO state machines: frames
//! (decoded by `routerd-proto`), timer expiries and commands in; frames to send, state changes, events and
//! the next deadline out, with time ([`routerd_sansio::Now`]) and randomness injected, so every
//! retransmission and timeout is tested on a virtual clock.
#![forbid(unsafe_code)]

pub mod discovery;
pub mod redial;
