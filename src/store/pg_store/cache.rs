//! The `cache` table: derived data by key, read and written by prefix and in batches.

use super::*;

/// The `cache` table.
pub(super) struct PgCache {
    pub(super) pool: Pool,
    pub(super) shared: Arc<Shared>,
}

/// The smallest key above every key that starts with `prefix` (`None`: no such key).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

impl Cache for PgCache {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        offload(|| {
            Ok(conn(&self.pool, &self.shared)?
                .query_opt("SELECT value FROM cache WHERE key = $1", &[&key])
                .map_err(self.shared.err("reading the cache"))?
                .map(|r| r.get(0)))
        })
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        offload(|| {
            conn(&self.pool, &self.shared)?
                .execute(
                    "INSERT INTO cache (key, value) VALUES ($1, $2) \
                     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    &[&key, &value],
                )
                .map_err(self.shared.err("writing the cache"))
                .map(|_| ())
        })
    }

    fn remove_prefix(&self, prefix: &[u8]) -> Result<()> {
        offload(|| {
            conn(&self.pool, &self.shared)?
                .execute(
                    "DELETE FROM cache WHERE key >= $1 AND ($2::bytea IS NULL OR key < $2)",
                    &[&prefix, &prefix_end(prefix)],
                )
                .map_err(self.shared.err("clearing the cache"))
                .map(|_| ())
        })
    }

    fn keys_with_prefix(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>> {
        offload(|| {
            Ok(conn(&self.pool, &self.shared)?
                .query(
                    "SELECT key FROM cache WHERE key >= $1 AND ($2::bytea IS NULL OR key < $2) \
                     ORDER BY key",
                    &[&prefix, &prefix_end(prefix)],
                )
                .map_err(self.shared.err("listing the cache"))?
                .iter()
                .map(|r| r.get(0))
                .collect())
        })
    }

    fn scan(&self, prefix: &[u8], from: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let from = from.max(prefix);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        offload(|| {
            Ok(conn(&self.pool, &self.shared)?
                .query(
                    "SELECT key, value FROM cache WHERE key >= $1 \
                     AND ($2::bytea IS NULL OR key < $2) ORDER BY key LIMIT $3",
                    &[&from, &prefix_end(prefix), &limit],
                )
                .map_err(self.shared.err("reading the cache"))?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect())
        })
    }

    fn write_batch(&self, puts: &[(Vec<u8>, Vec<u8>)], removes: &[Vec<u8>]) -> Result<()> {
        offload(|| {
            let mut c = conn(&self.pool, &self.shared)?;
            let err = self.shared.err("writing the cache");
            let mut tx = c.transaction().map_err(&err)?;
            if !removes.is_empty() {
                tx.execute("DELETE FROM cache WHERE key = ANY($1)", &[&removes])
                    .map_err(&err)?;
            }
            // One statement per thousand entries, each key once (the last value wins).
            let mut last: std::collections::HashMap<&[u8], &[u8]> = Default::default();
            for (k, v) in puts {
                last.insert(k, v);
            }
            let entries: Vec<(&[u8], &[u8])> = last.into_iter().collect();
            for part in entries.chunks(1000) {
                let keys: Vec<&[u8]> = part.iter().map(|(k, _)| *k).collect();
                let values: Vec<&[u8]> = part.iter().map(|(_, v)| *v).collect();
                tx.execute(
                    "INSERT INTO cache (key, value) SELECT * FROM UNNEST($1::bytea[], $2::bytea[]) \
                     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    &[&keys, &values],
                )
                .map_err(&err)?;
            }
            tx.commit().map_err(&err)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_next_key() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
        assert_eq!(prefix_end(b""), None);
    }
}
