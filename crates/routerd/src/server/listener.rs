//! Socket set-up and the accept loop: stale sockets removed but live ones never stolen, modes and group
//! set, at most 256 connections served at once per socket, peers checked with `SO_PEERCRED`, 5 s header
//! timeout, 1 MiB body limit, graceful shutdown.

use super::app::App;
use super::endpoints::{endpoints, find, Endpoint, Match};
use super::handlers::handle;
use super::query::Query;
use super::response::{Body, Failure};
use http_body_util::BodyExt;
use hyper::body::Body as _;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use routerd_api::control::ErrorCode;
use routerd_api::CONTROL_API_PREFIX;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UnixListener;
use tokio::sync::{watch, Semaphore};

/// Request bodies larger than this are refused with 413.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// Connections served at once per socket; further ones wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 256;
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketRole {
    Main,
    Status,
}

/// Who may use the main socket besides root: routerd's own uid and members of the control group.
#[derive(Debug, Clone, Default)]
pub struct PeerPolicy {
    pub own_uid: u32,
    pub group_gid: Option<u32>,
    pub group_members: Vec<String>,
}

impl PeerPolicy {
    pub fn allows(&self, uid: u32, gid: u32) -> bool {
        if uid == 0 || uid == self.own_uid {
            return true;
        }
        let Some(group) = self.group_gid else {
            return false;
        };
        if gid == group {
            return true;
        }
        nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten()
            .is_some_and(|u| self.group_members.contains(&u.name))
    }
}

/// Binds `path`: refuses when another process answers on it, removes a stale socket file, then sets the
/// mode (and group for the main socket).
pub fn bind_socket(path: &Path, mode: u32, group: Option<u32>) -> Result<UnixListener, String> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if !meta.file_type().is_socket() {
            return Err(format!(
                "{} exists and is not a socket; refusing to replace it",
                path.display()
            ));
        }
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => {
                return Err(format!(
                    "{} is in use: another routerd is serving on it (stop it first, or use --runtime-dir)",
                    path.display()
                ))
            }
            Err(_) => {
                std::fs::remove_file(path).map_err(|e| format!("cannot remove stale socket {}: {e}", path.display()))?;
                tracing::info!(path = %path.display(), "removed stale socket");
            }
        }
    }
    let listener =
        UnixListener::bind(path).map_err(|e| format!("cannot bind {}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot chmod {}: {e}", path.display()))?;
    if let Some(gid) = group {
        nix::unistd::chown(path, None, Some(nix::unistd::Gid::from_raw(gid)))
            .map_err(|e| format!("cannot chgrp {}: {e}", path.display()))?;
    }
    Ok(listener)
}

/// Serves one socket until `stop` fires, then lets in-flight requests finish (bounded).
pub async fn serve_socket(
    listener: UnixListener,
    role: SocketRole,
    policy: Arc<PeerPolicy>,
    app: Arc<App>,
    mut stop: watch::Receiver<bool>,
) {
    let table = Arc::new(endpoints());
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = crate::shutdown::stopped(&mut stop) => break,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = crate::shutdown::stopped(&mut stop) => break,
        };
        let allowed = match role {
            SocketRole::Status => true,
            SocketRole::Main => match stream.peer_cred() {
                Ok(c) => {
                    let ok = policy.allows(c.uid(), c.gid());
                    if !ok {
                        tracing::warn!(uid = c.uid(), gid = c.gid(), pid = ?c.pid(), "refused a peer on the main socket");
                    }
                    ok
                }
                Err(_) => false,
            },
        };
        let app = app.clone();
        let table = table.clone();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let app = app.clone();
            let table = table.clone();
            async move {
                let resp = if allowed {
                    route(&app, &table, role, req).await
                } else {
                    let mut r = Failure::new(ErrorCode::Forbidden, "this socket is for root and members of the control group; use the status socket for reads").into_response();
                    r.headers_mut().insert(
                        hyper::header::CONNECTION,
                        hyper::header::HeaderValue::from_static("close"),
                    );
                    r
                };
                Ok::<_, std::convert::Infallible>(resp)
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .keep_alive(allowed);
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            ?role,
            "some connections did not finish within 10s of shutdown"
        );
    }
}

async fn route(
    app: &App,
    table: &[Endpoint],
    role: SocketRole,
    req: Request<Incoming>,
) -> Response<Body> {
    let path = req.uri().path().to_string();
    let query = Query::parse(req.uri().query());
    let Some(rest) = path.strip_prefix(CONTROL_API_PREFIX) else {
        return Failure::new(
            ErrorCode::NotFound,
            format!("unknown path {path}; every endpoint is under {CONTROL_API_PREFIX}"),
        )
        .into_response();
    };
    let (endpoint, params) = match find(table, req.method(), rest) {
        Match::Found(e, p) => (e, p),
        Match::WrongMethod(es) => {
            let allow = es
                .iter()
                .map(|e| e.method.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let mut f = Failure::new(
                ErrorCode::MethodNotAllowed,
                format!("{} is not allowed on {path}; use {allow}", req.method()),
            );
            f.allow = Some(allow);
            return f.into_response();
        }
        Match::NotFound => {
            return Failure::new(ErrorCode::NotFound, format!("unknown path {path}"))
                .into_response()
        }
    };
    if role == SocketRole::Status && endpoint.mutating {
        return Failure::new(ErrorCode::ReadOnlySocket, format!("{rest} changes state and is refused on the read-only status socket; use the main socket")).into_response();
    }
    let body = if req.method() == hyper::Method::POST {
        match read_body(req.into_body()).await {
            Ok(b) => Some(b),
            Err(r) => return *r,
        }
    } else {
        None
    };
    let op = endpoint.op;
    match handle(app, op, params, query, body).await {
        Ok(r) => r,
        Err(f) => {
            if f.code == ErrorCode::Internal {
                tracing::error!(error = %f.message, path = %path, "internal error");
            }
            f.into_response()
        }
    }
}

/// Bodies up to this size are read to the end even when refused, so the client (still writing) can read
/// the 413 instead of seeing a broken pipe; anything larger is cut off.
const DRAIN_LIMIT: usize = 16 * BODY_LIMIT;

/// Reads a request body of at most [`BODY_LIMIT`] bytes.
async fn read_body(mut body: Incoming) -> Result<bytes::Bytes, Box<Response<Body>>> {
    let declared = body.size_hint().exact().map(|n| n as usize);
    if declared.is_some_and(|n| n > DRAIN_LIMIT) {
        return Err(Box::new(too_large()));
    }
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            Box::new(
                Failure::bad_request(format!("could not read the request body: {e}"))
                    .into_response(),
            )
        })?;
        if let Ok(data) = frame.into_data() {
            seen += data.len();
            if seen > DRAIN_LIMIT {
                break;
            }
            if seen <= BODY_LIMIT {
                buf.extend_from_slice(&data);
            }
        }
    }
    if seen > BODY_LIMIT {
        return Err(Box::new(too_large()));
    }
    Ok(buf.freeze())
}

fn too_large() -> Response<Body> {
    Failure::new(
        ErrorCode::PayloadTooLarge,
        format!(
            "request body is larger than {} KiB; split the manifest",
            BODY_LIMIT / 1024
        ),
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_policy_allows_root_self_and_the_control_group_only() {
        let p = PeerPolicy {
            own_uid: 1000,
            group_gid: Some(4242),
            group_members: vec!["root".into()],
        };
        assert!(p.allows(0, 0));
        assert!(p.allows(1000, 1000));
        assert!(p.allows(65534, 4242), "primary group is the control group");
        assert!(!p.allows(65534, 65534), "nobody is refused");
        assert!(!PeerPolicy {
            own_uid: 0,
            group_gid: None,
            group_members: vec![]
        }
        .allows(65534, 65534));
    }

    #[test]
    fn a_live_socket_is_never_stolen_and_a_stale_one_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let live = bind_socket(&path, 0o666, None).unwrap();
            let err = bind_socket(&path, 0o666, None).unwrap_err();
            assert!(err.contains("another routerd"), "{err}");
            drop(live); // the file stays behind: stale
            assert!(path.exists());
            bind_socket(&path, 0o666, None).unwrap();
            let plain = dir.path().join("plain");
            std::fs::write(&plain, "x").unwrap();
            assert!(bind_socket(&plain, 0o666, None)
                .unwrap_err()
                .contains("not a socket"));
        });
    }
}
