//! `accord generate`: a deterministic synthetic history that records cleanly.

use super::helpers::Accord;

#[test]
fn generated_histories_are_deterministic_and_record_cleanly() {
    let a = Accord::new();
    let first = a.run(&["generate", "--events", "3000", "--seed", "7"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(first.stdout.lines().count(), 3000);
    let again = a.run(&["generate", "--events", "3000", "--seed", "7"]);
    assert_eq!(first.stdout, again.stdout, "same seed, same bytes");
    let other = a.run(&["generate", "--events", "3000", "--seed", "8"]);
    assert_ne!(first.stdout, other.stdout);
    let r = a.record_text(&first.stdout);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("3000 recorded, 0 duplicates"),
        "{}",
        r.stderr
    );
    assert_eq!(a.run(&["verify"]).code, 0);
    // Every kind of thing is there, corrections included.
    let types: std::collections::BTreeSet<String> = first
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for t in [
        "MeetingScheduled",
        "MeetingPostponed",
        "MeetingSplit",
        "MeetingHeld",
        "DecisionAdopted",
        "MandateStatusChanged",
        "GroupEstablished",
        "ActivityReported",
        "ReportSubmitted",
        "EventRetracted",
    ] {
        assert!(types.contains(t), "no {t}");
    }
    for what in ["meetings", "decisions", "mandates", "groups", "reports"] {
        assert!(
            !a.show(what, &[]).as_array().unwrap().is_empty(),
            "no {what}"
        );
    }
}
