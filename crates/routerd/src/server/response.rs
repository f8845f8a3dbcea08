//! JSON responses and the error envelope.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use routerd_api::control::{envelope, ApiError, ErrorBody, ErrorCode};
use routerd_api::FieldError;

pub type Body = Full<Bytes>;

pub fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut r = Response::new(Full::new(Bytes::from(bytes)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// `{"apiVersion", "kind", ...body}` serialised straight to bytes (no intermediate JSON tree).
#[derive(serde::Serialize)]
struct Envelope<'a, T: serde::Serialize> {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'a str,
    #[serde(flatten)]
    body: &'a T,
}

pub fn ok<T: serde::Serialize>(kind: &str, body: &T) -> Response<Body> {
    json_body(
        StatusCode::OK,
        &Envelope {
            api_version: routerd_api::CONTROL_API_VERSION,
            kind,
            body,
        },
    )
}

/// Any serialisable value as a JSON response.
pub fn json_body<T: serde::Serialize + ?Sized>(status: StatusCode, value: &T) -> Response<Body> {
    let bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut r = Response::new(Full::new(Bytes::from(bytes)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// An API error with its stable code; the HTTP status follows from the code.
#[derive(Debug)]
pub struct Failure {
    pub code: ErrorCode,
    pub message: String,
    pub details: Vec<FieldError>,
    pub cursor: Option<String>,
    pub allow: Option<String>,
    /// `TooManyRequests` only: the `Retry-After` header, in seconds.
    pub retry_after_secs: Option<u32>,
}

impl Failure {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            details: Vec::new(),
            cursor: None,
            allow: None,
            retry_after_secs: None,
        }
    }
    /// 429: the peer's uid holds its share already; a client may retry after a second.
    pub fn too_many_requests(message: impl Into<String>) -> Failure {
        let mut f = Failure::new(ErrorCode::TooManyRequests, message);
        f.retry_after_secs = Some(1);
        f
    }
    pub fn bad_request(message: impl Into<String>) -> Failure {
        Failure::new(ErrorCode::BadRequest, message)
    }
    pub fn with_details(mut self, details: Vec<FieldError>) -> Failure {
        self.details = details;
        self
    }

    pub fn into_response(self) -> Response<Body> {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ErrorBody {
            error: ApiError {
                code: self.code,
                message: self.message,
                details: self.details,
                cursor: self.cursor,
            },
        };
        let mut r = json(status, &envelope("Error", &body));
        if let Some(allow) = self.allow {
            if let Ok(v) = hyper::header::HeaderValue::from_str(&allow) {
                r.headers_mut().insert(hyper::header::ALLOW, v);
            }
        }
        if let Some(secs) = self.retry_after_secs {
            r.headers_mut().insert(
                hyper::header::RETRY_AFTER,
                hyper::header::HeaderValue::from(secs),
            );
        }
        r
    }
}

impl From<routerd_store::StoreError> for Failure {
    fn from(e: routerd_store::StoreError) -> Failure {
        match e {
            routerd_store::StoreError::CursorExpired { since, oldest } => {
                let mut f = Failure::new(
                    ErrorCode::CursorExpired,
                    format!("cursor {since} is older than the retained events; re-read status and continue from cursor {oldest}"),
                );
                f.cursor = Some(oldest.to_string());
                f
            }
            other => Failure::new(ErrorCode::Internal, other.to_string()),
        }
    }
}

impl From<crate::config::ConfigError> for Failure {
    fn from(e: crate::config::ConfigError) -> Failure {
        use crate::config::ConfigError as E;
        match e {
            E::BadRequest(m) => Failure::bad_request(m),
            E::Invalid(details) => {
                let first = details.first().map(|d| d.to_string()).unwrap_or_default();
                let more = if details.len() > 1 { format!(" (and {} more)", details.len() - 1) } else { String::new() };
                Failure::new(ErrorCode::Invalid, format!("invalid resources: {first}{more}")).with_details(details)
            }
            E::NotFound(m) => Failure::new(ErrorCode::NotFound, m),
            E::Conflict { expected, current } => Failure::new(
                ErrorCode::Conflict,
                format!("ifGeneration is {expected} but the current generation is {current}; re-read and retry"),
            ),
            E::Store(s) => Failure::new(ErrorCode::Internal, s.to_string()),
        }
    }
}
