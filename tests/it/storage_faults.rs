//! Faults of the storage itself: sled's files damaged or cut short, a log cut back, a torn
//! `log.head`. Accord refuses to serve wrong data, says what is wrong, loses nothing
//! acknowledged and resumes (the full disk, a snapshot sled never finished and the read-only
//! mount are in `disk_full.rs`, PostgreSQL restarted under serving nodes in `pg_restarts.rs`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use accord::generate::Rng;

use super::helpers::{history, Accord, Run};
use super::smtp::free_port;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub(super) fn copy_dir(from: &Path, to: &Path) {
    let ok = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("run cp")
        .success();
    assert!(ok, "cp -a {} {}", from.display(), to.display());
}

/// No Rust panic reached the user: damage is an error with a message, not a backtrace.
pub(super) fn no_panic(what: &str, r: &Run) {
    assert!(
        !r.stderr.contains("panicked") && r.code != 101,
        "{what}: a panic instead of an error (exit {}): {}",
        r.code,
        r.stderr
    );
}

/// The records of an export, one line each.
pub(super) fn lines(export: &str) -> Vec<&str> {
    export.lines().filter(|l| !l.is_empty()).collect()
}

/// A store of a few thousand events in several batches, with its projections checkpointed.
fn reference_store(events: usize) -> Accord {
    let a = Accord::new();
    let generated = a.run(&["generate", "--events", &events.to_string(), "--seed", "7"]);
    assert_eq!(generated.code, 0, "{}", generated.stderr);
    let all = lines(&generated.stdout);
    for (i, part) in all.chunks(all.len().div_ceil(8)).enumerate() {
        let file = a.dir.path().join(format!("part-{i}.jsonl"));
        std::fs::write(&file, part.join("\n") + "\n").unwrap();
        a.record(&file);
    }
    assert_eq!(a.run(&["show", "meetings"]).code, 0);
    a
}

#[derive(Clone, Copy, Debug)]
enum Site {
    /// A byte flipped anywhere in sled's log file.
    FlipLog,
    /// A byte flipped inside a record's payload (a literal of the compressed chunk).
    FlipPayload,
    /// sled's log file cut short.
    CutLog,
    /// A byte flipped in sled's snapshot file.
    FlipSnapshot,
    /// sled's snapshot file cut short.
    CutSnapshot,
    /// The mark of the last durable record damaged.
    FlipMark,
}

const SITES: [Site; 6] = [
    Site::FlipLog,
    Site::FlipPayload,
    Site::CutLog,
    Site::FlipSnapshot,
    Site::CutSnapshot,
    Site::FlipMark,
];

fn snapshot_file(data: &Path) -> Option<PathBuf> {
    std::fs::read_dir(data.join("sled"))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("snap."))
        })
        .max()
}

/// Damages the store in `data` at a site; returns a description, or `None` if the site
/// does not exist in this store.
fn damage(data: &Path, site: Site, rng: &mut Rng) -> Option<String> {
    let flip = |path: &Path, at: usize| {
        let mut bytes = std::fs::read(path).unwrap();
        bytes[at] ^= 1 << (at % 8);
        std::fs::write(path, bytes).unwrap();
    };
    let cut = |path: &Path, len: u64| {
        let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        f.set_len(len).unwrap();
    };
    let log = data.join("sled").join("db");
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    Some(match site {
        Site::FlipLog => {
            let at = rng.below(size(&log)) as usize;
            flip(&log, at);
            format!("flipped byte {at} of sled/db")
        }
        Site::FlipPayload => {
            let bytes = std::fs::read(&log).unwrap();
            let needle = b"\"title\":\"";
            let hits: Vec<usize> = bytes
                .windows(needle.len())
                .enumerate()
                .filter(|(_, w)| *w == needle)
                .map(|(i, _)| i + needle.len())
                .collect();
            let at = *hits.get(rng.below(hits.len() as u64) as usize)?;
            flip(&log, at);
            format!("flipped byte {at} of sled/db, in a record's title")
        }
        Site::CutLog => {
            let whole = size(&log);
            let len = whole / 4 + rng.below(whole * 3 / 4);
            cut(&log, len);
            format!("cut sled/db to {len} of {whole} bytes")
        }
        Site::FlipSnapshot => {
            let snap = snapshot_file(data)?;
            let at = rng.below(size(&snap)) as usize;
            flip(&snap, at);
            format!("flipped byte {at} of {}", snap.display())
        }
        Site::CutSnapshot => {
            let snap = snapshot_file(data)?;
            let len = rng.below(size(&snap));
            cut(&snap, len);
            format!("cut {} to {len} bytes", snap.display())
        }
        Site::FlipMark => {
            let mark = data.join("log.head");
            let at = 12 + rng.below(20) as usize;
            flip(&mark, at);
            format!("flipped byte {at} of log.head")
        }
    })
}

/// Starts `accord serve` on `port` with the shipped pre-session workflow.
pub(super) fn serve(a: &Accord, port: u16, stderr: Stdio) -> std::process::Child {
    let cfg = super::reminders::config(a, None, &["pre-session-documents.toml"]);
    a.spawn_serve(&cfg, port, stderr)
}

/// Waits for a child to exit; kills it and returns `None` if it runs past `limit`.
pub(super) fn wait_exit(child: &mut std::process::Child, limit: Duration) -> Option<i32> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status.code().unwrap_or(-1));
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Damage at several sites of sled's files (fixed seed): every command either refuses with a
/// message naming what is wrong, or answers exactly as the undamaged store did; the intact
/// prefix is rescued and imports into a store that verifies with the same hashes.
/// `ACCORD_FAULT_SITES` sets the number of sites (default 12).
#[test]
fn damaged_sled_files_are_refused_and_the_intact_prefix_rescued() {
    let sites = env_usize("ACCORD_FAULT_SITES", 12);
    let reference = reference_store(3000);
    let ref_export = reference.export();
    let ref_lines = lines(&ref_export);
    let ref_meetings = reference
        .run(&["show", "meetings", "--format", "json"])
        .stdout;
    let pristine = reference.dir.path().join("pristine");
    copy_dir(&reference.data(), &pristine);
    let extra = super::helpers::meeting_line("after-damage", "mc-after-damage");
    let mut rng = Rng(0x5EED_0008);
    let (mut tried, mut detected, mut harmless) = (0, 0, 0);
    let mut prefixes = Vec::new();
    for trial in 0..sites {
        let site = SITES[trial % SITES.len()];
        let a = Accord::new();
        copy_dir(&pristine, &a.data());
        let Some(what) = damage(&a.data(), site, &mut rng) else {
            continue;
        };
        tried += 1;
        let v = a.run(&["verify"]);
        no_panic(&format!("{what}: verify"), &v);
        if v.code == 0 {
            // Verified: then it must be the very same log, byte for byte.
            let e = a.run(&["export"]);
            assert!(
                e.code == 0 && e.stdout == ref_export,
                "{what}: the store verifies but its export differs from the original ({} of {} records)",
                lines(&e.stdout).len(),
                ref_lines.len()
            );
            let m = a.run(&["show", "meetings", "--format", "json"]);
            assert_eq!(
                m.stdout, ref_meetings,
                "{what}: verified, but shows otherwise (exit {}: {})",
                m.code, m.stderr
            );
            harmless += 1;
            continue;
        }
        detected += 1;
        assert_eq!(v.code, 1, "{what}: verify: {}", v.stderr);
        assert!(
            v.stderr.contains("seq") || v.stderr.contains("sled"),
            "{what}: verify does not say where: {}",
            v.stderr
        );
        // Reading and writing commands refuse the damaged store too.
        let s = a.run(&["show", "meetings", "--format", "json"]);
        no_panic(&format!("{what}: show"), &s);
        // `show` reads what it needs: it refuses, or (from projections checkpointed before the
        // damage) answers exactly as the undamaged store did.
        assert!(
            (s.code != 0 && s.stderr.contains("corrupt")) || s.stdout == ref_meetings,
            "{what}: show answered otherwise from a damaged log: exit {}: {}",
            s.code,
            s.stderr
        );
        // The rescue: the records that read and chain, then a fresh store from them.
        let rescued = a.dir.path().join("rescued.jsonl");
        let x = a.run(&[
            "export",
            "--intact-prefix",
            "--output",
            rescued.to_str().unwrap(),
        ]);
        no_panic(&format!("{what}: export --intact-prefix"), &x);
        let text = std::fs::read_to_string(&rescued).unwrap_or_default();
        let got = lines(&text);
        // It stops at the damage (or, with `log.head` damaged, after every record, unable to
        // tell whether more were recorded), or, when sled's own files failed but every record
        // is still readable from them, rescues the whole log.
        assert!(
            (x.code == 1 && x.stderr.contains("stopped at seq") && got.len() <= ref_lines.len())
                || (x.code == 0 && got.len() == ref_lines.len()),
            "{what}: export --intact-prefix: exit {}, {} records: {}",
            x.code,
            got.len(),
            x.stderr
        );
        assert_eq!(
            got[..],
            ref_lines[..got.len()],
            "{what}: rescued other records"
        );
        // The rescue imports into a new store that verifies and exports the same bytes. When
        // nothing before the damage could be read there is no store to make (a read command on
        // a directory without one says so).
        let fresh = Accord::new();
        if got.is_empty() {
            assert!(text.is_empty(), "{what}: {text}");
            let fv = fresh.run(&["verify"]);
            assert!(
                fv.code == 2 && fv.stderr.contains("no store in"),
                "{what}: {}",
                fv.stderr
            );
        } else {
            let i = fresh.run(&["import", rescued.to_str().unwrap()]);
            assert_eq!(i.code, 0, "{what}: import of the rescue: {}", i.stderr);
            let fv = fresh.run(&["verify"]);
            assert_eq!(fv.code, 0, "{what}: the rescued store: {}", fv.stderr);
            assert_eq!(fresh.export(), text, "{what}: the rescued store differs");
        }
        let r = a.record_text(&extra);
        no_panic(&format!("{what}: record"), &r);
        if r.code == 0 {
            // `record` checks the end of the log, not all of it: it may append after an
            // intact head, and the damage before stays as plainly reported.
            let again = a.run(&["verify"]);
            assert_eq!(
                (again.code, again.stderr.lines().last()),
                (v.code, v.stderr.lines().last()),
                "{what}: a record appended to the damaged log changed what verify says"
            );
        } else {
            assert!(r.stderr.contains("corrupt"), "{what}: record: {}", r.stderr);
        }
        let mut serve = serve(&a, free_port(), Stdio::piped());
        let code = wait_exit(&mut serve, Duration::from_secs(30));
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut serve.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(
            matches!(code, Some(c) if c != 0 && c != 101) && stderr.contains("corrupt"),
            "{what}: serve on a damaged log: exit {code:?}: {stderr}"
        );
        prefixes.push(got.len());
        eprintln!(
            "{what}: detected ({}); rescued {} of {} records",
            v.stderr.trim(),
            got.len(),
            ref_lines.len()
        );
    }
    prefixes.sort_unstable();
    println!(
        "storage faults: {tried} damaged sites in a log of {} records, {detected} detected, {harmless} harmless (verified and identical), rescued prefixes {prefixes:?}",
        ref_lines.len()
    );
    assert!(detected > 0, "no damage was detected");
}

/// sled recovers a damaged log by cutting it at the first bad message, which leaves a shorter
/// log that is consistent in itself. `log.head` remembers the last durable record, so such a
/// log is refused instead of served without its last records.
#[test]
fn a_log_cut_back_to_an_earlier_state_is_refused() {
    let a = Accord::new();
    a.record(&history());
    let earlier = a.dir.path().join("sled-earlier");
    copy_dir(&a.data().join("sled"), &earlier);
    let more = (0..5)
        .map(|i| super::helpers::meeting_line(&format!("later-{i}"), &format!("mc-later-{i}")))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(a.record_text(&more).code, 0);
    let full = a.export();
    // sled's files as they stood before the last batch, with the mark of the last batch.
    std::fs::remove_dir_all(a.data().join("sled")).unwrap();
    copy_dir(&earlier, &a.data().join("sled"));
    for args in [&["verify"][..], &["show", "meetings"], &["log"]] {
        let r = a.run(args);
        no_panic(args[0], &r);
        assert_eq!(r.code, 1, "{args:?} served a log cut back: {}", r.stdout);
        assert!(
            r.stderr.contains("log.head says seq 69 was recorded")
                && r.stderr.contains("ends at seq 64"),
            "{args:?}: {}",
            r.stderr
        );
    }
    let r = a.record_text(&super::helpers::meeting_line("x", "mc-x"));
    assert_eq!(r.code, 1, "record appended to a log cut back");
    let rescued = a.dir.path().join("rescued.jsonl");
    let x = a.run(&["export", "--intact-prefix", "-o", rescued.to_str().unwrap()]);
    assert_eq!(x.code, 1, "{}", x.stderr);
    assert!(x.stderr.contains("stopped at seq 65"), "{}", x.stderr);
    let text = std::fs::read_to_string(&rescued).unwrap();
    assert_eq!(lines(&text)[..], lines(&full)[..64]);
    println!(
        "storage faults: a log cut back from 69 to 64 records refused by verify, show, log and record; 64 rescued"
    );
}

/// `log.head` is rewritten in place without a flush of its own; a power cut can leave it torn
/// (zeros, or half a line). A healthy log is then still served, and still verifies.
#[test]
fn a_torn_log_head_does_not_refuse_a_healthy_store() {
    let a = Accord::new();
    a.record(&history());
    let before = a.export();
    let mark = a.data().join("log.head");
    let len = std::fs::metadata(&mark).unwrap().len() as usize;
    for torn in [vec![0u8; len], Vec::new(), b"accord-head 000".to_vec()] {
        std::fs::write(&mark, &torn).unwrap();
        let v = a.run(&["verify"]);
        assert_eq!(
            v.code, 0,
            "a torn log.head refused a healthy store: {}",
            v.stderr
        );
        assert_eq!(a.export(), before);
    }
    // Recording rewrites it, and a cut-back log is caught again.
    let r = a.record_text(
        r#"{"id":"after-torn","type":"MeetingHeld","occurred":"2021-07-29","actor":"t","data":{"meeting":"mc-cop-4","segment":"mc-cop-4.1","dates":"2021-07-29"}}"#,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = std::fs::read_to_string(&mark).unwrap();
    assert!(
        text.starts_with("accord-head ") && text.contains(&format!("{:020}", 65)),
        "{text}"
    );
    println!(
        "storage faults: a log.head torn 3 ways passed over; the healthy store served and verified"
    );
}
