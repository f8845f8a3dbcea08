//! `routerctl rollback --to N`: routerd re-applies generation N's snapshot as a replace and records it as
//! a new generation, so a rollback can itself be rolled back.

use super::{apply, Ctx};
use crate::cli::RollbackArgs;
use crate::client::Socket;
use anyhow::Result;
use routerd_api::control::RollbackRequest;
use routerd_api::CONTROL_API_VERSION;

pub async fn run(ctx: &Ctx, args: RollbackArgs) -> Result<()> {
    let request = RollbackRequest {
        api_version: Some(CONTROL_API_VERSION.to_string()),
        kind: Some("RollbackRequest".to_string()),
        generation: args.to,
        dry_run: args.dry_run,
    };
    let value = ctx.client.post(Socket::Main, "/rollback", &request).await?;
    apply::print_result(ctx, value, false)
}
