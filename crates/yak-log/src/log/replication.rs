//! The log's side of replication: its leader-epoch cache (`leader_epoch.rs`) and its
//! high-watermark checkpoint (`checkpoint.rs`), loaded at open and kept true through appends,
//! truncations and retention.
//!
//! Every change to the leader-epoch cache is persisted before anything acts on it (before the
//! batch that brought a new epoch is written, after a truncation's files are done). A failure to
//! persist that may have left the new file in place poisons the log: the disk then holds the old
//! cache or the new one, and the reopen trims either to the recovered log (entries at or past its
//! end, and below its start, go), which gives the right answer because nothing was appended past
//! the failed write.

use crate::checkpoint;
use crate::error::LogError;
use crate::leader_epoch::{self, LeaderEpochCache};

use super::Log;

impl Log {
    /// Records that leader `epoch` starts at `start_offset` (a new leader calls this at its log
    /// end offset before its first append), if `epoch` is newer than the latest cached epoch; an
    /// epoch already latest, or older, changes nothing. Persisted before returning. Refused for
    /// a negative epoch or a start outside [log start offset, log end offset].
    pub fn assign_epoch(&mut self, epoch: i32, start_offset: i64) -> Result<(), LogError> {
        self.check_usable()?;
        if epoch < 0 || start_offset < self.log_start_offset() || start_offset > self.log_end_offset
        {
            return Err(LogError::InvalidLeaderEpoch {
                epoch,
                start_offset,
                log_start_offset: self.log_start_offset(),
                log_end_offset: self.log_end_offset,
            });
        }
        if self.leader_epochs.would_assign(epoch) {
            self.persist_epoch(epoch, start_offset)?;
        }
        Ok(())
    }

    /// The latest leader epoch in the cache, if any.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.leader_epochs.latest_epoch()
    }

    /// Where `epoch` ends, as OffsetForLeaderEpoch answers it: the largest cached epoch at or
    /// below `epoch`, with the log end offset if it is the latest, else the start offset of the
    /// next cached epoch; (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET), both -1, when `epoch` is
    /// below the first cached epoch or the cache is empty.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        self.leader_epochs
            .end_offset_for(epoch, self.log_end_offset)
    }

    /// The cache as (epoch, start offset) pairs, oldest first.
    pub fn epoch_entries(&self) -> Vec<(i32, i64)> {
        self.leader_epochs
            .entries()
            .iter()
            .map(|entry| (entry.epoch, entry.start_offset))
            .collect()
    }

    /// Like [`truncate_to`](Self::truncate_to), but an `offset` inside a batch truncates at
    /// that batch's base offset instead of failing with `NotBatchBoundary` (a follower
    /// truncating at its leader's end of an epoch: a batch is kept or dropped whole, and the
    /// fetch from the returned offset brings it back). Returns the offset truncated to: the
    /// log end offset if `offset` is at or past it.
    pub fn truncate_to_batch_floor(&mut self, offset: i64) -> Result<i64, LogError> {
        self.check_usable()?;
        let floor = if offset >= self.log_end_offset || offset < self.log_start_offset() {
            // At or past the end nothing is cut; below the start truncate_to refuses.
            offset
        } else {
            let segment_number = self.segment_number_for(offset);
            match self.segments[segment_number].find_batch(offset) {
                Ok(Some((_, header))) => header.base_offset,
                // No batch holds it here: let truncate_to give its answer for `offset`.
                Ok(None) => offset,
                Err(error) => return Err(self.poison(error)),
            }
        };
        self.truncate_to(floor)?;
        Ok(floor.min(self.log_end_offset))
    }

    /// The high watermark in `high-watermark-checkpoint`: as read at open (clamped to the
    /// recovered log: at most its end, at least its start), then as last written or lowered by
    /// a truncation. None when there is no intact file.
    pub fn high_watermark_checkpoint(&self) -> Option<i64> {
        self.checkpoints.high_watermark
    }

    /// Replaces the high-watermark checkpoint with `high_watermark` (the broker calls this
    /// about once a second). Atomic (temporary file, fsync, rename) but, in the common case of a
    /// rising value, without a directory fsync, so a crash may bring back an earlier, lower
    /// value. The first write since open and any lower value are written with the directory
    /// fsync: the file must then exist after a crash, and an older, higher value must not come
    /// back. The same value again does no I/O. Refused above the log end offset.
    pub fn write_high_watermark(&mut self, high_watermark: i64) -> Result<(), LogError> {
        self.check_usable()?;
        if !(0..=self.log_end_offset).contains(&high_watermark) {
            return Err(LogError::HighWatermarkOutOfRange {
                high_watermark,
                log_end_offset: self.log_end_offset,
            });
        }
        let current = self.checkpoints.high_watermark;
        if current == Some(high_watermark) {
            return Ok(());
        }
        let sync_dir = current.is_none_or(|current| high_watermark < current);
        checkpoint::write_high_watermark(self.fs.as_ref(), &self.dir, high_watermark, sync_dir)?;
        self.checkpoints.high_watermark = Some(high_watermark);
        Ok(())
    }

    /// Assigns `epoch` at `start_offset` and persists the cache; the in-memory cache changes
    /// only once the file did. A failure before the rename (a full disk, say) leaves the old
    /// file and the old cache, and the log goes on; one after it (the directory fsync) poisons
    /// the log, since a crash may then keep either file while later batches are written.
    pub(super) fn persist_epoch(&mut self, epoch: i32, start_offset: i64) -> Result<(), LogError> {
        let mut cache = self.leader_epochs.clone();
        if !cache.assign(epoch, start_offset) {
            return Ok(());
        }
        match leader_epoch::write_checkpoint_reporting(self.fs.as_ref(), &self.dir, &cache) {
            Ok(()) => {}
            Err(failure) if failure.renamed => return Err(self.poison(failure.error)),
            Err(failure) => return Err(failure.error),
        }
        self.leader_epochs = cache;
        tracing::debug!(dir = %self.dir.display(), epoch, start_offset, "new leader epoch");
        Ok(())
    }

    /// Drops the cache entries starting at or after `offset`, persisted. Part of a truncation,
    /// so any failure poisons the log, as every failure in a truncation does: the in-memory
    /// cache would otherwise keep entries past the new log end.
    pub(super) fn truncate_leader_epochs(&mut self, offset: i64) -> Result<(), LogError> {
        let mut cache = self.leader_epochs.clone();
        if !cache.truncate_from_end(offset) {
            return Ok(());
        }
        if let Err(error) = leader_epoch::write_checkpoint(self.fs.as_ref(), &self.dir, &cache) {
            return Err(self.poison(error));
        }
        self.leader_epochs = cache;
        Ok(())
    }

    /// Part of `truncate_to(offset)`: a high-watermark checkpoint above `offset` drops to it,
    /// with the directory fsync, since a crash must not bring back a high watermark above
    /// records that may now be replaced by different ones. A failure poisons, as every failure
    /// in a truncation does.
    pub(super) fn lower_high_watermark_checkpoint(&mut self, offset: i64) -> Result<(), LogError> {
        let Some(high_watermark) = self.checkpoints.high_watermark else {
            return Ok(());
        };
        if high_watermark <= offset {
            return Ok(());
        }
        if let Err(error) =
            checkpoint::write_high_watermark(self.fs.as_ref(), &self.dir, offset, true)
        {
            return Err(self.poison(error));
        }
        tracing::warn!(dir = %self.dir.display(), high_watermark, offset, "truncation lowered the high-watermark checkpoint");
        self.checkpoints.high_watermark = Some(offset);
        Ok(())
    }

    /// After retention moved the log start: the cache starts there too. Best effort: a file
    /// left with the old entries is trimmed the same way by the next open.
    pub(super) fn move_leader_epochs_start(&mut self, log_start_offset: i64) {
        if !self.leader_epochs.truncate_from_start(log_start_offset) {
            return;
        }
        if let Err(error) =
            leader_epoch::write_checkpoint(self.fs.as_ref(), &self.dir, &self.leader_epochs)
        {
            tracing::warn!(dir = %self.dir.display(), %error, "cannot write the leader-epoch checkpoint after retention");
        }
    }

    /// At open: the checkpointed cache, trimmed to the recovered log; or, when the file is
    /// missing or damaged and the log holds batches, the cache rebuilt from every batch header
    /// (the only case that reads segment data for it). Rewritten when it differs from the file.
    pub(super) fn load_leader_epochs(&mut self) -> Result<(), LogError> {
        let log_start_offset = self.log_start_offset();
        let log_is_empty = self.log_end_offset == log_start_offset;
        let (mut cache, mut changed) = match leader_epoch::read_checkpoint(
            self.fs.as_ref(),
            &self.dir,
        ) {
            Ok(Some(cache)) => (cache, false),
            Ok(None) if log_is_empty => (LeaderEpochCache::new(), false),
            read => {
                if let Err(reason) = &read {
                    tracing::warn!(dir = %self.dir.display(), %reason, "ignoring damaged leader-epoch checkpoint");
                }
                let mut cache = LeaderEpochCache::new();
                let bytes_read = self.for_each_batch_header(log_start_offset, |header| {
                    cache.assign(header.partition_leader_epoch, header.base_offset);
                })?;
                tracing::info!(dir = %self.dir.display(), bytes_read, entries = cache.entries().len(), "leader-epoch cache rebuilt from batch headers");
                (cache, true)
            }
        };
        // Entries at or past the end describe records a crash (or a truncation the file did not
        // see yet) took away; entries below the start, segments retention deleted.
        changed |= cache.truncate_from_end(self.log_end_offset);
        changed |= cache.truncate_from_start(log_start_offset);
        if changed {
            leader_epoch::write_checkpoint(self.fs.as_ref(), &self.dir, &cache)?;
        }
        self.leader_epochs = cache;
        Ok(())
    }

    /// At open: the checkpointed high watermark, clamped to the recovered log. A value above the
    /// log end (records a crash took away) is lowered on disk too, durably, before anything can
    /// be appended at those offsets.
    pub(super) fn load_high_watermark(&mut self) -> Result<(), LogError> {
        let Some(stored) = checkpoint::read_high_watermark(self.fs.as_ref(), &self.dir) else {
            return Ok(());
        };
        // min then max rather than clamp, which panics if its bounds cross.
        let clamped = stored.min(self.log_end_offset).max(self.log_start_offset());
        if clamped < stored {
            tracing::warn!(dir = %self.dir.display(), stored, log_end_offset = self.log_end_offset, "high-watermark checkpoint above the recovered log end; lowering it");
            checkpoint::write_high_watermark(self.fs.as_ref(), &self.dir, clamped, true)?;
        }
        self.checkpoints.high_watermark = Some(clamped);
        Ok(())
    }
}
