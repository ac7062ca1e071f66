//! Connection shards (the `workers` setting): threads that each run a single-threaded
//! runtime and serve the connections handed to them, from the TLS handshake to the last
//! response.
//!
//! On tokio's shared multi-threaded runtime a proxied request wakes tasks on both worker
//! threads: the client connection, the pooled upstream connection and its channels move
//! between them, each move costing a futex wake-up and cold caches. A shard keeps a
//! connection, its timers and, through [`current`], its own upstream pool on one thread, as
//! nginx keeps a connection in one worker process. On the 2 KB GET benchmark this cut the
//! proxy's CPU per request by about 9% (`bench/notes.md`).
//!
//! The accept loop stays on the main runtime and hands each accepted socket to the shard
//! serving the fewest connections. Written by hand: tokio runs one single-threaded runtime
//! per thread, but has no pool of them that places connections by load.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::mpsc;

/// The maximum number of shards in a process, and the size of per-shard tables such as the
/// upstream pools.
pub const MAX_SHARDS: usize = 64;

/// Work sent to a shard: builds the connection's future on the shard's thread, where its
/// socket must be registered, and spawns it there.
type Job = Box<dyn FnOnce() + Send>;

thread_local! {
    static CURRENT: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The index of the shard running on this thread, or `None` off the shards (the main
/// runtime, tests, the command-line tools).
pub fn current() -> Option<usize> {
    CURRENT.with(Cell::get)
}

/// Returns the number of shards to run when the configuration sets none: one per CPU the
/// process may use.
pub fn default_count() -> usize {
    std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
        .min(MAX_SHARDS)
}

/// A set of shard threads. Dropping it closes their job queues. Each thread then drops its
/// runtime, which cancels the connections it still serves, and ends. [`Shards::join`] also
/// waits for that. The accept loops let go of the set only after their drain, so in-flight
/// requests first get the drain timeout.
pub struct Shards {
    shards: Vec<Shard>,
}

struct Shard {
    jobs: mpsc::UnboundedSender<Job>,
    /// Connections this shard is serving, to place the next one on the least busy shard.
    open: Arc<AtomicUsize>,
    thread: std::thread::JoinHandle<()>,
}

impl Shards {
    /// Starts `count` shard threads (at least one, at most [`MAX_SHARDS`]).
    pub fn start(count: usize) -> io::Result<Self> {
        let count = count.clamp(1, MAX_SHARDS);
        let mut shards = Vec::with_capacity(count);
        for index in 0..count {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (jobs, mut receiver) = mpsc::unbounded_channel::<Job>();
            let thread = std::thread::Builder::new()
                .name(format!("sb-worker-{index}"))
                .spawn(move || {
                    CURRENT.with(|current| current.set(Some(index)));
                    runtime.block_on(async move {
                        while let Some(job) = receiver.recv().await {
                            job();
                        }
                    });
                    // Dropping the runtime here cancels what is still running: the accept
                    // loop's drain has already waited for it as long as it may.
                })?;
            shards.push(Shard {
                jobs,
                open: Arc::new(AtomicUsize::new(0)),
                thread,
            });
        }
        Ok(Self { shards })
    }

    /// Closes the job queues and waits until every thread has cancelled what it still runs
    /// and ended. Blocks, so call it off the async runtime (`spawn_blocking`).
    pub fn join(self) {
        let threads: Vec<_> = self
            .shards
            .into_iter()
            .map(|shard| {
                drop(shard.jobs);
                shard.thread
            })
            .collect();
        for thread in threads {
            // A thread that panicked has nothing left to stop.
            let _ = thread.join();
        }
    }

    /// Runs the future that `build` makes on the least busy shard. `build` runs on that
    /// shard's thread. Returns `build` when every shard has stopped.
    pub fn spawn<B, F>(&self, build: B) -> Result<(), B>
    where
        B: FnOnce() -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let Some(shard) = self
            .shards
            .iter()
            .min_by_key(|shard| shard.open.load(Ordering::Relaxed))
        else {
            return Err(build);
        };
        // Checked before `build` moves into the job, so that it can be returned.
        if shard.jobs.is_closed() {
            return Err(build);
        }
        shard.open.fetch_add(1, Ordering::Relaxed);
        let guard = OpenGuard(shard.open.clone());
        let job: Job = Box::new(move || {
            tokio::spawn(Guarded::new(build(), guard));
        });
        // The thread's loop owns the receiver, so a send fails only after the thread ended.
        let _ = shard.jobs.send(job);
        Ok(())
    }
}

/// Counts a connection against its shard until it ends.
struct OpenGuard(Arc<AtomicUsize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

pin_project_lite::pin_project! {
    /// A future with a value dropped when it ends, such as a connection's count. A wrapper
    /// rather than an `async` block, which would keep room for the future twice: once as
    /// captured and once while awaited. With the block, 5,000 idle connections took 1.6 MiB
    /// more (about 330 bytes each).
    pub struct Guarded<F, G> {
        #[pin]
        future: F,
        _guard: G,
    }
}

impl<F, G> Guarded<F, G> {
    pub fn new(future: F, guard: G) -> Self {
        Self {
            future,
            _guard: guard,
        }
    }
}

impl<F: Future<Output = ()>, G> Future for Guarded<F, G> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        self.project().future.poll(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_on_the_least_busy_shard_thread() {
        let shards = Shards::start(2).expect("shards start");
        assert_eq!(shards.shards.len(), 2);
        let (release, released) = tokio::sync::watch::channel(false);
        let (sender, mut receiver) = mpsc::unbounded_channel();
        for _ in 0..2 {
            let sender = sender.clone();
            let mut released = released.clone();
            let spawned = shards.spawn(move || async move {
                let name = std::thread::current().name().map(str::to_owned);
                let _ = sender.send((current(), name));
                // Stay open, so the next connection goes to the other shard.
                let _ = released.wait_for(|released| *released).await;
            });
            assert!(spawned.is_ok(), "a running shard takes the job");
            // Wait until the job runs before placing the next one.
            let (index, name) = receiver.recv().await.expect("the job reports");
            let index = index.expect("a job runs on a shard");
            assert_eq!(name, Some(format!("sb-worker-{index}")));
        }
        let busy: Vec<usize> = shards
            .shards
            .iter()
            .map(|shard| shard.open.load(Ordering::Relaxed))
            .collect();
        assert_eq!(busy, vec![1, 1], "one open job per shard");
        let _ = release.send(true);
        assert_eq!(current(), None, "the test's own thread is not a shard");
    }

    #[tokio::test]
    async fn join_cancels_open_jobs_and_ends_threads() {
        let shards = Shards::start(2).expect("shards start");
        let (started_sender, mut started) = mpsc::unbounded_channel();
        let (ended_sender, mut ended) = mpsc::unbounded_channel::<()>();
        let spawned = shards.spawn(move || async move {
            // Dropped when the job ends or is cancelled.
            let _ended = ended_sender;
            let _ = started_sender.send(());
            std::future::pending::<()>().await;
        });
        assert!(spawned.is_ok(), "a running shard takes the job");
        started.recv().await.expect("the job started");
        tokio::task::spawn_blocking(move || shards.join())
            .await
            .expect("join returns");
        // `join` has returned, so the job's end is already recorded. The bound only keeps a
        // broken `join` from hanging the test.
        let end = tokio::time::timeout(std::time::Duration::from_secs(10), ended.recv()).await;
        assert_eq!(end, Ok(None), "the pending job was cancelled");
    }
}
