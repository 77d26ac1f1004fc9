//! The year-end status mix against whole folds as of each year's end, and how often it reads
//! the log.

use std::sync::atomic::{AtomicU64, Ordering};

use super::*;
use crate::envelope::Envelope;
use crate::input::Proposed;
use crate::projections::{views, Query};
use crate::store::{Cache, EventStore, Head, Outcome, Result, SledStore};

/// A sled store that counts the records read in seq order.
struct Counting {
    inner: SledStore,
    read: AtomicU64,
}

impl EventStore for Counting {
    fn append(&self, batch: Vec<Proposed>) -> Result<Vec<Outcome>> {
        self.inner.append(batch)
    }
    fn import(&self, records: Vec<Envelope>) -> Result<()> {
        self.inner.import(records)
    }
    fn head(&self) -> Head {
        self.inner.head()
    }
    fn read_from(&self, from: u64) -> Box<dyn Iterator<Item = Result<Envelope>> + '_> {
        Box::new(self.inner.read_from(from).inspect(|_| {
            self.read.fetch_add(1, Ordering::Relaxed);
        }))
    }
    fn get(&self, seq: u64) -> Result<Option<Envelope>> {
        self.inner.get(seq)
    }
    fn read_stream(&self, stream: &str) -> Result<Vec<Envelope>> {
        self.inner.read_stream(stream)
    }
    fn find_id(&self, id: &str) -> Result<Option<u64>> {
        self.inner.find_id(id)
    }
    fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.subscribe()
    }
    fn cache(&self) -> &dyn Cache {
        self.inner.cache()
    }
    fn instance(&self) -> u64 {
        self.inner.instance()
    }
}

#[test]
fn the_status_mix_reads_the_log_once_per_eight_years_and_answers_as_a_fold_per_year() {
    let dir = tempfile::tempdir().unwrap();
    let store = Counting {
        inner: SledStore::open(dir.path()).unwrap(),
        read: AtomicU64::new(0),
    };
    let mut text = Vec::new();
    crate::generate::generate(1200, 8, &mut text).unwrap();
    let batch = crate::input::parse_batch(std::str::from_utf8(&text).unwrap()).unwrap();
    let mut batch = batch.into_iter();
    store.append(batch.by_ref().take(600).collect()).unwrap();
    let earlier = store.head().recorded_at.unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    store.append(batch.collect()).unwrap();
    let head = store.head().seq;
    let earlier = crate::api::parse_instant(&earlier).unwrap();
    for (known_at, body) in [(None, None), (Some(earlier), Some("MC".to_string()))] {
        let scope = Scope {
            body,
            ..Scope::default()
        };
        let all = views(
            &store,
            &Query {
                known_at,
                ..Query::default()
            },
        )
        .unwrap()
        .views;
        store.read.store(0, Ordering::Relaxed);
        let mix = mandate_mix(&store, &all, known_at, i32::MIN..=2030, &scope).unwrap();
        let read = store.read.load(Ordering::Relaxed);
        assert!(mix.len() > 10, "{} years", mix.len());
        let passes = mix.len().div_ceil(YEARS_PER_PASS) as u64;
        assert!(
            read <= head * passes,
            "{read} records read for {} years of a {head}-event log",
            mix.len()
        );
        for (year, got) in &mix {
            let end = NaiveDate::from_ymd_opt(year.parse().unwrap(), 12, 31).unwrap();
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
            assert_eq!(got, &want, "{year}");
        }
    }
}
