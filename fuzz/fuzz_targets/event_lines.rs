//! libFuzzer target: the event gate (`input::parse_batch`). No panic; an accepted event reads
//! back the same once written out as a line again.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(batch) = accord::input::parse_batch(text) else {
        return;
    };
    for p in &batch {
        let again = accord::input::parse_value(p.line, p.to_input_line())
            .expect("an accepted event reads back");
        assert_eq!(&again, p);
    }
});
