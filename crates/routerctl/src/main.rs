//! `routerctl`, the command-line client of routerd: a thin HTTP/1.1 client of routerd's two Unix
//! sockets that turns the control API's JSON into tables for people and passes it through for scripts.
//!
//! Where to start: `cli.rs` (the clap definitions: every command, flag and `--help` text), then
//! `commands/` (one file per command) on top of `client.rs` (the socket client) and `output.rs`.
#![forbid(unsafe_code)]

mod cli;
mod client;
mod commands;
mod failure;
mod manifest_files;
mod output;
mod query;
mod relative_time;
mod table;
mod target;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // One request at a time, so a single-threaded runtime is all the client needs.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the I/O runtime: {e}");
            return failure::Exit::Failed.into();
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => failure::report(&e),
    }
}
