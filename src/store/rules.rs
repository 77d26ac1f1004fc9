//! The rules every backend keeps when it records events: ids, idempotency, expected positions,
//! corrections, the life cycles of the domain (`domain::lifecycle`), the recording instant and
//! the hash chain, and what an import must satisfy.
//!
//! A backend holds its writer lock (a mutex, a database lock), reads its head, and hands these
//! functions a [`Lookup`] over the log as it stands; they return the sealed records to write,
//! or the error that leaves the batch unwritten. Nothing here writes.
//!
//! The life-cycle registry of each open store is kept in memory between appends ([`Rules`]),
//! with the seq and hash of the last record it folded: an append takes it, checks that the log
//! still holds that record, catches it up with whatever other writers recorded since (a log
//! with a new correction that cannot be undone in place is folded again from the start), checks
//! and evolves it event by event, and gives it back as soon as the batch is sealed, still under
//! the writer's lock (were the batch then not written, the hash check finds it out). A process
//! without one in memory, or whose registry the log no longer agrees with, starts from the one
//! stored beside the log (`registry.rs`), checked the same way.

use std::collections::{HashMap, HashSet};

use chrono::Utc;

use super::{Head, Outcome, Result, StoreError};
use crate::domain::lifecycle::Registry;
use crate::domain::{DecodeError, DomainEvent};
use crate::envelope::{format_instant, Envelope};
use crate::input::Proposed;

pub(crate) mod registry;
pub use registry::checks_time;
use registry::count_time;
pub(crate) use registry::{written_beside, Rules};

/// What the rules need to know of the log as it stands, under the writer's lock.
pub(crate) trait Lookup {
    /// Called once before the per-event questions, with every id and stream the batch names,
    /// so that a backend with round trips can answer them from one query each.
    fn prefetch(&mut self, _ids: &[&str], _streams: &[&str]) -> Result<()> {
        Ok(())
    }

    /// The seq of the recorded event with this id.
    fn seq_of_id(&mut self, id: &str) -> Result<Option<u64>>;

    /// The last position of a stream (0 for a stream with no events).
    fn stream_position(&mut self, stream: &str) -> Result<u64>;

    /// A recorded event by seq.
    fn record(&mut self, seq: u64) -> Result<Option<Envelope>>;

    /// The recorded events with seqs in `from..=to`, in order.
    fn records(&mut self, from: u64, to: u64) -> Result<Vec<Envelope>>;

    /// The corrections recorded up to seq `to`, in order.
    fn corrections(&mut self, to: u64) -> Result<Vec<Envelope>>;

    /// The registry stored beside the log, as [`registry::encode`] wrote it, where the backend
    /// keeps one.
    fn stored_registry(&mut self) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }

    /// Stores a registry beside the log, where the backend keeps one. A write that fails is
    /// logged and passed over (the registry is derived); an error is one after which the
    /// append cannot go on.
    fn store_registry(&mut self, _bytes: &[u8]) -> Result<()> {
        Ok(())
    }
}

/// Whether a proposed event says the same as one already recorded under its id: the same type,
/// stream, date of occurrence and data (read at the current schema version).
fn same_content(p: &Proposed, recorded: &Envelope) -> bool {
    p.ty == recorded.ty
        && p.stream == recorded.stream
        && p.occurred == recorded.occurred
        && (p.data == recorded.data
            || crate::domain::as_recorded(|| {
                DomainEvent::decode(&recorded.ty, recorded.version, &recorded.data)
            })
            .is_ok_and(|e| e == p.event))
}

/// The recording instant of a new batch: now, or the head's instant if the clock is behind
/// it, so that `recorded_at` never decreases along the log.
pub(crate) fn next_recorded_at(last: Option<&str>) -> String {
    let now = Utc::now();
    match last.map(chrono::DateTime::parse_from_rfc3339) {
        Some(Ok(last)) if last > now => format_instant(last.with_timezone(&Utc)),
        _ => format_instant(now),
    }
}

/// Turns a proposed batch into sealed records following `head`: ids given or generated,
/// duplicates (in the log or earlier in the batch) reported and skipped, expected positions
/// checked against the stream and earlier events of the batch, corrections checked, seq,
/// position and hash assigned. Returns the place of each proposed event (`None` for one
/// recorded, the duplicate otherwise) and the records to write, or the error that leaves the
/// whole batch unwritten. [`outcomes`] joins the two once the records are written.
pub(crate) fn seal_batch(
    batch: Vec<Proposed>,
    head: &Head,
    lookup: &mut dyn Lookup,
    rules: &mut Rules,
) -> Result<Sealed> {
    let recorded_at = next_recorded_at(head.recorded_at.as_deref());
    seal_batch_at(batch, head, &recorded_at, lookup, rules)
}

/// [`seal_batch`] at a given recording instant: that of the whole batch, when it is sealed a
/// part at a time (`head` is then the last record of the part before).
pub(crate) fn seal_batch_at(
    batch: Vec<Proposed>,
    head: &Head,
    recorded_at: &str,
    lookup: &mut dyn Lookup,
    rules: &mut Rules,
) -> Result<Sealed> {
    let batch: Vec<(String, Proposed)> = batch
        .into_iter()
        .map(|mut p| {
            let id =
                p.id.take()
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            (id, p)
        })
        .collect();
    {
        let ids: Vec<&str> = batch.iter().map(|(id, _)| id.as_str()).collect();
        let mut streams: Vec<&str> = batch.iter().map(|(_, p)| p.stream.as_str()).collect();
        streams.sort_unstable();
        streams.dedup();
        lookup.prefetch(&ids, &streams)?;
    }
    let mut seq = head.seq;
    let mut prev = head.hash.clone();
    let mut in_batch: foldhash::HashMap<String, u64> = Default::default();
    let mut positions: foldhash::HashMap<String, u64> = Default::default();
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut records: Vec<Envelope> = Vec::with_capacity(batch.len());
    let mut canonical: Vec<String> = Vec::with_capacity(batch.len());
    for (index, (id, p)) in batch.into_iter().enumerate() {
        let existing = match in_batch.get(&id) {
            Some(s) => Some((*s, records.get((*s - head.seq - 1) as usize).cloned())),
            // An id a backend finds past the head belongs to a batch that never completed (the
            // disk filled while it was written): it is not recorded.
            None => match lookup.seq_of_id(&id)? {
                Some(s) if s > head.seq => None,
                Some(s) if !p.once => lookup.record(s)?.map(|r| (s, Some(r))),
                Some(s) => Some((s, None)),
                None => None,
            },
        };
        if let Some((seq, recorded)) = existing {
            if let Some(recorded) = recorded.filter(|r| !same_content(&p, r)) {
                return Err(StoreError::IdConflict {
                    index,
                    id,
                    seq: recorded.seq,
                });
            }
            outcomes.push(Some(Outcome::Duplicate { id, seq }));
            continue;
        }
        let actual = match positions.get(&p.stream) {
            Some(pos) => *pos,
            None => lookup.stream_position(&p.stream)?,
        };
        if let Some(expected) = p.expected_position {
            if expected != actual {
                return Err(StoreError::Conflict {
                    index,
                    stream: p.stream,
                    expected,
                    actual,
                });
            }
        }
        seq += 1;
        let target = check_correction(index, &p.event, head.seq, &records, lookup)?;
        if let Some(target) = target {
            let registry = rules.registry();
            if !count_time(|| correct(registry, &p.event, &target)) {
                rules.stale = true;
            }
        }
        let registry = rules.registry();
        count_time(|| {
            registry
                .decide(&p.event)
                .map(|()| registry.evolve(seq, &p.event))
        })
        .map_err(|r| StoreError::Refused {
            index,
            field: r.field,
            message: r.message,
        })?;
        positions.insert(p.stream.clone(), actual + 1);
        in_batch.insert(id.clone(), seq);
        let mut env = Envelope {
            seq,
            id,
            recorded_at: recorded_at.to_string(),
            ty: p.ty,
            version: p.version,
            stream: p.stream,
            position: actual + 1,
            occurred: p.occurred,
            actor: p.actor,
            correlation_id: p.correlation_id,
            causation_id: p.causation_id,
            data: p.data,
            prev_hash: prev,
            hash: String::new(),
        };
        canonical.push(env.seal_canonical());
        prev = env.hash.clone();
        outcomes.push(None);
        records.push(env);
    }
    Ok(Sealed {
        places: outcomes,
        records,
        canonical,
    })
}

/// A batch sealed: where each proposed event's outcome goes (see [`outcomes`]), the records,
/// and each record's canonical JSON (what is hashed, stored and exported).
pub(crate) struct Sealed {
    pub(crate) places: Vec<Option<Outcome>>,
    pub(crate) records: Vec<Envelope>,
    pub(crate) canonical: Vec<String>,
}

/// The outcome of each proposed event: the written records fill the places
/// [`seal_batch`] left for them, in order, without a copy.
pub(crate) fn outcomes(places: Vec<Option<Outcome>>, records: Vec<Envelope>) -> Vec<Outcome> {
    let mut recorded = records.into_iter();
    places
        .into_iter()
        .map(|place| {
            place.unwrap_or_else(|| {
                Outcome::Recorded(Box::new(recorded.next().expect("a record per place")))
            })
        })
        .collect()
}

/// Checks records exported from another store before they are written after `head`: seq and
/// chain follow on, hashes match, ids are new, `recorded_at` is a canonical UTC instant that
/// never decreases (an instant ahead of this machine's clock is the caller's policy: `accord
/// import` refuses it unless told, `accord migrate` copies a store as it is), data decodes for its type and stream, corrections
/// name events that exist, and positions follow each stream's.
pub(crate) fn check_import(
    records: &[Envelope],
    head: &Head,
    lookup: &mut dyn Lookup,
) -> Result<()> {
    {
        let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
        let mut streams: Vec<&str> = records.iter().map(|r| r.stream.as_str()).collect();
        streams.sort_unstable();
        streams.dedup();
        lookup.prefetch(&ids, &streams)?;
    }
    let mut seq = head.seq;
    let mut prev = head.hash.clone();
    let mut positions: HashMap<String, u64> = HashMap::new();
    let mut ids = HashSet::new();
    let mut last_at = head
        .recorded_at
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    for (index, r) in records.iter().enumerate() {
        let reject = |message: String| StoreError::Rejected { index, message };
        if r.seq != seq + 1 {
            return Err(reject(format!("seq {} does not follow seq {seq}", r.seq)));
        }
        if r.prev_hash != prev {
            return Err(reject(format!("seq {}: prev_hash does not chain", r.seq)));
        }
        if r.compute_hash() != r.hash {
            return Err(reject(format!(
                "seq {}: hash does not match the record",
                r.seq
            )));
        }
        if lookup.seq_of_id(&r.id)?.is_some_and(|s| s <= head.seq) || !ids.insert(r.id.as_str()) {
            return Err(reject(format!(
                "seq {}: id `{}` is already recorded",
                r.seq, r.id
            )));
        }
        let at = r
            .recorded_at_time()
            .filter(|t| format_instant(*t) == r.recorded_at)
            .ok_or_else(|| {
                reject(format!(
                    "seq {}: recorded_at is not an RFC 3339 UTC instant",
                    r.seq
                ))
            })?;
        if last_at.is_some_and(|l| l > at) {
            return Err(reject(format!(
                "seq {}: recorded_at {} is before the previous record's",
                r.seq, r.recorded_at
            )));
        }
        last_at = Some(at);
        let event = crate::domain::as_recorded(|| DomainEvent::decode(&r.ty, r.version, &r.data))
            .and_then(|e| e.check().map(|_| e))
            .map_err(|e| reject(format!("seq {}: {e}", r.seq)))?;
        if event.stream() != r.stream {
            return Err(reject(format!(
                "seq {}: a {} belongs to stream `{}`, not `{}`",
                r.seq,
                r.ty,
                event.stream(),
                r.stream
            )));
        }
        check_correction(index, &event, head.seq, &records[..index], lookup)
            .map(|_| ())
            .map_err(|e| reject(format!("seq {}: {e}", r.seq)))?;
        let actual = match positions.get(&r.stream) {
            Some(p) => *p,
            None => lookup.stream_position(&r.stream)?,
        };
        if r.position != actual + 1 {
            return Err(reject(format!(
                "seq {}: position {} in `{}` does not follow {actual}",
                r.seq, r.position, r.stream
            )));
        }
        positions.insert(r.stream.clone(), r.position);
        seq = r.seq;
        prev = r.hash.clone();
    }
    Ok(())
}

/// A correction must name an earlier event that is not itself a correction, and an
/// amendment's data must be valid for that event's type and stream. `committed` is the last
/// seq before the batch (or before this part of it, the parts before read through `lookup`);
/// `pending` the records sealed since, which follow on from it.
fn check_correction(
    index: usize,
    event: &DomainEvent,
    committed: u64,
    pending: &[Envelope],
    lookup: &mut dyn Lookup,
) -> Result<Option<Envelope>> {
    let Some(target) = event.corrects() else {
        return Ok(None);
    };
    let reject = |message: String| StoreError::Rejected { index, message };
    let found = if target > committed {
        // The batch's records so far follow on from `committed`.
        pending
            .get((target - committed - 1) as usize)
            .filter(|r| r.seq == target)
            .cloned()
    } else {
        lookup.record(target)?
    };
    let target_env =
        found.ok_or_else(|| reject(format!("data.seq: no event with seq {target} to correct")))?;
    if target_env.stream == "corrections" {
        return Err(reject(format!(
            "data.seq: seq {target} is itself a correction"
        )));
    }
    if let DomainEvent::EventAmended(a) = event {
        let data = serde_json::Value::Object(a.data.clone());
        let amended = DomainEvent::decode(&target_env.ty, target_env.version, &data)
            .and_then(|e| e.check().map(|_| e))
            .map_err(|e| {
                let e = match e {
                    DecodeError::Field { path, message } => {
                        format!("field `data.{path}`: {message}")
                    }
                    other => other.to_string(),
                };
                reject(format!(
                    "the amended data is not a valid {}: {e}",
                    target_env.ty
                ))
            })?;
        if amended.stream() != target_env.stream {
            return Err(reject(format!(
                "data.data: the amended data would move the event from `{}` to `{}`",
                target_env.stream,
                amended.stream()
            )));
        }
    }
    Ok(Some(target_env))
}

/// Brings `reg` in line with a correction of `target`, where that can be done exactly
/// ([`Registry::undo`]); `false` when the registry must be folded again from the log.
fn correct(reg: &mut Registry, correction: &DomainEvent, target: &Envelope) -> bool {
    let decode = |data: &serde_json::Value| {
        crate::domain::as_recorded(|| DomainEvent::decode(&target.ty, target.version, data)).ok()
    };
    let Some(old) = decode(&target.data) else {
        return false;
    };
    match correction {
        DomainEvent::EventRetracted(_) => reg.undo(target.seq, &old),
        DomainEvent::EventAmended(a) => match decode(&serde_json::Value::Object(a.data.clone())) {
            Some(new) if reg.undo(target.seq, &old) => {
                reg.evolve(target.seq, &new);
                true
            }
            _ => false,
        },
        _ => true,
    }
}
