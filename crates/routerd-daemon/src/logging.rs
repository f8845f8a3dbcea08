//! Log set-up: `tracing` to stderr, text or JSON, every line carrying the daemon's name. routerd points
//! a daemon's stdout and stderr at its own log file (`<runtime>/<kind>/<name>.log`, rotated at 1 MiB),
//! which the daemon serves on `GET /v1/logs` ([`tail_log`]), so its lines survive a routerd restart and
//! are readable by `routerctl daemon KIND/NAME logs`.

use crate::args::LogFormat;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{self, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

static LOG_FILE: OnceLock<PathBuf> = OnceLock::new();

/// Records where this daemon's stdout and stderr go (set once, at start-up, from `--socket`).
pub fn set_log_file(path: PathBuf) {
    let _ = LOG_FILE.set(path);
}

/// The log file set by [`set_log_file`].
pub fn log_file() -> Option<&'static Path> {
    LOG_FILE.get().map(PathBuf::as_path)
}

/// The newest `count` lines of the log file `path`, reaching into the rotated `<path>.1` when the
/// current file holds fewer. A missing file holds no lines.
pub fn tail_log(path: &Path, count: usize) -> std::io::Result<Vec<String>> {
    let read = |p: &Path| match std::fs::read(p) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e),
    };
    let mut rotated = path.as_os_str().to_owned();
    rotated.push(".1");
    let text = read(Path::new(&rotated))? + &read(path)?;
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(count);
    Ok(lines[start..].iter().map(|l| l.to_string()).collect())
}

/// Installs the global subscriber, naming lines after the executable (`daemon=routerd-healthcheck`).
/// Prefer [`init_logging_for`] once the instance name is known. A second call is a no-op.
pub fn init_logging(format: LogFormat) {
    let exe = std::env::args_os()
        .next()
        .map(std::path::PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "routerd-daemon".to_string());
    init_logging_for(format, &exe, "");
}

/// Installs the global subscriber with `daemon=<kind>` and, when not empty, `instance=<name>` on every
/// line. A second call is a no-op (the first subscriber stays), so tests may call it freely.
pub fn init_logging_for(format: LogFormat, kind: &str, instance: &str) {
    let _ = tracing::subscriber::set_global_default(subscriber(
        format,
        kind,
        instance,
        std::io::stderr,
    ));
}

/// The subscriber [`init_logging_for`] installs, writing to `writer` (tests capture it).
fn subscriber<W>(
    format: LogFormat,
    kind: &str,
    instance: &str,
    writer: W,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let mut fields = vec![("daemon", kind.to_string())];
    if !instance.is_empty() {
        fields.push(("instance", instance.to_string()));
    }
    // No colours: stderr goes into routerd's log, not to a terminal.
    let builder = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false);
    match format {
        LogFormat::Text => Box::new(
            builder
                .event_format(Named {
                    inner: format::format(),
                    fields,
                    json: false,
                })
                .finish(),
        ),
        LogFormat::Json => Box::new(
            builder
                .json()
                .event_format(Named {
                    inner: format::format().json(),
                    fields,
                    json: true,
                })
                .finish(),
        ),
    }
}

/// Wraps a formatter and adds fixed fields: at the end of a text line, first in a JSON object.
struct Named<F> {
    inner: F,
    fields: Vec<(&'static str, String)>,
    json: bool,
}

impl<S, N, F> FormatEvent<S, N> for Named<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = String::new();
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        if self.json {
            let Some(rest) = line.strip_prefix('{') else {
                return writer.write_str(&line);
            };
            writer.write_char('{')?;
            for (key, value) in &self.fields {
                let value = serde_json::Value::String(value.clone());
                write!(writer, "\"{key}\":{value},")?;
            }
            writer.write_str(rest)
        } else {
            let (body, newline) = match line.strip_suffix('\n') {
                Some(body) => (body, "\n"),
                None => (line.as_str(), ""),
            };
            writer.write_str(body)?;
            for (key, value) in &self.fields {
                write!(writer, " {key}={value}")?;
            }
            writer.write_str(newline)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn log_line(format: LogFormat) -> String {
        let out = Captured::default();
        let writer = out.clone();
        let sub = subscriber(format, "routerd-healthcheck", "internet", move || {
            writer.clone()
        });
        tracing::subscriber::with_default(sub, || {
            tracing::info!(target = "192.0.2.1", "probe failed");
        });
        let bytes = out.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn every_line_names_the_daemon() {
        let text = log_line(LogFormat::Text);
        assert!(
            text.ends_with(
                "probe failed target=\"192.0.2.1\" daemon=routerd-healthcheck instance=internet\n"
            ),
            "{text}"
        );
        let json = log_line(LogFormat::Json);
        let v: serde_json::Value = serde_json::from_str(json.trim_end()).unwrap();
        assert_eq!(v["daemon"], "routerd-healthcheck");
        assert_eq!(v["instance"], "internet");
        assert_eq!(v["fields"]["message"], "probe failed");
        assert_eq!(v["level"], "INFO");
    }

    #[test]
    fn the_tail_reaches_into_the_rotated_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        assert!(tail_log(&path, 5).unwrap().is_empty());
        std::fs::write(dir.path().join("a.log.1"), "one\ntwo\nthree\n").unwrap();
        std::fs::write(&path, "four\nfive\n").unwrap();
        assert_eq!(tail_log(&path, 3).unwrap(), ["three", "four", "five"]);
        assert_eq!(tail_log(&path, 100).unwrap().len(), 5);
    }
}
