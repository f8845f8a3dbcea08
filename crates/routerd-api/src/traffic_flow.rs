//! Wire types of `GET /traffic-flows` and `GET /firewall-logs`: one row per flow recorded from conntrack
//! events, one row per packet logged through NFLOG. Shared by routerd (which fills them from its stores)
//! and routerctl (which prints them), so both agree on every field name.

use crate::time::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One flow, oriented from the side that opened it: `client` sent the first packet, `peer` answered.
/// A flow without `end` is still open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrafficFlow {
    pub id: u64,
    pub start: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<Timestamp>,
    /// `ipv4` or `ipv6`.
    pub family: String,
    /// `tcp`, `udp`, `icmp`, `icmpv6`, or the protocol number.
    pub protocol: String,
    pub client: String,
    pub client_port: u16,
    pub peer: String,
    pub peer_port: u16,
    /// The translated address from the reply tuple: what the peer saw instead of `client` (source NAT),
    /// or where the flow really went (destination NAT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_address: Option<String>,
    /// Client to peer.
    pub bytes_out: u64,
    /// Peer to client.
    pub bytes_in: u64,
    pub packets_out: u64,
    pub packets_in: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_millis: Option<f64>,
}

/// Body of kind `TrafficFlowList`: newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TrafficFlowList {
    pub items: Vec<TrafficFlow>,
    /// More rows matched than `limit`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// One packet a firewall rule logged (NFLOG).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FirewallLogEntry {
    pub id: u64,
    pub time: Timestamp,
    /// From a `routerd:<action>:<rule>` prefix; `log` for any other prefix.
    pub action: String,
    /// From a `routerd:<action>:<rule>` prefix; empty for any other prefix.
    pub rule: String,
    /// The log prefix as the rule set it.
    pub prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_interface: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_interface: Option<String>,
    /// `ipv4` or `ipv6`.
    pub family: String,
    pub protocol: String,
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_port: Option<u16>,
    pub destination: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_port: Option<u16>,
    /// Length of the packet as its IP header says.
    pub length: u32,
    /// Comma-separated TCP flags (`SYN,ACK`); TCP only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_flags: Option<String>,
}

/// Body of kind `FirewallLogList`: newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FirewallLogList {
    pub items: Vec<FirewallLogEntry>,
    /// More rows matched than `limit`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_flow_omits_end_and_truncated_false_is_omitted() {
        let flow = TrafficFlow {
            id: 1,
            start: Timestamp(0),
            end: None,
            family: "ipv4".into(),
            protocol: "tcp".into(),
            client: "192.0.2.2".into(),
            client_port: 40000,
            peer: "198.51.100.1".into(),
            peer_port: 80,
            nat_address: None,
            bytes_out: 0,
            bytes_in: 0,
            packets_out: 0,
            packets_in: 0,
            duration_millis: None,
        };
        let v = serde_json::to_value(TrafficFlowList {
            items: vec![flow],
            truncated: false,
        })
        .unwrap();
        assert!(v["items"][0].get("end").is_none());
        assert!(v.get("truncated").is_none());
    }
}
