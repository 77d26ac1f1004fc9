//! The time-travel queries on the largest log: the whole views as of a random date and as known
//! at a random instant, a page of meetings and one meeting as of a date, and the current
//! deadlines, each beside the peer's full fold.

use std::path::Path;
use std::time::Instant;

use accord::projections::{self, Query};
use accord::store::{EventStore, SledStore};
use chrono::{DateTime, Datelike, NaiveDate, Utc};

use crate::measure::*;

pub(crate) fn queries(rows: &mut Vec<Row>, dir: &Path, n: usize, peer_fold_secs: f64) {
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
    let mut date =
        move || d0 + chrono::Duration::days(pick.below((d1 - d0).num_days() as u64) as i64);
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
    meetings(rows, &store, n, peer_ms, &mut date, &mut instant);
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

/// A page of 100 meetings as of a random date and as known at a random instant, and one meeting
/// as of a random date, as the API and the dashboard ask for them: from the meetings index,
/// each meeting folded from its own events. The index is built first, from the whole log.
fn meetings(
    rows: &mut Vec<Row>,
    store: &SledStore,
    n: usize,
    peer_ms: f64,
    date: &mut dyn FnMut() -> NaiveDate,
    instant: &mut dyn FnMut() -> DateTime<Utc>,
) {
    use accord::projections::meetings::index;
    let started = Instant::now();
    index::catch_up(store).expect("index");
    let built = started.elapsed().as_secs_f64();
    eprintln!(
        "  meetings index built from the {} log in {built:.1} s",
        label(n)
    );
    let page = |q: Query| {
        let started = Instant::now();
        let r = index::Reader::new(store, &q).expect("index");
        let page: Vec<_> = r
            .first(&|_| true, None, 100)
            .expect("page")
            .iter()
            .map(|m| serde_json::to_value(m).expect("row"))
            .collect();
        std::hint::black_box(page.len());
        started.elapsed().as_secs_f64() * 1e3
    };
    let ids: Vec<String> = projections::current(store)
        .expect("current")
        .views
        .meetings
        .0
        .keys()
        .cloned()
        .collect();
    let mut pick = accord::generate::Rng(11);
    let mut one = |q: Query| {
        let id = &ids[pick.below(ids.len() as u64) as usize];
        let started = Instant::now();
        let r = index::Reader::new(store, &q).expect("index");
        std::hint::black_box(r.find(id).expect("meeting").is_some());
        started.elapsed().as_secs_f64() * 1e3
    };
    let as_of = |d: NaiveDate| Query {
        as_of: Some(d),
        ..Query::default()
    };
    let known = |t: DateTime<Utc>| Query {
        known_at: Some(t),
        ..Query::default()
    };
    let cases: [(&str, &str, f64, Vec<f64>); 3] = [
        (
            "a page of 100 meetings as of a random date",
            "≤ 20 ms",
            20.0,
            (0..5).map(|_| page(as_of(date()))).collect(),
        ),
        (
            "a page of 100 meetings as known at a random instant",
            "≤ 20 ms",
            20.0,
            (0..5).map(|_| page(known(instant()))).collect(),
        ),
        (
            "one meeting as of a random date",
            "≤ 2 ms",
            2.0,
            (0..5).map(|_| one(as_of(date()))).collect(),
        ),
    ];
    for (what, goal, limit, times) in cases {
        let ms = median(times);
        row(
            rows,
            format!(
                "{what}, {} log (ms, median of 5) vs cqrs-es/sqlite-es full fold",
                label(n)
            ),
            ms,
            peer_ms,
            goal,
            ms <= limit,
        );
    }
}
