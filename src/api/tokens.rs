//! Bearer tokens: `<data>/tokens.json` holds each token's name, role and SHA-256 only. A token
//! is shown once, when made; presented tokens are hashed and compared in constant time.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a token may do. Each role may do what the ones before it may.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read the calendar feed and nothing else: the token a calendar application keeps in the
    /// feed's address.
    Feed,
    /// Read everything but reminders' recipients.
    Reader,
    /// Also record events.
    Recorder,
    /// Also see reminders' recipients.
    Admin,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenEntry {
    pub name: String,
    pub role: Role,
    /// Lowercase hex SHA-256 of the token.
    pub sha256: String,
    pub created_at: String,
}

/// The token file.
#[derive(Clone, Debug, Default)]
pub struct Tokens {
    path: PathBuf,
    pub entries: Vec<TokenEntry>,
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Equal in time that does not depend on where the bytes differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Tokens {
    pub fn path_in(data: &Path) -> PathBuf {
        data.join("tokens.json")
    }

    /// Loads the token file of a data directory; none is no tokens.
    pub fn load(data: &Path) -> Result<Tokens, String> {
        let path = Self::path_in(data);
        let entries = match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("{}: cannot read: {e}", path.display())),
        };
        Ok(Tokens { path, entries })
    }

    fn save(&self) -> Result<(), String> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(&self.entries).expect("tokens are JSON");
        std::fs::write(&tmp, bytes)
            .and_then(|_| std::fs::rename(&tmp, &self.path))
            .map_err(|e| format!("{}: cannot write: {e}", self.path.display()))
    }

    /// Makes a token for `name` and returns it: the only time it is shown.
    pub fn add(&mut self, name: &str, role: Role) -> Result<String, String> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !ok {
            return Err(format!(
                "`{name}` is not a token name: 1 to 64 letters, digits, `.`, `_`, `-`"
            ));
        }
        if self.entries.iter().any(|e| e.name == name) {
            return Err(format!("a token named `{name}` exists; revoke it first"));
        }
        let token = format!(
            "acc_{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        self.entries.push(TokenEntry {
            name: name.to_string(),
            role,
            sha256: hex::encode(hash(&token)),
            created_at: crate::envelope::format_instant(chrono::Utc::now()),
        });
        self.save()?;
        Ok(token)
    }

    /// Removes the token named `name`.
    pub fn revoke(&mut self, name: &str) -> Result<(), String> {
        let before = self.entries.len();
        self.entries.retain(|e| e.name != name);
        if self.entries.len() == before {
            return Err(format!("no token named `{name}`"));
        }
        self.save()
    }

    /// The entry a presented token belongs to. Every entry is compared, in constant time.
    pub fn check(&self, token: &str) -> Option<&TokenEntry> {
        let presented = hash(token);
        let mut found = None;
        for e in &self.entries {
            let stored = hex::decode(&e.sha256).unwrap_or_default();
            if constant_time_eq(&stored, &presented) {
                found = Some(e);
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stored_hashed_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = Tokens::load(dir.path()).unwrap();
        let token = t.add("ops", Role::Recorder).unwrap();
        let file = std::fs::read_to_string(Tokens::path_in(dir.path())).unwrap();
        assert!(!file.contains(&token), "the token itself is never stored");
        let t = Tokens::load(dir.path()).unwrap();
        assert_eq!(t.check(&token).map(|e| e.role), Some(Role::Recorder));
        assert!(t.check("acc_wrong").is_none());
        assert!(t.clone().add("ops", Role::Admin).is_err());
        let mut t = t;
        t.revoke("ops").unwrap();
        assert!(t.check(&token).is_none());
        assert!(constant_time_eq(b"abc", b"abc") && !constant_time_eq(b"abc", b"abd"));
    }

    #[test]
    fn comparison_is_over_whole_digests() {
        let a = hash("acc_token");
        for i in [0, 15, 31] {
            let mut b = a;
            b[i] ^= 0x80;
            assert!(!constant_time_eq(&a, &b), "a difference at byte {i}");
        }
        assert!(constant_time_eq(&a, &a));
        assert!(!constant_time_eq(&a, &a[..31]));
        assert!(!constant_time_eq(&[], &a));
        // A stored entry that is not a digest matches nothing, not even the empty token.
        let t = Tokens {
            path: PathBuf::new(),
            entries: vec![TokenEntry {
                name: "bad".into(),
                role: Role::Admin,
                sha256: "not hex".into(),
                created_at: String::new(),
            }],
        };
        assert!(t.check("").is_none() && t.check("not hex").is_none());
    }
}
