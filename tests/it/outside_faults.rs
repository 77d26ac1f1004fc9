//! Faults of the outside world: a mail server down for days, flapping, slow, answering 4xx and
//! 5xx, and the system clock jumping under `accord serve`. Reminders are delayed, never lost,
//! never sent twice; retries back off. Uses the real SMTP server (`tests/smtp/server.py`) and,
//! for the clock, libfaketime (Debian's `faketime` package).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};

use super::helpers::{Accord, Run};
use super::reminders::config;
use super::smtp::{available, SmtpServer};

/// A number from the environment (for long runs), or the CI default.
fn env_or(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Records `count` COPs of the MC starting on consecutive days from `first`, known on `known`.
fn meetings(a: &Accord, known: NaiveDate, first: NaiveDate, count: u64) {
    let lines: Vec<String> = (0..count)
        .map(|i| {
            let start = first + chrono::Days::new(i);
            let end = start + chrono::Days::new(2);
            format!(
                r#"{{"type":"MeetingScheduled","occurred":"{known}","actor":"t","data":{{"meeting":"mc-x-{i}","body":"MC","kind":"cop","title":"Meeting {i}","dates":"{start}/{end}","venue":"Geneva"}}}}"#
            )
        })
        .collect();
    let r = a.record_text(&lines.join("\n"));
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// Ticks at `now` in a child process that must end within `limit`.
fn tick_bounded(a: &Accord, cfg: &Path, now: &str, limit: Duration) -> Run {
    let started = Instant::now();
    let mut child = a
        .command()
        .args(["--config", cfg.to_str().unwrap(), "tick", "--now", now])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    loop {
        if child.try_wait().unwrap().is_some() {
            let r: Run = child.wait_with_output().unwrap().into();
            super::helpers::assert_tick_code(&r, now);
            return r;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("tick at {now} hung for more than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The ids a tick's report lists after `word` ("sent" or "failed").
fn listed(r: &Run, word: &str) -> Vec<String> {
    r.stdout
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{word} ")))
        .filter(|id| id.starts_with("rem-"))
        .map(str::to_string)
        .collect()
}

fn next_due(r: &Run) -> Option<DateTime<Utc>> {
    r.stdout
        .split("next due ")
        .nth(1)
        .map(|s| at(s.lines().next().unwrap().trim()))
}

fn reminders(a: &Accord, cfg: &Path) -> Vec<serde_json::Value> {
    super::reminders::rows(a, cfg, &["reminders"])
}

/// The log's events of one type, by their data.
fn logged(a: &Accord, ty: &str) -> Vec<serde_json::Value> {
    a.export()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["type"] == ty)
        .map(|r| r["data"].clone())
        .collect()
}

/// Sets the server's mode and waits until its port is open (or closed, for "down").
fn set_mode(server: &SmtpServer, mode: &str) {
    server.set_mode(mode);
    let started = Instant::now();
    loop {
        let open = std::net::TcpStream::connect(("127.0.0.1", server.port)).is_ok();
        if open == (mode != "down") {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the SMTP server did not switch to {mode}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The Message-IDs the server received, each with its count.
fn received(server: &SmtpServer) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for m in server.messages() {
        *out.entry(m.header("message-id").unwrap().to_string())
            .or_insert(0) += 1;
    }
    out
}

fn duplicates(ids: &BTreeMap<String, usize>) -> usize {
    ids.values().map(|n| n - 1).sum()
}

/// The base of the backoff after attempt `k`, in seconds: 1, 5, 25, then 125 minutes.
fn base(k: u64) -> i64 {
    60 * 5i64.pow(k.clamp(1, 4) as u32 - 1)
}

/// Days of outage driven by `accord tick --now`: the server refuses connections, answers 421,
/// or flaps, tick after tick; reminders pile up and are retried with a growing, capped backoff
/// read from the log; those whose deadline passes are skipped with the reason; when the server
/// comes back one tick delivers the whole backlog, each Message-ID once.
///
/// Long run: `ACCORD_OUTAGE_MEETINGS` (6), `ACCORD_OUTAGE_DAYS` (20),
/// `ACCORD_OUTAGE_STEP_MINUTES` (240, the least simulated time between ticks).
#[test]
fn a_long_smtp_outage_delays_reminders_and_the_backlog_drains_once() {
    if !available("a_long_smtp_outage_delays_reminders_and_the_backlog_drains_once") {
        return;
    }
    let count = env_or("ACCORD_OUTAGE_MEETINGS", 6) as u64;
    let days = env_or("ACCORD_OUTAGE_DAYS", 20);
    let step = chrono::Duration::minutes(env_or("ACCORD_OUTAGE_STEP_MINUTES", 240));
    let server = SmtpServer::start(None);
    let a = Accord::new();
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    meetings(&a, day("2021-10-01"), day("2022-03-07"), count);
    let cfg = config(&a, Some(server.port), &["pre-session-documents.toml"]);
    let start = at("2021-12-10T10:00:00Z");
    let end = start + chrono::Duration::days(days);
    let limit = Duration::from_secs(120);
    // The instants each reminder was tried at, in order: attempt k is the k-th.
    let mut tried: BTreeMap<String, Vec<DateTime<Utc>>> = BTreeMap::new();
    // Flapping at times in the first half, then down hard: deadlines pass in the second.
    let (flapping, down) = (["down", "421", "down", "flap"], ["down", "421", "down"]);
    let half = start + chrono::Duration::days(days / 2);
    let (mut now, mut ticks, mut during, mut deferred) = (start, 0, 0, 0);
    while now <= end {
        set_mode(
            &server,
            if now < half {
                flapping[ticks % flapping.len()]
            } else {
                down[ticks % down.len()]
            },
        );
        let r = tick_bounded(&a, &cfg, &iso(now), limit);
        for id in listed(&r, "sent").into_iter().chain(listed(&r, "failed")) {
            tried.entry(id).or_default().push(now);
        }
        during += listed(&r, "sent").len();
        deferred += r.stdout.split("deferred ").nth(1).map_or(0, |n| {
            n.split(' ').next().unwrap().parse::<usize>().unwrap()
        });
        if !listed(&r, "failed").is_empty() {
            // The tick reports when its retries are due, the longest backoff at most.
            let next = next_due(&r);
            assert!(
                next.is_some_and(|t| t <= now + chrono::Duration::minutes(157)),
                "{}",
                r.stdout
            );
        }
        ticks += 1;
        now = next_due(&r).map_or(now + step, |t| t.max(now + step));
    }
    // The server is back: one tick, after the longest backoff, delivers the whole backlog
    // (and what fell due since the last tick).
    let drain = now.max(end) + chrono::Duration::minutes(160);
    let before = reminders(&a, &cfg);
    // Retrying, or due and not tried yet (deferred while the server was out of reach, or
    // fallen due since the last tick), and still useful.
    let backlog: BTreeSet<String> = before
        .iter()
        .filter(|r| {
            (r["status"] == "retrying"
                || r["status"] == "scheduled" && at(r["fire_at"].as_str().unwrap()) <= drain)
                && at(r["expires_at"].as_str().unwrap()) > drain
        })
        .map(|r| r["reminder"].as_str().unwrap().to_string())
        .collect();
    assert!(!backlog.is_empty(), "the outage left no backlog");
    set_mode(&server, "ok");
    let r = tick_bounded(&a, &cfg, &iso(drain), limit);
    let drained = listed(&r, "sent");
    assert!(listed(&r, "failed").is_empty(), "{}", r.stdout);
    for id in &drained {
        tried.entry(id.clone()).or_default().push(drain);
    }
    let r = tick_bounded(&a, &cfg, &iso(drain + chrono::Duration::minutes(1)), limit);
    assert!(listed(&r, "sent").is_empty(), "sent again: {}", r.stdout);

    let rows = reminders(&a, &cfg);
    let ids = received(&server);
    let sent: BTreeSet<String> = rows
        .iter()
        .filter(|r| r["status"] == "sent")
        .map(|r| r["reminder"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        drained.iter().cloned().collect::<BTreeSet<_>>(),
        backlog,
        "one tick drains the backlog"
    );
    assert_eq!(duplicates(&ids), 0, "{ids:?}");
    assert_eq!(ids.len(), sent.len(), "each sent reminder received once");
    for id in &sent {
        assert!(
            ids.keys().any(|m| m.starts_with(&format!("<{id}."))),
            "{id} not received"
        );
    }
    let mut skipped = 0;
    for r in &rows {
        let fired = at(r["fire_at"].as_str().unwrap()) <= drain;
        match r["status"].as_str().unwrap() {
            // Sent after failures: no failure reason is shown for it any more.
            "sent" => assert!(r["reason"].is_null(), "{r}"),
            "skipped" => {
                // Only what stopped being useful: its deadline passed during the outage.
                skipped += 1;
                assert!(at(r["expires_at"].as_str().unwrap()) <= drain, "{r}");
                let reason = r["reason"].as_str().unwrap();
                assert!(reason.contains("deadline"), "{reason}");
            }
            "scheduled" => assert!(!fired, "{r}"),
            other => panic!("a reminder ended {other}: {r}"),
        }
    }
    // Backoff, read from the log: retry_at of attempt k is 1, 5, 25, then 125 minutes after
    // the tick that tried, plus up to a quarter; never a permanent failure.
    let failures = logged(&a, "ReminderFailed");
    let mut largest = 0;
    for f in &failures {
        assert_eq!(
            f["permanent"], false,
            "a transient cause ended for good: {f}"
        );
        let id = f["reminder"].as_str().unwrap();
        let k = f["attempt"].as_u64().unwrap();
        let tried_at = tried[id][k as usize - 1];
        let wait = (at(f["retry_at"].as_str().unwrap()) - tried_at).num_seconds();
        assert!(
            (base(k)..=base(k) + base(k) / 4).contains(&wait),
            "{id} attempt {k}: waited {wait} s"
        );
        largest = largest.max(wait);
    }
    let attempts: usize = tried.values().map(Vec::len).sum();
    assert_eq!(attempts, logged(&a, "ReminderAttempted").len());
    assert_eq!(a.run(&["verify"]).code, 0);
    println!(
        "smtp outage: {days} days, {ticks} ticks, {} reminders, {attempts} attempts, {} retries, \
         largest backoff {} min, {during} sent during the outage, {deferred} sends deferred while out of reach, \
         {} drained by one tick, {skipped} skipped past their deadline, duplicates {}",
        rows.len(),
        failures.len(),
        largest / 60,
        drained.len(),
        duplicates(&ids)
    );
}

/// A server that answers every command within the timeout, but takes longer than the timeout
/// over a whole message, still gets each message, once.
#[test]
fn a_slow_server_gets_each_message_once() {
    if !available("a_slow_server_gets_each_message_once") {
        return;
    }
    let server = SmtpServer::start(None);
    let a = Accord::new();
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    meetings(&a, day("2021-10-01"), day("2022-03-07"), 1);
    // timeout_secs = 2; every answer comes 1.5 s late, 6 s in all for a message.
    let cfg = config(&a, Some(server.port), &["pre-session-documents.toml"]);
    tick_bounded(&a, &cfg, "2021-12-01T10:00:00Z", Duration::from_secs(60));
    set_mode(&server, "slow 1.5");
    let r = tick_bounded(&a, &cfg, "2021-12-13T08:00:00Z", Duration::from_secs(120));
    set_mode(&server, "ok");
    let sent = listed(&r, "sent").len();
    assert_eq!(sent, 1, "{}", r.stdout);
    let ids = received(&server);
    assert_eq!(ids.len(), 1);
    assert_eq!(duplicates(&ids), 0);
    println!(
        "smtp slow: 1 reminder, 1 attempt, 0 retries, answers 1.5 s late against a 2 s timeout, \
         delivered {sent}, duplicates 0"
    );
}

/// A server out of reach costs a tick one try, not one per message: the other due reminders
/// wait, untried and unrecorded, and go out, each once, when the server is back.
#[test]
fn an_unreachable_server_costs_a_tick_one_try() {
    if !available("an_unreachable_server_costs_a_tick_one_try") {
        return;
    }
    let server = SmtpServer::start(None);
    let a = Accord::new();
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    // Three 14-day reminders, of 13, 14 and 15 December, all due on the 15th.
    meetings(&a, day("2021-10-01"), day("2022-03-07"), 3);
    let cfg = config(&a, Some(server.port), &["pre-session-documents.toml"]);
    let limit = Duration::from_secs(60);
    tick_bounded(&a, &cfg, "2021-12-01T10:00:00Z", limit);
    set_mode(&server, "down");
    let r = tick_bounded(&a, &cfg, "2021-12-15T09:00:00Z", limit);
    assert_eq!(listed(&r, "failed").len(), 1, "{}", r.stdout);
    assert!(r.stdout.contains("deferred 2"), "{}", r.stdout);
    assert_eq!(logged(&a, "ReminderAttempted").len(), 1);
    // Still out of reach: the next tick tries the next one.
    let r = tick_bounded(&a, &cfg, "2021-12-15T09:00:10Z", limit);
    assert_eq!(listed(&r, "failed").len(), 1, "{}", r.stdout);
    assert!(r.stdout.contains("deferred 1"), "{}", r.stdout);
    // Two retries and a first try are due together: the first try goes first, so a message
    // that keeps failing on its own never holds the others back.
    let r = tick_bounded(&a, &cfg, "2021-12-15T09:02:00Z", limit);
    assert!(r.stdout.contains("deferred 2"), "{}", r.stdout);
    let attempted = logged(&a, "ReminderAttempted");
    assert_eq!(attempted.len(), 3);
    assert!(
        attempted[..2]
            .iter()
            .all(|x| x["reminder"] != attempted[2]["reminder"]),
        "a reminder that had failed was tried before one never tried: {attempted:?}"
    );
    set_mode(&server, "ok");
    let r = tick_bounded(&a, &cfg, "2021-12-15T09:05:00Z", limit);
    assert_eq!(listed(&r, "sent").len(), 3, "{}", r.stdout);
    let ids = received(&server);
    assert_eq!(ids.len(), 3);
    assert_eq!(duplicates(&ids), 0);
    let attempts = logged(&a, "ReminderAttempted").len();
    assert_eq!(attempts, 6);
    println!(
        "smtp unreachable: 3 reminders, {attempts} attempts, 3 retries, 5 sends deferred, \
         first tries before retries, largest backoff 1 min, duplicates 0"
    );
}

/// `accord serve` with its output collected; killed when dropped.
struct Serve {
    child: Child,
    out: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    fn start(a: &Accord, cfg: &Path, env: &[(&str, String)]) -> Serve {
        let mut cmd = a.command();
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .args([
                "--config",
                cfg.to_str().unwrap(),
                "serve",
                "--listen",
                "127.0.0.1:0",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let out = out.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    out.lock().unwrap().push(line);
                }
            });
        }
        Serve { child, out }
    }

    fn output(&self) -> String {
        self.out.lock().unwrap().join("\n")
    }

    fn base_url(&self) -> String {
        self.wait_for("no address", Duration::from_secs(30), |o| {
            o.contains("listening on ")
        });
        super::api::listening_address(&self.output()).unwrap()
    }

    /// Waits until `done` holds of the output, or fails with `what` after `limit`.
    fn wait_for(&self, what: &str, limit: Duration, done: impl Fn(&str) -> bool) {
        let started = Instant::now();
        while !done(&self.output()) {
            assert!(
                started.elapsed() < limit,
                "{what} within {limit:?}: {}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGTERM; asserts a clean exit.
    fn stop(mut self) {
        std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let started = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                assert_eq!(s.code(), Some(0), "{}", self.output());
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "serve did not stop"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the server has received `n` messages.
fn wait_received(server: &SmtpServer, n: usize, limit: Duration, serve: &mut Serve) {
    let started = Instant::now();
    while server.messages().len() < n {
        assert!(serve.alive(), "serve exited: {}", serve.output());
        assert!(
            started.elapsed() < limit,
            "{} of {n} messages within {limit:?}: {}",
            server.messages().len(),
            serve.output()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `accord serve` in real time against a flapping server (every other message refused with
/// 421), then a slow one: the refused reminders are retried after about a minute and all
/// arrive, each once.
#[test]
fn serve_against_a_flapping_then_slow_server_delivers_each_reminder_once() {
    if !available("serve_against_a_flapping_then_slow_server_delivers_each_reminder_once") {
        return;
    }
    let server = SmtpServer::start(None);
    let a = Accord::new();
    let today = Utc::now().date_naive();
    // Two meetings 75 and 76 days ahead: their submission deadlines are 5 and 6 days ahead,
    // and the 28-, 14- and 7-day reminders of both are due now (late), six in all.
    meetings(
        &a,
        today - chrono::Days::new(60),
        today + chrono::Days::new(75),
        2,
    );
    let cfg = config(&a, Some(server.port), &["pre-session-documents.toml"]);
    let month_ago = (today - chrono::Days::new(30))
        .and_hms_opt(12, 0, 0)
        .unwrap();
    tick_bounded(&a, &cfg, &iso(month_ago.and_utc()), Duration::from_secs(60));
    set_mode(&server, "flap");
    let mut serve = Serve::start(&a, &cfg, &[]);
    // The first tick: three refused, three accepted.
    wait_received(&server, 3, Duration::from_secs(60), &mut serve);
    serve.wait_for("the first tick's report", Duration::from_secs(60), |o| {
        o.contains("failed 3")
    });
    set_mode(&server, "slow 1");
    // The retries, a minute or so later, through the slow server.
    wait_received(&server, 6, Duration::from_secs(150), &mut serve);
    std::thread::sleep(Duration::from_secs(2));
    serve.stop();
    let ids = received(&server);
    assert_eq!(ids.len(), 6, "{ids:?}");
    assert_eq!(duplicates(&ids), 0, "{ids:?}");
    let rows = reminders(&a, &cfg);
    let sent: Vec<_> = rows.iter().filter(|r| r["status"] == "sent").collect();
    assert_eq!(sent.len(), 6, "{rows:?}");
    let attempts: u64 = sent.iter().map(|r| r["attempts"].as_u64().unwrap()).sum();
    let failures = logged(&a, "ReminderFailed");
    assert_eq!(failures.len(), 3);
    assert_eq!(attempts, 9);
    println!(
        "smtp serve flapping then slow: 6 reminders, {attempts} attempts, {} retries, \
         largest backoff base {} s, duplicates {}",
        failures.len(),
        failures
            .iter()
            .map(|f| f["attempt"].as_u64().unwrap())
            .max()
            .map_or(0, base),
        duplicates(&ids)
    );
}

/// libfaketime, when installed (Debian's `faketime` package).
fn libfaketime() -> Option<std::path::PathBuf> {
    [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
    ]
    .iter()
    .map(std::path::PathBuf::from)
    .find(|p| p.exists())
}

/// The system clock of `accord serve`, moved by libfaketime while it runs: its offset from the
/// real clock, in seconds, is read from a file at every reading of the clock (the monotonic
/// clock, which tokio's timers use, is left alone).
struct FakeClock {
    file: std::path::PathBuf,
}

impl FakeClock {
    /// Sets the clock of the process to `to` (it then runs on from there).
    fn set(&self, to: DateTime<Utc>) {
        let offset = (to - Utc::now()).num_seconds();
        std::fs::write(&self.file, format!("{offset:+}\n")).unwrap();
    }

    fn env(&self, lib: &Path) -> Vec<(&'static str, String)> {
        vec![
            ("LD_PRELOAD", lib.display().to_string()),
            ("FAKETIME_TIMESTAMP_FILE", self.file.display().to_string()),
            ("FAKETIME_NO_CACHE", "1".to_string()),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1".to_string()),
        ]
    }
}

fn post_event(base: &str, token: &str, line: &str) {
    let r = ureq::post(&format!("{base}/api/events"))
        .timeout(Duration::from_secs(30))
        .set("Authorization", &format!("Bearer {token}"))
        .send_string(line);
    assert!(r.is_ok(), "{:?}", r.err());
}

/// `accord serve` while its system clock jumps: six days forward (what fell due goes out once,
/// late, and the reminder whose deadline passed is skipped with the reason), then an hour back
/// (nothing is sent again, the scheduler keeps ticking), then on to a later reminder, which
/// goes out. The scheduler notices the first jump by itself, within its one-minute nap.
#[test]
fn serve_with_the_clock_jumping_forward_days_and_back_an_hour() {
    let test = "serve_with_the_clock_jumping_forward_days_and_back_an_hour";
    let Some(lib) = libfaketime() else {
        println!("SKIPPED {test}: libfaketime is not installed here (.ci/run installs `faketime`)");
        return;
    };
    if !available(test) {
        return;
    }
    let server = SmtpServer::start(None);
    let a = Accord::new();
    let b = Utc::now().date_naive();
    let noon = |days: u64| {
        (b + chrono::Days::new(days))
            .and_hms_opt(12, 0, 0)
            .unwrap()
            .and_utc()
    };
    // Two meetings 75 and 76 days after day B: submission deadlines on B+5 and B+6,
    // distribution deadlines on B+33 and B+34, with reminders at 09:00 Geneva time.
    meetings(&a, b - chrono::Days::new(60), b + chrono::Days::new(75), 2);
    let token = super::api::token(&a, "clock-test", "recorder");
    let cfg = config(&a, Some(server.port), &["pre-session-documents.toml"]);
    let clock = FakeClock {
        file: a.dir.path().join("faketime"),
    };
    clock.set(noon(0));
    let mut serve = Serve::start(&a, &cfg, &clock.env(&lib));
    let base = serve.base_url();
    let tick_on = |day: u64| format!("tick at {}T", b + chrono::Days::new(day));
    serve.wait_for("the first tick on day B", Duration::from_secs(60), |o| {
        o.contains(&tick_on(0))
    });
    assert!(server.messages().is_empty(), "nothing is due on day B");

    // Six days forward: due are the submission reminder of B+5 (deadline B+6) and the two
    // distribution reminders of B+5 and B+6, all late; the one of B+4 is past its deadline.
    clock.set(noon(6));
    wait_received(&server, 3, Duration::from_secs(150), &mut serve);
    serve.wait_for("the skip", Duration::from_secs(30), |o| {
        o.contains("skipped 1")
    });

    // An hour back; an event wakes the scheduler, which ticks at the earlier time.
    clock.set(noon(6) - chrono::Duration::minutes(59));
    let later = b + chrono::Days::new(120);
    post_event(
        &base,
        &token,
        &format!(
            r#"{{"type":"MeetingScheduled","occurred":"{b}","actor":"t","data":{{"meeting":"mc-x-8","body":"MC","kind":"cop","title":"Meeting 8","dates":"{later}/{later}","venue":"Geneva"}}}}"#
        ),
    );
    serve.wait_for("a tick an hour back", Duration::from_secs(60), |o| {
        o.contains(&format!("{}11:", tick_on(6)))
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        server.messages().len(),
        3,
        "nothing sent again after the jump back"
    );

    // On to day B+19: the 14-day distribution reminder of B+19 goes out.
    clock.set(noon(19));
    let later = b + chrono::Days::new(121);
    post_event(
        &base,
        &token,
        &format!(
            r#"{{"type":"MeetingScheduled","occurred":"{b}","actor":"t","data":{{"meeting":"mc-x-9","body":"MC","kind":"cop","title":"Meeting 9","dates":"{later}/{later}","venue":"Geneva"}}}}"#
        ),
    );
    wait_received(&server, 4, Duration::from_secs(150), &mut serve);
    std::thread::sleep(Duration::from_secs(2));
    assert!(serve.alive());
    serve.stop();

    let ids = received(&server);
    assert_eq!(ids.len(), 4, "{ids:?}");
    assert_eq!(duplicates(&ids), 0, "{ids:?}");
    let attempted = logged(&a, "ReminderAttempted");
    assert_eq!(attempted.len(), 4);
    assert!(attempted.iter().all(|e| e["late"] == true), "{attempted:?}");
    let skipped = logged(&a, "ReminderSkipped");
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(skipped[0]["reason"].as_str().unwrap().contains("passed"));
    assert_eq!(logged(&a, "ReminderFailed").len(), 0);
    assert_eq!(a.run(&["verify"]).code, 0);
    println!(
        "clock jumps under serve: +6 days, -1 hour, +13 days; 4 reminders, {} attempts, 0 retries, \
         largest backoff 0, {} late, {} skipped past their deadline, duplicates {}",
        attempted.len(),
        attempted.len(),
        skipped.len(),
        duplicates(&ids)
    );
}
