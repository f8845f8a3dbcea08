//! ctnetlink (`NFNL_SUBSYS_CTNETLINK`): conntrack entries as a dump or the event multicast groups deliver
//! them (`IPCTNL_MSG_CT_NEW`/`IPCTNL_MSG_CT_DELETE`), the dump request, and the delete-by-tuple request
//! (for flushing flows on a WAN switch).
//!
//! [`ConntrackEntry`] is `Copy` and borrows nothing, and [`ConntrackMessages`] decodes lazily, so
//! `/connections` can filter 100k entries while reading them without building a table.

use std::net::IpAddr;

use super::nlattr::{
    nfnl_message_type, set_once, split_nfgenmsg, Attribute, Attributes, DecodeError, Decoded, Item,
    NetlinkMessage, NfGenMsg, RequestBuilder, AF_INET, AF_INET6, NFNETLINK_V0,
    NFNL_SUBSYS_CTNETLINK, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST,
};

// linux/netfilter/nfnetlink_conntrack.h: enum cntl_msg_types
/// linux/netfilter/nfnetlink_conntrack.h: a new (or updated) entry; also each entry of a dump.
pub const IPCTNL_MSG_CT_NEW: u8 = 0;
/// linux/netfilter/nfnetlink_conntrack.h: get (with `NLM_F_DUMP`: dump the table).
pub const IPCTNL_MSG_CT_GET: u8 = 1;
/// linux/netfilter/nfnetlink_conntrack.h: an entry was destroyed (event), or delete request.
pub const IPCTNL_MSG_CT_DELETE: u8 = 2;
/// linux/netfilter/nfnetlink_conntrack.h: the table's global statistics (entries and maximum).
pub const IPCTNL_MSG_CT_GET_STATS: u8 = 5;

// linux/netfilter/nfnetlink_conntrack.h: enum ctattr_stats_global
/// linux/netfilter/nfnetlink_conntrack.h: entries in the table now (`nf_conntrack_count`).
pub const CTA_STATS_GLOBAL_ENTRIES: u16 = 1;
/// linux/netfilter/nfnetlink_conntrack.h: the table's size limit (`nf_conntrack_max`, Linux >= 4.19).
pub const CTA_STATS_GLOBAL_MAX_ENTRIES: u16 = 2;

// linux/netfilter/nfnetlink_conntrack.h: enum ctattr_type
/// linux/netfilter/nfnetlink_conntrack.h
pub const CTA_TUPLE_ORIG: u16 = 1;
/// linux/netfilter/nfnetlink_conntrack.h
pub const CTA_TUPLE_REPLY: u16 = 2;
/// linux/netfilter/nfnetlink_conntrack.h
pub const CTA_STATUS: u16 = 3;
/// linux/netfilter/nfnetlink_conntrack.h
pub const CTA_PROTOINFO: u16 = 4;
/// linux/netfilter/nfnetlink_conntrack.h
pub const CTA_TIMEOUT: u16 = 7;
/// linux/netfilter/nfnetlink_conntrack.h
pub const CTA_MARK: u16 = 8;
/// linux/netfilter/nfnetlink_conntrack.h
pub const CTA_COUNTERS_ORIG: u16 = 9;
/// linux/netfilter/nfnetlink_conntrack.h
pub const CTA_COUNTERS_REPLY: u16 = 10;
/// linux/netfilter/nfnetlink_conntrack.h
pub const CTA_ID: u16 = 12;
/// linux/netfilter/nfnetlink_conntrack.h
pub const CTA_ZONE: u16 = 18;

// linux/netfilter/nfnetlink_conntrack.h: enum ctattr_tuple, ctattr_ip, ctattr_l4proto
/// linux/netfilter/nfnetlink_conntrack.h
pub const CTA_TUPLE_IP: u16 = 1;
/// linux/netfilter/nfnetlink_conntrack.h
pub const CTA_TUPLE_PROTO: u16 = 2;
/// linux/netfilter/nfnetlink_conntrack.h
pub const CTA_TUPLE_ZONE: u16 = 3;
/// linux/netfilter/nfnetlink_conntrack.h
pub const CTA_IP_V4_SRC: u16 = 1;
/// linux/netfilter/nfnetlink_conntrack.h
pub const CTA_IP_V4_DST: u16 = 2;
/// linux/netfilter/nfnetlink_conntrack.h
pub const CTA_IP_V6_SRC: u16 = 3;
/// linux/netfilter/nfnetlink_conntrack.h
pub const CTA_IP_V6_DST: u16 = 4;
/// linux/netfilter/nfnetlink_conntrack.h
pub const CTA_PROTO_NUM: u16 = 1;
/// linux/netfilter/nfnetlink_conntrack.h
pub const CTA_PROTO_SRC_PORT: u16 = 2;
/// linux/netfilter/nfnetlink_conntrack.h
pub const CTA_PROTO_DST_PORT: u16 = 3;
/// linux/netfilter/nfnetlink_conntrack.h
pub const CTA_PROTO_ICMP_ID: u16 = 4;
/// linux/netfilter/nfnetlink_conntrack.h
pub const CTA_PROTO_ICMP_TYPE: u16 = 5;
/// linux/netfilter/nfnetlink_conntrack.h
pub const CTA_PROTO_ICMP_CODE: u16 = 6;
/// linux/netfilter/nfnetlink_conntrack.h
pub const CTA_PROTO_ICMPV6_ID: u16 = 7;
/// linux/netfilter/nfnetlink_conntrack.h
pub const CTA_PROTO_ICMPV6_TYPE: u16 = 8;
/// linux/netfilter/nfnetlink_conntrack.h
pub const CTA_PROTO_ICMPV6_CODE: u16 = 9;

// linux/netfilter/nfnetlink_conntrack.h: enum ctattr_protoinfo, ctattr_protoinfo_tcp, ctattr_counters
/// linux/netfilter/nfnetlink_conntrack.h
pub const CTA_PROTOINFO_TCP: u16 = 1;
/// linux/netfilter/nfnetlink_conntrack.h
pub const CTA_PROTOINFO_TCP_STATE: u16 = 1;
/// linux/netfilter/nfnetlink_conntrack.h: 64-bit packet counter.
pub const CTA_COUNTERS_PACKETS: u16 = 1;
/// linux/netfilter/nfnetlink_conntrack.h: 64-bit byte counter.
pub const CTA_COUNTERS_BYTES: u16 = 2;
/// linux/netfilter/nfnetlink_conntrack.h: old 32-bit packet counter.
pub const CTA_COUNTERS32_PACKETS: u16 = 3;
/// linux/netfilter/nfnetlink_conntrack.h: old 32-bit byte counter.
pub const CTA_COUNTERS32_BYTES: u16 = 4;

// linux/in.h, linux/in6.h
/// linux/in.h
pub const IPPROTO_ICMP: u8 = 1;
/// linux/in.h
pub const IPPROTO_TCP: u8 = 6;
/// linux/in.h
pub const IPPROTO_UDP: u8 = 17;
/// linux/in6.h
pub const IPPROTO_ICMPV6: u8 = 58;

/// The conntrack status bits (`CTA_STATUS`), linux/netfilter/nf_conntrack_common.h `enum ip_conntrack_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Status(pub u32);

impl Status {
    /// nf_conntrack_common.h `IPS_EXPECTED`
    pub const EXPECTED: u32 = 1 << 0;
    /// nf_conntrack_common.h `IPS_SEEN_REPLY`
    pub const SEEN_REPLY: u32 = 1 << 1;
    /// nf_conntrack_common.h `IPS_ASSURED`
    pub const ASSURED: u32 = 1 << 2;
    /// nf_conntrack_common.h `IPS_CONFIRMED`
    pub const CONFIRMED: u32 = 1 << 3;
    /// nf_conntrack_common.h `IPS_SRC_NAT`
    pub const SRC_NAT: u32 = 1 << 4;
    /// nf_conntrack_common.h `IPS_DST_NAT`
    pub const DST_NAT: u32 = 1 << 5;
    /// nf_conntrack_common.h `IPS_SEQ_ADJUST`
    pub const SEQ_ADJUST: u32 = 1 << 6;
    /// nf_conntrack_common.h `IPS_SRC_NAT_DONE`
    pub const SRC_NAT_DONE: u32 = 1 << 7;
    /// nf_conntrack_common.h `IPS_DST_NAT_DONE`
    pub const DST_NAT_DONE: u32 = 1 << 8;
    /// nf_conntrack_common.h `IPS_DYING`
    pub const DYING: u32 = 1 << 9;
    /// nf_conntrack_common.h `IPS_FIXED_TIMEOUT`
    pub const FIXED_TIMEOUT: u32 = 1 << 10;
    /// nf_conntrack_common.h `IPS_TEMPLATE`
    pub const TEMPLATE: u32 = 1 << 11;
    /// nf_conntrack_common.h `IPS_UNTRACKED` (now `IPS_NAT_CLASH`)
    pub const UNTRACKED: u32 = 1 << 12;
    /// nf_conntrack_common.h `IPS_HELPER`
    pub const HELPER: u32 = 1 << 13;
    /// nf_conntrack_common.h `IPS_OFFLOAD`
    pub const OFFLOAD: u32 = 1 << 14;
    /// nf_conntrack_common.h `IPS_HW_OFFLOAD`
    pub const HW_OFFLOAD: u32 = 1 << 15;

    fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }
    /// Traffic seen both ways and the entry will not be evicted early (`[ASSURED]` in `conntrack -L`).
    pub fn assured(self) -> bool {
        self.has(Self::ASSURED)
    }
    /// A reply was seen (no `[UNREPLIED]`).
    pub fn seen_reply(self) -> bool {
        self.has(Self::SEEN_REPLY)
    }
    /// Source NAT applies.
    pub fn src_nat(self) -> bool {
        self.has(Self::SRC_NAT)
    }
    /// Destination NAT applies.
    pub fn dst_nat(self) -> bool {
        self.has(Self::DST_NAT)
    }
    /// In the table (not a template or unconfirmed).
    pub fn confirmed(self) -> bool {
        self.has(Self::CONFIRMED)
    }
    /// Being destroyed.
    pub fn dying(self) -> bool {
        self.has(Self::DYING)
    }
    /// Offloaded to a flowtable (counters may lag).
    pub fn offload(self) -> bool {
        self.has(Self::OFFLOAD)
    }
}

/// TCP conntrack state, linux/netfilter/nf_conntrack_tcp.h `enum tcp_conntrack`; names as `conntrack -L`
/// prints them, so our entries compare one to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpState {
    None,
    SynSent,
    SynRecv,
    Established,
    FinWait,
    CloseWait,
    LastAck,
    TimeWait,
    Close,
    SynSent2,
}

impl TcpState {
    /// Decode the `CTA_PROTOINFO_TCP_STATE` byte.
    pub fn from_u8(value: u8) -> Result<Self, DecodeError> {
        Ok(match value {
            0 => Self::None,
            1 => Self::SynSent,
            2 => Self::SynRecv,
            3 => Self::Established,
            4 => Self::FinWait,
            5 => Self::CloseWait,
            6 => Self::LastAck,
            7 => Self::TimeWait,
            8 => Self::Close,
            9 => Self::SynSent2,
            other => {
                return Err(DecodeError::InvalidValue {
                    what: "CTA_PROTOINFO_TCP_STATE",
                    value: u32::from(other),
                })
            }
        })
    }

    /// The kernel's numeric value.
    pub fn to_u8(self) -> u8 {
        self as u8
    }

    /// The name `conntrack -L` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::SynSent => "SYN_SENT",
            Self::SynRecv => "SYN_RECV",
            Self::Established => "ESTABLISHED",
            Self::FinWait => "FIN_WAIT",
            Self::CloseWait => "CLOSE_WAIT",
            Self::LastAck => "LAST_ACK",
            Self::TimeWait => "TIME_WAIT",
            Self::Close => "CLOSE",
            Self::SynSent2 => "SYN_SENT2",
        }
    }
}

/// One direction of a connection. Ports are set for TCP/UDP (and other port-based protocols), the ICMP
/// fields for ICMP/ICMPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuple {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: u8,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub icmp_id: Option<u16>,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
}

impl Tuple {
    /// A TCP/UDP tuple (for delete requests and tests).
    pub fn with_ports(
        protocol: u8,
        src: IpAddr,
        src_port: u16,
        dst: IpAddr,
        dst_port: u16,
    ) -> Self {
        Self {
            src,
            dst,
            protocol,
            src_port: Some(src_port),
            dst_port: Some(dst_port),
            icmp_id: None,
            icmp_type: None,
            icmp_code: None,
        }
    }
}

/// Packet and byte counters of one direction (`CTA_COUNTERS_ORIG`/`_REPLY`; only with `nf_conntrack_acct`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    pub packets: u64,
    pub bytes: u64,
}

/// One conntrack entry as the kernel reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConntrackEntry {
    /// `AF_INET` or `AF_INET6` (from nfgenmsg).
    pub family: u8,
    /// L4 protocol number (of the original tuple).
    pub protocol: u8,
    pub original: Tuple,
    pub reply: Tuple,
    /// TCP state, when the protocol is TCP and the kernel sent `CTA_PROTOINFO`.
    pub tcp_state: Option<TcpState>,
    /// Seconds left (absent in destroy events).
    pub timeout: Option<u32>,
    pub mark: Option<u32>,
    /// Conntrack zone; absent means zone 0.
    pub zone: Option<u16>,
    pub status: Status,
    pub original_counters: Option<Counters>,
    pub reply_counters: Option<Counters>,
    /// The kernel's entry id (`CTA_ID`), stable for the entry's life: keys a flow across events.
    pub id: Option<u32>,
}

impl ConntrackEntry {
    /// The translated source when source NAT applies: what the peer sees (`reply.dst != original.src`).
    pub fn nat_source(&self) -> Option<IpAddr> {
        (self.reply.dst != self.original.src).then_some(self.reply.dst)
    }

    /// The translated destination when destination NAT applies (`reply.src != original.dst`).
    pub fn nat_destination(&self) -> Option<IpAddr> {
        (self.reply.src != self.original.dst).then_some(self.reply.src)
    }

    /// The state name the `Connection` shape shows: the TCP state, else none.
    pub fn state_name(&self) -> Option<&'static str> {
        self.tcp_state.map(TcpState::as_str)
    }
}

/// Whether a ctnetlink message announces or reports an entry, or its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConntrackEventKind {
    /// `IPCTNL_MSG_CT_NEW`: a dump entry, a new entry or an update.
    New,
    /// `IPCTNL_MSG_CT_DELETE`: destroyed (final counters).
    Delete,
}

/// A dump entry or an event, with whether it is new/updated or destroyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConntrackEvent {
    pub kind: ConntrackEventKind,
    /// `NLM_F_CREATE` on a `New` message: the kernel announces a new entry (a flow starts); false for
    /// dump entries and update events, which share the `IPCTNL_MSG_CT_NEW` type.
    pub created: bool,
    pub entry: ConntrackEntry,
}

/// What a ctnetlink receive buffer yields.
pub type ConntrackItem = Item<ConntrackEvent>;

/// Lazily decode a ctnetlink receive buffer (one `recv`): entries are decoded one at a time as the
/// caller iterates, so a filter drops them without a table being built.
pub type ConntrackMessages<'a> = Decoded<'a, ConntrackEvent>;

/// Walk a ctnetlink receive buffer.
pub fn messages(buffer: &[u8]) -> ConntrackMessages<'_> {
    Decoded::new(buffer, decode_message)
}

/// Decode one ctnetlink message (a data message of a [`super::NetlinkMessages`] walk).
pub fn decode_message(message: &NetlinkMessage<'_>) -> Result<ConntrackEvent, DecodeError> {
    let message_type = message.header.message_type;
    let kind = if message_type == nfnl_message_type(NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_NEW) {
        ConntrackEventKind::New
    } else if message_type == nfnl_message_type(NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_DELETE) {
        ConntrackEventKind::Delete
    } else {
        return Err(DecodeError::UnexpectedMessage {
            message_type,
            expected: "IPCTNL_MSG_CT_NEW or IPCTNL_MSG_CT_DELETE",
        });
    };
    Ok(ConntrackEvent {
        kind,
        created: kind == ConntrackEventKind::New && message.header.flags & NLM_F_CREATE != 0,
        entry: decode_entry(message.payload)?,
    })
}

/// Decode the payload of a ctnetlink entry message (nfgenmsg then attributes).
pub fn decode_entry(payload: &[u8]) -> Result<ConntrackEntry, DecodeError> {
    let (nfgen, attributes) = split_nfgenmsg(payload)?;
    if nfgen.family != AF_INET && nfgen.family != AF_INET6 {
        return Err(DecodeError::InvalidValue {
            what: "nfgenmsg family",
            value: u32::from(nfgen.family),
        });
    }
    let mut original = None;
    let mut reply = None;
    let mut tcp_state = None;
    let mut timeout = None;
    let mut mark = None;
    let mut zone = None;
    let mut status = None;
    let mut original_counters = None;
    let mut reply_counters = None;
    let mut id = None;
    for attribute in Attributes::new(attributes) {
        let attribute = attribute?;
        match attribute.kind {
            CTA_TUPLE_ORIG => set_once(
                &mut original,
                decode_tuple(&attribute, "CTA_TUPLE_ORIG")?,
                "CTA_TUPLE_ORIG",
            )?,
            CTA_TUPLE_REPLY => set_once(
                &mut reply,
                decode_tuple(&attribute, "CTA_TUPLE_REPLY")?,
                "CTA_TUPLE_REPLY",
            )?,
            CTA_STATUS => set_once(
                &mut status,
                Status(attribute.be32("CTA_STATUS")?),
                "CTA_STATUS",
            )?,
            CTA_PROTOINFO => {
                if let Some(state) = decode_protoinfo(&attribute)? {
                    set_once(&mut tcp_state, state, "CTA_PROTOINFO_TCP_STATE")?;
                }
            }
            CTA_TIMEOUT => set_once(&mut timeout, attribute.be32("CTA_TIMEOUT")?, "CTA_TIMEOUT")?,
            CTA_MARK => set_once(&mut mark, attribute.be32("CTA_MARK")?, "CTA_MARK")?,
            CTA_ZONE => set_once(&mut zone, attribute.be16("CTA_ZONE")?, "CTA_ZONE")?,
            CTA_ID => set_once(&mut id, attribute.be32("CTA_ID")?, "CTA_ID")?,
            CTA_COUNTERS_ORIG => set_once(
                &mut original_counters,
                decode_counters(&attribute, "CTA_COUNTERS_ORIG")?,
                "CTA_COUNTERS_ORIG",
            )?,
            CTA_COUNTERS_REPLY => set_once(
                &mut reply_counters,
                decode_counters(&attribute, "CTA_COUNTERS_REPLY")?,
                "CTA_COUNTERS_REPLY",
            )?,
            // Helpers, sequence adjustment, labels, timestamps, secctx...: not part of the Connection shape.
            _ => {}
        }
    }
    let original = original.ok_or(DecodeError::Missing("CTA_TUPLE_ORIG"))?;
    let reply = reply.ok_or(DecodeError::Missing("CTA_TUPLE_REPLY"))?;
    let family_matches = |address: IpAddr| match address {
        IpAddr::V4(_) => nfgen.family == AF_INET,
        IpAddr::V6(_) => nfgen.family == AF_INET6,
    };
    if ![original.src, original.dst, reply.src, reply.dst]
        .into_iter()
        .all(family_matches)
    {
        return Err(DecodeError::Inconsistent(
            "tuple address family differs from nfgenmsg family",
        ));
    }
    if original.protocol != reply.protocol {
        return Err(DecodeError::Inconsistent(
            "original and reply tuples name different protocols",
        ));
    }
    if tcp_state.is_some() && original.protocol != IPPROTO_TCP {
        return Err(DecodeError::Inconsistent("TCP state on a non-TCP entry"));
    }
    Ok(ConntrackEntry {
        family: nfgen.family,
        protocol: original.protocol,
        original,
        reply,
        tcp_state,
        timeout,
        mark,
        zone,
        status: status.unwrap_or_default(),
        original_counters,
        reply_counters,
        id,
    })
}

/// Decode a `CTA_TUPLE_*` nest: `CTA_TUPLE_IP` (both addresses, one family) and `CTA_TUPLE_PROTO`.
pub fn decode_tuple(attribute: &Attribute<'_>, what: &'static str) -> Result<Tuple, DecodeError> {
    let mut src = None;
    let mut dst = None;
    let mut protocol = None;
    let mut src_port = None;
    let mut dst_port = None;
    let mut icmp_id = None;
    let mut icmp_type = None;
    let mut icmp_code = None;
    let mut seen_ip = None;
    let mut seen_proto = None;
    for part in attribute.nested() {
        let part = part?;
        match part.kind {
            CTA_TUPLE_IP => {
                set_once(&mut seen_ip, (), "CTA_TUPLE_IP")?;
                for address in part.nested() {
                    let address = address?;
                    match address.kind {
                        CTA_IP_V4_SRC => set_once(
                            &mut src,
                            IpAddr::V4(address.ipv4("CTA_IP_V4_SRC")?),
                            "tuple source",
                        )?,
                        CTA_IP_V4_DST => set_once(
                            &mut dst,
                            IpAddr::V4(address.ipv4("CTA_IP_V4_DST")?),
                            "tuple destination",
                        )?,
                        CTA_IP_V6_SRC => set_once(
                            &mut src,
                            IpAddr::V6(address.ipv6("CTA_IP_V6_SRC")?),
                            "tuple source",
                        )?,
                        CTA_IP_V6_DST => set_once(
                            &mut dst,
                            IpAddr::V6(address.ipv6("CTA_IP_V6_DST")?),
                            "tuple destination",
                        )?,
                        _ => {}
                    }
                }
            }
            CTA_TUPLE_PROTO => {
                set_once(&mut seen_proto, (), "CTA_TUPLE_PROTO")?;
                for field in part.nested() {
                    let field = field?;
                    match field.kind {
                        CTA_PROTO_NUM => {
                            set_once(&mut protocol, field.u8("CTA_PROTO_NUM")?, "CTA_PROTO_NUM")?
                        }
                        CTA_PROTO_SRC_PORT => set_once(
                            &mut src_port,
                            field.be16("CTA_PROTO_SRC_PORT")?,
                            "CTA_PROTO_SRC_PORT",
                        )?,
                        CTA_PROTO_DST_PORT => set_once(
                            &mut dst_port,
                            field.be16("CTA_PROTO_DST_PORT")?,
                            "CTA_PROTO_DST_PORT",
                        )?,
                        CTA_PROTO_ICMP_ID | CTA_PROTO_ICMPV6_ID => set_once(
                            &mut icmp_id,
                            field.be16("CTA_PROTO_ICMP_ID")?,
                            "CTA_PROTO_ICMP_ID",
                        )?,
                        CTA_PROTO_ICMP_TYPE | CTA_PROTO_ICMPV6_TYPE => set_once(
                            &mut icmp_type,
                            field.u8("CTA_PROTO_ICMP_TYPE")?,
                            "CTA_PROTO_ICMP_TYPE",
                        )?,
                        CTA_PROTO_ICMP_CODE | CTA_PROTO_ICMPV6_CODE => set_once(
                            &mut icmp_code,
                            field.u8("CTA_PROTO_ICMP_CODE")?,
                            "CTA_PROTO_ICMP_CODE",
                        )?,
                        _ => {}
                    }
                }
            }
            // CTA_TUPLE_ZONE (directional zones) is not part of the Connection shape.
            _ => {}
        }
    }
    let src = src.ok_or(DecodeError::Missing(what))?;
    let dst = dst.ok_or(DecodeError::Missing(what))?;
    if src.is_ipv4() != dst.is_ipv4() {
        return Err(DecodeError::Inconsistent(
            "tuple mixes IPv4 and IPv6 addresses",
        ));
    }
    Ok(Tuple {
        src,
        dst,
        protocol: protocol.ok_or(DecodeError::Missing("CTA_PROTO_NUM"))?,
        src_port,
        dst_port,
        icmp_id,
        icmp_type,
        icmp_code,
    })
}

fn decode_protoinfo(attribute: &Attribute<'_>) -> Result<Option<TcpState>, DecodeError> {
    let mut state = None;
    for info in attribute.nested() {
        let info = info?;
        if info.kind != CTA_PROTOINFO_TCP {
            continue; // DCCP, SCTP: no state name in the Connection shape yet.
        }
        for field in info.nested() {
            let field = field?;
            if field.kind == CTA_PROTOINFO_TCP_STATE {
                set_once(
                    &mut state,
                    TcpState::from_u8(field.u8("CTA_PROTOINFO_TCP_STATE")?)?,
                    "CTA_PROTOINFO_TCP_STATE",
                )?;
            }
        }
    }
    Ok(state)
}

fn decode_counters(attribute: &Attribute<'_>, what: &'static str) -> Result<Counters, DecodeError> {
    let mut packets = None;
    let mut bytes = None;
    for field in attribute.nested() {
        let field = field?;
        match field.kind {
            CTA_COUNTERS_PACKETS => set_once(
                &mut packets,
                field.be64("CTA_COUNTERS_PACKETS")?,
                "CTA_COUNTERS_PACKETS",
            )?,
            CTA_COUNTERS_BYTES => set_once(
                &mut bytes,
                field.be64("CTA_COUNTERS_BYTES")?,
                "CTA_COUNTERS_BYTES",
            )?,
            CTA_COUNTERS32_PACKETS => set_once(
                &mut packets,
                u64::from(field.be32("CTA_COUNTERS32_PACKETS")?),
                "CTA_COUNTERS_PACKETS",
            )?,
            CTA_COUNTERS32_BYTES => set_once(
                &mut bytes,
                u64::from(field.be32("CTA_COUNTERS32_BYTES")?),
                "CTA_COUNTERS_BYTES",
            )?,
            _ => {}
        }
    }
    Ok(Counters {
        packets: packets.ok_or(DecodeError::Missing(what))?,
        bytes: bytes.ok_or(DecodeError::Missing(what))?,
    })
}

/// Which families a dump covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpFamily {
    Ipv4,
    Ipv6,
    /// Both (`AF_UNSPEC`).
    Any,
}

impl DumpFamily {
    fn code(self) -> u8 {
        match self {
            Self::Ipv4 => AF_INET,
            Self::Ipv6 => AF_INET6,
            Self::Any => super::nlattr::AF_UNSPEC,
        }
    }
}

/// Encode the request for a full table dump (`IPCTNL_MSG_CT_GET` with `NLM_F_REQUEST | NLM_F_DUMP`).
pub fn encode_dump_request(family: DumpFamily, sequence: u32) -> Vec<u8> {
    RequestBuilder::new(
        nfnl_message_type(NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET),
        NLM_F_REQUEST | NLM_F_DUMP,
        sequence,
        NfGenMsg {
            family: family.code(),
            version: NFNETLINK_V0,
            resource_id: 0,
        },
    )
    .finish()
}

fn push_tuple(builder: &mut RequestBuilder, kind: u16, tuple: &Tuple) {
    builder.begin_nested(kind).begin_nested(CTA_TUPLE_IP);
    match (tuple.src, tuple.dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            builder.attribute(CTA_IP_V4_SRC, &src.octets());
            builder.attribute(CTA_IP_V4_DST, &dst.octets());
        }
        (src, dst) => {
            builder.attribute(CTA_IP_V6_SRC, &to_v6(src).octets());
            builder.attribute(CTA_IP_V6_DST, &to_v6(dst).octets());
        }
    }
    builder.end_nested().begin_nested(CTA_TUPLE_PROTO);
    builder.attribute(CTA_PROTO_NUM, &[tuple.protocol]);
    let icmpv6 = tuple.protocol == IPPROTO_ICMPV6;
    if let Some(port) = tuple.src_port {
        builder.attribute(CTA_PROTO_SRC_PORT, &port.to_be_bytes());
    }
    if let Some(port) = tuple.dst_port {
        builder.attribute(CTA_PROTO_DST_PORT, &port.to_be_bytes());
    }
    if let Some(id) = tuple.icmp_id {
        builder.attribute(
            if icmpv6 {
                CTA_PROTO_ICMPV6_ID
            } else {
                CTA_PROTO_ICMP_ID
            },
            &id.to_be_bytes(),
        );
    }
    if let Some(icmp_type) = tuple.icmp_type {
        builder.attribute(
            if icmpv6 {
                CTA_PROTO_ICMPV6_TYPE
            } else {
                CTA_PROTO_ICMP_TYPE
            },
            &[icmp_type],
        );
    }
    if let Some(code) = tuple.icmp_code {
        builder.attribute(
            if icmpv6 {
                CTA_PROTO_ICMPV6_CODE
            } else {
                CTA_PROTO_ICMP_CODE
            },
            &[code],
        );
    }
    builder.end_nested().end_nested();
}

fn to_v6(address: IpAddr) -> std::net::Ipv6Addr {
    match address {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// Encode a request deleting the entry whose original tuple is `original` (in `zone`, default 0), with
/// `NLM_F_ACK` so the caller learns `ENOENT` when the entry was already gone.
pub fn encode_delete_request(original: &Tuple, zone: Option<u16>, sequence: u32) -> Vec<u8> {
    let family = if original.src.is_ipv4() && original.dst.is_ipv4() {
        AF_INET
    } else {
        AF_INET6
    };
    let mut builder = RequestBuilder::new(
        nfnl_message_type(NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_DELETE),
        NLM_F_REQUEST | NLM_F_ACK,
        sequence,
        NfGenMsg {
            family,
            version: NFNETLINK_V0,
            resource_id: 0,
        },
    );
    push_tuple(&mut builder, CTA_TUPLE_ORIG, original);
    if let Some(zone) = zone {
        builder.attribute(CTA_ZONE, &zone.to_be_bytes());
    }
    builder.finish()
}

/// The table's global statistics (`IPCTNL_MSG_CT_GET_STATS`): what the usage alarm and `max` of
/// `/connections` need, without dumping a single entry or reading `/proc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableStats {
    /// Entries in the table (`nf_conntrack_count`).
    pub entries: u32,
    /// `nf_conntrack_max`; absent from kernels before 4.19.
    pub max_entries: Option<u32>,
}

/// Encode the request for the table's global statistics (answered by one message, see [`stats_messages`]).
pub fn encode_stats_request(sequence: u32) -> Vec<u8> {
    RequestBuilder::new(
        nfnl_message_type(NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET_STATS),
        NLM_F_REQUEST,
        sequence,
        NfGenMsg {
            family: super::nlattr::AF_UNSPEC,
            version: NFNETLINK_V0,
            resource_id: 0,
        },
    )
    .finish()
}

/// Walk the answer to [`encode_stats_request`].
pub fn stats_messages(buffer: &[u8]) -> Decoded<'_, TableStats> {
    Decoded::new(buffer, decode_stats_message)
}

/// Decode an `IPCTNL_MSG_CT_GET_STATS` answer.
pub fn decode_stats_message(message: &NetlinkMessage<'_>) -> Result<TableStats, DecodeError> {
    super::nlattr::expect_type(
        message,
        nfnl_message_type(NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET_STATS),
        "IPCTNL_MSG_CT_GET_STATS",
    )?;
    let (_, attributes) = split_nfgenmsg(message.payload)?;
    let mut entries = None;
    let mut max_entries = None;
    for attribute in Attributes::new(attributes) {
        let attribute = attribute?;
        match attribute.kind {
            CTA_STATS_GLOBAL_ENTRIES => set_once(
                &mut entries,
                attribute.be32("CTA_STATS_GLOBAL_ENTRIES")?,
                "CTA_STATS_GLOBAL_ENTRIES",
            )?,
            CTA_STATS_GLOBAL_MAX_ENTRIES => set_once(
                &mut max_entries,
                attribute.be32("CTA_STATS_GLOBAL_MAX_ENTRIES")?,
                "CTA_STATS_GLOBAL_MAX_ENTRIES",
            )?,
            _ => {}
        }
    }
    Ok(TableStats {
        entries: entries.ok_or(DecodeError::Missing("CTA_STATS_GLOBAL_ENTRIES"))?,
        max_entries,
    })
}

/// Encode a request creating `entry` in the table (`IPCTNL_MSG_CT_NEW` with `NLM_F_CREATE | NLM_F_EXCL`
/// and `NLM_F_ACK`): what `conntrack -I` sends. Test harnesses fill a namespace's table with it far
/// faster than one `conntrack -I` process per entry. The kernel takes the tuples, the `SEEN_REPLY` and
/// `ASSURED` status bits, the timeout (mandatory: 0 when `entry.timeout` is absent), the mark, the zone
/// and the TCP state (`CONFIRMED` is always sent); it sets the NAT bits and counters itself, so those are
/// not sent.
pub fn encode_create_request(entry: &ConntrackEntry, sequence: u32) -> Vec<u8> {
    let mut builder = RequestBuilder::new(
        nfnl_message_type(NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_NEW),
        NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
        sequence,
        NfGenMsg {
            family: entry.family,
            version: NFNETLINK_V0,
            resource_id: 0,
        },
    );
    push_tuple(&mut builder, CTA_TUPLE_ORIG, &entry.original);
    push_tuple(&mut builder, CTA_TUPLE_REPLY, &entry.reply);
    // The kernel marks a created entry CONFIRMED before applying CTA_STATUS and answers EBUSY to a status
    // that would clear it (ctnetlink_change_status), so the bit is always sent, as libnetfilter_conntrack does.
    let status = entry.status.0 & (Status::SEEN_REPLY | Status::ASSURED) | Status::CONFIRMED;
    builder.attribute(CTA_STATUS, &status.to_be_bytes());
    builder.attribute(CTA_TIMEOUT, &entry.timeout.unwrap_or(0).to_be_bytes());
    if let Some(mark) = entry.mark {
        builder.attribute(CTA_MARK, &mark.to_be_bytes());
    }
    if let Some(zone) = entry.zone {
        builder.attribute(CTA_ZONE, &zone.to_be_bytes());
    }
    if let Some(state) = entry.tcp_state {
        builder
            .begin_nested(CTA_PROTOINFO)
            .begin_nested(CTA_PROTOINFO_TCP);
        builder.attribute(CTA_PROTOINFO_TCP_STATE, &[state.to_u8()]);
        builder.end_nested().end_nested();
    }
    builder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netfilter::nlattr::tests::{attr, control, message, nest};
    use crate::netfilter::nlattr::{NetlinkItem, NetlinkMessages, NLMSG_DONE, NLM_F_MULTI};
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn ipv4_tuple(
        kind: u16,
        src: [u8; 4],
        dst: [u8; 4],
        protocol: u8,
        sport: u16,
        dport: u16,
    ) -> Vec<u8> {
        nest(
            kind,
            &[
                nest(
                    CTA_TUPLE_IP,
                    &[attr(CTA_IP_V4_SRC, &src), attr(CTA_IP_V4_DST, &dst)],
                ),
                nest(
                    CTA_TUPLE_PROTO,
                    &[
                        attr(CTA_PROTO_NUM, &[protocol]),
                        attr(CTA_PROTO_SRC_PORT, &sport.to_be_bytes()),
                        attr(CTA_PROTO_DST_PORT, &dport.to_be_bytes()),
                    ],
                ),
            ],
        )
    }

    fn counters(kind: u16, packets: u64, bytes: u64) -> Vec<u8> {
        nest(
            kind,
            &[
                attr(CTA_COUNTERS_PACKETS, &packets.to_be_bytes()),
                attr(CTA_COUNTERS_BYTES, &bytes.to_be_bytes()),
            ],
        )
    }

    /// A masqueraded TCP connection from a LAN host, in the attribute order `ctnetlink_fill_info` uses.
    fn tcp_established_nat() -> Vec<u8> {
        message(
            nfnl_message_type(NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_NEW),
            NLM_F_MULTI,
            AF_INET,
            0,
            &[
                ipv4_tuple(
                    CTA_TUPLE_ORIG,
                    [192, 168, 1, 10],
                    [93, 184, 216, 34],
                    IPPROTO_TCP,
                    50000,
                    443,
                ),
                ipv4_tuple(
                    CTA_TUPLE_REPLY,
                    [93, 184, 216, 34],
                    [203, 0, 113, 5],
                    IPPROTO_TCP,
                    443,
                    61000,
                ),
                attr(
                    CTA_STATUS,
                    &(Status::ASSURED
                        | Status::SEEN_REPLY
                        | Status::CONFIRMED
                        | Status::SRC_NAT
                        | Status::SRC_NAT_DONE)
                        .to_be_bytes(),
                ),
                attr(CTA_TIMEOUT, &431_999u32.to_be_bytes()),
                attr(CTA_MARK, &0x42u32.to_be_bytes()),
                counters(CTA_COUNTERS_ORIG, 12, 1500),
                counters(CTA_COUNTERS_REPLY, 10, 9000),
                nest(
                    CTA_PROTOINFO,
                    &[nest(
                        CTA_PROTOINFO_TCP,
                        &[
                            attr(CTA_PROTOINFO_TCP_STATE, &[3]),
                            attr(2, &[7]),
                            attr(3, &[7]),
                        ],
                    )],
                ),
                attr(11, &1u32.to_be_bytes()), // CTA_USE: ignored
                attr(CTA_ID, &0xdead_beefu32.to_be_bytes()),
                attr(CTA_ZONE, &3u16.to_be_bytes()),
            ],
        )
    }

    fn udp_ipv6() -> Vec<u8> {
        let a: Ipv6Addr = "2001:db8::10".parse().unwrap();
        let b: Ipv6Addr = "2001:db8:1::53".parse().unwrap();
        let tuple = |kind, s: Ipv6Addr, d: Ipv6Addr, sp: u16, dp: u16| {
            nest(
                kind,
                &[
                    nest(
                        CTA_TUPLE_IP,
                        &[
                            attr(CTA_IP_V6_SRC, &s.octets()),
                            attr(CTA_IP_V6_DST, &d.octets()),
                        ],
                    ),
                    nest(
                        CTA_TUPLE_PROTO,
                        &[
                            attr(CTA_PROTO_NUM, &[IPPROTO_UDP]),
                            attr(CTA_PROTO_SRC_PORT, &sp.to_be_bytes()),
                            attr(CTA_PROTO_DST_PORT, &dp.to_be_bytes()),
                        ],
                    ),
                ],
            )
        };
        message(
            nfnl_message_type(NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_DELETE),
            0,
            AF_INET6,
            0,
            &[
                tuple(CTA_TUPLE_ORIG, a, b, 40000, 53),
                tuple(CTA_TUPLE_REPLY, b, a, 53, 40000),
                attr(CTA_STATUS, &(Status::CONFIRMED).to_be_bytes()),
                attr(CTA_ID, &9u32.to_be_bytes()),
            ],
        )
    }

    #[test]
    fn tcp_established_ipv4_with_counters_and_nat() {
        let bytes = tcp_established_nat();
        let items: Vec<_> = messages(&bytes).collect::<Result<_, _>>().unwrap();
        let [Item::Data(ConntrackEvent { kind, entry, .. })] = items.as_slice() else {
            panic!("{items:?}")
        };
        assert_eq!(*kind, ConntrackEventKind::New);
        assert_eq!(entry.family, AF_INET);
        assert_eq!(entry.protocol, IPPROTO_TCP);
        assert_eq!(
            entry.original.src,
            IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10))
        );
        assert_eq!(entry.original.dst_port, Some(443));
        assert_eq!(entry.reply.dst_port, Some(61000));
        assert_eq!(entry.state_name(), Some("ESTABLISHED"));
        assert_eq!(entry.timeout, Some(431_999));
        assert_eq!(entry.mark, Some(0x42));
        assert_eq!(entry.zone, Some(3));
        assert_eq!(entry.id, Some(0xdead_beef));
        assert!(entry.status.assured() && entry.status.seen_reply() && entry.status.src_nat());
        assert!(!entry.status.dst_nat());
        assert_eq!(
            entry.original_counters,
            Some(Counters {
                packets: 12,
                bytes: 1500
            })
        );
        assert_eq!(
            entry.reply_counters,
            Some(Counters {
                packets: 10,
                bytes: 9000
            })
        );
        assert_eq!(
            entry.nat_source(),
            Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5)))
        );
        assert_eq!(entry.nat_destination(), None);
    }

    #[test]
    fn udp_ipv6_destroy_event_without_counters() {
        let bytes = udp_ipv6();
        let mut walk = messages(&bytes);
        let Some(Ok(Item::Data(ConntrackEvent { kind, entry, .. }))) = walk.next() else {
            panic!()
        };
        assert_eq!(kind, ConntrackEventKind::Delete);
        assert_eq!(entry.family, AF_INET6);
        assert_eq!(entry.protocol, IPPROTO_UDP);
        assert_eq!(entry.original.dst_port, Some(53));
        assert_eq!(entry.tcp_state, None);
        assert_eq!(entry.timeout, None);
        assert_eq!(entry.original_counters, None);
        assert_eq!(entry.nat_source(), None);
        assert_eq!(entry.nat_destination(), None);
        assert!(!entry.status.assured());
        assert_eq!(walk.next(), None);
    }

    #[test]
    fn dump_with_several_entries_and_done() {
        let bytes = [
            tcp_established_nat(),
            udp_ipv6(),
            control(NLMSG_DONE, NLM_F_MULTI, 7, 0),
        ]
        .concat();
        let items: Vec<_> = messages(&bytes).collect::<Result<_, _>>().unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[2], Item::Done { interrupted: false });
    }

    #[test]
    fn a_bad_entry_is_reported_and_the_walk_goes_on() {
        let mut bad = tcp_established_nat();
        bad[16] = 7; // nfgenmsg family
        let bytes = [bad, udp_ipv6()].concat();
        let items: Vec<_> = messages(&bytes).collect();
        assert_eq!(
            items[0],
            Err(DecodeError::InvalidValue {
                what: "nfgenmsg family",
                value: 7
            })
        );
        assert!(matches!(items[1], Ok(Item::Data(_))));
    }

    #[test]
    fn creation_events_are_told_from_updates_and_dump_entries() {
        let event = |flags| {
            message(
                nfnl_message_type(NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_NEW),
                flags,
                AF_INET,
                0,
                &[
                    ipv4_tuple(
                        CTA_TUPLE_ORIG,
                        [10, 0, 0, 1],
                        [10, 0, 0, 2],
                        IPPROTO_UDP,
                        1,
                        2,
                    ),
                    ipv4_tuple(
                        CTA_TUPLE_REPLY,
                        [10, 0, 0, 2],
                        [10, 0, 0, 1],
                        IPPROTO_UDP,
                        2,
                        1,
                    ),
                ],
            )
        };
        let created = |bytes: Vec<u8>| match messages(&bytes).next() {
            Some(Ok(Item::Data(event))) => event.created,
            other => panic!("{other:?}"),
        };
        assert!(created(event(NLM_F_CREATE | 0x200))); // NLM_F_CREATE | NLM_F_EXCL
        assert!(!created(event(0)));
        assert!(!created(tcp_established_nat()));
    }

    #[test]
    fn missing_reply_tuple_is_an_error() {
        let bytes = message(
            nfnl_message_type(NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_NEW),
            0,
            AF_INET,
            0,
            &[ipv4_tuple(
                CTA_TUPLE_ORIG,
                [1, 1, 1, 1],
                [2, 2, 2, 2],
                IPPROTO_UDP,
                1,
                2,
            )],
        );
        let error = messages(&bytes).next().unwrap().unwrap_err();
        assert_eq!(error, DecodeError::Missing("CTA_TUPLE_REPLY"));
    }

    #[test]
    fn dump_request_layout() {
        let bytes = encode_dump_request(DumpFamily::Ipv6, 42);
        assert_eq!(bytes.len(), 20);
        let message = match NetlinkMessages::new(&bytes).next().unwrap().unwrap() {
            NetlinkItem::Message(message) => message,
            other => panic!("{other:?}"),
        };
        assert_eq!(message.header.message_type, 0x0101);
        assert_eq!(message.header.flags, NLM_F_REQUEST | NLM_F_DUMP);
        assert_eq!(message.header.sequence, 42);
        assert_eq!(message.payload, &[AF_INET6, 0, 0, 0]);
    }

    fn decode_delete_request(bytes: &[u8]) -> (NetlinkMessage<'_>, Tuple, Option<u16>) {
        let Some(Ok(NetlinkItem::Message(message))) = NetlinkMessages::new(bytes).next() else {
            panic!()
        };
        let (_, attributes) = split_nfgenmsg(message.payload).unwrap();
        let mut tuple = None;
        let mut zone = None;
        for attribute in Attributes::new(attributes) {
            let attribute = attribute.unwrap();
            match attribute.kind {
                CTA_TUPLE_ORIG => {
                    assert!(attribute.nested);
                    tuple = Some(decode_tuple(&attribute, "CTA_TUPLE_ORIG").unwrap());
                }
                CTA_ZONE => zone = Some(attribute.be16("CTA_ZONE").unwrap()),
                other => panic!("unexpected attribute {other}"),
            }
        }
        (message, tuple.unwrap(), zone)
    }

    #[test]
    fn delete_request_round_trips() {
        let tuple = Tuple::with_ports(
            IPPROTO_TCP,
            "10.0.0.1".parse().unwrap(),
            1234,
            "10.0.0.2".parse().unwrap(),
            80,
        );
        let bytes = encode_delete_request(&tuple, Some(5), 9);
        let (message, decoded, zone) = decode_delete_request(&bytes);
        assert_eq!(message.header.message_type, 0x0102);
        assert_eq!(message.header.flags, NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(decoded, tuple);
        assert_eq!(zone, Some(5));
    }

    #[test]
    fn stats_request_and_answer() {
        let bytes = encode_stats_request(7);
        let Some(Ok(NetlinkItem::Message(message))) = NetlinkMessages::new(&bytes).next() else {
            panic!()
        };
        assert_eq!(message.header.message_type, 0x0105);
        assert_eq!(message.header.flags, NLM_F_REQUEST);
        assert_eq!(message.payload, &[0, 0, 0, 0]);
        let answer = message_bytes(
            nfnl_message_type(NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET_STATS),
            &[
                attr(CTA_STATS_GLOBAL_ENTRIES, &1234u32.to_be_bytes()),
                attr(CTA_STATS_GLOBAL_MAX_ENTRIES, &262_144u32.to_be_bytes()),
            ],
        );
        let items: Vec<_> = stats_messages(&answer).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            items,
            [Item::Data(TableStats {
                entries: 1234,
                max_entries: Some(262_144)
            })]
        );
        let old_kernel = message_bytes(
            nfnl_message_type(NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET_STATS),
            &[attr(CTA_STATS_GLOBAL_ENTRIES, &5u32.to_be_bytes())],
        );
        let items: Vec<_> = stats_messages(&old_kernel)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            items,
            [Item::Data(TableStats {
                entries: 5,
                max_entries: None
            })]
        );
        let empty = message_bytes(
            nfnl_message_type(NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET_STATS),
            &[],
        );
        assert!(stats_messages(&empty).next().unwrap().is_err());
    }

    fn message_bytes(message_type: u16, attributes: &[Vec<u8>]) -> Vec<u8> {
        message(message_type, 0, 0, 0, attributes)
    }

    #[test]
    fn create_request_round_trips_through_the_entry_decoder() {
        let bytes = tcp_established_nat();
        let Some(Ok(Item::Data(event))) = messages(&bytes).next() else {
            panic!()
        };
        let mut entry = event.entry;
        let request = encode_create_request(&entry, 11);
        let Some(Ok(Item::Data(decoded))) = messages(&request).next() else {
            panic!()
        };
        assert!(decoded.created);
        let Some(Ok(NetlinkItem::Message(header))) = NetlinkMessages::new(&request).next() else {
            panic!()
        };
        assert_eq!(
            header.header.flags,
            NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK
        );
        // What the kernel sets itself is not sent.
        entry.status = Status(Status::ASSURED | Status::SEEN_REPLY | Status::CONFIRMED);
        entry.original_counters = None;
        entry.reply_counters = None;
        entry.id = None;
        assert_eq!(decoded.entry, entry);
    }

    /// A real dump from Linux 6.18 (see testdata/README.md).
    #[test]
    #[cfg(target_endian = "little")]
    fn kernel_dump_decodes() {
        let bytes = include_bytes!("testdata/conntrack-dump-linux-6.18.bin");
        let items: Vec<_> = messages(bytes).collect::<Result<_, _>>().unwrap();
        assert_eq!(items.len(), 4);
        assert_eq!(items[3], Item::Done { interrupted: false });
        let entries: Vec<ConntrackEntry> = items
            .iter()
            .filter_map(|item| match item {
                Item::Data(event) => Some(event.entry),
                _ => None,
            })
            .collect();
        let udp = entries
            .iter()
            .find(|e| e.original.dst_port == Some(9999))
            .unwrap();
        assert_eq!((udp.family, udp.protocol), (AF_INET, IPPROTO_UDP));
        assert_eq!(udp.original.src_port, Some(40001));
        assert_eq!(
            udp.original_counters,
            Some(Counters {
                packets: 1,
                bytes: 33
            })
        );
        assert!(!udp.status.seen_reply());
        let udp6 = entries.iter().find(|e| e.family == AF_INET6).unwrap();
        assert_eq!(udp6.original.dst, IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(udp6.original.dst_port, Some(9998));
        let tcp = entries.iter().find(|e| e.protocol == IPPROTO_TCP).unwrap();
        assert_eq!(tcp.state_name(), Some("ESTABLISHED"));
        assert!(tcp.status.assured() && tcp.status.seen_reply());
        assert_eq!(tcp.timeout, Some(431_999));
        assert_eq!(tcp.mark, Some(0));
        assert_eq!(tcp.zone, None);
        assert!(tcp.id.is_some());
        // 100 bytes of data one way, 300 the other, plus headers of the handshake and ACKs.
        assert_eq!(
            tcp.original_counters,
            Some(Counters {
                packets: 4,
                bytes: 316
            })
        );
        assert_eq!(
            tcp.reply_counters,
            Some(Counters {
                packets: 3,
                bytes: 464
            })
        );
        assert_eq!((tcp.nat_source(), tcp.nat_destination()), (None, None));
    }

    /// A real dump with source and destination NAT, a mark, a zone and an ICMP entry (testdata/README.md).
    #[test]
    #[cfg(target_endian = "little")]
    fn kernel_dump_with_nat_mark_zone_and_icmp_decodes() {
        let bytes = include_bytes!("testdata/conntrack-dump-nat-zone-linux-6.18.bin");
        let items: Vec<_> = messages(bytes).collect::<Result<_, _>>().unwrap();
        let [Item::Data(icmp), Item::Data(tcp), Item::Done { interrupted: false }] =
            items.as_slice()
        else {
            panic!("{items:?}")
        };
        let icmp = icmp.entry;
        assert_eq!(icmp.protocol, IPPROTO_ICMP);
        assert_eq!(icmp.zone, Some(3));
        assert_eq!(icmp.mark, Some(0x42));
        assert_eq!(
            (
                icmp.original.icmp_id,
                icmp.original.icmp_type,
                icmp.original.icmp_code
            ),
            (Some(1), Some(8), Some(0))
        );
        assert_eq!(icmp.reply.icmp_type, Some(0)); // echo reply expected back
        assert_eq!((icmp.original.src_port, icmp.nat_source()), (None, None));
        let tcp = tcp.entry;
        assert_eq!(tcp.original.dst, IpAddr::V4(Ipv4Addr::new(10, 9, 9, 2)));
        assert_eq!(tcp.original.dst_port, Some(81));
        assert_eq!(tcp.reply.src_port, Some(8080));
        assert!(tcp.status.src_nat() && tcp.status.dst_nat() && tcp.status.assured());
        assert_eq!(
            tcp.nat_source(),
            Some(IpAddr::V4(Ipv4Addr::new(10, 9, 9, 3)))
        );
        assert_eq!(
            tcp.nat_destination(),
            Some(IpAddr::V4(Ipv4Addr::new(10, 9, 9, 1)))
        );
        assert_eq!(tcp.mark, Some(0x42));
        assert_eq!(tcp.zone, None);
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn kernel_enoent_for_a_gone_entry() {
        let bytes = include_bytes!("testdata/conntrack-delete-enoent-linux-6.18.bin");
        let items: Vec<_> = messages(bytes).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            items,
            vec![Item::Error {
                sequence: 300,
                errno: 2
            }]
        );
    }

    fn arbitrary_tuple() -> impl Strategy<Value = Tuple> {
        let v4 = (any::<[u8; 4]>(), any::<[u8; 4]>())
            .prop_map(|(a, b)| (IpAddr::from(a), IpAddr::from(b)));
        let v6 = (any::<[u8; 16]>(), any::<[u8; 16]>())
            .prop_map(|(a, b)| (IpAddr::from(a), IpAddr::from(b)));
        let addresses = prop_oneof![v4, v6];
        let ports = (
            any::<u8>().prop_filter("not icmp", |p| *p != IPPROTO_ICMP && *p != IPPROTO_ICMPV6),
            any::<u16>(),
            any::<u16>(),
        )
            .prop_map(|(protocol, s, d)| (protocol, Some(s), Some(d), None, None, None));
        let icmp = (
            prop_oneof![Just(IPPROTO_ICMP), Just(IPPROTO_ICMPV6)],
            any::<u16>(),
            any::<u8>(),
            any::<u8>(),
        )
            .prop_map(|(protocol, id, t, c)| (protocol, None, None, Some(id), Some(t), Some(c)));
        (addresses, prop_oneof![ports, icmp]).prop_map(
            |((src, dst), (protocol, src_port, dst_port, icmp_id, icmp_type, icmp_code))| Tuple {
                src,
                dst,
                protocol,
                src_port,
                dst_port,
                icmp_id,
                icmp_type,
                icmp_code,
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            for item in messages(&bytes) { let _ = item; }
            let _ = decode_entry(&bytes);
        }

        #[test]
        fn mutated_kernel_dumps_never_panic(position in 0usize..1400, value in any::<u8>()) {
            let mut bytes = [
                &include_bytes!("testdata/conntrack-dump-linux-6.18.bin")[..],
                &include_bytes!("testdata/conntrack-dump-nat-zone-linux-6.18.bin")[..],
            ]
            .concat();
            if let Some(byte) = bytes.get_mut(position) { *byte = value; }
            for item in messages(&bytes) { let _ = item; }
        }

        #[test]
        fn mutated_entries_never_panic(position in 0usize..400, value in any::<u8>()) {
            let mut bytes = [tcp_established_nat(), udp_ipv6()].concat();
            if let Some(byte) = bytes.get_mut(position) { *byte = value; }
            for item in messages(&bytes) { let _ = item; }
        }

        #[test]
        fn truncated_entries_are_errors(cut in 1usize..400) {
            let bytes = tcp_established_nat();
            let full = decode_entry(&bytes[16..]).unwrap();
            let cut = cut.min(bytes.len() - 17);
            let truncated = &bytes[..bytes.len() - cut];
            prop_assert!(messages(truncated).any(|item| item.is_err()));
            // The payload alone cut short: an error, or (cut at an attribute boundary, which netlink
            // cannot tell) an entry missing what was cut, never the full entry nor a panic.
            let payload = &bytes[16..bytes.len() - cut];
            prop_assert_ne!(decode_entry(payload).ok(), Some(full));
        }

        #[test]
        fn arbitrary_stats_answers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            for item in stats_messages(&bytes) {
                let _ = item;
            }
        }

        #[test]
        fn create_request_round_trips_any_entry(
            v6 in any::<bool>(),
            addresses in any::<[u32; 4]>(),
            ports in any::<[u16; 4]>(),
            udp in any::<bool>(),
            state in 0u8..10,
            timeout in any::<u32>(),
            mark in proptest::option::of(any::<u32>()),
            zone in proptest::option::of(any::<u16>()),
            assured in any::<bool>(),
            sequence in any::<u32>(),
        ) {
            let address = |n: u32| -> IpAddr {
                if v6 {
                    IpAddr::V6(Ipv6Addr::from(u128::from(n) | 0x2001_0db8 << 96))
                } else {
                    IpAddr::V4(Ipv4Addr::from(n))
                }
            };
            let protocol = if udp { IPPROTO_UDP } else { IPPROTO_TCP };
            let entry = ConntrackEntry {
                family: if v6 { AF_INET6 } else { AF_INET },
                protocol,
                original: Tuple::with_ports(protocol, address(addresses[0]), ports[0], address(addresses[1]), ports[1]),
                reply: Tuple::with_ports(protocol, address(addresses[2]), ports[2], address(addresses[3]), ports[3]),
                tcp_state: (!udp).then(|| TcpState::from_u8(state)).transpose().unwrap(),
                timeout: Some(timeout),
                mark,
                zone,
                status: Status(Status::CONFIRMED | if assured { Status::ASSURED | Status::SEEN_REPLY } else { 0 }),
                original_counters: None,
                reply_counters: None,
                id: None,
            };
            let request = encode_create_request(&entry, sequence);
            let Some(Ok(Item::Data(decoded))) = messages(&request).next() else {
                panic!("undecodable create request")
            };
            prop_assert_eq!(decoded.entry, entry);
        }

        #[test]
        fn delete_request_round_trips_any_tuple(tuple in arbitrary_tuple(), zone in proptest::option::of(any::<u16>()), sequence in any::<u32>()) {
            let bytes = encode_delete_request(&tuple, zone, sequence);
            let (message, decoded, decoded_zone) = decode_delete_request(&bytes);
            prop_assert_eq!(message.header.sequence, sequence);
            let family = if tuple.src.is_ipv4() { AF_INET } else { AF_INET6 };
            prop_assert_eq!(message.payload.first().copied(), Some(family));
            prop_assert_eq!(decoded, tuple);
            prop_assert_eq!(decoded_zone, zone);
        }
    }
}
