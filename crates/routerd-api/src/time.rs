//! Timestamps on the wire: RFC 3339 in UTC with nanoseconds. An unknown time is omitted, never zero.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch; the representation stored in SQLite and compared everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Timestamp {
        Timestamp::from_system(SystemTime::now())
    }

    pub fn from_system(t: SystemTime) -> Timestamp {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Timestamp(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
            Err(e) => Timestamp(-i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX)),
        }
    }

    pub fn to_system(self) -> SystemTime {
        if self.0 >= 0 {
            UNIX_EPOCH + Duration::from_nanos(self.0 as u64)
        } else {
            UNIX_EPOCH - Duration::from_nanos(self.0.unsigned_abs())
        }
    }

    pub fn nanos(self) -> i64 {
        self.0
    }

    pub fn saturating_add(self, d: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_add(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
        )
    }

    pub fn saturating_sub(self, d: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_sub(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
        )
    }

    /// Time elapsed from `self` to `later`, zero when `later` is earlier.
    pub fn until(self, later: Timestamp) -> Duration {
        Duration::from_nanos(later.0.saturating_sub(self.0).max(0) as u64)
    }

    /// RFC 3339, UTC, nanosecond precision.
    pub fn to_rfc3339(self) -> String {
        humantime::format_rfc3339_nanos(self.to_system()).to_string()
    }

    /// Accepts RFC 3339 (`2026-11-23T18:40:12.5Z`) and the short UTC forms `YYYY-MM-DD` and
    /// `YYYY-MM-DDTHH:MM:SS`.
    pub fn parse(s: &str) -> Result<Timestamp, String> {
        let full = match s.len() {
            10 => format!("{s}T00:00:00Z"),
            19 => format!("{s}Z"),
            _ => s.to_string(),
        };
        humantime::parse_rfc3339_weak(&full)
            .map(Timestamp::from_system)
            .map_err(|e| format!("{s:?} is not an RFC 3339 time ({e})"))
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Timestamp {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "format": "date-time"})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip_keeps_nanoseconds() {
        let t = Timestamp(1_795_459_212_123_456_789);
        let s = t.to_rfc3339();
        assert!(s.ends_with(".123456789Z"), "{s}");
        assert_eq!(Timestamp::parse(&s).unwrap(), t);
    }

    #[test]
    fn short_forms_are_utc() {
        let d = Timestamp::parse("2026-11-23").unwrap();
        let dt = Timestamp::parse("2026-11-23T00:00:10").unwrap();
        assert_eq!(dt.0 - d.0, 10_000_000_000);
        assert!(Timestamp::parse("yesterday").is_err());
    }
}
