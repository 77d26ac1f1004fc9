//! The `EventStore` contract, one suite for every backend: each test below takes a store and
//! runs against sled and against PostgreSQL (`ACCORD_TEST_PG_URL`; skipped with a message when
//! no server is reachable). What only PostgreSQL has is in `pg_store.rs`.

use std::time::Duration;

use accord::envelope::{Envelope, ZERO_HASH};
use accord::input::parse_batch;
use accord::store::{EventStore, Outcome, SledStore, StoreError};

use super::helpers::{history, Accord};
use super::store_fixtures::*;

/// Runs each contract test (a `fn(&dyn EventStore)`) once per backend.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sled {
            $(
                #[test]
                fn $name() {
                    let f = super::sled_fixture();
                    super::$name(&*f.store);
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    if let Some(f) = super::pg_fixture(stringify!($name)) {
                        super::$name(&*f.store);
                    }
                }
            )*
        }
    };
}

contract!(
    empty_store_has_the_zero_head,
    appends_read_back_in_order_gapless_and_chained,
    long_reads_page_through,
    duplicates_are_reported_not_rewritten,
    expected_positions_conflict,
    corrections_must_name_a_plain_event,
    a_refused_batch_writes_nothing,
    import_keeps_seq_recorded_at_and_hashes,
    import_refuses_what_does_not_follow,
    read_stream_in_position_order,
    find_id_and_get,
    subscribe_wakes_on_append,
    works_from_threads_and_inside_tokio,
    cache_puts_gets_and_removes_by_prefix,
    cache_scans_in_key_order_and_writes_a_batch_whole,
    export_verifies_independently,
);

fn empty_store_has_the_zero_head(s: &dyn EventStore) {
    let h = s.head();
    assert_eq!(
        (h.seq, h.hash.as_str(), h.recorded_at),
        (0, ZERO_HASH, None)
    );
    assert_eq!(s.read_from(1).count(), 0);
    assert_eq!(s.get(1).unwrap(), None);
    assert_eq!(*s.subscribe().borrow(), 0);
}

fn appends_read_back_in_order_gapless_and_chained(s: &dyn EventStore) {
    let first = s
        .append(batch(&[
            line("a1", "m-a", None),
            line("a2", "m-b", None),
            line("a3", "m-c", None),
        ]))
        .unwrap();
    assert_eq!(recorded(&first), [1, 2, 3]);
    let second = s
        .append(batch(&[line("a4", "m-d", None), line("a5", "m-e", None)]))
        .unwrap();
    assert_eq!(recorded(&second), [4, 5]);
    let records = all(s);
    assert_chain(&records);
    assert_eq!(
        records.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["a1", "a2", "a3", "a4", "a5"]
    );
    for (o, r) in first.iter().chain(&second).zip(&records) {
        assert_eq!(o, &Outcome::Recorded(Box::new(r.clone())));
    }
    assert!(records
        .windows(2)
        .all(|w| w[0].recorded_at <= w[1].recorded_at));
    let h = s.head();
    assert_eq!(h.seq, 5);
    assert_eq!(h.hash, records[4].hash);
    assert_eq!(
        h.recorded_at.as_deref(),
        Some(records[4].recorded_at.as_str())
    );
    let tail: Vec<u64> = s.read_from(3).map(|r| r.unwrap().seq).collect();
    assert_eq!(tail, [3, 4, 5]);
    assert_eq!(s.read_from(0).count(), 5);
    assert_eq!(s.read_from(6).count(), 0);
}

fn long_reads_page_through(s: &dyn EventStore) {
    let lines: Vec<String> = (0..2500)
        .map(|i| line(&format!("p{i}"), &format!("m-{}", i % 7), None))
        .collect();
    s.append(batch(&lines)).unwrap();
    s.append(batch(&[line("p-last", "m-0", None)])).unwrap();
    let records = all(s);
    assert_eq!(records.len(), 2501);
    assert_chain(&records);
    let from: Vec<u64> = s.read_from(1000).take(3).map(|r| r.unwrap().seq).collect();
    assert_eq!(from, [1000, 1001, 1002]);
    assert_eq!(s.read_stream("deadline/m-3").unwrap().len(), 357);
    // Streams read a page at a time give the same records, from any seq.
    let m0 = s.read_stream("deadline/m-0").unwrap();
    assert_eq!(m0.len(), 359);
    let paged: Vec<Envelope> = accord::store::stream_from(s, "deadline/m-0", 1)
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(paged, m0);
    let later: Vec<u64> = accord::store::stream_from(s, "deadline/m-0", 2000)
        .map(|r| r.unwrap().seq)
        .collect();
    let expect: Vec<u64> = m0.iter().map(|e| e.seq).filter(|q| *q >= 2000).collect();
    assert_eq!(later, expect);
    for since in [0, 1, 2, 8, 500, 1999, 2499, 2500, 2501, 2502, u64::MAX] {
        for limit in [0, 1, 7, 256, 1000] {
            let expect: Vec<&Envelope> = m0.iter().filter(|e| e.seq >= since).take(limit).collect();
            let page = s.read_stream_page("deadline/m-0", since, limit).unwrap();
            assert_eq!(
                page.iter().collect::<Vec<_>>(),
                expect,
                "since {since}, limit {limit}"
            );
        }
    }
    let last = s.stream_last("deadline/m-0").unwrap().unwrap();
    assert_eq!((last.seq, last.position), (2501, 359));
}

fn duplicates_are_reported_not_rewritten(s: &dyn EventStore) {
    s.append(batch(&[line("d1", "m-a", None), line("d2", "m-b", None)]))
        .unwrap();
    let again = s
        .append(batch(&[
            line("d1", "m-a", None),
            line("d3", "m-c", None),
            line("d3", "m-c", None),
        ]))
        .unwrap();
    assert_eq!(
        again[0],
        Outcome::Duplicate {
            id: "d1".into(),
            seq: 1
        }
    );
    assert!(matches!(&again[1], Outcome::Recorded(e) if e.seq == 3 && e.id == "d3"));
    assert_eq!(
        again[2],
        Outcome::Duplicate {
            id: "d3".into(),
            seq: 3
        }
    );
    let only_dups = s.append(batch(&[line("d2", "m-b", None)])).unwrap();
    assert_eq!(
        only_dups,
        [Outcome::Duplicate {
            id: "d2".into(),
            seq: 2
        }]
    );
    assert_eq!(s.head().seq, 3);
    assert_chain(&all(s));
}

fn expected_positions_conflict(s: &dyn EventStore) {
    s.append(batch(&[line("e1", "m-x", Some(0))])).unwrap();
    let stream = s.get(1).unwrap().unwrap().stream;
    match s.append(batch(&[line("e2", "m-x", Some(0))])) {
        Err(StoreError::Conflict {
            index,
            stream: st,
            expected,
            actual,
        }) => assert_eq!((index, st.as_str(), expected, actual), (0, &*stream, 0, 1)),
        other => panic!("expected a conflict, got {other:?}"),
    }
    // Within one batch: the second event expects the position the first one already took.
    match s.append(batch(&[
        line("e3", "m-x", Some(1)),
        line("e4", "m-x", Some(1)),
    ])) {
        Err(StoreError::Conflict {
            index,
            expected,
            actual,
            ..
        }) => assert_eq!((index, expected, actual), (1, 1, 2)),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(s.head().seq, 1);
    assert_eq!(s.find_id("e3").unwrap(), None);
    let ok = s
        .append(batch(&[
            line("e3", "m-x", Some(1)),
            line("e4", "m-x", Some(2)),
            line("e5", "m-y", Some(0)),
        ]))
        .unwrap();
    assert_eq!(recorded(&ok), [2, 3, 4]);
    let positions: Vec<u64> = s
        .read_stream(&stream)
        .unwrap()
        .iter()
        .map(|e| e.position)
        .collect();
    assert_eq!(positions, [1, 2, 3]);
}

fn corrections_must_name_a_plain_event(s: &dyn EventStore) {
    s.append(batch(&[line("c1", "m-a", None)])).unwrap();
    match s.append(batch(&[line("c2", "m-b", None), retract(7)])) {
        Err(StoreError::Rejected { index, message }) => {
            assert_eq!(index, 1);
            assert!(message.contains("no event with seq 7"), "{message}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(s.find_id("c2").unwrap(), None);
    let ok = s.append(batch(&[retract(1)])).unwrap();
    assert_eq!(recorded(&ok), [2]);
    match s.append(batch(&[retract(2)])) {
        Err(StoreError::Rejected { message, .. }) => {
            assert!(message.contains("itself a correction"), "{message}")
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    // A correction may name an event earlier in its own batch.
    let both = s
        .append(batch(&[line("c3", "m-c", None), retract(3)]))
        .unwrap();
    assert_eq!(recorded(&both), [3, 4]);
    assert_eq!(s.head().seq, 4);
}

fn a_refused_batch_writes_nothing(s: &dyn EventStore) {
    s.append(batch(&[line("r0", "m-z", None)])).unwrap();
    let before = s.head();
    let refused = s.append(batch(&[
        line("r1", "m-a", None),
        line("r2", "m-b", None),
        line("r3", "m-z", Some(5)),
    ]));
    assert!(matches!(
        refused,
        Err(StoreError::Conflict { index: 2, .. })
    ));
    assert_eq!(s.head(), before);
    assert_eq!(s.find_id("r1").unwrap(), None);
    assert_eq!(s.read_stream("deadline/m-a").unwrap(), []);
    assert_eq!(all(s).len(), 1);
    let after = s.append(batch(&[line("r1", "m-a", None)])).unwrap();
    assert_eq!(recorded(&after), [2]);
}

/// Records made by another store (sled), to import.
fn foreign_records(lines: &[String]) -> Vec<Envelope> {
    let dir = tempfile::tempdir().unwrap();
    let src = SledStore::open(dir.path()).unwrap();
    for l in lines {
        src.append(batch(std::slice::from_ref(l))).unwrap();
    }
    all(&src)
}

fn import_keeps_seq_recorded_at_and_hashes(s: &dyn EventStore) {
    let records = foreign_records(&[
        line("i1", "m-a", None),
        line("i2", "m-a", Some(1)),
        retract(1),
        line("i3", "m-b", None),
    ]);
    s.import(records[..2].to_vec()).unwrap();
    s.import(records[2..].to_vec()).unwrap();
    assert_eq!(all(s), records);
    let h = s.head();
    assert_eq!((h.seq, &h.hash), (4, &records[3].hash));
    assert_eq!(
        h.recorded_at.as_deref(),
        Some(records[3].recorded_at.as_str())
    );
    assert_eq!(s.find_id("i2").unwrap(), Some(2));
    assert_eq!(s.read_stream("deadline/m-a").unwrap(), records[..2]);
    // Appends continue the imported chain.
    let next = s.append(batch(&[line("i4", "m-a", Some(2))])).unwrap();
    assert_eq!(recorded(&next), [5]);
    assert_chain(&all(s));
}

fn import_refuses_what_does_not_follow(s: &dyn EventStore) {
    let records = foreign_records(&[line("j1", "m-a", None), line("j2", "m-a", None)]);
    let mut skipped = records[1..].to_vec();
    assert!(matches!(
        s.import(std::mem::take(&mut skipped)),
        Err(StoreError::Rejected { index: 0, .. })
    ));
    let mut altered = records.clone();
    altered[1].actor = "someone-else".into();
    match s.import(altered) {
        Err(StoreError::Rejected { index, message }) => {
            assert_eq!(index, 1);
            assert!(message.contains("hash does not match"), "{message}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(s.head().seq, 0);
    assert_eq!(s.find_id("j1").unwrap(), None);
    s.import(records.clone()).unwrap();
    match s.import(records) {
        Err(StoreError::Rejected { message, .. }) => {
            assert!(message.contains("does not follow"), "{message}")
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn read_stream_in_position_order(s: &dyn EventStore) {
    s.append(batch(&[
        line("s1", "m-a", None),
        line("s2", "m-b", None),
        line("s3", "m-a", None),
    ]))
    .unwrap();
    s.append(batch(&[line("s4", "m-a", None)])).unwrap();
    let a = s.read_stream("deadline/m-a").unwrap();
    assert_eq!(
        a.iter().map(|e| (e.seq, e.position)).collect::<Vec<_>>(),
        [(1, 1), (3, 2), (4, 3)]
    );
    assert_eq!(s.read_stream("deadline/m-b").unwrap().len(), 1);
    assert_eq!(s.read_stream("deadline/none").unwrap(), []);
    // The last event and pages read only what they need, and agree with the whole stream.
    assert_eq!(s.stream_last("deadline/m-a").unwrap().as_ref(), a.last());
    assert_eq!(s.stream_last("deadline/none").unwrap(), None);
    let b = s.read_stream("deadline/m-b").unwrap();
    let names = [
        "deadline/m-b",
        "deadline/none",
        "deadline/m-a",
        "deadline/m-b",
    ]
    .map(String::from);
    assert_eq!(
        s.streams_last(&names).unwrap(),
        [
            b.last().cloned(),
            None,
            a.last().cloned(),
            b.last().cloned()
        ]
    );
    assert_eq!(s.read_stream_page("deadline/m-a", 2, 10).unwrap(), a[1..]);
    assert_eq!(s.read_stream_page("deadline/m-a", 1, 2).unwrap(), a[..2]);
    assert_eq!(s.read_stream_page("deadline/m-a", 5, 10).unwrap(), []);
    assert_eq!(s.read_stream_page("deadline/none", 1, 10).unwrap(), []);
}

fn find_id_and_get(s: &dyn EventStore) {
    s.append(batch(&[line("f1", "m-a", None), line("f2", "m-b", None)]))
        .unwrap();
    assert_eq!(s.find_id("f2").unwrap(), Some(2));
    assert_eq!(s.find_id("f9").unwrap(), None);
    let records = all(s);
    assert_eq!(s.get(1).unwrap().as_ref(), Some(&records[0]));
    assert_eq!(s.get(2).unwrap().as_ref(), Some(&records[1]));
    assert_eq!(s.get(3).unwrap(), None);
    assert_eq!(s.get(0).unwrap(), None);
}

fn subscribe_wakes_on_append(s: &dyn EventStore) {
    let mut rx = s.subscribe();
    assert_eq!(*rx.borrow_and_update(), 0);
    s.append(batch(&[line("w1", "m-a", None)])).unwrap();
    assert!(rx.has_changed().unwrap());
    assert_eq!(*rx.borrow_and_update(), 1);
    // A waiter on another thread is woken by an append.
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|seq| *seq >= 3))
                    .await
                    .expect("woken within 10 s")
                    .map(|seq| *seq)
                    .unwrap()
            })
        });
        std::thread::sleep(Duration::from_millis(50));
        s.append(batch(&[line("w2", "m-a", None), line("w3", "m-b", None)]))
            .unwrap();
        assert_eq!(waiter.join().unwrap(), 3);
    });
}

fn works_from_threads_and_inside_tokio(s: &dyn EventStore) {
    // Plain threads.
    std::thread::scope(|scope| {
        for t in 0..4 {
            scope.spawn(move || {
                s.append(batch(&[line(&format!("t{t}"), "m-threads", None)]))
                    .unwrap();
            });
        }
    });
    assert_eq!(s.head().seq, 4);
    // On a multi-threaded runtime, under `block_in_place` and directly from async code (as
    // the scheduler's tick calls it).
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    multi.block_on(async {
        let out = tokio::task::block_in_place(|| s.append(batch(&[line("k1", "m-rt", None)])));
        assert_eq!(recorded(&out.unwrap()), [5]);
        assert_eq!(s.head().seq, 5);
        assert_eq!(s.read_from(1).count(), 5);
        s.append(batch(&[line("k2", "m-rt", None)])).unwrap();
    });
    // On a current-thread runtime, as `accord tick` runs.
    let single = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    single.block_on(async {
        s.append(batch(&[line("k3", "m-rt", None)])).unwrap();
        assert_eq!(s.head().seq, 7);
        assert_eq!(s.find_id("k3").unwrap(), Some(7));
        s.cache().put(b"rt", b"1").unwrap();
        assert_eq!(s.cache().get(b"rt").unwrap().as_deref(), Some(&b"1"[..]));
    });
    assert_chain(&all(s));
}

fn cache_puts_gets_and_removes_by_prefix(s: &dyn EventStore) {
    let c = s.cache();
    assert_eq!(c.get(b"proj/live").unwrap(), None);
    c.put(b"proj/live", b"one").unwrap();
    c.put(b"proj/live", b"two").unwrap();
    c.put(b"proj/snap/1", b"s1").unwrap();
    c.put(b"proj/snap/2", &[0, 255, 1]).unwrap();
    c.put(b"proj0", b"beside").unwrap();
    c.put(&[0xff, 0xff], b"edge").unwrap();
    c.put(&[0xff, 0xff, 0x01], b"edge2").unwrap();
    assert_eq!(c.get(b"proj/live").unwrap().as_deref(), Some(&b"two"[..]));
    assert_eq!(c.get(b"proj/snap/2").unwrap(), Some(vec![0, 255, 1]));
    assert_eq!(
        c.keys_with_prefix(b"proj/").unwrap(),
        [
            b"proj/live".to_vec(),
            b"proj/snap/1".to_vec(),
            b"proj/snap/2".to_vec()
        ]
    );
    assert_eq!(c.keys_with_prefix(&[0xff, 0xff]).unwrap().len(), 2);
    c.remove_prefix(b"proj/snap/").unwrap();
    assert_eq!(
        c.keys_with_prefix(b"proj/").unwrap(),
        [b"proj/live".to_vec()]
    );
    c.remove_prefix(&[0xff]).unwrap();
    assert_eq!(c.keys_with_prefix(&[0xff]).unwrap(), Vec::<Vec<u8>>::new());
    assert_eq!(c.get(b"proj0").unwrap().as_deref(), Some(&b"beside"[..]));
    c.remove_prefix(b"").unwrap();
    assert_eq!(c.keys_with_prefix(b"").unwrap(), Vec::<Vec<u8>>::new());
}

fn cache_scans_in_key_order_and_writes_a_batch_whole(s: &dyn EventStore) {
    let c = s.cache();
    let entry = |k: &[u8], v: &[u8]| (k.to_vec(), v.to_vec());
    c.put(b"idx/gone", b"old").unwrap();
    c.put(b"idx/b", b"stale").unwrap();
    c.write_batch(
        &[
            entry(b"idx/c", b"3"),
            entry(b"idx/a", b"1"),
            entry(b"idx/b", b"2"),
            entry(&[b'i', b'd', b'x', b'/', 0xff], &[0, 255]),
            entry(b"idy", b"beside"),
        ],
        &[b"idx/gone".to_vec(), b"idx/none".to_vec()],
    )
    .unwrap();
    assert_eq!(c.get(b"idx/gone").unwrap(), None);
    let all = c.scan(b"idx/", b"idx/", usize::MAX).unwrap();
    assert_eq!(
        all,
        [
            entry(b"idx/a", b"1"),
            entry(b"idx/b", b"2"),
            entry(b"idx/c", b"3"),
            entry(&[b'i', b'd', b'x', b'/', 0xff], &[0, 255]),
        ]
    );
    // From a key on, within the prefix, at most `limit`.
    assert_eq!(c.scan(b"idx/", b"idx/b", 2).unwrap(), all[1..3]);
    assert_eq!(c.scan(b"idx/", b"idx/bb", 10).unwrap(), all[2..]);
    assert_eq!(c.scan(b"idx/", b"", 1).unwrap(), all[..1]);
    assert_eq!(c.scan(b"idx/", b"idz", 10).unwrap(), Vec::new());
    assert_eq!(c.scan(b"nothing/", b"nothing/", 10).unwrap(), Vec::new());
    c.write_batch(&[], &[b"idx/a".to_vec()]).unwrap();
    assert_eq!(c.scan(b"idx/", b"idx/", 1).unwrap(), all[1..2]);
}

fn export_verifies_independently(s: &dyn EventStore) {
    let text = std::fs::read_to_string(history()).unwrap();
    s.append(parse_batch(&text).unwrap()).unwrap();
    assert_eq!(s.head().seq, 64);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.jsonl");
    let mut out = String::new();
    for env in s.read_from(1) {
        out.push_str(&env.unwrap().to_canonical());
        out.push('\n');
    }
    std::fs::write(&file, out).unwrap();
    let r = Accord::new().run(&["verify", "--file", file.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("verifies: 64 records, last seq 64"),
        "{}",
        r.stdout
    );
}

// What only PostgreSQL has.
