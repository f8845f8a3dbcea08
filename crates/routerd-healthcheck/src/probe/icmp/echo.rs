//! ICMP and ICMPv6 echo messages (RFC 792, RFC 4443 section 4) and the error messages that quote them
//! (destination unreachable, time exceeded). No sockets here; every byte read is bounds-checked.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Which ICMP: the type numbers and the checksum rule differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V4,
    V6,
}

impl Version {
    pub fn of(addr: IpAddr) -> Version {
        match addr {
            IpAddr::V4(_) => Version::V4,
            IpAddr::V6(_) => Version::V6,
        }
    }

    fn echo_request(self) -> u8 {
        match self {
            Version::V4 => 8,
            Version::V6 => 128,
        }
    }

    fn echo_reply(self) -> u8 {
        match self {
            Version::V4 => 0,
            Version::V6 => 129,
        }
    }
}

/// The ICMP header is 8 bytes: type, code, checksum, identifier, sequence number.
const HEADER_LEN: usize = 8;
const IPV4_PROTO_ICMP: u8 = 1;
const IPV6_NEXT_ICMPV6: u8 = 58;
const IPV6_HEADER_LEN: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Fewer bytes than the header (or the quoted header) needs.
    #[error("ICMP message truncated ({0} bytes)")]
    Truncated(usize),
    /// Not an IPv4 header where one was expected.
    #[error("bad IPv4 header: {0}")]
    BadIpHeader(&'static str),
}

/// An echo request or reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Echo<'a> {
    pub id: u16,
    pub seq: u16,
    pub payload: &'a [u8],
}

/// Why an ICMP error message was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    DestinationUnreachable,
    TimeExceeded,
}

/// The echo request an ICMP error message quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quoted {
    pub destination: IpAddr,
    pub id: u16,
    pub seq: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    EchoRequest(Echo<'a>),
    EchoReply(Echo<'a>),
    /// An error message; `quoted` is the echo request it is about, when it quotes one.
    Error {
        kind: ErrorKind,
        code: u8,
        quoted: Option<Quoted>,
    },
    Other {
        type_: u8,
        code: u8,
    },
}

/// An echo request. The ICMPv4 checksum is computed here; the ICMPv6 checksum covers a pseudo-header
/// with the source address, so it is left 0 for the kernel, which always fills it in for ICMPv6 sockets.
pub fn encode_request(version: Version, id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.push(version.echo_request());
    out.push(0);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(payload);
    if version == Version::V4 {
        let sum = checksum(&out).to_be_bytes();
        if let Some(c) = out.get_mut(2..4) {
            c.copy_from_slice(&sum);
        }
    }
    out
}

/// The Internet checksum (RFC 1071): one's complement of the one's complement sum of 16-bit words.
pub fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = bytes.chunks_exact(2);
    for w in &mut chunks {
        sum += u32::from(u16::from_be_bytes([
            w.first().copied().unwrap_or(0),
            w.get(1).copied().unwrap_or(0),
        ]));
    }
    if let Some(last) = chunks.remainder().first() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// What a raw IPv4 socket delivers is the IP packet: returns the ICMP message inside it.
pub fn strip_ipv4_header(packet: &[u8]) -> Result<&[u8], ParseError> {
    let first = *packet.first().ok_or(ParseError::Truncated(0))?;
    if first >> 4 != 4 {
        return Err(ParseError::BadIpHeader("version is not 4"));
    }
    let ihl = usize::from(first & 0x0f) * 4;
    if ihl < 20 {
        return Err(ParseError::BadIpHeader("header length below 20 bytes"));
    }
    packet.get(ihl..).ok_or(ParseError::Truncated(packet.len()))
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Parses an ICMP message (starting at the type byte).
pub fn parse(version: Version, msg: &[u8]) -> Result<Message<'_>, ParseError> {
    if msg.len() < HEADER_LEN {
        return Err(ParseError::Truncated(msg.len()));
    }
    let type_ = *msg.first().ok_or(ParseError::Truncated(msg.len()))?;
    let code = *msg.get(1).ok_or(ParseError::Truncated(msg.len()))?;
    let echo = || -> Result<Echo<'_>, ParseError> {
        Ok(Echo {
            id: be16(msg, 4).ok_or(ParseError::Truncated(msg.len()))?,
            seq: be16(msg, 6).ok_or(ParseError::Truncated(msg.len()))?,
            payload: msg.get(HEADER_LEN..).unwrap_or_default(),
        })
    };
    if type_ == version.echo_request() {
        return Ok(Message::EchoRequest(echo()?));
    }
    if type_ == version.echo_reply() {
        return Ok(Message::EchoReply(echo()?));
    }
    let kind = match (version, type_) {
        (Version::V4, 3) | (Version::V6, 1) => ErrorKind::DestinationUnreachable,
        (Version::V4, 11) | (Version::V6, 3) => ErrorKind::TimeExceeded,
        _ => return Ok(Message::Other { type_, code }),
    };
    let inner = msg.get(HEADER_LEN..).unwrap_or_default();
    Ok(Message::Error {
        kind,
        code,
        quoted: quoted_echo(version, inner),
    })
}

/// The echo request quoted by an error message: the original IP header plus at least the first 8 bytes
/// of its payload (RFC 792; RFC 4443 quotes as much as fits). `None` when it quotes something else or
/// too little to tell.
fn quoted_echo(version: Version, inner: &[u8]) -> Option<Quoted> {
    let (destination, icmp) = match version {
        Version::V4 => {
            let first = *inner.first()?;
            if first >> 4 != 4 || *inner.get(9)? != IPV4_PROTO_ICMP {
                return None;
            }
            let ihl = usize::from(first & 0x0f) * 4;
            let dst: [u8; 4] = inner.get(16..20)?.try_into().ok()?;
            (IpAddr::V4(Ipv4Addr::from(dst)), inner.get(ihl..)?)
        }
        Version::V6 => {
            // Extension headers before ICMPv6 are not followed: probes never send any.
            if *inner.first()? >> 4 != 6 || *inner.get(6)? != IPV6_NEXT_ICMPV6 {
                return None;
            }
            let dst: [u8; 16] = inner.get(24..40)?.try_into().ok()?;
            (
                IpAddr::V6(Ipv6Addr::from(dst)),
                inner.get(IPV6_HEADER_LEN..)?,
            )
        }
    };
    if *icmp.first()? != version.echo_request() {
        return None;
    }
    Some(Quoted {
        destination,
        id: be16(icmp, 4)?,
        seq: be16(icmp, 6)?,
    })
}

/// A short human description of an error message's code.
pub fn describe_error(version: Version, kind: ErrorKind, code: u8) -> String {
    let text = match (version, kind, code) {
        (_, ErrorKind::TimeExceeded, _) => "time exceeded in transit",
        (Version::V4, _, 0) => "network unreachable",
        (Version::V4, _, 1) => "host unreachable",
        (Version::V4, _, 2) => "protocol unreachable",
        (Version::V4, _, 3) => "port unreachable",
        (Version::V4, _, 4) => "fragmentation needed",
        (Version::V4, _, 9 | 10 | 13) => "administratively prohibited",
        (Version::V6, _, 0) => "no route to destination",
        (Version::V6, _, 1) => "administratively prohibited",
        (Version::V6, _, 3) => "address unreachable",
        (Version::V6, _, 4) => "port unreachable",
        (Version::V6, _, 5 | 6) => "source address failed policy",
        _ => "destination unreachable",
    };
    format!("{text} (code {code})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn v4_request_has_a_valid_checksum() {
        let m = encode_request(Version::V4, 0x1234, 7, b"abcdefgh");
        assert_eq!(&m[..2], [8, 0]);
        assert_eq!(checksum(&m), 0, "a message with its checksum sums to zero");
        assert_eq!(
            parse(Version::V4, &m),
            Ok(Message::EchoRequest(Echo {
                id: 0x1234,
                seq: 7,
                payload: b"abcdefgh"
            }))
        );
        let v6 = encode_request(Version::V6, 1, 2, b"x");
        assert_eq!(&v6[..4], [128, 0, 0, 0]);
    }

    #[test]
    fn rfc_1071_example_checksum() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (with end-around carry).
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
        assert_eq!(checksum(&[0xff]), !0xff00);
    }

    #[test]
    fn parses_a_reply_inside_an_ipv4_packet() {
        let mut reply = encode_request(Version::V4, 9, 10, b"payload!");
        reply[0] = 0;
        let mut packet = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
        ];
        packet.extend_from_slice(&reply);
        let icmp = strip_ipv4_header(&packet).unwrap();
        assert_eq!(
            parse(Version::V4, icmp),
            Ok(Message::EchoReply(Echo {
                id: 9,
                seq: 10,
                payload: b"payload!"
            }))
        );
        assert!(strip_ipv4_header(&[0x60]).is_err());
        assert!(strip_ipv4_header(&[0x44]).is_err());
        assert!(strip_ipv4_header(&[0x4f, 0]).is_err());
    }

    #[test]
    fn finds_the_echo_quoted_by_an_unreachable() {
        let original = encode_request(Version::V4, 0xabcd, 3, b"12345678");
        let mut inner = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 192, 0, 2, 1, 203, 0, 113, 9,
        ];
        inner.extend_from_slice(&original[..8]);
        let mut msg = vec![3, 1, 0, 0, 0, 0, 0, 0];
        msg.extend_from_slice(&inner);
        assert_eq!(
            parse(Version::V4, &msg),
            Ok(Message::Error {
                kind: ErrorKind::DestinationUnreachable,
                code: 1,
                quoted: Some(Quoted {
                    destination: "203.0.113.9".parse().unwrap(),
                    id: 0xabcd,
                    seq: 3
                })
            })
        );
        // ICMPv6 address unreachable quoting an echo request.
        let original = encode_request(Version::V6, 0x0102, 4, b"x");
        let mut inner = vec![0x60, 0, 0, 0, 0, 9, 58, 64];
        inner.extend_from_slice(&[0; 16]);
        let dst: Ipv6Addr = "2001:db8::9".parse().unwrap();
        inner.extend_from_slice(&dst.octets());
        inner.extend_from_slice(&original);
        let mut msg = vec![1, 3, 0, 0, 0, 0, 0, 0];
        msg.extend_from_slice(&inner);
        match parse(Version::V6, &msg) {
            Ok(Message::Error {
                kind: ErrorKind::DestinationUnreachable,
                code: 3,
                quoted: Some(q),
            }) => assert_eq!((q.destination, q.id, q.seq), (IpAddr::V6(dst), 0x0102, 4)),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            describe_error(Version::V6, ErrorKind::DestinationUnreachable, 3),
            "address unreachable (code 3)"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(Version::V4, &bytes);
            let _ = parse(Version::V6, &bytes);
            if let Ok(icmp) = strip_ipv4_header(&bytes) {
                let _ = parse(Version::V4, icmp);
            }
            let _ = checksum(&bytes);
        }

        #[test]
        fn error_shaped_bytes_never_panic(
            type_ in prop_oneof![Just(1u8), Just(3u8), Just(11u8)],
            inner in proptest::collection::vec(prop_oneof![any::<u8>(), Just(0x45u8), Just(0x60u8), Just(1u8), Just(58u8), Just(8u8), Just(128u8)], 0..80),
        ) {
            let mut msg = vec![type_, 0, 0, 0, 0, 0, 0, 0];
            msg.extend_from_slice(&inner);
            let _ = parse(Version::V4, &msg);
            let _ = parse(Version::V6, &msg);
        }

        #[test]
        fn request_round_trips(v6 in any::<bool>(), id in any::<u16>(), seq in any::<u16>(),
                               payload in proptest::collection::vec(any::<u8>(), 0..64)) {
            let version = if v6 { Version::V6 } else { Version::V4 };
            let m = encode_request(version, id, seq, &payload);
            prop_assert_eq!(
                parse(version, &m),
                Ok(Message::EchoRequest(Echo { id, seq, payload: &payload }))
            );
            if !v6 {
                prop_assert_eq!(checksum(&m), 0);
            }
        }
    }
}
