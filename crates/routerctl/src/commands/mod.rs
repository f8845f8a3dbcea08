//! One module per command. Each takes the shared [`Ctx`] and its own arguments, talks to routerd through
//! the client and prints; rendering is kept in pure functions so it can be tested without a server.

mod apply;
mod completion;
mod connections;
mod controllers;
mod daemon;
mod delete;
mod describe;
mod dhcp_leases;
mod dns_queries;
mod events;
mod export;
mod firewall;
mod flow_logs;
mod generations;
mod get;
mod resources;
mod rollback;
mod status;
mod validate;

use crate::cli::{Cli, Command};
use crate::client::{Client, Sockets};
use crate::output::OutputFormat;
use anyhow::Result;
use routerd_api::Timestamp;

/// What every command needs: the client, the output format, and one "now" so that every relative time
/// in one screen is computed against the same instant.
pub struct Ctx {
    pub client: Client,
    pub output: OutputFormat,
    pub now: Timestamp,
}

/// Runs the parsed command line to completion.
pub async fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        Command::Completion(args) => return completion::run(args),
        Command::Manpage => return completion::manpage(),
        _ => {}
    }
    let global = cli.global;
    let global_runtime_dir = global.runtime_dir.clone();
    let sockets = Sockets::resolve(&global.runtime_dir, global.socket, global.status_socket);
    let ctx = Ctx {
        client: Client::new(sockets, global.timeout),
        output: global.output,
        now: Timestamp::now(),
    };
    match cli.command {
        Command::Get(args) => get::run(&ctx, *args).await,
        Command::Describe(args) => describe::run(&ctx, args).await,
        Command::Apply(args) => apply::run(&ctx, args).await,
        Command::Delete(args) => delete::run(&ctx, args).await,
        Command::Validate(args) => validate::run(&ctx, args).await,
        Command::Rollback(args) => rollback::run(&ctx, args).await,
        Command::Events(args) => events::run(&ctx, args).await,
        Command::Export => export::run(&ctx).await,
        Command::Daemon(args) => daemon::run(&ctx, &global_runtime_dir, args).await,
        Command::Completion(args) => completion::run(&args),
        Command::Manpage => completion::manpage(),
    }
}
