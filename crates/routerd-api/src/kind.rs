//! The table of resource kinds: API group, spelling, short names for the CLI, and which daemon runs it.

use serde::{Deserialize, Serialize};

pub const NET_API_VERSION: &str = "net.routerd.net/v1alpha1";
pub const FIREWALL_API_VERSION: &str = "firewall.routerd.net/v1alpha1";
pub const SYSTEM_API_VERSION: &str = "system.routerd.net/v1alpha1";

/// Every resource kind routerd understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    Interface,
    IPv4StaticAddress,
    DHCPv4Client,
    DHCPv6PrefixDelegation,
    IPv6DelegatedAddress,
    PPPoESession,
    HealthCheck,
    IPv4StaticRoute,
    EgressRoutePolicy,
    NAT44Rule,
    EventRule,
    DerivedEvent,
    DNSResolver,
    TrafficFlowLog,
    FirewallEventLog,
    LogRetention,
    FirewallZone,
    FirewallPolicy,
    FirewallRule,
    PortForward,
    DHCPv4Server,
    IPv6RouterAdvertisement,
}

/// Static facts about a kind.
#[derive(Debug, Clone, Copy)]
pub struct KindInfo {
    pub kind: Kind,
    pub name: &'static str,
    pub api_version: &'static str,
    /// Lower-case aliases accepted by routerctl and the API's `{kind}` path segment.
    pub short_names: &'static [&'static str],
    /// Managed daemon executable, for kinds that run one.
    pub daemon: Option<&'static str>,
}

pub const KINDS: &[KindInfo] = &[
    KindInfo {
        kind: Kind::Interface,
        name: "Interface",
        api_version: NET_API_VERSION,
        short_names: &["if", "iface", "interfaces"],
        daemon: None,
    },
    KindInfo {
        kind: Kind::IPv4StaticAddress,
        name: "IPv4StaticAddress",
        api_version: NET_API_VERSION,
        short_names: &["addr", "address", "ipv4addr", "addresses"],
        daemon: None,
    },
    KindInfo {
        kind: Kind::DHCPv4Client,
        name: "DHCPv4Client",
        api_version: NET_API_VERSION,
        short_names: &["dhcp4", "dhcpv4", "dhcp4c"],
        daemon: Some("routerd-dhcpv4-client"),
    },
    KindInfo {
        kind: Kind::DHCPv6PrefixDelegation,
        name: "DHCPv6PrefixDelegation",
        api_version: NET_API_VERSION,
        short_names: &["pd", "dhcp6pd", "dhcpv6pd"],
        daemon: Some("routerd-dhcpv6-client"),
    },
    KindInfo {
        kind: Kind::IPv6DelegatedAddress,
        name: "IPv6DelegatedAddress",
        api_version: NET_API_VERSION,
        short_names: &["ip6addr", "v6addr", "delegatedaddress"],
        daemon: None,
    },
    KindInfo {
        kind: Kind::PPPoESession,
        name: "PPPoESession",
        api_version: NET_API_VERSION,
        short_names: &["pppoe"],
        daemon: Some("routerd-pppoe-client"),
    },
    KindInfo {
        kind: Kind::HealthCheck,
        name: "HealthCheck",
        api_version: NET_API_VERSION,
        short_names: &["hc", "health", "healthchecks"],
        daemon: Some("routerd-healthcheck"),
    },
    KindInfo {
        kind: Kind::IPv4StaticRoute,
        name: "IPv4StaticRoute",
        api_version: NET_API_VERSION,
        short_names: &["route", "routes", "ipv4route"],
        daemon: None,
    },
    KindInfo {
        kind: Kind::EgressRoutePolicy,
        name: "EgressRoutePolicy",
        api_version: NET_API_VERSION,
        short_names: &["egress", "erp"],
        daemon: None,
    },
    KindInfo {
        kind: Kind::NAT44Rule,
        name: "NAT44Rule",
        api_version: NET_API_VERSION,
        short_names: &["nat", "nat44"],
        daemon: None,
    },
    KindInfo {
        kind: Kind::EventRule,
        name: "EventRule",
        api_version: NET_API_VERSION,
        short_names: &["er", "rule", "eventrules"],
        daemon: None,
    },
    KindInfo {
        kind: Kind::DerivedEvent,
        name: "DerivedEvent",
        api_version: NET_API_VERSION,
        short_names: &["de", "derived"],
        daemon: None,
    },
    KindInfo {
        kind: Kind::DNSResolver,
        name: "DNSResolver",
        api_version: NET_API_VERSION,
        short_names: &["dns", "resolver"],
        daemon: Some("routerd-dns-resolver"),
    },
    KindInfo {
        kind: Kind::TrafficFlowLog,
        name: "TrafficFlowLog",
        api_version: NET_API_VERSION,
        short_names: &["flowlog", "flows"],
        daemon: None,
    },
    KindInfo {
        kind: Kind::FirewallEventLog,
        name: "FirewallEventLog",
        api_version: FIREWALL_API_VERSION,
        short_names: &["fwlog", "firewalllog"],
        daemon: None,
    },
    KindInfo {
        kind: Kind::LogRetention,
        name: "LogRetention",
        api_version: SYSTEM_API_VERSION,
        short_names: &["retention"],
        daemon: None,
    },
    KindInfo {
        kind: Kind::FirewallZone,
        name: "FirewallZone",
        api_version: FIREWALL_API_VERSION,
        short_names: &["zone", "fwzone"],
        daemon: None,
    },
    KindInfo {
        kind: Kind::FirewallPolicy,
        name: "FirewallPolicy",
        api_version: FIREWALL_API_VERSION,
        short_names: &["fwpolicy"],
        daemon: None,
    },
    KindInfo {
        kind: Kind::FirewallRule,
        name: "FirewallRule",
        api_version: FIREWALL_API_VERSION,
        short_names: &["fwrule"],
        daemon: None,
    },
    KindInfo {
        kind: Kind::PortForward,
        name: "PortForward",
        api_version: FIREWALL_API_VERSION,
        short_names: &["portforward", "pf"],
        daemon: None,
    },
    KindInfo {
        kind: Kind::DHCPv4Server,
        name: "DHCPv4Server",
        api_version: NET_API_VERSION,
        short_names: &["dhcpserver", "dhcp4s"],
        daemon: Some("routerd-dhcpv4-server"),
    },
    KindInfo {
        kind: Kind::IPv6RouterAdvertisement,
        name: "IPv6RouterAdvertisement",
        api_version: NET_API_VERSION,
        short_names: &["ra", "radv"],
        daemon: Some("routerd-ra"),
    },
];

impl Kind {
    pub fn info(self) -> &'static KindInfo {
        // KINDS lists every variant in declaration order.
        &KINDS[self as usize]
    }
    pub fn as_str(self) -> &'static str {
        self.info().name
    }
    pub fn api_version(self) -> &'static str {
        self.info().api_version
    }
    /// Exact spelling, as in a manifest's `kind` field.
    pub fn from_exact(name: &str) -> Option<Kind> {
        KINDS.iter().find(|k| k.name == name).map(|k| k.kind)
    }
    /// Case-insensitive name, plural `s`, or a short name: what people type.
    pub fn lookup(name: &str) -> Option<Kind> {
        let lower = name.to_ascii_lowercase();
        KINDS
            .iter()
            .find(|k| {
                k.name.to_ascii_lowercase() == lower
                    || format!("{}s", k.name.to_ascii_lowercase()) == lower
                    || k.short_names.contains(&lower.as_str())
            })
            .map(|k| k.kind)
    }
    pub fn all() -> impl Iterator<Item = Kind> {
        KINDS.iter().map(|k| k.kind)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_in_declaration_order_and_lookup_is_forgiving() {
        for (i, k) in KINDS.iter().enumerate() {
            assert_eq!(k.kind as usize, i);
            assert_eq!(Kind::from_exact(k.name), Some(k.kind));
        }
        assert_eq!(
            Kind::lookup("ipv4staticaddress"),
            Some(Kind::IPv4StaticAddress)
        );
        assert_eq!(Kind::lookup("ROUTE"), Some(Kind::IPv4StaticRoute));
        assert_eq!(Kind::lookup("interfaces"), Some(Kind::Interface));
        assert_eq!(Kind::lookup("dhcpv4clients"), Some(Kind::DHCPv4Client));
        assert_eq!(Kind::lookup("nope"), None);
        let mut seen = std::collections::HashSet::new();
        for k in KINDS {
            for s in k.short_names {
                assert!(seen.insert(*s), "short name {s} used twice");
            }
        }
    }
}
