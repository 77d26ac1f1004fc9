//! Projections: the read models folded from the log, on two time axes, with snapshots.
//!
//! A query names a domain date (`as_of`: count events whose `occurred` is past by then) and a
//! recording instant (`known_at`: count events recorded by then, a prefix of the log). The
//! fold starts from the newest stored state that is valid for the query and folds forward:
//! - the live state (kept in memory, and written to the store's cache once it is a 64th of the
//!   log past the one there) and periodic snapshots are kept in the store's cache, tagged
//!   with `PROJECTION_VERSION`; another version drops them all;
//! - a state at seq `j`, folded with the corrections recorded up to `m`, serves a query up to
//!   seq `k >= j` unless a correction recorded between `m` and `k` corrects an event at or
//!   before `j`;
//! - it serves an `as_of` query only when every event it folded counts as of that date, and an
//!   `as_of` fold may pass over records that cannot count by then;
//! - a query may name the views it reads (`Query::parts`): only those are loaded and folded.
//!
//! Corrections known at the query's instant apply: a retracted event is skipped, an amended one
//! is folded with its corrected data. The trail keeps both.

mod corrections;
pub mod decisions;
mod fold;
pub mod groups;
mod live;
pub mod meetings;
pub mod reporting;
pub mod reports;
mod stored;
#[cfg(test)]
mod tests;
pub mod timeline;
pub mod work;

use corrections::{corrupt, CorrectionsAt};
pub use corrections::{decode, Corrections};
use fold::fold;
pub use live::{checkpoint, current, current_at, current_parts, current_without_waiting};
use live::{forget, remembered};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::DomainEvent;
use crate::envelope::Envelope;
use crate::store::{EventStore, StoreError};

/// Bump when a fold changes: stored states of another version are dropped and rebuilt.
pub const PROJECTION_VERSION: u32 = 7;

/// All read models together.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Views {
    pub meetings: meetings::Meetings,
    pub decisions: decisions::Decisions,
    pub groups: groups::Groups,
    pub reports: reports::Reports,
    pub work: work::Work,
    #[serde(default)]
    pub reporting: reporting::Reporting,
}

impl Views {
    pub fn apply(&mut self, env: &Envelope, e: &DomainEvent) {
        self.apply_parts(env, e, Parts::ALL);
    }

    /// Applies an event to the views of `parts` only.
    pub fn apply_parts(&mut self, env: &Envelope, e: &DomainEvent, parts: Parts) {
        if parts.has(Parts::MEETINGS) {
            self.meetings.apply(env, e);
        }
        if parts.has(Parts::DECISIONS) {
            self.decisions.apply(env, e);
        }
        if parts.has(Parts::GROUPS) {
            self.groups.apply(env, e);
        }
        if parts.has(Parts::REPORTS) {
            self.reports.apply(env, e);
        }
        if parts.has(Parts::WORK) {
            self.work.apply(env, e);
        }
        if parts.has(Parts::REPORTING) {
            self.reporting.apply(e);
        }
    }

    /// A copy of the views of `parts`, the others empty.
    fn copy_parts(&self, parts: Parts) -> Views {
        let take = |p: Parts| parts.has(p);
        Views {
            meetings: if take(Parts::MEETINGS) {
                self.meetings.clone()
            } else {
                Default::default()
            },
            decisions: if take(Parts::DECISIONS) {
                self.decisions.clone()
            } else {
                Default::default()
            },
            groups: if take(Parts::GROUPS) {
                self.groups.clone()
            } else {
                Default::default()
            },
            reports: if take(Parts::REPORTS) {
                self.reports.clone()
            } else {
                Default::default()
            },
            work: if take(Parts::WORK) {
                self.work.clone()
            } else {
                Default::default()
            },
            reporting: if take(Parts::REPORTING) {
                self.reporting.clone()
            } else {
                Default::default()
            },
        }
    }
}

/// Which views a query reads: a fold for some folds and copies only those, the others left
/// empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parts(u8);

impl Parts {
    pub const MEETINGS: Parts = Parts(1);
    pub const DECISIONS: Parts = Parts(2);
    pub const GROUPS: Parts = Parts(4);
    pub const REPORTS: Parts = Parts(8);
    pub const WORK: Parts = Parts(16);
    pub const REPORTING: Parts = Parts(32);
    pub const ALL: Parts = Parts(63);

    /// Both sets.
    pub const fn and(self, other: Parts) -> Parts {
        Parts(self.0 | other.0)
    }

    /// Whether every view of `other` is in this set.
    pub fn has(self, other: Parts) -> bool {
        self.0 & other.0 == other.0
    }
}

impl Default for Parts {
    fn default() -> Parts {
        Parts::ALL
    }
}

/// The views after folding events up to `seq`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    pub seq: u64,
    /// The latest day from which an event folded here counts "as of".
    pub max_counts_from: Option<NaiveDate>,
    /// The seq up to which the corrections it was folded with were recorded (its own seq
    /// unless given).
    #[serde(default)]
    pub corrected_at: Option<u64>,
    pub views: Views,
}

/// The two time axes of a query, and the scheduler's view of an instant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Query {
    pub as_of: Option<NaiveDate>,
    pub known_at: Option<DateTime<Utc>>,
    /// What had occurred by this instant, as the scheduler sees it: an event recorded at or
    /// before it counts whatever its approximate `occurred` says (it was known then); one
    /// recorded later (a history taken up after the fact) counts once its `occurred` window has
    /// elapsed by the instant's day. The scheduler's own records (deadlines and reminders)
    /// after seq `own_after` always count: what Accord did, it did, and a clock set back must
    /// not send twice.
    pub occurred_by: Option<DateTime<Utc>>,
    /// See [`Query::occurred_by`]: 0 for a store's own scheduler; a simulation on a copy gives
    /// the copy's last seq, so that only its own ticks' records count whatever their date.
    pub own_after: u64,
    /// The views the query reads (all unless narrowed).
    pub parts: Parts,
}

impl Query {
    /// A question about the current views: no axis given (whatever views it names).
    pub fn is_current(&self) -> bool {
        self.as_of.is_none() && self.known_at.is_none() && self.occurred_by.is_none()
    }

    /// The scheduler's view at `t` (see [`Query::occurred_by`]).
    pub fn occurred_by(t: DateTime<Utc>) -> Query {
        Query {
            occurred_by: Some(t),
            ..Query::default()
        }
    }

    /// As [`Query::occurred_by`], the scheduler's records up to seq `own_after` taken by date
    /// like any other.
    pub fn occurred_by_after(t: DateTime<Utc>, own_after: u64) -> Query {
        Query {
            occurred_by: Some(t),
            own_after,
            ..Query::default()
        }
    }

    /// The latest day by which every event a stored state folded must count for the state to
    /// serve this query.
    fn counts_by(&self) -> Option<NaiveDate> {
        match (self.as_of, self.occurred_by.map(|t| t.date_naive())) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether `env` counts for this query.
    fn counts(&self, env: &Envelope) -> bool {
        self.as_of.is_none_or(|d| env.occurred.is_past_as_of(d))
            && self.occurred_by.is_none_or(|t| {
                env.occurred.is_past_as_of(t.date_naive())
                    || (env.seq > self.own_after
                        && (env.stream.starts_with("deadline/")
                            || env.stream.starts_with("reminder/")))
                    || env.recorded_at_time().is_some_and(|at| at <= t)
            })
    }
}

/// The last seq recorded at or before `t` (0 if none): binary search on the monotone
/// `recorded_at`.
pub fn seq_known_at(store: &dyn EventStore, t: DateTime<Utc>) -> Result<u64, StoreError> {
    let (mut lo, mut hi) = (0u64, store.head().seq);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        let env = store.get(mid)?.ok_or_else(|| StoreError::Corrupt {
            at: format!("seq {mid}"),
            reason: "missing from the log".into(),
        })?;
        let at = env
            .recorded_at_time()
            .ok_or_else(|| corrupt(mid, "bad recorded_at"))?;
        if at <= t {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Ok(lo)
}

const LIVE: &[u8] = b"proj/live";
const SNAP: &[u8] = b"proj/snap/";
const META: &[u8] = b"proj/meta/";

/// Snapshot spacing: a new one when the fold has gone this far past the last.
fn spacing(seq: u64) -> u64 {
    (seq / 4).max(10_000)
}

#[derive(Serialize, Deserialize)]
struct SnapMeta {
    version: u32,
    seq: u64,
    max_counts_from: Option<NaiveDate>,
    #[serde(default)]
    corrected_at: Option<u64>,
}

fn snap_key(prefix: &[u8], seq: u64) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Drops every stored state: the next query rebuilds from the log.
pub fn drop_states(store: &dyn EventStore) -> Result<(), StoreError> {
    forget(store);
    store.cache().remove_prefix(b"proj/")
}

/// Whether a stored state at `s_seq`, folded with the corrections known at `s_corrected`
/// (its own seq unless given), can start a fold for this query up to `k`.
fn usable(
    s_seq: u64,
    s_corrected: Option<u64>,
    s_max: Option<NaiveDate>,
    k: u64,
    q: &Query,
    c: &mut CorrectionsAt,
) -> Result<bool, StoreError> {
    let counts = match (q.counts_by(), s_max) {
        (Some(d), Some(m)) => m <= d,
        _ => true,
    };
    if s_seq > k || !counts {
        return Ok(false);
    }
    // Folded with the corrections known at `k` itself: none of them can tell against it.
    let m = s_corrected.unwrap_or(s_seq);
    if m == k {
        return Ok(true);
    }
    // Only the corrections recorded between `m` and `k` can.
    let c = if m < k { c.after(m)? } else { c.all()? };
    Ok(c.valid(s_seq, m, k))
}

/// The best stored state to start a fold for this query.
fn start_state(
    store: &dyn EventStore,
    k: u64,
    q: &Query,
    c: &mut CorrectionsAt,
) -> Result<State, StoreError> {
    if let Some(live) = remembered(store) {
        if usable(live.seq, live.corrected_at, live.max_counts_from, k, q, c)? {
            if q.parts != Parts::ALL {
                // A copy of the views asked for; the live state stays.
                return Ok(State {
                    version: live.version,
                    seq: live.seq,
                    max_counts_from: live.max_counts_from,
                    corrected_at: live.corrected_at,
                    views: live.views.copy_parts(q.parts),
                });
            }
            // A current fold brings the live state forward, and `current` keeps what it
            // folds; any other takes a copy, the live state staying as it is.
            if q.is_current() {
                return Ok(live::take(store, live));
            }
            return Ok((*live).clone());
        }
    }
    if let Some(live) = stored::load(store, LIVE, q.parts) {
        if usable(live.seq, live.corrected_at, live.max_counts_from, k, q, c)? {
            live::stored_at(store, live.seq);
            return Ok(live);
        }
        if q.is_current() {
            // A current fold cannot start from it (past the head, or a correction tells
            // against it): the next current state replaces it.
            live::stored_at(store, 0);
        }
    }
    // Stored states are derived: a cache that does not read (damaged files) leaves the fold
    // to start from the log, as none stored would.
    let keys = store.cache().keys_with_prefix(META).unwrap_or_else(|e| {
        tracing::warn!("stored states could not be listed ({e}); folding from the log");
        Vec::new()
    });
    let mut metas = Vec::new();
    for key in keys {
        if let Some(m) = store
            .cache()
            .get(&key)
            .ok()
            .flatten()
            .and_then(|b| serde_json::from_slice::<SnapMeta>(&b).ok())
        {
            metas.push(m);
        }
    }
    if metas.iter().any(|m| m.version != PROJECTION_VERSION) {
        if let Err(e) = drop_states(store) {
            tracing::warn!("stored states of another version could not be dropped: {e}");
        }
        return Ok(empty());
    }
    metas.sort_by_key(|m| std::cmp::Reverse(m.seq));
    for m in metas {
        if usable(m.seq, m.corrected_at, m.max_counts_from, k, q, c)? {
            if let Some(s) = stored::load(store, &snap_key(SNAP, m.seq), q.parts) {
                return Ok(s);
            }
        }
    }
    Ok(empty())
}

fn empty() -> State {
    State {
        version: PROJECTION_VERSION,
        ..State::default()
    }
}

/// Called with (folded, total) as a long fold goes.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

/// The views as the query asks. Current queries (no axis given) also write the live state to
/// the cache when it is far enough past the one there (see `live::worth_storing`).
pub fn views(store: &dyn EventStore, q: &Query) -> Result<State, StoreError> {
    views_with_progress(store, q, &mut |_, _| {})
}

pub fn views_with_progress(
    store: &dyn EventStore,
    q: &Query,
    progress: Progress,
) -> Result<State, StoreError> {
    fold(store, q, progress)
}
