//! `GET /dhcp-leases`: the leases of every `DHCPv4Server`, read from their daemons' `/v1/status`
//! (the daemon's journal is the source of truth; routerd keeps no copy). Filters `server`, `mac`,
//! `address`, `hostname`, `state`, all exact (MACs and host names case-insensitive).

use super::app::App;
use super::log_queries::parameter;
use super::query::Query;
use super::response::{ok, Body, Failure};
use crate::controllers::dhcpv4_server::read_leases;
use hyper::Response;
use routerd_api::dhcp_lease::{DHCPLease, DHCPLeaseList, LEASE_STATES};
use routerd_api::spec::parse_mac;
use std::net::Ipv4Addr;

/// The filters of one request.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LeaseFilter {
    pub server: Option<String>,
    pub mac: Option<String>,
    pub address: Option<String>,
    pub hostname: Option<String>,
    pub state: Option<String>,
}

impl LeaseFilter {
    pub fn parse(q: &Query) -> Result<LeaseFilter, Failure> {
        let mac = match q.get("mac") {
            Some(m) => Some(
                parse_mac(m)
                    .map(|b| routerd_api::spec::mac_text(&b))
                    .ok_or_else(|| {
                        Failure::bad_request(format!(
                            "mac: {m:?} is not a MAC address (aa:bb:cc:dd:ee:ff)"
                        ))
                    })?,
            ),
            None => None,
        };
        let address = match q.get("address") {
            Some(a) => Some(
                a.parse::<Ipv4Addr>()
                    .map_err(|_| {
                        Failure::bad_request(format!("address: {a:?} is not an IPv4 address"))
                    })?
                    .to_string(),
            ),
            None => None,
        };
        let state = match q.get("state") {
            Some(s) if LEASE_STATES.contains(&s) => Some(s.to_string()),
            Some(s) => {
                return Err(Failure::bad_request(format!(
                    "state: {s:?} is not one of {}",
                    LEASE_STATES.join(", ")
                )))
            }
            None => None,
        };
        Ok(LeaseFilter {
            server: q.get("server").map(str::to_string),
            mac,
            address,
            hostname: q.get("hostname").map(str::to_ascii_lowercase),
            state,
        })
    }

    pub fn matches(&self, l: &DHCPLease) -> bool {
        self.server.as_ref().is_none_or(|s| *s == l.server)
            && self
                .mac
                .as_ref()
                .is_none_or(|m| m.eq_ignore_ascii_case(&l.mac))
            && self.address.as_ref().is_none_or(|a| *a == l.address)
            && self.hostname.as_ref().is_none_or(|h| {
                l.hostname
                    .as_deref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(h))
            })
            && self.state.as_ref().is_none_or(|s| *s == l.state)
    }
}

pub async fn dhcp_leases(app: &App, query: &Query) -> Result<Response<Body>, Failure> {
    let filter = LeaseFilter::parse(query)?;
    let desired = app.config.current();
    let items = read_leases(&desired, &app.supervisor)
        .await
        .into_iter()
        .filter(|l| filter.matches(l))
        .collect();
    Ok(ok("DHCPLeaseList", &DHCPLeaseList { items }))
}

/// The query parameters for the OpenAPI document.
pub fn openapi_parameters() -> Vec<serde_json::Value> {
    let text = serde_json::json!({"type": "string"});
    vec![
        parameter("server", "only leases of this DHCPv4Server", text.clone()),
        parameter(
            "mac",
            "only this client hardware address",
            serde_json::json!({"type": "string", "pattern": "^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$"}),
        ),
        parameter(
            "address",
            "only this leased address",
            serde_json::json!({"type": "string", "format": "ipv4"}),
        ),
        parameter("hostname", "only this host name (any case)", text),
        parameter(
            "state",
            "only leases in this state",
            serde_json::json!({"type": "string", "enum": LEASE_STATES}),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(state: &str) -> DHCPLease {
        DHCPLease {
            server: "lan".into(),
            mac: "02:00:00:00:00:0a".into(),
            address: "192.168.1.100".into(),
            hostname: Some("printer".into()),
            client_id: None,
            expires_at: None,
            state: state.into(),
        }
    }

    #[test]
    fn filters_match_exactly_and_bad_ones_name_themselves() {
        let f = LeaseFilter::parse(&Query::parse(Some(
            "mac=02:00:00:00:00:0A&hostname=PRINTER&state=bound",
        )))
        .unwrap();
        assert!(f.matches(&lease("bound")));
        assert!(!f.matches(&lease("expired")));
        let f = LeaseFilter::parse(&Query::parse(Some("address=192.168.1.101"))).unwrap();
        assert!(!f.matches(&lease("bound")));
        for (q, name) in [
            ("mac=zz", "mac"),
            ("address=1.2.3", "address"),
            ("state=gone", "state"),
        ] {
            let e = LeaseFilter::parse(&Query::parse(Some(q))).unwrap_err();
            assert!(e.message.starts_with(name), "{q}: {}", e.message);
        }
    }
}
