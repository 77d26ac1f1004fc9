//! Security review as tests: every write path needs a recorder token; tokens are kept hashed;
//! bodies, lines, headers and queries are bounded; hostile text is inert in every page, feed,
//! evaluation, email and CSV; no parameter reaches outside its place; secrets never print.

use std::io::{Read, Write};
use std::time::Duration;

use super::api::{token, Server};
use super::helpers::{history, root, Accord, Run};

/// (status, body) of a request, redirects not followed.
fn call(method: &str, url: &str, token: Option<&str>, body: Option<&str>) -> (u16, String) {
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    super::api::call_on(&agent, method, url, token, body)
}

/// The log's head seq, as the running server reports it.
fn head(server: &Server, token: &str) -> u64 {
    super::fuzz::served_head(server, token)
}

const GOOD_LINE: &str = r#"{"type":"MeetingScheduled","occurred":"2021-03","actor":"x","data":{"meeting":"sec-1","body":"MC","kind":"cop","title":"A meeting","dates":"2021-11-01/2021-11-05"}}"#;

/// The routes declared in the API's source: (method, path).
fn declared_routes() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for file in ["src/api/mod.rs", "src/api/pages.rs"] {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        // `.route(` may wrap onto the next lines: join each call up to its closing `)`.
        for chunk in text.split(".route(").skip(1) {
            let path = chunk.split('"').nth(1).unwrap().to_string();
            let call: String = chunk.chars().take(400).collect();
            let call = call.split("\n        .").next().unwrap_or(&call);
            for method in ["get", "post", "put", "delete", "patch"] {
                let mut rest = call;
                while let Some(i) = rest.find(&format!("{method}(")) {
                    let before = rest[..i].chars().last();
                    if matches!(before, Some(' ' | '(' | '.' | '\n')) {
                        out.push((method.to_uppercase(), path.clone()));
                        break;
                    }
                    rest = &rest[i + 1..];
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn every_write_path_needs_a_recorder_token() {
    let routes = declared_routes();
    let writes: Vec<_> = routes.iter().filter(|(m, _)| m != "GET").cloned().collect();
    // A new write route fails here until it is added with its checks below.
    assert_eq!(
        writes,
        vec![
            ("POST".to_string(), "/api/events".to_string()),
            ("POST".to_string(), "/login".to_string()),
            ("POST".to_string(), "/logout".to_string()),
            ("POST".to_string(), "/record/{ty}".to_string()),
        ],
        "the write routes changed: {routes:?}"
    );
    assert!(
        routes.len() >= 20,
        "routes not found in the source: {routes:?}"
    );

    let a = Accord::new();
    a.record(&history());
    let reader = token(&a, "reader", "reader");
    let recorder = token(&a, "recorder", "recorder");
    let revoked = token(&a, "gone", "recorder");
    assert_eq!(a.run(&["token", "revoke", "gone"]).code, 0);
    let admin = token(&a, "admin", "admin");
    let server = Server::start_with(&a, None);
    let before = head(&server, &admin);
    let post = |headers: &[(&str, &str)]| {
        let mut req = ureq::post(&server.url("/api/events")).timeout(Duration::from_secs(30));
        for (k, v) in headers {
            req = req.set(k, v);
        }
        match req.send_string(GOOD_LINE) {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(c, _)) => c,
            Err(e) => panic!("{e}"),
        }
    };
    let bearer = |t: &str| format!("Bearer {t}");
    let mut refused = 0;
    for (what, headers, want) in [
        ("no token", vec![], 401),
        (
            "a reader token",
            vec![("Authorization", bearer(&reader))],
            403,
        ),
        (
            "a revoked token",
            vec![("Authorization", bearer(&revoked))],
            401,
        ),
        (
            "a wrong token",
            vec![("Authorization", bearer("acc_0"))],
            401,
        ),
        (
            "an empty bearer",
            vec![("Authorization", "Bearer ".into())],
            401,
        ),
        (
            "a recorder token with a suffix",
            vec![("Authorization", format!("Bearer {recorder}x"))],
            401,
        ),
        (
            "a token's prefix",
            vec![("Authorization", bearer(&recorder[..recorder.len() - 1]))],
            401,
        ),
        (
            "the token's hash",
            vec![(
                "Authorization",
                bearer(&accord::envelope::sha256_hex(recorder.as_bytes())),
            )],
            401,
        ),
        (
            "basic auth",
            vec![("Authorization", format!("Basic {recorder}"))],
            401,
        ),
        // The dashboard's cookie signs in to pages only: a cross-site form cannot record.
        (
            "a recorder's cookie",
            vec![("Cookie", format!("accord_token={recorder}"))],
            401,
        ),
    ] {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(post(&h), want, "POST /api/events with {what}");
        refused += 1;
    }
    assert_eq!(head(&server, &admin), before, "a refused POST wrote");
    // The dashboard's forms: signed in as a recorder, from this dashboard, with the session's
    // CSRF token; anything else writes nothing.
    let form = [
        ("occurred", "2021-03"),
        ("f.meeting", "sec-2"),
        ("f.body", "MC"),
        ("f.kind", "cop"),
        ("f.title", "A meeting"),
        ("f.dates", "2021-11"),
        ("action", "record"),
        ("csrf", "0123456789abcdef0123456789abcdef"),
    ];
    for (what, headers, want) in [
        ("no cookie", vec![], 303),
        (
            "a reader's cookie",
            vec![("Cookie", format!("accord_token={reader}"))],
            403,
        ),
        (
            "a revoked cookie",
            vec![("Cookie", format!("accord_token={revoked}"))],
            303,
        ),
        (
            "a recorder's cookie without the session's CSRF token",
            vec![("Cookie", format!("accord_token={recorder}"))],
            403,
        ),
        (
            "a recorder's bearer without the session's CSRF token",
            vec![("Authorization", bearer(&recorder))],
            403,
        ),
        (
            "a recorder's cookie from another site",
            vec![
                ("Cookie", format!("accord_token={recorder}")),
                ("Origin", "http://evil.example".into()),
            ],
            403,
        ),
    ] {
        let agent = ureq::AgentBuilder::new().redirects(0).build();
        let mut req = agent
            .post(&server.url("/record/MeetingScheduled"))
            .timeout(Duration::from_secs(30));
        for (k, v) in &headers {
            req = req.set(k, v);
        }
        let status = match req.send_form(&form) {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(c, _)) => c,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(status, want, "POST /record with {what}");
        refused += 1;
    }
    assert_eq!(head(&server, &admin), before, "a refused form wrote");
    // Every declared route, with every method it does not declare: never a write.
    let mut tried = 0;
    for (_, path) in &routes {
        let path = path.replace("{what}", "meetings");
        for method in ["POST", "PUT", "DELETE", "PATCH"] {
            if routes.iter().any(|(m, p)| m == method && *p == path) {
                continue;
            }
            for t in [None, Some(reader.as_str()), Some(recorder.as_str())] {
                let (status, body) = call(method, &server.url(&path), t, Some(GOOD_LINE));
                // Unsigned dashboard requests go to the sign-in page.
                assert!(
                    matches!(status, 401 | 404 | 405) || (status == 303 && t.is_none()),
                    "{method} {path} answered {status}: {body}"
                );
                tried += 1;
            }
        }
    }
    // The login and logout forms write no event, whatever they are sent.
    for path in ["/login", "/logout"] {
        for body in [
            format!("token={recorder}"),
            GOOD_LINE.to_string(),
            "token=".into(),
        ] {
            let res = ureq::AgentBuilder::new()
                .redirects(0)
                .build()
                .post(&server.url(path))
                .set("Content-Type", "application/x-www-form-urlencoded")
                .send_string(&body);
            let status = match res {
                Ok(r) => r.status(),
                Err(ureq::Error::Status(c, _)) => c,
                Err(e) => panic!("{e}"),
            };
            assert!(status < 500, "POST {path}: {status}");
            tried += 1;
        }
    }
    assert_eq!(head(&server, &admin), before, "a refused request wrote");
    assert_eq!(post(&[("Authorization", &bearer(&recorder))]), 200);
    assert_eq!(head(&server, &admin), before + 1);
    println!(
        "security: write paths: {} routes declared, {refused} refused POST /api/events, {tried} other method/route/token tries, nothing written",
        routes.len()
    );
    assert_eq!(server.stop(), Some(0));
}

#[test]
fn tokens_are_stored_hashed() {
    let a = Accord::new();
    let mut tokens = Vec::new();
    for (name, role) in [("r", "reader"), ("w", "recorder"), ("admin", "admin")] {
        tokens.push(token(&a, name, role));
    }
    let file = std::fs::read_to_string(a.data().join("tokens.json")).unwrap();
    let entries: Vec<serde_json::Value> = serde_json::from_str(&file).unwrap();
    assert_eq!(entries.len(), 3);
    for (t, e) in tokens.iter().zip(&entries) {
        assert!(t.len() >= 64, "a token carries at least 256 bits: {t}");
        // No 12-character piece of a token is on disk.
        let chars: Vec<char> = t.chars().collect();
        for w in chars.windows(12) {
            let piece: String = w.iter().collect();
            assert!(
                !file.contains(&piece),
                "a piece of a token is stored: {piece}"
            );
        }
        assert_eq!(e["sha256"], accord::envelope::sha256_hex(t.as_bytes()));
    }
    // The listing shows names and roles, never tokens or hashes.
    let list = a.run(&["token", "list"]);
    for (t, e) in tokens.iter().zip(&entries) {
        assert!(!list.stdout.contains(t.as_str()));
        assert!(!list.stdout.contains(e["sha256"].as_str().unwrap()));
    }
    println!("security: tokens: 3 tokens, none of their 12-character pieces in tokens.json");
}

/// Sends raw bytes and returns the status of the answer, or 0 when the server closed the
/// connection without one.
fn raw_request(server: &Server, head: &str, body: &mut dyn FnMut(&mut std::net::TcpStream)) -> u16 {
    let addr = server.url("").trim_start_matches("http://").to_string();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(60))).unwrap();
    if s.write_all(head.as_bytes()).is_err() {
        return 0;
    }
    body(&mut s);
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn bodies_lines_headers_and_queries_are_bounded() {
    let a = Accord::new();
    a.record(&history());
    let t = token(&a, "w", "recorder");
    let admin = token(&a, "admin", "admin");
    let server = Server::start_with(&a, None);
    let before = head(&server, &admin);
    let addr = server.url("").trim_start_matches("http://").to_string();
    let max = accord::api::MAX_BODY;
    let mut figures = Vec::new();

    // Announced over the limit: refused before it is read.
    let status = raw_request(
        &server,
        &format!("POST /api/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {t}\r\nContent-Length: {}\r\n\r\n", max + 1),
        &mut |s| {
            let _ = s.write_all(&[b' '; 4096]);
        },
    );
    assert_eq!(status, 413, "an announced oversized body");
    figures.push(format!("announced {} bytes: {status}", max + 1));

    // Chunked, with no length: cut at the limit as it is read.
    let chunk = vec![b' '; 1 << 20];
    let status = raw_request(
        &server,
        &format!("POST /api/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {t}\r\nTransfer-Encoding: chunked\r\n\r\n"),
        &mut |s| {
            for _ in 0..(max / chunk.len() + 2) {
                if s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).is_err()
                    || s.write_all(&chunk).is_err()
                    || s.write_all(b"\r\n").is_err()
                {
                    return;
                }
            }
            let _ = s.write_all(b"0\r\n\r\n");
        },
    );
    assert!(
        matches!(status, 413 | 0),
        "a chunked oversized body: {status}"
    );
    figures.push(format!("chunked {} MiB: {status}", max / chunk.len() + 2));

    // One line over the line limit, in a body under the body limit: a 400 naming the line.
    let long = format!(
        "{GOOD_LINE}\n{}",
        GOOD_LINE.replace("A meeting", &"x".repeat(accord::input::MAX_LINE_BYTES))
    );
    let (status, body) = call("POST", &server.url("/api/events"), Some(&t), Some(&long));
    assert_eq!(status, 400, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (v["line"].as_u64(), v["field"].as_str()),
        (Some(2), Some("line")),
        "{v}"
    );
    figures.push(format!("a {} byte line: {status}", long.len()));

    // A body just under the limit of many valid lines is read whole and answered.
    let many = std::iter::repeat_n(GOOD_LINE, max / (GOOD_LINE.len() + 1) - 1)
        .collect::<Vec<_>>()
        .join("\n");
    let (status, _) = call(
        "POST",
        &server.url("/api/events"),
        Some(&t),
        Some(&format!("{many}\n{{")),
    );
    assert_eq!(status, 400, "a 16 MiB body with a bad last line");

    // Headers and queries: 64 KiB may be served, 1 MiB is refused; neither writes.
    for size in [64 * 1024, 1 << 20] {
        let huge = size > 64 * 1024;
        let status = raw_request(
            &server,
            &format!("GET /api/meetings HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {t}\r\nX-Junk: {}\r\n\r\n", "j".repeat(size)),
            &mut |_| {},
        );
        assert!(
            matches!(status, 431 | 400 | 413 | 0) || (!huge && status == 200),
            "a {size} byte header: {status}"
        );
        figures.push(format!("{size} byte header: {status}"));
        let status = raw_request(
            &server,
            &format!("GET /api/meetings?body={} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {t}\r\n\r\n", "M".repeat(size)),
            &mut |_| {},
        );
        assert!(
            matches!(status, 400 | 414 | 431 | 0) || (!huge && status == 200),
            "a {size} byte query: {status}"
        );
        figures.push(format!("{size} byte query: {status}"));
        let status = raw_request(
            &server,
            &format!("POST /api/events?{} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {t}\r\nContent-Length: 1\r\n\r\n{{", "x=1&".repeat(size / 4)),
            &mut |_| {},
        );
        assert!(
            matches!(status, 400 | 414 | 431 | 0),
            "a POST with a {size} byte query: {status}"
        );
    }
    // Many headers.
    let many_headers: String = (0..2000).map(|i| format!("X-H{i}: v\r\n")).collect();
    let status = raw_request(
        &server,
        &format!("GET /api/meetings HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {t}\r\n{many_headers}\r\n"),
        &mut |_| {},
    );
    assert!(matches!(status, 431 | 400 | 0), "2000 headers: {status}");
    figures.push(format!("2000 headers: {status}"));

    // Still serving, nothing written, memory bounded.
    let (status, _) = call("GET", &server.url("/api/meetings"), Some(&t), None);
    assert_eq!(status, 200);
    let peak = peak_rss_kib(server.pid());
    assert!(
        peak < 1024 * 1024,
        "the server's peak memory reached {peak} KiB on bounded input"
    );
    assert_eq!(head(&server, &admin), before, "refused input wrote");
    println!(
        "security: limits: {}; peak server memory {} MiB; nothing written",
        figures.join(", "),
        peak / 1024
    );
    assert_eq!(server.stop(), Some(0));
}

/// Hostile text for a free-text field: markup, an event handler, a script URL, a formula lead
/// and, where the field takes it, a line that would end a calendar event.
fn payload(i: usize, newline: bool) -> String {
    let lead = ["=", "+", "-", "@", "\t", "\r", ""][i % 7];
    let nl = if newline {
        "\nEND:VEVENT\r\nBEGIN:VEVENT"
    } else {
        ""
    };
    format!(
        "{lead}1+1<script>alert(1)</script>\"onmouseover=\"alert(2)\" <a href=\"javascript:alert(3)\">x</a>{nl}"
    )
}

/// The shipped history with hostile text in every string of `data` that the gate lets through
/// as free text; ids, dates and enumerations it refuses stay as they were. Returns the lines,
/// how many fields were made hostile and how many of them took a line break.
fn hostile_history() -> (String, usize, usize) {
    fn leaves(v: &serde_json::Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        match v {
            serde_json::Value::String(_) => out.push(path.clone()),
            serde_json::Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    path.push(i.to_string());
                    leaves(x, path, out);
                    path.pop();
                }
            }
            serde_json::Value::Object(o) => {
                for (k, x) in o {
                    path.push(k.clone());
                    leaves(x, path, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    fn at<'a>(v: &'a mut serde_json::Value, path: &[String]) -> &'a mut serde_json::Value {
        path.iter().fold(v, |v, k| match v {
            serde_json::Value::Array(a) => &mut a[k.parse::<usize>().unwrap()],
            other => &mut other[k.as_str()],
        })
    }
    let text = std::fs::read_to_string(history()).unwrap();
    let mut out = Vec::new();
    let (mut made, mut broken) = (0, 0);
    // The same text is made the same hostile text everywhere, so that references by text (a
    // mandate's paragraph) still name what they named.
    let mut same: std::collections::HashMap<serde_json::Value, Vec<String>> = Default::default();
    for (n, line) in text.lines().enumerate() {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        let mut paths = Vec::new();
        leaves(&v["data"], &mut vec!["data".into()], &mut paths);
        for p in paths {
            // References to decisions and mandates must name recorded ones: a mandate's
            // (`MC-3/11#2`) names its paragraph as the decision now has it, hostile or not.
            let reference = [
                "implements",
                "decision",
                "reports_on",
                "mirrors",
                "amends",
                "supersedes",
            ];
            if p.iter().any(|k| reference.contains(&k.as_str())) {
                let old = at(&mut v, &p).clone();
                if let Some((symbol, paragraph)) = old.as_str().and_then(|r| r.split_once('#')) {
                    if let Some(h) = same.get(&serde_json::Value::from(paragraph)) {
                        *at(&mut v, &p) = format!("{symbol}#{}", h[0]).into();
                    }
                }
                continue;
            }
            let old = at(&mut v, &p).clone();
            let mut kept = false;
            let tries = same
                .get(&old)
                .cloned()
                .unwrap_or_else(|| vec![payload(made, true), payload(made, false)]);
            for hostile in tries {
                let nl = hostile.contains('\n');
                *at(&mut v, &p) = hostile.clone().into();
                if accord::input::parse_value(n + 1, v.clone()).is_ok() {
                    kept = true;
                    broken += usize::from(nl);
                    same.insert(old.clone(), vec![hostile]);
                    break;
                }
            }
            if kept {
                made += 1;
            } else {
                *at(&mut v, &p) = old;
            }
        }
        out.push(v.to_string());
    }
    (out.join("\n"), made, broken)
}

/// Checks an HTML page for live hostile markup; returns how many escaped payloads it shows.
fn assert_inert_html(what: &str, page: &str) -> usize {
    assert!(!page.contains("<script>alert"), "{what}: a live <script>");
    assert!(
        !page.contains("\"onmouseover="),
        "{what}: a live event handler"
    );
    assert!(
        !page.contains("<a href=\"javascript:"),
        "{what}: a live javascript: link"
    );
    let lower = page.to_ascii_lowercase();
    for attr in ["href=\"", "src=\"", "action=\""] {
        for v in lower.split(attr).skip(1) {
            assert!(
                !v.trim_start().starts_with("javascript:"),
                "{what}: a javascript: URL"
            );
        }
    }
    page.matches("&lt;script&gt;alert(1)").count()
}

/// The unfolded content lines of an iCalendar text, checked: each is `NAME[;params]:value`,
/// and BEGIN/END nest.
fn assert_inert_ics(what: &str, ics: &str) -> usize {
    let unfolded = ics.replace("\r\n ", "").replace("\r\n\t", "");
    let mut stack = Vec::new();
    let mut events = 0;
    for line in unfolded.split("\r\n").filter(|l| !l.is_empty()) {
        let name_end = line
            .find([':', ';'])
            .unwrap_or_else(|| panic!("{what}: no property name in {line:?}"));
        let name = &line[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-'),
            "{what}: a line that is not a property: {line:?}"
        );
        assert!(
            !line.contains('\n') && !line.contains('\r'),
            "{what}: a bare line break"
        );
        if let Some(c) = line.strip_prefix("BEGIN:") {
            stack.push(c.to_string());
            if c == "VEVENT" {
                events += 1;
            }
        } else if let Some(c) = line.strip_prefix("END:") {
            assert_eq!(
                stack.pop().as_deref(),
                Some(c),
                "{what}: END:{c} out of place"
            );
        }
    }
    assert!(stack.is_empty(), "{what}: unclosed {stack:?}");
    events
}

/// The decoded body of the first MIME part of this content type.
fn mime_part(raw: &str, ctype: &str) -> Option<String> {
    use base64::Engine;
    let at = raw.find(&format!("Content-Type: {ctype}"))?;
    let part = &raw[at..];
    let body_at = part.find("\r\n\r\n")? + 4;
    let head = &part[..body_at];
    let body: String = part[body_at..].split("\r\n--").next()?.to_string();
    Some(if head.contains("base64") {
        let b64: String = body.split_whitespace().collect();
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).ok()?).ok()?
    } else if head.contains("quoted-printable") {
        let soft = body.replace("=\r\n", "");
        let (b, mut out, mut i) = (soft.as_bytes(), Vec::new(), 0);
        while i < b.len() {
            if b[i] == b'=' && i + 2 < b.len() {
                out.push(u8::from_str_radix(&soft[i + 1..i + 3], 16).ok()?);
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).ok()?
    } else {
        body
    })
}

/// Parses RFC 4180 CSV into rows of cells.
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut cell) = (Vec::new(), Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') if cell.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    if !cell.is_empty() || !row.is_empty() {
        row.push(cell);
        rows.push(row);
    }
    rows
}

/// Checks every cell of a CSV output; returns (cells, neutralised cells).
fn assert_formula_safe(what: &str, text: &str) -> (usize, usize) {
    let (mut cells, mut neutralised) = (0, 0);
    for row in csv_rows(text) {
        for c in row {
            cells += 1;
            assert!(
                !c.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{what}: a cell a spreadsheet would run: {c:?}"
            );
            if c.starts_with('\'') && c[1..].starts_with(['=', '+', '-', '@', '\t', '\r']) {
                neutralised += 1;
            }
        }
    }
    (cells, neutralised)
}

/// Confirms the second segment of COP-4, so that the pre-session workflow has a deadline.
const CONFIRM_COP4_2: &str = r#"{"type":"MeetingConfirmed","occurred":"2021-11-05","actor":"mc-officer","data":{"meeting":"mc-cop-4","segment":"mc-cop-4.2","dates":"2022-03-21/2022-03-25","venue":"Bali, Indonesia","mode":"in_person"}}"#;

#[test]
fn hostile_text_is_inert_in_every_page_feed_evaluation_email_and_csv() {
    let (text, made, broken) = hostile_history();
    assert!(made > 100, "only {made} fields took hostile text");
    let a = Accord::new();
    let r = a.record_text(&text);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(a.record_text(CONFIRM_COP4_2).code, 0);
    let reader = token(&a, "reader", "reader");

    // Email: the pre-session reminder, rendered into the outbox.
    let cfg = super::reminders::config_named(&a, "mail.toml", "", &["pre-session-documents.toml"]);
    for now in ["2021-12-01T10:00:00Z", "2021-12-13T08:00:00Z"] {
        let r = a.run(&["--config", cfg.to_str().unwrap(), "tick", "--now", now]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let mails = super::smtp::read_dir_mails(&a.data().join("outbox"));
    assert!(!mails.is_empty(), "no reminder was rendered");
    let mut in_mail = 0;
    for m in &mails {
        let html = mime_part(&m.raw, "text/html").expect("an HTML part");
        in_mail += assert_inert_html("email", &html);
        if let Some(ics) = mime_part(&m.raw, "text/calendar") {
            assert_inert_ics("email calendar", &ics);
        }
        // No header was split off by a line break in a title.
        for (k, v) in &m.headers {
            assert!(
                !k.contains(['<', ' ']) && !k.starts_with("begin") && !k.starts_with("end"),
                "an injected header {k}: {v}"
            );
        }
        let subject = m.header("subject").unwrap_or("");
        assert!(
            !subject.contains('\n') && !subject.contains('\r'),
            "{subject:?}"
        );
    }
    assert!(in_mail > 0, "the hostile title never reached the email");

    // The dashboard and the calendar feed.
    let server = Server::start_with(&a, Some(&root().join("workflows")));
    let mut shown = Vec::new();
    for path in [
        "/upcoming",
        "/timeline",
        "/meetings",
        "/decisions",
        "/groups",
        "/reports",
        "/trail",
        "/evaluation",
        "/meetings?as_of=2021-01-01",
        "/trail?known_at=2999-01-01T00:00:00Z",
        "/login",
    ] {
        let res = ureq::get(&server.url(path))
            .set("Authorization", &format!("Bearer {reader}"))
            .call()
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        // A second line behind the escaping: no script runs, nothing frames the page.
        let csp = res
            .header("content-security-policy")
            .unwrap_or("")
            .to_string();
        assert!(
            csp.contains("default-src 'none'") && !csp.contains("script-src"),
            "{path}: {csp:?}"
        );
        assert_eq!(
            res.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(res.header("x-frame-options"), Some("DENY"), "{path}");
        let status = res.status();
        let page = res.into_string().unwrap();
        assert_eq!(status, 200, "{path}");
        let n = assert_inert_html(path, &page);
        shown.push(format!("{path} {n}"));
        if [
            "/meetings",
            "/decisions",
            "/groups",
            "/reports",
            "/trail",
            "/timeline",
        ]
        .contains(&path)
        {
            assert!(
                n > 0,
                "{path} shows no hostile text: the test reaches nothing"
            );
        }
    }
    let (status, ics) = call("GET", &server.url("/calendar.ics"), Some(&reader), None);
    assert_eq!(status, 200);
    let events = assert_inert_ics("calendar.ics", &ics);
    assert!(
        ics.contains("<script>alert(1)"),
        "the feed carries the titles as text"
    );
    let (_, api) = call("GET", &server.url("/api/meetings"), Some(&reader), None);
    assert!(
        api.contains("<script>"),
        "the JSON API returns the text as it was recorded"
    );
    assert_eq!(server.stop(), Some(0));

    // The evaluation as HTML.
    let r = a.run(&["evaluate", "--format", "html"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let in_eval = assert_inert_html("evaluate --format html", &r.stdout);

    // Every CSV output.
    let mut csv = Vec::new();
    let (mut cells, mut neutralised) = (0, 0);
    let mut runs: Vec<Vec<&str>> = super::helpers::VIEWS
        .iter()
        .map(|w| vec!["show", w, "--format", "csv"])
        .collect();
    let cfg_s = cfg.to_str().unwrap();
    runs.push(vec![
        "--config",
        cfg_s,
        "deadlines",
        "--format",
        "csv",
        "--as-of",
        "2021-12-13",
    ]);
    runs.push(vec![
        "--config",
        cfg_s,
        "reminders",
        "--format",
        "csv",
        "--from",
        "2021-01-01T00:00:00Z",
        "--to",
        "2022-06-01T00:00:00Z",
    ]);
    runs.push(vec!["log", "--format", "csv"]);
    runs.push(vec!["evaluate", "--format", "csv"]);
    for args in &runs {
        let r: Run = a.run(args);
        assert!(r.code == 0 || r.code == 1, "{args:?}: {}", r.stderr);
        let (c, n) = assert_formula_safe(&args.join(" "), &r.stdout);
        cells += c;
        neutralised += n;
        csv.push(format!(
            "{} {c}/{n}",
            args[args.iter().position(|a| *a == "--format").unwrap() - 1]
        ));
    }
    assert!(
        neutralised > 0,
        "no formula lead reached a CSV: the test reaches nothing"
    );
    println!(
        "security: hostile text: {made} fields ({broken} with a line break); escaped payloads per page: {}; {events} calendar events well-formed; {in_eval} in the evaluation, {in_mail} in {} emails; CSV cells/neutralised: {} ({cells} cells, {neutralised} neutralised)",
        shown.join(", "),
        mails.len(),
        csv.join(", ")
    );
}

#[test]
fn no_parameter_reaches_outside_its_place() {
    let a = Accord::new();
    a.record(&history());
    let t = token(&a, "admin", "admin");
    std::fs::write(a.dir.path().join("secret.txt"), "TOP-SECRET-FILE").unwrap();
    let server = Server::start_with(&a, Some(&root().join("workflows")));
    let tokens_file = std::fs::read_to_string(a.data().join("tokens.json")).unwrap();
    let hash = serde_json::from_str::<serde_json::Value>(&tokens_file).unwrap()[0]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let mut tried = 0;
    for path in [
        "/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/api/..%2f..%2f..%2fetc%2fpasswd",
        "/api/%2e%2e%2f%2e%2e%2fsecret.txt",
        "/api/events/..%2f..%2ftokens.json",
        "/tokens.json",
        "/data/tokens.json",
        "/secret.txt",
        "/static/../secret.txt",
        "/templates/layout.html",
        "/api/templates/layout.html",
        "/api/events?stream=../../../etc/passwd",
        "/api/events?stream=..%2F..%2Ftokens.json",
        "/api/events?stream=%00",
        "/api/events?type=../../etc/passwd",
        "/api/meetings?body=../../etc/passwd",
        "/api/deadlines?body=..%2f..%2fsecret.txt",
        "/api/reminders?status=../../x",
        "/api/timeline?body=%2fetc%2fpasswd",
        "/calendar.ics?body=../../etc/passwd",
        "/meetings?as_of=../../etc/passwd",
        "/trail?stream=../../etc/passwd",
        "/api/..",
        "/api/.",
        "/api/%00",
        "//etc/passwd",
        "/%5C..%5C..%5Cetc%5Cpasswd",
    ] {
        let (status, body) = call("GET", &server.url(path), Some(&t), None);
        assert!(status < 500, "{path}: {status} {body}");
        assert!(!body.contains("root:x:0"), "{path} served /etc/passwd");
        assert!(!body.contains("TOP-SECRET-FILE"), "{path} served a file");
        assert!(!body.contains(&hash), "{path} served the token file");
        assert!(!body.contains("{% block"), "{path} served a template");
        tried += 1;
    }
    assert_eq!(server.stop(), Some(0));

    // Workflow and template names cannot leave the workflows folder.
    let wf = a.dir.path().join("wf");
    std::fs::create_dir_all(wf.join("templates")).unwrap();
    let base =
        std::fs::read_to_string(root().join("workflows/pre-session-documents.toml")).unwrap();
    let template = base
        .lines()
        .find_map(|l| l.strip_prefix("template = "))
        .expect("a template line")
        .to_string();
    std::fs::write(a.dir.path().join("evil.txt.j2"), "{{ 1 }}").unwrap();
    for bad in [
        "\"../evil\"",
        "\"../../wf/templates/x\"",
        "\"/etc/passwd\"",
        "\"a/../../evil\"",
    ] {
        let text = base.replace(
            &format!("template = {template}"),
            &format!("template = {bad}"),
        );
        let err = accord::workflows::definition::parse(
            std::path::Path::new("evil.toml"),
            &text,
            &wf.join("templates"),
        )
        .expect_err(bad);
        assert!(err.message.contains("template"), "{bad}: {}", err.message);
        tried += 1;
    }
    println!(
        "security: path traversal: {tried} paths, parameters and names tried, none left its place"
    );
}

#[test]
fn secrets_never_appear_in_logs_errors_or_help() {
    const SMTP_PW: &str = "SmtpPw-7f3a9";
    const PG_PW: &str = "PgPw-c41e2";
    let a = Accord::new();
    a.record(&history());
    assert_eq!(a.record_text(CONFIRM_COP4_2).code, 0);
    let admin = token(&a, "admin", "admin");
    let mut checked = 0;
    let mut check = |what: &str, out: &str, secrets: &[&str]| {
        for s in secrets {
            assert!(!out.contains(s), "{what} shows a secret: {out}");
        }
        checked += 1;
    };

    // SMTP: a password in the URL, a server that is not there, full tracing.
    let port = super::smtp::free_port();
    let cfg = super::reminders::config_smtp(
        &a,
        &format!(
            "[smtp]\nurl = \"smtp://officer:{SMTP_PW}@127.0.0.1:{port}\"\nsender = \"Accord <accord@example.org>\"\ntimeout_secs = 2\n"
        ),
        &["pre-session-documents.toml"],
    );
    let cfg_s = cfg.to_str().unwrap();
    for level in ["debug", "trace"] {
        for now in ["2021-12-01T10:00:00Z", "2021-12-13T08:00:00Z"] {
            let o = a
                .command()
                .env("ACCORD_LOG", level)
                .args(["--config", cfg_s, "tick", "--now", now])
                .output()
                .unwrap();
            let r: Run = o.into();
            check(
                &format!("tick ({level})"),
                &(r.stdout + &r.stderr),
                &[SMTP_PW],
            );
        }
    }
    // The failure is recorded in the log: without the password there too.
    let log = a.export();
    assert!(log.contains("Reminder"), "no reminder was attempted");
    check("the log", &log, &[SMTP_PW]);
    // A malformed URL is reported without the URL.
    std::fs::write(
        a.dir.path().join("bad.toml"),
        format!("[smtp]\nurl = \"smtp://officer:{SMTP_PW}@[::1\"\n"),
    )
    .unwrap();
    let r = a.run(&[
        "--config",
        a.dir.path().join("bad.toml").to_str().unwrap(),
        "tick",
        "--now",
        "2021-12-14T08:00:00Z",
    ]);
    check("a bad SMTP URL", &(r.stdout + &r.stderr), &[SMTP_PW]);
    // Each mistake in plain words, the URL never quoted.
    for (url, says) in [
        (
            format!("smtp://officer:{SMTP_PW}@host:notaport"),
            "port is not a number",
        ),
        (
            format!("http://officer:{SMTP_PW}@host:25"),
            "scheme is `http`, not smtp or smtps",
        ),
        (
            format!("smtp://officer:{SMTP_PW}@host:587?tls=yes"),
            "tls=`yes` is not one of",
        ),
        ("mail.example.org:25".to_string(), "SMTP URL"),
    ] {
        std::fs::write(
            a.dir.path().join("bad.toml"),
            format!("[smtp]\nurl = \"{url}\"\n"),
        )
        .unwrap();
        let r = a.run(&[
            "--config",
            a.dir.path().join("bad.toml").to_str().unwrap(),
            "tick",
            "--now",
            "2021-12-14T08:00:00Z",
        ]);
        assert_eq!(r.code, 2, "{url}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{url}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "one line: {}", r.stderr);
        check("a bad SMTP URL", &(r.stdout + &r.stderr), &[SMTP_PW]);
    }
    let r: Run = a
        .command()
        .env(
            "ACCORD_SMTP_URL",
            format!("smtp://officer:{SMTP_PW}@127.0.0.1:{port}"),
        )
        .env("ACCORD_LOG", "trace")
        .args(["--config", cfg_s, "tick", "--now", "2021-12-15T08:00:00Z"])
        .output()
        .unwrap()
        .into();
    check("ACCORD_SMTP_URL", &(r.stdout + &r.stderr), &[SMTP_PW]);

    // PostgreSQL: a password in a URL that cannot be reached, as storage and as a target.
    let pg = format!(
        "postgres://accord:{PG_PW}@127.0.0.1:{}/x?connect_timeout=2",
        super::smtp::free_port()
    );
    for args in [
        vec!["show", "meetings"],
        vec!["verify"],
        vec!["serve", "--listen", "127.0.0.1:0"],
    ] {
        let r: Run = a
            .command()
            .env("ACCORD_STORAGE_URL", &pg)
            .env("ACCORD_LOG", "trace")
            .args(&args)
            .output()
            .unwrap()
            .into();
        assert_ne!(r.code, 0, "{args:?} with an unreachable database");
        check(
            &format!("{args:?} on PostgreSQL"),
            &(r.stdout + &r.stderr),
            &[PG_PW],
        );
    }
    let r: Run = a
        .command()
        .env("ACCORD_LOG", "trace")
        .args(["migrate", "--to", &pg])
        .output()
        .unwrap()
        .into();
    assert_ne!(r.code, 0);
    check("migrate --to", &(r.stdout + &r.stderr), &[PG_PW]);
    std::fs::write(
        a.dir.path().join("pg.toml"),
        format!("[storage]\nurl = \"{pg}\"\n"),
    )
    .unwrap();
    let r = a.run(&[
        "--config",
        a.dir.path().join("pg.toml").to_str().unwrap(),
        "show",
        "meetings",
    ]);
    check("[storage] url", &(r.stdout + &r.stderr), &[PG_PW]);

    // Tokens: in headers, cookies, the calendar's query and the sign-in form, traced.
    let child = a
        .command()
        .env("ACCORD_LOG", "trace")
        .env("ACCORD_SHUTDOWN_GRACE_SECS", "2")
        .args(["--config", cfg_s, "serve", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let served = TracedServer::new(child);
    let base = served.base.clone();
    call("GET", &format!("{base}/api/meetings"), Some(&admin), None);
    call(
        "GET",
        &format!("{base}/calendar.ics?token={admin}"),
        None,
        None,
    );
    call(
        "GET",
        &format!("{base}/calendar.ics?token={admin}x"),
        None,
        None,
    );
    call(
        "GET",
        &format!("{base}/api/meetings"),
        Some(&format!("{admin}x")),
        None,
    );
    let _ = ureq::AgentBuilder::new()
        .redirects(0)
        .build()
        .post(&format!("{base}/login"))
        .send_form(&[("token", &admin)]);
    let _ = ureq::get(&format!("{base}/meetings"))
        .set("Cookie", &format!("accord_token={admin}"))
        .call();
    let (status, _) = call(
        "POST",
        &format!("{base}/api/events"),
        Some(&admin),
        Some(GOOD_LINE),
    );
    assert_eq!(status, 200);
    let (stdout, stderr) = served.stop();
    assert!(
        stderr.len() > 1000,
        "trace logging printed little: {stderr}"
    );
    check(
        "serve (trace)",
        &(stdout + &stderr),
        &[&admin, &admin[4..40]],
    );

    // Help of every command, with secrets in the environment.
    let mut helps = 0;
    let mut queue = vec![Vec::<String>::new()];
    while let Some(cmd) = queue.pop() {
        let mut args = cmd.clone();
        args.push("--help".into());
        let r: Run = a
            .command()
            .env("ACCORD_STORAGE_URL", &pg)
            .env("ACCORD_SMTP_URL", format!("smtp://officer:{SMTP_PW}@h:25"))
            .args(&args)
            .output()
            .unwrap()
            .into();
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        check(
            &format!("{args:?}"),
            &(r.stdout.clone() + &r.stderr),
            &[SMTP_PW, PG_PW, &admin],
        );
        helps += 1;
        let mut in_commands = false;
        for line in r.stdout.lines() {
            if line.starts_with("Commands:") {
                in_commands = true;
                continue;
            }
            if in_commands {
                if !line.starts_with("  ") {
                    in_commands = false;
                    continue;
                }
                let name = line.split_whitespace().next().unwrap_or("");
                if !name.is_empty()
                    && name != "help"
                    && line.starts_with("  ")
                    && !line.starts_with("   ")
                {
                    let mut sub = cmd.clone();
                    sub.push(name.to_string());
                    queue.push(sub);
                }
            }
        }
    }
    assert!(helps >= 20, "only {helps} --help pages found");
    println!("security: secrets: {checked} outputs checked (ticks and serve traced, PostgreSQL and SMTP failures, {helps} --help pages), no password or token in any");
}

/// `accord serve` whose whole output is kept, to be searched after it stops.
struct TracedServer {
    child: std::process::Child,
    base: String,
    stderr: std::thread::JoinHandle<String>,
}

impl TracedServer {
    fn new(mut child: std::process::Child) -> TracedServer {
        use std::io::BufRead;
        let (tx, rx) = std::sync::mpsc::channel();
        let err = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut all = String::new();
            let mut sent = false;
            for line in std::io::BufReader::new(err).lines() {
                let line = line.unwrap_or_default();
                if !sent {
                    if let Some(rest) = line.split("listening on ").nth(1) {
                        let _ = tx.send(rest.split(';').next().unwrap().to_string());
                        sent = true;
                    }
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        let Ok(base) = rx.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            let out = stderr.join().unwrap();
            let tail: String = out.lines().rev().take(15).collect::<Vec<_>>().join("\n");
            panic!("the server did not start; the last lines, last first: {tail}");
        };
        TracedServer {
            child,
            base,
            stderr,
        }
    }

    fn stop(mut self) -> (String, String) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let mut out = String::new();
        if let Some(mut o) = self.child.stdout.take() {
            let _ = o.read_to_string(&mut out);
        }
        let _ = self.child.wait();
        (out, self.stderr.join().unwrap())
    }
}

#[test]
fn terminal_output_shows_no_control_characters() {
    // Escape sequences (clear screen, set the window title, a C1 CSI), a bell, NUL, a carriage
    // return, a line break and a bidirectional override, in free text any recorder may send.
    let evil = r"A\u001b[2J\u001b]0;pwned\u0007 t\u009b31m\nsecond\r\u0000\u202eiwt";
    let line = format!(
        r#"{{"type":"MeetingScheduled","occurred":"2021-03","actor":"x","data":{{"meeting":"m-1","body":"MC","kind":"cop","title":"{evil}","dates":"2021-11-01/2021-11-05","venue":"{evil}"}}}}"#
    );
    let a = Accord::new();
    assert_eq!(a.record_text(&line).code, 0);
    let bad = |c: char| c != '\n' && (c.is_control() || ('\u{202A}'..='\u{202E}').contains(&c));
    let mut outputs = 0;
    for args in [
        vec!["show", "meetings"],
        vec!["show", "timeline"],
        vec!["log"],
        vec!["show", "meetings", "--body", "MC"],
    ] {
        let r = a.run(&args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert!(r.stdout.contains("pwned"), "{args:?} shows the title");
        assert!(
            !r.stdout.chars().any(bad),
            "{args:?} passes control characters: {:?}",
            r.stdout
        );
        outputs += 1;
    }
    // Error messages quote the input: shown, not acted on.
    let wrong = line.replace("MeetingScheduled", r"Meeting\u001b]0;pwned\u0007");
    let r = a.record_text(&wrong);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("pwned"), "{}", r.stderr);
    assert!(!r.stderr.trim_end().chars().any(bad), "{:?}", r.stderr);
    println!(
        "security: terminal: {} table outputs and 1 error message, no control character passed",
        outputs
    );
}
