//! Query-string parsing: unknown parameters are ignored, a malformed known one is a 400 naming it.

use super::response::Failure;

/// Decoded `key=value` pairs in order (keys may repeat).
pub struct Query(Vec<(String, String)>);

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Query {
    pub fn parse(q: Option<&str>) -> Query {
        let pairs = q
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect();
        Query(pairs)
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

    pub fn bool(&self, key: &str) -> Result<bool, Failure> {
        Ok(self
            .parse_with(key, |v| match v {
                "" | "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                other => Err(format!("{other:?} is not true or false")),
            })?
            .unwrap_or(false))
    }

    /// `limit` with a default and a maximum; larger values are clamped, not refused.
    pub fn limit(&self, default: usize, max: usize) -> Result<usize, Failure> {
        Ok(self
            .parse_with("limit", |v| {
                v.parse::<usize>()
                    .map_err(|_| format!("{v:?} is not a non-negative integer"))
            })?
            .unwrap_or(default)
            .clamp(1, max))
    }
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
        assert_eq!(Query::parse(Some("a=%")).get("a"), Some("%"));
        assert_eq!(Query::parse(Some("a=%4")).get("a"), Some("%4"));
    }
}
