//! DHCPv4 as a server sees it (RFC 2131, 2132): requests from clients or relays in ([`parse_request`]),
//! replies out ([`ServerReply::encode`]). The client side (parsing replies, building requests) lives in
//! `routerd-dhcpv4-client`, whose strict walk only keeps the options a client interprets; a server needs
//! the other half (requested address, parameter list, relay agent information), so it is here.
//!
//! The walk is strict and bounds-checked: options are concatenated per RFC 3396, option overload (52)
//! adds `file` then `sname`, and any truncated or ill-sized option that the server interprets is an
//! error. Nothing here panics on any input (property-tested).

use std::net::Ipv4Addr;

/// Start of the options field: the fixed BOOTP header (236 bytes) plus the magic cookie.
pub const OPTIONS_OFFSET: usize = 240;
/// Length of the fixed BOOTP header.
pub const FIXED_HEADER_LEN: usize = 236;
/// RFC 2131 §3: 99.130.83.99.
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
/// Replies are padded to this many bytes (RFC 951's minimum BOOTP message; some relays drop shorter).
pub const MIN_MESSAGE_LEN: usize = 300;
/// The server's UDP port.
pub const SERVER_PORT: u16 = 67;
/// The client's UDP port.
pub const CLIENT_PORT: u16 = 68;

const BOOTREQUEST: u8 = 1;
const BOOTREPLY: u8 = 2;
const SNAME: std::ops::Range<usize> = 44..108;
const FILE: std::ops::Range<usize> = 108..236;
/// The broadcast bit of `flags` (RFC 2131 §2).
pub const BROADCAST_FLAG: u16 = 0x8000;

/// Option codes the server reads or writes.
pub mod code {
    pub const PAD: u8 = 0;
    pub const SUBNET_MASK: u8 = 1;
    pub const ROUTER: u8 = 3;
    pub const DNS_SERVERS: u8 = 6;
    pub const HOSTNAME: u8 = 12;
    pub const DOMAIN_NAME: u8 = 15;
    pub const BROADCAST_ADDRESS: u8 = 28;
    pub const NTP_SERVERS: u8 = 42;
    pub const REQUESTED_ADDRESS: u8 = 50;
    pub const LEASE_TIME: u8 = 51;
    pub const OVERLOAD: u8 = 52;
    pub const MESSAGE_TYPE: u8 = 53;
    pub const SERVER_ID: u8 = 54;
    pub const PARAMETER_LIST: u8 = 55;
    pub const MESSAGE: u8 = 56;
    pub const MAX_MESSAGE_SIZE: u8 = 57;
    pub const RENEWAL_TIME: u8 = 58;
    pub const REBINDING_TIME: u8 = 59;
    pub const CLIENT_ID: u8 = 61;
    pub const RELAY_AGENT_INFO: u8 = 82;
    pub const END: u8 = 255;
}

/// DHCP message types (option 53).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Discover = 1,
    Offer = 2,
    Request = 3,
    Decline = 4,
    Ack = 5,
    Nak = 6,
    Release = 7,
    Inform = 8,
}

impl MessageType {
    pub fn from_u8(v: u8) -> Option<MessageType> {
        Some(match v {
            1 => MessageType::Discover,
            2 => MessageType::Offer,
            3 => MessageType::Request,
            4 => MessageType::Decline,
            5 => MessageType::Ack,
            6 => MessageType::Nak,
            7 => MessageType::Release,
            8 => MessageType::Inform,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Discover => "DHCPDISCOVER",
            MessageType::Offer => "DHCPOFFER",
            MessageType::Request => "DHCPREQUEST",
            MessageType::Decline => "DHCPDECLINE",
            MessageType::Ack => "DHCPACK",
            MessageType::Nak => "DHCPNAK",
            MessageType::Release => "DHCPRELEASE",
            MessageType::Inform => "DHCPINFORM",
        }
    }
}

/// Why bytes are not a DHCP request a server can answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("{len} bytes is too short for a DHCP message (at least {} needed)", OPTIONS_OFFSET + 1)]
    TooShort { len: usize },
    #[error("op {0} is not BOOTREQUEST (1)")]
    NotBootRequest(u8),
    #[error("hardware type {htype} with address length {hlen} is not Ethernet (1, 6)")]
    NotEthernet { htype: u8, hlen: u8 },
    #[error("magic cookie {0:?} is not [99, 130, 83, 99]")]
    MagicCookie([u8; 4]),
    #[error(transparent)]
    Options(#[from] OptionAreaError),
    #[error("option {code}: {reason}")]
    Invalid { code: u8, reason: String },
    #[error("no DHCP message type (option 53): BOOTP is not served")]
    MissingMessageType,
    #[error("message type {0} is not one a client sends")]
    NotARequest(u8),
}

/// A well-formed request from a client (or relayed by an agent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRequest {
    pub kind: MessageType,
    pub xid: u32,
    pub secs: u16,
    pub flags: u16,
    pub hops: u8,
    pub ciaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    pub chaddr: [u8; 6],
    /// Option 61 (RFC 4361: the client's identity when present).
    pub client_id: Option<Vec<u8>>,
    /// Option 50.
    pub requested_address: Option<Ipv4Addr>,
    /// Option 54.
    pub server_id: Option<Ipv4Addr>,
    /// Option 12, validated as a DNS label (letters, digits, `-`), lower-cased; dropped otherwise.
    pub hostname: Option<String>,
    /// Option 55.
    pub parameter_list: Vec<u8>,
    /// Option 57.
    pub max_message_size: Option<u16>,
    /// Option 82 as received: echoed verbatim in the reply (RFC 3046 §2.2).
    pub relay_agent_info: Option<Vec<u8>>,
}

impl ClientRequest {
    pub fn broadcast_flag(&self) -> bool {
        self.flags & BROADCAST_FLAG != 0
    }
}

/// Concatenated option values (RFC 3396) in the order first seen.
/// Why the option areas of a message cannot be walked (RFC 2131 §4.1, RFC 3396).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionAreaError {
    /// An option's length byte (or the length byte itself) runs past the end of its area.
    #[error("option {code} at offset {offset} of the {area} runs past the end of the area")]
    Truncated {
        area: &'static str,
        code: u8,
        offset: usize,
    },
    /// The options field has no End option: the message was cut short.
    #[error("the options field has no End option (255)")]
    MissingEnd,
    /// Option 52 is not one byte of 1 (file), 2 (sname) or 3 (both).
    #[error("option 52 (option overload) must be one byte, 1 (file), 2 (sname) or 3 (both)")]
    BadOverload,
}

/// Every option of one message: each code once, its instances concatenated (RFC 3396), in order of
/// first appearance. The client and the server both read messages through this one walker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageOptions {
    values: Vec<(u8, Vec<u8>)>,
}

impl MessageOptions {
    /// Appends `value` to `code` (a second instance of a code continues the first, RFC 3396).
    pub fn push(&mut self, code: u8, value: &[u8]) {
        match self.values.iter_mut().find(|(c, _)| *c == code) {
            Some((_, v)) => v.extend_from_slice(value),
            None => self.values.push((code, value.to_vec())),
        }
    }

    /// The (concatenated) value of `code`, if the message carried it.
    pub fn get(&self, code: u8) -> Option<&[u8]> {
        self.values
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, v)| v.as_slice())
    }

    /// Every option, in order of first appearance.
    pub fn iter(&self) -> impl Iterator<Item = (u8, &[u8])> + '_ {
        self.values.iter().map(|(c, v)| (*c, v.as_slice()))
    }
}

/// Walks the option areas of a whole DHCP message (fixed header, cookie, options; the caller checked
/// the header and the cookie): the options field, then, as option 52 says, `file` and `sname` (RFC 3396
/// §5 gives that order of concatenation). Every length is bounds-checked; nothing is interpreted.
pub fn collect_options(packet: &[u8]) -> Result<MessageOptions, OptionAreaError> {
    let mut options = MessageOptions::default();
    walk(
        "options field",
        packet.get(OPTIONS_OFFSET..).unwrap_or(&[]),
        true,
        &mut options,
    )?;
    if let Some(overload) = options.get(code::OVERLOAD) {
        let value = match overload {
            [v @ 1..=3] => *v,
            _ => return Err(OptionAreaError::BadOverload),
        };
        if value & 1 != 0 {
            walk(
                "file field",
                packet.get(FILE).unwrap_or(&[]),
                false,
                &mut options,
            )?;
        }
        if value & 2 != 0 {
            walk(
                "sname field",
                packet.get(SNAME).unwrap_or(&[]),
                false,
                &mut options,
            )?;
        }
    }
    Ok(options)
}

fn walk(
    area: &'static str,
    bytes: &[u8],
    require_end: bool,
    out: &mut MessageOptions,
) -> Result<(), OptionAreaError> {
    let mut i = 0;
    loop {
        let Some(&c) = bytes.get(i) else {
            return if require_end {
                Err(OptionAreaError::MissingEnd)
            } else {
                Ok(())
            };
        };
        match c {
            code::PAD => i += 1,
            code::END => return Ok(()),
            _ => {
                let truncated = || OptionAreaError::Truncated {
                    area,
                    code: c,
                    offset: i,
                };
                let len = *bytes.get(i + 1).ok_or_else(truncated)? as usize;
                let value = bytes.get(i + 2..i + 2 + len).ok_or_else(truncated)?;
                // Option overload inside an overloaded field means nothing (RFC 3396 §5): ignored.
                if !(c == code::OVERLOAD && area != "options field") {
                    out.push(c, value);
                }
                i += 2 + len;
            }
        }
    }
}

fn invalid(code: u8, reason: impl Into<String>) -> RequestError {
    RequestError::Invalid {
        code,
        reason: reason.into(),
    }
}

fn ipv4(code: u8, v: &[u8]) -> Result<Ipv4Addr, RequestError> {
    let b: [u8; 4] = v
        .try_into()
        .map_err(|_| invalid(code, format!("length {} (must be 4)", v.len())))?;
    Ok(Ipv4Addr::from(b))
}

/// A client's host name as a DNS label: letters, digits and `-`, 1..=63 bytes, lower-cased. Trailing
/// NULs are dropped; a fully qualified name keeps its first label. Anything else is not registered.
pub fn hostname_label(raw: &[u8]) -> Option<String> {
    let end = raw.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
    let name = raw.get(..end)?;
    let label = name.split(|&b| b == b'.').next()?;
    if label.is_empty()
        || label.len() > 63
        || label.first() == Some(&b'-')
        || label.last() == Some(&b'-')
        || !label
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
    {
        return None;
    }
    Some(String::from_utf8_lossy(label).to_ascii_lowercase())
}

/// Parses a DHCP message received on the server port.
pub fn parse_request(packet: &[u8]) -> Result<ClientRequest, RequestError> {
    if packet.len() <= OPTIONS_OFFSET {
        return Err(RequestError::TooShort { len: packet.len() });
    }
    if packet[0] != BOOTREQUEST {
        return Err(RequestError::NotBootRequest(packet[0]));
    }
    let (htype, hlen) = (packet[1], packet[2]);
    if htype != 1 || hlen != 6 {
        return Err(RequestError::NotEthernet { htype, hlen });
    }
    let mut cookie = [0u8; 4];
    cookie.copy_from_slice(&packet[FIXED_HEADER_LEN..OPTIONS_OFFSET]);
    if cookie != MAGIC_COOKIE {
        return Err(RequestError::MagicCookie(cookie));
    }
    let opts = collect_options(packet)?;
    let kind = match opts.get(code::MESSAGE_TYPE) {
        Some([t]) => match MessageType::from_u8(*t) {
            Some(
                k @ (MessageType::Discover
                | MessageType::Request
                | MessageType::Decline
                | MessageType::Release
                | MessageType::Inform),
            ) => k,
            _ => return Err(RequestError::NotARequest(*t)),
        },
        Some(other) => {
            return Err(invalid(
                code::MESSAGE_TYPE,
                format!("length {} (must be 1)", other.len()),
            ))
        }
        None => return Err(RequestError::MissingMessageType),
    };
    let u32_at = |at: usize| {
        u32::from_be_bytes([packet[at], packet[at + 1], packet[at + 2], packet[at + 3]])
    };
    let addr_at = |at: usize| Ipv4Addr::from(u32_at(at));
    let mut chaddr = [0u8; 6];
    chaddr.copy_from_slice(&packet[28..34]);
    let client_id = match opts.get(code::CLIENT_ID) {
        Some(v) if v.len() < 2 => {
            return Err(invalid(
                code::CLIENT_ID,
                format!("length {} (must be at least 2)", v.len()),
            ))
        }
        Some(v) => Some(v.to_vec()),
        None => None,
    };
    let requested_address = opts
        .get(code::REQUESTED_ADDRESS)
        .map(|v| ipv4(code::REQUESTED_ADDRESS, v))
        .transpose()?;
    let server_id = opts
        .get(code::SERVER_ID)
        .map(|v| ipv4(code::SERVER_ID, v))
        .transpose()?;
    let max_message_size = match opts.get(code::MAX_MESSAGE_SIZE) {
        Some([a, b]) => Some(u16::from_be_bytes([*a, *b])),
        Some(v) => {
            return Err(invalid(
                code::MAX_MESSAGE_SIZE,
                format!("length {} (must be 2)", v.len()),
            ))
        }
        None => None,
    };
    Ok(ClientRequest {
        kind,
        xid: u32_at(4),
        secs: u16::from_be_bytes([packet[8], packet[9]]),
        flags: u16::from_be_bytes([packet[10], packet[11]]),
        hops: packet[3],
        ciaddr: addr_at(12),
        giaddr: addr_at(24),
        chaddr,
        client_id,
        requested_address,
        server_id,
        hostname: opts.get(code::HOSTNAME).and_then(hostname_label),
        parameter_list: opts.get(code::PARAMETER_LIST).unwrap_or(&[]).to_vec(),
        max_message_size,
        relay_agent_info: opts.get(code::RELAY_AGENT_INFO).map(<[u8]>::to_vec),
    })
}

/// A reply to build: header fields plus the options in order (option 82 last, as RFC 3046 §2.1 asks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerReply {
    pub kind: MessageType,
    pub xid: u32,
    pub flags: u16,
    pub ciaddr: Ipv4Addr,
    pub yiaddr: Ipv4Addr,
    pub siaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    pub chaddr: [u8; 6],
    /// Options other than 53 and 82, in order; values longer than 255 bytes are split (RFC 3396).
    pub options: Vec<(u8, Vec<u8>)>,
    pub relay_agent_info: Option<Vec<u8>>,
}

impl ServerReply {
    /// The bytes on the wire, padded to [`MIN_MESSAGE_LEN`].
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(MIN_MESSAGE_LEN + 64);
        b.extend_from_slice(&[BOOTREPLY, 1, 6, 0]);
        b.extend_from_slice(&self.xid.to_be_bytes());
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&self.flags.to_be_bytes());
        for a in [self.ciaddr, self.yiaddr, self.siaddr, self.giaddr] {
            b.extend_from_slice(&a.octets());
        }
        b.extend_from_slice(&self.chaddr);
        b.resize(FIXED_HEADER_LEN, 0);
        b.extend_from_slice(&MAGIC_COOKIE);
        push_option(&mut b, code::MESSAGE_TYPE, &[self.kind as u8]);
        for (c, v) in &self.options {
            push_option(&mut b, *c, v);
        }
        if let Some(info) = &self.relay_agent_info {
            push_option(&mut b, code::RELAY_AGENT_INFO, info);
        }
        b.push(code::END);
        if b.len() < MIN_MESSAGE_LEN {
            b.resize(MIN_MESSAGE_LEN, 0);
        }
        b
    }
}

fn push_option(b: &mut Vec<u8>, c: u8, v: &[u8]) {
    if v.is_empty() {
        b.extend_from_slice(&[c, 0]);
        return;
    }
    for chunk in v.chunks(255) {
        b.push(c);
        b.push(chunk.len() as u8);
        b.extend_from_slice(chunk);
    }
}

/// A request as a client sends it: for tests, benchmarks and the test client that crafts DECLINEs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestBuilder {
    pub kind: MessageType,
    pub xid: u32,
    pub flags: u16,
    pub ciaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    pub chaddr: [u8; 6],
    pub options: Vec<(u8, Vec<u8>)>,
}

impl RequestBuilder {
    pub fn new(kind: MessageType, xid: u32, chaddr: [u8; 6]) -> RequestBuilder {
        RequestBuilder {
            kind,
            xid,
            flags: 0,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr,
            options: Vec::new(),
        }
    }
    pub fn option(mut self, code: u8, value: &[u8]) -> RequestBuilder {
        self.options.push((code, value.to_vec()));
        self
    }
    pub fn encode(&self) -> Vec<u8> {
        let mut b = ServerReply {
            kind: self.kind,
            xid: self.xid,
            flags: self.flags,
            ciaddr: self.ciaddr,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: self.giaddr,
            chaddr: self.chaddr,
            options: self.options.clone(),
            relay_agent_info: None,
        }
        .encode();
        b[0] = BOOTREQUEST;
        b
    }
}

/// A reply as a client reads it back: message type, yiaddr and the raw options (tests, the test client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedReply {
    pub kind: MessageType,
    pub xid: u32,
    pub flags: u16,
    pub yiaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    pub chaddr: [u8; 6],
    pub options: Vec<(u8, Vec<u8>)>,
}

impl ParsedReply {
    pub fn option(&self, code: u8) -> Option<&[u8]> {
        self.options
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, v)| v.as_slice())
    }
}

/// Parses a server's reply (structure only).
pub fn parse_reply(packet: &[u8]) -> Result<ParsedReply, RequestError> {
    if packet.len() <= OPTIONS_OFFSET {
        return Err(RequestError::TooShort { len: packet.len() });
    }
    if packet[0] != BOOTREPLY {
        return Err(RequestError::NotBootRequest(packet[0]));
    }
    let opts = collect_options(packet)?;
    let kind = match opts.get(code::MESSAGE_TYPE) {
        Some([t]) => MessageType::from_u8(*t).ok_or(RequestError::NotARequest(*t))?,
        _ => return Err(RequestError::MissingMessageType),
    };
    let mut chaddr = [0u8; 6];
    chaddr.copy_from_slice(&packet[28..34]);
    let addr =
        |at: usize| Ipv4Addr::new(packet[at], packet[at + 1], packet[at + 2], packet[at + 3]);
    Ok(ParsedReply {
        kind,
        xid: u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]),
        flags: u16::from_be_bytes([packet[10], packet[11]]),
        yiaddr: addr(16),
        giaddr: addr(24),
        chaddr,
        options: opts.values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

    #[test]
    fn request_round_trip() {
        let p = RequestBuilder::new(MessageType::Request, 7, MAC)
            .option(code::REQUESTED_ADDRESS, &[192, 0, 2, 10])
            .option(code::SERVER_ID, &[192, 0, 2, 1])
            .option(code::CLIENT_ID, &[1, 2, 0, 0, 0, 0, 1])
            .option(code::HOSTNAME, b"Printer.lan\0")
            .option(code::RELAY_AGENT_INFO, &[1, 2, 9, 9])
            .encode();
        let r = parse_request(&p).unwrap();
        assert_eq!(r.kind, MessageType::Request);
        assert_eq!(r.xid, 7);
        assert_eq!(r.requested_address, Some(Ipv4Addr::new(192, 0, 2, 10)));
        assert_eq!(r.server_id, Some(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(r.hostname.as_deref(), Some("printer"));
        assert_eq!(r.relay_agent_info, Some(vec![1, 2, 9, 9]));
        assert_eq!(r.chaddr, MAC);
    }

    #[test]
    fn reply_round_trip_with_long_option_split() {
        let reply = ServerReply {
            kind: MessageType::Offer,
            xid: 9,
            flags: BROADCAST_FLAG,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::new(192, 0, 2, 10),
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr: MAC,
            options: vec![(code::DNS_SERVERS, vec![1; 300])],
            relay_agent_info: Some(vec![1, 1, 1]),
        };
        let p = parse_reply(&reply.encode()).unwrap();
        assert_eq!(p.kind, MessageType::Offer);
        assert_eq!(p.yiaddr, Ipv4Addr::new(192, 0, 2, 10));
        assert_eq!(p.option(code::DNS_SERVERS).map(<[u8]>::len), Some(300));
        assert_eq!(p.option(code::RELAY_AGENT_INFO), Some(&[1u8, 1, 1][..]));
        // The last option before End is 82.
        let bytes = reply.encode();
        let end = bytes.iter().rposition(|&b| b == code::END).unwrap();
        assert_eq!(&bytes[end - 5..end], &[82, 3, 1, 1, 1]);
    }

    #[test]
    fn rejects_what_is_not_a_request() {
        let ok = RequestBuilder::new(MessageType::Discover, 1, MAC).encode();
        assert!(parse_request(&ok).is_ok());
        assert!(matches!(
            parse_request(&ok[..100]),
            Err(RequestError::TooShort { .. })
        ));
        let mut bad = ok.clone();
        bad[0] = 2;
        assert!(parse_request(&bad).is_err());
        let mut bad = ok.clone();
        bad[237] = 0;
        assert!(matches!(
            parse_request(&bad),
            Err(RequestError::MagicCookie(_))
        ));
        let offer = RequestBuilder::new(MessageType::Offer, 1, MAC).encode();
        assert_eq!(parse_request(&offer), Err(RequestError::NotARequest(2)));
        let p = RequestBuilder::new(MessageType::Request, 1, MAC)
            .option(code::REQUESTED_ADDRESS, &[1, 2, 3])
            .encode();
        assert!(matches!(
            parse_request(&p),
            Err(RequestError::Invalid { code: 50, .. })
        ));
    }

    #[test]
    fn host_names_become_labels_or_nothing() {
        assert_eq!(hostname_label(b"printer").as_deref(), Some("printer"));
        assert_eq!(hostname_label(b"NAS-1.home\0").as_deref(), Some("nas-1"));
        assert_eq!(hostname_label(b"bad name"), None);
        assert_eq!(hostname_label(b"-x"), None);
        assert_eq!(hostname_label(b""), None);
        assert_eq!(hostname_label(&[0xff]), None);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
            let _ = parse_request(&bytes);
            let _ = parse_reply(&bytes);
        }

        #[test]
        fn arbitrary_options_after_a_valid_header_never_panic(
            opts in proptest::collection::vec(any::<u8>(), 0..400),
            overload in 0u8..5,
        ) {
            let mut p = RequestBuilder::new(MessageType::Discover, 1, MAC).encode();
            p.truncate(OPTIONS_OFFSET);
            p.extend_from_slice(&[53, 1, 1, 52, 1, overload]);
            p.extend_from_slice(&opts);
            let _ = parse_request(&p);
        }
    }
}
