//! Each indicator's figures as tables people can paste into a report: scalars as a figure and
//! its value, maps of maps and lists of records as rows and columns. Day counts from
//! approximate dates read "about N"; nothing is shown as raw JSON.

use serde_json::Value;

/// One table: a caption, the column headers and the rows, every cell text.
pub struct Table {
    /// The key of the indicator's value it shows (empty for the figures).
    pub key: String,
    pub caption: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

fn words(key: &str) -> String {
    let s = key.replace('_', " ");
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => s,
    }
}

/// A cell: text as it is, numbers as they are, `about N` for a day count marked approximate,
/// lists joined, nothing as a dash.
fn cell(key: &str, v: &Value, approximate: bool) -> String {
    match v {
        Value::Null => "—".into(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        Value::Number(n) if approximate && key.contains("days") => format!("about {n}"),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a
            .iter()
            .map(|x| cell(key, x, approximate))
            .collect::<Vec<_>>()
            .join(", "),
        Value::Object(o) => o
            .iter()
            .map(|(k, x)| format!("{}: {}", words(k), cell(k, x, approximate)))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// The columns of a list of records: every key, in first-seen order, but the approximate flag.
fn columns<'a>(records: impl Iterator<Item = &'a serde_json::Map<String, Value>>) -> Vec<String> {
    let mut cols: Vec<String> = Vec::new();
    for r in records {
        for k in r.keys() {
            if k != "approximate" && !cols.contains(k) {
                cols.push(k.clone());
            }
        }
    }
    cols
}

fn record_rows(records: &[&serde_json::Map<String, Value>], cols: &[String]) -> Vec<Vec<String>> {
    records
        .iter()
        .map(|r| {
            let approximate = r.get("approximate").and_then(Value::as_bool) == Some(true);
            cols.iter()
                .map(|c| cell(c, r.get(c).unwrap_or(&Value::Null), approximate))
                .collect()
        })
        .collect()
}

/// The tables of one indicator's value.
pub fn tables(value: &Value) -> Vec<Table> {
    let Some(top) = value.as_object() else {
        return Vec::new();
    };
    let mut figures = Table {
        key: String::new(),
        caption: String::new(),
        headers: vec!["Figure".into(), "Value".into()],
        rows: Vec::new(),
    };
    let mut out = Vec::new();
    // An indicator whose day counts come from approximate dates says so on its figures.
    let approximate = top.get("approximate").and_then(Value::as_bool) == Some(true);
    for (key, v) in top {
        if key == "approximate" {
            continue;
        }
        match v {
            Value::Array(items) if items.iter().all(Value::is_object) => {
                let records: Vec<&serde_json::Map<String, Value>> =
                    items.iter().filter_map(Value::as_object).collect();
                if records.is_empty() {
                    figures.rows.push(vec![words(key), "none".into()]);
                    continue;
                }
                let cols = columns(records.iter().copied());
                out.push(Table {
                    key: key.clone(),
                    caption: words(key),
                    headers: cols.iter().map(|c| words(c)).collect(),
                    rows: record_rows(&records, &cols),
                });
            }
            Value::Object(map) if !map.is_empty() && map.values().all(Value::is_object) => {
                // Rows by key, columns the inner keys.
                let records: Vec<&serde_json::Map<String, Value>> =
                    map.values().filter_map(Value::as_object).collect();
                let cols = columns(records.iter().copied());
                let mut headers = vec![String::new()];
                headers.extend(cols.iter().map(|c| words(c)));
                let rows = map
                    .keys()
                    .zip(record_rows(&records, &cols))
                    .map(|(k, mut r)| {
                        r.insert(0, k.clone());
                        r
                    })
                    .collect();
                out.push(Table {
                    key: key.clone(),
                    caption: words(key),
                    headers,
                    rows,
                });
            }
            Value::Object(map) if !map.is_empty() => {
                let approximate = map.get("approximate").and_then(Value::as_bool) == Some(true);
                out.push(Table {
                    key: key.clone(),
                    caption: words(key),
                    headers: vec![String::new(), "Value".into()],
                    rows: map
                        .iter()
                        .filter(|(k, _)| *k != "approximate")
                        .map(|(k, x)| vec![words(k), cell(k, x, approximate)])
                        .collect(),
                });
            }
            other => figures
                .rows
                .push(vec![words(key), cell(key, other, approximate)]),
        }
    }
    if !figures.rows.is_empty() {
        out.insert(0, figures);
    }
    out
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// A table in Markdown.
pub fn markdown(t: &Table) -> String {
    let mut s = String::new();
    if !t.caption.is_empty() {
        s.push_str(&format!("**{}**\n\n", md_cell(&t.caption)));
    }
    s.push_str(&format!(
        "| {} |\n|{}|\n",
        t.headers
            .iter()
            .map(|h| md_cell(h))
            .collect::<Vec<_>>()
            .join(" | "),
        t.headers
            .iter()
            .map(|_| "---")
            .collect::<Vec<_>>()
            .join("|")
    ));
    for r in &t.rows {
        s.push_str(&format!(
            "| {} |\n",
            r.iter().map(|c| md_cell(c)).collect::<Vec<_>>().join(" | ")
        ));
    }
    s
}

/// A table in HTML, every cell escaped with `esc`.
pub fn html(t: &Table, esc: impl Fn(&str) -> String) -> String {
    let mut s = String::from("<div class=\"scroll\"><table>");
    if !t.caption.is_empty() {
        s.push_str(&format!("<caption>{}</caption>", esc(&t.caption)));
    }
    s.push_str("<tr>");
    for h in &t.headers {
        s.push_str(&format!("<th>{}</th>", esc(h)));
    }
    s.push_str("</tr>");
    for r in &t.rows {
        s.push_str("<tr>");
        for c in r {
            s.push_str(&format!("<td>{}</td>", esc(c)));
        }
        s.push_str("</tr>");
    }
    s.push_str("</table></div>");
    s
}
