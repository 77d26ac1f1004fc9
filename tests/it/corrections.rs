//! Corrections: nothing is changed in place; retractions and amendments are new events that
//! projections apply, and the trail keeps both.

use super::helpers::{history, row, Accord};

#[test]
fn retract_and_amend() {
    let a = Accord::new();
    a.record(&history());
    let export = a.export();
    let seq_of = |id: &str| -> u64 {
        export
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| v["id"] == id)
            .unwrap()["seq"]
            .as_u64()
            .unwrap()
    };
    let endorsed = seq_of("seed-054");
    let agreement = seq_of("seed-058");
    let before_correction = a.last_recorded_at();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let corrections = format!(
        "{}\n{}\n",
        format_args!(
            r#"{{"type":"EventRetracted","occurred":"2021-04","actor":"auditor","data":{{"seq":{endorsed},"reason":"recorded against the wrong report"}}}}"#
        ),
        format_args!(
            r#"{{"type":"EventAmended","occurred":"2021-08","actor":"auditor","data":{{"seq":{agreement},"reason":"budget omitted","data":{{"agreement":"mc-brs-services-cop4","title":"Cooperation agreement on services for COP-4","parties":["mc_secretariat","brs_secretariat"],"budget":{{"amount":"250000","currency":"USD"}},"for_meeting":"mc-cop-4"}}}}}}"#
        ),
    );
    let r = a.record_text(&corrections);
    assert_eq!(r.code, 0, "{}", r.stderr);

    let reports = a.show("reports", &[]);
    let tf = row(&reports, "report", "joint-task-force-report");
    assert!(
        tf.get("endorsed").is_none(),
        "the endorsement was retracted: {tf}"
    );
    let ag = a.show("agreements", &[]);
    let ag = row(&ag, "agreement", "mc-brs-services-cop4");
    assert_eq!(ag["budget"]["amount"], "250000");
    assert_eq!(ag["title"], "Cooperation agreement on services for COP-4");

    // As known before the corrections, the original facts stand.
    let t = before_correction;
    let reports = a.show("reports", &["--known-at", &t]);
    assert_eq!(
        row(&reports, "report", "joint-task-force-report")["endorsed"]["on"],
        "2021-03"
    );

    // The trail keeps both: the original and its correction.
    let log = a.run(&["log", "--stream", "corrections"]);
    assert!(
        log.stdout.contains(&format!("seq {endorsed} retracted")),
        "{}",
        log.stdout
    );
    assert_eq!(a.run(&["verify"]).code, 0);
    assert_eq!(
        a.export().lines().nth(endorsed as usize - 1),
        export.lines().nth(endorsed as usize - 1)
    );

    // An amendment must fit the amended event's type.
    let bad = format!(
        r#"{{"type":"EventAmended","occurred":"2021-08","actor":"auditor","data":{{"seq":{agreement},"reason":"x","data":{{"meeting":"mc-cop-4"}}}}}}"#
    );
    let r = a.record_text(&bad);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("the amended data is not a valid AgreementSigned"),
        "{}",
        r.stderr
    );
}

#[test]
fn snapshots_never_show_a_correction_before_it_was_recorded() {
    let a = Accord::new();
    a.record(&history());
    // Enough events for a snapshot, so that later queries start from stored states.
    let mut bulk = String::new();
    for i in 0..10_050 {
        bulk.push_str(&format!(
            r#"{{"id":"bulk-{i}","type":"ActivityReported","occurred":"2021-05","actor":"load","data":{{"activity":"bulk-{i}","group":"joint-task-force","title":"Activity {i}"}}}}"#
        ));
        bulk.push('\n');
    }
    assert_eq!(a.record_text(&bulk).code, 0);
    let t = a.last_recorded_at();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let retract = r#"{"type":"EventRetracted","occurred":"2021-04","actor":"auditor","data":{"seq":54,"reason":"wrong report"}}"#;
    assert_eq!(a.record_text(retract).code, 0);
    let endorsed_at_t = |a: &Accord| {
        let r = a.show("reports", &["--known-at", &t]);
        row(&r, "report", "joint-task-force-report")["status"].clone()
    };
    assert_eq!(endorsed_at_t(&a), "endorsed");
    // A current query folds past the retraction and stores states; known-at T must not change.
    let now = a.show("reports", &[]);
    assert_eq!(
        row(&now, "report", "joint-task-force-report")["status"],
        "drafted"
    );
    assert_eq!(endorsed_at_t(&a), "endorsed");
    assert_eq!(a.run(&["replay"]).code, 0);
    assert_eq!(endorsed_at_t(&a), "endorsed");
}
