//! Netlink framing shared by the netfilter codecs: the `nlmsghdr` walker (several messages per `recv`),
//! the `nfgenmsg` header every nfnetlink message carries, the attribute walker (`nlattr`, with the
//! `NLA_F_NESTED`/`NLA_F_NET_BYTEORDER` flag bits masked off the type), and a small builder for requests.
//!
//! Byte order: netlink headers and attribute headers are host order; nfnetlink attribute *values* are
//! network order (big endian), as the ctnetlink commit message puts it, so that userspace can relay them.

use std::net::{Ipv4Addr, Ipv6Addr};

use thiserror::Error;

// linux/netlink.h
/// Size of `struct nlmsghdr` (`NLMSG_HDRLEN`).
pub const NLMSG_HDRLEN: usize = 16;
/// linux/netlink.h: no-op message, skipped.
pub const NLMSG_NOOP: u16 = 1;
/// linux/netlink.h: error or acknowledgement (`struct nlmsgerr`).
pub const NLMSG_ERROR: u16 = 2;
/// linux/netlink.h: end of a multipart (dump) answer.
pub const NLMSG_DONE: u16 = 3;
/// linux/netlink.h: data lost.
pub const NLMSG_OVERRUN: u16 = 4;
/// linux/netlink.h: the message is a request.
pub const NLM_F_REQUEST: u16 = 0x1;
/// linux/netlink.h: part of a multipart answer.
pub const NLM_F_MULTI: u16 = 0x2;
/// linux/netlink.h: ask for an acknowledgement.
pub const NLM_F_ACK: u16 = 0x4;
/// linux/netlink.h: (new requests) fail with `EEXIST` rather than replace an existing entry.
pub const NLM_F_EXCL: u16 = 0x200;
/// linux/netlink.h: (new requests, and ctnetlink events) the entry was created, not updated.
pub const NLM_F_CREATE: u16 = 0x400;
/// linux/netlink.h: the dump was interrupted (the table changed): the caller should dump again.
pub const NLM_F_DUMP_INTR: u16 = 0x10;
/// linux/netlink.h: `NLM_F_ROOT | NLM_F_MATCH`.
pub const NLM_F_DUMP: u16 = 0x300;
/// linux/netlink.h: attribute header size (`NLA_HDRLEN`).
pub const NLA_HDRLEN: usize = 4;
/// linux/netlink.h: the attribute holds attributes.
pub const NLA_F_NESTED: u16 = 1 << 15;
/// linux/netlink.h: the attribute value is in network byte order.
pub const NLA_F_NET_BYTEORDER: u16 = 1 << 14;
/// linux/netlink.h: `NLA_TYPE_MASK`, the type without the two flag bits.
pub const NLA_TYPE_MASK: u16 = !(NLA_F_NESTED | NLA_F_NET_BYTEORDER);

/// linux/netlink.h: the netlink protocol of nfnetlink sockets.
pub const NETLINK_NETFILTER: i32 = 12;

// linux/netfilter/nfnetlink.h
/// linux/netfilter/nfnetlink.h `enum nfnetlink_groups`: conntrack creation events.
pub const NFNLGRP_CONNTRACK_NEW: u32 = 1;
/// linux/netfilter/nfnetlink.h: conntrack update events (state, status, mark changes).
pub const NFNLGRP_CONNTRACK_UPDATE: u32 = 2;
/// linux/netfilter/nfnetlink.h: conntrack destruction events (with final counters).
pub const NFNLGRP_CONNTRACK_DESTROY: u32 = 3;
/// linux/netfilter/nfnetlink.h: size of `struct nfgenmsg`.
pub const NFGENMSG_LEN: usize = 4;
/// linux/netfilter/nfnetlink.h: the only nfnetlink version.
pub const NFNETLINK_V0: u8 = 0;
/// linux/netfilter/nfnetlink.h: conntrack subsystem.
pub const NFNL_SUBSYS_CTNETLINK: u8 = 1;
/// linux/netfilter/nfnetlink.h: nfnetlink_log subsystem.
pub const NFNL_SUBSYS_ULOG: u8 = 4;

// linux/socket.h (address families as nfgenmsg carries them)
/// linux/socket.h: any family (dump both IPv4 and IPv6).
pub const AF_UNSPEC: u8 = 0;
/// linux/socket.h: IPv4.
pub const AF_INET: u8 = 2;
/// linux/socket.h: IPv6.
pub const AF_INET6: u8 = 10;

/// What was wrong with bytes handed to a decoder. Each variant names the structure being read so a log
/// line is enough to find the fault.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the structure needs.
    #[error("{what}: truncated, need {needed} bytes, {available} available")]
    Truncated {
        what: &'static str,
        needed: usize,
        available: usize,
    },
    /// `nlmsg_len` smaller than the header or larger than what is left of the buffer.
    #[error("netlink message length {length} invalid with {remaining} bytes left")]
    MessageLength { length: u32, remaining: usize },
    /// `nla_len` smaller than the attribute header or larger than what is left.
    #[error("attribute length {length} invalid with {remaining} bytes left")]
    AttributeLength { length: u16, remaining: usize },
    /// A fixed-size attribute value of the wrong size.
    #[error("{what}: expected {expected} bytes, got {got}")]
    ValueSize {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    /// A mandatory attribute is absent.
    #[error("{0} missing")]
    Missing(&'static str),
    /// The same attribute twice where the kernel sends it once.
    #[error("{0} repeated")]
    Duplicate(&'static str),
    /// A message of another subsystem or type than the decoder handles.
    #[error("unexpected netlink message type {message_type:#06x}, expected {expected}")]
    UnexpectedMessage {
        message_type: u16,
        expected: &'static str,
    },
    /// A value outside what the field allows (a family that is not IPv4/IPv6, an IP version nibble...).
    #[error("{what}: invalid value {value}")]
    InvalidValue { what: &'static str, value: u32 },
    /// Two parts of a message that must agree do not (an IPv6 address in an IPv4 entry...).
    #[error("{0}")]
    Inconsistent(&'static str),
}

/// Borrow `len` bytes at `offset`, or say which structure was cut short.
pub(crate) fn slice<'a>(
    bytes: &'a [u8],
    offset: usize,
    len: usize,
    what: &'static str,
) -> Result<&'a [u8], DecodeError> {
    let end = offset.checked_add(len);
    end.and_then(|end| bytes.get(offset..end))
        .ok_or(DecodeError::Truncated {
            what,
            needed: offset.saturating_add(len),
            available: bytes.len(),
        })
}

/// Read a fixed-size array at `offset`.
pub(crate) fn array<const N: usize>(
    bytes: &[u8],
    offset: usize,
    what: &'static str,
) -> Result<[u8; N], DecodeError> {
    let part = slice(bytes, offset, N, what)?;
    let mut out = [0u8; N];
    out.copy_from_slice(part);
    Ok(out)
}

/// Round up to the 4-byte netlink alignment (`NLMSG_ALIGN`, `NLA_ALIGN`).
fn align4(len: usize) -> usize {
    len.saturating_add(3) & !3
}

/// The `struct nlmsghdr` fields (host byte order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetlinkHeader {
    pub length: u32,
    pub message_type: u16,
    pub flags: u16,
    pub sequence: u32,
    pub port_id: u32,
}

/// One netlink message of a buffer: the header and the payload after it (not including padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetlinkMessage<'a> {
    pub header: NetlinkHeader,
    pub payload: &'a [u8],
}

/// What a netlink buffer yields, control messages already interpreted so every caller handles them
/// the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetlinkItem<'a> {
    /// A data message (for the codecs here: an nfnetlink message).
    Message(NetlinkMessage<'a>),
    /// `NLMSG_ERROR` with error 0: the acknowledgement of request `sequence`.
    Ack { sequence: u32 },
    /// `NLMSG_ERROR` with a negative errno: request `sequence` failed with `errno` (positive).
    Error { sequence: u32, errno: i32 },
    /// `NLMSG_DONE`: the end of a dump; `interrupted` when `NLM_F_DUMP_INTR` says it must be redone.
    Done { interrupted: bool },
    /// `NLMSG_OVERRUN`: the kernel lost data.
    Overrun,
}

/// Lazily walks a buffer holding several netlink messages (what one `recv` returns). After a framing
/// error the walk stops: the next message boundary is unknown.
#[derive(Debug, Clone)]
pub struct NetlinkMessages<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> NetlinkMessages<'a> {
    /// Walk `buffer`, which must start at a message boundary.
    pub fn new(buffer: &'a [u8]) -> Self {
        Self {
            rest: buffer,
            failed: false,
        }
    }

    fn next_message(&mut self) -> Result<NetlinkMessage<'a>, DecodeError> {
        let bytes = self.rest;
        let length = u32::from_ne_bytes(array(bytes, 0, "nlmsghdr")?);
        let message_type = u16::from_ne_bytes(array(bytes, 4, "nlmsghdr")?);
        let flags = u16::from_ne_bytes(array(bytes, 6, "nlmsghdr")?);
        let sequence = u32::from_ne_bytes(array(bytes, 8, "nlmsghdr")?);
        let port_id = u32::from_ne_bytes(array(bytes, 12, "nlmsghdr")?);
        let len = usize::try_from(length).unwrap_or(usize::MAX);
        if len < NLMSG_HDRLEN || len > bytes.len() {
            return Err(DecodeError::MessageLength {
                length,
                remaining: bytes.len(),
            });
        }
        let payload = bytes.get(NLMSG_HDRLEN..len).unwrap_or_default();
        self.rest = bytes.get(align4(len)..).unwrap_or_default();
        Ok(NetlinkMessage {
            header: NetlinkHeader {
                length,
                message_type,
                flags,
                sequence,
                port_id,
            },
            payload,
        })
    }
}

impl<'a> Iterator for NetlinkMessages<'a> {
    type Item = Result<NetlinkItem<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.failed || self.rest.is_empty() {
                return None;
            }
            let message = match self.next_message() {
                Ok(message) => message,
                Err(error) => {
                    self.failed = true;
                    return Some(Err(error));
                }
            };
            let item = match message.header.message_type {
                NLMSG_NOOP => continue,
                NLMSG_DONE => NetlinkItem::Done {
                    interrupted: message.header.flags & NLM_F_DUMP_INTR != 0,
                },
                NLMSG_OVERRUN => NetlinkItem::Overrun,
                NLMSG_ERROR => match array::<4>(message.payload, 0, "nlmsgerr") {
                    Ok(raw) => match i32::from_ne_bytes(raw) {
                        0 => NetlinkItem::Ack {
                            sequence: message.header.sequence,
                        },
                        error => NetlinkItem::Error {
                            sequence: message.header.sequence,
                            errno: error.saturating_neg(),
                        },
                    },
                    Err(error) => return Some(Err(error)),
                },
                _ => NetlinkItem::Message(message),
            };
            return Some(Ok(item));
        }
    }
}

/// What a decoding walk yields: a decoded data message or one of the control messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item<T> {
    /// A data message, decoded.
    Data(T),
    /// See [`NetlinkItem::Ack`].
    Ack { sequence: u32 },
    /// See [`NetlinkItem::Error`].
    Error { sequence: u32, errno: i32 },
    /// See [`NetlinkItem::Done`].
    Done { interrupted: bool },
    /// See [`NetlinkItem::Overrun`].
    Overrun,
}

/// A [`NetlinkMessages`] walk that decodes each data message with one subsystem's decoder when the
/// caller asks for the next item, so callers filter while decoding. A data message that fails to decode
/// is reported and the walk goes on (its frame was sound); a framing error ends the walk.
#[derive(Debug, Clone)]
pub struct Decoded<'a, T> {
    messages: NetlinkMessages<'a>,
    decode: fn(&NetlinkMessage<'a>) -> Result<T, DecodeError>,
}

impl<'a, T> Decoded<'a, T> {
    /// Walk `buffer`, decoding data messages with `decode`.
    pub fn new(
        buffer: &'a [u8],
        decode: fn(&NetlinkMessage<'a>) -> Result<T, DecodeError>,
    ) -> Self {
        Self {
            messages: NetlinkMessages::new(buffer),
            decode,
        }
    }
}

impl<'a, T> Iterator for Decoded<'a, T> {
    type Item = Result<Item<T>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = match self.messages.next()? {
            Ok(item) => item,
            Err(error) => return Some(Err(error)),
        };
        Some(match item {
            NetlinkItem::Message(message) => (self.decode)(&message).map(Item::Data),
            NetlinkItem::Ack { sequence } => Ok(Item::Ack { sequence }),
            NetlinkItem::Error { sequence, errno } => Ok(Item::Error { sequence, errno }),
            NetlinkItem::Done { interrupted } => Ok(Item::Done { interrupted }),
            NetlinkItem::Overrun => Ok(Item::Overrun),
        })
    }
}

/// Check a data message's type, naming what was expected otherwise.
pub(crate) fn expect_type(
    message: &NetlinkMessage<'_>,
    wanted: u16,
    expected: &'static str,
) -> Result<(), DecodeError> {
    if message.header.message_type == wanted {
        Ok(())
    } else {
        Err(DecodeError::UnexpectedMessage {
            message_type: message.header.message_type,
            expected,
        })
    }
}

/// The `struct nfgenmsg` at the start of every nfnetlink payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NfGenMsg {
    pub family: u8,
    pub version: u8,
    /// Network order on the wire; for NFLOG the group number.
    pub resource_id: u16,
}

/// Split an nfnetlink payload into its `nfgenmsg` and the attribute bytes after it.
pub fn split_nfgenmsg(payload: &[u8]) -> Result<(NfGenMsg, &[u8]), DecodeError> {
    let [family, version, id_high, id_low] = array::<4>(payload, 0, "nfgenmsg")?;
    let attributes = payload.get(NFGENMSG_LEN..).unwrap_or_default();
    Ok((
        NfGenMsg {
            family,
            version,
            resource_id: u16::from_be_bytes([id_high, id_low]),
        },
        attributes,
    ))
}

/// Compose an nfnetlink message type from subsystem and message.
pub const fn nfnl_message_type(subsystem: u8, message: u8) -> u16 {
    ((subsystem as u16) << 8) | message as u16
}

/// One attribute: its type without flag bits, the flags, and the value bytes (no padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute<'a> {
    pub kind: u16,
    pub nested: bool,
    pub network_byte_order: bool,
    pub value: &'a [u8],
}

impl<'a> Attribute<'a> {
    fn fixed<const N: usize>(&self, what: &'static str) -> Result<[u8; N], DecodeError> {
        if self.value.len() != N {
            return Err(DecodeError::ValueSize {
                what,
                expected: N,
                got: self.value.len(),
            });
        }
        array(self.value, 0, what)
    }

    /// The value as one byte.
    pub fn u8(&self, what: &'static str) -> Result<u8, DecodeError> {
        let [byte] = self.fixed::<1>(what)?;
        Ok(byte)
    }

    /// The value as a big-endian u16.
    pub fn be16(&self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.fixed(what)?))
    }

    /// The value as a big-endian u32.
    pub fn be32(&self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.fixed(what)?))
    }

    /// The value as a big-endian u64.
    pub fn be64(&self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.fixed(what)?))
    }

    /// The value as an IPv4 address.
    pub fn ipv4(&self, what: &'static str) -> Result<Ipv4Addr, DecodeError> {
        Ok(Ipv4Addr::from(self.fixed::<4>(what)?))
    }

    /// The value as an IPv6 address.
    pub fn ipv6(&self, what: &'static str) -> Result<Ipv6Addr, DecodeError> {
        Ok(Ipv6Addr::from(self.fixed::<16>(what)?))
    }

    /// The attributes nested in this one.
    pub fn nested(&self) -> Attributes<'a> {
        Attributes::new(self.value)
    }
}

/// Lazily walks a run of attributes. After a framing error the walk stops.
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    rest: &'a [u8],
}

impl<'a> Attributes<'a> {
    /// Walk the attributes in `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Result<Attribute<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        let bytes = self.rest;
        if bytes.is_empty() {
            return None;
        }
        let header = match array::<4>(bytes, 0, "nlattr") {
            Ok(header) => header,
            Err(error) => {
                self.rest = &[];
                return Some(Err(error));
            }
        };
        let [l0, l1, t0, t1] = header;
        let length = u16::from_ne_bytes([l0, l1]);
        let raw_kind = u16::from_ne_bytes([t0, t1]);
        let len = usize::from(length);
        if len < NLA_HDRLEN || len > bytes.len() {
            self.rest = &[];
            return Some(Err(DecodeError::AttributeLength {
                length,
                remaining: bytes.len(),
            }));
        }
        // The kernel pads every attribute (`nla_total_size`) and counts the padding in the enclosing
        // length, so a missing pad means the buffer was cut: refuse it.
        let Some(rest) = bytes.get(align4(len)..) else {
            self.rest = &[];
            return Some(Err(DecodeError::Truncated {
                what: "nlattr padding",
                needed: align4(len),
                available: bytes.len(),
            }));
        };
        let value = bytes.get(NLA_HDRLEN..len).unwrap_or_default();
        self.rest = rest;
        Some(Ok(Attribute {
            kind: raw_kind & NLA_TYPE_MASK,
            nested: raw_kind & NLA_F_NESTED != 0,
            network_byte_order: raw_kind & NLA_F_NET_BYTEORDER != 0,
            value,
        }))
    }
}

/// Keep the first value of an attribute, refusing a second one.
pub(crate) fn set_once<T>(
    slot: &mut Option<T>,
    value: T,
    what: &'static str,
) -> Result<(), DecodeError> {
    if slot.is_some() {
        return Err(DecodeError::Duplicate(what));
    }
    *slot = Some(value);
    Ok(())
}

/// Builds one nfnetlink request. Values are small fixed-size fields we choose, so lengths always fit
/// the u16/u32 header fields; nested attributes are closed in the order they were opened.
#[derive(Debug)]
pub(crate) struct RequestBuilder {
    bytes: Vec<u8>,
    open: Vec<usize>,
}

impl RequestBuilder {
    /// Start a request: nlmsghdr (length patched by [`finish`](Self::finish)) then nfgenmsg.
    pub(crate) fn new(message_type: u16, flags: u16, sequence: u32, nfgen: NfGenMsg) -> Self {
        let mut bytes = Vec::with_capacity(128);
        bytes.extend_from_slice(&0u32.to_ne_bytes());
        bytes.extend_from_slice(&message_type.to_ne_bytes());
        bytes.extend_from_slice(&flags.to_ne_bytes());
        bytes.extend_from_slice(&sequence.to_ne_bytes());
        bytes.extend_from_slice(&0u32.to_ne_bytes());
        bytes.push(nfgen.family);
        bytes.push(nfgen.version);
        bytes.extend_from_slice(&nfgen.resource_id.to_be_bytes());
        Self {
            bytes,
            open: Vec::new(),
        }
    }

    fn pad(&mut self) {
        let padded = align4(self.bytes.len());
        self.bytes.resize(padded, 0);
    }

    fn patch_u16(&mut self, at: usize, value: usize) {
        let raw = u16::try_from(value).unwrap_or(u16::MAX).to_ne_bytes();
        if let Some(slot) = self.bytes.get_mut(at..at + 2) {
            slot.copy_from_slice(&raw);
        }
    }

    /// Append one attribute with `value`.
    pub(crate) fn attribute(&mut self, kind: u16, value: &[u8]) -> &mut Self {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(&[0, 0]);
        self.bytes.extend_from_slice(&kind.to_ne_bytes());
        self.bytes.extend_from_slice(value);
        self.patch_u16(start, NLA_HDRLEN + value.len());
        self.pad();
        self
    }

    /// Open a nested attribute (`NLA_F_NESTED` set, as the kernel's strict validation prefers).
    pub(crate) fn begin_nested(&mut self, kind: u16) -> &mut Self {
        self.open.push(self.bytes.len());
        self.bytes.extend_from_slice(&[0, 0]);
        self.bytes
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        self
    }

    /// Close the innermost nested attribute.
    pub(crate) fn end_nested(&mut self) -> &mut Self {
        if let Some(start) = self.open.pop() {
            let length = self.bytes.len() - start;
            self.patch_u16(start, length);
        }
        self
    }

    /// Patch the message length and return the bytes.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        while !self.open.is_empty() {
            self.end_nested();
        }
        let length = u32::try_from(self.bytes.len())
            .unwrap_or(u32::MAX)
            .to_ne_bytes();
        if let Some(slot) = self.bytes.get_mut(0..4) {
            slot.copy_from_slice(&length);
        }
        self.bytes
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Test helper: one attribute with its padding, as the kernel lays it out.
    pub(crate) fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&u16::try_from(4 + value.len()).unwrap().to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(value);
        out.resize(align4(out.len()), 0);
        out
    }

    /// Test helper: a nested attribute holding the concatenated `children`.
    pub(crate) fn nest(kind: u16, children: &[Vec<u8>]) -> Vec<u8> {
        attr(kind | NLA_F_NESTED, &children.concat())
    }

    /// Test helper: a whole netlink message with nfgenmsg.
    pub(crate) fn message(
        message_type: u16,
        flags: u16,
        family: u8,
        res_id: u16,
        attrs: &[Vec<u8>],
    ) -> Vec<u8> {
        let body = attrs.concat();
        let mut out = Vec::new();
        out.extend_from_slice(
            &u32::try_from(NLMSG_HDRLEN + 4 + body.len())
                .unwrap()
                .to_ne_bytes(),
        );
        out.extend_from_slice(&message_type.to_ne_bytes());
        out.extend_from_slice(&flags.to_ne_bytes());
        out.extend_from_slice(&7u32.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes());
        out.extend_from_slice(&[family, NFNETLINK_V0]);
        out.extend_from_slice(&res_id.to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Test helper: a bare control message (`NLMSG_DONE`, `NLMSG_ERROR`...) with a 4-byte payload.
    pub(crate) fn control(message_type: u16, flags: u16, sequence: u32, code: i32) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&20u32.to_ne_bytes());
        out.extend_from_slice(&message_type.to_ne_bytes());
        out.extend_from_slice(&flags.to_ne_bytes());
        out.extend_from_slice(&sequence.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes());
        out.extend_from_slice(&code.to_ne_bytes());
        out
    }

    #[test]
    fn control_messages_are_interpreted() {
        let buffer = [
            control(NLMSG_ERROR, 0, 3, 0),
            control(NLMSG_ERROR, 0, 4, -2),
            control(NLMSG_OVERRUN, 0, 0, 0),
            control(NLMSG_NOOP, 0, 0, 0),
            control(NLMSG_DONE, NLM_F_MULTI | NLM_F_DUMP_INTR, 5, 0),
        ]
        .concat();
        let items: Vec<_> = NetlinkMessages::new(&buffer)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            items,
            vec![
                NetlinkItem::Ack { sequence: 3 },
                NetlinkItem::Error {
                    sequence: 4,
                    errno: 2
                },
                NetlinkItem::Overrun,
                NetlinkItem::Done { interrupted: true },
            ]
        );
    }

    #[test]
    fn bad_message_length_stops_the_walk() {
        let mut buffer = control(NLMSG_DONE, 0, 1, 0);
        buffer[0] = 200;
        buffer.extend(control(NLMSG_DONE, 0, 1, 0));
        let mut walk = NetlinkMessages::new(&buffer);
        assert!(matches!(
            walk.next(),
            Some(Err(DecodeError::MessageLength { length: 200, .. }))
        ));
        assert_eq!(walk.next(), None);
    }

    #[test]
    fn attribute_flags_are_split_from_the_type() {
        let bytes = attr(3 | NLA_F_NESTED | NLA_F_NET_BYTEORDER, &[1, 2]);
        let attribute = Attributes::new(&bytes).next().unwrap().unwrap();
        assert_eq!(attribute.kind, 3);
        assert!(attribute.nested && attribute.network_byte_order);
        assert_eq!(attribute.value, &[1, 2]);
        assert!(matches!(
            attribute.be32("x"),
            Err(DecodeError::ValueSize {
                expected: 4,
                got: 2,
                ..
            })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn arbitrary_bytes_never_panic_the_walkers(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            for item in NetlinkMessages::new(&bytes) {
                if let Ok(NetlinkItem::Message(message)) = item {
                    if let Ok((_, attributes)) = split_nfgenmsg(message.payload) {
                        for attribute in Attributes::new(attributes).flatten() {
                            let _ = attribute.nested().count();
                        }
                    }
                }
            }
            let _ = Attributes::new(&bytes).count();
        }
    }
}
