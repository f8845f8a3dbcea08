//! IPCP's option policy for a client (RFC 1332 §3.3, RFC 1877 §1): we ask for 0.0.0.0 and DNS servers
//! 0.0.0.0, meaning "assign them", and take the values the access concentrator Naks back; we ack the
//! concentrator's own address and reject DNS options from it (we serve no DNS to the ISP).

use std::net::Ipv4Addr;

use routerd_proto::ppp::control::IpcpOption;

use super::{OptionPolicy, OptionVerdict, Verdict};

/// What IPCP agreed on: what the interface is configured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpcpNegotiated {
    /// Our address (from the peer's Nak, acked).
    pub address: Ipv4Addr,
    /// The peer's address, the point-to-point destination (None if it sent none).
    pub peer_address: Option<Ipv4Addr>,
    /// Primary DNS server, if the peer assigned one.
    pub primary_dns: Option<Ipv4Addr>,
    /// Secondary DNS server, if the peer assigned one.
    pub secondary_dns: Option<Ipv4Addr>,
}

/// IPCP's policy for a PPPoE client.
#[derive(Debug, Clone)]
pub struct IpcpPolicy {
    address: Option<Ipv4Addr>,
    primary_dns: Option<Ipv4Addr>,
    secondary_dns: Option<Ipv4Addr>,
}

impl Default for IpcpPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl IpcpPolicy {
    /// A policy asking to be assigned an address and both DNS servers.
    pub fn new() -> Self {
        Self {
            address: Some(Ipv4Addr::UNSPECIFIED),
            primary_dns: Some(Ipv4Addr::UNSPECIFIED),
            secondary_dns: Some(Ipv4Addr::UNSPECIFIED),
        }
    }
}

fn assigned(address: Ipv4Addr) -> Option<Ipv4Addr> {
    (!address.is_unspecified()).then_some(address)
}

impl OptionPolicy for IpcpPolicy {
    type Option = IpcpOption;
    type Negotiated = IpcpNegotiated;

    fn reset(&mut self) {
        *self = Self::new();
    }

    fn request(&self) -> Vec<IpcpOption> {
        let mut options = Vec::new();
        if let Some(address) = self.address {
            options.push(IpcpOption::IpAddress(address));
        }
        if let Some(address) = self.primary_dns {
            options.push(IpcpOption::PrimaryDns(address));
        }
        if let Some(address) = self.secondary_dns {
            options.push(IpcpOption::SecondaryDns(address));
        }
        options
    }

    fn judge(&mut self, peer: &[IpcpOption]) -> Verdict<IpcpOption> {
        Verdict::collect(peer, |option| match option {
            // The concentrator's own address. 0.0.0.0 would ask us to assign it one, which a client
            // cannot: reject, and the link runs without a peer address (RFC 1332 §3.3).
            IpcpOption::IpAddress(address) if address.is_unspecified() => OptionVerdict::Reject,
            IpcpOption::IpAddress(_) => OptionVerdict::Ack,
            IpcpOption::PrimaryDns(_) | IpcpOption::SecondaryDns(_) | IpcpOption::Raw { .. } => {
                OptionVerdict::Reject
            }
        })
    }

    fn nak_received(&mut self, suggested: &[IpcpOption]) {
        for option in suggested {
            match option {
                IpcpOption::IpAddress(address) if self.address.is_some() => {
                    self.address = Some(*address)
                }
                IpcpOption::PrimaryDns(address) if self.primary_dns.is_some() => {
                    self.primary_dns = Some(*address)
                }
                IpcpOption::SecondaryDns(address) if self.secondary_dns.is_some() => {
                    self.secondary_dns = Some(*address)
                }
                _ => {}
            }
        }
    }

    fn reject_received(&mut self, rejected: &[IpcpOption]) {
        for option in rejected {
            match option {
                IpcpOption::IpAddress(_) => self.address = None,
                IpcpOption::PrimaryDns(_) => self.primary_dns = None,
                IpcpOption::SecondaryDns(_) => self.secondary_dns = None,
                IpcpOption::Raw { .. } => {}
            }
        }
    }

    fn negotiated(&self, ours: &[IpcpOption], theirs: &[IpcpOption]) -> IpcpNegotiated {
        let mut result = IpcpNegotiated {
            address: Ipv4Addr::UNSPECIFIED,
            peer_address: None,
            primary_dns: None,
            secondary_dns: None,
        };
        for option in ours {
            match option {
                IpcpOption::IpAddress(address) => result.address = *address,
                IpcpOption::PrimaryDns(address) => result.primary_dns = assigned(*address),
                IpcpOption::SecondaryDns(address) => result.secondary_dns = assigned(*address),
                IpcpOption::Raw { .. } => {}
            }
        }
        for option in theirs {
            if let IpcpOption::IpAddress(address) = option {
                result.peer_address = assigned(*address);
            }
        }
        result
    }
}
