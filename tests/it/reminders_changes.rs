//! Reminders that follow what the log says of their meeting, report or cycle: a report
//! submitted, tentative dates confirmed, a meeting moved by whole weeks and back, a cancellation
//! retracted, a decision retracted, a split meeting postponed, and national reporting cycles.

use super::smtp::read_dir_mails;

use super::helpers::*;
use super::reminders::*;

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

/// Records the retraction, on `occurred`, of the event recorded under `id`.
fn retract_by_id(a: &Accord, id: &str, occurred: &str) {
    let seq = a
        .export()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["id"] == id)
        .unwrap()["seq"]
        .as_u64()
        .unwrap();
    record_ok(
        a,
        &format!(
            r#"{{"type":"EventRetracted","occurred":"{occurred}","actor":"t","data":{{"seq":{seq},"reason":"recorded in error"}}}}"#
        ),
    );
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
    retract_by_id(&a, "cancel-4-2", "2021-12-06");
    tick(&a, &cfg, "2021-12-06T08:00:00Z");
    assert_eq!(status_of(&a, &cfg, "2021-12-06", SUBMISSION), "open");
    assert_eq!(sent_count(&tick(&a, &cfg, "2021-12-13T08:00:00Z")), 1);
}

/// A decision retracted takes its mandate's report-back deadline with it: no longer derived
/// from the log, the deadline is cancelled with that reason, and nothing is sent for it.
#[test]
fn a_retracted_decision_cancels_its_report_back_deadline() {
    let a = setup();
    let cfg = config(&a, None, &["report-back.toml"]);
    let decision = r#"{"id":"adopt-mc-4-9","type":"DecisionAdopted","occurred":"2021-11-05","actor":"mc-officer","data":{"symbol":"MC-4/9","meeting":"mc-cop-4","title":"Cooperation","adopted":"2021-11-05","mandates":[{"paragraph":"1","action":"requests","addressee":"mc-executive-secretary","asks":"To report on cooperation","report_at":"mc-cop-4.2"}]}}"#;
    record_ok(&a, decision);
    const REPORT: &str = "report-back/MC-4/9#1/report";
    tick(&a, &cfg, "2021-12-01T10:00:00Z");
    assert_eq!(status_of(&a, &cfg, "2021-12-01", REPORT), "open");
    retract_by_id(&a, "adopt-mc-4-9", "2021-12-06");
    tick(&a, &cfg, "2021-12-06T08:00:00Z");
    assert_eq!(status_of(&a, &cfg, "2021-12-06", REPORT), "cancelled");
    let reasons: Vec<String> = a
        .export()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "DeadlineCancelled" && v["data"]["deadline"] == REPORT)
        .map(|v| v["data"]["reason"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].contains("no longer derived"), "{reasons:?}");
    // The 28-day reminder it had goes to no one.
    assert_eq!(sent_count(&tick(&a, &cfg, "2022-01-10T08:00:00Z")), 0);
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
