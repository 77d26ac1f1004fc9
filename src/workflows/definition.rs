//! Workflow definitions: the TOML files in `workflows/`, parsed and checked whole.
//!
//! A bad file stops start-up with a message naming the file, the line and the problem: unknown
//! fields, bad offsets, bad time zones, bad cron expressions, unknown roles or templates.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::NaiveTime;
use serde::Deserialize;
use toml::Spanned;

use crate::domain::{Body, DocumentKind, MeetingKind};

/// What a workflow follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum On {
    /// Each meeting, or each segment of a split meeting.
    Session,
    /// Each mandate that must report at a named meeting.
    Mandate,
    /// A calendar rule: every N years, due on a fixed day.
    Cycle,
    /// A cron job sending each responsible person a digest.
    Digest,
}

/// The date in the subject that a deadline is counted from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    Start,
    End,
}

/// A signed calendar offset: days, weeks or months.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offset {
    Days(i64),
    Months(i32),
}

impl Offset {
    pub fn apply(self, d: chrono::NaiveDate) -> chrono::NaiveDate {
        match self {
            Offset::Days(n) => d + chrono::Duration::days(n),
            Offset::Months(n) if n >= 0 => d
                .checked_add_months(chrono::Months::new(n as u32))
                .unwrap_or(d),
            Offset::Months(n) => d
                .checked_sub_months(chrono::Months::new(n.unsigned_abs()))
                .unwrap_or(d),
        }
    }
}

impl FromStr for Offset {
    type Err = String;

    /// `-10w`, `-6w`, `-2mo`, `28d`, `+3d`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{s}` is not an offset: write a signed number and a unit d, w or mo, such as -6w"
            )
        };
        let (sign, rest) = match s.strip_prefix('-') {
            Some(r) => (-1, r),
            None => (1, s.strip_prefix('+').unwrap_or(s)),
        };
        let (num, unit) = rest
            .find(|c: char| !c.is_ascii_digit())
            .map(|i| rest.split_at(i))
            .ok_or_else(bad)?;
        let n: i64 = num.parse().map_err(|_| bad())?;
        if n > 3660 {
            return Err(format!("`{s}` is too large an offset"));
        }
        match unit {
            "d" => Ok(Offset::Days(sign * n)),
            "w" => Ok(Offset::Days(sign * 7 * n)),
            "mo" => Ok(Offset::Months((sign * n) as i32)),
            _ => Err(bad()),
        }
    }
}

/// Parses a span such as `90d` or `8w` into days.
pub fn parse_span(s: &str) -> Result<i64, String> {
    match s.parse::<Offset>() {
        Ok(Offset::Days(d)) if d >= 0 => Ok(d),
        _ => Err(format!("`{s}` is not a span such as 90d or 8w")),
    }
}

/// Who is responsible for a deadline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// The secretariat of the meeting's (or the cycle's) body.
    Secretariat,
    /// The addressee of the mandate.
    Addressee,
    /// The co-chairs of a group.
    CoChairs(String),
    /// The lead officers of a group.
    LeadOfficers(String),
    /// One contact by id.
    Contact(String),
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            None if s == "secretariat" => Ok(Role::Secretariat),
            None if s == "addressee" => Ok(Role::Addressee),
            Some(("co_chairs", g)) if !g.is_empty() => Ok(Role::CoChairs(g.to_string())),
            Some(("lead_officers", g)) if !g.is_empty() => Ok(Role::LeadOfficers(g.to_string())),
            Some(("contact", c)) if !c.is_empty() => Ok(Role::Contact(c.to_string())),
            _ => Err(format!(
                "unknown role `{s}`: expected secretariat, addressee, co_chairs:GROUP, \
                 lead_officers:GROUP or contact:ID"
            )),
        }
    }
}

/// What meets a deadline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetBy {
    /// A report submitted to the meeting (or segment).
    ReportSubmitted,
    /// A document of this kind posted for the meeting (or segment).
    Document(DocumentKind),
    /// The mandate reported on (or implemented).
    MandateReported,
}

impl FromStr for MetBy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "report_submitted" => Ok(MetBy::ReportSubmitted),
            "mandate_reported" => Ok(MetBy::MandateReported),
            other => other
                .strip_prefix("document:")
                .and_then(|k| serde_json::from_value(serde_json::Value::String(k.to_string())).ok())
                .map(MetBy::Document)
                .ok_or_else(|| {
                    format!(
                        "unknown met_by `{s}`: expected report_submitted, mandate_reported or \
                         document:KIND (provisional_agenda, notice_of_dates, pre_session, …)"
                    )
                }),
        }
    }
}

#[derive(Clone, Debug)]
pub struct DeadlineDef {
    pub step: String,
    pub what: String,
    pub anchor: Anchor,
    pub offset: Offset,
    pub responsible: Vec<Role>,
    pub met_by: Vec<MetBy>,
}

#[derive(Clone, Debug)]
pub struct Cycle {
    pub every_years: i32,
    pub first: i32,
    pub month: u32,
    pub day: u32,
    pub body: Body,
    /// The kind of national report the cycle asks for (`full`, `short`, `annual`); any kind
    /// when not given.
    pub report: Option<crate::domain::NationalReportKind>,
}

/// One parsed, checked workflow definition.
#[derive(Clone, Debug)]
pub struct Workflow {
    pub file: PathBuf,
    pub name: String,
    pub version: u32,
    pub title: String,
    pub on: On,
    pub bodies: Vec<Body>,
    pub kinds: Vec<MeetingKind>,
    /// Reminders of tentative deadlines wait until the dates are confirmed.
    pub hold_tentative: bool,
    pub timezone: chrono_tz::Tz,
    pub subject: String,
    pub template: String,
    /// Days before the deadline at which to remind.
    pub remind_before: Vec<i64>,
    pub remind_at: NaiveTime,
    pub deadlines: Vec<DeadlineDef>,
    pub cycle: Option<Cycle>,
    pub cron: Option<cron::Schedule>,
    /// A digest lists what is due within this many days.
    pub window_days: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkflow {
    name: Spanned<String>,
    version: u32,
    title: String,
    on: Spanned<String>,
    #[serde(default)]
    bodies: Vec<Spanned<String>>,
    #[serde(default)]
    kinds: Vec<Spanned<String>>,
    #[serde(default)]
    tentative: Option<Spanned<String>>,
    timezone: Spanned<String>,
    subject: Spanned<String>,
    template: Spanned<String>,
    #[serde(default)]
    reminders: Option<RawReminders>,
    #[serde(default, rename = "deadline")]
    deadlines: Vec<RawDeadline>,
    #[serde(default)]
    cycle: Option<RawCycle>,
    #[serde(default)]
    cron: Option<Spanned<String>>,
    #[serde(default)]
    window: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReminders {
    before: Vec<Spanned<String>>,
    at: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeadline {
    step: Spanned<String>,
    what: String,
    #[serde(default)]
    anchor: Option<Spanned<String>>,
    #[serde(default)]
    offset: Option<Spanned<String>>,
    responsible: Vec<Spanned<String>>,
    #[serde(default)]
    met_by: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCycle {
    every_years: i32,
    first: i32,
    due: Spanned<String>,
    body: Spanned<String>,
    #[serde(default)]
    report: Option<Spanned<String>>,
}

/// A refused workflow file: which, where and what.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{file}: line {line}: {message}")]
pub struct WorkflowError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

struct Ctx<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Ctx<'_> {
    fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        message: impl Into<String>,
    ) -> Result<T, WorkflowError> {
        Err(WorkflowError {
            file: self.file.display().to_string(),
            line: line_of(self.text, span.start),
            message: message.into(),
        })
    }

    fn parse<T: FromStr<Err = String>>(&self, v: &Spanned<String>) -> Result<T, WorkflowError> {
        v.get_ref().parse().or_else(|e| self.err(v.span(), e))
    }
}

fn slug_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 60
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Parses and checks one workflow file. `templates` is the templates folder.
pub fn parse(file: &Path, text: &str, templates: &Path) -> Result<Workflow, WorkflowError> {
    let cx = Ctx { file, text };
    let raw: RawWorkflow = toml::from_str(text).map_err(|e| WorkflowError {
        file: file.display().to_string(),
        line: e.span().map(|s| line_of(text, s.start)).unwrap_or(0),
        message: e.message().to_string(),
    })?;
    if !slug_ok(raw.name.get_ref()) {
        return cx.err(
            raw.name.span(),
            "name: use lowercase letters, digits, `-` and `_`",
        );
    }
    let on = match raw.on.get_ref().as_str() {
        "session" => On::Session,
        "mandate" => On::Mandate,
        "cycle" => On::Cycle,
        "digest" => On::Digest,
        other => {
            return cx.err(
                raw.on.span(),
                format!(
                    "on: unknown subject `{other}`: expected session, mandate, cycle or digest"
                ),
            )
        }
    };
    let bodies = raw
        .bodies
        .iter()
        .map(|b| {
            serde_json::from_value::<Body>(serde_json::Value::String(b.get_ref().clone()))
                .or_else(|_| cx.err(b.span(), format!("bodies: unknown body `{}`", b.get_ref())))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let kinds = raw
        .kinds
        .iter()
        .map(|k| {
            serde_json::from_value::<MeetingKind>(serde_json::Value::String(k.get_ref().clone()))
                .or_else(|_| {
                    cx.err(
                        k.span(),
                        format!("kinds: unknown meeting kind `{}`", k.get_ref()),
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let hold_tentative = match raw
        .tentative
        .as_ref()
        .map(|t| (t.get_ref().as_str(), t.span()))
    {
        None | Some(("hold", _)) => true,
        Some(("send", _)) => false,
        Some((other, span)) => {
            return cx.err(span, format!("tentative: `{other}`: expected hold or send"))
        }
    };
    let timezone: chrono_tz::Tz = raw.timezone.get_ref().parse().or_else(|_| {
        cx.err(
            raw.timezone.span(),
            format!(
                "timezone: unknown IANA time zone `{}`",
                raw.timezone.get_ref()
            ),
        )
    })?;
    let template = raw.template.get_ref().clone();
    if !slug_ok(&template) || !templates.join(format!("{template}.txt.j2")).is_file() {
        return cx.err(
            raw.template.span(),
            format!(
                "template: no template `{template}` ({} is missing)",
                templates.join(format!("{template}.txt.j2")).display()
            ),
        );
    }
    let mut env = minijinja::Environment::new();
    env.add_template("subject", raw.subject.get_ref())
        .or_else(|e| cx.err(raw.subject.span(), format!("subject: {e}")))?;
    let (remind_before, remind_at) = match &raw.reminders {
        None => (Vec::new(), NaiveTime::from_hms_opt(9, 0, 0).expect("valid")),
        Some(r) => {
            let mut days = Vec::new();
            for b in &r.before {
                match cx.parse::<Offset>(b)? {
                    Offset::Days(d) if d > 0 => days.push(d),
                    _ => {
                        return cx.err(
                            b.span(),
                            format!(
                                "reminders.before: `{}` must be a positive number of days or weeks",
                                b.get_ref()
                            ),
                        )
                    }
                }
            }
            let at = NaiveTime::parse_from_str(r.at.get_ref(), "%H:%M").or_else(|_| {
                cx.err(
                    r.at.span(),
                    format!("reminders.at: `{}` is not a time HH:MM", r.at.get_ref()),
                )
            })?;
            (days, at)
        }
    };
    let mut deadlines: Vec<DeadlineDef> = Vec::new();
    for d in &raw.deadlines {
        if deadlines.iter().any(|x| x.step == *d.step.get_ref()) {
            return cx.err(
                d.step.span(),
                format!("step `{}` is defined twice", d.step.get_ref()),
            );
        }
        if !slug_ok(d.step.get_ref()) {
            return cx.err(
                d.step.span(),
                "step: use lowercase letters, digits, `-` and `_`",
            );
        }
        let anchor = match d.anchor.as_ref().map(|a| (a.get_ref().as_str(), a.span())) {
            None | Some(("start", _)) => Anchor::Start,
            Some(("end", _)) => Anchor::End,
            Some((other, span)) => {
                return cx.err(span, format!("anchor: `{other}`: expected start or end"))
            }
        };
        let offset = match &d.offset {
            Some(o) => cx.parse::<Offset>(o)?,
            None => Offset::Days(0),
        };
        let responsible = d
            .responsible
            .iter()
            .map(|r| cx.parse::<Role>(r))
            .collect::<Result<Vec<_>, _>>()?;
        for (r, raw_r) in responsible.iter().zip(&d.responsible) {
            let fits = match r {
                Role::Secretariat => on != On::Mandate,
                Role::Addressee => on == On::Mandate,
                _ => true,
            };
            if !fits {
                return cx.err(
                    raw_r.span(),
                    format!(
                        "responsible: role `{}` does not apply to on = \"{}\"",
                        raw_r.get_ref(),
                        raw.on.get_ref()
                    ),
                );
            }
        }
        if responsible.is_empty() {
            return cx.err(d.step.span(), "responsible: name at least one role");
        }
        let met_by = d
            .met_by
            .iter()
            .map(|m| cx.parse::<MetBy>(m))
            .collect::<Result<Vec<_>, _>>()?;
        deadlines.push(DeadlineDef {
            step: d.step.get_ref().clone(),
            what: d.what.clone(),
            anchor,
            offset,
            responsible,
            met_by,
        });
    }
    let cycle = match &raw.cycle {
        None => None,
        Some(c) => {
            let (m, dd) = c
                .due
                .get_ref()
                .split_once('-')
                .and_then(|(m, d)| Some((m.parse::<u32>().ok()?, d.parse::<u32>().ok()?)))
                .filter(|(m, d)| chrono::NaiveDate::from_ymd_opt(2001, *m, *d).is_some())
                .map_or_else(
                    || {
                        cx.err(
                            c.due.span(),
                            format!("cycle.due: `{}` is not a day MM-DD", c.due.get_ref()),
                        )
                    },
                    Ok,
                )?;
            let body =
                serde_json::from_value::<Body>(serde_json::Value::String(c.body.get_ref().clone()))
                    .or_else(|_| {
                        cx.err(
                            c.body.span(),
                            format!("cycle.body: unknown body `{}`", c.body.get_ref()),
                        )
                    })?;
            if !(1..=20).contains(&c.every_years) {
                return cx.err(c.due.span(), "cycle.every_years must be from 1 to 20");
            }
            let report = match &c.report {
                None => None,
                Some(r) => Some(
                    serde_json::from_value(serde_json::Value::String(r.get_ref().clone()))
                        .or_else(|_| {
                            cx.err(
                                r.span(),
                                format!(
                                    "cycle.report: `{}` is not a report kind: full, short or annual",
                                    r.get_ref()
                                ),
                            )
                        })?,
                ),
            };
            Some(Cycle {
                every_years: c.every_years,
                first: c.first,
                month: m,
                day: dd,
                body,
                report,
            })
        }
    };
    let cron = match &raw.cron {
        None => None,
        Some(c) => {
            let schedule = cron::Schedule::from_str(c.get_ref()).or_else(|e| {
                cx.err(
                    c.span(),
                    format!("cron: `{}` is not a cron expression: {e}", c.get_ref()),
                )
            })?;
            if crate::scheduler::clock::min_gap(&schedule)
                .is_some_and(|g| g < chrono::Duration::hours(1))
            {
                return cx.err(
                    c.span(),
                    format!("cron: `{}` fires more often than hourly", c.get_ref()),
                );
            }
            Some(schedule)
        }
    };
    let window_days = match &raw.window {
        None => 56,
        Some(w) => match cx.parse::<Offset>(w)? {
            Offset::Days(d) if d > 0 => d,
            _ => return cx.err(w.span(), "window: a positive number of days or weeks"),
        },
    };
    let need = |ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            cx.err(raw.on.span(), what.to_string())
        }
    };
    match on {
        On::Session | On::Mandate => need(
            !deadlines.is_empty(),
            "this workflow needs at least one [[deadline]]",
        )?,
        On::Cycle => {
            need(cycle.is_some(), "on = \"cycle\" needs a [cycle] table")?;
            need(
                !deadlines.is_empty(),
                "this workflow needs at least one [[deadline]]",
            )?;
        }
        On::Digest => need(cron.is_some(), "on = \"digest\" needs a cron expression")?,
    }
    Ok(Workflow {
        file: file.to_path_buf(),
        name: raw.name.into_inner(),
        version: raw.version,
        title: raw.title,
        on,
        bodies,
        kinds,
        hold_tentative,
        timezone,
        subject: raw.subject.into_inner(),
        template,
        remind_before,
        remind_at,
        deadlines,
        cycle,
        cron,
        window_days,
    })
}

/// Every workflow definition, by name and version.
#[derive(Clone, Debug, Default)]
pub struct Definitions {
    pub by_name: BTreeMap<String, BTreeMap<u32, Workflow>>,
    pub templates: PathBuf,
}

impl Definitions {
    /// Loads `dir/*.toml` and `dir/archive/*.toml` (earlier versions kept for running
    /// instances); templates come from `dir/templates/`.
    pub fn load(dir: &Path) -> Result<Definitions, WorkflowError> {
        let templates = dir.join("templates");
        let mut defs = Definitions {
            by_name: BTreeMap::new(),
            templates: templates.clone(),
        };
        let io = |p: &Path, e: std::io::Error| WorkflowError {
            file: p.display().to_string(),
            line: 0,
            message: format!("cannot read: {e}"),
        };
        let mut files = Vec::new();
        for d in [dir.to_path_buf(), dir.join("archive")] {
            if !d.is_dir() {
                if d == dir {
                    return Err(io(
                        dir,
                        std::io::Error::new(std::io::ErrorKind::NotFound, "no such folder"),
                    ));
                }
                continue;
            }
            for entry in std::fs::read_dir(&d).map_err(|e| io(&d, e))? {
                let path = entry.map_err(|e| io(&d, e))?.path();
                if path.extension().is_some_and(|e| e == "toml") {
                    files.push(path);
                }
            }
        }
        files.sort();
        for path in files {
            let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
            let wf = parse(&path, &text, &templates)?;
            let versions = defs.by_name.entry(wf.name.clone()).or_default();
            if let Some(other) = versions.get(&wf.version) {
                return Err(WorkflowError {
                    file: path.display().to_string(),
                    line: 1,
                    message: format!(
                        "workflow `{}` version {} is also defined in {}",
                        wf.name,
                        wf.version,
                        other.file.display()
                    ),
                });
            }
            versions.insert(wf.version, wf);
        }
        Ok(defs)
    }

    /// The newest version of each workflow: what new instances start with.
    pub fn current(&self) -> impl Iterator<Item = &Workflow> {
        self.by_name.values().filter_map(|v| v.values().next_back())
    }

    pub fn get(&self, name: &str, version: u32) -> Option<&Workflow> {
        self.by_name.get(name)?.get(&version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets() {
        assert_eq!("-10w".parse::<Offset>(), Ok(Offset::Days(-70)));
        assert_eq!("28d".parse::<Offset>(), Ok(Offset::Days(28)));
        assert_eq!("-2mo".parse::<Offset>(), Ok(Offset::Months(-2)));
        for bad in ["", "-", "10", "w", "-1y", "1.5d", "--2d"] {
            assert!(bad.parse::<Offset>().is_err(), "{bad}");
        }
        let d = chrono::NaiveDate::from_ymd_opt(2021, 12, 31).unwrap();
        assert_eq!(
            Offset::Months(-2).apply(d),
            chrono::NaiveDate::from_ymd_opt(2021, 10, 31).unwrap()
        );
    }
}
