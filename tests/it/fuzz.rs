//! Hostile input, fuzzed with proptest: the event decoder and validator, the import of exports,
//! the workflow file parser, cron expressions and dates, and `accord serve`'s request bodies
//! and query parameters. Properties: no panic, no hang (a watchdog aborts a case that runs past
//! its bound), rejected input writes nothing, accepted input round-trips.
//!
//! Fixed seeds: CI runs the same cases every time. `ACCORD_FUZZ_CASES=N` runs N cases per
//! target instead (the API target runs a tenth of them), `ACCORD_FUZZ_SEED=S` draws other ones.

use std::io::BufReader;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

use accord::domain::ApproxDate;
use accord::envelope::Envelope;
use accord::store::{EventStore, Location};

use super::helpers::{history, root};

/// Cases per target: `ACCORD_FUZZ_CASES`, else `ci`.
pub fn cases(ci: u32) -> u32 {
    std::env::var("ACCORD_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(ci)
}

/// A runner with a fixed seed per target (`ACCORD_FUZZ_SEED` changes it).
pub fn runner(target: &str, cases: u32) -> TestRunner {
    let seed: u64 = std::env::var("ACCORD_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    for (i, b) in target.bytes().enumerate() {
        bytes[8 + i % 24] ^= b;
    }
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 500,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

/// Counts the cases of one target and aborts the process when one runs past `limit` (a hang),
/// naming the target and the input.
pub struct Watchdog {
    target: &'static str,
    started_ms: Arc<AtomicU64>,
    input: Arc<Mutex<String>>,
    done: Arc<AtomicBool>,
    t0: Instant,
    pub cases: AtomicU64,
    pub accepted: AtomicU64,
    slowest_us: AtomicU64,
}

const IDLE: u64 = u64::MAX;

impl Watchdog {
    pub fn new(target: &'static str, limit: Duration) -> Watchdog {
        let started_ms = Arc::new(AtomicU64::new(IDLE));
        let input = Arc::new(Mutex::new(String::new()));
        let done = Arc::new(AtomicBool::new(false));
        let t0 = Instant::now();
        {
            let (started_ms, input, done) = (started_ms.clone(), input.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(200));
                    let s = started_ms.load(Ordering::Relaxed);
                    let now = t0.elapsed().as_millis() as u64;
                    if s != IDLE && now.saturating_sub(s) > limit.as_millis() as u64 {
                        let input = input.lock().map(|i| i.clone()).unwrap_or_default();
                        eprintln!("{target}: a case ran over {limit:?} (a hang); input: {input}");
                        std::process::abort();
                    }
                }
            });
        }
        Watchdog {
            target,
            started_ms,
            input,
            done,
            t0,
            cases: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            slowest_us: AtomicU64::new(0),
        }
    }

    /// Runs one case under the watchdog.
    pub fn case<T>(&self, input: &dyn std::fmt::Debug, f: impl FnOnce() -> T) -> T {
        if let Ok(mut i) = self.input.lock() {
            *i = format!("{input:?}").chars().take(4000).collect();
        }
        let start = Instant::now();
        self.started_ms
            .store(self.t0.elapsed().as_millis() as u64, Ordering::Relaxed);
        let out = f();
        self.started_ms.store(IDLE, Ordering::Relaxed);
        self.slowest_us
            .fetch_max(start.elapsed().as_micros() as u64, Ordering::Relaxed);
        self.cases.fetch_add(1, Ordering::Relaxed);
        out
    }

    pub fn accept(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }

    /// The figures line.
    pub fn report(&self, extra: &str) {
        println!(
            "fuzz: {}: {} cases ({} accepted), {:.1} s, slowest case {:.1} ms{extra}",
            self.target,
            self.cases.load(Ordering::Relaxed),
            self.accepted.load(Ordering::Relaxed),
            self.t0.elapsed().as_secs_f64(),
            self.slowest_us.load(Ordering::Relaxed) as f64 / 1000.0
        );
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
    }
}

/// Pieces that hostile input is made of.
pub const DICTIONARY: &[&str] = &[
    "\"",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "null",
    "true",
    "0",
    "-0",
    "1e999",
    "0.5",
    "-1",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775809",
    "99999999999999999999999999999999999999",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"\u{202e}\"",
    "\"2021-02-30\"",
    "\"2021-13\"",
    "\"2021-Q5\"",
    "\"0000\"",
    "\"9999..\"",
    "\"2021-11-05/2021-11-01\"",
    "\"../../etc/passwd\"",
    "\"<script>alert(1)</script>\"",
    "\"=HYPERLINK(\\\"x\\\")\"",
    "\"MeetingScheduled\"",
    "\"EventAmended\"",
    "\"EventRetracted\"",
    "\"seq\"",
    "\"version\"",
    "\"expected_position\"",
];

/// One edit of a byte string.
#[derive(Clone, Debug)]
pub enum Edit {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize, usize),
    Splice(usize, usize),
    Nest(usize, usize),
}

pub fn edits(max: usize) -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec(
        prop_oneof![
            (any::<usize>(), 0u8..8).prop_map(|(p, b)| Edit::Flip(p, b)),
            (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Edit::Insert(p, b)),
            (any::<usize>(), 1usize..40).prop_map(|(p, n)| Edit::Delete(p, n)),
            (any::<usize>(), 0..DICTIONARY.len()).prop_map(|(p, i)| Edit::Splice(p, i)),
            (any::<usize>(), 1usize..5000).prop_map(|(p, d)| Edit::Nest(p, d)),
        ],
        1..max,
    )
}

pub fn apply(bytes: &mut Vec<u8>, edits: &[Edit]) {
    for e in edits {
        let at = |p: usize, len: usize| if len == 0 { 0 } else { p % (len + 1) };
        match *e {
            Edit::Flip(p, b) if !bytes.is_empty() => {
                let i = p % bytes.len();
                bytes[i] ^= 1 << b;
            }
            Edit::Flip(..) => {}
            Edit::Insert(p, b) => {
                let i = at(p, bytes.len());
                bytes.insert(i, b);
            }
            Edit::Delete(p, n) => {
                let i = at(p, bytes.len());
                let j = (i + n).min(bytes.len());
                bytes.drain(i..j);
            }
            Edit::Splice(p, d) => {
                let i = at(p, bytes.len());
                bytes.splice(i..i, DICTIONARY[d].bytes());
            }
            Edit::Nest(p, depth) => {
                let i = at(p, bytes.len());
                let nest = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
                bytes.splice(i..i, nest.into_bytes());
            }
        }
    }
}

/// Valid event lines: the shipped history and one per golden sample.
pub fn seed_lines() -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_to_string(history())
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let mut samples: Vec<_> = std::fs::read_dir(root().join("events/samples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    samples.sort();
    for p in samples {
        let ty = p.file_stem().unwrap().to_str().unwrap().to_string();
        let data: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        lines.push(
            serde_json::json!({"type": ty, "occurred": "2021-03", "actor": "t", "data": data})
                .to_string(),
        );
    }
    lines
}

/// Values a JSON member may be set to.
const VALUES: &[&str] = &[
    "null",
    "true",
    "0",
    "-1",
    "1.5",
    "1e999",
    "18446744073709551616",
    "\"\"",
    "\"x\"",
    "\"<script>alert(1)</script>\"",
    "\"2021-02-30\"",
    "\"2021\"",
    "\"2021-11-05\"",
    "\"2021-Q4\"",
    "\"MC\"",
    "\"../../etc\"",
    "\"\\u0000\"",
    "[]",
    "{}",
    "[\"a\"]",
    "{\"a\":1}",
    "\"mc-cop-4\"",
    "\"requests\"",
    "\"cop\"",
    "\"a b\"",
];

/// Sets the `k`-th member (counting round, depth first) of a JSON value to `new`, or removes
/// it, or adds an unknown member beside it.
fn set_member(v: &mut serde_json::Value, k: usize, op: u8, new: &serde_json::Value) {
    fn walk(v: &mut serde_json::Value, k: &mut usize, op: u8, new: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::Object(o) => {
                let keys: Vec<String> = o.keys().cloned().collect();
                for key in keys {
                    if *k == 0 {
                        match op {
                            0 => {
                                o.remove(&key);
                            }
                            1 => {
                                o.insert(format!("{key}_x"), new.clone());
                            }
                            _ => {
                                o.insert(key, new.clone());
                            }
                        }
                        return true;
                    }
                    *k -= 1;
                    if walk(o.get_mut(&key).unwrap(), k, op, new) {
                        return true;
                    }
                }
                false
            }
            serde_json::Value::Array(a) => a.iter_mut().any(|x| walk(x, k, op, new)),
            _ => false,
        }
    }
    let mut n = k % 64;
    let mut tries = 0;
    while !walk(v, &mut n, op, new) && tries < 4 {
        n = k % (tries * 7 + 3);
        tries += 1;
    }
}

fn event_lines() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let seeds = seed_lines();
    let n = seeds.len();
    let structured = {
        let seeds = seeds.clone();
        (
            0..n,
            prop::collection::vec((any::<usize>(), 0u8..5, 0..VALUES.len()), 0..3),
        )
            .prop_map(move |(i, ops)| {
                let mut v: serde_json::Value = serde_json::from_str(&seeds[i]).unwrap();
                for (k, op, x) in ops {
                    let new: serde_json::Value = serde_json::from_str(VALUES[x])
                        .unwrap_or_else(|_| serde_json::Value::String(VALUES[x].into()));
                    set_member(&mut v, k, op, &new);
                }
                v.to_string().into_bytes()
            })
    };
    let one = prop_oneof![
        3 => structured,
        3 => (0..n, edits(4)).prop_map(move |(i, e)| {
            let mut b = seeds[i].clone().into_bytes();
            apply(&mut b, &e);
            b
        }),
        1 => prop::collection::vec(any::<u8>(), 0..300),
        1 => any::<String>().prop_map(String::into_bytes),
    ];
    prop::collection::vec(one, 1..4)
}

#[test]
fn fuzz_event_decoder_and_validator() {
    let dog = Watchdog::new("event decoder", Duration::from_secs(60));
    let lines_seen = std::cell::Cell::new(0u64);
    let mut runner = runner("event decoder", cases(3000));
    runner
        .run(&event_lines(), |lines| {
            let text: Vec<String> = lines
                .iter()
                .map(|l| String::from_utf8_lossy(l).replace('\n', " "))
                .collect();
            let joined = text.join("\n");
            let (batch, singles) = dog.case(&joined, || {
                let batch = accord::input::parse_batch(&joined);
                let singles: Vec<_> = text.iter().map(|l| accord::input::parse_batch(l)).collect();
                (batch, singles)
            });
            // A batch is whole: accepted exactly when each of its non-blank lines is.
            let each_ok = singles
                .iter()
                .zip(&text)
                .all(|(s, l)| s.is_ok() || l.trim().is_empty());
            let some_line = text.iter().any(|l| !l.trim().is_empty());
            prop_assert_eq!(batch.is_ok(), each_ok && some_line, "batch {:?}", batch);
            if let Ok(batch) = batch {
                dog.accept();
                for p in &batch {
                    // Accepted input round-trips: written back as a line, it reads the same.
                    let again = accord::input::parse_value(p.line, p.to_input_line())
                        .map_err(|e| TestCaseError::fail(format!("round trip: {e}")))?;
                    prop_assert_eq!(&again, p);
                    let back = ApproxDate::from_str(&p.occurred.to_string());
                    prop_assert_eq!(back, Ok(p.occurred));
                    // The event the scheduler would build from it passes the same gate.
                    prop_assert!(accord::input::Proposed::from_event(
                        p.event.clone(),
                        p.occurred,
                        "t",
                        None
                    )
                    .is_ok());
                }
            }
            lines_seen.set(lines_seen.get() + text.len() as u64);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    dog.report(&format!(", {} lines", lines_seen.get()));
}

/// A sled store in a temporary directory.
fn sled_store(dir: &Path) -> Arc<dyn EventStore> {
    accord::store::open_location(&Location::Sled(dir.to_path_buf())).unwrap()
}

/// The records of the shipped history, as a store exports them.
fn exported_history() -> Vec<Envelope> {
    let dir = tempfile::tempdir().unwrap();
    let store = sled_store(dir.path());
    let batch = accord::input::parse_batch(&std::fs::read_to_string(history()).unwrap()).unwrap();
    store.append(batch).unwrap();
    let records: Vec<Envelope> = store.read_from(1).map(Result::unwrap).collect();
    records
}

/// How an export is altered before it is imported.
#[derive(Clone, Debug)]
enum Mutation {
    /// Bytes of the text edited.
    Bytes(Vec<Edit>),
    DropLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    /// One hex digit of a hash or prev_hash changed.
    Hash(usize, bool, usize),
    Truncate(usize),
    /// A member of one record changed and the chain sealed again from there on, so only the
    /// import's own rules stand between it and the store.
    Resealed(usize, Field, i64, usize),
}

#[derive(Clone, Copy, Debug)]
enum Field {
    Seq,
    Position,
    Stream,
    Type,
    Version,
    RecordedAt,
    Id,
    Occurred,
    DataString,
    DataDrop,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let field = prop_oneof![
        Just(Field::Seq),
        Just(Field::Position),
        Just(Field::Stream),
        Just(Field::Type),
        Just(Field::Version),
        Just(Field::RecordedAt),
        Just(Field::Id),
        Just(Field::Occurred),
        Just(Field::DataString),
        Just(Field::DataDrop),
    ];
    prop_oneof![
        1 => edits(6).prop_map(Mutation::Bytes),
        1 => any::<usize>().prop_map(Mutation::DropLine),
        1 => any::<usize>().prop_map(Mutation::DuplicateLine),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        1 => (any::<usize>(), any::<bool>(), any::<usize>())
            .prop_map(|(a, b, c)| Mutation::Hash(a, b, c)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        3 => (any::<usize>(), field, -3i64..4, any::<usize>())
            .prop_map(|(i, f, d, k)| Mutation::Resealed(i, f, d, k)),
    ]
}

/// Replaces the `k`-th string leaf (counting round) of a JSON value; false when it has none.
fn set_string_leaf(v: &mut serde_json::Value, k: usize, new: &str) -> bool {
    fn count(v: &serde_json::Value) -> usize {
        match v {
            serde_json::Value::String(_) => 1,
            serde_json::Value::Array(a) => a.iter().map(count).sum(),
            serde_json::Value::Object(o) => o.values().map(count).sum(),
            _ => 0,
        }
    }
    fn set(v: &mut serde_json::Value, k: &mut usize, new: &str) -> bool {
        match v {
            serde_json::Value::String(s) if *k == 0 => {
                *s = new.to_string();
                true
            }
            serde_json::Value::String(_) => {
                *k -= 1;
                false
            }
            serde_json::Value::Array(a) => a.iter_mut().any(|x| set(x, k, new)),
            serde_json::Value::Object(o) => o.values_mut().any(|x| set(x, k, new)),
            _ => false,
        }
    }
    let n = count(v);
    n > 0 && set(v, &mut (k % n), new)
}

fn reseal(records: &mut [Envelope], i: usize, field: Field, d: i64, k: usize) {
    let others: Vec<Envelope> = records.to_vec();
    let r = &mut records[i];
    let pick = |k: usize| &others[k % others.len()];
    match field {
        Field::Seq => r.seq = r.seq.saturating_add_signed(d),
        Field::Position => r.position = r.position.saturating_add_signed(d),
        Field::Stream => r.stream = pick(k).stream.clone(),
        Field::Type => r.ty = pick(k).ty.clone(),
        Field::Version => r.version = r.version.saturating_add_signed(d as i32),
        Field::RecordedAt => {
            r.recorded_at = match k % 4 {
                0 => "2999-01-01T00:00:00.000000Z".into(),
                1 => "2000-01-01T00:00:00.000000Z".into(),
                2 => r.recorded_at.replace('Z', "+00:00"),
                _ => pick(k).recorded_at.clone(),
            }
        }
        Field::Id => r.id = pick(k).id.clone(),
        Field::Occurred => r.occurred = pick(k).occurred,
        Field::DataString => {
            let hostile = ["", "<script>", "2021-02-30", "../x", "MC", "-1", "x y"];
            set_string_leaf(&mut r.data, k, hostile[d.rem_euclid(7) as usize]);
        }
        Field::DataDrop => {
            if let Some(o) = r.data.as_object_mut() {
                if let Some(key) = o.keys().nth(k % o.len().max(1)).cloned() {
                    o.remove(&key);
                }
            }
        }
    }
    for j in i..records.len() {
        if j > 0 {
            records[j].prev_hash = records[j - 1].hash.clone();
        }
        records[j].seal();
    }
}

fn mutate(prefix: &[Envelope], rest: &[Envelope], m: &Mutation) -> String {
    let mut lines: Vec<String> = rest.iter().map(|r| r.to_canonical()).collect();
    let n = lines.len();
    match m {
        Mutation::Bytes(e) => {
            let mut b = lines.join("\n").into_bytes();
            apply(&mut b, e);
            return String::from_utf8_lossy(&b).into_owned();
        }
        Mutation::DropLine(i) => {
            lines.remove(i % n);
        }
        Mutation::DuplicateLine(i) => {
            let l = lines[i % n].clone();
            lines.insert(i % n, l);
        }
        Mutation::SwapLines(a, b) => lines.swap(a % n, b % n),
        Mutation::Hash(i, prev, at) => {
            let mut r = rest[i % n].clone();
            let h = if *prev { &mut r.prev_hash } else { &mut r.hash };
            let pos = at % h.len();
            let c = if &h[pos..pos + 1] == "0" { "1" } else { "0" };
            h.replace_range(pos..pos + 1, c);
            lines[i % n] = r.to_canonical();
        }
        Mutation::Truncate(at) => {
            let text = lines.join("\n");
            let mut cut = at % (text.len() + 1);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            return text[..cut].to_string();
        }
        Mutation::Resealed(i, f, d, k) => {
            let mut all: Vec<Envelope> = prefix.iter().chain(rest).cloned().collect();
            let at = prefix.len() + i % n;
            reseal(&mut all, at, *f, *d, *k);
            lines = all[prefix.len()..]
                .iter()
                .map(|r| r.to_canonical())
                .collect();
        }
    }
    lines.join("\n")
}

#[test]
fn fuzz_import_of_altered_exports() {
    let dog = Watchdog::new("import", Duration::from_secs(120));
    let records = exported_history();
    let split = 40;
    let (prefix, rest) = records.split_at(split);
    let fresh = || {
        let dir = tempfile::tempdir().unwrap();
        let store = sled_store(dir.path());
        store.import(prefix.to_vec()).unwrap();
        (dir, store)
    };
    let target = std::cell::RefCell::new(fresh());
    let mut runner = runner("import", cases(300));
    let (reached_store, verify_refused) = (std::cell::Cell::new(0u64), std::cell::Cell::new(0u64));
    runner
        .run(&mutation(), |m| {
            let text = mutate(prefix, rest, &m);
            let t = target.borrow();
            let store = &t.1;
            let before = store.head();
            let (report, parsed, outcome) = dog.case(&m, || {
                // `accord import`'s own path: the chain first, then the store's rules.
                let (report, _) = accord::verify::verify_export(
                    BufReader::new(text.as_bytes()),
                    true,
                    Some((before.seq, &before.hash)),
                )
                .unwrap();
                // Every record that parses goes to the store, verified or not, so the
                // store's import rules are tried on their own.
                let parsed: Option<Vec<Envelope>> = text
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| accord::verify::parse_record(l).ok())
                    .collect();
                let outcome = parsed.clone().map(|p| store.import(p));
                (report, parsed, outcome)
            });
            if report.first_bad.is_some() {
                verify_refused.set(verify_refused.get() + 1);
            }
            match outcome {
                None => {
                    prop_assert_eq!(store.head(), before.clone());
                }
                Some(Err(e)) => {
                    reached_store.set(reached_store.get() + 1);
                    prop_assert_eq!(store.head(), before.clone(), "rejected ({}) but written", e);
                    let n = store.read_from(1).count() as u64;
                    prop_assert_eq!(n, before.seq);
                }
                Some(Ok(())) => {
                    reached_store.set(reached_store.get() + 1);
                    dog.accept();
                    // Never accept what verification refuses.
                    prop_assert!(
                        report.first_bad.is_none(),
                        "imported, but verify says {:?}",
                        report.first_bad
                    );
                    let parsed = parsed.unwrap();
                    let exported: Vec<String> = store
                        .read_from(1)
                        .map(|r| r.unwrap().to_canonical())
                        .collect();
                    let expected: Vec<String> = prefix
                        .iter()
                        .chain(&parsed)
                        .map(|r| r.to_canonical())
                        .collect();
                    prop_assert_eq!(exported, expected);
                    let check = accord::verify::verify_store(&**store, &mut |_| {});
                    prop_assert!(check.intact(), "{:?}", check.first_bad);
                    accord::projections::views(&**store, &Default::default())
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    drop(t);
                    *target.borrow_mut() = fresh();
                }
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    dog.report(&format!(
        ", {} reached the store's import rules, {} refused by verify",
        reached_store.get(),
        verify_refused.get()
    ));
}

fn workflow_texts() -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(root().join("workflows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

const TOML_VALUES: &[&str] = &[
    "\"-99999999999d\"",
    "\"3661d\"",
    "\"-3660w\"",
    "\"+3660mo\"",
    "\"0d\"",
    "\"\"",
    "\"../../etc/passwd\"",
    "\"deadline/../../x\"",
    "\"0 0 0 30 2 *\"",
    "\"* * * * * *\"",
    "\"0 0 8 * * Mon 1999\"",
    "\"0 0 8 31 2 ? 2100\"",
    "\"59 59 23 L * *\"",
    "\"0 0 0 1 1 * 2099-2100\"",
    "\"Mars/Phobos\"",
    "\"Europe/Zurich\"",
    "9223372036854775807",
    "-1",
    "1e400",
    "[]",
    "{}",
    "\"{{ 1/0 }}\"",
    "\"{% for x in y %}\"",
    "\"{{ range(999999999) | join }}\"",
    "\"co_chairs:\"",
    "\"contact:<script>\"",
];

fn workflow_text() -> impl Strategy<Value = String> {
    let seeds = workflow_texts();
    let n = seeds.len();
    prop_oneof![
        (0..n, edits(6)).prop_map({
            let seeds = seeds.clone();
            move |(i, e)| {
                let mut b = seeds[i].clone().into_bytes();
                apply(&mut b, &e);
                String::from_utf8_lossy(&b).into_owned()
            }
        }),
        (
            0..n,
            prop::collection::vec((any::<usize>(), 0..TOML_VALUES.len(), 0u8..4), 1..5)
        )
            .prop_map(move |(i, ops)| {
                let mut lines: Vec<String> = seeds[i].lines().map(str::to_string).collect();
                for (at, v, op) in ops {
                    let k = at % lines.len();
                    match op {
                        0 => {
                            if let Some((key, _)) = lines[k].clone().split_once(" = ") {
                                lines[k] = format!("{key} = {}", TOML_VALUES[v]);
                            }
                        }
                        1 => {
                            lines.remove(k);
                        }
                        2 => {
                            let l = lines[k].clone();
                            lines.insert(k, l);
                        }
                        _ => {
                            let j = v % lines.len();
                            lines.swap(k, j);
                        }
                    }
                    if lines.is_empty() {
                        break;
                    }
                }
                lines.join("\n")
            }),
    ]
}

#[test]
fn fuzz_workflow_files() {
    let dog = Watchdog::new("workflow parser", Duration::from_secs(60));
    let templates = root().join("workflows/templates");
    let file = Path::new("fuzzed.toml");
    let mut runner = runner("workflow parser", cases(1000));
    runner
        .run(&workflow_text(), |text| {
            let parsed = dog.case(&text, || {
                accord::workflows::definition::parse(file, &text, &templates)
            });
            match parsed {
                Ok(wf) => {
                    dog.accept();
                    prop_assert!(!wf.name.is_empty() && !wf.name.contains('/'));
                    prop_assert!(!wf.template.contains('/') && !wf.template.contains(".."));
                    if let Some(c) = &wf.cron {
                        let gap = accord::scheduler::clock::min_gap(c);
                        prop_assert!(gap.is_none_or(|g| g >= chrono::Duration::hours(1)));
                    }
                }
                Err(e) => {
                    // Every refusal names the file.
                    prop_assert_eq!(e.file.as_str(), "fuzzed.toml");
                }
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    dog.report("");
}

/// One field of a cron expression at `position` (seconds, minutes, hours, day of month, month,
/// day of week, year): mostly values in range, sometimes not.
fn cron_field(position: usize) -> BoxedStrategy<String> {
    let (lo, hi, names): (u64, u64, &[&str]) = match position {
        0 | 1 => (0, 59, &[]),
        2 => (0, 23, &[]),
        3 => (1, 31, &["L", "?", "15W"]),
        4 => (1, 12, &["Jan", "FEB", "dec"]),
        5 => (1, 7, &["Mon", "fri", "?", "MON-FRI", "1#3", "5L"]),
        _ => (1970, 2200, &[]),
    };
    let good = prop_oneof![
        Just("*".to_string()),
        (lo..=hi).prop_map(|n| n.to_string()),
        (lo..=hi, lo..=hi).prop_map(|(a, b)| format!("{a}-{b}")),
        (lo..=hi, 1..=hi.max(1)).prop_map(|(a, b)| format!("{a}/{b}")),
        (lo..=hi, lo..=hi).prop_map(|(a, b)| format!("{a},{b}")),
    ];
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let bad = prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        (0u64..100).prop_map(|n| format!("*/{n}")),
        (0u64..5000, 0u64..5000).prop_map(|(a, b)| format!("{a}-{b}")),
        prop::sample::select(vec![
            "L", "W", "LW", "#", "-", "/", ",", "?", "0/0", "1-", "Mon-"
        ])
        .prop_map(str::to_string),
    ];
    if names.is_empty() {
        prop_oneof![6 => good, 1 => bad].boxed()
    } else {
        prop_oneof![6 => good, 2 => prop::sample::select(names), 1 => bad].boxed()
    }
}

fn cron_text() -> impl Strategy<Value = String> {
    let fields = (6usize..=7).prop_flat_map(|n| {
        (0..n)
            .map(cron_field)
            .collect::<Vec<_>>()
            .prop_map(|f| f.join(" "))
    });
    prop_oneof![
        8 => fields,
        1 => any::<String>(),
        1 => "[0-9*/,\\- ?LW#A-Za-z]{0,40}",
    ]
}

const ZONES: &[&str] = &[
    "UTC",
    "Europe/Zurich",
    "America/Sao_Paulo",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Asia/Kathmandu",
    "Pacific/Apia",
];

#[test]
fn fuzz_cron_expressions_and_dates() {
    use chrono::{DateTime, TimeZone, Utc};
    let dog = Watchdog::new("cron and dates", Duration::from_secs(60));
    let schedules = std::cell::Cell::new(0u64);
    let mut runner = runner("cron and dates", cases(1500));
    let input = (
        cron_text(),
        0..ZONES.len(),
        0i64..4_102_444_800,
        0i64..(400 * 86_400),
        prop_oneof![
            any::<String>(),
            "(19[0-9]{2}|2[0-9]{3}|[0-9]{4})(-[0-9 +]{1,2}(-[0-9 +]{1,2}(/[0-9]{4}-[0-9]{2}-[0-9 ]{2})?)?|-Q[0-9+]{1,2}|-H[0-9+]{1,2}|-early|-mid|-late|\\.\\.)?",
        ],
    );
    runner
        .run(&input, |(cron, zone, at, lookback, date)| {
            let tz: chrono_tz::Tz = ZONES[zone].parse().unwrap();
            let after: DateTime<Utc> = Utc.timestamp_opt(at, 0).unwrap();
            let schedule = dog.case(&(&cron, zone, at, lookback, &date), || {
                let schedule = cron::Schedule::from_str(&cron).ok();
                let fires = schedule.as_ref().map(|s| {
                    let gap = accord::scheduler::clock::min_gap(s);
                    let next = accord::scheduler::clock::next_fire(s, tz, after);
                    // Walking back fire by fire is for what the workflow parser admits: at
                    // most hourly (every second over a year would be 30 million steps).
                    let admitted = gap.is_none_or(|g| g >= chrono::Duration::hours(1));
                    let last = admitted.then(|| {
                        accord::scheduler::clock::last_fire(
                            s,
                            tz,
                            after,
                            chrono::Duration::seconds(lookback),
                        )
                    });
                    (gap, next, last)
                });
                let local = after.naive_utc();
                let resolved = accord::scheduler::clock::resolve_local(tz, local);
                let parsed = ApproxDate::from_str(&date);
                let day = accord::domain::parse_day(&date);
                (fires, resolved, parsed, day)
            });
            let (fires, resolved, parsed, day) = schedule;
            if let Some((_, next, last)) = fires {
                schedules.set(schedules.get() + 1);
                prop_assert!(
                    next.is_none_or(|n| n > after),
                    "next {:?} after {}",
                    next,
                    after
                );
                prop_assert!(
                    last.flatten().is_none_or(
                        |l| l <= after && l > after - chrono::Duration::seconds(lookback)
                    ),
                    "last {:?}",
                    last
                );
            }
            // A local time resolves within a day of itself, whatever the zone.
            prop_assert!((resolved - after).num_hours().abs() <= 26);
            if let Ok(d) = parsed {
                dog.accept();
                prop_assert_eq!(ApproxDate::from_str(&d.to_string()), Ok(d));
                // Only the written forms are read: the date prints back as it was given (a
                // one-day range prints as that day).
                let shown = d.to_string();
                prop_assert!(
                    shown == date || date == format!("{shown}/{shown}"),
                    "{:?} read as {}",
                    date,
                    shown
                );
                prop_assert!(d.end().is_none_or(|e| e >= d.start()));
                prop_assert!(d.counts_from() >= d.start());
            }
            if let Ok(d) = day {
                prop_assert_eq!(d.to_string(), date);
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    dog.report(&format!(
        ", {} valid cron schedules walked",
        schedules.get()
    ));
}

/// The head seq `accord serve` reports.
pub(crate) fn served_head(server: &super::api::Server, token: &str) -> u64 {
    let (status, text) = super::api::call("GET", &server.url("/metrics"), Some(token), None);
    assert_eq!(status, 200, "{text}");
    text.lines()
        .find_map(|l| l.strip_prefix("accord_log_head_seq "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no head in {text}"))
}

fn percent(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

const PARAMS: &[&str] = &[
    "as_of", "known_at", "body", "status", "from", "to", "within", "since", "limit", "stream",
    "type", "token", "x",
];

const PATHS: &[&str] = &[
    "/api/events",
    "/api/meetings",
    "/api/decisions",
    "/api/mandates",
    "/api/groups",
    "/api/reports",
    "/api/activities",
    "/api/agreements",
    "/api/timeline",
    "/api/deadlines",
    "/api/reminders",
    "/api/verify",
    "/calendar.ics",
    "/upcoming",
    "/timeline",
    "/meetings",
    "/decisions",
    "/groups",
    "/reports",
    "/trail",
    "/evaluation",
];

fn query() -> impl Strategy<Value = (usize, Vec<(usize, Vec<u8>)>)> {
    let value = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40),
        prop::sample::select(vec![
            "2021-02-30",
            "99999999999999999999",
            "-1",
            "0",
            "18446744073709551616",
            "2021-Q1",
            "2021-11-05",
            "MC",
            "../../etc/passwd",
            "..%2f..%2f",
            "3661d",
            "99999999d",
            "2021-11-05T00:00:00Z",
            "+275760-09-13T00:00:00Z",
            "<script>",
            "meeting:mc-cop-4",
            "\u{0}",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        (1usize..20_000).prop_map(|n| "[".repeat(n).into_bytes()),
    ];
    (
        0..PATHS.len(),
        prop::collection::vec((0..PARAMS.len(), value), 0..4),
    )
}

#[test]
fn fuzz_api_request_bodies_and_queries() {
    let a = super::helpers::Accord::new();
    let token = super::api::token(&a, "fuzzer", "admin");
    let server = super::api::Server::start_with(&a, None);
    let dog = Watchdog::new("api", Duration::from_secs(120));
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(60))
        .build();
    let post = |body: &[u8]| -> (u16, String) {
        let res = agent
            .post(&server.url("/api/events"))
            .set("Authorization", &format!("Bearer {token}"))
            .send_bytes(body);
        match res {
            Ok(r) => (r.status(), r.into_string().unwrap()),
            Err(ureq::Error::Status(c, r)) => (c, r.into_string().unwrap_or_default()),
            Err(e) => panic!("POST /api/events: {e}"),
        }
    };
    let body = prop_oneof![
        4 => event_lines().prop_map(|ls| ls.join(&b'\n')),
        1 => prop::collection::vec(any::<u8>(), 0..2000),
        1 => (1usize..100_000).prop_map(|d| format!(
            r#"{{"type":"MeetingHeld","occurred":"2021","actor":"t","data":{}1{}}}"#,
            "[".repeat(d),
            "]".repeat(d)
        ).into_bytes()),
        1 => (0..DICTIONARY.len()).prop_map(|i| format!(
            r#"{{"type":"MeetingHeld","occurred":"2021","actor":"t","expected_position":{},"data":{{"meeting":"m","dates":"2021"}}}}"#,
            DICTIONARY[i]
        ).into_bytes()),
    ];
    let (posts, gets, recorded) = (
        std::cell::Cell::new(0u64),
        std::cell::Cell::new(0u64),
        std::cell::Cell::new(0u64),
    );
    let mut runner = runner("api", (cases(3000) / 10).max(1));
    runner
        .run(&(body, query()), |(body, (path, params))| {
            let before = served_head(&server, &token);
            let ((status, text), (get_status, get_text)) =
                dog.case(&(&body, path, &params), || {
                    let posted = post(&body);
                    let q: Vec<String> = params
                        .iter()
                        .map(|(k, v)| format!("{}={}", PARAMS[*k], percent(v)))
                        .collect();
                    let url = server.url(&format!("{}?{}", PATHS[path], q.join("&")));
                    let got = super::api::call("GET", &url, Some(&token), None);
                    (posted, got)
                });
            posts.set(posts.get() + 1);
            gets.set(gets.get() + 1);
            prop_assert!(
                get_status < 500,
                "GET {}: {} {}",
                PATHS[path],
                get_status,
                get_text
            );
            prop_assert!(status < 500, "POST: {} {}", status, text);
            // What the caller wrote since: the scheduler may record too, as `scheduler`.
            let page = super::api::call(
                "GET",
                &server.url(&format!("/api/events?since={}&limit=10000", before + 1)),
                Some(&token),
                None,
            );
            let page: serde_json::Value = serde_json::from_str(&page.1).unwrap();
            let written: Vec<&serde_json::Value> = page["events"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["actor"] == "fuzzer")
                .collect();
            let gate = std::str::from_utf8(&body)
                .ok()
                .and_then(|t| accord::input::parse_batch(t).ok());
            if status == 200 {
                dog.accept();
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                let seqs: Vec<&serde_json::Value> = v["recorded"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| &r["seq"])
                    .collect();
                recorded.set(recorded.get() + seqs.len() as u64);
                let got: Vec<&serde_json::Value> = written.iter().map(|e| &e["seq"]).collect();
                prop_assert_eq!(got, seqs);
                // The server's gate is the library's: what it took, the library takes, and
                // the recorded data is the data sent.
                let batch =
                    gate.ok_or_else(|| TestCaseError::fail("accepted what parse_batch refuses"))?;
                for e in &written {
                    prop_assert!(
                        batch
                            .iter()
                            .any(|p| p.data == e["data"] && p.ty == e["type"]),
                        "recorded data not sent: {}",
                        e
                    );
                }
            } else {
                prop_assert!(
                    written.is_empty(),
                    "refused ({}) but written: {}",
                    status,
                    text
                );
                if gate.is_none() {
                    prop_assert!(status == 400 || status == 413, "{} {}", status, text);
                }
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    dog.report(&format!(
        ", {} POST /api/events, {} GET with fuzzed queries, {} events recorded",
        posts.get(),
        gets.get(),
        recorded.get()
    ));
    assert!(
        server.stop().is_some(),
        "the server stops cleanly after the fuzzing"
    );
}
