//! Rendering reminders: minijinja templates from `workflows/templates/`, subjects from each
//! workflow, and an iCalendar (RFC 5545) event for the deadline.

use std::path::Path;

use chrono::{DateTime, Utc};
use minijinja::{context, Environment};

use crate::calendar::{escape as escape_ics, fold};
use crate::domain::{describe_date, ReminderKind};
use crate::projections::work::{DeadlineRow, DeadlineStatus, ReminderRow};
use crate::projections::Views;
use crate::workflows::Definitions;

/// The compiled templates.
pub struct Renderer {
    env: Environment<'static>,
}

impl Renderer {
    /// Loads every `*.j2` template and every workflow's subject line.
    pub fn new(defs: &Definitions) -> Result<Renderer, String> {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        load_dir(&mut env, &defs.templates)?;
        for versions in defs.by_name.values() {
            for wf in versions.values() {
                env.add_template_owned(
                    format!("subject:{}:{}", wf.name, wf.version),
                    wf.subject.clone(),
                )
                .map_err(|e| format!("{}: subject: {e}", wf.file.display()))?;
            }
        }
        Ok(Renderer { env })
    }

    fn render(&self, name: &str, ctx: &minijinja::Value) -> Result<String, String> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| format!("template {name}: {e}"))
    }

    fn has(&self, name: &str) -> bool {
        self.env.get_template(name).is_ok()
    }
}

fn load_dir(env: &mut Environment<'static>, dir: &Path) -> Result<(), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("{}: cannot read: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if let Some(stem) = name.strip_suffix(".j2") {
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            env.add_template_owned(stem.to_string(), text)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// A rendered reminder.
pub struct RenderedMessage {
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    pub ics: Option<String>,
}

/// A calendar with an all-day VEVENT on each deadline's day.
pub fn ics(deadlines: &[&DeadlineRow], now: DateTime<Utc>) -> String {
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_string(),
        "VERSION:2.0".to_string(),
        "PRODID:-//Accord//Deadlines//EN".to_string(),
        "METHOD:PUBLISH".to_string(),
    ];
    for d in deadlines {
        let day = d.due.0.format("%Y%m%d");
        let next = (d.due.0 + chrono::Days::new(1)).format("%Y%m%d");
        lines.extend([
            "BEGIN:VEVENT".to_string(),
            format!("UID:{}@accord", escape_ics(&d.deadline)),
            format!("DTSTAMP:{}", now.format("%Y%m%dT%H%M%SZ")),
            format!("DTSTART;VALUE=DATE:{day}"),
            format!("DTEND;VALUE=DATE:{next}"),
            format!("SUMMARY:{}", escape_ics(&format!("Due: {}", d.what))),
            format!(
                "DESCRIPTION:{}",
                escape_ics(&format!("Deadline {} ({})", d.deadline, d.workflow))
            ),
            "END:VEVENT".to_string(),
        ]);
    }
    lines.push("END:VCALENDAR".to_string());
    lines.iter().map(|l| fold(l)).collect()
}

/// Several steps as one phrase: "Notify parties of the dates and venue, and issue the
/// provisional agenda". A step after the first starts lower-case unless it opens with an
/// acronym or a name ("UNEP", "COP").
pub fn steps_phrase(whats: &[&str]) -> String {
    let lower = |w: &str| {
        let mut cs = w.chars();
        match (cs.next(), cs.next()) {
            (Some(a), Some(b)) if a.is_uppercase() && b.is_lowercase() => {
                a.to_lowercase().chain(w[a.len_utf8()..].chars()).collect()
            }
            _ => w.to_string(),
        }
    };
    match whats {
        [] => String::new(),
        [one] => one.to_string(),
        [a, b] => format!("{a} and {}", lower(b)),
        [first @ .., last] => {
            let mut s = first[0].to_string();
            for w in &first[1..] {
                s.push_str(", ");
                s.push_str(&lower(w));
            }
            s.push_str(", and ");
            s.push_str(&lower(last));
            s
        }
    }
}

/// A deadline as templates see it; `what` is its step, or the steps of the message it leads.
fn deadline_ctx(
    views: &Views,
    d: &DeadlineRow,
    what: &str,
    today: chrono::NaiveDate,
) -> minijinja::Value {
    let meeting = d
        .meeting
        .as_deref()
        .and_then(|id| views.meetings.find(id))
        .map(|m| {
            let segment = m
                .segments
                .iter()
                .find(|s| Some(s.segment.as_str()) == d.meeting.as_deref());
            let (dates, venue) = segment
                .map(|s| (s.dates, s.venue.clone().or(m.venue.clone())))
                .unwrap_or((m.dates, m.venue.clone()));
            // A deadline of one segment names it: "Fourth meeting of the COP, Second segment
            // (mc-cop-4.2)"; the dates and place are the segment's.
            let part = segment.map(|s| match &s.title {
                Some(t) => format!("{t} ({})", s.segment),
                None => s.segment.clone(),
            });
            let named = match &part {
                Some(p) => format!("{}, {p}", m.title),
                None => m.title.clone(),
            };
            let when_where = match &venue {
                Some(v) => format!("{}, {v}", describe_date(&dates)),
                None => describe_date(&dates),
            };
            context! {
                id => d.meeting.clone(),
                // The meeting's page on the dashboard, after the dashboard's address.
                page => crate::api::pages::meeting_href(&m.meeting),
                title => m.title.clone(),
                segment => part,
                named => named,
                when_where => when_where,
                body => m.body.code(),
                dates => dates.to_string(),
                dates_long => describe_date(&dates),
                venue => venue,
            }
        });
    let mandate = d.mandate.as_deref().and_then(|id| views.decisions.mandates.get(id)).map(|m| {
        context! { id => m.mandate.clone(), decision => m.decision.clone(), asks => m.asks.clone(), addressee => m.addressee.clone() }
    });
    context! {
        id => d.deadline.clone(),
        what => what,
        due => d.due.to_string(),
        due_long => describe_date(&crate::domain::ApproxDate::Day(d.due.0)),
        days_left => (d.due.0 - today).num_days(),
        tentative => d.tentative,
        step => d.step.clone(),
        meeting => meeting,
        mandate => mandate,
    }
}

/// Renders one message at `now` for reminders of one workflow to one recipient: subject, text,
/// optional HTML and, for deadlines, an `.ics`. Several deadline reminders (steps of one
/// meeting due the same day) make one message: templates see them all as `deadlines`, and
/// `deadline` is the first with `what` naming every step.
pub fn render_reminder(
    r: &Renderer,
    views: &Views,
    defs: &Definitions,
    reminders: &[&ReminderRow],
    recipient_name: &str,
    dashboard_url: &str,
    now: DateTime<Utc>,
) -> Result<RenderedMessage, String> {
    let reminder = reminders.first().ok_or("no reminder to render")?;
    let wf = defs
        .get(&reminder.workflow, reminder.workflow_version)
        .ok_or_else(|| {
            format!(
                "workflow {} version {} is not defined",
                reminder.workflow, reminder.workflow_version
            )
        })?;
    let today = now.with_timezone(&wf.timezone).date_naive();
    let recipient = context! { id => reminder.recipient.clone(), name => recipient_name };
    let (ctx, ics_text) = match reminder.kind {
        ReminderKind::Deadline => {
            let rows = reminders
                .iter()
                .map(|rem| {
                    let id = rem.deadline.as_deref().unwrap_or_default();
                    views
                        .work
                        .deadlines
                        .get(id)
                        .ok_or_else(|| format!("deadline {id} is not recorded"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let whats: Vec<&str> = rows.iter().map(|d| d.what.as_str()).collect();
            let all = steps_phrase(&whats);
            let deadlines: Vec<_> = rows
                .iter()
                .map(|d| deadline_ctx(views, d, &d.what, today))
                .collect();
            let ctx = context! {
                workflow => context! { name => wf.name.clone(), title => wf.title.clone() },
                deadline => deadline_ctx(views, rows[0], &all, today),
                deadlines => deadlines,
                recipient => recipient,
                dashboard_url => dashboard_url,
            };
            (ctx, Some(ics(&rows, now)))
        }
        ReminderKind::Digest => {
            let until = today + chrono::Days::new(wf.window_days as u64);
            let mut items: Vec<&DeadlineRow> = views
                .work
                .deadlines
                .values()
                .filter(|d| {
                    d.status == DeadlineStatus::Open
                        && d.responsible.contains(&reminder.recipient)
                        && d.due.0 >= today
                        && d.due.0 <= until
                })
                .collect();
            items.sort_by_key(|d| (d.due, d.deadline.clone()));
            let items: Vec<_> = items
                .into_iter()
                .map(|d| deadline_ctx(views, d, &d.what, today))
                .collect();
            // What of theirs is late: missed, or open past its day, over the last year.
            let year_ago = today - chrono::Days::new(365);
            let mut overdue: Vec<&DeadlineRow> = views
                .work
                .deadlines
                .values()
                .filter(|d| {
                    d.responsible.contains(&reminder.recipient)
                        && d.due.0 < today
                        && d.due.0 >= year_ago
                        && (d.status == DeadlineStatus::Missed
                            || (d.status == DeadlineStatus::Open && !d.tentative))
                })
                .collect();
            overdue.sort_by_key(|d| (d.due, d.deadline.clone()));
            let overdue: Vec<_> = overdue
                .into_iter()
                .map(|d| deadline_ctx(views, d, &d.what, today))
                .collect();
            let ctx = context! {
                workflow => context! { name => wf.name.clone(), title => wf.title.clone() },
                items => items,
                overdue => overdue,
                weeks => wf.window_days / 7,
                today => today.to_string(),
                recipient => recipient,
                dashboard_url => dashboard_url,
            };
            (ctx, None)
        }
    };
    let subject = r
        .render(&format!("subject:{}:{}", wf.name, wf.version), &ctx)?
        .trim()
        .replace(['\r', '\n'], " ");
    let text = r.render(&format!("{}.txt", wf.template), &ctx)?;
    let html_name = format!("{}.html", wf.template);
    let html = if r.has(&html_name) {
        Some(r.render(&html_name, &ctx)?)
    } else {
        None
    };
    Ok(RenderedMessage {
        subject,
        text,
        html,
        ics: ics_text,
    })
}

#[cfg(test)]
mod tests {
    use super::steps_phrase;

    #[test]
    fn steps_read_as_one_sentence() {
        assert_eq!(steps_phrase(&["Issue the agenda"]), "Issue the agenda");
        assert_eq!(
            steps_phrase(&["Notify parties", "Issue the agenda"]),
            "Notify parties and issue the agenda"
        );
        assert_eq!(
            steps_phrase(&["Notify parties", "UNEP posts the note", "Issue the agenda"]),
            "Notify parties, UNEP posts the note, and issue the agenda"
        );
    }
}
