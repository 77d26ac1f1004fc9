//! The life-cycle registry stored beside the log: written when folded, read by the next
//! process, which catches up from it, and set aside when the log no longer agrees with it.

use super::rules::registry::{decode, encode, fold_log, KEY as REGISTRY_KEY};
use super::tests::{reopen, STOP_AFTER_PARTS};
use super::*;
use crate::domain::lifecycle::Registry;

fn append_lines(store: &SledStore, lines: &[String]) -> Result<Vec<Outcome>> {
    store.append(crate::input::parse_batch(&lines.join("\n")).unwrap())
}

fn scheduled(i: usize) -> String {
    format!(
        r#"{{"id":"s-{i}","type":"MeetingScheduled","occurred":"2021-03","actor":"t","data":{{"meeting":"m-{i}","body":"MC","kind":"cop","title":"Meeting {i}","dates":"2021-11"}}}}"#
    )
}

fn confirmed(id: &str, meeting: usize) -> String {
    format!(
        r#"{{"id":"{id}","type":"MeetingConfirmed","occurred":"2021-04","actor":"t","data":{{"meeting":"m-{meeting}","dates":"2021-11-02/2021-11-05"}}}}"#
    )
}

fn stored(store: &SledStore) -> Option<(u64, String, Registry)> {
    decode(&store.cache().get(REGISTRY_KEY).unwrap()?)
}

/// Stores `registry` as if folded up to the store's head.
fn store_as_at_head(store: &SledStore, registry: &Registry) {
    let head = store.head();
    store
        .cache()
        .put(REGISTRY_KEY, &encode(&head, registry))
        .unwrap();
}

#[test]
fn the_stored_registry_is_a_fold_of_the_log_up_to_its_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    // A generated history (meetings, decisions, reports, groups) in one batch: more than a
    // 64th of the log past the registry stored at the first load (that of the empty log), so
    // it is stored once the batch is sealed.
    store.append(crate::generate::parsed(2000, 3)).unwrap();
    let (seq, hash, registry) = stored(&store).expect("a registry stored");
    assert_eq!(seq, 2000);
    assert_eq!(hash, store.get(2000).unwrap().unwrap().hash);
    assert!(registry.meetings.len() > 10, "{}", registry.meetings.len());
    assert!(registry == fold_log(2000, &mut SledLookup(&store)).unwrap());
    // The next process has none in memory: it catches up from the stored one. Small batches
    // do not store it again (an encoding of the whole registry each time would cost more
    // than the checks).
    drop(store);
    let store = reopen(dir.path());
    append_lines(&store, &[scheduled(9000)]).unwrap();
    append_lines(&store, &(9001..9041).map(scheduled).collect::<Vec<_>>()).unwrap();
    assert_eq!(stored(&store).unwrap().0, 2000);
    // The process after catches up with those 41, a 64th of the log and more: stored again.
    drop(store);
    let store = reopen(dir.path());
    append_lines(&store, &[scheduled(9100)]).unwrap();
    let (seq, _, registry) = stored(&store).expect("a registry stored");
    assert_eq!(seq, 2041);
    assert!(registry == fold_log(2041, &mut SledLookup(&store)).unwrap());
    assert_eq!(store.head().seq, 2042);
}

#[test]
fn a_new_process_checks_against_the_stored_registry() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    append_lines(&store, &(0..10).map(scheduled).collect::<Vec<_>>()).unwrap();
    // A registry that knows no meeting, stored as that of the log up to its head: a process
    // that reads it (rather than folding the log) refuses what names a recorded meeting.
    store_as_at_head(&store, &Registry::default());
    drop(store);
    let store = reopen(dir.path());
    let refused = append_lines(&store, &[confirmed("c-1", 3)]).unwrap_err();
    assert!(refused.to_string().contains("m-3"), "{refused}");
    assert_eq!(store.head().seq, 10);
}

#[test]
fn a_stored_registry_the_log_no_longer_agrees_with_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    append_lines(&store, &(0..10).map(scheduled).collect::<Vec<_>>()).unwrap();
    // Stored as folded up to a record the log does not hold (another hash at its seq).
    let mut head = store.head();
    head.hash = "0".repeat(64);
    store
        .cache()
        .put(REGISTRY_KEY, &encode(&head, &Registry::default()))
        .unwrap();
    drop(store);
    let store = reopen(dir.path());
    // Folded from the log instead, and stored so.
    append_lines(&store, &[confirmed("c-1", 3)]).unwrap();
    let (seq, _, registry) = stored(&store).unwrap();
    assert_eq!(seq, 10);
    assert!(registry == fold_log(10, &mut SledLookup(&store)).unwrap());

    // Stored at the head, but a correction recorded after it (one the registry cannot undo in
    // place): the next process folds the log.
    store_as_at_head(&store, &Registry::default());
    let retraction = r#"{"id":"r-1","type":"EventRetracted","occurred":"2021-05","actor":"t","data":{"seq":11,"reason":"recorded twice"}}"#;
    append_lines(&store, &[retraction.to_string()]).unwrap();
    drop(store);
    let store = reopen(dir.path());
    append_lines(&store, &[confirmed("c-2", 4)]).unwrap();
    assert_eq!(store.head().seq, 13);
}

#[test]
fn a_checkpoint_stores_the_registry_kept_past_the_stored_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    store.append(crate::generate::parsed(2000, 3)).unwrap();
    // Small batches leave the stored registry behind, as a server's do.
    append_lines(&store, &[scheduled(9000)]).unwrap();
    append_lines(&store, &[scheduled(9001)]).unwrap();
    assert_eq!(stored(&store).unwrap().0, 2000);
    assert!(store.checkpoint().unwrap(), "stored");
    let (seq, hash, registry) = stored(&store).expect("a registry stored");
    assert_eq!((seq, hash), (2002, store.get(2002).unwrap().unwrap().hash));
    assert!(registry == fold_log(2002, &mut SledLookup(&store)).unwrap());
    // Nothing new: nothing stored.
    assert!(!store.checkpoint().unwrap());
    // A process that kept no registry has none to store.
    drop(store);
    let store = reopen(dir.path());
    assert!(!store.checkpoint().unwrap());
}

/// The registry a batch of a quarter of the log brings forward is encoded while the batch is
/// written and stored once it is, and noted stored (a checkpoint then has nothing to store); a
/// batch whose write fails stores none.
#[test]
fn a_large_batch_stores_its_registry_once_written_and_none_when_its_write_fails() {
    let dir = tempfile::tempdir().unwrap();
    let all = crate::generate::parsed(10_000, 3);
    let (first, rest) = all.split_at(1_000);
    let store = SledStore::open(dir.path()).unwrap();
    store.append(first.to_vec()).unwrap();
    assert_eq!(stored(&store).unwrap().0, 1_000);
    assert!(!store.checkpoint().unwrap(), "noted stored");
    STOP_AFTER_PARTS.with(|s| s.set(2));
    assert!(store.append(rest.to_vec()).is_err());
    STOP_AFTER_PARTS.with(|s| s.set(0));
    assert_eq!(
        stored(&store).unwrap().0,
        1_000,
        "none stored for a batch not written"
    );
    drop(store);
    let store = reopen(dir.path());
    store.append(rest.to_vec()).unwrap();
    let (seq, hash, registry) = stored(&store).expect("a registry stored");
    assert_eq!(
        (seq, hash),
        (10_000, store.get(10_000).unwrap().unwrap().hash)
    );
    assert!(registry == fold_log(10_000, &mut SledLookup(&store)).unwrap());
    assert!(!store.checkpoint().unwrap(), "noted stored");
}
