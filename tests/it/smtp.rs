//! A real SMTP server (Python's aiosmtpd, `tests/smtp/server.py`) started by the tests, and a
//! reader for the messages it received.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::helpers::root;

pub struct SmtpServer {
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether Python with aiosmtpd is here; says so plainly when it is not.
pub fn available(test: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!(
            "SKIPPED {test}: python3 with aiosmtpd is not installed here (.ci/run installs it)"
        );
    }
    ok
}

impl SmtpServer {
    /// Starts a server on `port` (or a free one).
    pub fn start(port: Option<u16>) -> SmtpServer {
        Self::start_with(port, &[])
    }

    /// Starts a server with options: `--starttls CERT KEY`, `--implicit CERT KEY`,
    /// `--auth USER PASS`.
    pub fn start_with(port: Option<u16>, opts: &[&str]) -> SmtpServer {
        let dir = tempfile::tempdir().unwrap();
        let port = port.unwrap_or_else(free_port);
        let mut s = SmtpServer {
            child: None,
            port,
            dir,
        };
        s.spawn(opts);
        s
    }

    fn spawn(&mut self, opts: &[&str]) {
        let mut child = Command::new("python3")
            .arg(root().join("tests/smtp/server.py"))
            .arg(self.inbox())
            .arg(self.port.to_string())
            .arg(self.dir.path().join("mode"))
            .args(opts)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the SMTP server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP server did not start");
        self.child = Some(child);
    }

    pub fn inbox(&self) -> PathBuf {
        self.dir.path().join("inbox")
    }

    /// How the server answers the next messages: ok, 421, 550 or silent.
    pub fn set_mode(&self, mode: &str) {
        std::fs::write(self.dir.path().join("mode"), mode).unwrap();
    }

    /// The messages received so far, oldest first.
    pub fn messages(&self) -> Vec<Mail> {
        read_dir_mails(&self.inbox())
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A received message, with its headers unfolded.
#[derive(Debug, Clone)]
pub struct Mail {
    pub raw: String,
    pub headers: Vec<(String, String)>,
}

impl Mail {
    pub fn parse(raw: String) -> Mail {
        let head = raw
            .split("\r\n\r\n")
            .next()
            .unwrap_or("")
            .replace("\r\n ", " ")
            .replace("\r\n\t", " ");
        let headers = head
            .split("\r\n")
            .filter_map(|l| {
                l.split_once(": ")
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            })
            .collect();
        Mail { raw, headers }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub fn read_dir_mails(dir: &Path) -> Vec<Mail> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "eml"));
    files.sort();
    files
        .into_iter()
        .map(|p| Mail::parse(String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned()))
        .collect()
}

/// A CA and a `localhost` certificate it signed, made with openssl: (ca, cert, key) paths.
pub fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Accord test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "key.pem",
        "-out",
        "req.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "req.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "cert.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}
