//! routerd's own nftables table, `inet routerd`, behind a trait. routerd renders the whole table and
//! replaces it in one `nft -f` transaction (create-if-missing, delete, recreate), so the kernel never
//! sees half of it and routerd never touches another table. Today the table holds the conntrack
//! keep-alive chain the flow log needs; the firewall and NAT renderers add their chains to the same
//! [`RouterdTable`].

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// Family and name of routerd's table.
pub const ROUTERD_TABLE: &str = "inet routerd";

/// A base chain's hook: `type filter hook <hook> priority <priority>; policy <policy>;`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHook {
    pub kind: &'static str,
    pub hook: &'static str,
    pub priority: String,
    pub policy: &'static str,
}

/// One chain of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NftChain {
    pub name: String,
    pub hook: Option<ChainHook>,
    /// Rule statements in nft syntax, one per rule.
    pub rules: Vec<String>,
}

/// The whole `inet routerd` table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouterdTable {
    pub chains: Vec<NftChain>,
}

impl RouterdTable {
    /// The chain that keeps conntrack tracking in the namespace: the kernel registers its conntrack
    /// hooks only while some rule uses `ct`, and without them no flow is tracked. Accepting
    /// established/related traffic first is also the cheapest first rule of any forward chain.
    pub fn conntrack_keepalive() -> NftChain {
        NftChain {
            name: "conntrack".into(),
            hook: Some(ChainHook {
                kind: "filter",
                hook: "forward",
                priority: "filter".into(),
                policy: "accept",
            }),
            rules: vec!["ct state established,related accept".into()],
        }
    }

    /// Lines of [`RouterdTable::render`] before the first chain (the create/delete/reopen of the table).
    const HEADER_LINES: usize = 3;
    /// Column (1-based) where a rule's text starts in [`RouterdTable::render`]'s output.
    pub const RULE_COLUMN: usize = 9;

    /// The `(chain index, rule index)` of the rule on 1-based `line` of [`RouterdTable::render`]'s
    /// output: how an nft error (`/dev/stdin:LINE:COL-COL: Error: ...`) is traced back to the rule,
    /// and from there to the resource that produced it.
    pub fn locate(&self, line: usize) -> Option<(usize, usize)> {
        let mut next = Self::HEADER_LINES + 1;
        for (c, chain) in self.chains.iter().enumerate() {
            next += 1 + usize::from(chain.hook.is_some());
            if line >= next && line < next + chain.rules.len() {
                return Some((c, line - next));
            }
            next += chain.rules.len() + 1;
        }
        None
    }

    /// Number of rules over all chains.
    pub fn rule_count(&self) -> usize {
        self.chains.iter().map(|c| c.rules.len()).sum()
    }

    /// The `nft -f` script replacing the table atomically.
    pub fn render(&self) -> String {
        let mut out = format!(
            "table {ROUTERD_TABLE} {{}}\ndelete table {ROUTERD_TABLE}\ntable {ROUTERD_TABLE} {{\n"
        );
        for chain in &self.chains {
            out.push_str(&format!("    chain {} {{\n", chain.name));
            if let Some(hook) = &chain.hook {
                out.push_str(&format!(
                    "        type {} hook {} priority {}; policy {};\n",
                    hook.kind, hook.hook, hook.priority, hook.policy
                ));
            }
            for rule in &chain.rules {
                out.push_str(&format!("        {rule}\n"));
            }
            out.push_str("    }\n");
        }
        out.push_str("}\n");
        out
    }
}

/// Why nft refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NftError {
    #[error("cannot run nft: {0}")]
    Spawn(String),
    #[error("nft refused the ruleset: {0}")]
    Refused(String),
}

/// routerd's table in the kernel.
pub trait Nftables: Send + Sync {
    /// Replaces `inet routerd` with `table` in one transaction.
    fn replace_table(&self, table: &RouterdTable) -> Result<(), NftError>;
    /// Removes `inet routerd` (nothing else), when it exists.
    fn delete_table(&self) -> Result<(), NftError>;
}

/// The `nft` command (`nft -f -`, the script on stdin).
#[derive(Debug, Default)]
pub struct NftCommand;

fn nft_binary() -> &'static str {
    ["/usr/sbin/nft", "/sbin/nft"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("nft")
}

impl NftCommand {
    fn run(script: &str) -> Result<(), NftError> {
        let mut child = Command::new(nft_binary())
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| NftError::Spawn(e.to_string()))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(script.as_bytes())
                .map_err(|e| NftError::Spawn(format!("writing the ruleset: {e}")))?;
        }
        let output = child
            .wait_with_output()
            .map_err(|e| NftError::Spawn(e.to_string()))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(NftError::Refused(
                String::from_utf8_lossy(&output.stderr).trim().to_string(),
            ))
        }
    }
}

impl Nftables for NftCommand {
    fn replace_table(&self, table: &RouterdTable) -> Result<(), NftError> {
        Self::run(&table.render())
    }

    fn delete_table(&self) -> Result<(), NftError> {
        Self::run(&format!(
            "table {ROUTERD_TABLE} {{}}\ndelete table {ROUTERD_TABLE}\n"
        ))
    }
}

/// Records what would have been applied; `None` after a delete.
#[derive(Debug, Default)]
pub struct FakeNftables {
    pub applied: Mutex<Option<RouterdTable>>,
}

impl Nftables for FakeNftables {
    fn replace_table(&self, table: &RouterdTable) -> Result<(), NftError> {
        if let Ok(mut applied) = self.applied.lock() {
            *applied = Some(table.clone());
        }
        Ok(())
    }

    fn delete_table(&self) -> Result<(), NftError> {
        if let Ok(mut applied) = self.applied.lock() {
            *applied = None;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_finds_the_rule_on_a_line_of_the_script() {
        let mut plain = RouterdTable::conntrack_keepalive();
        plain.hook = None;
        plain.name = "zone-wan-input".into();
        plain.rules = vec!["tcp dport 22 accept".into(), "drop".into()];
        let table = RouterdTable {
            chains: vec![RouterdTable::conntrack_keepalive(), plain],
        };
        let script = table.render();
        for (i, line) in script.lines().enumerate() {
            let found = table.locate(i + 1);
            let want = table.chains.iter().enumerate().find_map(|(c, ch)| {
                ch.rules
                    .iter()
                    .position(|r| line == format!("        {r}"))
                    .map(|r| (c, r))
            });
            assert_eq!(found, want, "line {} {line:?}", i + 1);
            if let Some((c, r)) = found {
                assert_eq!(
                    &line[RouterdTable::RULE_COLUMN - 1..],
                    table.chains[c].rules[r]
                );
            }
        }
        assert_eq!(table.locate(6), Some((0, 0)));
        assert_eq!(table.rule_count(), 3);
    }

    #[test]
    fn renders_an_atomic_replacement_of_our_table_only() {
        let table = RouterdTable {
            chains: vec![RouterdTable::conntrack_keepalive()],
        };
        assert_eq!(
            table.render(),
            "table inet routerd {}\ndelete table inet routerd\ntable inet routerd {\n    chain conntrack {\n        type filter hook forward priority filter; policy accept;\n        ct state established,related accept\n    }\n}\n"
        );
    }
}
