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
    let csv = a.run(&["evaluate", "--format", "csv"]).stdout;
    assert!(csv.starts_with("indicator,key,value\r\n") && csv.contains("mandates,total.issued,3"));
    let html = a.run(&["evaluate", "--format", "html"]).stdout;
    assert!(html.contains("<svg") && html.contains("Cooperation activities per area and year"));
    assert!(
        html.contains("Mandate status mix at the end of each year")
            && html.contains("Meeting moves, in days")
    );
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "no outside assets"
    );
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
