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
    /// A read, or a write of derived data (the cache): nothing of the log happened.
    Read,
    /// A write to the log: it may or may not have been committed.
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

    /// Runs `work` on the store's runtime and waits for it, for a synchronous caller: the
    /// caller's thread waits for the answer on a channel (under `block_in_place` on a worker of
    /// a multi-threaded runtime, so that its other tasks move on).
    pub(super) fn wait<T: Send + 'static>(
        &self,
        what: Work,
        work: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        let task = self.handle.spawn(work);
        let (answer, answered) = std::sync::mpsc::sync_channel(1);
        drop(self.handle.spawn(async move {
            let _ = answer.send(task.await);
        }));
        match offload(|| answered.recv()) {
            Ok(done) => joined(done, what),
            // Both tasks dropped unfinished: the store closed.
            Err(_) => Err(cancelled(what)),
        }
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
        Err(_) => Err(cancelled(what)),
    }
}

/// What work the store's closing cut short is reported as.
fn cancelled(what: Work) -> StoreError {
    match what {
        Work::Read => StoreError::Io("the store was closed before the work finished".into()),
        Work::Write => {
            StoreError::Unconfirmed("the store was closed before the write was confirmed".into())
        }
    }
}

/// Runs `f`, which blocks, where blocking is allowed (see [`Runner::wait`]): under
/// `block_in_place` on a multi-threaded runtime, else on the caller's thread (a current-thread
/// runtime's own thread waits, as any blocking call there does).
fn offload<T>(f: impl FnOnce() -> T) -> T {
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// Answers a question the synchronous rules ask in the middle of a write transaction, from
/// the store's runtime (the write runs its rules under `block_in_place` there).
pub(super) fn answer<F: Future>(f: F) -> F::Output {
    Handle::current().block_on(f)
}
