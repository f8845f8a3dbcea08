//! Bytes as the hex text daemons show in events, status and logs (DUIDs, client identifiers), written
//! one way so that routerd and operators can compare them across daemons.
//!
//! Only the encoder is shared: each daemon's parser keeps the separators its config format documents.

/// Lower-case hex without separators (`0001ab`).
pub fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_case_pairs() {
        assert_eq!(to_hex(&[0, 1, 0xab]), "0001ab");
        assert_eq!(to_hex(&[]), "");
    }
}
