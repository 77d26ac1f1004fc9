//! The tamper-evident chain: independent verification of an export, and detection of a
//! one-byte change.

use super::helpers::{have, history, root, Accord};

/// The Python check printed in README.md, run as it stands there.
fn readme_python() -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let start = readme
        .find("```python\n")
        .expect("README has a python block")
        + "```python\n".len();
    let end = readme[start..].find("```").expect("closed block") + start;
    readme[start..end].to_string()
}

#[test]
fn python_verifies_an_export_independently() {
    if !have("python3") {
        println!("SKIPPED python_verifies_an_export_independently: python3 is not installed here");
        return;
    }
    let a = Accord::new();
    a.record(&history());
    let export = a.dir.path().join("export.jsonl");
    std::fs::write(&export, a.export()).unwrap();
    let script = a.dir.path().join("verify.py");
    std::fs::write(&script, readme_python()).unwrap();
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(&export)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("64 records verify"), "{stdout}");

    // The same script catches an altered record.
    let text = std::fs::read_to_string(&export).unwrap();
    std::fs::write(&export, text.replacen("Geneva", "Genova", 1)).unwrap();
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(&export)
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn one_byte_changed_names_the_seq() {
    let a = Accord::new();
    a.record(&history());
    let export = a.export();
    let path = a.dir.path().join("export.jsonl");
    std::fs::write(&path, &export).unwrap();
    let ok = a.run(&["verify", "--file", path.to_str().unwrap()]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(ok.stdout.contains("64 records"));
    // Change one byte in the record of seq 27, in several ways.
    let lines: Vec<&str> = export.lines().collect();
    let target = lines[26];
    let at = target.find("\"title\":\"").expect("a title") + 9;
    let variants = [
        (at, b'Z'),                                            // a letter of the data
        (target.find("\"seq\":27").unwrap() + 7, b'8'),        // the seq
        (target.find("\"prev_hash\":\"").unwrap() + 13, b'f'), // the link
        (1, b'X'),                                             // breaks the JSON itself
    ];
    for (i, (pos, byte)) in variants.into_iter().enumerate() {
        let mut bytes = target.as_bytes().to_vec();
        if bytes[pos] == byte {
            continue;
        }
        bytes[pos] = byte;
        let mut changed: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        changed[26] = String::from_utf8(bytes).unwrap();
        std::fs::write(&path, changed.join("\n") + "\n").unwrap();
        let r = a.run(&["verify", "--file", path.to_str().unwrap()]);
        assert_eq!(r.code, 1, "variant {i}: {}", r.stdout);
        assert!(
            r.stderr.contains("first bad seq 27"),
            "variant {i}: {}",
            r.stderr
        );
    }
}

#[test]
fn export_import_round_trip_keeps_hashes() {
    let a = Accord::new();
    a.record(&history());
    let export = a.export();
    let path = a.dir.path().join("export.jsonl");
    std::fs::write(&path, &export).unwrap();
    let b = Accord::new();
    let r = b.run(&["import", path.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(b.export(), export);
    // A second import of the same file does not chain on: refused, nothing written.
    let r = b.run(&["import", path.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("expected seq 65, found seq 1"),
        "{}",
        r.stderr
    );
    assert_eq!(b.export(), export);
    // A broken export is refused whole, or its intact prefix rescued.
    std::fs::write(&path, export.replacen("Nairobi", "Nairobj", 1)).unwrap();
    let c = Accord::new();
    let r = c.run(&["import", path.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("refused"), "{}", r.stderr);
    assert_eq!(c.last_seq(), 0);
    let r = c.run(&["import", "--intact-prefix", path.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    let n = c.last_seq();
    assert!(n > 0 && n < 64, "prefix of {n}");
    assert_eq!(
        c.export(),
        export
            .lines()
            .take(n as usize)
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    );
}

#[test]
fn verify_anchors_whole_exports_at_seq_1() {
    let a = Accord::new();
    a.record(&history());
    let export = a.export();
    let path = a.dir.path().join("export.jsonl");
    // The first three records cut off: refused as a whole export, accepted as a partial one.
    std::fs::write(
        &path,
        export
            .lines()
            .skip(3)
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
    )
    .unwrap();
    let r = a.run(&["verify", "--file", path.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("first bad seq 1: expected seq 1, found seq 4"),
        "{}",
        r.stderr
    );
    let r = a.run(&["verify", "--partial", "--file", path.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The first record altered.
    std::fs::write(&path, export.replacen("\"seq\":1,", "\"seq\":7,", 1)).unwrap();
    let r = a.run(&["verify", "--file", path.to_str().unwrap()]);
    assert!(r.stderr.contains("first bad seq 1"), "{}", r.stderr);
}

/// Re-seals a list of records into a valid chain after a test altered them.
fn reseal(mut records: Vec<accord::envelope::Envelope>) -> String {
    let mut prev = accord::envelope::ZERO_HASH.to_string();
    let mut out = String::new();
    for r in &mut records {
        r.prev_hash = prev;
        r.seal();
        prev = r.hash.clone();
        out.push_str(&r.to_canonical());
        out.push('\n');
    }
    out
}

/// The records of `a`'s export, parsed.
fn exported_records(a: &Accord) -> Vec<accord::envelope::Envelope> {
    a.export()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn import_refuses_a_well_chained_export_with_bad_content() {
    let a = Accord::new();
    a.record(&history());
    let records = exported_records(&a);
    type Alter = fn(&mut Vec<accord::envelope::Envelope>);
    let cases: [(&str, Alter, &str); 5] = [
        (
            "duplicate id",
            |r| r[1].id = r[0].id.clone(),
            "id `seed-001` is already recorded",
        ),
        (
            "bad recorded_at",
            |r| r[1].recorded_at = "not a time".into(),
            "recorded_at `not a time` is not an RFC 3339",
        ),
        (
            "recorded_at going back",
            |r| r[1].recorded_at = "2001-01-01T00:00:00.000000Z".into(),
            "earlier than the previous record's",
        ),
        (
            "wrong stream",
            |r| r[1].stream = "corrections".into(),
            "belongs to stream `meeting/hub-entities-2018-07`",
        ),
        (
            "retraction of a later seq",
            |r| {
                r[1].ty = "EventRetracted".into();
                r[1].stream = "corrections".into();
                r[1].data = serde_json::json!({"seq": 66, "reason": "x"});
            },
            "no event with seq 66 to correct",
        ),
    ];
    for (name, alter, expect) in cases {
        let mut altered = records.clone();
        alter(&mut altered);
        let path = a.dir.path().join("altered.jsonl");
        std::fs::write(&path, reseal(altered)).unwrap();
        let b = Accord::new();
        let r = b.run(&["import", path.to_str().unwrap()]);
        assert!(r.code == 1 || r.code == 2, "{name}: {}", r.stderr);
        assert!(r.stderr.contains(expect), "{name}: {}", r.stderr);
        assert_eq!(b.last_seq(), 0, "{name}: something was imported");
    }
}

/// A store whose clock ran ahead and was set back holds instants after the machine's clock:
/// `import` refuses them unless told (a plausibility check on files from elsewhere), `migrate`
/// copies the store as it is, and new records never go back in time after them.
#[test]
fn a_log_recorded_ahead_of_the_clock_imports_when_told_and_migrates() {
    let a = Accord::new();
    a.record(&history());
    let records: Vec<accord::envelope::Envelope> = exported_records(&a)
        .into_iter()
        .enumerate()
        .map(|(i, mut r)| {
            r.recorded_at = format!("2099-01-01T00:00:{:02}.000000Z", i.min(59));
            r
        })
        .collect();
    let ahead = reseal(records);
    let path = a.dir.path().join("ahead.jsonl");
    std::fs::write(&path, &ahead).unwrap();

    let b = Accord::new();
    let r = b.run(&["import", path.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("ahead of this machine's clock") && r.stderr.contains("--accept-future"),
        "{}",
        r.stderr
    );
    assert_eq!(b.last_seq(), 0, "a refused import wrote something");

    let r = b.run(&["import", "--accept-future", path.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(b.export(), ahead, "imported as exported");

    // A copy of the store to another store needs no flag: it is the store as it is.
    let target = b.dir.path().join("copy");
    let r = b.run(&["migrate", "--to", target.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let c = std::process::Command::new(env!("CARGO_BIN_EXE_accord"))
        .arg("--data")
        .arg(&target)
        .arg("export")
        .env_remove("ACCORD_STORAGE_URL")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&c.stdout) == ahead,
        "the copy differs: {}",
        String::from_utf8_lossy(&c.stderr)
    );

    // New records after them keep `recorded_at` from going back.
    let line = r#"{"id":"after-the-clock","type":"MeetingHeld","occurred":"2021-07-29","actor":"t","data":{"meeting":"mc-cop-4","segment":"mc-cop-4.1","dates":"2021-07-29"}}"#;
    let r = b.record_text(&format!("{line}\n"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let last: serde_json::Value = serde_json::from_str(b.export().lines().last().unwrap()).unwrap();
    assert!(
        last["recorded_at"].as_str().unwrap() >= "2099-01-01T00:00:59.000000Z",
        "{last}"
    );
    assert_eq!(b.run(&["verify"]).code, 0);
}

/// On a terminal, `verify` and `replay` show a progress bar with a whole-number rate; off a
/// terminal (a pipe, a log file) they show none.
#[test]
fn long_commands_show_progress_on_a_terminal_only() {
    if !super::helpers::have_script() {
        eprintln!("SKIPPED long_commands_show_progress_on_a_terminal_only: `script` (util-linux) is not installed");
        return;
    }
    // Long enough for the bar to redraw with a measured rate.
    let a = Accord::new();
    let generated = a.run(&["generate", "--events", "40000"]);
    assert_eq!(generated.code, 0, "{}", generated.stderr);
    assert_eq!(a.record_text(&generated.stdout).code, 0);
    for (cmd, what) in [("verify", "verifying"), ("replay", "replaying")] {
        let line = format!(
            "{} --data {} {cmd}",
            env!("CARGO_BIN_EXE_accord"),
            a.data().display()
        );
        let out = std::process::Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .env_remove("ACCORD_DATA")
            .env_remove("ACCORD_CONFIG")
            .env_remove("ACCORD_STORAGE_URL")
            .output()
            .unwrap();
        assert!(out.status.success(), "{cmd} under script: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        let frames: Vec<&str> = text
            .split(['\r', '\n'])
            .filter(|l| l.contains(&format!("{what} [")) && l.contains("/s, eta"))
            .collect();
        assert!(
            frames.len() > 1,
            "{cmd} drew {} frames on a terminal: {text:?}",
            frames.len()
        );
        for bar in &frames {
            let rate = bar
                .split(" events (")
                .nth(1)
                .unwrap()
                .split("/s")
                .next()
                .unwrap();
            assert!(
                !rate.is_empty() && rate.chars().all(|c| c.is_ascii_digit()),
                "{cmd}: rate {rate:?} in {bar:?}"
            );
        }
        assert!(
            frames.iter().any(|b| !b.contains(" (0/s")),
            "{cmd} never showed a measured rate: {frames:?}"
        );
        let piped = a.run(&[cmd]);
        assert_eq!(piped.code, 0, "{}", piped.stderr);
        assert!(
            !piped.stderr.contains(&format!("{what} [")),
            "{cmd} drew a bar off a terminal: {}",
            piped.stderr
        );
    }
}
