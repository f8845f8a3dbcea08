//! The UDP and TCP listeners of one `spec.listen` address. The UDP loop answers local names and cache
//! hits inline with two buffers it reuses for every datagram; a miss is handed to its own task, so a
//! slow upstream never holds up the next query. A TCP connection carries any number of length-prefixed
//! queries (RFC 7766), answered in order, and is closed after an idle period.

use super::resolver::{Immediate, Resolver, Transport};
use socket2::{Domain, Socket, Type};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// The largest query read over UDP.
const UDP_BUFFER: usize = 4096;
/// A TCP connection without a query for this long is closed (RFC 7766 §6.2.3 suggests seconds).
const TCP_IDLE: Duration = Duration::from_secs(10);
/// Concurrent TCP connections served per listener; more wait in the kernel's backlog.
const TCP_CONNECTIONS: usize = 128;

/// The tasks serving one address; aborted when the address leaves `spec.listen`.
pub struct Listener {
    udp: JoinHandle<()>,
    tcp: JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.udp.abort();
        self.tcp.abort();
    }
}

/// Binds UDP and TCP on `address` and starts serving.
pub async fn bind(address: SocketAddr, resolver: Arc<Resolver>) -> std::io::Result<Listener> {
    let udp = UdpSocket::from_std(std::net::UdpSocket::from(socket_for(address, Type::DGRAM)?))?;
    let udp = Arc::new(udp);
    let tcp = socket_for(address, Type::STREAM)?;
    tcp.listen(1024)?;
    let tcp = TcpListener::from_std(std::net::TcpListener::from(tcp))?;
    let udp_task = tokio::spawn(serve_udp(udp, resolver.clone()));
    let tcp_task = tokio::spawn(serve_tcp(tcp, resolver));
    Ok(Listener {
        udp: udp_task,
        tcp: tcp_task,
    })
}

/// A bound, non-blocking socket for `address`. An IPv6 listener is IPv6 only: `[::]:53` would otherwise
/// also claim every IPv4 address's port 53 and refuse to coexist with `192.168.1.1:53` in the same
/// `spec.listen` (EADDRINUSE); each family gets the sockets it names.
fn socket_for(address: SocketAddr, kind: Type) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(address), kind, None)?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    if kind == Type::STREAM {
        // As tokio's own `TcpListener::bind`: a restart rebinds while old connections sit in TIME_WAIT.
        socket.set_reuse_address(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    Ok(socket)
}

async fn serve_udp(socket: Arc<UdpSocket>, resolver: Arc<Resolver>) {
    let mut query = vec![0u8; UDP_BUFFER];
    let mut answer = Vec::with_capacity(UDP_BUFFER);
    loop {
        let (n, client) = match socket.recv_from(&mut query).await {
            Ok(r) => r,
            Err(e) => {
                // ICMP errors of earlier sends surface here on some kernels; keep serving.
                tracing::debug!(error = %e, "udp receive");
                continue;
            }
        };
        let started = Instant::now();
        let raw = &query[..n];
        match resolver.answer_now(raw, client, Transport::Udp, started, &mut answer) {
            Immediate::Reply => {
                if let Err(e) = socket.send_to(&answer, client).await {
                    tracing::debug!(error = %e, %client, "udp send");
                }
            }
            Immediate::Drop => {}
            Immediate::Forward(question) => {
                let raw = raw.to_vec();
                let socket = socket.clone();
                let resolver = resolver.clone();
                tokio::spawn(async move {
                    let mut out = Vec::new();
                    resolver
                        .answer_forwarded(
                            &raw,
                            &question,
                            client,
                            Transport::Udp,
                            started,
                            &mut out,
                        )
                        .await;
                    if let Err(e) = socket.send_to(&out, client).await {
                        tracing::debug!(error = %e, %client, "udp send");
                    }
                });
            }
        }
    }
}

async fn serve_tcp(listener: TcpListener, resolver: Arc<Resolver>) {
    let permits = Arc::new(tokio::sync::Semaphore::new(TCP_CONNECTIONS));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let (stream, client) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "tcp accept");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let resolver = resolver.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_connection(stream, client, &resolver).await {
                tracing::debug!(error = %e, %client, "tcp connection");
            }
            drop(permit);
        });
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    client: SocketAddr,
    resolver: &Resolver,
) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut query = Vec::new();
    let mut answer = Vec::new();
    loop {
        let len = match tokio::time::timeout(TCP_IDLE, stream.read_u16()).await {
            Err(_) => return Ok(()),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Ok(r) => r?,
        };
        query.resize(usize::from(len), 0);
        tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut query))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        let started = Instant::now();
        match resolver.answer_now(&query, client, Transport::Tcp, started, &mut answer) {
            Immediate::Reply => {}
            Immediate::Drop => return Ok(()),
            Immediate::Forward(question) => {
                resolver
                    .answer_forwarded(
                        &query,
                        &question,
                        client,
                        Transport::Tcp,
                        started,
                        &mut answer,
                    )
                    .await
            }
        }
        let Ok(n) = u16::try_from(answer.len()) else {
            return Ok(());
        };
        let mut framed = Vec::with_capacity(answer.len() + 2);
        framed.extend_from_slice(&n.to_be_bytes());
        framed.extend_from_slice(&answer);
        stream.write_all(&framed).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_wildcard_listener_coexists_with_an_ipv4_one_on_the_same_port() {
        for kind in [Type::DGRAM, Type::STREAM] {
            let v4 = socket_for("127.0.0.1:0".parse().unwrap(), kind).unwrap();
            let port = v4.local_addr().unwrap().as_socket().unwrap().port();
            let v6 = socket_for(SocketAddr::from(([0u16; 8], port)), kind);
            assert!(v6.is_ok(), "{kind:?}: {v6:?}");
        }
    }
}
