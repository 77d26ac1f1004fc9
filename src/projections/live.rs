//! The live state: the current views of an open store, kept in memory for its queries and
//! ticks, and written to the store's cache once it has gone far enough past the one there.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::{fold, Parts, Query, State, LIVE};
use crate::store::{EventStore, StoreError};

/// The live state of one open store kept in memory, so a server's queries and ticks do not
/// decode it from the cache tree each time.
static LIVE_IN_MEMORY: Mutex<Option<(u64, Arc<State>)>> = Mutex::new(None);

/// The seq of the live state in each open store's cache (by store instance), as this process
/// last read or wrote it there.
static LIVE_STORED: Mutex<Option<HashMap<u64, u64>>> = Mutex::new(None);

/// The open store whose live state a fold has taken out of memory to bring it forward (its
/// instance, or `u64::MAX` for none): the current views are asked of that fold meanwhile,
/// rather than decoded from the cache beside it.
static ADVANCING: AtomicU64 = AtomicU64::new(u64::MAX);

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
    done_advancing(store);
}

/// No fold brings this store's live state forward any more.
fn done_advancing(store: &dyn EventStore) {
    let _ = ADVANCING.compare_exchange(
        store.instance(),
        u64::MAX,
        Ordering::AcqRel,
        Ordering::Relaxed,
    );
}

/// Forgets this store's live state, in memory and as stored.
pub(super) fn forget(store: &dyn EventStore) {
    forget_in_memory(store);
    if let Some(all) = LIVE_STORED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_mut()
    {
        all.remove(&store.instance());
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

/// Notes that this store's cache holds the live state at `seq` (0: one that must be replaced,
/// as the next current fold would not start from it).
pub(super) fn stored_at(store: &dyn EventStore, seq: u64) {
    LIVE_STORED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(store.instance(), seq);
}

/// The seq of the live state in this store's cache, as far as this process knows (0: none).
fn stored_seq(store: &dyn EventStore) -> u64 {
    LIVE_STORED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .and_then(|all| all.get(&store.instance()).copied())
        .unwrap_or(0)
}

/// Whether the live state at `seq` is to be written to this store's cache: each write encodes
/// every view, which on a long log costs far more than folding one record, so a state a few
/// records past the stored one is not written after each append; it is once it is a 64th of
/// the log past it (any record on a short one), and in place of one past it (a log that lost
/// records since).
pub(super) fn worth_storing(store: &dyn EventStore, seq: u64) -> bool {
    let stored = stored_seq(store);
    stored > seq || seq - stored >= (seq / 64).max(1)
}

/// Writes this store's live state to its cache if the one there is not it (as a server stops,
/// so that the next start folds nothing).
pub fn checkpoint(store: &dyn EventStore) -> Result<(), StoreError> {
    let Some(live) = remembered(store) else {
        return Ok(());
    };
    if stored_seq(store) == live.seq {
        return Ok(());
    }
    super::stored::Writer::default().save(store, LIVE, &live)?;
    stored_at(store, live.seq);
    Ok(())
}

/// Takes the live state out of memory to fold it further, without a copy unless a reader
/// holds it past a short wait (a request drawing a page from it lets it go within
/// milliseconds; a copy of every view takes as much memory again as the state). It stays in
/// memory while it waits, and from then until the fold keeps the next one, callers of
/// [`current_parts`] wait for that fold rather than decode views from the cache.
pub(super) fn take(store: &dyn EventStore, live: Arc<State>) -> State {
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(200);
    loop {
        let mut guard = LIVE_IN_MEMORY.lock().unwrap_or_else(|p| p.into_inner());
        let kept = guard
            .as_ref()
            .is_some_and(|(id, s)| *id == store.instance() && Arc::ptr_eq(s, &live));
        let readers = Arc::strong_count(&live) - 1 - usize::from(kept);
        if readers == 0 || std::time::Instant::now() >= deadline {
            if kept {
                *guard = None;
            }
            ADVANCING.store(store.instance(), Ordering::Release);
            drop(guard);
            return Arc::try_unwrap(live).unwrap_or_else(|shared| (*shared).clone());
        }
        drop(guard);
        std::thread::sleep(std::time::Duration::from_millis(1));
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
    let folded = fold(store, &Query::default(), &mut |_, _| {});
    let live = match folded {
        Ok(state) => Arc::new(state),
        Err(e) => {
            // Callers fold for themselves again.
            done_advancing(store);
            return Err(e);
        }
    };
    remember(store, live.clone());
    Ok(live)
}

/// The current views of `parts` (the others may be empty): the state kept in memory, brought
/// to the head (it holds every view); before any is kept, a fold of those views alone from the
/// stored state, not kept. A server that has just started answers its first questions so,
/// decoding only the views each asks for, while the whole state is loaded beside them.
pub fn current_parts(store: &dyn EventStore, parts: Parts) -> Result<Arc<State>, StoreError> {
    // Once a state is kept, it is brought forward whole and kept again, as `current` does;
    // while a fold brings it forward, that fold's state is the answer.
    let advancing = || ADVANCING.load(Ordering::Acquire) == store.instance();
    if parts == Parts::ALL || remembered(store).is_some() || advancing() {
        return current(store);
    }
    // Before: one such fold at a time, each decoding the stored state's views it names.
    static COLD: Mutex<()> = Mutex::new(());
    let _one = COLD.lock().unwrap_or_else(|p| p.into_inner());
    if remembered(store).is_some() || advancing() {
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
