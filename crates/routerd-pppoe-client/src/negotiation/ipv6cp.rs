//! IPv6CP's option policy (RFC 5072 §4.1): each side picks a random non-zero Interface-Identifier for
//! its link-local address `fe80::<id>`; a zero or colliding identifier from the peer is Nak'd with a
//! fresh one, and a Nak'd identifier of ours is replaced by the suggestion (or a fresh one if the
//! suggestion is unusable).

use routerd_proto::ppp::control::Ipv6cpOption;
use routerd_sansio::Random;

use super::{OptionPolicy, OptionVerdict, Verdict};

/// An Interface-Identifier (the low 64 bits of the link-local address).
pub type InterfaceId = [u8; 8];

/// What IPv6CP agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6cpNegotiated {
    /// Our identifier: the interface gets `fe80::<ours>`.
    pub ours: Option<InterfaceId>,
    /// The peer's identifier.
    pub peer: Option<InterfaceId>,
}

/// IPv6CP's policy.
pub struct Ipv6cpPolicy {
    random: Box<dyn Random>,
    want: Option<InterfaceId>,
    peer: Option<InterfaceId>,
}

impl std::fmt::Debug for Ipv6cpPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ipv6cpPolicy")
            .field("want", &self.want)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl Ipv6cpPolicy {
    /// A policy with a fresh random identifier, kept across renegotiations so the link-local address
    /// stays stable while the session lives.
    pub fn new(random: Box<dyn Random>) -> Self {
        let mut policy = Self {
            random,
            want: None,
            peer: None,
        };
        policy.want = Some(policy.fresh_id(&[]));
        policy
    }

    /// A random non-zero identifier different from each of `avoid`.
    fn fresh_id(&mut self, avoid: &[Option<InterfaceId>]) -> InterfaceId {
        loop {
            let mut id = [0u8; 8];
            id[..4].copy_from_slice(&self.random.next_u32().to_be_bytes());
            id[4..].copy_from_slice(&self.random.next_u32().to_be_bytes());
            if id != [0; 8] && !avoid.contains(&Some(id)) {
                return id;
            }
        }
    }
}

impl OptionPolicy for Ipv6cpPolicy {
    type Option = Ipv6cpOption;
    type Negotiated = Ipv6cpNegotiated;

    fn reset(&mut self) {
        if self.want.is_none() {
            let peer = self.peer;
            self.want = Some(self.fresh_id(&[peer]));
        }
    }

    fn request(&self) -> Vec<Ipv6cpOption> {
        self.want
            .map(Ipv6cpOption::InterfaceId)
            .into_iter()
            .collect()
    }

    fn judge(&mut self, peer: &[Ipv6cpOption]) -> Verdict<Ipv6cpOption> {
        let ours = self.want;
        let mut needs_fresh = false;
        for option in peer {
            if let Ipv6cpOption::InterfaceId(id) = option {
                if *id == [0; 8] || Some(*id) == ours {
                    needs_fresh = true;
                } else {
                    self.peer = Some(*id);
                }
            }
        }
        let suggestion = needs_fresh.then(|| self.fresh_id(&[ours]));
        Verdict::collect(peer, |option| match (option, suggestion) {
            (Ipv6cpOption::InterfaceId(id), Some(fresh)) if *id == [0; 8] || Some(*id) == ours => {
                OptionVerdict::Nak(Ipv6cpOption::InterfaceId(fresh))
            }
            (Ipv6cpOption::InterfaceId(_), _) => OptionVerdict::Ack,
            (Ipv6cpOption::Raw { .. }, _) => OptionVerdict::Reject,
        })
    }

    fn nak_received(&mut self, suggested: &[Ipv6cpOption]) {
        for option in suggested {
            if let Ipv6cpOption::InterfaceId(id) = option {
                let usable = *id != [0; 8] && Some(*id) != self.peer;
                self.want = Some(if usable {
                    *id
                } else {
                    let peer = self.peer;
                    self.fresh_id(&[peer])
                });
            }
        }
    }

    fn reject_received(&mut self, rejected: &[Ipv6cpOption]) {
        if rejected
            .iter()
            .any(|o| matches!(o, Ipv6cpOption::InterfaceId(_)))
        {
            self.want = None;
        }
    }

    fn negotiated(&self, ours: &[Ipv6cpOption], theirs: &[Ipv6cpOption]) -> Ipv6cpNegotiated {
        let id = |options: &[Ipv6cpOption]| {
            options.iter().find_map(|o| match o {
                Ipv6cpOption::InterfaceId(id) => Some(*id),
                Ipv6cpOption::Raw { .. } => None,
            })
        };
        Ipv6cpNegotiated {
            ours: id(ours),
            peer: id(theirs),
        }
    }
}
