//! Encrypted upstreams: DNS over TLS (RFC 7858: the TCP framing inside TLS, port 853) and DNS over HTTPS
//! (RFC 8484: `POST /dns-query` with `application/dns-message` over HTTP/2, port 443). rustls with the
//! ring provider verifies the upstream against the system's trust anchors, or against the PEM file the
//! config names (`tlsTrustFile`: a private resolver, the tests' self-signed root); the name checked is
//! `serverName`, else the upstream's IP address.
//!
//! A DoH upstream keeps one HTTP/2 connection and multiplexes queries on it (a clone of its sender is
//! taken under a lock that is released before any await); a DoT exchange opens a connection per query,
//! made cheap by TLS 1.3 session resumption from the client config's session cache.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::SendRequest;
use routerd_dns_resolver::config::Upstream;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Where Debian keeps the system's trust anchors.
pub const SYSTEM_TRUST: &str = "/etc/ssl/certs/ca-certificates.crt";
/// The DoH path (RFC 8484 §3's example, what every public resolver serves).
pub const DOH_PATH: &str = "/dns-query";

/// TLS client configs for DoT (no ALPN needed) and DoH (ALPN `h2`), and the open DoH connections.
pub struct SecureClients {
    dot: Arc<ClientConfig>,
    doh: Arc<ClientConfig>,
    doh_connections: Mutex<Vec<(SocketAddr, SendRequest<Full<Bytes>>)>>,
}

fn load_roots(trust_file: Option<&str>) -> Result<RootCertStore, String> {
    let path = trust_file.unwrap_or(SYSTEM_TRUST);
    let pem = std::fs::read(Path::new(path)).map_err(|e| format!("{path}: {e}"))?;
    let mut roots = RootCertStore::empty();
    for cert in pem_certificates(&pem) {
        // A certificate the store cannot use is skipped, as every TLS client does with a system bundle.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(format!("{path}: no usable certificate"));
    }
    Ok(roots)
}

/// The `CERTIFICATE` blocks of a PEM file.
fn pem_certificates(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect()
}

impl SecureClients {
    pub fn new(trust_file: Option<&str>) -> Result<SecureClients, String> {
        let roots = load_roots(trust_file)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let build = |alpn: Vec<Vec<u8>>| -> Result<Arc<ClientConfig>, String> {
            let mut c = ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots.clone())
                .with_no_client_auth();
            c.alpn_protocols = alpn;
            Ok(Arc::new(c))
        };
        Ok(SecureClients {
            dot: build(Vec::new())?,
            doh: build(vec![b"h2".to_vec()])?,
            doh_connections: Mutex::new(Vec::new()),
        })
    }

    /// One DoT exchange: connect, TLS, the length-prefixed query, the length-prefixed answer.
    pub async fn exchange_tls(&self, upstream: &Upstream, query: &[u8]) -> Result<Vec<u8>, String> {
        let mut stream = self.connect(upstream, self.dot.clone()).await?;
        let len = u16::try_from(query.len()).map_err(|_| "query too long".to_string())?;
        let mut framed = Vec::with_capacity(query.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(query);
        stream
            .write_all(&framed)
            .await
            .map_err(|e| format!("tls send: {e}"))?;
        let n = stream
            .read_u16()
            .await
            .map_err(|e| format!("tls receive: {e}"))?;
        let mut response = vec![0u8; usize::from(n)];
        stream
            .read_exact(&mut response)
            .await
            .map_err(|e| format!("tls receive: {e}"))?;
        Ok(response)
    }

    /// One DoH exchange on the upstream's HTTP/2 connection (opened when there is none).
    pub async fn exchange_https(
        &self,
        upstream: &Upstream,
        query: &[u8],
    ) -> Result<Vec<u8>, String> {
        let mut sender = match self.cached_sender(upstream.address) {
            Some(s) => s,
            None => self.open_doh(upstream).await?,
        };
        let authority = upstream
            .server_name
            .clone()
            .unwrap_or_else(|| upstream.address.to_string());
        let request = hyper::Request::post(format!("https://{authority}{DOH_PATH}"))
            .header("content-type", "application/dns-message")
            .header("accept", "application/dns-message")
            .body(Full::new(Bytes::copy_from_slice(query)))
            .map_err(|e| format!("https request: {e}"))?;
        let response = match sender.send_request(request).await {
            Ok(r) => r,
            Err(e) => {
                self.forget(upstream.address);
                return Err(format!("https: {e}"));
            }
        };
        if response.status() != hyper::StatusCode::OK {
            return Err(format!("https status {}", response.status()));
        }
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("https body: {e}"))?
            .to_bytes();
        Ok(body.to_vec())
    }

    fn cached_sender(&self, address: SocketAddr) -> Option<SendRequest<Full<Bytes>>> {
        let connections = self
            .doh_connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        connections
            .iter()
            .find(|(a, s)| *a == address && s.is_ready())
            .map(|(_, s)| s.clone())
    }

    fn forget(&self, address: SocketAddr) {
        self.doh_connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(a, _)| *a != address);
    }

    async fn open_doh(&self, upstream: &Upstream) -> Result<SendRequest<Full<Bytes>>, String> {
        let stream = self.connect(upstream, self.doh.clone()).await?;
        let (sender, connection) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(stream),
        )
        .await
        .map_err(|e| format!("http/2 handshake: {e}"))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "doh connection closed");
            }
        });
        let mut connections = self
            .doh_connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        connections.retain(|(a, _)| *a != upstream.address);
        connections.push((upstream.address, sender.clone()));
        Ok(sender)
    }

    async fn connect(
        &self,
        upstream: &Upstream,
        config: Arc<ClientConfig>,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
        let name = match &upstream.server_name {
            Some(n) => {
                ServerName::try_from(n.clone()).map_err(|e| format!("serverName {n:?}: {e}"))?
            }
            None => ServerName::IpAddress(upstream.address.ip().into()),
        };
        let tcp = TcpStream::connect(upstream.address)
            .await
            .map_err(|e| format!("tcp connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("tls: {e}"))
    }
}
