//! What an operator meets at the command line: a mistyped data directory, a mistyped body or
//! status, a date where an instant is asked, deadlines asked before the first tick, and logs
//! without colour codes when they go to a file.

use super::api::{call, token, Server};
use super::helpers::{history, Accord};

#[test]
fn a_read_command_on_a_directory_without_a_store_says_so_and_creates_nothing() {
    let a = Accord::new();
    let missing = a.dir.path().join("no-such-data");
    for args in [
        &["show", "meetings"][..],
        &["log"][..],
        &["verify"][..],
        &["export"][..],
        &["deadlines"][..],
        &["evaluate"][..],
    ] {
        let r: super::helpers::Run = std::process::Command::new(env!("CARGO_BIN_EXE_accord"))
            .current_dir(a.dir.path())
            .env_remove("ACCORD_DATA")
            .env_remove("ACCORD_STORAGE_URL")
            .arg("--data")
            .arg(&missing)
            .args(args)
            .output()
            .unwrap()
            .into();
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("no store in") && r.stderr.contains("--data"),
            "{args:?}: {}",
            r.stderr
        );
        assert!(!missing.exists(), "{args:?} created {}", missing.display());
    }
}

#[test]
fn unknown_bodies_and_statuses_are_refused_with_the_valid_ones() {
    let a = Accord::new();
    a.record(&history());
    let r = a.run(&["show", "meetings", "--body", "XX"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("body `XX`") && r.stderr.contains("HUB, ICCM, MC, RC, SC, UNEA"),
        "{}",
        r.stderr
    );
    let r = a.run(&["show", "mandates", "--status", "bogus"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("active, in_progress, reported"),
        "{}",
        r.stderr
    );
    // A known body with nothing to show is an empty answer, not an error.
    let r = a.run(&["show", "meetings", "--body", "HUB"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let t = token(&a, "reader", "reader");
    let server = Server::start_with(&a, None);
    for path in [
        "/api/meetings?status=bogus",
        "/api/meetings?body=XX",
        "/api/deadlines?status=late",
    ] {
        let (code, body) = call("GET", &server.url(path), Some(&t), None);
        assert_eq!(code, 400, "{path}: {body}");
        assert!(
            body.contains("they are") || body.contains("the bodies are"),
            "{path}: {body}"
        );
    }
    server.stop();
}

#[test]
fn every_instant_option_takes_a_date() {
    let a = Accord::new();
    a.record(&history());
    let day = a.run(&["show", "meetings", "--known-at", "2030-01-01"]);
    let instant = a.run(&["show", "meetings", "--known-at", "2030-01-01T00:00:00Z"]);
    assert_eq!(day.code, 0, "{}", day.stderr);
    assert_eq!(day.stdout, instant.stdout);
    // Read as days: nothing in that window (exit 1), not a refused option (exit 2).
    let r = a.run(&["reminders", "--from", "2021-01-01", "--to", "2021-02-01"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("nothing found"), "{}", r.stderr);
    let r = a.run(&["show", "meetings", "--known-at", "2021-13-01"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("the start of that day"), "{}", r.stderr);
}

#[test]
fn deadlines_before_the_first_tick_say_to_tick() {
    let a = Accord::new();
    a.record(&history());
    let r = a.run(&["deadlines"]);
    assert_eq!(r.code, 1, "nothing found: {}", r.stderr);
    assert!(r.stderr.contains("run `accord tick`"), "{}", r.stderr);
}

#[test]
fn logs_into_a_file_carry_no_colour_codes() {
    let a = Accord::new();
    a.record(&history());
    let r = a
        .command()
        .env("ACCORD_LOG", "debug")
        .args(["show", "meetings"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("DEBUG"), "debug lines are logged: {err:?}");
    assert!(!err.contains('\u{1b}'), "colour codes in a pipe: {err:?}");
}

#[test]
fn one_item_in_full_at_the_command_line() {
    let a = Accord::new();
    a.record(&history());
    let r = a.run(&["show", "meeting", "mc-cop-4"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for part in [
        "Fourth meeting of the Conference of the Parties to the Minamata Convention (mc-cop-4)",
        "1 November 2021 – 30 April 2022",
        "SEGMENTS",
        "mc-cop-4.2",
        "DOCUMENTS",
        "UNEP/MC/COP.4/INF/17",
        "TRAIL",
        "MeetingSplit",
    ] {
        assert!(r.stdout.contains(part), "{part}: {}", r.stdout);
    }
    let r = a.run(&["show", "decision", "MC-3/11"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("MANDATES") && r.stdout.contains("mc-executive-secretary"),
        "{}",
        r.stdout
    );
    let groups = a.run(&["show", "groups", "--format", "json"]);
    let groups: Vec<serde_json::Value> = serde_json::from_str(&groups.stdout).unwrap();
    let g = groups[0]["group"].as_str().unwrap();
    let r = a.run(&["show", "group", g]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(g), "{}", r.stdout);
    let reports = a.run(&["show", "reports", "--format", "json"]);
    let reports: Vec<serde_json::Value> = serde_json::from_str(&reports.stdout).unwrap();
    let id = reports[0]["report"].as_str().unwrap();
    let r = a.run(&["show", "report", id]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("TRAIL"), "{}", r.stdout);
    let r = a.run(&["show", "meeting", "no-such-meeting"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("no meeting `no-such-meeting`"),
        "{}",
        r.stderr
    );
    let r = a.run(&["show", "mandates", "MC-3/11#1"]);
    assert_eq!(r.code, 2);
}
