//! One codec for the control protocols of the RFC 1661 family: LCP (RFC 1661 §5 packet formats, §6
//! options), IPCP (RFC 1332 §3, DNS options of RFC 1877 §1) and IPv6CP (RFC 5072 §4). They share the
//! packet layout (Code, Identifier, Length, Data) and the option layout (Type, Length, Data); they differ
//! in their option types and in LCP's extra codes 8–11, which [`ConfigOption`] describes per protocol.
//!
//! Octets after a packet's Length are padding and ignored (RFC 1661 §5). Known options with a length
//! their definition forbids are errors rather than guesses; options we do not interpret are kept as raw
//! bytes so a Configure-Reject can echo them exactly.

use std::net::Ipv4Addr;

use super::wire::Cursor;
use super::{PppError, Protocol};

/// Octets of the Code, Identifier and Length fields every control and authentication packet starts with.
pub const HEADER_LEN: usize = 4;

/// The header shared by control, PAP and CHAP packets, with the body cut to Length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PacketHeader<'a> {
    pub(crate) code: u8,
    pub(crate) identifier: u8,
    pub(crate) body: &'a [u8],
}

impl<'a> PacketHeader<'a> {
    /// Reads Code, Identifier and Length and returns exactly `Length - 4` body octets.
    pub(crate) fn decode(buf: &'a [u8]) -> Result<Self, PppError> {
        let mut cursor = Cursor::new(buf);
        let code = cursor.u8()?;
        let identifier = cursor.u8()?;
        let declared = usize::from(cursor.u16()?);
        let body_len = declared
            .checked_sub(HEADER_LEN)
            .ok_or(PppError::LengthTooShort {
                declared,
                minimum: HEADER_LEN,
            })?;
        let body = cursor
            .take_rest()
            .get(..body_len)
            .ok_or(PppError::BadLength {
                declared,
                available: buf.len(),
            })?;
        Ok(Self {
            code,
            identifier,
            body,
        })
    }

    /// Appends Code, Identifier, Length and the body to `out`.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), PppError> {
        let len = HEADER_LEN + self.body.len();
        let length = u16::try_from(len).map_err(|_| PppError::PacketTooLong { len })?;
        out.push(self.code);
        out.push(self.identifier);
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(self.body);
        Ok(())
    }
}

/// Control packet codes (RFC 1661 §5); 8–11 exist in LCP only.
pub mod code {
    /// Configure-Request.
    pub const CONFIGURE_REQUEST: u8 = 1;
    /// Configure-Ack.
    pub const CONFIGURE_ACK: u8 = 2;
    /// Configure-Nak.
    pub const CONFIGURE_NAK: u8 = 3;
    /// Configure-Reject.
    pub const CONFIGURE_REJECT: u8 = 4;
    /// Terminate-Request.
    pub const TERMINATE_REQUEST: u8 = 5;
    /// Terminate-Ack.
    pub const TERMINATE_ACK: u8 = 6;
    /// Code-Reject.
    pub const CODE_REJECT: u8 = 7;
    /// Protocol-Reject (LCP only).
    pub const PROTOCOL_REJECT: u8 = 8;
    /// Echo-Request (LCP only).
    pub const ECHO_REQUEST: u8 = 9;
    /// Echo-Reply (LCP only).
    pub const ECHO_REPLY: u8 = 10;
    /// Discard-Request (LCP only).
    pub const DISCARD_REQUEST: u8 = 11;
}

/// The options of one control protocol: how a (Type, Data) pair maps to a typed option and back, and
/// whether the protocol has LCP's codes 8–11. Implemented by [`LcpOption`], [`IpcpOption`] and
/// [`Ipv6cpOption`] so that one [`ControlPacket`] codec serves all three.
pub trait ConfigOption: Sized {
    /// The PPP protocol whose packets carry these options.
    const PROTOCOL: Protocol;
    /// Whether Protocol-Reject, Echo-Request/Reply and Discard-Request are defined (LCP only).
    const LCP_CODES: bool;

    /// Interprets one option's Data (the octets after Type and Length).
    fn decode(kind: u8, value: &[u8]) -> Result<Self, PppError>;

    /// The option's Type.
    fn kind(&self) -> u8;

    /// Appends the option's Data (without Type and Length).
    fn encode_value(&self, out: &mut Vec<u8>);
}

/// A control packet of LCP, IPCP or IPv6CP with typed options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlPacket<O> {
    /// Configure-Request: the options the sender wants.
    ConfigureRequest { identifier: u8, options: Vec<O> },
    /// Configure-Ack: every option of the request, accepted as sent.
    ConfigureAck { identifier: u8, options: Vec<O> },
    /// Configure-Nak: acceptable options with the values the sender would accept instead.
    ConfigureNak { identifier: u8, options: Vec<O> },
    /// Configure-Reject: options the sender does not recognise or will not negotiate.
    ConfigureReject { identifier: u8, options: Vec<O> },
    /// Terminate-Request, with opaque data.
    TerminateRequest { identifier: u8, data: Vec<u8> },
    /// Terminate-Ack, with opaque data.
    TerminateAck { identifier: u8, data: Vec<u8> },
    /// Code-Reject: the start of the packet whose code was not understood.
    CodeReject { identifier: u8, rejected: Vec<u8> },
    /// Protocol-Reject (LCP): a protocol the peer does not run, and the start of the rejected frame.
    ProtocolReject {
        identifier: u8,
        protocol: Protocol,
        rejected: Vec<u8>,
    },
    /// Echo-Request (LCP), the keepalive: the sender's magic number and opaque data.
    EchoRequest {
        identifier: u8,
        magic: u32,
        data: Vec<u8>,
    },
    /// Echo-Reply (LCP).
    EchoReply {
        identifier: u8,
        magic: u32,
        data: Vec<u8>,
    },
    /// Discard-Request (LCP).
    DiscardRequest {
        identifier: u8,
        magic: u32,
        data: Vec<u8>,
    },
    /// A code this protocol does not define: kept whole so the state machine can Code-Reject it.
    Unknown {
        code: u8,
        identifier: u8,
        data: Vec<u8>,
    },
}

/// LCP packets (RFC 1661 §5).
pub type LcpPacket = ControlPacket<LcpOption>;
/// IPCP packets (RFC 1332 §2).
pub type IpcpPacket = ControlPacket<IpcpOption>;
/// IPv6CP packets (RFC 5072 §3).
pub type Ipv6cpPacket = ControlPacket<Ipv6cpOption>;

impl<O: ConfigOption> ControlPacket<O> {
    /// Decodes a packet from a PPP information field of protocol `O::PROTOCOL`.
    pub fn decode(buf: &[u8]) -> Result<Self, PppError> {
        let header = PacketHeader::decode(buf)?;
        let identifier = header.identifier;
        let body = header.body;
        let is_lcp_only = matches!(header.code, code::PROTOCOL_REJECT..=code::DISCARD_REQUEST);
        if is_lcp_only && !O::LCP_CODES {
            return Ok(Self::Unknown {
                code: header.code,
                identifier,
                data: body.to_vec(),
            });
        }
        Ok(match header.code {
            code::CONFIGURE_REQUEST => Self::ConfigureRequest {
                identifier,
                options: decode_options(body)?,
            },
            code::CONFIGURE_ACK => Self::ConfigureAck {
                identifier,
                options: decode_options(body)?,
            },
            code::CONFIGURE_NAK => Self::ConfigureNak {
                identifier,
                options: decode_options(body)?,
            },
            code::CONFIGURE_REJECT => Self::ConfigureReject {
                identifier,
                options: decode_options(body)?,
            },
            code::TERMINATE_REQUEST => Self::TerminateRequest {
                identifier,
                data: body.to_vec(),
            },
            code::TERMINATE_ACK => Self::TerminateAck {
                identifier,
                data: body.to_vec(),
            },
            code::CODE_REJECT => Self::CodeReject {
                identifier,
                rejected: body.to_vec(),
            },
            code::PROTOCOL_REJECT => {
                let mut cursor = Cursor::new(body);
                let protocol = Protocol(cursor.u16().map_err(|_| body_short(body, 2))?);
                Self::ProtocolReject {
                    identifier,
                    protocol,
                    rejected: cursor.take_rest().to_vec(),
                }
            }
            code::ECHO_REQUEST | code::ECHO_REPLY | code::DISCARD_REQUEST => {
                let mut cursor = Cursor::new(body);
                let magic = cursor.u32().map_err(|_| body_short(body, 4))?;
                let data = cursor.take_rest().to_vec();
                match header.code {
                    code::ECHO_REQUEST => Self::EchoRequest {
                        identifier,
                        magic,
                        data,
                    },
                    code::ECHO_REPLY => Self::EchoReply {
                        identifier,
                        magic,
                        data,
                    },
                    _ => Self::DiscardRequest {
                        identifier,
                        magic,
                        data,
                    },
                }
            }
            other => Self::Unknown {
                code: other,
                identifier,
                data: body.to_vec(),
            },
        })
    }

    /// Appends the encoded packet (without the PPP protocol field) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), PppError> {
        let lcp_only = matches!(
            self,
            Self::ProtocolReject { .. }
                | Self::EchoRequest { .. }
                | Self::EchoReply { .. }
                | Self::DiscardRequest { .. }
        );
        if lcp_only && !O::LCP_CODES {
            return Err(PppError::CodeNotInProtocol { code: self.code() });
        }
        let mut body = Vec::new();
        match self {
            Self::ConfigureRequest { options, .. }
            | Self::ConfigureAck { options, .. }
            | Self::ConfigureNak { options, .. }
            | Self::ConfigureReject { options, .. } => encode_options(options, &mut body)?,
            Self::TerminateRequest { data, .. }
            | Self::TerminateAck { data, .. }
            | Self::CodeReject { rejected: data, .. }
            | Self::Unknown { data, .. } => body.extend_from_slice(data),
            Self::ProtocolReject {
                protocol, rejected, ..
            } => {
                body.extend_from_slice(&protocol.0.to_be_bytes());
                body.extend_from_slice(rejected);
            }
            Self::EchoRequest { magic, data, .. }
            | Self::EchoReply { magic, data, .. }
            | Self::DiscardRequest { magic, data, .. } => {
                body.extend_from_slice(&magic.to_be_bytes());
                body.extend_from_slice(data);
            }
        }
        PacketHeader {
            code: self.code(),
            identifier: self.identifier(),
            body: &body,
        }
        .encode(out)
    }

    /// The packet's Code.
    pub fn code(&self) -> u8 {
        match self {
            Self::ConfigureRequest { .. } => code::CONFIGURE_REQUEST,
            Self::ConfigureAck { .. } => code::CONFIGURE_ACK,
            Self::ConfigureNak { .. } => code::CONFIGURE_NAK,
            Self::ConfigureReject { .. } => code::CONFIGURE_REJECT,
            Self::TerminateRequest { .. } => code::TERMINATE_REQUEST,
            Self::TerminateAck { .. } => code::TERMINATE_ACK,
            Self::CodeReject { .. } => code::CODE_REJECT,
            Self::ProtocolReject { .. } => code::PROTOCOL_REJECT,
            Self::EchoRequest { .. } => code::ECHO_REQUEST,
            Self::EchoReply { .. } => code::ECHO_REPLY,
            Self::DiscardRequest { .. } => code::DISCARD_REQUEST,
            Self::Unknown { code, .. } => *code,
        }
    }

    /// The packet's Identifier, which matches replies to requests.
    pub fn identifier(&self) -> u8 {
        match self {
            Self::ConfigureRequest { identifier, .. }
            | Self::ConfigureAck { identifier, .. }
            | Self::ConfigureNak { identifier, .. }
            | Self::ConfigureReject { identifier, .. }
            | Self::TerminateRequest { identifier, .. }
            | Self::TerminateAck { identifier, .. }
            | Self::CodeReject { identifier, .. }
            | Self::ProtocolReject { identifier, .. }
            | Self::EchoRequest { identifier, .. }
            | Self::EchoReply { identifier, .. }
            | Self::DiscardRequest { identifier, .. }
            | Self::Unknown { identifier, .. } => *identifier,
        }
    }
}

/// A body shorter than the code's fixed fields: the packet's Length is too short for its code.
fn body_short(body: &[u8], fixed_len: usize) -> PppError {
    PppError::LengthTooShort {
        declared: HEADER_LEN + body.len(),
        minimum: HEADER_LEN + fixed_len,
    }
}

fn decode_options<O: ConfigOption>(body: &[u8]) -> Result<Vec<O>, PppError> {
    let mut options = Vec::new();
    let mut cursor = Cursor::new(body);
    while !cursor.is_empty() {
        let kind = cursor.u8()?;
        let len = usize::from(cursor.u8()?);
        let value = len
            .checked_sub(2)
            .and_then(|value_len| cursor.take(value_len).ok())
            .ok_or(PppError::BadOptionLength { kind, len })?;
        options.push(O::decode(kind, value)?);
    }
    Ok(options)
}

fn encode_options<O: ConfigOption>(options: &[O], out: &mut Vec<u8>) -> Result<(), PppError> {
    let mut value = Vec::new();
    for option in options {
        value.clear();
        option.encode_value(&mut value);
        let kind = option.kind();
        let len = value.len() + 2;
        let wire_len = u8::try_from(len).map_err(|_| PppError::OptionTooLong { kind, len })?;
        out.push(kind);
        out.push(wire_len);
        out.extend_from_slice(&value);
    }
    Ok(())
}

/// An option value of exactly `N` octets, or the option's length error.
fn fixed<const N: usize>(kind: u8, value: &[u8]) -> Result<[u8; N], PppError> {
    <[u8; N]>::try_from(value).map_err(|_| PppError::BadOptionLength {
        kind,
        len: value.len() + 2,
    })
}

/// The CHAP algorithm byte for MD5 (RFC 1994 §3), the only one we speak.
pub const CHAP_MD5: u8 = 5;

/// The Authentication-Protocol option's value (RFC 1661 §6.2, RFC 1994 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthProtocol {
    /// PAP (0xc023), no data.
    Pap,
    /// CHAP (0xc223) with its algorithm byte ([`CHAP_MD5`] = MD5).
    Chap { algorithm: u8 },
    /// Any other protocol, with its data: kept so it can be Nak'ed.
    Other { protocol: Protocol, data: Vec<u8> },
}

/// LCP configuration options (RFC 1661 §6; PFC §6.5, ACFC §6.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LcpOption {
    /// 1, Maximum-Receive-Unit.
    Mru(u16),
    /// 3, Authentication-Protocol.
    AuthProtocol(AuthProtocol),
    /// 5, Magic-Number, for loop detection and echo matching.
    MagicNumber(u32),
    /// 7, Protocol-Field-Compression (we reject it, but must recognise it).
    ProtocolFieldCompression,
    /// 8, Address-and-Control-Field-Compression (likewise).
    AddressControlFieldCompression,
    /// Any other option, kept raw for Configure-Reject.
    Raw { kind: u8, value: Vec<u8> },
}

impl ConfigOption for LcpOption {
    const PROTOCOL: Protocol = Protocol::LCP;
    const LCP_CODES: bool = true;

    fn decode(kind: u8, value: &[u8]) -> Result<Self, PppError> {
        Ok(match kind {
            1 => Self::Mru(u16::from_be_bytes(fixed(kind, value)?)),
            3 => {
                let mut cursor = Cursor::new(value);
                let protocol = Protocol(cursor.u16().map_err(|_| PppError::BadOptionLength {
                    kind,
                    len: value.len() + 2,
                })?);
                let data = cursor.take_rest();
                Self::AuthProtocol(match (protocol, data) {
                    (Protocol::PAP, []) => AuthProtocol::Pap,
                    (Protocol::CHAP, [algorithm]) => AuthProtocol::Chap {
                        algorithm: *algorithm,
                    },
                    (Protocol::PAP | Protocol::CHAP, _) => {
                        return Err(PppError::BadOptionLength {
                            kind,
                            len: value.len() + 2,
                        })
                    }
                    (protocol, data) => AuthProtocol::Other {
                        protocol,
                        data: data.to_vec(),
                    },
                })
            }
            5 => Self::MagicNumber(u32::from_be_bytes(fixed(kind, value)?)),
            7 => {
                fixed::<0>(kind, value)?;
                Self::ProtocolFieldCompression
            }
            8 => {
                fixed::<0>(kind, value)?;
                Self::AddressControlFieldCompression
            }
            _ => Self::Raw {
                kind,
                value: value.to_vec(),
            },
        })
    }

    fn kind(&self) -> u8 {
        match self {
            Self::Mru(_) => 1,
            Self::AuthProtocol(_) => 3,
            Self::MagicNumber(_) => 5,
            Self::ProtocolFieldCompression => 7,
            Self::AddressControlFieldCompression => 8,
            Self::Raw { kind, .. } => *kind,
        }
    }

    fn encode_value(&self, out: &mut Vec<u8>) {
        match self {
            Self::Mru(mru) => out.extend_from_slice(&mru.to_be_bytes()),
            Self::AuthProtocol(AuthProtocol::Pap) => {
                out.extend_from_slice(&Protocol::PAP.0.to_be_bytes())
            }
            Self::AuthProtocol(AuthProtocol::Chap { algorithm }) => {
                out.extend_from_slice(&Protocol::CHAP.0.to_be_bytes());
                out.push(*algorithm);
            }
            Self::AuthProtocol(AuthProtocol::Other { protocol, data }) => {
                out.extend_from_slice(&protocol.0.to_be_bytes());
                out.extend_from_slice(data);
            }
            Self::MagicNumber(magic) => out.extend_from_slice(&magic.to_be_bytes()),
            Self::ProtocolFieldCompression | Self::AddressControlFieldCompression => {}
            Self::Raw { value, .. } => out.extend_from_slice(value),
        }
    }
}

/// IPCP configuration options (RFC 1332 §3.3, RFC 1877 §1.1 and §1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpcpOption {
    /// 3, IP-Address: ours in a request (0.0.0.0 = "assign me one"), the assigned one in a Nak.
    IpAddress(Ipv4Addr),
    /// 129, Primary-DNS-Server-Address.
    PrimaryDns(Ipv4Addr),
    /// 131, Secondary-DNS-Server-Address.
    SecondaryDns(Ipv4Addr),
    /// Any other option (IP-Compression-Protocol, NBNS, ...), kept raw for Configure-Reject.
    Raw { kind: u8, value: Vec<u8> },
}

impl ConfigOption for IpcpOption {
    const PROTOCOL: Protocol = Protocol::IPCP;
    const LCP_CODES: bool = false;

    fn decode(kind: u8, value: &[u8]) -> Result<Self, PppError> {
        let address = || fixed::<4>(kind, value).map(Ipv4Addr::from);
        Ok(match kind {
            3 => Self::IpAddress(address()?),
            129 => Self::PrimaryDns(address()?),
            131 => Self::SecondaryDns(address()?),
            _ => Self::Raw {
                kind,
                value: value.to_vec(),
            },
        })
    }

    fn kind(&self) -> u8 {
        match self {
            Self::IpAddress(_) => 3,
            Self::PrimaryDns(_) => 129,
            Self::SecondaryDns(_) => 131,
            Self::Raw { kind, .. } => *kind,
        }
    }

    fn encode_value(&self, out: &mut Vec<u8>) {
        match self {
            Self::IpAddress(address) | Self::PrimaryDns(address) | Self::SecondaryDns(address) => {
                out.extend_from_slice(&address.octets())
            }
            Self::Raw { value, .. } => out.extend_from_slice(value),
        }
    }
}

/// IPv6CP configuration options (RFC 5072 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ipv6cpOption {
    /// 1, Interface-Identifier: the low 64 bits of the link-local address `fe80::<id>`.
    InterfaceId([u8; 8]),
    /// Any other option (IPv6-Compression-Protocol, ...), kept raw for Configure-Reject.
    Raw { kind: u8, value: Vec<u8> },
}

impl ConfigOption for Ipv6cpOption {
    const PROTOCOL: Protocol = Protocol::IPV6CP;
    const LCP_CODES: bool = false;

    fn decode(kind: u8, value: &[u8]) -> Result<Self, PppError> {
        Ok(match kind {
            1 => Self::InterfaceId(fixed(kind, value)?),
            _ => Self::Raw {
                kind,
                value: value.to_vec(),
            },
        })
    }

    fn kind(&self) -> u8 {
        match self {
            Self::InterfaceId(_) => 1,
            Self::Raw { kind, .. } => *kind,
        }
    }

    fn encode_value(&self, out: &mut Vec<u8>) {
        match self {
            Self::InterfaceId(id) => out.extend_from_slice(id),
            Self::Raw { value, .. } => out.extend_from_slice(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip<O: ConfigOption + Clone + PartialEq + std::fmt::Debug>(
        buf: &[u8],
    ) -> ControlPacket<O> {
        let packet = ControlPacket::<O>::decode(buf).unwrap();
        let mut encoded = Vec::new();
        packet.encode(&mut encoded).unwrap();
        assert_eq!(encoded, buf);
        packet
    }

    #[test]
    fn lcp_configure_request_as_pppd_sends_it() {
        let buf = [
            0x01, 0x01, 0x00, 0x13, // Configure-Request id 1 length 19
            0x01, 0x04, 0x05, 0xd4, // MRU 1492
            0x03, 0x05, 0xc2, 0x23, 0x05, // Auth CHAP-MD5
            0x05, 0x06, 0x12, 0x34, 0x56, 0x78, // Magic
        ];
        assert_eq!(
            round_trip::<LcpOption>(&buf),
            LcpPacket::ConfigureRequest {
                identifier: 1,
                options: vec![
                    LcpOption::Mru(1492),
                    LcpOption::AuthProtocol(AuthProtocol::Chap {
                        algorithm: CHAP_MD5
                    }),
                    LcpOption::MagicNumber(0x1234_5678),
                ],
            }
        );
        let pap_pfc_acfc_raw = [
            0x04, 0x02, 0x00, 0x0f, // Configure-Reject id 2 length 15
            0x03, 0x04, 0xc0, 0x23, // Auth PAP
            0x07, 0x02, 0x08, 0x02, // PFC, ACFC
            0x0d, 0x03, 0x06, // Callback, raw
        ];
        assert_eq!(
            round_trip::<LcpOption>(&pap_pfc_acfc_raw),
            LcpPacket::ConfigureReject {
                identifier: 2,
                options: vec![
                    LcpOption::AuthProtocol(AuthProtocol::Pap),
                    LcpOption::ProtocolFieldCompression,
                    LcpOption::AddressControlFieldCompression,
                    LcpOption::Raw {
                        kind: 13,
                        value: vec![6]
                    },
                ],
            }
        );
    }

    #[test]
    fn lcp_echo_protocol_reject_and_padding() {
        let echo = [0x09, 0x07, 0x00, 0x08, 0xca, 0xfe, 0xba, 0xbe, 0x00, 0x00];
        assert_eq!(
            LcpPacket::decode(&echo).unwrap(),
            LcpPacket::EchoRequest {
                identifier: 7,
                magic: 0xcafe_babe,
                data: vec![]
            }
        );
        let reject = [0x08, 0x02, 0x00, 0x0a, 0x80, 0x57, 0x01, 0x01, 0x00, 0x04];
        assert_eq!(
            round_trip::<LcpOption>(&reject),
            LcpPacket::ProtocolReject {
                identifier: 2,
                protocol: Protocol::IPV6CP,
                rejected: vec![0x01, 0x01, 0x00, 0x04]
            }
        );
        let short_echo = [0x0a, 0x01, 0x00, 0x06, 0x00, 0x00];
        assert!(matches!(
            LcpPacket::decode(&short_echo),
            Err(PppError::LengthTooShort { .. })
        ));
    }

    #[test]
    fn ipcp_and_ipv6cp_options() {
        let request = [
            0x01, 0x01, 0x00, 0x16, // Configure-Request length 22
            0x03, 0x06, 0, 0, 0, 0, // IP-Address 0.0.0.0
            0x81, 0x06, 0, 0, 0, 0, // Primary DNS
            0x83, 0x06, 0, 0, 0, 0, // Secondary DNS
        ];
        round_trip::<IpcpOption>(&request);
        let nak = [
            0x03, 0x01, 0x00, 0x10, 0x03, 0x06, 192, 0, 2, 7, 0x81, 0x06, 198, 51, 100, 53,
        ];
        assert_eq!(
            round_trip::<IpcpOption>(&nak),
            IpcpPacket::ConfigureNak {
                identifier: 1,
                options: vec![
                    IpcpOption::IpAddress(Ipv4Addr::new(192, 0, 2, 7)),
                    IpcpOption::PrimaryDns(Ipv4Addr::new(198, 51, 100, 53)),
                ]
            }
        );
        let v6 = [
            0x01, 0x03, 0x00, 0x0e, 0x01, 0x0a, 0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55,
        ];
        assert_eq!(
            round_trip::<Ipv6cpOption>(&v6),
            Ipv6cpPacket::ConfigureRequest {
                identifier: 3,
                options: vec![Ipv6cpOption::InterfaceId([
                    0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55
                ])]
            }
        );
        // Echo-Request is LCP only: IPCP keeps it as an unknown code for Code-Reject.
        let echo = [0x09, 0x01, 0x00, 0x08, 1, 2, 3, 4];
        assert_eq!(
            round_trip::<IpcpOption>(&echo),
            IpcpPacket::Unknown {
                code: 9,
                identifier: 1,
                data: vec![1, 2, 3, 4]
            }
        );
        assert_eq!(
            IpcpPacket::EchoReply {
                identifier: 1,
                magic: 0,
                data: vec![]
            }
            .encode(&mut Vec::new()),
            Err(PppError::CodeNotInProtocol { code: 10 })
        );
    }

    #[test]
    fn malformed_options_and_lengths_are_errors() {
        let mru_too_long = [0x01, 0x01, 0x00, 0x09, 0x01, 0x05, 0x05, 0xd4, 0x00];
        assert_eq!(
            LcpPacket::decode(&mru_too_long),
            Err(PppError::BadOptionLength { kind: 1, len: 5 })
        );
        let option_len_one = [0x01, 0x01, 0x00, 0x06, 0x05, 0x01];
        assert_eq!(
            LcpPacket::decode(&option_len_one),
            Err(PppError::BadOptionLength { kind: 5, len: 1 })
        );
        let option_past_end = [0x01, 0x01, 0x00, 0x06, 0x05, 0x06];
        assert_eq!(
            LcpPacket::decode(&option_past_end),
            Err(PppError::BadOptionLength { kind: 5, len: 6 })
        );
        let chap_without_algorithm = [0x01, 0x01, 0x00, 0x08, 0x03, 0x04, 0xc2, 0x23];
        assert_eq!(
            LcpPacket::decode(&chap_without_algorithm),
            Err(PppError::BadOptionLength { kind: 3, len: 4 })
        );
        assert_eq!(
            LcpPacket::decode(&[0x05, 0x01, 0x00, 0x03]),
            Err(PppError::LengthTooShort {
                declared: 3,
                minimum: 4
            })
        );
        assert_eq!(
            LcpPacket::decode(&[0x05, 0x01, 0x00, 0x08, 0]),
            Err(PppError::BadLength {
                declared: 8,
                available: 5
            })
        );
        let huge = LcpPacket::ConfigureRequest {
            identifier: 1,
            options: vec![LcpOption::Raw {
                kind: 99,
                value: vec![0; 254],
            }],
        };
        assert_eq!(
            huge.encode(&mut Vec::new()),
            Err(PppError::OptionTooLong { kind: 99, len: 256 })
        );
    }

    fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 0..max)
    }

    fn lcp_option() -> BoxedStrategy<LcpOption> {
        prop_oneof![
            any::<u16>().prop_map(LcpOption::Mru),
            Just(LcpOption::AuthProtocol(AuthProtocol::Pap)),
            any::<u8>()
                .prop_map(|algorithm| LcpOption::AuthProtocol(AuthProtocol::Chap { algorithm })),
            (any::<u16>(), bytes(8))
                .prop_filter("not PAP or CHAP", |(p, _)| *p != 0xc023 && *p != 0xc223)
                .prop_map(|(p, data)| LcpOption::AuthProtocol(AuthProtocol::Other {
                    protocol: Protocol(p),
                    data
                })),
            any::<u32>().prop_map(LcpOption::MagicNumber),
            Just(LcpOption::ProtocolFieldCompression),
            Just(LcpOption::AddressControlFieldCompression),
            (any::<u8>(), bytes(20))
                .prop_filter("not a typed option", |(k, _)| ![1, 3, 5, 7, 8].contains(k))
                .prop_map(|(kind, value)| LcpOption::Raw { kind, value }),
        ]
        .boxed()
    }

    fn ipcp_option() -> BoxedStrategy<IpcpOption> {
        prop_oneof![
            any::<[u8; 4]>().prop_map(|a| IpcpOption::IpAddress(a.into())),
            any::<[u8; 4]>().prop_map(|a| IpcpOption::PrimaryDns(a.into())),
            any::<[u8; 4]>().prop_map(|a| IpcpOption::SecondaryDns(a.into())),
            (any::<u8>(), bytes(20))
                .prop_filter("not a typed option", |(k, _)| ![3, 129, 131].contains(k))
                .prop_map(|(kind, value)| IpcpOption::Raw { kind, value }),
        ]
        .boxed()
    }

    fn ipv6cp_option() -> BoxedStrategy<Ipv6cpOption> {
        prop_oneof![
            any::<[u8; 8]>().prop_map(Ipv6cpOption::InterfaceId),
            (2u8.., bytes(20)).prop_map(|(kind, value)| Ipv6cpOption::Raw { kind, value }),
        ]
        .boxed()
    }

    fn packet<O: std::fmt::Debug + Clone + 'static>(
        option: BoxedStrategy<O>,
        lcp_codes: bool,
    ) -> BoxedStrategy<ControlPacket<O>> {
        let options = proptest::collection::vec(option, 0..6);
        let common = prop_oneof![
            (any::<u8>(), options.clone()).prop_map(|(identifier, options)| {
                ControlPacket::ConfigureRequest {
                    identifier,
                    options,
                }
            }),
            (any::<u8>(), options.clone()).prop_map(|(identifier, options)| {
                ControlPacket::ConfigureAck {
                    identifier,
                    options,
                }
            }),
            (any::<u8>(), options.clone()).prop_map(|(identifier, options)| {
                ControlPacket::ConfigureNak {
                    identifier,
                    options,
                }
            }),
            (any::<u8>(), options).prop_map(|(identifier, options)| {
                ControlPacket::ConfigureReject {
                    identifier,
                    options,
                }
            }),
            (any::<u8>(), bytes(20)).prop_map(|(identifier, data)| {
                ControlPacket::TerminateRequest { identifier, data }
            }),
            (any::<u8>(), bytes(20))
                .prop_map(|(identifier, data)| ControlPacket::TerminateAck { identifier, data }),
            (any::<u8>(), bytes(20)).prop_map(|(identifier, rejected)| {
                ControlPacket::CodeReject {
                    identifier,
                    rejected,
                }
            }),
            (
                prop_oneof![Just(0u8), if lcp_codes { 12u8.. } else { 8u8.. }],
                any::<u8>(),
                bytes(20)
            )
                .prop_map(|(code, identifier, data)| ControlPacket::Unknown {
                    code,
                    identifier,
                    data
                }),
        ];
        if !lcp_codes {
            return common.boxed();
        }
        let lcp_only = prop_oneof![
            (any::<u8>(), any::<u16>(), bytes(20)).prop_map(|(identifier, protocol, rejected)| {
                ControlPacket::ProtocolReject {
                    identifier,
                    protocol: Protocol(protocol),
                    rejected,
                }
            }),
            (any::<u8>(), any::<u32>(), bytes(20)).prop_map(|(identifier, magic, data)| {
                ControlPacket::EchoRequest {
                    identifier,
                    magic,
                    data,
                }
            }),
            (any::<u8>(), any::<u32>(), bytes(20)).prop_map(|(identifier, magic, data)| {
                ControlPacket::EchoReply {
                    identifier,
                    magic,
                    data,
                }
            }),
            (any::<u8>(), any::<u32>(), bytes(20)).prop_map(|(identifier, magic, data)| {
                ControlPacket::DiscardRequest {
                    identifier,
                    magic,
                    data,
                }
            }),
        ];
        prop_oneof![common, lcp_only].boxed()
    }

    fn check_round_trip_and_truncation<O>(
        packet: &ControlPacket<O>,
        cut: prop::sample::Index,
    ) -> Result<(), TestCaseError>
    where
        O: ConfigOption + std::fmt::Debug + PartialEq,
    {
        let mut buf = Vec::new();
        packet.encode(&mut buf).unwrap();
        prop_assert_eq!(&ControlPacket::<O>::decode(&buf).unwrap(), packet);
        let cut = cut.index(buf.len());
        prop_assert!(ControlPacket::<O>::decode(&buf[..cut]).is_err());
        let length = u16::from_be_bytes([buf[2], buf[3]]) + 1;
        buf[2..4].copy_from_slice(&length.to_be_bytes());
        let is_bad_length = matches!(
            ControlPacket::<O>::decode(&buf),
            Err(PppError::BadLength { .. })
        );
        prop_assert!(is_bad_length);
        Ok(())
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(buf in bytes(80)) {
            let _ = LcpPacket::decode(&buf);
            let _ = IpcpPacket::decode(&buf);
            let _ = Ipv6cpPacket::decode(&buf);
        }

        #[test]
        fn arbitrary_option_lists_never_panic(code in 1u8..5, body in bytes(80)) {
            let mut buf = vec![code, 0];
            buf.extend_from_slice(&u16::try_from(body.len() + 4).unwrap().to_be_bytes());
            buf.extend_from_slice(&body);
            let _ = LcpPacket::decode(&buf);
            let _ = IpcpPacket::decode(&buf);
            let _ = Ipv6cpPacket::decode(&buf);
        }

        #[test]
        fn lcp_round_trips(packet in packet(lcp_option(), true), cut in any::<prop::sample::Index>()) {
            check_round_trip_and_truncation(&packet, cut)?;
        }

        #[test]
        fn ipcp_round_trips(packet in packet(ipcp_option(), false), cut in any::<prop::sample::Index>()) {
            check_round_trip_and_truncation(&packet, cut)?;
        }

        #[test]
        fn ipv6cp_round_trips(packet in packet(ipv6cp_option(), false), cut in any::<prop::sample::Index>()) {
            check_round_trip_and_truncation(&packet, cut)?;
        }
    }
}
