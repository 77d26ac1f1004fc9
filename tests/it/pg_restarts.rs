//! PostgreSQL restarted under two serving nodes: a private cluster stopped and started while
//! POSTs arrive, nothing acknowledged lost, no email sent twice.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::helpers::Accord;
use super::smtp::free_port;

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
