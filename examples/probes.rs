//! Measurements by hand beside the peers suite (`docs/performance.md` cites them):
//! `cargo run --release --example probes -- WHAT ARGS`, where WHAT is
//! - `append N DIR`: N generated events appended in batches of 10,000 into a new store at DIR,
//!   timed as the suite times it (each batch's copy included), with the checks' time;
//! - `checks N`: the life-cycle rules alone (decide, then evolve) over N generated events;
//! - `canonical DIR`: sealing (canonical JSON and SHA-256) the first 200,000 records of DIR;
//! - `memory DIR`: the heap each view of the current state of DIR holds.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::Instant;

use accord::store::EventStore;

/// mimalloc, as the `accord` binary uses, counting what is held while `COUNTING` is set.
struct Counting;
static COUNTING: AtomicBool = AtomicBool::new(false);
static HELD: AtomicIsize = AtomicIsize::new(0);
static INNER: mimalloc::MiMalloc = mimalloc::MiMalloc;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            HELD.fetch_add(l.size() as isize, Ordering::Relaxed);
        }
        INNER.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            HELD.fetch_sub(l.size() as isize, Ordering::Relaxed);
        }
        INNER.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            HELD.fetch_add(n as isize - l.size() as isize, Ordering::Relaxed);
        }
        INNER.realloc(p, l, n)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_default();
    let count = |i: usize| arg(i).parse::<usize>().unwrap_or(100_000);
    match arg(0) {
        "append" => append(count(1), arg(2)),
        "checks" => checks(count(1)),
        "canonical" => canonical(arg(1)),
        "memory" => memory(arg(1)),
        _ => eprintln!("usage: probes append N DIR | checks N | canonical DIR | memory DIR"),
    }
}

/// `n` events of the generated history, parsed as `accord record` parses them.
fn history(n: usize) -> Vec<accord::input::Proposed> {
    let mut bytes = Vec::new();
    accord::generate::generate_tagged(n, 7, "", &mut bytes).expect("generated");
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, l)| {
            let v = serde_json::from_slice(l).expect("generated JSON");
            accord::input::parse_value(i + 1, v).expect("generated events are valid")
        })
        .collect()
}

fn append(n: usize, dir: &str) {
    let events = history(n);
    let store = accord::store::SledStore::open(std::path::Path::new(dir)).expect("store opens");
    let started = Instant::now();
    for batch in events.chunks(10_000) {
        store.append(batch.to_vec()).expect("append");
    }
    let s = started.elapsed().as_secs_f64();
    let checks = accord::store::checks_time().as_secs_f64();
    println!(
        "{n} events in {s:.3} s: {:.0} events/s; checks {:.1} ms ({:.1} %)",
        n as f64 / s,
        checks * 1e3,
        100.0 * checks / s
    );
}

fn checks(n: usize) {
    let events = history(n);
    for round in 0..8 {
        let mut reg = accord::domain::lifecycle::Registry::default();
        let started = Instant::now();
        for (i, p) in events.iter().enumerate() {
            if reg.decide(&p.event).is_ok() {
                reg.evolve(i as u64 + 1, &p.event);
            }
            if (i + 1) % 10_000 == 0 {
                reg.commit();
            }
        }
        let ns = started.elapsed().as_nanos() as f64 / n as f64;
        println!("round {round}: {ns:.0} ns an event");
    }
}

fn open(dir: &str) -> std::sync::Arc<dyn EventStore> {
    let at = accord::store::Location::Sled(dir.into());
    accord::store::open_location(&at).expect("store opens")
}

fn canonical(dir: &str) {
    let store = open(dir);
    let mut records: Vec<accord::envelope::Envelope> = store
        .read_from(1)
        .take(200_000)
        .map(|r| r.expect("record"))
        .collect();
    for round in 0..5 {
        let started = Instant::now();
        let bytes: usize = records.iter_mut().map(|r| r.seal_canonical().len()).sum();
        let ns = started.elapsed().as_nanos() as f64 / records.len() as f64;
        println!("round {round}: {ns:.0} ns a record ({bytes} bytes)");
    }
}

fn memory(dir: &str) {
    let store = open(dir);
    let mb = || HELD.load(Ordering::Relaxed) as f64 / 1e6;
    COUNTING.store(true, Ordering::Relaxed);
    let query = accord::projections::Query::default();
    let state = accord::projections::views(&*store, &query).expect("views");
    println!("current state: {:.1} MB", mb());
    let accord::projections::Views {
        meetings,
        decisions,
        groups,
        reports,
        work,
        reporting,
    } = state.views;
    let accord::projections::decisions::Decisions {
        decisions,
        mandates,
        changes,
    } = decisions;
    let mut last = mb();
    let mut freed = |name: &str| {
        println!("{name}: {:.1} MB", last - mb());
        last = mb();
    };
    drop(decisions);
    freed("decisions");
    drop(mandates);
    freed("mandates");
    drop(changes);
    freed("mandates' status changes");
    drop(meetings);
    freed("meetings");
    drop(groups);
    freed("groups");
    drop(reports);
    freed("reports, activities, agreements");
    drop(work);
    freed("deadlines and reminders");
    drop(reporting);
    freed("Parties and national reports");
}
