//! Durable append: Accord against raw sled (a key per event, and 64 events per value) and the
//! disk's fsync rate, on the same events in the same batch sizes. Prints events/s and ratios.
//!
//! `cargo bench --bench append` measures; under `cargo test` it runs a small smoke size.

use std::io::Write;
use std::time::Instant;

use accord::input::{parse_value, Proposed};
use accord::store::{EventStore, SledStore};

fn events(n: usize, tag: &str) -> Vec<Proposed> {
    (0..n)
        .map(|i| {
            let v = serde_json::json!({
                "id": format!("{tag}-{i}"),
                "type": "ActivityReported",
                "occurred": "2021-05",
                "actor": "bench",
                "data": {
                    "activity": format!("a-{tag}-{i}"),
                    "group": "joint-task-force",
                    "title": format!("Activity {i}: joint outreach on mercury wastes at a regional meeting")
                }
            });
            parse_value(i + 1, v).expect("valid event")
        })
        .collect()
}

/// The group the activities are reported by: the life-cycle rules want it established first.
fn group() -> Vec<Proposed> {
    let v = serde_json::json!({
        "type": "GroupEstablished", "occurred": "2021-01", "actor": "bench",
        "data": {"group": "joint-task-force", "name": "Joint task force", "kind": "task_force",
                 "scope": "tripartite", "members": ["mc_secretariat"]}
    });
    vec![parse_value(1, v).expect("valid event")]
}

fn accord_rate(batch: usize, n: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    store.append(group()).unwrap();
    let evs = events(n, &format!("b{batch}"));
    let started = Instant::now();
    let mut it = evs.into_iter().peekable();
    while it.peek().is_some() {
        let chunk: Vec<Proposed> = it.by_ref().take(batch).collect();
        store.append(chunk).unwrap();
    }
    n as f64 / started.elapsed().as_secs_f64()
}

/// The same record bytes Accord stores, for the raw peers.
fn record_bytes(n: usize) -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    store.append(group()).unwrap();
    store.append(events(n.min(1000), "bytes")).unwrap();
    let sample: Vec<Vec<u8>> = store
        .read_from(2)
        .map(|e| e.unwrap().to_canonical().into_bytes())
        .collect();
    (0..n).map(|i| sample[i % sample.len()].clone()).collect()
}

fn raw_sled_rate(batch: usize, records: &[Vec<u8>], per_value: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new()
        .path(dir.path())
        .flush_every_ms(None)
        .open()
        .unwrap();
    let tree = db.open_tree("log").unwrap();
    let started = Instant::now();
    let mut seq = 0u64;
    for b in records.chunks(batch) {
        let mut batch = sled::Batch::default();
        for group in b.chunks(per_value) {
            let mut value = Vec::new();
            for r in group {
                value.extend_from_slice(r);
            }
            batch.insert(&seq.to_be_bytes(), value);
            seq += group.len() as u64;
        }
        tree.apply_batch(batch).unwrap();
        db.flush().unwrap();
    }
    records.len() as f64 / started.elapsed().as_secs_f64()
}

fn fsync_rate(batch: usize, records: &[Vec<u8>]) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let mut f = std::fs::File::create(dir.path().join("log")).unwrap();
    let started = Instant::now();
    for b in records.chunks(batch) {
        for r in b {
            f.write_all(r).unwrap();
        }
        f.sync_data().unwrap();
    }
    records.len() as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let scale = if full { 1 } else { 50 };
    println!("durable append, events per second (higher is better)");
    println!(
        "{:>6} {:>8} {:>12} {:>14} {:>16} {:>12} {:>14} {:>14}",
        "batch",
        "events",
        "accord",
        "sled key/event",
        "sled 64/value",
        "fsync file",
        "accord/key",
        "accord/64"
    );
    for (batch, n) in [(1usize, 2_000usize), (100, 50_000), (10_000, 200_000)] {
        let n = (n / scale).max(batch);
        let records = record_bytes(n);
        let a = accord_rate(batch, n);
        let k = raw_sled_rate(batch, &records, 1);
        let v = raw_sled_rate(batch, &records, 64);
        let f = fsync_rate(batch, &records);
        println!(
            "{batch:>6} {n:>8} {a:>12.0} {k:>14.0} {v:>16.0} {f:>12.0} {:>14.2} {:>14.2}",
            a / k,
            a / v
        );
    }
}
