//! Runs the RFC 5227 probe the state machine asks for: ARP probes on the schedule of `arp::ProbePlan`
//! and a watch for any ARP packet claiming the address, on an AF_PACKET socket bound to ARP.

use super::sockets::{PacketSocket, ETH_P_ARP};
use routerd_dhcpv4_client::arp::{conflict, parse_arp_frame, probe_frame, ProbePlan};
use routerd_dhcpv4_client::ProbeResult;
use std::net::Ipv4Addr;
use tokio::time::{sleep_until, Instant};

/// Probes `address` from `mac` on `ifindex`. A probe that cannot run (no socket) is reported clear with
/// a warning: the address is then used as the server gave it, as a client without probing would.
pub async fn run(ifindex: u32, mac: [u8; 6], address: Ipv4Addr, plan: ProbePlan) -> ProbeResult {
    let socket = match PacketSocket::open(ifindex, ETH_P_ARP, None) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, %address, "cannot open an ARP socket; using the address without a conflict probe");
            return ProbeResult::Clear;
        }
    };
    let start = Instant::now();
    let sends: Vec<Instant> = plan.send_times().map(|t| start + t).collect();
    let end = start + plan.duration();
    let frame = probe_frame(mac, address);
    let mut next = 0;
    let mut buf = vec![0u8; 1600];
    loop {
        let wake = sends.get(next).copied().unwrap_or(end);
        tokio::select! {
            _ = sleep_until(wake) => {
                if next < sends.len() {
                    if let Err(e) = socket.send(&frame).await {
                        tracing::warn!(error = %e, %address, "ARP probe not sent");
                    }
                    next += 1;
                } else {
                    tracing::debug!(%address, probes = sends.len(), "no ARP answer: the address is free");
                    return ProbeResult::Clear;
                }
            }
            r = socket.recv(&mut buf) => match r {
                Ok(n) => {
                    if let Some(packet) = buf.get(..n).and_then(parse_arp_frame) {
                        if let Some(other) = conflict(&packet, mac, address) {
                            return ProbeResult::Conflict { mac: other };
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, %address, "ARP socket failed; using the address without a conflict probe");
                    return ProbeResult::Clear;
                }
            }
        }
    }
}
