//! Writing results: the `-o` format choice, pass-through JSON/YAML for scripts, and small layout helpers
//! for the human form. Everything goes through [`print`] so that a closed pipe ends the program quietly
//! instead of panicking inside `println!`.

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use std::io::Write;

/// `-o`: tables for people; JSON and YAML carry routerd's own answer unchanged (absolute times).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Yaml,
}

/// Writes `text` to stdout (adding a final newline if missing) and flushes, so a `--follow` line is
/// visible the moment it is printed even when stdout is a pipe.
pub fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    if !text.is_empty() && !text.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Warnings go to stderr so that stdout stays parseable.
pub fn warn(message: &str) {
    eprintln!("warning: {message}");
}

/// Pretty JSON, or YAML rendered from the same value, so both forms carry the same data.
pub fn render_value(format: OutputFormat, value: &serde_json::Value) -> Result<String> {
    match format {
        OutputFormat::Yaml => serde_saphyr::to_string(value).context("cannot render YAML"),
        OutputFormat::Json | OutputFormat::Table => {
            let mut text = serde_json::to_string_pretty(value).context("cannot render JSON")?;
            text.push('\n');
            Ok(text)
        }
    }
}

pub fn print_value(format: OutputFormat, value: &serde_json::Value) -> Result<()> {
    print(&render_value(format, value)?)
}

/// Reads routerd's answer into a wire type; a failure most likely means routerctl and routerd are of
/// different versions, and `-o json` still shows the raw answer.
pub fn decode<T: DeserializeOwned>(value: serde_json::Value, what: &str) -> Result<T> {
    serde_json::from_value(value).with_context(|| {
        format!(
            "cannot read routerd's {what} (are routerctl and routerd the same version? \
             `-o json` shows the raw answer)"
        )
    })
}

/// `Label:  value` lines with the values aligned, for the key/value blocks of `get status` and
/// `describe`.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs
        .iter()
        .map(|(k, _)| k.chars().count() + 1)
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (key, value) in pairs {
        let label = format!("{key}:");
        let value = if value.is_empty() {
            crate::table::ABSENT
        } else {
            value.as_str()
        };
        out.push_str(format!("{label:<width$}  {value}").trim_end());
        out.push('\n');
    }
    out
}

/// Indents every non-empty line, to nest YAML or a table under a section heading.
pub fn indent(text: &str, spaces: usize) -> String {
    let pad = " ".repeat(spaces);
    let mut out = String::new();
    for line in text.lines() {
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_align_values_and_show_absent_as_dash() {
        let text = fields(&[("Phase", "Healthy".into()), ("Last apply", String::new())]);
        assert_eq!(text, "Phase:       Healthy\nLast apply:  -\n");
    }

    #[test]
    fn indent_leaves_blank_lines_blank() {
        assert_eq!(indent("a: 1\n\nb: 2\n", 2), "  a: 1\n\n  b: 2\n");
    }

    #[test]
    fn json_and_yaml_render_the_same_value() {
        let v = json!({"kind": "Status", "status": {"generation": 7, "phase": "Healthy"}});
        let j = render_value(OutputFormat::Json, &v).unwrap();
        assert!(j.contains("\"generation\": 7"), "{j}");
        let y = render_value(OutputFormat::Yaml, &v).unwrap();
        let back: serde_json::Value = serde_saphyr::from_str(&y).unwrap();
        assert_eq!(back, v);
    }
}
