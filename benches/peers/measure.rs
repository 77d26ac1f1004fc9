//! The measurements of the suite: append, replay, queries, scheduler, HTTP and disk, each beside
//! its peer, turned into rows with the goal the issue of record sets.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use accord::input::{parse_value, Proposed};
use accord::projections::{self, Query};
use accord::store::{EventStore, SledStore};
use chrono::{DateTime, Datelike, NaiveDate, Utc};

use crate::common::static_server;
use crate::cqrs_peer::{self, Commit, PeerEvent};

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

fn row(rows: &mut Vec<Row>, metric: String, accord: f64, peer: f64, goal: &str, met: bool) {
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

fn label(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

struct Plan {
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
fn history(n: usize, seed: u64) -> Vec<Proposed> {
    tagged_history(n, seed, "")
}

/// As [`history`], its ids starting with `tag`: it records onto a log that holds another.
fn tagged_history(n: usize, seed: u64, tag: &str) -> Vec<Proposed> {
    let mut bytes = Vec::new();
    accord::generate::generate_tagged(n, seed, tag, &mut bytes)
        .expect("generation writes to memory");
    parse_generated(&bytes)
}

/// Generated JSON Lines, parsed as `accord record` parses them.
fn parse_generated(bytes: &[u8]) -> Vec<Proposed> {
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

fn peer_events(events: &[Proposed]) -> Vec<PeerEvent> {
    events
        .iter()
        .map(|p| PeerEvent {
            stream: p.stream.clone(),
            event_type: p.ty.clone(),
            payload: p.data.clone(),
        })
        .collect()
}

fn append_all(store: &SledStore, events: &[Proposed], batch: usize) -> f64 {
    let started = Instant::now();
    for chunk in events.chunks(batch) {
        store.append(chunk.to_vec()).expect("append");
    }
    events.len() as f64 / started.elapsed().as_secs_f64()
}

/// `n` more events of a history of their own (ids starting with `tag`), to append onto a
/// filled log under the life-cycle rules.
fn renamed(n: usize, tag: &str) -> Vec<Proposed> {
    tagged_history(n, 11, tag)
}

fn dir_size(dir: &Path) -> u64 {
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

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The disk's rate of durable appends: a file written and `fdatasync`ed per batch.
fn fsync_rate(dir: &Path, records: usize, batch: usize) -> f64 {
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
fn raw_sled_rate(dir: &Path, records: &[Vec<u8>], batch: usize) -> f64 {
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

fn median(mut v: Vec<f64>) -> f64 {
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
            "≥ 300,000 events/s",
            a >= 300_000.0,
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
            "≥ 0.7× peer",
            a1 >= 0.7 * disk,
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
                "≤ 1.5× peer (linear)",
                last.1 <= 1.5 * first.1,
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

    // 5. HTTP on the largest log.
    http(&mut rows, &large_dir, largest, plan.http_secs, &rt);
    rows
}

fn queries(rows: &mut Vec<Row>, dir: &Path, n: usize, peer_fold_secs: f64) {
    eprintln!("== queries on the {} log", label(n));
    let store = SledStore::open(dir).expect("store opens");
    let first = store.get(1).expect("read").expect("seq 1");
    let head = store.head();
    let last = store.get(head.seq).expect("read").expect("head");
    // The span of the history's dated events ("to be confirmed" dates have no day).
    let (mut d0, mut d1) = (NaiveDate::MAX, NaiveDate::MIN);
    for env in store.read_from(1) {
        let d = env.expect("record").occurred.start();
        if (1900..2200).contains(&d.year()) {
            d0 = d0.min(d);
            d1 = d1.max(d);
        }
    }
    let (t0, t1) = (
        first.recorded_at_time().expect("instant"),
        last.recorded_at_time().expect("instant"),
    );
    let mut pick = accord::generate::Rng(42);
    let mut date = || d0 + chrono::Duration::days(pick.below((d1 - d0).num_days() as u64) as i64);
    let peer_ms = peer_fold_secs * 1e3;
    // One query of each kind first: it lays down the snapshots later ones start from.
    projections::views(
        &store,
        &Query {
            as_of: Some(date()),
            ..Query::default()
        },
    )
    .expect("as-of");
    let time = |q: Query| {
        let started = Instant::now();
        let s = projections::views(&store, &q).expect("query");
        std::hint::black_box(s.seq);
        started.elapsed().as_secs_f64() * 1e3
    };
    let as_of: Vec<f64> = (0..5)
        .map(|_| {
            time(Query {
                as_of: Some(date()),
                ..Query::default()
            })
        })
        .collect();
    let ms = median(as_of);
    row(
        rows,
        format!(
            "as-of query, random date, {} log (ms, median of 5) vs cqrs-es/sqlite-es full fold",
            label(n)
        ),
        ms,
        peer_ms,
        "≤ 20 ms",
        ms <= 20.0,
    );
    let mut pick = accord::generate::Rng(7);
    let span = (t1 - t0).num_microseconds().unwrap_or(1).max(1) as u64;
    let mut instant = || t0 + chrono::Duration::microseconds(pick.below(span) as i64);
    time(Query {
        known_at: Some(instant()),
        ..Query::default()
    });
    let known: Vec<f64> = (0..5)
        .map(|_| {
            time(Query {
                known_at: Some(instant()),
                ..Query::default()
            })
        })
        .collect();
    let ms = median(known);
    row(
        rows,
        format!(
            "known-at query, random instant, {} log (ms, median of 5) vs cqrs-es/sqlite-es full fold",
            label(n)
        ),
        ms,
        peer_ms,
        "≤ 20 ms",
        ms <= 20.0,
    );
    // The current deadlines view, as `accord deadlines` and the API list it.
    projections::current(&store).expect("current");
    let today = Utc::now().date_naive();
    let runs: Vec<f64> = (0..5)
        .map(|_| {
            let started = Instant::now();
            let s = projections::current(&store).expect("current");
            let listed = accord::listing::deadlines(&s.views, today, None).1;
            std::hint::black_box(listed.len());
            started.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    let ms = median(runs);
    row(
        rows,
        format!(
            "current deadlines view, {} log (ms, median of 5) vs cqrs-es/sqlite-es full fold",
            label(n)
        ),
        ms,
        peer_ms,
        "≤ 20 ms",
        ms <= 20.0,
    );
}

fn config() -> accord::config::Config {
    accord::config::Config::load(Some(Path::new("config/accord.toml"))).expect("config loads")
}

fn rss_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn scheduler(
    rows: &mut Vec<Row>,
    work: &Path,
    history_events: usize,
    rt: &tokio::runtime::Runtime,
) {
    use accord::projections::work::ReminderStatus;
    eprintln!(
        "== scheduler on a {} history ticked from its start",
        label(history_events)
    );
    let dir = work.join("scheduler");
    // A history still to come, recorded now, ticked live: its meetings from next year on, none
    // held yet (the rules would refuse to postpone a meeting held); tagged, so it has no
    // corrections (they would name events by seq).
    let next_year = chrono::Datelike::year(&Utc::now()) + 1;
    let mut bytes = Vec::new();
    accord::generate::generate_from(history_events, 11, "f", next_year, &mut bytes)
        .expect("generation writes to memory");
    let events: Vec<Proposed> = parse_generated(&bytes)
        .into_iter()
        .filter(|p| p.ty != "MeetingHeld")
        .collect();
    let store = SledStore::open(&dir).expect("store opens");
    for chunk in events.chunks(10_000) {
        store.append(chunk.to_vec()).expect("append");
    }
    let engine = accord::cli::work::engine(&config(), &dir).expect("engine");
    let t0 = Utc::now() + chrono::Duration::seconds(1);
    let first = Instant::now();
    rt.block_on(engine.tick(&store, t0)).expect("first tick");
    let first_ms = first.elapsed().as_secs_f64() * 1e3;
    let state = projections::current(&store).expect("views");
    let pending: Vec<DateTime<Utc>> = state
        .views
        .work
        .reminders
        .values()
        .filter(|r| r.status == ReminderStatus::Scheduled)
        .map(|r| r.fire_at.0)
        .collect();
    let k = pending.len();
    eprintln!("  {k} reminders pending; the first tick took {first_ms:.0} ms");
    // Quiet ticks: nothing due, nothing new.
    let ticks = 1_000;
    let started = Instant::now();
    for i in 1..=ticks {
        let now = t0 + chrono::Duration::milliseconds(i);
        let r = rt.block_on(engine.tick(&store, now)).expect("tick");
        assert_eq!(r.recorded + r.sent.len(), 0, "nothing is due");
    }
    let tick_ms = started.elapsed().as_secs_f64() * 1e3 / ticks as f64;
    // The peer: a scheduler that scans every pending timer on each tick.
    let started = Instant::now();
    for i in 1..=ticks {
        let now = t0 + chrono::Duration::milliseconds(i);
        let due = pending.iter().filter(|t| **t <= now).count();
        std::hint::black_box(due);
    }
    let scan_ms = started.elapsed().as_secs_f64() * 1e3 / ticks as f64;
    row(
        rows,
        format!("scheduler tick, nothing due, {k} pending reminders (ms) vs a scan of every timer"),
        tick_ms,
        scan_ms,
        "≤ 1 ms",
        tick_ms <= 1.0,
    );

    // A rescheduling that moves about 1,000 reminders: meetings postponed by 30 days.
    let mut per_meeting: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in state.views.work.reminders.values() {
        if r.status != ReminderStatus::Scheduled {
            continue;
        }
        if let Some(m) = r
            .deadline
            .as_deref()
            .and_then(|d| state.views.work.deadlines.get(d))
            .and_then(|d| d.meeting.as_deref())
        {
            *per_meeting.entry(m).or_default() += 1;
        }
    }
    let mut moves = Vec::new();
    let mut moving = 0;
    for (meeting, count) in per_meeting {
        if moving >= 1_000 {
            break;
        }
        let Some(m) = state.views.meetings.0.get(meeting) else {
            continue;
        };
        if m.dates.end().is_none() {
            continue;
        }
        let from = m.dates.start() + chrono::Duration::days(30);
        let to = m.dates.end().expect("checked") + chrono::Duration::days(30);
        let v = serde_json::json!({
            "type": "MeetingPostponed",
            "occurred": t0.date_naive().to_string(),
            "actor": "bench",
            "data": {"meeting": meeting, "dates": format!("{from}/{to}")},
        });
        if let Ok(p) = parse_value(moves.len() + 1, v) {
            moves.push(p);
            moving += count;
        }
    }
    drop(state);
    let before = projections::current(&store).expect("views");
    let started = Instant::now();
    store.append(moves).expect("postponements");
    let now = t0 + chrono::Duration::seconds(5);
    rt.block_on(engine.tick(&store, now)).expect("tick");
    let move_ms = started.elapsed().as_secs_f64() * 1e3;
    let after = projections::current(&store).expect("views");
    let moved = before
        .views
        .work
        .reminders
        .values()
        .filter(|r| r.status == ReminderStatus::Scheduled)
        .filter(|r| {
            after
                .views
                .work
                .reminders
                .get(&r.reminder)
                .is_none_or(|a| a.status != ReminderStatus::Scheduled || a.fire_at != r.fire_at)
        })
        .count();
    row(
        rows,
        format!(
            "rescheduling that moves {moved} of {k} reminders (ms) vs the first tick that made them all"
        ),
        move_ms,
        first_ms,
        "none stated (report)",
        true,
    );
    drop((before, after));
    drop(store);

    // Start-up recovery: open the store, load the projections, run the first tick.
    let started = Instant::now();
    let store = SledStore::open(&dir).expect("store opens");
    let engine = accord::cli::work::engine(&config(), &dir).expect("engine");
    rt.block_on(engine.tick(&store, now + chrono::Duration::seconds(1)))
        .expect("tick");
    let recovery_ms = started.elapsed().as_secs_f64() * 1e3;
    row(
        rows,
        format!(
            "start-up recovery with {k} pending reminders (ms) vs the first tick that made them"
        ),
        recovery_ms,
        first_ms,
        "≤ 1,000 ms",
        recovery_ms <= 1_000.0,
    );
    drop(store);
    // Memory: the peak resident size of `accord tick` on this store, in its own process.
    let export: usize = {
        let store = SledStore::open(&dir).expect("store opens");
        store
            .read_from(1)
            .map(|e| e.expect("record").to_canonical().len() + 1)
            .sum()
    };
    let mut child = Command::new(accord_bin())
        .args(["--data"])
        .arg(&dir)
        .args(["tick", "--now"])
        .arg((now + chrono::Duration::seconds(2)).to_rfc3339())
        .stdout(Stdio::null())
        .spawn()
        .expect("accord tick");
    let mut peak = 0u64;
    while child.try_wait().expect("wait").is_none() {
        peak = peak.max(rss_kib(child.id(), "VmHWM:").unwrap_or(0));
        std::thread::sleep(Duration::from_millis(5));
    }
    row(
        rows,
        format!("accord tick with {k} pending reminders (MB peak resident) vs JSON export (MB)"),
        peak as f64 / 1024.0,
        export as f64 / 1048576.0,
        "none stated (report)",
        true,
    );
}

struct Server {
    child: std::process::Child,
    addr: String,
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

fn accord_bin() -> &'static str {
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
    let server = Server { child, addr };
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

fn http(rows: &mut Vec<Row>, dir: &Path, n: usize, secs: u64, rt: &tokio::runtime::Runtime) {
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
    let peer_addr = static_server(rt, bodies.clone(), "application/json");
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
        "none stated (report)",
        true,
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
