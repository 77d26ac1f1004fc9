//! The fold: from the best stored state to the query's point, each record read, corrected and
//! applied, stored states written on the way. A long fold reads the log on one thread, folds
//! on another, and compresses and writes its stored states on a third.

use super::corrections::Corrections;
use super::*;
use crate::envelope::Skimmed;

/// A fold at least this many records long reads and saves on threads beside it; a shorter one
/// (as after an append) does all on the caller's thread.
const LONG: u64 = 20_000;
/// Records handed from the reading thread to the fold at a time.
const HANDFUL: usize = 1024;

/// Folds from the best stored state to the query's point; a current fold writes the live state
/// when it is far enough past the stored one.
pub(super) fn fold(
    store: &dyn EventStore,
    q: &Query,
    progress: Progress,
) -> Result<State, StoreError> {
    let k = match q.known_at {
        Some(t) => seq_known_at(store, t)?,
        None => store.head().seq,
    };
    let mut corrections = CorrectionsAt::new(store, k);
    let mut state = start_state(store, k, q, &mut corrections)?;
    // What the start folded agrees with the corrections known at `k` (it was usable), and
    // what follows is folded with them.
    state.corrected_at = Some(k);
    let unfiltered = q.as_of.is_none() && q.occurred_by.is_none();
    let mut run = Run {
        q,
        k,
        unfiltered,
        // A state of some views only is never stored.
        storable: unfiltered && q.parts == Parts::ALL,
        last_snap: state.seq,
        base: state.seq,
        folded: 0,
        progress,
    };
    let skipping = match (q.as_of, q.occurred_by) {
        (Some(day), None) => Some(day),
        _ => None,
    };
    let base = state.seq;
    let mut writer = stored::Writer::default();
    if state.seq < k {
        let corrections = corrections.after(state.seq)?;
        // As of a day, a store may pass over records that cannot count by then.
        let records = move || match skipping {
            Some(day) => store.skim_counting_from(base + 1, day),
            None => store.skim_from(base + 1),
        };
        if k - base >= LONG {
            writer = fold_beside(store, records, &mut run, &mut state, corrections)?;
        } else {
            let mut save = |s: &State| save_snapshot(store, &mut writer, s);
            for skimmed in records() {
                if !run.step(&mut state, skimmed?, corrections, &mut save)? {
                    break;
                }
            }
        }
    }
    tracing::debug!(from = base, to = k, folded = run.folded, as_of = ?q.as_of, known_at = ?q.known_at, "fold");
    // Records passed over at the end of an as-of fold count for nothing: it stands at `k`.
    if skipping.is_some() {
        state.seq = state.seq.max(k);
    }
    (run.progress)(k - base, k - base);
    // Checkpoint only when the fold went further: a query that folded nothing writes nothing,
    // and one that folded a few records past the stored state leaves it be.
    if run.storable
        && q.known_at.is_none()
        && state.seq > base
        && live::worth_storing(store, state.seq)
    {
        writer.save(store, LIVE, &state)?;
        live::stored_at(store, state.seq);
    }
    if !run.storable {
        // A filtered fold is not a prefix state: never stored, never reused.
        state.max_counts_from = None;
    }
    Ok(state)
}

/// A long fold: the records read on a thread of their own and handed over a handful at a
/// time, the stored states written by a [`stored::Saver`], whose writer (and its buffers) it
/// returns.
fn fold_beside<'env, I>(
    store: &'env dyn EventStore,
    records: impl FnOnce() -> I + Send + 'env,
    run: &mut Run<'_, '_>,
    state: &mut State,
    corrections: &Corrections,
) -> Result<stored::Writer, StoreError>
where
    I: Iterator<Item = Result<Skimmed, StoreError>>,
{
    let k = run.k;
    std::thread::scope(|scope| {
        let (send, handfuls) = std::sync::mpsc::sync_channel::<Vec<Result<Skimmed, StoreError>>>(4);
        scope.spawn(move || {
            let mut handful = Vec::with_capacity(HANDFUL);
            for r in records() {
                let last = match &r {
                    Ok(s) => s.env.seq >= k,
                    Err(_) => true,
                };
                handful.push(r);
                if handful.len() == HANDFUL || last {
                    // The fold stopped (an error): nothing more to read.
                    if send.send(std::mem::take(&mut handful)).is_err() || last {
                        return;
                    }
                }
            }
            let _ = send.send(handful);
        });
        let mut saver = stored::Saver::start(scope, store);
        let mut save = |s: &State| {
            saver.save(snap_key(SNAP, s.seq), s, Some(snap_meta(s)));
            Ok(())
        };
        'fold: for handful in handfuls {
            for skimmed in handful {
                if !run.step(state, skimmed?, corrections, &mut save)? {
                    break 'fold;
                }
            }
        }
        saver.finish()
    })
}

/// A fold's course: what it asks and how far it has gone.
struct Run<'q, 'p> {
    q: &'q Query,
    k: u64,
    unfiltered: bool,
    storable: bool,
    last_snap: u64,
    base: u64,
    folded: u64,
    progress: Progress<'p>,
}

impl Run<'_, '_> {
    /// Folds one record into `state`, saving it when due; `false` once past the fold's point.
    fn step(
        &mut self,
        state: &mut State,
        skimmed: Skimmed,
        corrections: &Corrections,
        save: &mut dyn FnMut(&State) -> Result<(), StoreError>,
    ) -> Result<bool, StoreError> {
        self.folded += 1;
        let env = &skimmed.env;
        if env.seq > self.k {
            return Ok(false);
        }
        if self.q.counts(env) {
            if let Some(event) = corrections.effective_skimmed(&skimmed)? {
                state.views.apply_parts(env, &event, self.q.parts);
            }
        }
        if self.unfiltered {
            let cf = env.occurred.counts_from();
            state.max_counts_from = Some(state.max_counts_from.map_or(cf, |m| m.max(cf)));
        }
        state.seq = env.seq;
        // A stored state says which corrections it was folded with: those known at `k`.
        if self.storable && state.seq - self.last_snap >= spacing(state.seq) {
            save(state)?;
            self.last_snap = state.seq;
        }
        if (state.seq - self.base) % 4096 == 0 {
            (self.progress)(state.seq - self.base, self.k - self.base);
        }
        Ok(true)
    }
}

/// A stored state's meta key and value, written after the state.
fn snap_meta(s: &State) -> (Vec<u8>, Vec<u8>) {
    let meta = SnapMeta {
        version: s.version,
        seq: s.seq,
        max_counts_from: s.max_counts_from,
        corrected_at: s.corrected_at,
    };
    (
        snap_key(META, s.seq),
        serde_json::to_vec(&meta).expect("meta is JSON"),
    )
}

fn save_snapshot(
    store: &dyn EventStore,
    writer: &mut stored::Writer,
    s: &State,
) -> Result<(), StoreError> {
    writer.save(store, &snap_key(SNAP, s.seq), s)?;
    let (key, value) = snap_meta(s);
    store.cache().put(&key, &value)
}
