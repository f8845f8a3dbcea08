//! LCP's option policy (RFC 1661 §6): MRU, Magic-Number with loop-back detection, and which
//! authentication protocol we agree to authenticate with. Over PPPoE we never take PFC or ACFC
//! (RFC 2516 §7 forbids them), so the peer's are rejected and we never ask for them.

use std::str::FromStr;

use routerd_proto::ppp::control::{AuthProtocol, LcpOption, CHAP_MD5};
use routerd_sansio::Random;

use super::{OptionPolicy, OptionVerdict, Verdict};

/// The largest MRU over PPPoE: 1500 octets of Ethernet payload minus the 6-octet PPPoE header and the
/// 2-octet PPP protocol field (RFC 2516 §7).
pub const PPPOE_MAX_MRU: u16 = 1492;

/// The smallest MRU we accept from a peer or a Nak: below it an IPv4 header and a useful payload no
/// longer fit, and such values come from broken or hostile peers.
pub const MIN_MRU: u16 = 128;

/// Which authentication the peer may ask us for (`spec.authentication`: `pap|chap|any`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethods {
    /// PAP only (the password travels in clear: only when the ISP demands it).
    Pap,
    /// CHAP-MD5 only.
    Chap,
    /// Either; a Nak suggests CHAP-MD5.
    Any,
}

/// An authentication setting other than `pap`, `chap` or `any`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown authentication {0:?} (known: pap, chap, any)")]
pub struct UnknownAuthMethods(pub String);

impl FromStr for AuthMethods {
    type Err = UnknownAuthMethods;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pap" => Ok(Self::Pap),
            "chap" => Ok(Self::Chap),
            "any" => Ok(Self::Any),
            other => Err(UnknownAuthMethods(other.to_owned())),
        }
    }
}

impl AuthMethods {
    fn accepts(self, auth: &AuthProtocol) -> bool {
        match auth {
            AuthProtocol::Pap => matches!(self, Self::Pap | Self::Any),
            AuthProtocol::Chap { algorithm } => {
                *algorithm == CHAP_MD5 && matches!(self, Self::Chap | Self::Any)
            }
            AuthProtocol::Other { .. } => false,
        }
    }

    /// What to suggest in a Nak: the strongest method we allow.
    fn preferred(self) -> AuthProtocol {
        match self {
            Self::Pap => AuthProtocol::Pap,
            Self::Chap | Self::Any => AuthProtocol::Chap {
                algorithm: CHAP_MD5,
            },
        }
    }
}

/// The authentication the peer asked us to perform, as acked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authentication {
    /// No authentication.
    None,
    /// PAP (RFC 1334).
    Pap,
    /// CHAP with MD5 (RFC 1994).
    ChapMd5,
}

/// What LCP agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LcpNegotiated {
    /// The largest frame the peer sends us (our acked MRU, 1500 when not negotiated).
    pub our_mru: u16,
    /// The largest frame we may send (the peer's MRU, capped to PPPoE's 1492): the interface MTU.
    pub peer_mru: u16,
    /// Our Magic-Number (0 when the peer rejected it).
    pub our_magic: u32,
    /// The peer's Magic-Number (0 when it sent none).
    pub peer_magic: u32,
    /// How we must authenticate.
    pub authentication: Authentication,
}

/// LCP's policy for a PPPoE client.
pub struct LcpPolicy {
    mru: u16,
    auth: AuthMethods,
    random: Box<dyn Random>,
    want_mru: Option<u16>,
    want_magic: Option<u32>,
    loopbacks: u32,
}

impl std::fmt::Debug for LcpPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LcpPolicy")
            .field("mru", &self.mru)
            .field("auth", &self.auth)
            .field("want_mru", &self.want_mru)
            .field("want_magic", &self.want_magic)
            .field("loopbacks", &self.loopbacks)
            .finish_non_exhaustive()
    }
}

impl LcpPolicy {
    /// A policy asking for `mru` (capped to [`PPPOE_MAX_MRU`]) and a random Magic-Number, accepting the
    /// authentication methods `auth`.
    pub fn new(mru: u16, auth: AuthMethods, random: Box<dyn Random>) -> Self {
        let mru = mru.clamp(MIN_MRU, PPPOE_MAX_MRU);
        let mut policy = Self {
            mru,
            auth,
            random,
            want_mru: Some(mru),
            want_magic: None,
            loopbacks: 0,
        };
        policy.reset();
        policy
    }

    /// How many Configure-Requests carried our own Magic-Number: a count that keeps rising means the
    /// link is looped back (RFC 1661 §6.4), not that a peer is there.
    pub fn loopbacks(&self) -> u32 {
        self.loopbacks
    }

    /// A Magic-Number: random and never 0 (0 means "none", RFC 1661 §6.4), and never `avoid`.
    fn new_magic(&mut self, avoid: Option<u32>) -> u32 {
        loop {
            let magic = self.random.next_u32();
            if magic != 0 && Some(magic) != avoid {
                return magic;
            }
        }
    }
}

impl OptionPolicy for LcpPolicy {
    type Option = LcpOption;
    type Negotiated = LcpNegotiated;

    fn reset(&mut self) {
        self.want_mru = Some(self.mru);
        let previous = self.want_magic;
        self.want_magic = Some(self.new_magic(previous));
    }

    fn request(&self) -> Vec<LcpOption> {
        let mut options = Vec::new();
        if let Some(mru) = self.want_mru {
            options.push(LcpOption::Mru(mru));
        }
        if let Some(magic) = self.want_magic {
            options.push(LcpOption::MagicNumber(magic));
        }
        options
    }

    fn judge(&mut self, peer: &[LcpOption]) -> Verdict<LcpOption> {
        let auth = self.auth;
        let ours = self.want_magic;
        let mut looped = false;
        let mut verdict = Verdict::collect(peer, |option| match option {
            LcpOption::Mru(mru) if *mru < MIN_MRU => {
                OptionVerdict::Nak(LcpOption::Mru(PPPOE_MAX_MRU))
            }
            LcpOption::Mru(_) => OptionVerdict::Ack,
            LcpOption::AuthProtocol(protocol) if auth.accepts(protocol) => OptionVerdict::Ack,
            LcpOption::AuthProtocol(_) => {
                OptionVerdict::Nak(LcpOption::AuthProtocol(auth.preferred()))
            }
            LcpOption::MagicNumber(magic) if Some(*magic) == ours => {
                looped = true;
                // Placeholder value, replaced below once the borrow of `self` is free.
                OptionVerdict::Nak(LcpOption::MagicNumber(0))
            }
            LcpOption::MagicNumber(_) => OptionVerdict::Ack,
            LcpOption::ProtocolFieldCompression
            | LcpOption::AddressControlFieldCompression
            | LcpOption::Raw { .. } => OptionVerdict::Reject,
        });
        if looped {
            // RFC 1661 §6.4: our own number came back. Nak with another value and pick a new one for
            // ourselves; if this keeps happening the link is looped back.
            self.loopbacks = self.loopbacks.saturating_add(1);
            let mine = self.new_magic(ours);
            self.want_magic = Some(mine);
            let suggestion = self.new_magic(Some(mine));
            if let Verdict::Nak(options) = &mut verdict {
                for option in options.iter_mut() {
                    if let LcpOption::MagicNumber(value) = option {
                        *value = suggestion;
                    }
                }
            }
        }
        verdict
    }

    fn nak_received(&mut self, suggested: &[LcpOption]) {
        for option in suggested {
            match option {
                // A Nak'd MRU is taken only within what we can receive; outside it we keep ours.
                LcpOption::Mru(mru)
                    if self.want_mru.is_some() && (MIN_MRU..=self.mru).contains(mru) =>
                {
                    self.want_mru = Some(*mru);
                }
                LcpOption::MagicNumber(_) if self.want_magic.is_some() => {
                    // §6.4: a Nak'd Magic-Number means a possible loop: choose a new random one.
                    let previous = self.want_magic;
                    self.want_magic = Some(self.new_magic(previous));
                }
                _ => {}
            }
        }
    }

    fn reject_received(&mut self, rejected: &[LcpOption]) {
        for option in rejected {
            match option {
                LcpOption::Mru(_) => self.want_mru = None,
                LcpOption::MagicNumber(_) => self.want_magic = None,
                _ => {}
            }
        }
    }

    fn negotiated(&self, ours: &[LcpOption], theirs: &[LcpOption]) -> LcpNegotiated {
        let mut result = LcpNegotiated {
            our_mru: 1500,
            peer_mru: PPPOE_MAX_MRU,
            our_magic: 0,
            peer_magic: 0,
            authentication: Authentication::None,
        };
        for option in ours {
            match option {
                LcpOption::Mru(mru) => result.our_mru = *mru,
                LcpOption::MagicNumber(magic) => result.our_magic = *magic,
                _ => {}
            }
        }
        for option in theirs {
            match option {
                LcpOption::Mru(mru) => result.peer_mru = (*mru).min(PPPOE_MAX_MRU),
                LcpOption::MagicNumber(magic) => result.peer_magic = *magic,
                LcpOption::AuthProtocol(AuthProtocol::Pap) => {
                    result.authentication = Authentication::Pap
                }
                LcpOption::AuthProtocol(AuthProtocol::Chap { .. }) => {
                    result.authentication = Authentication::ChapMd5
                }
                _ => {}
            }
        }
        result
    }

    fn magic_number(&self) -> u32 {
        self.want_magic.unwrap_or(0)
    }
}
