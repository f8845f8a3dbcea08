//! The session's data plane: IP packets between the device and the PPPoE session.
//!
//! - `tun`: the daemon forwards. A wake-up drains up to [`BATCH`] packets from the TUN and from the
//!   session socket; each packet is read straight into a frame buffer at the offset its headers need
//!   (TUN → session: after the 22 octets of Ethernet, PPPoE and PPP headers; session → TUN: the IP packet
//!   is written from inside the received frame), so no packet is copied or allocated on the way.
//! - `kernel`: the kernel's PPPoE driver carries IP itself (`sys::kernel_session`); the daemon only
//!   keeps the control protocols.

use std::io;
use std::os::fd::OwnedFd;

use routerd_proto::ppp::Protocol;
use routerd_proto::pppoe::ETHERTYPE_SESSION;

use super::sys;

/// Packets moved per wake-up and direction before other work gets its turn.
pub const BATCH: usize = 64;
/// Ethernet (14) + PPPoE (6) + PPP protocol (2).
pub const HEADERS: usize = 22;
/// Room for the largest frame we accept (jumbo frames are not PPPoE's business).
pub const FRAME_BUFFER: usize = 2048;

/// Where the session is: what every outgoing frame's headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Path {
    pub our_mac: [u8; 6],
    pub ac_mac: [u8; 6],
    pub session_id: u16,
    pub ipv4: bool,
    pub ipv6: bool,
}

/// Fills the 22 header octets for an IP packet of `ip_len` octets and `protocol`.
pub fn write_headers(frame: &mut [u8], path: &Path, protocol: Protocol, ip_len: usize) -> bool {
    let Some(header) = frame.get_mut(..HEADERS) else {
        return false;
    };
    let Ok(length) = u16::try_from(ip_len + 2) else {
        return false;
    };
    header[0..6].copy_from_slice(&path.ac_mac);
    header[6..12].copy_from_slice(&path.our_mac);
    header[12..14].copy_from_slice(&ETHERTYPE_SESSION.to_be_bytes());
    header[14] = 0x11;
    header[15] = 0x00;
    header[16..18].copy_from_slice(&path.session_id.to_be_bytes());
    header[18..20].copy_from_slice(&length.to_be_bytes());
    header[20..22].copy_from_slice(&protocol.0.to_be_bytes());
    true
}

/// What a received session frame is to the data plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// An IP packet of our session whose NCP is open: `frame[HEADERS..end]` goes to the device.
    Ip { end: usize },
    /// Anything else: the control plane's (LCP, auth, NCPs, strangers, garbage).
    Control,
}

/// Classifies a received Ethernet frame of EtherType 0x8864 without copying it.
pub fn classify(frame: &[u8], path: Option<&Path>) -> Received {
    let Some(path) = path else {
        return Received::Control;
    };
    if frame.len() < HEADERS
        || frame[6..12] != path.ac_mac
        || frame[14] != 0x11
        || frame[15] != 0
        || u16::from_be_bytes([frame[16], frame[17]]) != path.session_id
    {
        return Received::Control;
    }
    let length = usize::from(u16::from_be_bytes([frame[18], frame[19]]));
    let end = 20 + length;
    if length < 2 || end > frame.len() {
        return Received::Control;
    }
    match Protocol(u16::from_be_bytes([frame[20], frame[21]])) {
        Protocol::IPV4 if path.ipv4 => Received::Ip { end },
        Protocol::IPV6 if path.ipv6 => Received::Ip { end },
        _ => Received::Control,
    }
}

/// The protocol of an IP packet from the device, when its NCP is open.
pub fn protocol_of(packet: &[u8], path: &Path) -> Option<Protocol> {
    match packet.first().map(|b| b >> 4) {
        Some(4) if path.ipv4 => Some(Protocol::IPV4),
        Some(6) if path.ipv6 => Some(Protocol::IPV6),
        _ => None,
    }
}

/// Counters of the forwarding loop.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub packets_in: u64,
    pub packets_out: u64,
    pub dropped: u64,
}

/// Forwards up to [`BATCH`] packets from the TUN to the session. `read` and `send` are the TUN read and
/// the session socket send (so tests can drive it without devices). Returns whether the TUN ran dry.
pub fn tun_to_session(
    frame: &mut [u8],
    path: &Path,
    mut read: impl FnMut(&mut [u8]) -> io::Result<usize>,
    mut send: impl FnMut(&[u8]) -> io::Result<usize>,
    traffic: &mut Traffic,
) -> io::Result<bool> {
    for _ in 0..BATCH {
        let Some(room) = frame.get_mut(HEADERS..) else {
            return Ok(true);
        };
        let n = match read(room) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
            Err(e) => return Err(e),
        };
        let Some(protocol) = frame
            .get(HEADERS..HEADERS + n)
            .and_then(|p| protocol_of(p, path))
        else {
            traffic.dropped += 1;
            continue;
        };
        if !write_headers(frame, path, protocol, n) {
            traffic.dropped += 1;
            continue;
        }
        match send(&frame[..HEADERS + n]) {
            Ok(_) => {
                traffic.packets_out += 1;
                traffic.bytes_out += n as u64;
            }
            // A full socket queue drops the packet, as a congested link would; TCP recovers.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => traffic.dropped += 1,
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => traffic.dropped += 1,
            Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => traffic.dropped += 1,
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

/// Writes one IP packet from a received frame to the device (`frame[HEADERS..end]`).
pub fn session_to_device(device: &OwnedFd, frame: &[u8], end: usize, traffic: &mut Traffic) {
    let Some(packet) = frame.get(HEADERS..end) else {
        traffic.dropped += 1;
        return;
    };
    match sys::write(device, packet) {
        Ok(_) => {
            traffic.packets_in += 1;
            traffic.bytes_in += packet.len() as u64;
        }
        Err(_) => traffic.dropped += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> Path {
        Path {
            our_mac: [2, 0, 0, 0, 0, 1],
            ac_mac: [2, 0, 0, 0, 0, 0xac],
            session_id: 0x1234,
            ipv4: true,
            ipv6: false,
        }
    }

    #[test]
    fn packets_from_the_device_get_session_headers_in_place_and_in_batches() {
        let packets: Vec<Vec<u8>> = vec![
            vec![0x45, 1, 2, 3],
            vec![0x60, 9, 9], // IPv6 while IPv6CP is closed: dropped
            vec![0x45; 100],
        ];
        let mut queue = packets.clone().into_iter();
        let mut sent: Vec<Vec<u8>> = Vec::new();
        let mut frame = vec![0u8; FRAME_BUFFER];
        let mut traffic = Traffic::default();
        let dry = tun_to_session(
            &mut frame,
            &path(),
            |buf| match queue.next() {
                Some(p) => {
                    buf[..p.len()].copy_from_slice(&p);
                    Ok(p.len())
                }
                None => Err(io::ErrorKind::WouldBlock.into()),
            },
            |f| {
                sent.push(f.to_vec());
                Ok(f.len())
            },
            &mut traffic,
        )
        .unwrap();
        assert!(dry);
        assert_eq!(sent.len(), 2);
        assert_eq!(traffic.dropped, 1);
        assert_eq!(traffic.bytes_out, 104);
        let first = &sent[0];
        assert_eq!(&first[0..6], &path().ac_mac);
        assert_eq!(&first[6..12], &path().our_mac);
        assert_eq!(
            &first[12..22],
            &[0x88, 0x64, 0x11, 0, 0x12, 0x34, 0, 6, 0, 0x21]
        );
        assert_eq!(&first[22..], &packets[0][..]);
        // The same frame coming back from the AC classifies as IP of our session.
        let mut back = first.clone();
        back[6..12].copy_from_slice(&path().ac_mac);
        assert_eq!(classify(&back, Some(&path())), Received::Ip { end: 26 });
    }

    #[test]
    fn a_batch_stops_after_batch_packets_so_control_frames_get_their_turn() {
        let mut frame = vec![0u8; FRAME_BUFFER];
        let mut traffic = Traffic::default();
        let dry = tun_to_session(
            &mut frame,
            &path(),
            |buf| {
                buf[0] = 0x45;
                Ok(20)
            },
            |f| Ok(f.len()),
            &mut traffic,
        )
        .unwrap();
        assert!(!dry);
        assert_eq!(traffic.packets_out, BATCH as u64);
    }

    #[test]
    fn frames_of_other_sessions_closed_protocols_or_bad_lengths_are_control() {
        let mut frame = vec![0u8; 40];
        assert!(write_headers(&mut frame, &path(), Protocol::IPV4, 18));
        frame[6..12].copy_from_slice(&path().ac_mac);
        assert_eq!(classify(&frame, Some(&path())), Received::Ip { end: 40 });
        assert_eq!(classify(&frame, None), Received::Control);
        let mut other = frame.clone();
        other[17] ^= 1;
        assert_eq!(classify(&other, Some(&path())), Received::Control);
        let mut lcp = frame.clone();
        lcp[20..22].copy_from_slice(&[0xc0, 0x21]);
        assert_eq!(classify(&lcp, Some(&path())), Received::Control);
        let mut long = frame.clone();
        long[18..20].copy_from_slice(&200u16.to_be_bytes());
        assert_eq!(classify(&long, Some(&path())), Received::Control);
        assert_eq!(classify(&frame[..10], Some(&path())), Received::Control);
        let mut v6 = frame;
        v6[20..22].copy_from_slice(&[0x00, 0x57]);
        assert_eq!(
            classify(&v6, Some(&path())),
            Received::Control,
            "IPv6CP closed"
        );
    }
}
