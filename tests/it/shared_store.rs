//! One store, every command: while `accord serve` holds a sled store, every other command
//! works through the server's socket, with the same output and exit code as without it; the
//! two it cannot run beside a server (`tick`, a second `serve`) say so in one line.

use super::api::{token, Server};
use super::helpers::{history, Accord, Run};

/// The commands checked, with arguments; their output must not depend on the clock.
const READS: &[&[&str]] = &[
    &["show", "meetings"],
    &["show", "decisions"],
    &["show", "mandates", "--as-of", "2020-09-01"],
    &["show", "groups"],
    &["show", "reports", "--format", "json"],
    &["show", "activities"],
    &["show", "timeline", "--format", "csv"],
    &["log", "--stream", "meeting/iccm-5"],
    &["log", "--format", "json"],
    &["export"],
    &["verify"],
    &["check"],
    &["evaluate", "--format", "json"],
    &["deadlines", "--as-of", "2021-09-20"],
    &[
        "reminders",
        "--from",
        "2021-01-01T00:00:00Z",
        "--to",
        "2021-02-01T00:00:00Z",
    ],
    &["show", "meetings", "--body", "XX"],
];

fn outputs(a: &Accord, cfg: &str) -> Vec<(String, Run)> {
    READS
        .iter()
        .map(|args| {
            let mut full = vec!["--config", cfg];
            full.extend_from_slice(args);
            (args.join(" "), a.run(&full))
        })
        .collect()
}

#[test]
fn every_command_works_while_serve_holds_the_store() {
    let a = Accord::new();
    a.record(&history());
    let _t = token(&a, "officer", "reader");
    // No workflows: the server's scheduler records nothing, so the log stays put.
    let server = Server::start_with(&a, None);
    let cfg = a.dir.path().join("accord-127-0-0-1-0.toml");
    let cfg = cfg.to_str().unwrap();
    let during = outputs(&a, cfg);
    assert_eq!(server.stop(), Some(0));
    assert!(
        !a.data().join("accord.sock").exists(),
        "the socket goes with the server"
    );
    // Without the server: the same answers and exit codes, byte for byte.
    let alone = outputs(&a, cfg);
    for ((what, d), (_, s)) in during.iter().zip(&alone) {
        assert_eq!(d.code, s.code, "{what}: {} / {}", d.stderr, s.stderr);
        assert_eq!(d.stdout, s.stdout, "{what}");
        assert_eq!(d.stderr, s.stderr, "{what}");
    }
    assert!(during
        .iter()
        .any(|(w, r)| w == "verify" && r.stdout.contains("64 records")));
    assert!(during
        .iter()
        .any(|(w, r)| w.contains("--body XX") && r.code == 2));
    let server = Server::start_with(&a, None);
    // Writes go through too: a batch recorded, a duplicate, a refused line (exit 2, nothing
    // written), replay.
    let rec = a.run(&["--config", cfg, "record", history().to_str().unwrap()]);
    assert_eq!(rec.code, 0, "{}", rec.stderr);
    assert!(
        rec.stderr.contains("0 recorded, 64 duplicates"),
        "{}",
        rec.stderr
    );
    let refused = a.run_stdin(
        &["--config", cfg, "record", "-"],
        r#"{"type":"MeetingHeld","occurred":"2021-11","actor":"t","data":{"meeting":"no-such-meeting","dates":"2021-11-01"}}"#,
    );
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("no-such-meeting"),
        "{}",
        refused.stderr
    );
    let replay = a.run(&["--config", cfg, "replay"]);
    assert_eq!(replay.code, 0, "{}", replay.stderr);
    // What a server does itself is not run beside it: one plain line, exit 2.
    for args in [&["tick"][..], &["serve", "--listen", "127.0.0.1:0"][..]] {
        let mut full = vec!["--config", cfg];
        full.extend_from_slice(args);
        let r = a.run(&full);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("accord serve is running on this store")
                && r.stderr.lines().count() == 1,
            "{args:?}: {}",
            r.stderr
        );
    }
    // A new record through the socket is in the log the server answers from.
    let new = a.run_stdin(
        &["--config", cfg, "record", "-"],
        r#"{"type":"MeetingScheduled","occurred":"2026-01","actor":"t","data":{"meeting":"cbd-cop-17","body":"HUB","kind":"cop","title":"Recorded beside the server","dates":"2026-10"}}"#,
    );
    assert_eq!(new.code, 0, "{}", new.stderr);
    let (_, meetings) = super::api::call(
        "GET",
        &server.url("/api/meetings?q=beside"),
        Some(&_t),
        None,
    );
    assert!(meetings.contains("cbd-cop-17"), "{meetings}");
    assert_eq!(server.stop(), Some(0));
}
