//! The timeline read model: every effective event as a dated line, in domain-date order.
//!
//! It is as long as the log, so it is folded on demand from the known prefix rather than
//! stored in snapshots.

use serde::Serialize;

use super::{Corrections, Query};
use crate::domain::{summary, ApproxDate};
use crate::store::{EventStore, StoreError};

#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Entry {
    pub occurred: ApproxDate,
    pub seq: u64,
    #[serde(rename = "type")]
    pub ty: String,
    pub stream: String,
    pub summary: String,
}

/// The timeline as the query asks, sorted by the start of `occurred`, then seq.
pub fn timeline(store: &dyn EventStore, q: &Query) -> Result<Vec<Entry>, StoreError> {
    let k = match q.known_at {
        Some(t) => super::seq_known_at(store, t)?,
        None => store.head().seq,
    };
    let corrections = Corrections::load(store, k)?;
    let mut out = Vec::new();
    for env in store.read_from(1) {
        let env = env?;
        if env.seq > k {
            break;
        }
        if !q.as_of.is_none_or(|d| env.occurred.is_past_as_of(d)) {
            continue;
        }
        if let Some(event) = corrections.effective(&env)? {
            out.push(Entry {
                occurred: env.occurred,
                seq: env.seq,
                ty: env.ty.clone(),
                stream: env.stream.clone(),
                summary: summary(&event),
            });
        }
    }
    out.sort_by_key(|e| (e.occurred.start(), e.seq));
    Ok(out)
}
