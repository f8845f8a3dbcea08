//! Topic grammar and the one glob matcher shared by the bus, the event endpoints and the rule engines.
//!
//! Topics are lower-case segments `[a-z0-9_-]+` joined by `.`, starting with `routerd`. In a pattern `*`
//! matches exactly one segment and `**` matches zero or more; anything else is literal.

/// Checks a concrete topic (no wildcards).
pub fn validate_topic(topic: &str) -> Result<(), String> {
    let mut segments = topic.split('.');
    if segments.next() != Some("routerd") {
        return Err(format!("topic {topic:?} must start with \"routerd.\""));
    }
    let mut count = 1;
    for seg in segments {
        count += 1;
        if !valid_segment(seg) {
            return Err(format!(
                "topic {topic:?}: segment {seg:?} must be lower-case letters, digits, '_' or '-'"
            ));
        }
    }
    if count < 2 {
        return Err(format!(
            "topic {topic:?} needs at least one segment after \"routerd\""
        ));
    }
    Ok(())
}

/// Checks a pattern: segments are literals, `*` or `**`.
pub fn validate_pattern(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("empty topic pattern".to_string());
    }
    for seg in pattern.split('.') {
        if seg != "*" && seg != "**" && !valid_segment(seg) {
            return Err(format!(
                "topic pattern {pattern:?}: segment {seg:?} must be '*', '**' or lower-case letters, digits, '_', '-'"
            ));
        }
    }
    Ok(())
}

fn valid_segment(seg: &str) -> bool {
    !seg.is_empty()
        && seg
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// A parsed pattern, so matching many events against it does not re-split the pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPattern {
    source: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    One,
    Many,
}

impl TopicPattern {
    pub fn parse(pattern: &str) -> Result<TopicPattern, String> {
        validate_pattern(pattern)?;
        let segments = pattern
            .split('.')
            .map(|s| match s {
                "*" => Segment::One,
                "**" => Segment::Many,
                lit => Segment::Literal(lit.to_string()),
            })
            .collect();
        Ok(TopicPattern {
            source: pattern.to_string(),
            segments,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn matches(&self, topic: &str) -> bool {
        let parts: Vec<&str> = topic.split('.').collect();
        match_segments(&self.segments, &parts)
    }

    /// The literal prefix before the first wildcard, usable to narrow an SQL query with `LIKE`.
    pub fn literal_prefix(&self) -> String {
        let mut out = Vec::new();
        for s in &self.segments {
            match s {
                Segment::Literal(l) => out.push(l.as_str()),
                _ => break,
            }
        }
        out.join(".")
    }
}

/// Iterative matcher with backtracking on the last `**` (linear in practice, never exponential).
fn match_segments(pattern: &[Segment], topic: &[&str]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < topic.len() {
        match pattern.get(p) {
            Some(Segment::Many) => {
                star = Some((p, t));
                p += 1;
            }
            Some(Segment::One) => {
                p += 1;
                t += 1;
            }
            Some(Segment::Literal(l)) if l == topic[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|s| *s == Segment::Many)
}

/// Convenience for one-off checks.
pub fn topic_matches(pattern: &str, topic: &str) -> bool {
    TopicPattern::parse(pattern)
        .map(|p| p.matches(topic))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wildcards() {
        let t = "routerd.dhcpv4.client.lease.bound";
        assert!(topic_matches("routerd.dhcpv4.client.lease.bound", t));
        assert!(topic_matches("routerd.*.client.lease.bound", t));
        assert!(topic_matches("routerd.**", t));
        assert!(topic_matches("**", t));
        assert!(topic_matches("routerd.**.bound", t));
        assert!(topic_matches("routerd.dhcpv4.**.lease.bound", t));
        assert!(!topic_matches("routerd.*.bound", t));
        assert!(!topic_matches("routerd.dhcpv4", t));
        assert!(!topic_matches("routerd.dhcpv4.client.lease.bound.x", t));
        assert!(topic_matches("routerd.dhcpv4.client.lease.bound.**", t));
        assert!(!topic_matches("Routerd.**", t));
    }

    #[test]
    fn validation() {
        assert!(validate_topic("routerd.config.applied").is_ok());
        assert!(validate_topic("routerd").is_err());
        assert!(validate_topic("other.config").is_err());
        assert!(validate_topic("routerd.Config").is_err());
        assert!(validate_topic("routerd..x").is_err());
        assert!(validate_pattern("routerd.**.x").is_ok());
        assert!(validate_pattern("routerd.a*").is_err());
    }

    /// Reference matcher: plain recursion, obviously correct, exponential but fine for tiny inputs.
    fn reference(p: &[&str], t: &[&str]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some((&"**", rest)) => (0..=t.len()).any(|i| reference(rest, &t[i..])),
            Some((&"*", rest)) => !t.is_empty() && reference(rest, &t[1..]),
            Some((lit, rest)) => t.first() == Some(lit) && reference(rest, &t[1..]),
        }
    }

    proptest! {
        #[test]
        fn matcher_agrees_with_reference(
            p in proptest::collection::vec(prop_oneof!["a", "b", "\\*", "\\*\\*"], 1..6),
            t in proptest::collection::vec(prop_oneof!["a", "b", "c"], 1..7),
        ) {
            let pattern = p.join(".");
            let topic = t.join(".");
            let parsed = TopicPattern::parse(&pattern).unwrap();
            prop_assert_eq!(parsed.matches(&topic), reference(&p.iter().map(|s| s.as_str()).collect::<Vec<_>>(), &t.iter().map(|s| s.as_str()).collect::<Vec<_>>()));
        }

        #[test]
        fn parse_never_panics(s in ".{0,40}", t in ".{0,40}") {
            if let Ok(p) = TopicPattern::parse(&s) { let _ = p.matches(&t); }
            let _ = validate_topic(&t);
        }
    }
}
