//! `http` probe: an HTTP/1.1 `GET` with `Connection: close`, judged by the status line alone. The body is
//! never read: the check asks whether the server answers as expected, not what it serves.

use super::binding::{path_error, Binding};
use super::tcp::connect;
use crate::outcome::{FailureKind, ProbeOutcome};
use routerd_api::spec::HealthCheckSpec;
use std::net::{IpAddr, SocketAddr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

/// The status line must arrive within this many bytes; anything longer is not a status line.
const STATUS_LINE_MAX: usize = 1024;

/// Runs the probe against `addr`; `spec` gives `http.path`, `http.expectStatus` and the `Host:` name.
pub async fn probe(spec: &HealthCheckSpec, binding: &Binding, addr: SocketAddr) -> ProbeOutcome {
    let path = spec
        .http
        .as_ref()
        .and_then(|h| h.path.as_deref())
        .unwrap_or("/");
    if let Err(e) = check_path(path) {
        return ProbeOutcome::cannot_probe(FailureKind::Other, e);
    }
    let expect = spec.http.as_ref().and_then(|h| h.expect_status);
    let request = build_request(path, &host_header(&spec.target, addr));

    let start = Instant::now();
    let mut stream = match connect(binding, addr).await {
        Ok(s) => s,
        Err(o) => return o,
    };
    if let Err(e) = stream.write_all(request.as_bytes()).await {
        return path_error(&format!("sending the request to {addr}"), &e);
    }
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    let line = loop {
        if let Some(line) = first_line(&buf) {
            break line;
        }
        if buf.len() >= STATUS_LINE_MAX {
            return ProbeOutcome::failed(
                FailureKind::Other,
                format!("no status line in the first {STATUS_LINE_MAX} bytes from {addr}"),
            );
        }
        match stream.read(&mut chunk).await {
            Ok(0) => {
                if buf.is_empty() {
                    return ProbeOutcome::failed(
                        FailureKind::Other,
                        format!("{addr} closed the connection without answering"),
                    );
                }
                // A status line without its CRLF: judge what arrived.
                break buf.as_slice();
            }
            Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(e) => return path_error(&format!("reading the answer from {addr}"), &e),
        }
    };
    let latency = start.elapsed();
    let code = match parse_status_line(line) {
        Ok(code) => code,
        Err(e) => {
            return ProbeOutcome::Failed {
                kind: FailureKind::Other,
                error: format!("{addr}: {e}"),
                latency: Some(latency),
            }
        }
    };
    let ok = match expect {
        Some(want) => code == want,
        None => (200..400).contains(&code),
    };
    if ok {
        ProbeOutcome::Passed { latency }
    } else {
        let wanted = match expect {
            Some(want) => want.to_string(),
            None => "2xx or 3xx".to_string(),
        };
        ProbeOutcome::Failed {
            kind: FailureKind::HttpStatus,
            error: format!("HTTP status {code}, expected {wanted}"),
            latency: Some(latency),
        }
    }
}

/// `http.path` goes into the request line verbatim, so it must be an origin-form target: it starts with
/// `/` and holds only visible ASCII (no space, CR or LF that would let it inject headers).
pub fn check_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("http.path {path:?} must start with '/'"));
    }
    if let Some(c) = path.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "http.path {path:?} contains {c:?}; only visible ASCII is allowed (percent-encode the rest)"
        ));
    }
    Ok(())
}

/// `Host:` value: the target as the operator wrote it when it is a name (virtual hosts need it), the
/// address otherwise (IPv6 in brackets); the port only when it is not 80.
pub fn host_header(target: &str, addr: SocketAddr) -> String {
    let target = target.trim();
    let host = match target
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        Ok(IpAddr::V6(a)) => format!("[{a}]"),
        Ok(IpAddr::V4(a)) => a.to_string(),
        Err(_) if !target.is_empty() && target.bytes().all(|b| b.is_ascii_graphic()) => {
            target.to_string()
        }
        Err(_) => match addr.ip() {
            IpAddr::V6(a) => format!("[{a}]"),
            IpAddr::V4(a) => a.to_string(),
        },
    };
    if addr.port() == 80 {
        host
    } else {
        format!("{host}:{}", addr.port())
    }
}

fn build_request(path: &str, host: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: routerd-healthcheck/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// The bytes before the first LF (without a trailing CR), once a whole line has arrived.
fn first_line(buf: &[u8]) -> Option<&[u8]> {
    let end = buf.iter().position(|b| *b == b'\n')?;
    let line = buf.get(..end)?;
    Some(line.strip_suffix(b"\r").unwrap_or(line))
}

/// Parses `HTTP/<version> <3-digit code>[ <reason>]` (RFC 9112 section 4) from untrusted bytes.
pub fn parse_status_line(line: &[u8]) -> Result<u16, String> {
    let shown = || String::from_utf8_lossy(line.get(..80).unwrap_or(line)).into_owned();
    let rest = line
        .strip_prefix(b"HTTP/")
        .ok_or_else(|| format!("not an HTTP status line: {:?}", shown()))?;
    let space = rest
        .iter()
        .position(|b| *b == b' ')
        .ok_or_else(|| format!("no status code in {:?}", shown()))?;
    let version = rest.get(..space).unwrap_or_default();
    if version.is_empty() || !version.iter().all(|b| b.is_ascii_digit() || *b == b'.') {
        return Err(format!("bad HTTP version in {:?}", shown()));
    }
    let after = rest.get(space + 1..).unwrap_or_default();
    let digits = after.get(..3).unwrap_or(after);
    if digits.len() != 3 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(format!("bad status code in {:?}", shown()));
    }
    if !matches!(after.get(3), None | Some(b' ')) {
        return Err(format!("bad status code in {:?}", shown()));
    }
    let code = digits
        .iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    if code < 100 {
        return Err(format!("status code {code} out of range"));
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_status_lines() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK"), Ok(200));
        assert_eq!(
            parse_status_line(b"HTTP/1.0 503 Service Unavailable"),
            Ok(503)
        );
        assert_eq!(parse_status_line(b"HTTP/1.1 204"), Ok(204));
        assert_eq!(parse_status_line(b"HTTP/2 301 Moved"), Ok(301));
        for bad in [
            &b""[..],
            b"HTTP/1.1",
            b"HTTP/1.1 ",
            b"HTTP/1.1 20",
            b"HTTP/1.1 2000 OK",
            b"HTTP/1.1 abc OK",
            b"HTTP/x 200 OK",
            b"SSH-2.0-OpenSSH",
            b"HTTP/1.1 099 low",
        ] {
            assert!(
                parse_status_line(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn first_line_waits_for_lf() {
        assert_eq!(first_line(b"HTTP/1.1 200 OK"), None);
        assert_eq!(
            first_line(b"HTTP/1.1 200 OK\r\nX: y"),
            Some(&b"HTTP/1.1 200 OK"[..])
        );
        assert_eq!(
            first_line(b"HTTP/1.1 200 OK\n"),
            Some(&b"HTTP/1.1 200 OK"[..])
        );
    }

    #[test]
    fn paths_cannot_inject_headers() {
        assert!(check_path("/").is_ok());
        assert!(check_path("/generate_204?x=1").is_ok());
        assert!(check_path("health").is_err());
        assert!(check_path("/a b").is_err());
        assert!(check_path("/\r\nX-Evil: 1").is_err());
        assert!(check_path("/ü").is_err());
    }

    #[test]
    fn host_header_uses_the_name_or_the_address() {
        let v4: SocketAddr = "192.0.2.1:80".parse().unwrap();
        let v6: SocketAddr = "[2001:db8::1]:8080".parse().unwrap();
        assert_eq!(host_header("example.com", v4), "example.com");
        assert_eq!(host_header("192.0.2.1", v4), "192.0.2.1");
        assert_eq!(host_header("2001:db8::1", v6), "[2001:db8::1]:8080");
        assert_eq!(host_header("[2001:db8::1]", v6), "[2001:db8::1]:8080");
        assert_eq!(host_header("bad name", v4), "192.0.2.1");
        let req = build_request("/x", "example.com");
        assert!(
            req.starts_with("GET /x HTTP/1.1\r\nHost: example.com\r\n"),
            "{req}"
        );
        assert!(req.contains("\r\nConnection: close\r\n"));
        assert!(req.ends_with("\r\n\r\n"));
    }

    proptest! {
        #[test]
        fn status_line_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_status_line(&bytes);
            let _ = first_line(&bytes);
        }

        #[test]
        fn every_three_digit_code_round_trips(code in 100u16..1000, reason in "[ -~]{0,20}") {
            let line = format!("HTTP/1.1 {code} {reason}");
            prop_assert_eq!(parse_status_line(line.as_bytes()), Ok(code));
        }
    }
}
