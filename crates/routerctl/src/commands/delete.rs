//! `routerctl delete KIND/NAME...`: kinds are normalised to their exact spelling before sending, so
//! aliases work and routerd only ever sees `Kind/name`.

use super::{apply, Ctx};
use crate::cli::DeleteArgs;
use crate::client::Socket;
use crate::failure::UsageError;
use anyhow::Result;
use routerd_api::control::DeleteRequest;
use routerd_api::CONTROL_API_VERSION;

pub async fn run(ctx: &Ctx, args: DeleteArgs) -> Result<()> {
    let ids = crate::target::parse_targets(&args.targets).map_err(UsageError)?;
    let request = DeleteRequest {
        api_version: Some(CONTROL_API_VERSION.to_string()),
        kind: Some("DeleteRequest".to_string()),
        targets: ids.iter().map(|id| id.short()).collect(),
        dry_run: args.dry_run,
        if_generation: args.if_generation,
    };
    let value = ctx.client.post(Socket::Main, "/delete", &request).await?;
    apply::print_result(ctx, value, false)
}
