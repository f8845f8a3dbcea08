//! Query strings for the control API. Topic globs and `Kind/name` values travel in the query, so they
//! are percent-encoded here rather than trusted to be URL-safe.

/// An ordered list of `key=value` pairs; repeated keys are allowed (`topic` is repeatable).
#[derive(Debug, Clone, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn new() -> Query {
        Query::default()
    }

    pub fn push(&mut self, key: &str, value: impl AsRef<str>) -> &mut Query {
        self.pairs
            .push((key.to_string(), value.as_ref().to_string()));
        self
    }

    pub fn push_opt<V: AsRef<str>>(&mut self, key: &str, value: Option<V>) -> &mut Query {
        if let Some(v) = value {
            self.push(key, v);
        }
        self
    }

    /// `path?k=v&...`, or `path` alone when there are no pairs.
    pub fn apply_to(&self, path: &str) -> String {
        if self.pairs.is_empty() {
            return path.to_string();
        }
        let encoded: Vec<String> = self
            .pairs
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        format!("{path}?{}", encoded.join("&"))
    }
}

/// Keeps RFC 3986 unreserved characters plus `/`, `*` and `:` (legal in a query and common in our values,
/// so request logs stay readable); everything else becomes `%XX`.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/*:".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_pairs_means_no_question_mark() {
        assert_eq!(Query::new().apply_to("/events"), "/events");
    }

    #[test]
    fn repeated_keys_keep_their_order() {
        let mut q = Query::new();
        q.push("topic", "routerd.dhcpv4.**")
            .push("topic", "routerd.*.x")
            .push_opt("limit", Some("5"));
        q.push_opt::<&str>("since", None);
        assert_eq!(
            q.apply_to("/events"),
            "/events?topic=routerd.dhcpv4.**&topic=routerd.*.x&limit=5"
        );
    }

    #[test]
    fn reserved_and_non_ascii_bytes_are_encoded() {
        assert_eq!(encode("role=up link&x"), "role%3Dup%20link%26x");
        assert_eq!(encode("IPv4StaticAddress/lan"), "IPv4StaticAddress/lan");
        assert_eq!(encode("µ"), "%C2%B5");
        assert_eq!(encode("a+b#c?"), "a%2Bb%23c%3F");
    }
}
