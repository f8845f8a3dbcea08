//! Query-string parsing: unknown parameters are ignored, a malformed known one is a 400 naming it.

use super::response::Failure;
use routerd_api::query::QueryString;

/// The shared query-string decoding, with errors as 400 `BadRequest`.
pub(crate) struct Query(QueryString);

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

    /// Parses `key` with `f`; a failure becomes a 400 that names the parameter.
    pub fn parse_with<T>(
        &self,
        key: &str,
        f: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, Failure> {
        self.0.parse_with(key, f).map_err(Failure::bad_request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_repeats() {
        let q = Query::parse(Some("topic=routerd.%2A%2A&topic=a+b&limit=5&x"));
        assert_eq!(q.all("topic"), ["routerd.**", "a b"]);
        assert_eq!(q.get("limit"), Some("5"));
        assert_eq!(q.get("x"), Some(""));
        assert_eq!(Query::parse(Some("a=%")).get("a"), Some("%"));
        assert_eq!(Query::parse(Some("a=%4")).get("a"), Some("%4"));
        assert_eq!(Query::parse(Some("a=%41")).get("a"), Some("A"));
        assert_eq!(Query::parse(Some("a=%zz")).get("a"), Some("%zz"));
        assert_eq!(Query::parse(Some("a=%+f")).get("a"), Some("% f"));
    }
}
