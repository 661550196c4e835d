//! The flusher: one task per data directory that makes appended records durable.
//!
//! Under `--flush always` an append marks its partition dirty and, if the partition was clean,
//! queues it here. The flusher task takes every queued partition at once, fsyncs them together
//! (one pass, up to [`FLUSH_FILES_IN_FLIGHT_MAX`] fsyncs running at a time on blocking threads)
//! and publishes each partition's new durable offset, which wakes the requests waiting for it.
//!
//! Durability is owned by this task, never by a request: a request that waits for its offset and
//! is dropped (its client went away) leaves nothing half-changed behind, since all it held was a
//! watch receiver. Appends that land while a pass runs queue their partition again and are
//! covered by the next pass: that is group commit across every partition of the directory.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};

use futures::StreamExt;
use tokio::sync::Notify;

use crate::partition::Partition;

/// fsyncs of one pass that may run at once. Concurrent fsyncs of files on one file system let
/// the kernel share a journal commit between them; the limit keeps a directory with thousands
/// of dirty partitions from occupying the whole blocking pool.
pub const FLUSH_FILES_IN_FLIGHT_MAX: usize = 32;

/// Passes that may overlap. A second pass starts as soon as appends arrive while one is in
/// flight, instead of waiting for it to end: a record then waits about one fsync rather than
/// the rest of the running one plus its own, and the kernel joins the overlapping fsyncs into
/// its journal commits. Overlap is safe: each pass publishes what its own fsync covered, and
/// durable offsets only move forward.
pub const FLUSH_PASSES_IN_FLIGHT_MAX: usize = 2;

/// The handle partitions hold; the task ends when the last handle is dropped.
#[derive(Debug)]
pub struct Flusher {
    /// Partitions with records appended since their last fsync started. A partition is queued
    /// only when its dirty flag goes from clear to set, so this holds each partition at most
    /// once: its length is bounded by the partition count.
    queue: Mutex<Vec<Arc<Partition>>>,
    wake: Arc<Notify>,
}

impl Flusher {
    /// Starts the flusher task on the current tokio runtime.
    pub fn start() -> Arc<Flusher> {
        let wake = Arc::new(Notify::new());
        let flusher = Arc::new(Flusher {
            queue: Mutex::new(Vec::new()),
            wake: Arc::clone(&wake),
        });
        tokio::spawn(run(Arc::downgrade(&flusher), wake));
        flusher
    }

    /// Queues a partition that has just become dirty.
    pub(crate) fn enqueue(&self, partition: Arc<Partition>) {
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(partition);
        // Stores a permit if the task is busy, so a pass always follows.
        self.wake.notify_one();
    }

    fn take_queue(&self) -> Vec<Arc<Partition>> {
        std::mem::take(
            &mut *self
                .queue
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        // Wakes the task so it sees the handle gone and ends.
        self.wake.notify_one();
    }
}

async fn run(flusher: Weak<Flusher>, wake: Arc<Notify>) {
    let mut passes = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = wake.notified(), if passes.len() < FLUSH_PASSES_IN_FLIGHT_MAX => {
                let Some(handle) = flusher.upgrade() else {
                    return;
                };
                let dirty = handle.take_queue();
                // The task must not keep the handle alive between passes, or it would never end.
                drop(handle);
                if !dirty.is_empty() {
                    passes.spawn(flush_pass(dirty));
                }
            }
            Some(joined) = passes.join_next(), if !passes.is_empty() => {
                if let Err(error) = joined {
                    tracing::error!(%error, "flush pass failed");
                }
            }
        }
    }
}

/// fsyncs every dirty partition once and publishes each result as soon as it is known.
async fn flush_pass(dirty: Vec<Arc<Partition>>) {
    let targets = dirty.into_iter().filter_map(|partition| {
        // Cleared before the sync target is taken: an append after this point sets the flag
        // again and queues the partition for the next pass, so no append is ever left unflushed.
        partition.dirty.store(false, Ordering::SeqCst);
        let target = partition.sync_target()?;
        Some((partition, target))
    });
    let mut syncs = futures::stream::iter(targets)
        .map(|(partition, target)| async move {
            let result = tokio::task::spawn_blocking(move || target.sync()).await;
            (partition, result)
        })
        .buffer_unordered(FLUSH_FILES_IN_FLIGHT_MAX);
    while let Some((partition, result)) = syncs.next().await {
        match result {
            Ok(Ok(durable_offset)) => partition.publish_durable(durable_offset),
            Ok(Err(error)) => {
                tracing::error!(topic = %partition.topic, partition = partition.index, %error, "fsync failed");
                partition.publish_failed();
            }
            Err(error) => {
                tracing::error!(topic = %partition.topic, partition = partition.index, %error, "fsync task failed");
                partition.publish_failed();
            }
        }
    }
}
