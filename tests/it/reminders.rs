//! Workflows end to end on the shipped history: deadlines, reminders that move with their
//! meeting, stop when met or cancelled, arrive once, and survive crashes and mail-server
//! faults. Uses a real SMTP server where the test needs one.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::helpers::{future_meeting, have};
use super::helpers::{history, root, Accord, Run};
use super::smtp::{available, certificates, free_port, read_dir_mails, SmtpServer};

/// Confirms the second segment of COP-4 (Bali, 21–25 March 2022).
const CONFIRM_COP4_2: &str = r#"{"type":"MeetingConfirmed","occurred":"2021-11-05","actor":"mc-officer","data":{"meeting":"mc-cop-4","segment":"mc-cop-4.2","dates":"2022-03-21/2022-03-25","venue":"Bali, Indonesia","mode":"in_person"}}"#;

/// A workflows folder with only the given workflow files (and all templates).
fn workflows(dir: &Path, files: &[&str]) -> PathBuf {
    let w = dir.join("workflows");
    std::fs::create_dir_all(w.join("templates")).unwrap();
    for f in files {
        std::fs::copy(root().join("workflows").join(f), w.join(f)).unwrap();
    }
    for t in std::fs::read_dir(root().join("workflows/templates")).unwrap() {
        let t = t.unwrap().path();
        std::fs::copy(&t, w.join("templates").join(t.file_name().unwrap())).unwrap();
    }
    w
}

/// Writes a config for `a`: SMTP on `port` (or the outbox), the given workflows.
pub(super) fn config(a: &Accord, smtp_port: Option<u16>, files: &[&str]) -> PathBuf {
    let smtp = match smtp_port {
        Some(p) => format!(
            "[smtp]\nurl = \"smtp://127.0.0.1:{p}\"\nsender = \"Accord <accord@example.org>\"\nreply_to = \"secretariat-mc@example.org\"\ntimeout_secs = 2\n"
        ),
        None => String::new(),
    };
    config_smtp(a, &smtp, files)
}

/// Writes a config for `a` with this `[smtp]` section (or none) and the given workflows.
pub(super) fn config_smtp(a: &Accord, smtp: &str, files: &[&str]) -> PathBuf {
    config_named(a, "accord.toml", smtp, files)
}

/// As `config_smtp`, into the file `name` of `a`'s directory.
pub(super) fn config_named(a: &Accord, name: &str, smtp: &str, files: &[&str]) -> PathBuf {
    let w = workflows(a.dir.path(), files);
    let text = format!(
        "{smtp}[workflows]\ndir = \"{}\"\ncontacts = \"{}\"\n",
        w.display(),
        root().join("config/contacts.toml").display()
    );
    let path = a.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn setup() -> Accord {
    let a = Accord::new();
    a.record(&history());
    assert_eq!(a.record_text(CONFIRM_COP4_2).code, 0);
    a
}

fn tick(a: &Accord, cfg: &Path, now: &str) -> Run {
    let r = a.run(&["--config", cfg.to_str().unwrap(), "tick", "--now", now]);
    super::helpers::assert_tick_code(&r, now);
    r
}

fn sent_count(r: &Run) -> usize {
    r.stdout.lines().filter(|l| l.starts_with("sent ")).count()
}

/// Runs a listing command with `--format json` and returns its rows.
pub(super) fn rows(a: &Accord, cfg: &Path, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["--config", cfg.to_str().unwrap()];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let r = a.run(&all);
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    serde_json::from_str::<serde_json::Value>(&r.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn reminders(a: &Accord, cfg: &Path) -> Vec<serde_json::Value> {
    rows(a, cfg, &["reminders"])
}

fn deadlines(a: &Accord, cfg: &Path, as_of: &str) -> Vec<serde_json::Value> {
    rows(a, cfg, &["deadlines", "--as-of", as_of])
}

fn by<'a>(rows: &'a [serde_json::Value], key: &str, value: &str) -> Vec<&'a serde_json::Value> {
    rows.iter().filter(|r| r[key] == value).collect()
}

const SUBMISSION: &str = "pre-session-documents/mc-cop-4.2/submission";
const DISTRIBUTION: &str = "pre-session-documents/mc-cop-4.2/distribution";

#[test]
fn road_map_reminders_on_the_shipped_history() {
    let a = setup();
    let cfg = config(
        &a,
        None,
        &[
            "pre-session-documents.toml",
            "agenda-and-notice.toml",
            "report-back.toml",
        ],
    );
    // 1 December 2021: deadlines derived; no reminder is due yet.
    let r = tick(&a, &cfg, "2021-12-01T10:00:00Z");
    assert_eq!(sent_count(&r), 0, "{}", r.stdout);
    let d = deadlines(&a, &cfg, "2021-12-01");
    let sub = by(&d, "deadline", SUBMISSION);
    assert_eq!(
        sub[0]["due"], "2022-01-10",
        "ten weeks before 21 March 2022"
    );
    assert_eq!(
        by(&d, "deadline", DISTRIBUTION)[0]["due"],
        "2022-02-07",
        "six weeks before"
    );
    assert_eq!(
        by(&d, "deadline", "agenda-and-notice/mc-cop-4.2/agenda")[0]["due"],
        "2022-01-21"
    );
    // The segment of COP-4 still "early 2022" elsewhere, UNEA-5.2 "February 2022": tentative.
    assert_eq!(
        by(
            &d,
            "deadline",
            "pre-session-documents/unea-5.2/distribution"
        )[0]["status"],
        "tentative"
    );
    // Mandates of MC-3/11 were reported on already: no report-back deadline.
    assert!(d.iter().all(|x| x["workflow"] != "report-back"));
    let rem = reminders(&a, &cfg);
    assert!(
        by(
            &rem,
            "deadline",
            "pre-session-documents/unea-5.2/distribution"
        )
        .is_empty(),
        "held while tentative"
    );
    let sub_rem: Vec<_> = by(&rem, "deadline", SUBMISSION)
        .iter()
        .map(|r| r["fire_at"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        sub_rem,
        [
            "2021-12-13T08:00:00.000000Z",
            "2021-12-27T08:00:00.000000Z",
            "2022-01-03T08:00:00.000000Z",
            "2022-01-09T08:00:00.000000Z"
        ],
        "28, 14, 7 and 1 days before, at 09:00 Geneva time"
    );

    // 13 December, 09:00 Geneva: exactly the 28-day reminder of the submission deadline.
    let r = tick(&a, &cfg, "2021-12-13T08:00:00Z");
    assert_eq!(sent_count(&r), 1, "{}", r.stdout);
    let outbox = read_dir_mails(&a.data().join("outbox"));
    assert_eq!(outbox.len(), 1);
    assert!(
        outbox[0]
            .header("subject")
            .unwrap()
            .contains("Submit pre-session documents"),
        "{:?}",
        outbox[0].header("subject")
    );
    // The email links to the meeting's page on the dashboard.
    let body = outbox[0].raw.replace("=\r\n", "").replace("=3D", "=");
    assert!(
        body.contains("Details: http://127.0.0.1:8080/meetings/mc-cop-4"),
        "{body}"
    );
    // The same instant again: nothing more.
    let r = tick(&a, &cfg, "2021-12-13T08:00:00Z");
    assert_eq!(sent_count(&r), 0);
    assert!(r.stdout.contains("recorded 0 events"), "{}", r.stdout);

    // COP-4.2 moves by five weeks: unsent reminders are cancelled and rescheduled.
    let moved = r#"{"type":"MeetingRescheduled","occurred":"2021-12-14","actor":"mc-officer","data":{"meeting":"mc-cop-4","segment":"mc-cop-4.2","dates":"2022-04-25/2022-04-29","venue":"Bali, Indonesia"}}"#;
    assert_eq!(a.record_text(moved).code, 0);
    let r = tick(&a, &cfg, "2021-12-14T08:00:00Z");
    assert_eq!(sent_count(&r), 0);
    let d = deadlines(&a, &cfg, "2021-12-14");
    let sub = by(&d, "deadline", SUBMISSION)[0];
    assert_eq!(sub["due"], "2022-02-14");
    assert_eq!(sub["moved_from"], serde_json::json!(["2022-01-10"]));
    let rem = reminders(&a, &cfg);
    let sub_rem = by(&rem, "deadline", SUBMISSION);
    let status = |fire: &str| {
        sub_rem
            .iter()
            .find(|r| r["fire_at"] == fire)
            .map(|r| r["status"].clone())
    };
    assert_eq!(status("2021-12-13T08:00:00.000000Z"), Some("sent".into()));
    assert_eq!(
        status("2021-12-27T08:00:00.000000Z"),
        Some("cancelled".into())
    );
    assert_eq!(
        status("2022-01-17T08:00:00.000000Z"),
        Some("scheduled".into())
    );
    // The old fire time passes without a send; the new one sends.
    assert_eq!(sent_count(&tick(&a, &cfg, "2021-12-27T08:00:00Z")), 0);
    assert_eq!(sent_count(&tick(&a, &cfg, "2022-01-17T08:00:00Z")), 1);

    // The pre-session documents are posted: both pre-session deadlines are met, their
    // reminders stop.
    let posted = r#"{"type":"DocumentPosted","occurred":"2022-01-20","actor":"mc-officer","data":{"document":"UNEP/MC/COP.4/2","meeting":"mc-cop-4.2","kind":"pre_session","title":"Pre-session documents"}}"#;
    assert_eq!(a.record_text(posted).code, 0);
    tick(&a, &cfg, "2022-01-20T08:00:00Z");
    let d = deadlines(&a, &cfg, "2022-01-20");
    assert_eq!(by(&d, "deadline", SUBMISSION)[0]["status"], "met");
    assert_eq!(by(&d, "deadline", DISTRIBUTION)[0]["status"], "met");
    assert!(by(&reminders(&a, &cfg), "deadline", DISTRIBUTION)
        .iter()
        .all(|r| r["status"] == "cancelled"));
    let pre_session = |a: &Accord| {
        read_dir_mails(&a.data().join("outbox"))
            .iter()
            .filter(|m| {
                m.header("subject")
                    .unwrap_or("")
                    .contains("re-session documents")
            })
            .count()
    };
    let before = pre_session(&a);
    tick(&a, &cfg, "2022-02-14T08:00:00Z");
    assert_eq!(pre_session(&a), before, "no reminder for a met deadline");

    // COP-4.2 is cancelled: the agenda and notice reminders stop too.
    let cancelled = r#"{"type":"MeetingCancelled","occurred":"2022-02-15","actor":"mc-officer","data":{"meeting":"mc-cop-4","segment":"mc-cop-4.2","reason":"test"}}"#;
    assert_eq!(a.record_text(cancelled).code, 0);
    tick(&a, &cfg, "2022-02-15T08:00:00Z");
    let d = deadlines(&a, &cfg, "2022-02-15");
    assert_eq!(
        by(&d, "deadline", "agenda-and-notice/mc-cop-4.2/agenda")[0]["status"],
        "cancelled"
    );
    let before = read_dir_mails(&a.data().join("outbox")).len();
    for day in ["2022-02-17", "2022-02-24", "2022-03-01"] {
        tick(&a, &cfg, &format!("{day}T08:00:00Z"));
    }
    let after = read_dir_mails(&a.data().join("outbox"));
    assert_eq!(after.len(), before, "nothing sent for a cancelled meeting");
    assert_eq!(a.run(&["verify"]).code, 0);
}

#[test]
fn real_smtp_delivery_headers_body_and_calendar() {
    if !available("real_smtp_delivery_headers_body_and_calendar") {
        return;
    }
    let server = SmtpServer::start(None);
    let a = setup();
    let cfg = config(&a, Some(server.port), &["pre-session-documents.toml"]);
    tick(&a, &cfg, "2021-12-01T10:00:00Z");
    let r = tick(&a, &cfg, "2021-12-13T08:00:00Z");
    assert_eq!(sent_count(&r), 1, "{}", r.stdout);
    let mails = server.messages();
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert!(
        m.header("to")
            .unwrap()
            .contains("<secretariat-mc@example.org>"),
        "{:?}",
        m.headers
    );
    // The subject names the segment the deadline belongs to, with its dates and place (the
    // dash between the days arrives as an RFC 2047 encoded word).
    let subject = m.header("subject").unwrap();
    assert!(
        subject.starts_with(
            "[MC] Submit pre-session documents for editing and translation: due 2022-01-10 \
             (Fourth meeting of the Conference of the Parties to the Minamata Convention, \
             Second segment (to be confirmed) (mc-cop-4.2), 21 March "
        ) && subject.ends_with(" 25 March 2022, Bali, Indonesia)"),
        "{subject}"
    );
    assert_eq!(m.header("date").unwrap(), "Mon, 13 Dec 2021 08:00:00 +0000");
    assert!(m
        .header("reply-to")
        .unwrap()
        .contains("secretariat-mc@example.org"));
    let rem = reminders(&a, &cfg);
    let sent: Vec<_> = rem.iter().filter(|r| r["status"] == "sent").collect();
    let id = sent[0]["reminder"].as_str().unwrap();
    assert_eq!(
        m.header("message-id").unwrap(),
        format!("<{id}.1639382400@example.org>"),
        "the domain of the configured sender, accord@example.org"
    );
    assert_eq!(m.header("auto-submitted"), Some("auto-generated"));
    assert!(m.raw.contains("Content-Type: text/plain"));
    assert!(m.raw.contains("Content-Type: text/html"));
    assert!(m.raw.contains("Content-Type: text/calendar"));
    assert!(m
        .raw
        .contains("Dear Secretariat of the Minamata Convention"));
    assert!(m.raw.contains("Bali, Indonesia"));
    let ics = calendar_part(&m.raw);
    assert!(ics.contains("DTSTART;VALUE=DATE:20220110"), "{ics}");
    assert!(
        ics.contains("UID:pre-session-documents/mc-cop-4.2/submission@accord"),
        "{ics}"
    );
}

/// The decoded text of the message's text/calendar part.
pub(super) fn calendar_part(raw: &str) -> String {
    use base64::Engine;
    let at = raw
        .find("Content-Type: text/calendar")
        .expect("a calendar part");
    let part = &raw[at..];
    let body_at = part.find("\r\n\r\n").unwrap() + 4;
    let head = &part[..body_at];
    let body: String = part[body_at..].split("\r\n--").next().unwrap().to_string();
    if head.contains("base64") {
        let b64: String = body.split_whitespace().collect();
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap(),
        )
        .unwrap()
    } else if head.contains("quoted-printable") {
        let soft = body.replace("=\r\n", "");
        let mut out = Vec::new();
        let b = soft.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'=' && i + 2 < b.len() {
                out.push(u8::from_str_radix(&soft[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    } else {
        body
    }
}

/// Ticks in a child process with a time limit; the tick must never hang.
fn tick_bounded(a: &Accord, cfg: &Path, now: &str, limit: Duration) -> Run {
    let started = Instant::now();
    let mut child = a
        .command()
        .args(["--config", cfg.to_str().unwrap(), "tick", "--now", now])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap().into();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("tick at {now} hung for more than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn last_failure(a: &Accord, cfg: &Path) -> serde_json::Value {
    reminders(a, cfg)
        .into_iter()
        .find(|r| r["deadline"] == SUBMISSION && r["attempts"].as_u64().unwrap_or(0) > 0)
        .expect("an attempted reminder")
}

#[test]
fn smtp_faults_retry_fail_and_never_hang() {
    if !available("smtp_faults_retry_fail_and_never_hang") {
        return;
    }
    // Refused connections: transient, retried with backoff; delivered once the server is up.
    let port = free_port();
    let a = setup();
    let cfg = config(&a, Some(port), &["pre-session-documents.toml"]);
    tick(&a, &cfg, "2021-12-01T10:00:00Z");
    let r = tick_bounded(&a, &cfg, "2021-12-13T08:00:00Z", Duration::from_secs(30));
    assert!(r.stdout.contains("failed 1"), "{}", r.stdout);
    let f = last_failure(&a, &cfg);
    assert_eq!(f["status"], "retrying");
    let retry = f["retry_at"].as_str().unwrap().to_string();
    assert!(
        retry.as_str() > "2021-12-13T08:01:00" && retry.as_str() < "2021-12-13T08:01:16",
        "{retry}"
    );
    let server = SmtpServer::start(Some(port));
    // Before the retry time nothing is sent; at it, the message goes, once.
    assert_eq!(sent_count(&tick(&a, &cfg, "2021-12-13T08:00:30Z")), 0);
    assert_eq!(sent_count(&tick(&a, &cfg, &retry)), 1);
    assert_eq!(sent_count(&tick(&a, &cfg, "2021-12-13T09:00:00Z")), 0);
    assert_eq!(server.messages().len(), 1);

    // 421: transient, retried; 550: permanent, recorded as failed with the server's reason.
    let a = setup();
    let cfg = config(&a, Some(server.port), &["pre-session-documents.toml"]);
    tick(&a, &cfg, "2021-12-01T10:00:00Z");
    server.set_mode("421");
    tick_bounded(&a, &cfg, "2021-12-13T08:00:00Z", Duration::from_secs(30));
    let f = last_failure(&a, &cfg);
    assert_eq!(f["status"], "retrying");
    assert!(f["reason"].as_str().unwrap().contains("421"), "{f}");
    server.set_mode("550");
    let retry = f["retry_at"].as_str().unwrap().to_string();
    tick_bounded(&a, &cfg, &retry, Duration::from_secs(30));
    let f = last_failure(&a, &cfg);
    assert_eq!(f["status"], "failed");
    assert!(f["reason"].as_str().unwrap().contains("550"), "{f}");
    let table = a.run(&["--config", cfg.to_str().unwrap(), "reminders"]);
    assert!(table.stdout.contains("failed"), "{}", table.stdout);
    assert_eq!(server.messages().len(), 1, "only the first test's message");

    // Silence after the message body: a timeout, a transient failure, no hang.
    let a = setup();
    let cfg = config(&a, Some(server.port), &["pre-session-documents.toml"]);
    tick(&a, &cfg, "2021-12-01T10:00:00Z");
    server.set_mode("silent");
    let started = Instant::now();
    let r = tick_bounded(&a, &cfg, "2021-12-13T08:00:00Z", Duration::from_secs(30));
    assert!(r.stdout.contains("failed 1"), "{}", r.stdout);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(last_failure(&a, &cfg)["status"], "retrying");
    server.set_mode("ok");
}

#[test]
fn a_crash_between_attempt_and_outcome_resends_once_with_the_same_message_id() {
    if !available("a_crash_between_attempt_and_outcome_resends_once_with_the_same_message_id") {
        return;
    }
    let server = SmtpServer::start(None);
    for (fault, expect_copies) in [
        ("before-attempt", 1),
        ("after-attempt", 1),
        ("after-send", 2),
    ] {
        let before = server.messages().len();
        let a = setup();
        let cfg = config(&a, Some(server.port), &["pre-session-documents.toml"]);
        tick(&a, &cfg, "2021-12-01T10:00:00Z");
        let died = a
            .command()
            .env("ACCORD_TEST_FAULT", fault)
            .args([
                "--config",
                cfg.to_str().unwrap(),
                "tick",
                "--now",
                "2021-12-13T08:00:00Z",
            ])
            .output()
            .unwrap();
        assert!(
            !died.status.success(),
            "{fault}: the process should have died"
        );
        assert_eq!(
            a.run(&["verify"]).code,
            0,
            "{fault}: chain intact after the crash"
        );
        // Restart: the identical message goes again, once; later ticks send nothing.
        let r = tick(&a, &cfg, "2021-12-13T08:05:00Z");
        assert_eq!(sent_count(&r), 1, "{fault}: {}", r.stdout);
        assert_eq!(sent_count(&tick(&a, &cfg, "2021-12-13T09:00:00Z")), 0);
        let mails = &server.messages()[before..];
        assert_eq!(mails.len(), expect_copies, "{fault}");
        let ids: std::collections::BTreeSet<_> = mails
            .iter()
            .map(|m| m.header("message-id").unwrap().to_string())
            .collect();
        assert_eq!(ids.len(), 1, "{fault}: one Message-ID");
        let dates: std::collections::BTreeSet<_> = mails
            .iter()
            .map(|m| m.header("date").unwrap().to_string())
            .collect();
        assert_eq!(dates.len(), 1, "{fault}: an identical message");
        println!(
            "crash {fault}: {} cop{} delivered, one Message-ID",
            mails.len(),
            if mails.len() == 1 { "y" } else { "ies" }
        );
    }
}

#[test]
fn clock_jumps_forward_and_back() {
    let a = setup();
    let cfg = config(&a, None, &["pre-session-documents.toml"]);
    tick(&a, &cfg, "2021-12-01T10:00:00Z");
    // Down for weeks: the 28-, 14- and 7-day reminders are sent late, the deadline being ahead.
    let r = tick(&a, &cfg, "2022-01-05T08:00:00Z");
    assert_eq!(sent_count(&r), 3, "{}", r.stdout);
    let rem = reminders(&a, &cfg);
    let sub = by(&rem, "deadline", SUBMISSION);
    assert_eq!(sub.iter().filter(|r| r["status"] == "sent").count(), 3);
    // Back an hour, and back weeks: nothing is sent again.
    assert_eq!(sent_count(&tick(&a, &cfg, "2022-01-05T07:00:00Z")), 0);
    assert_eq!(sent_count(&tick(&a, &cfg, "2021-12-20T08:00:00Z")), 0);
    // Past the deadline: the 1-day reminder is skipped with its reason, the deadline missed.
    tick(&a, &cfg, "2022-01-12T08:00:00Z");
    let rem = reminders(&a, &cfg);
    let sub = by(&rem, "deadline", SUBMISSION);
    assert_eq!(sub.iter().filter(|r| r["status"] == "sent").count(), 3);
    let skipped: Vec<_> = by(&rem, "deadline", SUBMISSION)
        .into_iter()
        .filter(|r| r["status"] == "skipped")
        .collect();
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0]["reason"].as_str().unwrap().contains("passed"));
    let d = deadlines(&a, &cfg, "2022-01-12");
    assert_eq!(by(&d, "deadline", SUBMISSION)[0]["status"], "missed");
    let outbox = read_dir_mails(&a.data().join("outbox"));
    let submission = outbox
        .iter()
        .filter(|m| m.header("subject").unwrap_or("").contains("Submit"))
        .count();
    assert_eq!(submission, 3, "three submission reminders, each once");
}

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
fn a_missing_contact_is_a_recorded_failure() {
    let a = setup();
    let cfg = config(&a, None, &["pre-session-documents.toml"]);
    let contacts = a.dir.path().join("contacts.toml");
    std::fs::write(
        &contacts,
        "[[contact]]\nid = \"secretariat-brs\"\nname = \"BRS\"\nemail = \"brs@example.org\"\n",
    )
    .unwrap();
    let text = std::fs::read_to_string(&cfg).unwrap();
    let text = text.replace(
        &root().join("config/contacts.toml").display().to_string(),
        &contacts.display().to_string(),
    );
    std::fs::write(&cfg, text).unwrap();
    tick(&a, &cfg, "2021-12-01T10:00:00Z");
    let r = tick(&a, &cfg, "2021-12-13T08:00:00Z");
    assert!(r.stdout.contains("failed 1"), "{}", r.stdout);
    let f = last_failure(&a, &cfg);
    assert_eq!(f["status"], "failed");
    assert!(
        f["reason"]
            .as_str()
            .unwrap()
            .contains("no contact `secretariat-mc`"),
        "{f}"
    );
    let table = a.run(&["--config", cfg.to_str().unwrap(), "reminders"]);
    assert!(
        table.stdout.contains("failed") && table.stdout.contains("no contact"),
        "{}",
        table.stdout
    );
    assert!(read_dir_mails(&a.data().join("outbox")).is_empty());
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

#[test]
fn serve_sends_what_is_due_and_stops_on_sigterm() {
    let a = Accord::new();
    future_meeting(&a);
    let cfg = config(
        &a,
        None,
        &["pre-session-documents.toml", "weekly-digest.toml"],
    );
    let mut child = a
        .command()
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let outbox = a.data().join("outbox");
    let started = Instant::now();
    // This week's digest lists the two pre-session deadlines: it lands in the outbox.
    while read_dir_mails(&outbox).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no email within 30 s"
        );
        assert!(child.try_wait().unwrap().is_none(), "serve exited early");
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let stopped = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            assert_eq!(s.code(), Some(0), "serve exits 0 on SIGTERM");
            break;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(10),
            "serve did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mails = read_dir_mails(&outbox);
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0]
            .header("subject")
            .unwrap()
            .starts_with("Accord: 2 deadlines in the next 8 weeks"),
        "{:?}",
        mails[0].header("subject")
    );
    assert_eq!(a.run(&["verify"]).code, 0);
}

#[test]
fn a_report_submitted_stops_the_report_back_reminders() {
    let a = setup();
    let cfg = config(&a, None, &["report-back.toml"]);
    // COP-4.1 asks the Executive Secretary to report at the resumed session in March 2022.
    let decision = r#"{"type":"DecisionAdopted","occurred":"2021-11-05","actor":"mc-officer","data":{"symbol":"MC-4/9","meeting":"mc-cop-4","title":"Cooperation","adopted":"2021-11-05","mandates":[{"paragraph":"1","action":"requests","addressee":"mc-executive-secretary","asks":"To report on cooperation","report_at":"mc-cop-4.2"}]}}"#;
    assert_eq!(a.record_text(decision).code, 0);
    tick(&a, &cfg, "2021-12-01T10:00:00Z");
    let d = deadlines(&a, &cfg, "2021-12-01");
    let report = by(&d, "deadline", "report-back/MC-4/9#1/report");
    assert_eq!(
        report[0]["due"], "2022-02-07",
        "six weeks before 21 March 2022"
    );
    assert_eq!(
        report[0]["responsible"],
        serde_json::json!(["mc-executive-secretary"])
    );
    // The 28-day reminder goes to the addressee.
    let r = tick(&a, &cfg, "2022-01-10T08:00:00Z");
    assert_eq!(sent_count(&r), 1, "{}", r.stdout);
    let mail = &read_dir_mails(&a.data().join("outbox"))[0];
    assert!(mail
        .header("to")
        .unwrap()
        .contains("mc-executive-secretary@example.org"));
    assert!(
        mail.header("subject")
            .unwrap()
            .starts_with("[MC-4/9] Report due 2022-02-07"),
        "{:?}",
        mail.header("subject")
    );
    // The report is submitted: the deadline is met and the 14-, 7- and 1-day reminders stop.
    let submitted = r#"{"type":"ReportDrafted","occurred":"2022-01-12","actor":"mc-officer","data":{"report":"cooperation-report","title":"Report on cooperation","by":["mc-executive-secretary"]}}
{"type":"ReportSubmitted","occurred":"2022-01-14","actor":"mc-officer","data":{"report":"cooperation-report","meeting":"mc-cop-4.2","document":"UNEP/MC/COP.4/20","reports_on":["MC-4/9#1"]}}"#;
    assert_eq!(a.record_text(submitted).code, 0);
    tick(&a, &cfg, "2022-01-14T08:00:00Z");
    assert_eq!(
        by(
            &deadlines(&a, &cfg, "2022-01-14"),
            "deadline",
            "report-back/MC-4/9#1/report"
        )[0]["status"],
        "met"
    );
    for day in ["2022-01-24", "2022-01-31", "2022-02-06"] {
        assert_eq!(
            sent_count(&tick(&a, &cfg, &format!("{day}T08:00:00Z"))),
            0,
            "{day}"
        );
    }
    assert_eq!(read_dir_mails(&a.data().join("outbox")).len(), 1);
}

fn record_ok(a: &Accord, line: &str) {
    let r = a.record_text(line);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

fn status_of(a: &Accord, cfg: &Path, as_of: &str, deadline: &str) -> serde_json::Value {
    by(&deadlines(a, cfg, as_of), "deadline", deadline)[0]["status"].clone()
}

#[test]
fn tentative_dates_then_confirmed_get_their_reminders() {
    let a = Accord::new();
    a.record(&history());
    let cfg = config(&a, None, &["pre-session-documents.toml"]);
    // "Early 2022": the submission deadline is tentatively 23 October 2021, reminders held.
    tick(&a, &cfg, "2021-09-20T08:00:00Z");
    assert_eq!(status_of(&a, &cfg, "2021-09-20", SUBMISSION), "tentative");
    assert!(by(&reminders(&a, &cfg), "deadline", SUBMISSION).is_empty());
    // Its tentative day passes: not missed, the dates were never confirmed.
    tick(&a, &cfg, "2021-10-25T08:00:00Z");
    assert_eq!(status_of(&a, &cfg, "2021-10-25", SUBMISSION), "tentative");
    // Confirmed for 21 March 2022: due 10 January, and all four reminders ahead.
    record_ok(&a, CONFIRM_COP4_2);
    tick(&a, &cfg, "2021-11-05T08:00:00Z");
    assert_eq!(status_of(&a, &cfg, "2021-11-05", SUBMISSION), "open");
    assert_eq!(by(&reminders(&a, &cfg), "deadline", SUBMISSION).len(), 4);
    assert_eq!(sent_count(&tick(&a, &cfg, "2021-12-13T08:00:00Z")), 1);
}

#[test]
fn moves_by_whole_weeks_and_back_keep_every_reminder() {
    let a = setup();
    let cfg = config(&a, None, &["pre-session-documents.toml"]);
    tick(&a, &cfg, "2021-12-01T10:00:00Z");
    // Two weeks later: the new 28-day reminder falls when the old 14-day one was due.
    let later = r#"{"type":"MeetingRescheduled","occurred":"2021-12-02","actor":"t","data":{"meeting":"mc-cop-4","segment":"mc-cop-4.2","dates":"2022-04-04/2022-04-08"}}"#;
    record_ok(&a, later);
    tick(&a, &cfg, "2021-12-02T08:00:00Z");
    let scheduled = |a: &Accord| {
        by(&reminders(a, &cfg), "deadline", SUBMISSION)
            .into_iter()
            .filter(|r| r["status"] == "scheduled")
            .map(|r| r["fire_at"].as_str().unwrap()[..10].to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        scheduled(&a),
        ["2021-12-27", "2022-01-10", "2022-01-17", "2022-01-23"]
    );
    // And back to the first dates: the first fire times again, under new ids.
    record_ok(
        &a,
        &later
            .replace("2022-04-04/2022-04-08", "2022-03-21/2022-03-25")
            .replace("2021-12-02", "2021-12-03"),
    );
    tick(&a, &cfg, "2021-12-03T08:00:00Z");
    assert_eq!(
        scheduled(&a),
        ["2021-12-13", "2021-12-27", "2022-01-03", "2022-01-09"]
    );
    let mut sent = 0;
    for day in ["2021-12-13", "2021-12-27", "2022-01-03", "2022-01-09"] {
        sent += sent_count(&tick(&a, &cfg, &format!("{day}T08:00:00Z")));
    }
    assert_eq!(sent, 4, "the four submission reminders, each once");
}

#[test]
fn a_retracted_cancellation_brings_the_reminders_back() {
    let a = setup();
    let cfg = config(&a, None, &["pre-session-documents.toml"]);
    tick(&a, &cfg, "2021-12-01T10:00:00Z");
    let cancel = r#"{"id":"cancel-4-2","type":"MeetingCancelled","occurred":"2021-12-05","actor":"t","data":{"meeting":"mc-cop-4","segment":"mc-cop-4.2"}}"#;
    record_ok(&a, cancel);
    tick(&a, &cfg, "2021-12-05T08:00:00Z");
    assert_eq!(status_of(&a, &cfg, "2021-12-05", SUBMISSION), "cancelled");
    let seq = a
        .export()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["id"] == "cancel-4-2")
        .unwrap()["seq"]
        .as_u64()
        .unwrap();
    record_ok(
        &a,
        &format!(
            r#"{{"type":"EventRetracted","occurred":"2021-12-06","actor":"t","data":{{"seq":{seq},"reason":"recorded in error"}}}}"#
        ),
    );
    tick(&a, &cfg, "2021-12-06T08:00:00Z");
    assert_eq!(status_of(&a, &cfg, "2021-12-06", SUBMISSION), "open");
    assert_eq!(sent_count(&tick(&a, &cfg, "2021-12-13T08:00:00Z")), 1);
}

#[test]
fn postponing_a_split_meeting_holds_its_segments_reminders() {
    let a = setup();
    let cfg = config(&a, None, &["pre-session-documents.toml"]);
    tick(&a, &cfg, "2021-12-01T10:00:00Z");
    // New dates for a split meeting are given segment by segment: the segments keep their own.
    let whole = r#"{"type":"MeetingPostponed","occurred":"2021-12-02","actor":"t","data":{"meeting":"mc-cop-4","dates":"2022-Q3","tentative":true}}"#;
    let r = a.record_text(whole);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("data.segment"), "{}", r.stderr);
    let postponed = r#"{"type":"MeetingPostponed","occurred":"2021-12-02","actor":"t","data":{"meeting":"mc-cop-4","segment":"mc-cop-4.2","dates":"2022-Q3","tentative":true}}"#;
    record_ok(&a, postponed);
    tick(&a, &cfg, "2021-12-02T08:00:00Z");
    assert_eq!(status_of(&a, &cfg, "2021-12-02", SUBMISSION), "tentative");
    assert_eq!(sent_count(&tick(&a, &cfg, "2021-12-13T08:00:00Z")), 0);
}

#[test]
fn national_reporting_cycles() {
    let a = Accord::new();
    a.record(&history());
    let cfg = config(
        &a,
        None,
        &[
            "national-reporting-basel.toml",
            "national-reporting-minamata-full.toml",
            "national-reporting-minamata-short.toml",
        ],
    );
    tick(&a, &cfg, "2021-10-01T08:00:00Z");
    let d = deadlines(&a, &cfg, "2021-10-01");
    let due: Vec<_> = d
        .iter()
        .map(|x| {
            format!(
                "{} {}",
                x["due"].as_str().unwrap(),
                x["workflow"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        due,
        [
            "2021-12-31 national-reporting-basel",
            "2021-12-31 national-reporting-minamata-full",
            "2022-12-31 national-reporting-basel",
            "2023-12-31 national-reporting-basel",
            "2023-12-31 national-reporting-minamata-short",
        ]
    );
    // Eight, four and one week before 31 December, each once.
    let mut sent = 0;
    for day in ["2021-11-05", "2021-11-05", "2021-12-03", "2021-12-24"] {
        sent += sent_count(&tick(&a, &cfg, &format!("{day}T08:00:00Z")));
    }
    assert_eq!(sent, 6);
    // A year later, the 2021 reports were never recorded as received: missed.
    tick(&a, &cfg, "2023-01-05T08:00:00Z");
    let log = a.run(&["log", "--type", "DeadlineMissed", "--format", "json"]);
    let missed: Vec<String> = log
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["data"]["deadline"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        missed.contains(&"national-reporting-basel/2021/annual-report".to_string()),
        "{missed:?}"
    );
    assert!(
        missed.contains(&"national-reporting-minamata-full/2021/full-report".to_string()),
        "{missed:?}"
    );
    assert!(
        missed.contains(&"national-reporting-basel/2022/annual-report".to_string()),
        "{missed:?}"
    );
}

/// Transient failures never end a reminder while it is useful: retried with a backoff of 1, 5
/// and 25 minutes, then every 125 minutes (jitter up to a quarter), and skipped, with the last
/// reason, only once its deadline has passed. (This replaces the earlier policy, which gave up
/// after a fifth failure and so lost reminders in a long outage.)
#[test]
fn transient_failures_are_retried_until_the_deadline_then_skipped() {
    let port = free_port();
    let a = setup();
    let cfg = config(&a, Some(port), &["pre-session-documents.toml"]);
    tick(&a, &cfg, "2021-12-01T10:00:00Z");
    let mut now = "2021-12-13T08:00:00Z".to_string();
    let mut id = None;
    for attempt in 1..=7u32 {
        let r = tick_bounded(&a, &cfg, &now, Duration::from_secs(30));
        assert!(
            r.stdout.contains("failed 1"),
            "attempt {attempt}: {}",
            r.stdout
        );
        let f = last_failure(&a, &cfg);
        assert_eq!(f["attempts"], attempt, "{f}");
        assert_eq!(f["status"], "retrying", "attempt {attempt}: {f}");
        id.get_or_insert_with(|| f["reminder"].clone());
        assert_eq!(f["reminder"], id.clone().unwrap());
        let retry = f["retry_at"].as_str().unwrap().to_string();
        let wait = chrono::DateTime::parse_from_rfc3339(&retry).unwrap()
            - chrono::DateTime::parse_from_rfc3339(&now).unwrap();
        let base = 60 * 5i64.pow(attempt.min(4) - 1);
        assert!(
            (base..=base + base / 4).contains(&wait.num_seconds()),
            "attempt {attempt}: waits {wait}, base {base} s"
        );
        now = retry;
    }
    // A week on, still before the deadline (10 January 2022): still retrying.
    tick_bounded(&a, &cfg, "2021-12-20T08:00:00Z", Duration::from_secs(30));
    let f = last_failure(&a, &cfg);
    assert_eq!(f["status"], "retrying", "{f}");
    assert_eq!(f["attempts"], 8, "{f}");
    // Past the deadline: skipped with the reason, never recorded as a permanent failure.
    let id = id.unwrap();
    let r = tick_bounded(&a, &cfg, "2022-01-11T08:00:00Z", Duration::from_secs(30));
    assert!(
        !r.stdout
            .contains(&format!("failed {}", id.as_str().unwrap())),
        "{}",
        r.stdout
    );
    let rows = reminders(&a, &cfg);
    let f = rows.iter().find(|r| r["reminder"] == id).unwrap();
    assert_eq!(f["status"], "skipped", "{f}");
    let reason = f["reason"].as_str().unwrap();
    assert!(
        reason.contains("deadline passed") && reason.contains("after 8 attempts"),
        "{reason}"
    );
    assert!(by(&rows, "status", "failed").is_empty(), "{rows:?}");
}

#[test]
fn smtp_over_tls_with_authentication() {
    if !available("smtp_over_tls_with_authentication") {
        return;
    }
    if !have("openssl") {
        println!("SKIPPED smtp_over_tls_with_authentication: openssl is not installed here (.ci/run installs it)");
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(certs.path());
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    for (mode, scheme) in [
        (
            "--starttls",
            "smtp://accord:s3cret@localhost:{port}?tls=required",
        ),
        ("--implicit", "smtps://accord:s3cret@localhost:{port}"),
    ] {
        let server = SmtpServer::start_with(None, &[mode, cert, key, "--auth", "accord", "s3cret"]);
        let a = setup();
        let url = scheme.replace("{port}", &server.port.to_string());
        let smtp = format!(
            "[smtp]\nurl = \"{url}\"\nca_file = \"{}\"\ntimeout_secs = 5\n",
            ca.display()
        );
        let cfg = config_smtp(&a, &smtp, &["pre-session-documents.toml"]);
        tick(&a, &cfg, "2021-12-01T10:00:00Z");
        let r = tick_bounded(&a, &cfg, "2021-12-13T08:00:00Z", Duration::from_secs(30));
        assert_eq!(sent_count(&r), 1, "{mode}: {} {}", r.stdout, r.stderr);
        assert_eq!(server.messages().len(), 1, "{mode}");
    }
    // A wrong password: refused for good, and the password appears nowhere.
    let server = SmtpServer::start_with(
        None,
        &["--starttls", cert, key, "--auth", "accord", "s3cret"],
    );
    let a = setup();
    let url = format!(
        "smtp://accord:hunter2-wrong@localhost:{}?tls=required",
        server.port
    );
    let smtp = format!(
        "[smtp]\nurl = \"{url}\"\nca_file = \"{}\"\ntimeout_secs = 5\n",
        ca.display()
    );
    let cfg = config_smtp(&a, &smtp, &["pre-session-documents.toml"]);
    tick(&a, &cfg, "2021-12-01T10:00:00Z");
    let r = tick_bounded(&a, &cfg, "2021-12-13T08:00:00Z", Duration::from_secs(30));
    let f = last_failure(&a, &cfg);
    assert_eq!(f["status"], "failed", "{f}");
    assert!(f["reason"].as_str().unwrap().contains("535"), "{f}");
    let listing = a.run(&[
        "--config",
        cfg.to_str().unwrap(),
        "reminders",
        "--format",
        "json",
    ]);
    for text in [
        &r.stdout,
        &r.stderr,
        &a.export(),
        &listing.stdout,
        &listing.stderr,
    ] {
        assert!(!text.contains("hunter2"), "the password leaked: {text}");
    }
    assert!(server.messages().is_empty());
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
    let mails = read_dir_mails(&a.data().join("outbox"));
    let digest = mails
        .iter()
        .find(|m| {
            m.header("subject")
                .is_some_and(|s| s.starts_with("Accord:"))
                && m.header("to").is_some_and(|t| t.contains("secretariat-mc"))
                && m.header("date").is_some_and(|d| d.contains("17 Jan 2022"))
        })
        .unwrap_or_else(|| {
            let seen: Vec<_> = mails
                .iter()
                .map(|m| (m.header("date"), m.header("subject")))
                .collect();
            panic!("no digest of 17 January to the Minamata secretariat: {seen:?}")
        });
    let body = digest.raw.replace("=\r\n", "").replace("\r\n", "\n");
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

/// A subject header as written, with RFC 2047 encoded words (`=?utf-8?b?…?=`) decoded.
pub(super) fn decode_subject(raw: &str) -> String {
    use base64::Engine;
    raw.split(' ')
        .map(|w| {
            match w
                .strip_prefix("=?utf-8?b?")
                .and_then(|w| w.strip_suffix("?="))
            {
                Some(b) => {
                    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b).unwrap())
                        .unwrap()
                }
                None => w.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
