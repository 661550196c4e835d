//! One segment: a `.log` file of concatenated batches and its `.index`.
//!
//! Files are named by the segment's base offset, zero-padded to 20 digits:
//! `00000000000000000000.log` and `00000000000000000000.index`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::batch::{self, BatchHeader, BATCH_HEADER_BYTES};
use crate::error::LogError;
use crate::file::{FileSystem, LogFile};
use crate::index::{IndexEntry, OffsetIndex, INDEX_ENTRY_BYTES};

pub const LOG_FILE_EXTENSION: &str = "log";
pub const INDEX_FILE_EXTENSION: &str = "index";
/// Bytes read at once when walking batch headers (the producer-state replay at start-up).
pub const HEADER_READ_AHEAD_BYTES: u64 = 64 * 1024;

/// `DIR/<20-digit base offset>.<extension>`.
pub fn segment_path(dir: &Path, base_offset: i64, extension: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{extension}"))
}

/// The base offset named by a segment file name, if it is one of ours.
pub fn parse_segment_file_name(path: &Path, extension: &str) -> Option<i64> {
    if path.extension()? != extension {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    if stem.len() != 20 || !stem.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// One `.log` + `.index` pair.
#[derive(Debug)]
pub struct Segment {
    base_offset: i64,
    log_path: PathBuf,
    log: Arc<dyn LogFile>,
    index: OffsetIndex,
    /// Bytes of whole batches in the `.log` file; anything past this is garbage from a failed
    /// write and is overwritten by the next append.
    size_bytes: u64,
    /// One past the last offset stored here.
    next_offset: i64,
    /// Position of the batch the last index entry points at (0 if none).
    last_indexed_position: u64,
    /// The time the segment's age is measured from: when its first batch was appended (or, after
    /// recovery, the first batch's max_timestamp, as Kafka does).
    rolling_timestamp_ms: Option<i64>,
}

/// What recovery found in a segment.
#[derive(Debug)]
pub struct RecoveryReport {
    /// Bytes cut off the end of the `.log` file, and why (None when nothing was cut).
    pub truncated: Option<(u64, String)>,
    pub index_rebuilt: bool,
}

impl RecoveryReport {
    /// Nothing cut, nothing rebuilt.
    pub fn clean() -> RecoveryReport {
        RecoveryReport {
            truncated: None,
            index_rebuilt: false,
        }
    }
}

fn io_error<'a>(
    operation: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> LogError + 'a {
    move |source| LogError::io(operation, path, source)
}

impl Segment {
    /// Creates a new empty segment (both files) at `base_offset`.
    pub fn create(fs: &dyn FileSystem, dir: &Path, base_offset: i64) -> Result<Segment, LogError> {
        let log_path = segment_path(dir, base_offset, LOG_FILE_EXTENSION);
        let index_path = segment_path(dir, base_offset, INDEX_FILE_EXTENSION);
        let log = fs
            .open(&log_path, true)
            .map_err(io_error("create", &log_path))?;
        log.set_len(0).map_err(io_error("truncate", &log_path))?;
        let index_file = fs
            .open(&index_path, true)
            .map_err(io_error("create", &index_path))?;
        index_file
            .set_len(0)
            .map_err(io_error("truncate", &index_path))?;
        Ok(Segment {
            base_offset,
            log_path,
            log,
            index: OffsetIndex::new(index_path, index_file, 0),
            size_bytes: 0,
            next_offset: base_offset,
            last_indexed_position: 0,
            rolling_timestamp_ms: None,
        })
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    pub fn index_path(&self) -> &Path {
        self.index.path()
    }

    pub fn log_file(&self) -> &Arc<dyn LogFile> {
        &self.log
    }

    pub fn rolling_timestamp_ms(&self) -> Option<i64> {
        self.rolling_timestamp_ms
    }

    /// Reads and parses the header of the batch at `position`.
    pub fn read_header(&self, position: u64) -> Result<BatchHeader, LogError> {
        let mut bytes = [0u8; BATCH_HEADER_BYTES];
        self.log
            .read_exact_at(&mut bytes, position)
            .map_err(io_error("read", &self.log_path))?;
        Ok(BatchHeader::parse(&bytes)?)
    }

    /// Reads `len_bytes` of the `.log` file at `position`.
    pub fn read_bytes(
        &self,
        position: u64,
        len_bytes: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), LogError> {
        let start = out.len();
        out.resize(start + len_bytes as usize, 0);
        self.log
            .read_exact_at(&mut out[start..], position)
            .map_err(io_error("read", &self.log_path))
    }

    /// The position and header of the batch holding `offset`, or None if it is past this
    /// segment's end. Starts at the index's nearest entry and walks headers from there.
    pub fn find_batch(&self, offset: i64) -> Result<Option<(u64, BatchHeader)>, LogError> {
        if offset >= self.next_offset {
            return Ok(None);
        }
        let relative_offset = u32::try_from((offset - self.base_offset).max(0)).unwrap_or(u32::MAX);
        let mut position = u64::from(
            self.index
                .lookup(relative_offset)
                .map_err(io_error("read", self.index.path()))?,
        );
        while position < self.size_bytes {
            let header = self.read_header(position)?;
            if header.last_offset() >= offset {
                return Ok(Some((position, header)));
            }
            position += header.total_bytes() as u64;
        }
        Ok(None)
    }

    /// Appends one validated, patched batch. On a write error, cuts the file back to where it
    /// was, so the segment stays as it was before the call.
    pub fn append(
        &mut self,
        batch: &[u8],
        header: &BatchHeader,
        index_interval_bytes: u32,
        now_ms: Option<i64>,
    ) -> Result<u64, LogError> {
        let position = self.size_bytes;
        let relative_offset =
            u32::try_from(header.base_offset - self.base_offset).map_err(|_| {
                LogError::InvalidConfig("batch offset does not fit the segment's u32 index".into())
            })?;
        if let Err(source) = self.log.write_all_at(batch, position) {
            self.cut_back(position);
            return Err(LogError::io("write", &self.log_path, source));
        }
        if position > 0 && position - self.last_indexed_position >= u64::from(index_interval_bytes)
        {
            let entry = IndexEntry {
                relative_offset,
                // Segments are capped below u32::MAX bytes (checked when the log opens).
                position: position as u32,
            };
            if let Err(source) = self.index.append(entry) {
                self.cut_back(position);
                return Err(LogError::io("write", self.index.path(), source));
            }
            self.last_indexed_position = position;
        }
        self.size_bytes = position + batch.len() as u64;
        self.next_offset = header.last_offset() + 1;
        if self.rolling_timestamp_ms.is_none() {
            self.rolling_timestamp_ms = Some(now_ms.unwrap_or(header.max_timestamp));
        }
        Ok(position)
    }

    fn cut_back(&self, position: u64) {
        // Best effort: if this fails too, the garbage past size_bytes is never read (reads stop
        // at size_bytes), is overwritten by the next append, and recovery would cut it.
        if let Err(error) = self.log.set_len(position) {
            tracing::warn!(path = %self.log_path.display(), %error, "could not cut back a failed write");
        }
        if let Err(error) = self.index.trim() {
            tracing::warn!(path = %self.index.path().display(), %error, "could not cut back the index");
        }
    }

    /// fsyncs the `.log` and `.index` files (when sealing the segment).
    pub fn sync_all(&self) -> Result<(), LogError> {
        self.index
            .trim()
            .map_err(io_error("truncate", self.index.path()))?;
        self.log
            .sync_data()
            .map_err(io_error("fsync", &self.log_path))?;
        self.index
            .file()
            .sync_data()
            .map_err(io_error("fsync", self.index.path()))
    }

    /// Drops the batch at `position` and everything after it; `offset` is that batch's base.
    pub fn truncate_at(&mut self, position: u64, offset: i64) -> Result<(), LogError> {
        self.log
            .set_len(position)
            .map_err(io_error("truncate", &self.log_path))?;
        self.index
            .truncate_to_position(position)
            .map_err(io_error("truncate", self.index.path()))?;
        self.size_bytes = position;
        self.next_offset = offset;
        self.last_indexed_position = if self.index.entries_count() == 0 {
            0
        } else {
            let last = self.index.entries_count() - 1;
            u64::from(
                self.index
                    .entry(last)
                    .map_err(io_error("read", self.index.path()))?
                    .position,
            )
        };
        if position == 0 {
            self.rolling_timestamp_ms = None;
        }
        Ok(())
    }

    /// Opens the files of an existing segment without checking them.
    fn open_files(fs: &dyn FileSystem, dir: &Path, base_offset: i64) -> Result<Segment, LogError> {
        let log_path = segment_path(dir, base_offset, LOG_FILE_EXTENSION);
        let index_path = segment_path(dir, base_offset, INDEX_FILE_EXTENSION);
        let log = fs
            .open(&log_path, false)
            .map_err(io_error("open", &log_path))?;
        let index_file = fs
            .open(&index_path, true)
            .map_err(io_error("open", &index_path))?;
        let size_bytes = log.len().map_err(io_error("stat", &log_path))?;
        Ok(Segment {
            base_offset,
            log_path,
            log,
            index: OffsetIndex::new(index_path, index_file, 0),
            size_bytes,
            next_offset: base_offset,
            last_indexed_position: 0,
            rolling_timestamp_ms: None,
        })
    }

    /// Walks every batch from the start of the file, checking each one whole (length sanity
    /// before reading, magic, CRC-32C, offset continuity from the segment's base), and collects
    /// the index entries the appends would have written. Stops at the first invalid byte and
    /// says why; `size_bytes` and `next_offset` then describe the valid prefix. Memory is one
    /// batch at a time.
    fn scan_batches(
        &mut self,
        index_interval_bytes: u32,
    ) -> Result<(Vec<IndexEntry>, Option<String>), LogError> {
        let file_bytes = self.size_bytes;
        let mut entries = Vec::new();
        let mut position = 0u64;
        let mut batch_buffer = Vec::new();
        self.next_offset = self.base_offset;
        self.last_indexed_position = 0;
        self.rolling_timestamp_ms = None;
        let stop_reason = loop {
            if position == file_bytes {
                break None;
            }
            let left_bytes = file_bytes - position;
            if left_bytes < BATCH_HEADER_BYTES as u64 {
                break Some(format!("partial batch header of {left_bytes} bytes"));
            }
            batch_buffer.clear();
            self.read_bytes(position, BATCH_HEADER_BYTES as u64, &mut batch_buffer)?;
            let header = match BatchHeader::parse(&batch_buffer) {
                Ok(header) => header,
                Err(error) => break Some(error.to_string()),
            };
            let total_bytes = header.total_bytes() as u64;
            // Checked before allocating: a damaged length field cannot make us allocate more
            // than the file holds.
            if total_bytes > left_bytes {
                break Some(format!(
                    "batch of {total_bytes} bytes runs past the end ({left_bytes} left)"
                ));
            }
            // The rest of the batch after its header, so every byte is read once.
            self.read_bytes(
                position + BATCH_HEADER_BYTES as u64,
                total_bytes - BATCH_HEADER_BYTES as u64,
                &mut batch_buffer,
            )?;
            if let Err(error) = batch::validate(&batch_buffer) {
                break Some(error.to_string());
            }
            if header.base_offset != self.next_offset {
                break Some(format!(
                    "batch base offset {} does not follow {}",
                    header.base_offset, self.next_offset
                ));
            }
            let Ok(relative_offset) = u32::try_from(header.base_offset - self.base_offset) else {
                break Some("batch offset does not fit the segment".to_string());
            };
            if position > 0
                && position - self.last_indexed_position >= u64::from(index_interval_bytes)
            {
                entries.push(IndexEntry {
                    relative_offset,
                    position: u32::try_from(position)
                        .map_err(|_| self.corrupt("segment larger than 4 GiB"))?,
                });
                self.last_indexed_position = position;
            }
            if self.rolling_timestamp_ms.is_none() {
                self.rolling_timestamp_ms = Some(header.max_timestamp);
            }
            self.next_offset = header.last_offset() + 1;
            position += total_bytes;
        };
        self.size_bytes = position;
        Ok((entries, stop_reason))
    }

    /// Replaces the index file with `entries` unless it already holds exactly them (so an open
    /// that finds nothing wrong writes nothing, and works on a full disk). Returns whether it
    /// was rewritten.
    fn install_index(&mut self, entries: &[IndexEntry]) -> Result<bool, LogError> {
        let (existing, whole) = OffsetIndex::read_all(self.index.file().as_ref())
            .map_err(io_error("read", self.index.path()))?;
        let rebuilt = !whole || existing != entries;
        if rebuilt {
            self.index
                .rewrite(entries)
                .map_err(io_error("rewrite", self.index.path()))?;
        } else {
            self.index = OffsetIndex::new(
                self.index.path().to_path_buf(),
                self.index.file().clone(),
                entries.len() as u64,
            );
        }
        Ok(rebuilt)
    }

    /// Recovers the active (last) segment: verifies every batch (length sanity before reading,
    /// magic, CRC-32C, offset continuity from the segment's base), cuts the file at the first
    /// invalid byte, rebuilds the index, and fsyncs both files. Memory is one batch at a time.
    pub fn recover_active(
        fs: &dyn FileSystem,
        dir: &Path,
        base_offset: i64,
        index_interval_bytes: u32,
    ) -> Result<(Segment, RecoveryReport), LogError> {
        let mut segment = Segment::open_files(fs, dir, base_offset)?;
        let file_bytes = segment.size_bytes;
        let (entries, stop_reason) = segment.scan_batches(index_interval_bytes)?;
        let truncated = stop_reason.map(|reason| (file_bytes - segment.size_bytes, reason));
        if truncated.is_some() {
            segment
                .log
                .set_len(segment.size_bytes)
                .map_err(io_error("truncate", &segment.log_path))?;
        }
        // The bytes just read may have been only in the page cache (a process crash, not a power
        // loss); syncing makes everything recovered durable, so the log can report it so.
        segment
            .log
            .sync_data()
            .map_err(io_error("fsync", &segment.log_path))?;
        let index_rebuilt = segment.install_index(&entries)?;
        Ok((
            segment,
            RecoveryReport {
                truncated,
                index_rebuilt,
            },
        ))
    }

    /// Re-checks a sealed segment that holds offsets at or above the recovery point (a crash
    /// came between its roll and the checkpoint): every batch is CRC-checked and the index
    /// rebuilt. It was fsynced when the log rolled past it, so damage is corruption below the
    /// durable point and is reported as `LogError::Corrupt`, never cut.
    pub fn recheck_sealed(
        fs: &dyn FileSystem,
        dir: &Path,
        base_offset: i64,
        next_base_offset: i64,
        index_interval_bytes: u32,
    ) -> Result<(Segment, RecoveryReport), LogError> {
        let mut segment = Segment::open_files(fs, dir, base_offset)?;
        if segment.size_bytes > u64::from(u32::MAX) {
            return Err(segment.corrupt("segment larger than 4 GiB"));
        }
        let (entries, stop_reason) = segment.scan_batches(index_interval_bytes)?;
        if let Some(reason) = stop_reason {
            return Err(segment.corrupt(&format!(
                "sealed segment damaged at byte {}: {reason}",
                segment.size_bytes
            )));
        }
        if segment.next_offset != next_base_offset {
            return Err(segment.corrupt(&format!(
                "segment ends at offset {} but the next segment starts at {next_base_offset}",
                segment.next_offset
            )));
        }
        let index_rebuilt = segment.install_index(&entries)?;
        Ok((
            segment,
            RecoveryReport {
                truncated: None,
                index_rebuilt,
            },
        ))
    }

    /// Opens a segment that a checkpoint vouches for (fsynced and checked before; it ends at
    /// `end_offset`) without reading its data: the file sizes are sanity-checked, plus the last
    /// index entry and the first batch header (for the segment's age), as Kafka does lazily.
    /// `expected_size_bytes` is the `.log` size the checkpoint recorded, when it recorded one.
    /// Returns None if anything looks wrong, so the caller falls back to a full check.
    ///
    /// The size check: every batch after the last index entry starts less than
    /// `index_interval_bytes` past it (or it would have an entry) and is at most
    /// `batch_bytes_max` long, so a `.log` longer than that has lost index entries.
    pub fn open_trusted(
        fs: &dyn FileSystem,
        dir: &Path,
        base_offset: i64,
        end_offset: i64,
        expected_size_bytes: Option<u64>,
        index_interval_bytes: u32,
        batch_bytes_max: u32,
    ) -> Result<Option<Segment>, LogError> {
        let mut segment = Segment::open_files(fs, dir, base_offset)?;
        let size_bytes = segment.size_bytes;
        if size_bytes > u64::from(u32::MAX)
            || expected_size_bytes.is_some_and(|expected| expected != size_bytes)
            || end_offset < base_offset
            || (size_bytes == 0) != (end_offset == base_offset)
        {
            return Ok(None);
        }
        let index_bytes = segment
            .index
            .file()
            .len()
            .map_err(io_error("stat", segment.index.path()))?;
        if index_bytes % INDEX_ENTRY_BYTES != 0 {
            return Ok(None);
        }
        let entries_count = index_bytes / INDEX_ENTRY_BYTES;
        segment.index = OffsetIndex::new(
            segment.index.path().to_path_buf(),
            segment.index.file().clone(),
            entries_count,
        );
        if entries_count > 0 {
            let last = segment
                .index
                .entry(entries_count - 1)
                .map_err(io_error("read", segment.index.path()))?;
            let inside = last.position > 0
                && u64::from(last.position) + BATCH_HEADER_BYTES as u64 <= size_bytes
                && i64::from(last.relative_offset) < end_offset - base_offset;
            if !inside {
                return Ok(None);
            }
            segment.last_indexed_position = u64::from(last.position);
        }
        let indexed_end_bytes_max = segment.last_indexed_position
            + u64::from(index_interval_bytes)
            + u64::from(batch_bytes_max);
        if size_bytes > indexed_end_bytes_max {
            return Ok(None);
        }
        if size_bytes > 0 {
            let first = match segment.read_header(0) {
                Ok(header) => header,
                Err(LogError::Batch(_)) => return Ok(None),
                Err(other) => return Err(other),
            };
            if first.base_offset != base_offset || first.last_offset() >= end_offset {
                return Ok(None);
            }
            segment.rolling_timestamp_ms = Some(first.max_timestamp);
        }
        segment.next_offset = end_offset;
        Ok(Some(segment))
    }

    /// Calls `visit` with the header of every batch from `position` (a batch boundary) to the
    /// end of the segment, reading headers only: up to `HEADER_READ_AHEAD_BYTES` at a time while
    /// batches are small, one header at a time past a large batch. Returns the bytes read.
    pub fn walk_headers(
        &self,
        mut position: u64,
        visit: &mut dyn FnMut(&BatchHeader),
    ) -> Result<u64, LogError> {
        let mut buffer: Vec<u8> = Vec::new();
        // Bytes of the file that `buffer` holds start here.
        let mut buffer_position = 0u64;
        let mut bytes_read = 0u64;
        let mut read_ahead = true;
        while position < self.size_bytes {
            let in_buffer = position >= buffer_position
                && position + BATCH_HEADER_BYTES as u64 <= buffer_position + buffer.len() as u64;
            if !in_buffer {
                let left_bytes = self.size_bytes - position;
                let want_bytes = if read_ahead {
                    HEADER_READ_AHEAD_BYTES
                } else {
                    BATCH_HEADER_BYTES as u64
                };
                buffer.clear();
                self.read_bytes(position, want_bytes.min(left_bytes), &mut buffer)?;
                bytes_read += buffer.len() as u64;
                buffer_position = position;
            }
            let start = (position - buffer_position) as usize;
            let header =
                BatchHeader::parse(buffer.get(start..).unwrap_or_default()).map_err(|error| {
                    self.corrupt(&format!("bad batch header at {position}: {error}"))
                })?;
            visit(&header);
            let total_bytes = header.total_bytes() as u64;
            read_ahead = total_bytes < HEADER_READ_AHEAD_BYTES;
            position += total_bytes;
        }
        Ok(bytes_read)
    }

    /// Opens a sealed (older) segment, which was fsynced when the log rolled past it: checks its
    /// index (whole entries, strictly increasing, inside the file, each pointing at a batch whose
    /// base offset matches) and rebuilds it if missing or damaged, then walks the headers after
    /// the last entry to find the segment's end, which must be exactly `next_base_offset`.
    ///
    /// Damage here is not a torn tail but corruption below the durable point, so it is reported
    /// as `LogError::Corrupt` instead of being cut.
    pub fn open_sealed(
        fs: &dyn FileSystem,
        dir: &Path,
        base_offset: i64,
        next_base_offset: i64,
        index_interval_bytes: u32,
    ) -> Result<(Segment, RecoveryReport), LogError> {
        let mut segment = Segment::open_files(fs, dir, base_offset)?;
        if segment.size_bytes > u64::from(u32::MAX) {
            return Err(segment.corrupt("segment larger than 4 GiB"));
        }
        let (entries, whole) = OffsetIndex::read_all(segment.index.file().as_ref())
            .map_err(io_error("read", segment.index.path()))?;
        let index_problem = if whole {
            segment.check_index(&entries)?
        } else {
            Some("index file ends in a partial entry".to_string())
        };
        let index_rebuilt = match index_problem {
            None => {
                segment.index = OffsetIndex::new(
                    segment.index.path().to_path_buf(),
                    segment.index.file().clone(),
                    entries.len() as u64,
                );
                if let Some(last) = entries.last() {
                    segment.last_indexed_position = u64::from(last.position);
                    segment.next_offset = base_offset + i64::from(last.relative_offset);
                }
                // Entries the walk finds past the last one mean the index is incomplete (a
                // missing or cut index file); the rule for adding entries is deterministic, so
                // completing it yields the file an uninterrupted run would have written.
                let mut missing = Vec::new();
                segment.walk_to_end(
                    segment.last_indexed_position,
                    Some((&mut missing, index_interval_bytes)),
                )?;
                if missing.is_empty() {
                    false
                } else {
                    tracing::warn!(path = %segment.index.path().display(), missing_entries = missing.len(), "completing offset index");
                    let mut complete = entries;
                    complete.extend_from_slice(&missing);
                    segment
                        .index
                        .rewrite(&complete)
                        .map_err(io_error("rewrite", segment.index.path()))?;
                    true
                }
            }
            Some(reason) => {
                tracing::warn!(path = %segment.index.path().display(), %reason, "rebuilding offset index");
                let mut rebuilt = Vec::new();
                segment.walk_to_end(0, Some((&mut rebuilt, index_interval_bytes)))?;
                segment
                    .index
                    .rewrite(&rebuilt)
                    .map_err(io_error("rewrite", segment.index.path()))?;
                true
            }
        };
        if segment.next_offset != next_base_offset {
            return Err(segment.corrupt(&format!(
                "segment ends at offset {} but the next segment starts at {next_base_offset}",
                segment.next_offset
            )));
        }
        let first = if segment.size_bytes > 0 {
            Some(segment.read_header(0)?.max_timestamp)
        } else {
            None
        };
        segment.rolling_timestamp_ms = first;
        Ok((
            segment,
            RecoveryReport {
                truncated: None,
                index_rebuilt,
            },
        ))
    }

    fn corrupt(&self, reason: &str) -> LogError {
        LogError::Corrupt {
            path: self.log_path.clone(),
            reason: reason.to_string(),
        }
    }

    /// Returns why the index entries are wrong for this segment, or None if they are right.
    fn check_index(&self, entries: &[IndexEntry]) -> Result<Option<String>, LogError> {
        let mut previous: Option<IndexEntry> = None;
        for entry in entries {
            if let Some(previous) = previous {
                if entry.relative_offset <= previous.relative_offset
                    || entry.position <= previous.position
                {
                    return Ok(Some("index entries are not increasing".into()));
                }
            }
            if entry.position == 0
                || u64::from(entry.position) + BATCH_HEADER_BYTES as u64 > self.size_bytes
            {
                return Ok(Some(format!(
                    "index entry points at {} outside the file",
                    entry.position
                )));
            }
            let header = match self.read_header(u64::from(entry.position)) {
                Ok(header) => header,
                Err(LogError::Batch(_)) => {
                    return Ok(Some(format!(
                        "index entry points at {}, not at a batch",
                        entry.position
                    )))
                }
                Err(other) => return Err(other),
            };
            if header.base_offset != self.base_offset + i64::from(entry.relative_offset) {
                return Ok(Some(format!(
                    "index entry for offset {} points at a batch of offset {}",
                    self.base_offset + i64::from(entry.relative_offset),
                    header.base_offset
                )));
            }
            previous = Some(*entry);
        }
        Ok(None)
    }

    /// Walks batch headers from `position` (whose batch has base offset `self.next_offset`) to
    /// the end of the file, checking offset continuity and that the last batch ends exactly at
    /// the end of the file; optionally collects index entries on the way.
    fn walk_to_end(
        &mut self,
        mut position: u64,
        mut rebuild: Option<(&mut Vec<IndexEntry>, u32)>,
    ) -> Result<(), LogError> {
        while position < self.size_bytes {
            if self.size_bytes - position < BATCH_HEADER_BYTES as u64 {
                return Err(self.corrupt(&format!("partial batch header at {position}")));
            }
            let header = match self.read_header(position) {
                Ok(header) => header,
                Err(LogError::Batch(error)) => {
                    return Err(self.corrupt(&format!("bad batch header at {position}: {error}")))
                }
                Err(other) => return Err(other),
            };
            if header.base_offset != self.next_offset {
                return Err(self.corrupt(&format!(
                    "batch at {position} has base offset {}, expected {}",
                    header.base_offset, self.next_offset
                )));
            }
            let total_bytes = header.total_bytes() as u64;
            if total_bytes > self.size_bytes - position {
                return Err(self.corrupt(&format!("batch at {position} runs past the end")));
            }
            if let Some((entries, interval_bytes)) = rebuild.as_mut() {
                if position > 0
                    && position - self.last_indexed_position >= u64::from(*interval_bytes)
                {
                    let relative_offset = u32::try_from(header.base_offset - self.base_offset)
                        .map_err(|_| self.corrupt("batch offset does not fit the segment"))?;
                    entries.push(IndexEntry {
                        relative_offset,
                        position: position as u32,
                    });
                    self.last_indexed_position = position;
                }
            }
            self.next_offset = header.last_offset() + 1;
            position += total_bytes;
        }
        Ok(())
    }
}
