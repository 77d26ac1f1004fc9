//! The `accord` command line: parsing, and one function per command over the library.
//!
//! Exit codes are a contract: 0 success, 1 a check failed or nothing was found, 2 bad input
//! or usage (nothing written).

mod check;
mod show;
mod simulate;
pub mod work;

use std::io::{BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::render::{Format, Table};
use crate::store::{EventStore, Location, Outcome, StoreError};

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

fn read_batches(files: &[PathBuf]) -> Result<Vec<(String, Vec<crate::input::Proposed>)>> {
    let stdin_only = files.is_empty() || files.iter().all(|f| f.as_os_str() == "-");
    let sources: Vec<PathBuf> = if stdin_only {
        vec![PathBuf::from("-")]
    } else {
        files.to_vec()
    };
    let mut out = Vec::new();
    for f in sources {
        let (name, bytes) = if f.as_os_str() == "-" {
            let mut b = Vec::new();
            std::io::stdin()
                .read_to_end(&mut b)
                .context("failed to read standard input")?;
            ("<stdin>".to_string(), b)
        } else {
            let b = std::fs::read(&f)
                .map_err(|e| BadInput(format!("{}: cannot read: {e}", f.display())))?;
            (f.display().to_string(), b)
        };
        let text = String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            let line = e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1;
            BadInput(format!("{name}: line {line}: not UTF-8 (byte {at})"))
        })?;
        let batch =
            crate::input::parse_batch(&text).map_err(|e| BadInput(format!("{name}: {e}")))?;
        out.push((name, batch));
    }
    Ok(out)
}

fn record(
    store: &dyn EventStore,
    batches: Vec<(String, Vec<crate::input::Proposed>)>,
) -> Result<u8> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for (name, batch) in batches {
        let lines: Vec<usize> = batch.iter().map(|p| p.line).collect();
        let line = |index: usize| lines.get(index).copied().unwrap_or(0);
        let outcomes = store.append(batch).map_err(|e| match e {
            StoreError::Conflict {
                index,
                stream,
                expected,
                actual,
            } => anyhow::Error::new(BadInput(format!(
                "{name}: line {}: expected_position: stream `{stream}` is at position {actual}, \
                 expected {expected}; nothing recorded from this file",
                line(index)
            ))),
            StoreError::Rejected { index, message } => anyhow::Error::new(BadInput(format!(
                "{name}: line {}: {message}; nothing recorded from this file",
                line(index)
            ))),
            StoreError::Refused {
                index,
                field,
                message,
            } => anyhow::Error::new(BadInput(format!(
                "{name}: line {}: {field}: {message}; nothing recorded from this file",
                line(index)
            ))),
            StoreError::IdConflict { index, id, seq } => anyhow::Error::new(BadInput(format!(
                "{name}: line {}: id: `{id}` is already recorded at seq {seq} with other content                  (give this event a new id, or correct seq {seq} with EventAmended); nothing                  recorded from this file",
                line(index)
            ))),
            other => anyhow::Error::new(other).context(format!("{name}: failed to record")),
        })?;
        let (mut recorded, mut dups) = (0, 0);
        for o in outcomes {
            match o {
                Outcome::Recorded(env) => {
                    recorded += 1;
                    writeln!(out, "{} {} {} {}", env.seq, env.hash, env.ty, env.stream)?;
                }
                Outcome::Duplicate { id, seq } => {
                    dups += 1;
                    writeln!(
                        out,
                        "duplicate id {id} already recorded at seq {seq}: not recorded again"
                    )?;
                }
            }
        }
        out.flush()?;
        eprintln!("{name}: {recorded} recorded, {dups} duplicates");
    }
    Ok(0)
}

fn log(
    store: &dyn EventStore,
    stream: Option<&str>,
    ty: Option<&str>,
    since: u64,
    format: Format,
) -> Result<u8> {
    let events: Box<dyn Iterator<Item = Result<crate::envelope::Envelope, StoreError>>> =
        match stream {
            Some(s) => Box::new(crate::store::stream_from(store, s, since)),
            None => store.read_from(since),
        };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut table = Table::new(&["SEQ", "RECORDED", "OCCURRED", "ACTOR", "TYPE", "SUMMARY"]);
    let mut n = 0;
    for env in events {
        let env = env?;
        if env.seq < since || ty.is_some_and(|t| t != env.ty) {
            continue;
        }
        n += 1;
        match format {
            Format::Json => writeln!(out, "{}", env.to_canonical())?,
            Format::Table | Format::Csv => {
                let summary = crate::projections::decode(&env)
                    .map(|e| crate::domain::summary(&e))
                    .unwrap_or_else(|e| e.to_string());
                table.push(vec![
                    env.seq.to_string(),
                    env.recorded_at
                        .get(..19)
                        .unwrap_or(&env.recorded_at)
                        .to_string(),
                    env.occurred.to_string(),
                    env.actor.clone(),
                    env.ty.clone(),
                    summary,
                ]);
            }
        }
    }
    match format {
        Format::Table => write!(out, "{}", table.to_text(crate::render::width()))?,
        Format::Csv => write!(out, "{}", table.to_csv())?,
        Format::Json => {}
    }
    out.flush()?;
    if n == 0 {
        return Err(CheckFailed("no events match".into()).into());
    }
    Ok(0)
}

/// Where `export` writes: the named file, created afresh, or standard output.
fn output_sink(output: Option<&Path>) -> Result<BufWriter<Box<dyn Write>>> {
    let sink: Box<dyn Write> = match output {
        Some(p) => Box::new(
            std::fs::File::create(p)
                .with_context(|| format!("failed to create {}", p.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    Ok(BufWriter::new(sink))
}

fn export(store: &dyn EventStore, since: u64, output: Option<&Path>) -> Result<u8> {
    let mut out = output_sink(output)?;
    let mut n = 0u64;
    for env in store.read_from(since) {
        let env = env.context("failed to read the log")?;
        out.write_all(env.to_canonical().as_bytes())?;
        out.write_all(b"\n")?;
        n += 1;
    }
    out.flush()?;
    if output.is_some() {
        eprintln!("exported {n} records");
    }
    Ok(0)
}

/// The records of a damaged sled store in seq order: through sled while it reads them, then
/// (once sled fails, or if it could not open its files) from what
/// [`crate::store::SledStore::salvage`] finds in the files themselves.
struct Rescue<'a> {
    sled: Option<Box<dyn Iterator<Item = Result<crate::envelope::Envelope, StoreError>> + 'a>>,
    dir: &'a Path,
    found: Option<std::collections::BTreeMap<u64, crate::envelope::Envelope>>,
    next: u64,
    /// What sled said when it failed, if it did.
    failed: Option<String>,
}

impl Iterator for Rescue<'_> {
    type Item = Result<crate::envelope::Envelope, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(sled) = &mut self.sled {
            match sled.next() {
                Some(Ok(env)) => {
                    self.next = env.seq + 1;
                    return Some(Ok(env));
                }
                None => return None,
                Some(Err(e)) => {
                    eprintln!(
                        "accord: sled cannot read seq {} ({e}); reading the records from the \
                         files themselves",
                        self.next
                    );
                    self.failed = Some(e.to_string());
                    self.sled = None;
                }
            }
        }
        let found = match &mut self.found {
            Some(found) => found,
            None => match crate::store::SledStore::salvage(self.dir) {
                Ok(found) => self.found.insert(found),
                Err(e) => return Some(Err(e)),
            },
        };
        let seq = self.next;
        if let Some(env) = found.remove(&seq) {
            self.next += 1;
            return Some(Ok(env));
        }
        let more = self.failed.is_some()
            || found.keys().next_back().is_some_and(|last| *last > seq)
            || crate::store::SledStore::missing_after(self.dir, seq - 1).is_some();
        self.next = u64::MAX;
        (more && seq != u64::MAX).then(|| {
            Err(StoreError::Corrupt {
                at: format!("seq {seq}"),
                reason: match &self.failed {
                    Some(e) => {
                        format!("{e}; not found in the readable parts of sled's files either")
                    }
                    None => "not found in the readable parts of sled's files".into(),
                },
            })
        })
    }
}

/// `accord export --intact-prefix`: the records that read and chain from seq 1, up to the
/// first that does not, then a line on standard error saying where and why it stopped.
fn export_intact_prefix(
    records: &mut dyn Iterator<Item = Result<crate::envelope::Envelope, StoreError>>,
    location: &Location,
    output: Option<&Path>,
) -> Result<u8> {
    let mut out = output_sink(output)?;
    let mut v = crate::verify::Verifier::default();
    for env in records {
        match env {
            Ok(env) => {
                if !v.check(&env) {
                    break;
                }
                out.write_all(env.to_canonical().as_bytes())?;
                out.write_all(b"\n")?;
            }
            Err(e) => {
                let seq = v.next_seq();
                v.fail(seq, e.to_string());
                break;
            }
        }
    }
    out.flush()?;
    let mut r = v.finish();
    if r.first_bad.is_none() {
        // The records read end here; does the store say there were more?
        if let Location::Sled(dir) = location {
            if let Some(missing) = crate::store::SledStore::missing_after(dir, r.last_seq) {
                r.first_bad = Some(crate::verify::Bad {
                    seq: r.last_seq + 1,
                    reason: missing,
                });
            }
        }
    }
    match &r.first_bad {
        None => {
            eprintln!(
                "exported {} records, seq 1 to {}: the whole log reads and chains",
                r.records, r.last_seq
            );
            Ok(0)
        }
        Some(bad) => {
            eprintln!(
                "exported the intact prefix: {} records, seq 1 to {} (last hash {}); stopped at seq {}: {}",
                r.records, r.last_seq, r.last_hash, bad.seq, bad.reason
            );
            Ok(1)
        }
    }
}

fn progress_bar(total: u64, what: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:40}] {pos}/{len} events ({rate}, eta {eta})",
        )
        .expect("valid template")
        .with_key(
            "rate",
            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0}/s", state.per_sec());
            },
        )
        .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

fn print_report(r: &crate::verify::Report, what: &str) -> Result<u8> {
    match &r.first_bad {
        None => {
            println!(
                "{what} verifies: {} records, last seq {}, last hash {}",
                r.records, r.last_seq, r.last_hash
            );
            Ok(0)
        }
        Some(bad) => Err(CheckFailed(format!(
            "{what} does not verify: first bad seq {}: {} ({} records before it verify)",
            bad.seq, bad.reason, r.records
        ))
        .into()),
    }
}

fn verify_store(store: &dyn EventStore) -> Result<u8> {
    let bar = progress_bar(store.head().seq, "verifying");
    let r = crate::verify::verify_store(store, &mut |seq| bar.set_position(seq));
    bar.finish_and_clear();
    print_report(&r, "the store")
}

fn verify_file(path: &Path, partial: bool) -> Result<u8> {
    let f = std::fs::File::open(path)
        .map_err(|e| BadInput(format!("{}: cannot read: {e}", path.display())))?;
    let after = (!partial).then_some((0, crate::envelope::ZERO_HASH));
    let (r, _) = crate::verify::verify_export(std::io::BufReader::new(f), false, after)
        .with_context(|| format!("failed to read {}", path.display()))?;
    print_report(&r, &path.display().to_string())
}

fn replay(store: &dyn EventStore) -> Result<u8> {
    let started = Instant::now();
    crate::projections::drop_states(store)?;
    let total = store.head().seq;
    let bar = progress_bar(total, "replaying");
    let state =
        crate::projections::views_with_progress(store, &Default::default(), &mut |done, _| {
            bar.set_position(done)
        })?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "replayed {} events in {:.3} s ({:.0} events/s): {} meetings, {} decisions, {} mandates, {} groups, {} reports",
        state.seq,
        secs,
        state.seq as f64 / secs.max(1e-9),
        state.views.meetings.0.len(),
        state.views.decisions.decisions.len(),
        state.views.decisions.mandates.len(),
        state.views.groups.0.len(),
        state.views.reports.reports.len(),
    );
    Ok(0)
}

fn import(
    store: &dyn EventStore,
    path: &Path,
    intact_prefix: bool,
    accept_future: bool,
) -> Result<u8> {
    let f = std::fs::File::open(path)
        .map_err(|e| BadInput(format!("{}: cannot read: {e}", path.display())))?;
    let head = store.head();
    let (r, records) = crate::verify::verify_export(
        std::io::BufReader::new(f),
        true,
        Some((head.seq, &head.hash)),
    )
    .with_context(|| format!("failed to read {}", path.display()))?;
    if let Some(bad) = &r.first_bad {
        if !intact_prefix {
            return Err(CheckFailed(format!(
                "{}: refused: the chain does not verify at seq {}: {} (--intact-prefix imports the {} records before it)",
                path.display(),
                bad.seq,
                bad.reason,
                r.records
            ))
            .into());
        }
    }
    let ahead = chrono::Utc::now() + chrono::Duration::minutes(5);
    for env in &records {
        crate::projections::decode(env)
            .map_err(|e| BadInput(format!("{}: {e}", path.display())))?;
        if !accept_future && env.recorded_at_time().is_some_and(|t| t > ahead) {
            return Err(BadInput(format!(
                "{}: seq {}: recorded_at {} is ahead of this machine's clock; \
                 --accept-future imports it (an export from a store whose clock ran ahead)",
                path.display(),
                env.seq,
                env.recorded_at
            ))
            .into());
        }
    }
    let n = records.len();
    store.import(records).map_err(|e| match e {
        StoreError::Rejected { .. } => {
            anyhow::Error::new(BadInput(format!("{}: {e}", path.display())))
        }
        other => anyhow::Error::new(other),
    })?;
    println!(
        "imported {n} records; head is seq {} hash {}",
        store.head().seq,
        store.head().hash
    );
    Ok(if r.first_bad.is_some() { 1 } else { 0 })
}

/// Records copied per import transaction by `accord migrate`.
const MIGRATE_BATCH: usize = 10_000;

fn migrate(source: &dyn EventStore, from: &Location, to: &Location) -> Result<u8> {
    if from == to {
        return Err(BadInput(format!("{} is the store itself", to.describe())).into());
    }
    let target = crate::store::open_location(to)
        .with_context(|| format!("failed to open the target store in {}", to.describe()))?;
    let head = source.head();
    let start = target.head();
    if start.seq > head.seq {
        return Err(BadInput(format!(
            "{} holds {} records, more than this store's {}: it is not a copy of it",
            to.describe(),
            start.seq,
            head.seq
        ))
        .into());
    }
    if start.seq > 0 {
        let ours = source
            .get(start.seq)
            .context("failed to read the log")?
            .map(|e| e.hash);
        if ours.as_deref() != Some(start.hash.as_str()) {
            return Err(BadInput(format!(
                "{} is not a copy of this store: its seq {} has hash {}, ours differs",
                to.describe(),
                start.seq,
                start.hash
            ))
            .into());
        }
    }
    let bar = progress_bar(head.seq - start.seq, "migrating");
    let mut batch = Vec::with_capacity(MIGRATE_BATCH);
    let mut copied = 0u64;
    let mut flush = |batch: &mut Vec<crate::envelope::Envelope>| -> Result<()> {
        let n = batch.len() as u64;
        let first = batch.first().map(|e| e.seq).unwrap_or(0);
        target
            .import(std::mem::take(batch))
            .with_context(|| format!("failed to write seq {first} on into {}", to.describe()))?;
        copied += n;
        bar.inc(n);
        Ok(())
    };
    for env in source.read_from(start.seq + 1) {
        let env = env.context("failed to read the log")?;
        if env.seq > head.seq {
            break;
        }
        batch.push(env);
        if batch.len() == MIGRATE_BATCH {
            flush(&mut batch)?;
        }
    }
    if !batch.is_empty() {
        flush(&mut batch)?;
    }
    bar.finish_and_clear();
    let end = target.head();
    println!(
        "migrated {copied} records to {} (it held {} before); its head is seq {} hash {}",
        to.describe(),
        start.seq,
        end.seq,
        end.hash
    );
    Ok(0)
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
