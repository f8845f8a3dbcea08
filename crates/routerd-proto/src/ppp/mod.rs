//! PPP codecs: the frame's protocol field (RFC 1661 §2), the control packets of the RFC 1661 family
//! ([`control`]: LCP RFC 1661 §5–6, IPCP RFC 1332 with the DNS options of RFC 1877, IPv6CP RFC 5072 §4),
//! and authentication ([`auth`]: PAP RFC 1334 §2, CHAP RFC 1994 §4 with the MD5 response of §2.1).
//!
//! Over PPPoE (RFC 2516 §7) frames carry neither the HDLC address/control octets nor a compressed
//! protocol field: we never negotiate PFC or ACFC, so [`Frame::encode`] writes the 2-octet protocol only.
//! [`Frame::decode`] tolerates a leading `ff 03` because some peers send it anyway.

pub mod auth;
pub mod control;
pub(crate) mod wire;

use std::fmt;

use wire::Short;

/// What was wrong with a PPP frame or packet, precise enough to log and to test against.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PppError {
    /// The buffer ended before a fixed-size field did.
    #[error("PPP packet truncated: need {need} octets, have {have}")]
    Truncated { need: usize, have: usize },
    /// A protocol number RFC 1661 §2 forbids (low octet even or high octet odd): a compressed or garbled
    /// protocol field, which we never negotiated.
    #[error("invalid PPP protocol number {0:#06x}")]
    BadProtocol(u16),
    /// A control packet's Length field claims more octets than the buffer holds.
    #[error("PPP Length {declared} exceeds the {available} octets present")]
    BadLength { declared: usize, available: usize },
    /// A control packet's Length field is below its fixed header.
    #[error("PPP Length {declared} is below the minimum of {minimum}")]
    LengthTooShort { declared: usize, minimum: usize },
    /// Octets left inside Length after the last field of a packet whose fields must fill it (PAP).
    #[error("{extra} octets after the last field of the packet")]
    TrailingData { extra: usize },
    /// A packet too long for its 16-bit Length field (encoding only).
    #[error("PPP packet of {len} octets does not fit the Length field")]
    PacketTooLong { len: usize },
    /// A configuration option whose Length is below 2, runs past the packet, or does not match the
    /// option's definition (e.g. an MRU that is not 4 octets).
    #[error("configuration option {kind} has invalid length {len}")]
    BadOptionLength { kind: u8, len: usize },
    /// A configuration option value too long for its 8-bit Length (encoding only).
    #[error("configuration option {kind} of {len} octets does not fit the Length field")]
    OptionTooLong { kind: u8, len: usize },
    /// A variable field with an 8-bit length prefix (PAP Peer-ID/Password, CHAP Value) over 255 octets.
    #[error("{field} of {len} octets does not fit its 8-bit length")]
    FieldTooLong { field: &'static str, len: usize },
    /// A code the protocol does not define (PAP, CHAP; control protocols keep unknown codes instead, so
    /// the state machine can answer Code-Reject).
    #[error("unknown {protocol} code {code}")]
    UnknownCode { protocol: &'static str, code: u8 },
    /// An LCP-only packet (Protocol-Reject, Echo, Discard) encoded for IPCP or IPv6CP.
    #[error("code {code} exists only in LCP")]
    CodeNotInProtocol { code: u8 },
}

impl From<Short> for PppError {
    fn from(short: Short) -> Self {
        Self::Truncated {
            need: short.need,
            have: short.have,
        }
    }
}

/// A PPP protocol number (RFC 1661 §2). A newtype rather than an enum: unknown protocols must survive
/// decoding so the LCP state machine can Protocol-Reject them.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Protocol(pub u16);

impl Protocol {
    /// Link Control Protocol.
    pub const LCP: Self = Self(0xc021);
    /// Password Authentication Protocol.
    pub const PAP: Self = Self(0xc023);
    /// Challenge-Handshake Authentication Protocol.
    pub const CHAP: Self = Self(0xc223);
    /// IP Control Protocol.
    pub const IPCP: Self = Self(0x8021);
    /// IPv6 Control Protocol.
    pub const IPV6CP: Self = Self(0x8057);
    /// IPv4 datagrams.
    pub const IPV4: Self = Self(0x0021);
    /// IPv6 datagrams.
    pub const IPV6: Self = Self(0x0057);

    /// Whether RFC 1661 §2 allows this number: the low octet odd, the high octet even.
    pub fn is_valid(self) -> bool {
        self.0 & 0x0001 == 1 && self.0 & 0x0100 == 0
    }
}

impl fmt::Debug for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            Self::LCP => "LCP",
            Self::PAP => "PAP",
            Self::CHAP => "CHAP",
            Self::IPCP => "IPCP",
            Self::IPV6CP => "IPv6CP",
            Self::IPV4 => "IPv4",
            Self::IPV6 => "IPv6",
            _ => return write!(f, "Protocol({:#06x})", self.0),
        };
        f.write_str(name)
    }
}

/// The optional HDLC address and control octets (RFC 1662 §3.1) some peers put before the protocol.
const ADDRESS_CONTROL: [u8; 2] = [0xff, 0x03];

/// A PPP frame: the protocol and its information field, borrowed from the received buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Which protocol the information field belongs to.
    pub protocol: Protocol,
    /// The information field (a control packet, or an IP datagram).
    pub payload: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Decodes the PPPoE session payload; a leading `ff 03` is skipped.
    pub fn decode(buf: &'a [u8]) -> Result<Self, PppError> {
        let buf = buf.strip_prefix(&ADDRESS_CONTROL[..]).unwrap_or(buf);
        let mut cursor = wire::Cursor::new(buf);
        let protocol = Protocol(cursor.u16()?);
        if !protocol.is_valid() {
            return Err(PppError::BadProtocol(protocol.0));
        }
        Ok(Self {
            protocol,
            payload: cursor.take_rest(),
        })
    }

    /// Appends the uncompressed protocol field and the payload to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.protocol.0.to_be_bytes());
        out.extend_from_slice(self.payload);
    }
}

/// A PPP frame decoded by its protocol: what the session state machines consume. Datagrams and
/// protocols we do not run stay borrowed, so forwarding costs no copy and LCP can Protocol-Reject them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    /// Link Control Protocol.
    Lcp(control::LcpPacket),
    /// Password Authentication Protocol.
    Pap(auth::PapPacket),
    /// Challenge-Handshake Authentication Protocol.
    Chap(auth::ChapPacket),
    /// IP Control Protocol.
    Ipcp(control::IpcpPacket),
    /// IPv6 Control Protocol.
    Ipv6cp(control::Ipv6cpPacket),
    /// An IPv4 datagram.
    Ipv4(&'a [u8]),
    /// An IPv6 datagram.
    Ipv6(&'a [u8]),
    /// Any other protocol, for Protocol-Reject.
    Other {
        protocol: Protocol,
        payload: &'a [u8],
    },
}

impl<'a> Packet<'a> {
    /// Decodes a PPP frame (the payload of a PPPoE session frame) down to its protocol's packet.
    pub fn decode(buf: &'a [u8]) -> Result<Self, PppError> {
        let frame = Frame::decode(buf)?;
        let payload = frame.payload;
        Ok(match frame.protocol {
            Protocol::LCP => Self::Lcp(control::LcpPacket::decode(payload)?),
            Protocol::PAP => Self::Pap(auth::PapPacket::decode(payload)?),
            Protocol::CHAP => Self::Chap(auth::ChapPacket::decode(payload)?),
            Protocol::IPCP => Self::Ipcp(control::IpcpPacket::decode(payload)?),
            Protocol::IPV6CP => Self::Ipv6cp(control::Ipv6cpPacket::decode(payload)?),
            Protocol::IPV4 => Self::Ipv4(payload),
            Protocol::IPV6 => Self::Ipv6(payload),
            protocol => Self::Other { protocol, payload },
        })
    }

    /// Appends the PPP frame (protocol field and packet) to `out`; on error `out` is left as it was.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), PppError> {
        let start = out.len();
        out.extend_from_slice(&self.protocol().0.to_be_bytes());
        let result = match self {
            Self::Lcp(packet) => packet.encode(out),
            Self::Pap(packet) => packet.encode(out),
            Self::Chap(packet) => packet.encode(out),
            Self::Ipcp(packet) => packet.encode(out),
            Self::Ipv6cp(packet) => packet.encode(out),
            Self::Ipv4(payload) | Self::Ipv6(payload) | Self::Other { payload, .. } => {
                out.extend_from_slice(payload);
                Ok(())
            }
        };
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    /// The protocol field this packet travels with.
    pub fn protocol(&self) -> Protocol {
        match self {
            Self::Lcp(_) => Protocol::LCP,
            Self::Pap(_) => Protocol::PAP,
            Self::Chap(_) => Protocol::CHAP,
            Self::Ipcp(_) => Protocol::IPCP,
            Self::Ipv6cp(_) => Protocol::IPV6CP,
            Self::Ipv4(_) => Protocol::IPV4,
            Self::Ipv6(_) => Protocol::IPV6,
            Self::Other { protocol, .. } => *protocol,
        }
    }
}

/// A password or CHAP secret. Its `Debug` prints `<redacted>` so that no `{:?}` of a packet, a config
/// or a state machine can put the password in a log (issue #13 forbids it anywhere but the wire).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps the secret bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// The bytes, for the encoder and the CHAP hash only.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn frames_decode_with_and_without_address_control() {
        let plain = [0xc0, 0x21, 0x01, 0x01, 0x00, 0x04];
        let frame = Frame::decode(&plain).unwrap();
        assert_eq!(frame.protocol, Protocol::LCP);
        assert_eq!(frame.payload, &plain[2..]);
        let with_hdlc = [0xff, 0x03, 0x00, 0x21, 0x45];
        let frame = Frame::decode(&with_hdlc).unwrap();
        assert_eq!(frame.protocol, Protocol::IPV4);
        assert_eq!(frame.payload, &[0x45]);
        let mut encoded = Vec::new();
        Frame::decode(&plain).unwrap().encode(&mut encoded);
        assert_eq!(encoded, plain);
    }

    #[test]
    fn compressed_or_missing_protocol_fields_are_errors() {
        // A PFC-compressed IPv4 protocol (0x21) followed by an IPv4 header byte.
        assert_eq!(
            Frame::decode(&[0x21, 0x45]),
            Err(PppError::BadProtocol(0x2145))
        );
        assert_eq!(
            Frame::decode(&[0xc0]),
            Err(PppError::Truncated { need: 2, have: 1 })
        );
        assert_eq!(format!("{:?}", Protocol(0x1234)), "Protocol(0x1234)");
        assert_eq!(format!("{:?}", Protocol::IPV6CP), "IPv6CP");
    }

    #[test]
    fn secrets_do_not_print() {
        let secret = Secret::new(b"hunter2".to_vec());
        assert_eq!(format!("{secret:?}"), "<redacted>");
        assert_eq!(secret.expose(), b"hunter2");
    }

    #[test]
    fn lcp_over_a_pppoe_session_frame() {
        let ethernet_payload = [
            0x11, 0x00, 0x12, 0x34, 0x00, 0x10, // PPPoE session 0x1234, length 16
            0xc0, 0x21, // LCP
            0x01, 0x01, 0x00, 0x0e, // Configure-Request id 1 length 14
            0x01, 0x04, 0x05, 0xd4, // MRU 1492
            0x05, 0x06, 0x01, 0x02, 0x03, 0x04, // Magic
            0x00, 0x00, // Ethernet padding
        ];
        let session = crate::pppoe::SessionFrame::decode(&ethernet_payload).unwrap();
        assert_eq!(session.session_id, 0x1234);
        let packet = Packet::decode(session.payload).unwrap();
        assert_eq!(
            packet,
            Packet::Lcp(control::LcpPacket::ConfigureRequest {
                identifier: 1,
                options: vec![
                    control::LcpOption::Mru(1492),
                    control::LcpOption::MagicNumber(0x0102_0304)
                ],
            })
        );
        let mut ppp = Vec::new();
        packet.encode(&mut ppp).unwrap();
        assert_eq!(ppp, session.payload);
        let unknown = [0x80, 0xfd, 0x01, 0x01, 0x00, 0x04]; // CCP: not ours
        assert_eq!(
            Packet::decode(&unknown).unwrap(),
            Packet::Other {
                protocol: Protocol(0x80fd),
                payload: &unknown[2..]
            }
        );
    }

    proptest! {
        #[test]
        fn arbitrary_session_payloads_never_panic(
            protocol in prop_oneof![
                Just(Protocol::LCP), Just(Protocol::PAP), Just(Protocol::CHAP),
                Just(Protocol::IPCP), Just(Protocol::IPV6CP), any::<u16>().prop_map(Protocol)
            ],
            payload in proptest::collection::vec(any::<u8>(), 0..80),
        ) {
            let mut buf = protocol.0.to_be_bytes().to_vec();
            buf.extend_from_slice(&payload);
            let _ = Packet::decode(&buf);
        }

        #[test]
        fn arbitrary_frames_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Frame::decode(&buf);
        }

        #[test]
        fn frames_round_trip(protocol in any::<u16>(), payload in proptest::collection::vec(any::<u8>(), 0..64)) {
            let protocol = Protocol((protocol | 1) & !0x0100);
            let mut buf = Vec::new();
            Frame { protocol, payload: &payload }.encode(&mut buf);
            let frame = Frame::decode(&buf).unwrap();
            prop_assert_eq!(frame.protocol, protocol);
            prop_assert_eq!(frame.payload, &payload[..]);
        }
    }
}
