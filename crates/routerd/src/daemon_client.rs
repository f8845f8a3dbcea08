//! routerd's requests to its managed daemons' Unix sockets (status, events long-poll, commands), on the
//! shared client of `routerd_http`, with the answer decoded as JSON.

use routerd_http::client::{self, ClientError};
use std::path::Path;
use std::time::Duration;

/// Sent as `User-Agent`, so a daemon's logs can tell routerd from an operator's routerctl.
const USER_AGENT: &str = concat!("routerd/", env!("CARGO_PKG_VERSION"));

/// Why a daemon request failed; pollers and controllers react differently to each.
#[derive(Debug, thiserror::Error)]
pub enum DaemonClientError {
    #[error("cannot connect to {path}: {source}")]
    Connect {
        path: String,
        source: std::io::Error,
    },
    #[error("request to {path} failed: {message}")]
    Http { path: String, message: String },
    #[error("{path} answered {status}: {body}")]
    Status {
        path: String,
        status: u16,
        body: serde_json::Value,
    },
    #[error("{path} answered malformed JSON: {message}")]
    Json { path: String, message: String },
    #[error("request to {path} timed out")]
    Timeout { path: String },
}

/// Sends one request and decodes the JSON answer; a non-2xx answer is `Status` with the body.
pub async fn request(
    socket: &Path,
    method: &str,
    path: &str,
    timeout: Duration,
) -> Result<serde_json::Value, DaemonClientError> {
    let where_ = format!("{}{}", socket.display(), path);
    let method =
        hyper::Method::from_bytes(method.as_bytes()).map_err(|e| DaemonClientError::Http {
            path: where_.clone(),
            message: e.to_string(),
        })?;
    let answer = client::request(socket, USER_AGENT, method, path, None, timeout)
        .await
        .map_err(|e| match e {
            ClientError::Connect { source, .. } => DaemonClientError::Connect {
                path: socket.display().to_string(),
                source,
            },
            ClientError::Timeout { .. } => DaemonClientError::Timeout {
                path: where_.clone(),
            },
            other @ (ClientError::Http { .. } | ClientError::Request { .. }) => {
                DaemonClientError::Http {
                    path: where_.clone(),
                    message: other.to_string(),
                }
            }
        })?;
    let value: serde_json::Value =
        serde_json::from_slice(&answer.body).map_err(|e| DaemonClientError::Json {
            path: where_.clone(),
            message: e.to_string(),
        })?;
    if !answer.status.is_success() {
        return Err(DaemonClientError::Status {
            path: where_,
            status: answer.status.as_u16(),
            body: value,
        });
    }
    Ok(value)
}
