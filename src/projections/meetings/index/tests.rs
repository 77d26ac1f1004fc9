//! The meetings index answers as the whole view: one meeting, and the first rows of the
//! listing with a cursor and a filter, as of days and as known at instants, on a generated
//! log with retractions and on real history with amendments that move an event to another
//! meeting and a meeting's dates earlier; rebuilt when its mark no longer names a record.

use chrono::{DateTime, NaiveDate, Utc};

use super::*;
use crate::listing::{self, What};
use crate::projections::{drop_states, views, Views};
use crate::store::SledStore;

fn append(store: &SledStore, text: &str) {
    store
        .append(crate::input::parse_batch(text).unwrap())
        .unwrap();
}

fn now(store: &SledStore) -> DateTime<Utc> {
    let at = crate::domain::parse_instant(&store.head().recorded_at.unwrap()).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(3));
    at
}

/// The listing's rows of the whole view, filtered as `keep` filters.
fn listed(v: &Views, keep: &dyn Fn(&MeetingRow) -> bool) -> Vec<MeetingRow> {
    listing::items(v, What::Meetings)
        .into_iter()
        .filter_map(|i| match i {
            listing::Item::Meeting(m) if keep(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// Checks every meeting, segment and page the index gives against the whole view's.
fn check(store: &SledStore, queries: &[Query], pages: usize) {
    for q in queries {
        drop_states(store).unwrap();
        let whole = views(store, q).unwrap().views;
        let r = Reader::new(store, q).unwrap();
        let mut ids: Vec<&String> = whole.meetings.0.keys().collect();
        ids.extend(whole.meetings.1.keys());
        for id in ids {
            assert_eq!(
                r.find(id).unwrap().as_ref(),
                whole.meetings.find(id),
                "{id} for {q:?}"
            );
        }
        assert_eq!(r.find("no-such-meeting").unwrap(), None);
        let all: &dyn Fn(&MeetingRow) -> bool = &|_| true;
        let mc: &dyn Fn(&MeetingRow) -> bool = &|m| m.body.code() == "MC";
        for keep in [all, mc] {
            let want = listed(&whole, keep);
            assert_eq!(
                r.first(keep, None, pages).unwrap(),
                want[..pages.min(want.len())],
                "{q:?}"
            );
            if want.len() > 3 {
                let at = want.len() / 3;
                let got = r.first(keep, Some(&want[at].meeting), pages).unwrap();
                let end = (at + 1 + pages).min(want.len());
                assert_eq!(got, want[at..end], "after {} for {q:?}", want[at].meeting);
            }
        }
    }
}

fn queries(days: &[&str], instants: &[DateTime<Utc>]) -> Vec<Query> {
    let mut out = Vec::new();
    for known_at in std::iter::once(None).chain(instants.iter().copied().map(Some)) {
        out.push(Query {
            known_at,
            ..Query::default()
        });
        for d in days {
            out.push(Query {
                as_of: Some(d.parse::<NaiveDate>().unwrap()),
                known_at,
                ..Query::default()
            });
        }
    }
    out
}

#[test]
fn a_generated_log_answers_as_the_whole_view() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let mut text = Vec::new();
    crate::generate::generate(6_000, 5, &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut instants = Vec::new();
    for part in lines.chunks(2_000) {
        append(&store, &part.join("\n"));
        instants.push(now(&store));
    }
    let q = queries(
        &[
            "1966-06-30",
            "1975-01-01",
            "1990-12-31",
            "2010-06-30",
            "2090-01-01",
        ],
        &instants[..2],
    );
    check(&store, &q, 40);
}

#[test]
fn amendments_moves_and_a_rolled_back_log_answer_as_the_whole_view() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    append(
        &store,
        include_str!("../../../../events/history/real-meetings-2017-2024.jsonl"),
    );
    let before = now(&store);
    // The index is built here, then an amendment moves a document to another meeting and
    // another brings a meeting's dates a year earlier.
    Reader::new(&store, &Query::default()).unwrap();
    let records: Vec<Envelope> = store.read_from(1).map(Result::unwrap).collect();
    let doc = records.iter().find(|e| e.ty == "DocumentPosted").unwrap();
    let scheduled: Vec<&Envelope> = records
        .iter()
        .filter(|e| e.ty == "MeetingScheduled")
        .collect();
    let other = scheduled
        .iter()
        .find(|e| e.data["meeting"] != doc.data["meeting"])
        .unwrap();
    let mut moved = doc.data.clone();
    moved["meeting"] = other.data["meeting"].clone();
    let last = scheduled.last().unwrap();
    let mut earlier = last.data.clone();
    earlier["dates"] = serde_json::json!("2016-03");
    let fix = |id: &str, seq: u64, data: &serde_json::Value| {
        serde_json::json!({"id": id, "type": "EventAmended", "occurred": "2024-12-01",
            "actor": "secretariat-officer",
            "data": {"seq": seq, "reason": "Recorded against the wrong meeting", "data": data}})
        .to_string()
    };
    append(
        &store,
        &format!(
            "{}\n{}",
            fix("fix-1", doc.seq, &moved),
            fix("fix-2", last.seq, &earlier)
        ),
    );
    let after = now(&store);
    let q = queries(
        &["2016-06-30", "2019-05-05", "2021-07-01", "2030-01-01"],
        &[before, after],
    );
    check(&store, &q, 5);
    // A mark that names a record the log no longer holds has the index rebuilt.
    store
        .cache()
        .put(
            MARK,
            &serde_json::to_vec(&Mark {
                version: PROJECTION_VERSION,
                format: FORMAT,
                seq: 3,
                hash: "0".repeat(64),
            })
            .unwrap(),
        )
        .unwrap();
    let kept = store.cache().scan(ORDER, ORDER, usize::MAX).unwrap().len();
    check(&store, &q[..3], 5);
    assert_eq!(
        store.cache().scan(ORDER, ORDER, usize::MAX).unwrap().len(),
        kept
    );
}

/// A split meeting whose later segment is postponed open-ended starts, as the whole view has
/// it, on the first of January of its earliest segment's year: the page walks far enough to
/// find it before meetings that start later that year; and a meeting whose split is amended to
/// other segments is found by the amended ones, as the whole view finds it.
#[test]
fn an_open_ended_segment_and_an_amended_split_answer_as_the_whole_view() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let line = |id: &str, ty: &str, occurred: &str, data: serde_json::Value| {
        serde_json::json!({"id": id, "type": ty, "occurred": occurred,
            "actor": "secretariat-officer", "data": data})
        .to_string()
    };
    let scheduled = |id: &str, dates: &str| {
        line(
            id,
            "MeetingScheduled",
            "2023-06-01",
            serde_json::json!({"meeting": id,
            "body": "MC", "kind": "cop", "title": format!("Meeting {id}"), "dates": dates}),
        )
    };
    let split = |id: &str, meeting: &str, a: (&str, &str), b: (&str, &str)| {
        line(
            id,
            "MeetingSplit",
            "2023-09-01",
            serde_json::json!({"meeting": meeting,
            "segments": [{"segment": a.0, "dates": a.1, "mode": "online"},
                         {"segment": b.0, "dates": b.1, "mode": "in_person"}]}),
        )
    };
    let lines = [
        scheduled("mtg-a", "2024-03-01"),
        scheduled("mtg-b", "2024-04-01"),
        scheduled("mtg-m", "2024-11-25/2024-11-29"),
        split(
            "split-1",
            "mtg-m",
            ("mtg-m.1", "2024-11-25"),
            ("mtg-m.2", "2024-11-28/2024-11-29"),
        ),
        line(
            "later",
            "MeetingPostponed",
            "2024-10-01",
            serde_json::json!({"meeting": "mtg-m",
            "segment": "mtg-m.2", "dates": "2025..", "tentative": true, "reason": "Funding"}),
        ),
        scheduled("mtg-n", "2025-05-05/2025-05-09"),
        split(
            "split-2",
            "mtg-n",
            ("mtg-n.1", "2025-05-05"),
            ("mtg-n.2", "2025-05-06/2025-05-09"),
        ),
        line(
            "fix",
            "EventAmended",
            "2025-01-10",
            serde_json::json!({"seq": 7,
            "reason": "Segments renamed", "data": {"meeting": "mtg-n",
            "segments": [{"segment": "mtg-n.3", "dates": "2025-05-05", "mode": "online"},
                         {"segment": "mtg-n.4", "dates": "2025-05-07/2025-05-09", "mode": "in_person"}]}}),
        ),
    ];
    append(&store, &lines.join("\n"));
    let whole = views(&store, &Query::default()).unwrap().views;
    assert_eq!(
        whole.meetings.find("mtg-m").unwrap().dates,
        "2024..".parse().unwrap(),
        "the split meeting's span is open-ended"
    );
    assert!(whole.meetings.find("mtg-n.3").is_some());
    check(&store, &queries(&["2024-12-31", "2030-01-01"], &[]), 2);
}
