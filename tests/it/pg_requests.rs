//! Requests on a PostgreSQL store await the database: served by a runtime of one thread while
//! another session holds the log's tables locked, more requests than the pool has connections
//! wait for the database, and the runtime goes on answering and ticking meanwhile.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use super::api::{call, token};
use super::helpers::{history, meeting_line, pg_schema, Accord};

/// How long the other session holds the tables: long enough that a thread held for it stands
/// out from any delay a busy machine makes.
const HELD: Duration = Duration::from_millis(3000);

#[test]
fn requests_on_postgres_wait_for_the_database_without_holding_the_runtime() {
    let Some(schema) = pg_schema("await") else {
        return;
    };
    let a = Accord::on_postgres(&schema.url);
    a.record(&history());
    let recorder = token(&a, "recorder", "recorder");
    let location = accord::store::Location::parse(&schema.url);
    let store = accord::store::open_location(&location).expect("open the schema");
    let state = accord::api::AppState::new(store, a.data());

    // The server, on a runtime of one thread, and a task that notes the longest time the
    // thread was away between two of its 5 ms sleeps.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let (worst_tx, worst_rx) = mpsc::channel();
    let server = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                tokio::spawn(async move {
                    axum::serve(listener, accord::api::router(state))
                        .await
                        .unwrap()
                });
                let mut worst = Duration::ZERO;
                let mut last = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    let now = Instant::now();
                    worst = worst.max(now - last);
                    last = now;
                }
                worst_tx.send(worst).unwrap();
            });
        })
    };
    let meetings = || {
        let (status, body) = call(
            "GET",
            &format!("{base}/api/meetings"),
            Some(&recorder),
            None,
        );
        assert_eq!(status, 200, "{body}");
        body
    };
    // Warm: every view folded once and kept, so that a request for the current views now
    // needs the head and nothing else.
    meetings();

    // Another session locks the head and the events for a while.
    let mut locker = schema.client();
    let (locked_tx, locked_rx) = mpsc::channel();
    let holder = std::thread::spawn(move || {
        let mut tx = locker.transaction().unwrap();
        tx.batch_execute("LOCK TABLE head, events, cache IN ACCESS EXCLUSIVE MODE")
            .unwrap();
        locked_tx.send(Instant::now()).unwrap();
        std::thread::sleep(HELD);
        tx.commit().unwrap();
    });
    let locked_at = locked_rx.recv().unwrap();

    // More requests than the pool has connections: listings, the trail, two appends.
    let mut asked = Vec::new();
    for i in 0..14 {
        let (base, token) = (base.clone(), recorder.clone());
        asked.push(std::thread::spawn(move || {
            let started = Instant::now();
            let (status, body) = match i {
                0 | 1 => call(
                    "POST",
                    &format!("{base}/api/events"),
                    Some(&token),
                    Some(&meeting_line(
                        &format!("while-locked-{i}"),
                        &format!("m-lock-{i}"),
                    )),
                ),
                2 => call(
                    "GET",
                    &format!("{base}/api/events?since=60"),
                    Some(&token),
                    None,
                ),
                _ => call("GET", &format!("{base}/api/deadlines"), Some(&token), None),
            };
            (i, status, body, started.elapsed())
        }));
    }
    std::thread::sleep(Duration::from_millis(300));
    // Meanwhile the server answers what needs no database at once.
    assert!(
        locked_at.elapsed() < HELD / 2,
        "the requests took too long to start; the test would prove nothing"
    );
    let started = Instant::now();
    let (status, _) = call("GET", &format!("{base}/healthz"), None, None);
    let health = started.elapsed();
    assert_eq!(status, 200);
    assert!(
        health < Duration::from_millis(1000),
        "/healthz took {health:?} while requests waited for the database"
    );

    for r in asked {
        let (i, status, body, took) = r.join().unwrap();
        assert_eq!(status, 200, "request {i}: {body}");
        assert!(
            took >= HELD / 2,
            "request {i} took {took:?}: it did not wait for the locked tables"
        );
    }
    holder.join().unwrap();
    // The current views took in what was recorded while the tables were locked.
    let body = meetings();
    for i in 0..2 {
        assert!(body.contains(&format!("m-lock-{i}")), "{body}");
    }
    stop.store(true, Ordering::Relaxed);
    let worst = worst_rx.recv().unwrap();
    server.join().unwrap();
    assert!(
        worst < Duration::from_millis(1000),
        "the runtime's only thread was held for {worst:?} while the tables were locked for {HELD:?}"
    );

    let log = a.run(&["log", "--since", "60", "--format", "json"]);
    for i in 0..2 {
        assert!(
            log.stdout.contains(&format!("while-locked-{i}")),
            "append {i} is not in the log: {}",
            log.stdout
        );
    }
}
