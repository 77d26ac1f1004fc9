//! The meetings index on each backend: on sled and on PostgreSQL (`ACCORD_TEST_PG_URL`;
//! skipped with a message when no server is reachable), one meeting and the first rows of the
//! listing, as of days and as known at an instant, answer as the whole view folded from the
//! log; records appended after the index was built are caught up.

use accord::listing::{items, Item, What};
use accord::projections::meetings::index::Reader;
use accord::projections::meetings::MeetingRow;
use accord::projections::{views, Query};
use accord::store::{EventStore, PgStore, SledStore};

use super::helpers::{pg_schema, root};

fn answers_as_the_whole_view(s: &dyn EventStore) {
    let text = std::fs::read_to_string(root().join("events/history/real-meetings-2017-2024.jsonl"))
        .unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (first, second) = lines.split_at(lines.len() / 2);
    s.append(accord::input::parse_batch(&first.join("\n")).unwrap())
        .unwrap();
    let between = accord::domain::parse_instant(&s.head().recorded_at.unwrap()).unwrap();
    // Built on the first half; the second half is caught up by the next reader.
    Reader::new(s, &Query::default()).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(3));
    s.append(accord::input::parse_batch(&second.join("\n")).unwrap())
        .unwrap();
    let built = s.cache().get(b"proj/idx/mark").unwrap();
    let mut compared = 0;
    for (as_of, known_at) in [
        (None, None),
        (Some("2019-05-05"), None),
        (Some("2022-03-01"), None),
        (None, Some(between)),
        (Some("2021-07-01"), Some(between)),
    ] {
        let q = Query {
            as_of: as_of.map(|d| d.parse().unwrap()),
            known_at,
            ..Query::default()
        };
        let whole = views(s, &q).unwrap().views;
        let r = Reader::new(s, &q).unwrap();
        for id in whole.meetings.0.keys() {
            assert_eq!(
                r.find(id).unwrap().as_ref(),
                whole.meetings.find(id),
                "{id} {q:?}"
            );
            compared += 1;
        }
        let listed: Vec<MeetingRow> = items(&whole, What::Meetings)
            .into_iter()
            .filter_map(|i| match i {
                Item::Meeting(m) => Some(m.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            r.first(&|_| true, None, 6).unwrap(),
            listed[..6.min(listed.len())]
        );
    }
    assert!(compared > 40, "only {compared} meetings compared");
    // The index was caught up, not rebuilt: its mark moved from where the first half left it.
    assert!(built.is_some());
    assert_ne!(s.cache().get(b"proj/idx/mark").unwrap(), built);
}

#[test]
fn on_sled_the_index_answers_as_the_whole_view() {
    let dir = tempfile::tempdir().unwrap();
    answers_as_the_whole_view(&SledStore::open(dir.path()).unwrap());
}

#[test]
fn on_postgresql_the_index_answers_as_the_whole_view() {
    let Some(schema) = pg_schema("meetings_index") else {
        return;
    };
    let store = PgStore::open(&schema.url).unwrap();
    answers_as_the_whole_view(&store);
}
