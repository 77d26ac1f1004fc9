//! Paging and filtering shared by the dashboard's listings: a limit, a cursor (the sort key of
//! the last row shown), text in titles, body, status and a date range, and the links between
//! pages that keep every other choice.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use chrono::NaiveDate;
use minijinja::{context, Value};

use super::{urlencode, PageError};

/// Rows a page shows unless `limit` says otherwise; `limit` may not exceed [`MAX_LIMIT`].
pub(crate) const DEFAULT_LIMIT: usize = 100;
pub(crate) const MAX_LIMIT: usize = 500;

/// What a listing was asked for, beyond the two time axes.
#[derive(Default)]
pub(super) struct Paging {
    pub limit: usize,
    /// The sort key of the last row of the previous page.
    pub after: Option<String>,
    /// Words that must all appear (any case) in the row's id or title.
    pub text: Option<String>,
    pub body: Option<String>,
    pub status: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// The query as asked, to rebuild links.
    asked: BTreeMap<String, String>,
}

/// One page of a listing.
pub(super) struct Window<T> {
    pub items: Vec<T>,
    /// How many rows matched the filters, on every page together.
    pub matched: usize,
    /// The cursor of the next page, when there is one.
    pub next: Option<String>,
}

fn bad(m: String) -> PageError {
    PageError(StatusCode::BAD_REQUEST, m)
}

impl Paging {
    /// Reads the paging and filter fields of a page's query; a bad value names its field.
    pub fn of(rest: &BTreeMap<String, String>) -> Result<Paging, PageError> {
        let get = |k: &str| {
            rest.get(k)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let limit = match get("limit") {
            None => DEFAULT_LIMIT,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(bad(format!(
                        "limit: `{v}` is not a number from 1 to {MAX_LIMIT}"
                    )))
                }
            },
        };
        let day = |k: &str| {
            get(k)
                .map(|v| crate::domain::parse_day(&v).map_err(|e| bad(format!("{k}: {e}"))))
                .transpose()
        };
        let body = get("body");
        if let Some(b) = &body {
            crate::domain::Body::parse(b).map_err(|e| bad(format!("body: {e}")))?;
        }
        Ok(Paging {
            limit,
            after: get("after"),
            text: get("q").map(|t| t.to_lowercase()),
            body,
            status: get("status"),
            from: day("from")?,
            to: day("to")?,
            asked: rest.clone(),
        })
    }

    /// Refuses a status the listing does not know, naming the ones it does.
    pub fn check_status(&self, known: &[&str]) -> Result<(), PageError> {
        match &self.status {
            Some(s) if !known.contains(&s.as_str()) => Err(bad(format!(
                "status: `{s}` is not one of {}",
                known.join(", ")
            ))),
            _ => Ok(()),
        }
    }

    /// Whether every word of the text filter appears in one of `fields`.
    pub fn has_text(&self, fields: &[&str]) -> bool {
        let Some(text) = &self.text else { return true };
        let hay = fields.join(" ").to_lowercase();
        text.split_whitespace().all(|w| hay.contains(w))
    }

    pub fn has_body(&self, body: &str) -> bool {
        self.body
            .as_deref()
            .is_none_or(|b| b.eq_ignore_ascii_case(body))
    }

    pub fn has_status(&self, status: &str) -> bool {
        self.status.as_deref().is_none_or(|s| s == status)
    }

    /// Whether a span of days meets the date range.
    pub fn overlaps(&self, start: NaiveDate, end: NaiveDate) -> bool {
        self.from.is_none_or(|f| end >= f) && self.to.is_none_or(|t| start <= t)
    }

    /// The page after the cursor of rows already filtered and sorted by key, ascending or
    /// (for newest first) descending. Keys must be unique.
    pub fn window<T>(&self, rows: Vec<(String, T)>, descending: bool) -> Window<T> {
        let matched = rows.len();
        let after = |k: &str| match &self.after {
            None => true,
            Some(c) if descending => k < c.as_str(),
            Some(c) => k > c.as_str(),
        };
        let rest: Vec<_> = rows.into_iter().filter(|(k, _)| after(k)).collect();
        Window {
            matched,
            ..self.take(rest)
        }
    }

    /// The first `limit` rows of rows that already start after the cursor.
    pub fn take<T>(&self, rows: Vec<(String, T)>) -> Window<T> {
        let matched = rows.len();
        let mut rest = rows.into_iter().peekable();
        let mut items = Vec::new();
        let mut last = None;
        while items.len() < self.limit {
            let Some((k, v)) = rest.next() else { break };
            last = Some(k);
            items.push(v);
        }
        let next = rest.peek().and(last);
        Window {
            items,
            matched,
            next,
        }
    }

    /// The same page's address with `changes` applied (an empty value removes the field).
    pub fn link(&self, path: &str, changes: &[(&str, &str)]) -> String {
        let mut fields = self.asked.clone();
        for (k, v) in changes {
            if v.is_empty() {
                fields.remove(*k);
            } else {
                fields.insert(k.to_string(), v.to_string());
            }
        }
        let query: Vec<String> = fields
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect();
        if query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{}", query.join("&"))
        }
    }

    /// What the template shows around a page: how many matched, which rows these are, the
    /// next and first pages.
    pub fn nav<T>(&self, path: &str, w: &Window<T>) -> Value {
        context! {
            matched => w.matched,
            shown => w.items.len(),
            next => w.next.as_deref().map(|n| self.link(path, &[("after", n)])),
            first => self.after.as_ref().map(|_| self.link(path, &[("after", "")])),
        }
    }

    /// The filter fields a listing offers: text, body, status and the date range, with the
    /// values asked for kept.
    pub fn fields(&self, bodies: Vec<String>, statuses: &[&str], dates: bool) -> Vec<Value> {
        let mut f = vec![context! {
            kind => "text", label => "Text in title", name => "q",
            value => self.asked.get("q").cloned().unwrap_or_default(),
        }];
        if !bodies.is_empty() {
            f.push(context! { kind => "select", label => "Body", name => "body", value => self.body.clone(), options => bodies });
        }
        if !statuses.is_empty() {
            f.push(context! { kind => "select", label => "Status", name => "status", value => self.status.clone(), options => statuses });
        }
        if dates {
            f.push(context! { kind => "date", label => "From", name => "from", value => self.from.map(|d| d.to_string()) });
            f.push(context! { kind => "date", label => "To", name => "to", value => self.to.map(|d| d.to_string()) });
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paging(pairs: &[(&str, &str)]) -> Paging {
        let rest = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Paging::of(&rest).unwrap_or_else(|e| panic!("{}", e.1))
    }

    fn rows(n: usize) -> Vec<(String, usize)> {
        (0..n).map(|i| (format!("{i:04}"), i)).collect()
    }

    #[test]
    fn pages_follow_the_cursor_to_the_end_and_keep_the_query() {
        let p = paging(&[("limit", "4"), ("q", "cop")]);
        let w = p.window(rows(10), false);
        assert_eq!(w.items, vec![0, 1, 2, 3]);
        assert_eq!(w.matched, 10);
        assert_eq!(w.next.as_deref(), Some("0003"));
        assert_eq!(
            p.link("/meetings", &[("after", "0003")]),
            "/meetings?after=0003&limit=4&q=cop"
        );
        let p = paging(&[("limit", "4"), ("after", "0007")]);
        let w = p.window(rows(10), false);
        assert_eq!(w.items, vec![8, 9]);
        assert!(w.next.is_none());
        // Newest first: the cursor counts down.
        let mut desc = rows(10);
        desc.reverse();
        let w = paging(&[("limit", "3"), ("after", "0005")]).window(desc, true);
        assert_eq!(w.items, vec![4, 3, 2]);
        assert_eq!(w.next.as_deref(), Some("0002"));
    }

    #[test]
    fn bad_fields_are_named() {
        for (k, v, says) in [
            ("limit", "0", "limit"),
            ("limit", "9999", "limit"),
            ("from", "2021-13-01", "from"),
            ("body", "X Y", "body"),
        ] {
            let rest = [(k.to_string(), v.to_string())].into_iter().collect();
            let e = Paging::of(&rest).err().expect("refused");
            assert!(e.1.starts_with(says), "{k}={v}: {}", e.1);
        }
        let p = paging(&[("status", "bogus")]);
        let e = p.check_status(&["open", "met"]).unwrap_err();
        assert!(e.1.contains("open, met"), "{}", e.1);
    }

    #[test]
    fn text_matches_every_word_in_any_case() {
        let p = paging(&[("q", "Fourth COP")]);
        assert!(p.has_text(&["mc-cop-4", "Fourth meeting of the COP"]));
        assert!(!p.has_text(&["mc-cop-5", "Fifth meeting of the COP"]));
    }
}
