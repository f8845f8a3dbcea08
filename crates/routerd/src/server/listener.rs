//! The control API's two sockets on the shared accept loop ([`routerd_http::serve`]): who is trusted
//! (root, routerd's uid, the control group), the limits of `control-api.md` "Sockets", and routing to the
//! endpoint table.
//!
//! An ordinary local user may connect to the status socket, so it must not be able to starve it: of the
//! [`MAX_CONNECTIONS`], [`RESERVED_FOR_TRUSTED`] are kept for trusted peers, an untrusted uid holds at most
//! [`PER_UID_CONNECTIONS`] connections and [`PER_UID_LONG_POLLS`] long-polls at once (beyond either it is
//! answered `429 TooManyRequests` at once), and a request body must arrive within [`BODY_READ_TIMEOUT`].

use super::app::App;
use super::caller::Caller;
use super::endpoints::{endpoints, find, Endpoint, Match};
use super::handlers::handle;
use super::query::Query;
use super::response::{Body, Failure};
use bytes::Bytes;
use hyper::{Request, Response};
use routerd_api::control::ErrorCode;
use routerd_api::CONTROL_API_PREFIX;
use routerd_http::{Handler, Peer, Refusal, ServerLimits, UidSlots};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UnixListener;
use tokio::sync::watch;

/// Request bodies larger than this are refused with 413.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// Connections served at once per socket; further ones wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 256;
/// Of [`MAX_CONNECTIONS`], how many only root, routerd's uid and the control group may use.
pub const RESERVED_FOR_TRUSTED: usize = 32;
/// Connections one untrusted uid may hold at once on a socket.
pub const PER_UID_CONNECTIONS: usize = 32;
/// `GET /events?wait=` long-polls one untrusted uid may have open at once on a socket.
pub const PER_UID_LONG_POLLS: usize = 8;
/// A client must send its request headers within this long.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// A request body must arrive within this long after the headers (`408 RequestTimeout` otherwise).
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// After shutdown starts, requests in flight get this long.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

const LIMITS: ServerLimits = ServerLimits {
    max_connections: MAX_CONNECTIONS,
    reserved_for_trusted: RESERVED_FOR_TRUSTED,
    per_uid_connections: PER_UID_CONNECTIONS,
    header_read_timeout: HEADER_READ_TIMEOUT,
    body_limit: BODY_LIMIT,
    body_read_timeout: BODY_READ_TIMEOUT,
    drain_timeout: DRAIN_TIMEOUT,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketRole {
    Main,
    Status,
}

/// Who may use the main socket besides root: routerd's own uid and members of the control group. The same
/// peers are trusted on the status socket (exempt from the per-uid limits).
#[derive(Debug, Clone, Default)]
pub struct PeerPolicy {
    pub own_uid: u32,
    pub group_gid: Option<u32>,
    /// The control group's members (by name in the group database), resolved to uids once at start-up:
    /// the check on every connection is a set lookup, never an NSS call on an async worker (a slow
    /// directory service would otherwise stall every connection).
    pub member_uids: HashSet<u32>,
}

impl PeerPolicy {
    /// The policy for routerd running as `own_uid` with control group `group` (if it exists). Resolves
    /// the group's member names to uids (blocking NSS lookups: call it at start-up, not per connection).
    pub fn resolve(own_uid: u32, group: Option<&nix::unistd::Group>) -> PeerPolicy {
        let member_uids = group
            .map(|g| {
                g.mem
                    .iter()
                    .filter_map(|name| match nix::unistd::User::from_name(name) {
                        Ok(Some(user)) => Some(user.uid.as_raw()),
                        Ok(None) => {
                            tracing::info!(user = %name, group = %g.name, "a member of the control group has no user entry; ignored");
                            None
                        }
                        Err(e) => {
                            tracing::warn!(user = %name, error = %e, "cannot look up a member of the control group; ignored");
                            None
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        PeerPolicy {
            own_uid,
            group_gid: group.map(|g| g.gid.as_raw()),
            member_uids,
        }
    }

    pub fn allows(&self, uid: u32, gid: u32) -> bool {
        uid == 0
            || uid == self.own_uid
            || self
                .group_gid
                .is_some_and(|group| gid == group || self.member_uids.contains(&uid))
    }
}

/// One socket's request handling.
struct ControlSocket {
    role: SocketRole,
    policy: Arc<PeerPolicy>,
    app: Arc<App>,
    table: Vec<Endpoint>,
    long_polls: Arc<UidSlots>,
}

impl Handler for ControlSocket {
    fn trusted(&self, peer: &Peer) -> bool {
        self.policy.allows(peer.uid, peer.gid)
    }

    async fn handle(&self, peer: Peer, req: Request<Bytes>) -> Response<Body> {
        let trusted = self.trusted(&peer);
        if self.role == SocketRole::Main && !trusted {
            tracing::warn!(uid = peer.uid, gid = peer.gid, pid = ?peer.pid, "refused a peer on the main socket");
            let mut r = Failure::new(
                ErrorCode::Forbidden,
                "this socket is for root and members of the control group; use the status socket for reads",
            )
            .into_response();
            r.headers_mut().insert(
                hyper::header::CONNECTION,
                hyper::header::HeaderValue::from_static("close"),
            );
            return r;
        }
        let caller = Caller {
            uid: peer.uid,
            trusted,
            long_polls: self.long_polls.clone(),
        };
        route(&self.app, &self.table, self.role, &caller, req).await
    }

    fn refuse(&self, refusal: &Refusal) -> Response<Body> {
        let (code, message) = refusal.describe();
        let mut failure = Failure::new(code, message);
        if code == ErrorCode::TooManyRequests {
            failure.retry_after_secs = Some(1);
        }
        failure.into_response()
    }
}

/// Serves one socket until `stop` fires, then lets in-flight requests finish (bounded).
pub async fn serve_socket(
    listener: UnixListener,
    role: SocketRole,
    policy: Arc<PeerPolicy>,
    app: Arc<App>,
    stop: watch::Receiver<bool>,
) {
    let socket = ControlSocket {
        role,
        policy,
        app,
        table: endpoints(),
        long_polls: UidSlots::new(PER_UID_LONG_POLLS, MAX_CONNECTIONS),
    };
    routerd_http::serve(listener, LIMITS, Arc::new(socket), stop).await;
}

async fn route(
    app: &App,
    table: &[Endpoint],
    role: SocketRole,
    caller: &Caller,
    req: Request<Bytes>,
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
    let body = (req.method() == hyper::Method::POST).then(|| req.into_body());
    match handle(app, caller, endpoint.op, params, query, body).await {
        Ok(r) => r,
        Err(f) => {
            if f.code == ErrorCode::Internal {
                tracing::error!(error = %f.message, path = %path, "internal error");
            }
            f.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_policy_allows_root_self_and_the_control_group_only() {
        let p = PeerPolicy {
            own_uid: 1000,
            group_gid: Some(4242),
            member_uids: HashSet::from([1001]),
        };
        assert!(p.allows(0, 0));
        assert!(p.allows(1000, 1000));
        assert!(p.allows(65534, 4242), "primary group is the control group");
        assert!(p.allows(1001, 1001), "a listed member of the control group");
        assert!(!p.allows(65534, 65534), "nobody is refused");
        assert!(
            !PeerPolicy {
                own_uid: 0,
                group_gid: None,
                member_uids: HashSet::from([65534]),
            }
            .allows(65534, 65534),
            "no control group: members do not count"
        );
    }

    #[test]
    fn control_group_members_are_resolved_to_uids_once() {
        let group = nix::unistd::Group {
            name: "routerd-test".into(),
            passwd: Default::default(),
            gid: nix::unistd::Gid::from_raw(4242),
            mem: vec!["root".into(), "no-such-user-routerd-test".into()],
        };
        let p = PeerPolicy::resolve(1000, Some(&group));
        assert_eq!(p.member_uids, HashSet::from([0]));
        assert_eq!(p.group_gid, Some(4242));
    }
}
