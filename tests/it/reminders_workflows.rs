//! The workflow files and what they decide: bad files refused with file and line, an
//! instance kept on the version it started with, dry runs that list what real ticks then
//! send, digests that open with what is overdue and list twenty of each kind, and messages
//! too long to keep failing alone.

use super::smtp::{available, read_dir_mails, SmtpServer};

use super::helpers::*;
use super::reminders::*;

#[test]
fn bad_workflow_files_name_file_line_and_problem() {
    let good =
        std::fs::read_to_string(root().join("workflows/pre-session-documents.toml")).unwrap();
    let cases = [
        ("unknown field", good.replace("title = ", "colour = \"red\"\ntitle = "), "unknown field `colour`"),
        ("bad offset", good.replace("offset = \"-10w\"", "offset = \"ten weeks\""), "is not an offset"),
        ("unknown role", good.replace("responsible = [\"secretariat\"]\nmet_by = [\"document:pre_session\"]\n\n[[deadline]]\nstep = \"distribution\"", "responsible = [\"chief\"]\nmet_by = [\"document:pre_session\"]\n\n[[deadline]]\nstep = \"distribution\""), "unknown role `chief`"),
        ("unknown template", good.replace("template = \"deadline\"", "template = \"nonesuch\""), "no template `nonesuch`"),
        ("bad time zone", good.replace("Europe/Zurich", "Europe/Geneva"), "unknown IANA time zone"),
        ("bad reminder", good.replace("\"28d\"", "\"-28d\""), "must be a positive"),
        ("step twice", good.replace("step = \"distribution\"", "step = \"submission\""), "step `submission` is defined twice"),
    ];
    for (name, text, expect) in cases {
        let a = Accord::new();
        let dir = workflows(a.dir.path(), &[]);
        std::fs::write(dir.join("w.toml"), &text).unwrap();
        let r = a.run(&["workflows", "check", dir.to_str().unwrap()]);
        assert_eq!(r.code, 2, "{name}: {}", r.stdout);
        assert!(
            r.stderr.contains("w.toml: line ") && r.stderr.contains(expect),
            "{name}: {}",
            r.stderr
        );
    }
    let a = Accord::new();
    let dir = workflows(a.dir.path(), &["weekly-digest.toml"]);
    let digest = std::fs::read_to_string(dir.join("weekly-digest.toml")).unwrap();
    std::fs::write(
        dir.join("weekly-digest.toml"),
        digest.replace("0 0 8 * * Mon", "every monday"),
    )
    .unwrap();
    let r = a.run(&["workflows", "check", dir.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("weekly-digest.toml: line 7: cron: `every monday` is not a cron expression"),
        "{}",
        r.stderr
    );
    let ok = a.run(&[
        "workflows",
        "check",
        root().join("workflows").to_str().unwrap(),
    ]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert_eq!(ok.stdout.lines().count(), 7);
}

#[test]
fn an_instance_keeps_the_workflow_version_it_started_with() {
    let a = setup();
    let cfg = config(&a, None, &["pre-session-documents.toml"]);
    tick(&a, &cfg, "2021-12-01T10:00:00Z");
    // Version 2 submits twelve weeks ahead; version 1 moves to archive/.
    let w = a.dir.path().join("workflows");
    std::fs::create_dir_all(w.join("archive")).unwrap();
    std::fs::rename(
        w.join("pre-session-documents.toml"),
        w.join("archive/pre-session-documents.v1.toml"),
    )
    .unwrap();
    let v1 = std::fs::read_to_string(w.join("archive/pre-session-documents.v1.toml")).unwrap();
    std::fs::write(
        w.join("pre-session-documents.toml"),
        v1.replace("version = 1", "version = 2")
            .replace("offset = \"-10w\"", "offset = \"-12w\""),
    )
    .unwrap();
    // A new meeting after the change gets version 2.
    let new_meeting = r#"{"type":"MeetingScheduled","occurred":"2021-12-02","actor":"t","data":{"meeting":"mc-cop-5","body":"MC","kind":"cop","title":"Fifth meeting","dates":"2023-10-30/2023-11-03","venue":"Geneva"}}"#;
    assert_eq!(a.record_text(new_meeting).code, 0);
    tick(&a, &cfg, "2021-12-02T10:00:00Z");
    let d = deadlines(&a, &cfg, "2021-12-02");
    let old = by(&d, "deadline", SUBMISSION)[0];
    assert_eq!(old["workflow_version"], 1);
    assert_eq!(
        old["due"], "2022-01-10",
        "still ten weeks: the instance kept version 1"
    );
    let new = by(&d, "deadline", "pre-session-documents/mc-cop-5/submission")[0];
    assert_eq!(new["workflow_version"], 2);
    assert_eq!(
        new["due"], "2023-08-07",
        "twelve weeks before 30 October 2023"
    );
}

#[test]
fn reminders_dry_run_lists_what_would_be_sent() {
    let a = Accord::new();
    future_meeting(&a);
    let cfg = config(&a, None, &["pre-session-documents.toml"]);
    let before = a.export();
    let now = chrono::Utc::now();
    let from = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let to = (now + chrono::Duration::days(40)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let r = a.run(&[
        "--config",
        cfg.to_str().unwrap(),
        "reminders",
        "--from",
        &from,
        "--to",
        &to,
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    let would: Vec<_> = rows
        .iter()
        .filter(|r| r["status"] == "would send")
        .collect();
    // The submission deadline (in 5 days) keeps its 1-day reminder; distribution (in 33 days)
    // has all four.
    assert_eq!(would.len(), 5, "{rows:#?}");
    assert_eq!(
        would
            .iter()
            .filter(|r| r["deadline"] == "pre-session-documents/mc-cop-9/distribution")
            .count(),
        4
    );
    assert_eq!(a.export(), before, "a dry run records nothing");
}

/// A weekly digest opens with what of the recipient's is late: missed, or open past its day.
#[test]
fn digests_open_with_what_is_overdue() {
    let a = setup();
    let cfg = config(
        &a,
        None,
        &["pre-session-documents.toml", "weekly-digest.toml"],
    );
    tick(&a, &cfg, "2022-01-03T07:00:00Z");
    // COP-4.2's submission was due 2022-01-10; the Monday after, it is late.
    tick(&a, &cfg, "2022-01-17T07:00:00Z");
    let body = digest_text(&a, "17 Jan 2022");
    assert!(body.contains("Overdue (1):"), "{body}");
    assert!(
        body.contains("2022-01-10  Submit pre-session documents"),
        "{body}"
    );
    assert!(body.contains("7 days late"), "{body}");
    let (overdue, due) = (
        body.find("Overdue").unwrap(),
        body.find("What is due").unwrap(),
    );
    assert!(overdue < due, "what is late comes first: {body}");
}

/// The dry run tells the truth: what it lists for a future window, digests included, is what
/// real ticks through that window send to a real SMTP server, message for message.
#[test]
fn a_dry_run_lists_what_real_ticks_then_send() {
    if !available("a_dry_run_lists_what_real_ticks_then_send") {
        return;
    }
    let server = SmtpServer::start(None);
    let a = Accord::new();
    future_meeting(&a);
    let cfg = config(
        &a,
        Some(server.port),
        &[
            "pre-session-documents.toml",
            "agenda-and-notice.toml",
            "weekly-digest.toml",
        ],
    );
    let iso =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let start = chrono::Utc::now() + chrono::Duration::minutes(1);
    let end = start + chrono::Duration::days(21);
    let r = a.run(&[
        "--config",
        cfg.to_str().unwrap(),
        "reminders",
        "--from",
        &iso(start),
        "--to",
        &iso(end),
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    // Steps that go as one email share its Message-ID: one message each.
    let mut ids = std::collections::HashSet::new();
    let listed: Vec<(String, String)> = rows
        .iter()
        .filter(|r| r["status"] == "would send")
        .filter(|r| ids.insert(r["message_id"].as_str().unwrap().to_string()))
        .map(|r| {
            (
                r["recipient"].as_str().unwrap().to_string(),
                r["subject"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        rows.iter()
            .any(|r| r["status"] == "would send" && r["kind"] == "digest"),
        "the weekly digests are listed: {rows:#?}"
    );
    let would = rows.iter().filter(|r| r["status"] == "would send").count();
    assert!(
        would > listed.len(),
        "the notice and the agenda of the meeting go as one email: {rows:#?}"
    );
    // Real ticks through the same window, at the instants the scheduler asks for.
    let mut now = start;
    let mut ticks = 0;
    while now <= end {
        let r = tick(&a, &cfg, &iso(now));
        ticks += 1;
        let next = r
            .stdout
            .split("next due ")
            .nth(1)
            .and_then(|t| t.lines().next())
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t.trim()).ok());
        match next {
            Some(n) if n.with_timezone(&chrono::Utc) > now => now = n.with_timezone(&chrono::Utc),
            _ => break,
        }
    }
    // Contact ids to the addresses the messages went to.
    let contacts: toml::Value = toml::from_str(
        &std::fs::read_to_string(super::helpers::root().join("config/contacts.toml")).unwrap(),
    )
    .unwrap();
    let address_of = |id: &str| -> String {
        contacts["contact"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"].as_str() == Some(id))
            .and_then(|c| c["email"].as_str())
            .unwrap_or(id)
            .to_string()
    };
    let mut listed: Vec<(String, String)> = listed
        .into_iter()
        .map(|(id, subject)| (address_of(&id), subject))
        .collect();
    let mut received: Vec<(String, String)> = server
        .messages()
        .iter()
        .map(|m| {
            let to = m.header("to").unwrap();
            let address = to
                .split('<')
                .nth(1)
                .unwrap()
                .trim_end_matches('>')
                .to_string();
            (address, decode_subject(m.header("subject").unwrap()))
        })
        .collect();
    // The digest comes as text and as HTML.
    let digests: Vec<_> = server
        .messages()
        .into_iter()
        .filter(|m| {
            m.header("subject")
                .is_some_and(|s| s.starts_with("Accord: "))
        })
        .collect();
    assert!(!digests.is_empty());
    for d in &digests {
        assert!(
            d.raw.contains("Content-Type: text/plain") && d.raw.contains("Content-Type: text/html"),
            "{}",
            d.raw
        );
    }
    listed.sort();
    received.sort();
    assert!(!listed.is_empty());
    assert_eq!(
        listed,
        received,
        "dry run against {ticks} real ticks from {} to {}",
        iso(start),
        iso(end)
    );
}

/// A store with `count` MC sessions two days apart from 1 March 2021, recorded in one batch,
/// and a config running the pre-session documents and the weekly digest.
fn sessions_every_other_day(count: u64) -> (Accord, std::path::PathBuf) {
    let a = Accord::new();
    let first = chrono::NaiveDate::from_ymd_opt(2021, 3, 1).unwrap();
    let lines: String = (0..count)
        .map(|n| {
            let start = first + chrono::Days::new(2 * n);
            let end = start + chrono::Days::new(1);
            format!(
                r#"{{"type":"MeetingScheduled","occurred":"2020-12-01","actor":"t","data":{{"meeting":"mc-cop-{m}","body":"MC","kind":"cop","title":"Session {m}","dates":"{start}/{end}","venue":"Geneva"}}}}"#,
                m = n + 10
            ) + "\n"
        })
        .collect();
    assert_eq!(a.record_text(&lines).code, 0);
    let cfg = config(
        &a,
        None,
        &["pre-session-documents.toml", "weekly-digest.toml"],
    );
    (a, cfg)
}

/// The text of the digest sent to the Minamata secretariat on `day` (`13 Dec 2021`).
fn digest_text(a: &Accord, day: &str) -> String {
    let mails = read_dir_mails(&a.data().join("outbox"));
    let digest = mails
        .iter()
        .find(|m| {
            m.header("subject")
                .is_some_and(|s| s.starts_with("Accord:"))
                && m.header("to").is_some_and(|t| t.contains("secretariat-mc"))
                && m.header("date").is_some_and(|d| d.contains(day))
        })
        .unwrap_or_else(|| {
            let seen: Vec<_> = mails
                .iter()
                .map(|m| (m.header("date"), m.header("subject")))
                .collect();
            panic!("no digest of {day} to the Minamata secretariat: {seen:?}")
        });
    digest.raw.replace("=\r\n", "").replace("\r\n", "\n")
}

/// A digest of a long list shows the twenty latest of what is overdue and the twenty nearest
/// of what is due, and says how many more wait on the dashboard: it stays a message a person
/// reads, and one the log can keep.
#[test]
fn a_long_digest_shows_twenty_of_each_and_counts_the_rest() {
    let (a, cfg) = sessions_every_other_day(200);
    tick(&a, &cfg, "2021-12-06T07:30:00Z");
    let r = tick(&a, &cfg, "2021-12-27T07:30:00Z");
    assert!(sent_count(&r) > 0, "{}", r.stdout);
    let body = digest_text(&a, "27 Dec 2021");
    let listed = |from: &str, to: &str| {
        let part = &body[body.find(from).unwrap()..body.find(to).unwrap()];
        part.lines().filter(|l| l.starts_with("- 20")).count()
    };
    let overdue: usize = body
        .split("Overdue (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of what is overdue: {body}"));
    assert!(overdue > 20, "{body}");
    assert_eq!(listed("Overdue", "What is due"), 20, "{body}");
    assert!(
        body.contains(&format!(
            "- and {} earlier, on the dashboard: ",
            overdue - 20
        )),
        "{body}"
    );
    // The latest late steps are those listed: the day before the digest's is among them.
    assert!(body.contains("- 2021-12-26  "), "{body}");
    assert!(body.contains(": 1 day late"), "{body}");
    assert_eq!(listed("What is due", "Dashboard:"), 20, "{body}");
    assert!(body.contains("more, on the dashboard: "), "{body}");
    assert!(body.contains("/upcoming"), "{body}");
}

/// A template that renders a message the log cannot keep (here, longer than the limit) fails
/// that message's reminders with the reason, once; the tick goes on and sends the others.
#[test]
fn a_message_too_long_to_keep_fails_alone_with_its_reason() {
    let (a, cfg) = sessions_every_other_day(40);
    let templates = a.dir.path().join("workflows/templates");
    std::fs::write(
        templates.join("digest.txt.j2"),
        "{% for i in range(25000) %}x{% endfor %}",
    )
    .unwrap();
    std::fs::remove_file(templates.join("digest.html.j2")).unwrap();
    tick(&a, &cfg, "2021-03-01T07:30:00Z");
    let r = tick(&a, &cfg, "2021-03-08T07:30:00Z");
    assert!(sent_count(&r) > 0, "the other reminders go: {}", r.stdout);
    let rows = reminders(&a, &cfg);
    let digests = by(&rows, "kind", "digest");
    let failed: Vec<_> = digests.iter().filter(|r| r["status"] == "failed").collect();
    assert!(!failed.is_empty(), "{digests:#?}");
    for f in &failed {
        let reason = f["reason"].as_str().unwrap_or_default();
        assert!(
            reason
                .contains("the rendered text cannot be kept: longer than 20000 characters (25000)"),
            "{f:#}"
        );
    }
    // Failed for good: the next tick does not try it again.
    let again = tick(&a, &cfg, "2021-03-08T08:30:00Z");
    assert!(
        !failed
            .iter()
            .any(|f| again.stdout.contains(f["reminder"].as_str().unwrap())),
        "{}",
        again.stdout
    );
    assert_eq!(a.run(&["verify"]).code, 0);
}
