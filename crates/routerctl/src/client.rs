//! HTTP/1.1 over routerd's Unix sockets. One connection per request: connecting to a local socket costs
//! next to nothing, and a fresh connection per call means a routerd restart never leaves us holding a
//! dead keep-alive connection (which matters for `events --follow`).

use bytes::Bytes;
use hyper::Method;
use routerd_api::control::{ApiError, ErrorBody};
use routerd_api::CONTROL_API_PREFIX;
use routerd_http::client::Connection;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

const USER_AGENT: &str = concat!("routerctl/", env!("CARGO_PKG_VERSION"));

/// Where routerd listens when nothing says otherwise.
pub const DEFAULT_RUNTIME_DIR: &str = if cfg!(target_os = "freebsd") {
    "/var/run/routerd"
} else {
    "/run/routerd"
};
const MAIN_SOCKET: &str = "routerd.sock";
const STATUS_SOCKET: &str = "routerd-status.sock";

/// Which of routerd's two sockets a request goes to. Reads use the status socket so they work for any
/// user; changes need the main socket and its credential check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Socket {
    Main,
    Status,
}

/// The two socket paths, after `--runtime-dir` and the per-socket overrides are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sockets {
    pub main: PathBuf,
    pub status: PathBuf,
}

impl Sockets {
    pub fn resolve(runtime_dir: &Path, main: Option<PathBuf>, status: Option<PathBuf>) -> Sockets {
        Sockets {
            main: main.unwrap_or_else(|| runtime_dir.join(MAIN_SOCKET)),
            status: status.unwrap_or_else(|| runtime_dir.join(STATUS_SOCKET)),
        }
    }

    pub fn path(&self, socket: Socket) -> &Path {
        match socket {
            Socket::Main => &self.main,
            Socket::Status => &self.status,
        }
    }
}

/// Why a request did not produce a successful answer; each variant maps to one exit code.
#[derive(Debug)]
pub enum ClientError {
    /// The socket file is missing or nothing listens on it.
    Unreachable { socket: PathBuf, reason: String },
    /// The file mode of the socket (or of its directory) keeps us out.
    PermissionDenied { socket: PathBuf },
    /// Connected (or tried to) but no complete answer came in time.
    Timeout { socket: PathBuf, after: Duration },
    /// The connection broke mid-request, typically because routerd is restarting.
    Disconnected { socket: PathBuf, reason: String },
    /// routerd answered with its error object.
    Api { status: u16, error: ApiError },
    /// The answer is not what the control API promises (not JSON, an error without an error object).
    Protocol { socket: PathBuf, message: String },
}

impl ClientError {
    /// Failures that a retry may cure on its own (routerd restarting), as opposed to ones that need a
    /// person to change something.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Unreachable { .. }
            | ClientError::Timeout { .. }
            | ClientError::Disconnected { .. } => true,
            ClientError::Api { status, .. } => *status == 503 || *status == 429,
            ClientError::PermissionDenied { .. } | ClientError::Protocol { .. } => false,
        }
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Unreachable { socket, reason } => {
                write!(f, "cannot reach routerd at {}: {reason}", socket.display())
            }
            ClientError::PermissionDenied { socket } => {
                write!(f, "permission denied on {}", socket.display())
            }
            ClientError::Timeout { socket, after } => write!(
                f,
                "no answer from routerd at {} within {}",
                socket.display(),
                routerd_api::duration::format_duration(*after)
            ),
            ClientError::Disconnected { socket, reason } => {
                write!(
                    f,
                    "connection to routerd at {} broke: {reason}",
                    socket.display()
                )
            }
            ClientError::Api { status, error } => {
                write!(f, "{} ({:?}, HTTP {status})", error.message, error.code)
            }
            ClientError::Protocol { socket, message } => {
                write!(f, "unexpected answer from {}: {message}", socket.display())
            }
        }
    }
}

impl std::error::Error for ClientError {}

/// A control API client bound to one pair of sockets and one timeout.
#[derive(Debug, Clone)]
pub struct Client {
    sockets: Sockets,
    timeout: Duration,
    /// Path prefix of every request: the control API's, or none for a daemon's `/v1/...` API.
    prefix: &'static str,
}

impl Client {
    pub fn new(sockets: Sockets, timeout: Duration) -> Client {
        Client {
            sockets,
            timeout,
            prefix: CONTROL_API_PREFIX,
        }
    }

    /// A client of one managed daemon's own socket (paths such as `/v1/status`).
    pub fn daemon(socket: PathBuf, timeout: Duration) -> Client {
        Client {
            sockets: Sockets {
                main: socket.clone(),
                status: socket,
            },
            timeout,
            prefix: "",
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `GET` of a path below the API prefix (query included), bounded by `--timeout`.
    pub async fn get(&self, socket: Socket, path: &str) -> Result<serde_json::Value, ClientError> {
        self.send(socket, Method::GET, path, None, self.timeout)
            .await
    }

    /// `GET` whose answer may legitimately take `request_timeout` (a long poll); connecting is still
    /// bounded by `--timeout`.
    pub async fn get_slow(
        &self,
        socket: Socket,
        path: &str,
        request_timeout: Duration,
    ) -> Result<serde_json::Value, ClientError> {
        self.send(socket, Method::GET, path, None, request_timeout)
            .await
    }

    pub async fn post<T: Serialize>(
        &self,
        socket: Socket,
        path: &str,
        body: &T,
    ) -> Result<serde_json::Value, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::Protocol {
            socket: self.sockets.path(socket).to_path_buf(),
            message: format!("cannot encode the request: {e}"),
        })?;
        self.send(socket, Method::POST, path, Some(bytes), self.timeout)
            .await
    }

    async fn send(
        &self,
        socket: Socket,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        request_timeout: Duration,
    ) -> Result<serde_json::Value, ClientError> {
        let socket_path = self.sockets.path(socket);
        let timed_out = |after| ClientError::Timeout {
            socket: socket_path.to_path_buf(),
            after,
        };
        let mut connection =
            match tokio::time::timeout(self.timeout, Connection::connect(socket_path, USER_AGENT))
                .await
            {
                Err(_) => return Err(timed_out(self.timeout)),
                Ok(result) => result.map_err(|e| client_error(socket_path, e))?,
            };
        let uri = format!("{}{path}", self.prefix);
        let exchange = connection.send(method, &uri, body.map(Bytes::from));
        let answer = match tokio::time::timeout(request_timeout, exchange).await {
            Err(_) => return Err(timed_out(request_timeout)),
            Ok(result) => result.map_err(|e| client_error(socket_path, e))?,
        };
        interpret(socket_path, answer.status.as_u16(), &answer.body)
    }
}

/// Maps the shared client's failures onto routerctl's (each has its exit code).
fn client_error(socket: &Path, e: routerd_http::client::ClientError) -> ClientError {
    use routerd_http::client::ClientError as E;
    match e {
        E::Connect { source, .. } => connect_error(socket, &source),
        E::Http { source, .. } => ClientError::Disconnected {
            socket: socket.to_path_buf(),
            reason: source.to_string(),
        },
        E::Request { .. } => ClientError::Protocol {
            socket: socket.to_path_buf(),
            message: e.to_string(),
        },
        E::Timeout { after, .. } => ClientError::Timeout {
            socket: socket.to_path_buf(),
            after,
        },
    }
}

fn connect_error(socket: &Path, e: &std::io::Error) -> ClientError {
    use std::io::ErrorKind;
    let socket = socket.to_path_buf();
    match e.kind() {
        ErrorKind::PermissionDenied => ClientError::PermissionDenied { socket },
        ErrorKind::NotFound => ClientError::Unreachable {
            socket,
            reason: "no such socket".into(),
        },
        ErrorKind::ConnectionRefused => ClientError::Unreachable {
            socket,
            reason: "connection refused (nothing is listening there)".into(),
        },
        _ => ClientError::Unreachable {
            socket,
            reason: e.to_string(),
        },
    }
}

/// Turns an HTTP answer into the JSON body or the API error it carries.
fn interpret(socket: &Path, status: u16, bytes: &[u8]) -> Result<serde_json::Value, ClientError> {
    if (200..300).contains(&status) {
        return serde_json::from_slice(bytes).map_err(|e| ClientError::Protocol {
            socket: socket.to_path_buf(),
            message: format!(
                "HTTP {status} with a body that is not JSON ({e}): {}",
                snippet(bytes)
            ),
        });
    }
    match serde_json::from_slice::<ErrorBody>(bytes) {
        Ok(body) => Err(ClientError::Api {
            status,
            error: body.error,
        }),
        Err(_) => Err(ClientError::Protocol {
            socket: socket.to_path_buf(),
            message: format!("HTTP {status} without an error object: {}", snippet(bytes)),
        }),
    }
}

fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut short: String = text.chars().take(200).collect();
    if text.chars().count() > 200 {
        short.push('…');
    }
    if short.trim().is_empty() {
        "(empty body)".to_string()
    } else {
        short
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use routerd_api::control::ErrorCode;

    #[test]
    fn sockets_live_in_the_runtime_dir_unless_overridden() {
        let s = Sockets::resolve(Path::new("/tmp/rd"), None, None);
        assert_eq!(s.main, PathBuf::from("/tmp/rd/routerd.sock"));
        assert_eq!(s.status, PathBuf::from("/tmp/rd/routerd-status.sock"));
        let s = Sockets::resolve(
            Path::new("/tmp/rd"),
            None,
            Some(PathBuf::from("/x/status.sock")),
        );
        assert_eq!(s.path(Socket::Main), Path::new("/tmp/rd/routerd.sock"));
        assert_eq!(s.path(Socket::Status), Path::new("/x/status.sock"));
    }

    #[test]
    fn connect_errors_are_classified() {
        let p = Path::new("/s");
        let e = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert!(matches!(
            connect_error(p, &e),
            ClientError::PermissionDenied { .. }
        ));
        let e = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert!(matches!(
            connect_error(p, &e),
            ClientError::Unreachable { .. }
        ));
        let e = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(connect_error(p, &e).is_transient());
    }

    #[test]
    fn answers_become_values_or_api_errors() {
        let p = Path::new("/s");
        let ok = interpret(
            p,
            200,
            br#"{"apiVersion":"x","kind":"Health","status":"ok"}"#,
        )
        .unwrap();
        assert_eq!(ok["status"], "ok");

        let err = interpret(
            p,
            410,
            br#"{"apiVersion":"x","kind":"Error","error":{"code":"CursorExpired","message":"gone","cursor":"42"}}"#,
        )
        .unwrap_err();
        match err {
            ClientError::Api { status, error } => {
                assert_eq!(status, 410);
                assert_eq!(error.code, ErrorCode::CursorExpired);
                assert_eq!(error.cursor.as_deref(), Some("42"));
            }
            other => panic!("unexpected {other:?}"),
        }

        assert!(matches!(
            interpret(p, 502, b"<html>"),
            Err(ClientError::Protocol { .. })
        ));
        assert!(matches!(
            interpret(p, 200, b"not json"),
            Err(ClientError::Protocol { .. })
        ));
    }
}
