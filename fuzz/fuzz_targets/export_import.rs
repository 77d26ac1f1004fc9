//! libFuzzer target: `accord import`'s path for an export file: verification, then the store's
//! import rules in a fresh sled store. No panic; a refused import leaves the store empty; an
//! accepted one reads back byte for byte and verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Bytes that are not UTF-8 are a read error (`accord import` reports it), not records.
    let Ok((report, records)) =
        accord::verify::verify_export(data, true, Some((0, accord::envelope::ZERO_HASH)))
    else {
        return;
    };
    if records.is_empty() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store =
        accord::store::open_location(&accord::store::Location::Sled(dir.path().into())).unwrap();
    let expected: Vec<String> = records.iter().map(|r| r.to_canonical()).collect();
    match store.import(records) {
        Err(_) => assert_eq!(store.head().seq, 0, "a refused import wrote"),
        Ok(()) => {
            let back: Vec<String> = store
                .read_from(1)
                .map(|r| r.unwrap().to_canonical())
                .collect();
            assert_eq!(back, expected);
            assert!(accord::verify::verify_store(&*store, &mut |_| {}).intact());
            let _ = report;
        }
    }
});
