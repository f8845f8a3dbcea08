//! `routerctl completion SHELL` and the hidden `routerctl manpage`: generated from the same clap
//! definition, so neither drifts from the real flags.

use crate::cli::{Cli, CompletionArgs};
use anyhow::Result;
use clap::CommandFactory;
use std::io::Write;

pub fn run(args: &CompletionArgs) -> Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "routerctl", &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)?;
    out.flush()?;
    Ok(())
}

/// The roff man page of routerctl and every subcommand (`routerctl manpage > routerctl.1`).
pub fn manpage() -> Result<()> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut page)?;
    let mut out = std::io::stdout().lock();
    out.write_all(&page)?;
    out.flush()?;
    Ok(())
}
