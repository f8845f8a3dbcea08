//! `emit.attributes` templates: literal text with `${topic}`, `${count}`, `${correlation}`,
//! `${resource.name}`, `${resource.kind}` and `${attributes.<key>}`. They are parsed once when a rule is
//! loaded and rendered against the event a firing carries; a variable with no value renders empty.
//! Anything else inside `${...}` is refused at apply (`routerd_api::spec::template_variable_allowed`).

use routerd_api::event::{Event, ATTR_RESOURCE_KIND, ATTR_RESOURCE_NAME};
use routerd_api::spec::{template_variable_allowed, template_variables};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Topic,
    Count,
    Correlation,
    ResourceName,
    ResourceKind,
    Attribute(String),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

/// What a template is rendered against.
pub struct Values<'a> {
    /// The event the firing carries (its topic, resource and attributes).
    pub event: &'a Event,
    pub count: u64,
    pub correlation: &'a str,
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, String> {
        // Same grammar as apply-time validation, so nothing accepted there fails here.
        for var in template_variables(text)? {
            if !template_variable_allowed(&var) {
                return Err(format!("unknown template variable ${{{var}}}"));
            }
        }
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("unclosed \"${{\" in {text:?}"))?;
            let var = &after[..end];
            parts.push(match var {
                "topic" => Part::Topic,
                "count" => Part::Count,
                "correlation" => Part::Correlation,
                "resource.name" => Part::ResourceName,
                "resource.kind" => Part::ResourceKind,
                other => match other.strip_prefix("attributes.") {
                    Some(k) => Part::Attribute(k.to_string()),
                    None => return Err(format!("unknown template variable ${{{other}}}")),
                },
            });
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Ok(Template { parts })
    }

    pub fn render(&self, v: &Values<'_>) -> String {
        let attr = |k: &str| v.event.attributes.get(k).map(String::as_str).unwrap_or("");
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Literal(s) => out.push_str(s),
                Part::Topic => out.push_str(&v.event.topic),
                Part::Count => out.push_str(&v.count.to_string()),
                Part::Correlation => out.push_str(v.correlation),
                Part::ResourceName => out.push_str(attr(ATTR_RESOURCE_NAME)),
                Part::ResourceKind => out.push_str(attr(ATTR_RESOURCE_KIND)),
                Part::Attribute(k) => out.push_str(attr(k)),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use routerd_api::event::NewEvent;
    use routerd_api::Severity;

    #[test]
    fn renders_every_variable_against_the_carried_event() {
        let ev = NewEvent::new("routerd.healthcheck.state.unhealthy", Severity::Warning, "")
            .resource("HealthCheck", "isp-icmp")
            .attr("target", "198.51.100.129")
            .with_cursor(7);
        let t = Template::parse(
            "${resource.kind}/${resource.name} ${topic} x${count} [${correlation}] ${attributes.target}${attributes.none}.",
        )
        .unwrap();
        let out = t.render(&Values {
            event: &ev,
            count: 3,
            correlation: "isp-icmp",
        });
        assert_eq!(
            out,
            "HealthCheck/isp-icmp routerd.healthcheck.state.unhealthy x3 [isp-icmp] 198.51.100.129."
        );
        assert_eq!(
            Template::parse("plain").unwrap().render(&Values {
                event: &ev,
                count: 0,
                correlation: ""
            }),
            "plain"
        );
    }

    #[test]
    fn refuses_what_apply_refuses() {
        assert!(Template::parse("${severity}").is_err());
        assert!(Template::parse("${attributes.}").is_err());
        assert!(Template::parse("${topic").is_err());
    }
}
