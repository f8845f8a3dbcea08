//! The interface: index, hardware address (for a DUID-LLT), carrier (the kit's `getifaddrs` look,
//! `routerd_daemon::interface`), its IPv6 link-local
//! address with the kernel's DAD state (`/proc/net/if_inet6`, which — unlike `getifaddrs` — says
//! whether an address is still tentative). The driver re-reads it whenever the kit's rtnetlink watcher
//! (`routerd_daemon::link_watch`, link and IPv6 address groups) reports a change, so carrier loss and
//! the end of duplicate address detection are seen at once.

use routerd_daemon::interface;
use std::net::{IpAddr, Ipv6Addr};

/// Address flags of `/proc/net/if_inet6` (linux/if_addr.h).
const IFA_F_DADFAILED: u32 = 0x08;
const IFA_F_TENTATIVE: u32 = 0x40;

/// The interface's link-local address and whether it may be used yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkLocal {
    pub address: Ipv6Addr,
    /// Duplicate address detection has not finished: binding to it fails with `EADDRNOTAVAIL`.
    pub tentative: bool,
}

/// What the daemon needs to know about its interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub ifindex: u32,
    /// `None` for links without one (PPP, TUN): the DUID cannot be a DUID-LLT then.
    pub mac: Option<[u8; 6]>,
    /// Administratively up with carrier.
    pub carrier: bool,
    /// The usable link-local address if there is one, else a tentative one, else `None`.
    pub link_local: Option<LinkLocal>,
}

/// Looks the interface up; `None` when there is no link of that name.
pub fn lookup(ifname: &str) -> Option<LinkInfo> {
    let found = interface::lookup(ifname)?;
    let link_local = match std::fs::read_to_string("/proc/net/if_inet6") {
        Ok(text) => choose_link_local(&parse_if_inet6(&text, found.ifindex)),
        // Without /proc the DAD state is unknown; the bind tells (EADDRNOTAVAIL while tentative).
        Err(_) => found.addresses.iter().find_map(|a| match a {
            IpAddr::V6(address) if address.is_unicast_link_local() => Some(LinkLocal {
                address: *address,
                tentative: false,
            }),
            _ => None,
        }),
    };
    Some(LinkInfo {
        ifindex: found.ifindex,
        // An all-zero address is no hardware address to build a DUID-LLT from.
        mac: found.mac.filter(|m| *m != [0; 6]),
        carrier: found.carrier,
        link_local,
    })
}

/// The link-local addresses of `ifindex` with their flags, from the text of `/proc/net/if_inet6`
/// (`<32 hex digits> <ifindex> <prefix len> <scope> <flags> <name>`, numbers in hex). Lines that do not
/// parse are skipped.
pub fn parse_if_inet6(text: &str, ifindex: u32) -> Vec<(Ipv6Addr, u32)> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let hex = fields.next()?;
            let index = u32::from_str_radix(fields.next()?, 16).ok()?;
            let _prefix_len = fields.next()?;
            let _scope = fields.next()?;
            let flags = u32::from_str_radix(fields.next()?, 16).ok()?;
            if index != ifindex || hex.len() != 32 {
                return None;
            }
            let bits = u128::from_str_radix(hex, 16).ok()?;
            let address = Ipv6Addr::from(bits);
            address.is_unicast_link_local().then_some((address, flags))
        })
        .collect()
}

/// A usable (not tentative, not failed) link-local address first; a tentative one says "wait for DAD".
pub fn choose_link_local(candidates: &[(Ipv6Addr, u32)]) -> Option<LinkLocal> {
    let usable = |&&(_, flags): &&(Ipv6Addr, u32)| flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED) == 0;
    if let Some(&(address, _)) = candidates.iter().find(usable) {
        return Some(LinkLocal {
            address,
            tentative: false,
        });
    }
    candidates
        .iter()
        .find(|(_, flags)| flags & IFA_F_DADFAILED == 0)
        .map(|&(address, _)| LinkLocal {
            address,
            tentative: true,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROC: &str = "\
00000000000000000000000000000001 01 80 10 80       lo
fe800000000000002ceee7fffe2bf8e8 02 40 20 c0       x0
20010db8000000000000000000000001 02 40 00 80       x0
fe800000000000000000000000000002 02 40 20 80       x0
fe800000000000000000000000000003 03 40 20 80       y0
garbage line
fe80zz00000000000000000000000004 02 40 20 80       x0
";

    #[test]
    fn link_locals_of_one_interface_with_flags() {
        let found = parse_if_inet6(PROC, 2);
        assert_eq!(
            found,
            [
                ("fe80::2cee:e7ff:fe2b:f8e8".parse().unwrap(), 0xc0),
                ("fe80::2".parse().unwrap(), 0x80),
            ]
        );
        assert_eq!(parse_if_inet6(PROC, 9), []);
    }

    #[test]
    fn a_usable_address_wins_over_a_tentative_one() {
        let found = parse_if_inet6(PROC, 2);
        assert_eq!(
            choose_link_local(&found),
            Some(LinkLocal {
                address: "fe80::2".parse().unwrap(),
                tentative: false
            })
        );
        assert_eq!(
            choose_link_local(&found[..1]),
            Some(LinkLocal {
                address: "fe80::2cee:e7ff:fe2b:f8e8".parse().unwrap(),
                tentative: true
            })
        );
        let failed = [(
            "fe80::9".parse().unwrap(),
            IFA_F_DADFAILED | IFA_F_TENTATIVE,
        )];
        assert_eq!(choose_link_local(&failed), None);
        assert_eq!(choose_link_local(&[]), None);
    }
}
