//! The small tokio runtime a PostgreSQL store's connections live on, and the two ways work
//! reaches it: awaited by async callers (a request never holds a thread while the database
//! answers), waited for by synchronous ones (the command line, folds on the blocking pool).

use std::future::Future;

use tokio::runtime::{Handle, Runtime};

use super::{Result, StoreError};

/// The store's runtime. Every connection, pooled or not, is driven by its workers, so the
/// store works the same whether its caller is async, on a blocking thread, or outside any
/// runtime; dropping it ends the connections without waiting.
pub(super) struct StoreRuntime {
    runtime: Option<Runtime>,
}

/// Reaches the store's runtime: what the store and its cache hand work to.
#[derive(Clone)]
pub(super) struct Runner {
    handle: Handle,
}

/// What a cancelled task (the store closed while it ran) is reported as.
#[derive(Clone, Copy)]
pub(super) enum Work {
    /// A read: nothing happened.
    Read,
    /// A write: it may or may not have been committed.
    Write,
}

impl StoreRuntime {
    /// The runtime, and what reaches it.
    pub(super) fn new() -> Result<(StoreRuntime, Runner)> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("accord-pg")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Io(format!("cannot start the database runtime: {e}")))?;
        let runner = Runner {
            handle: runtime.handle().clone(),
        };
        Ok((
            StoreRuntime {
                runtime: Some(runtime),
            },
            runner,
        ))
    }
}

impl Runner {
    /// Starts `work` on the store's runtime at once; the future it returns resolves to its
    /// result wherever it is awaited.
    pub(super) fn spawn<T: Send + 'static>(
        &self,
        what: Work,
        work: impl Future<Output = Result<T>> + Send + 'static,
    ) -> impl Future<Output = Result<T>> + Send + 'static {
        let task = self.handle.spawn(work);
        async move { joined(task.await, what) }
    }

    /// Runs `work` on the store's runtime and waits for it, for a synchronous caller: on a
    /// worker of a multi-threaded runtime the wait runs under `block_in_place`, on a
    /// current-thread runtime on a scoped thread, elsewhere on the caller's thread.
    pub(super) fn wait<T: Send + 'static>(
        &self,
        what: Work,
        work: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        let task = self.spawn(what, work);
        offload(|| self.handle.block_on(task))
    }

    /// Starts a task that lives as long as the store.
    pub(super) fn detach(&self, work: impl Future<Output = ()> + Send + 'static) {
        drop(self.handle.spawn(work));
    }
}

impl Drop for StoreRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

fn joined<T>(r: std::result::Result<Result<T>, tokio::task::JoinError>, what: Work) -> Result<T> {
    match r {
        Ok(out) => out,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(match what {
            Work::Read => StoreError::Io("the store was closed before the read finished".into()),
            Work::Write => StoreError::Unconfirmed(
                "the store was closed before the write was confirmed".into(),
            ),
        }),
    }
}

/// Runs `f`, which blocks, where blocking is allowed (see [`StoreRuntime::wait`]).
fn offload<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    match Handle::try_current() {
        Err(_) => f(),
        Ok(h) => match h.runtime_flavor() {
            tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
            _ => std::thread::scope(|s| {
                s.spawn(f)
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))
            }),
        },
    }
}

/// Answers a question the synchronous rules ask in the middle of a write transaction, from
/// the store's runtime (the write runs its rules under `block_in_place` there).
pub(super) fn answer<F: Future>(f: F) -> F::Output {
    Handle::current().block_on(f)
}
