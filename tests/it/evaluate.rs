//! `accord evaluate`: indicators pinned on the shipped history, edge cases on small histories,
//! and reproducibility as known at an instant.

use super::helpers::{history, Accord};

fn evaluation(a: &Accord, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["evaluate", "--format", "json"];
    args.extend_from_slice(extra);
    let r = a.run(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap()
}

fn indicator<'a>(e: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    &e["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
        .unwrap()["value"]
}

#[test]
fn indicators_of_the_shipped_history() {
    let a = Accord::new();
    a.record(&history());
    let e = evaluation(&a, &[]);
    assert_eq!(e["last_seq"], 64);
    assert_eq!(e["last_hash"].as_str().unwrap().len(), 64);
    let m = indicator(&e, "mandates");
    assert_eq!(
        m["total"],
        serde_json::json!({"issued": 3, "reported on time": 3})
    );
    assert_eq!(m["by_addressee"]["mc-executive-secretary"]["issued"], 2);
    assert_eq!(
        m["status_by_year_end"]["2019"],
        serde_json::json!({"active": 3})
    );
    assert_eq!(
        m["status_by_year_end"]["2020"],
        serde_json::json!({"active": 1, "in_progress": 2})
    );
    assert_eq!(
        m["status_by_year_end"]["2021"],
        serde_json::json!({"reported": 3})
    );
    let f = indicator(&e, "follow_up");
    assert_eq!(f["by_decision"]["MC-3/11"]["days"], 33);
    assert_eq!(f["median_days"], 33.0);
    let r = indicator(&e, "report_cycle");
    assert_eq!(
        r["median_days_to_endorse"], 90.0,
        "December 2020 to March 2021"
    );
    assert_eq!(r["median_days_to_submit"], 90.5);
    let mv = indicator(&e, "meeting_moves");
    assert_eq!(mv["postponements"], 1);
    assert_eq!(mv["split"], 3);
    assert_eq!(mv["moves"][0]["meeting"], "iccm-5");
    assert_eq!(mv["moves"][0]["days"], 731);
    let act = indicator(&e, "activities");
    assert_eq!(
        act["per_scope"],
        serde_json::json!({"tripartite": 7, "two_secretariats_officers": 2})
    );
    assert_eq!(
        act["per_area_per_year"]["Joint exploratory studies on biodiversity and climate"]["2020"],
        2
    );
    assert_eq!(indicator(&e, "deadlines")["met"], 0);
    // Before COP-3, as of the scope's end: nothing adopted yet.
    let early = evaluation(&a, &["--to", "2019-06-30"]);
    assert_eq!(
        indicator(&early, "mandates")["total"],
        serde_json::json!({})
    );
    // Other formats: markdown, CSV, and HTML with inline SVG charts and no outside assets.
    let md = a.run(&["evaluate"]).stdout;
    assert!(md.contains("## Mandates issued and reported") && md.contains("seq 64"));
    // Tables people can paste into a report, no JSON; day counts from approximate dates read
    // "about" (the first follow-up is an activity of "2020").
    assert!(!md.contains("```") && !md.contains("{\""), "{md}");
    assert!(md.contains("| MC-3/11 | 3 | 3 |"), "{md}");
    assert!(md.contains("| Median days | about 33.0 |"), "{md}");
    let csv = a.run(&["evaluate", "--format", "csv"]).stdout;
    // One table per indicator: a title row, a header row, rows; a blank line between tables.
    assert!(csv.starts_with("Evaluation: the log up to seq 64"), "{csv}");
    assert!(
        csv.contains("\r\nMandates issued and reported: By decision\r\n,Issued,Reported on time\r\nMC-3/11,3,3\r\n"),
        "{csv}"
    );
    assert!(csv.contains("\r\n\r\nDays from a decision to its first follow-up\r\nFigure,Value,Approximate\r\nMedian days,33.0,yes\r\n"), "{csv}");
    let html = a.run(&["evaluate", "--format", "html"]).stdout;
    // A chart of its headline figures beside each indicator's tables.
    for caption in [
        "Mandates by outcome",
        "Decisions by days to their first follow-up",
        "Median days per step",
        "Meetings moved, and moves by kind",
        "Activities per area",
        "Deadlines",
    ] {
        assert!(
            html.contains(&format!("<figcaption>{caption}</figcaption><svg")),
            "{caption}: {html}"
        );
    }
    assert!(html.contains("about 33"), "approximate days say so: {html}");
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "no outside assets"
    );
    assert!(!html.contains("<pre>") && html.contains("<caption>By decision</caption>"));
}

const EDGES: &str = r#"{"type":"MeetingScheduled","occurred":"2020-01","actor":"t","data":{"meeting":"bc-cop-20","body":"BC","kind":"cop","title":"COP-20","dates":"2021-06-01/2021-06-05"}}
{"type":"MeetingScheduled","occurred":"2020-01","actor":"t","data":{"meeting":"bc-cop-21","body":"BC","kind":"cop","title":"COP-21","dates":"2023-06-01/2023-06-05"}}
{"type":"MeetingPostponed","occurred":"2020-05","actor":"t","data":{"meeting":"bc-cop-20","dates":"2021-10","tentative":true}}
{"type":"MeetingPostponed","occurred":"2021-03","actor":"t","data":{"meeting":"bc-cop-20","dates":"2022-06-06/2022-06-10"}}
{"type":"MeetingHeld","occurred":"2022-06-06/2022-06-10","actor":"t","data":{"meeting":"bc-cop-20","dates":"2022-06-06/2022-06-10"}}
{"type":"DecisionAdopted","occurred":"2022-06-10","actor":"t","data":{"symbol":"BC-20/1","meeting":"bc-cop-20","title":"One","adopted":"2022-06-10","mandates":[{"paragraph":"1","action":"requests","addressee":"parties","asks":"To report","report_at":"bc-cop-21"},{"paragraph":"2","action":"requests","addressee":"brs-executive-secretary","asks":"To report too","report_at":"bc-cop-21"}]}}
{"type":"DecisionAdopted","occurred":"2022-06-10","actor":"t","data":{"symbol":"BC-20/2","meeting":"bc-cop-20","title":"Two","adopted":"2022-06-10","supersedes":["BC-20/1"],"mandates":[{"paragraph":"1","action":"requests","addressee":"parties","asks":"To report anew","report_at":"bc-cop-21"}]}}
{"type":"ReportDrafted","occurred":"2022-09","actor":"t","data":{"report":"never-endorsed","title":"A draft","by":["x"],"decision":"BC-20/2"}}
{"type":"MeetingHeld","occurred":"2023-06-01/2023-06-05","actor":"t","data":{"meeting":"bc-cop-21","dates":"2023-06-01/2023-06-05"}}"#;

#[test]
fn edge_cases_superseded_never_endorsed_postponed_twice() {
    let a = Accord::new();
    assert_eq!(a.record_text(EDGES).code, 0);
    let e = evaluation(&a, &[]);
    let m = indicator(&e, "mandates");
    assert_eq!(m["total"]["issued"], 3);
    assert_eq!(
        m["total"]["superseded"], 2,
        "BC-20/2 superseded both paragraphs of BC-20/1"
    );
    assert_eq!(
        m["total"]["not reported"], 1,
        "COP-21 was held without the report"
    );
    let r = indicator(&e, "report_cycle");
    assert_eq!(r["reports"][0]["status"], "drafted");
    assert!(r["reports"][0]["days_to_endorse"].is_null());
    assert!(r["median_days_to_endorse"].is_null());
    let mv = indicator(&e, "meeting_moves");
    assert_eq!(mv["postponements"], 2);
    assert_eq!(mv["meetings_moved"], 1);
    let days: Vec<i64> = mv["moves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["days"].as_i64().unwrap())
        .collect();
    assert_eq!(
        days,
        [122, 248],
        "1 June to October 2021, then October 2021 to 6 June 2022"
    );
    assert_eq!(
        indicator(&e, "follow_up")["by_decision"]["BC-20/2"]["days"],
        83
    );
}

#[test]
fn evaluation_as_known_at_is_reproducible() {
    let a = Accord::new();
    a.record(&history());
    let t = a.last_recorded_at();
    let before = a
        .run(&["evaluate", "--format", "json", "--known-at", &t])
        .stdout;
    std::thread::sleep(std::time::Duration::from_millis(5));
    let more = r#"{"type":"MeetingPostponed","occurred":"2021-10","actor":"t","data":{"meeting":"iccm-5","dates":"2023","tentative":true}}"#;
    assert_eq!(a.record_text(more).code, 0);
    let after = a
        .run(&["evaluate", "--format", "json", "--known-at", &t])
        .stdout;
    assert_eq!(before, after, "byte-identical as known at the same instant");
    let now = a.run(&["evaluate", "--format", "json"]).stdout;
    assert_ne!(now, before);
    let e: serde_json::Value = serde_json::from_str(&now).unwrap();
    assert_eq!(e["last_seq"], 65);
    assert_eq!(indicator(&e, "meeting_moves")["postponements"], 2);
}

const TIMING: &str = r#"{"type":"MeetingScheduled","occurred":"2022-01","actor":"t","data":{"meeting":"rc-cop-11","body":"RC","kind":"cop","title":"COP-11","dates":"2023-05-01/2023-05-05"}}
{"type":"MeetingScheduled","occurred":"2022-01","actor":"t","data":{"meeting":"rc-cop-12","body":"RC","kind":"cop","title":"COP-12","dates":"2025-05-01/2025-05-05"}}
{"type":"MeetingSplit","occurred":"2024-01","actor":"t","data":{"meeting":"rc-cop-12","segments":[{"segment":"rc-cop-12.1","dates":"2025-05-01/2025-05-02","mode":"online"},{"segment":"rc-cop-12.2","dates":"2025-09-01/2025-09-05","mode":"in_person"}]}}
{"type":"MeetingScheduled","occurred":"2022-01","actor":"t","data":{"meeting":"rc-cop-13","body":"RC","kind":"cop","title":"COP-13","dates":"2027-Q2","tentative":true}}
{"type":"MeetingConfirmed","occurred":"2026-01","actor":"t","data":{"meeting":"rc-cop-13","dates":"2027-05-03/2027-05-07"}}
{"type":"DecisionAdopted","occurred":"2022-06-01","actor":"t","data":{"symbol":"RC-10/1","meeting":"rc-cop-11","title":"Timing","adopted":"2022-06-01","mandates":[{"paragraph":"1","action":"requests","addressee":"a","asks":"late","report_at":"rc-cop-11"},{"paragraph":"2","action":"requests","addressee":"b","asks":"by a day, late","report_by":"2023-01-31"},{"paragraph":"3","action":"requests","addressee":"c","asks":"at the last segment","report_at":"rc-cop-12"},{"paragraph":"4","action":"requests","addressee":"d","asks":"at a segment held without it","report_at":"rc-cop-12.1"}]}}
{"type":"MandateStatusChanged","occurred":"2023-06-15","actor":"t","data":{"decision":"RC-10/1","paragraph":"1","status":"reported"}}
{"type":"MandateStatusChanged","occurred":"2024-01-15","actor":"t","data":{"decision":"RC-10/1","paragraph":"1","status":"implemented"}}
{"type":"MandateStatusChanged","occurred":"2023-05-15","actor":"t","data":{"decision":"RC-10/1","paragraph":"2","status":"reported"}}
{"type":"MandateStatusChanged","occurred":"2025-07-01","actor":"t","data":{"decision":"RC-10/1","paragraph":"3","status":"reported"}}
{"type":"MeetingHeld","occurred":"2025-05-01/2025-05-02","actor":"t","data":{"meeting":"rc-cop-12","segment":"rc-cop-12.1","dates":"2025-05-01/2025-05-02"}}"#;

#[test]
fn report_timing_by_meeting_segment_and_day() {
    let a = Accord::new();
    let r = a.record_text(TIMING);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let e = evaluation(&a, &[]);
    let by = &indicator(&e, "mandates")["by_addressee"];
    assert_eq!(
        by["a"]["reported late"], 1,
        "reported after COP-11, whatever came later"
    );
    assert_eq!(by["b"]["reported late"], 1, "after its report-by day");
    assert_eq!(
        by["c"]["reported on time"], 1,
        "before the last segment of a split meeting"
    );
    assert_eq!(
        by["d"]["not reported"], 1,
        "its segment was held without the report"
    );
    // A confirmation inside the announced quarter is not a move; the split is counted.
    let mv = indicator(&e, "meeting_moves");
    let kinds: Vec<&str> = mv["moves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["split"],
        "the split moves COP-12's end; COP-13's confirmation is no move"
    );
    assert_eq!(mv["split"], 1);
    // The period filters moves by when they happened.
    let shipped = Accord::new();
    shipped.record(&history());
    let y2020 = evaluation(&shipped, &["--from", "2020-01-01", "--to", "2020-12-31"]);
    assert_eq!(
        indicator(&y2020, "meeting_moves")["postponements"],
        1,
        "ICCM5 was postponed in 2020"
    );
    let y2021 = evaluation(&shipped, &["--from", "2021-01-01", "--to", "2021-12-31"]);
    assert_eq!(indicator(&y2021, "meeting_moves")["postponements"], 0);
    // --body filters the status mix too.
    let bc = evaluation(&shipped, &["--body", "BC"]);
    assert!(indicator(&bc, "mandates")["status_by_year_end"]
        .as_object()
        .unwrap()
        .values()
        .all(|y| y.as_object().unwrap().is_empty()));
}

#[test]
fn csv_is_safe_and_numbers_stay_numbers() {
    let a = Accord::new();
    let evil = r#"{"type":"ReportDrafted","occurred":"2022-09","actor":"t","data":{"report":"r1","title":"=HYPERLINK(\"http://x\",\"y\")","by":["x"]}}"#;
    assert_eq!(a.record_text(EDGES).code, 0);
    assert_eq!(a.record_text(evil).code, 0);
    let csv = a.run(&["evaluate", "--format", "csv"]).stdout;
    assert!(
        csv.contains("\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""),
        "{csv}"
    );
    // A day count stays a number in its own cell; nothing is an empty cell.
    let moves = csv
        .split("\"Meetings postponed, rescheduled or split: Moves\"\r\n")
        .nth(1)
        .expect("the moves table");
    let header: Vec<&str> = moves.lines().next().unwrap().split(',').collect();
    let row: Vec<&str> = moves.lines().nth(1).unwrap().split(',').collect();
    let days = header.iter().position(|h| *h == "Days").unwrap();
    assert_eq!(row[days], "122", "{csv}");
    let approximate = header.iter().position(|h| *h == "Approximate").unwrap();
    assert_eq!(row[approximate], "yes", "from 2021-10: {csv}");
    assert!(
        csv.contains("\r\nMedian days to endorse,\r\n"),
        "null is empty: {csv}"
    );
}

#[test]
fn deadlines_met_after_a_reminder() {
    let a = Accord::new();
    a.record(&history());
    let confirm = r#"{"type":"MeetingConfirmed","occurred":"2021-11-05","actor":"t","data":{"meeting":"mc-cop-4","segment":"mc-cop-4.2","dates":"2022-03-21/2022-03-25"}}"#;
    assert_eq!(a.record_text(confirm).code, 0);
    let root = super::helpers::root();
    let w = a.dir.path().join("workflows");
    std::fs::create_dir_all(w.join("templates")).unwrap();
    std::fs::copy(
        root.join("workflows/pre-session-documents.toml"),
        w.join("p.toml"),
    )
    .unwrap();
    std::fs::copy(
        root.join("workflows/templates/deadline.txt.j2"),
        w.join("templates/deadline.txt.j2"),
    )
    .unwrap();
    let cfg = a.dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "[workflows]\ndir = \"{}\"\ncontacts = \"{}\"\n",
            w.display(),
            root.join("config/contacts.toml").display()
        ),
    )
    .unwrap();
    let tick = |now: &str| {
        assert_eq!(
            a.run(&["--config", cfg.to_str().unwrap(), "tick", "--now", now])
                .code,
            0
        )
    };
    tick("2021-12-01T10:00:00Z");
    tick("2021-12-13T08:00:00Z"); // the submission's 28-day reminder goes
    let posted = r#"{"type":"DocumentPosted","occurred":"2021-12-20","actor":"t","data":{"document":"UNEP/MC/COP.4/2","meeting":"mc-cop-4.2","kind":"pre_session","title":"Documents"}}"#;
    assert_eq!(a.record_text(posted).code, 0);
    tick("2021-12-20T08:00:00Z");
    tick("2021-12-27T08:00:00Z"); // nothing more for met deadlines
    let e = evaluation(&a, &[]);
    let d = indicator(&e, "deadlines");
    assert_eq!(d["met"], 2, "{d}");
    assert_eq!(
        d["met_after_a_reminder"], 1,
        "the submission had its reminder before it was met"
    );
}
