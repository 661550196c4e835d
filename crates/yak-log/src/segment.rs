//! One segment: a `.log` file of concatenated batches, its `.index` and its `.timeindex`.
//!
//! Files are named by the segment's base offset, zero-padded to 20 digits:
//! `00000000000000000000.log`, `00000000000000000000.index` and
//! `00000000000000000000.timeindex`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::batch::{self, BatchHeader, BATCH_HEADER_BYTES};
use crate::error::LogError;
use crate::file::{FileSystem, LogFile};
use crate::index::{IndexEntry, OffsetIndex};
use crate::time_index::{TimeIndex, TimeIndexEntry};

pub const LOG_FILE_EXTENSION: &str = "log";
pub const INDEX_FILE_EXTENSION: &str = "index";
pub const TIME_INDEX_FILE_EXTENSION: &str = "timeindex";

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

/// The largest `max_timestamp` of a segment's batches, and the base offset of the first batch
/// that carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxTimestamp {
    pub timestamp_ms: i64,
    pub offset: i64,
}

/// Where the index rules stand after the batches seen so far. Appends and rebuilds both advance
/// a cursor batch by batch, so a rebuilt `.index` and `.timeindex` equal the ones appends wrote.
///
/// The rules: an offset index entry is due for a batch at position `p > 0` once `p` is at least
/// `index_interval_bytes` past the previous entry; at the same moment a time index entry for the
/// segment's largest timestamp so far is due if that timestamp is above the last time entry's
/// (Kafka's rule).
#[derive(Debug, Clone, Copy, Default)]
struct IndexCursor {
    /// Position of the batch the last offset index entry points at (0 if none).
    last_indexed_position: u64,
    max_timestamp: Option<MaxTimestamp>,
    last_time_entry_timestamp_ms: Option<i64>,
}

impl IndexCursor {
    /// Takes the batch at `position` into account; returns the index entries due for it.
    /// `relative_offset` is the batch's base offset minus the segment's.
    fn advance(
        &mut self,
        position: u64,
        header: &BatchHeader,
        relative_offset: u32,
        index_interval_bytes: u32,
    ) -> (Option<IndexEntry>, Option<TimeIndexEntry>) {
        if self
            .max_timestamp
            .is_none_or(|max| header.max_timestamp > max.timestamp_ms)
        {
            self.max_timestamp = Some(MaxTimestamp {
                timestamp_ms: header.max_timestamp,
                offset: header.base_offset,
            });
        }
        let due = position > 0
            && position - self.last_indexed_position >= u64::from(index_interval_bytes);
        if !due {
            return (None, None);
        }
        self.last_indexed_position = position;
        let offset_entry = IndexEntry {
            relative_offset,
            // Segments are capped below u32::MAX bytes (checked when the log opens and on
            // recovery).
            position: position as u32,
        };
        let time_entry = match self.max_timestamp {
            Some(max)
                if self
                    .last_time_entry_timestamp_ms
                    .is_none_or(|last| max.timestamp_ms > last) =>
            {
                self.last_time_entry_timestamp_ms = Some(max.timestamp_ms);
                // The max batch is at or before this one, so its relative offset fits too.
                let max_relative_offset =
                    relative_offset - (header.base_offset - max.offset) as u32;
                Some(TimeIndexEntry {
                    timestamp_ms: max.timestamp_ms,
                    relative_offset: max_relative_offset,
                })
            }
            _ => None,
        };
        (Some(offset_entry), time_entry)
    }
}

/// Index entries collected by a walk over a segment's batches.
#[derive(Debug, Default)]
struct RebuiltIndexes {
    offset_entries: Vec<IndexEntry>,
    time_entries: Vec<TimeIndexEntry>,
}

/// One `.log` + `.index` + `.timeindex` triple.
#[derive(Debug)]
pub struct Segment {
    base_offset: i64,
    log_path: PathBuf,
    log: Arc<dyn LogFile>,
    index: OffsetIndex,
    time_index: TimeIndex,
    /// Bytes of whole batches in the `.log` file; anything past this is garbage from a failed
    /// write and is overwritten by the next append.
    size_bytes: u64,
    /// One past the last offset stored here.
    next_offset: i64,
    cursor: IndexCursor,
    /// Set when a failed append could not be cut back: the `.log` holds bytes past `size_bytes`
    /// that recovery might take for a batch, so the log must not go on (see `Log::append`).
    dirty_tail: bool,
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

fn io_error<'a>(
    operation: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> LogError + 'a {
    move |source| LogError::io(operation, path, source)
}

impl Segment {
    /// Creates a new empty segment (all three files) at `base_offset`. The `.log` is created
    /// first: a failure part-way leaves at most an empty `.log` and some empty indexes, which
    /// open adopts as an empty active segment (nothing can have been appended to it).
    pub fn create(fs: &dyn FileSystem, dir: &Path, base_offset: i64) -> Result<Segment, LogError> {
        let log_path = segment_path(dir, base_offset, LOG_FILE_EXTENSION);
        let index_path = segment_path(dir, base_offset, INDEX_FILE_EXTENSION);
        let time_index_path = segment_path(dir, base_offset, TIME_INDEX_FILE_EXTENSION);
        let create = |path: &Path| -> Result<Arc<dyn LogFile>, LogError> {
            let file = fs.open(path, true).map_err(io_error("create", path))?;
            // A leftover file of the same name (from before a crash) holds nothing of ours.
            file.set_len(0).map_err(io_error("truncate", path))?;
            Ok(file)
        };
        let log = create(&log_path)?;
        let index_file = create(&index_path)?;
        let time_index_file = create(&time_index_path)?;
        Ok(Segment {
            base_offset,
            log_path,
            log,
            index: OffsetIndex::new(index_path, index_file, 0),
            time_index: TimeIndex::new(time_index_path, time_index_file, 0, None),
            size_bytes: 0,
            next_offset: base_offset,
            cursor: IndexCursor::default(),
            dirty_tail: false,
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

    pub fn time_index_path(&self) -> &Path {
        self.time_index.path()
    }

    /// Every file of the segment, `.log` first (the order they are removed in: without its
    /// `.log`, a leftover index is an orphan that open removes).
    pub fn file_paths(&self) -> [&Path; 3] {
        [self.log_path(), self.index_path(), self.time_index_path()]
    }

    pub fn log_file(&self) -> &Arc<dyn LogFile> {
        &self.log
    }

    /// Whether a failed append left bytes past the segment's end that could not be cut.
    pub fn has_dirty_tail(&self) -> bool {
        self.dirty_tail
    }

    pub fn rolling_timestamp_ms(&self) -> Option<i64> {
        self.rolling_timestamp_ms
    }

    /// The largest max_timestamp of the segment's batches (None when it is empty).
    pub fn max_timestamp(&self) -> Option<MaxTimestamp> {
        self.cursor.max_timestamp
    }

    fn relative_offset(&self, offset: i64) -> Option<u32> {
        u32::try_from(offset - self.base_offset).ok()
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

    /// The first batch whose max_timestamp is at least `timestamp_ms`, as (its base offset, its
    /// max_timestamp), or None if no batch here reaches it. Starts at the last time index entry
    /// below the target (every batch up to it is below) and walks headers from there.
    pub fn find_timestamp(&self, timestamp_ms: i64) -> Result<Option<(i64, i64)>, LogError> {
        if self
            .max_timestamp()
            .is_none_or(|max| max.timestamp_ms < timestamp_ms)
        {
            return Ok(None);
        }
        let start = self
            .time_index
            .lookup(timestamp_ms)
            .map_err(io_error("read", self.time_index.path()))?;
        let mut position = match start {
            // An entry the offset index cannot place (it cannot happen to checked indexes)
            // falls back to a walk from the start: slower, never wrong.
            Some(relative_offset) => self
                .find_batch(self.base_offset + i64::from(relative_offset))?
                .map_or(0, |(position, _)| position),
            None => 0,
        };
        while position < self.size_bytes {
            let header = self.read_header(position)?;
            if header.max_timestamp >= timestamp_ms {
                return Ok(Some((header.base_offset, header.max_timestamp)));
            }
            position += header.total_bytes() as u64;
        }
        Ok(None)
    }

    /// Appends one validated, patched batch. On a write error, cuts the files back to where
    /// they were, so the segment stays as it was before the call.
    pub fn append(
        &mut self,
        batch: &[u8],
        header: &BatchHeader,
        index_interval_bytes: u32,
        now_ms: Option<i64>,
    ) -> Result<u64, LogError> {
        let position = self.size_bytes;
        let relative_offset = self.relative_offset(header.base_offset).ok_or_else(|| {
            LogError::InvalidConfig("batch offset does not fit the segment's u32 index".into())
        })?;
        let mut cursor = self.cursor;
        let (offset_entry, time_entry) =
            cursor.advance(position, header, relative_offset, index_interval_bytes);
        if let Err(source) = self.log.write_all_at(batch, position) {
            self.cut_back(position);
            return Err(LogError::io("write", &self.log_path, source));
        }
        let index_entries_count = self.index.entries_count();
        if let Some(entry) = offset_entry {
            if let Err(source) = self.index.append(entry) {
                self.cut_back(position);
                return Err(LogError::io("write", self.index.path(), source));
            }
        }
        let time_entries_count = self.time_index.entries_count();
        let time_last = self.time_index.last();
        if let Some(entry) = time_entry {
            if let Err(source) = self.time_index.append(entry) {
                self.index.restore(index_entries_count);
                self.time_index.restore(time_entries_count, time_last);
                self.cut_back(position);
                return Err(LogError::io("write", self.time_index.path(), source));
            }
        }
        self.cursor = cursor;
        self.size_bytes = position + batch.len() as u64;
        self.next_offset = header.last_offset() + 1;
        if self.rolling_timestamp_ms.is_none() {
            self.rolling_timestamp_ms = Some(now_ms.unwrap_or(header.max_timestamp));
        }
        Ok(position)
    }

    fn cut_back(&mut self, position: u64) {
        // If this fails too, the bytes past size_bytes are never read (reads stop there), but
        // they may be a whole valid batch that a later fsync makes durable and recovery keeps,
        // at an offset a later append reuses: the caller poisons the log instead.
        if let Err(error) = self.log.set_len(position) {
            tracing::warn!(path = %self.log_path.display(), %error, "could not cut back a failed write");
            self.dirty_tail = true;
        }
        if let Err(error) = self.index.trim() {
            tracing::warn!(path = %self.index.path().display(), %error, "could not cut back the index");
        }
        if let Err(error) = self.time_index.trim() {
            tracing::warn!(path = %self.time_index.path().display(), %error, "could not cut back the time index");
        }
    }

    /// fsyncs the `.log`, `.index` and `.timeindex` files (when sealing or cutting the segment).
    /// The `.log` holds nothing past `size_bytes` here: a failed append that could not be cut
    /// back poisoned the log, so no roll or truncation follows it.
    pub fn sync_all(&self) -> Result<(), LogError> {
        self.index
            .trim()
            .map_err(io_error("truncate", self.index.path()))?;
        self.time_index
            .trim()
            .map_err(io_error("truncate", self.time_index.path()))?;
        self.log
            .sync_data()
            .map_err(io_error("fsync", &self.log_path))?;
        self.index
            .file()
            .sync_data()
            .map_err(io_error("fsync", self.index.path()))?;
        self.time_index
            .file()
            .sync_data()
            .map_err(io_error("fsync", self.time_index.path()))
    }

    /// Drops the batch at `position` and everything after it; `offset` is that batch's base.
    /// Cuts the `.log` first, then the indexes (entries past the cut are harmless to a reader
    /// that stops at the segment's end, and recovery rebuilds them), then recomputes what the
    /// index rules need from the remaining batches. No fsync.
    pub fn truncate_at(&mut self, position: u64, offset: i64) -> Result<(), LogError> {
        let relative_offset = self.relative_offset(offset).unwrap_or(0);
        self.log
            .set_len(position)
            .map_err(io_error("truncate", &self.log_path))?;
        self.size_bytes = position;
        self.next_offset = offset;
        self.index
            .truncate_to_position(position)
            .map_err(io_error("truncate", self.index.path()))?;
        self.time_index
            .truncate_to_offset(relative_offset)
            .map_err(io_error("truncate", self.time_index.path()))?;
        self.cursor.last_indexed_position = if self.index.entries_count() == 0 {
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
        self.cursor.last_time_entry_timestamp_ms =
            self.time_index.last().map(|entry| entry.timestamp_ms);
        self.cursor.max_timestamp = self.max_timestamp_from_time_index()?;
        if position == 0 {
            self.rolling_timestamp_ms = None;
        }
        Ok(())
    }

    /// The segment's largest timestamp, computed from the last time index entry (nothing up to
    /// its batch is larger) and a walk over the batches after it. Fails with
    /// `LogError::Corrupt` if the entry does not describe its batch or a header on the way is
    /// damaged.
    fn max_timestamp_from_time_index(&self) -> Result<Option<MaxTimestamp>, LogError> {
        let read_header = |position: u64| -> Result<BatchHeader, LogError> {
            if position + BATCH_HEADER_BYTES as u64 > self.size_bytes {
                return Err(self.corrupt(&format!("partial batch header at {position}")));
            }
            self.read_header(position).map_err(|error| match error {
                LogError::Batch(error) => {
                    self.corrupt(&format!("bad batch header at {position}: {error}"))
                }
                other => other,
            })
        };
        let (mut max, mut position) = match self.time_index.last() {
            None => (None, 0),
            Some(entry) => {
                let offset = self.base_offset + i64::from(entry.relative_offset);
                let found = self.find_batch(offset).map_err(|error| match error {
                    LogError::Batch(error) => self.corrupt(&format!(
                        "bad batch header looking for offset {offset}: {error}"
                    )),
                    other => other,
                })?;
                let Some((position, header)) =
                    found.filter(|(_, header)| header.base_offset == offset)
                else {
                    return Err(self.corrupt(&format!(
                        "time index entry for offset {offset} does not point at a batch"
                    )));
                };
                if header.max_timestamp != entry.timestamp_ms {
                    return Err(self.corrupt(&format!(
                        "time index entry for offset {offset} says {} but the batch says {}",
                        entry.timestamp_ms, header.max_timestamp
                    )));
                }
                let max = MaxTimestamp {
                    timestamp_ms: header.max_timestamp,
                    offset,
                };
                (Some(max), position + header.total_bytes() as u64)
            }
        };
        while position < self.size_bytes {
            let header = read_header(position)?;
            if max.is_none_or(|max: MaxTimestamp| header.max_timestamp > max.timestamp_ms) {
                max = Some(MaxTimestamp {
                    timestamp_ms: header.max_timestamp,
                    offset: header.base_offset,
                });
            }
            position += header.total_bytes() as u64;
        }
        Ok(max)
    }

    /// Opens the files of an existing segment without checking them (creating missing indexes).
    fn open_files(fs: &dyn FileSystem, dir: &Path, base_offset: i64) -> Result<Segment, LogError> {
        let log_path = segment_path(dir, base_offset, LOG_FILE_EXTENSION);
        let index_path = segment_path(dir, base_offset, INDEX_FILE_EXTENSION);
        let time_index_path = segment_path(dir, base_offset, TIME_INDEX_FILE_EXTENSION);
        let log = fs
            .open(&log_path, false)
            .map_err(io_error("open", &log_path))?;
        let index_file = fs
            .open(&index_path, true)
            .map_err(io_error("open", &index_path))?;
        let time_index_file = fs
            .open(&time_index_path, true)
            .map_err(io_error("open", &time_index_path))?;
        let size_bytes = log.len().map_err(io_error("stat", &log_path))?;
        Ok(Segment {
            base_offset,
            log_path,
            log,
            index: OffsetIndex::new(index_path, index_file, 0),
            time_index: TimeIndex::new(time_index_path, time_index_file, 0, None),
            size_bytes,
            next_offset: base_offset,
            cursor: IndexCursor::default(),
            dirty_tail: false,
            rolling_timestamp_ms: None,
        })
    }

    /// Rewrites whichever index files differ from the rebuilt entries; returns whether any did.
    fn install_rebuilt(&mut self, rebuilt: &RebuiltIndexes) -> Result<bool, LogError> {
        let (existing, whole) = OffsetIndex::read_all(self.index.file().as_ref())
            .map_err(io_error("read", self.index.path()))?;
        let offset_rebuilt = !whole || existing != rebuilt.offset_entries;
        if offset_rebuilt {
            self.index
                .rewrite(&rebuilt.offset_entries)
                .map_err(io_error("rewrite", self.index.path()))?;
        } else {
            self.index = OffsetIndex::new(
                self.index.path().to_path_buf(),
                self.index.file().clone(),
                existing.len() as u64,
            );
        }
        let (existing, whole) = TimeIndex::read_all(self.time_index.file().as_ref())
            .map_err(io_error("read", self.time_index.path()))?;
        let time_rebuilt = !whole || existing != rebuilt.time_entries;
        if time_rebuilt {
            self.time_index
                .rewrite(&rebuilt.time_entries)
                .map_err(io_error("rewrite", self.time_index.path()))?;
        } else {
            self.time_index = TimeIndex::new(
                self.time_index.path().to_path_buf(),
                self.time_index.file().clone(),
                existing.len() as u64,
                existing.last().copied(),
            );
        }
        Ok(offset_rebuilt || time_rebuilt)
    }

    /// Recovers the active (last) segment: verifies every batch (length sanity before reading,
    /// magic, CRC-32C, offset continuity from the segment's base), cuts the file at the first
    /// invalid byte, rebuilds both indexes, and fsyncs the files. Memory is one batch at a time.
    pub fn recover_active(
        fs: &dyn FileSystem,
        dir: &Path,
        base_offset: i64,
        index_interval_bytes: u32,
    ) -> Result<(Segment, RecoveryReport), LogError> {
        let mut segment = Segment::open_files(fs, dir, base_offset)?;
        let file_bytes = segment.size_bytes;
        let mut rebuilt = RebuiltIndexes::default();
        let mut position = 0u64;
        let mut batch_buffer = Vec::new();
        let stop_reason = loop {
            if position == file_bytes {
                break None;
            }
            let left_bytes = file_bytes - position;
            if left_bytes < BATCH_HEADER_BYTES as u64 {
                break Some(format!("partial batch header of {left_bytes} bytes"));
            }
            let header = match segment.read_header(position) {
                Ok(header) => header,
                Err(LogError::Batch(error)) => break Some(error.to_string()),
                Err(other) => return Err(other),
            };
            let total_bytes = header.total_bytes() as u64;
            // Checked before allocating: a damaged length field cannot make us allocate more
            // than the file holds.
            if total_bytes > left_bytes {
                break Some(format!(
                    "batch of {total_bytes} bytes runs past the end ({left_bytes} left)"
                ));
            }
            batch_buffer.clear();
            segment.read_bytes(position, total_bytes, &mut batch_buffer)?;
            if let Err(error) = batch::validate(&batch_buffer) {
                break Some(error.to_string());
            }
            if header.base_offset != segment.next_offset {
                break Some(format!(
                    "batch base offset {} does not follow {}",
                    header.base_offset, segment.next_offset
                ));
            }
            let Some(relative_offset) = segment.relative_offset(header.base_offset) else {
                break Some("batch offset does not fit the segment".to_string());
            };
            if u32::try_from(position).is_err() {
                return Err(segment.corrupt("segment larger than 4 GiB"));
            }
            segment.collect_entries(
                position,
                &header,
                relative_offset,
                index_interval_bytes,
                &mut rebuilt,
            );
            if segment.rolling_timestamp_ms.is_none() {
                segment.rolling_timestamp_ms = Some(header.max_timestamp);
            }
            segment.next_offset = header.last_offset() + 1;
            position += total_bytes;
        };
        let truncated = stop_reason.map(|reason| (file_bytes - position, reason));
        if truncated.is_some() {
            segment
                .log
                .set_len(position)
                .map_err(io_error("truncate", &segment.log_path))?;
        }
        segment.size_bytes = position;
        // The bytes just read may have been only in the page cache (a process crash, not a power
        // loss); syncing makes everything recovered durable, so the log can report it so.
        segment
            .log
            .sync_data()
            .map_err(io_error("fsync", &segment.log_path))?;
        // Rewrite an index only if it differs from the rebuilt one: an open after a clean
        // shutdown then writes nothing (and works on a full disk).
        let index_rebuilt = segment.install_rebuilt(&rebuilt)?;
        Ok((
            segment,
            RecoveryReport {
                truncated,
                index_rebuilt,
            },
        ))
    }

    /// Advances the segment's index cursor over one batch, collecting the entries due.
    fn collect_entries(
        &mut self,
        position: u64,
        header: &BatchHeader,
        relative_offset: u32,
        index_interval_bytes: u32,
        rebuilt: &mut RebuiltIndexes,
    ) {
        let (offset_entry, time_entry) =
            self.cursor
                .advance(position, header, relative_offset, index_interval_bytes);
        rebuilt.offset_entries.extend(offset_entry);
        rebuilt.time_entries.extend(time_entry);
    }

    /// Opens a sealed (older) segment, which was fsynced when the log rolled past it: checks its
    /// offset index (whole entries, strictly increasing, inside the file, each pointing at a
    /// batch whose base offset matches, none missing after the last) and its time index (whole
    /// entries, strictly increasing, inside the segment, present when the offset index is, the
    /// last one describing its batch). If either is missing or damaged, both are rebuilt from a
    /// header walk. The segment must end exactly at `next_base_offset`.
    ///
    /// Damage to the `.log` here is not a torn tail but corruption below the durable point, so
    /// it is reported as `LogError::Corrupt` instead of being cut.
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
        let problem = segment.check_indexes(next_base_offset, index_interval_bytes)?;
        let index_rebuilt = match problem {
            None => false,
            Some(reason) => {
                tracing::warn!(path = %segment.index.path().display(), %reason, "rebuilding offset and time indexes");
                segment.next_offset = base_offset;
                segment.cursor = IndexCursor::default();
                let mut rebuilt = RebuiltIndexes::default();
                segment.walk_to_end(0, Some((&mut rebuilt, index_interval_bytes)))?;
                segment.install_rebuilt(&rebuilt)?
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

    /// Checks both index files of a sealed segment and, if they are right, installs them and
    /// sets `next_offset` and the cursor. Returns why they are wrong otherwise.
    fn check_indexes(
        &mut self,
        next_base_offset: i64,
        index_interval_bytes: u32,
    ) -> Result<Option<String>, LogError> {
        let (entries, whole) = OffsetIndex::read_all(self.index.file().as_ref())
            .map_err(io_error("read", self.index.path()))?;
        if !whole {
            return Ok(Some("index file ends in a partial entry".to_string()));
        }
        if let Some(problem) = self.check_index(&entries)? {
            return Ok(Some(problem));
        }
        let (time_entries, whole) = TimeIndex::read_all(self.time_index.file().as_ref())
            .map_err(io_error("read", self.time_index.path()))?;
        if !whole {
            return Ok(Some("time index file ends in a partial entry".to_string()));
        }
        if let Some(problem) =
            self.check_time_index(&time_entries, !entries.is_empty(), next_base_offset)
        {
            return Ok(Some(problem));
        }
        self.index = OffsetIndex::new(
            self.index.path().to_path_buf(),
            self.index.file().clone(),
            entries.len() as u64,
        );
        self.time_index = TimeIndex::new(
            self.time_index.path().to_path_buf(),
            self.time_index.file().clone(),
            time_entries.len() as u64,
            time_entries.last().copied(),
        );
        if let Some(last) = entries.last() {
            self.cursor.last_indexed_position = u64::from(last.position);
            self.next_offset = self.base_offset + i64::from(last.relative_offset);
        }
        // An offset index entry due after the last one means the index is incomplete (a
        // missing or cut index file).
        let mut missing = RebuiltIndexes::default();
        self.walk_to_end(
            self.cursor.last_indexed_position,
            Some((&mut missing, index_interval_bytes)),
        )?;
        if !missing.offset_entries.is_empty() {
            return Ok(Some(format!(
                "index misses {} entries",
                missing.offset_entries.len()
            )));
        }
        if self.next_offset != next_base_offset {
            // Reported as corruption by the caller; nothing more to check.
            return Ok(None);
        }
        self.cursor.last_time_entry_timestamp_ms =
            time_entries.last().map(|entry| entry.timestamp_ms);
        match self.max_timestamp_from_time_index() {
            Ok(max) => {
                self.cursor.max_timestamp = max;
                Ok(None)
            }
            Err(LogError::Corrupt { reason, .. }) => Ok(Some(reason)),
            Err(other) => Err(other),
        }
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

    /// Returns why the time index entries cannot be this segment's, or None if they can. (That
    /// the last entry describes its batch is checked once the offset index is in place.)
    fn check_time_index(
        &self,
        entries: &[TimeIndexEntry],
        has_offset_entries: bool,
        next_base_offset: i64,
    ) -> Option<String> {
        if has_offset_entries && entries.is_empty() {
            // The first offset index entry always comes with a time index entry.
            return Some("time index is missing or empty".into());
        }
        let mut previous: Option<TimeIndexEntry> = None;
        for entry in entries {
            if let Some(previous) = previous {
                if entry.relative_offset <= previous.relative_offset
                    || entry.timestamp_ms <= previous.timestamp_ms
                {
                    return Some("time index entries are not increasing".into());
                }
            }
            if self.base_offset + i64::from(entry.relative_offset) >= next_base_offset {
                return Some(format!(
                    "time index entry for relative offset {} is past the segment",
                    entry.relative_offset
                ));
            }
            previous = Some(*entry);
        }
        None
    }

    /// Walks batch headers from `position` (whose batch has base offset `self.next_offset`) to
    /// the end of the file, checking offset continuity and that the last batch ends exactly at
    /// the end of the file; optionally advances the cursor and collects index entries on the way.
    fn walk_to_end(
        &mut self,
        mut position: u64,
        mut rebuild: Option<(&mut RebuiltIndexes, u32)>,
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
            if let Some((rebuilt, interval_bytes)) = rebuild.as_mut() {
                let relative_offset = self
                    .relative_offset(header.base_offset)
                    .ok_or_else(|| self.corrupt("batch offset does not fit the segment"))?;
                self.collect_entries(position, &header, relative_offset, *interval_bytes, rebuilt);
            }
            self.next_offset = header.last_offset() + 1;
            position += total_bytes;
        }
        Ok(())
    }
}
