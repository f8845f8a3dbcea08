//! JSON responses, every one wrapped with `daemon_envelope`, and the error envelope
//! `{"apiVersion", "kind": "Error", "error": {"code", "message"}}` shared with the control API.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use routerd_api::control::{ApiError, ErrorBody, ErrorCode};
use routerd_api::daemon::daemon_envelope;

pub(crate) type Body = Full<Bytes>;

pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    // Serialising a `Value` cannot fail (its keys are strings).
    let bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut r = Response::new(Full::new(Bytes::from(bytes)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

pub(crate) fn reply<T: serde::Serialize>(
    status: StatusCode,
    kind: &str,
    body: &T,
) -> Response<Body> {
    json(status, &daemon_envelope(kind, body))
}

pub(crate) fn ok<T: serde::Serialize>(kind: &str, body: &T) -> Response<Body> {
    reply(StatusCode::OK, kind, body)
}

/// An API error with its stable code; the HTTP status follows from the code.
#[derive(Debug)]
pub(crate) struct Failure {
    pub code: ErrorCode,
    pub message: String,
    /// `CursorExpired` only: the head cursor to continue from.
    pub cursor: Option<String>,
    /// `MethodNotAllowed` only: the `Allow` header.
    pub allow: Option<&'static str>,
}

impl Failure {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            cursor: None,
            allow: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Failure {
        Failure::new(ErrorCode::BadRequest, message)
    }

    pub fn into_response(self) -> Response<Body> {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ErrorBody {
            error: ApiError {
                code: self.code,
                message: self.message,
                details: Vec::new(),
                cursor: self.cursor,
            },
        };
        let mut r = reply(status, "Error", &body);
        if let Some(allow) = self.allow {
            r.headers_mut().insert(
                hyper::header::ALLOW,
                hyper::header::HeaderValue::from_static(allow),
            );
        }
        r
    }
}
