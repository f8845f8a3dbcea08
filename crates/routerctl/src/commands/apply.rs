//! `routerctl apply -f ...`, and the change report shared with `delete` and `rollback` (all three answer
//! with an `ApplyResult`).

use super::Ctx;
use crate::cli::{ApplyArgs, ManifestArgs};
use crate::client::Socket;
use crate::manifest_files;
use crate::output::{self, OutputFormat};
use anyhow::Result;
use routerd_api::control::{ApplyMode, ApplyRequest, ApplyResult, ChangeAction};
use routerd_api::CONTROL_API_VERSION;
use serde_json::Value;

pub async fn run(ctx: &Ctx, args: ApplyArgs) -> Result<()> {
    let mut request = request(&args.manifests)?;
    request.dry_run = args.dry_run;
    request.if_generation = args.if_generation;
    let value = ctx.client.post(Socket::Main, "/apply", &request).await?;
    print_result(ctx, value, args.verbose)
}

/// The `ApplyRequest` for `-f` inputs, shared with `validate`.
pub fn request(args: &ManifestArgs) -> Result<ApplyRequest> {
    let sources = manifest_files::collect(&args.files, &mut std::io::stdin().lock())?;
    Ok(ApplyRequest {
        api_version: Some(CONTROL_API_VERSION.to_string()),
        kind: Some("ApplyRequest".to_string()),
        resources: None,
        manifest: Some(manifest_files::join(&sources)),
        mode: if args.replace {
            ApplyMode::Replace
        } else {
            ApplyMode::Merge
        },
        dry_run: false,
        if_generation: None,
    })
}

/// Prints an `ApplyResult`: the server's JSON/YAML with `-o`, otherwise one line per change and a
/// summary, warnings on stderr.
pub fn print_result(ctx: &Ctx, value: Value, verbose: bool) -> Result<()> {
    if ctx.output != OutputFormat::Table {
        return output::print_value(ctx.output, &value);
    }
    let result: ApplyResult = output::decode(value, "apply result")?;
    for warning in &result.warnings {
        output::warn(warning);
    }
    output::print(&render_result(&result, verbose))
}

pub fn render_result(result: &ApplyResult, verbose: bool) -> String {
    let suffix = if result.dry_run { " (dry run)" } else { "" };
    let mut out = String::new();
    let mut changed = 0usize;
    for change in &result.changes {
        if change.action != ChangeAction::Unchanged {
            changed += 1;
        } else if !verbose {
            continue;
        }
        out.push_str(&format!(
            "{} {}{suffix}\n",
            short_id(&change.id),
            action(change.action)
        ));
    }
    let summary = if result.dry_run {
        match changed {
            0 => format!(
                "dry run: no changes (generation {})",
                result.previous_generation
            ),
            1 => format!(
                "dry run: 1 change, nothing applied (generation {})",
                result.previous_generation
            ),
            n => format!(
                "dry run: {n} changes, nothing applied (generation {})",
                result.previous_generation
            ),
        }
    } else if result.generation != result.previous_generation {
        format!(
            "generation {} (was {})",
            result.generation, result.previous_generation
        )
    } else {
        format!("no changes (generation {})", result.generation)
    };
    out.push_str(&summary);
    out.push('\n');
    out
}

/// `Kind/name` from `<apiVersion>/<Kind>/<name>`: the group is implied by the kind.
fn short_id(id: &str) -> &str {
    let mut slashes = id.rmatch_indices('/');
    match (slashes.next(), slashes.next()) {
        (Some(_), Some((i, _))) => &id[i + 1..],
        _ => id,
    }
}

fn action(a: ChangeAction) -> &'static str {
    match a {
        ChangeAction::Created => "created",
        ChangeAction::Updated => "updated",
        ChangeAction::Unchanged => "unchanged",
        ChangeAction::Deleted => "deleted",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use routerd_api::control::Change;

    fn result(dry_run: bool, generation: u64) -> ApplyResult {
        ApplyResult {
            generation,
            previous_generation: 3,
            dry_run,
            changes: vec![
                Change {
                    id: "net.routerd.net/v1alpha1/IPv4StaticAddress/lan".into(),
                    action: ChangeAction::Created,
                },
                Change {
                    id: "net.routerd.net/v1alpha1/Interface/lan".into(),
                    action: ChangeAction::Unchanged,
                },
                Change {
                    id: "system.routerd.net/v1alpha1/LogRetention/default".into(),
                    action: ChangeAction::Deleted,
                },
            ],
            warnings: vec![],
        }
    }

    #[test]
    fn lists_changes_and_the_new_generation() {
        assert_eq!(
            render_result(&result(false, 4), false),
            "IPv4StaticAddress/lan created\nLogRetention/default deleted\ngeneration 4 (was 3)\n"
        );
        assert!(render_result(&result(false, 4), true).contains("Interface/lan unchanged\n"));
    }

    #[test]
    fn dry_runs_and_no_ops_say_so() {
        assert_eq!(
            render_result(&result(true, 3), false),
            "IPv4StaticAddress/lan created (dry run)\nLogRetention/default deleted (dry run)\ndry run: 2 changes, nothing applied (generation 3)\n"
        );
        let mut none = result(false, 3);
        none.changes.retain(|c| c.action == ChangeAction::Unchanged);
        assert_eq!(render_result(&none, false), "no changes (generation 3)\n");
    }

    #[test]
    fn short_ids_drop_the_api_version() {
        assert_eq!(
            short_id("net.routerd.net/v1alpha1/DHCPv4Client/wan"),
            "DHCPv4Client/wan"
        );
        assert_eq!(short_id("DHCPv4Client/wan"), "DHCPv4Client/wan");
        assert_eq!(short_id("odd"), "odd");
    }
}
