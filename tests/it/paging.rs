//! Paging through every API listing: following each `Link` header from the first page gives
//! every row of the whole listing once, in order, whatever the rows share (decisions of one
//! meeting, activities of one group, deadlines of one meeting).

use super::api::{json, token, Server};
use super::helpers::Accord;

/// The rows of a page and the address of the next, if any.
fn get(url: &str, token: &str) -> (Vec<serde_json::Value>, Option<String>) {
    let r = ureq::get(url)
        .set("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let next = r.header("link").map(|l| {
        l.strip_prefix('<')
            .and_then(|l| l.split_once(">; rel=\"next\""))
            .unwrap_or_else(|| panic!("a Link header: {l}"))
            .0
            .to_string()
    });
    let rows = json(&r.into_string().unwrap());
    (rows.as_array().unwrap().clone(), next)
}

#[test]
fn following_the_links_gives_every_row_once_in_order() {
    let a = Accord::new();
    let generated = a.run(&["generate", "--events", "2500"]);
    assert_eq!(generated.code, 0);
    assert_eq!(a.record_text(&generated.stdout).code, 0);
    super::helpers::tick_with_every_workflow(&a);
    let reader = token(&a, "reader", "reader");
    let server = Server::start(&a);
    let mut shared_a_key = 0;
    for (listing, id, shared) in [
        ("meetings", "meeting", "body"),
        ("decisions", "symbol", "meeting"),
        ("mandates", "mandate", "decision"),
        ("groups", "group", "scope"),
        ("reports", "report", "status"),
        ("activities", "activity", "group"),
        ("agreements", "agreement", "signed"),
        ("timeline", "seq", "type"),
        ("deadlines", "deadline", "meeting"),
        ("reminders", "reminder", "deadline"),
    ] {
        let (whole, next) = get(&server.url(&format!("/api/{listing}?limit=10000")), &reader);
        assert!(next.is_none(), "{listing}: one page holds it all");
        let key = |r: &serde_json::Value| r[id].to_string();
        let mut walked = Vec::new();
        // Small pages, so that page ends fall between rows that share a value.
        let limit = if listing == "timeline" { 50 } else { 3 };
        let mut url = server.url(&format!("/api/{listing}?limit={limit}"));
        let mut pages = 0;
        loop {
            let (rows, next) = get(&url, &reader);
            assert!(rows.len() <= limit, "{listing}: a page of {}", rows.len());
            walked.extend(rows);
            pages += 1;
            assert!(pages <= whole.len() + 1, "{listing}: the pages do not end");
            match next {
                Some(n) => url = server.url(&n),
                None => break,
            }
        }
        let want: Vec<String> = whole.iter().map(key).collect();
        let got: Vec<String> = walked.iter().map(key).collect();
        assert_eq!(got, want, "{listing}: the pages, one after another");
        // The listing has rows sharing a value that is not their id.
        let values: Vec<String> = whole.iter().map(|r| r[shared].to_string()).collect();
        let distinct: std::collections::HashSet<&String> = values.iter().collect();
        if distinct.len() < values.len() && !values.iter().all(|v| v == "null") {
            shared_a_key += 1;
        }
        eprintln!("{listing}: {} rows in {pages} pages", whole.len());
    }
    assert!(
        shared_a_key >= 4,
        "only {shared_a_key} listings have rows sharing a value"
    );
}

/// The meetings listing as of a date and as known at an instant (read from the meetings
/// index) pages through the same rows, in the same order, as `accord show` folds them, with a
/// body filter and a text search.
#[test]
fn meetings_as_of_a_date_page_as_the_whole_fold_lists_them() {
    let a = Accord::new();
    let generated = a.run(&["generate", "--events", "3000"]);
    assert_eq!(generated.code, 0);
    let lines: Vec<&str> = generated.stdout.lines().collect();
    let (first, second) = lines.split_at(lines.len() / 2);
    assert_eq!(a.record_text(&(first.join("\n") + "\n")).code, 0);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let between = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(a.record_text(&(second.join("\n") + "\n")).code, 0);
    let reader = token(&a, "reader", "reader");
    let server = Server::start(&a);
    let mut compared = 0;
    for axes in [
        vec![("as_of", "1990-06-30")],
        vec![("as_of", "2001-01-01"), ("known_at", between.as_str())],
        vec![("known_at", between.as_str())],
    ] {
        for (body, q) in [(None, None), (Some("MC"), None), (None, Some("minamata"))] {
            let mut args = vec!["show", "meetings", "--format", "json"];
            let mut query: Vec<(&str, &str)> = axes.clone();
            for (k, v) in &axes {
                args.push(if *k == "as_of" {
                    "--as-of"
                } else {
                    "--known-at"
                });
                args.push(v);
            }
            if let Some(b) = body {
                args.extend(["--body", b]);
                query.push(("body", b));
            }
            if let Some(q) = q {
                query.push(("q", q));
            }
            let shown = a.run(&args);
            assert!(shown.code <= 1, "{}", shown.stderr);
            let whole = json(&shown.stdout);
            let want: Vec<serde_json::Value> = whole
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| {
                    q.is_none_or(|q| {
                        format!("{} {}", r["meeting"], r["title"])
                            .to_lowercase()
                            .contains(q)
                    })
                })
                .cloned()
                .collect();
            let qs = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(query.iter().chain([&("limit", "4")]))
                .finish();
            let mut url = server.url(&format!("/api/meetings?{qs}"));
            let mut walked = Vec::new();
            loop {
                let (rows, next) = get(&url, &reader);
                assert!(rows.len() <= 4);
                walked.extend(rows);
                assert!(walked.len() <= want.len() + 4, "the pages do not end");
                match next {
                    Some(n) => url = server.url(&n),
                    None => break,
                }
            }
            assert_eq!(walked, want, "{query:?}");
            compared += want.len();
        }
    }
    assert!(compared > 100, "only {compared} rows compared");
    // The first question built the meetings index; /metrics says how far it goes.
    let metrics = ureq::get(&server.url("/metrics"))
        .set("Authorization", &format!("Bearer {reader}"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let value = |name: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{name} in {metrics}"))
    };
    assert!(value("accord_log_head_seq ") > 2_000);
    assert_eq!(
        value("accord_meetings_index_seq "),
        value("accord_log_head_seq ")
    );
}
