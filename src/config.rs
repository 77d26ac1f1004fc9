//! Configuration: `config/accord.toml` (or `--config FILE`), then `ACCORD_*` variables and
//! command-line flags, into typed structs. Unknown keys are errors that name the file.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The default configuration file, read when present.
pub const DEFAULT_FILE: &str = "config/accord.toml";

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub storage: Storage,
    #[serde(default)]
    pub smtp: Smtp,
    #[serde(default)]
    pub server: Server,
    #[serde(default)]
    pub workflows: Workflows,
}

/// A value that never prints: SMTP URLs carry passwords.
#[derive(Clone, Default, Deserialize, PartialEq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(s)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Outgoing email. With no `url`, emails are written to `<data>/outbox/` as `.eml` files.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Smtp {
    /// `smtp://user:pass@host:587?tls=required` (STARTTLS), `smtps://…:465` (implicit TLS) or
    /// `smtp://host:25` (plain, for a local relay). `ACCORD_SMTP_URL` overrides it.
    pub url: Option<Secret>,
    #[serde(default = "default_sender")]
    pub sender: String,
    pub reply_to: Option<String>,
    /// A PEM root certificate to trust for the server's TLS certificate (an internal CA).
    pub ca_file: Option<PathBuf>,
    /// The domain of Message-IDs [default: the sender address's domain].
    pub message_id_domain: Option<String>,
    /// Seconds to wait for the server before a send counts as a transient failure.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

impl Default for Smtp {
    fn default() -> Self {
        Smtp {
            url: None,
            ca_file: None,
            message_id_domain: None,
            sender: default_sender(),
            reply_to: None,
            timeout_secs: default_timeout(),
        }
    }
}

fn default_sender() -> String {
    "Accord <accord@localhost>".to_string()
}

fn default_timeout() -> u64 {
    30
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// Where `accord serve` listens.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The dashboard's address as people reach it, for links in emails.
    #[serde(default = "default_public_url")]
    pub public_url: String,
    /// Serve `/calendar.ics` without a token.
    #[serde(default)]
    pub public_calendar: bool,
    /// A PEM certificate chain and its private key: `serve` then speaks HTTPS itself.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Addresses of reverse proxies whose `X-Forwarded-Proto` is believed; from anyone else
    /// the header is ignored.
    #[serde(default)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            listen: default_listen(),
            public_url: default_public_url(),
            public_calendar: false,
            tls_cert: None,
            tls_key: None,
            trusted_proxies: Vec::new(),
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:8080".to_string()
}

fn default_public_url() -> String {
    "http://127.0.0.1:8080".to_string()
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Workflows {
    /// The folder of workflow definitions (templates in its `templates/`).
    #[serde(default = "default_workflows")]
    pub dir: PathBuf,
    /// The contacts directory.
    #[serde(default = "default_contacts")]
    pub contacts: PathBuf,
}

impl Default for Workflows {
    fn default() -> Self {
        Workflows {
            dir: default_workflows(),
            contacts: default_contacts(),
        }
    }
}

fn default_workflows() -> PathBuf {
    PathBuf::from("workflows")
}

fn default_contacts() -> PathBuf {
    PathBuf::from("config/contacts.toml")
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    /// The data directory (default `./data`): the sled log when no `url` is set, and always
    /// the API tokens and the email outbox.
    pub data: Option<PathBuf>,
    /// `postgres://user:pass@host:5432/db` keeps the log in PostgreSQL instead of sled.
    /// `ACCORD_STORAGE_URL` overrides it. It may carry a password, so it never prints.
    pub url: Option<Secret>,
}

/// Why a configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Config {
    /// Loads `path`, or the default file when `path` is `None` and the default exists.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let (path, required) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_FILE), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Config::default())
            }
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        Self::parse(&path, &text)
    }

    /// Parses configuration text; errors carry the file, line and column.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| {
                    let line = text[..s.start].matches('\n').count() + 1;
                    format!("line {line}: ")
                })
                .unwrap_or_default();
            ConfigError::Invalid {
                path: path.to_path_buf(),
                message: format!("{at}{}", e.message()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let c = Config::parse(
            Path::new("x.toml"),
            "[smtp]\nurl = \"smtp://u:hunter2@h:25\"\n",
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(c.smtp.url.unwrap().expose(), "smtp://u:hunter2@h:25");
    }

    #[test]
    fn storage_url_is_a_secret() {
        let c = Config::parse(
            Path::new("x.toml"),
            "[storage]\nurl = \"postgres://u:hunter2@h/db\"\n",
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(c.storage.url.unwrap().expose(), "postgres://u:hunter2@h/db");
    }

    #[test]
    fn names_line_of_unknown_key() {
        let e =
            Config::parse(Path::new("x.toml"), "[storage]\ndata = \"d\"\nbogus = 1\n").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with("x.toml: line 3: unknown field `bogus`"),
            "{msg}"
        );
    }
}
