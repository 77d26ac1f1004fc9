//! One store, every command: while `accord serve` holds a sled store (sled locks its
//! directory), it answers the store's calls on a Unix socket in the data directory, and other
//! `accord` commands use the store through it. The socket file is the owner's alone (mode
//! 0600): who may open it may use the store, as with the sled files themselves.
//!
//! The protocol is one JSON request per line and one JSON answer per line; a store error
//! travels whole, so a command gives the same output and exit code either way.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Cache, EventStore, Head, Outcome, Result, StoreError};
use crate::domain::ApproxDate;
use crate::envelope::Envelope;
use crate::input::Proposed;

/// The socket's name in the data directory.
pub const SOCKET: &str = "accord.sock";

/// Records fetched per call while reading the log in order.
const BATCH: usize = 2_000;

/// A proposed event on the wire: everything but its decoded form, which the server decodes
/// again from type, version and data.
#[derive(Serialize, Deserialize)]
struct WireProposed {
    line: usize,
    id: Option<String>,
    ty: String,
    version: u32,
    stream: String,
    expected_position: Option<u64>,
    occurred: ApproxDate,
    actor: String,
    correlation_id: Option<String>,
    causation_id: Option<String>,
    data: Value,
    once: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
enum Request {
    Append {
        batch: Vec<WireProposed>,
    },
    Import {
        records: Vec<Envelope>,
    },
    Head,
    ReadFrom {
        from: u64,
        limit: usize,
    },
    Get {
        seq: u64,
    },
    ReadStream {
        stream: String,
    },
    ReadStreamPage {
        stream: String,
        since: u64,
        limit: usize,
    },
    FindId {
        id: String,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum WireOutcome {
    Recorded(Box<Envelope>),
    Duplicate { id: String, seq: u64 },
}

#[derive(Serialize, Deserialize)]
struct WireHead {
    seq: u64,
    hash: String,
    recorded_at: Option<String>,
}

/// The store's calls, answered for the processes that reach the socket.
fn answer(store: &dyn EventStore, req: Request) -> Result<Value> {
    let json = |v: &dyn erased::Ser| v.json();
    Ok(match req {
        Request::Append { batch } => {
            let mut proposed = Vec::with_capacity(batch.len());
            for (i, p) in batch.into_iter().enumerate() {
                let event =
                    crate::domain::DomainEvent::decode(&p.ty, p.version, &p.data).map_err(|e| {
                        StoreError::Rejected {
                            index: i,
                            message: e.to_string(),
                        }
                    })?;
                proposed.push(Proposed {
                    line: p.line,
                    id: p.id,
                    ty: p.ty,
                    version: p.version,
                    stream: p.stream,
                    expected_position: p.expected_position,
                    occurred: p.occurred,
                    actor: p.actor,
                    correlation_id: p.correlation_id,
                    causation_id: p.causation_id,
                    data: p.data,
                    event,
                    once: p.once,
                });
            }
            let outcomes: Vec<WireOutcome> = store
                .append(proposed)?
                .into_iter()
                .map(|o| match o {
                    Outcome::Recorded(e) => WireOutcome::Recorded(e),
                    Outcome::Duplicate { id, seq } => WireOutcome::Duplicate { id, seq },
                })
                .collect();
            json(&outcomes)
        }
        Request::Import { records } => {
            store.import(records)?;
            Value::Null
        }
        Request::Head => {
            let h = store.head();
            json(&WireHead {
                seq: h.seq,
                hash: h.hash,
                recorded_at: h.recorded_at,
            })
        }
        Request::ReadFrom { from, limit } => {
            let records: Vec<Envelope> = store
                .read_from(from)
                .take(limit.min(BATCH))
                .collect::<Result<_>>()?;
            json(&records)
        }
        Request::Get { seq } => json(&store.get(seq)?),
        Request::ReadStream { stream } => json(&store.read_stream(&stream)?),
        Request::ReadStreamPage {
            stream,
            since,
            limit,
        } => json(&store.read_stream_page(&stream, since, limit)?),
        Request::FindId { id } => json(&store.find_id(&id)?),
    })
}

mod erased {
    //! Any serializable value as JSON.
    pub trait Ser {
        fn json(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Ser for T {
        fn json(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
        }
    }
}

/// Serves one connection until the client hangs up.
fn connection(store: &dyn EventStore, stream: UnixStream) {
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { return };
        let reply = match serde_json::from_str::<Request>(&line) {
            Ok(req) => match answer(store, req) {
                Ok(v) => serde_json::json!({ "ok": v }),
                Err(e) => serde_json::json!({ "err": e }),
            },
            Err(e) => serde_json::json!({ "err": StoreError::Io(format!("bad request: {e}")) }),
        };
        let mut text = reply.to_string();
        text.push('\n');
        if out.write_all(text.as_bytes()).is_err() {
            return;
        }
    }
}

/// The socket `serve` answers on; removed when dropped.
pub struct Served {
    path: PathBuf,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Starts answering the store's calls on `<data>/accord.sock`, a thread per connection.
pub fn serve(store: Arc<dyn EventStore>, data: &Path) -> std::io::Result<Served> {
    use std::os::unix::fs::PermissionsExt;
    let path = data.join(SOCKET);
    // A socket left by a server that died: nothing answers on it any more.
    if path.exists() && UnixStream::connect(&path).is_err() {
        std::fs::remove_file(&path)?;
    }
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let store = store.clone();
            std::thread::spawn(move || connection(&*store, conn));
        }
    });
    Ok(Served { path })
}

/// A store used through the socket of the `serve` that holds it.
pub struct RemoteStore {
    conn: Mutex<(BufReader<UnixStream>, UnixStream)>,
    cache: MemoryCache,
    instance: u64,
    watch: (
        tokio::sync::watch::Sender<u64>,
        tokio::sync::watch::Receiver<u64>,
    ),
}

impl RemoteStore {
    /// Connects to the socket in `data`, if a server answers on it.
    pub fn connect(data: &Path) -> Option<RemoteStore> {
        let stream = UnixStream::connect(data.join(SOCKET)).ok()?;
        let writer = stream.try_clone().ok()?;
        let store = RemoteStore {
            conn: Mutex::new((BufReader::new(stream), writer)),
            cache: MemoryCache::default(),
            instance: super::next_instance(),
            watch: tokio::sync::watch::channel(0),
        };
        let head = store.head();
        let _ = store.watch.0.send(head.seq);
        Some(store)
    }

    fn call<T: serde::de::DeserializeOwned>(&self, req: &Request) -> Result<T> {
        let lost = |e: String| {
            StoreError::Io(format!("the serving accord process stopped answering: {e}"))
        };
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let mut line = serde_json::to_string(req).map_err(|e| lost(e.to_string()))?;
        line.push('\n');
        conn.1
            .write_all(line.as_bytes())
            .map_err(|e| lost(e.to_string()))?;
        let mut reply = String::new();
        let n = conn
            .0
            .read_line(&mut reply)
            .map_err(|e| lost(e.to_string()))?;
        if n == 0 {
            return Err(lost("it closed the connection".into()));
        }
        let mut reply: serde_json::Map<String, Value> =
            serde_json::from_str(&reply).map_err(|e| lost(e.to_string()))?;
        if let Some(err) = reply.remove("err") {
            return Err(serde_json::from_value(err).map_err(|e| lost(e.to_string()))?);
        }
        serde_json::from_value(reply.remove("ok").unwrap_or(Value::Null))
            .map_err(|e| lost(e.to_string()))
    }
}

impl EventStore for RemoteStore {
    fn append(&self, batch: Vec<Proposed>) -> Result<Vec<Outcome>> {
        let batch = batch
            .into_iter()
            .map(|p| WireProposed {
                line: p.line,
                id: p.id,
                ty: p.ty,
                version: p.version,
                stream: p.stream,
                expected_position: p.expected_position,
                occurred: p.occurred,
                actor: p.actor,
                correlation_id: p.correlation_id,
                causation_id: p.causation_id,
                data: p.data,
                once: p.once,
            })
            .collect();
        let outcomes: Vec<WireOutcome> = self.call(&Request::Append { batch })?;
        let outcomes: Vec<Outcome> = outcomes
            .into_iter()
            .map(|o| match o {
                WireOutcome::Recorded(e) => Outcome::Recorded(e),
                WireOutcome::Duplicate { id, seq } => Outcome::Duplicate { id, seq },
            })
            .collect();
        let _ = self.watch.0.send(self.head().seq);
        Ok(outcomes)
    }

    fn import(&self, records: Vec<Envelope>) -> Result<()> {
        self.call::<Value>(&Request::Import { records })?;
        Ok(())
    }

    fn head(&self) -> Head {
        match self.call::<WireHead>(&Request::Head) {
            Ok(h) => Head {
                seq: h.seq,
                hash: h.hash,
                recorded_at: h.recorded_at,
            },
            Err(_) => Head {
                seq: 0,
                hash: crate::envelope::ZERO_HASH.to_string(),
                recorded_at: None,
            },
        }
    }

    fn read_from(&self, from: u64) -> Box<dyn Iterator<Item = Result<Envelope>> + '_> {
        let mut next = from.max(1);
        let mut page = std::collections::VecDeque::new();
        let mut done = false;
        Box::new(std::iter::from_fn(move || loop {
            if let Some(e) = page.pop_front() {
                return Some(Ok(e));
            }
            if done {
                return None;
            }
            match self.call::<Vec<Envelope>>(&Request::ReadFrom {
                from: next,
                limit: BATCH,
            }) {
                Ok(p) => {
                    done = p.len() < BATCH;
                    if let Some(last) = p.last() {
                        next = last.seq + 1;
                    }
                    page.extend(p);
                }
                Err(e) => {
                    done = true;
                    return Some(Err(e));
                }
            }
        }))
    }

    fn get(&self, seq: u64) -> Result<Option<Envelope>> {
        self.call(&Request::Get { seq })
    }

    fn read_stream(&self, stream: &str) -> Result<Vec<Envelope>> {
        self.call(&Request::ReadStream {
            stream: stream.to_string(),
        })
    }

    fn read_stream_page(&self, stream: &str, since: u64, limit: usize) -> Result<Vec<Envelope>> {
        self.call(&Request::ReadStreamPage {
            stream: stream.to_string(),
            since,
            limit,
        })
    }

    fn find_id(&self, id: &str) -> Result<Option<u64>> {
        self.call(&Request::FindId { id: id.to_string() })
    }

    fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.watch.1.clone()
    }

    /// Derived data stays in this process: the server's snapshots are its own.
    fn cache(&self) -> &dyn Cache {
        &self.cache
    }

    fn instance(&self) -> u64 {
        self.instance
    }

    /// The serving process runs the scheduler; another never does alongside it.
    fn hold_scheduler_lease(&self) -> Result<bool> {
        Ok(false)
    }
}

/// A cache that lives as long as the process.
#[derive(Default)]
struct MemoryCache(Mutex<HashMap<Vec<u8>, Vec<u8>>>);

impl Cache for MemoryCache {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned())
    }
    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_vec(), value.to_vec());
        Ok(())
    }
    fn remove_prefix(&self, prefix: &[u8]) -> Result<()> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|k, _| !k.starts_with(prefix));
        Ok(())
    }
    fn keys_with_prefix(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>> {
        Ok(self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect())
    }
    fn scan(&self, prefix: &[u8], from: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut found: Vec<(Vec<u8>, Vec<u8>)> = map
            .iter()
            .filter(|(k, _)| k.starts_with(prefix) && k.as_slice() >= from)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        found.sort();
        found.truncate(limit);
        Ok(found)
    }
    fn write_batch(&self, puts: &[(Vec<u8>, Vec<u8>)], removes: &[Vec<u8>]) -> Result<()> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for k in removes {
            map.remove(k);
        }
        for (k, v) in puts {
            map.insert(k.clone(), v.clone());
        }
        Ok(())
    }
}
