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
