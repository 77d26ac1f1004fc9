//! The dashboard over HTTP: sign-in into an HttpOnly cookie, every page on the shipped history,
//! the as-of and known-at picker, filters, and escaping of user text.

use std::time::Duration;

use super::api::{call, token, Server};
use super::helpers::{history, root, Accord};

const HOSTILE: &str = r#"{"type":"MeetingScheduled","occurred":"2021-05","actor":"t","data":{"meeting":"unea-9","body":"UNEA","kind":"session","title":"<script>alert(1)</script> \"quotes\"","venue":"<b>Nairobi</b>","dates":"2023-02-27/2023-03-03"}}"#;

/// The page's text with the entities minijinja writes decoded, to look for what a reader sees.
fn text(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// GET with a cookie, without following redirects: (status, location, body).
fn get(url: &str, cookie: Option<&str>) -> (u16, String, String) {
    let agent = ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(Duration::from_secs(30))
        .build();
    let mut req = agent.get(url);
    if let Some(c) = cookie {
        req = req.set("Cookie", c);
    }
    let r = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {url}: {e}"),
    };
    let status = r.status();
    let location = r.header("location").unwrap_or("").to_string();
    (status, location, r.into_string().unwrap_or_default())
}

#[test]
fn sign_in_pages_picker_and_escaping() {
    let a = Accord::new();
    a.record(&history());
    assert_eq!(a.record_text(HOSTILE).code, 0);
    // A COP 75 days from today, so the Upcoming page has deadlines whatever the date.
    let start = chrono::Utc::now().date_naive() + chrono::Days::new(75);
    // Hostile text on every page: a meeting (with deadlines), a decision, a group, a report.
    let evil = r#"<script>alert(1)</script> \"quotes\""#;
    let hostile_all = format!(
        r#"{{"type":"MeetingScheduled","occurred":"2021-05","actor":"t","data":{{"meeting":"unea-10","body":"UNEA","kind":"session","title":"{evil}","dates":"{s}/{e}"}}}}
{{"type":"DecisionAdopted","occurred":"2021-06-01","actor":"t","data":{{"symbol":"UNEP-EA.10-Res.1","meeting":"unea-10","title":"{evil}","adopted":"2021-06-01","mandates":[{{"paragraph":"1","action":"requests","addressee":"parties","asks":"{evil}"}}]}}}}
{{"type":"GroupEstablished","occurred":"2021-06","actor":"t","data":{{"group":"evil-group","name":"{evil}","kind":"working_group","scope":"tripartite","members":["mc_secretariat"]}}}}
{{"type":"ReportDrafted","occurred":"2021-06","actor":"t","data":{{"report":"evil-report","title":"{evil}","by":["x"]}}}}"#,
        s = start + chrono::Days::new(7),
        e = start + chrono::Days::new(9)
    );
    let r = a.record_text(&hostile_all);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let future = format!(
        r#"{{"type":"MeetingScheduled","occurred":"2021-05","actor":"t","data":{{"meeting":"mc-cop-9","body":"MC","kind":"cop","title":"Ninth meeting","dates":"{start}/{}"}}}}"#,
        start + chrono::Days::new(4)
    );
    assert_eq!(a.record_text(&future).code, 0);
    let t = token(&a, "officer", "reader");
    let server = Server::start_with(&a, Some(&root().join("workflows")));
    // Wait (bounded) for the scheduler's first tick to derive the deadlines.
    super::api::wait_for(&server, &t, "/api/deadlines", "mc-cop-9");

    // Not signed in: to the sign-in page.
    let (code, location, _) = get(&server.url("/meetings"), None);
    assert_eq!((code, location.as_str()), (303, "/login"));
    let (code, _, page) = get(&server.url("/login"), None);
    assert_eq!(code, 200);
    assert!(page.contains("name=\"token\""));

    // A wrong token: refused with a message; a good one: an HttpOnly cookie.
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let wrong = agent
        .post(&server.url("/login"))
        .send_form(&[("token", "acc_wrong")]);
    assert!(matches!(wrong, Err(ureq::Error::Status(401, _))));
    let ok = agent
        .post(&server.url("/login"))
        .send_form(&[("token", &t)])
        .unwrap();
    assert_eq!(ok.status(), 303);
    let set_cookie = ok.header("set-cookie").unwrap().to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attr), "{set_cookie}");
    }
    // Served over plain HTTP, the cookie is not `Secure` (a browser would drop it on an office
    // address); a forwarded-proto header from a peer not listed as a trusted proxy changes
    // nothing (tests/it/tls.rs has the trusted proxy).
    assert!(!set_cookie.contains("Secure"), "{set_cookie}");
    let proxied = agent
        .post(&server.url("/login"))
        .set("X-Forwarded-Proto", "https")
        .send_form(&[("token", &t)])
        .unwrap();
    assert!(
        !proxied.header("set-cookie").unwrap().contains("Secure"),
        "{:?}",
        proxied.header("set-cookie")
    );
    let cookie = set_cookie.split(';').next().unwrap().to_string();

    // Every page, signed in, shows what the shipped history holds.
    let expect: [(&str, &[&str]); 8] = [
        (
            "/upcoming",
            &[
                "Pre-session documents available in all official languages",
                "Ninth meeting (mc-cop-9)",
            ],
        ),
        (
            "/timeline",
            &["<svg id=\"timeline\"", "stroke-dasharray=4,2", "mc-cop-4"],
        ),
        (
            "/meetings",
            &[
                "mc-cop-4.2",
                "early 2022 (tbc)",
                "2020 → 2022.. (postponed, 2020)",
            ],
        ),
        (
            "/decisions",
            &["MC-3/11", "unep-executive-director", "Mandates of MC-3/11"],
        ),
        (
            "/groups",
            &["Mercury wastes", "tripartite", "inter secretariat"],
        ),
        (
            "/reports",
            &["UNEP/MC/COP.4/INF/17", "2020-12 by tf-co-chair-mc"],
        ),
        (
            "/trail?since=60",
            &["The chain verifies", "GroupEstablished"],
        ),
        (
            "/evaluation",
            &[
                "Mandates issued and reported",
                "<svg",
                "Evidence: the log up to seq",
            ],
        ),
    ];
    // The timeline draws today, and a legend of the bodies' colours; held meetings with month
    // dates (UNEA-4, "2019-03") are drawn solid, not as dates to be confirmed.
    let (_, _, tl) = get(&server.url("/timeline"), Some(&cookie));
    assert!(
        tl.contains("id=\"today\"") && tl.contains("class=\"legend\""),
        "{tl}"
    );
    let (_, _, tl) = get(&server.url("/timeline?year=2019"), Some(&cookie));
    let unea4 = tl
        .split("<g class=\"row\">")
        .find(|r| r.contains("(unea-4)</title>"))
        .expect("a row for UNEA-4");
    assert!(
        unea4.contains("class=\"confirmed\"") && !unea4.contains("class=\"tentative\""),
        "{unea4}"
    );
    // Calendar entries of deadlines name their meeting.
    let feed = token(&a, "calendar-app", "feed");
    let (_, _, ics) = get(&server.url(&format!("/calendar.ics?token={feed}")), None);
    let ics = ics.replace("\r\n ", "");
    assert!(
        ics.contains("SUMMARY:Due: Issue the provisional agenda — Ninth meeting"),
        "{ics}"
    );
    // What is late comes first: the submission due five days from today is due this week, and
    // twenty days on it is overdue, at the top of the page.
    let (_, _, page) = get(&server.url("/upcoming"), Some(&cookie));
    assert!(page.contains("Due this week"), "{page}");
    let later = chrono::Utc::now().date_naive() + chrono::Days::new(20);
    let (_, _, page) = get(
        &server.url(&format!("/upcoming?as_of={later}")),
        Some(&cookie),
    );
    let first = page.find("<h2").expect("a section");
    assert!(
        page[first..].starts_with("<h2 class=\"late\">Overdue and missed</h2>"),
        "{page}"
    );
    for (path, needles) in expect {
        let (code, _, page) = get(&server.url(path), Some(&cookie));
        assert_eq!(code, 200, "{path}");
        for n in needles {
            assert!(
                page.contains(n) || text(&page).contains(n),
                "{path} lacks {n:?}"
            );
        }
        // User text is escaped everywhere, and shown as text.
        assert!(
            text(&page).contains("<script>alert(1)</script> \"quotes\""),
            "{path} does not show the hostile text"
        );
        assert!(
            !page.contains("<script>alert(1)</script>"),
            "{path} renders a script"
        );
        assert!(!page.contains("<b>Nairobi</b>"), "{path} renders markup");
    }
    // The evaluation's pickers change the report: as of 2020-01-01 MC-3/11's mandates were not
    // yet reported; a body narrows it; a body that is not a code is refused.
    let (_, _, all) = get(&server.url("/evaluation"), Some(&cookie));
    let (_, _, early) = get(&server.url("/evaluation?as_of=2020-01-01"), Some(&cookie));
    assert!(all.contains("<td>Reported on time</td><td>3</td>"), "{all}");
    assert!(
        !early.contains("<td>Reported on time</td><td>3</td>"),
        "{early}"
    );
    let (_, _, unea) = get(&server.url("/evaluation?body=UNEA"), Some(&cookie));
    assert!(!unea.contains("<td>MC-3/11</td>"), "{unea}");
    let (code, _, _) = get(
        &server.url("/evaluation?body=not%20a%20body"),
        Some(&cookie),
    );
    assert_eq!(code, 400);
    let (_, _, first) = get(&server.url("/trail"), Some(&cookie));
    assert!(first.contains("Next page") && first.contains("DecisionAdopted"));
    let (_, _, meetings) = get(&server.url("/meetings"), Some(&cookie));
    assert!(meetings.contains("&lt;script&gt;"), "escaped");
    assert!(
        text(&meetings).contains("<script>alert(1)</script> \"quotes\""),
        "and shown as text"
    );

    // The as-of picker: as of mid-2019, ICCM5 was planned for 2020 and COP-4 unknown.
    let (_, _, page) = get(
        &server.url("/meetings?as_of=2019-06-30&known_at="),
        Some(&cookie),
    );
    let page = text(&page);
    assert!(
        page.contains("2020 (tbc)") && !page.contains("mc-cop-4.2"),
        "as-of view"
    );
    assert!(
        page.contains("value=\"2019-06-30\""),
        "the picker keeps its value"
    );
    // A bad date: a page that says so, with the way back.
    let (code, _, page) = get(&server.url("/meetings?as_of=2019-02-30"), Some(&cookie));
    assert_eq!(code, 400);
    assert!(
        page.contains("2019-02-30") && page.contains("href=\"?\""),
        "{page}"
    );
    // Known at an instant before anything was recorded: nothing; as the browser's date-time
    // field writes it (UTC, no zone), and shown back in it.
    for known_at in ["2000-01-01T00:00:00Z", "2000-01-01T00%3A00", "2000-01-01"] {
        let (code, _, page) = get(
            &server.url(&format!("/reports?known_at={known_at}")),
            Some(&cookie),
        );
        assert_eq!(code, 200, "{known_at}");
        assert!(
            page.contains("Nothing recorded for this view"),
            "{known_at}"
        );
    }
    let (_, _, page) = get(
        &server.url("/reports?known_at=2000-01-01T00%3A00"),
        Some(&cookie),
    );
    assert!(page.contains("value=\"2000-01-01T00:00:00\""), "{page}");
    // Filters: mandates by addressee.
    let (_, _, page) = get(
        &server.url("/decisions?addressee=mc-executive-secretary"),
        Some(&cookie),
    );
    let page = text(&page);
    assert!(
        page.contains("mc-executive-secretary")
            && !page.contains("<td>unep-executive-director</td>")
    );
    // Timeline by body and year.
    let (_, _, page) = get(&server.url("/timeline?body=UNEA&year=2021"), Some(&cookie));
    assert!(page.contains("unea-5") && !page.contains(">mc-cop-3<"));
    // Signing out clears the cookie.
    let out = agent
        .post(&server.url("/logout"))
        .set("Cookie", &cookie)
        .send_string("")
        .unwrap();
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    let _ = call("GET", &server.url("/healthz"), None, None);
    assert_eq!(server.stop(), Some(0));
}

/// One page per meeting and per decision, linked from the listings: a split meeting's
/// segments, its decisions and documents, deadlines and trail; a decision's mandates.
#[test]
fn meeting_and_decision_pages() {
    let a = Accord::new();
    a.record(&history());
    let t = token(&a, "officer", "reader");
    let server = Server::start_with(&a, None);
    let cookie = format!("accord_token={t}");
    let (_, _, list) = get(&server.url("/meetings"), Some(&cookie));
    assert!(
        text(&list).contains("<a href=\"/meetings/mc-cop-4\">mc-cop-4</a>"),
        "{list}"
    );
    let (code, _, page) = get(&server.url("/meetings/mc-cop-4"), Some(&cookie));
    assert_eq!(code, 200);
    let page = text(&page);
    for needle in [
        "Fourth meeting of the Conference of the Parties",
        "Segments",
        "mc-cop-4.2",
        "UNEP/MC/COP.4/INF/17",
        "Trail",
        "MeetingSplit",
    ] {
        assert!(page.contains(needle), "the meeting page lacks {needle:?}");
    }
    let (_, _, cop3) = get(&server.url("/meetings/mc-cop-3"), Some(&cookie));
    assert!(
        text(&cop3).contains("<a href=\"/decisions/MC-3/11\">MC-3/11</a>"),
        "{cop3}"
    );
    let (code, _, page) = get(&server.url("/decisions/MC-3/11"), Some(&cookie));
    assert_eq!(code, 200);
    let page = text(&page);
    for needle in [
        "Mandates",
        "unep-executive-director",
        "at mc-cop-4",
        "reported",
        "DecisionAdopted",
    ] {
        assert!(page.contains(needle), "the decision page lacks {needle:?}");
    }
    // A group's page: its members, leads, the groups under it, activities; a report's steps and
    // submissions; both linked from their listings.
    let (_, _, groups) = get(&server.url("/groups"), Some(&cookie));
    assert!(
        text(&groups).contains("href=\"/groups/joint-task-force\""),
        "{groups}"
    );
    let (code, _, page) = get(&server.url("/groups/joint-task-force"), Some(&cookie));
    assert_eq!(code, 200);
    let page = text(&page);
    for needle in [
        "Groups under it",
        "science-policy-subgroup",
        "Activities",
        "GroupEstablished",
    ] {
        assert!(page.contains(needle), "the group page lacks {needle:?}");
    }
    let (_, _, reports) = get(&server.url("/reports"), Some(&cookie));
    assert!(
        text(&reports).contains("href=\"/reports/joint-report-cooperation\""),
        "{reports}"
    );
    let (code, _, page) = get(
        &server.url("/reports/joint-report-cooperation"),
        Some(&cookie),
    );
    assert_eq!(code, 200);
    let page = text(&page);
    for needle in [
        "UNEP/MC/COP.4/INF/17",
        "href=\"/meetings/mc-cop-4\"",
        "ReportSubmitted",
    ] {
        assert!(page.contains(needle), "the report page lacks {needle:?}");
    }
    let (code, _, page) = get(&server.url("/meetings/mc-cop-99"), Some(&cookie));
    assert_eq!(code, 404);
    assert!(page.contains("no meeting `mc-cop-99`"), "{page}");
    server.stop();
}

/// POST a form with a cookie and optional extra headers: (status, body).
fn post_form(
    url: &str,
    cookie: &str,
    fields: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> (u16, String) {
    let agent = ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(Duration::from_secs(30))
        .build();
    let mut req = agent.post(url).set("Cookie", cookie);
    for (k, v) in headers {
        req = req.set(k, v);
    }
    match req.send_form(fields) {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("POST {url}: {e}"),
    }
}

/// Recording by form: a recorder opens a form with the log's ids in lists, previews the event,
/// records it (the actor is the token's name), and sees errors beside the field; a cross-site
/// POST, one without the session's CSRF token, and a reader write nothing.
#[test]
fn recording_by_form() {
    let a = Accord::new();
    a.record(&history());
    let recorder = token(&a, "mc-officer-1", "recorder");
    let reader = token(&a, "someone", "reader");
    let server = Server::start_with(&a, None);
    let cookie = format!("accord_token={recorder}");
    let (code, _, page) = get(&server.url("/record"), Some(&cookie));
    assert_eq!(code, 200);
    assert!(page.contains("MeetingHeld") && page.contains("NationalReportReceived"));
    let (code, _, form) = get(&server.url("/record/MeetingHeld"), Some(&cookie));
    assert_eq!(code, 200);
    let form = text(&form);
    assert!(
        form.contains("<option value=\"mc-cop-4\""),
        "meetings offered in a list"
    );
    assert!(
        form.contains("<option value=\"mc-cop-4.2\""),
        "and segments"
    );
    let csrf = form
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a CSRF token")
        .to_string();
    let url = server.url("/record/MeetingHeld");
    let held = |segment: &'static str, action: &'static str, csrf: &str| -> Vec<(String, String)> {
        vec![
            ("csrf".into(), csrf.into()),
            ("occurred".into(), "2021-11".into()),
            ("f.meeting".into(), "mc-cop-4".into()),
            ("f.segment".into(), segment.into()),
            ("f.dates".into(), "2021-11-01/2021-11-05".into()),
            ("action".into(), action.into()),
        ]
    };
    let as_refs = |v: &[(String, String)]| -> Vec<(String, String)> { v.to_vec() };
    let send = |fields: Vec<(String, String)>, headers: &[(&str, &str)]| {
        let f: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        post_form(&url, &cookie, &f, headers)
    };
    // The server holds the store: what is in the log is asked of it.
    let head = || -> u64 {
        let (_, v) = call("GET", &server.url("/api/verify"), Some(&recorder), None);
        serde_json::from_str::<serde_json::Value>(&v).unwrap()["last_seq"]
            .as_u64()
            .unwrap()
    };
    let before = head();
    // Preview: the event as it would be recorded, nothing written.
    let (code, page) = send(as_refs(&held("mc-cop-4.1", "preview", &csrf)), &[]);
    assert_eq!(code, 200, "{page}");
    let page = text(&page);
    assert!(
        page.contains("id=\"preview\"") && page.contains("\"segment\": \"mc-cop-4.1\""),
        "{page}"
    );
    assert_eq!(head(), before);
    // A segment of another meeting: refused beside its field, nothing written.
    let (code, page) = send(as_refs(&held("unea-5.2", "record", &csrf)), &[]);
    assert_eq!(code, 400, "{page}");
    assert!(
        text(&page).contains(
            "id=\"error-segment\">`unea-5.2` is a segment of `unea-5`, not of `mc-cop-4`"
        ),
        "{page}"
    );
    assert_eq!(head(), before);
    // Cross-site, or without the session's token: forbidden, nothing written.
    let (code, _) = send(
        as_refs(&held("mc-cop-4.1", "record", &csrf)),
        &[("Origin", "http://evil.example")],
    );
    assert_eq!(code, 403);
    let (code, _) = send(
        as_refs(&held("mc-cop-4.1", "record", &csrf)),
        &[("Sec-Fetch-Site", "cross-site"), ("Origin", "null")],
    );
    assert_eq!(code, 403);
    let (code, _) = send(as_refs(&held("mc-cop-4.1", "record", "not-the-token")), &[]);
    assert_eq!(code, 403);
    let reader_cookie = format!("accord_token={reader}");
    let (code, _, _) = get(&server.url("/record/MeetingHeld"), Some(&reader_cookie));
    assert_eq!(code, 403);
    assert_eq!(head(), before);
    // Recorded, from this dashboard: the seq, a link to the trail, the token's name as actor.
    let origin = server.url("");
    let origin = origin.trim_end_matches('/');
    let (code, page) = send(
        as_refs(&held("mc-cop-4.1", "record", &csrf)),
        &[("Origin", origin)],
    );
    assert_eq!(code, 200, "{page}");
    assert!(
        page.contains(&format!("Recorded as seq {}", before + 1)),
        "{page}"
    );
    let (_, page) = call(
        "GET",
        &server.url(&format!("/api/events?since={}", before + 1)),
        Some(&recorder),
        None,
    );
    let last = serde_json::from_str::<serde_json::Value>(&page).unwrap()["events"][0].clone();
    assert_eq!(last["type"], "MeetingHeld");
    assert_eq!(last["actor"], "mc-officer-1");
    assert_eq!(last["data"]["segment"], "mc-cop-4.1");
    // Lists of items as lines: a split with its segments.
    let split_url = server.url("/record/MeetingScheduled");
    let fields = [
        ("csrf", csrf.as_str()),
        ("occurred", "2026-01"),
        ("f.meeting", "cbd-cop-17"),
        ("f.body", "HUB"),
        ("f.kind", "cop"),
        ("f.title", "A meeting recorded by form"),
        ("f.dates", "2026-10"),
        ("action", "record"),
    ];
    let (code, page) = post_form(&split_url, &cookie, &fields, &[]);
    assert_eq!(code, 200, "{page}");
    let split = [
        ("csrf", csrf.as_str()),
        ("occurred", "2026-02"),
        ("f.meeting", "cbd-cop-17"),
        ("f.segments", "cbd-cop-17.1 | 2026-10-19/2026-10-20\ncbd-cop-17.2 | 2027-Q1 | in_person | Resumed session | Yerevan"),
        ("action", "record"),
    ];
    let (code, page) = post_form(&server.url("/record/MeetingSplit"), &cookie, &split, &[]);
    assert_eq!(code, 200, "{page}");
    let (_, meetings) = call("GET", &server.url("/api/meetings"), Some(&recorder), None);
    let meetings: serde_json::Value = serde_json::from_str(&meetings).unwrap();
    let m = super::helpers::row(&meetings, "meeting", "cbd-cop-17");
    assert_eq!(m["segments"][1]["venue"], "Yerevan", "{m}");
    // An amendment starts from the event's current data, edited as JSON.
    let seq = before + 1;
    let (code, _, form) = get(
        &server.url(&format!("/record/EventAmended?seq={seq}")),
        Some(&cookie),
    );
    assert_eq!(code, 200);
    assert!(
        form.contains("&quot;segment&quot;: &quot;mc-cop-4.1&quot;"),
        "the amended event's data is filled in: {form}"
    );
    let amend_url = server.url("/record/EventAmended");
    let seq_text = seq.to_string();
    let amend = |data: &str| {
        let fields = [
            ("csrf", csrf.as_str()),
            ("occurred", "2021-11"),
            ("f.seq", seq_text.as_str()),
            ("f.reason", "the first segment ended a day later"),
            ("f.data", data),
            ("action", "record"),
        ];
        post_form(&amend_url, &cookie, &fields, &[])
    };
    let at = head();
    let (code, page) = amend("{\"meeting\": \"mc-cop-4\", \"segment\": ");
    assert_eq!(code, 400, "{page}");
    assert!(page.contains("id=\"error-data\">not JSON"), "{page}");
    assert_eq!(head(), at);
    let (code, page) = amend(
        "{\"meeting\": \"mc-cop-4\", \"segment\": \"mc-cop-4.1\", \"dates\": \"2021-11-01/2021-11-06\"}",
    );
    assert_eq!(code, 200, "{page}");
    assert_eq!(head(), at + 1);
    let (code, _, bad) = get(
        &server.url("/record/EventAmended?seq=999999"),
        Some(&cookie),
    );
    assert_eq!(code, 400, "{bad}");
    server.stop();
}
