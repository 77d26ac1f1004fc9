//! The meetings' temporal index: each meeting's events (its own, and those of other streams
//! that name it or one of its segments) kept by meeting in the store's cache, with a lower
//! bound of the day each meeting starts. One meeting, or a page of meetings in the listing's
//! order, as of a date and as known at an instant, is folded from its own few events by the
//! same [`Meetings::apply`] as the whole view, without reading the log.
//!
//! The index is derived data under the projections' prefix: `accord replay` drops it with the
//! stored states, and a log that no longer holds the record it was built to (a batch rolled
//! back at open) or another `PROJECTION_VERSION` has it rebuilt from the first record.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{MeetingRow, Meetings};
use crate::domain::{ApproxDate, DomainEvent};
use crate::envelope::{Envelope, Skimmed};
use crate::projections::{seq_known_at, Corrections, Query, PROJECTION_VERSION};
use crate::store::{EventStore, StoreError};

mod write;

use write::Writer;

const PREFIX: &[u8] = b"proj/idx/";
/// The record the index was built to: [`Mark`].
const MARK: &[u8] = b"proj/idx/mark";
/// `e/` + meeting + `0x00` + seq (u64 BE): the record as an [`Entry`].
const EVENTS: &[u8] = b"proj/idx/e/";
/// `o/` + start bound (sortable) + meeting: the listing's order, by a lower bound of each
/// meeting's start; the value is the meeting's [`Bound`].
const ORDER: &[u8] = b"proj/idx/o/";
/// `b/` + meeting: its [`Bound`].
const BOUND: &[u8] = b"proj/idx/b/";
/// `s/` + segment: the meeting it belongs to.
const SEGMENT: &[u8] = b"proj/idx/s/";

/// Records indexed per write.
const STEP: usize = 4096;

/// Bump when what the index files, or how it bounds a meeting's start, changes: an index of
/// another format is rebuilt.
const FORMAT: u32 = 4;

#[derive(Serialize, Deserialize)]
struct Mark {
    version: u32,
    #[serde(default)]
    format: u32,
    seq: u64,
    hash: String,
}

/// A record as the index keeps it: what a fold reads of it.
#[derive(Serialize, Deserialize)]
struct Entry<'a> {
    #[serde(borrow)]
    ty: Cow<'a, str>,
    version: u32,
    #[serde(borrow)]
    stream: Cow<'a, str>,
    occurred: ApproxDate,
    #[serde(borrow)]
    data: &'a RawValue,
}

/// What is known of a meeting before folding it: no date in its events' date fields (`dates`,
/// `resume`, at any depth) is earlier than `start` (its start as of any date is one of
/// those), and it exists at no seq before
/// `first` nor as of any day before `counts` (its earliest scheduling).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Bound {
    start: i32,
    first: u64,
    counts: i32,
    /// One of its events names an open-ended date: a split meeting's span may then start on
    /// the first of January of its earliest segment's year.
    #[serde(default)]
    open: bool,
}

impl Bound {
    /// The day the meeting's order key bounds its start by.
    fn order_start(&self) -> i32 {
        if !self.open {
            return self.start;
        }
        NaiveDate::from_num_days_from_ce_opt(self.start)
            .and_then(|d| d.with_ordinal(1))
            .map_or(self.start, days)
    }
}

fn days(d: NaiveDate) -> i32 {
    d.num_days_from_ce()
}

fn sortable(d: i32) -> [u8; 4] {
    ((d as u32) ^ 0x8000_0000).to_be_bytes()
}

fn key(prefix: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut k = prefix.to_vec();
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

fn order_key(b: &Bound, meeting: &str) -> Vec<u8> {
    key(ORDER, &[&sortable(b.order_start()), meeting.as_bytes()])
}

fn events_prefix(meeting: &str) -> Vec<u8> {
    key(EVENTS, &[meeting.as_bytes(), &[0]])
}

fn corrupt(at: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        at: format!("meetings index {at}"),
        reason: e.to_string(),
    }
}

/// One catch-up at a time in a process; another process writes the same entries.
static CATCHING_UP: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Brings the index up to the log's head and returns that head's seq.
pub fn catch_up(store: &dyn EventStore) -> Result<u64, StoreError> {
    let _one = CATCHING_UP.lock().unwrap_or_else(|p| p.into_inner());
    let head = store.head();
    let mark = store
        .cache()
        .get(MARK)?
        .and_then(|b| serde_json::from_slice::<Mark>(&b).ok());
    let mut from = match mark {
        Some(m)
            if m.version == PROJECTION_VERSION
                && m.format == FORMAT
                && m.seq <= head.seq
                && still_holds(store, &m)? =>
        {
            m.seq
        }
        _ => {
            store.cache().remove_prefix(PREFIX)?;
            0
        }
    };
    if from >= head.seq {
        return Ok(head.seq);
    }
    let mut w = Writer::new(store);
    let mut last_hash = String::new();
    for skimmed in store.skim_from(from + 1) {
        let skimmed = skimmed?;
        if skimmed.env.seq > head.seq {
            break;
        }
        w.record(&skimmed)?;
        from = skimmed.env.seq;
        last_hash.clone_from(&skimmed.env.hash);
        if w.pending() >= STEP {
            w.write(from, &last_hash)?;
        }
    }
    w.write(from, &last_hash)?;
    Ok(from)
}

/// The seq of the last record the index holds (0 when it is not built).
pub fn indexed_seq(store: &dyn EventStore) -> Result<u64, StoreError> {
    Ok(store
        .cache()
        .get(MARK)?
        .and_then(|b| serde_json::from_slice::<Mark>(&b).ok())
        .filter(|m| m.version == PROJECTION_VERSION && m.format == FORMAT)
        .map_or(0, |m| m.seq))
}

/// Whether the log still holds the record the index was built to.
fn still_holds(store: &dyn EventStore, m: &Mark) -> Result<bool, StoreError> {
    if m.seq == 0 {
        return Ok(true);
    }
    Ok(store.get(m.seq)?.is_some_and(|env| env.hash == m.hash))
}

/// Reads meetings from the index for one query.
pub struct Reader<'a> {
    store: &'a dyn EventStore,
    q: Query,
    k: u64,
    corrections: Corrections,
}

impl<'a> Reader<'a> {
    /// The index caught up, for a query on the axes `as_of` and `known_at` (the scheduler's
    /// `occurred_by` is not read here).
    pub fn new(store: &'a dyn EventStore, q: &Query) -> Result<Self, StoreError> {
        let head = catch_up(store)?;
        let k = match q.known_at {
            Some(t) => seq_known_at(store, t)?.min(head),
            None => head,
        };
        Ok(Reader {
            store,
            q: Query {
                occurred_by: None,
                ..*q
            },
            k,
            corrections: Corrections::load(store, k)?,
        })
    }

    /// The seq the answers stand at.
    pub fn seq(&self) -> u64 {
        self.k
    }

    /// The meeting with this id, or the meeting one of whose segments has it (as the whole
    /// view's `find` answers).
    pub fn find(&self, id: &str) -> Result<Option<MeetingRow>, StoreError> {
        let mut view = self.view(id)?;
        if let Some(row) = view.0.remove(id) {
            return Ok(Some(row));
        }
        match self.store.cache().get(&key(SEGMENT, &[id.as_bytes()]))? {
            Some(m) if m != id.as_bytes() => {
                let meeting = String::from_utf8_lossy(&m).into_owned();
                let mut view = self.view(&meeting)?;
                if view.1.get(id) != Some(&meeting) {
                    return Ok(None);
                }
                Ok(view.0.remove(&meeting))
            }
            _ => Ok(None),
        }
    }

    /// One meeting folded from its own events.
    fn fold(&self, meeting: &str) -> Result<Option<MeetingRow>, StoreError> {
        Ok(self.view(meeting)?.0.remove(meeting))
    }

    /// The view holding one meeting, folded from what is filed under it and, when it was
    /// split, under each of its segments.
    fn view(&self, meeting: &str) -> Result<Meetings, StoreError> {
        let own = self.filed(meeting)?;
        let view = self.apply(&own)?;
        let segments: Vec<&String> = view
            .1
            .iter()
            .filter(|(s, m)| *m == meeting && *s != meeting)
            .map(|(s, _)| s)
            .collect();
        if segments.is_empty() {
            return Ok(view);
        }
        let mut all: BTreeMap<u64, Vec<u8>> = own.into_iter().collect();
        for s in segments {
            all.extend(self.filed(s)?);
        }
        self.apply(&all.into_iter().collect::<Vec<_>>())
    }

    /// The records filed under an id, by seq, up to the query's seq.
    fn filed(&self, id: &str) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let prefix = events_prefix(id);
        let mut out = Vec::new();
        for (k, v) in self.store.cache().scan(&prefix, &prefix, usize::MAX)? {
            let seq = k[prefix.len()..]
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| corrupt(id, "a key without its seq"))?;
            if seq > self.k {
                break;
            }
            out.push((seq, v));
        }
        Ok(out)
    }

    /// A view folded from these records (in seq order) as the query counts them, with the
    /// corrections known at its instant.
    fn apply(&self, records: &[(u64, Vec<u8>)]) -> Result<Meetings, StoreError> {
        let mut view = Meetings::default();
        for (seq, v) in records {
            let at = format!("seq {seq}");
            let entry: Entry = serde_json::from_slice(v).map_err(|e| corrupt(&at, e))?;
            let skimmed = Skimmed {
                env: Envelope {
                    seq: *seq,
                    id: String::new(),
                    recorded_at: String::new(),
                    ty: entry.ty.into_owned(),
                    version: entry.version,
                    stream: entry.stream.into_owned(),
                    position: 0,
                    occurred: entry.occurred,
                    actor: String::new(),
                    correlation_id: None,
                    causation_id: None,
                    data: serde_json::Value::Null,
                    prev_hash: String::new(),
                    hash: String::new(),
                },
                data: entry.data.to_owned(),
            };
            if !self.q.counts(&skimmed.env) {
                continue;
            }
            if let Some(event) = self.corrections.effective_skimmed(&skimmed)? {
                view.apply(&skimmed.env, &event);
            }
        }
        Ok(view)
    }

    /// Whether a meeting surely does not exist for this query, by its bound alone.
    fn absent(&self, b: &Bound) -> bool {
        b.first > self.k || self.q.as_of.is_some_and(|d| days(d) < b.counts)
    }

    /// The first `n` meetings in the listing's order (by start, then id) that `keep` keeps,
    /// after the meeting `after` when given: that meeting first, then the `n` after it. A
    /// meeting `after` names that does not exist or is not kept gives nothing.
    pub fn first(
        &self,
        keep: &dyn Fn(&MeetingRow) -> bool,
        after: Option<&str>,
        n: usize,
    ) -> Result<Vec<MeetingRow>, StoreError> {
        let mut head = Vec::new();
        let floor = match after {
            Some(id) => match self.fold(id)?.filter(|r| keep(r)) {
                Some(row) => {
                    let at = (row.dates.start(), row.meeting.clone());
                    head.push(row);
                    Some(at)
                }
                None => return Ok(Vec::new()),
            },
            None => None,
        };
        let mut best: BTreeMap<(NaiveDate, String), MeetingRow> = BTreeMap::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut from = ORDER.to_vec();
        'scan: loop {
            let found = self.store.cache().scan(ORDER, &from, 512)?;
            let Some((last, _)) = found.last() else {
                break;
            };
            from = last.clone();
            from.push(0);
            for (k, v) in &found {
                let start = i32::from_be_bytes(
                    k[ORDER.len()..ORDER.len() + 4].try_into().expect("4 bytes"),
                ) ^ i32::MIN;
                let meeting = String::from_utf8_lossy(&k[ORDER.len() + 4..]).into_owned();
                let start = NaiveDate::from_num_days_from_ce_opt(start).unwrap_or(NaiveDate::MIN);
                // Every meeting not yet read starts at or after this bound.
                if best.len() >= n
                    && best
                        .keys()
                        .next_back()
                        .is_some_and(|w| (start, &meeting) > (w.0, &w.1))
                {
                    break 'scan;
                }
                if !seen.insert(meeting.clone()) {
                    continue;
                }
                let bound: Bound = serde_json::from_slice(v).map_err(|e| corrupt(&meeting, e))?;
                if self.absent(&bound) {
                    continue;
                }
                let Some(row) = self.fold(&meeting)? else {
                    continue;
                };
                let at = (row.dates.start(), row.meeting.clone());
                if floor.as_ref().is_some_and(|f| at <= *f) || !keep(&row) {
                    continue;
                }
                best.insert(at, row);
                if best.len() > n {
                    best.pop_last();
                }
            }
        }
        head.extend(best.into_values());
        Ok(head)
    }
}

#[cfg(test)]
mod tests;
