//! Bad input: every case exits 2, names the line and field, and leaves the log as it was.

use super::helpers::{history, meeting_line, Accord};

pub const GOOD: &str = r#"{"id":"ok-1","type":"MeetingScheduled","occurred":"2021-03","actor":"tester","data":{"meeting":"mc-cop-9","body":"MC","kind":"cop","title":"Ninth meeting","dates":"2031-11"}}"#;

fn decision(adopted: &str, extra: &str) -> String {
    format!(
        r#"{{"type":"DecisionAdopted","occurred":"2019-11-29","actor":"tester","data":{{"symbol":"MC-9/1","meeting":"mc-cop-3","title":"T","adopted":"{adopted}"{extra}}}}}"#
    )
}

/// The bad inputs of a batch recorded on top of the shipped history: (name, input, what the
/// refusal says). Shared by the command line and the HTTP API tests.
pub fn cases() -> Vec<(&'static str, String, &'static str)> {
    let long = format!(
        r#"{{"type":"ReportDrafted","occurred":"2021","actor":"tester","data":{{"report":"r","title":"{}","by":["x"]}}}}"#,
        "x".repeat(300 * 1024)
    );
    vec![
        ("malformed JSON", format!("{GOOD}\n{{\"type\": \"MeetingScheduled\",\n"), "line 2: json"),
        (
            "unknown type",
            format!("{GOOD}\n{}", GOOD.replace("MeetingScheduled", "MeetingTeleported")),
            "line 2: type: unknown event type `MeetingTeleported`",
        ),
        (
            "missing field",
            format!("{GOOD}\n{}", GOOD.replace(r#""title":"Ninth meeting","#, "")),
            "line 2: data: missing field `title`",
        ),
        (
            "mistyped field",
            format!("{GOOD}\n{}", GOOD.replace(r#""dates":"2031-11""#, r#""dates":2031"#)),
            "line 2: data.dates:",
        ),
        (
            "unknown field",
            format!("{GOOD}\n{}", GOOD.replace(r#""body":"MC","#, r#""body":"MC","colour":"red","#)),
            "line 2: data.colour: unknown field `colour`",
        ),
        (
            "impossible occurred date",
            format!("{GOOD}\n{}", GOOD.replace(r#""occurred":"2021-03""#, r#""occurred":"2021-02-30""#)),
            "line 2: occurred: invalid date `2021-02-30`",
        ),
        (
            "impossible date in data",
            format!("{GOOD}\n{}", decision("2019-02-29", "")),
            "line 2: data.adopted: invalid date `2019-02-29`",
        ),
        (
            "float",
            format!("{GOOD}\n{}", decision("2019-11-29", r#","budget":1.5"#)),
            "line 2: data.budget: numbers must be integers",
        ),
        ("oversized line", format!("{GOOD}\n{long}"), "line 2: line: 307"),
        (
            "wrong expected position",
            format!(
                "{GOOD}\n{}",
                meeting_line("x-1", "mc-cop-4").replace(r#""actor""#, r#""expected_position":0,"actor""#)
            ),
            "line 2: expected_position: stream `meeting/mc-cop-4` is at position 2, expected 0; nothing recorded",
        ),
        ("empty file", String::new(), "the batch is empty"),
        ("blank lines only", "\n\n  \n".to_string(), "the batch is empty"),
        (
            "wrong stream",
            format!("{GOOD}\n{}", GOOD.replace(r#""actor""#, r#""stream":"meeting/other","actor""#)),
            "line 2: stream: this event belongs to stream `meeting/mc-cop-9`",
        ),
        (
            "retracting a seq that does not exist",
            format!(
                "{GOOD}\n{}",
                r#"{"type":"EventRetracted","occurred":"2021","actor":"t","data":{"seq":999,"reason":"typo"}}"#
            ),
            "line 2: data.seq: no event with seq 999 to correct",
        ),
        (
            "missing actor",
            format!("{GOOD}\n{}", GOOD.replace(r#""actor":"tester","#, "")),
            "line 2: event: missing field `actor`",
        ),
        (
            "mistyped expected_position",
            format!("{GOOD}\n{}", GOOD.replace(r#""actor""#, r#""expected_position":"one","actor""#)),
            "line 2: expected_position:",
        ),
        (
            "amendment with a bad field",
            format!(
                "{GOOD}\n{}",
                r#"{"type":"EventAmended","occurred":"2021","actor":"t","data":{"seq":58,"reason":"r","data":{"agreement":"x","title":"t","parties":[],"signed":1}}}"#
            ),
            "line 2: the amended data is not a valid AgreementSigned: field `data.data.signed`",
        ),
        (
            "not an object",
            format!("{GOOD}\n[1,2]"),
            "line 2: event: expected a JSON object",
        ),
        // Operator mistakes the life-cycle rules refuse (events/lifecycles.md).
        (
            "held at a segment that does not exist",
            format!("{GOOD}\n{}", held(r#""meeting":"mc-cop-4","segment":"mc-cop-4.3""#)),
            "line 2: data.segment: `mc-cop-4` has no segment `mc-cop-4.3`",
        ),
        (
            "held at another meeting's segment",
            format!("{GOOD}\n{}", held(r#""meeting":"unea-5","segment":"mc-cop-4.2""#)),
            "line 2: data.segment: `mc-cop-4.2` is a segment of `mc-cop-4`, not of `unea-5`",
        ),
        (
            "a typo'd meeting id",
            format!("{GOOD}\n{}", held(r#""meeting":"mc-cop-33""#)),
            "line 2: data.meeting: no meeting `mc-cop-33` in the log",
        ),
        (
            "a meeting scheduled twice",
            format!("{GOOD}\n{}", GOOD.replace("ok-1", "ok-2").replace("mc-cop-9", "mc-cop-3")),
            "line 2: data.meeting: `mc-cop-3` is already scheduled: record MeetingRescheduled",
        ),
        (
            "a recorded id with other content",
            format!("{GOOD}\n{}", GOOD.replace("ok-1", "seed-001")),
            "line 2: id: `seed-001` is already recorded at seq 1 with other content (give a new id, or correct seq 1 with EventAmended); nothing recorded",
        ),
        (
            "a paragraph the decision does not have",
            format!(
                "{GOOD}\n{}",
                r#"{"type":"MandateStatusChanged","occurred":"2021","actor":"t","data":{"decision":"MC-3/11","paragraph":"9","status":"reported"}}"#
            ),
            "line 2: data.paragraph: decision `MC-3/11` has no paragraph `9`",
        ),
        (
            "a change after a cancellation",
            format!(
                "{GOOD}\n{}\n{}",
                r#"{"type":"MeetingCancelled","occurred":"2021-04","actor":"t","data":{"meeting":"mc-cop-9"}}"#,
                r#"{"type":"MeetingRescheduled","occurred":"2021-05","actor":"t","data":{"meeting":"mc-cop-9","dates":"2032"}}"#
            ),
            "line 3: type: `mc-cop-9` was cancelled: only a correction",
        ),
    ]
}

/// A `MeetingHeld` with these data members before its dates.
fn held(members: &str) -> String {
    format!(
        r#"{{"type":"MeetingHeld","occurred":"2022-03","actor":"t","data":{{{members},"dates":"2022-03"}}}}"#
    )
}

#[test]
fn each_bad_input_is_refused_whole() {
    let a = Accord::new();
    a.record(&history());
    let before = a.export();
    let cases = cases();
    let mut failed = Vec::new();
    let mut not_utf8 = GOOD.as_bytes().to_vec();
    not_utf8.extend_from_slice(b"\n{\"type\":\"\xff\"}\n");
    let r = a.record_text(&String::from_utf8_lossy(&not_utf8));
    assert_eq!(r.code, 2);
    let file = a.dir.path().join("latin1.jsonl");
    std::fs::write(&file, &not_utf8).unwrap();
    let r = a.run(&["record", file.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("line 2: not UTF-8"), "{}", r.stderr);
    for (name, input, expect) in &cases {
        let r = a.record_text(input);
        if r.code != 2 || !r.stderr.contains(expect) {
            failed.push(format!(
                "{name}: exit {} stderr {:?}",
                r.code,
                r.stderr.chars().take(300).collect::<String>()
            ));
        }
        assert_eq!(a.export(), before, "{name}: the log changed");
    }
    assert!(
        failed.is_empty(),
        "cases not refused as expected:\n{}",
        failed.join("\n")
    );
    println!("bad input: {} cases refused, log unchanged", cases.len());
}

#[test]
fn bad_file_and_usage() {
    let a = Accord::new();
    let r = a.run(&["record", "/nonexistent/file.jsonl"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("/nonexistent/file.jsonl: cannot read"),
        "{}",
        r.stderr
    );
    let r = a.run(&["show", "meetings", "--as-of", "2021-02-30"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no such day"), "{}", r.stderr);
    let r = a.run(&["show", "meetings", "--known-at", "yesterday"]);
    assert_eq!(r.code, 2);
    let r = a.run(&["frobnicate"]);
    assert_eq!(r.code, 2);
    std::fs::write(a.dir.path().join("bad.toml"), "[storage]\nbogus = 1\n").unwrap();
    let r = a.run(&["--config", "bad.toml", "show", "meetings"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("bad.toml: line 2: unknown field `bogus`"),
        "{}",
        r.stderr
    );
}

#[test]
fn expected_positions_and_duplicates_within_a_batch() {
    let a = Accord::new();
    let first =
        meeting_line("m-1", "mc-cop-7").replace(r#""actor""#, r#""expected_position":0,"actor""#);
    let second = r#"{"id":"m-2","type":"MeetingPostponed","occurred":"2021-05","actor":"t","expected_position":1,"data":{"meeting":"mc-cop-7","dates":"2022"}}"#;
    let r = a.record_text(&format!("{first}\n{second}\n{first}\n"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("2 recorded, 1 duplicates"),
        "{}",
        r.stderr
    );
    // Same position again: a conflict.
    let again = second.replace("m-2", "m-3");
    let r = a.record_text(&again);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains(
            "line 1: expected_position: stream `meeting/mc-cop-7` is at position 2, expected 1"
        ),
        "{}",
        r.stderr
    );
    assert_eq!(a.last_seq(), 2);
}

/// `accord … | head -1`: the reader goes away, and the command stops quietly, without a panic.
#[test]
fn a_closed_pipe_stops_output_quietly() {
    use std::io::BufRead;
    let a = Accord::new();
    let generated = a.run(&["generate", "--events", "3000"]);
    assert_eq!(generated.code, 0);
    let r = a.record_text(&generated.stdout);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for args in [
        &["export"][..],
        &["log"],
        &["show", "timeline", "--format", "csv"],
        &["generate", "--events", "20000"],
    ] {
        let mut child = a
            .command()
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(!first.is_empty(), "{args:?}: no output");
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.trim().is_empty(),
            "{args:?}: a closed pipe is no error to report: {stderr}"
        );
        assert_ne!(out.status.code(), Some(101), "{args:?}: {stderr}");
    }
}
