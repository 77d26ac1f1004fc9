//! The evaluation as text: Markdown with a table per indicator, and CSV with one table per
//! indicator that a spreadsheet opens.

use super::{tables, Evaluation};

/// Markdown: a section per indicator.
pub fn markdown(e: &Evaluation) -> String {
    let mut out = format!(
        "# Evaluation\n\nEvidence: the log up to seq {} (hash `{}`){}.\n",
        e.last_seq,
        e.last_hash,
        e.known_at
            .as_ref()
            .map(|k| format!(", as known at {k}"))
            .unwrap_or_default()
    );
    for i in &e.indicators {
        out.push_str(&format!(
            "\n## {}\n\n{}\nCounts: {}.\n",
            i.title,
            i.definition,
            i.counts.join(", "),
        ));
        for t in tables::tables(&i.value) {
            out.push('\n');
            out.push_str(&tables::markdown(&t));
        }
    }
    out
}

/// CSV: one row per indicator and flattened key. Text is neutralised against spreadsheet
/// formulas; numbers are written as they are; nulls are empty.
pub fn csv(e: &Evaluation) -> String {
    // One table per indicator (and per part of one): a title row, a header row, the rows, then
    // a blank line, as a spreadsheet opens them.
    let line = |cells: &[String]| {
        cells
            .iter()
            // Nothing is an empty cell, which a spreadsheet reads as blank.
            .map(|c| {
                if c == "—" {
                    String::new()
                } else {
                    crate::render::csv_cell(c)
                }
            })
            .collect::<Vec<_>>()
            .join(",")
            + "\r\n"
    };
    let mut s = line(&[format!(
        "Evaluation: the log up to seq {} (hash {})",
        e.last_seq, e.last_hash
    )]);
    for i in &e.indicators {
        for t in tables::tables(&i.value) {
            s.push_str("\r\n");
            let title = if t.caption.is_empty() {
                i.title.to_string()
            } else {
                format!("{}: {}", i.title, t.caption)
            };
            s.push_str(&line(&[title]));
            // Day counts stay numbers; one from approximate dates is marked in a column of its
            // own instead of reading "about N".
            let about = |c: &String| c.starts_with("about ");
            let marked = t.rows.iter().flatten().any(about);
            let mut headers = t.headers.clone();
            if marked {
                headers.push("Approximate".into());
            }
            s.push_str(&line(&headers));
            for r in &t.rows {
                let mut cells: Vec<String> = r
                    .iter()
                    .map(|c| c.strip_prefix("about ").unwrap_or(c).to_string())
                    .collect();
                if marked {
                    cells.push(if r.iter().any(about) { "yes" } else { "" }.into());
                }
                s.push_str(&line(&cells));
            }
        }
    }
    s
}
