//! The accept loop shared by routerd's sockets and the daemons' sockets.
//!
//! - At most `max_connections` are served at once; further ones wait in the listen backlog.
//! - `reserved_for_trusted` of them can only be used by peers the [`Handler`] trusts (root, routerd's
//!   uid, the control group): an ordinary local user can never hold every connection.
//! - A peer that is not trusted holds at most `per_uid_connections` at once; one more is answered
//!   `refuse(TooManyConnections)` (429) at once and closed, rather than left waiting.
//! - Request headers must arrive within `header_read_timeout`, the body within `body_read_timeout`.
//! - The body is read (bounded) *before* the handler runs, so every answer — including an early error
//!   such as 403 or 405 — is written after the client has finished writing; clients that send the body
//!   separately from the headers (Python's `http.client`) read the answer instead of a broken pipe.

use crate::body::{read_body, BodyError};
use crate::uid_slots::UidSlots;
use crate::Body;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use routerd_api::control::ErrorCode;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{watch, Semaphore};

/// The credentials of the process at the other end (`SO_PEERCRED`), read once per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    pub gid: u32,
    pub pid: Option<i32>,
}

/// The limits and timeouts of one listening socket.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// Connections served at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// Of `max_connections`, how many only trusted peers may use.
    pub reserved_for_trusted: usize,
    /// Connections one untrusted uid may hold at once.
    pub per_uid_connections: usize,
    /// A client must send its request headers within this long (also closes idle keep-alive connections).
    pub header_read_timeout: Duration,
    /// Request bodies larger than this are refused (`Refusal::Body(TooLarge)`).
    pub body_limit: usize,
    /// The whole body must arrive within this long after the headers.
    pub body_read_timeout: Duration,
    /// After the stop, requests in flight get this long to finish.
    pub drain_timeout: Duration,
}

/// Why the accept loop answered a request itself instead of passing it to the handler.
#[derive(Debug)]
pub enum Refusal {
    /// An untrusted uid already holds `limit` connections.
    TooManyConnections { uid: u32, limit: usize },
    /// The request body was too large, too slow, or broken.
    Body(BodyError),
}

impl Refusal {
    /// The control API's error code and message for this refusal (both routerd's and the daemons' APIs
    /// answer with the same error object).
    pub fn describe(&self) -> (ErrorCode, String) {
        match self {
            Refusal::TooManyConnections { uid, limit } => (
                ErrorCode::TooManyRequests,
                format!("uid {uid} already has {limit} connections open to this socket; close some and retry"),
            ),
            Refusal::Body(BodyError::TooLarge { limit }) => (
                ErrorCode::PayloadTooLarge,
                format!("the request body is larger than {} KiB", limit / 1024),
            ),
            Refusal::Body(BodyError::Timeout { after }) => (
                ErrorCode::RequestTimeout,
                format!("the request body did not arrive within {after:?} of the headers"),
            ),
            Refusal::Body(e @ BodyError::Broken(_)) => (ErrorCode::BadRequest, e.to_string()),
        }
    }
}

/// What a server built on [`serve`] provides: who it trusts, its answers, and how it words a refusal in
/// its own error envelope.
pub trait Handler: Send + Sync + 'static {
    /// Whether `peer` is exempt from the per-uid limit and may use the reserved connections.
    fn trusted(&self, peer: &Peer) -> bool;

    /// Answers one request whose body has been read completely.
    fn handle(
        &self,
        peer: Peer,
        request: Request<Bytes>,
    ) -> impl Future<Output = Response<Body>> + Send;

    /// The answer to a request the accept loop refuses (429, 408, 413, 400). The connection is closed
    /// after it.
    fn refuse(&self, refusal: &Refusal) -> Response<Body>;
}

/// Connections of over-limit uids being answered at once; beyond this a flood is closed unanswered (the
/// answer would cost more than the flood does).
const REFUSING_AT_ONCE: usize = 32;

/// Serves `listener` until `stop` turns true, then lets requests in flight finish (bounded by
/// `limits.drain_timeout`; long-polls are expected to end on the stop by themselves).
pub async fn serve<H: Handler>(
    listener: UnixListener,
    limits: ServerLimits,
    handler: Arc<H>,
    mut stop: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let untrusted = UidSlots::new(
        limits.per_uid_connections,
        limits
            .max_connections
            .saturating_sub(limits.reserved_for_trusted),
    );
    let refusing = Arc::new(Semaphore::new(REFUSING_AT_ONCE));
    let graceful = GracefulShutdown::new();
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = stopped(&mut stop) => break,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped(&mut stop) => break,
        };
        let peer = match stream.peer_cred() {
            Ok(c) => Peer {
                uid: c.uid(),
                gid: c.gid(),
                pid: c.pid(),
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the peer's credentials; closing the connection");
                continue;
            }
        };
        let slot = if handler.trusted(&peer) {
            None
        } else {
            match untrusted.try_take(peer.uid) {
                Some(slot) => Some(slot),
                None => {
                    drop(permit);
                    let refusal = Refusal::TooManyConnections {
                        uid: peer.uid,
                        limit: untrusted.per_uid(),
                    };
                    match refusing.clone().try_acquire_owned() {
                        Ok(refusing_permit) => {
                            let conn = graceful.watch(refuse_connection(
                                stream,
                                limits,
                                handler.clone(),
                                refusal,
                            ));
                            tokio::spawn(async move {
                                let _ = conn.await;
                                drop(refusing_permit);
                            });
                        }
                        Err(_) => {
                            tracing::debug!(
                                uid = peer.uid,
                                "over the connection limit; closed unanswered"
                            )
                        }
                    }
                    continue;
                }
            }
        };
        let conn = graceful.watch(serve_connection(stream, peer, limits, handler.clone()));
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "some connections did not finish within {:?} of the stop",
            limits.drain_timeout
        );
    }
}

fn builder(limits: ServerLimits) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // No half-close: an end of input means the client is gone, so its request (a long-poll holding
        // a per-uid slot, say) is dropped at once instead of running to its end.
        .header_read_timeout(limits.header_read_timeout);
    builder
}

fn serve_connection<H: Handler>(
    stream: UnixStream,
    peer: Peer,
    limits: ServerLimits,
    handler: Arc<H>,
) -> impl hyper_util::server::graceful::GracefulConnection + Send {
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let handler = handler.clone();
        async move {
            let (parts, body) = req.into_parts();
            let response = match read_body(body, limits.body_limit, limits.body_read_timeout).await
            {
                Ok(bytes) => {
                    handler
                        .handle(peer, Request::from_parts(parts, bytes))
                        .await
                }
                Err(e) => closing(handler.refuse(&Refusal::Body(e))),
            };
            Ok::<_, Infallible>(response)
        }
    });
    builder(limits).serve_connection(TokioIo::new(stream), service)
}

/// Answers every request on the connection with `refusal` (after reading its body, bounded) and closes.
fn refuse_connection<H: Handler>(
    stream: UnixStream,
    limits: ServerLimits,
    handler: Arc<H>,
    refusal: Refusal,
) -> impl hyper_util::server::graceful::GracefulConnection + Send {
    let refusal = Arc::new(refusal);
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let (handler, refusal) = (handler.clone(), refusal.clone());
        async move {
            let _ = read_body(req.into_body(), limits.body_limit, limits.body_read_timeout).await;
            Ok::<_, Infallible>(closing(handler.refuse(&refusal)))
        }
    });
    builder(limits).serve_connection(TokioIo::new(stream), service)
}

/// Marks `response` as the last on its connection.
fn closing(mut response: Response<Body>) -> Response<Body> {
    response.headers_mut().insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    response
}

async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Trusts nobody (so the test process is an ordinary peer), answers `/slow` after a while and
    /// everything else at once with the body's length.
    struct Echo;

    impl Handler for Echo {
        fn trusted(&self, _peer: &Peer) -> bool {
            false
        }

        async fn handle(&self, _peer: Peer, request: Request<Bytes>) -> Response<Body> {
            if request.uri().path() == "/slow" {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            Response::new(Body::from(format!("{}", request.body().len())))
        }

        fn refuse(&self, refusal: &Refusal) -> Response<Body> {
            let (code, message) = refusal.describe();
            let mut r = Response::new(Body::from(message));
            *r.status_mut() = hyper::StatusCode::from_u16(code.http_status()).unwrap();
            r
        }
    }

    const LIMITS: ServerLimits = ServerLimits {
        max_connections: 8,
        reserved_for_trusted: 2,
        per_uid_connections: 2,
        header_read_timeout: Duration::from_secs(5),
        body_limit: 16,
        body_read_timeout: Duration::from_millis(300),
        drain_timeout: Duration::from_secs(1),
    };

    async fn start() -> (tempfile::TempDir, std::path::PathBuf, watch::Sender<bool>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let (tx, rx) = watch::channel(false);
        tokio::spawn(serve(listener, LIMITS, Arc::new(Echo), rx));
        (dir, path, tx)
    }

    /// Sends `head`, waits, sends `body`, and returns the status line of the answer.
    async fn exchange(path: &std::path::Path, head: &str, body: &[u8]) -> String {
        let mut s = UnixStream::connect(path).await.unwrap();
        s.write_all(head.as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        s.write_all(body).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut answer))
            .await
            .unwrap()
            .unwrap();
        String::from_utf8_lossy(&answer)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_untrusted_uid_over_its_limit_is_answered_429_at_once() {
        let (_dir, path, _stop) = start().await;
        let mut held = Vec::new();
        for _ in 0..LIMITS.per_uid_connections {
            let mut s = UnixStream::connect(&path).await.unwrap();
            s.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            held.push(s);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let line = exchange(
            &path,
            "GET /fast HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n",
            b"{}",
        )
        .await;
        assert!(line.starts_with("HTTP/1.1 429"), "{line}");
        drop(held);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let line = exchange(
            &path,
            "GET /fast HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            b"",
        )
        .await;
        assert!(line.starts_with("HTTP/1.1 200"), "slots come back: {line}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_body_is_read_before_the_answer_and_bounded_in_size_and_time() {
        let (_dir, path, _stop) = start().await;
        let line = exchange(
            &path,
            "POST /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 4\r\n\r\n",
            b"abcd",
        )
        .await;
        assert!(line.starts_with("HTTP/1.1 200"), "{line}");
        let big = vec![b'a'; 100];
        let line = exchange(
            &path,
            "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n",
            &big,
        )
        .await;
        assert!(line.starts_with("HTTP/1.1 413"), "{line}");
        let started = std::time::Instant::now();
        let line = exchange(
            &path,
            "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n",
            b"ab",
        )
        .await;
        assert!(line.starts_with("HTTP/1.1 408"), "{line}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
