//! `dns` probe: one query for `dns.name`/`dns.type` to the target over UDP, again over TCP when the
//! answer is truncated (RFC 7766 section 5). Success is RCODE NOERROR with at least one answer record.

pub mod message;

use super::binding::{path_error, Binding};
use super::tcp::connect;
use crate::outcome::{FailureKind, ProbeOutcome};
use message::{parse_type, rcode_name, type_name, Message, Name, Question, CLASS_IN, MESSAGE_MAX};
use routerd_api::spec::HealthCheckSpec;
use socket2::{Protocol, Type};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;
use tokio::time::Instant;

/// The question a spec asks, or why it cannot be asked.
pub fn question(spec: &HealthCheckSpec) -> Result<Question, String> {
    let dns = spec
        .dns
        .as_ref()
        .ok_or("dns: required for protocol dns (dns: {name: example.com})")?;
    let name = Name::parse(&dns.name).map_err(|e| format!("dns.name: {e}"))?;
    let qtype = parse_type(dns.type_.as_deref().unwrap_or("A"))?;
    Ok(Question {
        name,
        qtype,
        qclass: CLASS_IN,
    })
}

/// Runs the probe against `addr` with query id `id`.
pub async fn probe(
    spec: &HealthCheckSpec,
    binding: &Binding,
    addr: SocketAddr,
    id: u16,
) -> ProbeOutcome {
    let question = match question(spec) {
        Ok(q) => q,
        Err(e) => return ProbeOutcome::cannot_probe(FailureKind::Other, e),
    };
    let query = Message::query(id, question.clone());
    let bytes = match query.encode() {
        Ok(b) => b,
        Err(e) => return ProbeOutcome::cannot_probe(FailureKind::Other, format!("dns query: {e}")),
    };
    let start = Instant::now();
    let reply = match query_udp(binding, addr, &query, &bytes).await {
        Ok(r) if r.header.truncated() => {
            tracing::debug!(%addr, "DNS answer truncated, asking again over TCP");
            match query_tcp(binding, addr, &query, &bytes).await {
                Ok(r) => r,
                Err(o) => return o,
            }
        }
        Ok(r) => r,
        Err(o) => return o,
    };
    judge(&reply, &question, start.elapsed())
}

/// NOERROR with answers passes; anything else is `dns` with the RCODE name in the error.
pub fn judge(reply: &Message, question: &Question, latency: Duration) -> ProbeOutcome {
    let what = format!("{} {}", question.name, type_name(question.qtype));
    let rcode = reply.header.rcode();
    let error = if rcode != 0 {
        format!("{} for {what}", rcode_name(rcode))
    } else if reply.answers.is_empty() {
        format!("NOERROR without answers for {what}")
    } else {
        return ProbeOutcome::Passed { latency };
    };
    ProbeOutcome::Failed {
        kind: FailureKind::Dns,
        error,
        latency: Some(latency),
    }
}

/// True when `reply` answers `query`: same id, QR set, same question. Anything else on the socket is
/// ignored (a late answer to an earlier probe, or a spoofing attempt).
pub fn answers(reply: &Message, query: &Message) -> bool {
    reply.header.is_response()
        && reply.header.id == query.header.id
        && reply.questions == query.questions
}

async fn query_udp(
    binding: &Binding,
    addr: SocketAddr,
    query: &Message,
    bytes: &[u8],
) -> Result<Message, ProbeOutcome> {
    let sock = binding.socket(addr.ip(), Type::DGRAM, Protocol::UDP)?;
    let sock = UdpSocket::from_std(sock.into())
        .map_err(|e| path_error("registering the UDP socket", &e))?;
    // A connected socket only receives from the target, and gets ICMP port unreachable as ECONNREFUSED.
    sock.connect(addr)
        .await
        .map_err(|e| path_error(&format!("connect to {addr}"), &e))?;
    sock.send(bytes)
        .await
        .map_err(|e| path_error(&format!("sending the query to {addr}"), &e))?;
    let mut buf = vec![0u8; MESSAGE_MAX];
    loop {
        let n = sock
            .recv(&mut buf)
            .await
            .map_err(|e| path_error(&format!("waiting for the answer from {addr}"), &e))?;
        match Message::parse(buf.get(..n).unwrap_or_default()) {
            Ok(reply) if answers(&reply, query) => return Ok(reply),
            Ok(_) => {
                tracing::debug!(%addr, "ignoring a DNS message that does not answer the query")
            }
            Err(e) => tracing::debug!(%addr, error = %e, "ignoring a malformed DNS datagram"),
        }
    }
}

async fn query_tcp(
    binding: &Binding,
    addr: SocketAddr,
    query: &Message,
    bytes: &[u8],
) -> Result<Message, ProbeOutcome> {
    let mut stream = connect(binding, addr).await?;
    let len = u16::try_from(bytes.len()).map_err(|_| {
        ProbeOutcome::cannot_probe(FailureKind::Other, "DNS query longer than 65535 bytes")
    })?;
    let mut framed = Vec::with_capacity(bytes.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(bytes);
    stream
        .write_all(&framed)
        .await
        .map_err(|e| path_error(&format!("sending the query to {addr} over TCP"), &e))?;
    let mut len = [0u8; 2];
    stream
        .read_exact(&mut len)
        .await
        .map_err(|e| path_error(&format!("reading the answer length from {addr}"), &e))?;
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream
        .read_exact(&mut reply)
        .await
        .map_err(|e| path_error(&format!("reading the answer from {addr}"), &e))?;
    let msg = Message::parse(&reply).map_err(|e| {
        ProbeOutcome::failed(
            FailureKind::Other,
            format!("malformed DNS answer over TCP from {addr}: {e}"),
        )
    })?;
    if !answers(&msg, query) {
        return Err(ProbeOutcome::failed(
            FailureKind::Other,
            format!("the TCP answer from {addr} does not match the query (id or question differ)"),
        ));
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use message::{Header, Record};
    use routerd_api::spec::{DnsProbeSpec, ProbeProtocol};

    fn spec(name: &str, type_: Option<&str>) -> HealthCheckSpec {
        HealthCheckSpec {
            target: "192.0.2.53".into(),
            protocol: ProbeProtocol::Dns,
            port: None,
            interval: None,
            timeout: None,
            healthy_threshold: None,
            unhealthy_threshold: None,
            source_interface: None,
            source_address: None,
            fwmark: None,
            http: None,
            dns: Some(DnsProbeSpec {
                name: name.into(),
                type_: type_.map(str::to_string),
            }),
        }
    }

    #[test]
    fn question_defaults_to_a_and_rejects_bad_settings() {
        let q = question(&spec("example.com", None)).unwrap();
        assert_eq!((q.qtype, q.qclass), (1, 1));
        assert_eq!(
            question(&spec("example.com", Some("aaaa"))).unwrap().qtype,
            28
        );
        assert!(question(&spec("example.com", Some("BOGUS"))).is_err());
        assert!(question(&spec("a..b", None)).is_err());
        let mut no_dns = spec("x", None);
        no_dns.dns = None;
        assert!(question(&no_dns).is_err());
    }

    #[test]
    fn judges_rcode_and_answers() {
        let q = question(&spec("example.com", None)).unwrap();
        let mut reply = Message::query(7, q.clone());
        reply.header = Header {
            id: 7,
            flags: 0x8180,
        };
        let ms = Duration::from_millis(2);
        assert_eq!(
            judge(&reply, &q, ms).error(),
            Some("NOERROR without answers for example.com A")
        );
        reply.answers.push(Record {
            name: q.name.clone(),
            rtype: 1,
            rclass: 1,
            ttl: 60,
            rdata: vec![192, 0, 2, 1],
        });
        assert!(judge(&reply, &q, ms).is_passed());
        reply.header.flags = 0x8183;
        let o = judge(&reply, &q, ms);
        assert_eq!(o.failure_kind(), Some(FailureKind::Dns));
        assert_eq!(o.error(), Some("NXDOMAIN for example.com A"));
        assert_eq!(o.latency(), Some(ms));
    }

    #[test]
    fn only_the_matching_response_answers() {
        let q = question(&spec("example.com", None)).unwrap();
        let query = Message::query(7, q.clone());
        let mut reply = query.clone();
        assert!(!answers(&reply, &query), "QR not set");
        reply.header.flags |= 0x8000;
        assert!(answers(&reply, &query));
        reply.header.id = 8;
        assert!(!answers(&reply, &query));
        reply.header.id = 7;
        reply.questions[0].qtype = 28;
        assert!(!answers(&reply, &query));
    }
}
