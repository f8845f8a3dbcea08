//! Query-string parsing: unknown parameters are ignored, a malformed known one is a 400 naming it.

use super::response::Failure;
use routerd_api::query::QueryString;

/// The shared query-string decoding, with errors as 400 `BadRequest`.
pub struct Query(QueryString);

impl Query {
    pub fn parse(q: Option<&str>) -> Query {
        Query(QueryString::parse(q))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key)
    }

    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0.all(key)
    }

    pub fn parse_with<T>(
        &self,
        key: &str,
        f: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, Failure> {
        self.0.parse_with(key, f).map_err(Failure::bad_request)
    }

    pub fn bool(&self, key: &str) -> Result<bool, Failure> {
        Ok(self
            .parse_with(key, |v| match v {
                "" | "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                other => Err(format!("{other:?} is not true or false")),
            })?
            .unwrap_or(false))
    }

    /// `limit` with a default and a maximum; larger values are clamped, not refused. A value that is not a
    /// whole number (negative, a fraction, or too long for any integer) is a 400 naming `limit`.
    pub fn limit(&self, default: usize, max: usize) -> Result<usize, Failure> {
        Ok(self
            .parse_with("limit", parse_limit)?
            .unwrap_or(default)
            .clamp(1, max))
    }
}

fn parse_limit(value: &str) -> Result<usize, String> {
    if value.starts_with('-') {
        return Err(format!("{value:?} is negative; give a whole number >= 1"));
    }
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // All digits, so the only failure left is an overflow of the integer type.
        return value
            .parse::<usize>()
            .map_err(|_| format!("{value:?} is too large to be a number of rows"));
    }
    Err(format!("{value:?} is not a whole number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_repeats() {
        let q = Query::parse(Some("topic=routerd.%2A%2A&topic=a+b&limit=5&x"));
        assert_eq!(q.all("topic"), ["routerd.**", "a b"]);
        assert_eq!(q.limit(100, 1000).unwrap(), 5);
        assert_eq!(
            Query::parse(Some("limit=99999")).limit(100, 1000).unwrap(),
            1000
        );
        assert!(Query::parse(Some("limit=-1")).limit(100, 1000).is_err());
        let huge = Query::parse(Some("limit=99999999999999999999999"))
            .limit(100, 1000)
            .unwrap_err();
        assert!(huge.message.contains("limit") && huge.message.contains("too large"));
        assert!(Query::parse(Some("limit=1.5")).limit(100, 1000).is_err());
        assert_eq!(Query::parse(Some("a=%")).get("a"), Some("%"));
        assert_eq!(Query::parse(Some("a=%4")).get("a"), Some("%4"));
    }
}
