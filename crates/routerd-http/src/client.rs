//! The small HTTP/1.1 client over a Unix socket that routerd (to its daemons), routerctl and the bench
//! share: connect, send one request at a time on the connection, read the whole answer. No pool and no
//! retries: each caller decides what a failure means for it.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, ACCEPT, CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Method, StatusCode};
use hyper_util::rt::TokioIo;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::net::UnixStream;

/// Why an exchange did not produce an answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket could not be connected to (missing, refused, permission denied: see `source.kind()`).
    #[error("cannot connect to {}: {source}", socket.display())]
    Connect {
        socket: PathBuf,
        source: std::io::Error,
    },
    /// The connection broke or the answer was not HTTP.
    #[error("request to {} failed: {source}", socket.display())]
    Http {
        socket: PathBuf,
        source: hyper::Error,
    },
    /// The request could not be built (an invalid URI).
    #[error("cannot build the request for {uri}: {source}")]
    Request {
        uri: String,
        source: hyper::http::Error,
    },
    /// No complete answer within the caller's bound.
    #[error("no answer from {} within {after:?}", socket.display())]
    Timeout { socket: PathBuf, after: Duration },
}

/// An HTTP answer, read whole.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

/// One keep-alive connection to a Unix socket.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    socket: PathBuf,
    user_agent: &'static str,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Connection {
    /// Connects to `socket`; requests carry `User-Agent: user_agent`.
    pub async fn connect(
        socket: &Path,
        user_agent: &'static str,
    ) -> Result<Connection, ClientError> {
        let stream = UnixStream::connect(socket)
            .await
            .map_err(|source| ClientError::Connect {
                socket: socket.to_path_buf(),
                source,
            })?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|source| ClientError::Http {
                socket: socket.to_path_buf(),
                source,
            })?;
        let driver = tokio::spawn(async move {
            // Its error, if any, also surfaces through `send_request`.
            let _ = connection.await;
        });
        Ok(Connection {
            sender,
            socket: socket.to_path_buf(),
            user_agent,
            driver,
        })
    }

    /// The socket this connection goes to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Sends one request (`uri` is the path with its query) and reads the whole answer. A `body` is sent
    /// as `application/json`.
    pub async fn send(
        &mut self,
        method: Method,
        uri: &str,
        body: Option<Bytes>,
    ) -> Result<Answer, ClientError> {
        let broke = |source| ClientError::Http {
            socket: self.socket.clone(),
            source,
        };
        self.sender.ready().await.map_err(broke)?;
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(uri)
            .header(HOST, "localhost")
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, HeaderValue::from_static(self.user_agent));
        if body.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|source| ClientError::Request {
                uri: uri.to_string(),
                source,
            })?;
        let response = self.sender.send_request(request).await.map_err(broke)?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(broke)?
            .to_bytes();
        Ok(Answer { status, body })
    }
}

/// One request on a fresh connection, the whole exchange (connect included) bounded by `timeout`.
pub async fn request(
    socket: &Path,
    user_agent: &'static str,
    method: Method,
    uri: &str,
    body: Option<Bytes>,
    timeout: Duration,
) -> Result<Answer, ClientError> {
    let exchange = async {
        let mut connection = Connection::connect(socket, user_agent).await?;
        connection.send(method, uri, body).await
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| ClientError::Timeout {
            socket: socket.to_path_buf(),
            after: timeout,
        })?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{serve, Body, Handler, Peer, Refusal, ServerLimits};
    use hyper::{Request, Response};
    use std::sync::Arc;

    struct Echo;

    impl Handler for Echo {
        fn trusted(&self, _peer: &Peer) -> bool {
            true
        }

        async fn handle(&self, peer: Peer, request: Request<Bytes>) -> Response<Body> {
            let agent = request
                .headers()
                .get(USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            Response::new(Body::from(format!(
                "{} {} {} uid={} {agent}",
                request.method(),
                request.uri(),
                String::from_utf8_lossy(request.body()),
                peer.uid
            )))
        }

        fn refuse(&self, _refusal: &Refusal) -> Response<Body> {
            Response::new(Body::from("refused"))
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_on_one_connection_and_one_shot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let (_stop, rx) = tokio::sync::watch::channel(false);
        let limits = ServerLimits {
            max_connections: 4,
            reserved_for_trusted: 0,
            per_uid_connections: 4,
            header_read_timeout: Duration::from_secs(5),
            body_limit: 1024,
            body_read_timeout: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(1),
        };
        tokio::spawn(serve(listener, limits, Arc::new(Echo), rx));
        let uid = std::fs::metadata(dir.path())
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
            .unwrap();
        let mut c = Connection::connect(&path, "test/1").await.unwrap();
        for i in 0..3 {
            let a = c
                .send(Method::POST, &format!("/p?i={i}"), Some(Bytes::from("{}")))
                .await
                .unwrap();
            assert_eq!(a.status, StatusCode::OK);
            assert_eq!(a.body, format!("POST /p?i={i} {{}} uid={uid} test/1"));
        }
        let a = request(
            &path,
            "t/2",
            Method::GET,
            "/g",
            None,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(a.body, format!("GET /g  uid={uid} t/2"));
        let missing = dir.path().join("missing.sock");
        let e = request(
            &missing,
            "t",
            Method::GET,
            "/",
            None,
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&e, ClientError::Connect { source, .. } if source.kind() == std::io::ErrorKind::NotFound),
            "{e}"
        );
    }
}
