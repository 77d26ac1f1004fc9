//! Output for people and programs: text tables, JSON and CSV.
//!
//! Text tables (comfy-table) fit the terminal by display width: long text wraps, ids, dates
//! and statuses never do and are never cut, and when even those do not fit, the columns of
//! least use go. Piped, or with `--wide`, rows are printed whole. Control characters a terminal
//! would act on never reach it. CSV cells that a spreadsheet would run as a formula are
//! prefixed with `'`.

use std::sync::atomic::{AtomicBool, Ordering};

use comfy_table::{ColumnConstraint, ContentArrangement};

static WIDE: AtomicBool = AtomicBool::new(false);

/// `--wide`: print rows whole whatever the terminal.
pub fn set_wide(wide: bool) {
    WIDE.store(wide, Ordering::Relaxed);
}

/// The width text tables fit: the terminal's (or `COLUMNS`, when set) unless `--wide`; `None`
/// (rows whole) when printing into a pipe or a file.
pub fn width() -> Option<usize> {
    if WIDE.load(Ordering::Relaxed) {
        return None;
    }
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|n| *n >= 20)
    {
        return Some(n);
    }
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    terminal_size::terminal_size().map(|(w, _)| w.0 as usize)
}

/// Headers of columns whose cells are keys or short facts: never wrapped, never cut.
fn is_key(header: &str) -> bool {
    const KEYS: [&str; 21] = [
        "SEQ", "DUE", "DATES", "STATUS", "ON", "RECORDED", "OCCURRED", "ADOPTED", "FIRE AT",
        "BODY", "KIND", "DEADLINE", "REMINDER", "MEETING", "MANDATE", "SYMBOL", "GROUP", "REPORT",
        "ID", "TYPE", "STREAM",
    ];
    KEYS.contains(&header)
}

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
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Self {
        Self::owned(headers)
    }

    /// A table with headers made at run time.
    pub fn owned<S: AsRef<str>>(headers: &[S]) -> Self {
        Table {
            headers: headers.iter().map(|h| h.as_ref().to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<String>) {
        debug_assert_eq!(row.len(), self.headers.len());
        self.rows.push(row);
    }

    /// The table as text, every cell [`printable`]: fitted to `width` columns by display
    /// width (text wraps; the first column and [`is_key`] columns neither wrap nor are cut, and
    /// the rightmost other columns go when those alone do not fit), or rows whole with `None`.
    pub fn to_text(&self, width: Option<usize>) -> String {
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(|c| printable(c)).collect())
            .collect();
        let n = self.headers.len();
        let display = |s: &str| unicode_width::UnicodeWidthStr::width(s);
        let natural: Vec<usize> = (0..n)
            .map(|i| {
                rows.iter()
                    .map(|r| display(&r[i]))
                    .chain(std::iter::once(display(&self.headers[i])))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let key = |i: usize| i == 0 || is_key(&self.headers[i]);
        let mut t = comfy_table::Table::new();
        t.load_preset(comfy_table::presets::NOTHING);
        t.set_header(self.headers.clone());
        for r in &rows {
            t.add_row(r.clone());
        }
        for c in t.column_iter_mut() {
            c.set_padding((0, 2));
        }
        match width {
            None => {
                t.set_content_arrangement(ContentArrangement::Disabled);
            }
            Some(w) => {
                t.set_content_arrangement(ContentArrangement::Dynamic);
                t.set_width(w.min(u16::MAX as usize) as u16);
                // A wrapped column needs room for a few words; keys need their whole width.
                let need = |i: usize| if key(i) { natural[i] } else { natural[i].min(12) } + 2;
                // The last column (a title, a summary: what people read) goes last; before it
                // the other non-key columns, right to left.
                let order: Vec<usize> = (1..n.saturating_sub(1))
                    .rev()
                    .chain((n > 1).then_some(n - 1))
                    .filter(|i| !key(*i))
                    .collect();
                let mut shown: Vec<bool> = vec![true; n];
                let mut drop = order.into_iter();
                while (0..n).filter(|i| shown[*i]).map(need).sum::<usize>() > w {
                    match drop.next() {
                        Some(i) => shown[i] = false,
                        None => break,
                    }
                }
                for (i, shown) in shown.iter().enumerate() {
                    let c = t.column_mut(i).expect("a column per header");
                    if !shown {
                        c.set_constraint(ColumnConstraint::Hidden);
                    } else if key(i) {
                        c.set_constraint(ColumnConstraint::ContentWidth);
                    }
                }
            }
        }
        let mut out = t.trim_fmt();
        out.push('\n');
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
        row(self.headers.iter().map(String::as_str).collect(), &mut out);
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
        let text = t.to_text(Some(100));
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
    fn fits_by_wrapping_and_never_cuts_keys() {
        let mut t = Table::new(&["DEADLINE", "DUE", "STATUS", "WHAT", "NOTE"]);
        let id = "agenda-and-notice/brs-cops-2021.2/agenda";
        let what = "Issue the provisional agenda of the resumed session, in all six languages";
        t.push(vec![
            id.into(),
            "2022-05-06".into(),
            "missed".into(),
            what.into(),
            "n".repeat(40),
        ]);
        let fitted = t.to_text(Some(100));
        for l in fitted.lines() {
            assert!(
                unicode_width::UnicodeWidthStr::width(l) <= 100,
                "{l}\n{fitted}"
            );
        }
        assert!(fitted.lines().count() > 2, "the text wraps: {fitted}");
        for whole in [id, "2022-05-06", "missed"] {
            assert!(fitted.contains(whole), "{whole} cut: {fitted}");
        }
        assert!(!fitted.contains('…'));
        // Whole words of the wrapped column are all there.
        let shown: Vec<&str> = fitted.split_whitespace().collect();
        for word in what.split_whitespace() {
            assert!(shown.contains(&word), "{word}: {fitted}");
        }
        // Too narrow for everything: the other columns go before the last, the keys stay whole.
        let narrow = t.to_text(Some(80));
        assert!(
            narrow.contains(id) && !narrow.contains("WHAT") && narrow.contains("NOTE"),
            "{narrow}"
        );
        // Piped or --wide: rows whole, one line each.
        let whole = t.to_text(None);
        assert_eq!(whole.lines().count(), 2, "{whole}");
        assert!(whole.contains(what));
        // Display width, not characters: wide characters line up.
        let mut cjk = Table::new(&["ID", "TITLE"]);
        cjk.push(vec!["a".into(), "水俣条約".into()]);
        cjk.push(vec!["bb".into(), "x".into()]);
        let text = cjk.to_text(None);
        let col = |l: &str| {
            l.find(['水', 'x'])
                .map(|b| unicode_width::UnicodeWidthStr::width(&l[..b]))
        };
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(col(lines[1]), col(lines[2]), "{text}");
        assert_eq!(csv_cell("=1+1"), "'=1+1");
        assert_eq!(csv_cell("a,\"b\""), "\"a,\"\"b\"\"\"");
    }
}
