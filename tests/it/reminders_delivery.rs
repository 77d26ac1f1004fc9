//! Reminders delivered through a real SMTP server: the message's headers, body and calendar,
//! refused and failing servers retried and never hanging, a crash between attempt and outcome,
//! a missing contact, transient failures until the deadline, and TLS with authentication.

use std::path::Path;
use std::time::{Duration, Instant};

use super::helpers::{have, root, Accord, Run};
use super::reminders::*;
use super::smtp::{available, certificates, free_port, read_dir_mails, SmtpServer};

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
