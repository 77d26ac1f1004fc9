//! The evaluation as HTML: per indicator its definition, an SVG chart of its headline figures
//! and its tables, every piece of text escaped. Charts are inline SVG with no external assets.

use serde_json::Value;

use super::{tables, Evaluation, Indicator};

/// Bars a chart draws at most; a longer list keeps its largest and says so.
const MAX_BARS: usize = 20;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A horizontal bar chart as inline SVG; `about` marks values from approximate dates.
fn bars(title: &str, mut rows: Vec<(String, f64)>, about: bool) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut caption = title.to_string();
    if rows.len() > MAX_BARS {
        caption = format!("{title} (the {MAX_BARS} largest of {})", rows.len());
        rows.sort_by(|a, b| b.1.total_cmp(&a.1));
        rows.truncate(MAX_BARS);
    }
    let max = rows.iter().map(|r| r.1.abs()).fold(1.0_f64, f64::max);
    let h = 22 * rows.len() + 10;
    let mut s = format!(
        "<figure class=\"chart\"><figcaption>{}</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"100%\" viewBox=\"0 0 760 {h}\" style=\"max-width:760px\" role=\"img\" aria-label=\"{}\">",
        esc(&caption),
        esc(&caption)
    );
    for (i, (label, v)) in rows.iter().enumerate() {
        let y = 4 + i * 22;
        let w = (v.abs() / max * 380.0).max(1.0);
        let shown = if v.fract() == 0.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.1}")
        };
        s.push_str(&format!(
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text><rect x=\"300\" y=\"{}\" width=\"{w:.1}\" height=\"14\" fill=\"#1d6fa5\"/><text x=\"{:.1}\" y=\"{}\" font-size=\"12\">{}{shown}</text>",
            y + 12,
            esc(&label.chars().take(44).collect::<String>()),
            y,
            305.0 + w,
            y + 12,
            if about { "about " } else { "" }
        ));
    }
    s.push_str("</svg></figure>");
    s
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

/// Counts of a JSON object's number fields, as bars.
fn counts(v: &Value, keys: &[&str]) -> Vec<(String, f64)> {
    keys.iter()
        .filter_map(|k| v.get(*k).map(|n| (k.replace('_', " "), num(n))))
        .collect()
}

/// The chart of one indicator's headline figures.
fn chart(i: &Indicator) -> String {
    let v = &i.value;
    let about = v["approximate"].as_bool() == Some(true);
    match i.id {
        "mandates" => {
            let rows = v["total"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, n)| (k.replace('_', " "), num(n)))
                .collect();
            bars("Mandates by outcome", rows, false)
        }
        "follow_up" => {
            let rows = v["by_span"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| {
                    (
                        s["span"].as_str().unwrap_or("").to_string(),
                        num(&s["decisions"]),
                    )
                })
                .collect();
            bars("Decisions by days to their first follow-up", rows, about)
        }
        "report_cycle" => bars(
            "Median days per step",
            counts(v, &["median_days_to_endorse", "median_days_to_submit"]),
            about,
        ),
        "meeting_moves" => bars(
            "Meetings moved, and moves by kind",
            counts(
                v,
                &["meetings_moved", "postponements", "reschedulings", "split"],
            ),
            false,
        ),
        "activities" => {
            let rows = v["per_area_per_year"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(area, years)| {
                    let n = years.as_object().into_iter().flatten().map(|(_, n)| num(n));
                    (area.clone(), n.sum())
                })
                .collect();
            bars("Activities per area", rows, false)
        }
        "deadlines" => bars(
            "Deadlines",
            counts(v, &["met", "missed", "met_after_a_reminder"]),
            false,
        ),
        "national_reporting" => {
            let rows = v["cycles"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    (
                        format!(
                            "{} {}",
                            c["body"].as_str().unwrap_or(""),
                            c["cycle"].as_str().unwrap_or("")
                        ),
                        num(&c["on_time_rate_percent"]),
                    )
                })
                .collect();
            bars("Parties reporting on time, per cent", rows, false)
        }
        _ => String::new(),
    }
}

/// HTML with a chart and tables per indicator.
pub fn html(e: &Evaluation) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Evaluation · Accord</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:960px;margin:1rem auto;padding:0 1rem}}\
         table{{border-collapse:collapse;margin:.5rem 0}}th,td{{text-align:left;padding:.2rem .5rem;border-bottom:1px solid #dde3ea}}\
         .muted{{color:#6b7686}}figure{{margin:1rem 0}}figcaption{{font-weight:600}}</style></head><body><h1>Evaluation</h1>{}</body></html>",
        html_body(e, None)
    )
}

/// The report's body: the evidence line, then per indicator its definition, chart and tables.
/// With `limit`, a table shows its first rows and says how many more the CSV at `limit.1` has.
pub fn html_body(e: &Evaluation, limit: Option<(usize, &str)>) -> String {
    let mut sections = String::new();
    for i in &e.indicators {
        let mut body = String::new();
        for mut t in tables::tables(&i.value) {
            // Rows the evaluation left out of its lists, and rows beyond the limit here.
            let mut more = i.left_out.get(t.key.as_str()).copied().unwrap_or(0);
            if let Some((n, _)) = limit {
                more += t.rows.len().saturating_sub(n);
                t.rows.truncate(n);
            }
            body.push_str(&tables::html(&t, esc));
            if let (true, Some((_, csv))) = (more > 0, limit) {
                body.push_str(&format!(
                    "<p class=\"muted\">{more} more rows: <a href=\"{}\">the whole evaluation as CSV</a>.</p>",
                    esc(csv)
                ));
            }
        }
        sections.push_str(&format!(
            "<section id=\"{}\"><h2>{}</h2><p>{}</p><p class=\"muted\">Counts: {}</p>{}{body}</section>",
            i.id,
            esc(i.title),
            esc(i.definition),
            esc(&i.counts.join(", ")),
            chart(i),
        ));
    }
    format!(
        "<p>Evidence: the log up to seq {} (hash <code>{}</code>){}.</p>{sections}",
        e.last_seq,
        esc(&e.last_hash),
        e.known_at
            .as_ref()
            .map(|k| format!(", as known at {}", esc(k)))
            .unwrap_or_default()
    )
}
