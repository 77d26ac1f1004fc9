//! `accord show`: the read models as tables, JSON or CSV, on both time axes.

use anyhow::Result;
use chrono::{DateTime, NaiveDate, Utc};

use crate::listing::{self, What};
use crate::projections::{self, Query};
use crate::render::Format;
use crate::store::EventStore;

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    #[arg(value_enum)]
    pub what: What,
    /// One item, in full: `accord show meeting mc-cop-4` (its sessions and segments, moves,
    /// decisions, documents, deadlines, reminders and trail), likewise a decision, a group or a
    /// report.
    pub id: Option<String>,
    /// What had happened by this domain date (YYYY-MM-DD), by each event's `occurred`.
    /// An approximate date counts once its whole window has passed.
    #[arg(long, value_name = "DATE", value_parser = parse_as_of)]
    pub as_of: Option<NaiveDate>,
    /// What the log held at this recording instant (RFC 3339 such as 2021-04-01T00:00:00Z, or a day: its start, UTC).
    #[arg(long, value_name = "INSTANT", value_parser = parse_known_at)]
    pub known_at: Option<DateTime<Utc>>,
    /// Only rows of this governing body (MC, BC, RC, SC, BRS, UNEA, ICCM, HUB).
    #[arg(long)]
    pub body: Option<String>,
    /// Only rows with this status, as the listing shows it.
    #[arg(long)]
    pub status: Option<String>,
    /// Only rows whose date (meeting dates, adoption, drafting, …) ends on or after this day.
    #[arg(long, value_name = "DATE", value_parser = parse_as_of)]
    pub from: Option<NaiveDate>,
    /// Only rows whose date starts on or before this day.
    #[arg(long, value_name = "DATE", value_parser = parse_as_of)]
    pub to: Option<NaiveDate>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn parse_as_of(s: &str) -> Result<NaiveDate, String> {
    crate::domain::parse_day(s).map_err(|e| e.to_string())
}

/// An instant option: RFC 3339, a UTC time without a zone, or a day (its start, UTC).
pub fn parse_known_at(s: &str) -> Result<DateTime<Utc>, String> {
    crate::domain::parse_instant(s)
}

pub fn run(store: &dyn EventStore, args: &ShowArgs) -> Result<u8> {
    let q = Query {
        as_of: args.as_of,
        known_at: args.known_at,
        ..Query::default()
    };
    let filter = listing::Filter {
        body: args.body.clone(),
        status: args.status.clone(),
        from: args.from,
        to: args.to,
        on: args.as_of,
    };
    let mut views = projections::views(store, &q)?.views;
    if let Some(id) = &args.id {
        return detail(store, &views, args.what, id);
    }
    let (table, values) = if args.what == What::Timeline {
        let mut entries = projections::timeline::timeline(store, &q)?;
        listing::filter_timeline(&views, &mut entries, &filter).map_err(super::BadInput)?;
        listing::timeline_rows(&entries)
    } else {
        listing::filter_views(&mut views, listing::path_name(args.what), &filter)
            .map_err(super::BadInput)?;
        listing::rows(&views, args.what)
    };
    super::emit(table, values, args.format)
}

/// One item in full, table by table, as its dashboard page shows it.
fn detail(store: &dyn EventStore, views: &projections::Views, what: What, id: &str) -> Result<u8> {
    use crate::api::pages as p;
    use crate::api::tokens::Role;
    let (name, build): (&str, p::Build) = match what {
        What::Meetings => ("meeting", p::meeting_sections),
        What::Decisions => ("decision", p::decision_sections),
        What::Groups => ("group", p::group_sections),
        What::Reports => ("report", p::report_sections),
        other => {
            return Err(super::BadInput(format!(
                "one item is shown for a meeting, a decision, a group or a report, not `{}`",
                listing::path_name(other)
            ))
            .into())
        }
    };
    // Whoever holds the store reads it all, recipients included.
    let detail: Option<p::Detail> = build(store, views, Role::Admin, id)?;
    let Some((title, tables)) = detail else {
        return Err(super::BadInput(format!("no {name} `{id}` in the log")).into());
    };
    let text = |v: &minijinja::Value| match v.get_attr("text") {
        Ok(t) if !t.is_undefined() => t.to_string(),
        _ => v.to_string(),
    };
    let mut out = format!("{}\n", crate::render::printable(&title));
    for t in tables.into_iter().flatten() {
        let headers: Vec<String> = t
            .get_attr("headers")
            .ok()
            .and_then(|h| {
                h.try_iter()
                    .ok()
                    .map(|i| i.map(|v| v.to_string()).collect())
            })
            .unwrap_or_default();
        let heading = t
            .get_attr("title")
            .map(|v| v.to_string())
            .unwrap_or_default();
        let mut table = crate::render::Table::owned(&headers);
        if let Ok(rows) = t.get_attr("rows").and_then(|r| r.try_iter()) {
            for row in rows {
                let cells: Vec<String> = row
                    .try_iter()
                    .map(|c| c.map(|v| text(&v)).collect())
                    .unwrap_or_default();
                table.push(cells);
            }
        }
        if !heading.is_empty() && heading != "none" {
            out.push_str(&format!("\n{}\n", heading.to_uppercase()));
        } else {
            out.push('\n');
        }
        out.push_str(&table.to_text(crate::render::width()));
    }
    print!("{out}");
    Ok(0)
}
