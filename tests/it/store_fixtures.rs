//! What the store tests stand on: a store of each backend with what keeps its storage alive,
//! event lines and batches of them, and the checks of a read-back log.

use std::sync::Arc;

use accord::envelope::{Envelope, ZERO_HASH};
use accord::input::{parse_batch, Proposed};
use accord::store::{EventStore, Outcome, PgStore, SledStore};

use super::helpers::{pg_schema, PgSchema};

/// A store under test and what keeps its storage alive.
pub(crate) struct Fixture {
    pub(crate) store: Arc<dyn EventStore>,
    _dir: Option<tempfile::TempDir>,
    _schema: Option<PgSchema>,
}

pub(crate) fn sled_fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    Fixture {
        store: Arc::new(SledStore::open(dir.path()).unwrap()),
        _dir: Some(dir),
        _schema: None,
    }
}

pub(crate) fn pg_fixture(test: &str) -> Option<Fixture> {
    let schema = pg_schema(test)?;
    let store = PgStore::open(&schema.url).unwrap_or_else(|e| panic!("open {}: {e}", schema.name));
    Some(Fixture {
        store: Arc::new(store),
        _dir: None,
        _schema: Some(schema),
    })
}

/// An event on stream `deadline/{key}`: the storage contract is about records, positions
/// and ids, so its events are of a type the life-cycle rules let repeat on one stream.
pub(crate) fn line(id: &str, key: &str, expected: Option<u64>) -> String {
    let l = format!(
        r#"{{"id":"{id}","type":"DeadlineSet","occurred":"2021-03","actor":"tester","data":{{"deadline":"{key}","workflow":"w","workflow_version":1,"instance":"meeting:{key}","step":"s","what":"Something due","due":"2021-11-01","responsible":["secretariat-mc"]}}}}"#
    );
    match expected {
        Some(p) => l.replacen('{', &format!("{{\"expected_position\":{p},"), 1),
        None => l,
    }
}

pub(crate) fn batch(lines: &[String]) -> Vec<Proposed> {
    parse_batch(&lines.join("\n")).expect("valid test input")
}

pub(crate) fn retract(seq: u64) -> String {
    format!(
        r#"{{"type":"EventRetracted","occurred":"2021-04","actor":"auditor","data":{{"seq":{seq},"reason":"recorded by mistake"}}}}"#
    )
}

pub(crate) fn all(s: &dyn EventStore) -> Vec<Envelope> {
    s.read_from(1).collect::<Result<_, _>>().unwrap()
}

pub(crate) fn recorded(outcomes: &[Outcome]) -> Vec<u64> {
    outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Recorded(e) => Some(e.seq),
            Outcome::Duplicate { .. } => None,
        })
        .collect()
}

/// Seqs 1..=n, each linking to the one before and carrying its own hash.
pub(crate) fn assert_chain(records: &[Envelope]) {
    let mut prev = ZERO_HASH.to_string();
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.seq, i as u64 + 1, "gap before seq {}", r.seq);
        assert_eq!(r.prev_hash, prev, "seq {} does not chain", r.seq);
        assert_eq!(r.compute_hash(), r.hash, "seq {} hash", r.seq);
        prev = r.hash.clone();
    }
}
