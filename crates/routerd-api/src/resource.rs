//! The resource envelope (`apiVersion`, `kind`, `metadata`, `spec`) and its decoding from untrusted
//! JSON/YAML into typed specs, with every problem reported as a field error.

use crate::kind::Kind;
use crate::name::validate_name;
use crate::spec::{Checker, ResourceSpec};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One field-level problem: where (`spec.interface`), in which resource, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FieldError {
    /// `Kind/name` of the resource, or `resources[i]` when it has no readable identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            resource: None,
            field: field.into(),
            message: message.into(),
        }
    }
    pub fn in_resource(mut self, resource: impl Into<String>) -> FieldError {
        self.resource = Some(resource.into());
        self
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.resource {
            Some(r) => write!(f, "{r}: {}: {}", self.field, self.message),
            None => write!(f, "{}: {}", self.field, self.message),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    pub name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// `apiVersion` + `kind` + `metadata.name`; string form `<apiVersion>/<Kind>/<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceId {
    pub kind: Kind,
    pub name: String,
}

impl ResourceId {
    pub fn new(kind: Kind, name: &str) -> ResourceId {
        ResourceId {
            kind,
            name: name.to_string(),
        }
    }
    /// `Kind/name`, what people type.
    pub fn short(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
    /// Parses `Kind/name` with a forgiving kind (`addr/lan`, `ipv4staticaddress/lan`).
    pub fn parse_short(s: &str) -> Result<ResourceId, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not Kind/name (e.g. IPv4StaticAddress/lan)"))?;
        let kind = Kind::lookup(k).ok_or_else(|| format!("unknown kind {k:?} in {s:?}"))?;
        validate_name(n).map_err(|e| format!("{s:?}: {e}"))?;
        Ok(ResourceId::new(kind, n))
    }
}

impl std::fmt::Display for ResourceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.kind.api_version(), self.kind, self.name)
    }
}

/// A decoded, validated-by-type resource. `status` of the input is ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub kind: Kind,
    pub metadata: Metadata,
    pub spec: ResourceSpec,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResourceWire<'a> {
    api_version: &'static str,
    kind: &'static str,
    metadata: &'a Metadata,
    spec: &'a ResourceSpec,
}

impl Serialize for Resource {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ResourceWire {
            api_version: self.kind.api_version(),
            kind: self.kind.as_str(),
            metadata: &self.metadata,
            spec: &self.spec,
        }
        .serialize(s)
    }
}

impl Resource {
    pub fn id(&self) -> ResourceId {
        ResourceId::new(self.kind, &self.metadata.name)
    }
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// Decodes one document. Every problem found is returned, each with its field path, so the operator
    /// fixes a manifest in one round.
    pub fn from_value(value: serde_json::Value) -> Result<Resource, Vec<FieldError>> {
        let serde_json::Value::Object(mut obj) = value else {
            return Err(vec![FieldError::new(
                "",
                "a resource must be a mapping with apiVersion, kind, metadata and spec",
            )]);
        };
        let mut errors = Vec::new();
        let api_version = match obj.remove("apiVersion") {
            Some(serde_json::Value::String(s)) => Some(s),
            Some(_) => {
                errors.push(FieldError::new("apiVersion", "must be a string"));
                None
            }
            None => {
                errors.push(FieldError::new(
                    "apiVersion",
                    "required (e.g. net.routerd.net/v1alpha1)",
                ));
                None
            }
        };
        let kind = match obj.remove("kind") {
            Some(serde_json::Value::String(s)) => match Kind::from_exact(&s) {
                Some(k) => Some(k),
                None => {
                    let hint = Kind::lookup(&s)
                        .map(|k| format!("; did you mean {k}?"))
                        .unwrap_or_else(|| {
                            format!(
                                "; known kinds: {}",
                                Kind::all()
                                    .map(|k| k.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        });
                    errors.push(FieldError::new("kind", format!("unknown kind {s:?}{hint}")));
                    None
                }
            },
            Some(_) => {
                errors.push(FieldError::new("kind", "must be a string"));
                None
            }
            None => {
                errors.push(FieldError::new("kind", "required (e.g. Interface)"));
                None
            }
        };
        if let (Some(k), Some(av)) = (kind, &api_version) {
            if k.api_version() != av {
                errors.push(FieldError::new(
                    "apiVersion",
                    format!("{k} belongs to {:?}, not {av:?}", k.api_version()),
                ));
            }
        }
        let metadata = match obj.remove("metadata") {
            Some(m) => match serde_path_to_error::deserialize::<_, Metadata>(m) {
                Ok(m) => {
                    if let Err(e) = validate_name(&m.name) {
                        errors.push(FieldError::new("metadata.name", e));
                    }
                    Some(m)
                }
                Err(e) => {
                    let path = e.path().to_string();
                    let field = if path == "." {
                        "metadata".to_string()
                    } else {
                        format!("metadata.{path}")
                    };
                    errors.push(FieldError::new(field, e.into_inner().to_string()));
                    None
                }
            },
            None => {
                errors.push(FieldError::new("metadata.name", "required"));
                None
            }
        };
        let spec_value = obj.remove("spec");
        obj.remove("status");
        for key in obj.keys() {
            errors.push(FieldError::new(
                key.clone(),
                "unknown field (a resource has apiVersion, kind, metadata, spec)",
            ));
        }
        let spec = match (kind, spec_value) {
            (Some(k), Some(v)) => match ResourceSpec::from_value(k, v) {
                Ok(spec) => {
                    let mut checker = Checker::default();
                    spec.validate(&mut checker);
                    if let (ResourceSpec::PPPoESession(s), Some(m)) = (&spec, &metadata) {
                        s.validate_named(&m.name, &mut checker);
                    }
                    errors.extend(checker.errors);
                    Some(spec)
                }
                Err(e) => {
                    errors.push(e);
                    None
                }
            },
            (Some(_), None) => {
                errors.push(FieldError::new("spec", "required"));
                None
            }
            (None, _) => None,
        };
        let label = match (kind, &metadata) {
            (Some(k), Some(m)) if !m.name.is_empty() => Some(format!("{k}/{}", m.name)),
            _ => None,
        };
        if let Some(label) = &label {
            for e in &mut errors {
                e.resource = Some(label.clone());
            }
        }
        match (kind, metadata, spec) {
            (Some(kind), Some(metadata), Some(spec)) if errors.is_empty() => Ok(Resource {
                kind,
                metadata,
                spec,
            }),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn addr(spec: serde_json::Value) -> serde_json::Value {
        json!({"apiVersion": "net.routerd.net/v1alpha1", "kind": "IPv4StaticAddress", "metadata": {"name": "lan"}, "spec": spec})
    }

    #[test]
    fn decodes_a_good_resource_and_round_trips() {
        let v = addr(json!({"interface": "lan", "address": "192.0.2.1/24"}));
        let r = Resource::from_value(v.clone()).unwrap();
        assert_eq!(r.id().short(), "IPv4StaticAddress/lan");
        assert_eq!(serde_json::to_value(&r).unwrap(), v);
    }

    #[test]
    fn unknown_field_is_named_with_its_path() {
        let errs = Resource::from_value(addr(
            json!({"interface": "lan", "address": "192.0.2.1/24", "bogus": 1}),
        ))
        .unwrap_err();
        assert_eq!(errs[0].field, "spec.bogus");
        assert!(errs[0].message.contains("bogus"), "{errs:?}");
        let hc = json!({"apiVersion": "net.routerd.net/v1alpha1", "kind": "HealthCheck", "metadata": {"name": "x"},
            "spec": {"target": "192.0.2.1", "protocol": "http", "http": {"path": "/", "expectStatsu": 200}}});
        let errs = Resource::from_value(hc).unwrap_err();
        assert_eq!(errs[0].field, "spec.http.expectStatsu");
        assert!(errs[0].message.contains("expectStatsu"));
    }

    #[test]
    fn bad_values_unknown_kind_and_names() {
        let errs = Resource::from_value(addr(json!({"interface": "lan", "address": "192.0.2.1"})))
            .unwrap_err();
        assert_eq!(errs[0].field, "spec.address");
        let errs = Resource::from_value(json!({"apiVersion": "net.routerd.net/v1alpha1", "kind": "interface", "metadata": {"name": "x"}, "spec": {}})).unwrap_err();
        assert!(errs[0].message.contains("did you mean Interface"));
        let mut v = addr(json!({"interface": "lan", "address": "192.0.2.1/24"}));
        v["metadata"]["name"] = json!("../x");
        assert_eq!(
            Resource::from_value(v).unwrap_err()[0].field,
            "metadata.name"
        );
        assert!(Resource::from_value(json!([1, 2])).is_err());
    }
}
