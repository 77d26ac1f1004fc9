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
        let mut v = serde_json::json!({
            "type": p.ty, "version": p.version, "occurred": p.occurred.to_string(),
            "actor": p.actor, "data": p.data, "stream": p.stream,
        });
        for (k, x) in [
            ("id", &p.id),
            ("correlation_id", &p.correlation_id),
            ("causation_id", &p.causation_id),
        ] {
            if let Some(x) = x {
                v[k] = x.clone().into();
            }
        }
        if let Some(e) = p.expected_position {
            v["expected_position"] = e.into();
        }
        let again = accord::input::parse_value(p.line, v).expect("an accepted event reads back");
        assert_eq!(&again, p);
    }
});
