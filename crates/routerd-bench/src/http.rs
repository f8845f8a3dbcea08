//! A minimal HTTP/1.1 client over a Unix socket with a keep-alive connection (hyper's low-level client),
//! which is what a load generator needs: no pool, no retries, one request at a time per connection.

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use routerd_api::CONTROL_API_PREFIX;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::net::UnixStream;

pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    socket: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Conn {
    pub async fn connect(socket: &Path) -> anyhow::Result<Conn> {
        let stream = UnixStream::connect(socket)
            .await
            .with_context(|| format!("cannot connect to {}", socket.display()))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .with_context(|| format!("HTTP handshake on {} failed", socket.display()))?;
        let task = tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn {
            sender,
            socket: socket.to_path_buf(),
            task,
        })
    }

    /// Sends one request (path relative to the API prefix, with its query) and reads the whole body.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        self.sender
            .ready()
            .await
            .with_context(|| format!("connection to {} closed", self.socket.display()))?;
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{CONTROL_API_PREFIX}{path}"))
            .header(hyper::header::HOST, "localhost");
        if body.is_some() {
            builder = builder.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let req = builder
            .body(Full::new(body.unwrap_or_default()))
            .context("cannot build the request")?;
        let resp = self
            .sender
            .send_request(req)
            .await
            .with_context(|| format!("request {path} on {} failed", self.socket.display()))?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .with_context(|| format!("reading the answer to {path} failed"))?
            .to_bytes();
        Ok((status, bytes))
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
