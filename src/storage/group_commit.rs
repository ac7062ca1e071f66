//! Group commit of accepted webhook events. One writer task takes every event that was
//! submitted while its previous transaction ran and stores them in one transaction, so a
//! burst of concurrent requests costs one WAL sync instead of one per event.
//!
//! A submitter gets its event's ID only after the transaction that contains it committed.
//! When that transaction fails, none of its events is stored and every submitter of the
//! batch gets the error. No timer delays a commit: an event that reaches an idle writer is
//! committed at once, alone.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{mpsc, oneshot};

use super::{NewEvent, SharedStorage, StorageError};

/// Maximum events in one transaction. It bounds the transaction's size and the bodies held
/// for it when more requests are in flight than one commit can take.
pub const MAX_BATCH: usize = 128;

/// Events that may wait for the writer. A submitter beyond this waits for room, so a slow
/// disk pushes back on the requests instead of growing a queue.
const QUEUE_CAPACITY: usize = MAX_BATCH;

/// The reason an event was not stored.
#[derive(Clone, Debug, thiserror::Error)]
pub enum CommitError {
    #[error("the transaction containing the event failed")]
    Failed(#[source] Arc<StorageError>),
    #[error("the event writer has stopped, so the event was not stored")]
    Stopped,
}

struct Submission {
    event: NewEvent,
    committed: oneshot::Sender<Result<i64, CommitError>>,
}

/// The writer: [`EventWriter::insert`] submits an event, [`EventWriter::run`] commits them.
/// Cloning shares it.
#[derive(Clone)]
pub struct EventWriter {
    submissions: mpsc::Sender<Submission>,
    /// Taken by the one running [`EventWriter::run`].
    queue: Arc<Mutex<Option<mpsc::Receiver<Submission>>>>,
    storage: SharedStorage,
}

/// An event in the writer's queue; [`PendingCommit::committed`] waits for its transaction.
pub struct PendingCommit(oneshot::Receiver<Result<i64, CommitError>>);

impl PendingCommit {
    /// Waits until the event's transaction committed and returns the event's ID.
    pub async fn committed(self) -> Result<i64, CommitError> {
        // A dropped sender means the writer stopped without committing the event.
        self.0.await.unwrap_or(Err(CommitError::Stopped))
    }
}

impl EventWriter {
    pub fn new(storage: SharedStorage) -> Self {
        let (submissions, queue) = mpsc::channel(QUEUE_CAPACITY);
        Self {
            submissions,
            queue: Arc::new(Mutex::new(Some(queue))),
            storage,
        }
    }

    /// Stores `event` and returns its ID once it is durable.
    pub async fn insert(&self, event: NewEvent) -> Result<i64, CommitError> {
        self.enqueue(event).await?.committed().await
    }

    /// Puts `event` in the queue, waiting while the queue is full. Only an ID returned by
    /// [`PendingCommit::committed`] proves the event stored, but a queued event may be
    /// stored even when no caller awaits that.
    pub async fn enqueue(&self, event: NewEvent) -> Result<PendingCommit, CommitError> {
        let (committed, receiver) = oneshot::channel();
        self.submissions
            .send(Submission { event, committed })
            .await
            .map_err(|_| CommitError::Stopped)?;
        Ok(PendingCommit(receiver))
    }

    /// Commits queued events until `submitters_done` resolves and the events queued by then
    /// are committed. Later submissions fail with [`CommitError::Stopped`]. Only the first
    /// call commits anything; a second one returns at once.
    pub async fn run(self, submitters_done: impl Future<Output = ()>) {
        let taken = self
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(mut queue) = taken else {
            tracing::warn!("the webhook event writer is already running, so this second run exits");
            return;
        };
        tokio::pin!(submitters_done);
        let mut closing = false;
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            tokio::select! {
                // Whatever queued during the previous commit forms the next batch.
                received = queue.recv_many(&mut batch, MAX_BATCH) => {
                    if received == 0 {
                        break;
                    }
                    self.commit(&mut batch).await;
                }
                () = &mut submitters_done, if !closing => {
                    // Reject new events. The ones already queued are still committed.
                    queue.close();
                    closing = true;
                }
            }
        }
        tracing::debug!("webhook event writer stopped");
    }

    /// Commits `batch` in one transaction and sends each submitter its result, emptying
    /// `batch`.
    async fn commit(&self, batch: &mut Vec<Submission>) {
        let (events, waiters): (Vec<NewEvent>, Vec<_>) = batch
            .drain(..)
            .map(|submission| (submission.event, submission.committed))
            .unzip();
        match self.storage.insert_events(&events).await {
            Ok(ids) => {
                tracing::debug!(events = ids.len(), "committed webhook events");
                // A submitter that went away (its client disconnected) is skipped: its event
                // is stored all the same and delivered like any other.
                for (waiter, id) in waiters.into_iter().zip(ids) {
                    let _ = waiter.send(Ok(id));
                }
            }
            Err(error) => {
                // Not logged here: each submitter reports it, with its own context.
                let error = Arc::new(error);
                for waiter in waiters {
                    let _ = waiter.send(Err(CommitError::Failed(error.clone())));
                }
            }
        }
    }
}
