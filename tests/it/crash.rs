//! The crash harness: `accord record` and `accord serve` under load, killed with SIGKILL at
//! seeded random moments, restarted, and checked after every trial — the chain verifies, every
//! acknowledged event is there with its seq and content, no batch is partly there, projections
//! after restart equal projections rebuilt from scratch, and no reminder is lost or sent twice
//! but for the one resend (same Message-ID) of an attempt that a kill left open. Runs on sled
//! and on PostgreSQL. Also: SIGKILL during a single large batch.
//!
//! `ACCORD_CRASH_SEED` varies the seed (fixed in CI); `ACCORD_CRASH_TRIALS` sets the number of
//! trials on sled (CI: 100), PostgreSQL taking a third of it (CI: 30).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use accord::generate::Rng;
use accord::projections::work::ReminderStatus;
use accord::projections::{self, Corrections, Query, Views};
use accord::store::{EventStore, Location};

use super::helpers::{history, pg_schema, Accord, PgSchema};
use super::smtp::{available, free_port, Mail, SmtpServer};

fn big_batch(n: usize, tag: usize) -> String {
    let mut s = String::with_capacity(n * 250);
    for i in 0..n {
        s.push_str(&format!(
            r#"{{"id":"crash-{tag}-{i}","type":"ActivityReported","occurred":"2021-05","actor":"load","data":{{"activity":"a-{tag}-{i}","group":"joint-task-force","title":"Activity {i} of trial {tag}, reported under load"}}}}"#
        ));
        s.push('\n');
    }
    s
}

#[test]
fn kill_during_a_large_batch() {
    let a = Accord::new();
    a.record(&history());
    let n = 20_000;
    let trials = 8;
    // Time one uninterrupted record of the same size, then kill across that span.
    let timing = Accord::new();
    timing.record(&history());
    let file = timing.dir.path().join("batch.jsonl");
    std::fs::write(&file, big_batch(n, 99)).unwrap();
    let started = std::time::Instant::now();
    timing.record(&file);
    let span = started.elapsed();
    let (mut whole, mut absent) = (0, 0);
    for trial in 0..trials {
        let file = a.dir.path().join(format!("batch-{trial}.jsonl"));
        std::fs::write(&file, big_batch(n, trial)).unwrap();
        let before = a.last_seq();
        let mut child = a
            .command()
            .args(["record", file.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill at a different moment each trial: while parsing, hashing, writing, flushing,
        // and once after it finished.
        std::thread::sleep(span.mul_f64(0.15 + 0.15 * trial as f64));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let v = a.run(&["verify"]);
        assert_eq!(
            v.code, 0,
            "trial {trial}: chain broken after SIGKILL: {} {}",
            v.stdout, v.stderr
        );
        let after = a.last_seq();
        if after == before {
            absent += 1;
        } else {
            assert_eq!(after, before + n as u64, "trial {trial}: a partial batch");
            whole += 1;
        }
    }
    println!(
        "crash: {trials} SIGKILL trials of {n}-event batches over {span:?}: {whole} wholly recorded, {absent} wholly absent"
    );
    assert!(absent > 0, "no kill landed before the commit");
}

/// The seed of this run: `ACCORD_CRASH_SEED`, or the fixed one CI uses.
fn seed() -> u64 {
    std::env::var("ACCORD_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_128)
}

/// Trials on sled: `ACCORD_CRASH_TRIALS`, or the CI size.
fn sled_trials() -> usize {
    std::env::var("ACCORD_CRASH_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100)
}

/// A JSON Lines batch and its event ids.
struct Batch {
    name: String,
    text: String,
    ids: Vec<String>,
    data: HashMap<String, serde_json::Value>,
}

fn activity_line(id: &str, note: &str) -> (String, serde_json::Value) {
    let data = serde_json::json!({
        "activity": id.replace('.', "-"),
        "group": "joint-task-force",
        "title": format!("Activity {id}, reported under load ({note})"),
    });
    let line = serde_json::json!({
        "id": id, "type": "ActivityReported", "occurred": "2021-05", "actor": "load", "data": data,
    });
    (line.to_string(), data)
}

fn meeting_data(meeting: &str, start: chrono::NaiveDate) -> serde_json::Value {
    serde_json::json!({
        "meeting": meeting, "body": "MC", "kind": "cop",
        "title": format!("Meeting {meeting}"),
        "dates": format!("{start}/{}", start + chrono::Days::new(4)), "venue": "Geneva",
    })
}

/// `n` events, all with ids `NAME.i`; some are meetings (whose deadlines the scheduler sets),
/// most are activity reports.
fn batch(name: &str, n: usize, rng: &mut Rng, meetings: bool) -> Batch {
    let today = chrono::Utc::now().date_naive();
    let mut text = String::new();
    let mut ids = Vec::with_capacity(n);
    let mut data = HashMap::new();
    for i in 0..n {
        let id = format!("{name}.{i}");
        let (line, d) = if meetings && rng.fraction() <= 0.1 {
            let start = today + chrono::Days::new(rng.range(120, 300));
            let d = meeting_data(&format!("{}-{i}", name.replace('.', "-")), start);
            let line = serde_json::json!({
                "id": id, "type": "MeetingScheduled", "occurred": today.to_string(),
                "actor": "load", "data": d,
            });
            (line.to_string(), d)
        } else {
            activity_line(&id, name)
        };
        text.push_str(&line);
        text.push('\n');
        ids.push(id.clone());
        data.insert(id, d);
    }
    Batch {
        name: name.to_string(),
        text,
        ids,
        data,
    }
}

/// What the harness knows must hold of the log, accumulated over the trials.
#[derive(Default)]
struct Ledger {
    /// Every acknowledged event: id → (seq, hash).
    acked: HashMap<String, (u64, String)>,
    /// Events acknowledged over HTTP (a part of `acked`).
    acked_http: usize,
    /// Every batch tried: name → number of events.
    batches: BTreeMap<String, usize>,
    /// Batches seen whole in the log: they must stay; batches seen absent: they must stay out.
    present: BTreeSet<String>,
    absent: BTreeSet<String>,
    /// Message-ID → the number of kills that found its attempt open (recorded, no outcome).
    open_at_kill: HashMap<String, usize>,
    /// Kills of `record`: before the commit, after the commit but before the exit, after it.
    record_before: usize,
    record_unacked_after: usize,
    record_after_exit: usize,
    /// HTTP appends cut by a kill: absent, or recorded without the client hearing so.
    http_cut_absent: usize,
    http_cut_present: usize,
    record_trials: usize,
    serve_trials: usize,
    /// Kill delays are a random fraction of this many times the measured span of a record,
    /// moved after each trial so that kills land on both sides of the commit.
    record_scale: f64,
}

/// The batch an id belongs to.
fn batch_of(id: &str) -> Option<&str> {
    id.rsplit_once('.').map(|(b, _)| b)
}

/// Where the harness runs: the `accord` command and how to open its store in this process.
struct Rig {
    a: Accord,
    location: Location,
    cfg: std::path::PathBuf,
    token: String,
    smtp: SmtpServer,
    backend: &'static str,
    /// On PostgreSQL: the schema, and the `application_name` the killed processes connect
    /// with.
    pg: Option<(PgSchema, String)>,
}

impl Rig {
    fn new(mut a: Accord, backend: &'static str, schema: Option<PgSchema>) -> Rig {
        let location = match &a.storage_url {
            Some(url) => Location::parse(url),
            None => Location::Sled(a.data()),
        };
        let pg = schema.map(|s| {
            let name = format!("accord_crash_{}", std::process::id());
            a.storage_url = Some(format!("{}&application_name={name}", s.url));
            (s, name)
        });
        let smtp = SmtpServer::start(None);
        let cfg = super::reminders::config(
            &a,
            Some(smtp.port),
            &["pre-session-documents.toml", "weekly-digest.toml"],
        );
        // A loaded machine may take its time; a send that timed out would wait minutes to retry.
        let text = std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("timeout_secs = 2", "timeout_secs = 60");
        std::fs::write(&cfg, text).unwrap();
        let token = super::api::token(&a, "loader", "recorder");
        Rig {
            a,
            location,
            cfg,
            token,
            smtp,
            backend,
            pg,
        }
    }

    /// After a kill: on PostgreSQL, waits until the server has finished what the dead
    /// process's sessions had started (a transaction whose COMMIT arrived still commits).
    fn settle(&self) {
        let Some((schema, name)) = &self.pg else {
            return;
        };
        let mut c = schema.client();
        let started = Instant::now();
        loop {
            let n: i64 = c
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                    &[name],
                )
                .unwrap()
                .get(0);
            if n == 0 {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{n} sessions of killed processes still open after 60 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Opens the store in this process. sled lets go of its file lock once its last
    /// background thread has, a moment after the previous `store()` was dropped: wait for it.
    fn store(&self) -> std::sync::Arc<dyn EventStore> {
        let started = Instant::now();
        loop {
            match accord::store::open_location(&self.location) {
                Ok(s) => return s,
                Err(e) if started.elapsed() < Duration::from_secs(30) => {
                    let e = e.to_string();
                    assert!(
                        e.contains("lock") || e.contains("in use"),
                        "open the store: {e}"
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("open the store after the kill: {e}"),
            }
        }
    }

    fn cfg(&self) -> &str {
        self.cfg.to_str().unwrap()
    }
}

/// Records a batch with `accord record` and kills it after `delay`; returns whether it was
/// acknowledged (exit 0), with the (seq, hash) it printed for each event.
fn record_killed(rig: &Rig, b: &Batch, delay: Duration) -> Option<Vec<(u64, String)>> {
    let dir = rig.a.dir.path();
    let file = dir.join("trial.jsonl");
    std::fs::write(&file, &b.text).unwrap();
    let out = dir.join("trial.out");
    let mut child = rig
        .a
        .command()
        .args(["record", file.to_str().unwrap()])
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    child.kill().unwrap(); // SIGKILL, or nothing if it has exited
    let status = child.wait().unwrap();
    rig.settle();
    if status.code() != Some(0) {
        return None;
    }
    let printed = std::fs::read_to_string(&out).unwrap();
    let acks: Vec<(u64, String)> = printed
        .lines()
        .map(|l| {
            let mut w = l.split(' ');
            (
                w.next().unwrap().parse().expect("a seq"),
                w.next().expect("a hash").to_string(),
            )
        })
        .collect();
    assert_eq!(acks.len(), b.ids.len(), "record printed one line per event");
    Some(acks)
}

/// Meetings 71–84 days ahead, with the scheduler run 29 days ago: their submission deadlines
/// are days away and the reminders 28, 14 and 7 days before are due now, late.
fn due_reminders(rig: &Rig, ledger: &mut Ledger, name: &str, meetings: usize, rng: &mut Rng) {
    let today = chrono::Utc::now().date_naive();
    let mut text = String::new();
    let mut ids = Vec::new();
    for i in 0..meetings {
        let id = format!("{name}.{i}");
        let start = today + chrono::Days::new(70 + rng.range(1, 14));
        let line = serde_json::json!({
            "id": id, "type": "MeetingScheduled", "occurred": today.to_string(), "actor": "t",
            "data": meeting_data(&format!("{name}-{i}"), start),
        });
        text.push_str(&line.to_string());
        text.push('\n');
        ids.push(id);
    }
    let r = rig.a.record_text(&text);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for (id, line) in ids.iter().zip(r.stdout.lines()) {
        let mut w = line.split(' ');
        let seq = w.next().unwrap().parse().unwrap();
        ledger
            .acked
            .insert(id.clone(), (seq, w.next().unwrap().to_string()));
    }
    ledger.batches.insert(name.to_string(), meetings);
    let then = chrono::Utc::now() - chrono::Duration::days(29);
    let t = rig.a.run(&[
        "--config",
        rig.cfg(),
        "tick",
        "--now",
        &then.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    ]);
    assert_eq!(t.code, 0, "tick 29 days ago: {} {}", t.stdout, t.stderr);
}

/// Starts `accord serve` on a free port.
fn spawn_serve(rig: &Rig) -> (Child, u16) {
    let port = free_port();
    let child = rig.a.spawn_serve(&rig.cfg, port, Stdio::null());
    (child, port)
}

/// What an HTTP loader saw: acknowledged batches (with seq and hash per id), and batches whose
/// request was cut by the kill.
#[derive(Default)]
struct Seen {
    acked: Vec<(Batch, Vec<(u64, String)>)>,
    cut: Vec<Batch>,
}

/// Posts batches to `port` until `stop`; a refused connection (not up yet) retries the same
/// batch, a request cut short moves on.
fn load(port: u16, token: &str, name: &str, seed: u64, stop: &AtomicBool) -> Seen {
    let mut rng = Rng(seed);
    let mut seen = Seen::default();
    let url = format!("http://127.0.0.1:{port}/api/events");
    let mut k = 0;
    let mut next = batch(
        &format!("{name}-{k}"),
        rng.range(2, 6) as usize,
        &mut rng,
        true,
    );
    while !stop.load(Ordering::SeqCst) {
        let res = ureq::post(&url)
            .timeout(Duration::from_secs(60))
            .set("Authorization", &format!("Bearer {token}"))
            .send_string(&next.text);
        match res {
            Ok(r) => {
                let body: serde_json::Value =
                    serde_json::from_str(&r.into_string().unwrap()).expect("a JSON answer");
                let acks: Vec<(u64, String)> = body["recorded"]
                    .as_array()
                    .expect("recorded")
                    .iter()
                    .map(|e| {
                        (
                            e["seq"].as_u64().unwrap(),
                            e["hash"].as_str().unwrap().to_string(),
                        )
                    })
                    .collect();
                assert_eq!(acks.len(), next.ids.len(), "every event recorded: {body}");
                seen.acked.push((next, acks));
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(ureq::Error::Status(code, r)) => {
                panic!(
                    "POST answered {code}: {}",
                    r.into_string().unwrap_or_default()
                )
            }
            Err(ureq::Error::Transport(t)) => {
                let refused = t.kind() == ureq::ErrorKind::ConnectionFailed;
                if refused {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
                seen.cut.push(next);
            }
        }
        k += 1;
        next = batch(
            &format!("{name}-{k}"),
            rng.range(2, 6) as usize,
            &mut rng,
            true,
        );
    }
    seen
}

/// The Message-ID the scheduler gives a reminder.
fn message_id(r: &accord::projections::work::ReminderRow) -> String {
    format!("{}.{}@example.org", r.reminder, r.fire_at.0.timestamp())
}

fn mail_id(m: &Mail) -> String {
    m.header("message-id")
        .expect("a Message-ID")
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string()
}

/// The views from scratch: every event folded in seq order, corrections applied, no stored
/// state read.
fn rebuilt(store: &dyn EventStore) -> Views {
    let head = store.head().seq;
    let corrections = Corrections::load(store, head).unwrap();
    let mut views = Views::default();
    for env in store.read_from(1) {
        let env = env.unwrap();
        if let Some(e) = corrections.effective(&env).unwrap() {
            views.apply(&env, &e);
        }
    }
    views
}

/// Names the first read model that differs, with both versions.
fn first_difference(a: &Views, b: &Views) -> String {
    let (a, b) = (
        serde_json::to_value(a).unwrap(),
        serde_json::to_value(b).unwrap(),
    );
    for (k, va) in a.as_object().unwrap() {
        let vb = &b[k];
        if va != vb {
            if let (Some(oa), Some(ob)) = (va.as_object(), vb.as_object()) {
                for (kk, x) in oa {
                    if ob.get(kk) != Some(x) {
                        return format!("{k}.{kk}: after restart {x}\nrebuilt {:?}", ob.get(kk));
                    }
                }
                for kk in ob.keys() {
                    if !oa.contains_key(kk) {
                        return format!("{k}.{kk}: only in the rebuilt views");
                    }
                }
            }
            return format!("{k} differs");
        }
    }
    "no difference".into()
}

/// Every check after a trial, with the processes dead. Returns the views.
fn check(rig: &Rig, ledger: &mut Ledger, trial: usize) -> Views {
    let v = rig.a.run(&["verify"]);
    assert_eq!(
        v.code, 0,
        "{} trial {trial}: the chain does not verify after SIGKILL: {} {}",
        rig.backend, v.stdout, v.stderr
    );
    let store = rig.store();
    // The log: each acknowledged event at its seq with its hash (the hash covers the content).
    let mut by_id: HashMap<String, (u64, String)> = HashMap::new();
    let mut per_batch: HashMap<String, usize> = HashMap::new();
    for (expected_seq, env) in (1..).zip(store.read_from(1)) {
        let env = env.unwrap();
        assert_eq!(env.seq, expected_seq, "trial {trial}: a gap in seq");
        if let Some(b) = batch_of(&env.id) {
            *per_batch.entry(b.to_string()).or_default() += 1;
        }
        by_id.insert(env.id.clone(), (env.seq, env.hash.clone()));
    }
    for (id, want) in &ledger.acked {
        assert_eq!(
            by_id.get(id),
            Some(want),
            "{} trial {trial}: acknowledged event {id} is not in the log as acknowledged",
            rig.backend
        );
    }
    // Batches: whole or absent, and they stay so.
    for (name, n) in &ledger.batches {
        let got = per_batch.get(name).copied().unwrap_or(0);
        assert!(
            got == 0 || got == *n,
            "{} trial {trial}: batch {name} is partly there: {got} of {n} events",
            rig.backend
        );
        if got == 0 {
            assert!(
                !ledger.present.contains(name),
                "{} trial {trial}: batch {name} was in the log and has gone",
                rig.backend
            );
            ledger.absent.insert(name.clone());
        } else {
            assert!(
                !ledger.absent.contains(name),
                "{} trial {trial}: batch {name} was absent and has appeared",
                rig.backend
            );
            ledger.present.insert(name.clone());
        }
    }
    // Projections a restarted process serves (from its stored states) equal those rebuilt.
    let served = projections::views(&*store, &Query::default())
        .unwrap()
        .views;
    let scratch = rebuilt(&*store);
    assert!(
        served == scratch,
        "{} trial {trial}: projections after restart differ from a rebuild: {}",
        rig.backend,
        first_difference(&served, &scratch)
    );
    // Reminders: an attempt recorded without its outcome may be resent once, after this kill.
    for r in served.work.reminders.values() {
        if r.status == ReminderStatus::Attempted {
            *ledger.open_at_kill.entry(message_id(r)).or_default() += 1;
        }
    }
    check_mails(rig, ledger, &served, trial, false);
    served
}

/// Emails against the log: each delivered one belongs to a reminder; one recorded as sent was
/// delivered; copies beyond the first only where kills left its attempt open. At the end
/// (`all`), every reminder due has been sent. Returns (emails, duplicates).
fn check_mails(
    rig: &Rig,
    ledger: &Ledger,
    views: &Views,
    trial: usize,
    all: bool,
) -> (usize, usize) {
    let mails = rig.smtp.messages();
    let mut copies: HashMap<String, usize> = HashMap::new();
    for m in &mails {
        *copies.entry(mail_id(m)).or_default() += 1;
    }
    let known: HashMap<String, &accord::projections::work::ReminderRow> = views
        .work
        .reminders
        .values()
        .map(|r| (message_id(r), r))
        .collect();
    let mut duplicates = 0;
    for (id, n) in &copies {
        let r = known.get(id).unwrap_or_else(|| {
            panic!(
                "{} trial {trial}: an email {id} of no reminder in the log",
                rig.backend
            )
        });
        let open = ledger.open_at_kill.get(id).copied().unwrap_or(0);
        assert!(
            *n <= 1 + open,
            "{} trial {trial}: reminder {} delivered {n} times, its attempt open at {open} kill(s)",
            rig.backend,
            r.reminder
        );
        duplicates += n - 1;
    }
    let now = chrono::Utc::now();
    for (id, r) in &known {
        if r.status == ReminderStatus::Sent {
            assert!(
                copies.contains_key(id),
                "{} trial {trial}: reminder {} recorded as sent, never delivered",
                rig.backend,
                r.reminder
            );
        }
        if all && r.fire_at.0 <= now {
            assert_eq!(
                r.status,
                ReminderStatus::Sent,
                "{} at the end: reminder {} due at {} is not sent: {:?}",
                rig.backend,
                r.reminder,
                r.fire_at.0,
                r.reason
            );
        }
    }
    (mails.len(), duplicates)
}

fn record_trial(rig: &Rig, ledger: &mut Ledger, rng: &mut Rng, trial: usize, span: &Span) {
    let n = if rng.fraction() <= 0.3 {
        rng.range(2, 8)
    } else {
        rng.range(10, 60)
    } as usize;
    let b = batch(&format!("r{trial}"), n, rng, true);
    let delay = span.of(n).mul_f64(ledger.record_scale * rng.fraction());
    ledger.batches.insert(b.name.clone(), n);
    let before = rig.store().head().seq;
    match record_killed(rig, &b, delay) {
        Some(acks) => {
            ledger.record_after_exit += 1;
            ledger.record_scale *= 0.9;
            for (id, ack) in b.ids.iter().zip(acks) {
                ledger.acked.insert(id.clone(), ack);
            }
        }
        None => {
            let store = rig.store();
            let there = store.find_id(&b.ids[0]).unwrap().is_some();
            if there {
                ledger.record_unacked_after += 1;
            } else {
                assert_eq!(
                    store.head().seq,
                    before,
                    "trial {trial}: nothing else moved"
                );
                ledger.record_before += 1;
                ledger.record_scale *= 1.15;
            }
        }
    }
    check(rig, ledger, trial);
    // The content of what is there is what was sent.
    let store = rig.store();
    if let Some(seq) = store.find_id(&b.ids[b.ids.len() - 1]).unwrap() {
        let env = store.get(seq).unwrap().unwrap();
        assert_eq!(
            &env.data, &b.data[&env.id],
            "trial {trial}: content changed"
        );
    }
    ledger.record_trials += 1;
}

fn serve_trial(rig: &Rig, ledger: &mut Ledger, rng: &mut Rng, trial: usize) {
    due_reminders(rig, ledger, &format!("due{trial}"), 2, rng);
    let (mut child, port) = spawn_serve(rig);
    let stop = AtomicBool::new(false);
    let delay = Duration::from_millis(rng.range(30, 1500));
    let seeds = [rng.next_u64(), rng.next_u64()];
    let seen: Vec<Seen> = std::thread::scope(|s| {
        let loaders: Vec<_> = seeds
            .iter()
            .enumerate()
            .map(|(i, seed)| {
                let (stop, token) = (&stop, &rig.token);
                s.spawn(move || load(port, token, &format!("h{trial}x{i}"), *seed, stop))
            })
            .collect();
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        rig.settle();
        stop.store(true, Ordering::SeqCst);
        loaders.into_iter().map(|l| l.join().unwrap()).collect()
    });
    let mut cut = Vec::new();
    for s in seen {
        for (b, acks) in s.acked {
            ledger.batches.insert(b.name.clone(), b.ids.len());
            ledger.acked_http += acks.len();
            for (id, ack) in b.ids.iter().zip(acks) {
                ledger.acked.insert(id.clone(), ack);
            }
        }
        for b in s.cut {
            ledger.batches.insert(b.name.clone(), b.ids.len());
            cut.push(b.name);
        }
    }
    check(rig, ledger, trial);
    for name in cut {
        if ledger.present.contains(&name) {
            ledger.http_cut_present += 1;
        } else {
            ledger.http_cut_absent += 1;
        }
    }
    ledger.serve_trials += 1;
}

/// How long `accord record` takes for a batch of n events, measured on this store.
struct Span {
    one: Duration,
    per_event: Duration,
}

impl Span {
    fn of(&self, n: usize) -> Duration {
        self.one + self.per_event * n as u32
    }
}

fn measure(rig: &Rig, ledger: &mut Ledger, rng: &mut Rng) -> Span {
    let mut plain = |name: &str, n: usize, rng: &mut Rng| {
        let b = batch(name, n, rng, false);
        ledger.batches.insert(b.name.clone(), n);
        let file = rig.a.dir.path().join("measure.jsonl");
        std::fs::write(&file, &b.text).unwrap();
        let started = Instant::now();
        let r = rig.a.record(&file);
        let took = started.elapsed();
        for (id, line) in b.ids.iter().zip(r.stdout.lines()) {
            let mut w = line.split(' ');
            let seq = w.next().unwrap().parse().unwrap();
            ledger
                .acked
                .insert(id.clone(), (seq, w.next().unwrap().to_string()));
        }
        took
    };
    let one = plain("m1", 2, rng);
    let many = plain("m2", 200, rng);
    Span {
        one,
        per_event: many.saturating_sub(one) / 200,
    }
}

/// The whole harness on one store: `trials` trials, each a killed `record` or a killed
/// `serve`, then a last `serve` that drains every due reminder.
fn harness(rig: Rig, trials: usize, seed: u64) {
    let started = Instant::now();
    let mut rng = Rng(seed);
    let mut ledger = Ledger {
        record_scale: 1.3,
        ..Ledger::default()
    };
    rig.a.record(&history());
    let span = measure(&rig, &mut ledger, &mut rng);
    for trial in 0..trials {
        let t0 = Instant::now();
        let what = if rng.fraction() <= 0.55 {
            record_trial(&rig, &mut ledger, &mut rng, trial, &span);
            "record"
        } else {
            serve_trial(&rig, &mut ledger, &mut rng, trial);
            "serve"
        };
        if std::env::var_os("ACCORD_CRASH_VERBOSE").is_some() {
            eprintln!(
                "crash: {} trial {trial} ({what}) took {:.1?}; {} events acknowledged so far",
                rig.backend,
                t0.elapsed(),
                ledger.acked.len()
            );
        }
    }
    // The last restart runs until every due reminder is sent, then stops on SIGTERM.
    let (mut child, port) = spawn_serve(&rig);
    let waited = Instant::now();
    loop {
        assert!(child.try_wait().unwrap().is_none(), "serve exited early");
        let res = ureq::get(&format!("http://127.0.0.1:{port}/api/reminders"))
            .timeout(Duration::from_secs(60))
            .set("Authorization", &format!("Bearer {}", rig.token))
            .call();
        if let Ok(r) = res {
            let rows: Vec<serde_json::Value> =
                serde_json::from_str(&r.into_string().unwrap()).unwrap();
            let now = chrono::Utc::now();
            let pending = rows.iter().any(|r| {
                let fire: chrono::DateTime<chrono::Utc> =
                    r["fire_at"].as_str().unwrap().parse().unwrap();
                match r["status"].as_str().unwrap() {
                    "scheduled" => fire <= now,
                    "attempted" | "retrying" => true,
                    _ => false,
                }
            });
            if !pending {
                break;
            }
        }
        assert!(
            waited.elapsed() < Duration::from_secs(300),
            "the last serve did not drain the due reminders within 300 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let term = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    assert_eq!(child.wait().unwrap().code(), Some(0), "serve exits 0");
    let views = check(&rig, &mut ledger, trials);
    let (mails, duplicates) = check_mails(&rig, &ledger, &views, trials, true);
    let now = chrono::Utc::now();
    let due = views
        .work
        .reminders
        .values()
        .filter(|r| r.fire_at.0 <= now)
        .count();
    // And the binary agrees: every listing the same before and after `accord replay`.
    let listings = |a: &Accord| -> Vec<String> {
        let mut out: Vec<String> = super::helpers::VIEWS
            .iter()
            .map(|w| a.run(&["show", w, "--format", "json"]).stdout)
            .collect();
        out.push(
            a.run(&["--config", rig.cfg(), "deadlines", "--format", "json"])
                .stdout,
        );
        out.push(
            a.run(&["--config", rig.cfg(), "reminders", "--format", "json"])
                .stdout,
        );
        out
    };
    let before = listings(&rig.a);
    assert_eq!(rig.a.run(&["replay"]).code, 0);
    assert!(before == listings(&rig.a), "listings change on replay");
    let open: usize = ledger.open_at_kill.values().sum();
    println!(
        "crash: {}: seed {seed}, {trials} trials ({} record, {} serve) in {:.0?}: record killed \
         before commit {}, after commit {}, after exit {}; HTTP appends cut before commit {}, \
         after commit {}; {} events acknowledged ({} over HTTP); {due} reminders due, {mails} \
         emails, {duplicates} duplicates (same Message-ID), {open} attempts open at a kill",
        rig.backend,
        ledger.record_trials,
        ledger.serve_trials,
        started.elapsed(),
        ledger.record_before,
        ledger.record_unacked_after,
        ledger.record_after_exit,
        ledger.http_cut_absent,
        ledger.http_cut_present,
        ledger.acked.len(),
        ledger.acked_http,
    );
    assert!(ledger.record_before > 0, "no kill landed before a commit");
    assert!(due > 0, "no reminder was due");
}

#[test]
fn record_and_serve_killed_at_random_on_sled() {
    if !available("record_and_serve_killed_at_random_on_sled") {
        return;
    }
    harness(Rig::new(Accord::new(), "sled", None), sled_trials(), seed());
}

#[test]
fn record_and_serve_killed_at_random_on_postgres() {
    if !available("record_and_serve_killed_at_random_on_postgres") {
        return;
    }
    let Some(schema) = pg_schema("crash") else {
        return;
    };
    harness(
        Rig::new(Accord::on_postgres(&schema.url), "postgres", Some(schema)),
        (sled_trials() / 3).max(1),
        seed() ^ 0x9e37,
    );
}

/// `verify` checks the chain up to the head it found when it began: events appended while it
/// reads (another node on PostgreSQL, a request while serving, or the transaction of a killed
/// process that PostgreSQL finishes after its client died) are no break in the chain.
fn verify_while_appending(store: std::sync::Arc<dyn EventStore>, backend: &str) {
    let stop = AtomicBool::new(false);
    let (verified, appended) = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let text = (0..3)
                    .map(|i| activity_line(&format!("v{n}.{i}"), "verify").0 + "\n")
                    .collect::<String>();
                store
                    .append(accord::input::parse_batch(&text).unwrap())
                    .unwrap();
                n += 1;
            }
            n
        });
        let mut verified = 0;
        while verified < 30 {
            let r = accord::verify::verify_store(&*store, &mut |_| {});
            assert!(
                r.intact(),
                "{backend}: verify under concurrent appends, run {verified}: {:?}",
                r.first_bad
            );
            verified += 1;
        }
        stop.store(true, Ordering::SeqCst);
        (verified, writer.join().unwrap())
    });
    assert!(
        accord::verify::verify_store(&*store, &mut |_| {}).intact(),
        "{backend}: after the appends"
    );
    println!("crash: {backend}: {verified} verifications during {appended} concurrent appends, none saw a break");
}

#[test]
fn verify_during_concurrent_appends_sees_no_false_break() {
    let a = Accord::new();
    a.record(&history());
    verify_while_appending(
        accord::store::open_location(&Location::Sled(a.data())).unwrap(),
        "sled",
    );
    if let Some(schema) = pg_schema("crash_verify") {
        let pg = Accord::on_postgres(&schema.url);
        pg.record(&history());
        verify_while_appending(
            accord::store::open_location(&Location::parse(&schema.url)).unwrap(),
            "postgres",
        );
    }
}
