//! The sparse time index of one segment (`.timeindex` file), as Kafka keeps it.
//!
//! Entries are 12 bytes: a timestamp (i64 big-endian, milliseconds) and the base offset of the
//! batch that carries it, relative to the segment's base offset (u32 big-endian). An entry
//! `(timestamp, relative_offset)` says: the batch at that offset has `max_timestamp ==
//! timestamp`, and no batch before it in the segment has a larger one. Entries strictly
//! increase in both fields. When they are written is decided in `segment` (together with the
//! offset index), so a rebuilt file equals the one appends wrote.
//!
//! Like the offset index, lookups binary-search the file with positional reads.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::file::LogFile;

/// Bytes of one time index entry: timestamp i64 + relative offset u32.
pub const TIME_INDEX_ENTRY_BYTES: u64 = 12;

/// One time index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeIndexEntry {
    pub timestamp_ms: i64,
    pub relative_offset: u32,
}

impl TimeIndexEntry {
    pub fn to_bytes(self) -> [u8; 12] {
        let mut bytes = [0u8; 12];
        bytes[0..8].copy_from_slice(&self.timestamp_ms.to_be_bytes());
        bytes[8..12].copy_from_slice(&self.relative_offset.to_be_bytes());
        bytes
    }

    pub fn from_bytes(bytes: [u8; 12]) -> TimeIndexEntry {
        let mut timestamp = [0u8; 8];
        timestamp.copy_from_slice(&bytes[0..8]);
        TimeIndexEntry {
            timestamp_ms: i64::from_be_bytes(timestamp),
            relative_offset: u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]),
        }
    }
}

/// The time index of one segment.
#[derive(Debug)]
pub struct TimeIndex {
    path: PathBuf,
    file: Arc<dyn LogFile>,
    entries_count: u64,
    /// The last entry, kept so an append can tell whether the maximum timestamp grew.
    last: Option<TimeIndexEntry>,
}

impl TimeIndex {
    /// Wraps a time index file whose first entries are known good and end with `last`.
    pub fn new(
        path: PathBuf,
        file: Arc<dyn LogFile>,
        entries_count: u64,
        last: Option<TimeIndexEntry>,
    ) -> TimeIndex {
        TimeIndex {
            path,
            file,
            entries_count,
            last,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&self) -> &Arc<dyn LogFile> {
        &self.file
    }

    pub fn entries_count(&self) -> u64 {
        self.entries_count
    }

    pub fn last(&self) -> Option<TimeIndexEntry> {
        self.last
    }

    /// Reads entry number `index`.
    pub fn entry(&self, index: u64) -> io::Result<TimeIndexEntry> {
        let mut bytes = [0u8; 12];
        self.file
            .read_exact_at(&mut bytes, index * TIME_INDEX_ENTRY_BYTES)?;
        Ok(TimeIndexEntry::from_bytes(bytes))
    }

    /// Reads every whole entry the file holds, and whether the file holds whole entries only.
    pub fn read_all(file: &dyn LogFile) -> io::Result<(Vec<TimeIndexEntry>, bool)> {
        let len = file.len()?;
        let whole = len / TIME_INDEX_ENTRY_BYTES;
        let mut bytes = vec![0u8; (whole * TIME_INDEX_ENTRY_BYTES) as usize];
        file.read_exact_at(&mut bytes, 0)?;
        let entries = bytes
            .chunks_exact(TIME_INDEX_ENTRY_BYTES as usize)
            .map(|chunk| {
                let mut entry = [0u8; 12];
                entry.copy_from_slice(chunk);
                TimeIndexEntry::from_bytes(entry)
            })
            .collect();
        Ok((entries, len % TIME_INDEX_ENTRY_BYTES == 0))
    }

    /// Appends an entry after the known-good ones (overwriting any leftover from a failed write).
    pub fn append(&mut self, entry: TimeIndexEntry) -> io::Result<()> {
        self.file.write_all_at(
            &entry.to_bytes(),
            self.entries_count * TIME_INDEX_ENTRY_BYTES,
        )?;
        self.entries_count += 1;
        self.last = Some(entry);
        Ok(())
    }

    /// The relative offset of the last entry whose timestamp is below `timestamp_ms`: every
    /// batch up to it has a smaller max timestamp, so a search for the first batch reaching
    /// `timestamp_ms` can start there. None when there is no such entry.
    pub fn lookup(&self, timestamp_ms: i64) -> io::Result<Option<u32>> {
        let (mut low, mut high) = (0u64, self.entries_count);
        let mut found = None;
        // Invariant: every entry below `low` is below the target, none at/after `high` is.
        while low < high {
            let middle = low + (high - low) / 2;
            let entry = self.entry(middle)?;
            if entry.timestamp_ms < timestamp_ms {
                found = Some(entry.relative_offset);
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        Ok(found)
    }

    /// Drops every entry at or past `relative_offset` (after the log was truncated there).
    pub fn truncate_to_offset(&mut self, relative_offset: u32) -> io::Result<()> {
        let mut last = None;
        while self.entries_count > 0 {
            let entry = self.entry(self.entries_count - 1)?;
            if entry.relative_offset < relative_offset {
                last = Some(entry);
                break;
            }
            self.entries_count -= 1;
        }
        self.file
            .set_len(self.entries_count * TIME_INDEX_ENTRY_BYTES)?;
        self.last = last;
        Ok(())
    }

    /// Replaces the file's contents with `entries` and syncs it.
    pub fn rewrite(&mut self, entries: &[TimeIndexEntry]) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(entries.len() * TIME_INDEX_ENTRY_BYTES as usize);
        for entry in entries {
            bytes.extend_from_slice(&entry.to_bytes());
        }
        self.file.set_len(0)?;
        self.file.write_all_at(&bytes, 0)?;
        self.file.sync_data()?;
        self.entries_count = entries.len() as u64;
        self.last = entries.last().copied();
        Ok(())
    }

    /// Cuts any partial entry left by a failed write, so the file holds exactly the entries.
    pub fn trim(&self) -> io::Result<()> {
        self.file
            .set_len(self.entries_count * TIME_INDEX_ENTRY_BYTES)
    }

    /// Forgets entries past `entries_count` (after a failed append wrote one), keeping `last`.
    pub fn restore(&mut self, entries_count: u64, last: Option<TimeIndexEntry>) {
        self.entries_count = entries_count;
        self.last = last;
    }
}
