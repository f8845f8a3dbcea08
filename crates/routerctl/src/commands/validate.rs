//! `routerctl validate -f ...`: the same checks as apply, on the status socket, so anyone can check a
//! manifest before handing it to someone allowed to apply it.

use super::{apply, Ctx};
use crate::cli::ValidateArgs;
use crate::client::Socket;
use crate::failure::{render_field_error, AlreadyReported};
use crate::output::{self, OutputFormat};
use anyhow::Result;
use routerd_api::control::ValidateResult;

pub async fn run(ctx: &Ctx, args: ValidateArgs) -> Result<()> {
    let request = apply::request(&args.manifests)?;
    let value = ctx
        .client
        .post(Socket::Status, "/validate", &request)
        .await?;
    let valid = value.get("valid").and_then(serde_json::Value::as_bool);
    if ctx.output != OutputFormat::Table {
        output::print_value(ctx.output, &value)?;
        return if valid == Some(true) {
            Ok(())
        } else {
            Err(AlreadyReported.into())
        };
    }
    let result: ValidateResult = output::decode(value, "validation result")?;
    for warning in &result.warnings {
        output::warn(warning);
    }
    output::print(&render(&result))?;
    if result.valid {
        Ok(())
    } else {
        Err(AlreadyReported.into())
    }
}

pub fn render(result: &ValidateResult) -> String {
    if result.valid {
        return "valid\n".to_string();
    }
    let mut out = match result.errors.len() {
        1 => "invalid: 1 error\n".to_string(),
        n => format!("invalid: {n} errors\n"),
    };
    for e in &result.errors {
        out.push_str("  ");
        out.push_str(&render_field_error(e));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use routerd_api::FieldError;

    #[test]
    fn lists_each_error_with_its_resource_and_field() {
        let ok = ValidateResult {
            valid: true,
            errors: vec![],
            warnings: vec![],
        };
        assert_eq!(render(&ok), "valid\n");
        let bad = ValidateResult {
            valid: false,
            errors: vec![
                FieldError::new(
                    "spec.interface",
                    "no Interface named \"lan2\" (known: lan, wan)",
                )
                .in_resource("IPv4StaticAddress/lan"),
                FieldError::new("kind", "unknown kind \"Foo\"").in_resource("resources[2]"),
            ],
            warnings: vec![],
        };
        assert_eq!(
            render(&bad),
            "invalid: 2 errors\n  IPv4StaticAddress/lan: spec.interface: no Interface named \"lan2\" (known: lan, wan)\n  resources[2]: kind: unknown kind \"Foo\"\n"
        );
    }
}
