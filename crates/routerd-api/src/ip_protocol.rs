//! IP protocol names and numbers, one table for everything that prints or parses them: the inspection
//! endpoints' `protocol` filters, the flow and firewall-log stores, and `TrafficFlowLog.spec.protocols`.

/// IP protocol names the inspection endpoints print and accept, with their numbers (linux/in.h).
pub const PROTOCOLS: &[(&str, u8)] = &[
    ("icmp", 1),
    ("igmp", 2),
    ("tcp", 6),
    ("udp", 17),
    ("dccp", 33),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("icmpv6", 58),
    ("sctp", 132),
    ("udplite", 136),
];

/// The name of IP protocol `number` as the inspection endpoints print it (`tcp`, `udp`, `icmpv6`...), or
/// the number in decimal when it has no name here.
pub fn protocol_name(number: u8) -> std::borrow::Cow<'static, str> {
    PROTOCOLS
        .iter()
        .find(|(_, n)| *n == number)
        .map(|(name, _)| std::borrow::Cow::Borrowed(*name))
        .unwrap_or_else(|| std::borrow::Cow::Owned(number.to_string()))
}

/// A `protocol` filter: a lower-case name (`ipv6-icmp` too) or a number 0..=255, exactly what
/// routerd's OpenAPI `protocol` schema documents.
pub fn parse_protocol(value: &str) -> Result<u8, String> {
    let name = if value == "ipv6-icmp" {
        "icmpv6"
    } else {
        value
    };
    if let Some((_, number)) = PROTOCOLS.iter().find(|(n, _)| *n == name) {
        return Ok(*number);
    }
    parse_decimal_u8(value).ok_or_else(|| {
        let names: Vec<&str> = PROTOCOLS.iter().map(|(name, _)| *name).collect();
        format!(
            "{value:?} is not a protocol: give a number 0..=255 or one of {}",
            names.join(", ")
        )
    })
}

/// Plain decimal digits 0..=255 (no sign: Rust's `parse` would take `+5`, which the documented integer
/// schema does not).
fn parse_decimal_u8(value: &str) -> Option<u8> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse::<u8>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_round_trip_and_the_parser_is_strict() {
        for p in 0..=255u8 {
            assert_eq!(parse_protocol(&protocol_name(p)), Ok(p));
        }
        assert_eq!(parse_protocol("ipv6-icmp"), Ok(58));
        for bad in ["TCP", "+6", "256", "tcpx", ""] {
            assert!(parse_protocol(bad).is_err(), "{bad}");
        }
    }
}
