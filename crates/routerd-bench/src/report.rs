//! Figures and the statistics behind them. Every benchmark ends in `Figure`s: one line each on stdout
//! (`name  ours  peer  ratio  unit  target`) and, when `--results` is given, one tab-separated line in that
//! file so `bench/run` can build the summary table.

use anyhow::Context as _;
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

/// Which way a target points; used only to mark a figure `ok`/`miss` (targets are tracked, not asserted).
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// Our value should be at least this.
    AtLeast(f64),
    /// Our value should be at most this.
    AtMost(f64),
    /// ours / peer should be at least this.
    RatioAtLeast(f64),
    /// ours should equal this exactly (e.g. zero lost events).
    Exactly(f64),
}

impl Target {
    fn describe(self, unit: &str) -> String {
        match self {
            Target::AtLeast(v) => format!(">= {} {unit}", fmt_value(v)),
            Target::AtMost(v) => format!("<= {} {unit}", fmt_value(v)),
            Target::RatioAtLeast(v) => format!("ratio >= {v}"),
            Target::Exactly(v) => format!("== {}", fmt_value(v)),
        }
    }

    fn met(self, ours: f64, peer: Option<f64>) -> Option<bool> {
        match self {
            Target::AtLeast(v) => Some(ours >= v),
            Target::AtMost(v) => Some(ours <= v),
            Target::RatioAtLeast(v) => peer.filter(|p| *p > 0.0).map(|p| ours / p >= v),
            Target::Exactly(v) => Some(ours == v),
        }
    }
}

/// One measured figure: our value, the peer's value from the same run (if there is a peer), the unit.
#[derive(Debug, Clone)]
pub struct Figure {
    pub name: String,
    pub ours: f64,
    pub peer: Option<f64>,
    pub unit: &'static str,
    pub target: Option<Target>,
}

impl Figure {
    pub fn new(name: impl Into<String>, ours: f64, unit: &'static str) -> Figure {
        Figure {
            name: name.into(),
            ours,
            peer: None,
            unit,
            target: None,
        }
    }

    pub fn peer(mut self, peer: f64) -> Figure {
        self.peer = Some(peer);
        self
    }

    pub fn target(mut self, t: Target) -> Figure {
        self.target = Some(t);
        self
    }

    /// ours / peer.
    pub fn ratio(&self) -> Option<f64> {
        self.peer.filter(|p| *p > 0.0).map(|p| self.ours / p)
    }

    fn columns(&self) -> [String; 6] {
        let target = match self.target {
            Some(t) => {
                let mark = match t.met(self.ours, self.peer) {
                    Some(true) => "ok",
                    Some(false) => "MISS",
                    None => "?",
                };
                format!("{} [{mark}]", t.describe(self.unit))
            }
            None => "-".to_string(),
        };
        [
            self.name.clone(),
            fmt_value(self.ours),
            self.peer.map(fmt_value).unwrap_or_else(|| "-".into()),
            self.ratio()
                .map(|r| format!("{r:.3}"))
                .unwrap_or_else(|| "-".into()),
            self.unit.to_string(),
            target,
        ]
    }
}

/// Compact, readable numbers: integers for large values, 3 significant decimals for small ones.
pub fn fmt_value(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if a >= 1000.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.1 {
        format!("{v:.3}")
    } else {
        format!("{v:.4}")
    }
}

/// Prints figures and appends them to the results file.
pub struct Reporter {
    results: Option<std::path::PathBuf>,
}

impl Reporter {
    pub fn new(results: Option<&Path>) -> Reporter {
        Reporter {
            results: results.map(Path::to_path_buf),
        }
    }

    pub fn emit(&self, fig: &Figure) -> anyhow::Result<()> {
        let c = fig.columns();
        println!(
            "{:<44} {:>12} {:>12} {:>8} {:<7} {}",
            c[0], c[1], c[2], c[3], c[4], c[5]
        );
        if let Some(path) = &self.results {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open results file {}", path.display()))?;
            writeln!(f, "{}", c.join("\t"))
                .with_context(|| format!("cannot write results file {}", path.display()))?;
        }
        Ok(())
    }

    pub fn emit_all(&self, figs: &[Figure]) -> anyhow::Result<()> {
        for f in figs {
            self.emit(f)?;
        }
        Ok(())
    }
}

/// Median of the values (mean of the two middle ones for an even count); NaN when empty.
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Latency samples of one run.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    nanos: Vec<u64>,
}

impl Samples {
    pub fn with_capacity(n: usize) -> Samples {
        Samples {
            nanos: Vec::with_capacity(n),
        }
    }

    pub fn push(&mut self, d: Duration) {
        self.nanos
            .push(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    pub fn push_nanos(&mut self, n: u64) {
        self.nanos.push(n);
    }

    pub fn extend(&mut self, other: Samples) {
        self.nanos.extend(other.nanos);
    }

    pub fn len(&self) -> usize {
        self.nanos.len()
    }

    /// Nearest-rank percentile in milliseconds; NaN when there are no samples.
    pub fn percentile_ms(&mut self, p: f64) -> f64 {
        if self.nanos.is_empty() {
            return f64::NAN;
        }
        self.nanos.sort_unstable();
        let n = self.nanos.len();
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        let idx = rank.clamp(1, n) - 1;
        self.nanos[idx] as f64 / 1e6
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_percentiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        let mut s = Samples::default();
        for i in 1..=100u64 {
            s.push_nanos(i * 1_000_000);
        }
        assert_eq!(s.percentile_ms(50.0), 50.0);
        assert_eq!(s.percentile_ms(99.0), 99.0);
        assert_eq!(s.percentile_ms(100.0), 100.0);
    }

    #[test]
    fn ratio_and_targets() {
        let f = Figure::new("x", 100.0, "ev/s")
            .peer(200.0)
            .target(Target::RatioAtLeast(0.5));
        assert_eq!(f.ratio(), Some(0.5));
        assert!(f.columns()[5].ends_with("[ok]"));
        let g = Figure::new("y", 3.0, "ms").target(Target::AtMost(2.0));
        assert!(g.columns()[5].ends_with("[MISS]"));
    }
}
