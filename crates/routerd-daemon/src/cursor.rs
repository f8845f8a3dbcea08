//! Event cursors `<epoch>:<n>`. `n` counts up across restarts; the epoch changes only when the log is
//! lost, so a reader can tell a reset (another epoch: resynchronise) from progress (same epoch, larger n).

use std::fmt;

/// A parsed cursor.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cursor {
    /// Lower-case hex, chosen at random when the log starts from nothing.
    pub epoch: String,
    /// Position in the stream: the first event is 1, an empty log's head is 0.
    pub n: u64,
}

impl Cursor {
    /// Parses `<epoch>:<n>`; `None` for anything else (a reader's cursor is opaque to it, so a malformed
    /// one is treated like an expired one).
    pub fn parse(s: &str) -> Option<Cursor> {
        let (epoch, n) = s.split_once(':')?;
        if epoch.is_empty()
            || epoch.len() > 32
            || !epoch
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return None;
        }
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Cursor {
            epoch: epoch.to_string(),
            n: n.parse().ok()?,
        })
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.epoch, self.n)
    }
}

/// A fresh epoch: 16 hex characters from the kernel's random source, or — if that cannot be read — from
/// hashing the time and pid with std's randomly keyed hasher (distinct enough to tell a reset).
pub(crate) fn new_epoch() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 8];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    let value = match random {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(_) => {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_i64(routerd_api::Timestamp::now().nanos());
            h.write_u32(std::process::id());
            h.finish()
        }
    };
    format!("{value:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_and_parse() {
        let c = Cursor::parse("00ab12cd34ef5678:42").unwrap();
        assert_eq!(c.epoch, "00ab12cd34ef5678");
        assert_eq!(c.n, 42);
        assert_eq!(c.to_string(), "00ab12cd34ef5678:42");
        for bad in [
            "",
            "42",
            ":1",
            "abc:",
            "abc:-1",
            "ABC:1",
            "xyz:1",
            "ab:1:2",
            "ab: 1",
            "ab:1x",
            "ab:99999999999999999999999",
        ] {
            assert_eq!(Cursor::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn epochs_are_16_hex_and_differ() {
        let a = new_epoch();
        let b = new_epoch();
        assert_eq!(a.len(), 16);
        assert!(Cursor::parse(&format!("{a}:0")).is_some());
        assert_ne!(a, b);
    }
}
