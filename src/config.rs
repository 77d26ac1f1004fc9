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
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    /// The data directory (default `./data`).
    pub data: Option<PathBuf>,
}

/// Why a configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
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
