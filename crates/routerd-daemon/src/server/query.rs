//! Query-string parsing: unknown parameters are ignored, a malformed known one is a 400 naming it.

use super::response::Failure;

/// Decoded `key=value` pairs in order (keys may repeat: `topic=a&topic=b`).
pub(crate) struct Query(Vec<(String, String)>);

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

impl Query {
    pub fn parse(q: Option<&str>) -> Query {
        Query(
            q.unwrap_or("")
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (percent_decode(k), percent_decode(v))
                })
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Parses `key` with `f`; a failure becomes a 400 that names the parameter.
    pub fn parse_with<T>(
        &self,
        key: &str,
        f: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, Failure> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => f(v)
                .map(Some)
                .map_err(|e| Failure::bad_request(format!("query parameter {key}: {e}"))),
        }
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
