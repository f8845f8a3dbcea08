//! Multi-document YAML manifests, decoded through `serde_json::Value` so YAML and JSON inputs share one
//! typed decoding path and the same field-path errors.

use crate::resource::{FieldError, Resource};

/// A manifest that could not be read as YAML at all (as opposed to resources that are invalid).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed YAML: {0}")]
pub struct MalformedManifest(pub String);

/// Splits a manifest into documents and decodes each as generic data. Empty documents are skipped.
pub fn parse_documents(text: &str) -> Result<Vec<serde_json::Value>, MalformedManifest> {
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(text).map_err(|e| MalformedManifest(e.to_string()))?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// Decodes documents into resources, collecting every error; the document index labels resources that
/// have no readable identity.
pub fn decode_resources(docs: Vec<serde_json::Value>) -> Result<Vec<Resource>, Vec<FieldError>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, doc) in docs.into_iter().enumerate() {
        match Resource::from_value(doc) {
            Ok(r) => out.push(r),
            Err(errs) => errors.extend(errs.into_iter().map(|mut e| {
                if e.resource.is_none() {
                    e.resource = Some(format!("resources[{i}]"));
                }
                e
            })),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Renders resources as a multi-document YAML manifest (for snapshots and `routerctl export`).
pub fn to_yaml(resources: &[Resource]) -> Result<String, String> {
    let mut out = String::new();
    for r in resources {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(r).map_err(|e| e.to_string())?);
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EXAMPLE: &str = "apiVersion: net.routerd.net/v1alpha1\nkind: Interface\nmetadata:\n  name: lan\nspec:\n  ifname: eth1\n---\napiVersion: net.routerd.net/v1alpha1\nkind: IPv4StaticAddress\nmetadata: {name: lan}\nspec: {interface: lan, address: 192.0.2.1/24}\n";

    #[test]
    fn reads_several_documents_and_writes_them_back() {
        let rs = decode_resources(parse_documents(EXAMPLE).unwrap()).unwrap();
        assert_eq!(rs.len(), 2);
        let again = decode_resources(parse_documents(&to_yaml(&rs).unwrap()).unwrap()).unwrap();
        assert_eq!(rs, again);
    }

    #[test]
    fn malformed_yaml_is_an_error_not_a_panic() {
        assert!(parse_documents("kind: [unclosed\n").is_err());
        assert!(parse_documents("a: b\n c: d\n:").is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in ".{0,200}") {
            if let Ok(docs) = parse_documents(&s) { let _ = decode_resources(docs); }
        }
    }
}
