//! The strict option walker: the gate every received message passes before dhcproto decodes it.
//!
//! dhcproto's option decoder is lenient where a client must not be: it stops silently at the first option
//! it cannot read (so a malformed option hides every option after it), accepts fixed-length options of
//! the wrong length, and carries `debug_assert!`s that fire on some malformed lengths. So the bytes are
//! walked here first, by the rules of RFC 2131 §4.1, RFC 2132 and RFC 3396:
//!
//! - every option's length byte must fit in its area; the options field must end with End (255);
//! - option overload (52) adds the `file` and/or `sname` fields as option areas, in that order;
//! - all instances of one code are concatenated (RFC 3396, "long options");
//! - every option the client interprets is checked for its exact shape (lengths, a contiguous netmask,
//!   RFC 3442 route encodings with no host bits, host-name characters); one that fails makes the whole
//!   message malformed.
//!
//! What passes is re-encoded into a normalised message holding only the interpreted options, and only
//! that is handed to dhcproto (`message.rs`), so dhcproto never sees a byte this walker did not check.

use std::fmt;
use std::net::Ipv4Addr;

use routerd_proto::dhcpv4::{collect_options, OptionAreaError};
pub use routerd_proto::dhcpv4::{FIXED_HEADER_LEN, MAGIC_COOKIE, OPTIONS_OFFSET};

/// Option codes this client sends or interprets (RFC 2132, RFC 3442, RFC 4361).
pub mod code {
    pub const PAD: u8 = 0;
    pub const SUBNET_MASK: u8 = 1;
    pub const ROUTER: u8 = 3;
    pub const DNS_SERVERS: u8 = 6;
    pub const HOSTNAME: u8 = 12;
    pub const DOMAIN_NAME: u8 = 15;
    pub const INTERFACE_MTU: u8 = 26;
    pub const BROADCAST_ADDRESS: u8 = 28;
    pub const NTP_SERVERS: u8 = 42;
    pub const REQUESTED_ADDRESS: u8 = 50;
    pub const LEASE_TIME: u8 = 51;
    pub const OVERLOAD: u8 = 52;
    pub const MESSAGE_TYPE: u8 = 53;
    pub const SERVER_ID: u8 = 54;
    pub const PARAMETER_REQUEST_LIST: u8 = 55;
    pub const MESSAGE: u8 = 56;
    pub const MAX_MESSAGE_SIZE: u8 = 57;
    pub const RENEWAL_TIME: u8 = 58;
    pub const REBINDING_TIME: u8 = 59;
    pub const VENDOR_CLASS_ID: u8 = 60;
    pub const CLIENT_ID: u8 = 61;
    pub const CLASSLESS_ROUTES: u8 = 121;
    pub const END: u8 = 255;
}

/// Options requested in every DISCOVER and REQUEST (parameter request list, option 55): netmask,
/// router, DNS, host name, domain, MTU, broadcast, NTP, lease time, server id, T1, T2, classless routes.
pub const REQUESTED_OPTIONS: [u8; 13] = [1, 3, 6, 12, 15, 26, 28, 42, 51, 54, 58, 59, 121];

/// Why the options of a message are malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    /// The option areas cannot be walked (a length past the end, no End, a bad overload).
    #[error(transparent)]
    Area(#[from] OptionAreaError),
    /// An option the client interprets does not have the shape RFC 2132/3442 give it.
    #[error("option {code} ({name}): {reason}")]
    Invalid {
        code: u8,
        name: &'static str,
        reason: String,
    },
}

/// The options of one message after the walk: each code once, its instances concatenated, in order of
/// first appearance. Only codes in [`interpreted`] are kept; the rest were bounds-checked and dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawOptions {
    values: Vec<(u8, Vec<u8>)>,
}

impl RawOptions {
    /// The (concatenated) value of `code`, if the message carried it.
    pub fn get(&self, code: u8) -> Option<&[u8]> {
        self.values
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, v)| v.as_slice())
    }

    /// The codes present, in order of first appearance.
    pub fn codes(&self) -> impl Iterator<Item = u8> + '_ {
        self.values.iter().map(|(c, _)| *c)
    }

    /// Writes every option as `code len value` chunks of at most 255 bytes (RFC 3396), then End.
    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        for (code, value) in &self.values {
            for chunk in value.chunks(255) {
                out.push(*code);
                out.push(chunk.len() as u8);
                out.extend_from_slice(chunk);
            }
        }
        out.push(code::END);
    }
}

/// Whether the client interprets (and therefore checks and keeps) option `code`.
pub fn interpreted(code: u8) -> bool {
    use code::*;
    matches!(
        code,
        SUBNET_MASK
            | ROUTER
            | DNS_SERVERS
            | HOSTNAME
            | DOMAIN_NAME
            | INTERFACE_MTU
            | BROADCAST_ADDRESS
            | NTP_SERVERS
            | LEASE_TIME
            | MESSAGE_TYPE
            | SERVER_ID
            | MESSAGE
            | RENEWAL_TIME
            | REBINDING_TIME
            | CLIENT_ID
            | CLASSLESS_ROUTES
    )
}

/// Walks the option areas of a whole DHCP message (fixed header, cookie and options; the caller has
/// checked the length and the cookie) and checks every interpreted option.
pub fn collect(packet: &[u8]) -> Result<RawOptions, OptionError> {
    let all = collect_options(packet)?;
    let mut kept = RawOptions::default();
    for (code, value) in all.iter() {
        if !interpreted(code) {
            continue;
        }
        match check(code, value)? {
            Checked::Keep(v) => kept.values.push((code, v)),
            Checked::Drop => {}
        }
    }
    Ok(kept)
}

enum Checked {
    Keep(Vec<u8>),
    /// Informational and unusable (a NAK message that is not text): dropped, not an error.
    Drop,
}

fn name(code: u8) -> &'static str {
    match code {
        code::SUBNET_MASK => "subnet mask",
        code::ROUTER => "router",
        code::DNS_SERVERS => "domain name servers",
        code::HOSTNAME => "host name",
        code::DOMAIN_NAME => "domain name",
        code::INTERFACE_MTU => "interface MTU",
        code::BROADCAST_ADDRESS => "broadcast address",
        code::NTP_SERVERS => "NTP servers",
        code::LEASE_TIME => "lease time",
        code::OVERLOAD => "option overload",
        code::MESSAGE_TYPE => "message type",
        code::SERVER_ID => "server identifier",
        code::MESSAGE => "message",
        code::RENEWAL_TIME => "renewal (T1) time",
        code::REBINDING_TIME => "rebinding (T2) time",
        code::CLIENT_ID => "client identifier",
        code::CLASSLESS_ROUTES => "classless static routes",
        _ => "option",
    }
}

fn invalid(code: u8, reason: impl fmt::Display) -> OptionError {
    OptionError::Invalid {
        code,
        name: name(code),
        reason: reason.to_string(),
    }
}

fn check(c: u8, value: &[u8]) -> Result<Checked, OptionError> {
    use code::*;
    let exact = |n: usize| -> Result<Checked, OptionError> {
        if value.len() == n {
            Ok(Checked::Keep(value.to_vec()))
        } else {
            Err(invalid(c, format!("length {} (must be {n})", value.len())))
        }
    };
    match c {
        SUBNET_MASK => {
            exact(4)?;
            prefix_from_mask(value).ok_or_else(|| {
                invalid(c, format!("{} is not a contiguous netmask", dotted(value)))
            })?;
            Ok(Checked::Keep(value.to_vec()))
        }
        ROUTER | DNS_SERVERS | NTP_SERVERS => {
            if value.is_empty() || !value.len().is_multiple_of(4) {
                Err(invalid(
                    c,
                    format!("length {} (must be a non-zero multiple of 4)", value.len()),
                ))
            } else {
                Ok(Checked::Keep(value.to_vec()))
            }
        }
        BROADCAST_ADDRESS | SERVER_ID | LEASE_TIME | RENEWAL_TIME | REBINDING_TIME => exact(4),
        INTERFACE_MTU => exact(2),
        MESSAGE_TYPE => {
            exact(1)?;
            match value.first() {
                Some(1..=8) => Ok(Checked::Keep(value.to_vec())),
                _ => Err(invalid(c, format!("unknown message type {value:?}"))),
            }
        }
        HOSTNAME | DOMAIN_NAME => host_name(c, value).map(Checked::Keep),
        MESSAGE => {
            // RFC 2132 §9.9: an error text for people. Kept when it is printable text, else dropped.
            match std::str::from_utf8(value) {
                // An empty text says nothing (and the codec drops it): dropped, like non-text.
                Ok(s) if !s.is_empty() && !s.chars().any(char::is_control) => {
                    Ok(Checked::Keep(value.to_vec()))
                }
                _ => Ok(Checked::Drop),
            }
        }
        CLIENT_ID => {
            if value.len() < 2 {
                Err(invalid(
                    c,
                    format!("length {} (must be at least 2)", value.len()),
                ))
            } else {
                Ok(Checked::Keep(value.to_vec()))
            }
        }
        CLASSLESS_ROUTES => {
            classless_routes(value).map_err(|reason| invalid(c, reason))?;
            Ok(Checked::Keep(value.to_vec()))
        }
        _ => Ok(Checked::Drop),
    }
}

/// The prefix length of a contiguous netmask of 1..=32 bits.
pub fn prefix_from_mask(mask: &[u8]) -> Option<u8> {
    let bytes: [u8; 4] = mask.try_into().ok()?;
    let m = u32::from_be_bytes(bytes);
    let ones = m.leading_ones();
    (ones >= 1 && m.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
}

/// RFC 1035/1123 host and domain names: letters, digits, `-`, `_`, `.`, at most 255 bytes. Trailing NULs
/// (some servers count a C string terminator in the length) are removed.
fn host_name(c: u8, value: &[u8]) -> Result<Vec<u8>, OptionError> {
    let end = value
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |last| last + 1);
    let name = &value[..end];
    if name.is_empty() {
        return Err(invalid(c, "empty"));
    }
    if let Some(bad) = name
        .iter()
        .find(|&&b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'))
    {
        return Err(invalid(
            c,
            format!("byte 0x{bad:02x} is not allowed in a host or domain name"),
        ));
    }
    Ok(name.to_vec())
}

/// One classless static route (RFC 3442): `destination/prefixLength` via `gateway` (`0.0.0.0`: on
/// link).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClasslessRoute {
    pub destination: Ipv4Addr,
    pub prefix_length: u8,
    pub gateway: Ipv4Addr,
}

impl ClasslessRoute {
    /// `destination/prefixLength`, as routes are written (`0.0.0.0/0`, `203.0.113.0/24`).
    pub fn cidr(&self) -> String {
        format!("{}/{}", self.destination, self.prefix_length)
    }
}

/// Decodes option 121: a sequence of (width, significant destination octets, gateway). Every byte must
/// be consumed, widths at most 32, and no bit of the destination beyond the width may be set.
pub fn classless_routes(value: &[u8]) -> Result<Vec<ClasslessRoute>, String> {
    if value.is_empty() {
        return Err("empty".into());
    }
    let mut routes = Vec::new();
    let mut i = 0;
    while i < value.len() {
        let width = value[i];
        if width > 32 {
            return Err(format!(
                "prefix width {width} at offset {i} (must be 0..=32)"
            ));
        }
        let significant = (width as usize).div_ceil(8);
        let dest = value
            .get(i + 1..i + 1 + significant)
            .ok_or_else(|| format!("route at offset {i} is cut short"))?;
        let gw = value
            .get(i + 1 + significant..i + 5 + significant)
            .ok_or_else(|| format!("gateway of the route at offset {i} is cut short"))?;
        let mut destination = [0u8; 4];
        destination[..significant].copy_from_slice(dest);
        let d = u32::from_be_bytes(destination);
        let mask = if width == 0 {
            0
        } else {
            u32::MAX << (32 - width)
        };
        if d & !mask != 0 {
            return Err(format!(
                "destination {}/{width} has bits set beyond the prefix",
                dotted(&destination)
            ));
        }
        routes.push(ClasslessRoute {
            destination: Ipv4Addr::from(destination),
            prefix_length: width,
            gateway: Ipv4Addr::new(gw[0], gw[1], gw[2], gw[3]),
        });
        i += 5 + significant;
    }
    Ok(routes)
}

fn dotted(b: &[u8]) -> String {
    b.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(options: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; FIXED_HEADER_LEN];
        p.extend_from_slice(&MAGIC_COOKIE);
        p.extend_from_slice(options);
        p
    }

    #[test]
    fn walks_concatenates_and_keeps_only_interpreted_options() {
        // 53=ACK, pad, 3 split over two instances (RFC 3396), an unknown option 200, End.
        let p = packet(&[
            53, 1, 5, 0, 3, 4, 192, 0, 2, 1, 200, 2, 9, 9, 3, 4, 192, 0, 2, 2, 255, 77,
        ]);
        let o = collect(&p).unwrap();
        assert_eq!(o.get(53), Some(&[5u8][..]));
        assert_eq!(o.get(3), Some(&[192, 0, 2, 1, 192, 0, 2, 2][..]));
        assert_eq!(o.get(200), None);
        assert_eq!(o.codes().collect::<Vec<_>>(), [53, 3]);
    }

    #[test]
    fn structural_errors() {
        assert_eq!(
            collect(&packet(&[53, 1, 5])),
            Err(OptionError::Area(OptionAreaError::MissingEnd))
        );
        assert!(matches!(
            collect(&packet(&[53, 1, 5, 6, 8, 1, 2, 3, 4])),
            Err(OptionError::Area(OptionAreaError::Truncated {
                code: 6,
                ..
            }))
        ));
        assert!(matches!(
            collect(&packet(&[53])),
            Err(OptionError::Area(OptionAreaError::Truncated {
                code: 53,
                ..
            }))
        ));
        // Overlong fixed-length options.
        for bad in [
            &[51u8, 5, 0, 0, 0, 60, 0, 255][..],
            &[54, 3, 1, 2, 3, 255],
            &[1, 4, 255, 0, 255, 0, 255],
            &[53, 2, 5, 5, 255],
            &[53, 1, 0, 255],
            &[26, 1, 5, 255],
            &[3, 6, 1, 2, 3, 4, 5, 6, 255],
            &[61, 1, 1, 255],
            &[15, 3, b'a', b' ', b'b', 255],
            &[15, 1, 0, 255],
        ] {
            assert!(
                matches!(collect(&packet(bad)), Err(OptionError::Invalid { .. })),
                "{bad:?}"
            );
        }
        assert_eq!(
            collect(&packet(&[52, 1, 4, 255])),
            Err(OptionError::Area(OptionAreaError::BadOverload))
        );
        // A duplicated message type concatenates to length 2: malformed.
        assert!(collect(&packet(&[53, 1, 5, 53, 1, 5, 255])).is_err());
    }

    #[test]
    fn overload_adds_file_then_sname() {
        let mut p = packet(&[52, 1, 3, 53, 1, 2, 255]);
        p[108..115].copy_from_slice(&[3, 4, 192, 0, 2, 1, 255]);
        p[44..51].copy_from_slice(&[3, 4, 192, 0, 2, 9, 255]);
        let o = collect(&p).unwrap();
        assert_eq!(o.get(3), Some(&[192, 0, 2, 1, 192, 0, 2, 9][..]));
        // A truncated option inside the file field is malformed too.
        p[108..111].copy_from_slice(&[6, 200, 1]);
        assert!(matches!(
            collect(&p),
            Err(OptionError::Area(OptionAreaError::Truncated {
                area: "file field",
                ..
            }))
        ));
    }

    #[test]
    fn netmasks() {
        assert_eq!(prefix_from_mask(&[255, 255, 255, 0]), Some(24));
        assert_eq!(prefix_from_mask(&[255, 255, 255, 255]), Some(32));
        assert_eq!(prefix_from_mask(&[128, 0, 0, 0]), Some(1));
        assert_eq!(prefix_from_mask(&[0, 0, 0, 0]), None);
        assert_eq!(prefix_from_mask(&[255, 0, 255, 0]), None);
        assert_eq!(prefix_from_mask(&[255, 255, 255]), None);
    }

    #[test]
    fn rfc3442_routes() {
        // 0.0.0.0/0 via 192.0.2.1, 203.0.113.0/24 via 192.0.2.254, 10.0.0.0/8 on link.
        let v = [
            0, 192, 0, 2, 1, 24, 203, 0, 113, 192, 0, 2, 254, 8, 10, 0, 0, 0, 0,
        ];
        let r = classless_routes(&v).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[1].destination, Ipv4Addr::new(203, 0, 113, 0));
        assert_eq!(r[1].prefix_length, 24);
        assert_eq!(r[2].gateway, Ipv4Addr::UNSPECIFIED);
        assert_eq!(r[1].cidr(), "203.0.113.0/24");
        assert!(classless_routes(&[33, 1, 2, 3, 4, 5, 1, 2, 3, 4]).is_err());
        assert!(classless_routes(&[24, 203, 0, 113, 192, 0, 2]).is_err());
        assert!(classless_routes(&[24, 203, 0, 113, 192, 0, 2, 254, 0]).is_err());
        // 203.0.113.0/23: a bit beyond the prefix set.
        assert!(classless_routes(&[23, 203, 0, 113, 192, 0, 2, 1])
            .unwrap_err()
            .contains("beyond the prefix"));
        assert!(classless_routes(&[]).is_err());
    }

    #[test]
    fn nak_message_text_is_kept_or_dropped_never_an_error() {
        let o = collect(&packet(&[56, 2, b'n', b'o', 255])).unwrap();
        assert_eq!(o.get(56), Some(&b"no"[..]));
        let o = collect(&packet(&[56, 2, 0xff, 0x01, 255])).unwrap();
        assert_eq!(o.get(56), None);
    }
}
