//! Reading `--config FILE|DIR`: a file, or every `*.yaml`/`*.yml` in a directory in name order.

use std::path::{Path, PathBuf};

fn is_manifest(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

/// True when `dir` is a directory holding at least one manifest file.
pub fn has_manifests(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|e| is_manifest(&e.path()))
    })
}

/// Concatenates the manifests at `path` into one multi-document YAML text.
pub fn read_manifests(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let files: Vec<PathBuf> = if meta.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| is_manifest(p))
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_path_buf()]
    };
    let mut text = String::new();
    for f in files {
        let content = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        text.push_str("\n---\n");
        text.push_str(&content);
        text.push('\n');
    }
    Ok(text)
}
