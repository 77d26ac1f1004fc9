//! Local wall-clock times in IANA time zones, and cron schedules over them, with an explicit
//! daylight-saving rule.
//!
//! The rule: a local time that does not exist (in a spring-forward gap) runs at the end of the
//! gap, the first minute that exists; a local time that occurs twice (in a fall-back overlap)
//! runs once, at its first occurrence. Cron expressions are matched against local wall-clock
//! time, so "08:00 every Monday" stays at 08:00 local across changes.

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The instant of a local wall-clock time, by the rule above.
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let mut t = local;
    // Gaps are at most a few hours; step a minute at a time to the first time that exists.
    for _ in 0..(24 * 60) {
        match tz.from_local_datetime(&t) {
            LocalResult::Single(x) => return x.with_timezone(&Utc),
            LocalResult::Ambiguous(a, b) => return a.min(b).with_timezone(&Utc),
            LocalResult::None => {
                t = (t + Duration::minutes(1))
                    .with_second(0)
                    .expect("zero seconds is valid");
            }
        }
    }
    Utc.from_utc_datetime(&local)
}

use chrono::Timelike;

/// The first fire time of `schedule` (read in local time in `tz`) strictly after `after`.
pub fn next_fire(schedule: &cron::Schedule, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    // Walk the schedule over naive local times, starting a day early to cover offsets.
    let local_after = after.with_timezone(&tz).naive_local() - Duration::days(1);
    schedule
        .after(&Utc.from_utc_datetime(&local_after))
        .take(100_000)
        .map(|naive| resolve_local(tz, naive.naive_utc()))
        .find(|t| *t > after)
}

/// The last fire time at or before `now`, looking back at most `lookback`: one pass.
pub fn last_fire(
    schedule: &cron::Schedule,
    tz: Tz,
    now: DateTime<Utc>,
    lookback: Duration,
) -> Option<DateTime<Utc>> {
    let from = now - lookback;
    let local_from = from.with_timezone(&tz).naive_local() - Duration::days(1);
    schedule
        .after(&Utc.from_utc_datetime(&local_from))
        .map(|naive| resolve_local(tz, naive.naive_utc()))
        .skip_while(|t| *t <= from)
        .take_while(|t| *t <= now)
        .last()
}

/// The shortest gap between fire times over a sample year: schedules that fire more often
/// than hourly are refused, so a tick's work stays bounded.
pub fn min_gap(schedule: &cron::Schedule) -> Option<Duration> {
    let start = Utc.with_ymd_and_hms(2021, 1, 1, 0, 0, 0).single()?;
    let fires: Vec<_> = schedule.after(&start).take(200).collect();
    fires.windows(2).map(|w| w[1] - w[0]).min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn local(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// (zone, local wall-clock time, the instant it runs at)
    const TABLE: &[(&str, &str, &str)] = &[
        // Europe/Zurich: spring forward 2021-03-28 02:00 → 03:00; fall back 2021-10-31 03:00 → 02:00.
        ("Europe/Zurich", "2021-03-28 01:59", "2021-03-28T00:59:00Z"),
        ("Europe/Zurich", "2021-03-28 02:00", "2021-03-28T01:00:00Z"),
        ("Europe/Zurich", "2021-03-28 02:30", "2021-03-28T01:00:00Z"),
        ("Europe/Zurich", "2021-03-28 03:00", "2021-03-28T01:00:00Z"),
        ("Europe/Zurich", "2021-10-31 02:30", "2021-10-31T00:30:00Z"),
        ("Europe/Zurich", "2021-10-31 03:00", "2021-10-31T02:00:00Z"),
        ("Europe/Zurich", "2021-07-01 09:00", "2021-07-01T07:00:00Z"),
        ("Europe/Zurich", "2021-12-01 09:00", "2021-12-01T08:00:00Z"),
        // America/Montreal: spring forward 2021-03-14 02:00 → 03:00; fall back 2021-11-07 02:00 → 01:00.
        (
            "America/Montreal",
            "2021-03-14 02:15",
            "2021-03-14T07:00:00Z",
        ),
        (
            "America/Montreal",
            "2021-11-07 01:30",
            "2021-11-07T05:30:00Z",
        ),
        (
            "America/Montreal",
            "2021-11-07 02:00",
            "2021-11-07T07:00:00Z",
        ),
        // Africa/Nairobi: no daylight saving, UTC+3 all year.
        ("Africa/Nairobi", "2021-03-28 02:30", "2021-03-27T23:30:00Z"),
        ("Africa/Nairobi", "2021-10-31 02:30", "2021-10-30T23:30:00Z"),
        // Australia/Lord_Howe: a half-hour shift. Spring forward 2021-10-03 02:00 → 02:30
        // (+10:30 → +11); fall back 2021-04-04 02:00 → 01:30 (+11 → +10:30).
        (
            "Australia/Lord_Howe",
            "2021-10-03 02:10",
            "2021-10-02T15:30:00Z",
        ),
        (
            "Australia/Lord_Howe",
            "2021-10-03 02:30",
            "2021-10-02T15:30:00Z",
        ),
        (
            "Australia/Lord_Howe",
            "2021-04-04 01:45",
            "2021-04-03T14:45:00Z",
        ),
        (
            "Australia/Lord_Howe",
            "2021-04-04 02:00",
            "2021-04-03T15:30:00Z",
        ),
    ];

    #[test]
    fn daylight_saving_table() {
        for (zone, wall, expected) in TABLE {
            let tz: Tz = zone.parse().unwrap();
            assert_eq!(
                resolve_local(tz, local(wall)),
                utc(expected),
                "{zone} {wall}"
            );
        }
    }

    #[test]
    fn cron_in_local_time_runs_once_across_changes() {
        let tz: Tz = "Europe/Zurich".parse().unwrap();
        // Monday 08:00 Geneva time, before and after the March change.
        let weekly = cron::Schedule::from_str("0 0 8 * * Mon").unwrap();
        let a = next_fire(&weekly, tz, utc("2021-03-20T00:00:00Z")).unwrap();
        assert_eq!(a, utc("2021-03-22T07:00:00Z"));
        let b = next_fire(&weekly, tz, a).unwrap();
        assert_eq!(
            b,
            utc("2021-03-29T06:00:00Z"),
            "still 08:00 local after the change"
        );
        // Daily 02:30: on the spring-forward day it runs at 03:00 local, once.
        let daily = cron::Schedule::from_str("0 30 2 * * *").unwrap();
        let fires: Vec<_> =
            std::iter::successors(next_fire(&daily, tz, utc("2021-03-26T12:00:00Z")), |t| {
                next_fire(&daily, tz, *t)
            })
            .take(4)
            .collect();
        assert_eq!(
            fires,
            vec![
                utc("2021-03-27T01:30:00Z"),
                utc("2021-03-28T01:00:00Z"),
                utc("2021-03-29T00:30:00Z"),
                utc("2021-03-30T00:30:00Z"),
            ]
        );
        // Every 30 minutes across the October overlap: 02:00 and 02:30 run once each.
        let half = cron::Schedule::from_str("0 0,30 * * * *").unwrap();
        let fires: Vec<_> =
            std::iter::successors(next_fire(&half, tz, utc("2021-10-30T23:10:00Z")), |t| {
                next_fire(&half, tz, *t)
            })
            .take_while(|t| *t < utc("2021-10-31T03:00:00Z"))
            .collect();
        let unique: std::collections::BTreeSet<_> = fires.iter().collect();
        assert_eq!(fires.len(), unique.len(), "no time runs twice: {fires:?}");
        assert!(
            fires.contains(&utc("2021-10-31T00:00:00Z"))
                && fires.contains(&utc("2021-10-31T00:30:00Z"))
        );
        assert!(
            !fires.contains(&utc("2021-10-31T01:00:00Z")),
            "the repeated 02:00 does not run again"
        );
    }

    #[test]
    fn last_fire_looks_back() {
        let tz: Tz = "Europe/Zurich".parse().unwrap();
        let weekly = cron::Schedule::from_str("0 0 8 * * Mon").unwrap();
        let now = utc("2021-09-22T12:00:00Z");
        assert_eq!(
            last_fire(&weekly, tz, now, Duration::days(8)),
            Some(utc("2021-09-20T06:00:00Z"))
        );
        assert_eq!(last_fire(&weekly, tz, now, Duration::days(1)), None);
    }
}
