//! The year-end status mix, replayed from the views' changes, against whole folds as of each
//! year's end.

use chrono::Datelike;

use super::*;
use crate::projections::{views, Query};
use crate::store::{EventStore, SledStore};

use crate::generate::parsed as generated;

#[test]
fn the_status_mix_replayed_from_the_views_answers_as_a_fold_per_year() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let mut batch = generated(1200, 8).into_iter();
    store.append(batch.by_ref().take(600).collect()).unwrap();
    let earlier = store.head().recorded_at.unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    store.append(batch.collect()).unwrap();
    let earlier = crate::api::parse_instant(&earlier).unwrap();
    // A day in the middle of the history: as of it, the mix stops there.
    let mut adopted: Vec<NaiveDate> = views(&store, &Query::default())
        .unwrap()
        .views
        .decisions
        .decisions
        .values()
        .map(|d| d.adopted.0)
        .collect();
    adopted.sort();
    let middle = adopted[adopted.len() / 2];
    for (known_at, body, as_of) in [
        (None, None, None),
        (Some(earlier), Some("MC".to_string()), None),
        (None, None, Some(middle)),
    ] {
        let scope = Scope {
            body,
            as_of,
            ..Scope::default()
        };
        let all = views(
            &store,
            &Query {
                known_at,
                as_of,
                ..Query::default()
            },
        )
        .unwrap()
        .views;
        let mix = mandate_mix(&all, i32::MIN..=2030, &scope);
        assert!(mix.len() > 5, "{} years", mix.len());
        for (year, got) in &mix {
            let end = NaiveDate::from_ymd_opt(year.parse().unwrap(), 12, 31).unwrap();
            // As of a day, its own year is taken on that day and no later year is shown.
            let end = as_of.map_or(end, |d| {
                assert!(end.year() <= d.year(), "{year} after {d}");
                end.min(d)
            });
            let v = views(
                &store,
                &Query {
                    as_of: Some(end),
                    known_at,
                    ..Query::default()
                },
            )
            .unwrap()
            .views;
            // The full fold as of that day, counted independently of the slim one.
            let mut want: BTreeMap<String, u64> = BTreeMap::new();
            for m in v.decisions.mandates.values() {
                let body = v
                    .decisions
                    .decisions
                    .get(&m.decision)
                    .and_then(|d| v.meetings.find(&d.meeting))
                    .map(|mt| mt.body.code().to_string());
                if scope.body.is_none() || body == scope.body {
                    *want.entry(m.status.name().to_string()).or_default() += 1;
                }
            }
            assert_eq!(got, &want, "{year} (as of {as_of:?})");
        }
    }
}

#[test]
fn a_cut_evaluation_lists_the_first_rows_of_the_whole_one_and_the_same_figures() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    store.append(generated(3000, 5)).unwrap();
    const ROWS: usize = 7;
    for body in [None, Some("MC".to_string())] {
        let scope = Scope {
            body,
            ..Scope::default()
        };
        let whole = run(&store, &scope, None).unwrap();
        let cut = run(
            &store,
            &Scope {
                rows: Some(ROWS),
                ..scope.clone()
            },
            None,
        )
        .unwrap();
        let mut lists_cut = 0;
        for (w, c) in whole.indicators.iter().zip(&cut.indicators) {
            assert!(
                w.left_out.is_empty(),
                "{}: a whole evaluation cuts nothing",
                w.id
            );
            for (key, full) in w.value.as_object().unwrap() {
                let got = &c.value[key];
                let left = c.left_out.get(key.as_str()).copied().unwrap_or(0);
                let (len, first): (usize, serde_json::Value) = match full {
                    serde_json::Value::Array(a) => {
                        (a.len(), a.iter().take(ROWS).cloned().collect())
                    }
                    serde_json::Value::Object(o) if key == "by_decision" => (
                        o.len(),
                        o.iter()
                            .take(ROWS)
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect::<serde_json::Map<_, _>>()
                            .into(),
                    ),
                    other => (0, other.clone()),
                };
                if left > 0 {
                    lists_cut += 1;
                    assert_eq!(got, &first, "{}.{key}: the first rows", w.id);
                    assert_eq!(left + ROWS, len, "{}.{key}: rows left out", w.id);
                } else {
                    assert_eq!(got, full, "{}.{key}", w.id);
                }
            }
        }
        assert!(lists_cut >= 3, "{lists_cut} lists were cut");
    }
}
