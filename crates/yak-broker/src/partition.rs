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

/// Bytes read per step when rebuilding producer state from the log at start-up.
const PRODUCER_SCAN_READ_BYTES_MAX: u32 = 8 * 1024 * 1024;

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
                        Ok((info, log.log_start_offset()))
                    }
                }
            } else {
                let info = log.append(batch, self.leader_epoch, now_ms)?;
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
        tokio::task::spawn_blocking(move || {
            let high_watermark = partition.high_watermark();
            let records = partition
                .read_log()
                .read(offset, max_bytes, high_watermark)?;
            Ok((records, high_watermark))
        })
        .await
        .map_err(|e| BrokerError::Internal(format!("log read task failed: {e}")))?
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

/// Replays the batch headers of the log into producer state, so a producer that retries across
/// a restart is still deduplicated. This reads the whole log once at start-up; a snapshot of the
/// state at each segment roll would bound it, as Kafka does.
fn rebuild_producer_states(log: &Log) -> ProducerStates {
    let mut states = ProducerStates::default();
    let mut offset = log.log_start_offset();
    let end = log.log_end_offset();
    while offset < end {
        let bytes = match log.read(offset, PRODUCER_SCAN_READ_BYTES_MAX, end) {
            Ok(bytes) if !bytes.is_empty() => bytes,
            Ok(_) => break,
            Err(error) => {
                tracing::warn!(%error, "cannot replay producer state; idempotent retries across this restart may duplicate");
                break;
            }
        };
        let before = offset;
        for item in yak_log::batches(&bytes) {
            let Ok((header, _)) = item else { break };
            if header.producer_id >= 0 {
                states.record(
                    header.producer_id,
                    header.producer_epoch,
                    header.base_sequence,
                    last_sequence(&header),
                    header.base_offset,
                );
            }
            offset = header.last_offset() + 1;
        }
        if offset == before {
            break; // Nothing readable past here; recovery already vouched for the log.
        }
    }
    states
}

#[cfg(test)]
mod tests {
    use super::*;
    use yak_log::{record, OsFileSystem};

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
