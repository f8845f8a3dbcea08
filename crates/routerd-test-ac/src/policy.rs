//! The access concentrator's side of LCP and IPCP option negotiation, as [`OptionPolicy`]s for the
//! client crate's RFC 1661 automaton ([`Negotiation`](routerd_pppoe_client::negotiation::Negotiation)).
//! The client's policies answer as a subscriber would (ask to be given an address, accept the AC's
//! authentication); these answer as the ISP does: demand authentication, assign the address and DNS
//! servers by Configure-Nak (RFC 1332 §3.3, RFC 1877 §1). IPv6CP is symmetric, so the client's
//! [`Ipv6cpPolicy`](routerd_pppoe_client::negotiation::ipv6cp::Ipv6cpPolicy) serves both sides.

use std::net::Ipv4Addr;

use routerd_pppoe_client::negotiation::lcp::{MIN_MRU, PPPOE_MAX_MRU};
use routerd_pppoe_client::negotiation::{OptionPolicy, OptionVerdict, Verdict};
use routerd_proto::ppp::control::{AuthProtocol, IpcpOption, LcpOption, CHAP_MD5};
use routerd_sansio::Random;

/// Which authentication the access concentrator demands (`--auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// PAP (RFC 1334).
    Pap,
    /// CHAP with MD5 (RFC 1994).
    Chap,
}

impl AuthKind {
    fn option(self) -> LcpOption {
        LcpOption::AuthProtocol(match self {
            Self::Pap => AuthProtocol::Pap,
            Self::Chap => AuthProtocol::Chap {
                algorithm: CHAP_MD5,
            },
        })
    }
}

/// What LCP agreed on, as the access concentrator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLcpNegotiated {
    /// The largest frame we may send the client (its MRU, capped to PPPoE's 1492).
    pub peer_mru: u16,
    /// Our Magic-Number (0 when the client rejected it).
    pub our_magic: u32,
    /// Whether the client acked our Authentication-Protocol (it always must: we insist on it).
    pub authenticates: bool,
}

/// LCP as the access concentrator runs it: asks for MRU 1492, the configured authentication protocol
/// and a Magic-Number; acks a sane MRU from the client and Naks an absurd one (below 128 or above
/// PPPoE's 1492, RFC 2516 §7) with 1492; rejects PFC/ACFC (forbidden over PPPoE) and any request that
/// we authenticate ourselves to the client.
pub struct ServerLcpPolicy {
    auth: AuthKind,
    random: Box<dyn Random>,
    want_mru: Option<u16>,
    want_magic: Option<u32>,
}

impl std::fmt::Debug for ServerLcpPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerLcpPolicy")
            .field("auth", &self.auth)
            .field("want_mru", &self.want_mru)
            .field("want_magic", &self.want_magic)
            .finish_non_exhaustive()
    }
}

impl ServerLcpPolicy {
    /// A policy demanding `auth`, with Magic-Numbers from `random`.
    pub fn new(auth: AuthKind, random: Box<dyn Random>) -> Self {
        let mut policy = Self {
            auth,
            random,
            want_mru: None,
            want_magic: None,
        };
        policy.reset();
        policy
    }

    /// A random non-zero Magic-Number other than `avoid` (RFC 1661 §6.4).
    fn new_magic(&mut self, avoid: Option<u32>) -> u32 {
        loop {
            let magic = self.random.next_u32();
            if magic != 0 && Some(magic) != avoid {
                return magic;
            }
        }
    }
}

impl OptionPolicy for ServerLcpPolicy {
    type Option = LcpOption;
    type Negotiated = ServerLcpNegotiated;

    fn reset(&mut self) {
        self.want_mru = Some(PPPOE_MAX_MRU);
        let previous = self.want_magic;
        self.want_magic = Some(self.new_magic(previous));
    }

    fn request(&self) -> Vec<LcpOption> {
        let mut options = Vec::new();
        if let Some(mru) = self.want_mru {
            options.push(LcpOption::Mru(mru));
        }
        // Always asked for: a test AC that let a client skip authentication would prove nothing.
        options.push(self.auth.option());
        if let Some(magic) = self.want_magic {
            options.push(LcpOption::MagicNumber(magic));
        }
        options
    }

    fn judge(&mut self, peer: &[LcpOption]) -> Verdict<LcpOption> {
        let ours = self.want_magic;
        let mut looped = false;
        let mut verdict = Verdict::collect(peer, |option| match option {
            LcpOption::Mru(mru) if (MIN_MRU..=PPPOE_MAX_MRU).contains(mru) => OptionVerdict::Ack,
            LcpOption::Mru(_) => OptionVerdict::Nak(LcpOption::Mru(PPPOE_MAX_MRU)),
            LcpOption::MagicNumber(magic) if Some(*magic) == ours => {
                looped = true;
                OptionVerdict::Nak(LcpOption::MagicNumber(0))
            }
            LcpOption::MagicNumber(_) => OptionVerdict::Ack,
            LcpOption::AuthProtocol(_)
            | LcpOption::ProtocolFieldCompression
            | LcpOption::AddressControlFieldCompression
            | LcpOption::Raw { .. } => OptionVerdict::Reject,
        });
        if looped {
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
                LcpOption::Mru(mru)
                    if self.want_mru.is_some() && (MIN_MRU..=PPPOE_MAX_MRU).contains(mru) =>
                {
                    self.want_mru = Some(*mru);
                }
                LcpOption::MagicNumber(_) if self.want_magic.is_some() => {
                    let previous = self.want_magic;
                    self.want_magic = Some(self.new_magic(previous));
                }
                // A Nak of the authentication protocol is ignored: the AC insists on `--auth`, and a
                // client that cannot do it never converges (Max-Configure ends it).
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

    fn negotiated(&self, ours: &[LcpOption], theirs: &[LcpOption]) -> ServerLcpNegotiated {
        let mut result = ServerLcpNegotiated {
            peer_mru: PPPOE_MAX_MRU,
            our_magic: 0,
            authenticates: false,
        };
        for option in ours {
            match option {
                LcpOption::MagicNumber(magic) => result.our_magic = *magic,
                LcpOption::AuthProtocol(_) => result.authenticates = true,
                _ => {}
            }
        }
        for option in theirs {
            if let LcpOption::Mru(mru) = option {
                result.peer_mru = (*mru).min(PPPOE_MAX_MRU);
            }
        }
        result
    }

    fn magic_number(&self) -> u32 {
        self.want_magic.unwrap_or(0)
    }
}

/// What IPCP agreed on, as the access concentrator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerIpcpNegotiated {
    /// The address the client acked for itself.
    pub peer_address: Option<Ipv4Addr>,
}

/// IPCP as the access concentrator runs it: announces its own address, and gives the client
/// `peer_address` and the DNS servers by Naking whatever the client asked for (RFC 1332 §3.3,
/// RFC 1877 §1.1/§1.3); DNS options it has no server for are rejected.
#[derive(Debug, Clone)]
pub struct ServerIpcpPolicy {
    local: Ipv4Addr,
    peer: Ipv4Addr,
    dns: [Option<Ipv4Addr>; 2],
    announce_local: bool,
}

impl ServerIpcpPolicy {
    /// A policy with our address `local`, the client's `peer` and up to two DNS servers.
    pub fn new(local: Ipv4Addr, peer: Ipv4Addr, dns: &[Ipv4Addr]) -> Self {
        Self {
            local,
            peer,
            dns: [dns.first().copied(), dns.get(1).copied()],
            announce_local: true,
        }
    }
}

/// Ack `asked` when it is what we assign, Nak with the assignment otherwise, Reject without one.
fn assign(
    asked: Ipv4Addr,
    given: Option<Ipv4Addr>,
    wrap: fn(Ipv4Addr) -> IpcpOption,
) -> OptionVerdict<IpcpOption> {
    match given {
        Some(given) if given == asked => OptionVerdict::Ack,
        Some(given) => OptionVerdict::Nak(wrap(given)),
        None => OptionVerdict::Reject,
    }
}

impl OptionPolicy for ServerIpcpPolicy {
    type Option = IpcpOption;
    type Negotiated = ServerIpcpNegotiated;

    fn reset(&mut self) {
        self.announce_local = true;
    }

    fn request(&self) -> Vec<IpcpOption> {
        if self.announce_local {
            vec![IpcpOption::IpAddress(self.local)]
        } else {
            Vec::new()
        }
    }

    fn judge(&mut self, peer: &[IpcpOption]) -> Verdict<IpcpOption> {
        let (assigned, [primary, secondary]) = (self.peer, self.dns);
        Verdict::collect(peer, |option| match option {
            IpcpOption::IpAddress(asked) => assign(*asked, Some(assigned), IpcpOption::IpAddress),
            IpcpOption::PrimaryDns(asked) => assign(*asked, primary, IpcpOption::PrimaryDns),
            IpcpOption::SecondaryDns(asked) => assign(*asked, secondary, IpcpOption::SecondaryDns),
            IpcpOption::Raw { .. } => OptionVerdict::Reject,
        })
    }

    fn nak_received(&mut self, _suggested: &[IpcpOption]) {
        // Our own address is not up for negotiation: the request stays as it is.
    }

    fn reject_received(&mut self, rejected: &[IpcpOption]) {
        if rejected
            .iter()
            .any(|o| matches!(o, IpcpOption::IpAddress(_)))
        {
            self.announce_local = false;
        }
    }

    fn negotiated(&self, _ours: &[IpcpOption], theirs: &[IpcpOption]) -> ServerIpcpNegotiated {
        ServerIpcpNegotiated {
            peer_address: theirs.iter().find_map(|o| match o {
                IpcpOption::IpAddress(address) => Some(*address),
                _ => None,
            }),
        }
    }
}

/// Randomness that first replays fixed values, then defers to another source: lets the client crate's
/// IPv6CP policy, which draws its Interface-Identifier from its `Random`, use the AC's fixed identifier
/// (the TUN's link-local address is built from it before any session exists).
pub struct Prefixed<R> {
    first: std::collections::VecDeque<u32>,
    rest: R,
}

impl<R> Prefixed<R> {
    /// `first` in order, then `rest`.
    pub fn new(first: impl IntoIterator<Item = u32>, rest: R) -> Self {
        Self {
            first: first.into_iter().collect(),
            rest,
        }
    }
}

impl<R: Random> Random for Prefixed<R> {
    fn next_u32(&mut self) -> u32 {
        self.first
            .pop_front()
            .unwrap_or_else(|| self.rest.next_u32())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use routerd_sansio::Sequence;

    fn lcp(auth: AuthKind) -> ServerLcpPolicy {
        ServerLcpPolicy::new(auth, Box::new(Sequence::new(vec![0x1111, 0x2222, 0x3333])))
    }

    #[test]
    fn lcp_asks_for_the_configured_authentication() {
        assert_eq!(
            lcp(AuthKind::Chap).request(),
            vec![
                LcpOption::Mru(1492),
                LcpOption::AuthProtocol(AuthProtocol::Chap { algorithm: 5 }),
                LcpOption::MagicNumber(0x1111),
            ]
        );
        assert!(lcp(AuthKind::Pap)
            .request()
            .contains(&LcpOption::AuthProtocol(AuthProtocol::Pap)));
    }

    #[test]
    fn lcp_acks_sane_mrus_and_naks_absurd_ones() {
        let mut policy = lcp(AuthKind::Pap);
        assert_eq!(
            policy.judge(&[LcpOption::Mru(1492), LcpOption::MagicNumber(7)]),
            Verdict::Ack
        );
        assert_eq!(policy.judge(&[LcpOption::Mru(1280)]), Verdict::Ack);
        assert_eq!(
            policy.judge(&[LcpOption::Mru(64)]),
            Verdict::Nak(vec![LcpOption::Mru(1492)])
        );
        assert_eq!(
            policy.judge(&[LcpOption::Mru(9000)]),
            Verdict::Nak(vec![LcpOption::Mru(1492)])
        );
    }

    #[test]
    fn lcp_rejects_compression_and_being_asked_to_authenticate() {
        let mut policy = lcp(AuthKind::Pap);
        let asked = [
            LcpOption::Mru(1492),
            LcpOption::AuthProtocol(AuthProtocol::Pap),
            LcpOption::ProtocolFieldCompression,
        ];
        assert_eq!(
            policy.judge(&asked),
            Verdict::Reject(vec![
                LcpOption::AuthProtocol(AuthProtocol::Pap),
                LcpOption::ProtocolFieldCompression
            ])
        );
    }

    #[test]
    fn lcp_naks_its_own_magic_number_with_another() {
        let mut policy = lcp(AuthKind::Pap);
        let verdict = policy.judge(&[LcpOption::MagicNumber(0x1111)]);
        assert_eq!(verdict, Verdict::Nak(vec![LcpOption::MagicNumber(0x3333)]));
        assert_eq!(policy.magic_number(), 0x2222);
    }

    #[test]
    fn ipcp_assigns_address_and_dns_by_nak() {
        let dns = [Ipv4Addr::new(192, 0, 2, 53)];
        let mut policy = ServerIpcpPolicy::new(
            Ipv4Addr::new(192, 0, 2, 1),
            Ipv4Addr::new(192, 0, 2, 7),
            &dns,
        );
        assert_eq!(
            policy.request(),
            vec![IpcpOption::IpAddress(Ipv4Addr::new(192, 0, 2, 1))]
        );
        let unspecified = Ipv4Addr::UNSPECIFIED;
        // A secondary DNS we do not have is rejected first (rejects win over naks).
        assert_eq!(
            policy.judge(&[
                IpcpOption::IpAddress(unspecified),
                IpcpOption::PrimaryDns(unspecified),
                IpcpOption::SecondaryDns(unspecified),
            ]),
            Verdict::Reject(vec![IpcpOption::SecondaryDns(unspecified)])
        );
        assert_eq!(
            policy.judge(&[
                IpcpOption::IpAddress(unspecified),
                IpcpOption::PrimaryDns(unspecified),
            ]),
            Verdict::Nak(vec![
                IpcpOption::IpAddress(Ipv4Addr::new(192, 0, 2, 7)),
                IpcpOption::PrimaryDns(dns[0]),
            ])
        );
        let acked = [
            IpcpOption::IpAddress(Ipv4Addr::new(192, 0, 2, 7)),
            IpcpOption::PrimaryDns(dns[0]),
        ];
        assert_eq!(policy.judge(&acked), Verdict::Ack);
        assert_eq!(
            policy.negotiated(&[], &acked).peer_address,
            Some(Ipv4Addr::new(192, 0, 2, 7))
        );
    }

    #[test]
    fn prefixed_randomness_replays_then_defers() {
        let mut random = Prefixed::new([1, 2], Sequence::new(vec![9]));
        let drawn: Vec<u32> = (0..4).map(|_| random.next_u32()).collect();
        assert_eq!(drawn, vec![1, 2, 9, 9]);
    }
}
