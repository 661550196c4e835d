//! A partition on this node: its log, its high watermark, and how appends become durable.
//!
//! Appends take the log's write lock only for the `write` itself. Durability under
//! `--flush always` belongs to the data directory's [`Flusher`]: an append marks the partition
//! dirty (queueing it with the flusher if it was clean) and, when it must wait, waits on the
//! partition's durable-offset watch channel until a flusher pass covers its offset. Waiting holds
//! nothing but a receiver, so a request dropped mid-wait (its client went away) changes no shared
//! state. The high watermark follows the durable offset under `always`, and the log end offset
//! otherwise, so consumers only ever see records that would survive a crash of this node under
//! the policy the operator chose.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use yak_log::{BatchHeader, FlushPolicy, Log, LogError, SyncTarget, ValidBatch};

use crate::error::BrokerError;
use crate::flusher::Flusher;
use crate::producer_state::{ProducerStates, SequenceCheck, SequenceError};
use crate::replica::{LeaseGate, ReplicaState, Role};

/// Where a batch landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub base_offset: i64,
    pub last_offset: i64,
    pub log_start_offset: i64,
}

/// Whether an append waits for its records to be durable before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Return once written; durability happens in the background (`acks=0`).
    Background,
    /// Return once the flush policy is satisfied on this node (`acks=1`).
    Wait,
    /// Return once the record is committed: below the high watermark, which in a cluster means
    /// on every in-sync replica (`acks=all`). On a standalone node the same as `Wait`.
    Committed,
}

/// The durable offset as waiters see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DurableState {
    /// Every offset below this is fsynced.
    offset: i64,
    /// An fsync failed: the log is poisoned and nothing more becomes durable until a restart.
    failed: bool,
}

#[derive(Debug)]
pub struct Partition {
    pub topic: String,
    pub index: i32,
    log: RwLock<Log>,
    flush: FlushPolicy,
    /// The high watermark; its watch channel wakes long-polls, streams and Kafka fetches.
    high_watermark_tx: watch::Sender<i64>,
    /// Set by an append under `--flush always`, cleared by the flusher when it takes the
    /// partition's sync target. The append that sets it queues the partition with `flusher`.
    pub(crate) dirty: AtomicBool,
    flusher: Arc<Flusher>,
    /// The flusher thread this partition's fsyncs run on.
    flush_shard: usize,
    /// What the flusher last published: the durable offset, or that an fsync failed.
    durable_tx: watch::Sender<DurableState>,
    /// Idempotent producers' recent batches; locked only while the log's write lock is held.
    producers: std::sync::Mutex<ProducerStates>,
    /// `Role` as a u8: read on every append without a lock.
    role: AtomicU8,
    /// The leader epoch this node serves the partition at, written into every batch it appends.
    leader_epoch: AtomicI32,
    /// The cluster state of the partition; never locked while the log's lock is held.
    replica: std::sync::Mutex<ReplicaState>,
    /// The log end offset: wakes followers' fetches when the leader's log grows.
    log_end_tx: watch::Sender<i64>,
    /// Bumped on every role or epoch change: wakes `acks=all` waiters, which then fail.
    role_changes_tx: watch::Sender<u64>,
    /// The leader lease; unset on a standalone node, whose gate is always open.
    gate: OnceLock<Arc<LeaseGate>>,
    /// The high watermark last written to the log's checkpoint.
    checkpointed_high_watermark: AtomicI64,
    /// Serialises writers of the high-watermark checkpoint (the controller's ticks, and a
    /// truncation lowering it).
    checkpoint_writing: std::sync::Mutex<()>,
}

impl Partition {
    pub fn new(
        topic: String,
        index: i32,
        log: Log,
        flush: FlushPolicy,
        flusher: Arc<Flusher>,
    ) -> Partition {
        // Everything recovered from disk at start-up is as durable as it will get; it becomes
        // visible at once.
        let high_watermark = log.log_end_offset();
        let (high_watermark_tx, _) = watch::channel(high_watermark);
        let producers = rebuild_producer_states(&log);
        Partition {
            topic,
            index,
            log: RwLock::new(log),
            flush,
            high_watermark_tx,
            dirty: AtomicBool::new(false),
            flush_shard: flusher.assign_shard(),
            flusher,
            durable_tx: watch::channel(DurableState {
                offset: high_watermark,
                failed: false,
            })
            .0,
            producers: std::sync::Mutex::new(producers),
            role: AtomicU8::new(Role::Standalone as u8),
            leader_epoch: AtomicI32::new(0),
            replica: std::sync::Mutex::new(ReplicaState::default()),
            log_end_tx: watch::channel(high_watermark).0,
            role_changes_tx: watch::channel(0).0,
            gate: OnceLock::new(),
            checkpointed_high_watermark: AtomicI64::new(-1),
            checkpoint_writing: std::sync::Mutex::new(()),
        }
    }

    /// Makes this a replica of a clustered node: it neither leads nor follows until the
    /// controller says so, and its high watermark starts at the checkpointed one (records
    /// above it may still be cut by a truncation), not at the log end.
    pub fn join_cluster(&self, gate: Arc<LeaseGate>) {
        let _ = self.gate.set(gate);
        let high_watermark = {
            let log = self.read_log();
            log.high_watermark_checkpoint()
                .unwrap_or(0)
                .clamp(log.log_start_offset(), log.log_end_offset())
        };
        self.high_watermark_tx.send_replace(high_watermark);
        self.checkpointed_high_watermark
            .store(high_watermark, Ordering::Release);
        self.set_role(Role::Offline);
    }

    pub fn role(&self) -> Role {
        Role::from_u8(self.role.load(Ordering::Acquire))
    }

    fn set_role(&self, role: Role) {
        self.role.store(role as u8, Ordering::Release);
        self.role_changes_tx.send_modify(|changes| *changes += 1);
    }

    fn gate_open(&self) -> bool {
        self.gate.get().is_none_or(|gate| gate.is_open())
    }

    fn replica(&self) -> std::sync::MutexGuard<'_, ReplicaState> {
        self.replica.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the partition's cluster state.
    pub fn replica_state(&self) -> ReplicaState {
        self.replica().clone()
    }

    /// Whether this node may take a client write now: it leads (or stands alone) and, in a
    /// cluster, its lease has not lapsed.
    fn check_leader(&self) -> Result<Role, BrokerError> {
        let role = self.role();
        match role {
            Role::Standalone => Ok(role),
            Role::Leader if self.gate_open() => Ok(role),
            _ => Err(BrokerError::NotLeader { leader: None }),
        }
    }

    fn read_log(&self) -> RwLockReadGuard<'_, Log> {
        // A panic while holding the lock leaves the Log as it was between calls (each call is
        // all-or-nothing), so a poisoned lock is still safe to use.
        self.log
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_log(&self) -> RwLockWriteGuard<'_, Log> {
        self.log
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Acquire)
    }

    pub fn high_watermark(&self) -> i64 {
        *self.high_watermark_tx.borrow()
    }

    pub fn log_end_offset(&self) -> i64 {
        self.read_log().log_end_offset()
    }

    pub fn log_start_offset(&self) -> i64 {
        self.read_log().log_start_offset()
    }

    pub fn size_bytes(&self) -> u64 {
        self.read_log().size_bytes()
    }

    /// Appends one record batch (Kafka v2, base offset 0 as a producer sends it), checked where
    /// it entered the node. The broker patches in the base offset and leader epoch.
    pub async fn append(
        self: &Arc<Self>,
        mut batch: ValidBatch<'_>,
        durability: Durability,
    ) -> Result<Appended, BrokerError> {
        let role = self.check_leader()?;
        if role == Role::Leader && durability == Durability::Committed {
            let (isr, min) = {
                let replica = self.replica();
                (replica.isr.len(), replica.min_insync_replicas)
            };
            if isr < min {
                return Err(BrokerError::NotEnoughReplicas { isr, min });
            }
        }
        let leader_epoch = self.leader_epoch();
        let now_ms = crate::now_ms();
        let header = *batch.header();
        // The locks are taken and released in this block, never across an await.
        let written = {
            let mut log = self.write_log();
            if header.producer_id >= 0 {
                let mut producers = self.producers.lock().unwrap_or_else(|p| p.into_inner());
                let last_sequence = last_sequence(&header);
                match producers
                    .check(
                        header.producer_id,
                        header.producer_epoch,
                        header.base_sequence,
                        last_sequence,
                    )
                    .map_err(sequence_error)?
                {
                    SequenceCheck::Duplicate { base_offset } => Err(base_offset),
                    SequenceCheck::Append => {
                        let info = log.append_valid(&mut batch, leader_epoch, now_ms)?;
                        producers.record(
                            header.producer_id,
                            header.producer_epoch,
                            header.base_sequence,
                            last_sequence,
                            info.base_offset,
                        );
                        snapshot_if_rolled(&mut log, || producers.encode());
                        Ok((info, log.log_start_offset()))
                    }
                }
            } else {
                let info = log.append_valid(&mut batch, leader_epoch, now_ms)?;
                snapshot_if_rolled(&mut log, || {
                    let producers = self.producers.lock().unwrap_or_else(|p| p.into_inner());
                    producers.encode()
                });
                Ok((info, log.log_start_offset()))
            }
        };
        let (info, log_start_offset) = match written {
            Ok(written) => written,
            Err(base_offset) => {
                let last_offset = base_offset + header.last_offset_delta as i64;
                // The first copy may still be on its way to disk, or to the followers.
                self.wait_acknowledgeable(role, leader_epoch, durability, last_offset + 1)
                    .await?;
                return Ok(Appended {
                    base_offset,
                    last_offset,
                    log_start_offset: self.log_start_offset(),
                });
            }
        };
        let appended = Appended {
            base_offset: info.base_offset,
            last_offset: info.last_offset,
            log_start_offset,
        };
        if role == Role::Leader {
            self.log_end_tx.send_replace(info.log_end_offset);
        }
        match self.flush {
            // The flusher now owns making this durable, whether or not anyone waits.
            FlushPolicy::Always => self.mark_dirty(),
            FlushPolicy::IntervalMs(_) | FlushPolicy::Never => self.on_durable(),
        }
        self.wait_acknowledgeable(role, leader_epoch, durability, info.last_offset + 1)
            .await?;
        Ok(appended)
    }

    /// Waits until a write ending below `target` may be acknowledged at `durability`. On a
    /// leader: `acks=1` waits for its own fsync, `acks=all` for the high watermark; either fails
    /// if the node stopped leading at `leader_epoch` or its lease lapsed meanwhile, since a
    /// node that may have lost its lease acknowledges nothing. Cancel-safe: waiting holds only
    /// receivers.
    async fn wait_acknowledgeable(
        &self,
        role: Role,
        leader_epoch: i32,
        durability: Durability,
        target: i64,
    ) -> Result<(), BrokerError> {
        match (role, durability) {
            (_, Durability::Background) => return Ok(()),
            (Role::Leader, Durability::Committed) => {
                self.wait_committed(leader_epoch, target).await?
            }
            _ => {
                if self.flush == FlushPolicy::Always {
                    self.wait_durable(target).await?;
                }
            }
        }
        if role == Role::Leader {
            if self.role() != Role::Leader || self.leader_epoch() != leader_epoch {
                return Err(in_doubt("leadership moved"));
            }
            if !self.gate_open() {
                return Err(in_doubt("the leader lease lapsed"));
            }
        }
        Ok(())
    }

    /// Waits until the high watermark reaches `target`, failing as soon as this node stops
    /// leading at `leader_epoch`. The write is in the log by then, so a failure is "in doubt"
    /// (it may yet be committed by the next leader), never "not written".
    async fn wait_committed(&self, leader_epoch: i32, target: i64) -> Result<(), BrokerError> {
        let mut high_watermark = self.high_watermark_tx.subscribe();
        let mut role_changes = self.role_changes_tx.subscribe();
        loop {
            if self.role() != Role::Leader || self.leader_epoch() != leader_epoch {
                return Err(in_doubt("leadership moved"));
            }
            if *high_watermark.borrow_and_update() >= target {
                return Ok(());
            }
            tokio::select! {
                changed = high_watermark.changed() => {
                    changed.map_err(|_| BrokerError::Internal("the partition was dropped".into()))?;
                }
                changed = role_changes.changed() => {
                    changed.map_err(|_| BrokerError::Internal("the partition was dropped".into()))?;
                }
            }
        }
    }

    /// The end of what this node holds durably, as the commit rule counts it: the fsynced
    /// offset under `--flush always`, the log end offset under the lazier policies.
    fn durable_end(&self) -> i64 {
        let log = self.read_log();
        if self.flush == FlushPolicy::Always {
            log.durable_offset()
        } else {
            log.log_end_offset()
        }
    }

    /// Something became durable on this node: a standalone node publishes it; a leader
    /// recomputes the high watermark over the ISR.
    fn on_durable(&self) {
        match self.role() {
            Role::Standalone => self.advance_high_watermark(self.durable_end()),
            Role::Leader => self.recompute_high_watermark(),
            Role::Follower | Role::Offline => {}
        }
    }

    /// The leader's high watermark rule (`decide::high_watermark`): moves only while the lease
    /// holds, never down.
    pub fn recompute_high_watermark(&self) {
        if self.role() != Role::Leader || !self.gate_open() {
            return;
        }
        let durable_end = self.durable_end();
        let high_watermark = {
            let replica = self.replica();
            crate::cluster::decide::high_watermark(
                replica.leader,
                durable_end,
                &replica.isr,
                &replica.followers,
                replica.min_insync_replicas,
            )
        };
        if let Some(high_watermark) = high_watermark {
            self.advance_high_watermark(high_watermark);
        }
    }

    /// Queues this partition with the flusher unless it is queued already.
    fn mark_dirty(self: &Arc<Self>) {
        if !self.dirty.swap(true, Ordering::SeqCst) {
            self.flusher.enqueue(self.flush_shard, Arc::clone(self));
        }
    }

    /// Waits until every offset below `target` is fsynced. Cancel-safe: dropping the future
    /// leaves nothing behind, the flusher fsyncs the records all the same.
    pub async fn wait_durable(&self, target: i64) -> Result<(), BrokerError> {
        let mut durable = self.durable_tx.subscribe();
        let state = *durable
            .wait_for(|state| state.offset >= target || state.failed)
            .await
            .map_err(|_| BrokerError::Internal("the partition was dropped".into()))?;
        if state.offset >= target {
            return Ok(());
        }
        Err(LogError::Failed.into())
    }

    /// What a flusher pass should fsync, or None when everything written is already durable.
    /// A poisoned log publishes its failure here, so waiters learn of it.
    pub(crate) fn sync_target(&self) -> Option<SyncTarget> {
        let log = self.read_log();
        if log.is_failed() {
            drop(log);
            self.publish_failed();
            return None;
        }
        if log.durable_offset() >= log.log_end_offset() {
            return None;
        }
        Some(log.sync_target())
    }

    /// Records a successful fsync covering every offset below `offset` and wakes the waiters.
    pub(crate) fn publish_durable(&self, offset: i64) {
        let durable = {
            let mut log = self.write_log();
            log.mark_durable(offset);
            log.durable_offset()
        };
        self.on_durable();
        self.durable_tx.send_if_modified(|state| {
            let moved = durable > state.offset;
            if moved {
                state.offset = durable;
            }
            moved
        });
    }

    /// Records that an fsync failed; every waiter gets a storage error.
    pub(crate) fn publish_failed(&self) {
        self.durable_tx.send_if_modified(|state| {
            let changed = !state.failed;
            state.failed = true;
            changed
        });
    }

    /// Fsyncs whatever is written (the `interval:MS` policy and shutdown).
    pub fn flush_now(&self) -> Result<(), BrokerError> {
        let flushed = self.write_log().flush();
        if let Err(error) = flushed {
            self.publish_failed();
            return Err(error.into());
        }
        if self.flush == FlushPolicy::Always {
            let durable = self.read_log().durable_offset();
            self.publish_durable(durable);
        } else {
            self.on_durable();
        }
        Ok(())
    }

    /// Shuts the partition's log down cleanly (at broker shutdown): a producer snapshot at the
    /// log end offset, then `Log::close` (fsync, recovery point, clean-shutdown marker), so the
    /// next start reads no segment data. Appends after this fail.
    pub fn close(&self) -> Result<(), BrokerError> {
        let mut log = self.write_log();
        let producers = self.producers.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(error) = log.write_producer_snapshot(&producers.encode()) {
            tracing::warn!(topic = %self.topic, partition = self.index, %error, "cannot write a producer snapshot at shutdown");
        }
        drop(producers);
        if self.role() != Role::Standalone {
            let high_watermark = self.high_watermark().min(log.log_end_offset());
            if let Err(error) = log.write_high_watermark(high_watermark) {
                tracing::warn!(topic = %self.topic, partition = self.index, %error, "cannot checkpoint the high watermark at shutdown");
            }
        }
        log.close()?;
        drop(log);
        self.on_durable();
        Ok(())
    }

    fn advance_high_watermark(&self, offset: i64) {
        // Monotonic: a late publisher of an older offset never moves it back.
        self.high_watermark_tx.send_if_modified(|high_watermark| {
            let moved = offset > *high_watermark;
            if moved {
                *high_watermark = offset;
            }
            moved
        });
    }

    /// Whole stored batches from the one holding `offset`, never past the high watermark.
    /// Reads the log: call it on a blocking thread.
    pub fn read(&self, offset: i64, max_bytes: u32) -> Result<Bytes, BrokerError> {
        Ok(self.read_with_high_watermark(offset, max_bytes)?.0)
    }

    /// `read`, with the high watermark that bounded the batches.
    fn read_with_high_watermark(
        &self,
        offset: i64,
        max_bytes: u32,
    ) -> Result<(Bytes, i64), BrokerError> {
        let high_watermark = self.high_watermark();
        let records = self.read_log().read(offset, max_bytes, high_watermark)?;
        Ok((records, high_watermark))
    }

    /// Resolves when the high watermark moves past `offset`, or after `wait`.
    pub async fn wait_for_data(&self, offset: i64, wait: Duration) {
        let mut receiver = self.high_watermark_tx.subscribe();
        let _ = tokio::time::timeout(wait, receiver.wait_for(|hwm| *hwm > offset)).await;
    }

    /// A receiver that sees every change of the high watermark.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.high_watermark_tx.subscribe()
    }

    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<(i64, i64)>, LogError> {
        self.read_log().offset_for_timestamp(timestamp_ms)
    }

    /// Deletes the segments `retention` no longer keeps, never at or above the high watermark.
    pub fn delete_segments_for_retention(
        &self,
        retention: yak_log::Retention,
        now_ms: i64,
    ) -> Result<yak_log::RetentionOutcome, BrokerError> {
        let high_watermark = self.high_watermark();
        Ok(self
            .write_log()
            .delete_segments_for_retention(retention, now_ms, high_watermark)?)
    }

    /// New segment and batch limits for the log (a topic's configs changed).
    pub fn set_log_config(&self, config: yak_log::LogConfig) -> Result<(), BrokerError> {
        Ok(self.write_log().set_config(config)?)
    }

    /// Whole stored batches from the one holding `offset`, with the high watermark that
    /// bounded them: the batches never reach past the watermark answered, so a Fetch reports
    /// one at least as new as its data. The log read runs on a blocking thread (log reads must
    /// not block tokio's worker threads); dropping the future leaves nothing half done.
    pub async fn read_committed(
        self: &Arc<Self>,
        offset: i64,
        max_bytes: u32,
    ) -> Result<(Bytes, i64), BrokerError> {
        let partition = Arc::clone(self);
        tokio::task::spawn_blocking(move || partition.read_with_high_watermark(offset, max_bytes))
            .await
            .map_err(|e| BrokerError::Internal(format!("log read task failed: {e}")))?
    }
}

/// The cluster side of a partition: role changes, the leader's view of its followers, and a
/// follower's copying and truncating.
impl Partition {
    /// Starts leading at `epoch`: records the epoch's start at the log end offset (persisted
    /// before the first append stamps it), tracks every ISR follower from now, and lifts the
    /// high watermark to what the coordinator says was committed (`published_high_watermark`:
    /// every ISR member holds it, this node included).
    #[allow(clippy::too_many_arguments)]
    pub fn become_leader(
        &self,
        node: i32,
        epoch: i32,
        isr: Vec<i32>,
        isr_version: i64,
        replicas: Vec<i32>,
        min_insync_replicas: usize,
        now_ms: u64,
        published_high_watermark: Option<i64>,
    ) -> Result<(), BrokerError> {
        let log_end_offset = {
            let mut log = self.write_log();
            let log_end_offset = log.log_end_offset();
            log.assign_epoch(epoch, log_end_offset)?;
            log_end_offset
        };
        {
            let mut replica = self.replica();
            replica.followers = isr
                .iter()
                .filter(|member| **member != node)
                .map(|member| {
                    (
                        *member,
                        crate::cluster::decide::FollowerProgress::new(now_ms),
                    )
                })
                .collect();
            replica.leader = node;
            replica.epoch = epoch;
            replica.epoch_start_offset = log_end_offset;
            replica.isr = isr;
            replica.isr_version = isr_version;
            replica.replicas = replicas;
            replica.min_insync_replicas = min_insync_replicas;
        }
        self.leader_epoch.store(epoch, Ordering::Release);
        if let Some(published) = published_high_watermark {
            self.advance_high_watermark(published.min(log_end_offset));
        }
        self.log_end_tx.send_replace(log_end_offset);
        self.set_role(Role::Leader);
        self.recompute_high_watermark();
        Ok(())
    }

    /// Follows `leader` at `epoch`: takes no more client writes; waiters of the old epoch fail.
    pub fn become_follower(&self, leader: i32, epoch: i32, isr: Vec<i32>, replicas: Vec<i32>) {
        {
            let mut replica = self.replica();
            replica.leader = leader;
            replica.epoch = epoch;
            replica.isr = isr;
            replica.replicas = replicas;
            replica.followers.clear();
        }
        self.leader_epoch.store(epoch, Ordering::Release);
        self.set_role(Role::Follower);
    }

    /// Neither leads nor follows (no leader known, or the lease lapsed).
    pub fn go_offline(&self) {
        self.replica().followers.clear();
        self.set_role(Role::Offline);
    }

    /// Whether this leader's high watermark has caught up with the start of its epoch: before
    /// that it may be below one an earlier leader published, so "latest" is not answered yet
    /// (Kafka's OFFSET_NOT_AVAILABLE, KIP-207) rather than answered lower than a client saw.
    pub fn high_watermark_ready(&self) -> bool {
        self.role() != Role::Leader || self.high_watermark() >= self.replica().epoch_start_offset
    }

    /// Every node that replicates the partition (the cluster's members).
    pub fn set_replicas(&self, replicas: Vec<i32>) {
        self.replica().replicas = replicas;
    }

    /// The ISR the coordinator accepted.
    pub fn apply_isr(&self, isr: Vec<i32>, isr_version: i64) {
        {
            let mut replica = self.replica();
            replica.isr = isr;
            replica.isr_version = isr_version;
        }
        self.recompute_high_watermark();
    }

    /// The ISR change this leader should ask for now, with the version it replaces.
    pub fn isr_change(&self, now_ms: u64, replica_lag_ms: u64) -> Option<(Vec<i32>, i64)> {
        if self.role() != Role::Leader {
            return None;
        }
        let high_watermark = self.high_watermark();
        let replica = self.replica();
        crate::cluster::decide::isr_change(
            replica.leader,
            &replica.isr,
            &replica.replicas,
            &replica.followers,
            high_watermark,
            replica.epoch_start_offset,
            now_ms,
            replica_lag_ms,
        )
        .map(|isr| (isr, replica.isr_version))
    }

    /// Checks a replica request's `current_leader_epoch` against this leader's (-1: not given).
    pub fn check_replica_epoch(&self, request_epoch: i32) -> Result<(), BrokerError> {
        if self.role() != Role::Leader {
            return Err(BrokerError::NotLeader { leader: None });
        }
        let current = self.leader_epoch();
        if request_epoch >= 0 && request_epoch < current {
            return Err(BrokerError::FencedLeaderEpoch {
                request: request_epoch,
                current,
            });
        }
        if request_epoch > current {
            return Err(BrokerError::UnknownLeaderEpoch {
                request: request_epoch,
                current,
            });
        }
        Ok(())
    }

    /// A follower's fetch at `fetch_offset` (its durable log end offset) reached this leader:
    /// record its progress and move the high watermark.
    pub fn replica_fetched(
        &self,
        node: i32,
        request_epoch: i32,
        fetch_offset: i64,
        now_ms: u64,
    ) -> Result<(), BrokerError> {
        self.check_replica_epoch(request_epoch)?;
        let (log_start_offset, log_end_offset) = {
            let log = self.read_log();
            (log.log_start_offset(), log.log_end_offset())
        };
        if fetch_offset > log_end_offset || fetch_offset < log_start_offset {
            return Err(BrokerError::OffsetOutOfRange {
                offset: fetch_offset,
                log_start_offset,
                log_end_offset,
            });
        }
        {
            let mut replica = self.replica();
            // Only members of the cluster replicate: anyone else claiming a replica id would
            // move the high watermark for records it does not hold.
            if !replica.replicas.contains(&node) || node == replica.leader {
                return Err(BrokerError::NotLeader { leader: None });
            }
            replica
                .followers
                .entry(node)
                .or_insert_with(|| crate::cluster::decide::FollowerProgress::new(now_ms))
                .on_fetch(fetch_offset, log_end_offset, now_ms);
        }
        self.recompute_high_watermark();
        Ok(())
    }

    /// Whole stored batches from the one holding `offset` up to the log end offset (not the
    /// high watermark: followers copy what is not committed yet), with the high watermark.
    /// Reads the log: call it on a blocking thread.
    pub fn read_for_replica(
        &self,
        offset: i64,
        max_bytes: u32,
    ) -> Result<(Bytes, i64), BrokerError> {
        let high_watermark = self.high_watermark();
        let log = self.read_log();
        let records = log.read(offset, max_bytes, log.log_end_offset())?;
        Ok((records, high_watermark))
    }

    /// A receiver that sees every role or epoch change of this partition.
    pub fn subscribe_role_changes(&self) -> watch::Receiver<u64> {
        self.role_changes_tx.subscribe()
    }

    /// A receiver that sees the leader's log end offset move (wakes followers' fetches).
    pub fn subscribe_log_end(&self) -> watch::Receiver<i64> {
        self.log_end_tx.subscribe()
    }

    /// Appends batches copied from the leader (they carry their offsets and epochs), records
    /// their producers, and hands durability to the flusher. Returns the new log end offset.
    pub fn append_replicated(self: &Arc<Self>, batches: &[u8]) -> Result<i64, BrokerError> {
        if self.role() != Role::Follower {
            return Err(BrokerError::NotLeader { leader: None });
        }
        let log_end_offset = {
            let mut log = self.write_log();
            let info = log.append_replicated(batches)?;
            let mut producers = self.producers.lock().unwrap_or_else(|p| p.into_inner());
            for (header, _) in yak_log::batch::batches(batches).flatten() {
                if header.producer_id >= 0 {
                    producers.record(
                        header.producer_id,
                        header.producer_epoch,
                        header.base_sequence,
                        last_sequence(&header),
                        header.base_offset,
                    );
                }
            }
            snapshot_if_rolled(&mut log, || producers.encode());
            info.log_end_offset
        };
        match self.flush {
            FlushPolicy::Always => self.mark_dirty(),
            FlushPolicy::IntervalMs(_) | FlushPolicy::Never => {}
        }
        Ok(log_end_offset)
    }

    /// Waits until what this follower appended is durable under the flush policy (an fsync
    /// under `--flush always`; nothing to wait for under the lazier policies, whose durable end
    /// is the log end).
    pub async fn wait_follower_durable(&self) -> Result<(), BrokerError> {
        if self.flush != FlushPolicy::Always {
            return Ok(());
        }
        let log_end_offset = self.log_end_offset();
        self.wait_durable(log_end_offset).await
    }

    /// What a follower reports as its fetch offset: its durable log end offset.
    pub fn follower_fetch_offset(&self) -> i64 {
        self.durable_end()
    }

    /// A follower learns the leader's high watermark (capped by what it holds).
    pub fn set_follower_high_watermark(&self, leader_high_watermark: i64) {
        if self.role() != Role::Follower {
            return;
        }
        let log_end_offset = self.log_end_offset();
        self.advance_high_watermark(leader_high_watermark.min(log_end_offset));
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.read_log().latest_epoch()
    }

    /// Where `epoch` ends in this log (OffsetForLeaderEpoch): `(epoch found, end offset)`.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        self.read_log().end_offset_for_epoch(epoch)
    }

    /// Cuts the log at `offset` (rounded down to a batch boundary) before following a new
    /// leader, rebuilds producer state from what is left, and resets the durable offset so no
    /// fsync taken before the cut vouches for records written after it. Returns where it cut
    /// and whether that was below the high watermark (a safety alarm: records this node called
    /// committed are gone).
    pub fn truncate_as_follower(&self, offset: i64) -> Result<(i64, bool), BrokerError> {
        let _writing = self
            .checkpoint_writing
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let high_watermark = self.high_watermark();
        let cut = {
            let mut log = self.write_log();
            let cut = log.truncate_to_batch_floor(offset)?;
            let rebuilt = rebuild_producer_states(&log);
            *self.producers.lock().unwrap_or_else(|p| p.into_inner()) = rebuilt;
            cut
        };
        self.durable_tx
            .send_modify(|state| state.offset = state.offset.min(cut));
        let below_high_watermark = cut < high_watermark;
        if below_high_watermark {
            tracing::error!(topic = %self.topic, partition = self.index, cut, high_watermark, "SAFETY ALARM: truncated below the high watermark");
            self.high_watermark_tx.send_replace(cut);
        }
        if self.checkpointed_high_watermark.load(Ordering::Acquire) > cut {
            // Never leave a checkpoint above the log: the next start would trust it.
            self.write_high_watermark_file(cut, true)?;
        }
        self.log_end_tx.send_replace(cut);
        Ok((cut, below_high_watermark))
    }

    /// Writes the high watermark checkpoint if it moved since the last one. The file is
    /// written without holding the log's lock: its fsync would otherwise stall every append
    /// and read of the partition (and the async worker running them) once a second.
    pub fn checkpoint_high_watermark(&self) -> Result<(), BrokerError> {
        let _writing = self
            .checkpoint_writing
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let high_watermark = self.high_watermark();
        let last = self.checkpointed_high_watermark.load(Ordering::Acquire);
        if last == high_watermark {
            return Ok(());
        }
        self.write_high_watermark_file(high_watermark, last < 0 || high_watermark < last)
    }

    /// Replaces `high-watermark-checkpoint`; `sync_dir` when a crash must not bring back an
    /// older file (the first write, and a lower value). Called with `checkpoint_writing` held.
    fn write_high_watermark_file(
        &self,
        high_watermark: i64,
        sync_dir: bool,
    ) -> Result<(), BrokerError> {
        let (fs, dir) = {
            let log = self.read_log();
            (log.fs(), log.dir().to_path_buf())
        };
        yak_log::checkpoint::write_high_watermark(fs.as_ref(), &dir, high_watermark, sync_dir)?;
        self.checkpointed_high_watermark
            .store(high_watermark, Ordering::Release);
        Ok(())
    }
}

/// The error of a write that reached the log but was not confirmed: it may or may not survive,
/// so the client must not be told it was not written (that invites a blind resend).
fn in_doubt(reason: &str) -> BrokerError {
    BrokerError::RequestTimedOut(format!(
        "{reason} before the write was confirmed; it may or may not be committed (resend it with the same msg_id or an idempotent producer)"
    ))
}

fn last_sequence(header: &BatchHeader) -> i32 {
    // Sequences wrap after i32::MAX, as in Kafka.
    ((header.base_sequence as i64 + header.last_offset_delta as i64) % (i32::MAX as i64 + 1)) as i32
}

fn sequence_error(error: SequenceError) -> BrokerError {
    match error {
        SequenceError::OutOfOrder { .. } => BrokerError::OutOfOrderSequence(error.to_string()),
        SequenceError::InvalidEpoch { .. } => BrokerError::InvalidProducerEpoch(error.to_string()),
    }
}

/// Loads producer state at start-up: the newest intact producer snapshot the log keeps, then
/// the headers of the batches written after it (only headers are read). Without a snapshot the
/// replay starts at the log start offset. The result is exactly what replaying the whole log
/// would give, so a producer that retries across a restart is still deduplicated.
fn rebuild_producer_states(log: &Log) -> ProducerStates {
    let loaded = log.load_producer_snapshot(|payload| match ProducerStates::decode(payload) {
        Ok(states) => Some(states),
        Err(error) => {
            tracing::warn!(dir = %log.dir().display(), %error, "ignoring undecodable producer snapshot");
            None
        }
    });
    let (mut states, snapshot_offset) = match loaded {
        Some((offset, states)) => (states, Some(offset)),
        None => (ProducerStates::default(), None),
    };
    let from_offset = snapshot_offset.map_or(log.log_start_offset(), |offset| {
        offset.max(log.log_start_offset())
    });
    let replayed = log.for_each_batch_header(from_offset, |header| {
        if header.producer_id >= 0 {
            states.record(
                header.producer_id,
                header.producer_epoch,
                header.base_sequence,
                last_sequence(header),
                header.base_offset,
            );
        }
    });
    match replayed {
        Ok(bytes_read) => tracing::debug!(
            dir = %log.dir().display(),
            ?snapshot_offset,
            from_offset,
            bytes_read,
            producers = states.producers(),
            "producer state loaded"
        ),
        Err(error) => {
            tracing::warn!(%error, "cannot replay producer state; idempotent retries across this restart may duplicate")
        }
    }
    states
}

/// Snapshots producer state after the log rolled a segment, so the next start replays at most
/// one segment's headers. Called with the log's write lock held; `encode` gives the producer
/// state consistent with the log end offset, and runs only after a roll. A failed write is
/// logged: it costs the next start time, not correctness.
fn snapshot_if_rolled(log: &mut Log, encode: impl FnOnce() -> Vec<u8>) {
    if log.take_rolled() {
        if let Err(error) = log.write_producer_snapshot(&encode()) {
            tracing::warn!(dir = %log.dir().display(), %error, "cannot write a producer snapshot");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yak_log::{record, FileSystem, OsFileSystem, SimulatedFileSystem};

    /// A batch as an idempotent producer sends it: producer id, epoch and first sequence set,
    /// CRC-32C recomputed over the changed bytes.
    fn idempotent_batch(
        producer_id: i64,
        epoch: i16,
        base_sequence: i32,
        values: &[&str],
    ) -> Vec<u8> {
        let records: Vec<record::RecordToWrite<'_>> = values
            .iter()
            .map(|v| record::RecordToWrite {
                key: None,
                value: Some(v.as_bytes()),
                headers: &[],
                // Rising with the sequence, as a producer's clock would.
                timestamp_ms: i64::from(base_sequence),
            })
            .collect();
        let mut batch = Vec::new();
        let header = record::encode_batch(&records, &mut batch);
        BatchHeader {
            producer_id,
            producer_epoch: epoch,
            base_sequence,
            ..header
        }
        .write(&mut batch);
        yak_log::batch::seal(&mut batch);
        batch
    }

    fn valid(batch: &mut [u8]) -> ValidBatch<'_> {
        ValidBatch::new(batch).expect("a valid batch")
    }

    fn open(dir: &std::path::Path) -> Arc<Partition> {
        let log = Log::open(Arc::new(OsFileSystem), dir, yak_log::LogConfig::default())
            .expect("open log");
        Arc::new(Partition::new(
            "t".into(),
            0,
            log,
            FlushPolicy::Always,
            Flusher::start().expect("the flusher thread starts"),
        ))
    }

    /// A producer's retry after a restart is answered with the first copy's offset, not written
    /// again: producer state is rebuilt from the log.
    #[tokio::test]
    async fn idempotent_retry_across_a_restart_is_deduplicated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let partition = open(dir.path());
        let first = partition
            .append(
                valid(&mut idempotent_batch(7, 0, 0, &["a", "b"])),
                Durability::Wait,
            )
            .await
            .expect("first append");
        partition
            .append(
                valid(&mut idempotent_batch(7, 0, 2, &["c"])),
                Durability::Wait,
            )
            .await
            .expect("second append");
        drop(partition);

        let reopened = open(dir.path());
        assert_eq!(reopened.log_end_offset(), 3);
        let retry = reopened
            .append(
                valid(&mut idempotent_batch(7, 0, 0, &["a", "b"])),
                Durability::Wait,
            )
            .await
            .expect("retry is answered");
        assert_eq!(retry.base_offset, first.base_offset);
        assert_eq!(reopened.log_end_offset(), 3, "the retry wrote nothing");
        let gap = reopened
            .append(
                valid(&mut idempotent_batch(7, 0, 9, &["z"])),
                Durability::Wait,
            )
            .await;
        assert!(
            matches!(gap, Err(BrokerError::OutOfOrderSequence(_))),
            "{gap:?}"
        );
        let next = reopened
            .append(
                valid(&mut idempotent_batch(7, 0, 3, &["d"])),
                Durability::Wait,
            )
            .await
            .expect("the next sequence appends");
        assert_eq!(next.base_offset, 3);
    }

    const SIMULATED_DIR: &str = "/data/t-0";

    /// Small segments, so a modest log has many of them.
    fn small_segments() -> yak_log::LogConfig {
        yak_log::LogConfig {
            segment_bytes_max: 1024,
            index_interval_bytes: 128,
            ..yak_log::LogConfig::default()
        }
    }

    fn open_simulated(fs: &SimulatedFileSystem) -> Arc<Partition> {
        let log = Log::open(
            Arc::new(fs.clone()),
            std::path::Path::new(SIMULATED_DIR),
            small_segments(),
        )
        .expect("open log");
        Arc::new(Partition::new(
            "t".into(),
            0,
            log,
            FlushPolicy::Always,
            Flusher::start().expect("the flusher thread starts"),
        ))
    }

    /// Appends `batches_count` batches of 4 records from producer 7 (sequences 0, 4, 8, …) and
    /// returns their base offsets.
    async fn produce_idempotent(partition: &Arc<Partition>, batches_count: i32) -> Vec<i64> {
        produce_idempotent_from(partition, 0, batches_count).await
    }

    /// After a restart, producer 7's last five batches are duplicates answered with their
    /// offsets, a gap is refused, and the next batch (number `bases.len()`) appends.
    async fn assert_dedup_exact(partition: &Arc<Partition>, bases: &[i64]) {
        let end = partition.log_end_offset();
        let count = bases.len() as i32;
        for back in 1..=5 {
            let number = count - back;
            let retry = partition
                .append(
                    valid(&mut idempotent_batch(
                        7,
                        0,
                        number * 4,
                        &["v-0", "v-1", "v-2", "v-3"],
                    )),
                    Durability::Wait,
                )
                .await
                .expect("a retry is answered");
            assert_eq!(retry.base_offset, bases[number as usize], "batch {number}");
        }
        assert_eq!(partition.log_end_offset(), end, "retries wrote nothing");
        let gap = partition
            .append(
                valid(&mut idempotent_batch(7, 0, count * 4 + 1, &["z"])),
                Durability::Wait,
            )
            .await;
        assert!(
            matches!(gap, Err(BrokerError::OutOfOrderSequence(_))),
            "{gap:?}"
        );
        let next = partition
            .append(
                valid(&mut idempotent_batch(
                    7,
                    0,
                    count * 4,
                    &["v-0", "v-1", "v-2", "v-3"],
                )),
                Durability::Wait,
            )
            .await
            .expect("the next sequence appends");
        assert_eq!(next.base_offset, end);
    }

    fn log_files_bytes(fs: &SimulatedFileSystem) -> (usize, u64, u64) {
        let dir = std::path::Path::new(SIMULATED_DIR);
        let mut logs: Vec<(std::path::PathBuf, u64)> = fs
            .read_dir(dir)
            .expect("list")
            .into_iter()
            .filter(|path| path.extension().is_some_and(|extension| extension == "log"))
            .map(|path| {
                let bytes = fs.file_bytes(&path).expect("file").len() as u64;
                (path, bytes)
            })
            .collect();
        logs.sort();
        let total = logs.iter().map(|(_, bytes)| bytes).sum();
        let active = logs.last().map_or(0, |(_, bytes)| *bytes);
        (logs.len(), total, active)
    }

    fn snapshot_files_bytes(fs: &SimulatedFileSystem) -> u64 {
        let dir = std::path::Path::new(SIMULATED_DIR);
        fs.read_dir(dir)
            .expect("list")
            .iter()
            .filter(|path| {
                path.extension()
                    .is_some_and(|extension| extension == "snapshot")
            })
            .map(|path| fs.file_bytes(path).expect("file").len() as u64)
            .sum()
    }

    /// Bytes of the recovery-point file and the clean-shutdown marker.
    const CHECKPOINT_FILES_BYTES: u64 = 14 + 30;

    /// The most the first `segments_count` segments read when opened on a checkpoint's word:
    /// per segment its first batch header, the last entry of each index (8 + 12 bytes), an
    /// offset index lookup (bounded by the whole `.index`) and the headers from the last time
    /// index entry's batch to the end, for its largest timestamp. With rising timestamps that
    /// batch is the last offset index entry's, and fewer than `ceil(index interval / batch
    /// bytes)` batches follow it.
    fn trusted_segments_bytes_max(fs: &SimulatedFileSystem, segments_count: usize) -> u64 {
        let dir = std::path::Path::new(SIMULATED_DIR);
        let batch_bytes = idempotent_batch(7, 0, 0, &["v-0", "v-1", "v-2", "v-3"]).len() as u64;
        let interval_bytes = u64::from(small_segments().index_interval_bytes);
        let header_bytes = yak_log::BATCH_HEADER_BYTES as u64;
        let mut indexes: Vec<std::path::PathBuf> = fs
            .read_dir(dir)
            .expect("list")
            .into_iter()
            .filter(|path| {
                path.extension()
                    .is_some_and(|extension| extension == "index")
            })
            .collect();
        indexes.sort();
        indexes
            .iter()
            .take(segments_count)
            .map(|path| {
                let index_bytes = fs.file_bytes(path).expect("file").len() as u64;
                header_bytes * (2 + interval_bytes.div_ceil(batch_bytes)) + 8 + 12 + index_bytes
            })
            .sum()
    }

    /// Restart time with a large log, counted in bytes read: a clean restart reads no segment
    /// data (a few sanity reads and headers per segment, `trusted_segments_bytes_max`, the
    /// checkpoint files and one producer snapshot),
    /// an unclean one the active segment (its CRC walk and the header replay after the roll's
    /// snapshot). Before snapshots, start-up read every byte of every segment.
    #[tokio::test]
    async fn restart_with_a_large_log_reads_only_what_it_must() {
        let fs = SimulatedFileSystem::new();
        let partition = open_simulated(&fs);
        let bases = produce_idempotent(&partition, 400).await;
        partition.close().expect("close");
        drop(partition);
        let (segments_count, log_bytes, _) = log_files_bytes(&fs);
        assert!(segments_count > 20, "the test needs many segments");
        let index_lookup_bytes = 1024;

        let before = fs.bytes_read();
        let budget_bytes = trusted_segments_bytes_max(&fs, segments_count)
            + snapshot_files_bytes(&fs)
            + CHECKPOINT_FILES_BYTES;
        let partition = open_simulated(&fs);
        let read_bytes = fs.bytes_read() - before;
        assert!(
            read_bytes <= budget_bytes,
            "clean restart read {read_bytes} bytes of a {log_bytes}-byte log (budget {budget_bytes})"
        );
        assert_dedup_exact(&partition, &bases).await;

        // Unclean: more batches, then the process dies without closing.
        let more = produce_idempotent_from(&partition, 401, 60).await;
        drop(partition);
        fs.crash();
        let (segments_count, log_bytes, active_bytes) = log_files_bytes(&fs);
        let before = fs.bytes_read();
        let partition = open_simulated(&fs);
        let read_bytes = fs.bytes_read() - before;
        let budget_bytes = 2 * active_bytes
            + trusted_segments_bytes_max(&fs, segments_count - 1)
            + snapshot_files_bytes(&fs)
            + CHECKPOINT_FILES_BYTES
            + index_lookup_bytes;
        assert!(
            read_bytes <= budget_bytes,
            "unclean restart read {read_bytes} bytes of a {log_bytes}-byte log (budget {budget_bytes})"
        );
        assert_dedup_exact(&partition, &more).await;
    }

    /// Like `produce_idempotent`, for producer 7 continuing at batch number `first`.
    async fn produce_idempotent_from(
        partition: &Arc<Partition>,
        first: i32,
        batches_count: i32,
    ) -> Vec<i64> {
        let mut bases = vec![0; first as usize];
        for number in first..first + batches_count {
            let appended = partition
                .append(
                    valid(&mut idempotent_batch(
                        7,
                        0,
                        number * 4,
                        &["v-0", "v-1", "v-2", "v-3"],
                    )),
                    Durability::Wait,
                )
                .await
                .expect("append");
            bases.push(appended.base_offset);
        }
        bases
    }

    /// Idempotent dedup is exact after a clean restart (state from the shutdown snapshot).
    #[tokio::test]
    async fn idempotent_dedup_survives_a_clean_restart() {
        let fs = SimulatedFileSystem::new();
        let partition = open_simulated(&fs);
        let bases = produce_idempotent(&partition, 100).await;
        partition.close().expect("close");
        drop(partition);
        let partition = open_simulated(&fs);
        assert_dedup_exact(&partition, &bases).await;
    }

    /// Idempotent dedup is exact after a crash (state from the last roll's snapshot plus the
    /// headers after it).
    #[tokio::test]
    async fn idempotent_dedup_survives_an_unclean_restart() {
        let fs = SimulatedFileSystem::new();
        let partition = open_simulated(&fs);
        let bases = produce_idempotent(&partition, 100).await;
        drop(partition);
        fs.crash();
        let partition = open_simulated(&fs);
        assert_dedup_exact(&partition, &bases).await;
    }

    /// Idempotent dedup is exact when the newest snapshot is torn (an older one and a longer
    /// replay stand in), and when every snapshot is (a replay of the whole log).
    #[tokio::test]
    async fn idempotent_dedup_survives_torn_snapshots() {
        let fs = SimulatedFileSystem::new();
        let partition = open_simulated(&fs);
        let bases = produce_idempotent(&partition, 100).await;
        partition.close().expect("close");
        drop(partition);
        let dir = std::path::Path::new(SIMULATED_DIR);
        let mut snapshots: Vec<std::path::PathBuf> = fs
            .read_dir(dir)
            .expect("list")
            .into_iter()
            .filter(|path| {
                path.extension()
                    .is_some_and(|extension| extension == "snapshot")
            })
            .collect();
        snapshots.sort();
        assert!(snapshots.len() >= 2, "the test needs an older snapshot");

        let newest_torn = copy_of(&fs);
        let newest = snapshots.last().expect("a snapshot");
        let bytes = fs.file_bytes(newest).expect("file");
        newest_torn.set_file_bytes(newest, bytes[..bytes.len() / 2].to_vec());
        assert_dedup_exact(&open_simulated(&newest_torn), &bases).await;

        let all_damaged = copy_of(&fs);
        for path in &snapshots {
            let mut bytes = fs.file_bytes(path).expect("file");
            let last = bytes.len() - 1;
            bytes[last] ^= 0xff;
            all_damaged.set_file_bytes(path, bytes);
        }
        assert_dedup_exact(&open_simulated(&all_damaged), &bases).await;
    }

    /// A separate file system holding a copy of the partition directory of `fs`.
    fn copy_of(fs: &SimulatedFileSystem) -> SimulatedFileSystem {
        let dir = std::path::Path::new(SIMULATED_DIR);
        let copy = SimulatedFileSystem::new();
        copy.create_dir_all(dir).expect("directory");
        for path in fs.read_dir(dir).expect("list") {
            copy.set_file_bytes(&path, fs.file_bytes(&path).expect("file"));
        }
        copy
    }

    fn one_record_batch(value: &str) -> Vec<u8> {
        let records = [record::RecordToWrite {
            key: None,
            value: Some(value.as_bytes()),
            headers: &[],
            timestamp_ms: 1,
        }];
        let mut batch = Vec::new();
        record::encode_batch(&records, &mut batch);
        batch
    }

    /// Appends whose callers give up while waiting for their fsync (a client that disconnects)
    /// leave nothing behind: a later append is still acknowledged, and every record appended
    /// becomes durable whether or not anyone waited for it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waiters_dropped_mid_fsync_do_not_stall_the_partition() {
        let dir = tempfile::tempdir().expect("tempdir");
        let partition = open(dir.path());
        for round in 0..100 {
            let mut appends = tokio::task::JoinSet::new();
            for i in 0..8 {
                let partition = Arc::clone(&partition);
                let give_up_after = Duration::from_micros(rand::random_range(0..2_000));
                appends.spawn(async move {
                    let mut batch = one_record_batch(&format!("{round}-{i}"));
                    let _ = tokio::time::timeout(
                        give_up_after,
                        partition.append(valid(&mut batch), Durability::Wait),
                    )
                    .await;
                });
            }
            while appends.join_next().await.is_some() {}
        }
        let last = tokio::time::timeout(
            Duration::from_secs(5),
            partition.append(valid(&mut one_record_batch("last")), Durability::Wait),
        )
        .await
        .expect("the partition is stalled")
        .expect("append");
        assert_eq!(last.last_offset, 800, "every earlier append was written");
        assert_eq!(partition.high_watermark(), 801);
    }

    /// Acknowledged appends under `--flush always` are durable and visible: the high watermark
    /// covers them by the time append returns.
    #[tokio::test]
    async fn acknowledged_appends_are_below_the_high_watermark() {
        let dir = tempfile::tempdir().expect("tempdir");
        let partition = open(dir.path());
        let mut tasks = Vec::new();
        for i in 0..32 {
            let partition = Arc::clone(&partition);
            tasks.push(tokio::spawn(async move {
                let value = format!("v{i}");
                let records = [record::RecordToWrite {
                    key: None,
                    value: Some(value.as_bytes()),
                    headers: &[],
                    timestamp_ms: 1,
                }];
                let mut batch = Vec::new();
                let appended = partition
                    .append(
                        record::encode_valid_batch(&records, &mut batch),
                        Durability::Wait,
                    )
                    .await
                    .expect("append");
                assert!(partition.high_watermark() > appended.last_offset);
                appended.base_offset
            }));
        }
        let mut offsets = Vec::new();
        for task in tasks {
            offsets.push(task.await.expect("task"));
        }
        offsets.sort();
        assert_eq!(offsets, (0..32).collect::<Vec<i64>>());
        assert_eq!(partition.high_watermark(), 32);
    }

    /// A leader of epoch 1 with node 2 in its ISR, its lease valid for a minute.
    fn leader_with_follower(
        dir: &std::path::Path,
        min_insync_replicas: usize,
        isr: Vec<i32>,
    ) -> (Arc<Partition>, Arc<LeaseGate>) {
        let partition = open(dir);
        let gate = Arc::new(LeaseGate::new());
        gate.extend_to(gate.now_ms() + 60_000);
        partition.join_cluster(Arc::clone(&gate));
        partition
            .become_leader(
                1,
                1,
                isr,
                1,
                vec![1, 2],
                min_insync_replicas,
                gate.now_ms(),
                None,
            )
            .expect("leads");
        (partition, gate)
    }

    async fn append_all(partition: &Arc<Partition>, value: &str) -> Result<Appended, BrokerError> {
        let mut batch = one_record_batch(value);
        partition
            .append(
                ValidBatch::new(&mut batch).expect("valid"),
                Durability::Committed,
            )
            .await
    }

    /// acks=all answers only once the follower's fetch reports the record durable, and a
    /// waiter fails (never succeeds) when the node stops leading before that.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn acks_all_waits_for_the_isr_and_fails_when_leadership_moves() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (partition, gate) = leader_with_follower(dir.path(), 2, vec![1, 2]);
        let writer = Arc::clone(&partition);
        let first = tokio::spawn(async move { append_all(&writer, "a").await });
        // Fsynced on the leader, but the follower has not fetched it: no answer.
        let mut log_end = partition.subscribe_log_end();
        log_end.wait_for(|end| *end >= 1).await.expect("appended");
        partition
            .wait_durable(1)
            .await
            .expect("durable on the leader");
        assert!(
            !first.is_finished(),
            "acknowledged before the follower had it"
        );
        assert_eq!(partition.high_watermark(), 0);
        partition
            .replica_fetched(2, 1, 1, gate.now_ms())
            .expect("the follower's fetch");
        let appended = first.await.expect("task").expect("acknowledged");
        assert_eq!(appended.base_offset, 0);
        assert_eq!(partition.high_watermark(), 1);

        let writer = Arc::clone(&partition);
        let second = tokio::spawn(async move { append_all(&writer, "b").await });
        log_end.wait_for(|end| *end >= 2).await.expect("appended");
        partition.become_follower(3, 2, vec![2, 3], vec![1, 2, 3]);
        let outcome = second.await.expect("task");
        // Regression: this was NotLeader (HTTP 421 "not written") for a write already in the
        // log, which a client may resend blindly.
        assert!(
            matches!(outcome, Err(BrokerError::RequestTimedOut(_))),
            "{outcome:?}"
        );
    }

    /// acks=all is refused before anything is written when the ISR is below
    /// min.insync.replicas.
    #[tokio::test]
    async fn acks_all_is_refused_before_appending_below_min_insync() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (partition, _gate) = leader_with_follower(dir.path(), 2, vec![1]);
        let outcome = append_all(&partition, "a").await;
        assert!(
            matches!(
                outcome,
                Err(BrokerError::NotEnoughReplicas { isr: 1, min: 2 })
            ),
            "{outcome:?}"
        );
        assert_eq!(partition.log_end_offset(), 0);
    }

    /// A leader whose lease lapsed (a zombie) takes no write and moves no high watermark,
    /// even when a follower's fetch arrives.
    #[tokio::test]
    async fn a_leader_past_its_lease_acknowledges_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (partition, gate) = leader_with_follower(dir.path(), 1, vec![1, 2]);
        let writer = Arc::clone(&partition);
        let pending = tokio::spawn(async move { append_all(&writer, "a").await });
        let mut log_end = partition.subscribe_log_end();
        log_end.wait_for(|end| *end >= 1).await.expect("appended");
        partition
            .wait_durable(1)
            .await
            .expect("durable on the leader");
        gate.close();
        partition
            .replica_fetched(2, 1, 1, gate.now_ms())
            .expect("the fetch is recorded");
        assert_eq!(partition.high_watermark(), 0, "moved without a lease");
        assert!(matches!(
            append_all(&partition, "b").await,
            Err(BrokerError::NotLeader { .. })
        ));
        // The waiter is answered when leadership moves, and never with success.
        partition.go_offline();
        assert!(pending.await.expect("task").is_err());
    }

    /// A follower's fetch with an older epoch is fenced; a newer one is unknown to this leader;
    /// a node outside the replicas cannot move the high watermark.
    #[tokio::test]
    async fn replica_fetches_are_fenced_by_epoch_and_membership() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (partition, gate) = leader_with_follower(dir.path(), 1, vec![1, 2]);
        let now = gate.now_ms();
        assert!(matches!(
            partition.replica_fetched(2, 0, 0, now),
            Err(BrokerError::FencedLeaderEpoch {
                request: 0,
                current: 1
            })
        ));
        assert!(matches!(
            partition.replica_fetched(2, 2, 0, now),
            Err(BrokerError::UnknownLeaderEpoch {
                request: 2,
                current: 1
            })
        ));
        assert!(matches!(
            partition.replica_fetched(9, 1, 0, now),
            Err(BrokerError::NotLeader { .. })
        ));
    }

    /// Regression: a follower under `--flush never` waited for an fsync that policy never
    /// makes, so it never fetched again and acks=all writes never completed.
    #[tokio::test]
    async fn a_follower_under_a_lazy_flush_policy_does_not_wait_for_fsyncs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = Log::open(
            Arc::new(OsFileSystem),
            dir.path(),
            yak_log::LogConfig::default(),
        )
        .expect("open log");
        let partition = Arc::new(Partition::new(
            "t".into(),
            0,
            log,
            FlushPolicy::Never,
            Flusher::start().expect("the flusher thread starts"),
        ));
        partition.join_cluster(Arc::new(LeaseGate::new()));
        partition.become_follower(2, 1, vec![1, 2], vec![1, 2]);
        let mut batch = one_record_batch("copied");
        yak_log::batch::set_partition_leader_epoch(&mut batch, 1);
        partition.append_replicated(&batch).expect("appends");
        tokio::time::timeout(Duration::from_secs(5), partition.wait_follower_durable())
            .await
            .expect("does not wait for an fsync the policy never makes")
            .expect("durable");
        assert_eq!(partition.follower_fetch_offset(), 1);
    }
}
