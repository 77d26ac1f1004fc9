//! Workflows end to end on the shipped history: deadlines, and reminders that move with their
//! meeting, stop when met or cancelled and arrive once; the helpers both reminder files share.
//! Delivery itself (real SMTP, faults, crashes, TLS) is in `reminders_delivery.rs`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::helpers::future_meeting;
use super::helpers::{history, root, Accord, Run};
use super::smtp::read_dir_mails;

/// Confirms the second segment of COP-4 (Bali, 21–25 March 2022).
pub(super) const CONFIRM_COP4_2: &str = r#"{"type":"MeetingConfirmed","occurred":"2021-11-05","actor":"mc-officer","data":{"meeting":"mc-cop-4","segment":"mc-cop-4.2","dates":"2022-03-21/2022-03-25","venue":"Bali, Indonesia","mode":"in_person"}}"#;

/// A workflows folder with only the given workflow files (and all templates).
pub(super) fn workflows(dir: &Path, files: &[&str]) -> PathBuf {
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

pub(super) fn setup() -> Accord {
    let a = Accord::new();
    a.record(&history());
    assert_eq!(a.record_text(CONFIRM_COP4_2).code, 0);
    a
}

pub(super) fn tick(a: &Accord, cfg: &Path, now: &str) -> Run {
    let r = a.run(&["--config", cfg.to_str().unwrap(), "tick", "--now", now]);
    super::helpers::assert_tick_code(&r, now);
    r
}

pub(super) fn sent_count(r: &Run) -> usize {
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

pub(super) fn reminders(a: &Accord, cfg: &Path) -> Vec<serde_json::Value> {
    rows(a, cfg, &["reminders"])
}

pub(super) fn deadlines(a: &Accord, cfg: &Path, as_of: &str) -> Vec<serde_json::Value> {
    rows(a, cfg, &["deadlines", "--as-of", as_of])
}

pub(super) fn by<'a>(
    rows: &'a [serde_json::Value],
    key: &str,
    value: &str,
) -> Vec<&'a serde_json::Value> {
    rows.iter().filter(|r| r[key] == value).collect()
}

pub(super) const SUBMISSION: &str = "pre-session-documents/mc-cop-4.2/submission";
pub(super) const DISTRIBUTION: &str = "pre-session-documents/mc-cop-4.2/distribution";

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

pub(super) fn record_ok(a: &Accord, line: &str) {
    let r = a.record_text(line);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

pub(super) fn status_of(a: &Accord, cfg: &Path, as_of: &str, deadline: &str) -> serde_json::Value {
    by(&deadlines(a, cfg, as_of), "deadline", deadline)[0]["status"].clone()
}
