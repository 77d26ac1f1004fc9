//! The shipped history: it records and verifies, and `show` answers what the seed report says,
//! on both time axes.

use super::helpers::{history, row, Accord};

fn recorded() -> Accord {
    let a = Accord::new();
    let r = a.record(&history());
    assert!(
        r.stderr.contains("64 recorded, 0 duplicates"),
        "{}",
        r.stderr
    );
    a
}

#[test]
fn records_and_verifies() {
    let a = recorded();
    let v = a.run(&["verify"]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(v.stdout.contains("64 records, last seq 64"), "{}", v.stdout);
}

#[test]
fn recording_again_is_all_duplicates() {
    let a = recorded();
    let before = a.export();
    let r = a.record(&history());
    assert!(
        r.stderr.contains("0 recorded, 64 duplicates"),
        "{}",
        r.stderr
    );
    assert!(
        r.stdout
            .contains("duplicate id seed-001 already recorded at seq 1"),
        "{}",
        r.stdout
    );
    assert_eq!(a.export(), before);
}

#[test]
fn mandates_of_mc_3_11() {
    let a = recorded();
    let m = a.show("mandates", &[]);
    assert_eq!(m.as_array().unwrap().len(), 3);
    let expect = [
        ("MC-3/11#1", "unep-executive-director"),
        ("MC-3/11#2", "mc-executive-secretary"),
        ("MC-3/11#3", "mc-executive-secretary"),
    ];
    for (id, addressee) in expect {
        let r = row(&m, "mandate", id);
        assert_eq!(r["addressee"], addressee, "{id}");
        assert_eq!(r["action"], "requests");
        assert_eq!(r["report_at"], "mc-cop-4");
        assert_eq!(
            r["status"], "reported",
            "{id}: the joint report UNEP/MC/COP.4/INF/17 reports on it"
        );
    }
    // As of 1 September 2020: paragraph 1 in progress since the heads of entity meeting.
    let m = a.show("mandates", &["--as-of", "2020-09-01"]);
    assert_eq!(row(&m, "mandate", "MC-3/11#1")["status"], "in_progress");
    assert_eq!(row(&m, "mandate", "MC-3/11#2")["status"], "active");
    assert_eq!(row(&m, "mandate", "MC-3/11#3")["status"], "active");
    let d = a.show("decisions", &[]);
    let mc = row(&d, "symbol", "MC-3/11");
    assert_eq!(mc["meeting"], "mc-cop-3");
    assert_eq!(mc["adopted"], "2019-11-29");
}

#[test]
fn groups_and_scopes() {
    let a = recorded();
    let g = a.show("groups", &[]);
    let groups = g.as_array().unwrap();
    assert_eq!(groups.len(), 15);
    let count = |scope: &str| groups.iter().filter(|r| r["scope"] == scope).count();
    assert_eq!(count("tripartite"), 10);
    assert_eq!(count("inter_secretariat"), 4);
    assert_eq!(count("two_secretariats_officers"), 1);
    let tf = row(&g, "group", "joint-task-force");
    assert_eq!(tf["kind"], "task_force");
    assert_eq!(tf["co_chairs"].as_array().unwrap().len(), 3);
    assert_eq!(tf["established"], "2018-07");
    assert_eq!(tf["terms_of_reference"], "2018-08");
    let mw = row(&g, "group", "wg-mercury-wastes");
    assert_eq!(mw["decision_area"], "scientific_and_technical");
    assert_eq!(mw["members"].as_array().unwrap().len(), 3);
    assert_eq!(mw["implements"], "MC-3/11#2");
    let it = row(&g, "group", "wg-information-technology");
    assert_eq!(it["scope"], "inter_secretariat");
    assert_eq!(it["decision_area"], "administrative");
    assert_eq!(it["last_reviewed"], "2021-H2");
}

#[test]
fn the_report_drafted_and_endorsed() {
    let a = recorded();
    let r = a.show("reports", &[]);
    let tf = row(&r, "report", "joint-task-force-report");
    assert_eq!(tf["drafted"]["on"], "2020-12");
    assert_eq!(tf["drafted"]["by"].as_array().unwrap().len(), 3);
    assert_eq!(tf["endorsed"]["on"], "2021-03");
    assert_eq!(tf["endorsed"]["by"][0], "mc-executive-secretary");
    assert_eq!(tf["filed_with"], "joint-task-force");
    assert_eq!(tf["status"], "endorsed");
    let jr = row(&r, "report", "joint-report-cooperation");
    assert_eq!(jr["submitted"][0]["document"], "UNEP/MC/COP.4/INF/17");
    let op = row(&r, "report", "operative-proposal-shared-services");
    assert_eq!(op["submitted"][0]["document"], "UNEP/MC/COP.3/16");
    // On the domain axis: drafted by the end of 2020, not yet endorsed in January 2021.
    let r = a.show("reports", &["--as-of", "2021-01-15"]);
    let tf = row(&r, "report", "joint-task-force-report");
    assert_eq!(tf["status"], "drafted");
    assert!(tf.get("endorsed").is_none());
    // "December 2020" counts only once December is over.
    let r = a.show("reports", &["--as-of", "2020-12-30"]);
    assert!(r
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["report"] != "joint-task-force-report"));
    let activities = a.show("activities", &[]);
    assert_eq!(activities.as_array().unwrap().len(), 9);
    let campaign = row(&activities, "activity", "make-the-invisible-visible");
    assert_eq!(
        campaign["meetings"],
        serde_json::json!(["unea-4", "iccm-oewg-3", "brs-cops-2019"])
    );
    assert_eq!(campaign["area"], "Outreach and communication");
    let studies = activities
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["group"] == "wg-joint-exploratory-studies")
        .count();
    assert_eq!(studies, 2, "the biodiversity and climate change studies");
    let agreements = a.show("agreements", &[]);
    assert_eq!(
        row(&agreements, "agreement", "mc-brs-services-cop4")["signed"],
        "2021-07"
    );
}

#[test]
fn meetings_with_approximate_dates() {
    let a = recorded();
    let m = a.show("meetings", &[]);
    assert_eq!(m.as_array().unwrap().len(), 11);
    let cop3 = row(&m, "meeting", "mc-cop-3");
    assert_eq!(cop3["dates"], "2019-11-25/2019-11-29");
    assert_eq!(cop3["venue"], "Geneva");
    assert_eq!(cop3["status"], "over");
    let cop4 = row(&m, "meeting", "mc-cop-4");
    assert_eq!(cop4["segments"][0]["segment"], "mc-cop-4.1");
    assert_eq!(cop4["segments"][0]["dates"], "2021-11");
    assert_eq!(cop4["segments"][0]["mode"], "online");
    assert_eq!(cop4["segments"][1]["dates"], "2022-early");
    assert_eq!(cop4["segments"][1]["status"], "tentative");
    let unea5 = row(&m, "meeting", "unea-5");
    assert_eq!(unea5["segments"][0]["status"], "over");
    assert_eq!(unea5["segments"][1]["dates"], "2022-02");
    let brs = row(&m, "meeting", "brs-cops-2021");
    assert_eq!(brs["segments"][1]["dates"], "2022-06");
    assert_eq!(brs["segments"][1]["venue"], "Geneva");
    let iccm5 = row(&m, "meeting", "iccm-5");
    assert_eq!(iccm5["dates"], "2022..");
    assert_eq!(iccm5["status"], "postponed");
    assert_eq!(iccm5["tentative"], true);
    assert_eq!(iccm5["moves"][0]["from"], "2020");
    assert_eq!(iccm5["moves"][0]["to"], "2022..");
    // As of mid-2019, ICCM5 was still planned for 2020 and COP-4 not yet announced.
    let m = a.show("meetings", &["--as-of", "2019-06-30"]);
    assert_eq!(row(&m, "meeting", "iccm-5")["dates"], "2020");
    assert!(m
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["meeting"] != "mc-cop-4"));
    assert_eq!(row(&m, "meeting", "mc-cop-3")["status"], "confirmed");
}

#[test]
fn known_at_sees_only_what_was_recorded() {
    let a = Accord::new();
    let text = std::fs::read_to_string(history()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // The first 30 events, then the rest in a second batch.
    let first = a.record_text(&(lines[..30].join("\n") + "\n"));
    assert_eq!(first.code, 0, "{}", first.stderr);
    let t30 = a.last_recorded_at();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let second = a.record_text(&(lines[30..].join("\n") + "\n"));
    assert_eq!(second.code, 0, "{}", second.stderr);

    let now = a.show("reports", &[]);
    assert_eq!(now.as_array().unwrap().len(), 4);
    // A stream written by both batches reads back whole, in position order.
    let log = a.run(&[
        "log",
        "--stream",
        "group/joint-task-force",
        "--format",
        "json",
    ]);
    let positions: Vec<u64> = log
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["position"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(positions, (1..=10).collect::<Vec<u64>>());
    let then = a.show("reports", &["--known-at", &t30]);
    assert_eq!(
        then.as_array().unwrap().len(),
        1,
        "only the 2019 operative proposal was known"
    );
    let m = a.show("mandates", &["--known-at", &t30]);
    assert_eq!(row(&m, "mandate", "MC-3/11#1")["status"], "active");
    // Both axes together: known at t30, as of 2019-11-01 (before COP-3 adopted MC-3/11).
    let m = a.run(&[
        "show",
        "mandates",
        "--known-at",
        &t30,
        "--as-of",
        "2019-11-01",
    ]);
    assert_eq!(m.code, 1, "nothing found is exit 1: {}", m.stdout);
    // Before anything was recorded.
    let none = a.run(&["show", "meetings", "--known-at", "2000-01-01T00:00:00Z"]);
    assert_eq!(none.code, 1);
    let tl = a.show("timeline", &["--known-at", &t30]);
    assert_eq!(tl.as_array().unwrap().len(), 30);
}

fn all_views(a: &Accord) -> Vec<serde_json::Value> {
    super::helpers::VIEWS
        .iter()
        .map(|w| a.show(w, &[]))
        .collect()
}

#[test]
fn replay_rebuilds_the_same_views() {
    let a = recorded();
    let before = all_views(&a);
    let r = a.run(&["replay"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.starts_with("replayed 64 events in"),
        "{}",
        r.stdout
    );
    let after = all_views(&a);
    assert_eq!(before, after);
}

#[test]
fn tables_fit_the_width_asked_and_print_whole_rows_when_piped() {
    let a = recorded();
    for what in super::helpers::VIEWS {
        // A 100-column terminal: every line fits, no id is cut.
        let fitted: super::helpers::Run = a
            .command()
            .env("COLUMNS", "100")
            .args(["show", what])
            .output()
            .unwrap()
            .into();
        assert_eq!(fitted.code, 0, "{what}: {}", fitted.stderr);
        for line in fitted.stdout.lines() {
            assert!(line.chars().count() <= 100, "{what}: {line}");
        }
        assert!(!fitted.stdout.contains('…'), "{what}: {}", fitted.stdout);
        // Piped: whole rows, as many lines as rows, every id and title in full.
        let piped = a.run(&["show", what]);
        let json = a.run(&["show", what, "--format", "json"]);
        let rows: Vec<serde_json::Value> = serde_json::from_str(&json.stdout).unwrap();
        for row in &rows {
            if let Some(title) = row.get("title").and_then(|t| t.as_str()) {
                assert!(piped.stdout.contains(title), "{what}: {title}");
            }
        }
    }
    let log = a.run(&["log", "--stream", "meeting/mc-cop-4"]);
    assert_eq!(log.code, 0);
    assert_eq!(log.stdout.lines().count(), 3, "{}", log.stdout);
    // --wide prints whole rows on any terminal width.
    let wide: super::helpers::Run = a
        .command()
        .env("COLUMNS", "60")
        .args(["--wide", "show", "meetings"])
        .output()
        .unwrap()
        .into();
    assert!(
        wide.stdout.lines().any(|l| l.chars().count() > 60),
        "{}",
        wide.stdout
    );
}

#[test]
fn filters_by_body_status_and_dates() {
    let a = recorded();
    let ids = |rows: serde_json::Value, key: &str| -> Vec<String> {
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| r[key].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids(a.show("meetings", &["--body", "UNEA"]), "meeting"),
        ["unea-4", "unea-5"]
    );
    assert_eq!(
        ids(
            a.show("meetings", &["--from", "2021-01-01", "--to", "2021-12-31"]),
            "meeting"
        ),
        // A split meeting is dated by its segments: UNEA-5 opened in February 2021, the BRS
        // COPs in July, COP-4 in November.
        ["unea-5", "brs-cops-2021", "mc-cop-4"]
    );
    // Its segments are seen by date and status filters: in March 2022 COP-4's second segment
    // ("early 2022") may sit, and UNEA-5's second segment (February 2022) is over by then.
    assert_eq!(
        ids(
            a.show("meetings", &["--from", "2022-03-01", "--to", "2022-03-31"]),
            "meeting"
        ),
        ["mc-cop-4"]
    );
    assert_eq!(
        ids(a.show("meetings", &["--status", "partly_held"]), "meeting"),
        ["unea-5", "brs-cops-2021"]
    );
    let meetings = a.show("meetings", &[]);
    let brs = super::helpers::row(&meetings, "meeting", "brs-cops-2021");
    assert_eq!(brs["dates"], "2021-07-01/2022-06-30", "spans its segments");
    assert_eq!(brs["status"], "partly_held");
    assert_eq!(
        ids(a.show("meetings", &["--status", "postponed"]), "meeting"),
        ["iccm-5"]
    );
    assert_eq!(
        ids(
            a.show(
                "mandates",
                &["--as-of", "2020-09-01", "--status", "in_progress"]
            ),
            "mandate"
        ),
        ["MC-3/11#1"]
    );
    assert_eq!(
        ids(a.show("decisions", &["--body", "MC"]), "symbol"),
        ["MC-3/11"]
    );
    assert!(a
        .show("decisions", &["--body", "BC"])
        .as_array()
        .unwrap()
        .is_empty());
    let t = a.show("timeline", &["--body", "ICCM"]);
    assert!(
        t.as_array()
            .unwrap()
            .iter()
            .all(|e| e["stream"].as_str().unwrap().contains("iccm")),
        "{t}"
    );
    let r = a.run(&["show", "decisions", "--status", "active"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("`status` does not apply to decisions"),
        "{}",
        r.stderr
    );
}
