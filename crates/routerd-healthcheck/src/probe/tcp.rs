//! `tcp` probe: a connect to target:port. A completed handshake passes; RST is `refused`; no route is
//! `unreachable`; silence is left to the caller's timeout.

use super::binding::{path_error, Binding};
use crate::outcome::ProbeOutcome;
use socket2::{Protocol, Type};
use std::net::SocketAddr;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Opens a bound TCP connection (shared with the `http` and `dns` probes).
pub async fn connect(binding: &Binding, addr: SocketAddr) -> Result<TcpStream, ProbeOutcome> {
    let sock = binding.socket(addr.ip(), Type::STREAM, Protocol::TCP)?;
    let std_stream: std::net::TcpStream = sock.into();
    tokio::net::TcpSocket::from_std_stream(std_stream)
        .connect(addr)
        .await
        .map_err(|e| path_error(&format!("connect to {addr}"), &e))
}

/// Connects and closes at once; the latency is the handshake time.
pub async fn probe(binding: &Binding, addr: SocketAddr) -> ProbeOutcome {
    let start = Instant::now();
    match connect(binding, addr).await {
        Ok(stream) => {
            let latency = start.elapsed();
            drop(stream);
            ProbeOutcome::Passed { latency }
        }
        Err(outcome) => outcome,
    }
}
