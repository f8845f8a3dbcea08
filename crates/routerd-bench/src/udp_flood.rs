//! A paced UDP sender for the firewall-log and flow benchmarks: iperf3 tops out far below the rates those
//! benchmarks need on two shared cores, and its UDP test needs its first datagram answered. Sends
//! `size`-byte datagrams at `rate` packets/s for `seconds`, cycling the destination port over `ports`
//! consecutive ports (one port: one flow; many ports: a new conntrack flow per packet).

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// What was sent.
pub struct Sent {
    pub packets: u64,
    pub elapsed: Duration,
}

pub fn run(
    target: std::net::IpAddr,
    port: u16,
    ports: u16,
    rate: u64,
    seconds: f64,
    size: usize,
) -> std::io::Result<Sent> {
    let socket = UdpSocket::bind(if target.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    })?;
    let payload = vec![0x5au8; size];
    let total = (rate as f64 * seconds) as u64;
    let started = Instant::now();
    let mut sent = 0u64;
    let ports = u64::from(ports.max(1));
    while sent < total {
        // Packets due by now; send them, then sleep briefly when ahead.
        let due = ((started.elapsed().as_secs_f64() * rate as f64) as u64).min(total);
        if sent >= due {
            std::thread::sleep(Duration::from_micros(200));
            continue;
        }
        while sent < due {
            let offset = u16::try_from(sent % ports).unwrap_or(0);
            let destination = SocketAddr::new(target, port.wrapping_add(offset));
            // ENOBUFS/EAGAIN under overload: the packet is not sent and not counted.
            if socket.send_to(&payload, destination).is_ok() {
                sent += 1;
            } else {
                break;
            }
        }
    }
    Ok(Sent {
        packets: sent,
        elapsed: started.elapsed(),
    })
}
