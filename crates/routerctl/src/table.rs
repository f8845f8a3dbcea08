//! Plain-text tables for people: aligned columns, upper-case header, `-` where a value is absent.
//!
//! One renderer for every command keeps the look consistent and lets `grep`/`awk` users rely on two
//! spaces between columns and no trailing whitespace.

/// Placeholder for a value that is not known; an empty cell would shift `awk` columns.
pub const ABSENT: &str = "-";

/// Rows of cells with an upper-case header, rendered with two spaces between columns.
#[derive(Debug, Clone, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// The header is upper-cased here so call sites can name columns naturally.
    pub fn new<I, S>(columns: I) -> Table
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Table {
            header: columns
                .into_iter()
                .map(|c| c.as_ref().to_uppercase())
                .collect(),
            rows: Vec::new(),
        }
    }

    /// Missing trailing cells render as absent, so a short row never breaks the alignment.
    pub fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// The whole table, one line per row, each ending in `\n`.
    pub fn render(&self) -> String {
        let columns = self
            .header
            .len()
            .max(self.rows.iter().map(Vec::len).max().unwrap_or(0));
        let lines: Vec<Vec<String>> = std::iter::once(&self.header)
            .chain(self.rows.iter())
            .map(|row| {
                (0..columns)
                    .map(|i| clean(row.get(i).map(String::as_str)))
                    .collect()
            })
            .collect();
        let mut widths = vec![0usize; columns];
        for line in &lines {
            for (i, cell) in line.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for line in &lines {
            let mut text = String::new();
            for (i, cell) in line.iter().enumerate() {
                text.push_str(cell);
                if i + 1 < columns {
                    let pad = widths[i] - cell.chars().count() + 2;
                    text.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        }
        out
    }
}

/// A cell must stay on one line and must not be empty, or the columns stop lining up.
fn clean(cell: Option<&str>) -> String {
    let text: String = cell
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let text = text.trim();
    if text.is_empty() {
        ABSENT.to_string()
    } else {
        text.to_string()
    }
}

/// Renders an optional value, absent as `-`.
pub fn opt<T: std::fmt::Display>(value: Option<T>) -> String {
    value
        .map(|v| v.to_string())
        .unwrap_or_else(|| ABSENT.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns_with_two_spaces_and_no_trailing_space() {
        let mut t = Table::new(["kind", "name", "phase"]);
        t.row(["Interface", "lan", "Up"]);
        t.row(["IPv4StaticAddress", "wan-1", ""]);
        assert_eq!(
            t.render(),
            "KIND               NAME   PHASE\n\
             Interface          lan    Up\n\
             IPv4StaticAddress  wan-1  -\n"
        );
        for line in t.render().lines() {
            assert_eq!(line, line.trim_end());
        }
    }

    #[test]
    fn short_rows_and_empty_cells_show_a_dash() {
        let mut t = Table::new(["a", "b", "c"]);
        t.row(["x"]);
        t.row(["", " ", "z"]);
        assert_eq!(t.render(), "A  B  C\nx  -  -\n-  -  z\n");
    }

    #[test]
    fn newlines_in_cells_do_not_break_rows() {
        let mut t = Table::new(["message", "n"]);
        t.row(["two\nlines\tand a tab", "1"]);
        assert_eq!(
            t.render(),
            "MESSAGE              N\ntwo lines and a tab  1\n"
        );
    }

    #[test]
    fn width_counts_characters_not_bytes() {
        let mut t = Table::new(["d", "x"]);
        t.row(["812µs", "1"]);
        t.row(["1s", "2"]);
        assert_eq!(t.render(), "D      X\n812µs  1\n1s     2\n");
    }

    #[test]
    fn header_only_table_renders_the_header() {
        let t = Table::new(["name"]);
        assert_eq!(t.render(), "NAME\n");
    }

    #[test]
    fn opt_shows_absent_values_as_dash() {
        assert_eq!(opt(Some(3)), "3");
        assert_eq!(opt::<u32>(None), "-");
    }
}
