//! libFuzzer target: the workflow file parser. No panic; an accepted cron fires at most hourly.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let templates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../workflows/templates");
    if let Ok(wf) =
        accord::workflows::definition::parse(std::path::Path::new("fuzzed.toml"), text, &templates)
    {
        if let Some(c) = &wf.cron {
            assert!(accord::scheduler::clock::min_gap(c)
                .is_none_or(|g| g >= chrono::Duration::hours(1)));
        }
    }
});
