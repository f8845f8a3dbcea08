//! The bench's connection to routerd: one keep-alive connection on the shared client of `routerd_http`
//! (no pool, no retries, one request at a time), which is what a load generator needs.

use anyhow::Context as _;
use bytes::Bytes;
use hyper::{Method, StatusCode};
use routerd_api::CONTROL_API_PREFIX;
use routerd_http::client::Connection;
use std::path::Path;
use std::time::Duration;

const USER_AGENT: &str = concat!("routerd-bench/", env!("CARGO_PKG_VERSION"));

pub struct Conn {
    connection: Connection,
}

impl Conn {
    pub async fn connect(socket: &Path) -> anyhow::Result<Conn> {
        let connection = Connection::connect(socket, USER_AGENT).await?;
        Ok(Conn { connection })
    }

    /// Sends one request (path relative to the API prefix, with its query) and reads the whole body.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        let answer = self
            .connection
            .send(method, &format!("{CONTROL_API_PREFIX}{path}"), body)
            .await
            .with_context(|| format!("request {path}"))?;
        Ok((answer.status, answer.body))
    }

    pub async fn get(&mut self, path: &str) -> anyhow::Result<(StatusCode, Bytes)> {
        self.request(Method::GET, path, None).await
    }

    /// GET that must answer 200 with a JSON body.
    pub async fn get_json(&mut self, path: &str) -> anyhow::Result<serde_json::Value> {
        let (status, body) = self.get(path).await?;
        anyhow::ensure!(
            status == StatusCode::OK,
            "GET {path}: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        );
        serde_json::from_slice(&body).with_context(|| format!("GET {path}: the answer is not JSON"))
    }

    /// POST of a JSON value that must answer 200 with a JSON body.
    pub async fn post_json(
        &mut self,
        path: &str,
        value: &serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        let body = Bytes::from(serde_json::to_vec(value)?);
        let (status, body) = self.request(Method::POST, path, Some(body)).await?;
        anyhow::ensure!(
            status == StatusCode::OK,
            "POST {path}: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        );
        serde_json::from_slice(&body)
            .with_context(|| format!("POST {path}: the answer is not JSON"))
    }
}

/// Waits until routerd answers `GET /healthz` on `socket`.
pub async fn wait_ready(socket: &Path, timeout: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last_err = String::from("not tried");
    while tokio::time::Instant::now() < deadline {
        match Conn::connect(socket).await {
            Ok(mut c) => match c.get("/healthz").await {
                Ok((s, _)) if s == StatusCode::OK => return Ok(()),
                Ok((s, b)) => last_err = format!("HTTP {s}: {}", String::from_utf8_lossy(&b)),
                Err(e) => last_err = format!("{e:#}"),
            },
            Err(e) => last_err = format!("{e:#}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!(
        "routerd did not answer on {} within {timeout:?}: {last_err}",
        socket.display()
    )
}
