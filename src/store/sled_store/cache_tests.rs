//! The cache's large values in files: read back whole, replaced and removed with their keys,
//! moved out of the tree of a store written before, and files no key names removed on open.

use super::cache::LARGE;
use super::tests::reopen;
use super::*;

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("cache"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The files of `dir`'s cache once those of replaced values are removed (which follows sled's
/// flush, on a thread of its own): the first listing of `want` files within 10 s.
fn settled(dir: &Path, want: usize) -> Vec<String> {
    let started = std::time::Instant::now();
    loop {
        let now = files(dir);
        if now.len() == want || started.elapsed() > std::time::Duration::from_secs(10) {
            return now;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

fn large(fill: u8) -> Vec<u8> {
    (0..LARGE + 1000).map(|i| (i % 251) as u8 ^ fill).collect()
}

#[test]
fn large_values_live_in_files_and_go_with_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let cache = store.cache();
    cache.put(b"proj/live", &large(1)).unwrap();
    cache.put(b"proj/meta/1", b"small").unwrap();
    assert_eq!(
        files(dir.path()).len(),
        1,
        "only the large value has a file"
    );
    assert_eq!(cache.get(b"proj/live").unwrap(), Some(large(1)));
    assert_eq!(cache.get(b"proj/meta/1").unwrap(), Some(b"small".to_vec()));
    let scanned = cache.scan(b"proj/", b"", 10).unwrap();
    assert_eq!(
        scanned,
        vec![
            (b"proj/live".to_vec(), large(1)),
            (b"proj/meta/1".to_vec(), b"small".to_vec())
        ]
    );

    // Replaced: the new value in a new file, the old file gone.
    let before = files(dir.path());
    cache.put(b"proj/live", &large(2)).unwrap();
    let after = settled(dir.path(), 1);
    assert_eq!(after.len(), 1);
    assert_ne!(before, after);
    assert_eq!(cache.get(b"proj/live").unwrap(), Some(large(2)));
    cache
        .write_batch(&[(b"proj/live".to_vec(), large(3))], &[])
        .unwrap();
    assert_eq!(settled(dir.path(), 1).len(), 1);
    assert_eq!(cache.get(b"proj/live").unwrap(), Some(large(3)));
    // Back to a small value: no file.
    cache
        .write_batch(&[(b"proj/live".to_vec(), b"tiny".to_vec())], &[])
        .unwrap();
    assert!(settled(dir.path(), 0).is_empty());
    cache.put(b"proj/snap/1", &large(4)).unwrap();
    cache.remove_prefix(b"proj/").unwrap();
    assert!(settled(dir.path(), 0).is_empty());
    assert_eq!(cache.get(b"proj/snap/1").unwrap(), None);
}

#[test]
fn a_file_gone_or_damaged_reads_as_absent_and_its_key_goes() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    store.cache().put(b"proj/live", &large(1)).unwrap();
    let path = dir.path().join("cache").join(&files(dir.path())[0]);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[10] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(store.cache().get(b"proj/live").unwrap(), None);
    assert_eq!(store.cache.tree.get(b"proj/live").unwrap(), None);
    assert!(files(dir.path()).is_empty(), "the damaged file is removed");

    store.cache().put(b"proj/snap/1", &large(2)).unwrap();
    std::fs::remove_file(dir.path().join("cache").join(&files(dir.path())[0])).unwrap();
    assert!(store.cache().scan(b"proj/", b"", 10).unwrap().is_empty());
    assert_eq!(store.cache().get(b"proj/snap/1").unwrap(), None);
}

#[test]
fn only_values_read_whole_go_to_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    // An entry of the meetings index: one of a set read by prefix.
    store.cache().put(b"proj/idx/e/m-1\0", &large(1)).unwrap();
    assert!(files(dir.path()).is_empty());
    assert_eq!(
        store.cache().get(b"proj/idx/e/m-1\0").unwrap(),
        Some(large(1))
    );
    store.cache().put(b"rules/registry", &large(2)).unwrap();
    assert_eq!(files(dir.path()).len(), 1);
}

#[test]
fn a_store_that_kept_large_values_in_its_tree_moves_them_to_files_on_open() {
    let dir = tempfile::tempdir().unwrap();
    drop(SledStore::open(dir.path()).unwrap());
    // As an earlier build left it: the value in the tree, no note in `meta`.
    {
        let db = recovery::open_sled(dir.path()).unwrap();
        db.open_tree("cache")
            .unwrap()
            .insert(b"proj/live", large(5))
            .unwrap();
        db.open_tree("meta").unwrap().remove("cache.files").unwrap();
        db.flush().unwrap();
    }
    let store = reopen(dir.path());
    assert_eq!(files(dir.path()).len(), 1);
    assert_eq!(store.cache().get(b"proj/live").unwrap(), Some(large(5)));
    let held = store.cache.tree.get(b"proj/live").unwrap().unwrap();
    assert!(
        held.len() < 100,
        "the tree holds where the file is, not the value"
    );
}

#[test]
fn files_no_key_names_are_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    store.cache().put(b"proj/live", &large(1)).unwrap();
    let named = files(dir.path());
    let cache_dir = dir.path().join("cache");
    // Left by a process that stopped between writing a file and naming it.
    std::fs::write(
        cache_dir.join(format!("{}.1", hex::encode("proj/live"))),
        b"x",
    )
    .unwrap();
    std::fs::write(
        cache_dir.join(format!("{}.2.tmp", hex::encode("proj/x"))),
        b"x",
    )
    .unwrap();
    std::fs::write(cache_dir.join("stray"), b"x").unwrap();
    drop(store);
    let store = reopen(dir.path());
    assert_eq!(files(dir.path()), named);
    assert_eq!(store.cache().get(b"proj/live").unwrap(), Some(large(1)));
}
