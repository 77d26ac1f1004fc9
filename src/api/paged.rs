//! Paging of the API's JSON listings: `limit` rows after the row named by `after` (the id of
//! the last row of the previous page), narrowed by `q` (words in the id or title), with the
//! next page's address in a `Link: <…>; rel="next"` header so the body stays a plain array.

use std::borrow::Cow;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use serde_json::Value;

use super::ApiError;

/// Rows an API listing answers unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 1000;
pub const MAX_LIMIT: usize = 10_000;

/// A row a listing pages through: what names it (the `after` of the next page) and the title
/// text search reads with it.
pub trait Row {
    fn id(&self) -> Cow<'_, str>;
    fn title(&self) -> &str;
}

impl Row for crate::listing::Item<'_> {
    fn id(&self) -> Cow<'_, str> {
        Cow::Borrowed(crate::listing::Item::id(self))
    }
    fn title(&self) -> &str {
        crate::listing::Item::title(self)
    }
}

/// A JSON row named by one of its fields.
struct Named(Value, &'static str);

impl Row for Named {
    fn id(&self) -> Cow<'_, str> {
        match self.0.get(self.1) {
            Some(Value::String(s)) => Cow::Borrowed(s),
            Some(Value::Number(n)) => Cow::Owned(n.to_string()),
            _ => Cow::Borrowed(""),
        }
    }
    fn title(&self) -> &str {
        self.0.get("title").and_then(Value::as_str).unwrap_or("")
    }
}

/// [`page`] for JSON rows, each named by its field `id`.
pub fn page_json(
    rows: Vec<Value>,
    id: &'static str,
    p: &Paging,
    path: &str,
    raw_query: Option<&str>,
) -> Result<(HeaderMap, Vec<Value>), ApiError> {
    let named = rows.into_iter().map(|r| Named(r, id)).collect();
    let (headers, rows) = page(named, p, path, raw_query)?;
    Ok((headers, rows.into_iter().map(|n| n.0).collect()))
}

/// What a listing request asked for besides its filters.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct Paging {
    pub limit: Option<String>,
    pub after: Option<String>,
    pub q: Option<String>,
}

fn bad(field: &str, message: String) -> ApiError {
    ApiError(
        StatusCode::BAD_REQUEST,
        serde_json::json!({"error": "bad_request", "field": field, "message": message}),
    )
}

/// The rows a page asks for: `limit`, or the default.
pub fn limit_of(p: &Paging) -> Result<usize, ApiError> {
    match p.limit.as_deref() {
        None => Ok(DEFAULT_LIMIT),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(bad(
                "limit",
                format!("`{v}` is not a number from 1 to {MAX_LIMIT}"),
            )),
        },
    }
}

/// Whether a row (its id and title) holds every word of the text search `q`.
pub fn text_matches(p: &Paging) -> impl Fn(&str, &str) -> bool {
    let words: Vec<String> =
        p.q.as_deref()
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
    move |id, title| {
        words.is_empty() || {
            let hay = format!("{id} {title}").to_lowercase();
            words.iter().all(|w| hay.contains(w.as_str()))
        }
    }
}

/// One page of `rows` (already in their listing's order) and the `Link` header to the next.
pub fn page<T: Row>(
    rows: Vec<T>,
    p: &Paging,
    path: &str,
    raw_query: Option<&str>,
) -> Result<(HeaderMap, Vec<T>), ApiError> {
    let limit = limit_of(p)?;
    let matches = text_matches(p);
    let matches = |row: &T| matches(&row.id(), row.title());
    let mut rows = rows.into_iter().filter(|r| matches(r));
    if let Some(after) = p.after.as_deref() {
        if !rows.by_ref().any(|r| r.id() == after) {
            return Err(bad(
                "after",
                format!("no row `{after}` in this listing (it is the id of a page's last row)"),
            ));
        }
    }
    let page: Vec<T> = rows.by_ref().take(limit).collect();
    let mut headers = HeaderMap::new();
    if rows.next().is_some() {
        if let Some(last) = page.last() {
            let mut query: Vec<(String, String)> =
                url::form_urlencoded::parse(raw_query.unwrap_or("").as_bytes())
                    .into_owned()
                    .filter(|(k, _)| k != "after")
                    .collect();
            query.push(("after".into(), last.id().into_owned()));
            let qs = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(query)
                .finish();
            if let Ok(v) = HeaderValue::from_str(&format!("<{path}?{qs}>; rel=\"next\"")) {
                headers.insert(header::LINK, v);
            }
        }
    }
    Ok((headers, page))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pages_follow_the_link_and_text_narrows() {
        let rows: Vec<Value> = (0..5)
            .map(|i| json!({"meeting": format!("m-{i}"), "title": if i % 2 == 0 { "Even COP" } else { "Odd" }}))
            .collect();
        let p = Paging {
            limit: Some("2".into()),
            ..Paging::default()
        };
        let (h, page1) = page_json(
            rows.clone(),
            "meeting",
            &p,
            "/api/meetings",
            Some("limit=2"),
        )
        .unwrap();
        assert_eq!(page1.len(), 2);
        let link = h[header::LINK].to_str().unwrap();
        assert_eq!(link, "</api/meetings?limit=2&after=m-1>; rel=\"next\"");
        let p2 = Paging {
            after: Some("m-3".into()),
            ..p.clone()
        };
        let (h, last) = page_json(rows.clone(), "meeting", &p2, "/api/meetings", None).unwrap();
        assert_eq!(last, vec![rows[4].clone()]);
        assert!(h.get(header::LINK).is_none());
        let cop = Paging {
            q: Some("cop".into()),
            ..Paging::default()
        };
        assert_eq!(
            page_json(rows.clone(), "meeting", &cop, "/", None)
                .unwrap()
                .1
                .len(),
            3
        );
        let gone = Paging {
            after: Some("m-9".into()),
            ..Paging::default()
        };
        assert!(page_json(rows, "meeting", &gone, "/", None).is_err());
    }
}
