//! The log as the life-cycle rules read it from a sled store, under the writer's lock: ids,
//! stream positions, records, corrections, and the registry stored beside the log.

use super::super::{rules, EventStore, Result};
use super::SledStore;
use crate::envelope::Envelope;

/// The log as the rules see it, read under the writer's lock.
pub(in crate::store) struct SledLookup<'a>(pub(super) &'a SledStore);

impl rules::Lookup for SledLookup<'_> {
    fn seq_of_id(&mut self, id: &str) -> Result<Option<u64>> {
        self.0.find_id(id)
    }

    fn stream_position(&mut self, stream: &str) -> Result<u64> {
        self.0.stream_head(stream)
    }

    fn record(&mut self, seq: u64) -> Result<Option<Envelope>> {
        self.0.get(seq)
    }

    fn corrections(&mut self, to: u64) -> Result<Vec<Envelope>> {
        let mut all = self.0.read_stream("corrections")?;
        all.retain(|e| e.seq <= to);
        Ok(all)
    }

    fn records(&mut self, from: u64, to: u64) -> Result<Vec<Envelope>> {
        self.0
            .read_from(from)
            .take_while(|r| r.as_ref().map_or(true, |e| e.seq <= to))
            .collect()
    }

    fn stored_registry(&mut self) -> Result<Option<Vec<u8>>> {
        self.0.cache().get(rules::registry::KEY)
    }

    fn store_registry(&mut self, bytes: &[u8]) -> Result<()> {
        if let Err(e) = self.0.cache().put(rules::registry::KEY, bytes) {
            tracing::warn!("the life-cycle registry could not be stored: {e}");
        }
        Ok(())
    }
}
