//! The `accord` command line: parsing, and one function per command over the library.
//!
//! Exit codes are a contract: 0 success, 1 a check failed or nothing was found, 2 bad input
//! or usage (nothing written).

mod check;
mod record;
mod show;
mod simulate;
mod whole_log;
pub mod work;

use record::*;
use whole_log::*;

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::render::{Format, Table};
use crate::store::{EventStore, Location, StoreError};

/// Accord keeps the decisions, mandates, groups, reports and meetings of convention
/// secretariats as an append-only, hash-chained event log, and answers what is known and what
/// had happened at any date.
#[derive(Debug, Parser)]
#[command(
    name = "accord",
    version,
    about,
    long_about = None,
    max_term_width = 100,
    after_help = "Exit codes: 0 success, 1 a check failed or nothing was found, 2 bad input or \
                  usage (nothing written).\nREADME.md walks through the shipped history."
)]
pub struct Cli {
    /// Data directory holding the event log.
    #[arg(long, global = true, env = "ACCORD_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,

    /// Configuration file [default: config/accord.toml when present].
    #[arg(long, global = true, env = "ACCORD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Print table rows whole instead of fitting them to the terminal (piped output always is).
    #[arg(long, global = true)]
    pub wide: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Record events from JSON Lines files (or `-` for standard input), one batch per file.
    ///
    /// Each line is an object with `type`, `occurred`, `actor` and `data`, and optionally `id`,
    /// `stream`, `expected_position`, `version`, `correlation_id` and `causation_id`. A file is
    /// validated whole, then appended atomically: all of it or nothing. Events whose `id` is
    /// already recorded are reported as duplicates and skipped.
    Record {
        /// Files to record; none or `-` reads standard input.
        #[arg(value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Show a read model: meetings, decisions, mandates, groups, reports, activities,
    /// agreements or the timeline.
    Show(show::ShowArgs),
    /// The audit trail: recorded events in seq order.
    Log {
        /// Only this stream, such as `meeting/mc-cop-4`.
        #[arg(long)]
        stream: Option<String>,
        /// Only events of this type, such as `DecisionAdopted`.
        #[arg(long = "type", value_name = "TYPE")]
        ty: Option<String>,
        /// Start at this seq.
        #[arg(long, default_value_t = 1)]
        since: u64,
        /// `table` for people, `json` for the records as JSON Lines.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Write the records as JSON Lines, exactly as hashed, in seq order.
    Export {
        /// Start at this seq.
        #[arg(long, default_value_t = 1)]
        since: u64,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Rescue a damaged store: write every record from seq 1 up to the last one that
        /// reads and chains correctly, say on standard error where it stopped and why, and
        /// exit 1 if it stopped before the end of the log (`accord import` loads the file into
        /// a new store).
        #[arg(long, conflicts_with = "since")]
        intact_prefix: bool,
    },
    /// Verify the hash chain of the store, or of an export file.
    Verify {
        /// An export file to verify instead of the store.
        #[arg(long)]
        file: Option<PathBuf>,
        /// The file is a partial export (`export --since`): trust where its first record says
        /// the chain stands instead of requiring it to start at seq 1.
        #[arg(long, requires = "file")]
        partial: bool,
    },
    /// Rebuild every projection from the log.
    Replay,
    /// Check the records of the log against the rules new records are held to (references
    /// that exist, life cycles kept): a log recorded before them may break them. Each record
    /// that does is reported as a warning; nothing is rewritten. Exit 1 when there are any.
    Check,
    /// Load an export from another store, keeping seq, recorded_at and hashes.
    Import {
        file: PathBuf,
        /// Import the records before the first bad one instead of refusing the file.
        #[arg(long)]
        intact_prefix: bool,
        /// Accept records recorded after this machine's clock (more than 5 minutes ahead): an
        /// export from a store whose clock ran ahead and was set back.
        #[arg(long)]
        accept_future: bool,
    },
    /// Copy every record of this store into another store, keeping seq, recorded_at and
    /// hashes: sled to PostgreSQL or back.
    ///
    /// The target must be empty or hold a prefix of this store (a copy that stopped part way
    /// resumes where it stopped). Both verify afterwards (`accord verify`).
    Migrate {
        /// The target: a `postgres://` URL or a sled data directory.
        #[arg(long, value_name = "URL_OR_DIR")]
        to: String,
    },
    /// Deadlines derived by the workflows, with status (open, met, missed, tentative,
    /// cancelled) and who is responsible.
    Deadlines {
        /// Only deadlines due within this span from the day (such as 90d or 8w).
        #[arg(long, value_parser = crate::workflows::definition::parse_span)]
        within: Option<i64>,
        /// The day to judge from (and to fold the log as of) [default: today].
        #[arg(long, value_name = "DATE", value_parser = show::parse_as_of)]
        as_of: Option<chrono::NaiveDate>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Reminders: scheduled, sent, failed, skipped. A window reaching into the future is a dry
    /// run: it also lists what the scheduler would schedule and send in it.
    Reminders {
        /// From this instant (RFC 3339, or a day: its start, UTC).
        #[arg(long, value_parser = show::parse_known_at)]
        from: Option<chrono::DateTime<chrono::Utc>>,
        /// Up to this instant (RFC 3339, or a day: its start, UTC).
        #[arg(long, value_parser = show::parse_known_at)]
        to: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Run everything due at an instant (deadlines, reminders, digests), then exit.
    Tick {
        /// The instant to run at (RFC 3339, or a day: its start, UTC) [default: now].
        #[arg(long, value_parser = show::parse_known_at)]
        now: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Run the scheduler over a past period on a scratch copy of the log, sending nothing:
    /// which reminders would have gone out when, and which deadlines were met in time.
    ///
    /// Each tick sees what had occurred by its instant, so a history recorded after the fact
    /// gives the deadlines as they stood then. The store itself is not written.
    Simulate {
        /// The first day (YYYY-MM-DD).
        #[arg(long, value_parser = show::parse_as_of)]
        from: chrono::NaiveDate,
        /// The last day (YYYY-MM-DD).
        #[arg(long, value_parser = show::parse_as_of)]
        to: chrono::NaiveDate,
        /// The step between ticks (such as 1d or 1w); the scheduler's own wake-ups in between
        /// are ticked too.
        #[arg(long, default_value = "1w", value_parser = crate::workflows::definition::parse_span)]
        every: i64,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Serve the HTTP API and run the scheduler until SIGINT or SIGTERM.
    Serve {
        /// Address to listen on [default: `[server] listen`, 127.0.0.1:8080].
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Bearer tokens for the HTTP API.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Workflow definitions.
    #[command(subcommand)]
    Workflows(WorkflowsCommand),
    /// Evaluate from the replayed history: mandates reported on time, late or not at all,
    /// follow-up, report cycles, meeting moves, activities, deadlines and reminders.
    Evaluate {
        /// From this day (YYYY-MM-DD).
        #[arg(long, value_parser = show::parse_as_of)]
        from: Option<chrono::NaiveDate>,
        /// To this day (YYYY-MM-DD).
        #[arg(long, value_parser = show::parse_as_of)]
        to: Option<chrono::NaiveDate>,
        /// Only this governing body.
        #[arg(long)]
        body: Option<String>,
        /// As the log stood at this recording instant, to reproduce an earlier evaluation.
        #[arg(long, value_parser = show::parse_known_at)]
        known_at: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long, value_enum, default_value_t = EvalFormat::Md)]
        format: EvalFormat,
    },
    /// Write a deterministic synthetic history as JSON Lines, for benchmarks and load tests.
    ///
    /// Record it into an empty store: its corrections name earlier events by seq.
    Generate {
        /// How many events.
        #[arg(long)]
        events: usize,
        /// The seed: the same seed and size always give the same bytes.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// List the event types and their schema versions, or print one type's JSON Schema.
    Schema {
        /// An event type, such as `DecisionAdopted`.
        #[arg(value_name = "TYPE")]
        ty: Option<String>,
    },
}

/// Formats of `accord evaluate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EvalFormat {
    Md,
    Html,
    Json,
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token; it is printed once, and only its hash is kept.
    Add {
        name: String,
        #[arg(long, value_enum)]
        role: crate::api::tokens::Role,
    },
    /// List the tokens by name and role.
    List,
    /// Revoke a token by name.
    Revoke { name: String },
}

#[derive(Debug, Subcommand)]
pub enum WorkflowsCommand {
    /// Validate workflow files and templates without running them.
    Check {
        /// The workflows folder [default: `[workflows] dir`, `workflows`].
        dir: Option<PathBuf>,
    },
}

/// Input the user must fix: exit 2, nothing written.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// A check that failed or a query that found nothing: exit 1.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CheckFailed(pub String);

/// The exit code for an error, by what it is.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<BadInput>().is_some() {
        return 2;
    }
    if let Some(
        StoreError::Conflict { .. }
        | StoreError::Rejected { .. }
        | StoreError::Refused { .. }
        | StoreError::IdConflict { .. },
    ) = e.downcast_ref::<StoreError>()
    {
        return 2;
    }
    if e.downcast_ref::<crate::config::ConfigError>().is_some() {
        return 2;
    }
    1
}

/// Runs a parsed command line; returns the exit code for success paths.
pub fn run(cli: Cli) -> Result<u8> {
    crate::render::set_wide(cli.wide);
    let mut config = Config::load(cli.config.as_deref())?;
    let data = cli
        .data
        .or(config.storage.data.clone())
        .unwrap_or_else(|| PathBuf::from("data"));
    config.storage.data = Some(data.clone());
    let open = || open(&config);
    // A command that only reads never creates a store: a mistyped --data says so.
    let read = || {
        if let Location::Sled(dir) = Location::from_config(&config) {
            if !dir.join("sled").exists() {
                return Err(anyhow::Error::new(BadInput(format!(
                    "no store in {}: check --data (or ACCORD_DATA, or [storage] data); \
                     `accord record FILE` makes one",
                    dir.display()
                ))));
            }
        }
        open()
    };
    match cli.command {
        Command::Schema { ty } => schema(ty.as_deref()),
        Command::Evaluate {
            from,
            to,
            body,
            known_at,
            format,
        } => evaluate(&*read()?, from, to, body, known_at, format),
        Command::Generate { events, seed } => {
            let stdout = std::io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            crate::generate::generate(events, seed, &mut out)
                .context("failed to write the history")?;
            out.flush()?;
            Ok(0)
        }
        Command::Workflows(WorkflowsCommand::Check { dir }) => work::check(dir, &config),
        Command::Deadlines {
            within,
            as_of,
            format,
        } => work::deadlines(&*read()?, &config, within, as_of, format),
        Command::Reminders { from, to, format } => {
            work::reminders(&*read()?, &config, from, to, format)
        }
        Command::Tick { now } => work::tick(
            &*not_beside_serve(
                &config,
                "its scheduler ticks by itself (`accord reminders` lists what it sent)",
            )?,
            &config,
            &data,
            now,
        ),
        Command::Serve { listen } => work::serve(
            not_beside_serve(&config, "serves it already")?,
            &config,
            &data,
            listen,
        ),
        Command::Check => check::run(&*read()?),
        Command::Simulate {
            from,
            to,
            every,
            format,
        } => simulate::simulate(&*read()?, &config, from, to, every, format),
        Command::Token(cmd) => work::token(&data, cmd),
        Command::Verify {
            file: Some(f),
            partial,
        } => verify_file(&f, partial),
        Command::Record { files } => {
            let batches = read_batches(&files)?;
            let store = open()?;
            record(&*store, batches)
        }
        Command::Show(args) => show::run(&*read()?, &args),
        Command::Log {
            stream,
            ty,
            since,
            format,
        } => log(&*read()?, stream.as_deref(), ty.as_deref(), since, format),
        Command::Export {
            intact_prefix: true,
            output,
            ..
        } => {
            let location = Location::from_config(&config);
            match (crate::store::open_damaged(&location), &location) {
                (Ok(store), Location::Sled(dir)) => {
                    let mut records = Rescue {
                        sled: Some(store.read_from(1)),
                        dir,
                        found: None,
                        next: 1,
                        failed: None,
                    };
                    export_intact_prefix(&mut records, &location, output.as_deref())
                }
                (Ok(store), _) => {
                    export_intact_prefix(&mut store.read_from(1), &location, output.as_deref())
                }
                (Err(e), Location::Sled(dir)) => {
                    eprintln!(
                        "accord: sled cannot open its files ({e}); reading the records from \
                         the files themselves"
                    );
                    let mut records = Rescue {
                        sled: None,
                        dir,
                        found: None,
                        next: 1,
                        failed: None,
                    };
                    export_intact_prefix(&mut records, &location, output.as_deref())
                }
                (Err(e), _) => Err(anyhow::Error::new(e).context(format!(
                    "failed to open the store in {}",
                    location.describe()
                ))),
            }
        }
        Command::Export { since, output, .. } => export(&*read()?, since, output.as_deref()),
        Command::Verify { file: None, .. } => verify_store(&*read()?),
        Command::Replay => replay(&*read()?),
        Command::Import {
            file,
            intact_prefix,
            accept_future,
        } => import(&*open()?, &file, intact_prefix, accept_future),
        Command::Migrate { to } => {
            let from = Location::from_config(&config);
            let to = Location::parse(&to);
            migrate(&*read()?, &from, &to)
        }
    }
}

/// Opens the store the configuration names: PostgreSQL when `ACCORD_STORAGE_URL` or
/// `[storage] url` is set, else sled in the data directory. While `accord serve` holds a sled
/// store, the store is used through its socket (see `store::remote`).
fn open(config: &Config) -> Result<std::sync::Arc<dyn EventStore>> {
    open_shared(config).map(|(store, _)| store)
}

/// [`open`], and whether the store is used through a serving process's socket.
fn open_shared(config: &Config) -> Result<(std::sync::Arc<dyn EventStore>, bool)> {
    let location = Location::from_config(config);
    match crate::store::open_location(&location) {
        Ok(store) => Ok((store, false)),
        Err(e) => {
            if let (Location::Sled(dir), true) = (&location, e.to_string().contains("in use by")) {
                if let Some(remote) = crate::store::remote::RemoteStore::connect(dir) {
                    return Ok((std::sync::Arc::new(remote), true));
                }
                return Err(BadInput(format!(
                    "the store in {} is in use by another accord process that does not share it \
                     (a command still running, or a server started before this version): wait \
                     for it to finish, or stop it, and run this again",
                    dir.display()
                ))
                .into());
            }
            Err(e).with_context(|| format!("failed to open the store in {}", location.describe()))
        }
    }
}

/// For commands a serving process already does for its store: one plain line.
fn not_beside_serve(config: &Config, what: &str) -> Result<std::sync::Arc<dyn EventStore>> {
    let (store, shared) = open_shared(config)?;
    if shared {
        return Err(BadInput(format!(
            "accord serve is running on this store and {what}; stop it first to run this here"
        ))
        .into());
    }
    Ok(store)
}

fn schema(ty: Option<&str>) -> Result<u8> {
    match ty {
        None => {
            for (t, v) in crate::domain::EVENT_TYPES {
                let older: Vec<String> = crate::domain::readable_versions(t)
                    .into_iter()
                    .filter(|o| o != v)
                    .map(|o| format!("v{o}"))
                    .collect();
                if older.is_empty() {
                    println!("{t} v{v}");
                } else {
                    println!("{t} v{v} (reads {}, upcast)", older.join(", "));
                }
            }
            Ok(0)
        }
        Some(t) => {
            let (_, _, s) = crate::domain::schemas()
                .into_iter()
                .find(|(name, _, _)| *name == t)
                .ok_or_else(|| {
                    BadInput(format!(
                        "unknown event type `{t}`; `accord schema` lists them"
                    ))
                })?;
            println!("{}", serde_json::to_string_pretty(&s)?);
            Ok(0)
        }
    }
}

/// Prints rows as a table, CSV or JSON; finding none is exit 1.
pub(crate) fn emit(table: Table, values: Vec<serde_json::Value>, format: Format) -> Result<u8> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        Format::Table => write!(out, "{}", table.to_text(crate::render::width()))?,
        Format::Csv => write!(out, "{}", table.to_csv())?,
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&values)?)?,
    }
    out.flush()?;
    if values.is_empty() {
        return Err(CheckFailed("nothing found".into()).into());
    }
    Ok(0)
}

fn evaluate(
    store: &dyn EventStore,
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
    body: Option<String>,
    known_at: Option<chrono::DateTime<chrono::Utc>>,
    format: EvalFormat,
) -> Result<u8> {
    let e = crate::evaluate::run(
        store,
        &crate::evaluate::Scope {
            from,
            to,
            body,
            as_of: None,
            rows: None,
        },
        known_at,
    )?;
    let text = match format {
        EvalFormat::Json => serde_json::to_string_pretty(&e)? + "\n",
        EvalFormat::Md => crate::evaluate::markdown(&e),
        EvalFormat::Csv => crate::evaluate::csv(&e),
        EvalFormat::Html => crate::evaluate::html(&e),
    };
    print!("{text}");
    Ok(0)
}
