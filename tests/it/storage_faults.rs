//! Faults of the storage itself: sled's files damaged or cut short, the disk full, the data
//! directory read-only, and the PostgreSQL server restarted under serving nodes. Accord refuses
//! to serve wrong data, says what is wrong, loses nothing acknowledged and resumes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use accord::generate::Rng;

use super::helpers::{history, wait_listening, Accord, Run};
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
fn no_panic(what: &str, r: &Run) {
    assert!(
        !r.stderr.contains("panicked") && r.code != 101,
        "{what}: a panic instead of an error (exit {}): {}",
        r.code,
        r.stderr
    );
}

/// The records of an export, one line each.
fn lines(export: &str) -> Vec<&str> {
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
fn serve(a: &Accord, port: u16, stderr: Stdio) -> std::process::Child {
    let cfg = super::reminders::config(a, None, &["pre-session-documents.toml"]);
    a.spawn_serve(&cfg, port, stderr)
}

/// Waits for a child to exit; kills it and returns `None` if it runs past `limit`.
fn wait_exit(child: &mut std::process::Child, limit: Duration) -> Option<i32> {
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
                "{what}: verified, but shows otherwise"
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

/// A tmpfs mounted on a directory for one test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` (such as `3m`) on `dir`; `None`, after printing why, when
    /// mounting is not permitted here (not root, or no mount namespace of our own).
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs(dir.to_path_buf())),
            Ok(o) => {
                println!(
                    "skipped: cannot mount a tmpfs: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                println!("skipped: cannot run mount: {e}");
                None
            }
        }
    }

    /// Remounts with other options (`size=16m`, `ro`, `rw`).
    fn remount(&self, options: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.0)
            .status()
            .unwrap()
            .success();
        assert!(ok, "remount {options} of {}", self.0.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Batches of generated events, `per` each.
fn batches(a: &Accord, count: usize, per: usize, seed: u64) -> Vec<String> {
    let g = a.run(&[
        "generate",
        "--events",
        &(count * per).to_string(),
        "--seed",
        &seed.to_string(),
    ]);
    assert_eq!(g.code, 0, "{}", g.stderr);
    lines(&g.stdout)
        .chunks(per)
        .map(|c| c.join("\n") + "\n")
        .collect()
}

/// The disk fills under `accord record`: a clear error naming the space, nothing of the
/// failed batch written, every acknowledged batch there, and recording resumes once space
/// returns.
#[test]
fn disk_full_under_record_fails_cleanly_and_resumes() {
    const LIMIT: Duration = Duration::from_secs(180);
    let a = Accord::new();
    let Some(fs) = Tmpfs::mount(&a.data(), "3m") else {
        return;
    };
    let inputs = batches(&a, 40, 500, 11);
    let mut acknowledged = 0u64;
    let mut failed = None;
    for (i, batch) in inputs.iter().enumerate() {
        let r = a.run_stdin_bounded(&["record", "-"], batch, LIMIT);
        no_panic("record", &r);
        if r.code == 0 {
            acknowledged += 500;
            continue;
        }
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(
            r.stderr.contains("no space left on the device holding")
                && r.stderr.contains(a.data().to_str().unwrap()),
            "the error does not name the disk and the space: {}",
            r.stderr
        );
        failed = Some(i);
        break;
    }
    let failed = failed.expect("the disk never filled");
    // Space returns: the log holds exactly the acknowledged batches, then recording resumes.
    fs.remount("size=32m");
    let v = a.run_stdin_bounded(&["verify"], "", LIMIT);
    assert_eq!(v.code, 0, "after the disk was full: {}", v.stderr);
    assert_eq!(
        a.last_seq(),
        acknowledged,
        "acknowledged batches lost or a failed one kept"
    );
    let r = a.run_stdin_bounded(&["record", "-"], &inputs[failed], LIMIT);
    assert_eq!(r.code, 0, "recording did not resume: {}", r.stderr);
    assert_eq!(a.run_stdin_bounded(&["verify"], "", LIMIT).code, 0);
    assert_eq!(a.last_seq(), acknowledged + 500);
    println!(
        "storage faults: disk full after {failed} batches ({acknowledged} events) on a 3 MiB tmpfs; the failed batch absent, all acknowledged present; recording resumed to {}",
        acknowledged + 500
    );
}

/// The disk fills under `accord serve` taking POSTs: the API answers 503 with a message
/// naming the space, the server stops cleanly (sled refuses every write after an IO error),
/// nothing acknowledged is lost, and a server started once space returns takes the POSTs.
#[test]
fn disk_full_under_serve_fails_cleanly_and_resumes() {
    let a = Accord::new();
    let Some(fs) = Tmpfs::mount(&a.data(), "3m") else {
        return;
    };
    let token = super::api::token(&a, "officer", "recorder");
    let inputs = batches(&a, 40, 500, 12);
    let start = |a: &Accord| {
        let port = free_port();
        let child = serve(a, port, Stdio::piped());
        wait_listening(port);
        (child, port)
    };
    let post = |port: u16, body: &str| {
        super::api::call(
            "POST",
            &format!("http://127.0.0.1:{port}/api/events"),
            Some(&token),
            Some(body),
        )
    };
    let (mut child, port) = start(&a);
    let mut acknowledged: Vec<u64> = Vec::new();
    let mut failed = None;
    for (i, batch) in inputs.iter().enumerate() {
        let (status, body) = post(port, batch);
        if status == 200 {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            acknowledged.extend(
                v["recorded"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["seq"].as_u64().unwrap()),
            );
            continue;
        }
        // 503 when sled refused the batch; 500 when it took it but could not flush it
        // (`Unconfirmed`: the answer says to check the log before retrying).
        assert!(status == 503 || status == 500, "{status}: {body}");
        assert!(
            body.contains("no space left on the device holding"),
            "{body}"
        );
        failed = Some(i);
        break;
    }
    let failed = failed.expect("the disk never filled");
    let code = wait_exit(&mut child, Duration::from_secs(60));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(code, Some(1), "serve after the disk filled: {stderr}");
    assert!(
        stderr.contains("shutting down: the store cannot write any more")
            && stderr.contains("no space left")
            && !stderr.contains("panicked"),
        "{stderr}"
    );
    fs.remount("size=32m");
    assert_eq!(a.run(&["verify"]).code, 0);
    let export = a.export();
    let seqs: std::collections::HashSet<u64> = lines(&export)
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(
        acknowledged.iter().all(|s| seqs.contains(s)),
        "an acknowledged event is missing"
    );
    let kept = (1..=500)
        .filter(|k| export.contains(&format!("\"gen-12-{}\"", failed * 500 + k)))
        .count();
    assert!(
        kept == 0 || kept == 500,
        "the failed batch was partly written: {kept} of 500"
    );
    let (mut child, port) = start(&a);
    let (status, body) = post(port, &inputs[failed]);
    assert_eq!(status, 200, "after space returned: {body}");
    if kept == 500 {
        assert!(body.contains("\"duplicates\":[{"), "{body}");
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(a.run(&["verify"]).code, 0);
    println!(
        "storage faults: serve took {failed} batches ({} events) before the 3 MiB disk filled; an error status then a clean exit 1; the failed batch {}; after space returned a new server took it",
        acknowledged.len(),
        if kept == 0 { "wholly absent" } else { "wholly present (unconfirmed)" }
    );
}

/// A snapshot sled began but never finished (the disk filled while it wrote) is left as
/// `snap.N.generating`, which sled takes for the newest snapshot and refuses to open: the
/// store opens anyway and loses nothing.
#[test]
fn an_unfinished_sled_snapshot_does_not_lock_the_store() {
    let a = Accord::new();
    a.record(&history());
    let before = a.export();
    std::fs::write(
        a.data()
            .join("sled")
            .join("snap.FFFFFFFFFFFFFFF0.generating"),
        b"",
    )
    .unwrap();
    let v = a.run(&["verify"]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert_eq!(a.export(), before);
    println!("storage faults: a store with an unfinished sled snapshot opens, 64 records intact");
}

/// A data directory on a read-only mount: every command that opens the store says plainly
/// that the directory is read-only and exits 1. Reading commands too: sled 0.34 has no
/// read-only mode (it opens its files for writing and writes a snapshot on open), so a store
/// on a read-only mount is read from a copy. Once writable again, nothing was lost.
#[test]
fn read_only_data_dir_is_refused_plainly() {
    let a = Accord::new();
    let Some(fs) = Tmpfs::mount(&a.data(), "16m") else {
        return;
    };
    a.record(&history());
    let before = a.export();
    fs.remount("ro");
    let dir = a.data().display().to_string();
    let says = |what: &str, r: &Run| {
        no_panic(what, r);
        assert_eq!(
            r.code, 1,
            "{what} on a read-only store: {} {}",
            r.stdout, r.stderr
        );
        assert!(
            r.stderr
                .contains(&format!("{dir} is on a read-only file system")),
            "{what}: {}",
            r.stderr
        );
    };
    says(
        "record",
        &a.record_text(&super::helpers::meeting_line("ro-1", "mc-ro-1")),
    );
    says("show", &a.run(&["show", "meetings"]));
    says("verify", &a.run(&["verify"]));
    says("export", &a.run(&["export"]));
    let mut child = serve(&a, free_port(), Stdio::piped());
    let code = wait_exit(&mut child, Duration::from_secs(30));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    says(
        "serve",
        &Run {
            code: code.unwrap_or(-1),
            stdout: String::new(),
            stderr,
        },
    );
    fs.remount("rw");
    assert_eq!(a.export(), before, "the read-only spell changed the log");
    assert_eq!(
        a.record_text(&super::helpers::meeting_line("ro-1", "mc-ro-1"))
            .code,
        0
    );
    assert_eq!(a.run(&["verify"]).code, 0);
    println!(
        "storage faults: read-only data dir: record, show, verify, export and serve refused with exit 1 naming it; writable again, 64 records intact and recording resumed"
    );
}

/// A private PostgreSQL cluster in a temporary directory, run as the `postgres` user, so a
/// test can restart it without touching the machine's shared server. Stopped when dropped.
struct PrivatePg {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl PrivatePg {
    /// `None`, after printing why, when the binaries, the user or `runuser` are missing.
    fn start() -> Option<PrivatePg> {
        let bin = std::fs::read_dir("/usr/lib/postgresql").ok().and_then(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                .filter(|b| b.join("initdb").exists() && b.join("pg_ctl").exists())
                .max()
        });
        let Some(bin) = bin else {
            println!("skipped: no PostgreSQL binaries under /usr/lib/postgresql/*/bin");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let owned = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !owned {
            println!("skipped: cannot give a directory to the postgres user (not root?)");
            return None;
        }
        let pg = PrivatePg {
            bin,
            dir,
            port: free_port(),
        };
        let init = pg.run(
            "initdb",
            &["-A", "trust", "-U", "postgres", "-D", &pg.data()],
        );
        if !init.status.success() {
            println!(
                "skipped: initdb as postgres failed: {}",
                String::from_utf8_lossy(&init.stderr).trim()
            );
            return None;
        }
        pg.ctl("start");
        Some(pg)
    }

    fn data(&self) -> String {
        self.dir.path().join("pg").display().to_string()
    }

    fn run(&self, program: &str, args: &[&str]) -> std::process::Output {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(program))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run runuser")
    }

    /// `pg_ctl ACTION` (start, stop, restart) with this cluster's port and socket directory.
    fn ctl(&self, action: &str) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").display().to_string();
        let data = self.data();
        let mut args = vec!["-D", &data, "-l", &log, "-w", "-t", "60", "-o", &opts];
        if action != "start" {
            args.extend(["-m", "immediate"]);
        }
        args.push(action);
        let out = self.run("pg_ctl", &args);
        assert!(
            out.status.success(),
            "pg_ctl {action}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let _ = self.run(
            "pg_ctl",
            &["-D", &self.data(), "-w", "-m", "immediate", "stop"],
        );
    }
}

/// Two `accord serve` nodes on one PostgreSQL log under a load of POSTs while the database
/// restarts (`-m immediate`) and then stays down for several seconds: every acknowledged
/// append is in the log, the chain verifies with a gapless seq, both nodes take POSTs again
/// without being restarted, the scheduler lease is taken again (a new meeting gets its
/// deadlines), and no email goes out twice but for the one permitted resend.
#[test]
fn postgres_restarts_under_serving_nodes() {
    let Some(pg) = PrivatePg::start() else {
        return;
    };
    let url = pg.url();
    let nodes: Vec<Accord> = (0..2).map(|_| Accord::on_postgres(&url)).collect();
    super::helpers::future_meeting(&nodes[0]);
    let (tokens, ports, mut children) = super::nodes::serve_nodes(&nodes);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let restarted = std::sync::Mutex::new(None::<Instant>);
    let taken_after: Vec<std::sync::atomic::AtomicUsize> =
        ports.iter().map(|_| Default::default()).collect();
    let (acked, after, errors) = std::thread::scope(|scope| {
        let load: Vec<_> = ports
            .iter()
            .zip(&tokens)
            .enumerate()
            .map(|(i, (port, token))| {
                let (stop, restarted, taken_after) = (&stop, &restarted, &taken_after);
                scope.spawn(move || {
                    let (mut acked, mut after, mut errors) = (Vec::new(), 0, 0);
                    let mut k = 0;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        k += 1;
                        let id = format!("pgr-{i}-{k}");
                        let line = format!(
                            r#"{{"id":"{id}","type":"MeetingScheduled","occurred":"2019-06-01","actor":"t","data":{{"meeting":"{id}","body":"MC","kind":"cop","title":"Meeting {k} of node {i}","dates":"2020-01-01/2020-01-09","venue":"Geneva"}}}}"#
                        );
                        let (status, body) = super::api::call(
                            "POST",
                            &format!("http://127.0.0.1:{port}/api/events"),
                            Some(token),
                            Some(&line),
                        );
                        if status == 200 {
                            acked.push(id);
                            if restarted.lock().unwrap().is_some() {
                                after += 1;
                                taken_after[i].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                        } else {
                            assert!(status >= 500, "{status}: {body}");
                            errors += 1;
                            std::thread::sleep(Duration::from_millis(200));
                        }
                    }
                    (acked, after, errors)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs(2));
        pg.ctl("restart");
        std::thread::sleep(Duration::from_secs(3));
        pg.ctl("stop");
        std::thread::sleep(Duration::from_secs(6));
        pg.ctl("start");
        *restarted.lock().unwrap() = Some(Instant::now());
        // Load on until every node has taken POSTs again (a loaded machine may take a while to
        // reconnect), at least 8 s, at most 120 s.
        let back = Instant::now();
        while back.elapsed() < Duration::from_secs(8)
            || (back.elapsed() < Duration::from_secs(120)
                && taken_after
                    .iter()
                    .any(|n| n.load(std::sync::atomic::Ordering::Relaxed) == 0))
        {
            std::thread::sleep(Duration::from_millis(200));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let results: Vec<_> = load.into_iter().map(|h| h.join().unwrap()).collect();
        let acked: Vec<String> = results.iter().flat_map(|r| r.0.clone()).collect();
        let after: Vec<usize> = results.iter().map(|r| r.1).collect();
        let errors: usize = results.iter().map(|r| r.2).sum();
        (acked, after, errors)
    });
    for (i, c) in children.iter_mut().enumerate() {
        assert!(c.try_wait().unwrap().is_none(), "node {i} exited");
    }
    assert!(
        after.iter().all(|n| *n > 0),
        "a node took no POST after the database came back: {after:?}"
    );
    let export = nodes[1].export();
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| !export.contains(&format!("\"id\":\"{id}\"")))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not in the log: {missing:?}"
    );
    let v = nodes[0].run(&["verify"]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    // The scheduler lease was taken again: a new meeting gets its deadlines.
    let today = chrono::Utc::now().date_naive();
    let start = today + chrono::Days::new(80);
    let line = format!(
        r#"{{"type":"MeetingScheduled","occurred":"{today}","actor":"t","data":{{"meeting":"mc-cop-10","body":"MC","kind":"cop","title":"Tenth meeting","dates":"{start}/{}","venue":"Geneva"}}}}"#,
        start + chrono::Days::new(4)
    );
    assert_eq!(nodes[1].record_text(&line).code, 0);
    let began = Instant::now();
    while !nodes[1].run(&["deadlines"]).stdout.contains("mc-cop-10") {
        assert!(
            began.elapsed() < Duration::from_secs(60),
            "no node ran the scheduler after the database came back"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let lease = began.elapsed();
    std::thread::sleep(Duration::from_secs(3));
    let mut ids: Vec<String> = nodes
        .iter()
        .flat_map(|n| super::smtp::read_dir_mails(&n.data().join("outbox")))
        .map(|m| m.header("message-id").unwrap_or("").to_string())
        .collect();
    ids.sort_unstable();
    let sent = ids.len();
    let mut copies: std::collections::HashMap<&str, usize> = Default::default();
    for id in &ids {
        *copies.entry(id).or_default() += 1;
    }
    assert!(!ids.is_empty(), "the digest was never sent");
    assert!(
        copies.values().all(|n| *n <= 2),
        "an email sent more than twice: {copies:?}"
    );
    assert_eq!(nodes[0].run(&["verify"]).code, 0);
    for mut c in children.drain(..) {
        let _ = c.kill();
        let _ = c.wait();
    }
    println!(
        "storage faults: PostgreSQL restarted (immediate) and stopped 6 s under 2 serving nodes: {} appends acknowledged, {errors} refused while it was down, {after:?} after it returned, all in a verified log; scheduler running again {lease:?} after a new meeting; {sent} email(s), {} Message-ID(s)",
        acked.len(),
        copies.len()
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
