//! One EventRule as the engine runs it: topic patterns parsed, operator and correlation resolved,
//! templates parsed, and the virtual event it emits when it fires.

use super::correlation::CorrelateBy;
use super::operators::{Firing, Operator, EXPECTED, TRIGGER};
use super::template::{Template, Values};
use super::SOURCE_EVENTRULE;
use routerd_api::duration::format_duration;
use routerd_api::event::{NewEvent, ATTR_RESOURCE_KIND, ATTR_RESOURCE_NAME};
use routerd_api::spec::{EventRuleSpec, RuleOperator};
use routerd_api::topic::TopicPattern;
use routerd_api::{Severity, Timestamp};
use std::time::Duration;

/// Attribute: the cursor of the event a firing carries.
pub const ATTR_CAUSE_CURSOR: &str = "causeCursor";
/// Attribute: how far the engine had evaluated the stream when the rule fired (the event's own cursor
/// for a firing caused by an event; the engine's position for a timer). Replay puts the recorded firing
/// back at that point.
pub const ATTR_FIRED_AT_CURSOR: &str = "firedAtCursor";
/// Attribute: the correlation key.
pub const ATTR_CORRELATION: &str = "correlation";
/// Attribute: number of matches (`window`, `count`).
pub const ATTR_COUNT: &str = "count";
/// Attributes naming the subject resource of the event the firing carries.
pub const ATTR_SUBJECT_KIND: &str = "subject.kind";
pub const ATTR_SUBJECT_NAME: &str = "subject.name";

#[derive(Debug)]
pub struct Rule {
    pub name: String,
    /// Stable digest of the spec: a changed spec is a new rule with fresh state.
    pub fingerprint: String,
    /// Listed patterns; for `absence` `[trigger, expected]`.
    patterns: Vec<TopicPattern>,
    pub operator: Operator,
    pub correlate: CorrelateBy,
    pub emit_topic: String,
    pub severity: Severity,
    attributes: Vec<(String, Template)>,
    summary: String,
}

impl Rule {
    pub fn compile(name: &str, spec: &EventRuleSpec) -> Result<Rule, String> {
        let m = &spec.match_;
        let need = |d: Option<routerd_api::GoDuration>, field: &str| {
            d.map(|d| d.0)
                .ok_or_else(|| format!("match.{field} is required"))
        };
        let threshold = || m.threshold.ok_or("match.threshold is required".to_string());
        let listed = if m.operator == RuleOperator::Absence {
            vec![
                m.trigger.clone().unwrap_or_default(),
                m.expected.clone().unwrap_or_default(),
            ]
        } else {
            m.topics.clone()
        };
        if listed.len() > 64 {
            return Err("more than 64 topic patterns".into());
        }
        let patterns = listed
            .iter()
            .map(|p| TopicPattern::parse(p))
            .collect::<Result<Vec<_>, _>>()?;
        let all = if patterns.len() == 64 {
            u64::MAX
        } else {
            (1u64 << patterns.len()) - 1
        };
        let operator = match m.operator {
            RuleOperator::AnyOf => Operator::AnyOf,
            RuleOperator::AllOf => Operator::AllOf { all },
            RuleOperator::Sequence => Operator::Sequence {
                steps: patterns.len(),
                strict: m.strict.unwrap_or(false),
            },
            RuleOperator::Window => Operator::Window {
                window: need(m.window, "window")?,
                threshold: threshold()?,
            },
            RuleOperator::Count => Operator::Count {
                threshold: threshold()?,
            },
            RuleOperator::Throttle => Operator::Throttle {
                interval: need(m.interval, "interval")?,
            },
            RuleOperator::Debounce => Operator::Debounce {
                quiet: need(m.quiet, "quiet")?,
            },
            RuleOperator::Absence => Operator::Absence {
                timeout: need(m.timeout, "timeout")?,
            },
        };
        let attributes = spec
            .emit
            .attributes
            .iter()
            .map(|(k, v)| Ok((k.clone(), Template::parse(v)?)))
            .collect::<Result<Vec<_>, String>>()?;
        let by = m.correlate_by.as_deref();
        let summary = summarize(&operator, &listed, by);
        Ok(Rule {
            name: name.to_string(),
            fingerprint: fingerprint(spec),
            patterns,
            operator,
            correlate: CorrelateBy::parse(by)?,
            emit_topic: spec.emit.topic.clone(),
            severity: spec.emit.severity.unwrap_or(Severity::Info),
            attributes,
            summary,
        })
    }

    pub fn patterns(&self) -> &[TopicPattern] {
        &self.patterns
    }

    /// The bit set of listed patterns `topic` matches (for `absence`: [`TRIGGER`], [`EXPECTED`]); 0 when
    /// the rule does not listen to it.
    pub fn topic_bits(&self, topic: &str) -> u64 {
        let mut bits = 0;
        for (i, p) in self.patterns.iter().enumerate() {
            if p.matches(topic) {
                bits |= 1 << i;
            }
        }
        if matches!(self.operator, Operator::Absence { .. }) {
            bits &= TRIGGER | EXPECTED;
        }
        bits
    }

    /// One line describing what the rule does, for its status.
    pub fn summary(&self) -> &str {
        &self.summary
    }

    /// The virtual event for a firing. Its subject is the rule itself (`resource.kind: EventRule`), so
    /// `routerctl describe eventrule/<name>` lists its firings; the subject of the event it carries is
    /// in `subject.kind` / `subject.name`.
    pub fn emitted(&self, f: &Firing, fired_at_cursor: u64, now: Timestamp) -> NewEvent {
        let values = Values {
            event: &f.cause,
            count: f.count,
            correlation: &f.key,
        };
        let mut ev = NewEvent::new(&self.emit_topic, self.severity, self.message(f))
            .source(SOURCE_EVENTRULE, &self.name);
        ev.time = now;
        for (k, t) in &self.attributes {
            ev.attributes.insert(k.clone(), t.render(&values));
        }
        if let Some(kind) = f.cause.attributes.get(ATTR_RESOURCE_KIND) {
            ev.attributes.insert(ATTR_SUBJECT_KIND.into(), kind.clone());
        }
        if let Some(name) = f.cause.attributes.get(ATTR_RESOURCE_NAME) {
            ev.attributes.insert(ATTR_SUBJECT_NAME.into(), name.clone());
        }
        if self.operator.reports_count() {
            ev.attributes.insert(ATTR_COUNT.into(), f.count.to_string());
        }
        ev.attr(ATTR_CORRELATION, f.key.clone())
            .attr(ATTR_CAUSE_CURSOR, f.cause_cursor.to_string())
            .attr(ATTR_FIRED_AT_CURSOR, fired_at_cursor.to_string())
            .resource("EventRule", &self.name)
    }

    fn message(&self, f: &Firing) -> String {
        let what = match &self.operator {
            Operator::AnyOf => format!("matched {}", f.cause.topic),
            Operator::AllOf { .. } => format!("all {} topics seen", self.patterns.len()),
            Operator::Sequence { steps, .. } => format!("sequence of {steps} topics completed"),
            Operator::Window { window, .. } => {
                format!("{} matches within {}", f.count, format_duration(*window))
            }
            Operator::Count { .. } => format!("{} matches", f.count),
            Operator::Throttle { interval } => format!(
                "{} (at most once per {})",
                f.cause.topic,
                format_duration(*interval)
            ),
            Operator::Debounce { quiet } => format!(
                "{} then quiet for {} ({} events)",
                f.cause.topic,
                format_duration(*quiet),
                f.count
            ),
            Operator::Absence { timeout } => format!(
                "{} not followed by {} within {}",
                f.cause.topic,
                self.patterns
                    .get(1)
                    .map(TopicPattern::as_str)
                    .unwrap_or_default(),
                format_duration(*timeout)
            ),
        };
        if f.key.is_empty() {
            format!("{}: {what}", self.name)
        } else {
            format!("{}: {what} for {}", self.name, f.key)
        }
    }
}

fn summarize(op: &Operator, listed: &[String], by: Option<&str>) -> String {
    let topics = listed.join(", ");
    let d = |d: &Duration| format_duration(*d);
    let what = match op {
        Operator::AnyOf => format!("anyOf [{topics}]"),
        Operator::AllOf { .. } => format!("allOf [{topics}]"),
        Operator::Sequence { strict, .. } => format!(
            "{}sequence [{topics}]",
            if *strict { "strict " } else { "" }
        ),
        Operator::Window { window, threshold } => {
            format!("window: {threshold} of [{topics}] within {}", d(window))
        }
        Operator::Count { threshold } => format!("count: every {threshold} of [{topics}]"),
        Operator::Throttle { interval } => {
            format!("throttle [{topics}] to once per {}", d(interval))
        }
        Operator::Debounce { quiet } => format!("debounce [{topics}] until quiet for {}", d(quiet)),
        Operator::Absence { timeout } => format!(
            "absence: {} not followed by {} within {}",
            listed.first().map(String::as_str).unwrap_or_default(),
            listed.get(1).map(String::as_str).unwrap_or_default(),
            d(timeout)
        ),
    };
    match by {
        Some(by) => format!("{what}, per {by}"),
        None => what,
    }
}

/// FNV-1a over the spec's JSON (field order is fixed by the types, attributes are a sorted map).
pub fn fingerprint<T: serde::Serialize>(spec: &T) -> String {
    let text = serde_json::to_string(spec).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use routerd_api::event::Event;
    use std::sync::Arc;

    fn spec(v: serde_json::Value) -> EventRuleSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn emitted_event_names_the_rule_as_subject_and_carries_the_engine_attributes() {
        let r = Rule::compile(
            "wan-flapping",
            &spec(serde_json::json!({
                "match": {"operator": "window", "topics": ["routerd.healthcheck.state.unhealthy"],
                          "window": "5m", "threshold": 3, "correlateBy": "resource.name"},
                "emit": {"topic": "routerd.virtual.wan.flapping", "severity": "warning",
                         "attributes": {"check": "${resource.name}", "count": "${count}"}}
            })),
        )
        .unwrap();
        let cause: Event =
            NewEvent::new("routerd.healthcheck.state.unhealthy", Severity::Warning, "")
                .resource("HealthCheck", "isp-icmp")
                .source("routerd-healthcheck", "isp-icmp")
                .with_cursor(41);
        let f = Firing {
            key: "isp-icmp".into(),
            count: 3,
            cause: Arc::new(cause),
            cause_cursor: 41,
        };
        let ev = r.emitted(&f, 41, Timestamp(5));
        let a = |k: &str| ev.attributes.get(k).cloned().unwrap_or_default();
        assert_eq!(ev.topic, "routerd.virtual.wan.flapping");
        assert_eq!(ev.severity, Severity::Warning);
        assert_eq!(
            (ev.source.kind.as_str(), ev.source.instance.as_str()),
            ("routerd-eventrule", "wan-flapping")
        );
        assert_eq!(
            (a("resource.kind"), a("resource.name")),
            ("EventRule".into(), "wan-flapping".into())
        );
        assert_eq!(
            (a("subject.kind"), a("subject.name")),
            ("HealthCheck".into(), "isp-icmp".into())
        );
        assert_eq!(
            (a("check"), a("count"), a("correlation")),
            ("isp-icmp".into(), "3".into(), "isp-icmp".into())
        );
        assert_eq!(
            (a("causeCursor"), a("firedAtCursor")),
            ("41".into(), "41".into())
        );
        assert_eq!(
            ev.message,
            "wan-flapping: 3 matches within 5m0s for isp-icmp"
        );
        assert_eq!(r.topic_bits("routerd.healthcheck.state.unhealthy"), 1);
        assert_eq!(r.topic_bits("routerd.healthcheck.state.healthy"), 0);
    }

    #[test]
    fn fingerprint_follows_the_spec() {
        let a = spec(
            serde_json::json!({"match": {"operator": "anyOf", "topics": ["routerd.a"]}, "emit": {"topic": "routerd.virtual.a"}}),
        );
        let b = spec(
            serde_json::json!({"match": {"operator": "anyOf", "topics": ["routerd.b"]}, "emit": {"topic": "routerd.virtual.a"}}),
        );
        assert_eq!(fingerprint(&a), fingerprint(&a.clone()));
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }
}
