//! Output for people and programs: fitted text tables, JSON and CSV.
//!
//! Tables fit a 100-column terminal by shrinking the widest columns and cutting their cells
//! with `…`; control characters a terminal would act on never reach it. CSV cells that a
//! spreadsheet would run as a formula are prefixed with `'`.

use std::fmt::Write as _;

/// Width that tables fit in.
pub const WIDTH: usize = 100;

/// Output format of `show`, `log` and friends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// A table of strings with a header row.
#[derive(Clone, Debug, Default)]
pub struct Table {
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Self {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<String>) {
        debug_assert_eq!(row.len(), self.headers.len());
        self.rows.push(row);
    }

    /// The table as text, fitted to `width` columns, every cell [`printable`].
    pub fn to_text(&self, width: usize) -> String {
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(|c| printable(c)).collect())
            .collect();
        let n = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for r in &rows {
            for (i, c) in r.iter().enumerate() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
        let budget = width.saturating_sub(2 * n.saturating_sub(1));
        // The last column (titles, summaries) gives way first, then the widest.
        while widths.iter().sum::<usize>() > budget && widths[n - 1] > 24 {
            widths[n - 1] -= 1;
        }
        // Then the widest other column; the first (the row's key) keeps its width.
        while widths.iter().sum::<usize>() > budget {
            let (i, w) = widths
                .iter()
                .enumerate()
                .skip(1)
                .max_by_key(|(_, w)| **w)
                .map(|(i, w)| (i, *w))
                .expect("a table has columns");
            if w <= 8 {
                break;
            }
            widths[i] = w - 1;
        }
        let mut out = String::new();
        let line = |cells: Vec<&str>, out: &mut String| {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate() {
                if i > 0 {
                    s.push_str("  ");
                }
                let cut = cut(c, widths[i]);
                if i + 1 == n {
                    s.push_str(&cut);
                } else {
                    let _ = write!(s, "{cut:<w$}", w = widths[i]);
                }
            }
            out.push_str(s.trim_end());
            out.push('\n');
        };
        line(self.headers.clone(), &mut out);
        for r in &rows {
            line(r.iter().map(|s| s.as_str()).collect(), &mut out);
        }
        out
    }

    /// The table as CSV (RFC 4180), safe to open in a spreadsheet.
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        let row = |cells: Vec<&str>, out: &mut String| {
            let cells: Vec<String> = cells.into_iter().map(csv_cell).collect();
            out.push_str(&cells.join(","));
            out.push_str("\r\n");
        };
        row(self.headers.clone(), &mut out);
        for r in &self.rows {
            row(r.iter().map(|s| s.as_str()).collect(), &mut out);
        }
        out
    }
}

/// Characters a terminal acts on instead of showing: controls (escape sequences, bell, carriage
/// return) and the bidirectional overrides that reorder what is shown.
fn unshowable(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Text as a terminal may show it on one line: line breaks and tabs become spaces, other
/// [`unshowable`] characters `\u{FFFD}`. Recorded text may hold anything the gate lets
/// through, and it reaches officers' terminals through tables and error messages.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            c if unshowable(c) => '\u{FFFD}',
            c => c,
        })
        .collect()
}

fn cut(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(w.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// One CSV cell: quoted when needed; `=`, `+`, `-`, `@`, tab and CR leads neutralised.
pub fn csv_cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_show_no_control_characters() {
        let mut t = Table::new(&["a", "b"]);
        t.push(vec![
            "x\u{1b}[2J\u{1b}]0;title\u{7}".into(),
            "one\ntwo\r\u{0}\u{202e}three\u{9b}".into(),
        ]);
        let text = t.to_text(WIDTH);
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(
            !text.chars().any(|c| c != '\n' && unshowable(c)),
            "{text:?}"
        );
        assert!(
            text.contains("x\u{fffd}[2J\u{fffd}]0;title\u{fffd}"),
            "{text:?}"
        );
        assert!(
            text.contains("one two \u{fffd}\u{fffd}three\u{fffd}"),
            "{text:?}"
        );
        assert_eq!(printable("plain, été"), "plain, été");
    }

    #[test]
    fn fits_and_escapes() {
        let mut t = Table::new(&["a", "b"]);
        t.push(vec!["x".repeat(80), "y".repeat(80)]);
        for l in t.to_text(WIDTH).lines() {
            assert!(l.chars().count() <= WIDTH, "{l}");
        }
        assert_eq!(csv_cell("=1+1"), "'=1+1");
        assert_eq!(csv_cell("a,\"b\""), "\"a,\"\"b\"\"\"");
    }
}
