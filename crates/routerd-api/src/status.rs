//! Resource status as routerd writes it: the common part (phase, conditions, generation, since) plus the
//! kind-specific fields, flattened into the same object.

use crate::condition::Condition;
use crate::phase::Phase;
use crate::time::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The status object of any resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceStatus {
    pub phase: Phase,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The config generation this status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<u64>,
    /// When the phase last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    /// Kind-specific fields (see the `*Status` types), flattened into the object.
    #[serde(flatten)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl ResourceStatus {
    /// The condition that explains a phase: the first one that is not `True`, else the first (controllers list the one that decides the phase first).
    pub fn reason(&self) -> (String, String) {
        self.conditions
            .iter()
            .find(|c| c.status != crate::ConditionStatus::True)
            .or_else(|| self.conditions.first())
            .map(|c| (c.reason.clone(), c.message.clone()))
            .unwrap_or_default()
    }
}

/// Kind-specific status of `Interface`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InterfaceStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ifindex: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oper_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(default)]
    pub addresses: Vec<String>,
}

/// Kind-specific status of `IPv4StaticAddress`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IPv4StaticAddressStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ifname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// False when the address was already on the link before routerd: then deleting the resource leaves it.
    #[serde(default)]
    pub owned: bool,
}

/// Kind-specific status of `IPv4StaticRoute`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IPv4StaticRouteStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ifname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<u32>,
    #[serde(default)]
    pub owned: bool,
}

/// The DHCPv4 lease as shown in `DHCPv4Client` status.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DHCPv4Lease {
    pub address: Option<String>,
    pub prefix_length: Option<u8>,
    pub gateway: Option<String>,
    #[serde(rename = "serverID")]
    pub server_id: Option<String>,
    #[serde(default)]
    pub dns_servers: Vec<String>,
    #[serde(default)]
    pub ntp_servers: Vec<String>,
    pub domain: Option<String>,
    pub mtu: Option<u16>,
    pub lease_time_seconds: Option<u32>,
    pub acquired_at: Option<Timestamp>,
    pub renew_at: Option<Timestamp>,
    pub rebind_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    /// RFC 2131 state: Init, Selecting, Requesting, Bound, Renewing, Rebinding, InitReboot, Rebooting.
    pub state: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct DHCPv4ClientStatus {
    pub lease: Option<DHCPv4Lease>,
}

/// The delegated prefix as shown in `DHCPv6PrefixDelegation` status.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DHCPv6Lease {
    pub prefix: Option<String>,
    pub preferred_lifetime_seconds: Option<u32>,
    pub valid_lifetime_seconds: Option<u32>,
    pub t1_seconds: Option<u32>,
    pub t2_seconds: Option<u32>,
    #[serde(rename = "serverDUID")]
    pub server_duid: Option<String>,
    pub acquired_at: Option<Timestamp>,
    pub renew_at: Option<Timestamp>,
    pub rebind_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    /// Soliciting, Requesting, Bound, Renewing, Rebinding.
    pub state: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreviousPrefix {
    pub prefix: String,
    pub valid_until: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DHCPv6PrefixDelegationStatus {
    pub lease: Option<DHCPv6Lease>,
    #[serde(default)]
    pub previous_prefixes: Vec<PreviousPrefix>,
    #[serde(default)]
    pub dns_servers: Vec<String>,
    #[serde(default)]
    pub domain_search: Vec<String>,
    #[serde(default)]
    pub sntp_servers: Vec<String>,
    pub aftr_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IPv6DelegatedAddressStatus {
    pub address: Option<String>,
    #[serde(default)]
    pub deprecated_addresses: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PPPoESessionInfo {
    #[serde(rename = "sessionID")]
    pub session_id: Option<u16>,
    pub ac_name: Option<String>,
    #[serde(rename = "acMAC")]
    pub ac_mac: Option<String>,
    pub ifname: Option<String>,
    pub local_address: Option<String>,
    pub peer_address: Option<String>,
    #[serde(default)]
    pub dns_servers: Vec<String>,
    pub interface_identifier: Option<String>,
    pub peer_interface_identifier: Option<String>,
    pub connected_at: Option<Timestamp>,
    pub bytes_in: Option<u64>,
    pub bytes_out: Option<u64>,
    pub last_termination_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct PPPoESessionStatus {
    pub session: Option<PPPoESessionInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProbeRecord {
    pub time: Timestamp,
    /// passed | failed | timeout
    pub result: String,
    pub latency_millis: Option<f64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckStatus {
    pub last_result: Option<String>,
    pub last_error: Option<String>,
    pub failure_kind: Option<String>,
    pub last_latency_millis: Option<f64>,
    pub consecutive_passed: Option<u32>,
    pub consecutive_failed: Option<u32>,
    pub last_checked_at: Option<Timestamp>,
    pub last_success_at: Option<Timestamp>,
    pub last_failure_at: Option<Timestamp>,
    #[serde(default)]
    pub history: Vec<ProbeRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CandidateState {
    pub name: String,
    pub ready: bool,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EgressRoutePolicyStatus {
    pub selected: Option<String>,
    #[serde(default)]
    pub candidates: Vec<CandidateState>,
    pub last_switch_at: Option<Timestamp>,
    pub switch_count: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventRuleStatus {
    pub fire_count: Option<u64>,
    pub last_fired_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DerivedEventStatus {
    pub asserted: Option<bool>,
    pub last_asserted_at: Option<Timestamp>,
    pub last_retracted_at: Option<Timestamp>,
}

/// Kind-specific status of `FirewallZone`, `FirewallPolicy`, `FirewallRule`, `PortForward` and
/// `NAT44Rule`: what of the resource is in the applied `inet routerd` table.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FirewallResourceStatus {
    /// Rules of the table rendered from this resource.
    pub rendered: u32,
    /// When the table holding them was last applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_at: Option<Timestamp>,
    /// NAT44Rule: the device its rule names (`oifname`), resolved from `outInterface`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

/// One prefix `routerd-ra` advertises, with the lifetimes of its last advertisement.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdvertisedPrefix {
    pub prefix: String,
    pub preferred_lifetime_seconds: u32,
    pub valid_lifetime_seconds: u32,
    /// Gone from the spec or replaced: advertised with preferred lifetime 0 until it expires.
    pub deprecated: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IPv6RouterAdvertisementStatus {
    #[serde(default)]
    pub advertised: Vec<AdvertisedPrefix>,
    pub last_sent_at: Option<Timestamp>,
    #[serde(default)]
    pub solicitations_answered: u64,
}

/// `DHCPv4Server.status`: the pool's use as the daemon reports it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DHCPv4ServerStatus {
    pub pool_size: Option<u64>,
    pub leases_active: Option<u64>,
    pub leases_free: Option<u64>,
    pub last_lease_at: Option<Timestamp>,
}
