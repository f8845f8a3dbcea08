//! `GET /dhcp-leases`: the leases of every `DHCPv4Server`, as their daemons report them.

use crate::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The lease states a server reports (`daemon-api.md`).
pub const LEASE_STATES: [&str; 5] = ["offered", "bound", "declined", "released", "expired"];

/// One lease.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DHCPLease {
    /// The `DHCPv4Server` that holds it.
    #[serde(default)]
    pub server: String,
    /// `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    pub address: String,
    #[serde(default)]
    pub hostname: Option<String>,
    /// Option 61 in hex, when the client sent one.
    #[serde(rename = "clientID", default)]
    pub client_id: Option<String>,
    pub expires_at: Option<Timestamp>,
    /// `offered|bound|declined|released|expired`.
    pub state: String,
}

/// Body of kind `DHCPLeaseList`: by server, then address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DHCPLeaseList {
    pub items: Vec<DHCPLease>,
}
