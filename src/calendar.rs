//! The calendar feed (RFC 5545): meetings and their segments as all-day events, deadlines as
//! events with an alarm. UIDs come from ids and DTSTAMPs from the log, so a refresh that finds
//! nothing new changes nothing, and a rescheduled meeting keeps its UID with a higher SEQUENCE.

use chrono::NaiveDate;

use crate::domain::{ApproxDate, Body};
use crate::projections::meetings::MeetingStatus;
use crate::projections::work::DeadlineStatus;
use crate::projections::Views;
use crate::store::{EventStore, StoreError};

/// Escapes TEXT values: backslash, semicolon, comma and newlines.
pub fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace(';', "\\;")
        .replace(',', "\\,")
        .replace('\r', "")
        .replace('\n', "\\n")
}

/// Folds a content line at 75 octets and ends it with CRLF.
pub fn fold(line: &str) -> String {
    let mut out = String::new();
    let mut n = 0;
    for c in line.chars() {
        if n + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            n = 1;
        }
        out.push(c);
        n += c.len_utf8();
    }
    out.push_str("\r\n");
    out
}

fn day(d: NaiveDate) -> String {
    d.format("%Y%m%d").to_string()
}

/// `20211113T080000Z` from an RFC 3339 instant.
fn stamp(recorded_at: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(recorded_at)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y%m%dT%H%M%SZ")
                .to_string()
        })
        .unwrap_or_else(|_| "19700101T000000Z".to_string())
}

struct Event {
    uid: String,
    stamp: String,
    sequence: usize,
    dates: ApproxDate,
    summary: String,
    location: Option<String>,
    description: String,
    status: &'static str,
    alarm: bool,
    /// The meeting's page on the dashboard.
    url: Option<String>,
}

/// Writes one entry. Exact days and ranges are drawn as they are. An approximate window
/// ("2022-03", "2022-Q1", "2022-early") is one day, its first, marked as approximate in the
/// title, not a block across the whole window; an open-ended one ("2022 onwards") has no day
/// to stand on and is left out.
fn write(out: &mut Vec<String>, e: &Event) {
    if matches!(e.dates, ApproxDate::Onwards(_)) {
        return;
    }
    let start = e.dates.start();
    let (end, summary) = if e.dates.is_exact() {
        (
            e.dates.end().unwrap_or(start) + chrono::Days::new(1),
            e.summary.clone(),
        )
    } else {
        (
            start + chrono::Days::new(1),
            format!(
                "{} (approximate: {})",
                e.summary,
                crate::domain::describe_date(&e.dates)
            ),
        )
    };
    out.push("BEGIN:VEVENT".into());
    out.push(format!("UID:{}", escape(&e.uid)));
    out.push(format!("DTSTAMP:{}", e.stamp));
    out.push(format!("SEQUENCE:{}", e.sequence));
    out.push(format!("DTSTART;VALUE=DATE:{}", day(start)));
    out.push(format!("DTEND;VALUE=DATE:{}", day(end)));
    out.push(format!("SUMMARY:{}", escape(&summary)));
    if let Some(l) = &e.location {
        out.push(format!("LOCATION:{}", escape(l)));
    }
    out.push(format!("DESCRIPTION:{}", escape(&e.description)));
    out.push(format!("STATUS:{}", e.status));
    if let Some(u) = &e.url {
        out.push(format!("URL:{u}"));
    }
    out.push("TRANSP:TRANSPARENT".into());
    if e.alarm {
        out.push("BEGIN:VALARM".into());
        out.push("ACTION:DISPLAY".into());
        out.push("TRIGGER:-P7D".into());
        out.push(format!("DESCRIPTION:{}", escape(&e.summary)));
        out.push("END:VALARM".into());
    }
    out.push("END:VEVENT".into());
}

fn status(s: MeetingStatus, dates: &ApproxDate) -> &'static str {
    match s {
        MeetingStatus::Cancelled => "CANCELLED",
        MeetingStatus::Tentative | MeetingStatus::Postponed => "TENTATIVE",
        _ if !dates.is_exact() => "TENTATIVE",
        _ => "CONFIRMED",
    }
}

/// The feed, for every body or one; each entry links to its meeting's page under `dashboard`
/// (the dashboard's public address).
pub fn feed(
    store: &dyn EventStore,
    views: &Views,
    body: Option<Body>,
    dashboard: &str,
) -> Result<String, StoreError> {
    let page = |meeting: &str| {
        Some(format!(
            "{}{}",
            dashboard.trim_end_matches('/'),
            crate::api::pages::meeting_href(meeting)
        ))
    };
    let mut lines: Vec<String> = vec![
        "BEGIN:VCALENDAR".into(),
        "VERSION:2.0".into(),
        "PRODID:-//Accord//Meetings and deadlines//EN".into(),
        "CALSCALE:GREGORIAN".into(),
        "METHOD:PUBLISH".into(),
        format!(
            "X-WR-CALNAME:Accord{}",
            body.map(|b| format!(" ({})", b.code())).unwrap_or_default()
        ),
        "REFRESH-INTERVAL;VALUE=DURATION:PT1H".into(),
        "X-PUBLISHED-TTL:PT1H".into(),
    ];
    // Corrections change entries too: count them against the stream of what they correct.
    let mut corrected: std::collections::HashMap<String, (usize, String)> =
        std::collections::HashMap::new();
    for c in store.read_stream("corrections")? {
        if let Some(target) = c.data.get("seq").and_then(|s| s.as_u64()) {
            if let Some(t) = store.get(target)? {
                let e = corrected.entry(t.stream).or_insert((0, String::new()));
                e.0 += 1;
                e.1 = c.recorded_at.clone();
            }
        }
    }
    let meetings: Vec<_> = views
        .meetings
        .0
        .values()
        .filter(|m| body.is_none_or(|b| b == m.body))
        .collect();
    let deadlines: Vec<_> = views
        .work
        .deadlines
        .values()
        .filter(|d| {
            let meeting_body = d
                .meeting
                .as_deref()
                .and_then(|id| views.meetings.find(id))
                .map(|m| m.body);
            body.is_none() || meeting_body == body
        })
        .collect();
    let names: Vec<String> = meetings
        .iter()
        .map(|m| format!("meeting/{}", m.meeting))
        .chain(deadlines.iter().map(|d| format!("deadline/{}", d.deadline)))
        .collect();
    let lasts: std::collections::HashMap<&str, (String, u64)> = names
        .iter()
        .map(String::as_str)
        .zip(store.streams_last(&names)?)
        .filter_map(|(n, e)| e.map(|e| (n, (e.recorded_at, e.position))))
        .collect();
    // SEQUENCE counts every change after the first event; DTSTAMP is the last change's time.
    let version = |stream_name: &str| -> (String, usize) {
        let (fixes, fixed_at) = corrected.get(stream_name).cloned().unwrap_or_default();
        let (last, len) = lasts.get(stream_name).cloned().unwrap_or_default();
        let latest = if fixed_at > last { fixed_at } else { last };
        (stamp(&latest), len.saturating_sub(1) as usize + fixes)
    };
    for m in meetings {
        let (stamp, sequence) = version(&format!("meeting/{}", m.meeting));
        let describe = |dates: &ApproxDate| {
            format!(
                "{} ({}): {}",
                m.title,
                m.body.code(),
                crate::domain::describe_date(dates)
            )
        };
        if m.segments.is_empty() {
            write(
                &mut lines,
                &Event {
                    uid: format!("meeting/{}@accord", m.meeting),
                    stamp,
                    sequence,
                    dates: m.dates,
                    summary: m.title.clone(),
                    location: m.venue.clone(),
                    description: describe(&m.dates),
                    status: status(m.status, &m.dates),
                    alarm: false,
                    url: page(&m.meeting),
                },
            );
        } else {
            for s in &m.segments {
                let st = if m.status == MeetingStatus::Cancelled {
                    MeetingStatus::Cancelled
                } else {
                    s.status
                };
                write(
                    &mut lines,
                    &Event {
                        uid: format!("meeting/{}@accord", s.segment),
                        stamp: stamp.clone(),
                        sequence,
                        dates: s.dates,
                        summary: match &s.title {
                            Some(t) => format!("{}: {t}", m.title),
                            None => m.title.clone(),
                        },
                        // A segment's own venue: an online one does not take the meeting's.
                        location: s.venue.clone(),
                        description: describe(&s.dates),
                        status: status(st, &s.dates),
                        alarm: false,
                        url: page(&m.meeting),
                    },
                );
            }
        }
    }
    for d in deadlines {
        let (stamp, sequence) = version(&format!("deadline/{}", d.deadline));
        // Which meeting (and segment) it is for, in the entry's title.
        let of = d
            .meeting
            .as_deref()
            .and_then(|id| views.meetings.find(id).map(|m| (id, m)));
        let about = match of {
            Some((id, m)) if id != m.meeting => format!(" — {} ({id})", m.title),
            Some((_, m)) => format!(" — {}", m.title),
            None => String::new(),
        };
        write(
            &mut lines,
            &Event {
                uid: format!("deadline/{}@accord", d.deadline),
                stamp,
                sequence,
                dates: ApproxDate::Day(d.due.0),
                summary: if d.status == DeadlineStatus::Missed {
                    format!("Missed: {}{about}", d.what)
                } else {
                    format!("Due: {}{about}", d.what)
                },
                location: None,
                description: format!(
                    "{} ({}); responsible: {}",
                    d.deadline,
                    d.workflow,
                    d.responsible.join(", ")
                ),
                status: match d.status {
                    DeadlineStatus::Cancelled => "CANCELLED",
                    _ if d.tentative => "TENTATIVE",
                    _ => "CONFIRMED",
                },
                alarm: d.status == DeadlineStatus::Open && !d.tentative,
                url: of.and_then(|(_, m)| page(&m.meeting)),
            },
        );
    }
    lines.push("END:VCALENDAR".into());
    Ok(lines.iter().map(|l| fold(l)).collect())
}
