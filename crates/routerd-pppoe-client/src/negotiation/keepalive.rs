//! LCP echo keepalive (`lcpEchoInterval`, `lcpEchoFailure`): PPPoE has no carrier, so a vanished access
//! concentrator is noticed only by Echo-Requests going unanswered. Kept apart from the automaton because
//! it is a policy of the session, not of RFC 1661's table: the automaton answers echoes, this sends them.

use std::time::{Duration, Instant};

use routerd_proto::ppp::control::LcpPacket;
use routerd_sansio::Now;

/// What the keepalive asks for when its timer fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeepaliveAction {
    /// Send this Echo-Request.
    Send(LcpPacket),
    /// `lcpEchoFailure` requests went unanswered: the peer is gone. The session treats this as the lower
    /// layer going Down (a Terminate-Request to a dead peer would only delay the redial).
    PeerDead,
}

/// The echo scheduler, started when LCP opens and stopped when it leaves Opened.
#[derive(Debug, Clone)]
pub struct EchoKeepalive {
    interval: Duration,
    max_unanswered: u32,
    unanswered: u32,
    next_identifier: u8,
    deadline: Option<Instant>,
    sent: u64,
    replies: u64,
}

impl EchoKeepalive {
    /// A keepalive sending an Echo-Request every `interval` and declaring the peer dead after
    /// `max_unanswered` requests without a reply (0 disables the verdict, as pppd's `lcp-echo-failure 0`).
    pub fn new(interval: Duration, max_unanswered: u32) -> Self {
        Self {
            interval,
            max_unanswered,
            unanswered: 0,
            next_identifier: 1,
            deadline: None,
            sent: 0,
            replies: 0,
        }
    }

    /// Starts echoing (LCP reached Opened); a zero interval disables the keepalive.
    pub fn start(&mut self, now: Now) {
        self.unanswered = 0;
        self.deadline = (!self.interval.is_zero()).then(|| now.mono + self.interval);
    }

    /// Stops echoing (LCP left Opened).
    pub fn stop(&mut self) {
        self.deadline = None;
        self.unanswered = 0;
    }

    /// When [`EchoKeepalive::on_timer`] must run next.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Echo-Requests sent and Echo-Replies counted, for status.
    pub fn counters(&self) -> (u64, u64) {
        (self.sent, self.replies)
    }

    /// The timer: declare the peer dead, or send the next Echo-Request carrying `our_magic`.
    pub fn on_timer(&mut self, now: Now, our_magic: u32) -> Option<KeepaliveAction> {
        let deadline = self.deadline?;
        if now.mono < deadline {
            return None;
        }
        if self.max_unanswered > 0 && self.unanswered >= self.max_unanswered {
            self.deadline = None;
            return Some(KeepaliveAction::PeerDead);
        }
        self.unanswered = self.unanswered.saturating_add(1);
        self.sent = self.sent.saturating_add(1);
        self.deadline = Some(now.mono + self.interval);
        let identifier = self.next_identifier;
        self.next_identifier = self.next_identifier.wrapping_add(1);
        Some(KeepaliveAction::Send(LcpPacket::EchoRequest {
            identifier,
            magic: our_magic,
            data: Vec::new(),
        }))
    }

    /// An Echo-Request to send now (the `renew` command while up), outside the schedule: counted as
    /// sent, but not as unanswered, so an impatient operator cannot make the peer look dead sooner.
    pub fn send_now(&mut self, our_magic: u32) -> LcpPacket {
        self.sent = self.sent.saturating_add(1);
        let identifier = self.next_identifier;
        self.next_identifier = self.next_identifier.wrapping_add(1);
        LcpPacket::EchoRequest {
            identifier,
            magic: our_magic,
            data: Vec::new(),
        }
    }

    /// An Echo-Reply arrived ([`super::Output::EchoReply`]). One carrying our own magic is our request
    /// looped back, not an answer, and is ignored (RFC 1661 §5.8).
    pub fn reply_received(&mut self, magic: u32, our_magic: u32) {
        if our_magic != 0 && magic == our_magic {
            return;
        }
        self.replies = self.replies.saturating_add(1);
        self.unanswered = 0;
    }
}
