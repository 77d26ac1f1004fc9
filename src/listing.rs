//! What each listing shows, as a fitted table and as JSON rows: shared by the command line
//! and the HTTP API so both answer alike.

use serde::Serialize;

mod filter;
mod items;
pub use filter::{
    applies, check_filter, filter_timeline, filter_views, known_bodies, meeting_kept, statuses,
    Filter,
};
pub use items::{items, Item};

use crate::projections::timeline::Entry;
use crate::projections::Views;
use crate::render::Table;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
/// A read model that can be listed.
pub enum What {
    #[value(alias = "meeting")]
    Meetings,
    #[value(alias = "decision")]
    Decisions,
    Mandates,
    #[value(alias = "group")]
    Groups,
    #[value(alias = "report")]
    Reports,
    Activities,
    Agreements,
    Timeline,
}

fn list<T: ToString>(v: &[T]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(|x| x.to_string()).unwrap_or_default()
}

fn name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Null) => String::new(),
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// The listing's name in paths and filters.
pub fn path_name(what: What) -> &'static str {
    match what {
        What::Meetings => "meetings",
        What::Decisions => "decisions",
        What::Mandates => "mandates",
        What::Groups => "groups",
        What::Reports => "reports",
        What::Activities => "activities",
        What::Agreements => "agreements",
        What::Timeline => "timeline",
    }
}

/// The rows of a read model (not the timeline, which is folded on its own), as a table and as
/// JSON values.
pub fn rows(views: &Views, what: What) -> (Table, Vec<serde_json::Value>) {
    let mut t = Table::new(items::headers(what));
    let mut js = Vec::new();
    for item in items(views, what) {
        for cells in item.cells() {
            t.push(cells);
        }
        js.push(item.json());
    }
    (t, js)
}

/// The rows of a timeline.
pub fn timeline_rows(entries: &[Entry]) -> (Table, Vec<serde_json::Value>) {
    let mut t = Table::new(&["OCCURRED", "SEQ", "TYPE", "SUMMARY"]);
    let mut js = Vec::new();
    for e in entries {
        t.push(vec![
            e.occurred.to_string(),
            e.seq.to_string(),
            e.ty.clone(),
            e.summary.clone(),
        ]);
        js.push(serde_json::to_value(e).unwrap_or(serde_json::Value::Null));
    }
    (t, js)
}

/// A deadline's status as shown on `day`: open, tentative, met, missed or cancelled. An open
/// deadline whose day has passed shows as missed before the scheduler records it so.
pub fn deadline_status(
    d: &crate::projections::work::DeadlineRow,
    day: chrono::NaiveDate,
) -> &'static str {
    use crate::projections::work::DeadlineStatus;
    match d.status {
        DeadlineStatus::Open if d.tentative => "tentative",
        DeadlineStatus::Open if d.due.0 < day => "missed",
        DeadlineStatus::Open => "open",
        DeadlineStatus::Met => "met",
        DeadlineStatus::Missed => "missed",
        DeadlineStatus::Cancelled => "cancelled",
    }
}

/// Where a national reporting cycle's deadline stands: how many of the Parties bound to report
/// have, and how many by the day it was due. `None` for other deadlines, or when no Party of the
/// convention is recorded.
pub fn cycle_standing(
    views: &Views,
    d: &crate::projections::work::DeadlineRow,
) -> Option<crate::projections::reporting::CycleStanding> {
    let body = d.body?;
    let cycle = d.instance.strip_prefix("cycle:")?;
    views.reporting.standing(body, cycle, d.report, d.due.0)
}

/// The views [`deadlines`] reads, and with a body or status filter what `filter_views` reads
/// besides (the meetings, to find a deadline's body; the bodies registered): a question about
/// deadlines folds or decodes only these.
pub fn deadline_parts(filtered: bool) -> crate::projections::Parts {
    use crate::projections::Parts;
    let read = Parts::WORK.and(Parts::REPORTING);
    if filtered {
        read.and(Parts::MEETINGS)
    } else {
        read
    }
}

/// Deadlines due within `within` days of `day` (all when `None`), by due date, with their
/// status as of `day`: open, tentative, met, missed or cancelled.
pub fn deadlines(
    views: &Views,
    day: chrono::NaiveDate,
    within: Option<i64>,
) -> (Table, Vec<serde_json::Value>) {
    let mut rows: Vec<_> = views
        .work
        .deadlines
        .values()
        .filter(|d| within.is_none_or(|w| d.due.0 >= day && (d.due.0 - day).num_days() <= w))
        .collect();
    rows.sort_by_key(|d| (d.due, d.deadline.clone()));
    let mut t = Table::new(&["DUE", "STATUS", "DEADLINE", "RESPONSIBLE", "WHAT"]);
    let mut js = Vec::new();
    for d in rows {
        let status = deadline_status(d, day);
        let cycle = cycle_standing(views, d);
        t.push(vec![
            d.due.to_string(),
            match &cycle {
                Some(c) if status == "missed" && c.on_time > 0 => {
                    format!(
                        "partly met ({} of {} Parties on time)",
                        c.on_time, c.parties
                    )
                }
                Some(c) if status != "met" => {
                    format!("{status} ({} of {} Parties)", c.submitted, c.parties)
                }
                _ => status.to_string(),
            },
            d.deadline.clone(),
            d.responsible.join(", "),
            d.what.clone(),
        ]);
        let mut v = serde_json::to_value(d).unwrap_or(serde_json::Value::Null);
        v["status"] = status.into();
        if let Some(c) = cycle {
            v["parties"] = serde_json::json!(c);
        }
        js.push(v);
    }
    (t, js)
}

/// Reminders firing in `[from, to]`, by fire time; `dry` labels scheduled ones "would send".
pub fn reminders(
    views: &Views,
    from: Option<chrono::DateTime<chrono::Utc>>,
    to: Option<chrono::DateTime<chrono::Utc>>,
    would_send: Option<&std::collections::HashSet<String>>,
) -> (Table, Vec<serde_json::Value>) {
    use crate::projections::work::ReminderStatus;
    let would = |id: &str| would_send.is_some_and(|w| w.contains(id));
    let mut rows: Vec<_> = views
        .work
        .reminders
        .values()
        .filter(|r| {
            // What a dry run would send is listed even when it was due before the window (a
            // late send the first tick makes).
            would_send.is_some_and(|w| w.contains(&r.reminder))
                || (from.is_none_or(|f| r.fire_at.0 >= f) && to.is_none_or(|t| r.fire_at.0 <= t))
        })
        .collect();
    rows.sort_by_key(|r| (r.fire_at, r.reminder.clone()));
    // Steps that go as one message share its Message-ID.
    let mut sharing: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for r in &rows {
        if let Some(m) = &r.rendered {
            *sharing.entry(m.message_id.as_str()).or_default() += 1;
        }
    }
    let together = |r: &crate::projections::work::ReminderRow| {
        r.rendered
            .as_ref()
            .map_or(0, |m| sharing[m.message_id.as_str()].saturating_sub(1))
    };
    let mut t = Table::new(&["FIRE AT (UTC)", "STATUS", "TO", "DEADLINE", "NOTE"]);
    let mut js = Vec::new();
    for r in rows {
        let status = match r.status {
            _ if would(&r.reminder) => "would send",
            ReminderStatus::Scheduled => "scheduled",
            ReminderStatus::Attempted => "attempted",
            ReminderStatus::Sent => "sent",
            ReminderStatus::Retrying => "retrying",
            ReminderStatus::Failed => "failed",
            ReminderStatus::Cancelled => "cancelled",
            ReminderStatus::Skipped => "skipped",
        };
        let mut note = match (&r.rendered, &r.reason) {
            (Some(m), None) if m.late => "late".to_string(),
            (_, Some(reason)) => reason.clone(),
            _ => String::new(),
        };
        match together(r) {
            0 => {}
            n => {
                let with = format!(
                    "one email with {n} other step{}",
                    if n == 1 { "" } else { "s" }
                );
                note = if note.is_empty() {
                    with
                } else {
                    format!("{note}; {with}")
                };
            }
        }
        t.push(vec![
            r.fire_at.0.format("%Y-%m-%d %H:%M").to_string(),
            status.to_string(),
            r.recipient.clone(),
            r.deadline.clone().unwrap_or_else(|| "(digest)".to_string()),
            note,
        ]);
        let mut v = serde_json::to_value(r).unwrap_or(serde_json::Value::Null);
        v["status"] = status.into();
        if let Some(o) = v.as_object_mut() {
            o.remove("rendered");
            // What a dry run would send, by its subject.
            if would(&r.reminder) {
                if let Some(m) = &r.rendered {
                    o.insert("subject".into(), m.subject.clone().into());
                    o.insert("message_id".into(), m.message_id.clone().into());
                }
            }
        }
        js.push(v);
    }
    (t, js)
}
