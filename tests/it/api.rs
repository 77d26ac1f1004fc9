//! The HTTP API of `accord serve`, driven over loopback: tokens and roles, the listings on both
//! time axes, recording with the rules of `accord record`, the trail, export and verify.

use std::time::Duration;

use super::helpers::{history, Accord};

pub(crate) use super::server::{call, call_on, json, listening_address, token, Server};

#[test]
fn tokens_roles_listings_and_recording() {
    let a = Accord::new();
    a.record(&history());
    let reader = token(&a, "auditor", "reader");
    let recorder = token(&a, "mc-officer-1", "recorder");
    let listed = a.run(&["token", "list"]);
    assert!(
        listed.stdout.contains("auditor") && !listed.stdout.contains(&reader),
        "{}",
        listed.stdout
    );
    let server = Server::start(&a);

    // No token, a wrong token: 401 everywhere but /healthz.
    assert_eq!(call("GET", &server.url("/healthz"), None, None).0, 200);
    for path in [
        "/api/meetings",
        "/api/events",
        "/api/verify",
        "/metrics",
        "/api/events/export",
    ] {
        assert_eq!(call("GET", &server.url(path), None, None).0, 401, "{path}");
        assert_eq!(
            call("GET", &server.url(path), Some("acc_nope"), None).0,
            401,
            "{path}"
        );
    }

    // The listings answer as `accord show` does, on both axes.
    let (code, body) = call("GET", &server.url("/api/meetings"), Some(&reader), None);
    assert_eq!(code, 200);
    assert_eq!(json(&body).as_array().unwrap().len(), 11);
    let (_, body) = call(
        "GET",
        &server.url("/api/mandates?as_of=2020-09-01"),
        Some(&reader),
        None,
    );
    let m = json(&body);
    assert_eq!(
        m.as_array()
            .unwrap()
            .iter()
            .find(|x| x["mandate"] == "MC-3/11#1")
            .unwrap()["status"],
        "in_progress"
    );
    let (code, body) = call(
        "GET",
        &server.url("/api/meetings?as_of=2021-02-30"),
        Some(&reader),
        None,
    );
    assert_eq!(code, 400);
    assert_eq!(json(&body)["field"], "as_of");
    assert_eq!(
        call("GET", &server.url("/api/nonesuch"), Some(&reader), None).0,
        404
    );
    // The command line's filters: body, status, date range.
    let (_, body) = call(
        "GET",
        &server.url("/api/meetings?body=UNEA"),
        Some(&reader),
        None,
    );
    assert_eq!(json(&body).as_array().unwrap().len(), 2);
    let (_, body) = call(
        "GET",
        &server.url("/api/mandates?as_of=2020-09-01&status=active"),
        Some(&reader),
        None,
    );
    assert_eq!(json(&body).as_array().unwrap().len(), 2);
    let (_, body) = call(
        "GET",
        &server.url("/api/meetings?from=2021-01-01&to=2021-12-31"),
        Some(&reader),
        None,
    );
    assert_eq!(json(&body).as_array().unwrap().len(), 3);
    let (code, body) = call(
        "GET",
        &server.url("/api/groups?body=MC"),
        Some(&reader),
        None,
    );
    assert_eq!(code, 400, "{body}");
    assert!(json(&body)["message"]
        .as_str()
        .unwrap()
        .contains("does not apply to groups"));

    // Recording: readers may not; recorders may, and the actor is the token's name.
    let line = r#"{"type":"MeetingPostponed","occurred":"2021-10-15","actor":"someone-else","data":{"meeting":"iccm-5","dates":"2023","tentative":true}}"#;
    assert_eq!(
        call(
            "POST",
            &server.url("/api/events"),
            Some(&reader),
            Some(line)
        )
        .0,
        403
    );
    let (code, body) = call(
        "POST",
        &server.url("/api/events"),
        Some(&recorder),
        Some(line),
    );
    assert_eq!(code, 200, "{body}");
    let rec = json(&body);
    assert_eq!(rec["recorded"][0]["seq"], 65);
    let (_, body) = call(
        "GET",
        &server.url("/api/events?since=65"),
        Some(&reader),
        None,
    );
    let page = json(&body);
    assert_eq!(
        page["events"][0]["actor"], "mc-officer-1",
        "never the body's actor"
    );
    assert_eq!(page["events"][0]["hash"], rec["recorded"][0]["hash"]);

    // Bad input: 400 naming line and field, nothing written; a conflict: 409; too big: 413.
    let head = |s: &Server| {
        json(&call("GET", &s.url("/api/verify"), Some(&reader), None).1)["last_seq"].clone()
    };
    let bad = format!("{line}\n{}", line.replace("\"2023\"", "\"2023-13\""));
    let (code, body) = call(
        "POST",
        &server.url("/api/events"),
        Some(&recorder),
        Some(&bad),
    );
    assert_eq!(code, 400, "{body}");
    let err = json(&body);
    assert_eq!(
        (err["line"].as_u64(), err["field"].as_str()),
        (Some(2), Some("data.dates"))
    );
    let conflict = line.replace("\"actor\"", "\"expected_position\":1,\"actor\"");
    let (code, body) = call(
        "POST",
        &server.url("/api/events"),
        Some(&recorder),
        Some(&conflict),
    );
    assert_eq!(code, 409, "{body}");
    assert_eq!(json(&body)["actual"], 3);
    assert_eq!(oversized_post(&server, &recorder), 413);
    assert_eq!(head(&server), 65, "nothing written by refused requests");

    // The trail, paged; the export as the command line writes it; verify.
    let (_, body) = call(
        "GET",
        &server.url("/api/events?limit=10"),
        Some(&reader),
        None,
    );
    let page = json(&body);
    assert_eq!(page["events"].as_array().unwrap().len(), 10);
    assert_eq!(page["next"], 11);
    let (_, body) = call(
        "GET",
        &server.url("/api/events?type=DecisionAdopted"),
        Some(&reader),
        None,
    );
    assert_eq!(json(&body)["events"].as_array().unwrap().len(), 1);
    // The export holds reminders' recipients: admins only.
    let export_url = server.url("/api/events/export");
    assert_eq!(call("GET", &export_url, Some(&reader), None).0, 403);
    assert_eq!(call("GET", &export_url, Some(&recorder), None).0, 403);
    let admin = token(&a, "auditor-admin", "admin");
    let (code, export) = call("GET", &export_url, Some(&admin), None);
    assert_eq!(code, 200);
    assert_eq!(export.lines().count(), 65);
    let v = json(&call("GET", &server.url("/api/verify"), Some(&reader), None).1);
    assert_eq!(v["intact"], true);
    let (code, metrics) = call("GET", &server.url("/metrics"), Some(&reader), None);
    assert_eq!(code, 200);
    assert!(metrics.contains("accord_log_head_seq 65"), "{metrics}");
    // The check made at start covered the 64 records then; the one recorded since is checked
    // when the trail is next shown.
    let verified: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("accord_chain_verified_seq "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!((64..=65).contains(&verified), "{metrics}");
    assert!(
        metrics.contains("accord_http_request_duration_seconds_bucket"),
        "{metrics}"
    );

    // SIGTERM: a clean stop, and the store is the same seen from the command line.
    assert_eq!(server.stop(), Some(0));
    assert_eq!(a.export(), export);
}

/// As it stops, a server stores the life-cycle registry it kept: the next process's check
/// starts from the last record, not from the batch recorded before the server started.
#[test]
fn a_server_that_stops_leaves_its_registry_for_the_next_process() {
    let a = Accord::new();
    a.record(&history());
    let recorder = token(&a, "officer", "recorder");
    let server = Server::start(&a);
    let line = r#"{"type":"MeetingPostponed","occurred":"2021-10-15","actor":"x","data":{"meeting":"iccm-5","dates":"2023","tentative":true}}"#;
    let (code, body) = call(
        "POST",
        &server.url("/api/events"),
        Some(&recorder),
        Some(line),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(server.stop(), Some(0));
    let head = a.last_seq();
    let next = a.dir.path().join("next.jsonl");
    std::fs::write(&next, line.replace("2023", "2024")).unwrap();
    let out = a
        .command()
        .env("ACCORD_LOG", "accord=debug")
        .args(["record", next.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("stored registry read at=Some({head})")),
        "{stderr}"
    );
}

#[test]
fn revoked_tokens_stop_working_while_serving() {
    let a = Accord::new();
    a.record(&history());
    let t = token(&a, "temp", "admin");
    let server = Server::start(&a);
    assert_eq!(
        call("GET", &server.url("/api/groups"), Some(&t), None).0,
        200
    );
    assert_eq!(a.run(&["token", "revoke", "temp"]).code, 0);
    assert_eq!(
        call("GET", &server.url("/api/groups"), Some(&t), None).0,
        401
    );
    // A revocation within the same tick of the file's clock as the change before it (a file
    // system with one-second timestamps): the file keeps its modification time, and the token
    // still stops working.
    let kept = token(&a, "kept", "recorder");
    assert_eq!(
        call("GET", &server.url("/api/groups"), Some(&kept), None).0,
        200
    );
    let file = a.data().join("tokens.json");
    let before = std::fs::metadata(&file).unwrap().modified().unwrap();
    assert_eq!(a.run(&["token", "revoke", "kept"]).code, 0);
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(before)
        .unwrap();
    assert_eq!(
        call("GET", &server.url("/api/groups"), Some(&kept), None).0,
        401,
        "a revocation that left the file's modification time unchanged was missed"
    );
    assert_eq!(server.stop(), Some(0));
}

#[test]
fn the_bad_input_table_over_http_writes_nothing() {
    let a = Accord::new();
    a.record(&history());
    let t = token(&a, "rec", "recorder");
    let admin = token(&a, "adm", "admin");
    let server = Server::start(&a);
    let export = |s: &Server| {
        let (code, body) = call("GET", &s.url("/api/events/export"), Some(&admin), None);
        assert_eq!(code, 200);
        body
    };
    let before = export(&server);
    let mut failed = Vec::new();
    let cases = super::bad_input::cases();
    for (name, input, expect) in &cases {
        let (code, body) = call("POST", &server.url("/api/events"), Some(&t), Some(input));
        let said = serde_json::from_str::<serde_json::Value>(&body)
            .map(|v| match v["field"].as_str() {
                Some(f) => format!(
                    "line {}: {f}: {}",
                    v["line"],
                    v["message"].as_str().unwrap_or("")
                ),
                None => format!(
                    "line {}: {}",
                    v["line"],
                    v["message"].as_str().unwrap_or("")
                ),
            })
            .unwrap_or(body.clone());
        if !(code == 400 || code == 409) || !said.contains(expect) {
            failed.push(format!("{name}: {code} {said}"));
        }
        assert_eq!(export(&server), before, "{name}: something was written");
    }
    assert!(
        failed.is_empty(),
        "refused wrongly over HTTP:\n{}",
        failed.join("\n")
    );
    // Not UTF-8 at all.
    let res = ureq::post(&server.url("/api/events"))
        .set("Authorization", &format!("Bearer {t}"))
        .send_bytes(b"{\"type\":\"\xff\"}\n");
    assert!(matches!(res, Err(ureq::Error::Status(400, _))));
    assert_eq!(export(&server), before);
    println!(
        "bad input over HTTP: {} cases refused, nothing written",
        cases.len()
    );
    assert_eq!(server.stop(), Some(0));
}

/// Announces a body over the limit and reads the answer before sending it: the server refuses
/// from the Content-Length alone (a client still writing would race the close).
fn oversized_post(server: &Server, token: &str) -> u16 {
    use std::io::{Read, Write};
    let addr = server.url("").trim_start_matches("http://").to_string();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST /api/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n",
        32 * 1024 * 1024
    )
    .unwrap();
    s.write_all(&[b' '; 4096]).unwrap();
    let mut head = [0u8; 64];
    let n = s.read(&mut head).unwrap();
    let line = String::from_utf8_lossy(&head[..n]).to_string();
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {line:?}"))
}

#[test]
fn recipients_are_for_admins_and_a_stuck_client_does_not_block_shutdown() {
    let a = Accord::new();
    a.record(&history());
    let start = super::helpers::future_meeting(&a);
    let reader = token(&a, "reader", "reader");
    let admin = token(&a, "admin", "admin");
    let server = Server::start_with(&a, Some(&super::helpers::root().join("workflows")));
    let url = server.url("/api/events?type=ReminderScheduled&limit=5");
    let started = std::time::Instant::now();
    while json(&call("GET", &url, Some(&admin), None).1)["events"]
        .as_array()
        .unwrap()
        .is_empty()
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no reminders scheduled"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let seen = json(&call("GET", &url, Some(&admin), None).1);
    assert_eq!(seen["events"][0]["data"]["recipient"], "secretariat-mc");
    let hidden = json(&call("GET", &url, Some(&reader), None).1);
    assert_eq!(hidden["events"][0]["data"]["recipient"], "[redacted]");
    assert_eq!(hidden["events"][0]["redacted"], true);
    for path in ["/api/reminders", "/trail?since=60"] {
        let (_, body) = call("GET", &server.url(path), Some(&reader), None);
        assert!(
            !body.contains("secretariat-mc"),
            "{path} shows a recipient to a reader"
        );
    }
    let (_, body) = call("GET", &server.url("/api/reminders"), Some(&admin), None);
    assert!(body.contains("secretariat-mc"));
    // Deadlines filter by the status they show on the day asked.
    let far = (start + chrono::Days::new(365)).to_string();
    let (_, body) = call(
        "GET",
        &server.url(&format!("/api/deadlines?as_of={far}&status=missed&body=MC")),
        Some(&reader),
        None,
    );
    let missed = json(&body);
    assert!(!missed.as_array().unwrap().is_empty());
    assert!(missed
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["status"] == "missed"));
    assert_eq!(
        call(
            "GET",
            &server.url("/timeline?year=2147483647"),
            Some(&reader),
            None
        )
        .0,
        400
    );

    // A client that sends half a request: SIGTERM still ends the server, after the grace.
    use std::io::Write;
    let addr = server.url("").trim_start_matches("http://").to_string();
    let mut half = std::net::TcpStream::connect(&addr).unwrap();
    write!(half, "GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
    let began = std::time::Instant::now();
    assert_eq!(server.stop(), Some(0));
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "took {:?}",
        began.elapsed()
    );
}

/// Waits, at most 30 seconds, until `path` mentions `needle`: the scheduler's first tick.
pub(crate) fn wait_for(server: &Server, token: &str, path: &str, needle: &str) {
    let started = std::time::Instant::now();
    while !call("GET", &server.url(path), Some(token), None)
        .1
        .contains(needle)
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{path} never mentioned {needle}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_post_retried_under_one_idempotency_key_records_once() {
    let a = Accord::new();
    a.record(&history());
    let t = token(&a, "rec", "recorder");
    let server = Server::start(&a);
    let event = r#"{"type":"MeetingScheduled","occurred":"2026-01","actor":"x","data":{"meeting":"cbd-cop-17","body":"HUB","kind":"cop","title":"Retried","dates":"2026-10"}}"#;
    let post = |key: Option<&str>, body: &str| -> (u16, serde_json::Value) {
        let mut req =
            ureq::post(&server.url("/api/events")).set("Authorization", &format!("Bearer {t}"));
        if let Some(k) = key {
            req = req.set("Idempotency-Key", k);
        }
        match req.send_string(body) {
            Ok(r) => (r.status(), json(&r.into_string().unwrap())),
            Err(ureq::Error::Status(c, r)) => (c, json(&r.into_string().unwrap())),
            Err(e) => panic!("{e}"),
        }
    };
    let head = || -> u64 {
        let (_, v) = call("GET", &server.url("/api/verify"), Some(&t), None);
        json(&v)["last_seq"].as_u64().unwrap()
    };
    let before = head();
    let (code, first) = post(Some("retry-7f3a"), event);
    assert_eq!(code, 200, "{first}");
    assert_eq!(head(), before + 1);
    // The client did not hear the answer and sends the same request again.
    let (code, again) = post(Some("retry-7f3a"), event);
    assert_eq!(code, 200, "{again}");
    assert_eq!(head(), before + 1, "recorded once: {again}");
    assert_eq!(again["duplicates"][0]["seq"], first["recorded"][0]["seq"]);
    // The same key with other content is a conflict; nothing written.
    let other = event.replace("Retried", "Something else");
    let (code, conflict) = post(Some("retry-7f3a"), &other);
    assert_eq!(code, 409, "{conflict}");
    assert_eq!(head(), before + 1);
    // Without a key, a repeat is a new event, as before.
    let moved = r#"{"type":"MeetingRescheduled","occurred":"2026-02","actor":"x","data":{"meeting":"cbd-cop-17","dates":"2026-11"}}"#;
    assert_eq!(post(None, moved).0, 200);
    assert_eq!(post(None, moved).0, 200);
    assert_eq!(head(), before + 3);
    server.stop();
}
