//! `routerctl get firewall`: the applied `inet routerd` table, rule by rule, grouped by the resource each
//! rule was rendered from (`GET /firewall`), so "which resource put this rule here" is one look.

use super::Ctx;
use crate::client::Socket;
use crate::output::{self, OutputFormat};
use crate::relative_time::relative_opt;
use crate::table::Table;
use anyhow::Result;
use routerd_api::control::FirewallTable;
use routerd_api::Timestamp;

pub async fn show(ctx: &Ctx) -> Result<()> {
    let value = ctx.client.get(Socket::Status, "/firewall").await?;
    if ctx.output != OutputFormat::Table {
        return output::print_value(ctx.output, &value);
    }
    let table: FirewallTable = output::decode(value, "firewall table")?;
    output::print(&render(&table, ctx.now))
}

/// A header line, then one row per rule: the resource (once per group), the chain and the rule.
pub fn render(table: &FirewallTable, now: Timestamp) -> String {
    if !table.present {
        return format!(
            "table {} is absent: no firewall, NAT or log resource needs it\n",
            table.table
        );
    }
    let mut out = format!(
        "table {}: {} rules, applied {}\n",
        table.table,
        table.rules,
        relative_opt(table.applied_at, now)
    );
    let mut t = Table::new(["resource", "chain", "rule"]);
    for group in &table.resources {
        let resource = if group.kind == "base" {
            "base".to_string()
        } else {
            format!("{}/{}", group.kind, group.name)
        };
        for (i, rule) in group.rules.iter().enumerate() {
            t.row([
                if i == 0 {
                    resource.clone()
                } else {
                    String::new()
                },
                rule.chain.clone(),
                rule.rule.clone(),
            ]);
        }
    }
    out.push_str(&t.render());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use routerd_api::control::{FirewallRenderedRule, FirewallResourceRules};

    #[test]
    fn groups_rules_by_resource() {
        let table = FirewallTable {
            table: "inet routerd".into(),
            present: true,
            applied_at: None,
            rules: 2,
            resources: vec![FirewallResourceRules {
                kind: "NAT44Rule".into(),
                name: "masq".into(),
                rules: vec![
                    FirewallRenderedRule {
                        chain: "postrouting".into(),
                        rule: "oifname \"wan0\" masquerade".into(),
                    },
                    FirewallRenderedRule {
                        chain: "postrouting".into(),
                        rule: "oifname \"wan1\" masquerade".into(),
                    },
                ],
            }],
        };
        let text = render(&table, Timestamp::now());
        assert!(
            text.starts_with("table inet routerd: 2 rules, applied -\n"),
            "{text}"
        );
        assert!(text.contains("NAT44Rule/masq"), "{text}");
        assert_eq!(text.matches("NAT44Rule/masq").count(), 1, "{text}");
        assert!(text.contains("oifname \"wan1\" masquerade"), "{text}");
    }
}
