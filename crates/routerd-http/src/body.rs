//! Reading a request body: bounded in size and in time, and read to the end even when it is refused for
//! its size, so a client that is still writing reads the error instead of a broken pipe.

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body as _, Incoming};
use std::time::Duration;

/// A body up to this many times the limit is still read to the end (and thrown away) before a `413`, so
/// an ordinary client sees the answer; beyond it the connection is cut.
const DRAIN_FACTOR: usize = 16;

/// Why a request body was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Longer than the server accepts.
    #[error("the request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// It did not arrive in time (a client trickling bytes to hold a connection).
    #[error("the request body did not arrive within {after:?}")]
    Timeout { after: Duration },
    /// The connection broke or the framing was invalid.
    #[error("could not read the request body: {0}")]
    Broken(#[source] hyper::Error),
}

/// Reads `body` whole if it is at most `limit` bytes and arrives within `timeout`.
pub async fn read_body(
    mut body: Incoming,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, BodyError> {
    let drain_limit = limit.saturating_mul(DRAIN_FACTOR);
    if body
        .size_hint()
        .exact()
        .is_some_and(|n| n > drain_limit as u64)
    {
        return Err(BodyError::TooLarge { limit });
    }
    let read = async {
        let mut kept = BytesMut::new();
        let mut seen = 0usize;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(BodyError::Broken)?;
            if let Ok(data) = frame.into_data() {
                seen = seen.saturating_add(data.len());
                if seen > drain_limit {
                    break;
                }
                if seen <= limit {
                    kept.extend_from_slice(&data);
                }
            }
        }
        if seen > limit {
            return Err(BodyError::TooLarge { limit });
        }
        Ok(kept.freeze())
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| BodyError::Timeout { after: timeout })?
}
