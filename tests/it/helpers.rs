//! Shared test helpers: run the real `accord` binary against a temporary data directory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every listing of `accord show`.
pub const VIEWS: &[&str] = &[
    "meetings",
    "decisions",
    "mandates",
    "groups",
    "reports",
    "activities",
    "agreements",
    "timeline",
];

/// Waits until something accepts connections on `port`, or fails the test after 30 s.
pub fn wait_listening(port: u16) {
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "nothing listened on port {port} within 30 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The shipped history file.
pub fn history() -> PathBuf {
    root().join("events/history/minamata-brs-cooperation.jsonl")
}

/// A temporary data directory with the `accord` binary pointed at it (and at a PostgreSQL
/// database instead of sled for the log, when `storage_url` is set).
pub struct Accord {
    pub dir: tempfile::TempDir,
    pub storage_url: Option<String>,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Accord {
    pub fn new() -> Self {
        Accord {
            dir: tempfile::tempdir().expect("tempdir"),
            storage_url: None,
        }
    }

    /// Keeps the log in the PostgreSQL database at `url` (`ACCORD_STORAGE_URL`).
    pub fn on_postgres(url: &str) -> Self {
        Accord {
            storage_url: Some(url.to_string()),
            ..Accord::new()
        }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_accord"));
        c.arg("--data").arg(self.data());
        c.current_dir(self.dir.path());
        c.env_remove("ACCORD_DATA")
            .env_remove("ACCORD_CONFIG")
            .env_remove("ACCORD_STORAGE_URL");
        if let Some(url) = &self.storage_url {
            c.env("ACCORD_STORAGE_URL", url);
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.command()
            .args(args)
            .output()
            .expect("run accord")
            .into()
    }

    pub fn run_stdin(&self, args: &[&str], input: &str) -> Run {
        let (child, writer) = self.spawn_with_input(args, input);
        let out = child.wait_with_output().expect("wait accord");
        let _ = writer.join();
        out.into()
    }

    /// As `run_stdin`, but a command still running after `limit` is killed and the test fails
    /// saying so: for faults (a full disk) under which a hang is the defect to catch.
    pub fn run_stdin_bounded(&self, args: &[&str], input: &str, limit: std::time::Duration) -> Run {
        let (child, writer) = self.spawn_with_input(args, input);
        let pid = child.id();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(limit) {
            Ok(out) => {
                let _ = writer.join();
                out.expect("wait accord").into()
            }
            Err(_) => {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                panic!("accord {args:?} was still running after {limit:?}: it hung");
            }
        }
    }

    /// `accord ARGS` with piped output and `input` written to its standard input by a thread
    /// (so a command that answers before reading it all cannot block the test).
    fn spawn_with_input(
        &self,
        args: &[&str],
        input: &str,
    ) -> (std::process::Child, std::thread::JoinHandle<()>) {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn accord");
        let mut stdin = child.stdin.take().expect("stdin");
        let input = input.to_string();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(input.as_bytes());
        });
        (child, writer)
    }

    /// `accord --config CFG serve --listen 127.0.0.1:PORT`, standard output discarded.
    pub fn spawn_serve(&self, cfg: &Path, port: u16, stderr: Stdio) -> std::process::Child {
        self.command()
            .args([
                "--config",
                cfg.to_str().expect("utf-8 path"),
                "serve",
                "--listen",
            ])
            .arg(format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn accord serve")
    }

    /// Records a file and asserts success.
    pub fn record(&self, file: &Path) -> Run {
        let r = self.run(&["record", file.to_str().expect("utf-8 path")]);
        assert_eq!(r.code, 0, "record failed: {}", r.stderr);
        r
    }

    pub fn record_text(&self, text: &str) -> Run {
        self.run_stdin(&["record", "-"], text)
    }

    /// The store's export, which pins the last seq and hash and every byte before them.
    pub fn export(&self) -> String {
        let r = self.run(&["export"]);
        assert_eq!(r.code, 0, "export failed: {}", r.stderr);
        r.stdout
    }

    /// `show WHAT --format json` plus extra arguments, parsed.
    pub fn show(&self, what: &str, extra: &[&str]) -> serde_json::Value {
        let mut args = vec!["show", what, "--format", "json"];
        args.extend_from_slice(extra);
        let r = self.run(&args);
        assert!(r.code == 0 || r.code == 1, "show failed: {}", r.stderr);
        serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("bad JSON from show: {e}: {}", r.stdout))
    }

    /// The `recorded_at` of the last record: an instant for `--known-at`.
    pub fn last_recorded_at(&self) -> String {
        let export = self.export();
        let last: serde_json::Value =
            serde_json::from_str(export.lines().last().expect("a record")).unwrap();
        last["recorded_at"]
            .as_str()
            .expect("recorded_at")
            .to_string()
    }

    pub fn last_seq(&self) -> u64 {
        self.export()
            .lines()
            .last()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                    .as_u64()
                    .unwrap()
            })
            .unwrap_or(0)
    }
}

/// Finds a row of a JSON array by a key's value.
pub fn row<'a>(rows: &'a serde_json::Value, key: &str, value: &str) -> &'a serde_json::Value {
    rows.as_array()
        .expect("an array")
        .iter()
        .find(|r| r[key] == value)
        .unwrap_or_else(|| panic!("no row with {key} = {value} in {rows}"))
}

/// A valid event line, for building inputs.
pub fn meeting_line(id: &str, meeting: &str) -> String {
    format!(
        r#"{{"id":"{id}","type":"MeetingScheduled","occurred":"2021-03","actor":"tester","data":{{"meeting":"{meeting}","body":"MC","kind":"cop","title":"A meeting","dates":"2021-11-01/2021-11-05"}}}}"#
    )
}

/// Whether util-linux's `script` (a terminal for a child process) can be run here.
pub fn have_script() -> bool {
    Command::new("script")
        .args(["-qec", "true", "/dev/null"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether a program can be run here.
pub fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Schedules a COP 75 days from the wall clock's today, with exact dates.
pub fn future_meeting(a: &Accord) -> chrono::NaiveDate {
    let today = chrono::Utc::now().date_naive();
    let start = today + chrono::Days::new(75);
    let end = start + chrono::Days::new(4);
    let line = format!(
        r#"{{"type":"MeetingScheduled","occurred":"{today}","actor":"t","data":{{"meeting":"mc-cop-9","body":"MC","kind":"cop","title":"Ninth meeting","dates":"{start}/{end}","venue":"Geneva"}}}}"#
    );
    assert_eq!(a.record_text(&line).code, 0);
    start
}

/// A PostgreSQL schema of its own for one test, dropped when done. `url` opens it (its
/// `search_path` is set through the URL), so tests run in parallel without meeting.
pub struct PgSchema {
    admin: String,
    pub name: String,
    pub url: String,
}

/// A fresh schema in the database of `ACCORD_TEST_PG_URL`; `None`, after printing why, when
/// the variable is unset or the server cannot be reached, so the test passes as skipped.
pub fn pg_schema(test: &str) -> Option<PgSchema> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let Some(admin) = std::env::var("ACCORD_TEST_PG_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        println!("skipped: PostgreSQL not available at (none): ACCORD_TEST_PG_URL is not set");
        return None;
    };
    let mut client = match pg_connect(&admin) {
        Ok(c) => c,
        Err(why) => {
            let mut shown = url::Url::parse(&admin).map_err(|_| ());
            if let Ok(u) = &mut shown {
                if u.password().is_some() {
                    let _ = u.set_password(Some("redacted"));
                }
            }
            let at = shown.map(|u| u.to_string()).unwrap_or(admin);
            println!("skipped: PostgreSQL not available at {at}: {why}");
            return None;
        }
    };
    let short: String = test
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(32)
        .collect::<String>()
        .to_lowercase();
    let name = format!(
        "t_{short}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"
        ))
        .unwrap_or_else(|e| panic!("cannot create schema {name} at {admin}: {e}"));
    let sep = if admin.contains('?') { '&' } else { '?' };
    let url = format!("{admin}{sep}options=-csearch_path%3D{name}");
    Some(PgSchema { admin, name, url })
}

fn pg_connect(url: &str) -> Result<postgres::Client, String> {
    let mut config: postgres::Config = url.parse().map_err(|e| format!("bad URL: {e}"))?;
    config.connect_timeout(std::time::Duration::from_secs(3));
    config.connect(postgres::NoTls).map_err(|e| {
        let cause = std::error::Error::source(&e)
            .map(|c| format!(": {c}"))
            .unwrap_or_default();
        format!("cannot connect: {e}{cause}")
    })
}

impl PgSchema {
    /// A connection to the schema's database, for looking behind the store.
    pub fn client(&self) -> postgres::Client {
        pg_connect(&self.url).expect("connect to the test schema")
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        if let Ok(mut c) = pg_connect(&self.admin) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}

/// A tick's exit code fits its report: 3 when a due send could not be made (failed, or
/// deferred while the mail server was out of reach), else 0.
pub fn assert_tick_code(r: &Run, now: &str) {
    let first = r.stdout.lines().next().unwrap_or("");
    let count = |word: &str| -> usize {
        first
            .split(&format!("{word} "))
            .nth(1)
            .and_then(|n| n.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let unsent = count("failed") + count("deferred");
    let want = if unsent > 0 { 3 } else { 0 };
    assert_eq!(r.code, want, "tick at {now}: {} {}", r.stdout, r.stderr);
    if unsent > 0 {
        assert!(r.stderr.contains("could not be made"), "{}", r.stderr);
    }
}

/// One `tick` of `a`'s log with every shipped workflow and no SMTP server.
pub(super) fn tick_with_every_workflow(a: &Accord) {
    let files: Vec<String> = std::fs::read_dir(root().join("workflows"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().to_string();
            name.ends_with(".toml").then_some(name)
        })
        .collect();
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let cfg = super::reminders::config(a, None, &files);
    let tick = a.run(&["--config", cfg.to_str().unwrap(), "tick"]);
    assert!(tick.code <= 1, "{}", tick.stderr);
}
