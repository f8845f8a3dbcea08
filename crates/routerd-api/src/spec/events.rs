use super::validate::{Checker, Reference};
use crate::duration::GoDuration;
use crate::event::Severity;
use crate::kind::Kind;
use crate::phase::Phase;
use crate::topic::{validate_pattern, validate_topic};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum RuleOperator {
    AnyOf,
    AllOf,
    Sequence,
    Window,
    Count,
    Throttle,
    Debounce,
    Absence,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuleMatch {
    pub operator: RuleOperator,
    /// Topic patterns (`*`, `**`) the rule listens to.
    #[serde(default)]
    pub topics: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<GoDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<GoDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet: Option<GoDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<GoDuration>,
    /// `absence`: the topic that starts the timer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// `absence`: the topic that cancels it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// `sequence`: reset on an out-of-order listed topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    /// `attributes.<key>`, `resource.name`, `resource.kind` or `source.instance`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlate_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleEmit {
    pub topic: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// Turns patterns in the event stream into a virtual event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EventRuleSpec {
    #[serde(rename = "match")]
    pub match_: RuleMatch,
    pub emit: RuleEmit,
}

/// Variables a template may use; anything else is refused at apply.
pub fn template_variable_allowed(var: &str) -> bool {
    matches!(
        var,
        "topic" | "count" | "correlation" | "resource.name" | "resource.kind"
    ) || var
        .strip_prefix("attributes.")
        .is_some_and(|k| !k.is_empty())
}

/// The `${...}` variables of a template, or an error for an unclosed `${`.
pub fn template_variables(template: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed \"${{\" in {template:?}"))?;
        out.push(after[..end].to_string());
        rest = &after[end + 1..];
    }
    Ok(out)
}

impl EventRuleSpec {
    pub(crate) fn validate(&self, c: &mut Checker) {
        let m = &self.match_;
        use RuleOperator::*;
        let needs_topics = !matches!(m.operator, Absence);
        if needs_topics && m.topics.is_empty() {
            c.error("match.topics", "needs at least one topic pattern");
        }
        for (i, t) in m.topics.iter().enumerate() {
            if let Err(e) = validate_pattern(t) {
                c.error(&format!("match.topics[{i}]"), e);
            }
        }
        let require = |c: &mut Checker, present: bool, field: &str| {
            if !present {
                c.error(
                    &format!("match.{field}"),
                    format!("required for operator {:?}", m.operator).to_lowercase(),
                );
            }
        };
        match m.operator {
            Window => {
                require(c, m.window.is_some(), "window");
                require(c, m.threshold.is_some(), "threshold");
            }
            Count => require(c, m.threshold.is_some(), "threshold"),
            Throttle => require(c, m.interval.is_some(), "interval"),
            Debounce => require(c, m.quiet.is_some(), "quiet"),
            Absence => {
                require(c, m.trigger.is_some(), "trigger");
                require(c, m.expected.is_some(), "expected");
                require(c, m.timeout.is_some(), "timeout");
            }
            Sequence => {
                if m.topics.len() < 2 {
                    c.error("match.topics", "sequence needs at least two topics");
                }
            }
            AnyOf | AllOf => {}
        }
        if m.threshold == Some(0) {
            c.error("match.threshold", "must be at least 1");
        }
        self.validate_operator_fields(c);
        for (field, t) in [("trigger", &m.trigger), ("expected", &m.expected)] {
            if let Some(t) = t {
                if let Err(e) = validate_pattern(t) {
                    c.error(&format!("match.{field}"), e);
                }
            }
        }
        if let Some(by) = &m.correlate_by {
            let ok = matches!(
                by.as_str(),
                "resource.name" | "resource.kind" | "source.instance"
            ) || by
                .strip_prefix("attributes.")
                .is_some_and(|k| !k.is_empty());
            if !ok {
                c.error("match.correlateBy", format!("{by:?} is not attributes.<key>, resource.name, resource.kind or source.instance"));
            }
        }
        if let Err(e) = validate_topic(&self.emit.topic) {
            c.error("emit.topic", e);
        }
        for (k, v) in &self.emit.attributes {
            let sets_count = matches!(m.operator, RuleOperator::Window | RuleOperator::Count);
            if let Some(why) = reserved_emit_attribute(k, v, sets_count) {
                c.error(&format!("emit.attributes.{k}"), why);
            }
            match template_variables(v) {
                Ok(vars) => {
                    for var in vars {
                        if !template_variable_allowed(&var) {
                            c.error(&format!("emit.attributes.{k}"), format!("unknown template variable ${{{var}}} (topic, count, correlation, resource.name, resource.kind, attributes.<key>)"));
                        }
                    }
                }
                Err(e) => c.error(&format!("emit.attributes.{k}"), e),
            }
        }
    }
    pub(crate) fn references(&self) -> Vec<Reference> {
        Vec::new()
    }

    /// Refuses settings the operator would silently ignore, zero durations, and sizes the engine does
    /// not keep in memory (`events.md`).
    fn validate_operator_fields(&self, c: &mut Checker) {
        use RuleOperator::*;
        let m = &self.match_;
        let op = format!("{:?}", m.operator);
        let op = op[..1].to_lowercase() + &op[1..];
        let used: &[&str] = match m.operator {
            AnyOf | AllOf => &[],
            Sequence => &["strict"],
            Window => &["window", "threshold"],
            Count => &["threshold"],
            Throttle => &["interval"],
            Debounce => &["quiet"],
            Absence => &["trigger", "expected", "timeout"],
        };
        let given = [
            ("window", m.window.is_some()),
            ("threshold", m.threshold.is_some()),
            ("interval", m.interval.is_some()),
            ("quiet", m.quiet.is_some()),
            ("timeout", m.timeout.is_some()),
            ("trigger", m.trigger.is_some()),
            ("expected", m.expected.is_some()),
            ("strict", m.strict.is_some()),
        ];
        for (field, present) in given {
            if present && !used.contains(&field) {
                c.error(
                    &format!("match.{field}"),
                    format!("not used by operator {op}; remove it"),
                );
            }
        }
        if m.operator == Absence && !m.topics.is_empty() {
            c.error(
                "match.topics",
                "absence listens to match.trigger and match.expected; leave topics empty",
            );
        }
        if m.topics.len() > MAX_RULE_TOPICS {
            c.error(
                "match.topics",
                format!(
                    "{} topic patterns; at most {MAX_RULE_TOPICS}",
                    m.topics.len()
                ),
            );
        }
        if m.operator == Absence && m.trigger.is_some() && m.trigger == m.expected {
            c.error(
                "match.expected",
                "the same pattern as match.trigger: the trigger would always cancel itself",
            );
        }
        for (field, d) in [
            ("window", m.window),
            ("interval", m.interval),
            ("quiet", m.quiet),
            ("timeout", m.timeout),
        ] {
            if d.is_some_and(|d| d.0.is_zero()) {
                c.error(&format!("match.{field}"), "must be longer than 0s");
            }
        }
        if m.operator == Window && m.threshold.is_some_and(|t| t > MAX_WINDOW_THRESHOLD) {
            c.error(
                "match.threshold",
                format!("at most {MAX_WINDOW_THRESHOLD} for window (the window keeps that many match times per key)"),
            );
        }
    }
}

/// Topic patterns one EventRule may list (the engine keeps which ones were seen in a 64-bit set).
pub const MAX_RULE_TOPICS: usize = 64;
/// Largest `threshold` of a `window` rule.
pub const MAX_WINDOW_THRESHOLD: u32 = 10_000;

/// Attributes the EventRule engine sets on every emitted event; a template may not replace them.
pub const ENGINE_EMIT_ATTRIBUTES: &[&str] = &[
    "correlation",
    "resource.kind",
    "resource.name",
    "resource.apiVersion",
    "subject.kind",
    "subject.name",
    "causeCursor",
    "firedAtCursor",
];

/// Why an `emit.attributes` key cannot be used, if it cannot.
fn reserved_emit_attribute(key: &str, template: &str, sets_count: bool) -> Option<String> {
    if key.is_empty() {
        return Some("an attribute key must not be empty".to_string());
    }
    if ENGINE_EMIT_ATTRIBUTES.contains(&key) {
        return Some(format!(
            "{key:?} is set by the rule engine on every emitted event; choose another key"
        ));
    }
    if sets_count && key == "count" && template != "${count}" {
        return Some(
            "\"count\" is set by the rule engine for window and count (the number of matches); use \"${count}\" or another key"
                .to_string(),
        );
    }
    None
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DerivedWhen {
    All,
    Any,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum PhaseSet {
    One(Phase),
    Many(Vec<Phase>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConditionTest {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldTest {
    /// JSON pointer into the resource's status (e.g. `/lease/address`).
    pub pointer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DerivedCondition {
    /// `Kind/name` of the resource tested.
    pub resource: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<PhaseSet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<ConditionTest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<FieldTest>,
}

/// Asserts a condition over resource status and emits `<topic>.asserted` / `<topic>.retracted`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DerivedEventSpec {
    pub topic: String,
    pub when: DerivedWhen,
    pub conditions: Vec<DerivedCondition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hysteresis: Option<GoDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emit_initial: Option<bool>,
}

impl DerivedEventSpec {
    pub(crate) fn validate(&self, c: &mut Checker) {
        if let Err(e) = validate_topic(&self.topic) {
            c.error("topic", e);
        }
        if self.conditions.is_empty() {
            c.error("conditions", "needs at least one condition");
        }
        for (i, cond) in self.conditions.iter().enumerate() {
            let tests = [
                cond.phase.is_some(),
                cond.condition.is_some(),
                cond.field.is_some(),
            ];
            if tests.iter().filter(|t| **t).count() != 1 {
                c.error(
                    &format!("conditions[{i}]"),
                    "give exactly one of phase, condition, field",
                );
            }
            match cond.resource.split_once('/') {
                Some((k, n)) if Kind::lookup(k).is_some() && !n.is_empty() => {}
                _ => c.error(
                    &format!("conditions[{i}].resource"),
                    format!(
                        "{:?} is not Kind/name (e.g. HealthCheck/internet)",
                        cond.resource
                    ),
                ),
            }
            if let Some(f) = &cond.field {
                if !f.pointer.starts_with('/') {
                    c.error(
                        &format!("conditions[{i}].field.pointer"),
                        "a JSON pointer starts with '/'",
                    );
                } else if let Err(e) = check_pointer_escapes(&f.pointer) {
                    c.error(&format!("conditions[{i}].field.pointer"), e);
                }
                if f.equals.is_some() == f.exists.is_some() {
                    c.error(
                        &format!("conditions[{i}].field"),
                        "give exactly one of equals, exists",
                    );
                }
            }
            if let Some(PhaseSet::Many(phases)) = &cond.phase {
                if phases.is_empty() {
                    c.error(
                        &format!("conditions[{i}].phase"),
                        "an empty list never matches; give at least one phase",
                    );
                }
            }
            if let Some(t) = &cond.condition {
                if t.type_.is_empty() {
                    c.error(
                        &format!("conditions[{i}].condition.type"),
                        "must not be empty (e.g. Healthy, LinkUp)",
                    );
                }
                if !matches!(t.status.as_str(), "True" | "False" | "Unknown") {
                    c.error(
                        &format!("conditions[{i}].condition.status"),
                        format!("{:?} is not True, False or Unknown", t.status),
                    );
                }
            }
        }
    }
    pub(crate) fn references(&self) -> Vec<Reference> {
        self.conditions
            .iter()
            .enumerate()
            .filter_map(|(i, cond)| {
                let (k, n) = cond.resource.split_once('/')?;
                Some(Reference::new(
                    &format!("spec.conditions[{i}].resource"),
                    Kind::lookup(k)?,
                    n,
                ))
            })
            .collect()
    }
}

/// RFC 6901: `~` is only valid as `~0` or `~1`.
fn check_pointer_escapes(pointer: &str) -> Result<(), String> {
    let mut chars = pointer.chars();
    while let Some(ch) = chars.next() {
        if ch == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(format!(
                "{pointer:?}: '~' must be written ~0, and '/' inside a key ~1 (RFC 6901)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(v: serde_json::Value) -> Vec<String> {
        let spec: EventRuleSpec = serde_json::from_value(v).unwrap();
        let mut c = Checker::default();
        spec.validate(&mut c);
        c.errors.iter().map(|e| e.to_string()).collect()
    }

    fn derived(v: serde_json::Value) -> Vec<String> {
        let spec: DerivedEventSpec = serde_json::from_value(v).unwrap();
        let mut c = Checker::default();
        spec.validate(&mut c);
        c.errors.iter().map(|e| e.to_string()).collect()
    }

    fn has(errors: &[String], field: &str) -> bool {
        errors.iter().any(|e| e.starts_with(&format!("{field}:")))
    }

    #[test]
    fn the_documented_example_is_valid() {
        let errors = rule(serde_json::json!({
            "match": {"operator": "window", "topics": ["routerd.healthcheck.state.unhealthy"],
                      "window": "5m", "threshold": 3, "correlateBy": "resource.name"},
            "emit": {"topic": "routerd.virtual.wan.flapping", "severity": "warning",
                     "attributes": {"check": "${resource.name}", "count": "${count}"}}
        }));
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn eventrule_refusals_name_the_field() {
        let emit = serde_json::json!({"topic": "routerd.virtual.x"});
        let cases = [
            (
                serde_json::json!({"operator": "count", "topics": ["routerd.**"], "threshold": 2, "window": "1m"}),
                "spec.match.window",
            ),
            (
                serde_json::json!({"operator": "debounce", "topics": ["routerd.**"], "quiet": "0s"}),
                "spec.match.quiet",
            ),
            (
                serde_json::json!({"operator": "absence", "topics": ["routerd.a"], "trigger": "routerd.a", "expected": "routerd.b", "timeout": "1s"}),
                "spec.match.topics",
            ),
            (
                serde_json::json!({"operator": "absence", "trigger": "routerd.a", "expected": "routerd.a", "timeout": "1s"}),
                "spec.match.expected",
            ),
            (
                serde_json::json!({"operator": "window", "topics": ["routerd.a"], "window": "1m", "threshold": 20000}),
                "spec.match.threshold",
            ),
            (
                serde_json::json!({"operator": "anyOf", "topics": ["routerd.a"], "strict": true}),
                "spec.match.strict",
            ),
            (
                serde_json::json!({"operator": "allOf", "topics": (0..65).map(|i| format!("routerd.t{i}")).collect::<Vec<_>>()}),
                "spec.match.topics",
            ),
        ];
        for (m, field) in cases {
            let errors = rule(serde_json::json!({"match": m, "emit": emit}));
            assert!(has(&errors, field), "{m}: {errors:?}");
        }
        let errors = rule(serde_json::json!({
            "match": {"operator": "count", "topics": ["routerd.a"], "threshold": 2},
            "emit": {"topic": "routerd.virtual.x", "attributes": {"correlation": "x", "count": "7", "": "y"}}
        }));
        for field in [
            "spec.emit.attributes.correlation",
            "spec.emit.attributes.count",
            "spec.emit.attributes.",
        ] {
            assert!(has(&errors, field), "{field}: {errors:?}");
        }
        // `count` is free for operators that do not set it.
        let errors = rule(serde_json::json!({
            "match": {"operator": "anyOf", "topics": ["routerd.a"]},
            "emit": {"topic": "routerd.virtual.x", "attributes": {"count": "${attributes.n}"}}
        }));
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn derivedevent_refusals_name_the_field() {
        let errors = derived(serde_json::json!({
            "topic": "routerd.virtual.ready", "when": "all",
            "conditions": [
                {"resource": "Interface/wan", "phase": []},
                {"resource": "HealthCheck/x", "condition": {"type": "", "status": "true"}},
                {"resource": "HealthCheck/x", "field": {"pointer": "/a~2b", "equals": 1, "exists": true}},
                {"resource": "HealthCheck/x", "field": {"pointer": "/a"}},
            ]
        }));
        for field in [
            "spec.conditions[0].phase",
            "spec.conditions[1].condition.type",
            "spec.conditions[1].condition.status",
            "spec.conditions[2].field.pointer",
            "spec.conditions[2].field",
            "spec.conditions[3].field",
        ] {
            assert!(has(&errors, field), "{field}: {errors:?}");
        }
        let errors = derived(serde_json::json!({
            "topic": "routerd.virtual.ready", "when": "any", "hysteresis": "10s",
            "conditions": [
                {"resource": "Interface/wan", "phase": ["Up", "Applied"]},
                {"resource": "HealthCheck/x", "condition": {"type": "Healthy", "status": "True"}},
                {"resource": "HealthCheck/x", "field": {"pointer": "/a~1b/0", "exists": true}},
            ]
        }));
        assert!(errors.is_empty(), "{errors:?}");
    }
}
