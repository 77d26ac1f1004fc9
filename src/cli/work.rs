//! `accord deadlines`, `reminders`, `tick`, `serve` and `workflows check`: the workflow engine
//! on the command line.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, NaiveDate, Utc};

use super::BadInput;
use crate::config::Config;
use crate::listing;
use crate::notify::{Contacts, Mailer, Renderer, Sender};
use crate::projections::{self, Query};
use crate::render::Format;
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
    let from = parse(&config.smtp.sender, "sender")?;
    let message_id_domain = match &config.smtp.message_id_domain {
        Some(d)
            if !d.is_empty()
                && d.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-')) =>
        {
            d.clone()
        }
        Some(d) => {
            return Err(BadInput(format!(
            "[smtp] message_id_domain: `{d}` is not a domain name (letters, digits, `.` and `-`)"
        ))
            .into())
        }
        None => from.email.domain().to_string(),
    };
    let sender = Sender {
        message_id_domain,
        from,
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
        quiet: Default::default(),
        own_after: 0,
    })
}

pub(super) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")
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
            ..Query::default()
        },
    )?
    .views;
    let contacts = Contacts::load(&config.workflows.contacts).map_err(BadInput)?;
    let (t, mut js) = listing::deadlines(&views, day, within);
    for v in &mut js {
        let ids: Vec<String> = serde_json::from_value(v["responsible"].clone()).unwrap_or_default();
        v["responsible_names"] = who(&contacts, &ids).into();
    }
    if views.work.deadlines.is_empty() {
        // Deadlines are derived by the scheduler and recorded when it ticks.
        eprintln!(
            "accord: no deadlines derived yet: the scheduler records them when it runs; run `accord tick` (or `accord serve`)"
        );
    }
    super::emit(t, js, format)
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
    match to.filter(|t| *t > now) {
        // A window reaching into the future: the scheduler's real ticks, on a scratch copy.
        Some(to) => {
            let at = from.unwrap_or(now).max(now);
            let (views, would) = super::simulate::dry_run(store, config, at, to)?;
            let (t, js) = listing::reminders(&views, from, Some(to), Some(&would));
            super::emit(t, js, format)
        }
        None => {
            let views = projections::views(store, &Query::default())?.views;
            let (t, js) = listing::reminders(&views, from, to, None);
            super::emit(t, js, format)
        }
    }
}

fn print_report(now: DateTime<Utc>, r: &scheduler::TickReport) {
    println!(
        "tick at {}: recorded {} events, sent {}, failed {}, skipped {}{}{}",
        now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        r.recorded,
        r.sent.len(),
        r.failed.len(),
        r.skipped,
        if r.deferred > 0 {
            format!(
                ", deferred {} (the mail server is out of reach)",
                r.deferred
            )
        } else {
            String::new()
        },
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
    // A due send that could not be made is the operator's business: exit 3 (README, exit codes).
    let unsent = report.failed.len() + report.deferred;
    if unsent > 0 {
        eprintln!(
            "accord: {unsent} due send{} could not be made ({} failed, {} deferred: the mail server was out of reach); `accord reminders` lists them, and the next tick retries the deferred",
            if unsent == 1 { "" } else { "s" },
            report.failed.len(),
            report.deferred
        );
        return Ok(3);
    }
    Ok(0)
}

/// `accord serve`: the HTTP API and the scheduler over one store, until SIGINT or SIGTERM;
/// in-flight requests and sends finish before it exits 0.
pub fn serve(
    store: std::sync::Arc<dyn EventStore>,
    config: &Config,
    data: &Path,
    listen: Option<String>,
) -> Result<u8> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    let _inside = rt.enter();
    let tls = match (&config.server.tls_cert, &config.server.tls_key) {
        (Some(cert), Some(key)) => Some(crate::api::tls::acceptor(cert, key).map_err(BadInput)?),
        (None, None) => None,
        _ => {
            return Err(BadInput(
                "[server] tls_cert and tls_key go together: give both files, or neither".into(),
            )
            .into())
        }
    };
    let engine = engine(config, data)?;
    // Other accord commands use a sled store through this process while it holds the store.
    let _socket = match crate::store::Location::from_config(config) {
        crate::store::Location::Sled(dir) => match crate::store::remote::serve(store.clone(), &dir)
        {
            Ok(s) => Some(s),
            Err(e) => {
                let path = dir.join(crate::store::remote::SOCKET);
                eprintln!(
                    "accord: warning: cannot open {}: {e}; other commands cannot use the store while this runs",
                    path.display()
                );
                None
            }
        },
        _ => None,
    };
    let addr = listen.unwrap_or_else(|| config.server.listen.clone());
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .map_err(|e| BadInput(format!("cannot listen on {addr}: {e}")))?;
        eprintln!(
            "accord: listening on {}://{}; emails go to {}",
            if tls.is_some() { "https" } else { "http" },
            listener.local_addr()?,
            engine.mailer.describe()
        );
        let signalled = shutdown_signal().context("failed to install the signal handlers")?;
        tokio::pin!(signalled);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut state = crate::api::AppState::new(store.clone(), data.to_path_buf());
        state.public_calendar = config.server.public_calendar;
        state.https = tls.is_some() || config.server.public_url.starts_with("https://");
        state.trusted_proxies = config.server.trusted_proxies.clone();
        state.public_url = config.server.public_url.clone();
        let chain = state.chain.clone();
        let app = crate::api::router(state)
            .into_make_service_with_connect_info::<crate::api::tls::Peer>();
        let mut http_stop = stop_rx.clone();
        let http = match tls {
            Some(acceptor) => {
                let listener = crate::api::tls::TlsListener::new(listener, acceptor)?;
                tokio::spawn(async move {
                    axum::serve(listener, app)
                        .with_graceful_shutdown(async move {
                            let _ = http_stop.wait_for(|s| *s).await;
                        })
                        .await
                })
            }
            None => tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = http_stop.wait_for(|s| *s).await;
                    })
                    .await
            }),
        };
        // The whole chain is checked while the server already answers (`open` checked only
        // its end); the scheduler, which acts on the log, starts once it verifies, and a log
        // that does not verify stops the server.
        // A thread of its own, not the runtime's: a shutdown does not wait for the check.
        let (done, verifying) = tokio::sync::oneshot::channel();
        {
            let store = store.clone();
            std::thread::spawn(move || {
                let _ = done.send(crate::verify::verify_store(&*store, &mut |_| {}));
            });
        }
        let report = tokio::select! {
            r = verifying => r.context("the chain check stopped")?,
            _ = &mut signalled => {
                eprintln!("accord: shutting down");
                let _ = stop_tx.send(true);
                let _ = drain(http).await;
                checkpoint(&*store);
                return Ok(0);
            }
        };
        if let Some(bad) = &report.first_bad {
            let _ = stop_tx.send(true);
            let _ = drain(http).await;
            return Err(super::CheckFailed(format!(
                "not serving: the store is corrupt at seq {}: {} ({} records before it verify; \
                 `accord export --intact-prefix` rescues them)",
                bad.seq, bad.reason, report.records
            ))
            .into());
        }
        // The trail's chain status starts from this whole-chain check.
        chain.seed(report.last_seq, &report.last_hash);
        // Then the whole current state is loaded in the background; requests meanwhile fold
        // only the views they ask for.
        {
            let store = store.clone();
            std::thread::spawn(move || {
                if let Err(e) = crate::projections::current(&*store) {
                    tracing::warn!("the current views could not be loaded: {e}");
                }
            });
        }
        let scheduler = scheduler_loop(&engine, &*store, stop_rx);
        tokio::pin!(scheduler);
        let broken = watch_broken(&*store);
        tokio::pin!(broken);
        tokio::select! {
            r = &mut scheduler => r?,
            _ = &mut signalled => {
                eprintln!("accord: shutting down");
                let _ = stop_tx.send(true);
                scheduler.await?;
            }
            _ = &mut broken => {
                let _ = stop_tx.send(true);
                scheduler.await?;
            }
        }
        let failed = store.broken();
        if let Some(why) = &failed {
            eprintln!(
                "accord: shutting down: the store cannot write any more ({why}); nothing \
                 acknowledged is lost: start accord again once the cause is fixed"
            );
        }
        let _ = stop_tx.send(true);
        drain(http)
            .await
            .context("the HTTP server task failed")?
            .context("the HTTP server failed")?;
        if let Some(why) = failed {
            anyhow::bail!("the store failed: {why}");
        }
        checkpoint(&*store);
        Ok::<u8, anyhow::Error>(0)
    })
}

/// What a server leaves for the next process as it stops: its current views, if the stored
/// ones are behind (the next start folds nothing), and the life-cycle registry it kept (the
/// next append does not catch up with this run's records).
fn checkpoint(store: &dyn crate::store::EventStore) {
    if let Err(e) = crate::projections::checkpoint(store) {
        tracing::warn!("the current views could not be stored: {e}");
    }
    match store.checkpoint() {
        Ok(stored) => tracing::debug!(stored, "life-cycle registry checkpoint"),
        Err(e) => tracing::warn!("the life-cycle registry could not be stored: {e}"),
    }
}

/// Waits for the HTTP server to finish after it was told to stop: in-flight requests get 30
/// seconds (ACCORD_SHUTDOWN_GRACE_SECS); a client that never finishes its request does not
/// keep the process alive.
async fn drain<T: Default>(
    http: tokio::task::JoinHandle<std::io::Result<T>>,
) -> std::result::Result<std::io::Result<T>, tokio::task::JoinError> {
    let grace = std::env::var("ACCORD_SHUTDOWN_GRACE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    match tokio::time::timeout(std::time::Duration::from_secs(grace), http).await {
        Ok(joined) => joined,
        Err(_) => {
            eprintln!("accord: requests still open after {grace} s; closing them");
            Ok(Ok(T::default()))
        }
    }
}

/// Resolves once the store says it can no longer write.
async fn watch_broken(store: &dyn EventStore) {
    loop {
        if store.broken().is_some() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// How long the scheduler waits after a tick failed (the database unreachable) before the next.
const TICK_RETRY: std::time::Duration = std::time::Duration::from_secs(5);

/// How often a node without the scheduler lease asks for it.
const LEASE_POLL: std::time::Duration = std::time::Duration::from_secs(5);

/// Ticks when something is due, when events arrive, and at least every minute, until told to
/// stop; a tick under way finishes first. Only the holder of the scheduler lease ticks.
async fn scheduler_loop(
    engine: &Engine,
    store: &dyn EventStore,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<()> {
    let mut changes = store.subscribe();
    let mut leading = false;
    while !*stop.borrow() {
        // Only the node holding the lease ticks; the others ask again every few seconds, so
        // one takes over soon after the holder dies.
        let lease = store.hold_scheduler_lease();
        if lease.as_ref().is_ok_and(|held| *held) != leading {
            leading = !leading;
            if leading {
                tracing::info!("this node now runs the scheduler");
            } else {
                tracing::warn!("this node no longer runs the scheduler");
            }
        }
        if let Err(e) = &lease {
            tracing::warn!("cannot ask for the scheduler lease: {e}");
        }
        if !leading {
            tokio::select! {
                _ = tokio::time::sleep(LEASE_POLL) => {}
                _ = stop.changed() => {}
            }
            continue;
        }
        let now = Utc::now();
        let report = match engine.tick(store, now).await {
            Ok(r) => r,
            // A store that recovers by itself (a database restarting): try again soon; one
            // that cannot (`broken`) stops the server, which says why (see `serve`).
            Err(_) if store.broken().is_some() => return Ok(()),
            Err(e) => {
                tracing::warn!("the scheduler's tick failed ({e:#}); retrying in {TICK_RETRY:?}");
                tokio::select! {
                    _ = tokio::time::sleep(TICK_RETRY) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
        };
        if report.recorded > 0 || !report.sent.is_empty() || !report.failed.is_empty() {
            print_report(now, &report);
        }
        changes.borrow_and_update();
        let wake = report
            .next_wakeup
            .map(|t| (t - Utc::now()).to_std().unwrap_or_default())
            .unwrap_or(std::time::Duration::from_secs(60))
            .min(std::time::Duration::from_secs(60));
        tokio::select! {
            _ = tokio::time::sleep(wake) => {}
            _ = changes.changed() => {}
            _ = stop.changed() => {}
        }
    }
    Ok(())
}

/// Waits for SIGINT or SIGTERM. The handlers are installed when this is called, not when it
/// is first polled, so a signal during start-up is not lost to the default action.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
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

/// `accord token add|list|revoke`.
pub fn token(data: &Path, cmd: super::TokenCommand) -> Result<u8> {
    use crate::api::tokens::Tokens;
    let mut tokens = Tokens::load(data).map_err(BadInput)?;
    match cmd {
        super::TokenCommand::Add { name, role } => {
            let token = tokens.add(&name, role).map_err(BadInput)?;
            eprintln!("accord: token `{name}` ({role:?}) made; it is shown once, keep it now:");
            println!("{token}");
        }
        super::TokenCommand::List => {
            if tokens.entries.is_empty() {
                return Err(super::CheckFailed("no tokens".into()).into());
            }
            for e in &tokens.entries {
                println!("{}  {:?}  made {}", e.name, e.role, e.created_at);
            }
        }
        super::TokenCommand::Revoke { name } => {
            tokens.revoke(&name).map_err(BadInput)?;
            println!("revoked {name}");
        }
    }
    Ok(0)
}
