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
