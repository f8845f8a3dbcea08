//! DHCP messages on the wire: parsing what servers send ([`parse_reply`]) and building what the client
//! sends ([`Outgoing`], [`encode`]). dhcproto encodes and decodes; `options.rs` guards the decode.
//!
//! A reply is accepted only when it is a BOOTREPLY for Ethernet (htype 1, hlen 6) with the magic
//! cookie, its options pass the strict walk, and it is an OFFER, ACK or NAK. Everything else is a
//! [`ParseError`] naming what was wrong, never a panic.

use crate::options::{self, code, ClasslessRoute, RawOptions, MAGIC_COOKIE, OPTIONS_OFFSET};
use dhcproto::v4::{self, DhcpOption, MessageType, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable, Encoder};
use std::net::Ipv4Addr;

/// Every message is padded to at least this many bytes: the minimum BOOTP message (RFC 951; RFC 2131
/// §2 relays may drop shorter ones).
pub const MIN_MESSAGE_LEN: usize = 300;
/// The largest message we accept (option 57), an Ethernet MTU's worth of UDP payload.
pub const MAX_MESSAGE_SIZE: u16 = 1500;
/// BOOTP op codes.
const BOOTREPLY: u8 = 2;
/// ARP hardware type of Ethernet, and its address length.
const HTYPE_ETHERNET: u8 = 1;
const HLEN_ETHERNET: u8 = 6;

/// The three messages a server sends a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    Offer,
    Ack,
    Nak,
}

impl ReplyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplyKind::Offer => "DHCPOFFER",
            ReplyKind::Ack => "DHCPACK",
            ReplyKind::Nak => "DHCPNAK",
        }
    }
}

/// A well-formed OFFER, ACK or NAK. Whether it answers *our* request (xid, chaddr, client id, server)
/// is the state machine's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub kind: ReplyKind,
    pub xid: u32,
    pub chaddr: [u8; 6],
    pub yiaddr: Ipv4Addr,
    pub siaddr: Ipv4Addr,
    pub broadcast_flag: bool,
    /// Option 54.
    pub server_id: Option<Ipv4Addr>,
    /// Option 61, echoed by servers that follow RFC 6842.
    pub client_id: Option<Vec<u8>>,
    /// Option 51, seconds (`u32::MAX`: infinite).
    pub lease_time: Option<u32>,
    /// Option 58 (T1), seconds.
    pub renewal_time: Option<u32>,
    /// Option 59 (T2), seconds.
    pub rebinding_time: Option<u32>,
    /// Option 1 as a prefix length.
    pub prefix_length: Option<u8>,
    /// Option 3.
    pub routers: Vec<Ipv4Addr>,
    /// Option 6.
    pub dns_servers: Vec<Ipv4Addr>,
    /// Option 42.
    pub ntp_servers: Vec<Ipv4Addr>,
    /// Option 15.
    pub domain: Option<String>,
    /// Option 12.
    pub hostname: Option<String>,
    /// Option 26.
    pub mtu: Option<u16>,
    /// Option 28.
    pub broadcast_address: Option<Ipv4Addr>,
    /// Option 121; `Some` even when empty of usable routes, since its presence overrides option 3.
    pub classless_routes: Option<Vec<ClasslessRoute>>,
    /// Option 56: the server's explanation (of a NAK, usually).
    pub message: Option<String>,
}

/// Why bytes are not a DHCP reply a client can use. Each variant says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Shorter than the fixed header, the magic cookie and one option byte.
    #[error("{len} bytes is too short for a DHCP message (at least {} needed)", OPTIONS_OFFSET + 1)]
    TooShort { len: usize },
    /// `op` is not BOOTREPLY (2): a request from another client, or garbage.
    #[error("op {op} is not BOOTREPLY (2)")]
    NotBootReply { op: u8 },
    /// Not Ethernet (`htype` 1, `hlen` 6), the only hardware this client speaks for.
    #[error("hardware type {htype} with address length {hlen} is not Ethernet (1, 6)")]
    NotEthernet { htype: u8, hlen: u8 },
    /// The four bytes after the header are not 99.130.83.99: a BOOTP reply or garbage.
    #[error("magic cookie {found:?} is not [99, 130, 83, 99]")]
    MagicCookie { found: [u8; 4] },
    /// The options are malformed (see [`options::OptionError`]).
    #[error("malformed options: {0}")]
    Options(#[from] options::OptionError),
    /// No message type option (53): BOOTP, not DHCP.
    #[error("no DHCP message type (option 53)")]
    MissingMessageType,
    /// A message type a server does not send to a client (DISCOVER, REQUEST, ...).
    #[error("message type {0} is not an OFFER, ACK or NAK")]
    NotAReply(u8),
    /// The codec disagreed with the strict walk (a bug in one of them; the message is dropped).
    #[error("codec: {0}")]
    Codec(String),
}

/// Parses a DHCP message as received in a UDP payload.
pub fn parse_reply(packet: &[u8]) -> Result<Reply, ParseError> {
    if packet.len() <= OPTIONS_OFFSET {
        return Err(ParseError::TooShort { len: packet.len() });
    }
    let op = packet[0];
    if op != BOOTREPLY {
        return Err(ParseError::NotBootReply { op });
    }
    let (htype, hlen) = (packet[1], packet[2]);
    if htype != HTYPE_ETHERNET || hlen != HLEN_ETHERNET {
        return Err(ParseError::NotEthernet { htype, hlen });
    }
    let mut found = [0u8; 4];
    found.copy_from_slice(&packet[options::FIXED_HEADER_LEN..OPTIONS_OFFSET]);
    if found != MAGIC_COOKIE {
        return Err(ParseError::MagicCookie { found });
    }
    let raw = options::collect(packet)?;
    let message_type = match raw.get(code::MESSAGE_TYPE) {
        Some([t]) => *t,
        _ => return Err(ParseError::MissingMessageType),
    };
    let kind = match message_type {
        2 => ReplyKind::Offer,
        5 => ReplyKind::Ack,
        6 => ReplyKind::Nak,
        other => return Err(ParseError::NotAReply(other)),
    };
    let normalized = normalize(packet, &raw);
    let msg = v4::Message::decode(&mut Decoder::new(&normalized))
        .map_err(|e| ParseError::Codec(e.to_string()))?;
    reply_from(kind, &msg, &raw)
}

/// The checked message as dhcproto will see it: the fixed header with `sname` and `file` blanked (they
/// may hold overloaded options; the client uses neither), the cookie, the interpreted options, End.
fn normalize(packet: &[u8], raw: &RawOptions) -> Vec<u8> {
    let mut buf = Vec::with_capacity(MIN_MESSAGE_LEN);
    buf.extend_from_slice(&packet[..44]);
    buf.resize(options::FIXED_HEADER_LEN, 0);
    buf.extend_from_slice(&MAGIC_COOKIE);
    raw.encode_into(&mut buf);
    buf
}

fn reply_from(kind: ReplyKind, msg: &v4::Message, raw: &RawOptions) -> Result<Reply, ParseError> {
    let opts = msg.opts();
    // Every option the walk kept must have come through the codec; a silent drop would mean reading a
    // message other than the one that was checked.
    for c in raw.codes() {
        if opts.get(OptionCode::from(c)).is_none() {
            return Err(ParseError::Codec(format!(
                "option {c} passed the checks but was not decoded"
            )));
        }
    }
    let chaddr: [u8; 6] = msg
        .chaddr()
        .try_into()
        .map_err(|_| ParseError::Codec("chaddr is not 6 bytes".into()))?;
    let get = |c: u8| opts.get(OptionCode::from(c));
    let ip = |c: u8| match get(c) {
        Some(DhcpOption::ServerIdentifier(a)) | Some(DhcpOption::BroadcastAddr(a)) => Some(*a),
        _ => None,
    };
    let ips = |c: u8| match get(c) {
        Some(DhcpOption::Router(v))
        | Some(DhcpOption::DomainNameServer(v))
        | Some(DhcpOption::NtpServers(v)) => v.clone(),
        _ => Vec::new(),
    };
    let seconds = |c: u8| match get(c) {
        Some(DhcpOption::AddressLeaseTime(s))
        | Some(DhcpOption::Renewal(s))
        | Some(DhcpOption::Rebinding(s)) => Some(*s),
        _ => None,
    };
    let prefix_length = match get(code::SUBNET_MASK) {
        Some(DhcpOption::SubnetMask(m)) => options::prefix_from_mask(&m.octets()),
        _ => None,
    };
    let text = |c: u8| match get(c) {
        Some(DhcpOption::DomainName(s))
        | Some(DhcpOption::Hostname(s))
        | Some(DhcpOption::Message(s)) => Some(s.clone()),
        _ => None,
    };
    let classless_routes = match get(code::CLASSLESS_ROUTES) {
        Some(DhcpOption::ClasslessStaticRoute(routes)) => Some(
            routes
                .iter()
                .map(|(net, gateway)| ClasslessRoute {
                    destination: net.addr(),
                    prefix_length: net.prefix_len(),
                    gateway: *gateway,
                })
                .collect(),
        ),
        _ => None,
    };
    let mtu = match get(code::INTERFACE_MTU) {
        Some(DhcpOption::InterfaceMtu(m)) => Some(*m),
        _ => None,
    };
    let client_id = match get(code::CLIENT_ID) {
        Some(DhcpOption::ClientIdentifier(id)) => Some(id.clone()),
        _ => None,
    };
    Ok(Reply {
        kind,
        xid: msg.xid(),
        chaddr,
        yiaddr: msg.yiaddr(),
        siaddr: msg.siaddr(),
        broadcast_flag: msg.flags().broadcast(),
        server_id: ip(code::SERVER_ID),
        client_id,
        lease_time: seconds(code::LEASE_TIME),
        renewal_time: seconds(code::RENEWAL_TIME),
        rebinding_time: seconds(code::REBINDING_TIME),
        prefix_length,
        routers: ips(code::ROUTER),
        dns_servers: ips(code::DNS_SERVERS),
        ntp_servers: ips(code::NTP_SERVERS),
        domain: text(code::DOMAIN_NAME),
        hostname: text(code::HOSTNAME),
        mtu,
        broadcast_address: ip(code::BROADCAST_ADDRESS),
        classless_routes,
        message: text(code::MESSAGE),
    })
}

/// Who the client is on the wire: hardware address, client identifier (RFC 4361 / RFC 2132 §9.14),
/// and what it says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    pub mac: [u8; 6],
    /// Option 61 (default `01` + MAC).
    pub client_id: Vec<u8>,
    /// Option 12.
    pub hostname: Option<String>,
    /// Option 60.
    pub vendor_class_id: Option<Vec<u8>>,
}

impl ClientIdentity {
    /// The default identity of an Ethernet interface: client id `01` + MAC.
    pub fn for_mac(mac: [u8; 6]) -> ClientIdentity {
        let mut client_id = vec![HTYPE_ETHERNET];
        client_id.extend_from_slice(&mac);
        ClientIdentity {
            mac,
            client_id,
            hostname: None,
            vendor_class_id: None,
        }
    }
}

/// The message types a client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientMessage {
    Discover,
    Request,
    Decline,
    Release,
}

impl ClientMessage {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientMessage::Discover => "DHCPDISCOVER",
            ClientMessage::Request => "DHCPREQUEST",
            ClientMessage::Decline => "DHCPDECLINE",
            ClientMessage::Release => "DHCPRELEASE",
        }
    }
}

/// One message to build: the fields RFC 2131 table 5 varies by message and state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub kind: ClientMessage,
    pub xid: u32,
    /// Seconds since the client began this exchange.
    pub secs: u16,
    /// Our address in RENEWING, REBINDING and RELEASE; `0.0.0.0` otherwise.
    pub ciaddr: Ipv4Addr,
    /// Option 50: the offered address (SELECTING), the remembered one (INIT-REBOOT), a hint (DISCOVER),
    /// the declined one (DECLINE).
    pub requested_address: Option<Ipv4Addr>,
    /// Option 54: the chosen server (REQUEST in SELECTING, DECLINE, RELEASE).
    pub server_id: Option<Ipv4Addr>,
    /// Ask the server to broadcast its reply. Only needed when the client cannot receive a unicast to
    /// an address it does not have yet; the AF_PACKET socket can, so it is normally off.
    pub broadcast_flag: bool,
}

impl Outgoing {
    /// The dhcproto message for `identity`.
    pub fn to_message(&self, identity: &ClientIdentity) -> v4::Message {
        let mut msg = v4::Message::new_with_id(
            self.xid,
            self.ciaddr,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            &identity.mac,
        );
        msg.set_opcode(v4::Opcode::BootRequest)
            .set_htype(v4::HType::Eth)
            .set_secs(self.secs);
        if self.broadcast_flag {
            msg.set_flags(v4::Flags::default().set_broadcast());
        }
        let opts = msg.opts_mut();
        let message_type = match self.kind {
            ClientMessage::Discover => MessageType::Discover,
            ClientMessage::Request => MessageType::Request,
            ClientMessage::Decline => MessageType::Decline,
            ClientMessage::Release => MessageType::Release,
        };
        opts.insert(DhcpOption::MessageType(message_type));
        opts.insert(DhcpOption::ClientIdentifier(identity.client_id.clone()));
        if let Some(a) = self.requested_address {
            opts.insert(DhcpOption::RequestedIpAddress(a));
        }
        if let Some(s) = self.server_id {
            opts.insert(DhcpOption::ServerIdentifier(s));
        }
        if matches!(self.kind, ClientMessage::Discover | ClientMessage::Request) {
            opts.insert(DhcpOption::MaxMessageSize(MAX_MESSAGE_SIZE));
            opts.insert(DhcpOption::ParameterRequestList(
                options::REQUESTED_OPTIONS
                    .iter()
                    .map(|c| OptionCode::from(*c))
                    .collect(),
            ));
            if let Some(h) = &identity.hostname {
                opts.insert(DhcpOption::Hostname(h.clone()));
            }
            if let Some(v) = &identity.vendor_class_id {
                opts.insert(DhcpOption::ClassIdentifier(v.clone()));
            }
        }
        msg
    }

    /// The bytes to send, padded to [`MIN_MESSAGE_LEN`].
    pub fn encode(&self, identity: &ClientIdentity) -> Result<Vec<u8>, String> {
        encode(&self.to_message(identity))
    }
}

/// Encodes a message and pads it with zeros to [`MIN_MESSAGE_LEN`] bytes.
pub fn encode(msg: &v4::Message) -> Result<Vec<u8>, String> {
    let mut buf = Vec::with_capacity(MIN_MESSAGE_LEN);
    msg.encode(&mut Encoder::new(&mut buf))
        .map_err(|e| format!("cannot encode the DHCP message: {e}"))?;
    if buf.len() < MIN_MESSAGE_LEN {
        buf.resize(MIN_MESSAGE_LEN, 0);
    }
    Ok(buf)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub const MAC: [u8; 6] = [0x02, 0, 0x5e, 0x10, 0, 0x01];

    /// A server's reply built with dhcproto, as the tests' servers send them.
    pub fn server_reply(kind: MessageType, xid: u32, yiaddr: Ipv4Addr) -> v4::Message {
        let mut m = v4::Message::new_with_id(
            xid,
            Ipv4Addr::UNSPECIFIED,
            yiaddr,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            &MAC,
        );
        m.set_opcode(v4::Opcode::BootReply);
        let o = m.opts_mut();
        o.insert(DhcpOption::MessageType(kind));
        o.insert(DhcpOption::ServerIdentifier(Ipv4Addr::new(192, 0, 2, 1)));
        if kind != MessageType::Nak {
            o.insert(DhcpOption::AddressLeaseTime(3600));
            o.insert(DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0)));
            o.insert(DhcpOption::Router(vec![Ipv4Addr::new(192, 0, 2, 1)]));
            o.insert(DhcpOption::DomainNameServer(vec![
                Ipv4Addr::new(192, 0, 2, 53),
                Ipv4Addr::new(192, 0, 2, 54),
            ]));
            o.insert(DhcpOption::DomainName("example.net".into()));
            o.insert(DhcpOption::InterfaceMtu(1492));
        }
        m
    }

    pub fn bytes(m: &v4::Message) -> Vec<u8> {
        encode(m).unwrap()
    }

    #[test]
    fn parses_what_a_server_sends() {
        let mut m = server_reply(MessageType::Ack, 7, Ipv4Addr::new(192, 0, 2, 10));
        m.opts_mut()
            .insert(DhcpOption::NtpServers(vec![Ipv4Addr::new(192, 0, 2, 123)]));
        m.opts_mut().insert(DhcpOption::ClasslessStaticRoute(vec![(
            "203.0.113.0/24".parse().unwrap(),
            Ipv4Addr::new(192, 0, 2, 254),
        )]));
        let r = parse_reply(&bytes(&m)).unwrap();
        assert_eq!(r.kind, ReplyKind::Ack);
        assert_eq!(r.xid, 7);
        assert_eq!(r.chaddr, MAC);
        assert_eq!(r.yiaddr, Ipv4Addr::new(192, 0, 2, 10));
        assert_eq!(r.server_id, Some(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(r.lease_time, Some(3600));
        assert_eq!(r.prefix_length, Some(24));
        assert_eq!(r.dns_servers.len(), 2);
        assert_eq!(r.ntp_servers, [Ipv4Addr::new(192, 0, 2, 123)]);
        assert_eq!(r.domain.as_deref(), Some("example.net"));
        assert_eq!(r.mtu, Some(1492));
        assert_eq!(
            r.classless_routes.unwrap()[0].cidr(),
            "203.0.113.0/24".to_string()
        );
    }

    #[test]
    fn rejects_what_is_not_a_reply() {
        let ack = bytes(&server_reply(
            MessageType::Ack,
            1,
            Ipv4Addr::new(192, 0, 2, 10),
        ));
        let mut b = ack.clone();
        b[0] = 1;
        assert_eq!(parse_reply(&b), Err(ParseError::NotBootReply { op: 1 }));
        let mut b = ack.clone();
        b[2] = 16;
        assert!(matches!(
            parse_reply(&b),
            Err(ParseError::NotEthernet { .. })
        ));
        let mut b = ack.clone();
        b[236] = 0;
        assert!(matches!(
            parse_reply(&b),
            Err(ParseError::MagicCookie { .. })
        ));
        assert!(matches!(
            parse_reply(&ack[..240]),
            Err(ParseError::TooShort { .. })
        ));
        let discover = Outgoing {
            kind: ClientMessage::Discover,
            xid: 1,
            secs: 0,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            requested_address: None,
            server_id: None,
            broadcast_flag: false,
        }
        .to_message(&ClientIdentity::for_mac(MAC));
        let mut b = bytes(&discover);
        b[0] = 2;
        assert_eq!(parse_reply(&b), Err(ParseError::NotAReply(1)));
        let mut bootp = ack[..240].to_vec();
        bootp.push(255);
        assert_eq!(parse_reply(&bootp), Err(ParseError::MissingMessageType));
    }

    #[test]
    fn builds_padded_requests_with_the_options_of_table_5() {
        let mut id = ClientIdentity::for_mac(MAC);
        id.hostname = Some("router".into());
        id.vendor_class_id = Some(b"routerd".to_vec());
        let out = Outgoing {
            kind: ClientMessage::Request,
            xid: 0xdeadbeef,
            secs: 3,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            requested_address: Some(Ipv4Addr::new(192, 0, 2, 10)),
            server_id: Some(Ipv4Addr::new(192, 0, 2, 1)),
            broadcast_flag: false,
        };
        let b = out.encode(&id).unwrap();
        assert!(b.len() >= MIN_MESSAGE_LEN);
        assert_eq!(
            out.encode(&ClientIdentity::for_mac(MAC)).unwrap().len(),
            MIN_MESSAGE_LEN,
            "padded to 300 bytes"
        );
        assert_eq!(b[0], 1);
        assert_eq!(&b[4..8], &0xdeadbeefu32.to_be_bytes());
        assert_eq!(&b[8..10], &[0, 3], "secs");
        assert_eq!(&b[10..12], &[0, 0], "no broadcast flag");
        assert_eq!(&b[28..34], &MAC);
        let m = v4::Message::decode(&mut Decoder::new(&b)).unwrap();
        assert_eq!(m.opts().msg_type(), Some(MessageType::Request));
        assert_eq!(
            m.opts().get(OptionCode::ClientIdentifier),
            Some(&DhcpOption::ClientIdentifier(vec![
                1, 0x02, 0, 0x5e, 0x10, 0, 0x01
            ]))
        );
        let Some(DhcpOption::ParameterRequestList(prl)) =
            m.opts().get(OptionCode::ParameterRequestList)
        else {
            panic!("no PRL")
        };
        let codes: Vec<u8> = prl.iter().map(|c| u8::from(*c)).collect();
        assert_eq!(codes, options::REQUESTED_OPTIONS);
        assert!(m.opts().get(OptionCode::Hostname).is_some());
        assert!(m.opts().get(OptionCode::ClassIdentifier).is_some());

        let release = Outgoing {
            kind: ClientMessage::Release,
            ciaddr: Ipv4Addr::new(192, 0, 2, 10),
            requested_address: None,
            broadcast_flag: true,
            ..out
        };
        let b = release.encode(&id).unwrap();
        assert_eq!(&b[10..12], &[0x80, 0]);
        let m = v4::Message::decode(&mut Decoder::new(&b)).unwrap();
        assert_eq!(m.ciaddr(), Ipv4Addr::new(192, 0, 2, 10));
        assert!(m.opts().get(OptionCode::ParameterRequestList).is_none());
        assert!(m.opts().get(OptionCode::RequestedIpAddress).is_none());
    }
}
