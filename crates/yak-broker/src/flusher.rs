//! The flusher: the threads of a data directory that make appended records durable.
//!
//! Under `--flush always` an append marks its partition dirty and, if the partition was clean,
//! queues it with its flusher thread. Partitions are spread over [`FLUSH_THREADS`] threads (each
//! partition always goes to the same one, so one file is never fsynced twice at once); a thread
//! takes every partition queued with it and fsyncs them in one pass, publishing each partition's
//! new durable offset as soon as its fsync returns, which wakes the requests waiting for it.
//! Appends that land while a pass runs queue their partition again and are covered by the next
//! pass: that is group commit.
//!
//! Durability is owned by these threads, never by a request: a request that waits for its offset
//! and is dropped (its client went away) leaves nothing half-changed behind, since all it held
//! was a watch receiver.
//!
//! Why threads of their own rather than a task and `spawn_blocking` per fsync: an fsync is
//! blocking work either way, and a long-lived thread costs one wake-up per pass instead of a
//! hand-off to and from the blocking pool per partition; on a fast disk those hand-offs, not
//! the fsyncs, bounded single-record produce (see BENCHMARKS.md). Sharding over several threads
//! lets partitions on different threads stop queueing behind each other's fsyncs, which helps a
//! disk that completes parallel fsyncs sooner; on the machines measured it did not.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::partition::Partition;

/// Flusher threads per data directory; partitions are assigned to them round-robin. One is
/// fastest on the machines measured (2 and 4 threads: lower single-record produce rates, see
/// BENCHMARKS.md): concurrent fsyncs there do not finish sooner, and more threads cost more
/// wake-ups. A disk that completes parallel fsyncs faster may want more.
pub const FLUSH_THREADS: usize = 1;
const _: () = assert!(
    FLUSH_THREADS >= 1,
    "a data directory needs a flusher thread"
);

/// The handle partitions hold; the threads end when the last handle is dropped.
#[derive(Debug)]
pub struct Flusher {
    shards: Vec<Arc<Shared>>,
    /// The shard the next partition is assigned to.
    next_shard: AtomicUsize,
}

#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
}

#[derive(Debug, Default)]
struct Queue {
    /// Partitions with records appended since their last fsync started. A partition is queued
    /// only when its dirty flag goes from clear to set, so this holds each partition at most
    /// once: its length is bounded by the partition count.
    dirty: Vec<Arc<Partition>>,
    /// Set when the last handle is dropped.
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // The queue is plain data, consistent between statements: safe to use after a panic.
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_one();
    }
}

impl Flusher {
    /// Starts the flusher threads.
    pub fn start() -> std::io::Result<Arc<Flusher>> {
        let mut shards: Vec<Arc<Shared>> = Vec::with_capacity(FLUSH_THREADS);
        for number in 0..FLUSH_THREADS {
            let shared = Arc::new(Shared::default());
            let thread_shared = Arc::clone(&shared);
            let spawned = std::thread::Builder::new()
                .name(format!("yak-flusher-{number}"))
                .spawn(move || run(&thread_shared));
            if let Err(error) = spawned {
                for shard in &shards {
                    shard.close();
                }
                return Err(error);
            }
            shards.push(shared);
        }
        Ok(Arc::new(Flusher {
            shards,
            next_shard: AtomicUsize::new(0),
        }))
    }

    /// The flusher thread a new partition is assigned to.
    pub(crate) fn assign_shard(&self) -> usize {
        self.next_shard.fetch_add(1, Ordering::Relaxed) % self.shards.len()
    }

    /// Queues a partition that has just become dirty with its flusher thread.
    pub(crate) fn enqueue(&self, shard: usize, partition: Arc<Partition>) {
        let shared = &self.shards[shard % self.shards.len()];
        shared.lock().dirty.push(partition);
        shared.wake.notify_one();
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        for shard in &self.shards {
            shard.close();
        }
    }
}

fn run(shared: &Shared) {
    loop {
        let dirty = {
            let mut queue = shared.lock();
            while queue.dirty.is_empty() && !queue.closed {
                queue = shared
                    .wake
                    .wait(queue)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            if queue.dirty.is_empty() {
                return; // Closed, and nothing left to make durable.
            }
            std::mem::take(&mut queue.dirty)
        };
        flush_partitions(&dirty);
    }
}

/// One pass: fsyncs each dirty partition once, publishing each result as soon as it is known.
fn flush_partitions(partitions: &[Arc<Partition>]) {
    for partition in partitions {
        // Cleared before the sync target is taken: an append after this point sets the flag
        // again and queues the partition for the next pass, so no append is left unflushed.
        partition.dirty.store(false, Ordering::SeqCst);
        let Some(target) = partition.sync_target() else {
            continue;
        };
        match target.sync() {
            Ok(durable_offset) => partition.publish_durable(durable_offset),
            Err(error) => {
                tracing::error!(topic = %partition.topic, partition = partition.index, %error, "fsync failed");
                partition.publish_failed();
            }
        }
    }
}
