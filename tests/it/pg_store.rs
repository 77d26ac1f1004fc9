//! What only the PostgreSQL store has: several instances on one database, reconnection, a
//! server out of reach, `accord migrate` both ways, the API over it, the head check at open,
//! and the scheduler lease among nodes (`ACCORD_TEST_PG_URL`; skipped with a message when no
//! server is reachable).

use std::sync::Arc;
use std::time::Duration;

use accord::store::{EventStore, PgStore, SledStore, StoreError};

use super::helpers::{history, meeting_line, pg_schema, Accord};
use super::store_fixtures::{all, assert_chain, batch, line, recorded};

/// Two instances on one schema, as two nodes: 8 threads append concurrently through both;
/// seqs come out 1..N without a gap, the chain verifies, and a subscriber on the second
/// instance, catching up by seq whenever woken, sees every seq once and in order.
#[test]
fn postgres_two_instances_append_concurrently() {
    let Some(schema) = pg_schema("two_instances") else {
        return;
    };
    // Both open the fresh schema at once: one applies the migrations, the other waits.
    let (a, b) = std::thread::scope(|scope| {
        let open = || -> Arc<dyn EventStore> { Arc::new(PgStore::open(&schema.url).unwrap()) };
        let a = scope.spawn(open);
        let b = scope.spawn(open);
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_ne!(a.instance(), b.instance());
    let (threads, batches, per_batch) = (8u64, 25u64, 4u64);
    let total = threads * batches * per_batch;
    let follower = {
        let b = b.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let mut rx = b.subscribe();
            let mut seen = Vec::new();
            rt.block_on(async {
                while (seen.len() as u64) < total {
                    for env in b.read_from(seen.len() as u64 + 1) {
                        seen.push(env.unwrap().seq);
                    }
                    if (seen.len() as u64) < total {
                        tokio::time::timeout(Duration::from_secs(20), rx.changed())
                            .await
                            .unwrap_or_else(|_| panic!("no wake-up after seq {}", seen.len()))
                            .unwrap();
                    }
                }
            });
            seen
        })
    };
    std::thread::scope(|scope| {
        for t in 0..threads {
            let store = if t % 2 == 0 { a.clone() } else { b.clone() };
            scope.spawn(move || {
                for i in 0..batches {
                    let lines: Vec<String> = (0..per_batch)
                        .map(|j| line(&format!("n{t}-{i}-{j}"), &format!("m-{t}"), None))
                        .collect();
                    let out = store.append(batch(&lines)).unwrap();
                    let seqs = recorded(&out);
                    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
                }
            });
        }
    });
    let records = all(&*a);
    assert_eq!(records.len() as u64, total);
    assert_chain(&records);
    assert_eq!(b.head(), a.head());
    for t in 0..threads {
        let positions: Vec<u64> = a
            .read_stream(&format!("deadline/m-{t}"))
            .unwrap()
            .iter()
            .map(|e| e.position)
            .collect();
        assert_eq!(positions, (1..=batches * per_batch).collect::<Vec<_>>());
    }
    let report = accord::verify::verify_store(&*b, &mut |_| {});
    assert!(report.intact(), "{report:?}");
    assert_eq!(report.last_seq, total);
    let seen = follower.join().unwrap();
    assert_eq!(seen, (1..=total).collect::<Vec<_>>());
}

/// Every connection of the store is killed on the server (as a restart does): the next
/// append gets a fresh connection, and the listener reconnects and hears the other node.
#[test]
fn postgres_reconnects_after_its_connections_die() {
    let Some(schema) = pg_schema("reconnects") else {
        return;
    };
    let url = format!("{}&application_name=accord-{}", schema.url, schema.name);
    let a = PgStore::open(&url).unwrap();
    let b = PgStore::open(&schema.url).unwrap();
    a.append(batch(&[line("x1", "m-a", None)])).unwrap();
    let mut admin = schema.client();
    let killed = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            &[&format!("accord-{}", schema.name)],
        )
        .unwrap();
    assert!(
        killed.len() >= 2,
        "the pool and the listener: {}",
        killed.len()
    );
    std::thread::sleep(Duration::from_millis(200));
    let out = a.append(batch(&[line("x2", "m-a", None)])).unwrap();
    assert_eq!(recorded(&out), [2]);
    let mut rx = a.subscribe();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    b.append(batch(&[line("x3", "m-b", None)])).unwrap();
    let seq = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(20), rx.wait_for(|s| *s >= 3))
            .await
            .expect("the other node's append is heard after reconnecting")
            .map(|s| *s)
            .unwrap()
    });
    assert_eq!(seq, 3);
    assert_chain(&all(&a));
}

#[test]
fn postgres_unreachable_says_where() {
    let Some(schema) = pg_schema("unreachable") else {
        return;
    };
    drop(schema);
    let started = std::time::Instant::now();
    let err =
        match PgStore::open("postgres://someone:hunter2@127.0.0.1:1/nowhere?connect_timeout=2") {
            Ok(_) => panic!("opened a store on port 1"),
            Err(e) => e.to_string(),
        };
    assert!(err.contains("database `nowhere` on 127.0.0.1:1"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// `accord migrate` on the shipped history, sled to PostgreSQL and back: every store
/// verifies and every export is byte for byte the first.
#[test]
fn postgres_migrate_round_trip_keeps_every_byte() {
    let Some(schema) = pg_schema("migrate") else {
        return;
    };
    let sled_a = Accord::new();
    sled_a.record(&history());
    let original = sled_a.export();
    assert_eq!(original.lines().count(), 64);

    let to_pg = sled_a.run(&["migrate", "--to", &schema.url]);
    assert_eq!(to_pg.code, 0, "{}", to_pg.stderr);
    assert!(
        to_pg.stdout.contains("migrated 64 records"),
        "{}",
        to_pg.stdout
    );
    let pg = Accord::on_postgres(&schema.url);
    let v = pg.run(&["verify"]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(v.stdout.contains("64 records, last seq 64"), "{}", v.stdout);
    assert_eq!(pg.export(), original);

    // Again: nothing left to copy.
    let again = sled_a.run(&["migrate", "--to", &schema.url]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stdout.contains("migrated 0 records"),
        "{}",
        again.stdout
    );

    let sled_b = Accord::new();
    let back = pg.run(&["migrate", "--to", sled_b.data().to_str().unwrap()]);
    assert_eq!(back.code, 0, "{}", back.stderr);
    let v = sled_b.run(&["verify"]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert_eq!(sled_b.export(), original);

    // The PostgreSQL store serves the same answers as sled.
    assert_eq!(
        pg.show("mandates", &["--as-of", "2020-09-01"]),
        sled_a.show("mandates", &["--as-of", "2020-09-01"])
    );
    // A target that is not a copy is refused, and nothing is written to it.
    let other = Accord::new();
    other.record_text(&meeting_line("elsewhere", "m-other"));
    let refused = pg.run(&["migrate", "--to", other.data().to_str().unwrap()]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("not a copy"), "{}", refused.stderr);
    assert_eq!(other.last_seq(), 1);
}

/// `accord serve` over PostgreSQL: recording over HTTP and reading the trail back.
#[test]
fn postgres_serves_the_api() {
    let Some(schema) = pg_schema("serve") else {
        return;
    };
    let a = Accord::on_postgres(&schema.url);
    a.record(&history());
    let token = super::api::token(&a, "recorder", "recorder");
    let server = super::api::Server::start_with(&a, None);
    let (status, body) = super::api::call(
        "POST",
        &server.url("/api/events"),
        Some(&token),
        Some(&meeting_line("over-http", "m-http")),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = super::api::call(
        "GET",
        &server.url("/api/events?since=60"),
        Some(&token),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("over-http"), "{body}");
    let (status, body) = super::api::call("GET", &server.url("/api/verify"), Some(&token), None);
    assert_eq!(status, 200, "{body}");
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["last_seq"], 65, "{body}");
    assert_eq!(server.stop(), Some(0));
}

/// A head row that does not match the last record is refused on open, as sled refuses it.
#[test]
fn postgres_open_refuses_a_head_that_does_not_match() {
    let Some(schema) = pg_schema("head_check") else {
        return;
    };
    let store = PgStore::open(&schema.url).unwrap();
    store
        .append(batch(&[line("h1", "m-a", None), line("h2", "m-b", None)]))
        .unwrap();
    drop(store);
    let mut c = schema.client();
    c.batch_execute("UPDATE head SET seq = 1").unwrap();
    match PgStore::open(&schema.url) {
        Err(StoreError::Corrupt { reason, .. }) => {
            assert!(reason.contains("the last record is seq 2"), "{reason}")
        }
        Err(e) => panic!("expected corruption, got {e}"),
        Ok(_) => panic!("opened a store whose head is behind its records"),
    }
    c.batch_execute("UPDATE head SET seq = 2, hash = 'f00'")
        .unwrap();
    assert!(matches!(
        PgStore::open(&schema.url),
        Err(StoreError::Corrupt { .. })
    ));
}

/// One node of a schema holds the scheduler lease; when it goes, another takes it over well
/// within 15 seconds, and a killed lease session frees it too. sled always holds it.
#[test]
fn one_node_holds_the_scheduler_lease_and_another_takes_over() {
    let dir = tempfile::tempdir().unwrap();
    assert!(SledStore::open(dir.path())
        .unwrap()
        .hold_scheduler_lease()
        .unwrap());
    let Some(schema) = pg_schema("lease") else {
        return;
    };
    let take_over = |b: &PgStore| {
        let started = std::time::Instant::now();
        while !b.hold_scheduler_lease().unwrap() {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "the lease did not move within 15 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        started.elapsed()
    };
    let named = |node: &str| {
        format!(
            "{}&application_name=accord-{node}-{}",
            schema.url, schema.name
        )
    };
    let a = PgStore::open(&named("a")).unwrap();
    let b = PgStore::open(&named("b")).unwrap();
    assert!(a.hold_scheduler_lease().unwrap());
    assert!(a.hold_scheduler_lease().unwrap(), "the holder keeps it");
    assert!(!b.hold_scheduler_lease().unwrap(), "one holder at a time");
    drop(a);
    let moved = take_over(&b);
    assert!(b.hold_scheduler_lease().unwrap());
    // The holder's sessions die (as when its process is killed): the lease is freed.
    let c = PgStore::open(&named("c")).unwrap();
    assert!(!c.hold_scheduler_lease().unwrap());
    let mut admin = schema.client();
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            &[&format!("accord-b-{}", schema.name)],
        )
        .unwrap();
    let killed = take_over(&c);
    assert!(
        !b.hold_scheduler_lease().unwrap(),
        "the old holder sees it lost the lease"
    );
    println!("scheduler lease moved in {moved:?} after a drop, {killed:?} after a killed session");
}

/// The life-cycle registry is kept beside the log in the `cache` table, written inside the
/// append's transaction: a new instance catches up from it and writes it again, and one that
/// does not read is set aside for a fold of the log, the appends going on either way.
#[test]
fn postgres_keeps_the_registry_beside_the_log() {
    let Some(schema) = pg_schema("registry") else {
        return;
    };
    let key = b"rules/registry";
    let a = PgStore::open(&schema.url).unwrap();
    let meetings: Vec<String> = (0..10)
        .map(|i| meeting_line(&format!("s-{i}"), &format!("m-{i}")))
        .collect();
    a.append(batch(&meetings)).unwrap();
    let first = a
        .cache()
        .get(key)
        .unwrap()
        .expect("stored by the first append");
    let confirm = |id: &str, meeting: &str| {
        format!(
            r#"{{"id":"{id}","type":"MeetingConfirmed","occurred":"2021-04","actor":"tester","data":{{"meeting":"{meeting}","dates":"2021-11-02/2021-11-05"}}}}"#
        )
    };
    // A second instance has none in memory: it catches up from the stored one, and stores the
    // registry again after a batch of a quarter of the log.
    let b = PgStore::open(&schema.url).unwrap();
    let confirms: Vec<String> = (3..8)
        .map(|m| confirm(&format!("c-{m}"), &format!("m-{m}")))
        .collect();
    b.append(batch(&confirms)).unwrap();
    let second = b.cache().get(key).unwrap().unwrap();
    assert_ne!(first, second, "stored again after the batch");
    // One that does not read: folded from the log instead, and the append goes on.
    b.cache().put(key, b"not a registry").unwrap();
    let c = PgStore::open(&schema.url).unwrap();
    c.append(batch(&[confirm("c-20", "m-1")])).unwrap();
    assert_ne!(c.cache().get(key).unwrap().unwrap(), b"not a registry");
    // And what a new instance refuses is refused as before.
    let d = PgStore::open(&schema.url).unwrap();
    let refused = d.append(batch(&[confirm("c-30", "m-99")])).unwrap_err();
    assert!(refused.to_string().contains("m-99"), "{refused}");
    assert_eq!(d.head().seq, 16);
}

/// A node that stops stores the registry it kept past the one stored (a run of small
/// batches), as a server on sled does: the next process starts from it. With nothing new, it
/// stores nothing.
#[test]
fn postgres_checkpoint_stores_the_registry_kept_past_the_stored_one() {
    let Some(schema) = pg_schema("checkpoint") else {
        return;
    };
    let key = b"rules/registry";
    let a = PgStore::open(&schema.url).unwrap();
    let meetings: Vec<String> = (0..40)
        .map(|i| meeting_line(&format!("s-{i}"), &format!("m-{i}")))
        .collect();
    a.append(batch(&meetings)).unwrap();
    // Small batches leave the stored registry behind.
    a.append(batch(&[meeting_line("s-90", "m-90")])).unwrap();
    a.append(batch(&[meeting_line("s-91", "m-91")])).unwrap();
    let before = a
        .cache()
        .get(key)
        .unwrap()
        .expect("stored by the first append");
    assert!(a.checkpoint().unwrap(), "stored");
    let after = a.cache().get(key).unwrap().expect("stored");
    assert_ne!(before, after, "stored at the head");
    assert!(!a.checkpoint().unwrap(), "nothing new");
    // A new node that never appended keeps none.
    let b = PgStore::open(&schema.url).unwrap();
    assert!(!b.checkpoint().unwrap());
    assert_eq!(b.cache().get(key).unwrap().unwrap(), after);
}
