//! DHCPv6 messages (RFC 8415 §8, §21): what the client sends and what it accepts from servers.
//!
//! Sending: [`encode`] builds the message with dhcproto's `v6` types, so the wire layout of every option
//! comes from a maintained codec.
//!
//! Receiving: [`parse_reply`] is our own bounds-checked walker, not dhcproto's decoder, because the bytes
//! are untrusted and dhcproto 0.15's v6 decoder is not strict enough for them:
//! - a Status Code option shorter than 2 bytes makes it compute `len - 2` in `usize` (an overflow panic
//!   in debug builds, a huge read otherwise);
//! - it stops silently at the first bad name of a Domain Search List and accepts DNS compression
//!   pointers, which RFC 8415 §10 forbids in DHCPv6 names;
//! - it keeps options sorted by code, not as received, and gives no reason when a nested IA_PD / IA
//!   Prefix length does not add up.
//!
//! The walker checks every length at every level (message, IA_PD, IA Prefix, status code), refuses
//! truncated or over-long options and malformed names, and ignores options it does not know. It only
//! decodes what the IA_PD client uses; deciding whether a message is for us is the client's job.

use dhcproto::v6::{self, DhcpOption, DhcpOptions, OptionCode};
use dhcproto::Encodable;
use std::net::Ipv6Addr;
use thiserror::Error;

/// A status code value (RFC 8415 §21.13; names in [`status_name`]).
pub type StatusCode = u16;

/// Status code values the client acts on.
pub mod status_code {
    use super::StatusCode;
    pub const SUCCESS: StatusCode = 0;
    pub const UNSPEC_FAIL: StatusCode = 1;
    pub const NO_ADDRS_AVAIL: StatusCode = 2;
    pub const NO_BINDING: StatusCode = 3;
    pub const NOT_ON_LINK: StatusCode = 4;
    pub const USE_MULTICAST: StatusCode = 5;
    pub const NO_PREFIX_AVAIL: StatusCode = 6;
}

/// The IANA name of a status code (RFC 8415 §21.13 and the DHCPv6 registry), as events show it.
pub fn status_name(code: StatusCode) -> String {
    const NAMES: [&str; 23] = [
        "Success",
        "UnspecFail",
        "NoAddrsAvail",
        "NoBinding",
        "NotOnLink",
        "UseMulticast",
        "NoPrefixAvail",
        "UnknownQueryType",
        "MalformedQuery",
        "NotConfigured",
        "NotAllowed",
        "QueryTerminated",
        "DataMissing",
        "CatchUpComplete",
        "NotSupported",
        "TLSConnectionRefused",
        "AddressInUse",
        "ConfigurationConflict",
        "MissingBindingInformation",
        "OutdatedBindingInformation",
        "ServerShuttingDown",
        "DNSUpdateNotSupported",
        "ExcessiveTimeSkew",
    ];
    NAMES
        .get(usize::from(code))
        .map(|s| (*s).to_string())
        .unwrap_or_else(|| format!("Status{code}"))
}

/// Option codes (RFC 8415 §21 and the options the resource may request).
pub mod option {
    pub const CLIENT_ID: u16 = 1;
    pub const SERVER_ID: u16 = 2;
    pub const ORO: u16 = 6;
    pub const PREFERENCE: u16 = 7;
    pub const ELAPSED_TIME: u16 = 8;
    pub const SERVER_UNICAST: u16 = 12;
    pub const STATUS_CODE: u16 = 13;
    pub const RAPID_COMMIT: u16 = 14;
    pub const DNS_SERVERS: u16 = 23;
    pub const DOMAIN_SEARCH: u16 = 24;
    pub const IA_PD: u16 = 25;
    pub const IA_PREFIX: u16 = 26;
    pub const SNTP_SERVERS: u16 = 31;
    pub const AFTR_NAME: u16 = 64;
    pub const SOL_MAX_RT: u16 = 82;
    pub const INF_MAX_RT: u16 = 83;
}

/// Longest DUID: 2 bytes of type and at most 128 of content (RFC 8415 §11.1).
pub const MAX_DUID: usize = 130;
/// Longest domain name on the wire (RFC 1035 §3.1).
pub const MAX_NAME: usize = 255;

/// Message types (RFC 8415 §7.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    Solicit,
    Advertise,
    Request,
    Confirm,
    Renew,
    Rebind,
    Reply,
    Release,
    Decline,
    Reconfigure,
    InformationRequest,
}

impl MessageKind {
    pub fn from_code(code: u8) -> Option<MessageKind> {
        Some(match code {
            1 => MessageKind::Solicit,
            2 => MessageKind::Advertise,
            3 => MessageKind::Request,
            4 => MessageKind::Confirm,
            5 => MessageKind::Renew,
            6 => MessageKind::Rebind,
            7 => MessageKind::Reply,
            8 => MessageKind::Release,
            9 => MessageKind::Decline,
            10 => MessageKind::Reconfigure,
            11 => MessageKind::InformationRequest,
            _ => return None,
        })
    }

    /// The RFC's name, upper case, as logs and notes show it.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Solicit => "SOLICIT",
            MessageKind::Advertise => "ADVERTISE",
            MessageKind::Request => "REQUEST",
            MessageKind::Confirm => "CONFIRM",
            MessageKind::Renew => "RENEW",
            MessageKind::Rebind => "REBIND",
            MessageKind::Reply => "REPLY",
            MessageKind::Release => "RELEASE",
            MessageKind::Decline => "DECLINE",
            MessageKind::Reconfigure => "RECONFIGURE",
            MessageKind::InformationRequest => "INFORMATION-REQUEST",
        }
    }

    fn v6(self) -> v6::MessageType {
        match self {
            MessageKind::Solicit => v6::MessageType::Solicit,
            MessageKind::Advertise => v6::MessageType::Advertise,
            MessageKind::Request => v6::MessageType::Request,
            MessageKind::Confirm => v6::MessageType::Confirm,
            MessageKind::Renew => v6::MessageType::Renew,
            MessageKind::Rebind => v6::MessageType::Rebind,
            MessageKind::Reply => v6::MessageType::Reply,
            MessageKind::Release => v6::MessageType::Release,
            MessageKind::Decline => v6::MessageType::Decline,
            MessageKind::Reconfigure => v6::MessageType::Reconfigure,
            MessageKind::InformationRequest => v6::MessageType::InformationRequest,
        }
    }
}

impl std::fmt::Display for MessageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status code option with its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub code: StatusCode,
    pub message: String,
}

/// An IA Prefix option (RFC 8415 §21.22).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IaPrefix {
    pub preferred_lifetime: u32,
    pub valid_lifetime: u32,
    pub length: u8,
    pub prefix: Ipv6Addr,
    pub status: Option<Status>,
}

/// An IA_PD option (RFC 8415 §21.21).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IaPd {
    pub iaid: u32,
    pub t1: u32,
    pub t2: u32,
    pub prefixes: Vec<IaPrefix>,
    pub status: Option<Status>,
}

/// A parsed server message: ADVERTISE, REPLY or RECONFIGURE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub kind: MessageKind,
    pub xid: [u8; 3],
    /// Server Identifier (the server's DUID).
    pub server_id: Option<Vec<u8>>,
    /// Client Identifier (must be our DUID).
    pub client_id: Option<Vec<u8>>,
    /// Preference option; absent means 0 (RFC 8415 §18.2.9).
    pub preference: Option<u8>,
    pub rapid_commit: bool,
    /// Server Unicast option: the client may unicast RENEW (and RELEASE) to this address.
    pub server_unicast: Option<Ipv6Addr>,
    /// The top-level Status Code option.
    pub status: Option<Status>,
    pub ia_pds: Vec<IaPd>,
    pub dns_servers: Vec<Ipv6Addr>,
    pub domain_search: Vec<String>,
    pub sntp_servers: Vec<Ipv6Addr>,
    pub aftr_name: Option<String>,
    /// SOL_MAX_RT option (RFC 8415 §21.24): the server's cap on SOLICIT retransmissions, seconds.
    pub sol_max_rt: Option<u32>,
    /// INF_MAX_RT option (RFC 8415 §21.25): the same for INFORMATION-REQUEST.
    pub inf_max_rt: Option<u32>,
}

impl Reply {
    /// An empty message of `kind` (for tests and for building replies field by field).
    pub fn new(kind: MessageKind, xid: [u8; 3]) -> Reply {
        Reply {
            kind,
            xid,
            server_id: None,
            client_id: None,
            preference: None,
            rapid_commit: false,
            server_unicast: None,
            status: None,
            ia_pds: Vec::new(),
            dns_servers: Vec::new(),
            domain_search: Vec::new(),
            sntp_servers: Vec::new(),
            aftr_name: None,
            sol_max_rt: None,
            inf_max_rt: None,
        }
    }

    /// The IA_PD with `iaid`, if the message carries one.
    pub fn ia_pd(&self, iaid: u32) -> Option<&IaPd> {
        self.ia_pds.iter().find(|ia| ia.iaid == iaid)
    }
}

/// Why received bytes are not a usable DHCPv6 server message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error("message too short ({0} bytes)")]
    TooShort(usize),
    #[error("message type {0} is not sent by servers to clients")]
    NotServerMessage(u8),
    #[error("option header truncated at offset {0}")]
    TruncatedHeader(usize),
    #[error("option {code} claims {claimed} bytes, only {available} left")]
    OptionOverrun {
        code: u16,
        claimed: usize,
        available: usize,
    },
    #[error("option {code} has a bad length {len}")]
    BadLength { code: u16, len: usize },
    #[error("option {0} appears more than once")]
    Duplicate(u16),
    #[error("IA Prefix length {0} is more than 128")]
    BadPrefixLength(u8),
    #[error("bad domain name in option {code}: {why}")]
    BadName { code: u16, why: &'static str },
}

/// One option: its code and body, borrowed from the message.
type RawOption<'a> = (u16, &'a [u8]);

/// Splits `buf` into options, checking that every header and body lies inside it.
fn walk(buf: &[u8]) -> Result<Vec<RawOption<'_>>, ParseError> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < buf.len() {
        let header = buf.get(at..at + 4).ok_or(ParseError::TruncatedHeader(at))?;
        let code = u16::from_be_bytes([header[0], header[1]]);
        let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
        let start = at + 4;
        let body = buf
            .get(start..start + len)
            .ok_or(ParseError::OptionOverrun {
                code,
                claimed: len,
                available: buf.len() - start,
            })?;
        out.push((code, body));
        at = start + len;
    }
    Ok(out)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        x.copy_from_slice(s);
    }
    u32::from_be_bytes(x)
}

fn addr_at(b: &[u8], at: usize) -> Ipv6Addr {
    let mut x = [0u8; 16];
    if let Some(s) = b.get(at..at + 16) {
        x.copy_from_slice(s);
    }
    Ipv6Addr::from(x)
}

fn set_once<T>(slot: &mut Option<T>, value: T, code: u16) -> Result<(), ParseError> {
    if slot.is_some() {
        return Err(ParseError::Duplicate(code));
    }
    *slot = Some(value);
    Ok(())
}

fn parse_status(body: &[u8]) -> Result<Status, ParseError> {
    if body.len() < 2 {
        return Err(ParseError::BadLength {
            code: option::STATUS_CODE,
            len: body.len(),
        });
    }
    Ok(Status {
        code: u16::from_be_bytes([body[0], body[1]]),
        // Informational text for people; lossy rather than refusing the message over it.
        message: String::from_utf8_lossy(&body[2..]).into_owned(),
    })
}

fn parse_duid(code: u16, body: &[u8]) -> Result<Vec<u8>, ParseError> {
    if body.len() < 2 || body.len() > MAX_DUID {
        return Err(ParseError::BadLength {
            code,
            len: body.len(),
        });
    }
    Ok(body.to_vec())
}

fn parse_addresses(code: u16, body: &[u8]) -> Result<Vec<Ipv6Addr>, ParseError> {
    if !body.len().is_multiple_of(16) {
        return Err(ParseError::BadLength {
            code,
            len: body.len(),
        });
    }
    Ok(body
        .chunks_exact(16)
        .map(|c| addr_at(c, 0))
        .collect::<Vec<_>>())
}

fn parse_ia_prefix(body: &[u8]) -> Result<IaPrefix, ParseError> {
    if body.len() < 25 {
        return Err(ParseError::BadLength {
            code: option::IA_PREFIX,
            len: body.len(),
        });
    }
    let length = body[8];
    if length > 128 {
        return Err(ParseError::BadPrefixLength(length));
    }
    let mut status = None;
    for (code, sub) in walk(&body[25..])? {
        if code == option::STATUS_CODE {
            set_once(&mut status, parse_status(sub)?, code)?;
        }
    }
    Ok(IaPrefix {
        preferred_lifetime: u32_at(body, 0),
        valid_lifetime: u32_at(body, 4),
        length,
        prefix: addr_at(body, 9),
        status,
    })
}

fn parse_ia_pd(body: &[u8]) -> Result<IaPd, ParseError> {
    if body.len() < 12 {
        return Err(ParseError::BadLength {
            code: option::IA_PD,
            len: body.len(),
        });
    }
    let mut prefixes = Vec::new();
    let mut status = None;
    for (code, sub) in walk(&body[12..])? {
        match code {
            option::IA_PREFIX => prefixes.push(parse_ia_prefix(sub)?),
            option::STATUS_CODE => set_once(&mut status, parse_status(sub)?, code)?,
            _ => {}
        }
    }
    Ok(IaPd {
        iaid: u32_at(body, 0),
        t1: u32_at(body, 4),
        t2: u32_at(body, 8),
        prefixes,
        status,
    })
}

/// Whether a label byte may appear in a name we hand to the resolver configuration: letters, digits,
/// `-` and `_` (anything else — spaces, newlines, dots inside a label — could corrupt the files written
/// from it).
fn label_byte_ok(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Reads one uncompressed RFC 1035 name from the front of `buf`; returns it (without the trailing dot)
/// and the bytes it took.
fn read_name(code: u16, buf: &[u8]) -> Result<(String, usize), ParseError> {
    let bad = |why| ParseError::BadName { code, why };
    let mut name = String::new();
    let mut at = 0usize;
    loop {
        let len = usize::from(*buf.get(at).ok_or(bad("not terminated"))?);
        if len == 0 {
            at += 1;
            break;
        }
        if len > 63 {
            // 0b11xx_xxxx is a compression pointer, 0b01/0b10 are reserved label types.
            return Err(bad("compressed or over-long label"));
        }
        let label = buf
            .get(at + 1..at + 1 + len)
            .ok_or(bad("label runs past the option"))?;
        if !label.iter().all(|b| label_byte_ok(*b)) {
            return Err(bad(
                "label has characters other than letters, digits, '-' and '_'",
            ));
        }
        if !name.is_empty() {
            name.push('.');
        }
        name.extend(label.iter().map(|b| char::from(*b)));
        at += 1 + len;
        if at > MAX_NAME {
            return Err(bad("longer than 255 bytes"));
        }
    }
    if name.is_empty() {
        return Err(bad("empty name"));
    }
    Ok((name, at))
}

fn parse_names(code: u16, body: &[u8]) -> Result<Vec<String>, ParseError> {
    let mut names = Vec::new();
    let mut at = 0usize;
    while at < body.len() {
        let (name, used) = read_name(code, &body[at..])?;
        names.push(name);
        at += used;
    }
    Ok(names)
}

/// Parses an ADVERTISE, REPLY or RECONFIGURE. Never panics; any length that does not add up is an error.
pub fn parse_reply(bytes: &[u8]) -> Result<Reply, ParseError> {
    if bytes.len() < 4 {
        return Err(ParseError::TooShort(bytes.len()));
    }
    let kind = match MessageKind::from_code(bytes[0]) {
        Some(k @ (MessageKind::Advertise | MessageKind::Reply | MessageKind::Reconfigure)) => k,
        _ => return Err(ParseError::NotServerMessage(bytes[0])),
    };
    let mut r = Reply::new(kind, [bytes[1], bytes[2], bytes[3]]);
    let mut aftr = None;
    let mut status = None;
    let mut preference = None;
    let mut server_unicast = None;
    let (mut dns, mut search, mut sntp) = (None, None, None);
    for (code, body) in walk(&bytes[4..])? {
        let bad_len = || ParseError::BadLength {
            code,
            len: body.len(),
        };
        match code {
            option::CLIENT_ID => set_once(&mut r.client_id, parse_duid(code, body)?, code)?,
            option::SERVER_ID => set_once(&mut r.server_id, parse_duid(code, body)?, code)?,
            option::PREFERENCE => match body {
                [p] => set_once(&mut preference, *p, code)?,
                _ => return Err(bad_len()),
            },
            option::SERVER_UNICAST => {
                if body.len() != 16 {
                    return Err(bad_len());
                }
                set_once(&mut server_unicast, addr_at(body, 0), code)?;
            }
            option::STATUS_CODE => set_once(&mut status, parse_status(body)?, code)?,
            option::RAPID_COMMIT => {
                if !body.is_empty() {
                    return Err(bad_len());
                }
                r.rapid_commit = true;
            }
            option::IA_PD => r.ia_pds.push(parse_ia_pd(body)?),
            option::SOL_MAX_RT | option::INF_MAX_RT => {
                let seconds = match body {
                    [a, b, c, d] => u32::from_be_bytes([*a, *b, *c, *d]),
                    _ => return Err(bad_len()),
                };
                let slot = if code == option::SOL_MAX_RT {
                    &mut r.sol_max_rt
                } else {
                    &mut r.inf_max_rt
                };
                set_once(slot, seconds, code)?;
            }
            option::DNS_SERVERS => set_once(&mut dns, parse_addresses(code, body)?, code)?,
            option::SNTP_SERVERS => set_once(&mut sntp, parse_addresses(code, body)?, code)?,
            option::DOMAIN_SEARCH => set_once(&mut search, parse_names(code, body)?, code)?,
            option::AFTR_NAME => {
                let (name, used) = read_name(code, body)?;
                if used != body.len() {
                    return Err(bad_len());
                }
                set_once(&mut aftr, name, code)?;
            }
            _ => {}
        }
    }
    r.preference = preference;
    r.server_unicast = server_unicast;
    r.status = status;
    r.dns_servers = dns.unwrap_or_default();
    r.domain_search = search.unwrap_or_default();
    r.sntp_servers = sntp.unwrap_or_default();
    r.aftr_name = aftr;
    Ok(r)
}

/// Why a message could not be encoded (only possible with absurd field sizes).
#[derive(Debug, Error)]
#[error("encoding a DHCPv6 message failed: {0}")]
pub struct EncodeError(String);

/// The IA_PD the client puts in a message: its IAID, T1/T2 (0: the server decides) and the prefixes
/// it holds or hints at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingIaPd {
    pub iaid: u32,
    pub t1: u32,
    pub t2: u32,
    pub prefixes: Vec<IaPrefix>,
}

/// A message from the client: the fields RFC 8415 §18.2 asks for in SOLICIT, REQUEST, RENEW, REBIND,
/// RELEASE and INFORMATION-REQUEST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub kind: MessageKind,
    pub xid: [u8; 3],
    /// Our DUID.
    pub client_id: Vec<u8>,
    /// The server's DUID (REQUEST, RENEW, RELEASE).
    pub server_id: Option<Vec<u8>>,
    /// Elapsed Time in hundredths of a second since the exchange began (RFC 8415 §21.9).
    pub elapsed_centiseconds: u16,
    pub ia_pd: Option<OutgoingIaPd>,
    /// Option Request option; empty means none is sent.
    pub oro: Vec<u16>,
    pub rapid_commit: bool,
}

/// Encodes a client message with dhcproto.
pub fn encode(o: &Outgoing) -> Result<Vec<u8>, EncodeError> {
    let mut msg = v6::Message::new_with_id(o.kind.v6(), o.xid);
    let opts: &mut DhcpOptions = msg.opts_mut();
    opts.insert(DhcpOption::ClientId(o.client_id.clone()));
    if let Some(s) = &o.server_id {
        opts.insert(DhcpOption::ServerId(s.clone()));
    }
    opts.insert(DhcpOption::ElapsedTime(o.elapsed_centiseconds));
    if !o.oro.is_empty() {
        opts.insert(DhcpOption::ORO(v6::ORO {
            opts: o.oro.iter().map(|c| OptionCode::from(*c)).collect(),
        }));
    }
    if o.rapid_commit {
        opts.insert(DhcpOption::RapidCommit);
    }
    if let Some(ia) = &o.ia_pd {
        let mut inner = DhcpOptions::new();
        for p in &ia.prefixes {
            inner.insert(DhcpOption::IAPrefix(v6::IAPrefix {
                preferred_lifetime: p.preferred_lifetime,
                valid_lifetime: p.valid_lifetime,
                prefix_len: p.length,
                prefix_ip: p.prefix,
                opts: DhcpOptions::new(),
            }));
        }
        opts.insert(DhcpOption::IAPD(v6::IAPD {
            id: ia.iaid,
            t1: ia.t1,
            t2: ia.t2,
            opts: inner,
        }));
    }
    msg.to_vec().map_err(|e| EncodeError(e.to_string()))
}

/// Encodes `names` as uncompressed RFC 1035 names (option 24 / 64 bodies); `None` when a name is not
/// representable (empty or over-long labels). The client never sends names: only the tests, which
/// build server messages, need it.
#[cfg(test)]
fn encode_names(names: &[String]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for name in names {
        let start = out.len();
        for label in name.trim_end_matches('.').split('.') {
            let len = u8::try_from(label.len())
                .ok()
                .filter(|l| (1..=63).contains(l))?;
            out.push(len);
            out.extend_from_slice(label.as_bytes());
        }
        out.push(0);
        if out.len() - start > MAX_NAME {
            return None;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests;
