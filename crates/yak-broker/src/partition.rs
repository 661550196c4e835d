//! A partition on this node: its log, its high watermark, and group commit.
//!
//! Appends take the log's write lock only for the `write` itself. Durability under
//! `--flush always` is group commit: an appender that needs its offset durable and finds no fsync
//! running becomes the flusher (the `flushing` flag); it fsyncs the active segment outside the log
//! lock and publishes the new durable offset on a watch channel, which wakes every waiter at once.
//! Batches appended while that fsync ran are covered by the next one, started by the first of
//! their waiters to see the flag clear. The high watermark follows the
//! durable offset under `always`, and the log end offset otherwise, so consumers only ever see
//! records that would survive a crash of this node under the policy the operator chose.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use yak_log::{BatchHeader, FlushPolicy, Log, LogError};

use crate::error::BrokerError;
use crate::producer_state::{ProducerStates, SequenceCheck, SequenceError};

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
    /// Return once the flush policy is satisfied (`acks=1` and `acks=all` on one node).
    Wait,
}

#[derive(Debug)]
pub struct Partition {
    pub topic: String,
    pub index: i32,
    log: RwLock<Log>,
    flush: FlushPolicy,
    /// The high watermark; its watch channel wakes long-polls, streams and Kafka fetches.
    high_watermark_tx: watch::Sender<i64>,
    /// Set while one task runs an fsync of this partition.
    flushing: AtomicBool,
    /// The durable offset, published after every fsync (and after a failed one, so waiters look
    /// again and meet the failure).
    durable_tx: watch::Sender<i64>,
    /// Idempotent producers' recent batches; locked only while the log's write lock is held.
    producers: std::sync::Mutex<ProducerStates>,
    leader_epoch: i32,
}

impl Partition {
    pub fn new(topic: String, index: i32, log: Log, flush: FlushPolicy) -> Partition {
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
            flushing: AtomicBool::new(false),
            durable_tx: watch::channel(high_watermark).0,
            producers: std::sync::Mutex::new(producers),
            leader_epoch: 0,
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
        self.leader_epoch
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

    /// Appends one record batch (Kafka v2, base offset 0 as a producer sends it). The broker
    /// patches in the base offset and leader epoch.
    pub async fn append(
        self: &Arc<Self>,
        batch: &mut [u8],
        durability: Durability,
    ) -> Result<Appended, BrokerError> {
        let now_ms = crate::now_ms();
        let header =
            BatchHeader::parse(batch).map_err(|e| BrokerError::InvalidBatch(e.to_string()))?;
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
                        let info = log.append(batch, self.leader_epoch, now_ms)?;
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
                let info = log.append(batch, self.leader_epoch, now_ms)?;
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
                // The first copy may still be on its way to disk.
                if durability == Durability::Wait && self.flush == FlushPolicy::Always {
                    self.wait_durable(last_offset + 1).await?;
                }
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
        match self.flush {
            FlushPolicy::Always => match durability {
                Durability::Wait => self.wait_durable(info.last_offset + 1).await?,
                Durability::Background => {
                    // Someone must still fsync it; a detached waiter does, and logs a failure
                    // (the next acknowledged write would fail on the poisoned log anyway).
                    let partition = Arc::clone(self);
                    tokio::spawn(async move {
                        if let Err(error) = partition.wait_durable(info.last_offset + 1).await {
                            tracing::error!(%error, "background flush failed");
                        }
                    });
                }
            },
            FlushPolicy::IntervalMs(_) | FlushPolicy::Never => {
                self.advance_high_watermark(info.log_end_offset)
            }
        }
        Ok(appended)
    }

    /// Waits until every offset below `target` is fsynced, running the fsync if nobody is.
    pub async fn wait_durable(&self, target: i64) -> Result<(), BrokerError> {
        let mut durable = self.durable_tx.subscribe();
        loop {
            // Marks the current value seen, so `changed` below waits for the next publish.
            durable.borrow_and_update();
            if self.read_log().durable_offset() >= target {
                return Ok(());
            }
            if self.flushing.swap(true, Ordering::AcqRel) {
                // Another task is flushing; its publish wakes this one.
                if durable.changed().await.is_err() {
                    return Err(BrokerError::Internal("the partition was dropped".into()));
                }
                continue;
            }
            let result = self.flush_once().await;
            self.flushing.store(false, Ordering::Release);
            let offset = self.read_log().durable_offset();
            self.durable_tx.send_replace(offset);
            result?;
        }
    }

    /// One fsync of the active segment, covering everything appended before it started.
    async fn flush_once(&self) -> Result<(), BrokerError> {
        let sync_target = self.read_log().sync_target();
        let durable = tokio::task::spawn_blocking(move || sync_target.sync())
            .await
            .map_err(|e| BrokerError::Internal(format!("fsync task failed: {e}")))??;
        self.write_log().mark_durable(durable);
        self.advance_high_watermark(durable);
        Ok(())
    }

    /// Fsyncs whatever is written (the `interval:MS` policy and shutdown).
    pub fn flush_now(&self) -> Result<(), BrokerError> {
        let mut log = self.write_log();
        log.flush()?;
        let durable = log.durable_offset();
        drop(log);
        if self.flush == FlushPolicy::Always {
            self.advance_high_watermark(durable);
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
        log.close()?;
        let durable = log.durable_offset();
        drop(log);
        self.advance_high_watermark(durable);
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
    pub fn read(&self, offset: i64, max_bytes: u32) -> Result<Bytes, BrokerError> {
        let high_watermark = self.high_watermark();
        Ok(self.read_log().read(offset, max_bytes, high_watermark)?)
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
                timestamp_ms: 1,
            })
            .collect();
        let mut batch = Vec::new();
        record::encode_batch(&records, &mut batch);
        batch[43..51].copy_from_slice(&producer_id.to_be_bytes());
        batch[51..53].copy_from_slice(&epoch.to_be_bytes());
        batch[53..57].copy_from_slice(&base_sequence.to_be_bytes());
        let crc = crc32c::crc32c(&batch[21..]);
        batch[17..21].copy_from_slice(&crc.to_be_bytes());
        batch
    }

    fn open(dir: &std::path::Path) -> Arc<Partition> {
        let log = Log::open(Arc::new(OsFileSystem), dir, yak_log::LogConfig::default())
            .expect("open log");
        Arc::new(Partition::new("t".into(), 0, log, FlushPolicy::Always))
    }

    /// A producer's retry after a restart is answered with the first copy's offset, not written
    /// again: producer state is rebuilt from the log.
    #[tokio::test]
    async fn idempotent_retry_across_a_restart_is_deduplicated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let partition = open(dir.path());
        let first = partition
            .append(
                &mut idempotent_batch(7, 0, 0, &["a", "b"]),
                Durability::Wait,
            )
            .await
            .expect("first append");
        partition
            .append(&mut idempotent_batch(7, 0, 2, &["c"]), Durability::Wait)
            .await
            .expect("second append");
        drop(partition);

        let reopened = open(dir.path());
        assert_eq!(reopened.log_end_offset(), 3);
        let retry = reopened
            .append(
                &mut idempotent_batch(7, 0, 0, &["a", "b"]),
                Durability::Wait,
            )
            .await
            .expect("retry is answered");
        assert_eq!(retry.base_offset, first.base_offset);
        assert_eq!(reopened.log_end_offset(), 3, "the retry wrote nothing");
        let gap = reopened
            .append(&mut idempotent_batch(7, 0, 9, &["z"]), Durability::Wait)
            .await;
        assert!(
            matches!(gap, Err(BrokerError::OutOfOrderSequence(_))),
            "{gap:?}"
        );
        let next = reopened
            .append(&mut idempotent_batch(7, 0, 3, &["d"]), Durability::Wait)
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
        Arc::new(Partition::new("t".into(), 0, log, FlushPolicy::Always))
    }

    /// Appends `batches_count` batches of 4 records from producer 7 (sequences 0, 4, 8, …) and
    /// returns their base offsets.
    async fn produce_idempotent(partition: &Arc<Partition>, batches_count: i32) -> Vec<i64> {
        let mut bases = Vec::new();
        for number in 0..batches_count {
            let appended = partition
                .append(
                    &mut idempotent_batch(7, 0, number * 4, &["v-0", "v-1", "v-2", "v-3"]),
                    Durability::Wait,
                )
                .await
                .expect("append");
            bases.push(appended.base_offset);
        }
        bases
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
                    &mut idempotent_batch(7, 0, number * 4, &["v-0", "v-1", "v-2", "v-3"]),
                    Durability::Wait,
                )
                .await
                .expect("a retry is answered");
            assert_eq!(retry.base_offset, bases[number as usize], "batch {number}");
        }
        assert_eq!(partition.log_end_offset(), end, "retries wrote nothing");
        let gap = partition
            .append(
                &mut idempotent_batch(7, 0, count * 4 + 1, &["z"]),
                Durability::Wait,
            )
            .await;
        assert!(
            matches!(gap, Err(BrokerError::OutOfOrderSequence(_))),
            "{gap:?}"
        );
        let next = partition
            .append(
                &mut idempotent_batch(7, 0, count * 4, &["v-0", "v-1", "v-2", "v-3"]),
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

    /// Restart time with a large log, counted in bytes read: a clean restart reads no segment
    /// data (a few sanity reads per segment, the checkpoint files and one producer snapshot),
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
        let sanity_bytes_per_segment = 61 + 8;
        let index_lookup_bytes = 1024;

        let before = fs.bytes_read();
        let partition = open_simulated(&fs);
        let read_bytes = fs.bytes_read() - before;
        let budget_bytes =
            segments_count as u64 * sanity_bytes_per_segment + snapshot_files_bytes(&fs) + 64;
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
            + segments_count as u64 * sanity_bytes_per_segment
            + snapshot_files_bytes(&fs)
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
                    &mut idempotent_batch(7, 0, number * 4, &["v-0", "v-1", "v-2", "v-3"]),
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
                record::encode_batch(&records, &mut batch);
                let appended = partition
                    .append(&mut batch, Durability::Wait)
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
}
