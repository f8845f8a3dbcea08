//! Loading `config.json`. The kit does not know any daemon's config type; it only makes the failure
//! readable: which file, which line and column, which field.

use crate::error::DaemonError;
use crate::state_file::decode_json;
use serde::de::DeserializeOwned;
use std::path::Path;

/// Reads and decodes the daemon's config file. Unlike a state file, a missing config is an error: routerd
/// writes it before spawning the daemon.
pub fn load_config<T: DeserializeOwned>(path: &Path) -> Result<T, DaemonError> {
    let bytes = std::fs::read(path).map_err(DaemonError::io("read config", path))?;
    decode_json(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Config {
        target: String,
        probe: Probe,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Probe {
        interval_seconds: u32,
    }

    #[test]
    fn errors_name_the_file_position_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"target": "192.0.2.1", "probe": {"intervalSeconds": -5}}"#,
        )
        .unwrap();
        let err = load_config::<Config>(&path).unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("field probe.intervalSeconds:"), "{err}");
        assert!(err.contains(":1:"), "{err}");

        let missing = load_config::<Config>(&dir.path().join("nope.json")).unwrap_err();
        assert!(
            missing.to_string().starts_with("cannot read config"),
            "{missing}"
        );
    }
}
