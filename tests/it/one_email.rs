//! Steps of one meeting due the same day go to their recipient as one email: the notice of
//! dates and the provisional agenda of COP-4.2, first tried, retried after a transient
//! failure and sent once, read back from a real SMTP server.

use std::path::Path;

use super::helpers::{history, Accord, Run};
use super::reminders::{config, rows};
use super::smtp::{available, SmtpServer};

const CONFIRM_COP4_2: &str = r#"{"type":"MeetingConfirmed","occurred":"2021-11-05","actor":"mc-officer","data":{"meeting":"mc-cop-4","segment":"mc-cop-4.2","dates":"2022-03-21/2022-03-25","venue":"Bali, Indonesia","mode":"in_person"}}"#;
const NOTICE: &str = "agenda-and-notice/mc-cop-4.2/notice";
const AGENDA: &str = "agenda-and-notice/mc-cop-4.2/agenda";

fn tick(a: &Accord, cfg: &Path, now: &str) -> Run {
    let r = a.run(&["--config", cfg.to_str().unwrap(), "tick", "--now", now]);
    assert!(r.code == 0 || r.code == 3, "{}{}", r.stdout, r.stderr);
    r
}

/// The reminders of COP-4.2's notice and agenda, by fire time.
fn cop4_2_reminders(a: &Accord, cfg: &Path) -> Vec<serde_json::Value> {
    rows(a, cfg, &["reminders"])
        .into_iter()
        .filter(|r| r["deadline"] == NOTICE || r["deadline"] == AGENDA)
        .collect()
}

/// The decoded text of a quoted-printable or plain body.
fn unfolded(raw: &str) -> String {
    raw.replace("=\r\n", "")
        .replace("=3D", "=")
        .replace("\r\n", "\n")
}

#[test]
fn the_notice_and_the_agenda_of_one_meeting_go_in_one_email() {
    if !available("the_notice_and_the_agenda_of_one_meeting_go_in_one_email") {
        return;
    }
    let server = SmtpServer::start(None);
    let a = Accord::new();
    a.record(&history());
    assert_eq!(a.record_text(CONFIRM_COP4_2).code, 0);
    let cfg = config(&a, Some(server.port), &["agenda-and-notice.toml"]);
    tick(&a, &cfg, "2021-12-01T10:00:00Z");
    let rem = cop4_2_reminders(&a, &cfg);
    // Both steps are due 21 January 2022, two months before the opening: their reminders
    // fire together, 28, 14, 7 and 1 days before.
    assert_eq!(rem.len(), 8, "{rem:#?}");
    let first = rem
        .iter()
        .map(|r| r["fire_at"].as_str().unwrap())
        .min()
        .unwrap()
        .to_string();
    assert!(first.starts_with("2021-12-24T08:00:00"), "{first}");

    // The server answers 421: both steps fail together and are retried together.
    server.set_mode("421");
    tick(&a, &cfg, &first);
    let failed: Vec<_> = cop4_2_reminders(&a, &cfg)
        .into_iter()
        .filter(|r| r["status"] == "retrying")
        .collect();
    assert_eq!(failed.len(), 2, "{failed:#?}");
    assert_eq!(
        failed[0]["retry_at"], failed[1]["retry_at"],
        "one retry time for one message"
    );
    server.set_mode("ok");
    let retry = failed[0]["retry_at"].as_str().unwrap().to_string();
    let r = tick(&a, &cfg, &retry);
    assert_eq!(r.code, 0, "{}", r.stdout);
    // The same instant again, and a minute later: nothing more goes.
    tick(&a, &cfg, &retry);
    tick(&a, &cfg, "2021-12-24T09:00:00Z");

    let mails: Vec<_> = server
        .messages()
        .into_iter()
        .filter(|m| unfolded(&m.raw).contains("mc-cop-4.2"))
        .collect();
    assert_eq!(mails.len(), 1, "one email for both steps");
    let m = &mails[0];
    let subject = super::reminders::decode_subject(m.header("subject").unwrap());
    assert!(
        subject.starts_with(
            "[MC] Notify parties of the dates and venue and issue the provisional agenda: \
             due 2022-01-21 (Fourth meeting of the Conference of the Parties to the Minamata \
             Convention, Second segment"
        ),
        "{subject}"
    );
    let body = unfolded(&m.raw);
    assert!(
        body.contains("These 2 steps are due on 21 January 2022"),
        "{body}"
    );
    assert!(
        body.contains("  - Notify parties of the dates and venue (deadline agenda-and-notice/mc-cop-4.2/notice)"),
        "{body}"
    );
    assert!(
        body.contains(
            "  - Issue the provisional agenda (deadline agenda-and-notice/mc-cop-4.2/agenda)"
        ),
        "{body}"
    );
    let ics = super::reminders::calendar_part(&m.raw);
    assert_eq!(ics.matches("BEGIN:VEVENT").count(), 2, "{ics}");
    assert!(ics.contains(&format!("UID:{NOTICE}@accord")), "{ics}");
    assert!(ics.contains(&format!("UID:{AGENDA}@accord")), "{ics}");

    let sent: Vec<_> = cop4_2_reminders(&a, &cfg)
        .into_iter()
        .filter(|r| r["status"] == "sent")
        .collect();
    assert_eq!(sent.len(), 2, "each step's reminder is recorded as sent");

    // The listing says which steps went together.
    let cfg_s = cfg.to_str().unwrap();
    let table = a.run(&[
        "--config",
        cfg_s,
        "reminders",
        "--from",
        "2021-12-24T00:00:00Z",
        "--to",
        "2021-12-24T23:59:00Z",
        "--wide",
    ]);
    let together: Vec<&str> = table
        .stdout
        .lines()
        .filter(|l| l.contains("mc-cop-4.2") && l.contains("one email with 1 other step"))
        .collect();
    assert_eq!(together.len(), 2, "{}", table.stdout);
}
