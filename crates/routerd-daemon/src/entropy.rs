//! Seeding the injected randomness of a protocol core: the one read of the kernel's random source a
//! daemon makes, kept here so the sans-IO cores (`routerd-sansio`) stay free of I/O.

use routerd_api::Timestamp;
use routerd_sansio::XorShift;

/// A generator seeded from `/dev/urandom`, or from the time and pid if that cannot be read (xids and
/// jitter need to differ between daemons, not to be secret).
pub fn seeded_xorshift() -> XorShift {
    use std::io::Read;
    let mut bytes = [0u8; 8];
    let seed = match std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes))
    {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(_) => {
            let t = Timestamp::now().nanos() as u64;
            t ^ (u64::from(std::process::id()) << 32)
        }
    };
    XorShift::new(seed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use routerd_sansio::Random;

    #[test]
    fn two_seeds_differ() {
        let a: Vec<u32> = {
            let mut r = seeded_xorshift();
            (0..4).map(|_| r.next_u32()).collect()
        };
        let b: Vec<u32> = {
            let mut r = seeded_xorshift();
            (0..4).map(|_| r.next_u32()).collect()
        };
        assert_ne!(a, b);
    }
}
