//! Randomness, injected: transaction ids and retransmission jitter come from a [`Random`] the caller
//! supplies, so tests replay exact schedules and the daemon uses a seeded generator. The types live in
//! the daemon kit (`routerd_daemon::sansio`), shared with the DHCPv6 client; this module keeps the old
//! paths working.

pub use routerd_daemon::sansio::{Random, Sequence, XorShift};
