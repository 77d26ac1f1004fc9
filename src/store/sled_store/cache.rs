//! The `cache` tree: derived data by key, read and written by prefix and in batches.

use super::*;

pub(super) struct SledCache(pub(super) sled::Tree);

impl Cache for SledCache {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.0.get(key)?.map(|v| v.to_vec()))
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.0.insert(key, value)?;
        Ok(())
    }

    fn remove_prefix(&self, prefix: &[u8]) -> Result<()> {
        for k in self.keys_with_prefix(prefix)? {
            self.0.remove(k)?;
        }
        Ok(())
    }

    fn keys_with_prefix(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>> {
        self.0
            .scan_prefix(prefix)
            .keys()
            .map(|k| k.map(|k| k.to_vec()).map_err(StoreError::from))
            .collect()
    }

    fn scan(&self, prefix: &[u8], from: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.0
            .range(from.max(prefix)..)
            .take_while(|kv| kv.as_ref().map_or(true, |(k, _)| k.starts_with(prefix)))
            .take(limit)
            .map(|kv| {
                kv.map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(StoreError::from)
            })
            .collect()
    }

    fn write_batch(&self, puts: &[(Vec<u8>, Vec<u8>)], removes: &[Vec<u8>]) -> Result<()> {
        let mut batch = sled::Batch::default();
        for k in removes {
            batch.remove(k.as_slice());
        }
        for (k, v) in puts {
            batch.insert(k.as_slice(), v.as_slice());
        }
        self.0.apply_batch(batch)?;
        Ok(())
    }
}
