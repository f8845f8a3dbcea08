//! The authenticatee side of PAP (RFC 1334 §2) and CHAP-MD5 (RFC 1994), sans I/O: the session starts
//! the protocol LCP agreed on once LCP is Opened, feeds it the peer's packets and the timer, and gets
//! back packets to send and, once, the outcome with the peer's message.
//!
//! Decisions:
//! - PAP: the Authenticate-Request is resent on the restart timer (3 s, RFC 1661's default) with the
//!   same Identifier until an Ack or Nak arrives, at most [`AuthTimers::max_requests`] times (pppd's
//!   `pap-max-authreq`, 10); then the attempt fails as "no answer", which the session treats like a
//!   rejected password (backoff, no storm).
//! - CHAP: the authenticator drives; we answer every Challenge, including a retransmitted one (a new
//!   Identifier) and rechallenges after Success (RFC 1994 §4.1 allows them any time). We wait at most
//!   [`AuthTimers::challenge_wait`] for the first Challenge. A Success or Failure is taken only when it
//!   carries the Identifier of our last Response (§4.1: "MUST" match); others are ignored.
//! - A Failure (or a Nak) after we were already authenticated ends the session as an authentication
//!   failure as well: the peer withdrew its consent.
//! - The password lives in [`Secret`], whose `Debug` is redacted; nothing here formats it.

use std::time::{Duration, Instant};

use routerd_proto::ppp::auth::{chap_md5_response, ChapPacket, PapPacket};
use routerd_proto::ppp::control::CHAP_MD5;
use routerd_proto::ppp::{Packet, Secret};
use routerd_sansio::Now;

/// Who we are to the authenticator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// PAP Peer-ID and CHAP Name: `spec.username`.
    pub username: Vec<u8>,
    /// From `passwordFile`; redacted in `Debug`.
    pub password: Secret,
}

/// Retransmission and waiting limits of the authentication phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthTimers {
    /// PAP: the wait for an answer before resending the Authenticate-Request.
    pub restart: Duration,
    /// PAP: Authenticate-Requests sent before giving up.
    pub max_requests: u32,
    /// CHAP: how long we wait for the first Challenge.
    pub challenge_wait: Duration,
}

impl Default for AuthTimers {
    /// 3 s, 10 requests (pppd's `pap-restart` and `pap-max-authreq`), 30 s for a Challenge.
    fn default() -> Self {
        Self {
            restart: Duration::from_secs(3),
            max_requests: 10,
            challenge_wait: Duration::from_secs(30),
        }
    }
}

/// How authentication ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Authenticate-Ack or CHAP Success; the peer's message (lossily UTF-8).
    Succeeded { message: String },
    /// Authenticate-Nak or CHAP Failure (with the peer's message), or no answer in time.
    Failed { reason: AuthFailure },
}

/// Why authentication failed, for the `auth.failed` event and the `Error` status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    /// The peer refused our credentials.
    #[error(
        "{method} authentication rejected by the peer{}",
        message_suffix(message)
    )]
    Rejected {
        method: &'static str,
        message: String,
    },
    /// The peer never answered (PAP) or never challenged (CHAP).
    #[error("{method} authentication timed out: {what}")]
    NoAnswer {
        method: &'static str,
        what: &'static str,
    },
}

fn message_suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect()
}

/// What one input produced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthOutput {
    /// PPP packets (PAP or CHAP) to send, in order.
    pub send: Vec<Packet<'static>>,
    /// Set once, when authentication ended (or, after success, when the peer withdrew it).
    pub outcome: Option<AuthOutcome>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PapState {
    Requesting {
        identifier: u8,
        sent: u32,
        deadline: Instant,
    },
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ChapState {
    /// Waiting for the first Challenge until the deadline.
    AwaitingChallenge { deadline: Instant },
    /// Response sent with this Identifier, waiting for Success/Failure (no timer: the authenticator
    /// retransmits its Challenge, §4.1).
    Responded { identifier: u8, succeeded: bool },
    /// Failed: nothing more is answered.
    Done,
}

/// The authenticatee of the protocol LCP agreed on.
#[derive(Debug, Clone)]
pub struct Authenticatee {
    inner: Inner,
}

#[derive(Debug, Clone)]
enum Inner {
    /// PAP (RFC 1334).
    Pap {
        credentials: Credentials,
        timers: AuthTimers,
        state: PapState,
    },
    /// CHAP with MD5 (RFC 1994).
    Chap {
        credentials: Credentials,
        state: ChapState,
        /// Challenges answered (rechallenges included), for tests and debug logs.
        answered: u32,
    },
}

impl Authenticatee {
    /// Starts PAP: the first Authenticate-Request goes out now.
    pub fn pap(credentials: Credentials, timers: AuthTimers, now: Now) -> (Self, AuthOutput) {
        let (inner, out) = Inner::pap(credentials, timers, now);
        (Self { inner }, out)
    }

    /// Starts CHAP: nothing is sent; the authenticator challenges.
    pub fn chap(credentials: Credentials, timers: AuthTimers, now: Now) -> Self {
        Self {
            inner: Inner::chap(credentials, timers, now),
        }
    }

    /// The method's name for messages ("PAP", "CHAP").
    pub fn method(&self) -> &'static str {
        self.inner.method()
    }

    /// When [`Authenticatee::on_timer`] is due.
    pub fn deadline(&self) -> Option<Instant> {
        self.inner.deadline()
    }

    /// Whether the peer has accepted us (and not withdrawn it).
    pub fn succeeded(&self) -> bool {
        self.inner.succeeded()
    }

    /// The timer: resend the PAP request or give up; give up waiting for a CHAP Challenge.
    pub fn on_timer(&mut self, now: Now) -> AuthOutput {
        self.inner.on_timer(now)
    }

    /// A PAP packet from the peer.
    pub fn on_pap(&mut self, packet: &PapPacket) -> AuthOutput {
        self.inner.on_pap(packet)
    }

    /// A CHAP packet from the peer.
    pub fn on_chap(&mut self, packet: &ChapPacket) -> AuthOutput {
        self.inner.on_chap(packet)
    }
}

impl Inner {
    /// Starts PAP: the first Authenticate-Request goes out now.
    fn pap(credentials: Credentials, timers: AuthTimers, now: Now) -> (Self, AuthOutput) {
        let identifier = 1;
        let me = Inner::Pap {
            credentials,
            timers,
            state: PapState::Requesting {
                identifier,
                sent: 1,
                deadline: now.mono + timers.restart,
            },
        };
        let packet = me.pap_request(identifier);
        (
            me,
            AuthOutput {
                send: packet.into_iter().collect(),
                outcome: None,
            },
        )
    }

    /// Starts CHAP: nothing is sent; the authenticator challenges.
    fn chap(credentials: Credentials, timers: AuthTimers, now: Now) -> Self {
        Inner::Chap {
            credentials,
            state: ChapState::AwaitingChallenge {
                deadline: now.mono + timers.challenge_wait,
            },
            answered: 0,
        }
    }

    /// The method's name for messages ("PAP", "CHAP").
    fn method(&self) -> &'static str {
        match self {
            Inner::Pap { .. } => "PAP",
            Inner::Chap { .. } => "CHAP",
        }
    }

    /// When [`Authenticatee::on_timer`] is due.
    fn deadline(&self) -> Option<Instant> {
        match self {
            Inner::Pap {
                state: PapState::Requesting { deadline, .. },
                ..
            }
            | Inner::Chap {
                state: ChapState::AwaitingChallenge { deadline },
                ..
            } => Some(*deadline),
            _ => None,
        }
    }

    /// Whether the peer has accepted us (and not withdrawn it).
    fn succeeded(&self) -> bool {
        matches!(
            self,
            Inner::Chap {
                state: ChapState::Responded {
                    succeeded: true,
                    ..
                },
                ..
            }
        ) || matches!(
            self,
            Inner::Pap {
                state: PapState::Succeeded,
                ..
            }
        )
    }

    fn pap_request(&self, identifier: u8) -> Option<Packet<'static>> {
        let Inner::Pap { credentials, .. } = self else {
            return None;
        };
        Some(Packet::Pap(PapPacket::AuthenticateRequest {
            identifier,
            peer_id: credentials.username.clone(),
            password: credentials.password.clone(),
        }))
    }

    /// The timer: resend the PAP request or give up; give up waiting for a CHAP Challenge.
    fn on_timer(&mut self, now: Now) -> AuthOutput {
        let mut out = AuthOutput::default();
        match self {
            Inner::Pap { timers, state, .. } => {
                let PapState::Requesting {
                    identifier,
                    sent,
                    deadline,
                } = *state
                else {
                    return out;
                };
                if now.mono < deadline {
                    return out;
                }
                if sent >= timers.max_requests {
                    *state = PapState::Failed;
                    out.outcome = Some(AuthOutcome::Failed {
                        reason: AuthFailure::NoAnswer {
                            method: "PAP",
                            what: "no Authenticate-Ack or -Nak to any request",
                        },
                    });
                    return out;
                }
                *state = PapState::Requesting {
                    identifier,
                    sent: sent.saturating_add(1),
                    deadline: now.mono + timers.restart,
                };
                out.send.extend(self.pap_request(identifier));
            }
            Inner::Chap { state, .. } => {
                if let ChapState::AwaitingChallenge { deadline } = *state {
                    if now.mono >= deadline {
                        *state = ChapState::Done;
                        out.outcome = Some(AuthOutcome::Failed {
                            reason: AuthFailure::NoAnswer {
                                method: "CHAP",
                                what: "no Challenge from the peer",
                            },
                        });
                    }
                }
            }
        }
        out
    }

    /// A PAP packet from the peer.
    fn on_pap(&mut self, packet: &PapPacket) -> AuthOutput {
        let mut out = AuthOutput::default();
        let Inner::Pap { state, .. } = self else {
            return out;
        };
        let PapState::Requesting { identifier, .. } = *state else {
            return out;
        };
        match packet {
            PapPacket::AuthenticateAck {
                identifier: id,
                message,
            } if *id == identifier => {
                *state = PapState::Succeeded;
                out.outcome = Some(AuthOutcome::Succeeded {
                    message: lossy(message),
                });
            }
            PapPacket::AuthenticateNak {
                identifier: id,
                message,
            } if *id == identifier => {
                *state = PapState::Failed;
                out.outcome = Some(AuthOutcome::Failed {
                    reason: AuthFailure::Rejected {
                        method: "PAP",
                        message: lossy(message),
                    },
                });
            }
            // An answer to another request, or a request (we authenticate no one): ignored.
            _ => {}
        }
        out
    }

    /// A CHAP packet from the peer.
    fn on_chap(&mut self, packet: &ChapPacket) -> AuthOutput {
        let mut out = AuthOutput::default();
        let Inner::Chap {
            credentials,
            state,
            answered,
        } = self
        else {
            return out;
        };
        if *state == ChapState::Done {
            return out;
        }
        match packet {
            ChapPacket::Challenge {
                identifier, value, ..
            } => {
                // RFC 1994 §4.1: an empty value is not a challenge anyone can answer securely.
                if value.is_empty() {
                    return out;
                }
                let response = chap_md5_response(*identifier, &credentials.password, value);
                let succeeded = matches!(
                    state,
                    ChapState::Responded {
                        succeeded: true,
                        ..
                    }
                );
                *state = ChapState::Responded {
                    identifier: *identifier,
                    succeeded,
                };
                *answered = answered.saturating_add(1);
                out.send.push(Packet::Chap(ChapPacket::Response {
                    identifier: *identifier,
                    value: response.to_vec(),
                    name: credentials.username.clone(),
                }));
            }
            ChapPacket::Success {
                identifier,
                message,
            } => {
                if let ChapState::Responded {
                    identifier: ours,
                    succeeded,
                } = state
                {
                    if *identifier == *ours && !*succeeded {
                        *succeeded = true;
                        out.outcome = Some(AuthOutcome::Succeeded {
                            message: lossy(message),
                        });
                    }
                }
            }
            ChapPacket::Failure {
                identifier,
                message,
            } => {
                if let ChapState::Responded {
                    identifier: ours, ..
                } = state
                {
                    if *identifier == *ours {
                        *state = ChapState::Done;
                        out.outcome = Some(AuthOutcome::Failed {
                            reason: AuthFailure::Rejected {
                                method: "CHAP",
                                message: lossy(message),
                            },
                        });
                    }
                }
            }
            ChapPacket::Response { .. } => {}
        }
        out
    }
}

/// The CHAP algorithm we answer; LCP never acks another.
pub const SUPPORTED_CHAP_ALGORITHM: u8 = CHAP_MD5;

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials {
            username: b"alice".to_vec(),
            password: Secret::new(b"hunter2".to_vec()),
        }
    }

    fn now0() -> Now {
        Now::system()
    }

    #[test]
    fn pap_sends_at_once_and_an_ack_with_its_identifier_succeeds() {
        let now = now0();
        let (mut pap, out) = Authenticatee::pap(creds(), AuthTimers::default(), now);
        assert_eq!(
            out.send,
            vec![Packet::Pap(PapPacket::AuthenticateRequest {
                identifier: 1,
                peer_id: b"alice".to_vec(),
                password: Secret::new(b"hunter2".to_vec()),
            })]
        );
        assert_eq!(pap.deadline(), Some(now.mono + Duration::from_secs(3)));
        // An Ack for another identifier is not ours.
        let other = pap.on_pap(&PapPacket::AuthenticateAck {
            identifier: 9,
            message: vec![],
        });
        assert_eq!(other, AuthOutput::default());
        let ok = pap.on_pap(&PapPacket::AuthenticateAck {
            identifier: 1,
            message: b"welcome".to_vec(),
        });
        assert_eq!(
            ok.outcome,
            Some(AuthOutcome::Succeeded {
                message: "welcome".into()
            })
        );
        assert!(pap.succeeded());
        assert_eq!(pap.deadline(), None);
    }

    #[test]
    fn pap_resends_the_same_request_on_the_restart_timer_then_gives_up() {
        let now = now0();
        let timers = AuthTimers {
            max_requests: 3,
            ..AuthTimers::default()
        };
        let (mut pap, first) = Authenticatee::pap(creds(), timers, now);
        assert_eq!(first.send.len(), 1);
        // Early wake-up: nothing.
        assert_eq!(
            pap.on_timer(now.after(Duration::from_secs(2))),
            AuthOutput::default()
        );
        let second = pap.on_timer(now.after(Duration::from_secs(3)));
        assert_eq!(second.send, first.send, "same identifier and content");
        let third = pap.on_timer(now.after(Duration::from_secs(6)));
        assert_eq!(third.send.len(), 1);
        let gave_up = pap.on_timer(now.after(Duration::from_secs(9)));
        assert!(gave_up.send.is_empty());
        assert!(matches!(
            gave_up.outcome,
            Some(AuthOutcome::Failed {
                reason: AuthFailure::NoAnswer { method: "PAP", .. }
            })
        ));
        assert_eq!(pap.deadline(), None);
    }

    #[test]
    fn pap_nak_fails_with_the_peers_message() {
        let (mut pap, _) = Authenticatee::pap(creds(), AuthTimers::default(), now0());
        let out = pap.on_pap(&PapPacket::AuthenticateNak {
            identifier: 1,
            message: b"bad password\x07".to_vec(),
        });
        let Some(AuthOutcome::Failed { reason }) = out.outcome else {
            panic!("not a failure")
        };
        assert_eq!(
            reason.to_string(),
            "PAP authentication rejected by the peer: bad password"
        );
        assert!(!pap.succeeded());
        // Later answers change nothing.
        assert_eq!(
            pap.on_pap(&PapPacket::AuthenticateAck {
                identifier: 1,
                message: vec![]
            }),
            AuthOutput::default()
        );
    }

    #[test]
    fn chap_answers_each_challenge_with_md5_and_takes_only_a_matching_success() {
        let now = now0();
        let mut chap = Authenticatee::chap(creds(), AuthTimers::default(), now);
        assert_eq!(chap.deadline(), Some(now.mono + Duration::from_secs(30)));
        let challenge = vec![1, 2, 3, 4, 5, 6, 7, 8];
        let out = chap.on_chap(&ChapPacket::Challenge {
            identifier: 7,
            value: challenge.clone(),
            name: b"BRAS".to_vec(),
        });
        let expected = chap_md5_response(7, &Secret::new(b"hunter2".to_vec()), &challenge);
        assert_eq!(
            out.send,
            vec![Packet::Chap(ChapPacket::Response {
                identifier: 7,
                value: expected.to_vec(),
                name: b"alice".to_vec(),
            })]
        );
        assert_eq!(chap.deadline(), None, "no timer once challenged");
        // The authenticator retransmits its challenge with a new identifier: answered again.
        let again = chap.on_chap(&ChapPacket::Challenge {
            identifier: 8,
            value: challenge.clone(),
            name: vec![],
        });
        assert_eq!(again.send.len(), 1);
        // A Success for the stale identifier is ignored (RFC 1994 §4.1).
        let stale = chap.on_chap(&ChapPacket::Success {
            identifier: 7,
            message: vec![],
        });
        assert_eq!(stale.outcome, None);
        let ok = chap.on_chap(&ChapPacket::Success {
            identifier: 8,
            message: b"Access granted".to_vec(),
        });
        assert_eq!(
            ok.outcome,
            Some(AuthOutcome::Succeeded {
                message: "Access granted".into()
            })
        );
        assert!(chap.succeeded());
        // A duplicated Success does not report twice.
        assert_eq!(
            chap.on_chap(&ChapPacket::Success {
                identifier: 8,
                message: vec![]
            })
            .outcome,
            None
        );
    }

    #[test]
    fn chap_rechallenge_after_success_is_answered_and_a_failure_then_withdraws() {
        let mut chap = Authenticatee::chap(creds(), AuthTimers::default(), now0());
        chap.on_chap(&ChapPacket::Challenge {
            identifier: 1,
            value: vec![9; 16],
            name: vec![],
        });
        chap.on_chap(&ChapPacket::Success {
            identifier: 1,
            message: vec![],
        });
        let re = chap.on_chap(&ChapPacket::Challenge {
            identifier: 2,
            value: vec![3; 16],
            name: vec![],
        });
        assert_eq!(re.send.len(), 1);
        assert!(chap.succeeded(), "still authenticated while rechallenged");
        // A repeated Success for the rechallenge is not a new outcome.
        assert_eq!(
            chap.on_chap(&ChapPacket::Success {
                identifier: 2,
                message: vec![]
            })
            .outcome,
            None
        );
        let withdrawn = chap.on_chap(&ChapPacket::Failure {
            identifier: 2,
            message: b"E=691 R=0".to_vec(),
        });
        assert!(matches!(
            withdrawn.outcome,
            Some(AuthOutcome::Failed {
                reason: AuthFailure::Rejected { method: "CHAP", .. }
            })
        ));
        // Done: no more answers.
        assert!(chap
            .on_chap(&ChapPacket::Challenge {
                identifier: 3,
                value: vec![1],
                name: vec![]
            })
            .send
            .is_empty());
    }

    #[test]
    fn chap_failure_names_the_peers_message_and_no_challenge_times_out() {
        let now = now0();
        let mut chap = Authenticatee::chap(creds(), AuthTimers::default(), now);
        // A Failure before any Response answers nothing of ours.
        assert_eq!(
            chap.on_chap(&ChapPacket::Failure {
                identifier: 1,
                message: vec![]
            })
            .outcome,
            None
        );
        // An empty challenge is not answered.
        assert!(chap
            .on_chap(&ChapPacket::Challenge {
                identifier: 1,
                value: vec![],
                name: vec![]
            })
            .send
            .is_empty());
        assert_eq!(
            chap.on_timer(now.after(Duration::from_secs(29))),
            AuthOutput::default()
        );
        let out = chap.on_timer(now.after(Duration::from_secs(30)));
        let Some(AuthOutcome::Failed { reason }) = out.outcome else {
            panic!("no timeout")
        };
        assert_eq!(
            reason.to_string(),
            "CHAP authentication timed out: no Challenge from the peer"
        );
    }

    #[test]
    fn the_password_never_shows_in_debug_output() {
        let (pap, out) = Authenticatee::pap(creds(), AuthTimers::default(), now0());
        let text = format!("{pap:?} {out:?}");
        assert!(!text.contains("hunter2"));
        assert!(!text.contains(&format!("{:?}", b"hunter2".to_vec())));
    }
}
