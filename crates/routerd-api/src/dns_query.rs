//! Wire types of `GET /dns-queries`: one row per query `routerd-dns-resolver` answered, and the aggregate
//! view (`aggregate=name|client`). Shared by the daemon (which writes the rows), routerd (which reads them
//! from the daemons' `dns-queries.db`) and routerctl (which prints them), so all three agree on every name.

use crate::time::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One answered query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DnsQuery {
    pub id: u64,
    pub time: Timestamp,
    /// The asking client's address.
    pub client: String,
    /// The question's name, lower case, without the trailing dot (`.` for the root).
    pub name: String,
    /// The question's type mnemonic (`A`, `AAAA`, `PTR`, ...) or `TYPE<n>` for one without a name.
    #[serde(rename = "type")]
    pub type_: String,
    /// `NOERROR`, `NXDOMAIN`, `SERVFAIL`, `FORMERR`, `REFUSED`, ... or `RCODE<n>`.
    pub rcode: String,
    /// Answer records in presentation form (`example.com. 300 IN A 192.0.2.1`).
    pub answers: Vec<String>,
    /// The upstream that answered (`192.0.2.53:53`, `tls://...`); absent for local and cached answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    pub cache_hit: bool,
    pub duration_micros: u64,
}

/// Body of kind `DNSQueryList`: newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DnsQueryList {
    pub items: Vec<DnsQuery>,
    /// More rows matched than `limit`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// One group of the aggregate view: a name (or client) and how many matching rows it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DnsQueryCount {
    pub key: String,
    pub count: u64,
}

/// Body of kind `DNSQueryAggregate` (`GET /dns-queries?aggregate=name|client`): the names (or clients)
/// with the most rows matching the filters, most first, at most `limit` of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DnsQueryAggregate {
    /// `name` or `client`: what `key` is.
    pub by: String,
    pub items: Vec<DnsQueryCount>,
    /// More groups matched than `limit`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}
