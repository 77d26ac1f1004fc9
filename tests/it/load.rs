//! Concurrency and load over HTTP: eight writers racing for the positions of one stream (on
//! sled, on PostgreSQL, and through two nodes sharing one PostgreSQL log), and a sustained mixed
//! load of batched writes, reads of every view on both time axes, and scheduler ticks, with the
//! server's resident memory watched and latencies reported.
//!
//! `ACCORD_LOAD_SCALE=N` multiplies the wins each racing writer must reach (CI: 25 each);
//! `ACCORD_LOAD_SECS=S` runs the mixed load for S seconds (CI: 30).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use accord::generate::Rng;
use serde_json::Value;

use super::api::{token, Server};
use super::helpers::{pg_schema, root, Accord};

/// The number an environment variable holds, or a default.
fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

/// A client with keep-alive and a generous timeout (the machine is shared and loaded).
fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(300))
        .redirects(0)
        .build()
}

/// (status, body) of one request, or what went wrong on the way.
fn send(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    token: &str,
    body: Option<&str>,
) -> Result<(u16, String), String> {
    let req = agent
        .request(method, url)
        .set("Authorization", &format!("Bearer {token}"));
    let res = match body {
        Some(b) => req
            .set("Content-Type", "application/x-ndjson")
            .send_string(b),
        None => req.call(),
    };
    match res {
        Ok(r) => {
            // Whole bodies, however large (the export grows with the log).
            let status = r.status();
            let mut body = String::new();
            std::io::Read::read_to_string(&mut r.into_reader(), &mut body)
                .map(|_| (status, body))
                .map_err(|e| format!("{method} {url}: reading the body: {e}"))
        }
        Err(ureq::Error::Status(code, r)) => Ok((code, r.into_string().unwrap_or_default())),
        Err(e) => Err(format!("{method} {url}: {e}")),
    }
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// An event won by a writer: the id it sent and the seq and position the server answered.
struct Claim {
    id: String,
    seq: u64,
    position: u64,
}

/// What one racing writer did.
#[derive(Default)]
struct Writer {
    claims: Vec<Claim>,
    /// Ids of attempts answered 409.
    refused: Vec<String>,
}

/// The last position of `stream` as the API shows it, reading only what is new since `since`.
fn stream_position(
    agent: &ureq::Agent,
    base: &str,
    token: &str,
    stream: &str,
    since: &mut u64,
    at: &mut u64,
) {
    loop {
        let url = format!("{base}/api/events?stream={stream}&since={since}&limit=10000");
        let (code, body) = send(agent, "GET", &url, token, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(code, 200, "{url}: {body}");
        let page = json(&body);
        for e in page["events"].as_array().expect("events") {
            *at = (*at).max(e["position"].as_u64().expect("position"));
            *since = e["seq"].as_u64().expect("seq") + 1;
        }
        if page["next"].is_null() {
            return;
        }
    }
}

/// A MeetingRescheduled of `meeting` that expects the stream at position `at`.
fn reschedule(id: &str, meeting: &str, at: u64, day: u64) -> String {
    format!(
        r#"{{"id":"{id}","type":"MeetingRescheduled","occurred":"2029-06-01","actor":"t","expected_position":{at},"data":{{"meeting":"{meeting}","dates":"2030-01-{:02}/2030-01-28","reason":"attempt {id}"}}}}"#,
        1 + day % 27
    )
}

/// One writer: read the stream's position, append with it expected, on 409 read again; until
/// it has won `wins` positions.
fn race_writer(w: usize, base: &str, token: &str, meeting: &str, wins: usize) -> Writer {
    let agent = agent();
    let stream = format!("meeting/{meeting}");
    let mut out = Writer::default();
    let (mut since, mut at) = (1, 0);
    let mut attempt = 0u64;
    while out.claims.len() < wins {
        stream_position(&agent, base, token, &stream, &mut since, &mut at);
        attempt += 1;
        let id = format!("race-w{w}-a{attempt}");
        let line = reschedule(&id, meeting, at, attempt);
        let url = format!("{base}/api/events");
        let (code, body) =
            send(&agent, "POST", &url, token, Some(&line)).unwrap_or_else(|e| panic!("{e}"));
        match code {
            200 => {
                let r = &json(&body)["recorded"][0];
                let claim = Claim {
                    id: r["id"].as_str().expect("id").to_string(),
                    seq: r["seq"].as_u64().expect("seq"),
                    position: r["position"].as_u64().expect("position"),
                };
                assert_eq!(claim.id, id, "{body}");
                assert_eq!(
                    claim.position,
                    at + 1,
                    "a win lands right after the position it expected: {body}"
                );
                out.claims.push(claim);
            }
            409 => {
                let c = json(&body);
                assert_eq!(c["expected"], at, "{body}");
                assert!(
                    c["actual"].as_u64() > Some(at),
                    "a conflict means someone else moved the stream: {body}"
                );
                out.refused.push(id);
            }
            other => panic!("writer {w}: {other} from POST /api/events: {body}"),
        }
    }
    out
}

/// Eight writers race on one stream through the servers at `bases` (writer i uses
/// `bases[i % n]` with `tokens[i % n]`), then every claim is checked against the export.
/// `admin` reads the export from `bases[0]`. Returns the figures for the printed line.
fn race(bases: &[String], tokens: &[String], admin: &str, wins: usize) -> String {
    let meeting = "race-cop";
    let started = Instant::now();
    let writers: Vec<Writer> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|w| {
                let (base, token) = (&bases[w % bases.len()], &tokens[w % tokens.len()]);
                scope.spawn(move || race_writer(w, base, token, meeting, wins))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let elapsed = started.elapsed();

    let (code, export) = send(
        &agent(),
        "GET",
        &format!("{}/api/events/export", bases[0]),
        admin,
        None,
    )
    .unwrap();
    assert_eq!(code, 200, "{export}");
    let records: Vec<Value> = export.lines().map(json).collect();
    // No gaps in seq: 1, 2, ... in order, and nothing but the test's events.
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["seq"], i as u64 + 1, "seq is gapless");
    }
    let won: usize = writers.iter().map(|w| w.claims.len()).sum();
    assert_eq!(
        records.len(),
        1 + won,
        "the meeting, then one event per win"
    );
    // Exactly one winner per position: the stream's positions are 1..=N, each once.
    let stream = format!("meeting/{meeting}");
    let mut by_position: BTreeMap<u64, (&str, u64)> = BTreeMap::new();
    for r in records.iter().filter(|r| r["stream"] == stream.as_str()) {
        let p = r["position"].as_u64().unwrap();
        let previous =
            by_position.insert(p, (r["id"].as_str().unwrap(), r["seq"].as_u64().unwrap()));
        assert!(previous.is_none(), "position {p} held twice");
    }
    let positions: Vec<u64> = by_position.keys().copied().collect();
    assert_eq!(
        positions,
        (1..=1 + won as u64).collect::<Vec<_>>(),
        "positions 1..N without a gap"
    );
    // Every acknowledged event is where its answer said; every refused one wrote nothing.
    for c in writers.iter().flat_map(|w| &w.claims) {
        assert_eq!(
            by_position.get(&c.position),
            Some(&(c.id.as_str(), c.seq)),
            "{} was acknowledged at position {} seq {}",
            c.id,
            c.position,
            c.seq
        );
    }
    let ids: HashSet<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let refused: Vec<&String> = writers.iter().flat_map(|w| &w.refused).collect();
    for id in &refused {
        assert!(!ids.contains(id.as_str()), "{id} was refused yet recorded");
    }
    let (code, v) = send(
        &agent(),
        "GET",
        &format!("{}/api/verify", bases[0]),
        admin,
        None,
    )
    .unwrap();
    assert_eq!(
        (code, json(&v)["intact"].as_bool()),
        (200, Some(true)),
        "{v}"
    );
    format!(
        "8 writers × {wins} wins on one stream: {won} events, positions 1..{} one winner each, {} conflicts (409, nothing written), seq gapless to {}, chain verifies; {:.1} s",
        1 + won,
        refused.len(),
        records.len(),
        elapsed.as_secs_f64()
    )
}

const RACE_MEETING: &str = r#"{"id":"race-scheduled","type":"MeetingScheduled","occurred":"2029-01","actor":"t","data":{"meeting":"race-cop","body":"MC","kind":"cop","title":"Raced meeting","dates":"2030-01-20/2030-01-24"}}"#;

fn race_wins() -> usize {
    25 * env_number("ACCORD_LOAD_SCALE", 1) as usize
}

/// The race through one `accord serve` over `a`'s store.
fn race_through_one_server(a: &Accord, label: &str) {
    assert_eq!(a.record_text(RACE_MEETING).code, 0);
    let recorder = token(a, "racer", "recorder");
    let admin = token(a, "auditor", "admin");
    let server = Server::start_with(a, None);
    let line = race(&[server.url("")], &[recorder], &admin, race_wins());
    assert_eq!(server.stop(), Some(0));
    assert_eq!(a.run(&["verify"]).code, 0);
    println!("load race ({label}): {line}");
}

#[test]
fn eight_writers_one_stream_on_sled() {
    race_through_one_server(&Accord::new(), "sled");
}

#[test]
fn eight_writers_one_stream_on_postgres() {
    let Some(schema) = pg_schema("load_race") else {
        return;
    };
    race_through_one_server(&Accord::on_postgres(&schema.url), "PostgreSQL");
}

#[test]
fn eight_writers_one_stream_through_two_nodes_on_postgres() {
    let Some(schema) = pg_schema("load_race_nodes") else {
        return;
    };
    let nodes = [
        Accord::on_postgres(&schema.url),
        Accord::on_postgres(&schema.url),
    ];
    assert_eq!(nodes[0].record_text(RACE_MEETING).code, 0);
    let tokens: Vec<String> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| token(n, &format!("racer-{i}"), "recorder"))
        .collect();
    let admin = token(&nodes[0], "auditor", "admin");
    let servers: Vec<Server> = nodes.iter().map(|n| Server::start_with(n, None)).collect();
    let bases: Vec<String> = servers.iter().map(|s| s.url("")).collect();
    let line = race(&bases, &tokens, &admin, race_wins());
    for s in servers {
        assert_eq!(s.stop(), Some(0));
    }
    assert_eq!(nodes[1].run(&["verify"]).code, 0);
    println!("load race (2 nodes, PostgreSQL): {line}");
}

/// Latencies of one class of requests, in microseconds.
#[derive(Default)]
struct Tally {
    latencies: HashMap<&'static str, Vec<u64>>,
    errors: Vec<String>,
    error_count: usize,
    conflicts: usize,
    events: u64,
    batches: u64,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        for (k, v) in other.latencies {
            self.latencies.entry(k).or_default().extend(v);
        }
        self.error_count += other.error_count;
        self.errors.extend(
            other
                .errors
                .into_iter()
                .take(10 - self.errors.len().min(10)),
        );
        self.conflicts += other.conflicts;
        self.events += other.events;
        self.batches += other.batches;
    }

    fn error(&mut self, what: String) {
        self.error_count += 1;
        if self.errors.len() < 10 {
            self.errors.push(what);
        }
    }

    /// One request, a POST of `body` or else a GET: timed under `class`; anything but a 2xx
    /// (or a 409 when `conflict_ok`) is an error. Returns the body of a 2xx, else `None`.
    fn request(
        &mut self,
        agent: &ureq::Agent,
        class: &'static str,
        url: &str,
        token: &str,
        body: Option<&str>,
        conflict_ok: bool,
    ) -> Option<String> {
        let method = if body.is_some() { "POST" } else { "GET" };
        let started = Instant::now();
        let res = send(agent, method, url, token, body);
        self.latencies
            .entry(class)
            .or_default()
            .push(started.elapsed().as_micros() as u64);
        match res {
            Ok((code, body)) if (200..300).contains(&code) => Some(body),
            Ok((409, _)) if conflict_ok => {
                self.conflicts += 1;
                None
            }
            Ok((code, body)) => {
                let short: String = body.chars().take(300).collect();
                self.error(format!("{code} from {method} {url}: {short}"));
                None
            }
            Err(e) => {
                self.error(e);
                None
            }
        }
    }

    fn requests(&self) -> usize {
        self.latencies.values().map(Vec::len).sum()
    }

    /// `class p50/p95/p99/max ms (n)` for each class.
    fn latency_line(&self) -> String {
        let mut classes: Vec<_> = self.latencies.iter().collect();
        classes.sort_by_key(|(k, _)| *k);
        classes
            .into_iter()
            .map(|(k, v)| {
                let mut v = v.clone();
                v.sort_unstable();
                let at = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0;
                format!(
                    "{k} {:.1}/{:.1}/{:.1}/{:.0} ms ({})",
                    at(0.5),
                    at(0.95),
                    at(0.99),
                    at(1.0),
                    v.len()
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The routes every reader cycles through: the current views, the dashboard, the calendar.
const CURRENT: &[(&str, &str)] = &[
    ("view", "/api/meetings"),
    ("view", "/api/decisions"),
    ("view", "/api/mandates"),
    ("view", "/api/groups"),
    ("view", "/api/reports"),
    ("view", "/api/activities"),
    ("view", "/api/agreements"),
    ("view", "/api/timeline"),
    ("view", "/api/deadlines?within=90d"),
    ("view", "/api/reminders"),
    ("view", "/api/meetings?body=MC&status=confirmed"),
    ("page", "/upcoming"),
    ("page", "/timeline"),
    ("page", "/meetings"),
    ("page", "/decisions"),
    ("page", "/groups"),
    ("page", "/reports"),
    ("page", "/trail"),
    ("page", "/evaluation"),
    ("calendar", "/calendar.ics"),
    ("calendar", "/calendar.ics?body=MC"),
    ("meta", "/metrics"),
    ("meta", "/api/verify"),
];

/// Runs the mixed load against `server` for `secs` seconds. Returns the printed line.
fn mixed_load(a: &Accord, server: &Server, tokens: &Tokens, backend: &str, secs: u64) -> String {
    let pid = server.pid();
    let base = server.url("");
    let Tokens {
        writer,
        reader,
        admin,
    } = tokens;
    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let stop = AtomicBool::new(false);
    let head = AtomicU64::new(1);
    let today = chrono::Utc::now().date_naive();
    // (when, resident KiB, the log's head as the writers last saw it)
    let mut samples: Vec<(Duration, u64, u64)> = Vec::new();
    let mut tally = Tally::default();
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        // Writers: batches of new meetings (their deadlines and reminders follow), moves,
        // documents posted, cancellations, paced so the log grows steadily.
        for w in 0..2u64 {
            let (base, writer, head) = (&base, &writer, &head);
            handles.push(scope.spawn(move || {
                let agent = agent();
                let mut rng = Rng(0x10AD + w);
                let mut t = Tally::default();
                let mut made = 0u64;
                // Meetings cancelled take nothing more (the life-cycle rules refuse it).
                let mut cancelled = std::collections::HashSet::new();
                while Instant::now() < until {
                    let size = 1 + rng.below(4);
                    let mut lines = Vec::new();
                    for _ in 0..size {
                        let mut kind = if made == 0 { 0 } else { rng.below(10) };
                        let mut m = if kind < 5 { made } else { rng.below(made) };
                        if kind >= 5 && cancelled.contains(&m) {
                            (kind, m) = (0, made);
                        }
                        if kind == 9 {
                            cancelled.insert(m);
                        }
                        let start = today + chrono::Days::new(20 + rng.below(120));
                        let dates = format!("{start}/{}", start + chrono::Days::new(4));
                        let meeting = format!("load-{w}-{m}");
                        lines.push(match kind {
                            0..=4 => {
                                made += 1;
                                format!(r#"{{"type":"MeetingScheduled","occurred":"{today}","actor":"t","data":{{"meeting":"{meeting}","body":"MC","kind":"cop","title":"Load meeting {m} of writer {w}","dates":"{dates}","venue":"Geneva"}}}}"#)
                            }
                            5..=7 => format!(r#"{{"type":"MeetingRescheduled","occurred":"{today}","actor":"t","data":{{"meeting":"{meeting}","dates":"{dates}","reason":"load"}}}}"#),
                            8 => format!(r#"{{"type":"DocumentPosted","occurred":"{today}","actor":"t","data":{{"document":"LOAD/{w}/{m}/{}","meeting":"{meeting}","kind":"pre_session","title":"Document"}}}}"#, rng.below(1 << 30)),
                            _ => format!(r#"{{"type":"MeetingCancelled","occurred":"{today}","actor":"t","data":{{"meeting":"{meeting}","reason":"load"}}}}"#),
                        });
                    }
                    let body = lines.join("\n");
                    if let Some(r) = t.request(&agent, "write", &format!("{base}/api/events"), writer, Some(&body), false) {
                        let r = json(&r);
                        let recorded = r["recorded"].as_array().map_or(0, Vec::len) as u64;
                        t.events += recorded;
                        t.batches += 1;
                        if let Some(seq) = r["recorded"].as_array().and_then(|a| a.last()).and_then(|l| l["seq"].as_u64()) {
                            head.fetch_max(seq, Ordering::Relaxed);
                        }
                    }
                    std::thread::sleep(Duration::from_millis(250));
                }
                t
            }));
        }
        // Two contenders on one stream with expected positions: the deliberate 409s.
        for w in 0..2u64 {
            let (base, writer) = (&base, &writer);
            handles.push(scope.spawn(move || {
                let agent = agent();
                let mut t = Tally::default();
                let stream = "meeting/race-cop";
                let (mut since, mut at, mut attempt) = (1, 0, 0);
                while Instant::now() < until {
                    let url =
                        format!("{base}/api/events?stream={stream}&since={since}&limit=10000");
                    let Some(body) = t.request(&agent, "trail", &url, writer, None, false) else {
                        continue;
                    };
                    let page = json(&body);
                    for e in page["events"].as_array().unwrap() {
                        at = at.max(e["position"].as_u64().unwrap());
                        since = e["seq"].as_u64().unwrap() + 1;
                    }
                    attempt += 1;
                    let line =
                        reschedule(&format!("contend-{w}-{attempt}"), "race-cop", at, attempt);
                    if t.request(
                        &agent,
                        "contend",
                        &format!("{base}/api/events"),
                        writer,
                        Some(&line),
                        true,
                    )
                    .is_some()
                    {
                        t.events += 1;
                        t.batches += 1;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                t
            }));
        }
        // Readers of every current view, page and feed.
        for r in 0..2usize {
            let (base, reader, admin, head) = (&base, &reader, &admin, &head);
            handles.push(scope.spawn(move || {
                let agent = agent();
                let mut rng = Rng(0xEAD + r as u64);
                let mut t = Tally::default();
                let mut i = r * 7;
                while Instant::now() < until {
                    let (class, path) = CURRENT[i % CURRENT.len()];
                    t.request(&agent, class, &format!("{base}{path}"), reader, None, false);
                    if i % CURRENT.len() == 0 {
                        let since = 1 + rng.below(head.load(Ordering::Relaxed));
                        t.request(
                            &agent,
                            "trail",
                            &format!("{base}/api/events?since={since}&limit=200"),
                            reader,
                            None,
                            false,
                        );
                        t.request(
                            &agent,
                            "meta",
                            &format!("{base}/api/events/export"),
                            admin,
                            None,
                            false,
                        );
                    }
                    i += 1;
                }
                t
            }));
        }
        // Questions on the two time axes: as of a day, as known at an instant.
        {
            let (base, reader) = (&base, &reader);
            handles.push(scope.spawn(move || {
                let agent = agent();
                let mut rng = Rng(0xA50F);
                let mut t = Tally::default();
                let first = chrono::Utc::now();
                let paths = [
                    "/api/meetings",
                    "/api/mandates",
                    "/api/deadlines",
                    "/api/timeline",
                    "/upcoming",
                    "/meetings",
                ];
                while Instant::now() < until {
                    let path = paths[rng.below(paths.len() as u64) as usize];
                    let day = chrono::NaiveDate::from_ymd_opt(2015, 1, 1).unwrap()
                        + chrono::Days::new(rng.below(365 * 16));
                    t.request(
                        &agent,
                        "as_of",
                        &format!("{base}{path}?as_of={day}"),
                        reader,
                        None,
                        false,
                    );
                    let span = (chrono::Utc::now() - first).num_milliseconds().max(1) as u64;
                    let at = first - chrono::Duration::seconds(5)
                        + chrono::Duration::milliseconds(rng.below(span + 5000) as i64);
                    let at = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                    let path = paths[rng.below(paths.len() as u64) as usize];
                    t.request(
                        &agent,
                        "known_at",
                        &format!("{base}{path}?known_at={}", at.replace('+', "%2B")),
                        reader,
                        None,
                        false,
                    );
                }
                t
            }));
        }
        // The server's resident memory, sampled while the load runs.
        let sampler = scope.spawn(|| {
            let mut samples = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                if let Some(kib) = rss_kib(pid) {
                    samples.push((started.elapsed(), kib, head.load(Ordering::Relaxed)));
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            samples
        });
        for h in handles {
            tally.merge(h.join().unwrap());
        }
        stop.store(true, Ordering::Relaxed);
        samples = sampler.join().unwrap();
    });
    let elapsed = started.elapsed();

    // The scheduler ticked through the load: deadlines derived, reminders sent to the outbox.
    let agent = agent();
    let (_, deadlines) = send(
        &agent,
        "GET",
        &format!("{base}/api/deadlines"),
        reader,
        None,
    )
    .unwrap();
    let deadlines = json(&deadlines).as_array().map_or(0, Vec::len);
    let (_, metrics) = send(&agent, "GET", &format!("{base}/metrics"), reader, None).unwrap();
    let figure = |name: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
            .unwrap_or_default()
    };
    let emails = std::fs::read_dir(a.data().join("outbox")).map_or(0, |d| d.count());
    let (_, v) = send(&agent, "GET", &format!("{base}/api/verify"), reader, None).unwrap();
    let v = json(&v);

    // Memory: the peak after warm-up (the first quarter, at least 8 s) stays under twice the
    // warm-up peak plus 8 KiB per event recorded since (the read model grows with the log; a
    // leak per request outgrows that), and under a fixed ceiling.
    let warm_up = Duration::from_secs((secs / 4).max(8));
    let mib = |k: u64| k as f64 / 1024.0;
    let warm = samples
        .iter()
        .filter(|s| s.0 <= warm_up)
        .map(|s| s.1)
        .max()
        .expect("memory samples during warm-up");
    let warm_head = samples
        .iter()
        .filter(|s| s.0 <= warm_up)
        .map(|s| s.2)
        .max()
        .unwrap_or(0);
    let grown = v["last_seq"]
        .as_u64()
        .unwrap_or(0)
        .saturating_sub(warm_head);
    let after = samples
        .iter()
        .filter(|s| s.0 > warm_up)
        .map(|s| s.1)
        .max()
        .unwrap_or(warm);
    let last = samples.last().map_or(0, |s| s.1);
    const CEILING_MIB: u64 = 2048;
    let bound = (2 * warm + 8 * grown).min(CEILING_MIB * 1024);
    let requests = tally.requests();
    let line = format!(
        "load mixed ({backend}): {:.0} s, {requests} requests ({:.0}/s), {} events in {} batches ({:.0} events/s), {} deliberate 409s, {} errors; {} deadlines, {} reminders sent, {} emails, head {}, chain {}; RSS warm-up {:.0} MiB at head {warm_head}, peak after {:.0} MiB, end {:.0} MiB (bound {:.0} MiB, {} samples); latency p50/p95/p99/max: {}",
        elapsed.as_secs_f64(),
        requests as f64 / elapsed.as_secs_f64(),
        tally.events,
        tally.batches,
        tally.events as f64 / elapsed.as_secs_f64(),
        tally.conflicts,
        tally.error_count,
        deadlines,
        figure("accord_reminders_sent"),
        emails,
        v["last_seq"],
        if v["intact"] == true { "verifies" } else { "BROKEN" },
        mib(warm),
        mib(after),
        mib(last),
        mib(bound),
        samples.len(),
        tally.latency_line()
    );
    println!("{line}");
    assert!(
        tally.errors.is_empty(),
        "{} errors under load, the first: {:#?}",
        tally.error_count,
        tally.errors
    );
    assert_eq!(v["intact"], true, "{v}");
    assert!(
        tally.events > 0 && tally.conflicts > 0,
        "the load wrote and contended"
    );
    assert!(
        deadlines > 0 && emails > 0,
        "the scheduler ticked under load"
    );
    assert!(
        after <= bound,
        "resident memory grew from {:.0} MiB after warm-up to {:.0} MiB (bound {:.0} MiB)",
        mib(warm),
        mib(after),
        mib(bound)
    );
    line
}

/// The mixed load's tokens, one per role.
struct Tokens {
    writer: String,
    reader: String,
    admin: String,
}

/// A store with a generated history, the race meeting and a future meeting, tokens, and a
/// server running every shipped workflow over it.
fn loaded(a: &Accord) -> (Server, Tokens) {
    let generated = a.run(&["generate", "--events", "500", "--seed", "8"]);
    assert_eq!(generated.code, 0, "{}", generated.stderr);
    assert_eq!(a.record_text(&generated.stdout).code, 0);
    assert_eq!(a.record_text(RACE_MEETING).code, 0);
    super::helpers::future_meeting(a);
    let tokens = Tokens {
        writer: token(a, "load-writer", "recorder"),
        reader: token(a, "load-reader", "reader"),
        admin: token(a, "load-admin", "admin"),
    };
    (
        Server::start_with(a, Some(&root().join("workflows"))),
        tokens,
    )
}

fn load_secs() -> u64 {
    env_number("ACCORD_LOAD_SECS", 30)
}

#[test]
fn sustained_mixed_load_on_sled() {
    let a = Accord::new();
    let (server, tokens) = loaded(&a);
    mixed_load(&a, &server, &tokens, "sled", load_secs());
    assert_eq!(server.stop(), Some(0), "a clean stop after the load");
    assert_eq!(a.run(&["verify"]).code, 0);
}

#[test]
fn sustained_mixed_load_on_postgres() {
    let Some(schema) = pg_schema("load_mixed") else {
        return;
    };
    let a = Accord::on_postgres(&schema.url);
    let (server, tokens) = loaded(&a);
    mixed_load(&a, &server, &tokens, "PostgreSQL", load_secs());
    assert_eq!(server.stop(), Some(0), "a clean stop after the load");
    assert_eq!(a.run(&["verify"]).code, 0);
}
