//! Neighbor Discovery messages of routers (RFC 4861 §4.1, §4.2) and the options a router advertisement
//! carries: source link-layer address, prefix information, MTU (RFC 4861 §4.6) and the DNS options
//! RDNSS and DNSSL (RFC 8106).
//!
//! Everything here starts at the ICMPv6 header: the caller reads from and writes to a raw ICMPv6 socket,
//! where the kernel fills in and verifies the checksum (RFC 3542 §3.1), so [`RouterAdvertisement::encode`]
//! leaves it zero and the decoders do not look at it. The decoders are strict where RFC 4861 §6.1 tells
//! a receiver to discard (a wrong code, a short message, an option of length 0 or running past the end)
//! and where a malformed option would otherwise be misread (a PIO of the wrong length, a label over 63
//! octets); an option type they do not know is kept as [`NdOption::Unknown`], as §4.6 asks.

use std::net::Ipv6Addr;

/// ICMPv6 type of a Router Solicitation.
pub const ROUTER_SOLICITATION: u8 = 133;
/// ICMPv6 type of a Router Advertisement.
pub const ROUTER_ADVERTISEMENT: u8 = 134;
/// Octets of the RS header (type, code, checksum, reserved).
pub const RS_HEADER_LEN: usize = 8;
/// Octets of the RA header (type, code, checksum, hop limit, flags, lifetime, reachable, retrans).
pub const RA_HEADER_LEN: usize = 16;

const OPT_SOURCE_LINK_LAYER: u8 = 1;
const OPT_PREFIX_INFORMATION: u8 = 3;
const OPT_MTU: u8 = 5;
const OPT_RDNSS: u8 = 25;
const OPT_DNSSL: u8 = 31;

const FLAG_MANAGED: u8 = 0x80;
const FLAG_OTHER: u8 = 0x40;
const PIO_ON_LINK: u8 = 0x80;
const PIO_AUTONOMOUS: u8 = 0x40;

/// Longest label of a domain name (RFC 1035 §2.3.4).
const MAX_LABEL: usize = 63;
/// Longest domain name in wire form, length octets and the root label included (RFC 1035 §2.3.4).
const MAX_WIRE_NAME: usize = 255;
/// An option's length field counts units of 8 octets, at most 255 of them.
const MAX_OPTION_LEN: usize = 255 * 8;

/// What was wrong with a message, precise enough to log and to test against.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NdpError {
    #[error("ND message truncated: need {need} octets, have {have}")]
    Truncated { need: usize, have: usize },
    #[error("ICMPv6 type {found}, expected {expected}")]
    WrongType { found: u8, expected: u8 },
    /// RFC 4861 §6.1.1/§6.1.2: ICMP code is 0.
    #[error("ICMPv6 code {0}, must be 0")]
    BadCode(u8),
    /// RFC 4861 §6.1: all included options have a length greater than zero.
    #[error("ND option type {0} has length 0")]
    ZeroLengthOption(u8),
    #[error("ND option type {kind} declares {declared} octets, only {available} remain")]
    OptionTruncated {
        kind: u8,
        declared: usize,
        available: usize,
    },
    /// An option whose length its definition forbids (PIO not 4 units, MTU not 1, RDNSS even...).
    #[error("ND option type {kind} has invalid length {units} (units of 8 octets)")]
    BadOptionLength { kind: u8, units: u8 },
    /// A PIO prefix length over 128.
    #[error("prefix length {0} over 128")]
    BadPrefixLength(u8),
    /// A DNSSL domain name that is not a well-formed uncompressed name of printable labels.
    #[error("DNSSL domain name malformed: {0}")]
    BadDomainName(String),
    /// An option too large for its 8-bit length field (encoding only).
    #[error("ND option type {kind} of {len} octets exceeds {MAX_OPTION_LEN}")]
    OptionTooLong { kind: u8, len: usize },
}

/// Prefix Information (RFC 4861 §4.6.2): a prefix on the link and, with `autonomous`, one hosts form
/// addresses in (RFC 4862).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixInformation {
    pub prefix: Ipv6Addr,
    pub prefix_length: u8,
    pub on_link: bool,
    pub autonomous: bool,
    pub valid_lifetime: u32,
    pub preferred_lifetime: u32,
}

/// One ND option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NdOption {
    /// The sender's link-layer address; the octets after type and length, padding included.
    SourceLinkLayerAddress(Vec<u8>),
    PrefixInformation(PrefixInformation),
    Mtu(u32),
    /// Recursive DNS servers (RFC 8106 §5.1); at least one.
    Rdnss {
        lifetime: u32,
        servers: Vec<Ipv6Addr>,
    },
    /// DNS search list (RFC 8106 §5.2): names without the trailing dot; at least one.
    Dnssl {
        lifetime: u32,
        domains: Vec<String>,
    },
    /// An option this codec does not interpret: its type and the octets after type and length.
    Unknown {
        kind: u8,
        data: Vec<u8>,
    },
}

/// A Router Solicitation (RFC 4861 §4.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouterSolicitation {
    pub options: Vec<NdOption>,
}

/// A Router Advertisement (RFC 4861 §4.2). The default router preference (RFC 4191) is left medium.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouterAdvertisement {
    pub cur_hop_limit: u8,
    pub managed: bool,
    pub other_config: bool,
    /// Seconds; 0 says "not a default router" (the final advertisement on stop).
    pub router_lifetime: u16,
    pub reachable_time: u32,
    pub retrans_timer: u32,
    pub options: Vec<NdOption>,
}

fn need(buf: &[u8], n: usize) -> Result<(), NdpError> {
    if buf.len() < n {
        return Err(NdpError::Truncated {
            need: n,
            have: buf.len(),
        });
    }
    Ok(())
}

fn be32(b: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    if let Some(src) = b.get(at..at + 4) {
        word.copy_from_slice(src);
    }
    u32::from_be_bytes(word)
}

fn addr(b: &[u8], at: usize) -> Ipv6Addr {
    let mut octets = [0u8; 16];
    if let Some(src) = b.get(at..at + 16) {
        octets.copy_from_slice(src);
    }
    Ipv6Addr::from(octets)
}

fn check_header(buf: &[u8], expected: u8, len: usize) -> Result<(), NdpError> {
    need(buf, len)?;
    if buf[0] != expected {
        return Err(NdpError::WrongType {
            found: buf[0],
            expected,
        });
    }
    if buf[1] != 0 {
        return Err(NdpError::BadCode(buf[1]));
    }
    Ok(())
}

impl RouterSolicitation {
    /// Decodes an RS from its ICMPv6 header on; the checks of RFC 4861 §6.1.1 that the bytes alone
    /// allow (the hop limit and the source address are the socket's to check).
    pub fn decode(buf: &[u8]) -> Result<RouterSolicitation, NdpError> {
        check_header(buf, ROUTER_SOLICITATION, RS_HEADER_LEN)?;
        Ok(RouterSolicitation {
            options: decode_options(&buf[RS_HEADER_LEN..])?,
        })
    }

    /// The RS as sent (checksum 0: the kernel fills it in).
    pub fn encode(&self) -> Result<Vec<u8>, NdpError> {
        let mut out = vec![ROUTER_SOLICITATION, 0, 0, 0, 0, 0, 0, 0];
        encode_options(&self.options, &mut out)?;
        Ok(out)
    }

    /// The link-layer address the soliciting host gave, if any.
    pub fn source_link_layer_address(&self) -> Option<&[u8]> {
        self.options.iter().find_map(|o| match o {
            NdOption::SourceLinkLayerAddress(a) => Some(a.as_slice()),
            _ => None,
        })
    }
}

impl RouterAdvertisement {
    pub fn decode(buf: &[u8]) -> Result<RouterAdvertisement, NdpError> {
        check_header(buf, ROUTER_ADVERTISEMENT, RA_HEADER_LEN)?;
        Ok(RouterAdvertisement {
            cur_hop_limit: buf[4],
            managed: buf[5] & FLAG_MANAGED != 0,
            other_config: buf[5] & FLAG_OTHER != 0,
            router_lifetime: u16::from_be_bytes([buf[6], buf[7]]),
            reachable_time: be32(buf, 8),
            retrans_timer: be32(buf, 12),
            options: decode_options(&buf[RA_HEADER_LEN..])?,
        })
    }

    /// The RA as sent (checksum 0: the kernel fills it in).
    pub fn encode(&self) -> Result<Vec<u8>, NdpError> {
        let mut flags = 0;
        if self.managed {
            flags |= FLAG_MANAGED;
        }
        if self.other_config {
            flags |= FLAG_OTHER;
        }
        let mut out = vec![ROUTER_ADVERTISEMENT, 0, 0, 0, self.cur_hop_limit, flags];
        out.extend_from_slice(&self.router_lifetime.to_be_bytes());
        out.extend_from_slice(&self.reachable_time.to_be_bytes());
        out.extend_from_slice(&self.retrans_timer.to_be_bytes());
        encode_options(&self.options, &mut out)?;
        Ok(out)
    }

    /// The prefixes advertised, in order.
    pub fn prefixes(&self) -> impl Iterator<Item = &PrefixInformation> {
        self.options.iter().filter_map(|o| match o {
            NdOption::PrefixInformation(p) => Some(p),
            _ => None,
        })
    }
}

/// Walks the options of a message; every option must lie wholly inside `buf`.
pub fn decode_options(mut buf: &[u8]) -> Result<Vec<NdOption>, NdpError> {
    let mut options = Vec::new();
    while !buf.is_empty() {
        need(buf, 2)?;
        let kind = buf[0];
        let units = buf[1];
        if units == 0 {
            return Err(NdpError::ZeroLengthOption(kind));
        }
        let len = usize::from(units) * 8;
        if len > buf.len() {
            return Err(NdpError::OptionTruncated {
                kind,
                declared: len,
                available: buf.len(),
            });
        }
        let (option, rest) = buf.split_at(len);
        options.push(decode_option(kind, units, option)?);
        buf = rest;
    }
    Ok(options)
}

fn decode_option(kind: u8, units: u8, o: &[u8]) -> Result<NdOption, NdpError> {
    let bad = || NdpError::BadOptionLength { kind, units };
    Ok(match kind {
        OPT_SOURCE_LINK_LAYER => NdOption::SourceLinkLayerAddress(o[2..].to_vec()),
        OPT_PREFIX_INFORMATION => {
            if units != 4 {
                return Err(bad());
            }
            let prefix_length = o[2];
            if prefix_length > 128 {
                return Err(NdpError::BadPrefixLength(prefix_length));
            }
            NdOption::PrefixInformation(PrefixInformation {
                prefix_length,
                on_link: o[3] & PIO_ON_LINK != 0,
                autonomous: o[3] & PIO_AUTONOMOUS != 0,
                valid_lifetime: be32(o, 4),
                preferred_lifetime: be32(o, 8),
                prefix: addr(o, 16),
            })
        }
        OPT_MTU => {
            if units != 1 {
                return Err(bad());
            }
            NdOption::Mtu(be32(o, 4))
        }
        OPT_RDNSS => {
            // 1 unit of header and 2 per address, at least one address (RFC 8106 §5.1).
            if units < 3 || units.is_multiple_of(2) {
                return Err(bad());
            }
            let servers = o[8..].chunks_exact(16).map(|c| addr(c, 0)).collect();
            NdOption::Rdnss {
                lifetime: be32(o, 4),
                servers,
            }
        }
        OPT_DNSSL => {
            if units < 2 {
                return Err(bad());
            }
            let domains = decode_domains(&o[8..])?;
            if domains.is_empty() {
                return Err(NdpError::BadDomainName("no domain in the list".into()));
            }
            NdOption::Dnssl {
                lifetime: be32(o, 4),
                domains,
            }
        }
        _ => NdOption::Unknown {
            kind,
            data: o[2..].to_vec(),
        },
    })
}

/// The names of a DNSSL option: uncompressed wire-form names one after another, then zero padding to
/// the end of the option (RFC 8106 §5.2).
fn decode_domains(mut b: &[u8]) -> Result<Vec<String>, NdpError> {
    let mut domains = Vec::new();
    while let Some(&first) = b.first() {
        if first == 0 {
            // Padding: the rest must be zero too.
            if b.iter().any(|&x| x != 0) {
                return Err(NdpError::BadDomainName(
                    "non-zero octets after the padding began".into(),
                ));
            }
            break;
        }
        let mut labels: Vec<String> = Vec::new();
        let mut pos = 0;
        loop {
            let Some(&len) = b.get(pos) else {
                return Err(NdpError::BadDomainName("name runs past the option".into()));
            };
            let len = usize::from(len);
            if len == 0 {
                pos += 1;
                break;
            }
            if len > MAX_LABEL {
                // Also what a compression pointer (0xc0..) looks like: RFC 8106 forbids compression.
                return Err(NdpError::BadDomainName(format!(
                    "label of {len} octets (at most {MAX_LABEL}, no compression)"
                )));
            }
            let Some(label) = b.get(pos + 1..pos + 1 + len) else {
                return Err(NdpError::BadDomainName("label runs past the option".into()));
            };
            labels.push(label_text(label)?);
            pos += 1 + len;
        }
        if pos > MAX_WIRE_NAME {
            return Err(NdpError::BadDomainName(format!(
                "name of {pos} octets (at most {MAX_WIRE_NAME})"
            )));
        }
        domains.push(labels.join("."));
        b = &b[pos..];
    }
    Ok(domains)
}

fn label_text(label: &[u8]) -> Result<String, NdpError> {
    if label
        .iter()
        .any(|&c| !c.is_ascii_graphic() || c == b'.' || c == b'\\')
    {
        return Err(NdpError::BadDomainName(
            "label with a character that is not printable ASCII (or is a dot)".into(),
        ));
    }
    Ok(label.iter().map(|&c| char::from(c)).collect())
}

/// Checks a domain name for DNSSL: labels of 1–63 printable ASCII characters without dots or
/// backslashes, at most 253 characters (255 in wire form). A trailing dot is allowed and dropped.
pub fn check_domain(name: &str) -> Result<(), NdpError> {
    wire_name(name).map(|_| ())
}

fn wire_name(name: &str) -> Result<Vec<u8>, NdpError> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return Err(NdpError::BadDomainName("empty name".into()));
    }
    let mut out = Vec::with_capacity(name.len() + 2);
    for label in name.split('.') {
        if label.is_empty() || label.len() > MAX_LABEL {
            return Err(NdpError::BadDomainName(format!(
                "{name:?}: labels are 1 to {MAX_LABEL} characters"
            )));
        }
        label_text(label.as_bytes())?;
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    if out.len() > MAX_WIRE_NAME {
        return Err(NdpError::BadDomainName(format!("{name:?} is too long")));
    }
    Ok(out)
}

fn push_option(kind: u8, body: &[u8], out: &mut Vec<u8>) -> Result<(), NdpError> {
    // Type and length, the body, zero padding to a multiple of 8.
    let len = (body.len() + 2).div_ceil(8) * 8;
    if len > MAX_OPTION_LEN {
        return Err(NdpError::OptionTooLong { kind, len });
    }
    out.push(kind);
    out.push((len / 8) as u8);
    out.extend_from_slice(body);
    out.resize(out.len() + len - 2 - body.len(), 0);
    Ok(())
}

/// Appends `options` in wire form.
pub fn encode_options(options: &[NdOption], out: &mut Vec<u8>) -> Result<(), NdpError> {
    for option in options {
        match option {
            NdOption::SourceLinkLayerAddress(a) => push_option(OPT_SOURCE_LINK_LAYER, a, out)?,
            NdOption::PrefixInformation(p) => {
                if p.prefix_length > 128 {
                    return Err(NdpError::BadPrefixLength(p.prefix_length));
                }
                let mut flags = 0;
                if p.on_link {
                    flags |= PIO_ON_LINK;
                }
                if p.autonomous {
                    flags |= PIO_AUTONOMOUS;
                }
                let mut body = vec![p.prefix_length, flags];
                body.extend_from_slice(&p.valid_lifetime.to_be_bytes());
                body.extend_from_slice(&p.preferred_lifetime.to_be_bytes());
                body.extend_from_slice(&[0; 4]);
                body.extend_from_slice(&p.prefix.octets());
                push_option(OPT_PREFIX_INFORMATION, &body, out)?;
            }
            NdOption::Mtu(mtu) => {
                let mut body = vec![0, 0];
                body.extend_from_slice(&mtu.to_be_bytes());
                push_option(OPT_MTU, &body, out)?;
            }
            NdOption::Rdnss { lifetime, servers } => {
                if servers.is_empty() {
                    return Err(NdpError::BadOptionLength {
                        kind: OPT_RDNSS,
                        units: 1,
                    });
                }
                let mut body = vec![0, 0];
                body.extend_from_slice(&lifetime.to_be_bytes());
                for s in servers {
                    body.extend_from_slice(&s.octets());
                }
                push_option(OPT_RDNSS, &body, out)?;
            }
            NdOption::Dnssl { lifetime, domains } => {
                if domains.is_empty() {
                    return Err(NdpError::BadDomainName("no domain in the list".into()));
                }
                let mut body = vec![0, 0];
                body.extend_from_slice(&lifetime.to_be_bytes());
                for d in domains {
                    body.extend_from_slice(&wire_name(d)?);
                }
                push_option(OPT_DNSSL, &body, out)?;
            }
            NdOption::Unknown { kind, data } => push_option(*kind, data, out)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An RA as radvd sends it (captured by hand from its documentation's wire layout): hop limit 64,
    /// lifetime 1800, PIO 2001:db8:1::/64 L+A valid 86400 preferred 14400, MTU 1500, SLLA.
    fn radvd_like() -> Vec<u8> {
        let mut b = vec![
            134, 0, 0xab, 0xcd, 64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        b.extend_from_slice(&[
            3, 4, 64, 0xc0, 0, 1, 0x51, 0x80, 0, 0, 0x38, 0x40, 0, 0, 0, 0,
        ]);
        b.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        b.extend_from_slice(&[5, 1, 0, 0, 0, 0, 0x05, 0xdc]);
        b.extend_from_slice(&[1, 1, 0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
        b
    }

    #[test]
    fn decodes_a_router_advertisement() {
        let ra = RouterAdvertisement::decode(&radvd_like()).unwrap();
        assert_eq!(ra.cur_hop_limit, 64);
        assert_eq!(ra.router_lifetime, 1800);
        let p: Vec<_> = ra.prefixes().collect();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].prefix, "2001:db8:1::".parse::<Ipv6Addr>().unwrap());
        assert_eq!(
            (p[0].valid_lifetime, p[0].preferred_lifetime),
            (86400, 14400)
        );
        assert!(p[0].on_link && p[0].autonomous);
        assert_eq!(ra.options[1], NdOption::Mtu(1500));
        assert_eq!(
            ra.options[2],
            NdOption::SourceLinkLayerAddress(vec![2, 0x11, 0x22, 0x33, 0x44, 0x55])
        );
    }

    /// RFC 8106 §5.2's encoding: `home.arpa` and `example.com` as labels, then zero padding.
    #[test]
    fn dnssl_uses_label_encoding_with_padding() {
        let ra = RouterAdvertisement {
            options: vec![NdOption::Dnssl {
                lifetime: 600,
                domains: vec!["home.arpa".into(), "example.com.".into()],
            }],
            ..Default::default()
        };
        let bytes = ra.encode().unwrap();
        let opt = &bytes[RA_HEADER_LEN..];
        // 8 header octets + 11 + 13 name octets = 32: 4 units, no padding needed.
        assert_eq!(opt[0], 31);
        assert_eq!(usize::from(opt[1]) * 8, opt.len());
        assert_eq!(&opt[8..19], b"\x04home\x04arpa\x00");
        assert_eq!(&opt[19..32], b"\x07example\x03com\x00");
        let back = RouterAdvertisement::decode(&bytes).unwrap();
        assert_eq!(
            back.options,
            [NdOption::Dnssl {
                lifetime: 600,
                domains: vec!["home.arpa".into(), "example.com".into()]
            }]
        );
    }

    #[test]
    fn malformed_messages_are_refused() {
        // RS with code 1.
        assert_eq!(
            RouterSolicitation::decode(&[133, 1, 0, 0, 0, 0, 0, 0]),
            Err(NdpError::BadCode(1))
        );
        // RS shorter than 8 octets.
        assert!(matches!(
            RouterSolicitation::decode(&[133, 0, 0, 0]),
            Err(NdpError::Truncated { .. })
        ));
        // Option of length 0.
        assert_eq!(
            RouterSolicitation::decode(&[133, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]),
            Err(NdpError::ZeroLengthOption(1))
        );
        // Option running past the end.
        assert!(matches!(
            RouterSolicitation::decode(&[133, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0]),
            Err(NdpError::OptionTruncated { .. })
        ));
        // A compression pointer in DNSSL.
        let mut ra = vec![134, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        ra.extend_from_slice(&[31, 2, 0, 0, 0, 0, 0, 60, 0xc0, 0x0c, 0, 0, 0, 0, 0, 0]);
        assert!(matches!(
            RouterAdvertisement::decode(&ra),
            Err(NdpError::BadDomainName(_))
        ));
        // An RS where an RA is expected.
        assert!(matches!(
            RouterAdvertisement::decode(&[133, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(NdpError::WrongType { .. })
        ));
    }

    #[test]
    fn domain_checks() {
        assert!(check_domain("home.arpa").is_ok());
        assert!(check_domain("home.arpa.").is_ok());
        assert!(check_domain("").is_err());
        assert!(check_domain("a..b").is_err());
        assert!(check_domain(&"x".repeat(64)).is_err());
        assert!(check_domain("sp ace.example").is_err());
    }

    fn label() -> impl Strategy<Value = String> {
        "[a-z0-9-]{1,20}"
    }

    fn domain() -> impl Strategy<Value = String> {
        proptest::collection::vec(label(), 1..4).prop_map(|l| l.join("."))
    }

    fn ipv6() -> impl Strategy<Value = Ipv6Addr> {
        any::<u128>().prop_map(Ipv6Addr::from)
    }

    fn option() -> impl Strategy<Value = NdOption> {
        prop_oneof![
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 6..=6),
                proptest::collection::vec(any::<u8>(), 14..=14)
            ]
            .prop_map(NdOption::SourceLinkLayerAddress),
            (
                ipv6(),
                0u8..=128,
                any::<bool>(),
                any::<bool>(),
                any::<u32>(),
                any::<u32>()
            )
                .prop_map(
                    |(
                        prefix,
                        prefix_length,
                        on_link,
                        autonomous,
                        valid_lifetime,
                        preferred_lifetime,
                    )| {
                        NdOption::PrefixInformation(PrefixInformation {
                            prefix,
                            prefix_length,
                            on_link,
                            autonomous,
                            valid_lifetime,
                            preferred_lifetime,
                        })
                    }
                ),
            any::<u32>().prop_map(NdOption::Mtu),
            (any::<u32>(), proptest::collection::vec(ipv6(), 1..5))
                .prop_map(|(lifetime, servers)| NdOption::Rdnss { lifetime, servers }),
            (any::<u32>(), proptest::collection::vec(domain(), 1..4))
                .prop_map(|(lifetime, domains)| NdOption::Dnssl { lifetime, domains }),
            // Unknown types whose data fills whole units (so padding is not added).
            (
                prop_oneof![Just(200u8), Just(14u8), Just(38u8)],
                (0usize..4).prop_flat_map(|u| proptest::collection::vec(any::<u8>(), u * 8 + 6))
            )
                .prop_map(|(kind, data)| NdOption::Unknown { kind, data }),
        ]
    }

    proptest! {
        #[test]
        fn ra_round_trips(
            cur_hop_limit in any::<u8>(), managed in any::<bool>(), other_config in any::<bool>(),
            router_lifetime in any::<u16>(), reachable_time in any::<u32>(), retrans_timer in any::<u32>(),
            options in proptest::collection::vec(option(), 0..8),
        ) {
            let ra = RouterAdvertisement { cur_hop_limit, managed, other_config, router_lifetime, reachable_time, retrans_timer, options };
            let bytes = ra.encode().unwrap();
            prop_assert_eq!(RouterAdvertisement::decode(&bytes).unwrap(), ra);
        }

        #[test]
        fn rs_round_trips(options in proptest::collection::vec(option(), 0..4)) {
            let rs = RouterSolicitation { options };
            let bytes = rs.encode().unwrap();
            prop_assert_eq!(RouterSolicitation::decode(&bytes).unwrap(), rs);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = RouterAdvertisement::decode(&bytes);
            let _ = RouterSolicitation::decode(&bytes);
            let _ = decode_options(&bytes);
        }

        #[test]
        fn arbitrary_options_after_a_valid_header_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut rs = vec![133, 0, 0, 0, 0, 0, 0, 0];
            rs.extend_from_slice(&body);
            let _ = RouterSolicitation::decode(&rs);
            let mut ra = vec![134, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            ra.extend_from_slice(&body);
            let _ = RouterAdvertisement::decode(&ra);
        }
    }
}
