//! Typed specs of every kind in `resources.md`. Unknown fields are rejected (`deny_unknown_fields`), and
//! optional fields stay `Option` so the desired state keeps exactly what the operator wrote; defaults are
//! applied where the value is used and documented on each field.

mod address;
mod dhcp;
mod dhcp_server;
pub mod dns_validation;
mod events;
mod firewall;
mod health;
mod interface;
mod logging;
mod pppoe;
mod router_advertisement;
mod routing;
mod validate;

pub use address::*;
pub use dhcp::*;
pub use dhcp_server::*;
pub use events::*;
pub use firewall::*;
pub use health::*;
pub use interface::*;
pub use logging::*;
pub use pppoe::*;
pub use router_advertisement::*;
pub use routing::*;
pub use validate::{check_ifname, parse_ip_cidr, parse_ipv4_cidr, Checker, Reference, MAX_IFNAME};

use crate::kind::Kind;
use crate::resource::FieldError;
use serde::Serialize;

/// The spec of a resource, one variant per kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ResourceSpec {
    Interface(InterfaceSpec),
    IPv4StaticAddress(IPv4StaticAddressSpec),
    DHCPv4Client(DHCPv4ClientSpec),
    DHCPv6PrefixDelegation(DHCPv6PrefixDelegationSpec),
    IPv6DelegatedAddress(IPv6DelegatedAddressSpec),
    PPPoESession(PPPoESessionSpec),
    HealthCheck(HealthCheckSpec),
    IPv4StaticRoute(IPv4StaticRouteSpec),
    EgressRoutePolicy(EgressRoutePolicySpec),
    NAT44Rule(NAT44RuleSpec),
    EventRule(EventRuleSpec),
    DerivedEvent(DerivedEventSpec),
    DNSResolver(DNSResolverSpec),
    TrafficFlowLog(TrafficFlowLogSpec),
    FirewallEventLog(FirewallEventLogSpec),
    LogRetention(LogRetentionSpec),
    FirewallZone(FirewallZoneSpec),
    FirewallPolicy(FirewallPolicySpec),
    FirewallRule(FirewallRuleSpec),
    PortForward(PortForwardSpec),
    DHCPv4Server(DHCPv4ServerSpec),
    IPv6RouterAdvertisement(IPv6RouterAdvertisementSpec),
}

macro_rules! per_kind {
    ($m:ident) => {
        $m! {
            Interface => InterfaceSpec,
            IPv4StaticAddress => IPv4StaticAddressSpec,
            DHCPv4Client => DHCPv4ClientSpec,
            DHCPv6PrefixDelegation => DHCPv6PrefixDelegationSpec,
            IPv6DelegatedAddress => IPv6DelegatedAddressSpec,
            PPPoESession => PPPoESessionSpec,
            HealthCheck => HealthCheckSpec,
            IPv4StaticRoute => IPv4StaticRouteSpec,
            EgressRoutePolicy => EgressRoutePolicySpec,
            NAT44Rule => NAT44RuleSpec,
            EventRule => EventRuleSpec,
            DerivedEvent => DerivedEventSpec,
            DNSResolver => DNSResolverSpec,
            TrafficFlowLog => TrafficFlowLogSpec,
            FirewallEventLog => FirewallEventLogSpec,
            LogRetention => LogRetentionSpec,
            FirewallZone => FirewallZoneSpec,
            FirewallPolicy => FirewallPolicySpec,
            FirewallRule => FirewallRuleSpec,
            PortForward => PortForwardSpec,
            DHCPv4Server => DHCPv4ServerSpec,
            IPv6RouterAdvertisement => IPv6RouterAdvertisementSpec
        }
    };
}

macro_rules! impl_resource_spec {
    ($($k:ident => $t:ident),*) => {
        impl ResourceSpec {
            pub fn kind(&self) -> Kind {
                match self { $(ResourceSpec::$k(_) => Kind::$k),* }
            }

            /// Decodes `spec` for `kind`; errors carry the full field path (`spec.foo.bar`).
            pub fn from_value(kind: Kind, value: serde_json::Value) -> Result<ResourceSpec, FieldError> {
                fn decode<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, FieldError> {
                    serde_path_to_error::deserialize::<_, T>(v).map_err(|e| {
                        let path = e.path().to_string();
                        let field = if path == "." || path.is_empty() { "spec".to_string() } else { format!("spec.{path}") };
                        FieldError::new(field, e.into_inner().to_string())
                    })
                }
                Ok(match kind { $(Kind::$k => ResourceSpec::$k(decode::<$t>(value)?)),* })
            }

            /// Semantic checks that serde cannot express (CIDR syntax, ranges, patterns).
            pub fn validate(&self, c: &mut Checker) {
                match self { $(ResourceSpec::$k(s) => s.validate(c)),* }
            }

            /// Names of other resources this spec refers to.
            pub fn references(&self) -> Vec<Reference> {
                match self { $(ResourceSpec::$k(s) => s.references()),* }
            }

            /// JSON Schema of the spec of `kind`.
            pub fn schema(kind: Kind) -> schemars::Schema {
                match kind { $(Kind::$k => schemars::schema_for!($t)),* }
            }
        }
    };
}
per_kind!(impl_resource_spec);
