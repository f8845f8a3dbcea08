//! How a failed command ends: what is printed on stderr and which exit code scripts see. The codes are
//! part of the CLI's contract (documented in `routerctl --help`), so they are decided in one place.

use crate::client::ClientError;
use routerd_api::control::{ApiError, ErrorCode};
use routerd_api::FieldError;
use std::process::ExitCode;

/// Exit codes of routerctl.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    /// routerd answered with an error, `validate` found errors, or an input file was unusable.
    Failed = 1,
    /// The command line is wrong (clap uses the same code for what it detects).
    Usage = 2,
    /// routerd could not be reached: socket missing, connection refused, no answer in time.
    Unreachable = 3,
    /// The socket (or routerd's credential check) refused us.
    PermissionDenied = 4,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// A mistake in the command line that clap cannot see, such as a flag that does not fit the object.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The command has already printed why it failed (e.g. `validate` listing errors on stdout); only the
/// exit code is left to give.
#[derive(Debug)]
pub struct AlreadyReported;

impl std::fmt::Display for AlreadyReported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failure already reported")
    }
}

impl std::error::Error for AlreadyReported {}

/// Prints `err` for a person and returns the exit code that tells a script what kind of failure it was.
pub fn report(err: &anyhow::Error) -> ExitCode {
    let (exit, text) = describe(err);
    if !text.is_empty() {
        eprint!("{text}");
    }
    exit.into()
}

/// The exit code and stderr text for an error; separate from printing so it can be tested.
pub fn describe(err: &anyhow::Error) -> (Exit, String) {
    if is_broken_pipe(err) {
        // `routerctl events -f | head`: the reader has gone, which is how such a pipeline ends.
        return (Exit::Ok, String::new());
    }
    if err.downcast_ref::<AlreadyReported>().is_some() {
        return (Exit::Failed, String::new());
    }
    if let Some(usage) = err.downcast_ref::<UsageError>() {
        return (
            Exit::Usage,
            format!("error: {usage}\n\nFor more information, try '--help'.\n"),
        );
    }
    if let Some(client) = err.chain().find_map(|e| e.downcast_ref::<ClientError>()) {
        return describe_client_error(client);
    }
    (Exit::Failed, format!("error: {err:#}\n"))
}

fn describe_client_error(err: &ClientError) -> (Exit, String) {
    match err {
        ClientError::Unreachable { socket, reason } => (
            Exit::Unreachable,
            format!(
                "error: cannot reach routerd at {}: {reason}\n\
                 hint: check that `routerd serve` is running; if it uses another runtime directory, \
                 pass --runtime-dir DIR or set ROUTERD_RUNTIME_DIR (or --socket/--status-socket)\n",
                socket.display()
            ),
        ),
        ClientError::Timeout { socket, after } => (
            Exit::Unreachable,
            format!(
                "error: routerd did not answer on {} within {}\n\
                 hint: routerd may be overloaded or stuck; raise --timeout to wait longer\n",
                socket.display(),
                routerd_api::duration::format_duration(*after)
            ),
        ),
        ClientError::Disconnected { socket, reason } => (
            Exit::Unreachable,
            format!(
                "error: the connection to routerd at {} broke: {reason}\n\
                 hint: routerd may have been restarting; try again\n",
                socket.display()
            ),
        ),
        ClientError::PermissionDenied { socket } => (
            Exit::PermissionDenied,
            format!(
                "error: permission denied on {}\n{}",
                socket.display(),
                permission_hint()
            ),
        ),
        ClientError::Api { error, .. } if error.code == ErrorCode::Forbidden => {
            (Exit::PermissionDenied, format!("{}{}", render_api_error(error), permission_hint()))
        }
        ClientError::Api { error, .. } if error.code == ErrorCode::ReadOnlySocket => (
            Exit::Failed,
            format!(
                "{}hint: changes go through the main socket (routerd.sock); check --socket\n",
                render_api_error(error)
            ),
        ),
        ClientError::Api { error, .. } => (Exit::Failed, render_api_error(error)),
        ClientError::Protocol { .. } => (Exit::Failed, format!("error: {err}\n")),
    }
}

fn permission_hint() -> &'static str {
    "hint: changes go through routerd.sock, which needs root or membership of the `routerd` group: \
     run with sudo, or add your user to the group (usermod -aG routerd USER) and log in again\n"
}

/// `error: <message> (<code>)` and one indented line per field problem, as the control API reports them.
pub fn render_api_error(error: &ApiError) -> String {
    let mut out = format!("error: {} ({:?})\n", error.message, error.code);
    for detail in &error.details {
        out.push_str("  ");
        out.push_str(&render_field_error(detail));
        out.push('\n');
    }
    out
}

/// `<resource>: <field>: <message>`, leaving out the parts the server did not give.
pub fn render_field_error(e: &FieldError) -> String {
    let mut parts: Vec<&str> = Vec::new();
    if let Some(r) = e.resource.as_deref().filter(|r| !r.is_empty()) {
        parts.push(r);
    }
    if !e.field.is_empty() {
        parts.push(&e.field);
    }
    parts.push(&e.message);
    parts.join(": ")
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn api(code: ErrorCode) -> anyhow::Error {
        ClientError::Api {
            status: code.http_status(),
            error: ApiError {
                code,
                message: "2 resources are invalid".into(),
                details: vec![
                    FieldError::new("spec.interface", "no Interface named \"wan2\"")
                        .in_resource("IPv4StaticAddress/lan"),
                    FieldError::new("", "duplicate"),
                ],
                cursor: None,
            },
        }
        .into()
    }

    #[test]
    fn api_errors_print_code_and_details() {
        let (exit, text) = describe(&api(ErrorCode::Invalid));
        assert_eq!(exit, Exit::Failed);
        assert_eq!(
            text,
            "error: 2 resources are invalid (Invalid)\n  IPv4StaticAddress/lan: spec.interface: no Interface named \"wan2\"\n  duplicate\n"
        );
    }

    #[test]
    fn exit_codes_follow_the_kind_of_failure() {
        let socket = PathBuf::from("/run/routerd/routerd.sock");
        let unreachable: anyhow::Error = ClientError::Unreachable {
            socket: socket.clone(),
            reason: "no such socket".into(),
        }
        .into();
        let (exit, text) = describe(&unreachable);
        assert_eq!(exit, Exit::Unreachable);
        assert!(
            text.contains("/run/routerd/routerd.sock") && text.contains("ROUTERD_RUNTIME_DIR"),
            "{text}"
        );

        let denied: anyhow::Error = ClientError::PermissionDenied { socket }.into();
        let (exit, text) = describe(&denied);
        assert_eq!(exit, Exit::PermissionDenied);
        assert!(text.contains("sudo") && text.contains("routerd"), "{text}");

        assert_eq!(
            describe(&api(ErrorCode::Forbidden)).0,
            Exit::PermissionDenied
        );
        assert_eq!(describe(&api(ErrorCode::NotFound)).0, Exit::Failed);
        assert_eq!(
            describe(&anyhow::Error::new(UsageError("bad".into()))).0,
            Exit::Usage
        );
        assert_eq!(
            describe(&anyhow::Error::new(AlreadyReported)),
            (Exit::Failed, String::new())
        );
        assert_eq!(
            describe(&anyhow::anyhow!("cannot read x.yaml")).0,
            Exit::Failed
        );
    }

    #[test]
    fn a_closed_pipe_ends_quietly() {
        let err = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert_eq!(describe(&err), (Exit::Ok, String::new()));
    }
}
