//! The live state: the current views of each open store, kept in memory for its queries and
//! ticks, and in the store's cache once it has gone far enough past the one stored there.

use std::sync::{Arc, Mutex};

use super::{fold, Parts, Query, State, LIVE};
use crate::store::{EventStore, StoreError};

/// The live state of each open store kept in memory, so a server's queries and ticks do not
/// decode it from the cache tree each time.
static LIVE_IN_MEMORY: Mutex<Option<(u64, Arc<State>)>> = Mutex::new(None);

/// The seq of the live state in each open store's cache, as this process last read or wrote
/// it there.
static LIVE_STORED: Mutex<Option<(u64, u64)>> = Mutex::new(None);

/// The remembered live state of this store, if any.
pub(super) fn remembered(store: &dyn EventStore) -> Option<Arc<State>> {
    let guard = LIVE_IN_MEMORY.lock().unwrap_or_else(|p| p.into_inner());
    guard
        .as_ref()
        .filter(|(id, _)| *id == store.instance())
        .map(|(_, s)| s.clone())
}

fn remember(store: &dyn EventStore, state: Arc<State>) {
    let mut guard = LIVE_IN_MEMORY.lock().unwrap_or_else(|p| p.into_inner());
    *guard = Some((store.instance(), state));
}

/// Forgets this store's live state, in memory and as stored.
pub(super) fn forget(store: &dyn EventStore) {
    forget_in_memory(store);
    let mut stored = LIVE_STORED.lock().unwrap_or_else(|p| p.into_inner());
    if stored.is_some_and(|(id, _)| id == store.instance()) {
        *stored = None;
    }
}

/// Notes that this store's cache holds the live state at `seq`.
pub(super) fn stored_at(store: &dyn EventStore, seq: u64) {
    *LIVE_STORED.lock().unwrap_or_else(|p| p.into_inner()) = Some((store.instance(), seq));
}

/// Whether the live state at `seq` is far enough past the one in this store's cache to be
/// written there: each write encodes every view, which on a long log costs far more than
/// folding one record, so a state a few records ahead is not written after each append. Far
/// enough is a 64th of the log (any record on a short one); a start folds that much at most.
pub(super) fn worth_storing(store: &dyn EventStore, seq: u64) -> bool {
    let stored = LIVE_STORED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .filter(|(id, _)| *id == store.instance())
        .map_or(0, |(_, s)| s);
    seq.saturating_sub(stored) >= (seq / 64).max(1)
}

/// Writes this store's live state to its cache if the one there is behind it (as a server
/// stops, so the next start folds nothing).
pub fn checkpoint(store: &dyn EventStore) -> Result<(), StoreError> {
    let Some(live) = remembered(store) else {
        return Ok(());
    };
    let stored = LIVE_STORED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .filter(|(id, _)| *id == store.instance())
        .map(|(_, s)| s);
    if stored.is_some_and(|s| s >= live.seq) {
        return Ok(());
    }
    super::stored::Writer::default().save(store, LIVE, &live)?;
    stored_at(store, live.seq);
    Ok(())
}

/// Takes the live state out of memory to fold it further, without a copy unless a reader
/// holds it past a short wait (a request drawing a page from it lets it go within
/// milliseconds; a copy of every view costs as much memory again as the state).
pub(super) fn take(store: &dyn EventStore, live: Arc<State>) -> State {
    // Forget it first, so that no new reader takes it.
    forget_in_memory(store);
    let mut live = live;
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(200);
    loop {
        match Arc::try_unwrap(live) {
            Ok(state) => return state,
            Err(shared) if std::time::Instant::now() < deadline => {
                live = shared;
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Err(shared) => return (*shared).clone(),
        }
    }
}

fn forget_in_memory(store: &dyn EventStore) {
    let mut guard = LIVE_IN_MEMORY.lock().unwrap_or_else(|p| p.into_inner());
    if guard
        .as_ref()
        .is_some_and(|(id, _)| *id == store.instance())
    {
        *guard = None;
    }
}

/// The current views (no axis given), shared: while the log's head stays put every caller
/// gets the same state without a copy or a fold.
pub fn current(store: &dyn EventStore) -> Result<Arc<State>, StoreError> {
    if let Some(live) = remembered(store).filter(|live| live.seq == store.head().seq) {
        return Ok(live);
    }
    // One such fold at a time: callers that arrive meanwhile take the state it keeps, rather
    // than each decoding the whole stored state beside it.
    static FOLDING: Mutex<()> = Mutex::new(());
    let _one = FOLDING.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(live) = remembered(store).filter(|live| live.seq == store.head().seq) {
        return Ok(live);
    }
    let live = Arc::new(fold(store, &Query::default(), &mut |_, _| {})?);
    remember(store, live.clone());
    Ok(live)
}

/// The current views of `parts` (the others may be empty): the state kept in memory, brought
/// to the head (it holds every view); before any is kept, a fold of those views alone from the
/// stored state, not kept. A server that has just started answers its first questions so,
/// decoding only the views each asks for, while the whole state is loaded beside them.
pub fn current_parts(store: &dyn EventStore, parts: Parts) -> Result<Arc<State>, StoreError> {
    // Once a state is kept, it is brought forward whole and kept again, as `current` does.
    if parts == Parts::ALL || remembered(store).is_some() {
        return current(store);
    }
    // Before: one such fold at a time, each decoding the stored state's views it names.
    static COLD: Mutex<()> = Mutex::new(());
    let _one = COLD.lock().unwrap_or_else(|p| p.into_inner());
    if remembered(store).is_some() {
        return current(store);
    }
    let q = Query {
        parts,
        ..Query::default()
    };
    Ok(Arc::new(fold(store, &q, &mut |_, _| {})?))
}

/// The current views when the state kept in memory stands at the last durable record, as the
/// store tells without waiting (a writer may hold its head): nothing to fold, decode or wait
/// for. `None` when that cannot be told so, or the state is behind.
pub fn current_without_waiting(store: &dyn EventStore) -> Option<Arc<State>> {
    current_at(store, store.durable_seq()?)
}

/// The current views when the state kept in memory stands at `head` (the seq of the last
/// record, as just read): nothing to fold or wait for. `None` when it does not.
pub fn current_at(store: &dyn EventStore, head: u64) -> Option<Arc<State>> {
    remembered(store).filter(|live| live.seq == head)
}
