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
const FORMAT: u32 = 3;

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

/// What is known of a meeting before folding it: no date any of its events names is earlier
/// than `start` (its start as of any date is one of those), and it exists at no seq before
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

/// The entries of a catch-up, written a step at a time with the mark.
struct Writer<'a> {
    store: &'a dyn EventStore,
    puts: Vec<(Vec<u8>, Vec<u8>)>,
    removes: Vec<Vec<u8>>,
    bounds: HashMap<String, Option<Bound>>,
    segments: HashMap<String, Option<String>>,
}

impl<'a> Writer<'a> {
    fn new(store: &'a dyn EventStore) -> Self {
        Writer {
            store,
            puts: Vec::new(),
            removes: Vec::new(),
            bounds: HashMap::new(),
            segments: HashMap::new(),
        }
    }

    fn pending(&self) -> usize {
        self.puts.len()
    }

    fn write(&mut self, seq: u64, hash: &str) -> Result<(), StoreError> {
        let mark = Mark {
            version: PROJECTION_VERSION,
            format: FORMAT,
            seq,
            hash: hash.to_string(),
        };
        self.puts.push((
            MARK.to_vec(),
            serde_json::to_vec(&mark).expect("mark is JSON"),
        ));
        self.store.cache().write_batch(&self.puts, &self.removes)?;
        self.puts.clear();
        self.removes.clear();
        Ok(())
    }

    /// Indexes one record: an event under each meeting it names; an amendment, the event it
    /// amends under each meeting the amended data names.
    fn record(&mut self, s: &Skimmed) -> Result<(), StoreError> {
        let at = || format!("seq {}", s.env.seq);
        let event = crate::domain::as_recorded(|| {
            DomainEvent::decode_text(&s.env.ty, s.env.version, &s.data)
        })
        .map_err(|e| corrupt(&at(), e))?;
        if let DomainEvent::EventAmended(a) = &event {
            let Some(target) = self.store.get(a.seq)? else {
                return Ok(());
            };
            let data = serde_json::Value::Object(a.data.clone());
            // Data that does not decode is the fold's to report; it names nothing here.
            let Ok(amended) = crate::domain::as_recorded(|| {
                DomainEvent::decode(&target.ty, target.version, &data)
            }) else {
                return Ok(());
            };
            let text = serde_json::value::to_raw_value(&target.data)
                .map_err(|e| corrupt(&format!("seq {}", a.seq), e))?;
            let target = Skimmed {
                env: target,
                data: text,
            };
            return self.event(&target, &amended);
        }
        self.event(s, &event)
    }

    fn event(&mut self, s: &Skimmed, e: &DomainEvent) -> Result<(), StoreError> {
        let names = Meetings::named(e);
        if names.is_empty() {
            return Ok(());
        }
        if let DomainEvent::MeetingSplit(m) = e {
            for seg in &m.segments {
                self.puts.push((
                    key(SEGMENT, &[seg.segment.as_str().as_bytes()]),
                    m.meeting.as_str().as_bytes().to_vec(),
                ));
                self.segments
                    .insert(seg.segment.0.clone(), Some(m.meeting.0.clone()));
            }
        }
        // Filed under each id named, and under the meeting a named segment belongs to; a
        // meeting's fold also reads what is filed under the segments its split names then.
        let mut files: Vec<String> = Vec::new();
        let mut bounded: Vec<String> = Vec::new();
        for name in &names.meetings {
            files.push(name.to_string());
            bounded.push(name.to_string());
        }
        for name in &names.either {
            files.push(name.to_string());
            if let Some(m) = self.meeting_of(name)? {
                files.push(m.clone());
                bounded.push(m);
            }
        }
        files.sort();
        files.dedup();
        bounded.sort();
        bounded.dedup();
        let entry = serde_json::to_vec(&Entry {
            ty: Cow::Borrowed(&s.env.ty),
            version: s.env.version,
            stream: Cow::Borrowed(&s.env.stream),
            occurred: s.env.occurred,
            data: &s.data,
        })
        .map_err(|e| corrupt(&format!("seq {}", s.env.seq), e))?;
        let earliest = earliest_day(e);
        let scheduled = matches!(e, DomainEvent::MeetingScheduled(_))
            .then(|| (s.env.seq, days(s.env.occurred.counts_from())));
        for f in &files {
            self.puts.push((
                key(EVENTS, &[f.as_bytes(), &[0], &s.env.seq.to_be_bytes()]),
                entry.clone(),
            ));
        }
        for m in &bounded {
            self.bound(m, earliest, scheduled)?;
        }
        Ok(())
    }

    /// The meeting a segment id belongs to, as the splits indexed so far say.
    fn meeting_of(&mut self, name: &str) -> Result<Option<String>, StoreError> {
        if !self.segments.contains_key(name) {
            let found = self
                .store
                .cache()
                .get(&key(SEGMENT, &[name.as_bytes()]))?
                .map(|b| String::from_utf8_lossy(&b).into_owned());
            self.segments.insert(name.to_string(), found);
        }
        Ok(self.segments[name].clone().filter(|m| m != name))
    }

    /// Lowers a meeting's bound by an event's earliest day and scheduling.
    fn bound(
        &mut self,
        meeting: &str,
        (earliest, open): (Option<i32>, bool),
        scheduled: Option<(u64, i32)>,
    ) -> Result<(), StoreError> {
        if !self.bounds.contains_key(meeting) {
            let stored = match self.store.cache().get(&key(BOUND, &[meeting.as_bytes()]))? {
                Some(b) => {
                    Some(serde_json::from_slice::<Bound>(&b).map_err(|e| corrupt(meeting, e))?)
                }
                None => None,
            };
            self.bounds.insert(meeting.to_string(), stored);
        }
        let old = self.bounds[meeting];
        let mut new = old.unwrap_or(Bound {
            start: i32::MAX,
            first: u64::MAX,
            counts: i32::MAX,
            open: false,
        });
        if let Some(d) = earliest {
            new.start = new.start.min(d);
        }
        new.open |= open;
        if let Some((seq, counts)) = scheduled {
            new.first = new.first.min(seq);
            new.counts = new.counts.min(counts);
        }
        if Some(new) == old {
            return Ok(());
        }
        if let Some(old) = old {
            self.removes.push(order_key(&old, meeting));
        }
        let value = serde_json::to_vec(&new).expect("bound is JSON");
        self.puts.push((order_key(&new, meeting), value.clone()));
        self.puts.push((key(BOUND, &[meeting.as_bytes()]), value));
        self.bounds.insert(meeting.to_string(), Some(new));
        Ok(())
    }
}

/// The earliest day any date in an event's data starts, and whether one is open-ended: every
/// date a meeting row takes is one of its events' dates, or a split meeting's span of its
/// segments', which starts with the earliest of them or, when one is open-ended, on the first
/// of January of that one's year.
fn earliest_day(e: &DomainEvent) -> (Option<i32>, bool) {
    fn walk(v: &serde_json::Value, min: &mut Option<i32>, open: &mut bool) {
        match v {
            serde_json::Value::String(s) => {
                if let Ok(d) = s.parse::<ApproxDate>() {
                    let start = days(d.start());
                    *min = Some(min.map_or(start, |m| m.min(start)));
                    *open |= d.end().is_none();
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, min, open)),
            serde_json::Value::Object(o) => o.values().for_each(|v| walk(v, min, open)),
            _ => {}
        }
    }
    let (mut min, mut open) = (None, false);
    if let Ok(v) = serde_json::to_value(e) {
        walk(&v, &mut min, &mut open);
    }
    (min, open)
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
