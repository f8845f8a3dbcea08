//! Query strings of the control and daemon APIs: decoded once here so both servers agree. Unknown
//! parameters are the caller's to ignore; a malformed known one is an error that names it.

/// Decoded `key=value` pairs in order (keys may repeat: `topic=a&topic=b`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryString(Vec<(String, String)>);

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

impl QueryString {
    pub fn parse(q: Option<&str>) -> QueryString {
        QueryString(
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

    /// Parses `key` with `f`; the error reads `query parameter KEY: ...`.
    pub fn parse_with<T>(
        &self,
        key: &str,
        f: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => f(v)
                .map(Some)
                .map_err(|e| format!("query parameter {key}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_repeats_and_keeps_bad_escapes_verbatim() {
        let q = QueryString::parse(Some("topic=routerd.%2A%2A&topic=a+b&limit=5&x"));
        assert_eq!(q.all("topic"), ["routerd.**", "a b"]);
        assert_eq!(q.get("limit"), Some("5"));
        assert_eq!(q.get("x"), Some(""));
        assert_eq!(QueryString::parse(Some("a=%")).get("a"), Some("%"));
        assert_eq!(QueryString::parse(Some("a=%4")).get("a"), Some("%4"));
        assert_eq!(QueryString::parse(Some("a=%zz")).get("a"), Some("%zz"));
        let err = QueryString::parse(Some("limit=x"))
            .parse_with("limit", |v| v.parse::<u32>().map_err(|e| e.to_string()));
        assert!(err.unwrap_err().starts_with("query parameter limit:"));
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,64}") {
            let q = QueryString::parse(Some(&s));
            let _ = q.all("a");
        }
    }
}
