//! The probes: one module per protocol, plus the socket binding they all share. Each returns a
//! [`ProbeOutcome`]; none of them panics on what the network sends.

pub mod binding;
pub mod dns;
pub mod http;
pub mod icmp;
pub mod tcp;

use crate::config::{protocol_name, ProbeConfig};
use crate::outcome::{FailureKind, ProbeOutcome};
use binding::Binding;
use routerd_api::duration::format_duration;
use routerd_api::spec::ProbeProtocol;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Runs one probe of `config` against the already resolved `target`, bounded by `timeout` (silence
/// until then is [`ProbeOutcome::Timeout`]).
pub async fn run_probe(config: &ProbeConfig, target: IpAddr, timeout: Duration) -> ProbeOutcome {
    let binding = match Binding::from_config(config) {
        Ok(b) => b,
        Err(o) => return o,
    };
    let spec = &config.spec;
    let nonce = nonce();
    let port = config.port();
    let work = async {
        match spec.protocol {
            ProbeProtocol::Icmp => icmp::probe(&binding, target, nonce).await,
            ProbeProtocol::Tcp => match port {
                Some(p) => tcp::probe(&binding, SocketAddr::new(target, p)).await,
                None => ProbeOutcome::cannot_probe(
                    FailureKind::Other,
                    "port: required for protocol tcp",
                ),
            },
            ProbeProtocol::Dns => {
                let addr = SocketAddr::new(target, port.unwrap_or(crate::config::DEFAULT_DNS_PORT));
                dns::probe(spec, &binding, addr, nonce as u16).await
            }
            ProbeProtocol::Http => {
                let addr =
                    SocketAddr::new(target, port.unwrap_or(crate::config::DEFAULT_HTTP_PORT));
                http::probe(spec, &binding, addr).await
            }
        }
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(outcome) => outcome,
        Err(_) => {
            let to = match port {
                Some(p) => SocketAddr::new(target, p).to_string(),
                None => target.to_string(),
            };
            ProbeOutcome::Timeout {
                error: format!(
                    "no {} answer from {to} within {}",
                    protocol_name(spec.protocol),
                    format_duration(timeout)
                ),
            }
        }
    }
}

/// One whole probe as the daemon runs it every interval: resolve `spec.target`, then probe, both within
/// `spec.timeout`. A target that does not resolve is `CannotProbe` with `failureKind: dns` (bad target).
pub async fn probe_once(config: &ProbeConfig) -> ProbeOutcome {
    let timeout = config.timeout();
    let start = Instant::now();
    let want_v4 = config
        .spec
        .source_address
        .as_deref()
        .and_then(|a| a.trim().parse::<IpAddr>().ok())
        .map(|a| a.is_ipv4());
    let target = match tokio::time::timeout(timeout, resolve(&config.spec.target, want_v4)).await {
        Ok(Ok(addr)) => addr,
        Ok(Err(e)) => return ProbeOutcome::cannot_probe(FailureKind::Dns, e),
        Err(_) => {
            return ProbeOutcome::cannot_probe(
                FailureKind::Dns,
                format!(
                    "resolving target {:?} took longer than {}",
                    config.spec.target,
                    format_duration(timeout)
                ),
            )
        }
    };
    run_probe(config, target, timeout.saturating_sub(start.elapsed())).await
}

/// Resolves `target`: an IP literal (IPv6 optionally in brackets) as is, else a host name through the
/// system resolver (first address returned, in the resolver's preference order).
pub async fn resolve_target(target: &str) -> Result<IpAddr, String> {
    resolve(target, None).await
}

/// Like [`resolve_target`], preferring addresses of one family (the `sourceAddress`'s, so a name with
/// both A and AAAA records is probed in the family the check is bound to).
async fn resolve(target: &str, want_v4: Option<bool>) -> Result<IpAddr, String> {
    let t = target.trim();
    if t.is_empty() {
        return Err("target is empty".to_string());
    }
    let literal = t
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(t);
    if let Ok(addr) = literal.parse::<IpAddr>() {
        return Ok(addr);
    }
    let addrs: Vec<IpAddr> = tokio::net::lookup_host((t, 0))
        .await
        .map_err(|e| format!("target {t:?} does not resolve: {e}"))?
        .map(|a| a.ip())
        .collect();
    let preferred = want_v4.and_then(|v4| addrs.iter().find(|a| a.is_ipv4() == v4));
    preferred
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("target {t:?} resolves to no address"))
}

/// A per-probe value for ICMP identifiers, payloads and DNS query ids: unpredictable enough that a
/// stray or forged answer does not match, without a random-number dependency (`RandomState` is seeded
/// from the OS once per thread and perturbed per instance).
fn nonce() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    RandomState::new().hash_one((n, std::process::id(), std::time::SystemTime::now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn literals_resolve_without_the_network() {
        assert_eq!(
            resolve_target("192.0.2.1").await,
            Ok("192.0.2.1".parse().unwrap())
        );
        assert_eq!(
            resolve_target(" [2001:db8::1] ").await,
            Ok("2001:db8::1".parse().unwrap())
        );
        assert!(resolve_target("").await.is_err());
        // Host names go to the system resolver; the namespace tests cover them (this unit test must not
        // depend on the build host's DNS).
    }

    #[test]
    fn nonces_differ() {
        let a: Vec<u64> = (0..100).map(|_| nonce()).collect();
        let mut b = a.clone();
        b.sort_unstable();
        b.dedup();
        assert_eq!(a.len(), b.len());
    }
}
