//! Real governing-body history (`events/history/real-meetings-2017-2024.jsonl`, its facts and
//! sources beside it): what a domain expert answers, as of several dates — split meetings seen
//! through their segments, a meeting adjourned and resumed in three cities, postponements with
//! dates to be determined, decisions of several bodies at a joint meeting, national reports per
//! cycle — and the scheduler ticking through it as of its instant.

use super::helpers::{root, row, Accord};

fn real() -> Accord {
    let a = Accord::new();
    let r = a.record(&root().join("events/history/real-meetings-2017-2024.jsonl"));
    assert!(r.stderr.contains("72 recorded"), "{}", r.stderr);
    a
}

fn meeting(a: &Accord, id: &str, as_of: &str) -> serde_json::Value {
    row(&a.show("meetings", &["--as-of", as_of]), "meeting", id).clone()
}

fn ids(rows: &serde_json::Value, key: &str) -> Vec<String> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r[key].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn split_meetings_read_through_their_segments() {
    let a = real();
    // 1 December 2021: COP-4's online segment is over, Bali is set for March 2022.
    let cop4 = meeting(&a, "mc-cop-4", "2021-12-01");
    assert_eq!(cop4["status"], "partly_held");
    assert_eq!(cop4["dates"], "2021-11-01/2022-03-25");
    assert_eq!(cop4["segments"][0]["status"], "over");
    assert_eq!(cop4["segments"][1]["status"], "confirmed");
    assert_eq!(cop4["segments"][1]["venue"], "Bali, Indonesia");
    // 1 July 2021: the BRS COPs split, nothing held yet; a year later both segments are over.
    let brs = meeting(&a, "brs-cops-2021", "2021-07-01");
    assert_eq!(brs["status"], "tentative");
    assert_eq!(meeting(&a, "brs-cops-2021", "2022-07-01")["status"], "over");
    // UNEA-5.2, announced for February 2022 and held 28 February–2 March: made exact inside its
    // window, which is no move.
    let unea5 = meeting(&a, "unea-5", "2022-04-01");
    assert_eq!(unea5["status"], "over");
    assert_eq!(unea5["dates"], "2021-02-22/2022-03-02");
    assert!(unea5["moves"].is_null(), "{unea5}");
    // Its resolution is listed under the meeting and the segment.
    assert!(unea5["decisions"].to_string().contains("UNEP/EA.5/Res.14"));
    assert!(unea5["segments"][1]["decisions"]
        .to_string()
        .contains("UNEP/EA.5/Res.14"));
    // A filter for March 2022 finds the meetings whose segments sat then.
    assert_eq!(
        ids(
            &a.show(
                "meetings",
                &[
                    "--as-of",
                    "2022-12-31",
                    "--from",
                    "2022-03-01",
                    "--to",
                    "2022-03-31"
                ]
            ),
            "meeting"
        ),
        ["unea-5", "mc-cop-4"]
    );
}

#[test]
fn sessions_and_postponements_to_dates_unknown() {
    let a = real();
    // ICCM5 on 1 December 2021: postponed, new dates to be determined.
    let iccm = meeting(&a, "iccm-5", "2021-12-01");
    assert_eq!(iccm["status"], "postponed");
    assert_eq!(iccm["to_be_determined"], true);
    // The intersessional meeting adjourned in Bucharest, suspended in Nairobi, concluded in
    // Bonn: three sessions in order, and no resumption counted as a move.
    let ip4 = meeting(&a, "saicm-ip4", "2024-01-01");
    assert_eq!(ip4["status"], "over");
    let venues: Vec<&str> = ip4["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["venue"].as_str().unwrap())
        .collect();
    assert_eq!(
        venues,
        ["Bucharest, Romania", "Nairobi, Kenya", "Bonn, Germany"]
    );
    assert_eq!(ip4["sessions"][1]["status"], "suspended");
    let kinds: Vec<&str> = ip4["moves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["postponed", "rescheduled"]);
    // Between sessions it waits to resume, with the next session's dates.
    let waiting = meeting(&a, "saicm-ip4", "2022-12-31");
    assert_eq!(waiting["status"], "adjourned");
    assert_eq!(waiting["dates"], "2023-02-27/2023-03-03");
    // The evaluation makes up no day count for a postponement to dates unknown.
    let e = a.run(&["evaluate", "--format", "json"]);
    let e: serde_json::Value = serde_json::from_str(&e.stdout).unwrap();
    let moves = e["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "meeting_moves")
        .unwrap()["value"]["moves"]
        .clone();
    let iccm_tbd: Vec<&serde_json::Value> = moves
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["meeting"] == "iccm-5" && m["to"] == "to be determined")
        .collect();
    assert_eq!(iccm_tbd.len(), 2);
    assert!(iccm_tbd.iter().all(|m| m["days"].is_null()));
}

#[test]
fn decisions_carry_their_own_body_at_a_joint_meeting() {
    let a = real();
    assert_eq!(
        ids(&a.show("decisions", &["--body", "BC"]), "symbol"),
        ["BC-14/12"]
    );
    assert_eq!(
        ids(&a.show("decisions", &["--body", "SC"]), "symbol"),
        ["SC-9/12"]
    );
    let brs = ids(&a.show("meetings", &["--body", "SC"]), "meeting");
    assert!(brs.contains(&"brs-cops-2019".to_string()), "{brs:?}");
}

#[test]
fn the_scheduler_ticks_through_a_history_as_it_stood() {
    let a = real();
    let all = [
        "pre-session-documents.toml",
        "agenda-and-notice.toml",
        "report-back.toml",
        "national-reporting-minamata-full.toml",
        "national-reporting-minamata-short.toml",
        "national-reporting-basel.toml",
    ];
    let cfg = super::reminders::config(&a, None, &all);
    let cfg = cfg.to_str().unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["--config", cfg];
        all.extend_from_slice(args);
        let r = a.run(&all);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        r.stdout
    };
    // 1 September 2021, as it stood then: ICCM5 postponed with no dates, so no deadline of
    // ICCM5; COP-4's second segment still "first quarter 2022", so its deadlines tentative.
    run(&["tick", "--now", "2021-09-01T08:00:00Z"]);
    let d = run(&["deadlines", "--as-of", "2021-09-01", "--format", "json"]);
    let d: serde_json::Value = serde_json::from_str(&d).unwrap();
    let names = ids(&d, "deadline");
    assert!(!names.iter().any(|n| n.contains("iccm-5")), "{names:?}");
    let cop42 = row(
        &d,
        "deadline",
        "pre-session-documents/mc-cop-4.2/submission",
    );
    assert_eq!(cop42["tentative"], true, "{cop42}");
    // Then the cycle: three of the four Parties recorded reported on time, one late.
    run(&["tick", "--now", "2022-01-21T08:00:00Z"]);
    let d = run(&["deadlines", "--as-of", "2022-01-21", "--format", "json"]);
    let d: serde_json::Value = serde_json::from_str(&d).unwrap();
    let cycle = row(
        &d,
        "deadline",
        "national-reporting-minamata-full/2021/full-report",
    );
    assert_eq!(cycle["status"], "missed");
    assert_eq!(
        cycle["parties"],
        serde_json::json!({"parties": 4, "submitted": 4, "on_time": 3})
    );
    let table = run(&["deadlines", "--as-of", "2022-01-21"]);
    assert!(table.contains("partly met (3 of 4"), "{table}");
    let e = run(&["evaluate", "--format", "json"]);
    assert!(
        e.contains("3 of 4 Parties to MC submitted their full report for 2021 by 2021-12-31"),
        "{e}"
    );
}

/// Live, what was recorded by the tick's instant counts whatever its approximate window: a
/// meeting recorded now as announced "in 2027" has its deadlines at once.
#[test]
fn live_ticks_count_what_was_recorded_whatever_its_window() {
    let a = Accord::new();
    let line = r#"{"type":"MeetingScheduled","occurred":"2027","actor":"officer","data":{"meeting":"cop-live","body":"MC","kind":"cop","title":"A meeting announced for 2028","dates":"2028-06-05/2028-06-09"}}"#;
    assert_eq!(a.record_text(line).code, 0);
    let cfg = super::reminders::config(&a, None, &["pre-session-documents.toml"]);
    let r = a.run(&["--config", cfg.to_str().unwrap(), "tick"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let d = a.run(&[
        "--config",
        cfg.to_str().unwrap(),
        "deadlines",
        "--format",
        "json",
    ]);
    assert!(
        d.stdout
            .contains("pre-session-documents/cop-live/submission"),
        "{}",
        d.stdout
    );
}

/// `accord simulate` runs the scheduler over a past period on a copy: it reports what would
/// have gone out and what was met, and the store is left as it was.
#[test]
fn simulate_replays_a_past_period_without_writing() {
    let a = real();
    let cfg = super::reminders::config(
        &a,
        None,
        &[
            "national-reporting-minamata-full.toml",
            "pre-session-documents.toml",
        ],
    );
    let before = a.export();
    let r = a.run(&[
        "--config",
        cfg.to_str().unwrap(),
        "simulate",
        "--from",
        "2021-06-01",
        "--to",
        "2022-01-31",
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(a.export(), before, "the store was written");
    assert!(
        !a.data().join("outbox").exists(),
        "mail left the simulation"
    );
    let out: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let sent = out["reminders_sent"].as_array().unwrap();
    // The 8-, 4- and 1-week reminders of the full national reports, on their days.
    let cycle: Vec<&str> = sent
        .iter()
        .filter(|s| {
            s["subject"]
                .as_str()
                .unwrap()
                .contains("Full national reports")
        })
        .map(|s| s["sent_at"].as_str().unwrap())
        .collect();
    assert_eq!(cycle.len(), 3, "{cycle:?}");
    assert!(cycle[0].starts_with("2021-11-05"), "{cycle:?}");
    let d = out["deadlines"].as_array().unwrap();
    let full = d
        .iter()
        .find(|d| d["deadline"] == "national-reporting-minamata-full/2021/full-report")
        .unwrap();
    assert_eq!(full["outcome"], "missed");
    // COP-4.2's pre-session documents: derived as it stood, from Bali's confirmed dates.
    assert!(
        d.iter()
            .any(|d| d["deadline"] == "pre-session-documents/mc-cop-4.2/submission"),
        "{d:?}"
    );
}
