//! Upgrades: golden stores written by an earlier schema version open, read through upcasting
//! and still verify, on both backends; upcasting never rewrites a stored byte.
//!
//! Each fixture under `tests/fixtures/` was written by an earlier build: `data/` is its data
//! directory (the shipped history recorded, then a tick of the shipped workflows at
//! 2021-09-20T08:00:00Z), `export.jsonl` its export, and `views/*.json` what that build answered
//! to `accord show VIEW --format json --as-of 2025-01-01`.
//!
//! Both sled stores are of earlier store formats, converted to the current one when opened.
//!
//! - `schema-v1/`: sled store format 2, `CoChairsAppointed` at schema version 1 (co-chairs as
//!   bare officer ids; the current version 2 adds each co-chair's entity).
//! - `sled-format-1/`: sled store format 1 (uncompressed chunks and snapshots), from the build
//!   before LZ4, with the same version-1 events.

use std::path::{Path, PathBuf};

use super::helpers::{pg_schema, root, Accord, VIEWS};

const FIXTURES: &[&str] = &["schema-v1", "sled-format-1"];

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// An `Accord` over a copy of the golden sled store (opening a store may write to its files).
fn golden_sled(name: &str) -> Accord {
    let a = Accord::new();
    copy_dir(&fixture(name).join("data"), &a.data());
    a
}

fn golden_export(name: &str) -> String {
    std::fs::read_to_string(fixture(name).join("export.jsonl")).unwrap()
}

/// How this build answers differently from the earlier one, on purpose: a split meeting's own
/// dates span its segments and its status is derived from theirs (the earlier build kept the
/// plan from before the split), so the meetings listing also orders them by those dates.
/// (meeting, dates, status) as of 2025-01-01.
const SPLIT_ROWS_DERIVED: &[(&str, &str, &str)] = &[
    ("unea-5", "2021-02-01/2022-02-28", "partly_held"),
    ("brs-cops-2021", "2021-07-01/2022-06-30", "partly_held"),
    ("mc-cop-4", "2021-11-01/2022-04-30", "tentative"),
];

/// The views as the earlier build answered them, but for [`SPLIT_ROWS_DERIVED`].
fn assert_views_as_before(a: &Accord, name: &str, label: &str) {
    for view in VIEWS {
        let mut before: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(fixture(name).join(format!("views/{view}.json"))).unwrap(),
        )
        .unwrap();
        let now = a.show(view, &["--as-of", "2025-01-01"]);
        if *view == "meetings" {
            let rows = before.as_array_mut().unwrap();
            for (id, dates, status) in SPLIT_ROWS_DERIVED {
                let row = rows.iter_mut().find(|r| r["meeting"] == *id).unwrap();
                assert_ne!(row["dates"], *dates, "{id} was not derived before");
                row["dates"] = (*dates).into();
                row["status"] = (*status).into();
            }
            rows.sort_by_key(|r| {
                let d = r["dates"].as_str().unwrap().to_string();
                let start = d.parse::<accord::domain::ApproxDate>().unwrap().start();
                (start, r["meeting"].as_str().unwrap().to_string())
            });
        }
        assert_eq!(
            now, before,
            "{name} on {label}: `show {view}` differs from the earlier build's answer"
        );
    }
}

fn v1_records(export: &str) -> Vec<serde_json::Value> {
    export
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["type"] == "CoChairsAppointed" && r["version"] == 1)
        .collect()
}

#[test]
fn golden_sled_stores_open_read_and_verify() {
    for name in FIXTURES {
        golden_sled_store(name);
    }
}

fn golden_sled_store(name: &str) {
    let golden = golden_export(name);
    let old = v1_records(&golden);
    assert!(
        !old.is_empty() && old[0]["data"]["co_chairs"][0].is_string(),
        "the fixture holds version-1 records"
    );
    let a = golden_sled(name);
    let v = a.run(&["verify"]);
    assert_eq!(
        v.code, 0,
        "the old store verifies: {} {}",
        v.stdout, v.stderr
    );
    assert_eq!(
        a.export(),
        golden,
        "the old store exports its bytes unchanged"
    );
    assert_views_as_before(&a, name, "sled");
    // Written before the life-cycle rules, it keeps them all.
    let check = a.run(&["check"]);
    assert_eq!(check.code, 0, "{name}: {}", check.stdout);

    // Replaying (which decodes every record, upcasting the old ones) rewrites nothing.
    assert_eq!(a.run(&["replay"]).code, 0);
    assert_eq!(a.export(), golden, "replay rewrote stored bytes");

    // The old store takes new records at the current version; the old ones stay as they were.
    let line = r#"{"id":"upgrade-1","type":"CoChairsAppointed","occurred":"2022-02","actor":"t","data":{"group":"joint-task-force","co_chairs":[{"officer":"new-co-chair-mc","entity":"mc_secretariat"},{"officer":"new-co-chair-brs","entity":"brs_secretariat"}]}}"#;
    let r = a.record_text(&format!("{line}\n"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let after = a.export();
    assert!(
        after.starts_with(&golden),
        "appending changed earlier records"
    );
    let last: serde_json::Value = serde_json::from_str(after.lines().last().unwrap()).unwrap();
    assert_eq!(last["version"], 2);
    // The store was converted to the current format when first opened: its stream positions
    // and ids are found in the index it wrote.
    let stream_before = golden
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["stream"] == last["stream"])
        .map(|r| r["position"].as_u64().unwrap())
        .max()
        .expect("the task force's stream holds earlier events");
    assert_eq!(last["position"].as_u64(), Some(stream_before + 1));
    let old_id = old[0]["id"].as_str().unwrap();
    let reused = line.replace("upgrade-1", old_id);
    let r = a.record_text(&format!("{reused}\n"));
    assert_eq!(r.code, 2, "{name}: an old id given again: {}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("already recorded at seq {}", old[0]["seq"])),
        "{}",
        r.stderr
    );
    assert_eq!(a.run(&["verify"]).code, 0);
    let groups = a.show("groups", &[]);
    let tf = groups
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == "joint-task-force")
        .expect("the task force");
    assert_eq!(
        tf["co_chairs"],
        serde_json::json!(["new-co-chair-mc", "new-co-chair-brs"])
    );
    println!(
        "upgrades: golden sled store {name} of {} records ({} at CoChairsAppointed v1) verifies, reads as before, {} views equal",
        golden.lines().count(),
        old.len(),
        VIEWS.len()
    );
}

#[test]
fn golden_exports_import_into_both_backends() {
    for name in FIXTURES {
        golden_export_imports(name);
    }
}

fn golden_export_imports(name: &str) {
    let golden = golden_export(name);
    let file = fixture(name).join("export.jsonl");
    let mut backends = vec![("sled", Accord::new(), None)];
    if let Some(pg) = pg_schema(&format!("upgrades_{}", name.replace('-', "_"))) {
        backends.push(("postgres", Accord::on_postgres(&pg.url), Some(pg)));
    }
    for (backend, a, _pg) in &backends {
        let r = a.run(&["import", file.to_str().unwrap()]);
        assert_eq!(r.code, 0, "{backend}: import: {}", r.stderr);
        assert_eq!(a.run(&["verify"]).code, 0, "{backend}: verify");
        assert_eq!(a.export(), golden, "{backend}: hashes and bytes kept");
        assert_views_as_before(a, name, backend);
    }
    println!(
        "upgrades: the {name} export ({} records) imports, verifies and reads as before on {}",
        golden.lines().count(),
        backends
            .iter()
            .map(|(n, _, _)| *n)
            .collect::<Vec<_>>()
            .join(" and ")
    );
}

#[test]
fn older_versions_are_accepted_as_given_and_unknown_ones_refused() {
    let a = Accord::new();
    a.record(&super::helpers::history());
    let before = a.export();
    // Version 1 input is stored as given (version 1, its own data) and read upcast.
    let v1 = r#"{"id":"old-client","type":"CoChairsAppointed","version":1,"occurred":"2022-03","actor":"t","data":{"group":"joint-task-force","co_chairs":["co-chair-a","co-chair-b"]}}"#;
    let r = a.record_text(&format!("{v1}\n"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let last: serde_json::Value = serde_json::from_str(a.export().lines().last().unwrap()).unwrap();
    assert_eq!(last["version"], 1);
    assert_eq!(
        last["data"]["co_chairs"],
        serde_json::json!(["co-chair-a", "co-chair-b"])
    );
    let tf = a.show("groups", &[]);
    let tf = tf
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == "joint-task-force")
        .unwrap()
        .clone();
    assert_eq!(
        tf["co_chairs"],
        serde_json::json!(["co-chair-a", "co-chair-b"])
    );
    let with_v1 = a.export();

    // A version this build does not know, and data of the wrong shape for the version given,
    // are refused whole, with the line and the field named.
    for (bad, expect) in [
        (
            v1.replace("\"version\":1", "\"version\":3")
                .replace("old-client", "x1"),
            "no schema version 3",
        ),
        (
            v1.replace("\"version\":1", "\"version\":0")
                .replace("old-client", "x2"),
            "no schema version 0",
        ),
        (
            v1.replace("\"version\":1,", "").replace("old-client", "x3"),
            "co_chairs",
        ),
    ] {
        let r = a.record_text(&format!("{bad}\n"));
        assert_eq!(r.code, 2, "{bad}: {}", r.stdout);
        assert!(
            r.stderr.contains("line 1") && r.stderr.contains(expect),
            "{bad}: {}",
            r.stderr
        );
        assert_eq!(a.export(), with_v1, "a refused line wrote something");
    }
    assert!(with_v1.starts_with(&before));
    let schema = a.run(&["schema"]);
    assert!(
        schema
            .stdout
            .contains("CoChairsAppointed v2 (reads v1, upcast)"),
        "{}",
        schema.stdout
    );
    println!("upgrades: v1 input stored as given and read upcast; versions 0 and 3 and a wrong shape refused");
}

/// Builds before the strict reading of dates accepted lax forms in event data (`2021-Q01`,
/// `2021-+7`); a log holding them still imports and reads, while new input in those forms is
/// refused.
#[test]
fn dates_recorded_in_lax_forms_still_read() {
    let a = Accord::new();
    a.record(&super::helpers::history());
    let mut prev = accord::envelope::ZERO_HASH.to_string();
    let mut out = String::new();
    for line in a.export().lines() {
        let mut r: serde_json::Value = serde_json::from_str(line).unwrap();
        // `occurred` was always stored in its written form; `data` is stored as given.
        if r["id"] == "seed-060" {
            r["data"]["dates"] = "2021-+7".into();
        }
        if r["id"] == "seed-053" {
            r["data"]["dates"] = "2021-Q01".into();
        }
        r["prev_hash"] = prev.clone().into();
        r.as_object_mut().unwrap().remove("hash");
        let hash = accord::envelope::sha256_hex(accord::envelope::canonical(&r).as_bytes());
        r["hash"] = hash.clone().into();
        out.push_str(&accord::envelope::canonical(&r));
        out.push('\n');
        prev = hash;
    }
    let file = a.dir.path().join("lax.jsonl");
    std::fs::write(&file, &out).unwrap();
    let b = Accord::new();
    let r = b.run(&["import", file.to_str().unwrap()]);
    assert_eq!(
        r.code, 0,
        "a log with lax dates does not import: {}",
        r.stderr
    );
    assert_eq!(b.run(&["verify"]).code, 0);
    assert_eq!(b.export(), out, "the lax forms are kept byte for byte");
    for view in VIEWS {
        let r = b.run(&["show", view, "--format", "json"]);
        assert_eq!(r.code, 0, "show {view}: {}", r.stderr);
    }
    let log = b.run(&["log", "--stream", "group/joint-task-force"]);
    assert_eq!(log.code, 0, "{}", log.stderr);
    // The same forms as new input are refused.
    let line = r#"{"id":"lax-new","type":"MeetingHeld","occurred":"2021-07","actor":"t","data":{"meeting":"mc-cop-4","dates":"2021-+7"}}"#;
    let r = b.record_text(&format!("{line}\n"));
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(r.stderr.contains("data.dates"), "{}", r.stderr);
    println!("upgrades: a log with dates in lax forms (2021-Q01, 2021-+7) imports, verifies and reads; the same forms as new input are refused");
}
