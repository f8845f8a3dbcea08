//! The client DUID (RFC 8415 §11): `spec.duid` when configured; otherwise the one in `<state_dir>/duid`
//! (hex text, one line), generated once and kept, because servers key the binding on it: a new DUID
//! after a restart would be a new client and, with most ISPs, a new prefix.
//!
//! Generation: DUID-LLT (RFC 8415 §11.2) from the interface's MAC and the current time, as
//! `protocols.md` asks. A link without a hardware address (PPP, TUN: the usual PPPoE WAN) cannot give a
//! DUID-LLT or DUID-LL, and a DUID-EN needs an enterprise number we do not have; so it gets a DUID-UUID
//! (type 4, RFC 6355) from 16 random bytes, which is just as unique and just as stable once persisted.

use routerd_api::Timestamp;
use routerd_daemon::write_atomic;
use routerd_dhcpv6_client::config::DUID_LEN;
use routerd_dhcpv6_client::duid::{duid_llt, from_hex, to_hex};
use routerd_dhcpv6_client::DaemonConfig;
use routerd_sansio::Random;
use std::path::Path;

/// File of the persisted DUID in the state directory.
pub const DUID_FILE: &str = "duid";
/// DUID type of DUID-UUID (RFC 6355).
const DUID_UUID: u16 = 4;

/// Where the DUID in use came from, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Configured,
    Persisted,
    GeneratedLlt,
    GeneratedUuid,
}

/// The DUID to use: configured, persisted, or generated now (and persisted) from `mac`.
pub fn resolve(
    config: &DaemonConfig,
    state_dir: &Path,
    mac: Option<[u8; 6]>,
    now: Timestamp,
) -> Result<(Vec<u8>, Origin), String> {
    if let Some(duid) = config.configured_duid()? {
        return Ok((duid, Origin::Configured));
    }
    let path = state_dir.join(DUID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => match from_hex(text.trim()) {
            Some(duid) if DUID_LEN.contains(&duid.len()) => return Ok((duid, Origin::Persisted)),
            _ => {
                // Keep the bad file for a human and carry on with a new identity rather than never
                // working: the lease of the old one is lost either way.
                let aside = state_dir.join(format!("{DUID_FILE}.corrupt"));
                tracing::error!(path = %path.display(), moved_to = %aside.display(), "the persisted DUID is not a hex DUID; generating a new one");
                let _ = std::fs::rename(&path, &aside);
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", path.display())),
    }
    let (duid, origin) = match mac {
        Some(mac) => (duid_llt(mac, now), Origin::GeneratedLlt),
        None => (
            duid_uuid(&mut routerd_daemon::seeded_xorshift()),
            Origin::GeneratedUuid,
        ),
    };
    write_atomic(&path, format!("{}\n", to_hex(&duid)).as_bytes())
        .map_err(|e| format!("{}: cannot persist the DUID: {e}", path.display()))?;
    Ok((duid, origin))
}

/// DUID-UUID: type 4 and a random (version 4, RFC 9562) UUID.
pub fn duid_uuid(random: &mut dyn Random) -> Vec<u8> {
    let mut uuid = [0u8; 16];
    for chunk in uuid.chunks_mut(4) {
        chunk.copy_from_slice(&random.next_u32().to_be_bytes()[..chunk.len()]);
    }
    uuid[6] = (uuid[6] & 0x0f) | 0x40;
    uuid[8] = (uuid[8] & 0x3f) | 0x80;
    let mut duid = DUID_UUID.to_be_bytes().to_vec();
    duid.extend_from_slice(&uuid);
    duid
}

#[cfg(test)]
mod tests {
    use super::*;
    use routerd_sansio::Sequence;

    fn config(json: &str) -> DaemonConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn generated_once_then_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(r#"{"spec": {"interface": "wan"}, "ifname": "eth0"}"#);
        let now = Timestamp::now();
        let (first, origin) = resolve(&c, dir.path(), Some([2, 0, 0, 0, 0, 1]), now).unwrap();
        assert_eq!(origin, Origin::GeneratedLlt);
        assert_eq!(first, duid_llt([2, 0, 0, 0, 0, 1], now));
        let text = std::fs::read_to_string(dir.path().join(DUID_FILE)).unwrap();
        assert_eq!(text, format!("{}\n", to_hex(&first)));
        // Another MAC later (the NIC was replaced): the identity stays.
        let (again, origin) = resolve(&c, dir.path(), Some([2, 0, 0, 0, 0, 2]), now).unwrap();
        assert_eq!((again, origin), (first, Origin::Persisted));
    }

    #[test]
    fn configured_wins_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(
            r#"{"spec": {"interface": "wan", "duid": "0003000102000000000a"}, "ifname": "e"}"#,
        );
        let (duid, origin) = resolve(&c, dir.path(), None, Timestamp::now()).unwrap();
        assert_eq!(origin, Origin::Configured);
        assert_eq!(duid, [0, 3, 0, 1, 2, 0, 0, 0, 0, 0x0a]);
        assert!(!dir.path().join(DUID_FILE).exists());
    }

    #[test]
    fn no_mac_gives_a_uuid_and_a_corrupt_file_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(DUID_FILE), "not hex\n").unwrap();
        let c = config(r#"{"spec": {"interface": "wan"}, "ifname": "ppp0"}"#);
        let (duid, origin) = resolve(&c, dir.path(), None, Timestamp::now()).unwrap();
        assert_eq!(origin, Origin::GeneratedUuid);
        assert_eq!(duid.len(), 18);
        assert_eq!(&duid[..2], &[0, 4]);
        assert!(dir.path().join("duid.corrupt").exists());
        let (again, origin) = resolve(&c, dir.path(), None, Timestamp::now()).unwrap();
        assert_eq!((again, origin), (duid, Origin::Persisted));
    }

    #[test]
    fn uuid_version_and_variant_bits() {
        let duid = duid_uuid(&mut Sequence::new(vec![u32::MAX; 4]));
        assert_eq!(duid[2 + 6] & 0xf0, 0x40);
        assert_eq!(duid[2 + 8] & 0xc0, 0x80);
        let duid = duid_uuid(&mut Sequence::new(vec![0; 4]));
        assert_eq!(duid[2 + 6], 0x40);
        assert_eq!(duid[2 + 8], 0x80);
    }
}
