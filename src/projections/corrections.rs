//! Corrections: what `EventRetracted` and `EventAmended` records say about earlier events, as
//! known up to a seq, and the event a fold takes for each record in their light.

use std::collections::HashMap;

use crate::domain::DomainEvent;
use crate::envelope::{Envelope, Skimmed};
use crate::store::{EventStore, StoreError};

/// Every correction of an open store, decoded, kept in memory while the log's head stays put:
/// reading the corrections stream decodes a chunk per correction.
#[allow(clippy::type_complexity)]
static CORRECTIONS_IN_MEMORY: std::sync::Mutex<
    Option<(u64, u64, std::sync::Arc<Vec<(u64, DomainEvent)>>)>,
> = std::sync::Mutex::new(None);

/// The corrections of a log, decoded, by seq.
pub(super) type CorrectionList = std::sync::Arc<Vec<(u64, DomainEvent)>>;

/// Every correction recorded up to the head, with that head.
pub(super) fn all_corrections(store: &dyn EventStore) -> Result<(u64, CorrectionList), StoreError> {
    let head = store.head().seq;
    {
        let guard = CORRECTIONS_IN_MEMORY
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some((id, at, list)) = guard.as_ref() {
            if *id == store.instance() && *at == head {
                return Ok((head, list.clone()));
            }
        }
    }
    let mut list = Vec::new();
    for env in store.read_stream("corrections")? {
        if env.seq <= head {
            list.push((env.seq, decode(&env)?));
        }
    }
    let list = std::sync::Arc::new(list);
    *CORRECTIONS_IN_MEMORY
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = Some((store.instance(), head, list.clone()));
    Ok((head, list))
}

/// Whether every correction of this store, as of its head, is already in memory.
fn held_in_memory(store: &dyn EventStore) -> bool {
    let head = store.head().seq;
    CORRECTIONS_IN_MEMORY
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .is_some_and(|(id, at, _)| *id == store.instance() && *at == head)
}

/// What corrections say about earlier events, as known up to some seq.
#[derive(Debug, Default)]
pub struct Corrections {
    /// (seq of the correction, seq it corrects).
    list: Vec<(u64, u64)>,
    /// The seq up to which `list` holds every correction.
    covers: u64,
    effect: HashMap<u64, Effect>,
}

#[derive(Debug)]
enum Effect {
    Retracted,
    Amended(serde_json::Value),
}

impl Corrections {
    /// Reads the corrections recorded up to seq `k` (and, to judge stored states, which
    /// events the later ones correct).
    pub fn load(store: &dyn EventStore, k: u64) -> Result<Self, StoreError> {
        let (covers, all) = all_corrections(store)?;
        let mut c = Corrections {
            covers,
            ..Corrections::default()
        };
        for (seq, event) in all.iter() {
            c.note(*seq, event, k);
        }
        Ok(c)
    }

    /// The corrections recorded after seq `from` up to seq `k`, read from those records
    /// themselves rather than from the corrections stream: all that a state folded with the
    /// corrections known at `from` needs to be judged and brought forward to `k`.
    pub fn recorded_between(store: &dyn EventStore, from: u64, k: u64) -> Result<Self, StoreError> {
        let mut c = Corrections {
            covers: k,
            ..Corrections::default()
        };
        for s in store.skim_from(from + 1) {
            let s = s?;
            if s.env.seq > k {
                break;
            }
            if s.env.stream != "corrections" {
                continue;
            }
            let event = crate::domain::as_recorded(|| {
                DomainEvent::decode_text(&s.env.ty, s.env.version, &s.data)
            })
            .map_err(|e| corrupt(s.env.seq, e))?;
            c.note(s.env.seq, &event, k);
        }
        Ok(c)
    }

    /// Takes in one correction recorded at `seq`; its effect counts if `seq <= k`.
    fn note(&mut self, seq: u64, event: &DomainEvent, k: u64) {
        match event {
            DomainEvent::EventRetracted(r) => {
                self.list.push((seq, r.seq));
                if seq <= k {
                    self.effect.insert(r.seq, Effect::Retracted);
                }
            }
            DomainEvent::EventAmended(a) => {
                self.list.push((seq, a.seq));
                // A retraction wins over any amendment.
                if seq <= k && !matches!(self.effect.get(&a.seq), Some(Effect::Retracted)) {
                    self.effect.insert(
                        a.seq,
                        Effect::Amended(serde_json::Value::Object(a.data.clone())),
                    );
                }
            }
            _ => {}
        }
    }

    /// Whether a state folded to `j` with the corrections known at `m` is right for a query
    /// up to `k`: no correction recorded between `m` and `k` corrects an event at or before `j`.
    pub(super) fn valid(&self, j: u64, m: u64, k: u64) -> bool {
        let (lo, hi) = (m.min(k), m.max(k));
        // A state folded with corrections this list may not hold (stored since it was read).
        if hi > self.covers.max(k) {
            return false;
        }
        !self.list.iter().any(|&(c, t)| c > lo && c <= hi && t <= j)
    }

    /// As [`Corrections::effective`], for a record read by `skim_from`.
    pub fn effective_skimmed(&self, s: &Skimmed) -> Result<Option<DomainEvent>, StoreError> {
        self.effective_by(&s.env, || {
            crate::domain::as_recorded(|| {
                DomainEvent::decode_text(&s.env.ty, s.env.version, &s.data)
            })
            .map_err(|e| corrupt(s.env.seq, e))
        })
    }

    /// The event to fold for `env`, or `None` when retracted or itself a correction.
    pub fn effective(&self, env: &Envelope) -> Result<Option<DomainEvent>, StoreError> {
        self.effective_by(env, || decode(env))
    }

    /// The event to fold for `env`: none, the amended data, or the record's own (`recorded`).
    fn effective_by(
        &self,
        env: &Envelope,
        recorded: impl FnOnce() -> Result<DomainEvent, StoreError>,
    ) -> Result<Option<DomainEvent>, StoreError> {
        if env.stream == "corrections" {
            return Ok(None);
        }
        match self.effect.get(&env.seq) {
            Some(Effect::Retracted) => Ok(None),
            Some(Effect::Amended(data)) => {
                crate::domain::as_recorded(|| DomainEvent::decode(&env.ty, env.version, data))
                    .map(Some)
                    .map_err(|e| corrupt(env.seq, e))
            }
            None => recorded().map(Some),
        }
    }
}

/// Records a fold may read twice to learn the corrections among them, rather than read the
/// corrections stream (on sled that needs the stream index, read whole on first use): a
/// stretch this short costs a few milliseconds to read again on either backend.
const NEAR: u64 = 1_000;

/// The corrections known at `k`, read from the log when first needed: a state that stands
/// at `k`, folded with exactly those, needs none, and one a few records behind needs only the
/// corrections among those records, unless every correction is in memory already (a server's
/// first listing does not wait for the stream index to be read).
pub(super) struct CorrectionsAt<'a> {
    store: &'a dyn EventStore,
    k: u64,
    /// What is read: every correction (`None`), or those recorded after a seq.
    read: Option<(Option<u64>, Corrections)>,
}

impl<'a> CorrectionsAt<'a> {
    pub(super) fn new(store: &'a dyn EventStore, k: u64) -> Self {
        CorrectionsAt {
            store,
            k,
            read: None,
        }
    }

    /// At least the corrections recorded after `from` up to `k`.
    pub(super) fn after(&mut self, from: u64) -> Result<&Corrections, StoreError> {
        let held = match &self.read {
            Some((None, _)) => true,
            Some((Some(f), _)) => *f <= from,
            None => false,
        };
        if !held {
            self.read = Some(
                if self.k.saturating_sub(from) <= NEAR && !held_in_memory(self.store) {
                    let c = Corrections::recorded_between(self.store, from, self.k)?;
                    (Some(from), c)
                } else {
                    (None, Corrections::load(self.store, self.k)?)
                },
            );
        }
        Ok(&self.read.as_ref().expect("read just above").1)
    }

    /// Every correction, those recorded after `k` too.
    pub(super) fn all(&mut self) -> Result<&Corrections, StoreError> {
        if !matches!(self.read, Some((None, _))) {
            self.read = Some((None, Corrections::load(self.store, self.k)?));
        }
        Ok(&self.read.as_ref().expect("read just above").1)
    }
}

pub(super) fn corrupt(seq: u64, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        at: format!("seq {seq}"),
        reason: format!("recorded data no longer decodes: {e}"),
    }
}

/// Decodes a recorded event.
pub fn decode(env: &Envelope) -> Result<DomainEvent, StoreError> {
    crate::domain::as_recorded(|| DomainEvent::decode(&env.ty, env.version, &env.data))
        .map_err(|e| corrupt(env.seq, e))
}
