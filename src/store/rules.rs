//! The rules every backend keeps when it records events: ids, idempotency, expected positions,
//! corrections, the recording instant and the hash chain, and what an import must satisfy.
//!
//! A backend holds its writer lock (a mutex, a database lock), reads its head, and hands these
//! functions a [`Lookup`] over the log as it stands; they return the sealed records to write,
//! or the error that leaves the batch unwritten. Nothing here writes.

use std::collections::{HashMap, HashSet};

use chrono::Utc;

use super::{Head, Outcome, Result, StoreError};
use crate::domain::{DecodeError, DomainEvent};
use crate::envelope::{format_instant, Envelope};
use crate::input::Proposed;

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
) -> Result<(Vec<Option<Outcome>>, Vec<Envelope>)> {
    let recorded_at = next_recorded_at(head.recorded_at.as_deref());
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
    let mut in_batch: HashMap<String, u64> = HashMap::new();
    let mut positions: HashMap<String, u64> = HashMap::new();
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut records: Vec<Envelope> = Vec::with_capacity(batch.len());
    for (index, (id, p)) in batch.into_iter().enumerate() {
        let existing = match in_batch.get(&id) {
            Some(s) => Some(*s),
            None => lookup.seq_of_id(&id)?,
        };
        if let Some(seq) = existing {
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
        check_correction(index, &p.event, head.seq, &records, lookup)?;
        positions.insert(p.stream.clone(), actual + 1);
        in_batch.insert(id.clone(), seq);
        let mut env = Envelope {
            seq,
            id,
            recorded_at: recorded_at.clone(),
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
        env.seal();
        prev = env.hash.clone();
        outcomes.push(None);
        records.push(env);
    }
    Ok((outcomes, records))
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
        if lookup.seq_of_id(&r.id)?.is_some() || !ids.insert(r.id.as_str()) {
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
/// seq in the log; `pending` the records of the batch so far.
fn check_correction(
    index: usize,
    event: &DomainEvent,
    committed: u64,
    pending: &[Envelope],
    lookup: &mut dyn Lookup,
) -> Result<()> {
    let Some(target) = event.corrects() else {
        return Ok(());
    };
    let reject = |message: String| StoreError::Rejected { index, message };
    let found = if target > committed {
        pending.iter().find(|r| r.seq == target).cloned()
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
    Ok(())
}
