//! `accord deadlines`, `reminders`, `tick`, `serve` and `workflows check`: the workflow engine
//! on the command line.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, NaiveDate, Utc};

use super::BadInput;
use crate::config::Config;
use crate::domain::ApproxDate;
use crate::envelope::Envelope;
use crate::notify::{Contacts, Mailer, Renderer, Sender};
use crate::projections::work::{DeadlineStatus, ReminderStatus};
use crate::projections::{self, Query, Views};
use crate::render::{Format, Table};
use crate::scheduler::{self, Engine};
use crate::store::EventStore;
use crate::workflows::Definitions;

/// Loads and checks the workflow definitions and their templates.
pub fn definitions(dir: &Path) -> Result<(Definitions, Renderer)> {
    let defs = Definitions::load(dir).map_err(|e| BadInput(e.to_string()))?;
    let renderer = Renderer::new(&defs).map_err(BadInput)?;
    Ok((defs, renderer))
}

/// Everything a tick needs, from the configuration.
pub fn engine(config: &Config, data: &Path) -> Result<Engine> {
    let (defs, renderer) = definitions(&config.workflows.dir)?;
    let contacts = Contacts::load(&config.workflows.contacts).map_err(BadInput)?;
    let url = std::env::var("ACCORD_SMTP_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .map(crate::config::Secret::new)
        .or(config.smtp.url.clone());
    let timeout = std::time::Duration::from_secs(config.smtp.timeout_secs);
    let mailer = match url {
        Some(u) => {
            Mailer::smtp(u.expose(), timeout, config.smtp.ca_file.as_deref()).map_err(BadInput)?
        }
        None => Mailer::Outbox(data.join("outbox")),
    };
    let parse = |s: &str, what: &str| -> Result<lettre::message::Mailbox> {
        s.parse()
            .map_err(|e| BadInput(format!("[smtp] {what}: `{s}` is not a mailbox: {e}")).into())
    };
    let sender = Sender {
        from: parse(&config.smtp.sender, "sender")?,
        reply_to: config
            .smtp
            .reply_to
            .as_deref()
            .map(|r| parse(r, "reply_to"))
            .transpose()?,
    };
    Ok(Engine {
        fault: scheduler::Fault::from_env(),
        defs,
        renderer,
        contacts,
        mailer,
        sender,
        dashboard_url: config.server.public_url.clone(),
    })
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")
}

/// Parses a span such as `90d` or `8w`.
pub fn parse_span(s: &str) -> Result<i64, String> {
    match s.parse::<crate::workflows::definition::Offset>() {
        Ok(crate::workflows::definition::Offset::Days(d)) if d >= 0 => Ok(d),
        _ => Err(format!("`{s}` is not a span such as 90d or 8w")),
    }
}

fn who(contacts: &Contacts, ids: &[String]) -> String {
    ids.iter()
        .map(|id| match contacts.0.get(id) {
            Some(c) => format!("{id} ({})", c.name),
            None => id.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `accord deadlines`.
pub fn deadlines(
    store: &dyn EventStore,
    config: &Config,
    within: Option<i64>,
    as_of: Option<NaiveDate>,
    format: Format,
) -> Result<u8> {
    let day = as_of.unwrap_or_else(|| Utc::now().date_naive());
    let views = projections::views(
        store,
        &Query {
            as_of,
            known_at: None,
        },
    )?
    .views;
    let contacts = Contacts::load(&config.workflows.contacts).map_err(BadInput)?;
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
        let status = match d.status {
            DeadlineStatus::Open if d.tentative => "tentative",
            DeadlineStatus::Open if d.due.0 < day => "missed",
            DeadlineStatus::Open => "open",
            DeadlineStatus::Met => "met",
            DeadlineStatus::Missed => "missed",
            DeadlineStatus::Cancelled => "cancelled",
        };
        t.push(vec![
            d.due.to_string(),
            status.to_string(),
            d.deadline.clone(),
            d.responsible.join(", "),
            d.what.clone(),
        ]);
        let mut v = serde_json::to_value(d)?;
        v["status"] = status.into();
        v["responsible_names"] = who(&contacts, &d.responsible).into();
        js.push(v);
    }
    super::emit(t, js, format)
}

fn simulate(views: &mut Views, events: Vec<crate::domain::DomainEvent>, now: DateTime<Utc>) {
    for e in events {
        let env = Envelope {
            seq: u64::MAX,
            id: String::new(),
            recorded_at: String::new(),
            ty: e.type_name().to_string(),
            version: 1,
            stream: e.stream(),
            position: 0,
            occurred: ApproxDate::Day(now.date_naive()),
            actor: scheduler::tick::ACTOR.to_string(),
            correlation_id: None,
            causation_id: None,
            data: serde_json::Value::Null,
            prev_hash: String::new(),
            hash: String::new(),
        };
        views.apply(&env, &e);
    }
}

/// `accord reminders`: recorded reminders; a window in the future is a dry run of what the
/// scheduler would send in it.
pub fn reminders(
    store: &dyn EventStore,
    config: &Config,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    format: Format,
) -> Result<u8> {
    let now = Utc::now();
    let mut views = projections::views(store, &Query::default())?.views;
    let dry = to.is_some_and(|t| t > now);
    if dry {
        let (defs, _) = definitions(&config.workflows.dir)?;
        let at = from.unwrap_or(now).max(now);
        let events = scheduler::reconcile(&views, &defs, at);
        simulate(&mut views, events, at);
    }
    let mut rows: Vec<_> = views
        .work
        .reminders
        .values()
        .filter(|r| from.is_none_or(|f| r.fire_at.0 >= f) && to.is_none_or(|t| r.fire_at.0 <= t))
        .collect();
    rows.sort_by_key(|r| (r.fire_at, r.reminder.clone()));
    let mut t = Table::new(&["FIRE AT (UTC)", "STATUS", "TO", "DEADLINE", "NOTE"]);
    let mut js = Vec::new();
    for r in rows {
        let status = match r.status {
            ReminderStatus::Scheduled if dry => "would send",
            s => match s {
                ReminderStatus::Scheduled => "scheduled",
                ReminderStatus::Attempted => "attempted",
                ReminderStatus::Sent => "sent",
                ReminderStatus::Retrying => "retrying",
                ReminderStatus::Failed => "failed",
                ReminderStatus::Cancelled => "cancelled",
                ReminderStatus::Skipped => "skipped",
            },
        };
        let note = match (&r.rendered, &r.reason) {
            (Some(m), None) if m.late => "late".to_string(),
            (_, Some(reason)) => reason.clone(),
            _ => String::new(),
        };
        t.push(vec![
            r.fire_at.0.format("%Y-%m-%d %H:%M").to_string(),
            status.to_string(),
            r.recipient.clone(),
            r.deadline.clone().unwrap_or_else(|| "(digest)".to_string()),
            note,
        ]);
        let mut v = serde_json::to_value(r)?;
        v["status"] = status.into();
        if let Some(o) = v.as_object_mut() {
            o.remove("rendered");
        }
        js.push(v);
    }
    super::emit(t, js, format)
}

fn print_report(now: DateTime<Utc>, r: &scheduler::TickReport) {
    println!(
        "tick at {}: recorded {} events, sent {}, failed {}, skipped {}{}",
        now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        r.recorded,
        r.sent.len(),
        r.failed.len(),
        r.skipped,
        r.next_wakeup
            .map(|t| format!(
                "; next due {}",
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ))
            .unwrap_or_default()
    );
    for id in &r.sent {
        println!("sent {id}");
    }
    for id in &r.failed {
        println!("failed {id}");
    }
}

/// `accord tick --now T`.
pub fn tick(
    store: &dyn EventStore,
    config: &Config,
    data: &Path,
    now: Option<DateTime<Utc>>,
) -> Result<u8> {
    let rt = runtime()?;
    let _inside = rt.enter();
    let engine = engine(config, data)?;
    let now = now.unwrap_or_else(Utc::now);
    let report = rt.block_on(engine.tick(store, now))?;
    print_report(now, &report);
    Ok(0)
}

/// `accord serve`: the scheduler loop until SIGINT or SIGTERM.
pub fn serve(store: &dyn EventStore, config: &Config, data: &Path) -> Result<u8> {
    let rt = runtime()?;
    let _inside = rt.enter();
    let engine = engine(config, data)?;
    eprintln!(
        "accord: scheduler running; emails go to {}",
        engine.mailer.describe()
    );
    rt.block_on(async {
        let mut changes = store.subscribe();
        let shutdown = shutdown_signal();
        tokio::pin!(shutdown);
        loop {
            let now = Utc::now();
            let report = engine.tick(store, now).await?;
            if report.recorded > 0 || !report.sent.is_empty() || !report.failed.is_empty() {
                print_report(now, &report);
            }
            changes.borrow_and_update();
            // Wake when something is due, when events arrive, and at least every minute.
            let wake = report
                .next_wakeup
                .map(|t| (t - Utc::now()).to_std().unwrap_or_default())
                .unwrap_or(std::time::Duration::from_secs(60))
                .min(std::time::Duration::from_secs(60));
            tokio::select! {
                _ = tokio::time::sleep(wake) => {}
                _ = changes.changed() => {}
                _ = &mut shutdown => {
                    eprintln!("accord: shutting down");
                    return Ok::<u8, anyhow::Error>(0);
                }
            }
        }
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler can be installed");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// `accord workflows check [DIR]`.
pub fn check(dir: Option<PathBuf>, config: &Config) -> Result<u8> {
    let dir = dir.unwrap_or_else(|| config.workflows.dir.clone());
    let (defs, _) = definitions(&dir)?;
    for versions in defs.by_name.values() {
        for wf in versions.values() {
            println!(
                "ok {} v{} ({}): {}",
                wf.name,
                wf.version,
                wf.file.display(),
                wf.title
            );
        }
    }
    Contacts::load(&config.workflows.contacts).map_err(BadInput)?;
    Ok(0)
}
