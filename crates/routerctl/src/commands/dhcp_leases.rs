//! `routerctl get leases [SERVER]`: routerd's `GET /dhcp-leases` as a table (server, address, MAC, host
//! name, state, expiry), optionally of one `DHCPv4Server`.

use super::Ctx;
use crate::client::Socket;
use crate::output::{self, OutputFormat};
use crate::query::Query;
use crate::relative_time::absolute_millis;
use crate::table::{Table, ABSENT};
use anyhow::Result;
use routerd_api::dhcp_lease::DHCPLeaseList;

pub fn path(server: Option<&str>) -> String {
    let mut q = Query::new();
    q.push_opt("server", server);
    q.apply_to("/dhcp-leases")
}

pub async fn show(ctx: &Ctx, server: Option<&str>) -> Result<()> {
    let value = ctx.client.get(Socket::Status, &path(server)).await?;
    if ctx.output != OutputFormat::Table {
        return output::print_value(ctx.output, &value);
    }
    output::print(&render(&output::decode(value, "DHCP lease list")?))
}

pub fn render(list: &DHCPLeaseList) -> String {
    if list.items.is_empty() {
        return "no DHCP leases\n".into();
    }
    let mut t = Table::new(["server", "address", "mac", "hostname", "state", "expires"]);
    for l in &list.items {
        t.row([
            l.server.clone(),
            l.address.clone(),
            l.mac.clone(),
            l.hostname.clone().unwrap_or_else(|| ABSENT.into()),
            l.state.clone(),
            l.expires_at
                .map(absolute_millis)
                .unwrap_or_else(|| ABSENT.into()),
        ]);
    }
    t.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use routerd_api::dhcp_lease::DHCPLease;

    #[test]
    fn path_and_table() {
        assert_eq!(path(None), "/dhcp-leases");
        assert_eq!(path(Some("lan")), "/dhcp-leases?server=lan");
        let list = DHCPLeaseList {
            items: vec![DHCPLease {
                server: "lan".into(),
                mac: "02:00:00:00:00:0a".into(),
                address: "192.168.1.100".into(),
                hostname: Some("printer".into()),
                client_id: None,
                expires_at: None,
                state: "bound".into(),
            }],
        };
        let text = render(&list);
        assert!(
            text.contains("192.168.1.100") && text.contains("printer") && text.contains("bound"),
            "{text}"
        );
        assert_eq!(render(&DHCPLeaseList { items: vec![] }), "no DHCP leases\n");
    }
}
