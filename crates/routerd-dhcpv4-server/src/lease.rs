//! One lease as the server keeps, persists and reports it.

use routerd_api::Timestamp;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// Where a lease stands (`daemon-api.md`: `offered|bound|declined|released|expired`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeaseState {
    /// Offered, not yet requested; held for the client until `expires_at` (a short hold).
    Offered,
    /// Acknowledged: the client holds the address until `expires_at`.
    Bound,
    /// A client declined it (someone else uses it): quarantined until `expires_at`.
    Declined,
    /// Released by its client: free, remembered for the client's return.
    Released,
    /// Ran out: free, remembered for the client's return.
    Expired,
}

impl LeaseState {
    pub fn as_str(self) -> &'static str {
        match self {
            LeaseState::Offered => "offered",
            LeaseState::Bound => "bound",
            LeaseState::Declined => "declined",
            LeaseState::Released => "released",
            LeaseState::Expired => "expired",
        }
    }
}

/// One address's record. The client is identified by `client_key` (RFC 4361/6842: the client
/// identifier when sent, else the hardware address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    pub address: Ipv4Addr,
    /// `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    /// Option 61 in hex, when the client sent one.
    #[serde(rename = "clientID", default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    pub state: LeaseState,
    pub expires_at: Timestamp,
    /// When the state last changed: expired and released leases are reused oldest first.
    pub updated_at: Timestamp,
}

impl Lease {
    /// `id:<hex>` for a client identifier, `hw:<mac>` otherwise: the key the server finds a client by.
    pub fn client_key(&self) -> String {
        client_key(self.client_id.as_deref(), &self.mac)
    }

    /// Whether the address is taken at `now` (bound or offered and not run out, declined and still in
    /// quarantine).
    pub fn holds(&self, now: Timestamp) -> bool {
        matches!(
            self.state,
            LeaseState::Bound | LeaseState::Offered | LeaseState::Declined
        ) && self.expires_at > now
    }
}

/// The client key of a client id (hex) or MAC text.
pub fn client_key(client_id: Option<&str>, mac: &str) -> String {
    match client_id {
        Some(id) => format!("id:{id}"),
        None => format!("hw:{mac}"),
    }
}
