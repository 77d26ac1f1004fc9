//! `accord serve` and `accord record` as people run them: HTTP under wrk beside axum serving the
//! same bytes, the server's memory and start, and the memory of recording a large batch.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::static_server;
use crate::measure::*;

struct Server {
    child: std::process::Child,
    addr: String,
    /// When it was started.
    spawned: Instant,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub(crate) fn accord_bin() -> &'static str {
    env!("CARGO_BIN_EXE_accord")
}

fn serve(dir: &Path) -> (Server, String) {
    let out = Command::new(accord_bin())
        .args(["--data"])
        .arg(dir)
        .args(["token", "add", "bench", "--role", "reader"])
        .output()
        .expect("accord token add");
    let text = String::from_utf8_lossy(&out.stdout);
    let token = text
        .split_whitespace()
        .find(|w| w.len() >= 32)
        .expect("a token is printed")
        .to_string();
    // Let the scheduler's first tick happen before the server starts, so the load meets a
    // settled server.
    let status = Command::new(accord_bin())
        .args(["--data"])
        .arg(dir)
        .args(["tick"])
        .stdout(Stdio::null())
        .status()
        .expect("accord tick");
    assert!(status.success());
    let addr = format!("127.0.0.1:{}", free_port());
    let child = Command::new(accord_bin())
        .args(["--data"])
        .arg(dir)
        .args(["serve", "--listen", &addr])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("accord serve");
    let server = Server {
        child,
        addr,
        spawned: Instant::now(),
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    while Instant::now() < deadline {
        if ureq::get(&format!("http://{}/healthz", server.addr))
            .call()
            .is_ok()
        {
            return (server, token);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("accord serve did not answer /healthz");
}

/// Requests per second and p99 latency in ms, from wrk on loopback.
fn wrk(url: &str, token: &str, secs: u64) -> Option<(f64, f64)> {
    let out = Command::new("wrk")
        .args([
            "-t2",
            "-c16",
            &format!("-d{secs}s"),
            "--timeout",
            "30s",
            "--latency",
            "-H",
        ])
        .arg(format!("Authorization: Bearer {token}"))
        .arg(url)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text
        .lines()
        .find(|l| l.starts_with("Requests/sec:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let p99 = text
        .lines()
        .find(|l| l.trim_start().starts_with("99%"))?
        .split_whitespace()
        .nth(1)?;
    let ms = if let Some(v) = p99.strip_suffix("us") {
        v.parse::<f64>().ok()? / 1e3
    } else if let Some(v) = p99.strip_suffix("ms") {
        v.parse::<f64>().ok()?
    } else if let Some(v) = p99.strip_suffix('s') {
        v.parse::<f64>().ok()? * 1e3
    } else {
        return None;
    };
    if text.contains("Non-2xx") {
        panic!("wrk saw errors from {url}:\n{text}");
    }
    Some((rps, ms))
}

pub(crate) fn http(
    rows: &mut Vec<Row>,
    dir: &Path,
    n: usize,
    secs: u64,
    rt: &tokio::runtime::Runtime,
) {
    eprintln!("== HTTP on the {} log", label(n));
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("  skipped: wrk is not installed (apt-get install wrk); no HTTP rows");
        return;
    }
    let export_mb = Command::new(accord_bin())
        .args(["--data"])
        .arg(dir)
        .arg("export")
        .output()
        .map(|o| o.stdout.len())
        .unwrap_or(0) as f64
        / 1048576.0;
    let (server, token) = serve(dir);
    // The first answer that needs the views: the start, the state loaded, the request served.
    let first = loop {
        let answered = ureq::get(&format!("http://{}/api/deadlines?limit=1", server.addr))
            .set("Authorization", &format!("Bearer {token}"))
            .call()
            .is_ok();
        if answered {
            break server.spawned.elapsed().as_secs_f64() * 1e3;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // The load meets a settled server: the check of the whole chain made at start is done.
    let settled = Instant::now() + Duration::from_secs(600);
    loop {
        let metrics = ureq::get(&format!("http://{}/metrics", server.addr))
            .set("Authorization", &format!("Bearer {token}"))
            .call()
            .ok()
            .and_then(|r| r.into_string().ok())
            .unwrap_or_default();
        let value = |name: &str| {
            metrics
                .lines()
                .find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok())
        };
        if value("accord_chain_verified_seq ") >= value("accord_log_head_seq ") {
            break;
        }
        assert!(Instant::now() < settled, "the chain check did not finish");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut bodies = Vec::new();
    for path in ["/api/deadlines", "/api/meetings"] {
        let url = format!("http://{}{path}", server.addr);
        let mut body = Vec::new();
        std::io::Read::read_to_end(
            &mut ureq::get(&url)
                .set("Authorization", &format!("Bearer {token}"))
                .call()
                .expect("the endpoint answers")
                .into_reader(),
            &mut body,
        )
        .expect("a body");
        bodies.push((path.to_string(), body));
    }
    let peer_started = Instant::now();
    let peer_addr = static_server(rt, bodies.clone(), "application/json");
    while ureq::get(&format!("http://{peer_addr}/api/deadlines"))
        .call()
        .is_err()
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let peer_first = peer_started.elapsed().as_secs_f64() * 1e3;
    row(
        rows,
        format!(
            "accord serve: first listing answered after start, {} log (ms) vs axum serving the same bytes",
            label(n)
        ),
        first,
        peer_first,
        "≤ 1,000 ms",
        first <= 1_000.0,
    );
    for (path, body) in &bodies {
        let url = format!("http://{}{path}", server.addr);
        let Some((rps, p99)) = wrk(&url, &token, secs) else {
            eprintln!("  wrk gave no figures for {url}");
            continue;
        };
        let Some((peer_rps, peer_p99)) = wrk(&format!("http://{peer_addr}{path}"), &token, secs)
        else {
            continue;
        };
        let name = format!("{path} ({} KB), {} log", body.len() / 1024, label(n));
        let goal_applies = path == "/api/deadlines";
        row(
            rows,
            format!("HTTP {name} (requests/s) vs axum serving the same bytes"),
            rps,
            peer_rps,
            if goal_applies {
                "≥ 20,000 requests/s"
            } else {
                "none stated (report)"
            },
            !goal_applies || rps >= 20_000.0,
        );
        row(
            rows,
            format!("HTTP {name} (p99 ms) vs axum serving the same bytes"),
            p99,
            peer_p99,
            if goal_applies {
                "≤ 10 ms"
            } else {
                "none stated (report)"
            },
            !goal_applies || p99 <= 10.0,
        );
    }
    let rss = rss_kib(server.child.id(), "VmHWM:").unwrap_or(0) as f64 / 1024.0;
    row(
        rows,
        format!(
            "resident memory of accord serve, {} log (MB peak) vs JSON export (MB)",
            label(n)
        ),
        rss,
        export_mb,
        "≤ 300 MB",
        rss <= 300.0,
    );
    drop(server);
}

/// `accord record` of one generated batch of `n` events: its peak resident memory beside the
/// batch's bytes (the peak read from `/proc` as it runs).
pub(crate) fn record_memory(rows: &mut Vec<Row>, work: &Path, n: usize) {
    eprintln!("== accord record of a {} batch", label(n));
    let dir = work.join(format!("record-{n}"));
    let file = work.join(format!("batch-{n}.jsonl"));
    let generated = Command::new(accord_bin())
        .args(["generate", "--events", &n.to_string()])
        .output()
        .expect("accord generate");
    assert!(generated.status.success());
    std::fs::write(&file, &generated.stdout).expect("the batch is written");
    let mut child = Command::new(accord_bin())
        .arg("--data")
        .arg(&dir)
        .arg("record")
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("accord record");
    let mut peak = 0;
    loop {
        // The high-water mark, read until the process is gone.
        if let Some(kib) = rss_kib(child.id(), "VmHWM:") {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "accord record failed");
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let mb = peak as f64 / 1024.0;
    let bytes = generated.stdout.len() as f64 / 1048576.0;
    row(
        rows,
        format!(
            "accord record of a {}-event batch (MB peak resident) vs the batch (MB)",
            label(n)
        ),
        mb,
        bytes,
        "≤ 4× peer",
        mb <= 4.0 * bytes,
    );
}
