//! The journal seen from outside: single appends acknowledged while sled had not yet flushed
//! them are rescued by `export --intact-prefix` without writing anything, and written back into
//! the log by the next open.

use std::path::Path;

use accord::store::{EventStore, SledStore};

use super::helpers::{meeting_line, Accord};
use super::storage_faults::copy_dir;

fn append(store: &SledStore, id: usize) {
    let line = meeting_line(&format!("j-{id}"), &format!("mc-j-{id}"));
    store
        .append(accord::input::parse_batch(&line).unwrap())
        .unwrap();
}

/// Opens the store in `dir` once the last process or handle has let go of it.
fn open(dir: &Path) -> SledStore {
    let started = std::time::Instant::now();
    loop {
        match SledStore::open(dir) {
            Ok(s) => return s,
            Err(e) if started.elapsed().as_secs() < 10 && e.to_string().contains("in use") => {
                std::thread::sleep(std::time::Duration::from_millis(50))
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn appends_only_the_journal_holds_are_rescued_then_written_back() {
    let a = Accord::new();
    let data = a.data();
    let store = open(&data);
    for i in 0..3 {
        append(&store, i);
    }
    drop(store);
    // sled's files with 3 records; then 5 appends, acknowledged through the journal.
    copy_dir(&data.join("sled"), &a.dir.path().join("sled-before"));
    let store = open(&data);
    for i in 3..8 {
        append(&store, i);
    }
    let journal = std::fs::read(data.join("log.journal")).unwrap();
    let mark = std::fs::read(data.join("log.head")).unwrap();
    drop(store);
    let full = a.export();
    assert_eq!(full.lines().count(), 8);
    // As if the process had stopped before sled wrote the last five: its files as they were,
    // the journal and `log.head` as the fifth append left them.
    std::fs::remove_dir_all(data.join("sled")).unwrap();
    copy_dir(&a.dir.path().join("sled-before"), &data.join("sled"));
    std::fs::write(data.join("log.journal"), &journal).unwrap();
    std::fs::write(data.join("log.head"), &mark).unwrap();
    let rescued = a.dir.path().join("rescued.jsonl");
    let x = a.run(&["export", "--intact-prefix", "-o", rescued.to_str().unwrap()]);
    assert_eq!(x.code, 0, "{}", x.stderr);
    assert_eq!(std::fs::read_to_string(&rescued).unwrap(), full);
    // The rescue wrote nothing: the journal is as it was, then `verify` opens the store,
    // which writes the five back.
    assert_eq!(std::fs::read(data.join("log.journal")).unwrap(), journal);
    let v = a.run(&["verify"]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert_eq!(a.export(), full);
    assert_eq!(a.last_seq(), 8);
    println!("journal: 5 appends held only by the journal rescued by export --intact-prefix and written back by the next open");
}
