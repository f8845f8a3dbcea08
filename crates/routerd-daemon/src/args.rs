//! The flags every daemon takes (`daemon-api.md`): the same five everywhere, so routerd's supervisor
//! spawns every kind the same way. Nothing secret is ever on the command line; secrets are in the 0600
//! `config.json`.

use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};
use std::path::PathBuf;

/// How log lines on stderr are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// A routerd managed daemon: one process per resource, spawned and supervised by routerd.
#[derive(Debug, Clone, Parser)]
#[command(version)]
pub struct DaemonArgs {
    /// Name of the resource this instance serves (e.g. `wan`, `internet`).
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// The config.json routerd wrote for this instance (mode 0600).
    #[arg(long, value_name = "PATH")]
    pub config: PathBuf,
    /// Unix socket to serve the /v1 API on (created with mode 0660).
    #[arg(long, value_name = "PATH")]
    pub socket: PathBuf,
    /// Directory of the daemon's state files and events.jsonl.
    #[arg(long, value_name = "DIR")]
    pub state_dir: PathBuf,
    /// Format of the log lines written to stderr.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

impl DaemonArgs {
    /// Parses the process arguments with `kind` (e.g. `routerd-healthcheck`) as the program name in
    /// `--help` and error messages; `DaemonArgs::parse()` would show the kit's crate name instead.
    /// Exits with clap's usage message on bad flags, like `parse()`.
    pub fn parse_for(kind: &'static str, about: &'static str) -> DaemonArgs {
        DaemonArgs::try_parse_for(kind, about, std::env::args_os()).unwrap_or_else(|e| e.exit())
    }

    /// [`DaemonArgs::parse_for`] over given arguments (the first is the program name), returning clap's
    /// error instead of exiting.
    pub fn try_parse_for<I, T>(
        kind: &'static str,
        about: &'static str,
        args: I,
    ) -> Result<DaemonArgs, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let mut command = DaemonArgs::command().name(kind).bin_name(kind).about(about);
        let matches = command.try_get_matches_from_mut(args)?;
        DaemonArgs::from_arg_matches(&matches).map_err(|e| e.format(&mut command))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_common_flags() {
        let a = DaemonArgs::try_parse_from([
            "routerd-healthcheck",
            "--name",
            "internet",
            "--config",
            "/var/lib/routerd/healthcheck/internet/config.json",
            "--socket",
            "/run/routerd/healthcheck/internet.sock",
            "--state-dir",
            "/var/lib/routerd/healthcheck/internet",
            "--log-format",
            "json",
        ])
        .unwrap();
        assert_eq!(a.name, "internet");
        assert_eq!(a.log_format, LogFormat::Json);
        let missing = DaemonArgs::try_parse_from(["x", "--name", "wan"]).unwrap_err();
        assert!(missing.to_string().contains("--config"), "{missing}");
        DaemonArgs::command().debug_assert();
        let err = DaemonArgs::try_parse_for("routerd-healthcheck", "Probes reachability.", ["x"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("routerd-healthcheck --name"), "{err}");
    }
}
