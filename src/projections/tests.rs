//! Stored states, the zones an as-of fold passes over and folds of some views answer exactly
//! as a fold from the first record: on a generated log with corrections spread through it,
//! for days and recording instants across it; and when the live state is written.

use super::corrections::all_corrections;
use super::*;
use crate::store::SledStore;

/// The answer to `q` from the first record, with no stored or remembered state.
fn from_scratch(store: &dyn EventStore, q: &Query) -> Views {
    drop_states(store).unwrap();
    views(store, q).unwrap().views
}

#[test]
fn stored_states_zones_and_partial_folds_answer_as_a_fold_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let mut text = Vec::new();
    // Long enough that a fold from the first record reads and saves on threads beside it
    // (`fold::LONG`), while the folds from stored states that follow are short.
    crate::generate::generate(21_000, 11, &mut text).unwrap();
    let batch = crate::input::parse_batch(std::str::from_utf8(&text).unwrap()).unwrap();
    let mut rest = batch.into_iter();
    let mut instants = Vec::new();
    loop {
        let part: Vec<_> = rest.by_ref().take(7_000).collect();
        if part.is_empty() {
            break;
        }
        store.append(part).unwrap();
        instants.push(crate::domain::parse_instant(&store.head().recorded_at.unwrap()).unwrap());
        std::thread::sleep(std::time::Duration::from_millis(3));
    }
    let corrections = all_corrections(&store).unwrap().1.len();
    assert!(corrections > 20, "{corrections} corrections");
    let days = [
        "1966-06-30",
        "1975-01-01",
        "1990-12-31",
        "2010-06-30",
        "2030-01-01",
    ]
    .map(|d| d.parse::<NaiveDate>().unwrap());
    let mut queries = Vec::new();
    for known_at in [None, Some(instants[0]), Some(instants[1])] {
        queries.push(Query {
            known_at,
            ..Query::default()
        });
        for day in days {
            queries.push(Query {
                as_of: Some(day),
                known_at,
                ..Query::default()
            });
        }
    }
    let want: Vec<Views> = queries.iter().map(|q| from_scratch(&store, q)).collect();
    // A current fold stores snapshots along the way, folded with every correction.
    views(&store, &Query::default()).unwrap();
    let stored = store.cache().keys_with_prefix(META).unwrap().len();
    assert!(stored >= 2, "{stored} snapshots");
    for (q, want) in queries.iter().zip(&want) {
        assert!(views(&store, q).unwrap().views == *want, "{q:?}");
        let meetings = Query {
            parts: Parts::MEETINGS,
            ..*q
        };
        let got = views(&store, &meetings).unwrap().views;
        assert!(got.meetings == want.meetings, "{meetings:?}");
        assert!(
            got.decisions.decisions.is_empty(),
            "only the meetings are folded"
        );
    }
    // After a correction of an early event, stored states folded before it no longer serve
    // a query that knows of it, and still serve one that does not.
    let early = store
        .read_from(1)
        .map(Result::unwrap)
        .find(|e| e.ty == "MeetingScheduled")
        .unwrap();
    let before = crate::domain::parse_instant(&store.head().recorded_at.unwrap()).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(3));
    let retract = crate::input::parse_batch(&format!(
        r#"{{"type":"EventRetracted","occurred":"2026-01-01","actor":"t","data":{{"seq":{},"reason":"typo"}}}}"#,
        early.seq
    ))
    .unwrap();
    store.append(retract).unwrap();
    for q in [
        Query::default(),
        Query {
            known_at: Some(before),
            ..Query::default()
        },
        Query {
            as_of: Some(days[3]),
            ..Query::default()
        },
    ] {
        let got = views(&store, &q).unwrap().views;
        assert!(got == from_scratch(&store, &q), "{q:?}");
        views(&store, &Query::default()).unwrap();
    }
}

/// The corrections read from a stretch of records say what the whole corrections stream says
/// about that stretch: the event each of its records folds as, and which states it leaves
/// right.
#[test]
fn corrections_read_from_a_stretch_agree_with_the_whole_stream() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let batch = crate::generate::parsed(6_000, 7);
    store.append(batch).unwrap();
    let head = store.head().seq;
    let recorded: Vec<u64> = all_corrections(&store)
        .unwrap()
        .1
        .iter()
        .map(|(s, _)| *s)
        .collect();
    assert!(recorded.len() > 5, "{} corrections", recorded.len());
    let records: Vec<_> = store.read_from(1).map(|r| r.unwrap()).collect();
    for (from, k) in [(0, head), (1_000, 4_000), (2_500, head), (head - 300, head)] {
        let whole = Corrections::load(&store, k).unwrap();
        let stretch = Corrections::recorded_between(&store, from, k).unwrap();
        let mut corrected = 0;
        for env in &records[from as usize..k as usize] {
            let (w, s) = (
                whole.effective(env).unwrap(),
                stretch.effective(env).unwrap(),
            );
            corrected += usize::from(w.as_ref() != decode(env).ok().as_ref());
            assert_eq!(w, s, "seq {} read from {from} to {k}", env.seq);
        }
        for m in (from..=k).step_by(97) {
            for j in (0..=m).step_by(89) {
                assert_eq!(
                    whole.valid(j, m, k),
                    stretch.valid(j, m, k),
                    "a state at {j} folded with the corrections known at {m}, for {k}"
                );
            }
        }
        if from == 0 {
            assert!(corrected > 0, "no record of the log is corrected");
        }
    }
}

/// The seq of the live state written to the store's cache, if any.
fn stored_live(store: &dyn EventStore) -> Option<u64> {
    stored::load(store, LIVE, Parts(0)).map(|s| s.seq)
}

fn append_meetings(store: &SledStore, from: usize, to: usize) {
    let text: Vec<String> = (from..to)
        .map(|i| {
            format!(
                r#"{{"id":"live-{i}","type":"MeetingScheduled","occurred":"2030-03","actor":"t","data":{{"meeting":"live-{i}","body":"MC","kind":"cop","title":"Meeting {i}","dates":"2030-11"}}}}"#
            )
        })
        .collect();
    store
        .append(crate::input::parse_batch(&text.join("\n")).unwrap())
        .unwrap();
}

#[test]
fn the_live_state_is_written_once_far_enough_past_the_stored_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    store.append(crate::generate::parsed(1000, 7)).unwrap();
    assert_eq!(current(&store).unwrap().seq, 1000);
    assert_eq!(stored_live(&store), Some(1000));
    // Five records past it: folded, answered, not written (a 64th of 1005 is 15).
    append_meetings(&store, 0, 5);
    let live = current(&store).unwrap();
    assert_eq!(live.seq, 1005);
    assert_eq!(stored_live(&store), Some(1000));
    drop(live);
    // Twenty past it: written.
    append_meetings(&store, 5, 20);
    assert_eq!(current(&store).unwrap().seq, 1020);
    assert_eq!(stored_live(&store), Some(1020));
    append_meetings(&store, 20, 21);
    assert_eq!(current(&store).unwrap().seq, 1021);
    assert_eq!(stored_live(&store), Some(1020));
    // A server that stops writes it.
    checkpoint(&store).unwrap();
    assert_eq!(stored_live(&store), Some(1021));
    // What it answered all along is what a fold from the first record answers.
    let live = current(&store).unwrap();
    assert!(live.views == from_scratch(&store, &Query::default()));
}

#[test]
fn a_stored_live_state_past_the_head_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    store.append(crate::generate::parsed(300, 5)).unwrap();
    let live = current(&store).unwrap();
    // As a log that lost records after its live state was written would hold it.
    let mut ahead = (*live).clone();
    ahead.seq = 350;
    stored::Writer::default()
        .save(&store, LIVE, &ahead)
        .unwrap();
    drop(live);
    drop(store);
    let store = crate::store::sled_store::tests::reopen(dir.path());
    append_meetings(&store, 0, 1);
    // Not a start for a current fold: folded from the log, and written in its place.
    let live = current(&store).unwrap();
    assert_eq!(live.seq, 301);
    assert_eq!(stored_live(&store), Some(301));
    assert!(live.views == from_scratch(&store, &Query::default()));
}
