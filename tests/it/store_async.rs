//! The store's async calls, as requests make them, on both backends: concurrent appends, the
//! head after them, and an append whose future is dropped.

use std::sync::Arc;
use std::time::Duration;

use accord::store::{EventStore, Outcome};

use super::store_fixtures::*;

#[test]
fn sled_appends_and_heads_from_async_callers() {
    appends_and_heads_from_async_callers(&sled_fixture().store);
}

#[test]
fn postgres_appends_and_heads_from_async_callers() {
    if let Some(f) = pg_fixture("async_callers") {
        appends_and_heads_from_async_callers(&f.store);
    }
}

/// The async calls requests make: concurrent appends all answered, each once, in one gapless
/// order; the head as read after them; an append whose future is dropped unawaited still runs
/// to its end.
fn appends_and_heads_from_async_callers(s: &Arc<dyn EventStore>) {
    let single = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    single.block_on(async {
        let asked: Vec<_> = (0..12)
            .map(|i| {
                let l = line(&format!("async-{i}"), &format!("m-async-{i}"), None);
                s.clone().append_async(batch(&[l]))
            })
            .collect();
        let mut seqs = Vec::new();
        for a in asked {
            seqs.extend(recorded(&a.await.unwrap()));
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=12).collect::<Vec<u64>>());
        assert_eq!(s.clone().head_async().await.seq, 12);
        let again = s
            .clone()
            .append_async(batch(&[line("async-3", "m-async-3", None)]))
            .await
            .unwrap();
        assert!(
            matches!(again[..], [Outcome::Duplicate { .. }]),
            "{again:?}"
        );
        drop(
            s.clone()
                .append_async(batch(&[line("dropped", "m-dropped", None)])),
        );
    });
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while s.find_id("dropped").unwrap().is_none() {
        assert!(
            std::time::Instant::now() < until,
            "an append whose future was dropped did not run to its end"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(s.head().seq, 13);
    assert_chain(&all(&**s));
}
