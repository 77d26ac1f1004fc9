//! The measurements of the suite: append, replay, queries, scheduler, HTTP and disk, each beside
//! its peer, turned into rows with the goal the issue of record sets.

use std::path::{Path, PathBuf};
use std::time::Instant;

use accord::input::{parse_value, Proposed};
use accord::projections::{self, Query};
use accord::store::{EventStore, SledStore};

use crate::cqrs_peer::{self, Commit, PeerEvent};
use crate::queries::queries;
use crate::scheduler::scheduler;
use crate::serving::{http, record_memory};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Smoke,
    Quick,
    Full,
}

/// One line of the table. `ratio` is always Accord divided by the peer.
pub struct Row {
    pub metric: String,
    pub accord: f64,
    pub peer: f64,
    pub goal: String,
    pub met: bool,
}

impl Row {
    pub fn ratio(&self) -> f64 {
        if self.peer == 0.0 {
            0.0
        } else {
            self.accord / self.peer
        }
    }
}

pub(crate) fn row(
    rows: &mut Vec<Row>,
    metric: String,
    accord: f64,
    peer: f64,
    goal: &str,
    met: bool,
) {
    let r = Row {
        metric,
        accord,
        peer,
        goal: goal.to_string(),
        met,
    };
    eprintln!(
        "  {}: accord {:.3}, peer {:.3}, ratio {:.3}, goal {}, met {}",
        r.metric,
        r.accord,
        r.peer,
        r.ratio(),
        r.goal,
        r.met
    );
    rows.push(r);
}

pub(crate) fn label(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

pub(crate) struct Plan {
    sizes: Vec<usize>,
    single: usize,
    hundreds: usize,
    scheduler_history: usize,
    http_secs: u64,
}

fn plan(mode: Mode) -> Plan {
    match mode {
        Mode::Smoke => Plan {
            sizes: vec![2_000],
            single: 50,
            hundreds: 1_000,
            scheduler_history: 1_000,
            http_secs: 1,
        },
        Mode::Quick => Plan {
            sizes: vec![10_000, 100_000],
            single: 500,
            hundreds: 10_000,
            scheduler_history: 25_000,
            http_secs: 5,
        },
        Mode::Full => Plan {
            sizes: vec![10_000, 100_000, 1_000_000],
            single: 2_000,
            hundreds: 20_000,
            scheduler_history: 25_000,
            http_secs: 10,
        },
    }
}

/// The generated history of `n` events, parsed as `accord record` parses it.
pub(crate) fn history(n: usize, seed: u64) -> Vec<Proposed> {
    tagged_history(n, seed, "")
}

/// As [`history`], its ids starting with `tag`: it records onto a log that holds another.
pub(crate) fn tagged_history(n: usize, seed: u64, tag: &str) -> Vec<Proposed> {
    let mut bytes = Vec::new();
    accord::generate::generate_tagged(n, seed, tag, &mut bytes)
        .expect("generation writes to memory");
    parse_generated(&bytes)
}

/// Generated JSON Lines, parsed as `accord record` parses them.
pub(crate) fn parse_generated(bytes: &[u8]) -> Vec<Proposed> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, l)| {
            let v: serde_json::Value = serde_json::from_slice(l).expect("generated JSON");
            parse_value(i + 1, v).expect("generated events are valid")
        })
        .collect()
}

pub(crate) fn peer_events(events: &[Proposed]) -> Vec<PeerEvent> {
    events
        .iter()
        .map(|p| PeerEvent {
            stream: p.stream.clone(),
            event_type: p.ty.clone(),
            payload: p.data.clone(),
        })
        .collect()
}

pub(crate) fn append_all(store: &SledStore, events: &[Proposed], batch: usize) -> f64 {
    let started = Instant::now();
    for chunk in events.chunks(batch) {
        store.append(chunk.to_vec()).expect("append");
    }
    events.len() as f64 / started.elapsed().as_secs_f64()
}

/// `n` more events of a history of their own (ids starting with `tag`), to append onto a
/// filled log under the life-cycle rules.
pub(crate) fn renamed(n: usize, tag: &str) -> Vec<Proposed> {
    tagged_history(n, 11, tag)
}

pub(crate) fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        match entry.metadata() {
            Ok(m) if m.is_dir() => total += dir_size(&path),
            Ok(m) => total += m.len(),
            Err(_) => {}
        }
    }
    total
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The disk's rate of durable appends: a file written and `fdatasync`ed per batch.
pub(crate) fn fsync_rate(dir: &Path, records: usize, batch: usize) -> f64 {
    use std::io::Write;
    let mut f = std::fs::File::create(dir.join("fsync-probe")).expect("probe file");
    let record = [b'x'; 300];
    let started = Instant::now();
    let mut left = records;
    while left > 0 {
        let n = batch.min(left);
        for _ in 0..n {
            f.write_all(&record).expect("write");
        }
        f.sync_data().expect("fdatasync");
        left -= n;
    }
    records as f64 / started.elapsed().as_secs_f64()
}

/// Raw sled: the same record bytes Accord stores, 64 to a value, `apply_batch` + `flush`.
pub(crate) fn raw_sled_rate(dir: &Path, records: &[Vec<u8>], batch: usize) -> f64 {
    let db = sled::Config::new()
        .path(dir)
        .flush_every_ms(None)
        .open()
        .expect("sled opens");
    let tree = db.open_tree("log").expect("tree");
    let started = Instant::now();
    let mut seq = 0u64;
    for b in records.chunks(batch) {
        let mut batch = sled::Batch::default();
        for group in b.chunks(64) {
            let mut value = Vec::new();
            for r in group {
                value.extend_from_slice(r);
            }
            batch.insert(&seq.to_be_bytes(), value);
            seq += group.len() as u64;
        }
        tree.apply_batch(batch).expect("apply_batch");
        db.flush().expect("flush");
    }
    records.len() as f64 / started.elapsed().as_secs_f64()
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

pub fn run(mode: Mode) -> Vec<Row> {
    let plan = plan(mode);
    let mut rows = Vec::new();
    let work = tempfile::tempdir().expect("temp dir");
    let rt = runtime();
    let mut replay_cost = Vec::new();
    let mut append_cost = Vec::new();
    let largest = *plan.sizes.last().expect("a size");
    let mut large_store: Option<(PathBuf, f64)> = None;
    for &n in &plan.sizes {
        eprintln!("== {} events", label(n));
        let events = history(n, 7);
        let peers = peer_events(&events);
        let here = work.path().join(format!("n{n}"));
        std::fs::create_dir_all(&here).expect("dir");

        // 1. Durable append in batches of 10,000, then 100 and 1 onto the filled log.
        let store = SledStore::open(&here.join("accord")).expect("store opens");
        let checks_before = accord::store::checks_time();
        let a = append_all(&store, &events, 10_000);
        // The time the record-time checks took in that append (registries loaded, caught up
        // or rebuilt after a correction, events decided and evolved).
        let checks = (accord::store::checks_time() - checks_before).as_secs_f64();
        append_cost.push((n, 1.0 / a));
        let sqlite = here.join("peer.sqlite");
        let p = rt
            .block_on(cqrs_peer::sqlite_append(
                &sqlite,
                &peers,
                10_000,
                Commit::PerBatch,
            ))
            .expect("sqlite-es append");
        row(
            &mut rows,
            format!(
                "append, batch 10,000, {} events (events/s) vs cqrs-es/sqlite-es",
                label(n)
            ),
            a,
            p,
            "≥ 3× peer",
            a >= 3.0 * p,
        );
        // The rate the same append would have without the checks.
        let without = n as f64 / (n as f64 / a - checks).max(f64::EPSILON);
        row(
            &mut rows,
            format!(
                "append with the record-time checks, batch 10,000, {} events (events/s) vs without them (the checks' time taken out)",
                label(n)
            ),
            a,
            without,
            "≥ 0.9× without (checks ≤ 10 %)",
            a >= 0.9 * without,
        );
        let records: Vec<Vec<u8>> = store
            .read_from(1)
            .map(|e| e.expect("record").to_canonical().into_bytes())
            .collect();
        let raw = raw_sled_rate(&here.join("raw-sled"), &records, 10_000);
        row(
            &mut rows,
            format!(
                "append, batch 10,000, {} events (events/s) vs raw sled",
                label(n)
            ),
            a,
            raw,
            "≥ 0.7× peer",
            a >= 0.7 * raw,
        );
        let hundreds = renamed(plan.hundreds.min(n), "h");
        let a100 = append_all(&store, &hundreds, 100);
        let p100 = rt
            .block_on(cqrs_peer::sqlite_append(
                &sqlite,
                &peer_events(&hundreds),
                100,
                Commit::PerBatch,
            ))
            .expect("sqlite-es append");
        row(
            &mut rows,
            format!(
                "append, batch 100, onto {} (events/s) vs cqrs-es/sqlite-es",
                label(n)
            ),
            a100,
            p100,
            "≥ 3× peer",
            a100 >= 3.0 * p100,
        );
        let singles = renamed(plan.single.min(n), "s");
        let a1 = append_all(&store, &singles, 1);
        let disk = fsync_rate(&here, plan.single, 1);
        row(
            &mut rows,
            format!(
                "append, batch 1, onto {} (events/s) vs disk fsyncs/s",
                label(n)
            ),
            a1,
            disk,
            "≥ 0.8× peer",
            a1 >= 0.8 * disk,
        );
        let p1 = rt
            .block_on(cqrs_peer::sqlite_append(
                &sqlite,
                &peer_events(&singles),
                1,
                Commit::PerBatch,
            ))
            .expect("sqlite-es append");
        row(
            &mut rows,
            format!(
                "append, batch 1, onto {} (events/s) vs cqrs-es/sqlite-es",
                label(n)
            ),
            a1,
            p1,
            "≥ 1× peer",
            a1 >= p1,
        );

        // 2. Replay: every projection rebuilt from the log.
        let total = store.head().seq;
        projections::drop_states(&store).expect("drop states");
        let started = Instant::now();
        let state = projections::views(&store, &Query::default()).expect("replay");
        let replay = total as f64 / started.elapsed().as_secs_f64();
        assert_eq!(state.seq, total);
        replay_cost.push((n, 1.0 / replay));
        let (fold, folded) = rt
            .block_on(cqrs_peer::sqlite_fold(&sqlite))
            .expect("sqlite-es fold");
        assert_eq!(folded as u64, total, "the peer folds every event");
        row(
            &mut rows,
            format!(
                "replay, {} events (events/s) vs cqrs-es/sqlite-es fold",
                label(total as usize)
            ),
            replay,
            fold,
            "≥ 1,000,000/s and ≥ 5× peer",
            replay >= 1_000_000.0 && replay >= 5.0 * fold,
        );

        // 6. Disk, against the JSON export of the same log.
        let export: u64 = records.iter().map(|r| r.len() as u64 + 1).sum();
        drop(state);
        if n == largest {
            let accord_dir = here.join("accord");
            let on_disk = dir_size(&accord_dir) as f64;
            row(
                &mut rows,
                format!(
                    "disk after {} events (bytes/event) vs JSON export",
                    label(n)
                ),
                on_disk / n as f64,
                export as f64 / n as f64,
                "≤ 3× peer",
                on_disk <= 3.0 * export as f64,
            );
            let sqlite_bytes = dir_size(&here) as f64
                - dir_size(&accord_dir) as f64
                - dir_size(&here.join("raw-sled")) as f64;
            row(
                &mut rows,
                format!(
                    "disk after {} events (bytes/event) vs cqrs-es/sqlite-es",
                    label(n)
                ),
                on_disk / n as f64,
                sqlite_bytes / n as f64,
                "none stated (report)",
                true,
            );
            store
                .append(events.clone())
                .expect("duplicates are accepted");
            let twice = dir_size(&accord_dir) as f64;
            row(
                &mut rows,
                format!(
                    "disk after recording the {} twice (bytes/event) vs JSON export",
                    label(n)
                ),
                twice / n as f64,
                export as f64 / n as f64,
                "≤ 3× peer",
                twice <= 3.0 * export as f64,
            );
            drop(store);
            large_store = Some((accord_dir, n as f64 / fold));
        }
    }

    // Linear growth: cost per event at the largest size against the smallest.
    if let (Some(first), Some(last)) = (replay_cost.first(), replay_cost.last()) {
        if first.0 != last.0 {
            row(
                &mut rows,
                format!(
                    "replay cost per event, {} vs {} (µs)",
                    label(last.0),
                    label(first.0)
                ),
                last.1 * 1e6,
                first.1 * 1e6,
                "≤ 1.2× peer (linear)",
                last.1 <= 1.2 * first.1,
            );
            let (a0, a1) = (append_cost[0], append_cost[append_cost.len() - 1]);
            row(
                &mut rows,
                format!(
                    "append cost per event, {} vs {} (µs)",
                    label(a1.0),
                    label(a0.0)
                ),
                a1.1 * 1e6,
                a0.1 * 1e6,
                "≤ 1.5× peer (linear)",
                a1.1 <= 1.5 * a0.1,
            );
        }
    }

    // Accord on PostgreSQL beside cqrs-es on PostgreSQL.
    postgres(&mut rows, plan.sizes[0], &rt);

    // 3. Queries on the largest log.
    let (large_dir, peer_fold_secs) = large_store.expect("the largest size ran");
    queries(&mut rows, &large_dir, largest, peer_fold_secs);

    // 4. The scheduler.
    scheduler(&mut rows, work.path(), plan.scheduler_history, &rt);

    // 7. Recording a large batch at once.
    record_memory(&mut rows, work.path(), largest.min(100_000));

    // 5. HTTP on the largest log.
    http(&mut rows, &large_dir, largest, plan.http_secs, &rt);
    rows
}

pub(crate) fn config() -> accord::config::Config {
    accord::config::Config::load(Some(Path::new("config/accord.toml"))).expect("config loads")
}

pub(crate) fn rss_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Accord's PostgreSQL backend against cqrs-es with postgres-es, each in a fresh schema of the
/// database `ACCORD_TEST_PG_URL` names; skipped, saying so, without one.
fn postgres(rows: &mut Vec<Row>, n: usize, rt: &tokio::runtime::Runtime) {
    eprintln!("== PostgreSQL, {} events", label(n));
    let Some(url) = std::env::var("ACCORD_TEST_PG_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("  skipped: ACCORD_TEST_PG_URL is not set; no PostgreSQL rows");
        return;
    };
    let mut admin = match postgres::Client::connect(&url, postgres::NoTls) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("  skipped: PostgreSQL not available: {e}; no PostgreSQL rows");
            return;
        }
    };
    let (ours, theirs) = (
        format!("accord_bench_{}", std::process::id()),
        format!("cqrs_bench_{}", std::process::id()),
    );
    let reset = |admin: &mut postgres::Client| {
        admin
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {ours} CASCADE; DROP SCHEMA IF EXISTS {theirs} CASCADE"
            ))
            .expect("drop the bench schemas");
    };
    reset(&mut admin);
    admin
        .batch_execute(&format!("CREATE SCHEMA {ours}"))
        .expect("create the bench schema");
    let sep = if url.contains('?') { '&' } else { '?' };
    let store = accord::store::PgStore::open(&format!("{url}{sep}options=-csearch_path%3D{ours}"))
        .expect("the PostgreSQL store opens");
    let events = history(n, 7);
    let peers = peer_events(&events);
    let started = Instant::now();
    for chunk in events.chunks(10_000) {
        store.append(chunk.to_vec()).expect("append");
    }
    let a = n as f64 / started.elapsed().as_secs_f64();
    let p = rt
        .block_on(cqrs_peer::postgres_append(
            &url,
            &theirs,
            &peers,
            10_000,
            Commit::PerBatch,
        ))
        .expect("postgres-es append");
    row(
        rows,
        format!(
            "PostgreSQL: append, batch 10,000, {} events (events/s) vs cqrs-es/postgres-es",
            label(n)
        ),
        a,
        p,
        "≥ 3× peer",
        a >= 3.0 * p,
    );
    let total = store.head().seq;
    projections::drop_states(&store).expect("drop states");
    let started = Instant::now();
    let state = projections::views(&store, &Query::default()).expect("replay");
    assert_eq!(state.seq, total);
    let replay = total as f64 / started.elapsed().as_secs_f64();
    let (fold, folded) = rt
        .block_on(cqrs_peer::postgres_fold(&url, &theirs))
        .expect("postgres-es fold");
    assert_eq!(folded as u64, total, "the peer folds every event");
    row(
        rows,
        format!(
            "PostgreSQL: replay, {} events (events/s) vs cqrs-es/postgres-es fold",
            label(n)
        ),
        replay,
        fold,
        "none stated (report)",
        true,
    );
    drop(store);
    reset(&mut admin);
}
