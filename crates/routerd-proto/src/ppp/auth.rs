//! Authentication packets: PAP (RFC 1334 §2.2) and CHAP (RFC 1994 §4), and the CHAP-MD5 response of
//! RFC 1994 §2.1 (`MD5(Identifier || secret || Challenge)`), computed with the RustCrypto `md-5` crate.
//!
//! Unlike the control protocols, PAP and CHAP have no Code-Reject to answer an unknown code with, so an
//! unknown code is an error here. The PAP password is a [`Secret`] so that no `Debug` of a packet can
//! print it.

use md5::{Digest, Md5};

use super::control::PacketHeader;
use super::wire::Cursor;
use super::{PppError, Secret};

/// A field with a one-octet length prefix (PAP Peer-ID, Password, Msg; CHAP Value).
fn read_prefixed<'a>(cursor: &mut Cursor<'a>) -> Result<&'a [u8], PppError> {
    let len = usize::from(cursor.u8()?);
    Ok(cursor.take(len)?)
}

fn write_prefixed(field: &'static str, value: &[u8], out: &mut Vec<u8>) -> Result<(), PppError> {
    let len = u8::try_from(value.len()).map_err(|_| PppError::FieldTooLong {
        field,
        len: value.len(),
    })?;
    out.push(len);
    out.extend_from_slice(value);
    Ok(())
}

/// A PAP packet (RFC 1334 §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PapPacket {
    /// 1, Authenticate-Request: the user name and the password, in clear (that is PAP).
    AuthenticateRequest {
        identifier: u8,
        peer_id: Vec<u8>,
        password: Secret,
    },
    /// 2, Authenticate-Ack, with the authenticator's message.
    AuthenticateAck { identifier: u8, message: Vec<u8> },
    /// 3, Authenticate-Nak, with the authenticator's message (often the reason).
    AuthenticateNak { identifier: u8, message: Vec<u8> },
}

impl PapPacket {
    /// Decodes a PAP packet. An Ack or Nak without the Msg-Length octet is accepted as an empty message,
    /// as some access concentrators send it that way. Fields must end exactly at Length.
    pub fn decode(buf: &[u8]) -> Result<Self, PppError> {
        let header = PacketHeader::decode(buf)?;
        let identifier = header.identifier;
        let mut cursor = Cursor::new(header.body);
        let packet = match header.code {
            1 => {
                let peer_id = read_prefixed(&mut cursor)?.to_vec();
                let password = Secret::new(read_prefixed(&mut cursor)?);
                Self::AuthenticateRequest {
                    identifier,
                    peer_id,
                    password,
                }
            }
            code @ (2 | 3) => {
                let message = if cursor.is_empty() {
                    Vec::new()
                } else {
                    read_prefixed(&mut cursor)?.to_vec()
                };
                if code == 2 {
                    Self::AuthenticateAck {
                        identifier,
                        message,
                    }
                } else {
                    Self::AuthenticateNak {
                        identifier,
                        message,
                    }
                }
            }
            code => {
                return Err(PppError::UnknownCode {
                    protocol: "PAP",
                    code,
                })
            }
        };
        if !cursor.is_empty() {
            return Err(PppError::TrailingData {
                extra: cursor.remaining(),
            });
        }
        Ok(packet)
    }

    /// Appends the encoded packet (without the PPP protocol field) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), PppError> {
        let mut body = Vec::new();
        let (code, identifier) = match self {
            Self::AuthenticateRequest {
                identifier,
                peer_id,
                password,
            } => {
                write_prefixed("PAP Peer-ID", peer_id, &mut body)?;
                write_prefixed("PAP Password", password.expose(), &mut body)?;
                (1, *identifier)
            }
            Self::AuthenticateAck {
                identifier,
                message,
            } => {
                write_prefixed("PAP Message", message, &mut body)?;
                (2, *identifier)
            }
            Self::AuthenticateNak {
                identifier,
                message,
            } => {
                write_prefixed("PAP Message", message, &mut body)?;
                (3, *identifier)
            }
        };
        PacketHeader {
            code,
            identifier,
            body: &body,
        }
        .encode(out)
    }
}

/// A CHAP packet (RFC 1994 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChapPacket {
    /// 1, Challenge: a random value and the authenticator's name.
    Challenge {
        identifier: u8,
        value: Vec<u8>,
        name: Vec<u8>,
    },
    /// 2, Response: the hash ([`chap_md5_response`]) and our name.
    Response {
        identifier: u8,
        value: Vec<u8>,
        name: Vec<u8>,
    },
    /// 3, Success, with a message.
    Success { identifier: u8, message: Vec<u8> },
    /// 4, Failure, with a message (often the reason).
    Failure { identifier: u8, message: Vec<u8> },
}

impl ChapPacket {
    /// Decodes a CHAP packet.
    pub fn decode(buf: &[u8]) -> Result<Self, PppError> {
        let header = PacketHeader::decode(buf)?;
        let identifier = header.identifier;
        let mut cursor = Cursor::new(header.body);
        Ok(match header.code {
            code @ (1 | 2) => {
                let value = read_prefixed(&mut cursor)?.to_vec();
                let name = cursor.take_rest().to_vec();
                if code == 1 {
                    Self::Challenge {
                        identifier,
                        value,
                        name,
                    }
                } else {
                    Self::Response {
                        identifier,
                        value,
                        name,
                    }
                }
            }
            3 => Self::Success {
                identifier,
                message: header.body.to_vec(),
            },
            4 => Self::Failure {
                identifier,
                message: header.body.to_vec(),
            },
            code => {
                return Err(PppError::UnknownCode {
                    protocol: "CHAP",
                    code,
                })
            }
        })
    }

    /// Appends the encoded packet (without the PPP protocol field) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), PppError> {
        let mut body = Vec::new();
        let (code, identifier) = match self {
            Self::Challenge {
                identifier,
                value,
                name,
            }
            | Self::Response {
                identifier,
                value,
                name,
            } => {
                write_prefixed("CHAP Value", value, &mut body)?;
                body.extend_from_slice(name);
                let code = if matches!(self, Self::Challenge { .. }) {
                    1
                } else {
                    2
                };
                (code, *identifier)
            }
            Self::Success {
                identifier,
                message,
            } => {
                body.extend_from_slice(message);
                (3, *identifier)
            }
            Self::Failure {
                identifier,
                message,
            } => {
                body.extend_from_slice(message);
                (4, *identifier)
            }
        };
        PacketHeader {
            code,
            identifier,
            body: &body,
        }
        .encode(out)
    }
}

/// The CHAP-MD5 Response Value for a Challenge (RFC 1994 §2.1 with algorithm 5): the MD5 of the
/// Challenge's Identifier, the shared secret and the Challenge Value, in that order.
pub fn chap_md5_response(identifier: u8, secret: &Secret, challenge: &[u8]) -> [u8; 16] {
    let mut hasher = Md5::new();
    hasher.update([identifier]);
    hasher.update(secret.expose());
    hasher.update(challenge);
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn pap_request_and_replies() {
        let request = [
            0x01, 0x05, 0x00, 0x0e, 0x04, b'u', b's', b'e', b'r', 0x04, b'p', b'a', b's', b's',
        ];
        let packet = PapPacket::decode(&request).unwrap();
        assert_eq!(
            packet,
            PapPacket::AuthenticateRequest {
                identifier: 5,
                peer_id: b"user".to_vec(),
                password: Secret::new(b"pass".to_vec()),
            }
        );
        let password_bytes = format!("{:?}", b"pass".to_vec());
        assert!(!format!("{packet:?}").contains(&password_bytes));
        assert!(format!("{packet:?}").contains("<redacted>"));
        let mut encoded = Vec::new();
        packet.encode(&mut encoded).unwrap();
        assert_eq!(encoded, request);

        let ack = [0x02, 0x05, 0x00, 0x07, 0x02, b'o', b'k'];
        assert_eq!(
            PapPacket::decode(&ack).unwrap(),
            PapPacket::AuthenticateAck {
                identifier: 5,
                message: b"ok".to_vec()
            }
        );
        let bare_nak = [0x03, 0x05, 0x00, 0x04];
        assert_eq!(
            PapPacket::decode(&bare_nak).unwrap(),
            PapPacket::AuthenticateNak {
                identifier: 5,
                message: vec![]
            }
        );
        let overlong_peer_id = [0x01, 0x05, 0x00, 0x06, 0x09, b'u'];
        assert_eq!(
            PapPacket::decode(&overlong_peer_id),
            Err(PppError::Truncated { need: 10, have: 2 })
        );
        let trailing = [0x02, 0x05, 0x00, 0x06, 0x00, 0xff];
        assert_eq!(
            PapPacket::decode(&trailing),
            Err(PppError::TrailingData { extra: 1 })
        );
        assert_eq!(
            PapPacket::decode(&[0x07, 0x01, 0x00, 0x04]),
            Err(PppError::UnknownCode {
                protocol: "PAP",
                code: 7
            })
        );
    }

    #[test]
    fn chap_challenge_response_and_md5() {
        let mut challenge = vec![0x01, 0x2a, 0x00, 0x00, 0x08];
        challenge.extend_from_slice(&[0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]);
        challenge.extend_from_slice(b"BRAS");
        let length = u16::try_from(challenge.len()).unwrap();
        challenge[2..4].copy_from_slice(&length.to_be_bytes());
        let ChapPacket::Challenge {
            identifier,
            value,
            name,
        } = ChapPacket::decode(&challenge).unwrap()
        else {
            panic!("not a challenge");
        };
        assert_eq!((identifier, name.as_slice()), (0x2a, &b"BRAS"[..]));
        // Reference value from Python's hashlib.md5(b"\x2a" + b"hunter2" + challenge).
        let response = chap_md5_response(identifier, &Secret::new(b"hunter2".to_vec()), &value);
        assert_eq!(
            response,
            [
                0x79, 0x4a, 0x3c, 0x63, 0x89, 0xe5, 0x58, 0xe9, 0xf2, 0xdc, 0x30, 0x1d, 0xd1, 0x6e,
                0x4f, 0xaf
            ]
        );
        let failure = [0x04, 0x2a, 0x00, 0x08, b'E', b'=', b'6', b'9'];
        assert_eq!(
            ChapPacket::decode(&failure).unwrap(),
            ChapPacket::Failure {
                identifier: 0x2a,
                message: b"E=69".to_vec()
            }
        );
        let value_past_end = [0x02, 0x01, 0x00, 0x06, 0x10, 0x00];
        assert!(matches!(
            ChapPacket::decode(&value_past_end),
            Err(PppError::Truncated { .. })
        ));
    }

    fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 0..max)
    }

    fn pap_packet() -> impl Strategy<Value = PapPacket> {
        prop_oneof![
            (any::<u8>(), bytes(40), bytes(40)).prop_map(|(identifier, peer_id, password)| {
                PapPacket::AuthenticateRequest {
                    identifier,
                    peer_id,
                    password: Secret::new(password),
                }
            }),
            (any::<u8>(), bytes(40)).prop_map(|(identifier, message)| {
                PapPacket::AuthenticateAck {
                    identifier,
                    message,
                }
            }),
            (any::<u8>(), bytes(40)).prop_map(|(identifier, message)| {
                PapPacket::AuthenticateNak {
                    identifier,
                    message,
                }
            }),
        ]
    }

    fn chap_packet() -> impl Strategy<Value = ChapPacket> {
        prop_oneof![
            (any::<u8>(), bytes(40), bytes(40)).prop_map(|(identifier, value, name)| {
                ChapPacket::Challenge {
                    identifier,
                    value,
                    name,
                }
            }),
            (any::<u8>(), bytes(40), bytes(40)).prop_map(|(identifier, value, name)| {
                ChapPacket::Response {
                    identifier,
                    value,
                    name,
                }
            }),
            (any::<u8>(), bytes(40)).prop_map(|(identifier, message)| ChapPacket::Success {
                identifier,
                message
            }),
            (any::<u8>(), bytes(40)).prop_map(|(identifier, message)| ChapPacket::Failure {
                identifier,
                message
            }),
        ]
    }

    /// Raises the Length field of an encoded packet by one, past the buffer.
    fn lengthen(buf: &mut [u8]) {
        let length = u16::from_be_bytes([buf[2], buf[3]]) + 1;
        buf[2..4].copy_from_slice(&length.to_be_bytes());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(buf in bytes(100)) {
            let _ = PapPacket::decode(&buf);
            let _ = ChapPacket::decode(&buf);
        }

        #[test]
        fn pap_round_trips(packet in pap_packet(), cut in any::<prop::sample::Index>()) {
            let mut buf = Vec::new();
            packet.encode(&mut buf).unwrap();
            prop_assert_eq!(&PapPacket::decode(&buf).unwrap(), &packet);
            prop_assert!(PapPacket::decode(&buf[..cut.index(buf.len())]).is_err());
            lengthen(&mut buf);
            let is_bad_length = matches!(PapPacket::decode(&buf), Err(PppError::BadLength { .. }));
            prop_assert!(is_bad_length);
        }

        #[test]
        fn chap_round_trips(packet in chap_packet(), cut in any::<prop::sample::Index>()) {
            let mut buf = Vec::new();
            packet.encode(&mut buf).unwrap();
            prop_assert_eq!(&ChapPacket::decode(&buf).unwrap(), &packet);
            prop_assert!(ChapPacket::decode(&buf[..cut.index(buf.len())]).is_err());
            lengthen(&mut buf);
            let is_bad_length = matches!(ChapPacket::decode(&buf), Err(PppError::BadLength { .. }));
            prop_assert!(is_bad_length);
        }

        #[test]
        fn chap_md5_matches_a_second_computation(identifier in any::<u8>(), secret in bytes(32), challenge in bytes(32)) {
            let mut joined = vec![identifier];
            joined.extend_from_slice(&secret);
            joined.extend_from_slice(&challenge);
            let expected: [u8; 16] = Md5::digest(&joined).into();
            prop_assert_eq!(chap_md5_response(identifier, &Secret::new(secret), &challenge), expected);
        }
    }
}
