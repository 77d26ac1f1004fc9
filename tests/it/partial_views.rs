//! A question that reads some views answers as the whole state: the deadlines listing, with
//! and without a body or status filter, from a fold of the views it names alone
//! (`listing::deadline_parts`, which is what a server that has just started decodes) equals
//! the listing from every view, on a history the scheduler has ticked through.

use accord::listing::{self, Filter};
use accord::projections::{self, Query};
use accord::store::SledStore;

use super::helpers::{future_meeting, history, Accord};

#[test]
fn the_deadlines_from_their_views_alone_are_those_of_the_whole_state() {
    let a = Accord::new();
    a.record(&history());
    let start = future_meeting(&a);
    super::helpers::tick_with_every_workflow(&a);
    let store = SledStore::open(&a.data()).unwrap();
    let whole = projections::views(&store, &Query::default()).unwrap().views;
    assert!(
        whole.work.deadlines.len() > 3,
        "{} deadlines",
        whole.work.deadlines.len()
    );
    let far = start + chrono::Days::new(365);
    let mut compared = 0;
    for (body, status) in [
        (None, None),
        (Some("MC"), None),
        (None, Some("missed")),
        (Some("BC"), Some("open")),
    ] {
        for day in [chrono::Utc::now().date_naive(), far] {
            let f = Filter {
                body: body.map(str::to_string),
                status: status.map(str::to_string),
                on: Some(day),
                ..Filter::default()
            };
            let parts = listing::deadline_parts(body.is_some() || status.is_some());
            let mut some = projections::views(
                &store,
                &Query {
                    parts,
                    ..Query::default()
                },
            )
            .unwrap()
            .views;
            assert!(
                some.decisions.decisions.is_empty(),
                "only the parts are folded"
            );
            let mut all = whole.clone();
            listing::filter_views(&mut all, "deadlines", &f).unwrap();
            listing::filter_views(&mut some, "deadlines", &f).unwrap();
            let want = listing::deadlines(&all, day, None).1;
            assert_eq!(listing::deadlines(&some, day, None).1, want, "{f:?}");
            compared += want.len();
        }
    }
    assert!(compared > 10, "only {compared} rows compared");
}
