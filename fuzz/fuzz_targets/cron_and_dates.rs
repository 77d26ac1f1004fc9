//! libFuzzer target: cron expressions over local time, and domain dates. The first line is a
//! cron expression, the second a date. No panic, no hang; fire times fall where asked; a date
//! that parses prints back to itself.
#![no_main]

use std::str::FromStr;

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (cron, date) = text.split_once('\n').unwrap_or((text, text));
    let now = Utc.with_ymd_and_hms(2022, 3, 27, 1, 30, 0).unwrap();
    if let Ok(s) = cron::Schedule::from_str(cron) {
        let admitted =
            accord::scheduler::clock::min_gap(&s).is_none_or(|g| g >= chrono::Duration::hours(1));
        for tz in [
            chrono_tz::Tz::Europe__Zurich,
            chrono_tz::Tz::Australia__Lord_Howe,
        ] {
            if let Some(n) = accord::scheduler::clock::next_fire(&s, tz, now) {
                assert!(n > now);
            }
            if admitted {
                let back = chrono::Duration::days(8);
                if let Some(l) = accord::scheduler::clock::last_fire(&s, tz, now, back) {
                    assert!(l <= now && l > now - back);
                }
            }
        }
    }
    if let Ok(d) = accord::domain::ApproxDate::from_str(date) {
        assert_eq!(accord::domain::ApproxDate::from_str(&d.to_string()), Ok(d));
    }
    if let Ok(d) = accord::domain::parse_day(date) {
        assert_eq!(d.to_string(), date);
    }
});
