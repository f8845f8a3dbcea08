//! `routerctl get generations`: the config ledger, to pick a generation for `rollback --to`.

use super::Ctx;
use crate::client::Socket;
use crate::output::{self, OutputFormat};
use crate::relative_time::relative;
use crate::table::Table;
use anyhow::Result;
use routerd_api::control::{GenerationInfo, GenerationList};
use routerd_api::Timestamp;

pub async fn show(ctx: &Ctx) -> Result<()> {
    let value = ctx.client.get(Socket::Status, "/generations").await?;
    if ctx.output != OutputFormat::Table {
        return output::print_value(ctx.output, &value);
    }
    let list: GenerationList = output::decode(value, "generation list")?;
    output::print(&render(&list.items, ctx.now))
}

/// The count columns are ADDED/UPDATED/DELETED rather than a second CREATED, which would be ambiguous
/// next to the creation time.
pub fn render(items: &[GenerationInfo], now: Timestamp) -> String {
    let mut t = Table::new([
        "generation",
        "created",
        "source",
        "resources",
        "added",
        "updated",
        "deleted",
    ]);
    for g in items {
        let source = match g.rollback_of {
            Some(of) => format!("{} (to {of})", g.source),
            None => g.source.clone(),
        };
        t.row([
            g.generation.to_string(),
            relative(g.created_at, now),
            source,
            g.resource_count.to_string(),
            g.created.to_string(),
            g.updated.to_string(),
            g.deleted.to_string(),
        ]);
    }
    t.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollbacks_name_the_generation_they_restored() {
        let now = Timestamp(1_795_459_212_000_000_000);
        let items = vec![
            GenerationInfo {
                generation: 8,
                created_at: Timestamp(now.0 - 120_000_000_000),
                source: "rollback".into(),
                resource_count: 5,
                created: 0,
                updated: 1,
                deleted: 2,
                rollback_of: Some(6),
            },
            GenerationInfo {
                generation: 7,
                created_at: Timestamp(now.0 - 7_200_000_000_000),
                source: "apply".into(),
                resource_count: 7,
                created: 2,
                updated: 0,
                deleted: 0,
                rollback_of: None,
            },
        ];
        assert_eq!(
            render(&items, now),
            "GENERATION  CREATED  SOURCE           RESOURCES  ADDED  UPDATED  DELETED\n\
             8           2m ago   rollback (to 6)  5          0      1        2\n\
             7           2h ago   apply            7          2      0        0\n"
        );
    }
}
