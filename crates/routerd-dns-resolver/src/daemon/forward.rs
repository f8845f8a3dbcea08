//! Forwarding a miss: upstreams are tried in the order upstream health gives (skipped ones last), each
//! with its own timeout. UDP uses a fresh socket per query (a random source port with a random ID);
//! a truncated UDP answer is asked again over TCP (RFC 7766). A SERVFAIL or REFUSED answer moves on to
//! the next upstream and is returned only when no other upstream answers better; no answer at all from
//! any upstream is the caller's SERVFAIL.

use super::resolver::Resolver;
use routerd_api::spec::UpstreamProtocol;
use routerd_dns_resolver::config::{Settings, Upstream};
use routerd_dns_resolver::wire::{answers_question, Question, HEADER_LEN};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{timeout, Instant};

/// How long one UDP upstream gets before the next is tried.
pub const UDP_TIMEOUT: Duration = Duration::from_millis(1500);
/// How long a TCP exchange (connect, ask, read) gets.
pub const TCP_TIMEOUT: Duration = Duration::from_secs(3);
/// The largest UDP answer read from an upstream.
const UDP_BUFFER: usize = 4096;

/// An upstream's answer.
pub struct Forwarded {
    /// As received (the upstream's ID; the caller writes the client's).
    pub response: Vec<u8>,
    pub upstream: Arc<str>,
}

pub async fn forward(
    resolver: &Resolver,
    settings: &Settings,
    query: &[u8],
    question: &Question,
) -> Option<Forwarded> {
    let mut fallback: Option<Forwarded> = None;
    let mut ask = query.to_vec();
    for index in resolver.upstream_order() {
        let Some(upstream) = settings.upstreams.get(index) else {
            continue;
        };
        let id = resolver.next_id();
        if let Some(slot) = ask.get_mut(0..2) {
            slot.copy_from_slice(&id.to_be_bytes());
        }
        match exchange(resolver, upstream, &ask, id, question).await {
            Ok(response) => {
                resolver.upstream_succeeded(settings, index);
                let rcode = response.get(3).map_or(0, |b| b & 0x0F);
                let answer = Forwarded {
                    response,
                    upstream: upstream.label.clone(),
                };
                // SERVFAIL (2) or REFUSED (5): another upstream may do better.
                if rcode == 2 || rcode == 5 {
                    fallback.get_or_insert(answer);
                    continue;
                }
                return Some(answer);
            }
            Err(error) => resolver.upstream_failed(settings, index, error),
        }
    }
    fallback
}

async fn exchange(
    resolver: &Resolver,
    upstream: &Upstream,
    query: &[u8],
    id: u16,
    question: &Question,
) -> Result<Vec<u8>, String> {
    match upstream.protocol {
        UpstreamProtocol::Udp => {
            let response = exchange_udp(upstream.address, query, id, question).await?;
            if response.get(2).is_some_and(|b| b & 0x02 != 0) {
                return exchange_tcp(upstream.address, query, id, question).await;
            }
            Ok(response)
        }
        UpstreamProtocol::Tcp => exchange_tcp(upstream.address, query, id, question).await,
        UpstreamProtocol::Tls | UpstreamProtocol::Https => {
            let secure = resolver.secure();
            let clients = secure.as_ref().as_ref().map_err(|e| e.clone())?;
            let work = async {
                if upstream.protocol == UpstreamProtocol::Tls {
                    clients.exchange_tls(upstream, query).await
                } else {
                    clients.exchange_https(upstream, query).await
                }
            };
            let response = timeout(TCP_TIMEOUT, work)
                .await
                .unwrap_or_else(|_| Err("timeout".into()))?;
            if matches(&response, query, id, question) {
                Ok(response)
            } else {
                Err("answer does not match the query".into())
            }
        }
    }
}

fn matches(response: &[u8], query: &[u8], id: u16, question: &Question) -> bool {
    response.len() >= HEADER_LEN
        && response[0..2] == id.to_be_bytes()
        && answers_question(response, query, question)
}

async fn exchange_udp(
    address: SocketAddr,
    query: &[u8],
    id: u16,
    question: &Question,
) -> Result<Vec<u8>, String> {
    let local: SocketAddr = if address.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|e| format!("udp socket: {e}"))?;
    socket
        .connect(address)
        .await
        .map_err(|e| format!("udp connect: {e}"))?;
    socket
        .send(query)
        .await
        .map_err(|e| format!("udp send: {e}"))?;
    let deadline = Instant::now() + UDP_TIMEOUT;
    let mut buf = vec![0u8; UDP_BUFFER];
    loop {
        let n = match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
            Err(_) => return Err("timeout".into()),
            Ok(Err(e)) => return Err(format!("udp receive: {e}")),
            Ok(Ok(n)) => n,
        };
        // Anything else arriving on this port (a late or forged answer) is ignored.
        if matches(&buf[..n], query, id, question) {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

async fn exchange_tcp(
    address: SocketAddr,
    query: &[u8],
    id: u16,
    question: &Question,
) -> Result<Vec<u8>, String> {
    let work = async {
        let mut stream = TcpStream::connect(address)
            .await
            .map_err(|e| format!("tcp connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        let len = u16::try_from(query.len()).map_err(|_| "query too long".to_string())?;
        let mut framed = Vec::with_capacity(query.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(query);
        stream
            .write_all(&framed)
            .await
            .map_err(|e| format!("tcp send: {e}"))?;
        loop {
            let n = stream
                .read_u16()
                .await
                .map_err(|e| format!("tcp receive: {e}"))?;
            let mut response = vec![0u8; usize::from(n)];
            stream
                .read_exact(&mut response)
                .await
                .map_err(|e| format!("tcp receive: {e}"))?;
            if matches(&response, query, id, question) {
                return Ok(response);
            }
        }
    };
    timeout(TCP_TIMEOUT, work)
        .await
        .unwrap_or_else(|_| Err("timeout".into()))
}
