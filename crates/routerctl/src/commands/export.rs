//! `routerctl export`: the desired state as files, so an operator who changed the router through the
//! API can save the result back into the config directory.

use super::Ctx;
use crate::client::Socket;
use crate::output::{self, OutputFormat};
use anyhow::{Context, Result};
use routerd_api::Metadata;
use serde::Serialize;
use serde_json::{Map, Value};

pub async fn run(ctx: &Ctx) -> Result<()> {
    let value = ctx.client.get(Socket::Status, "/resources").await?;
    let items = value
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let docs: Vec<ExportDoc> = items.iter().map(ExportDoc::from_item).collect();
    match ctx.output {
        OutputFormat::Json => {
            let mut text = serde_json::to_string_pretty(&docs)?;
            text.push('\n');
            output::print(&text)
        }
        OutputFormat::Table | OutputFormat::Yaml => output::print(&render_yaml(&docs)?),
    }
}

/// One exported resource. A struct rather than a JSON map so the fields come out in the order people
/// write them (apiVersion, kind, metadata, spec), not alphabetically; `status` is left out because
/// routerd writes it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportDoc {
    api_version: Value,
    kind: Value,
    metadata: ExportMetadata,
    spec: Value,
}

/// The wire type when it can hold what routerd sent (it writes `name` first and leaves empty maps
/// out), else the raw fields so nothing is lost.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum ExportMetadata {
    Typed(Metadata),
    Raw(Value),
}

impl ExportDoc {
    fn from_item(item: &Value) -> ExportDoc {
        let mut kept = Map::new();
        if let Some(m) = item.get("metadata").and_then(Value::as_object) {
            for key in ["name", "labels", "annotations"] {
                if let Some(v) = m.get(key).filter(|v| !v.is_null()) {
                    kept.insert(key.to_string(), v.clone());
                }
            }
        }
        let metadata = match serde_json::from_value::<Metadata>(Value::Object(kept.clone())) {
            Ok(m) => ExportMetadata::Typed(m),
            Err(_) => ExportMetadata::Raw(Value::Object(kept)),
        };
        ExportDoc {
            api_version: item.get("apiVersion").cloned().unwrap_or(Value::Null),
            kind: item.get("kind").cloned().unwrap_or(Value::Null),
            metadata,
            spec: item
                .get("spec")
                .cloned()
                .unwrap_or_else(|| Value::Object(Map::new())),
        }
    }
}

pub fn render_yaml(docs: &[ExportDoc]) -> Result<String> {
    let mut out = String::new();
    for doc in docs {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(doc).context("cannot render YAML")?);
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exports_spec_without_status_in_manifest_order() {
        let items = [
            json!({"apiVersion": "net.routerd.net/v1alpha1", "kind": "Interface",
                "metadata": {"name": "lan", "labels": {"role": "lan"}, "annotations": {}},
                "spec": {"ifname": "eth1", "mtu": 1500}, "status": {"phase": "Up"}}),
            json!({"apiVersion": "net.routerd.net/v1alpha1", "kind": "IPv4StaticAddress",
                "metadata": {"name": "lan"}, "spec": {"interface": "lan", "address": "192.0.2.1/24"}}),
        ];
        let docs: Vec<ExportDoc> = items.iter().map(ExportDoc::from_item).collect();
        let yaml = render_yaml(&docs).unwrap();
        assert!(!yaml.contains("status"), "{yaml}");
        assert!(!yaml.contains("annotations"), "{yaml}");
        assert!(
            yaml.starts_with(
                "---\napiVersion: net.routerd.net/v1alpha1\nkind: Interface\nmetadata:\n  name: lan\n  labels:\n"
            ),
            "{yaml}"
        );

        // What export prints, apply accepts: it decodes into valid resources.
        let parsed = routerd_api::manifest::parse_documents(&yaml).unwrap();
        let resources = routerd_api::manifest::decode_resources(parsed).unwrap();
        assert_eq!(resources.len(), 2);
        assert_eq!(
            resources[0].metadata.labels.get("role").map(String::as_str),
            Some("lan")
        );
    }
}
