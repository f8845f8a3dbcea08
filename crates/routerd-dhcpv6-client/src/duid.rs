//! Client identity: the DUID (RFC 8415 §11), the IAID (§12) and the hex text both are shown and stored
//! as.
//!
//! The DUID is generated once (DUID-LLT from the interface's MAC and the time) and persisted by the
//! shell: servers key bindings on it, so a new DUID on every start would lose the delegated prefix.
//! The IAID only has to be stable per resource and distinct between resources on one client, so it is
//! a hash of the resource name rather than something that needs storing.

use routerd_api::Timestamp;

/// DUID type 1, link-layer address plus time.
pub const DUID_LLT: u16 = 1;
/// Hardware type 1, Ethernet (RFC 826 / IANA ARP hardware types).
pub const HW_ETHERNET: u16 = 1;
/// DUID-LLT time counts seconds from midnight UTC, 1 January 2000 (RFC 8415 §11.2); Unix seconds then.
pub const DUID_EPOCH_UNIX: i64 = 946_684_800;

/// DUID-LLT for an Ethernet MAC at `wall` (RFC 8415 §11.2): type, hardware type, time modulo 2^32, MAC.
pub fn duid_llt(mac: [u8; 6], wall: Timestamp) -> Vec<u8> {
    let unix = wall.nanos().div_euclid(1_000_000_000);
    let since_2000 = (unix - DUID_EPOCH_UNIX).rem_euclid(1 << 32) as u32;
    let mut d = Vec::with_capacity(14);
    d.extend_from_slice(&DUID_LLT.to_be_bytes());
    d.extend_from_slice(&HW_ETHERNET.to_be_bytes());
    d.extend_from_slice(&since_2000.to_be_bytes());
    d.extend_from_slice(&mac);
    d
}

/// A stable IAID for a resource name: FNV-1a (32 bit) of its bytes. Stable across restarts and
/// versions, so a restarted daemon asks for the same binding.
pub fn iaid_for(name: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Lower-case hex text of bytes, as every daemon writes identifiers.
pub use routerd_sansio::hex::to_hex;

/// Bytes of hex text; `:` separators are allowed (`00:01:00:01:...`). `None` when not hex.
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text.bytes().filter(|b| *b != b':').collect();
    // Only hex digits: `from_str_radix` alone would also take a sign ("+a").
    if !digits.len().is_multiple_of(2) || !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    digits
        .chunks_exact(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(s, 16).ok()
        })
        .collect()
}

/// Serde for byte strings as hex text (DUIDs in `lease.json`).
pub mod hex_serde {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::to_hex(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        super::from_hex(&text).ok_or_else(|| serde::de::Error::custom("not hex"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duid_llt_has_type_hardware_time_since_2000_and_mac() {
        // 2000-01-01T00:00:10Z
        let wall = Timestamp((DUID_EPOCH_UNIX + 10) * 1_000_000_000);
        let d = duid_llt([2, 0, 0, 0, 0, 1], wall);
        assert_eq!(d, [0, 1, 0, 1, 0, 0, 0, 10, 2, 0, 0, 0, 0, 1]);
        // Before 2000 wraps modulo 2^32 instead of failing.
        let d = duid_llt([0; 6], Timestamp((DUID_EPOCH_UNIX - 1) * 1_000_000_000));
        assert_eq!(&d[4..8], &[0xff, 0xff, 0xff, 0xff]);
    }

    #[test]
    fn iaid_is_fnv1a_of_the_name() {
        assert_eq!(iaid_for(""), 0x811c_9dc5);
        assert_eq!(iaid_for("a"), 0xe40c_292c);
        assert_eq!(iaid_for("wan-pd"), iaid_for("wan-pd"));
        assert_ne!(iaid_for("wan-pd"), iaid_for("wan-pd2"));
    }

    #[test]
    fn hex_round_trips_and_accepts_colons() {
        assert_eq!(to_hex(&[0, 1, 0xab]), "0001ab");
        assert_eq!(from_hex("00:01:ab"), Some(vec![0, 1, 0xab]));
        assert_eq!(from_hex("0001AB"), Some(vec![0, 1, 0xab]));
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex("zz"), None);
        assert_eq!(from_hex("+a"), None, "a sign is not a hex digit");
        assert_eq!(from_hex("-1"), None);
        assert_eq!(from_hex(""), Some(vec![]));
    }
}
