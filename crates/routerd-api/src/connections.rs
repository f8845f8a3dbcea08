//! `GET /connections` (`control-api.md` "Inspection endpoints"): the live conntrack table as the control
//! API shows it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Body of kind `ConnectionTable`. `count`, `byFamily` and `byProtocol` describe the whole table
/// whatever the filters; `matched` counts the entries the filters kept, of which `items` holds at most
/// `limit` (`truncated` when more matched).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionTable {
    /// Entries in the table (every entry the dump returned).
    pub count: u64,
    /// The table's limit (`nf_conntrack_max`).
    pub max: u64,
    /// Entries per family (`ipv4`, `ipv6`) over the whole table.
    pub by_family: BTreeMap<String, u64>,
    /// Entries per protocol name (`tcp`, `udp`, `icmp`, ... or the number) over the whole table.
    pub by_protocol: BTreeMap<String, u64>,
    /// Entries that matched the filters.
    pub matched: u64,
    /// More entries matched than `limit`: `items` holds the first `limit` of them.
    pub truncated: bool,
    pub items: Vec<Connection>,
}

/// One conntrack entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    /// `ipv4` or `ipv6`.
    pub family: String,
    /// Protocol name (`tcp`, `udp`, `icmp`, `icmpv6`, ...) or its number when it has no name.
    pub protocol: String,
    /// The protocol's state as `conntrack -L` prints it (TCP: `ESTABLISHED`, `TIME_WAIT`, ...); absent
    /// for protocols without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Seconds until the entry expires (absent when the kernel did not say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    pub mark: u32,
    pub zone: u16,
    /// Traffic was seen both ways long enough that the entry is not evicted early.
    pub assured: bool,
    /// The direction that opened the connection.
    pub original: ConnectionTuple,
    /// The reply direction (differs from the reversed original under NAT).
    pub reply: ConnectionTuple,
    /// The translated source address when source NAT applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_source: Option<IpAddr>,
    /// The translated destination address when destination NAT applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_destination: Option<IpAddr>,
}

/// One direction of a connection. Ports for port-based protocols, the ICMP fields for ICMP/ICMPv6,
/// counters only when accounting (`nf_conntrack_acct`) is on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionTuple {
    pub source: IpAddr,
    pub destination: IpAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_code: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_id: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packets: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}
