//! A small HTTP/1.1 client for the managed daemons' Unix sockets (status, events long-poll, commands).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::path::Path;
use std::time::Duration;

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
    let fut = async {
        let stream = tokio::net::UnixStream::connect(socket)
            .await
            .map_err(|source| DaemonClientError::Connect {
                path: socket.display().to_string(),
                source,
            })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| DaemonClientError::Http {
                path: where_.clone(),
                message: e.to_string(),
            })?;
        tokio::spawn(conn);
        let req = hyper::Request::builder()
            .method(method)
            .uri(format!("http://daemon{path}"))
            .header(hyper::header::HOST, "daemon")
            .body(Full::new(Bytes::new()))
            .map_err(|e| DaemonClientError::Http {
                path: where_.clone(),
                message: e.to_string(),
            })?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| DaemonClientError::Http {
                path: where_.clone(),
                message: e.to_string(),
            })?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| DaemonClientError::Http {
                path: where_.clone(),
                message: e.to_string(),
            })?
            .to_bytes();
        let value: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| DaemonClientError::Json {
                path: where_.clone(),
                message: e.to_string(),
            })?;
        if !(200..300).contains(&status) {
            return Err(DaemonClientError::Status {
                path: where_.clone(),
                status,
                body: value,
            });
        }
        Ok(value)
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(DaemonClientError::Timeout {
            path: format!("{}{}", socket.display(), path),
        }),
    }
}
