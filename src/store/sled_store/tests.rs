//! The sled backend's own tests: torn batches, older formats, damaged chunks, and a large
//! batch stopped between its parts.

use super::*;
use index::key_index;

/// An index entry a batch left without its records (the disk filled while sled wrote it)
/// names no recorded id: it is gone once the store opens again, and the batch records whole
/// when it is appended again.
#[test]
fn an_index_entry_left_by_a_torn_batch_is_not_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let line = r#"{"id":"torn-1","type":"MeetingScheduled","occurred":"2021-03","actor":"t","data":{"meeting":"m-1","body":"MC","kind":"cop","title":"A meeting","dates":"2021-11"}}"#;
    let mut torn = record(1);
    torn.id = "torn-1".into();
    store
        .log
        .insert(key_index(1), index::entry([&torn]))
        .unwrap();
    assert_eq!(store.find_id("torn-1").unwrap(), None);
    drop(store);
    let store = reopen(dir.path());
    assert_eq!(store.log.get(key_index(1)).unwrap(), None);
    let out = store
        .append(crate::input::parse_batch(line).unwrap())
        .unwrap();
    let Outcome::Recorded(recorded) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(recorded.seq, 1);
    assert_eq!(store.find_id("torn-1").unwrap(), Some(1));
    assert_eq!(store.read_stream(&recorded.stream).unwrap().len(), 1);
}

/// Opens the store in `dir` again once sled's own threads let go of its files (a moment
/// after the store is dropped).
pub(crate) fn reopen(dir: &std::path::Path) -> SledStore {
    let reopened = std::time::Instant::now();
    loop {
        match SledStore::open(dir) {
            Ok(s) => break s,
            Err(e) if reopened.elapsed() < std::time::Duration::from_secs(10) => {
                assert!(e.to_string().contains("in use"), "{e}");
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => panic!("{e}"),
        }
    }
}

fn record(seq: u64) -> Envelope {
    let mut env = Envelope {
        seq,
        id: format!("e{seq}"),
        recorded_at: "2026-01-01T00:00:00.000000Z".into(),
        ty: "MeetingHeld".into(),
        version: 1,
        stream: "meeting/x".into(),
        position: seq,
        occurred: serde_json::from_value(serde_json::json!("2021-05")).expect("a date"),
        actor: "test".into(),
        correlation_id: None,
        causation_id: None,
        data: serde_json::json!({"meeting": "x"}),
        prev_hash: ZERO_HASH.into(),
        hash: String::new(),
    };
    env.seal();
    env
}

#[test]
fn reads_format_1_and_compressed_chunks_and_refuses_a_damaged_one() {
    let records = [record(5), record(6)];
    let mut framed = Vec::new();
    for r in &records {
        frame(&mut framed, r.to_canonical().as_bytes());
    }
    assert_eq!(framed[0], 0, "a format-1 chunk starts with a length");
    assert_eq!(decode_chunk(5, &framed).unwrap(), records);
    let packed = pack_chunk(&framed);
    assert_eq!(decode_chunk(5, &packed).unwrap(), records);
    let mut damaged = packed.clone();
    let last = damaged.len() - 3;
    damaged[last] ^= 0xFF;
    assert!(matches!(
        decode_chunk(5, &damaged),
        Err(StoreError::Corrupt { .. })
    ));
}

/// Set in the child process of `panics_elsewhere_reach_the_hook_while_stores_open`.
const HOOK_CHILD: &str = "ACCORD_TEST_HOOK_CHILD";

/// A panic on a thread that is not opening a store reaches the process's panic hook, however
/// many stores other threads open meanwhile (the quiet hook once swapped around each open
/// swallowed them). Runs in a child process of this test binary, so that its hook is the
/// first one and no other test shares the process.
#[test]
fn panics_elsewhere_reach_the_hook_while_stores_open() {
    const PANICS: usize = 2000;
    if std::env::var_os(HOOK_CHILD).is_none() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "store::sled_store::tests::panics_elsewhere_reach_the_hook_while_stores_open",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(HOOK_CHILD, "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "child failed: {text}");
        assert!(text.contains("1 passed"), "the child ran no test: {text}");
        assert!(
            text.contains(&format!("hook saw {PANICS} of {PANICS} panics")),
            "{text}"
        );
        return;
    }
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    static SEEN: AtomicUsize = AtomicUsize::new(0);
    std::panic::set_hook(Box::new(|info| {
        let text = info
            .payload()
            .downcast_ref::<&str>()
            .copied()
            .unwrap_or_default();
        if text == "elsewhere" {
            SEEN.fetch_add(1, Ordering::SeqCst);
        }
    }));
    let done = AtomicBool::new(false);
    let opened = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                let dir = tempfile::tempdir().unwrap();
                drop(SledStore::open(dir.path()).unwrap());
                opened.fetch_add(1, Ordering::SeqCst);
            }
        });
        // Wait for the first open to be under way, then panic while opens go on.
        while opened.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        for _ in 0..PANICS {
            let _ = std::panic::catch_unwind(|| std::panic::panic_any("elsewhere"));
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        done.store(true, Ordering::SeqCst);
    });
    let seen = SEEN.load(Ordering::SeqCst);
    let opened = opened.load(Ordering::SeqCst);
    println!("hook saw {seen} of {PANICS} panics while {opened} stores opened");
    assert_eq!(seen, PANICS);
    assert!(opened > 1, "only {opened} store opened during the panics");
}

thread_local! {
    /// Makes this thread's large commits stop after this many parts (0: never), as a crash
    /// would.
    pub(super) static STOP_AFTER_PARTS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// A batch stopped after two of its three parts (of 4,096 records; the head goes with the last)
/// is seen by no reader, and is gone once the store opens again, with its index entries; the
/// batch then records whole, each stream's positions following on across the parts.
#[test]
fn a_large_batch_stopped_between_its_parts_is_unseen_and_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let all = crate::generate::parsed(10_000, 3);
    let (first, rest) = all.split_at(1_000);
    let store = SledStore::open(dir.path()).unwrap();
    store.append(first.to_vec()).unwrap();
    let before = store.head();
    let ids: Vec<String> = rest.iter().filter_map(|p| p.id.clone()).collect();
    assert!(!ids.is_empty(), "generated events carry ids");
    STOP_AFTER_PARTS.with(|s| s.set(2));
    assert!(store.append(rest.to_vec()).is_err());
    STOP_AFTER_PARTS.with(|s| s.set(0));
    // Two parts are in sled's tree, but no reader sees them.
    let part_end = before.seq + (SUB_BATCH * CHUNK) as u64;
    assert!(store.log.get(key_chunk(part_end + 1)).unwrap().is_some());
    assert_eq!(store.head(), before);
    assert_eq!(store.read_from(1).count() as u64, before.seq);
    assert_eq!(store.get(before.seq + 1).unwrap(), None);
    assert_eq!(store.find_id(&ids[0]).unwrap(), None);
    let streams: std::collections::BTreeSet<String> =
        first.iter().map(|p| p.stream.clone()).collect();
    for s in &streams {
        assert!(
            store
                .read_stream(s)
                .unwrap()
                .iter()
                .all(|e| e.seq <= before.seq),
            "{s}"
        );
    }
    drop(store);
    let store = reopen(dir.path());
    assert_eq!(store.head(), before);
    assert_eq!(store.log.get(key_chunk(before.seq + 1)).unwrap(), None);
    assert_eq!(store.log.get(key_chunk(part_end + 1)).unwrap(), None);
    // No index entry or zone names a record beyond the head.
    for prefix in [b"x", b"z"] {
        for k in store.log.scan_prefix(prefix).keys() {
            let k = k.unwrap();
            assert!(be_u64(&k[1..]).unwrap() <= before.seq, "{k:?}");
        }
    }
    assert_eq!(store.find_id(&ids[0]).unwrap(), None);
    store.append(rest.to_vec()).unwrap();
    assert_eq!(store.head().seq, 10_000);
    // Every stream's positions run 1, 2, 3… across the parts, and some stream spans them.
    let mut spanning = 0;
    let streams: std::collections::BTreeSet<String> =
        all.iter().map(|p| p.stream.clone()).collect();
    for s in &streams {
        let events = store.read_stream(s).unwrap();
        let positions: Vec<u64> = events.iter().map(|e| e.position).collect();
        assert_eq!(
            positions,
            (1..=events.len() as u64).collect::<Vec<_>>(),
            "{s}"
        );
        if events.iter().any(|e| e.seq <= part_end) && events.iter().any(|e| e.seq > part_end) {
            spanning += 1;
        }
    }
    assert!(spanning > 0, "no stream spans the parts");
    assert_eq!(store.read_from(1).count(), 10_000);
}

/// A batch appended in parts records as the same batch appended whole (seqs, streams,
/// positions; corrections naming records of earlier parts; one recording instant), a
/// duplicate of an earlier part's event is reported with that event's seq, and a batch whose
/// last part is refused leaves nothing: no record, index entry or zone past the head, no id.
#[test]
fn a_batch_in_parts_is_recorded_all_or_none() {
    let all = crate::generate::parsed(6_000, 5);
    let parts_of = |batch: &[Proposed]| -> Vec<Vec<Proposed>> {
        batch.chunks(1_000).map(|c| c.to_vec()).collect()
    };

    let whole_dir = tempfile::tempdir().unwrap();
    let whole = SledStore::open(whole_dir.path()).unwrap();
    whole.append(all.clone()).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    store.append(all[..10].to_vec()).unwrap();
    let before = store.head();
    // The last part gives an id of the first part with other content.
    let mut refused = all[10..].to_vec();
    let mut clash = refused[0].clone();
    clash.occurred = serde_json::from_value(serde_json::json!("1999")).unwrap();
    let at = refused.len();
    refused.push(clash);
    let err = store
        .append_parts(&mut parts_of(&refused).into_iter())
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::IdConflict { index, .. } if *index == at),
        "{err:?}"
    );
    assert_eq!(store.head(), before);
    for prefix in [b"c", b"x", b"z"] {
        for k in store.log.scan_prefix(prefix).keys() {
            let k = k.unwrap();
            assert!(be_u64(&k[1..]).unwrap() <= before.seq, "{k:?} left behind");
        }
    }
    assert_eq!(
        store.find_id(refused[0].id.as_deref().unwrap()).unwrap(),
        None
    );

    // The same events again, recorded in parts, with duplicates of earlier parts' events: a
    // whole part of them, one inside a part, and one at the end.
    let mut again = all[10..2010].to_vec();
    again.extend_from_slice(&all[10..1010]);
    again.extend_from_slice(&all[2010..3500]);
    again.push(all[20].clone());
    again.extend_from_slice(&all[3500..]);
    again.push(all[10].clone());
    let written = store
        .append_parts(&mut parts_of(&again).into_iter())
        .unwrap();
    assert_eq!(written.len(), again.len());
    let duplicate = |i: usize, seq: u64| crate::store::Written::Duplicate {
        id: again[i].id.clone().unwrap(),
        seq,
    };
    for (i, w) in written.iter().enumerate().take(3000).skip(2000) {
        assert_eq!(w, &duplicate(i, 11 + i as u64 - 2000));
    }
    assert_eq!(written[4490], duplicate(4490, 21));
    assert_eq!(written.last(), Some(&duplicate(again.len() - 1, 11)));
    assert_eq!(store.head().seq, whole.head().seq);
    let ours: Vec<Envelope> = store.read_from(1).collect::<Result<_>>().unwrap();
    let theirs: Vec<Envelope> = whole.read_from(1).collect::<Result<_>>().unwrap();
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(
            (a.seq, &a.id, &a.stream, a.position, &a.ty, &a.data),
            (b.seq, &b.id, &b.stream, b.position, &b.ty, &b.data)
        );
    }
    let instants: std::collections::BTreeSet<&str> =
        ours[10..].iter().map(|e| e.recorded_at.as_str()).collect();
    assert_eq!(instants.len(), 1, "one recording instant for the batch");
    assert!(
        ours.iter()
            .any(|e| e.ty == "EventAmended" || e.ty == "EventRetracted"),
        "the batch holds corrections"
    );
    // Each record's brief, in order, says what was written.
    let briefs: Vec<_> = written
        .iter()
        .filter(|w| matches!(w, crate::store::Written::Recorded { .. }))
        .collect();
    assert_eq!(briefs.len(), ours.len() - 10);
    for (w, e) in briefs.into_iter().zip(&ours[10..]) {
        assert_eq!(w, &crate::store::Written::recorded(e));
        let crate::store::Written::Recorded { hash, .. } = w else {
            unreachable!()
        };
        assert_eq!(hex::encode(hash), e.hash);
    }
    // The index in memory, filed by the append, and the one read again at open agree with
    // the store that took the batch whole.
    for e in theirs.iter().step_by(97).chain(theirs.last()) {
        assert_eq!(store.find_id(&e.id).unwrap(), Some(e.seq));
        assert_eq!(
            store.stream_head(&e.stream).unwrap(),
            whole.stream_head(&e.stream).unwrap()
        );
    }
    let store = {
        drop(store);
        reopen(dir.path())
    };
    assert_eq!(store.head().seq, theirs.len() as u64);
    for e in theirs.iter().step_by(97) {
        assert_eq!(store.find_id(&e.id).unwrap(), Some(e.seq));
        assert_eq!(
            store.stream_head(&e.stream).unwrap(),
            whole.stream_head(&e.stream).unwrap()
        );
    }
}

/// An index entry gone missing (a damaged tree) is refused, never read as a shorter stream
/// or a missing id.
#[test]
fn a_gap_in_the_index_entries_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let batch = crate::generate::parsed(200, 1);
    let store = SledStore::open(dir.path()).unwrap();
    store.append(batch).unwrap();
    let last = store.get(store.head().seq).unwrap().unwrap();
    store.log.remove(key_index(1 + CHUNK as u64)).unwrap();
    drop(store);
    let store = reopen(dir.path());
    let err = store.find_id(&last.id).unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { at, .. } if at.contains("index entries")),
        "{err:?}"
    );
}
