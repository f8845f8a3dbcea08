//! Ethernet + IPv4 + UDP framing for the AF_PACKET socket: the client sends and receives whole frames
//! while it has no address the kernel could route for it.
//!
//! Received frames are checked (Ethernet type, IPv4 version and header checksum, no fragments, UDP
//! lengths) before their payload goes to the DHCP parser. The UDP checksum is not verified: frames
//! tapped by AF_PACKET may still carry a partial checksum the NIC or veth would have completed
//! (`CHECKSUM_PARTIAL`), so a correct packet can look wrong; the DHCP content is validated on its own.

use std::net::Ipv4Addr;

pub const ETH_HEADER_LEN: usize = 14;
pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const BROADCAST_MAC: [u8; 6] = [0xff; 6];
pub const IPV4_HEADER_LEN: usize = 20;
pub const UDP_HEADER_LEN: usize = 8;
pub const IPPROTO_UDP: u8 = 17;
pub const DHCP_SERVER_PORT: u16 = 67;
pub const DHCP_CLIENT_PORT: u16 = 68;
/// TTL of DHCP messages (RFC 1700's default IP TTL, as dhcpcd and ISC dhclient use).
pub const TTL: u8 = 64;
/// Ethernet frames are at least this long without the FCS; shorter ones are padded.
pub const MIN_FRAME_LEN: usize = 60;

/// Why a frame is not a UDP datagram for the DHCP client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {0} bytes is too short")]
    TooShort(usize),
    #[error("ethertype {0:#06x} is not IPv4")]
    NotIpv4(u16),
    #[error("IP version {0} or header length {1} is invalid")]
    BadIpHeader(u8, usize),
    #[error("IPv4 header checksum does not match")]
    BadIpChecksum,
    #[error("IP total length {0} does not fit the frame")]
    BadIpLength(usize),
    #[error("IP protocol {0} is not UDP")]
    NotUdp(u8),
    #[error("a fragment (DHCP messages are never fragmented here)")]
    Fragment,
    #[error("UDP length {0} does not fit the IP packet")]
    BadUdpLength(usize),
}

/// A UDP datagram received in an Ethernet frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram<'a> {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: &'a [u8],
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn mac(b: &[u8]) -> [u8; 6] {
    let mut m = [0u8; 6];
    m.copy_from_slice(&b[..6]);
    m
}

/// The Internet checksum (RFC 1071) of `data` with `initial` already summed in.
pub fn checksum(initial: u32, data: &[u8]) -> u16 {
    let mut sum = initial;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A whole Ethernet frame carrying `payload` from `src` to `dst` over UDP.
#[allow(clippy::too_many_arguments)]
pub fn udp_frame(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src_ip: Ipv4Addr,
    dst_ip: Ipv4Addr,
    src_port: u16,
    dst_port: u16,
    payload: &[u8],
) -> Vec<u8> {
    let udp_len = UDP_HEADER_LEN + payload.len();
    let ip_len = IPV4_HEADER_LEN + udp_len;
    let mut f = Vec::with_capacity(ETH_HEADER_LEN + ip_len);
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    // IPv4 header: version 4, IHL 5, TOS 0x10 (low delay, as DHCP clients traditionally set), no
    // fragmentation, TTL, UDP.
    let ip_start = f.len();
    f.extend_from_slice(&[0x45, 0x10]);
    f.extend_from_slice(&(ip_len as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 0, TTL, IPPROTO_UDP, 0, 0]);
    f.extend_from_slice(&src_ip.octets());
    f.extend_from_slice(&dst_ip.octets());
    let ip_sum = checksum(0, &f[ip_start..ip_start + IPV4_HEADER_LEN]);
    f[ip_start + 10..ip_start + 12].copy_from_slice(&ip_sum.to_be_bytes());
    let udp_start = f.len();
    f.extend_from_slice(&src_port.to_be_bytes());
    f.extend_from_slice(&dst_port.to_be_bytes());
    f.extend_from_slice(&(udp_len as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    // Pseudo header: source, destination, protocol, UDP length.
    let mut pseudo: u32 = 0;
    for a in [src_ip.octets(), dst_ip.octets()] {
        pseudo += u32::from(u16::from_be_bytes([a[0], a[1]]));
        pseudo += u32::from(u16::from_be_bytes([a[2], a[3]]));
    }
    pseudo += u32::from(IPPROTO_UDP) + udp_len as u32;
    let udp_sum = match checksum(pseudo, &f[udp_start..]) {
        0 => 0xffff,
        s => s,
    };
    f[udp_start + 6..udp_start + 8].copy_from_slice(&udp_sum.to_be_bytes());
    if f.len() < MIN_FRAME_LEN {
        f.resize(MIN_FRAME_LEN, 0);
    }
    f
}

/// Parses a received Ethernet frame as an IPv4 UDP datagram.
pub fn parse_udp_frame(f: &[u8]) -> Result<Datagram<'_>, FrameError> {
    if f.len() < ETH_HEADER_LEN + IPV4_HEADER_LEN + UDP_HEADER_LEN {
        return Err(FrameError::TooShort(f.len()));
    }
    let ethertype = be16(f, 12);
    if ethertype != ETHERTYPE_IPV4 {
        return Err(FrameError::NotIpv4(ethertype));
    }
    let ip = &f[ETH_HEADER_LEN..];
    let version = ip[0] >> 4;
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    if version != 4 || ihl < IPV4_HEADER_LEN || ip.len() < ihl + UDP_HEADER_LEN {
        return Err(FrameError::BadIpHeader(version, ihl));
    }
    if checksum(0, &ip[..ihl]) != 0 {
        return Err(FrameError::BadIpChecksum);
    }
    let total = usize::from(be16(ip, 2));
    if total < ihl + UDP_HEADER_LEN || total > ip.len() {
        return Err(FrameError::BadIpLength(total));
    }
    if ip[9] != IPPROTO_UDP {
        return Err(FrameError::NotUdp(ip[9]));
    }
    if be16(ip, 6) & 0x3fff != 0 {
        return Err(FrameError::Fragment);
    }
    let udp = &ip[ihl..total];
    let udp_len = usize::from(be16(udp, 4));
    if udp_len < UDP_HEADER_LEN || udp_len > udp.len() {
        return Err(FrameError::BadUdpLength(udp_len));
    }
    Ok(Datagram {
        dst_mac: mac(&f[0..6]),
        src_mac: mac(&f[6..12]),
        src_ip: Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]),
        dst_ip: Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]),
        src_port: be16(udp, 0),
        dst_port: be16(udp, 2),
        payload: &udp[UDP_HEADER_LEN..udp_len],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const A: [u8; 6] = [2, 0, 0, 0, 0, 1];

    #[test]
    fn round_trip_with_valid_checksums() {
        let payload = vec![7u8; 300];
        let f = udp_frame(
            A,
            BROADCAST_MAC,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::BROADCAST,
            68,
            67,
            &payload,
        );
        assert_eq!(f.len(), 14 + 20 + 8 + 300);
        let d = parse_udp_frame(&f).unwrap();
        assert_eq!(d.src_mac, A);
        assert_eq!(d.dst_mac, BROADCAST_MAC);
        assert_eq!((d.src_port, d.dst_port), (68, 67));
        assert_eq!(d.dst_ip, Ipv4Addr::BROADCAST);
        assert_eq!(d.payload, &payload[..]);
        // The UDP checksum verifies to zero over pseudo header + datagram.
        let udp = &f[34..];
        let mut pseudo = 0u32;
        for a in [[0u8, 0, 0, 0], [255, 255, 255, 255]] {
            pseudo += u32::from(u16::from_be_bytes([a[0], a[1]]))
                + u32::from(u16::from_be_bytes([a[2], a[3]]));
        }
        pseudo += 17 + udp.len() as u32;
        assert_eq!(checksum(pseudo, udp), 0);
    }

    #[test]
    fn rejects_damaged_frames() {
        let good = udp_frame(
            A,
            BROADCAST_MAC,
            Ipv4Addr::new(192, 0, 2, 1),
            Ipv4Addr::new(192, 0, 2, 10),
            67,
            68,
            &[1; 250],
        );
        let mut f = good.clone();
        f[12] = 0x86;
        assert!(matches!(parse_udp_frame(&f), Err(FrameError::NotIpv4(_))));
        let mut f = good.clone();
        f[22] ^= 1; // TTL changed without the checksum
        assert_eq!(parse_udp_frame(&f), Err(FrameError::BadIpChecksum));
        let mut f = good.clone();
        f[14 + 6] = 0x20; // more fragments
        let sum = checksum(0, &{
            let mut h = f[14..34].to_vec();
            h[10] = 0;
            h[11] = 0;
            h
        });
        f[24..26].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(parse_udp_frame(&f), Err(FrameError::Fragment));
        assert!(matches!(
            parse_udp_frame(&good[..50]),
            Err(FrameError::BadIpLength(_))
        ));
        assert!(matches!(
            parse_udp_frame(&good[..20]),
            Err(FrameError::TooShort(_))
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_frames_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse_udp_frame(&bytes);
        }

        #[test]
        fn every_truncation_of_a_frame_is_handled(cut in 0usize..400) {
            let f = udp_frame(A, BROADCAST_MAC, Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST, 68, 67, &[9; 300]);
            let cut = cut.min(f.len());
            if let Ok(d) = parse_udp_frame(&f[..cut]) {
                prop_assert_eq!(d.payload.len(), 300);
            }
        }
    }
}
