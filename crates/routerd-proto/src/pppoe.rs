//! PPPoE (RFC 2516) packet codec: the discovery stage (§5: PADI, PADO, PADR, PADS, PADT) with its tags
//! (Appendix A), and the header of session-stage frames (§6) whose payload is a PPP frame ([`crate::ppp`]).
//!
//! Everything here works on the Ethernet payload (after the destination, source and EtherType fields).
//! Discovery frames travel with EtherType [`ETHERTYPE_DISCOVERY`], session frames with
//! [`ETHERTYPE_SESSION`]; the caller knows which it received and calls [`DiscoveryPacket::decode`] or
//! [`SessionFrame::decode`]. Bytes after the header's LENGTH are Ethernet padding (short frames are
//! padded to 60 octets) and are ignored, as RFC 2516 §4 implies.

use std::borrow::Cow;

use crate::ppp::wire::{Cursor, Short};

/// EtherType of discovery-stage frames (RFC 2516 §4).
pub const ETHERTYPE_DISCOVERY: u16 = 0x8863;
/// EtherType of session-stage frames (RFC 2516 §4).
pub const ETHERTYPE_SESSION: u16 = 0x8864;
/// Octets of the PPPoE header: VER/TYPE, CODE, SESSION_ID, LENGTH.
pub const HEADER_LEN: usize = 6;
/// Largest discovery payload: an Ethernet MTU of 1500 less the 6-octet PPPoE header and the 10 octets
/// RFC 2516 §5 budgets for the PPP and future use; the tags of one discovery packet must fit in it.
pub const MAX_DISCOVERY_PAYLOAD: usize = 1484;
/// The only VER/TYPE byte RFC 2516 §4 defines (version 1, type 1).
const VERSION_TYPE: u8 = 0x11;

/// What was wrong with a PPPoE frame, precise enough to log and to test against.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PppoeError {
    /// The buffer ended before a fixed-size field did.
    #[error("PPPoE frame truncated: need {need} octets, have {have}")]
    Truncated { need: usize, have: usize },
    /// VER/TYPE was not 1/1 (RFC 2516 §4: a different version must not be accepted as ours).
    #[error("PPPoE version/type {version}/{kind}, only 1/1 is supported")]
    BadVersion { version: u8, kind: u8 },
    /// A CODE no PPPoE packet has.
    #[error("unknown PPPoE code {0:#04x}")]
    UnknownCode(u8),
    /// A discovery code arrived where a session frame was expected, or the other way round.
    #[error("PPPoE code {code:#04x} is not valid here ({expected} expected)")]
    WrongStage { code: u8, expected: &'static str },
    /// The header's LENGTH claims more payload than the buffer holds.
    #[error("PPPoE LENGTH {declared} exceeds the {available} payload octets present")]
    BadLength { declared: usize, available: usize },
    /// A discovery payload over [`MAX_DISCOVERY_PAYLOAD`], or a session payload over 65535 octets.
    #[error("PPPoE payload of {len} octets exceeds the maximum of {max}")]
    PayloadTooLong { len: usize, max: usize },
    /// A tag's TAG_LENGTH runs past the end of the payload.
    #[error("PPPoE tag {tag_type:#06x} declares {declared} octets, only {available} remain")]
    TagTruncated {
        tag_type: u16,
        declared: usize,
        available: usize,
    },
    /// A tag value too long for the 16-bit TAG_LENGTH (encoding only).
    #[error("PPPoE tag {tag_type:#06x} value of {len} octets does not fit TAG_LENGTH")]
    TagTooLong { tag_type: u16, len: usize },
    /// A tag whose length its definition forbids (End-Of-List not empty, Vendor-Specific without vendor id).
    #[error("PPPoE tag {tag_type:#06x} has invalid length {len}")]
    BadTagLength { tag_type: u16, len: usize },
    /// PADI, PADO and PADR must carry SESSION_ID 0 (RFC 2516 §5.1–5.3).
    #[error("PPPoE code {code:#04x} must carry session id 0, got {session_id:#06x}")]
    NonZeroSessionId { code: u8, session_id: u16 },
}

impl From<Short> for PppoeError {
    fn from(short: Short) -> Self {
        Self::Truncated {
            need: short.need,
            have: short.have,
        }
    }
}

/// The CODE field (RFC 2516 §5 and §6): which discovery packet this is, or a session frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// 0x09, PPPoE Active Discovery Initiation: the host's broadcast looking for access concentrators.
    Padi,
    /// 0x07, Offer: an access concentrator answering a PADI.
    Pado,
    /// 0x19, Request: the host choosing one offer.
    Padr,
    /// 0x65, Session-confirmation: the AC assigning the session id.
    Pads,
    /// 0xa7, Terminate: either side ending the session.
    Padt,
    /// 0x00, a session-stage frame carrying PPP.
    Session,
}

impl Code {
    /// The wire value.
    pub fn to_u8(self) -> u8 {
        match self {
            Self::Padi => 0x09,
            Self::Pado => 0x07,
            Self::Padr => 0x19,
            Self::Pads => 0x65,
            Self::Padt => 0xa7,
            Self::Session => 0x00,
        }
    }

    /// The code for a wire value, if PPPoE defines one.
    pub fn from_u8(value: u8) -> Option<Self> {
        Some(match value {
            0x09 => Self::Padi,
            0x07 => Self::Pado,
            0x19 => Self::Padr,
            0x65 => Self::Pads,
            0xa7 => Self::Padt,
            0x00 => Self::Session,
            _ => return None,
        })
    }

    /// Whether RFC 2516 requires SESSION_ID 0 for this code (the session does not exist yet).
    fn requires_zero_session(self) -> bool {
        matches!(self, Self::Padi | Self::Pado | Self::Padr)
    }
}

/// The 6-octet PPPoE header with VER/TYPE already checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Which packet this is.
    pub code: Code,
    /// The session the frame belongs to (0 before PADS).
    pub session_id: u16,
    /// Octets of payload after the header, as declared.
    pub length: u16,
}

impl Header {
    /// Decodes the header and returns it with exactly `length` payload octets (padding dropped).
    pub fn decode(buf: &[u8]) -> Result<(Self, &[u8]), PppoeError> {
        let mut cursor = Cursor::new(buf);
        let version_type = cursor.u8()?;
        let code = cursor.u8()?;
        let session_id = cursor.u16()?;
        let length = cursor.u16()?;
        if version_type != VERSION_TYPE {
            return Err(PppoeError::BadVersion {
                version: version_type >> 4,
                kind: version_type & 0x0f,
            });
        }
        let code = Code::from_u8(code).ok_or(PppoeError::UnknownCode(code))?;
        let rest = cursor.take_rest();
        let payload = rest
            .get(..usize::from(length))
            .ok_or(PppoeError::BadLength {
                declared: usize::from(length),
                available: rest.len(),
            })?;
        Ok((
            Self {
                code,
                session_id,
                length,
            },
            payload,
        ))
    }

    fn encode(code: Code, session_id: u16, length: u16, out: &mut Vec<u8>) {
        out.push(VERSION_TYPE);
        out.push(code.to_u8());
        out.extend_from_slice(&session_id.to_be_bytes());
        out.extend_from_slice(&length.to_be_bytes());
    }
}

/// Tag types of RFC 2516 Appendix A.
pub mod tag_type {
    /// End-Of-List: no further tags.
    pub const END_OF_LIST: u16 = 0x0000;
    /// Service-Name: the service the host asks for, or the AC offers ("" = any).
    pub const SERVICE_NAME: u16 = 0x0101;
    /// AC-Name: the access concentrator's name, used to choose among offers.
    pub const AC_NAME: u16 = 0x0102;
    /// Host-Uniq: host data the AC must echo, to match answers to requests.
    pub const HOST_UNIQ: u16 = 0x0103;
    /// AC-Cookie: AC data the host must echo in its PADR.
    pub const AC_COOKIE: u16 = 0x0104;
    /// Vendor-Specific: a 4-octet vendor id then vendor data.
    pub const VENDOR_SPECIFIC: u16 = 0x0105;
    /// Relay-Session-Id: added by relays, must be echoed.
    pub const RELAY_SESSION_ID: u16 = 0x0110;
    /// Service-Name-Error: the requested service cannot be provided.
    pub const SERVICE_NAME_ERROR: u16 = 0x0201;
    /// AC-System-Error: the AC has an internal error (e.g. out of sessions).
    pub const AC_SYSTEM_ERROR: u16 = 0x0202;
    /// Generic-Error: any other error.
    pub const GENERIC_ERROR: u16 = 0x0203;
}

/// One discovery tag (RFC 2516 Appendix A). Values are kept as bytes: names are "UTF-8" by the RFC but
/// real ACs send anything, and the state machines only compare them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tag {
    /// End-Of-List; decoding stops at it.
    EndOfList,
    /// Service-Name (empty = any service).
    ServiceName(Vec<u8>),
    /// AC-Name.
    AcName(Vec<u8>),
    /// Host-Uniq.
    HostUniq(Vec<u8>),
    /// AC-Cookie.
    AcCookie(Vec<u8>),
    /// Vendor-Specific: the vendor's SMI enterprise number and its data.
    VendorSpecific { vendor_id: u32, data: Vec<u8> },
    /// Relay-Session-Id.
    RelaySessionId(Vec<u8>),
    /// Service-Name-Error, with an optional human-readable reason.
    ServiceNameError(Vec<u8>),
    /// AC-System-Error, with an optional reason.
    AcSystemError(Vec<u8>),
    /// Generic-Error, with an optional reason.
    GenericError(Vec<u8>),
    /// A tag this codec does not interpret, kept so it can be relayed or logged.
    Unknown { tag_type: u16, value: Vec<u8> },
}

impl Tag {
    /// The TAG_TYPE this tag is sent with.
    pub fn tag_type(&self) -> u16 {
        match self {
            Self::EndOfList => tag_type::END_OF_LIST,
            Self::ServiceName(_) => tag_type::SERVICE_NAME,
            Self::AcName(_) => tag_type::AC_NAME,
            Self::HostUniq(_) => tag_type::HOST_UNIQ,
            Self::AcCookie(_) => tag_type::AC_COOKIE,
            Self::VendorSpecific { .. } => tag_type::VENDOR_SPECIFIC,
            Self::RelaySessionId(_) => tag_type::RELAY_SESSION_ID,
            Self::ServiceNameError(_) => tag_type::SERVICE_NAME_ERROR,
            Self::AcSystemError(_) => tag_type::AC_SYSTEM_ERROR,
            Self::GenericError(_) => tag_type::GENERIC_ERROR,
            Self::Unknown { tag_type, .. } => *tag_type,
        }
    }

    /// Whether this is one of the three error tags, which make a PADO/PADS a refusal.
    pub fn is_error(&self) -> bool {
        matches!(
            self,
            Self::ServiceNameError(_) | Self::AcSystemError(_) | Self::GenericError(_)
        )
    }

    fn from_wire(tag_type: u16, value: &[u8]) -> Result<Self, PppoeError> {
        let bytes = value.to_vec();
        Ok(match tag_type {
            tag_type::END_OF_LIST => {
                if !value.is_empty() {
                    return Err(PppoeError::BadTagLength {
                        tag_type,
                        len: value.len(),
                    });
                }
                Self::EndOfList
            }
            tag_type::SERVICE_NAME => Self::ServiceName(bytes),
            tag_type::AC_NAME => Self::AcName(bytes),
            tag_type::HOST_UNIQ => Self::HostUniq(bytes),
            tag_type::AC_COOKIE => Self::AcCookie(bytes),
            tag_type::VENDOR_SPECIFIC => {
                let mut cursor = Cursor::new(value);
                let vendor_id = cursor.u32().map_err(|_| PppoeError::BadTagLength {
                    tag_type,
                    len: value.len(),
                })?;
                Self::VendorSpecific {
                    vendor_id,
                    data: cursor.take_rest().to_vec(),
                }
            }
            tag_type::RELAY_SESSION_ID => Self::RelaySessionId(bytes),
            tag_type::SERVICE_NAME_ERROR => Self::ServiceNameError(bytes),
            tag_type::AC_SYSTEM_ERROR => Self::AcSystemError(bytes),
            tag_type::GENERIC_ERROR => Self::GenericError(bytes),
            _ => Self::Unknown {
                tag_type,
                value: bytes,
            },
        })
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<(), PppoeError> {
        let tag_type = self.tag_type();
        let value: Cow<'_, [u8]> = match self {
            Self::EndOfList => Cow::Borrowed(&[]),
            Self::ServiceName(v)
            | Self::AcName(v)
            | Self::HostUniq(v)
            | Self::AcCookie(v)
            | Self::RelaySessionId(v)
            | Self::ServiceNameError(v)
            | Self::AcSystemError(v)
            | Self::GenericError(v)
            | Self::Unknown { value: v, .. } => Cow::Borrowed(v),
            Self::VendorSpecific { vendor_id, data } => {
                Cow::Owned([&vendor_id.to_be_bytes()[..], data].concat())
            }
        };
        let len = value.len();
        let wire_len = u16::try_from(len).map_err(|_| PppoeError::TagTooLong { tag_type, len })?;
        out.extend_from_slice(&tag_type.to_be_bytes());
        out.extend_from_slice(&wire_len.to_be_bytes());
        out.extend_from_slice(&value);
        Ok(())
    }
}

/// A discovery-stage packet: PADI, PADO, PADR, PADS or PADT with its tags in wire order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryPacket {
    /// Which discovery packet (never [`Code::Session`]).
    pub code: Code,
    /// 0 for PADI/PADO/PADR; the session for PADS/PADT.
    pub session_id: u16,
    /// The tags, in order; decoding stops after an End-Of-List.
    pub tags: Vec<Tag>,
}

impl DiscoveryPacket {
    /// Decodes a discovery packet from an Ethernet payload of EtherType 0x8863.
    pub fn decode(buf: &[u8]) -> Result<Self, PppoeError> {
        let (header, payload) = Header::decode(buf)?;
        if header.code == Code::Session {
            return Err(PppoeError::WrongStage {
                code: header.code.to_u8(),
                expected: "a discovery code",
            });
        }
        check_session_id(header.code, header.session_id)?;
        if payload.len() > MAX_DISCOVERY_PAYLOAD {
            return Err(PppoeError::PayloadTooLong {
                len: payload.len(),
                max: MAX_DISCOVERY_PAYLOAD,
            });
        }
        let mut tags = Vec::new();
        let mut cursor = Cursor::new(payload);
        while !cursor.is_empty() {
            let tag_type = cursor.u16()?;
            let declared = usize::from(cursor.u16()?);
            let available = cursor.remaining();
            let value = cursor
                .take(declared)
                .map_err(|_| PppoeError::TagTruncated {
                    tag_type,
                    declared,
                    available,
                })?;
            let tag = Tag::from_wire(tag_type, value)?;
            let last = tag == Tag::EndOfList;
            tags.push(tag);
            if last {
                break;
            }
        }
        Ok(Self {
            code: header.code,
            session_id: header.session_id,
            tags,
        })
    }

    /// Appends the encoded packet (header and tags) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), PppoeError> {
        if self.code == Code::Session {
            return Err(PppoeError::WrongStage {
                code: self.code.to_u8(),
                expected: "a discovery code",
            });
        }
        check_session_id(self.code, self.session_id)?;
        let mut payload = Vec::new();
        for tag in &self.tags {
            tag.encode(&mut payload)?;
        }
        if payload.len() > MAX_DISCOVERY_PAYLOAD {
            return Err(PppoeError::PayloadTooLong {
                len: payload.len(),
                max: MAX_DISCOVERY_PAYLOAD,
            });
        }
        let length = u16::try_from(payload.len()).map_err(|_| PppoeError::PayloadTooLong {
            len: payload.len(),
            max: MAX_DISCOVERY_PAYLOAD,
        })?;
        Header::encode(self.code, self.session_id, length, out);
        out.extend_from_slice(&payload);
        Ok(())
    }

    /// The first tag of the given type, e.g. to read the AC-Name of an offer.
    pub fn find(&self, tag_type: u16) -> Option<&Tag> {
        self.tags.iter().find(|tag| tag.tag_type() == tag_type)
    }

    /// The first error tag, if any: a PADS or PADO carrying one is a refusal (RFC 2516 §5.4).
    pub fn error_tag(&self) -> Option<&Tag> {
        self.tags.iter().find(|tag| tag.is_error())
    }
}

fn check_session_id(code: Code, session_id: u16) -> Result<(), PppoeError> {
    if code.requires_zero_session() && session_id != 0 {
        return Err(PppoeError::NonZeroSessionId {
            code: code.to_u8(),
            session_id,
        });
    }
    Ok(())
}

/// A session-stage frame (RFC 2516 §6): the session id and the PPP frame it carries, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionFrame<'a> {
    /// The session assigned by the PADS.
    pub session_id: u16,
    /// The PPP frame (protocol field first), to be decoded by [`crate::ppp::Frame::decode`].
    pub payload: &'a [u8],
}

impl<'a> SessionFrame<'a> {
    /// Decodes a frame of EtherType 0x8864; padding after LENGTH is dropped.
    pub fn decode(buf: &'a [u8]) -> Result<Self, PppoeError> {
        let (header, payload) = Header::decode(buf)?;
        if header.code != Code::Session {
            return Err(PppoeError::WrongStage {
                code: header.code.to_u8(),
                expected: "the session code 0x00",
            });
        }
        Ok(Self {
            session_id: header.session_id,
            payload,
        })
    }

    /// Appends the PPPoE session header and the payload to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), PppoeError> {
        let length = u16::try_from(self.payload.len()).map_err(|_| PppoeError::PayloadTooLong {
            len: self.payload.len(),
            max: usize::from(u16::MAX),
        })?;
        Header::encode(Code::Session, self.session_id, length, out);
        out.extend_from_slice(self.payload);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A PADI as pppd's rp-pppoe plugin sends it: Service-Name "" and a 4-octet Host-Uniq, padded to the
    /// 46-octet Ethernet minimum.
    fn captured_padi() -> Vec<u8> {
        let mut frame = vec![
            0x11, 0x09, 0x00, 0x00, 0x00, 0x0c, // ver/type, PADI, session 0, length 12
            0x01, 0x01, 0x00, 0x00, // Service-Name ""
            0x01, 0x03, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef, // Host-Uniq
        ];
        frame.resize(46, 0);
        frame
    }

    #[test]
    fn decodes_a_padded_padi() {
        let packet = DiscoveryPacket::decode(&captured_padi()).unwrap();
        assert_eq!(packet.code, Code::Padi);
        assert_eq!(packet.session_id, 0);
        assert_eq!(
            packet.tags,
            vec![
                Tag::ServiceName(vec![]),
                Tag::HostUniq(vec![0xde, 0xad, 0xbe, 0xef])
            ]
        );
        let mut encoded = Vec::new();
        packet.encode(&mut encoded).unwrap();
        assert_eq!(encoded, captured_padi()[..18]);
    }

    #[test]
    fn decodes_a_pado_and_a_refusing_pads() {
        let pado = [
            0x11, 0x07, 0x00, 0x00, 0x00, 0x1c, // PADO, length 28
            0x01, 0x02, 0x00, 0x04, b'B', b'R', b'A', b'S', // AC-Name "BRAS"
            0x01, 0x01, 0x00, 0x00, // Service-Name ""
            0x01, 0x04, 0x00, 0x02, 0x12, 0x34, // AC-Cookie
            0x01, 0x05, 0x00, 0x06, 0x00, 0x00, 0x0d, 0xe9, 0xaa, 0xbb, // Vendor 3561
        ];
        let packet = DiscoveryPacket::decode(&pado).unwrap();
        assert_eq!(packet.code, Code::Pado);
        assert_eq!(
            packet.find(tag_type::AC_NAME),
            Some(&Tag::AcName(b"BRAS".to_vec()))
        );
        assert_eq!(
            packet.tags.last(),
            Some(&Tag::VendorSpecific {
                vendor_id: 3561,
                data: vec![0xaa, 0xbb]
            })
        );
        let pads = [
            0x11, 0x65, 0x00, 0x00, 0x00, 0x0a, // PADS, session 0, length 10
            0x02, 0x01, 0x00, 0x06, b'n', b'o', b' ', b's', b'v', b'c',
        ];
        let packet = DiscoveryPacket::decode(&pads).unwrap();
        assert_eq!(
            packet.error_tag(),
            Some(&Tag::ServiceNameError(b"no svc".to_vec()))
        );
    }

    #[test]
    fn end_of_list_stops_decoding_and_unknown_tags_are_kept() {
        let buf = [
            0x11, 0xa7, 0x12, 0x34, 0x00, 0x0a, // PADT session 0x1234
            0x77, 0x77, 0x00, 0x01, 0x05, // unknown tag
            0x00, 0x00, 0x00, 0x00, // End-Of-List
            0xff, // ignored after End-Of-List
        ];
        let packet = DiscoveryPacket::decode(&buf).unwrap();
        assert_eq!(packet.session_id, 0x1234);
        assert_eq!(
            packet.tags,
            vec![
                Tag::Unknown {
                    tag_type: 0x7777,
                    value: vec![5]
                },
                Tag::EndOfList
            ]
        );
    }

    #[test]
    fn rejects_malformed_headers_and_tags() {
        let mut bad_version = captured_padi();
        bad_version[0] = 0x21;
        assert_eq!(
            DiscoveryPacket::decode(&bad_version),
            Err(PppoeError::BadVersion {
                version: 2,
                kind: 1
            })
        );
        let mut bad_code = captured_padi();
        bad_code[1] = 0x42;
        assert_eq!(
            DiscoveryPacket::decode(&bad_code),
            Err(PppoeError::UnknownCode(0x42))
        );
        let mut long_length = captured_padi();
        long_length[4..6].copy_from_slice(&100u16.to_be_bytes());
        assert_eq!(
            DiscoveryPacket::decode(&long_length),
            Err(PppoeError::BadLength {
                declared: 100,
                available: 40
            })
        );
        let mut long_tag = captured_padi();
        long_tag[13] = 0x09;
        assert_eq!(
            DiscoveryPacket::decode(&long_tag),
            Err(PppoeError::TagTruncated {
                tag_type: tag_type::HOST_UNIQ,
                declared: 9,
                available: 4
            })
        );
        let mut padi_with_session = captured_padi();
        padi_with_session[3] = 1;
        assert_eq!(
            DiscoveryPacket::decode(&padi_with_session),
            Err(PppoeError::NonZeroSessionId {
                code: 0x09,
                session_id: 1
            })
        );
        let eol_with_value = [0x11, 0x09, 0, 0, 0, 5, 0, 0, 0, 1, 7];
        assert!(matches!(
            DiscoveryPacket::decode(&eol_with_value),
            Err(PppoeError::BadTagLength { .. })
        ));
        let short_vendor = [0x11, 0x09, 0, 0, 0, 6, 0x01, 0x05, 0, 2, 0, 0];
        assert!(matches!(
            DiscoveryPacket::decode(&short_vendor),
            Err(PppoeError::BadTagLength { .. })
        ));
    }

    #[test]
    fn discovery_payload_limit_is_enforced_both_ways() {
        let packet = DiscoveryPacket {
            code: Code::Padi,
            session_id: 0,
            tags: vec![Tag::HostUniq(vec![0; MAX_DISCOVERY_PAYLOAD - 3])],
        };
        assert!(matches!(
            packet.encode(&mut Vec::new()),
            Err(PppoeError::PayloadTooLong { .. })
        ));
        let mut buf = vec![0x11, 0x09, 0, 0];
        buf.extend_from_slice(&1485u16.to_be_bytes());
        buf.extend_from_slice(&[0x01, 0x03]);
        buf.extend_from_slice(&1481u16.to_be_bytes());
        buf.resize(HEADER_LEN + 1485, 0);
        assert_eq!(
            DiscoveryPacket::decode(&buf),
            Err(PppoeError::PayloadTooLong {
                len: 1485,
                max: MAX_DISCOVERY_PAYLOAD
            })
        );
    }

    #[test]
    fn session_frames_carry_ppp_and_reject_discovery_codes() {
        let frame = [
            0x11, 0x00, 0x00, 0x2a, 0x00, 0x04, 0xc0, 0x21, 0x09, 0x01, 0, 0,
        ];
        let session = SessionFrame::decode(&frame).unwrap();
        assert_eq!(session.session_id, 42);
        assert_eq!(session.payload, &[0xc0, 0x21, 0x09, 0x01]);
        let mut encoded = Vec::new();
        session.encode(&mut encoded).unwrap();
        assert_eq!(encoded, frame[..10]);
        assert!(matches!(
            SessionFrame::decode(&captured_padi()),
            Err(PppoeError::WrongStage { code: 0x09, .. })
        ));
        assert!(matches!(
            DiscoveryPacket::decode(&frame),
            Err(PppoeError::WrongStage { code: 0x00, .. })
        ));
    }

    fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 0..max)
    }

    fn tag() -> impl Strategy<Value = Tag> {
        prop_oneof![
            bytes(40).prop_map(Tag::ServiceName),
            bytes(40).prop_map(Tag::AcName),
            bytes(40).prop_map(Tag::HostUniq),
            bytes(40).prop_map(Tag::AcCookie),
            (any::<u32>(), bytes(40))
                .prop_map(|(vendor_id, data)| Tag::VendorSpecific { vendor_id, data }),
            bytes(12).prop_map(Tag::RelaySessionId),
            bytes(40).prop_map(Tag::ServiceNameError),
            bytes(40).prop_map(Tag::AcSystemError),
            bytes(40).prop_map(Tag::GenericError),
            (0x0300u16.., bytes(40)).prop_map(|(tag_type, value)| Tag::Unknown { tag_type, value }),
        ]
    }

    fn discovery_packet() -> impl Strategy<Value = DiscoveryPacket> {
        (
            prop_oneof![
                Just(Code::Padi),
                Just(Code::Pado),
                Just(Code::Padr),
                Just(Code::Pads),
                Just(Code::Padt)
            ],
            any::<u16>(),
            proptest::collection::vec(tag(), 0..8),
            any::<bool>(),
        )
            .prop_map(|(code, session_id, mut tags, end_of_list)| {
                if end_of_list {
                    tags.push(Tag::EndOfList);
                }
                let session_id = if code.requires_zero_session() {
                    0
                } else {
                    session_id
                };
                DiscoveryPacket {
                    code,
                    session_id,
                    tags,
                }
            })
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(buf in bytes(200)) {
            let _ = DiscoveryPacket::decode(&buf);
            let _ = SessionFrame::decode(&buf);
            let _ = Header::decode(&buf);
        }

        #[test]
        fn arbitrary_tag_lists_never_panic(code in any::<u8>(), payload in bytes(200)) {
            let mut buf = vec![0x11, code, 0, 0];
            buf.extend_from_slice(&u16::try_from(payload.len()).unwrap().to_be_bytes());
            buf.extend_from_slice(&payload);
            let _ = DiscoveryPacket::decode(&buf);
        }

        #[test]
        fn discovery_round_trips(packet in discovery_packet()) {
            let mut buf = Vec::new();
            packet.encode(&mut buf).unwrap();
            prop_assert_eq!(DiscoveryPacket::decode(&buf).unwrap(), packet);
        }

        #[test]
        fn truncated_discovery_is_an_error(packet in discovery_packet(), cut in any::<prop::sample::Index>()) {
            let mut buf = Vec::new();
            packet.encode(&mut buf).unwrap();
            let cut = cut.index(buf.len());
            prop_assert!(DiscoveryPacket::decode(&buf[..cut]).is_err());
        }

        #[test]
        fn length_beyond_buffer_is_an_error(packet in discovery_packet(), extra in 1u16..100) {
            let mut buf = Vec::new();
            packet.encode(&mut buf).unwrap();
            let length = u16::from_be_bytes([buf[4], buf[5]]) + extra;
            buf[4..6].copy_from_slice(&length.to_be_bytes());
            let is_bad_length = matches!(DiscoveryPacket::decode(&buf), Err(PppoeError::BadLength { .. }));
            prop_assert!(is_bad_length);
        }

        #[test]
        fn session_frames_round_trip(session_id in any::<u16>(), payload in bytes(200), padding in bytes(40)) {
            let mut buf = Vec::new();
            SessionFrame { session_id, payload: &payload }.encode(&mut buf).unwrap();
            buf.extend_from_slice(&padding);
            let frame = SessionFrame::decode(&buf).unwrap();
            prop_assert_eq!(frame.session_id, session_id);
            prop_assert_eq!(frame.payload, &payload[..]);
            let cut = buf.len() - padding.len() - 1;
            prop_assert!(SessionFrame::decode(&buf[..cut]).is_err());
        }
    }
}
