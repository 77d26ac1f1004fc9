//! A full disk and a read-only mount under `accord record` and `accord serve`, and the
//! snapshot sled leaves unfinished when the disk fills: clear errors that name the space or
//! the mount, nothing acknowledged lost, recording resumed once space returns.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::helpers::{history, wait_listening, Accord, Run};
use super::smtp::free_port;
use super::storage_faults::{lines, no_panic, serve, wait_exit};

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
