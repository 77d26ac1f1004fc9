//! The dashboard's page budgets: every page at most 500 KB of HTML and 300 ms on the server,
//! on a generated log (200,000 events under `cargo bench --bench pages`, a smoke size under
//! `cargo test`), beside axum serving the same bytes from memory in the same run. One table of
//! page, bytes, Accord's first and median time, the peer's median, and whether the budget is
//! met; also written to `target/bench/pages.json`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "common/static_server.rs"]
mod common;
use common::static_server;

const BUDGET_BYTES: usize = 500 * 1024;
const BUDGET_MS: f64 = 300.0;
const RUNS: usize = 5;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn accord(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_accord"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("--data")
        .arg(dir);
    c
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One GET: status, body and milliseconds.
fn get(url: &str, token: &str) -> (u16, Vec<u8>, f64) {
    let t = Instant::now();
    let r = ureq::get(url)
        .set("Authorization", &format!("Bearer {token}"))
        .timeout(Duration::from_secs(300))
        .call();
    let (status, body) = match r {
        Ok(r) => (r.status(), r),
        Err(ureq::Error::Status(c, r)) => (c, r),
        Err(e) => panic!("GET {url}: {e}"),
    };
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut body.into_reader(), &mut bytes).expect("a body");
    (status, bytes, t.elapsed().as_secs_f64() * 1e3)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Row {
    page: String,
    bytes: usize,
    first_ms: f64,
    median_ms: f64,
    peer_ms: f64,
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let n: usize = if bench { 200_000 } else { 3_000 };
    let dir = tempfile::tempdir().expect("a scratch directory");
    let data = dir.path().join("data");
    eprintln!("== generating and recording {n} events");
    let gen = accord(&data)
        .args(["generate", "--events", &n.to_string()])
        .output()
        .expect("accord generate");
    assert!(gen.status.success());
    let file = dir.path().join("log.jsonl");
    std::fs::write(&file, &gen.stdout).expect("the log is written");
    let rec = accord(&data)
        .arg("record")
        .arg(&file)
        .stdout(Stdio::null())
        .status()
        .expect("accord record");
    assert!(rec.success());
    let out = accord(&data)
        .args(["token", "add", "bench", "--role", "admin"])
        .output()
        .expect("accord token add");
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let tick = accord(&data).arg("tick").stdout(Stdio::null()).status();
    assert!(tick.expect("accord tick").success());
    let addr = format!("127.0.0.1:{}", free_port());
    let server = Server(
        accord(&data)
            .args(["serve", "--listen", &addr])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("accord serve"),
    );
    let base = format!("http://{addr}");
    let started = Instant::now();
    while ureq::get(&format!("{base}/healthz")).call().is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "serve did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // An item of each kind, for the detail pages.
    let first_id = |what: &str, field: &str| {
        let (_, body, _) = get(&format!("{base}/api/{what}?limit=1"), &token);
        let v: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        v[0][field].as_str().unwrap_or("none").to_string()
    };
    let meeting = first_id("meetings", "meeting");
    let decision = first_id("decisions", "symbol");
    let group = first_id("groups", "group");
    let report = first_id("reports", "report");
    let pages = [
        "/upcoming".to_string(),
        "/timeline".into(),
        "/timeline?year=2021".into(),
        "/meetings".into(),
        "/meetings?q=meeting&status=over".into(),
        "/meetings?as_of=2021-06-30".into(),
        format!("/meetings/{meeting}"),
        "/decisions".into(),
        "/decisions?status=active".into(),
        format!("/decisions/{decision}"),
        "/groups".into(),
        format!("/groups/{group}"),
        "/reports".into(),
        format!("/reports/{report}"),
        "/trail".into(),
        "/trail?type=DecisionAdopted".into(),
        "/trail?actor=nobody".into(),
        "/evaluation".into(),
        "/evaluation?from=2024-01-01".into(),
        "/record".into(),
        "/record/MeetingScheduled".into(),
    ];
    let mut rows = Vec::new();
    let mut bodies = Vec::new();
    for (i, p) in pages.iter().enumerate() {
        let (status, body, first) = get(&format!("{base}{p}"), &token);
        assert_eq!(status, 200, "{p}: {}", String::from_utf8_lossy(&body));
        let times: Vec<f64> = (0..RUNS)
            .map(|_| get(&format!("{base}{p}"), &token).2)
            .collect();
        bodies.push((format!("/p{i}"), body.clone()));
        rows.push(Row {
            page: p.clone(),
            bytes: body.len(),
            first_ms: first,
            median_ms: median(times),
            peer_ms: 0.0,
        });
    }
    drop(server);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let peer = static_server(&rt, bodies, "text/html");
    for (i, r) in rows.iter_mut().enumerate() {
        let times: Vec<f64> = (0..RUNS)
            .map(|_| get(&format!("http://{peer}/p{i}"), "").2)
            .collect();
        r.peer_ms = median(times);
    }
    println!(
        "\nPages on the {n}-event log (budget: {} KB and {BUDGET_MS} ms each; peer: axum serving the same bytes)\n",
        BUDGET_BYTES / 1024
    );
    println!(
        "{:<44} {:>9} {:>10} {:>10} {:>8} {:>6} {:>5}",
        "page", "KB", "first ms", "median ms", "peer ms", "ratio", "met"
    );
    let mut json = Vec::new();
    for r in &rows {
        let met = r.bytes <= BUDGET_BYTES && r.median_ms <= BUDGET_MS;
        let first_met = r.first_ms <= BUDGET_MS;
        println!(
            "{:<44} {:>9.1} {:>10.1} {:>10.1} {:>8.2} {:>6.1} {:>5}",
            r.page.chars().take(44).collect::<String>(),
            r.bytes as f64 / 1024.0,
            r.first_ms,
            r.median_ms,
            r.peer_ms,
            r.median_ms / r.peer_ms.max(0.01),
            match (met, first_met) {
                (true, true) => "yes",
                (true, false) => "warm",
                _ => "NO",
            }
        );
        json.push(serde_json::json!({
            "page": r.page, "bytes": r.bytes, "first_ms": r.first_ms, "median_ms": r.median_ms,
            "peer_ms": r.peer_ms, "met": met, "first_met": first_met,
        }));
        // Size is a property of the page: it holds at every size of log.
        assert!(r.bytes <= BUDGET_BYTES, "{} is {} bytes", r.page, r.bytes);
    }
    let out = Path::new("target/bench");
    std::fs::create_dir_all(out).expect("target/bench");
    std::fs::write(
        out.join("pages.json"),
        serde_json::to_string_pretty(&json).expect("JSON"),
    )
    .expect("pages.json");
    println!("\n\"met\": yes within budget on the first view too; warm: within budget once the view is built (the first view folds or evaluates)");
}
