//! The `cache` table: derived data by key, read and written by prefix and in batches.

use super::*;

/// The `cache` table.
pub(super) struct PgCache {
    pub(super) pool: Pool,
    pub(super) shared: Arc<Shared>,
    pub(super) runner: Runner,
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

impl PgCache {
    /// Runs `work` with a pooled connection on the store's runtime, and waits for it.
    fn with<T: Send + 'static, F>(
        &self,
        what: Work,
        work: impl FnOnce(Conn, Arc<Shared>) -> F + Send + 'static,
    ) -> Result<T>
    where
        F: std::future::Future<Output = Result<T>> + Send + 'static,
    {
        let (pool, shared) = (self.pool.clone(), self.shared.clone());
        self.runner.wait(what, async move {
            let c = pool
                .get()
                .await
                .map_err(|e| StoreError::Io(format!("{}: no connection: {e}", shared.at)))?;
            work(c, shared).await
        })
    }
}

impl Cache for PgCache {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let key = key.to_vec();
        self.with(Work::Read, |c, shared| async move {
            Ok(
                c.query_opt("SELECT value FROM cache WHERE key = $1", &[&key])
                    .await
                    .map_err(shared.err("reading the cache"))?
                    .map(|r| r.get(0)),
            )
        })
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let (key, value) = (key.to_vec(), value.to_vec());
        self.with(Work::Read, |c, shared| async move {
            c.execute(
                "INSERT INTO cache (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                &[&key, &value],
            )
            .await
            .map_err(shared.err("writing the cache"))
            .map(|_| ())
        })
    }

    fn remove_prefix(&self, prefix: &[u8]) -> Result<()> {
        let (prefix, end) = (prefix.to_vec(), prefix_end(prefix));
        self.with(Work::Read, |c, shared| async move {
            c.execute(
                "DELETE FROM cache WHERE key >= $1 AND ($2::bytea IS NULL OR key < $2)",
                &[&prefix, &end],
            )
            .await
            .map_err(shared.err("clearing the cache"))
            .map(|_| ())
        })
    }

    fn keys_with_prefix(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>> {
        let (prefix, end) = (prefix.to_vec(), prefix_end(prefix));
        self.with(Work::Read, |c, shared| async move {
            Ok(c.query(
                "SELECT key FROM cache WHERE key >= $1 AND ($2::bytea IS NULL OR key < $2) \
                 ORDER BY key",
                &[&prefix, &end],
            )
            .await
            .map_err(shared.err("listing the cache"))?
            .iter()
            .map(|r| r.get(0))
            .collect())
        })
    }

    fn scan(&self, prefix: &[u8], from: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let from = from.max(prefix).to_vec();
        let end = prefix_end(prefix);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with(Work::Read, move |c, shared| async move {
            Ok(c.query(
                "SELECT key, value FROM cache WHERE key >= $1 \
                 AND ($2::bytea IS NULL OR key < $2) ORDER BY key LIMIT $3",
                &[&from, &end, &limit],
            )
            .await
            .map_err(shared.err("reading the cache"))?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
        })
    }

    fn write_batch(&self, puts: &[(Vec<u8>, Vec<u8>)], removes: &[Vec<u8>]) -> Result<()> {
        // Each key once (the last value wins).
        let mut last: std::collections::HashMap<&[u8], &[u8]> = Default::default();
        for (k, v) in puts {
            last.insert(k, v);
        }
        let entries: Vec<(Vec<u8>, Vec<u8>)> = last
            .into_iter()
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect();
        let removes = removes.to_vec();
        self.with(Work::Read, move |mut c, shared| async move {
            let err = shared.err("writing the cache");
            let tx = c.transaction().await.map_err(&err)?;
            if !removes.is_empty() {
                tx.execute("DELETE FROM cache WHERE key = ANY($1)", &[&removes])
                    .await
                    .map_err(&err)?;
            }
            // One statement per thousand entries.
            for part in entries.chunks(1000) {
                let keys: Vec<&[u8]> = part.iter().map(|(k, _)| k.as_slice()).collect();
                let values: Vec<&[u8]> = part.iter().map(|(_, v)| v.as_slice()).collect();
                tx.execute(
                    "INSERT INTO cache (key, value) SELECT * FROM UNNEST($1::bytea[], $2::bytea[]) \
                     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    &[&keys, &values],
                )
                .await
                .map_err(&err)?;
            }
            tx.commit().await.map_err(&err)
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
