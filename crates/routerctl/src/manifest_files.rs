//! Gathers the manifest text of `apply -f` / `validate -f` from files, directories and stdin.
//!
//! Files are checked locally before anything is sent: routerd only sees one concatenated manifest and
//! cannot say which file a YAML syntax error came from, but we can.

use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Extensions read from a directory; anything else there (READMEs, backups) is left alone.
const MANIFEST_EXTENSIONS: &[&str] = &["yaml", "yml", "json"];

/// The text of one input, already in YAML form, and where it came from (for error messages).
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestSource {
    pub origin: String,
    pub text: String,
    pub documents: usize,
}

/// Reads every `-f` argument in order: `-` is stdin (once), a directory contributes its `*.yaml`,
/// `*.yml` and `*.json` files sorted by name (not recursively), anything else is read as a file.
pub fn collect(paths: &[PathBuf], stdin: &mut dyn Read) -> Result<Vec<ManifestSource>> {
    let mut out = Vec::new();
    let mut stdin_used = false;
    for path in paths {
        if path.as_os_str() == "-" {
            if stdin_used {
                bail!("-f - is given twice; standard input can be read only once");
            }
            stdin_used = true;
            let mut text = String::new();
            stdin
                .read_to_string(&mut text)
                .context("cannot read the manifest from standard input")?;
            out.push(source("<stdin>", &text, false)?);
        } else if path.is_dir() {
            let files = directory_manifests(path)?;
            if files.is_empty() {
                bail!(
                    "{} holds no manifest files (looked for *.yaml, *.yml, *.json)",
                    path.display()
                );
            }
            for file in files {
                out.push(read_file(&file)?);
            }
        } else {
            out.push(read_file(path)?);
        }
    }
    let total: usize = out.iter().map(|s| s.documents).sum();
    if total == 0 {
        let origins: Vec<&str> = out.iter().map(|s| s.origin.as_str()).collect();
        bail!(
            "no resources found in {}; to remove resources use `routerctl delete`",
            origins.join(", ")
        );
    }
    Ok(out)
}

/// One manifest for the request, documents separated by `---` lines.
pub fn join(sources: &[ManifestSource]) -> String {
    let parts: Vec<&str> = sources.iter().map(|s| s.text.trim_end()).collect();
    let mut text = parts.join("\n---\n");
    text.push('\n');
    text
}

fn directory_manifests(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("cannot list {}", dir.display()))?
            .path();
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if !hidden && path.is_file() && has_manifest_extension(&path) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn has_manifest_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| MANIFEST_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn read_file(path: &Path) -> Result<ManifestSource> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let is_json = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    source(&path.display().to_string(), &text, is_json)
}

/// JSON files are turned into YAML documents (an array becomes one document per element), because the
/// request carries a single YAML manifest and JSON with tab indentation is not valid YAML.
fn source(origin: &str, text: &str, is_json: bool) -> Result<ManifestSource> {
    if is_json {
        let value: serde_json::Value =
            serde_json::from_str(text).with_context(|| format!("{origin}: malformed JSON"))?;
        let docs = match value {
            serde_json::Value::Array(items) => items,
            other => vec![other],
        };
        let mut yaml = Vec::new();
        for doc in &docs {
            yaml.push(
                serde_saphyr::to_string(doc)
                    .with_context(|| format!("{origin}: cannot convert to YAML"))?,
            );
        }
        let documents = docs.iter().filter(|d| !d.is_null()).count();
        return Ok(ManifestSource {
            origin: origin.to_string(),
            text: yaml.join("---\n"),
            documents,
        });
    }
    let docs = routerd_api::manifest::parse_documents(text)
        .map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
    Ok(ManifestSource {
        origin: origin.to_string(),
        text: text.to_string(),
        documents: docs.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const IFACE: &str = "apiVersion: net.routerd.net/v1alpha1\nkind: Interface\nmetadata: {name: lan}\nspec: {ifname: eth1}\n";
    const ADDR: &str = "apiVersion: net.routerd.net/v1alpha1\nkind: IPv4StaticAddress\nmetadata: {name: lan}\nspec: {interface: lan, address: 192.0.2.1/24}";

    fn no_stdin() -> std::io::Empty {
        std::io::empty()
    }

    #[test]
    fn a_directory_contributes_its_manifests_sorted_by_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("20-addr.yml"), ADDR).unwrap();
        std::fs::write(dir.path().join("10-iface.yaml"), IFACE).unwrap();
        std::fs::write(dir.path().join("README.md"), "not yaml: [").unwrap();
        std::fs::write(dir.path().join(".hidden.yaml"), "broken: [").unwrap();
        std::fs::create_dir(dir.path().join("sub.yaml")).unwrap();
        let sources = collect(&[dir.path().to_path_buf()], &mut no_stdin()).unwrap();
        let names: Vec<&str> = sources
            .iter()
            .map(|s| s.origin.rsplit('/').next().unwrap_or_default())
            .collect();
        assert_eq!(names, ["10-iface.yaml", "20-addr.yml"]);

        let joined = join(&sources);
        assert_eq!(joined, format!("{}\n---\n{}\n", IFACE.trim_end(), ADDR));
        let docs = routerd_api::manifest::parse_documents(&joined).unwrap();
        assert_eq!(docs.len(), 2);
    }

    #[test]
    fn stdin_is_read_once_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("iface.yaml");
        std::fs::write(&file, IFACE).unwrap();
        let mut stdin = ADDR.as_bytes();
        let sources = collect(&[file.clone(), PathBuf::from("-")], &mut stdin).unwrap();
        assert_eq!(sources[1].origin, "<stdin>");
        assert_eq!(sources[1].documents, 1);

        let mut stdin = ADDR.as_bytes();
        let twice = collect(&[PathBuf::from("-"), PathBuf::from("-")], &mut stdin).unwrap_err();
        assert!(twice.to_string().contains("twice"), "{twice}");
    }

    #[test]
    fn json_files_become_yaml_documents() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("all.json");
        std::fs::write(
            &file,
            "[\n\t{\"apiVersion\": \"net.routerd.net/v1alpha1\", \"kind\": \"Interface\",\n\t \"metadata\": {\"name\": \"lan\"}, \"spec\": {\"ifname\": \"eth1\"}},\n\t{\"apiVersion\": \"net.routerd.net/v1alpha1\", \"kind\": \"Interface\", \"metadata\": {\"name\": \"wan\"}, \"spec\": {\"ifname\": \"eth0\"}}\n]",
        )
        .unwrap();
        let sources = collect(&[file], &mut no_stdin()).unwrap();
        assert_eq!(sources[0].documents, 2);
        let docs = routerd_api::manifest::parse_documents(&join(&sources)).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1]["metadata"]["name"], "wan");
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.yaml");
        std::fs::write(&bad, "kind: [unclosed\n").unwrap();
        let err = collect(&[bad], &mut no_stdin()).unwrap_err();
        assert!(format!("{err:#}").contains("bad.yaml"), "{err:#}");

        let missing = dir.path().join("missing.yaml");
        let err = collect(&[missing], &mut no_stdin()).unwrap_err();
        assert!(format!("{err:#}").contains("missing.yaml"), "{err:#}");

        let empty_dir = dir.path().join("empty");
        std::fs::create_dir(&empty_dir).unwrap();
        let err = collect(&[empty_dir], &mut no_stdin()).unwrap_err();
        assert!(err.to_string().contains("no manifest files"), "{err}");
    }

    #[test]
    fn a_manifest_without_resources_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.yaml");
        std::fs::write(&empty, "---\n# nothing here\n").unwrap();
        let err = collect(&[empty], &mut no_stdin()).unwrap_err();
        assert!(err.to_string().contains("no resources found"), "{err}");
    }
}
