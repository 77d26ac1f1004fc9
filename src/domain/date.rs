//! Domain dates that may be exact, a range, or only approximate ("early 2022", "2022 onwards").
//!
//! Every approximate date is a window of calendar days. The "as of" rule lives here: a date
//! counts as of day `d` when its whole window has elapsed by `d` (its last day is on or before
//! `d`); an open window ("2022 onwards") counts once its first day has come.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A calendar date as precise as it was announced.
///
/// Written forms (the same in the log, on the command line and in the API):
///
/// | form | meaning |
/// |---|---|
/// | `2019-11-25` | that day |
/// | `2019-11-25/2019-11-29` | those days, both included |
/// | `2021-11` | some day in November 2021 |
/// | `2022-Q1` | some day in the first quarter of 2022 |
/// | `2022-H1` | some day in the first half of 2022 |
/// | `2022-early`, `2022-mid`, `2022-late` | January–April, May–August, September–December |
/// | `2022` | some day in 2022 |
/// | `2022..` | 2022 onwards, no end given |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ApproxDate {
    Day(NaiveDate),
    Range(NaiveDate, NaiveDate),
    Month(i32, u32),
    Quarter(i32, u32),
    Half(i32, u32),
    Third(i32, Third),
    Year(i32),
    Onwards(i32),
}

/// The thirds of a year people use in announcements: early, mid and late.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Third {
    Early,
    Mid,
    Late,
}

impl Third {
    fn months(self) -> (u32, u32) {
        match self {
            Third::Early => (1, 4),
            Third::Mid => (5, 8),
            Third::Late => (9, 12),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Third::Early => "early",
            Third::Mid => "mid",
            Third::Late => "late",
        }
    }
}

/// Why a date string was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid date `{input}`: {reason}")]
pub struct DateError {
    pub input: String,
    pub reason: String,
}

fn err(input: &str, reason: impl Into<String>) -> DateError {
    DateError {
        input: input.to_string(),
        reason: reason.into(),
    }
}

const EXPECTED: &str = "expected YYYY-MM-DD, YYYY-MM-DD/YYYY-MM-DD, YYYY-MM, YYYY-Qn, YYYY-Hn, \
                        YYYY-early|mid|late, YYYY or YYYY..";

fn month_end(year: i32, month: u32) -> NaiveDate {
    let (y, m) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1).expect("valid first of month") - chrono::Days::new(1)
}

fn first(year: i32, month: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, 1).expect("valid first of month")
}

fn parse_year(s: &str, input: &str) -> Result<i32, DateError> {
    if s.len() != 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err(
            input,
            format!("`{s}` is not a four-digit year; {EXPECTED}"),
        ));
    }
    let y: i32 = s.parse().map_err(|_| err(input, EXPECTED))?;
    if !(1900..=2999).contains(&y) {
        return Err(err(input, "year must be between 1900 and 2999"));
    }
    Ok(y)
}

thread_local! {
    /// Dates are being read from records already in a log, not from new input.
    static AS_RECORDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` reading dates as recorded: also in the lax forms that builds before the strict
/// reading accepted (`2021-Q01`, `2021-+3`, `2021- 3-04`), so that a record written then still
/// reads. New input is always held to the schema's written forms.
pub fn as_recorded<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            AS_RECORDED.with(|a| a.set(self.0));
        }
    }
    let _restore = Restore(AS_RECORDED.with(|a| a.replace(true)));
    f()
}

fn lax() -> bool {
    AS_RECORDED.with(|a| a.get())
}

/// Parses a recording instant as people write it: RFC 3339 (`2021-04-01T09:30:00Z`,
/// `2021-04-01T11:30:00+02:00`), a UTC time without a zone (`2021-04-01T09:30`, what a
/// browser's date-time field sends), or a day (`2021-04-01`: the start of that day, UTC, as
/// every instant option of the command line takes it).
pub fn parse_instant(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    use chrono::{NaiveDateTime, TimeZone, Utc};
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for form in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, form) {
            return Ok(Utc.from_utc_datetime(&t));
        }
    }
    if s.len() == 10 {
        if let Ok(d) = parse_day(s) {
            let start = d.and_hms_opt(0, 0, 0).expect("midnight");
            return Ok(Utc.from_utc_datetime(&start));
        }
    }
    Err(format!(
        "`{s}` is not an instant: write 2021-04-01T09:30:00Z (RFC 3339), 2021-04-01T09:30 (UTC) or 2021-04-01 (the start of that day, UTC)"
    ))
}

/// Parses an exact `YYYY-MM-DD` day, refusing impossible dates such as 2021-02-30.
pub fn parse_day(s: &str) -> Result<NaiveDate, DateError> {
    let b = s.as_bytes();
    let digits = [0, 1, 2, 3, 5, 6, 8, 9]
        .iter()
        .all(|&i| b.get(i).is_some_and(u8::is_ascii_digit));
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !(digits || lax()) {
        return Err(err(s, "expected a day as YYYY-MM-DD"));
    }
    parse_year(&s[..4], s)?;
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| err(s, "no such day in the calendar"))
}

impl ApproxDate {
    /// The first day of the window.
    pub fn start(&self) -> NaiveDate {
        match *self {
            ApproxDate::Day(d) => d,
            ApproxDate::Range(a, _) => a,
            ApproxDate::Month(y, m) => first(y, m),
            ApproxDate::Quarter(y, q) => first(y, 3 * q - 2),
            ApproxDate::Half(y, h) => first(y, 6 * h - 5),
            ApproxDate::Third(y, t) => first(y, t.months().0),
            ApproxDate::Year(y) | ApproxDate::Onwards(y) => first(y, 1),
        }
    }

    /// The last day of the window, or `None` for an open window.
    pub fn end(&self) -> Option<NaiveDate> {
        Some(match *self {
            ApproxDate::Day(d) => d,
            ApproxDate::Range(_, b) => b,
            ApproxDate::Month(y, m) => month_end(y, m),
            ApproxDate::Quarter(y, q) => month_end(y, 3 * q),
            ApproxDate::Half(y, h) => month_end(y, 6 * h),
            ApproxDate::Third(y, t) => month_end(y, t.months().1),
            ApproxDate::Year(y) => month_end(y, 12),
            ApproxDate::Onwards(_) => return None,
        })
    }

    /// True when the date names exact days (a day or a range of days).
    pub fn is_exact(&self) -> bool {
        matches!(self, ApproxDate::Day(_) | ApproxDate::Range(..))
    }

    /// The day from which the "as of" rule counts this date as past.
    pub fn counts_from(&self) -> NaiveDate {
        self.end().unwrap_or_else(|| self.start())
    }

    /// The documented "as of" rule: the whole window has elapsed by `day`.
    pub fn is_past_as_of(&self, day: NaiveDate) -> bool {
        self.counts_from() <= day
    }
}

impl FromStr for ApproxDate {
    type Err = DateError;

    fn from_str(s: &str) -> Result<Self, DateError> {
        if s.is_empty() {
            return Err(err(s, format!("empty; {EXPECTED}")));
        }
        if let Some((a, b)) = s.split_once('/') {
            let (a, b) = (parse_day(a)?, parse_day(b)?);
            if b < a {
                return Err(err(s, "the range ends before it starts"));
            }
            return Ok(if a == b {
                ApproxDate::Day(a)
            } else {
                ApproxDate::Range(a, b)
            });
        }
        if let Some(y) = s.strip_suffix("..") {
            return Ok(ApproxDate::Onwards(parse_year(y, s)?));
        }
        if s.len() == 4 {
            return Ok(ApproxDate::Year(parse_year(s, s)?));
        }
        if s.len() == 10 && s.as_bytes()[7] == b'-' {
            return parse_day(s).map(ApproxDate::Day);
        }
        let Some((y, rest)) = s.split_once('-') else {
            return Err(err(s, EXPECTED));
        };
        let year = parse_year(y, s)?;
        // Exactly `width` digits, as the published schema writes them: `2021-03`, `2021-Q1`.
        let bounded = |n: &str, max: u32, width: usize| -> Result<u32, DateError> {
            let digits = if lax() {
                n.len() <= 2
            } else {
                n.len() == width && n.bytes().all(|b| b.is_ascii_digit())
            };
            match n.parse::<u32>() {
                Ok(v) if digits && (1..=max).contains(&v) => Ok(v),
                _ => Err(err(
                    s,
                    format!("`{n}` must be a number from 1 to {max} in {width} digits"),
                )),
            }
        };
        match rest {
            "early" => Ok(ApproxDate::Third(year, Third::Early)),
            "mid" => Ok(ApproxDate::Third(year, Third::Mid)),
            "late" => Ok(ApproxDate::Third(year, Third::Late)),
            r if r.starts_with('Q') => Ok(ApproxDate::Quarter(year, bounded(&r[1..], 4, 1)?)),
            r if r.starts_with('H') => Ok(ApproxDate::Half(year, bounded(&r[1..], 2, 1)?)),
            r if r.len() == 2 => Ok(ApproxDate::Month(year, bounded(r, 12, 2)?)),
            _ => Err(err(s, EXPECTED)),
        }
    }
}

impl fmt::Display for ApproxDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ApproxDate::Day(d) => write!(f, "{d}"),
            ApproxDate::Range(a, b) => write!(f, "{a}/{b}"),
            ApproxDate::Month(y, m) => write!(f, "{y:04}-{m:02}"),
            ApproxDate::Quarter(y, q) => write!(f, "{y:04}-Q{q}"),
            ApproxDate::Half(y, h) => write!(f, "{y:04}-H{h}"),
            ApproxDate::Third(y, t) => write!(f, "{y:04}-{}", t.name()),
            ApproxDate::Year(y) => write!(f, "{y:04}"),
            ApproxDate::Onwards(y) => write!(f, "{y:04}.."),
        }
    }
}

impl Serialize for ApproxDate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ApproxDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for ApproxDate {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ApproxDate".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A day (YYYY-MM-DD), a range (YYYY-MM-DD/YYYY-MM-DD), or an approximate \
                            date: YYYY-MM, YYYY-Qn, YYYY-Hn, YYYY-early|mid|late, YYYY, YYYY..",
            "pattern": "^[0-9]{4}(-[0-9]{2}(-[0-9]{2}(/[0-9]{4}-[0-9]{2}-[0-9]{2})?)?|-Q[1-4]|-H[12]|-early|-mid|-late|\\.\\.)?$"
        })
    }
}

/// Whole calendar days in the window, for display ("November 2021").
pub fn describe(d: &ApproxDate) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    match *d {
        ApproxDate::Day(x) => format!("{} {} {}", x.day(), MONTHS[x.month0() as usize], x.year()),
        // Across a year's end each end names its year: "1 November 2021 – 30 April 2022".
        ApproxDate::Range(a, b) if a.year() != b.year() => format!(
            "{} {} {} – {} {} {}",
            a.day(),
            MONTHS[a.month0() as usize],
            a.year(),
            b.day(),
            MONTHS[b.month0() as usize],
            b.year()
        ),
        ApproxDate::Range(a, b) => format!(
            "{} {} – {} {} {}",
            a.day(),
            MONTHS[a.month0() as usize],
            b.day(),
            MONTHS[b.month0() as usize],
            b.year()
        ),
        ApproxDate::Month(y, m) => format!("{} {y} (tbc)", MONTHS[m as usize - 1]),
        ApproxDate::Quarter(y, q) => format!("Q{q} {y} (tbc)"),
        ApproxDate::Half(y, h) => format!("H{h} {y} (tbc)"),
        ApproxDate::Third(y, t) => format!("{} {y} (tbc)", t.name()),
        ApproxDate::Year(y) => format!("{y} (tbc)"),
        ApproxDate::Onwards(y) => format!("{y} onwards (tbc)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        parse_day(s).unwrap()
    }

    #[test]
    fn only_the_written_forms_of_the_schema_are_read() {
        // Forms chrono or `u32::from_str` would take, which the published schema does not.
        for bad in [
            "2029- 1- 4",
            "2029-+1-04",
            "2029-01-+4",
            "2029-1-004",
            "2021-+3",
            "2021- 3",
            "2021-Q01",
            "2021-Q+1",
            "2021-H01",
            "2021-H+1",
            "2021-01-04/2021- 1-05",
        ] {
            assert!(bad.parse::<ApproxDate>().is_err(), "{bad} was read");
        }
        assert!(parse_day("2029- 1- 4").is_err());
        // Records already in a log read as the builds that wrote them read them.
        as_recorded(|| {
            for lax in ["2021-Q01", "2021-+3", "2021-H01"] {
                assert!(
                    lax.parse::<ApproxDate>().is_ok(),
                    "{lax} recorded no longer reads"
                );
            }
            assert!(parse_day("2029- 1-04").is_ok());
            assert!("2021-Q5".parse::<ApproxDate>().is_err());
        });
        assert!(
            "2021-Q01".parse::<ApproxDate>().is_err(),
            "the lax reading leaked"
        );
        for good in [
            "2029-01-04",
            "2021-03",
            "2021-Q1",
            "2021-H2",
            "2021-12",
            "2021-02-28",
        ] {
            assert_eq!(good.parse::<ApproxDate>().unwrap().to_string(), good);
        }
    }

    #[test]
    fn round_trips_and_windows() {
        let cases = [
            ("2019-11-25", "2019-11-25", Some("2019-11-25")),
            ("2019-11-25/2019-11-29", "2019-11-25", Some("2019-11-29")),
            ("2021-11", "2021-11-01", Some("2021-11-30")),
            ("2024-02", "2024-02-01", Some("2024-02-29")),
            ("2022-Q1", "2022-01-01", Some("2022-03-31")),
            ("2022-H2", "2022-07-01", Some("2022-12-31")),
            ("2022-early", "2022-01-01", Some("2022-04-30")),
            ("2022-late", "2022-09-01", Some("2022-12-31")),
            ("2022", "2022-01-01", Some("2022-12-31")),
            ("2022..", "2022-01-01", None),
        ];
        for (input, start, end) in cases {
            let a: ApproxDate = input.parse().unwrap();
            assert_eq!(a.to_string(), input);
            assert_eq!(a.start(), d(start), "{input}");
            assert_eq!(a.end(), end.map(d), "{input}");
        }
    }

    #[test]
    fn as_of_rule() {
        let early: ApproxDate = "2022-early".parse().unwrap();
        assert!(!early.is_past_as_of(d("2022-01-15")));
        assert!(early.is_past_as_of(d("2022-04-30")));
        let onwards: ApproxDate = "2022..".parse().unwrap();
        assert!(!onwards.is_past_as_of(d("2021-12-31")));
        assert!(onwards.is_past_as_of(d("2022-01-01")));
    }

    #[test]
    fn refuses_bad_dates() {
        for bad in [
            "",
            "2021-02-30",
            "2021-13",
            "2021-Q5",
            "2021-H3",
            "21-01-01",
            "2021-11-29/2021-11-25",
            "2021-1",
            "soon",
            "2021-11-25T00:00:00Z",
        ] {
            assert!(
                bad.parse::<ApproxDate>().is_err(),
                "{bad} should be refused"
            );
        }
    }
}
