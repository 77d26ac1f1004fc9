//! A running `accord serve` for the tests, and the calls they make to it over loopback:
//! tokens, requests as (status, body), JSON bodies.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::Duration;

use super::helpers::Accord;

/// A running `accord serve` on a free port.
pub(crate) struct Server {
    child: Child,
    base: String,
}

impl Server {
    pub(crate) fn start(a: &Accord) -> Server {
        Self::start_with(a, None)
    }

    /// With `workflows`, the scheduler runs those; without, none, so seqs are the test's own.
    pub(crate) fn start_with(a: &Accord, workflows: Option<&std::path::Path>) -> Server {
        Self::start_configured(a, workflows, "", "127.0.0.1:0")
    }

    /// Like [`Server::start_with`], with more configuration (`server_toml`, the lines of a
    /// `[server]` table) and the address to listen on.
    pub(crate) fn start_configured(
        a: &Accord,
        workflows: Option<&std::path::Path>,
        server_toml: &str,
        listen: &str,
    ) -> Server {
        let cfg = a
            .dir
            .path()
            .join(format!("accord-{}.toml", listen.replace([':', '.'], "-")));
        let empty = a.dir.path().join("workflows");
        std::fs::create_dir_all(empty.join("templates")).unwrap();
        let workflows = workflows.map(|w| w.to_path_buf()).unwrap_or(empty);
        std::fs::write(
            &cfg,
            format!(
                "[workflows]\ndir = \"{}\"\ncontacts = \"{}\"\n[server]\n{server_toml}\n",
                workflows.display(),
                super::helpers::root()
                    .join("config/contacts.toml")
                    .display()
            ),
        )
        .unwrap();
        let mut child = a
            .command()
            .env("ACCORD_SHUTDOWN_GRACE_SECS", "2")
            .args([
                "--config",
                cfg.to_str().unwrap(),
                "serve",
                "--listen",
                listen,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        let base = listening_address(&line).unwrap_or_else(|| panic!("no address in {line:?}"));
        std::thread::spawn(move || for _ in stderr.lines() {});
        Server { child, base }
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGTERM, then the exit code.
    pub(crate) fn stop(mut self) -> Option<i32> {
        std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        for _ in 0..200 {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        None
    }
}

impl Drop for Server {
    /// Kills the server and waits until it is gone, so that the store it held is free for
    /// the next one.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The base URL in `serve`'s "listening on http://…; …" line, if `output` holds it.
pub(crate) fn listening_address(output: &str) -> Option<String> {
    output
        .split("listening on ")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .map(str::to_string)
}

pub(crate) fn token(a: &Accord, name: &str, role: &str) -> String {
    let r = a.run(&["token", "add", name, "--role", role]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stdout.trim().to_string()
}

/// (status, body) of a request, whatever the status, redirects followed.
pub(crate) fn call(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    call_on(&ureq::agent(), method, url, token, body)
}

/// (status, body) of a request through `agent`, whatever the status.
pub(crate) fn call_on(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let mut req = agent.request(method, url).timeout(Duration::from_secs(30));
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    let res = match body {
        Some(b) => req.send_string(b),
        None => req.call(),
    };
    match res {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("{method} {url}: {e}"),
    }
}

pub(crate) fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}
