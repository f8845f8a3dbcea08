//! The daemon's view of its `IPv6RouterAdvertisement`: `observed` is `IPv6RouterAdvertisementStatus`
//! (`resources.md`: `advertised`, `lastSentAt`, `solicitationsAnswered`), which routerd copies into the
//! resource status. Phases: `Applied` while advertising a configured prefix, `Pending` with no prefix
//! configured or while the interface cannot send yet, `Error` when the interface is missing or the
//! socket cannot be opened.

use crate::advertiser::{Advertiser, Now};
use crate::events::RESOURCE_KIND;
use routerd_api::daemon::DaemonResourceStatus;
use routerd_api::status::IPv6RouterAdvertisementStatus;
use routerd_api::{Condition, Phase};
use routerd_sansio::StatusTracker;

/// True while RAs go out on the interface.
pub const CONDITION_ADVERTISING: &str = "Advertising";

/// Where the interface stands, as the shell sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    Missing,
    /// Present but without carrier or a usable link-local address yet.
    NotReady(String),
    Up,
    /// The socket could not be opened; the message says why.
    Failed(String),
}

/// Phase and conditions across updates.
pub struct StatusProjection {
    tracker: StatusTracker,
    ifname: String,
}

impl StatusProjection {
    pub fn new(name: &str, ifname: &str, now: routerd_api::Timestamp) -> StatusProjection {
        StatusProjection {
            tracker: StatusTracker::new(RESOURCE_KIND, name, now),
            ifname: ifname.to_string(),
        }
    }

    pub fn update(&mut self, a: &Advertiser, link: &LinkState, now: Now) -> DaemonResourceStatus {
        let ifname = &self.ifname;
        let c = |status: bool, reason: &str, message: String| {
            Condition::new(CONDITION_ADVERTISING, status, reason, message)
        };
        let (phase, condition) = match link {
            LinkState::Missing => (
                Phase::Error,
                c(
                    false,
                    "InterfaceMissing",
                    format!("no interface named {ifname:?}"),
                ),
            ),
            LinkState::Failed(why) => (Phase::Error, c(false, "SocketError", why.clone())),
            LinkState::NotReady(why) => (Phase::Pending, c(false, "LinkNotReady", why.clone())),
            LinkState::Up if !a.has_prefix() => (
                Phase::Pending,
                c(
                    true,
                    "NoPrefix",
                    format!("advertising on {ifname} without a prefix yet"),
                ),
            ),
            LinkState::Up => (
                Phase::Applied,
                c(
                    true,
                    "Advertising",
                    format!(
                        "advertising {} prefix(es) on {ifname}",
                        a.settings().prefixes.len()
                    ),
                ),
            ),
        };
        let observed = observe(a, now);
        self.tracker
            .update(phase, vec![condition], &observed, now.wall)
    }
}

/// `observed` at `now`.
pub fn observe(a: &Advertiser, now: Now) -> IPv6RouterAdvertisementStatus {
    IPv6RouterAdvertisementStatus {
        advertised: a.advertised(now),
        last_sent_at: a.last_sent_at(),
        solicitations_answered: a.solicitations_answered(),
    }
}
