//! `Log`: the segments of one partition, with append, read, recovery, roll and flush.
//!
//! The broker wraps one `Log` per partition in a lock. Appends write to the page cache only;
//! durability comes from [`SyncTarget::sync`], which the broker calls outside the lock (group
//! commit), followed by [`Log::mark_durable`]. A failed fsync poisons the log for good.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use crate::batch::{self, BatchHeader, ValidBatch, BATCH_HEADER_BYTES};
use crate::checkpoint::{self, CleanShutdown};
use crate::error::{BatchError, FlushPolicyParseError, LogError};
use crate::file::{FileSystem, LogFile};
use crate::leader_epoch::LeaderEpochCache;
use crate::segment::{
    self, RecoveryReport, Segment, INDEX_FILE_EXTENSION, LOG_FILE_EXTENSION,
    TIME_INDEX_FILE_EXTENSION,
};

mod replication;

/// When the broker fsyncs the log. The log only records the policy; the broker drives flushing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushPolicy {
    /// fsync before acknowledging every produce (grouped across concurrent produces).
    Always,
    /// fsync at most this many milliseconds after an append.
    IntervalMs(u64),
    /// Never fsync explicitly; rely on replication and the kernel.
    Never,
}

impl FromStr for FlushPolicy {
    type Err = FlushPolicyParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "always" => Ok(FlushPolicy::Always),
            "never" => Ok(FlushPolicy::Never),
            other => other
                .strip_prefix("interval:")
                .and_then(|milliseconds| milliseconds.parse().ok())
                .filter(|milliseconds| *milliseconds > 0)
                .map(FlushPolicy::IntervalMs)
                .ok_or_else(|| FlushPolicyParseError(other.to_string())),
        }
    }
}

impl fmt::Display for FlushPolicy {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlushPolicy::Always => formatter.write_str("always"),
            FlushPolicy::IntervalMs(milliseconds) => write!(formatter, "interval:{milliseconds}"),
            FlushPolicy::Never => formatter.write_str("never"),
        }
    }
}

/// Limits and policies of one log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// A segment rolls before an append would take it past this size (at most `u32::MAX`,
    /// since index positions are u32).
    pub segment_bytes_max: u64,
    /// A segment rolls on the first append at least this long after its first batch.
    pub segment_ms_max: u64,
    /// Bytes of log between two index entries.
    pub index_interval_bytes: u32,
    /// Largest accepted batch (Kafka's `max.message.bytes`).
    pub batch_bytes_max: u32,
    pub flush: FlushPolicy,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes_max: 128 * 1024 * 1024,
            segment_ms_max: 7 * 24 * 60 * 60 * 1000,
            index_interval_bytes: 4096,
            batch_bytes_max: 1_048_588,
            flush: FlushPolicy::Always,
        }
    }
}

impl LogConfig {
    /// Rejects limits the format cannot honour; called by `Log::open`.
    pub fn check(&self) -> Result<(), LogError> {
        let header_bytes = BATCH_HEADER_BYTES as u64;
        if self.segment_bytes_max < header_bytes || self.segment_bytes_max > u64::from(u32::MAX) {
            return Err(LogError::InvalidConfig(format!(
                "segment_bytes_max {} must be within [{header_bytes}, {}]",
                self.segment_bytes_max,
                u32::MAX
            )));
        }
        if self.index_interval_bytes == 0 {
            return Err(LogError::InvalidConfig(
                "index_interval_bytes must be > 0".into(),
            ));
        }
        if u64::from(self.batch_bytes_max) < header_bytes {
            return Err(LogError::InvalidConfig(format!(
                "batch_bytes_max {} is smaller than a batch header",
                self.batch_bytes_max
            )));
        }
        Ok(())
    }
}

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    pub log_end_offset: i64,
    /// Byte position of the (first) batch in its segment's `.log` file.
    pub position: u64,
}

/// State shared between a log and the sync targets it hands out.
#[derive(Debug)]
struct Shared {
    /// Set by the first failed fsync; never cleared (only reopening recovers).
    failed: AtomicBool,
    /// Bumped by every `truncate_to`.
    truncations_count: AtomicU64,
    /// The lowest offset the log was ever truncated to.
    truncation_offset_min: AtomicI64,
}

/// The active segment's file and the log end offset at one moment, for fsyncing outside the
/// log's lock.
#[derive(Debug, Clone)]
pub struct SyncTarget {
    file: Arc<dyn LogFile>,
    path: PathBuf,
    offset: i64,
    truncations_count: u64,
    shared: Arc<Shared>,
}

impl SyncTarget {
    /// The log end offset when the target was taken: what a successful sync makes durable.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// fsyncs the segment and returns the offset now durable (everything below it).
    ///
    /// Segments rolled past were fsynced when the log rolled, so syncing the file that was
    /// active when the target was taken covers every offset below `offset`. If the log was
    /// truncated since, records at those offsets may now live in files this sync did not touch,
    /// so only offsets below the truncation point are reported.
    pub fn sync(&self) -> Result<i64, LogError> {
        if self.shared.failed.load(Ordering::Acquire) {
            return Err(LogError::Failed);
        }
        if let Err(source) = self.file.sync_data() {
            self.shared.failed.store(true, Ordering::Release);
            tracing::error!(path = %self.path.display(), error = %source, "fsync failed; log poisoned until reopened");
            return Err(LogError::io("fsync", &self.path, source));
        }
        if self.shared.truncations_count.load(Ordering::Acquire) != self.truncations_count {
            return Ok(self
                .offset
                .min(self.shared.truncation_offset_min.load(Ordering::Acquire)));
        }
        Ok(self.offset)
    }
}

/// The log of one partition.
#[derive(Debug)]
pub struct Log {
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    config: LogConfig,
    /// Sorted by base offset, never empty; the last one is active (takes appends).
    segments: Vec<Segment>,
    log_end_offset: i64,
    durable_offset: i64,
    size_bytes: u64,
    shared: Arc<Shared>,
    checkpoints: Checkpoints,
    /// Which leader epoch wrote which offsets; on disk in `leader-epoch-checkpoint`, rewritten
    /// before any change to it is acted on.
    leader_epochs: LeaderEpochCache,
}

impl Log {
    /// Opens (creating if missing) the log in `dir` and recovers it. See `docs/log-format.md`.
    pub fn open(fs: Arc<dyn FileSystem>, dir: &Path, config: LogConfig) -> Result<Log, LogError> {
        config.check()?;
        fs.create_dir_all(dir)
            .map_err(|source| LogError::io("create directory", dir, source))?;
        let mut log_bases = Vec::new();
        let mut index_bases = Vec::new();
        let mut snapshot_offsets = Vec::new();
        for path in fs
            .read_dir(dir)
            .map_err(|source| LogError::io("list", dir, source))?
        {
            if let Some(base) = segment::parse_segment_file_name(&path, LOG_FILE_EXTENSION) {
                log_bases.push(base);
            } else if let Some(base) = segment::parse_segment_file_name(&path, INDEX_FILE_EXTENSION)
            {
                index_bases.push((base, INDEX_FILE_EXTENSION));
            } else if let Some(base) =
                segment::parse_segment_file_name(&path, TIME_INDEX_FILE_EXTENSION)
            {
                index_bases.push((base, TIME_INDEX_FILE_EXTENSION));
            } else if let Some(offset) =
                segment::parse_segment_file_name(&path, checkpoint::SNAPSHOT_FILE_EXTENSION)
            {
                snapshot_offsets.push(offset);
            }
        }
        log_bases.sort_unstable();
        snapshot_offsets.sort_unstable();
        for (base, extension) in index_bases {
            if log_bases.binary_search(&base).is_err() {
                // An index without its log (a crash or failure in the middle of a roll, a
                // truncation or a delete, all of which remove the `.log` first).
                let path = segment::segment_path(dir, base, extension);
                tracing::warn!(path = %path.display(), "removing index without a log file");
                fs.remove_file(&path)
                    .map_err(|source| LogError::io("remove", &path, source))?;
            }
        }
        // The marker vouches for this open only: it goes before anything can be appended, so a
        // crash after this open is never taken for a clean shutdown.
        let clean_shutdown = checkpoint::read_clean_shutdown(fs.as_ref(), dir);
        let marker_path = dir.join(checkpoint::CLEAN_SHUTDOWN_FILE_NAME);
        if fs.exists(&marker_path) {
            fs.remove_file(&marker_path)
                .map_err(|source| LogError::io("remove", &marker_path, source))?;
        }
        let stored_recovery_point = checkpoint::read_recovery_point(fs.as_ref(), dir);
        // A clean shutdown fsynced and checked everything below its log end offset.
        let recovery_point = match (stored_recovery_point, clean_shutdown) {
            (Some(point), Some(marker)) => Some(point.max(marker.log_end_offset)),
            (point, marker) => point.or(marker.map(|marker| marker.log_end_offset)),
        };
        let mut segments = Vec::with_capacity(log_bases.len().max(1));
        if log_bases.is_empty() {
            segments.push(Segment::create(fs.as_ref(), dir, 0)?);
        }
        let interval_bytes = config.index_interval_bytes;
        for (number, base) in log_bases.iter().enumerate() {
            let (segment, report) = match log_bases.get(number + 1) {
                Some(next_base) => Self::open_sealed_segment(
                    fs.as_ref(),
                    dir,
                    *base,
                    *next_base,
                    recovery_point,
                    &config,
                )?,
                None => {
                    let trusted = match clean_shutdown {
                        Some(marker) if marker.active_base_offset == *base => {
                            Segment::open_trusted(
                                fs.as_ref(),
                                dir,
                                *base,
                                marker.log_end_offset,
                                Some(marker.active_size_bytes),
                                interval_bytes,
                                config.batch_bytes_max,
                            )?
                        }
                        _ => None,
                    };
                    match trusted {
                        Some(segment) => (segment, RecoveryReport::clean()),
                        None => {
                            if clean_shutdown.is_some() {
                                tracing::warn!(dir = %dir.display(), "clean-shutdown marker does not match the active segment; recovering it");
                            }
                            Segment::recover_active(fs.as_ref(), dir, *base, interval_bytes)?
                        }
                    }
                }
            };
            if let Some((cut_bytes, reason)) = &report.truncated {
                tracing::warn!(
                    path = %segment.log_path().display(),
                    cut_bytes,
                    log_end_offset = segment.next_offset(),
                    %reason,
                    "recovery truncated the active segment"
                );
            }
            if report.index_rebuilt {
                tracing::info!(path = %segment.index_path().display(), "offset index rebuilt");
            }
            segments.push(segment);
        }
        let log_end_offset = segments.last().map_or(0, Segment::next_offset);
        // Snapshots above the log end offset describe records a crash took away; new records
        // will take those offsets, so the snapshots must go before anything is appended.
        while let Some(offset) = snapshot_offsets.last().copied() {
            if offset <= log_end_offset {
                break;
            }
            let path = checkpoint::snapshot_path(dir, offset);
            tracing::warn!(path = %path.display(), log_end_offset, "removing producer snapshot above the log end offset");
            fs.remove_file(&path)
                .map_err(|source| LogError::io("remove", &path, source))?;
            snapshot_offsets.pop();
        }
        // Everything below the log end offset is now checked and fsynced: that is the new
        // recovery point. Failing to record it costs the next unclean start time, not data.
        if stored_recovery_point != Some(log_end_offset) {
            if let Err(error) = checkpoint::write_recovery_point(fs.as_ref(), dir, log_end_offset) {
                tracing::warn!(dir = %dir.display(), %error, "cannot write the recovery point");
            }
        }
        // New files (a first segment, a recreated index) and removals must survive a crash.
        fs.sync_dir(dir)
            .map_err(|source| LogError::io("fsync directory", dir, source))?;
        let size_bytes = segments.iter().map(Segment::size_bytes).sum();
        let mut log = Log {
            fs,
            dir: dir.to_path_buf(),
            config,
            segments,
            log_end_offset,
            // Recovery fsynced the active segment, and older ones were fsynced when rolled.
            durable_offset: log_end_offset,
            size_bytes,
            shared: Arc::new(Shared {
                failed: AtomicBool::new(false),
                truncations_count: AtomicU64::new(0),
                truncation_offset_min: AtomicI64::new(i64::MAX),
            }),
            checkpoints: Checkpoints {
                recovery_point: log_end_offset,
                producer_snapshot_offsets: snapshot_offsets,
                rolled: false,
                closed: false,
                high_watermark: None,
            },
            leader_epochs: LeaderEpochCache::new(),
        };
        log.load_leader_epochs()?;
        log.load_high_watermark()?;
        Ok(log)
    }

    /// Opens a sealed segment by the recovery point: without reading its data when it lies
    /// wholly below the point, re-checking every batch when it does not, and with the index
    /// check when there is no recovery point at all (a log written before checkpoints existed,
    /// or a damaged checkpoint file).
    fn open_sealed_segment(
        fs: &dyn FileSystem,
        dir: &Path,
        base: i64,
        next_base: i64,
        recovery_point: Option<i64>,
        config: &LogConfig,
    ) -> Result<(Segment, RecoveryReport), LogError> {
        let interval_bytes = config.index_interval_bytes;
        match recovery_point {
            Some(point) if next_base <= point => {
                let trusted = Segment::open_trusted(
                    fs,
                    dir,
                    base,
                    next_base,
                    None,
                    interval_bytes,
                    config.batch_bytes_max,
                )?;
                match trusted {
                    Some(segment) => Ok((segment, RecoveryReport::clean())),
                    None => {
                        tracing::warn!(path = %segment::segment_path(dir, base, LOG_FILE_EXTENSION).display(), "sealed segment below the recovery point fails its sanity check; checking it");
                        Segment::open_sealed(fs, dir, base, next_base, interval_bytes)
                    }
                }
            }
            Some(_) => Segment::recheck_sealed(fs, dir, base, next_base, interval_bytes),
            None => Segment::open_sealed(fs, dir, base, next_base, interval_bytes),
        }
    }

    fn active(&self) -> &Segment {
        // `segments` is never empty: open creates one and nothing removes the last.
        &self.segments[self.segments.len() - 1]
    }

    fn active_mut(&mut self) -> &mut Segment {
        let last = self.segments.len() - 1;
        &mut self.segments[last]
    }

    fn check_usable(&self) -> Result<(), LogError> {
        if self.shared.failed.load(Ordering::Acquire) {
            return Err(LogError::Failed);
        }
        if self.checkpoints.closed {
            return Err(LogError::Closed);
        }
        Ok(())
    }

    fn poison(&self, error: LogError) -> LogError {
        self.shared.failed.store(true, Ordering::Release);
        tracing::error!(dir = %self.dir.display(), %error, "log poisoned until reopened");
        error
    }

    /// Appends one client batch: checks it as [`ValidBatch::new`] does, then appends it as
    /// [`append_valid`](Self::append_valid) does.
    pub fn append(
        &mut self,
        batch: &mut [u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        self.check_usable()?;
        self.check_batch_bytes(batch.len())?;
        let mut batch = ValidBatch::new(batch)?;
        self.append_valid(&mut batch, leader_epoch, now_ms)
    }

    /// Appends one client batch that was checked where it entered the node: checks
    /// `batch_bytes_max`, assigns its base offset (the log end offset) and leader epoch by
    /// patching bytes outside the CRC, rolls the segment if needed, and writes it. No fsync, and
    /// no second parse or CRC pass. On a write error the segment is cut back and the log is
    /// unchanged. A `leader_epoch` newer than the leader-epoch cache's latest starts a new entry
    /// at this batch, persisted (with fsyncs) before the batch is written.
    pub fn append_valid(
        &mut self,
        batch: &mut ValidBatch<'_>,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        self.check_usable()?;
        self.check_batch_bytes(batch.len())?;
        // One compare on the hot path; the cache changes (and is persisted) once per epoch.
        if self.leader_epochs.would_assign(leader_epoch) {
            self.persist_epoch(leader_epoch, self.log_end_offset)?;
        }
        batch.place(self.log_end_offset, leader_epoch);
        let header = *batch.header();
        self.append_validated(batch.bytes(), &header, Some(now_ms))
    }

    fn check_batch_bytes(&self, batch_bytes: usize) -> Result<(), LogError> {
        if batch_bytes > self.config.batch_bytes_max as usize {
            return Err(LogError::BatchTooLarge {
                batch_bytes,
                batch_bytes_max: self.config.batch_bytes_max,
            });
        }
        Ok(())
    }

    /// Appends batches that already carry their offsets (a follower copying its leader). The
    /// first base offset must equal the log end offset and offsets must be continuous. All
    /// batches are checked before any is written; a write error can leave a prefix appended.
    /// Segments roll by size only here (there is no clock). A batch whose
    /// `partition_leader_epoch` is newer than the leader-epoch cache's latest starts a new entry
    /// at its base offset, persisted before the batch is written.
    pub fn append_replicated(&mut self, batches: &[u8]) -> Result<AppendInfo, LogError> {
        self.check_usable()?;
        let mut checked: Vec<(BatchHeader, &[u8])> = Vec::new();
        let mut expected_offset = self.log_end_offset;
        for item in batch::batches(batches) {
            let (_, bytes) = item?;
            if bytes.len() > self.config.batch_bytes_max as usize {
                return Err(LogError::BatchTooLarge {
                    batch_bytes: bytes.len(),
                    batch_bytes_max: self.config.batch_bytes_max,
                });
            }
            let header = batch::validate(bytes)?;
            if header.base_offset != expected_offset {
                return Err(LogError::NonContiguous {
                    expected: expected_offset,
                    found: header.base_offset,
                });
            }
            expected_offset = header.last_offset() + 1;
            checked.push((header, bytes));
        }
        if checked.is_empty() {
            return Err(BatchError::TooShort {
                needed_bytes: BATCH_HEADER_BYTES,
                available_bytes: batches.len(),
            }
            .into());
        }
        let mut first: Option<AppendInfo> = None;
        let mut last = None;
        for (header, bytes) in &checked {
            if self
                .leader_epochs
                .would_assign(header.partition_leader_epoch)
            {
                self.persist_epoch(header.partition_leader_epoch, header.base_offset)?;
            }
            let info = self.append_validated(bytes, header, None)?;
            first.get_or_insert(info);
            last = Some(info);
        }
        match (first, last) {
            (Some(first), Some(last)) => Ok(AppendInfo {
                base_offset: first.base_offset,
                last_offset: last.last_offset,
                log_end_offset: last.log_end_offset,
                position: first.position,
            }),
            _ => unreachable!("checked is not empty"),
        }
    }

    fn append_validated(
        &mut self,
        batch: &[u8],
        header: &BatchHeader,
        now_ms: Option<i64>,
    ) -> Result<AppendInfo, LogError> {
        if self.should_roll(header, batch.len() as u64, now_ms) {
            self.roll()?;
        }
        let interval_bytes = self.config.index_interval_bytes;
        let position = match self
            .active_mut()
            .append(batch, header, interval_bytes, now_ms)
        {
            Ok(position) => position,
            Err(error) if self.active().has_dirty_tail() => return Err(self.poison(error)),
            Err(error) => return Err(error),
        };
        self.log_end_offset = header.last_offset() + 1;
        self.size_bytes += batch.len() as u64;
        Ok(AppendInfo {
            base_offset: header.base_offset,
            last_offset: header.last_offset(),
            log_end_offset: self.log_end_offset,
            position,
        })
    }

    fn should_roll(&self, header: &BatchHeader, batch_bytes: u64, now_ms: Option<i64>) -> bool {
        let active = self.active();
        if active.size_bytes() == 0 {
            return false;
        }
        let too_big = active.size_bytes() + batch_bytes > self.config.segment_bytes_max;
        let too_old = match (now_ms, active.rolling_timestamp_ms()) {
            (Some(now_ms), Some(since_ms)) => {
                now_ms.saturating_sub(since_ms)
                    >= i64::try_from(self.config.segment_ms_max).unwrap_or(i64::MAX)
            }
            _ => false,
        };
        // Index entries hold offsets relative to the segment base as u32.
        let offsets_overflow = header.last_offset() - active.base_offset() > i64::from(u32::MAX);
        too_big || too_old || offsets_overflow
    }

    /// Seals the active segment (fsyncing its files first, so sealed segments are always
    /// durable) and starts a new one at the log end offset, fsyncing the directory so the new
    /// files survive a crash.
    ///
    /// Any failure poisons the log. A failure after the new `.log` was created leaves an empty
    /// segment file at the log end offset; as long as nothing is appended to the old segment
    /// after it, open adopts it as the (empty) active segment. Appending to the old segment
    /// instead would make it end past the new file's base, which open must refuse as corrupt.
    fn roll(&mut self) -> Result<(), LogError> {
        if let Err(error) = self.active().sync_all() {
            return Err(self.poison(error));
        }
        self.durable_offset = self.durable_offset.max(self.log_end_offset);
        let segment = match Segment::create(self.fs.as_ref(), &self.dir, self.log_end_offset) {
            Ok(segment) => segment,
            Err(error) => return Err(self.poison(error)),
        };
        if let Err(source) = self.fs.sync_dir(&self.dir) {
            return Err(self.poison(LogError::io("fsync directory", &self.dir, source)));
        }
        tracing::debug!(dir = %self.dir.display(), base_offset = self.log_end_offset, "rolled segment");
        self.segments.push(segment);
        self.after_roll();
        Ok(())
    }

    /// Reads whole stored batches, starting with the one holding `offset`, keeping only batches
    /// whose last offset is below `upper_offset` (the high watermark), up to `max_bytes` but
    /// always at least one batch if one qualifies. Crosses segments while under `max_bytes`.
    /// A log poisoned by a failed fsync refuses reads too (`LogError::Failed`).
    pub fn read(&self, offset: i64, max_bytes: u32, upper_offset: i64) -> Result<Bytes, LogError> {
        // After a failed fsync the kernel may have dropped written pages, so the files no longer
        // match what this Log believes; only recovery on reopen can say what is there.
        self.check_usable()?;
        if offset < self.log_start_offset() || offset > self.log_end_offset {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset(),
                log_end_offset: self.log_end_offset,
            });
        }
        let upper_offset = upper_offset.min(self.log_end_offset);
        if offset >= upper_offset {
            return Ok(Bytes::new());
        }
        let max_bytes = u64::from(max_bytes);
        let mut out: Vec<u8> = Vec::new();
        let mut segment_number = self.segment_number_for(offset);
        let mut start = None;
        // Find the first batch: normally in the segment named by the offset, but that segment may
        // be empty (after a truncation), so look forward.
        while segment_number < self.segments.len() {
            if let Some(found) = self.segments[segment_number].find_batch(offset)? {
                start = Some(found);
                break;
            }
            segment_number += 1;
        }
        let Some((mut position, _)) = start else {
            return Ok(Bytes::new());
        };
        while segment_number < self.segments.len() {
            let segment = &self.segments[segment_number];
            let left_in_segment_bytes = segment.size_bytes() - position;
            if left_in_segment_bytes == 0 {
                segment_number += 1;
                position = 0;
                continue;
            }
            let first = segment.read_header(position)?;
            let first_bytes = first.total_bytes() as u64;
            let budget_bytes = max_bytes.saturating_sub(out.len() as u64);
            if first.last_offset() >= upper_offset
                || (!out.is_empty() && first_bytes > budget_bytes)
            {
                break;
            }
            let chunk_bytes = left_in_segment_bytes.min(budget_bytes.max(first_bytes));
            let chunk_start = out.len();
            segment.read_bytes(position, chunk_bytes, &mut out)?;
            let mut kept_bytes = 0usize;
            let mut stopped = false;
            for item in batch::batches(&out[chunk_start..]) {
                let Ok((header, bytes)) = item else {
                    // The chunk ends inside a batch: it did not fit the budget.
                    stopped = true;
                    break;
                };
                let total_bytes = chunk_start + kept_bytes + bytes.len();
                let is_first = chunk_start + kept_bytes == 0;
                if header.last_offset() >= upper_offset
                    || (!is_first && total_bytes as u64 > max_bytes)
                {
                    stopped = true;
                    break;
                }
                kept_bytes += bytes.len();
            }
            out.truncate(chunk_start + kept_bytes);
            if stopped || chunk_bytes < left_in_segment_bytes || out.len() as u64 >= max_bytes {
                break;
            }
            segment_number += 1;
            position = 0;
        }
        Ok(Bytes::from(out))
    }

    /// Index of the last segment whose base offset is at most `offset` (0 if none).
    fn segment_number_for(&self, offset: i64) -> usize {
        self.segments
            .partition_point(|segment| segment.base_offset() <= offset)
            .saturating_sub(1)
    }

    pub fn log_start_offset(&self) -> i64 {
        self.segments.first().map_or(0, Segment::base_offset)
    }

    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset
    }

    /// Every offset below this is known to be fsynced.
    pub fn durable_offset(&self) -> i64 {
        self.durable_offset
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    pub fn flush_policy(&self) -> FlushPolicy {
        self.config.flush
    }

    /// The file system the log writes through (for files kept beside it, like the broker's
    /// high-watermark checkpoint, written without holding the log).
    pub fn fs(&self) -> Arc<dyn FileSystem> {
        Arc::clone(&self.fs)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether a failed fsync has poisoned this log.
    pub fn is_failed(&self) -> bool {
        self.shared.failed.load(Ordering::Acquire)
    }

    /// The active segment and the log end offset, for a group commit outside the lock.
    pub fn sync_target(&self) -> SyncTarget {
        let active = self.active();
        SyncTarget {
            file: active.log_file().clone(),
            path: active.log_path().to_path_buf(),
            offset: self.log_end_offset,
            truncations_count: self.shared.truncations_count.load(Ordering::Acquire),
            shared: self.shared.clone(),
        }
    }

    /// Records that a sync covering everything below `offset` succeeded (monotonic; ignored on
    /// a failed log, whose earlier durability claims stand but which learns no new ones).
    pub fn mark_durable(&mut self, offset: i64) {
        if self.is_failed() {
            return;
        }
        self.durable_offset = self.durable_offset.max(offset.min(self.log_end_offset));
    }

    /// fsyncs now and marks everything appended so far durable.
    pub fn flush(&mut self) -> Result<(), LogError> {
        let target = self.sync_target();
        let offset = target.sync()?;
        self.mark_durable(offset);
        Ok(())
    }

    /// Bytes of all segments' `.log` files.
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// The first batch whose max_timestamp is at least `timestamp_ms`, as (its base offset, its
    /// max_timestamp). Skips segments whose largest timestamp (kept in memory) is below the
    /// target, then starts in the first one that reaches it at its time index's nearest entry
    /// and walks batch headers from there. Refused on a poisoned log, like reads.
    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<(i64, i64)>, LogError> {
        self.check_usable()?;
        for segment in &self.segments {
            if let Some(found) = segment.find_timestamp(timestamp_ms)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// Drops every record at or after `offset`, which must be a batch boundary (or the log end
    /// offset). Later segments are removed, and everything is fsynced before returning: once this
    /// returns Ok, no crash brings a truncated record back, and every offset below `offset` is
    /// durable. Leader-epoch entries starting at or after `offset` go too (even when no record
    /// does), and a high-watermark checkpoint above `offset` is lowered to it.
    ///
    /// Crash safety rests on the order: remove later segments newest first (`.log` before its
    /// indexes, fsyncing the directory after each), then cut the segment holding `offset` and
    /// fsync it. A crash
    /// at any point leaves a contiguous log that is the old one or reaches at least `offset`.
    /// Any failure once files start changing poisons the log (`LogError::Failed` until
    /// reopened), so nothing is appended on top of a half-done truncation.
    pub fn truncate_to(&mut self, offset: i64) -> Result<(), LogError> {
        self.check_usable()?;
        if offset >= self.log_end_offset {
            // No record goes, but an epoch assigned at the log end with nothing written yet
            // does: a follower truncating to its log end must not keep an epoch its new
            // leader never had, or batches of an older epoch copied next would land under it.
            return self.truncate_leader_epochs(offset);
        }
        if offset < self.log_start_offset() {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset(),
                log_end_offset: self.log_end_offset,
            });
        }
        let segment_number = self.segment_number_for(offset);
        let found = match self.segments[segment_number].find_batch(offset) {
            Ok(found) => found,
            // A read that fails here fails no less in the truncation's own steps.
            Err(error) => return Err(self.poison(error)),
        };
        let position = match found {
            Some((position, header)) if header.base_offset == offset => position,
            Some(_) => return Err(LogError::NotBatchBoundary(offset)),
            None if self.segments[segment_number].next_offset() == offset => {
                self.segments[segment_number].size_bytes()
            }
            None => return Err(LogError::NotBatchBoundary(offset)),
        };
        // Tell outstanding sync targets before anything changes: a target taken before this
        // call must not vouch for records written at these offsets afterwards.
        self.shared
            .truncation_offset_min
            .fetch_min(offset, Ordering::AcqRel);
        self.shared.truncations_count.fetch_add(1, Ordering::AcqRel);
        // The in-memory log moves first, so no path (even a failed one) leaves it claiming
        // records whose files are gone.
        let removed = self.segments.split_off(segment_number + 1);
        self.log_end_offset = offset;
        self.durable_offset = self.durable_offset.min(offset);
        let result = self.truncate_files(&removed, position, offset);
        self.size_bytes = self.segments.iter().map(Segment::size_bytes).sum();
        if let Err(error) = result {
            return Err(self.poison(error));
        }
        // The cut segment was just fsynced and sealed segments were fsynced when rolled.
        self.durable_offset = offset;
        self.after_truncate(offset)
    }

    /// The file work of `truncate_to`, in its crash-safe order (see there).
    fn truncate_files(
        &mut self,
        removed: &[Segment],
        position: u64,
        offset: i64,
    ) -> Result<(), LogError> {
        // Newest first, `.log` first, the directory fsynced after each segment: whatever a
        // crash keeps of these removals is a newest-first run of whole segments, plus at most
        // one segment that lost only some of its files (a `.log` without indexes gets them
        // rebuilt; indexes without a `.log` are removed by open). Syncing once at the end would
        // rely on the file system keeping removals in order, which POSIX does not promise.
        // Removals must also be durable before the cut is: a cut segment followed after a crash
        // by a segment that should be gone ends before the next one begins, and open refuses
        // such a log as corrupt.
        for segment in removed.iter().rev() {
            for path in segment.file_paths() {
                self.fs
                    .remove_file(path)
                    .map_err(|source| LogError::io("remove", path, source))?;
            }
            self.fs
                .sync_dir(&self.dir)
                .map_err(|source| LogError::io("fsync directory", &self.dir, source))?;
        }
        self.active_mut().truncate_at(position, offset)?;
        self.active().sync_all()
    }

    /// Removes the partition's directory and everything in it.
    pub fn delete(self) -> Result<(), LogError> {
        self.fs
            .remove_dir_all(&self.dir)
            .map_err(|source| LogError::io("remove directory", &self.dir, source))?;
        if let Some(parent) = self.dir.parent() {
            self.fs
                .sync_dir(parent)
                .map_err(|source| LogError::io("fsync directory", parent, source))?;
        }
        Ok(())
    }
}

/// The log's view of its checkpoint files (`checkpoint.rs`).
#[derive(Debug)]
struct Checkpoints {
    /// Every offset below this is fsynced and was checked; what the recovery-point file holds
    /// (or will, once a failed write is retried by the next roll or close).
    recovery_point: i64,
    /// Offsets of the producer-state snapshots on disk, ascending, all at most the log end
    /// offset.
    producer_snapshot_offsets: Vec<i64>,
    /// Set by a roll, cleared by `take_rolled`: the broker snapshots producer state then.
    rolled: bool,
    /// Set by `close`: the clean-shutdown marker is written, so nothing may change any more.
    closed: bool,
    /// What `high-watermark-checkpoint` holds (as read at open, clamped to the log, or as last
    /// written); None when there is no intact file.
    high_watermark: Option<i64>,
}

// Checkpoints: the recovery point, the clean-shutdown marker and producer-state snapshots.
impl Log {
    /// The offset below which every segment is known fsynced and checked: an unclean restart
    /// re-checks only segments holding offsets at or above it.
    pub fn recovery_point(&self) -> i64 {
        self.checkpoints.recovery_point
    }

    /// Shuts the log down cleanly: fsyncs the active segment and its index, records the
    /// recovery point, then writes the clean-shutdown marker, so the next open reads no segment
    /// data. Every later call on this log returns `LogError::Closed`.
    pub fn close(&mut self) -> Result<(), LogError> {
        self.check_usable()?;
        if let Err(error) = self.active().sync_all() {
            return Err(self.poison(error));
        }
        self.durable_offset = self.log_end_offset;
        checkpoint::write_recovery_point(self.fs.as_ref(), &self.dir, self.log_end_offset)?;
        self.checkpoints.recovery_point = self.log_end_offset;
        let marker = CleanShutdown {
            log_end_offset: self.log_end_offset,
            active_base_offset: self.active().base_offset(),
            active_size_bytes: self.active().size_bytes(),
        };
        // The marker must be the last write: it vouches for everything before it.
        self.checkpoints.closed = true;
        checkpoint::write_clean_shutdown(self.fs.as_ref(), &self.dir, &marker)?;
        tracing::debug!(dir = %self.dir.display(), log_end_offset = self.log_end_offset, "log closed cleanly");
        Ok(())
    }

    /// Called at the end of a roll, once the sealed segment is fsynced: moves the recovery point
    /// to the new segment's base and flags the roll for the broker's producer snapshot. A failed
    /// checkpoint write costs the next unclean start a re-check of the segment, not data.
    fn after_roll(&mut self) {
        self.checkpoints.rolled = true;
        let point = self.active().base_offset();
        match checkpoint::write_recovery_point(self.fs.as_ref(), &self.dir, point) {
            Ok(()) => self.checkpoints.recovery_point = point,
            Err(error) => {
                tracing::warn!(dir = %self.dir.display(), %error, "cannot write the recovery point")
            }
        }
    }

    /// Called at the end of `truncate_to(offset)`, once the truncation itself is durable: the
    /// recovery point drops to at most `offset`, producer snapshots and leader-epoch entries
    /// above it are removed and a high-watermark checkpoint above it is lowered (durably, before
    /// anything can be appended at those offsets again). If any of that fails
    /// the log is poisoned: a reopen removes the snapshots and rewrites the recovery point.
    fn after_truncate(&mut self, offset: i64) -> Result<(), LogError> {
        let mut removed = false;
        while let Some(snapshot) = self.checkpoints.producer_snapshot_offsets.last().copied() {
            if snapshot <= offset {
                break;
            }
            let path = checkpoint::snapshot_path(&self.dir, snapshot);
            if let Err(source) = self.fs.remove_file(&path) {
                return Err(self.poison(LogError::io("remove", &path, source)));
            }
            self.checkpoints.producer_snapshot_offsets.pop();
            removed = true;
        }
        if removed {
            if let Err(source) = self.fs.sync_dir(&self.dir) {
                return Err(self.poison(LogError::io("fsync directory", &self.dir, source)));
            }
        }
        self.truncate_leader_epochs(offset)?;
        self.lower_high_watermark_checkpoint(offset)?;
        if self.checkpoints.recovery_point > offset {
            self.checkpoints.recovery_point = offset;
            // A recovery point left above `offset` only marks sealed segments as checked, and
            // every sealed segment was fsynced at its roll, so a stale one is safe for data; but
            // truncation follows one rule for every failure in it (poison, and let the reopen,
            // which rewrites the recovery point, sort it out), so that an Ok means every step
            // was done.
            if let Err(error) =
                checkpoint::write_recovery_point(self.fs.as_ref(), &self.dir, offset)
            {
                return Err(self.poison(error));
            }
        }
        Ok(())
    }

    /// Removes the producer-state snapshots below `log_start_offset` after retention deleted the
    /// segments they sat at the base of (as Kafka deletes a segment's snapshot with the
    /// segment). Best effort, with no directory fsync: a snapshot that survives a failure or a
    /// crash is still true for its offset, and a replay from it starts at the log start.
    fn remove_producer_snapshots_below(&mut self, log_start_offset: i64) {
        let below = self
            .checkpoints
            .producer_snapshot_offsets
            .partition_point(|offset| *offset < log_start_offset);
        let removed: Vec<i64> = self
            .checkpoints
            .producer_snapshot_offsets
            .drain(..below)
            .collect();
        for offset in removed {
            let path = checkpoint::snapshot_path(&self.dir, offset);
            if let Err(error) = self.fs.remove_file(&path) {
                tracing::warn!(path = %path.display(), %error, "cannot remove a producer snapshot below the log start");
            }
        }
    }

    /// Whether the log rolled a segment since the last call (the broker then writes a
    /// producer-state snapshot).
    pub fn take_rolled(&mut self) -> bool {
        std::mem::take(&mut self.checkpoints.rolled)
    }

    /// Offsets of the producer-state snapshots on disk, oldest first.
    pub fn producer_snapshot_offsets(&self) -> &[i64] {
        &self.checkpoints.producer_snapshot_offsets
    }

    /// Writes a producer-state snapshot covering every offset below the log end offset (the
    /// caller holds its producer state consistent with the log), then removes the oldest beyond
    /// `PRODUCER_SNAPSHOTS_MAX`. An existing snapshot at that offset is kept as it is: producer
    /// state is a function of the log's prefix, so it already says the same.
    pub fn write_producer_snapshot(&mut self, payload: &[u8]) -> Result<(), LogError> {
        self.check_usable()?;
        let offset = self.log_end_offset;
        // An empty log replays for free; a snapshot of nothing would only take a file.
        if offset == self.log_start_offset()
            || self.checkpoints.producer_snapshot_offsets.last() == Some(&offset)
        {
            return Ok(());
        }
        checkpoint::write_snapshot(self.fs.as_ref(), &self.dir, offset, payload)?;
        self.checkpoints.producer_snapshot_offsets.push(offset);
        let excess = self
            .checkpoints
            .producer_snapshot_offsets
            .len()
            .saturating_sub(checkpoint::PRODUCER_SNAPSHOTS_MAX);
        for old in self
            .checkpoints
            .producer_snapshot_offsets
            .drain(..excess)
            .collect::<Vec<_>>()
        {
            // An old snapshot that survives is harmless: it is still true for its offset.
            let path = checkpoint::snapshot_path(&self.dir, old);
            if let Err(error) = self.fs.remove_file(&path) {
                tracing::warn!(path = %path.display(), %error, "cannot remove an old producer snapshot");
            }
        }
        Ok(())
    }

    /// The newest producer-state snapshot that is intact and that `decode` accepts, with the
    /// offset it covers. Damaged snapshots are logged and skipped, falling back to older ones.
    pub fn load_producer_snapshot<T>(
        &self,
        mut decode: impl FnMut(&[u8]) -> Option<T>,
    ) -> Option<(i64, T)> {
        for offset in self.checkpoints.producer_snapshot_offsets.iter().rev() {
            match checkpoint::read_snapshot(self.fs.as_ref(), &self.dir, *offset) {
                Ok(payload) => {
                    if let Some(state) = decode(&payload) {
                        return Some((*offset, state));
                    }
                }
                Err(reason) => {
                    tracing::warn!(dir = %self.dir.display(), offset, %reason, "ignoring damaged producer snapshot");
                }
            }
        }
        None
    }

    /// Calls `visit` with the header of every batch from `from_offset` (a batch boundary) to
    /// the log end, reading headers only (for replaying producer state). Returns the bytes read.
    pub fn for_each_batch_header(
        &self,
        from_offset: i64,
        mut visit: impl FnMut(&BatchHeader),
    ) -> Result<u64, LogError> {
        if from_offset >= self.log_end_offset {
            return Ok(0);
        }
        let mut bytes_read = 0;
        let mut segment_number = self.segment_number_for(from_offset);
        let mut position = None;
        while segment_number < self.segments.len() && position.is_none() {
            position = self.segments[segment_number]
                .find_batch(from_offset)?
                .map(|(position, _)| position);
            if position.is_none() {
                segment_number += 1;
            }
        }
        let Some(mut position) = position else {
            return Ok(0);
        };
        for segment in &self.segments[segment_number..] {
            bytes_read += segment.walk_headers(position, &mut visit)?;
            position = 0;
        }
        Ok(bytes_read)
    }
}

/// How much of a partition's log retention keeps (Kafka's `retention.ms` and
/// `retention.bytes`); `None` is unlimited (Kafka's -1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Segments whose largest record timestamp is older than this are deleted.
    pub retention_ms: Option<i64>,
    /// Oldest segments are deleted while the log stays at least this large without them.
    pub retention_bytes: Option<u64>,
}

/// What one retention pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionOutcome {
    pub segments_deleted: usize,
    pub bytes_deleted: u64,
    /// The log start offset after the pass (unchanged when nothing was deleted).
    pub log_start_offset: i64,
}

// Retention and per-topic settings live in their own block: they only remove whole segments
// from the front of the log and swap limits, and never touch the append or recovery paths.
impl Log {
    /// Replaces the log's limits (a topic's `segment.bytes`, `segment.ms`, `max.message.bytes`
    /// changed). They apply from the next append; existing segments are left as they are.
    pub fn set_config(&mut self, config: LogConfig) -> Result<(), LogError> {
        config.check()?;
        self.config = config;
        Ok(())
    }

    /// The sealed segments at the front of the log that `retention` no longer keeps: a segment
    /// goes when its largest timestamp is more than `retention_ms` before `now_ms`, or when the
    /// log without it is still at least `retention_bytes`. Only segments wholly below
    /// `upper_offset` (the high watermark) qualify, and the active segment never does.
    fn retention_candidates(
        &self,
        retention: Retention,
        now_ms: i64,
        upper_offset: i64,
    ) -> Result<usize, LogError> {
        let mut remaining_bytes = self.size_bytes;
        let mut count = 0;
        let sealed = &self.segments[..self.segments.len().saturating_sub(1)];
        for (number, segment) in sealed.iter().enumerate() {
            let next_base = self.segments[number + 1].base_offset();
            if next_base > upper_offset {
                break;
            }
            let over_bytes = retention
                .retention_bytes
                .is_some_and(|bytes| remaining_bytes - segment.size_bytes() >= bytes);
            // Kafka compares the segment's largest record timestamp; an empty segment holds
            // nothing to keep.
            let over_time = retention.retention_ms.is_some_and(|retention_ms| {
                segment.max_timestamp().is_none_or(|largest| {
                    now_ms.saturating_sub(largest.timestamp_ms) > retention_ms
                })
            });
            if !(over_bytes || over_time) {
                break;
            }
            remaining_bytes -= segment.size_bytes();
            count += 1;
        }
        Ok(count)
    }

    /// Deletes whole segments from the front of the log as `retention` asks, advancing the log
    /// start offset to the first kept segment's base offset.
    ///
    /// Files go oldest segment first (each `.log` before its indexes, since recovery drops an
    /// index without its log), with a directory fsync after each segment, so a crash part-way
    /// leaves a contiguous log that starts later; the directory is fsynced before the new log
    /// start offset is reported. A failed removal stops the pass: segments already removed are
    /// dropped and the error returned. A failed directory fsync poisons the log, as it does for
    /// a roll.
    pub fn delete_segments_for_retention(
        &mut self,
        retention: Retention,
        now_ms: i64,
        upper_offset: i64,
    ) -> Result<RetentionOutcome, LogError> {
        self.check_usable()?;
        let candidates = self.retention_candidates(retention, now_ms, upper_offset)?;
        if candidates == 0 {
            return Ok(RetentionOutcome {
                log_start_offset: self.log_start_offset(),
                ..RetentionOutcome::default()
            });
        }
        // Oldest first, `.log` first, the directory fsynced after each segment: whatever a crash
        // keeps of these removals is an oldest-first run of whole segments, plus at most one
        // segment that lost only some of its files (indexes without a `.log` are removed by
        // open). Syncing once at the end would rely on the file system keeping removals in
        // order, which POSIX does not promise.
        let mut deleted = 0;
        let mut failure = None;
        let mut poisoned = false;
        for segment in &self.segments[..candidates] {
            let mut log_removed = false;
            for path in segment.file_paths() {
                match self.fs.remove_file(path) {
                    Ok(()) => log_removed |= path == segment.log_path(),
                    Err(source) => {
                        failure = Some(LogError::io("remove", path, source));
                        break;
                    }
                }
            }
            // A segment whose `.log` is gone is gone for recovery, so for readers too.
            if log_removed {
                deleted += 1;
            }
            if let Err(source) = self.fs.sync_dir(&self.dir) {
                failure = Some(LogError::io("fsync directory", &self.dir, source));
                poisoned = true;
            }
            if failure.is_some() {
                break;
            }
        }
        let bytes_deleted: u64 = self
            .segments
            .drain(..deleted)
            .map(|segment| segment.size_bytes())
            .sum();
        self.size_bytes -= bytes_deleted;
        let outcome = RetentionOutcome {
            segments_deleted: deleted,
            bytes_deleted,
            log_start_offset: self.log_start_offset(),
        };
        if deleted > 0 {
            self.remove_producer_snapshots_below(outcome.log_start_offset);
            self.move_leader_epochs_start(outcome.log_start_offset);
            tracing::info!(
                dir = %self.dir.display(),
                segments_deleted = deleted,
                bytes_deleted,
                log_start_offset = outcome.log_start_offset,
                "retention deleted segments"
            );
        }
        match failure {
            Some(error) if poisoned => Err(self.poison(error)),
            Some(error) => Err(error),
            None => Ok(outcome),
        }
    }
}
