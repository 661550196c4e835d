//! The sparse offset index of one segment (`.index` file).
//!
//! Entries are 8 bytes: the batch's base offset relative to the segment's base offset (u32
//! big-endian) and the batch's byte position in the `.log` file (u32 big-endian). An entry is
//! added for a batch at position `p > 0` once `p` is at least `index_interval_bytes` past the
//! previous entry (position 0 is implied). Entries are strictly increasing in both fields.
//!
//! Lookups binary-search the file with positional reads instead of keeping entries in memory,
//! so memory does not grow with the size of the log.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::file::LogFile;

/// Bytes of one index entry: relative offset u32 + position u32.
pub const INDEX_ENTRY_BYTES: u64 = 8;

/// One index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    pub relative_offset: u32,
    pub position: u32,
}

impl IndexEntry {
    pub fn to_bytes(self) -> [u8; 8] {
        let mut bytes = [0u8; 8];
        bytes[0..4].copy_from_slice(&self.relative_offset.to_be_bytes());
        bytes[4..8].copy_from_slice(&self.position.to_be_bytes());
        bytes
    }

    pub fn from_bytes(bytes: [u8; 8]) -> IndexEntry {
        IndexEntry {
            relative_offset: u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            position: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
        }
    }
}

/// The offset index of one segment.
#[derive(Debug)]
pub struct OffsetIndex {
    path: PathBuf,
    file: Arc<dyn LogFile>,
    entries_count: u64,
}

impl OffsetIndex {
    /// Wraps an index file whose first `entries_count` entries are known good.
    pub fn new(path: PathBuf, file: Arc<dyn LogFile>, entries_count: u64) -> OffsetIndex {
        OffsetIndex {
            path,
            file,
            entries_count,
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

    /// Reads entry number `index`.
    pub fn entry(&self, index: u64) -> io::Result<IndexEntry> {
        let mut bytes = [0u8; 8];
        self.file
            .read_exact_at(&mut bytes, index * INDEX_ENTRY_BYTES)?;
        Ok(IndexEntry::from_bytes(bytes))
    }

    /// Reads every entry the file holds (whole entries only); memory is bounded by the segment
    /// size divided by the index interval.
    pub fn read_all(file: &dyn LogFile) -> io::Result<(Vec<IndexEntry>, bool)> {
        let len = file.len()?;
        let whole = len / INDEX_ENTRY_BYTES;
        let mut bytes = vec![0u8; (whole * INDEX_ENTRY_BYTES) as usize];
        file.read_exact_at(&mut bytes, 0)?;
        let entries = bytes
            .chunks_exact(INDEX_ENTRY_BYTES as usize)
            .map(|chunk| {
                let mut entry = [0u8; 8];
                entry.copy_from_slice(chunk);
                IndexEntry::from_bytes(entry)
            })
            .collect();
        Ok((entries, len % INDEX_ENTRY_BYTES == 0))
    }

    /// Appends an entry after the known-good ones (overwriting any leftover from a failed write).
    pub fn append(&mut self, entry: IndexEntry) -> io::Result<()> {
        self.file
            .write_all_at(&entry.to_bytes(), self.entries_count * INDEX_ENTRY_BYTES)?;
        self.entries_count += 1;
        Ok(())
    }

    /// The position of the last indexed batch whose relative offset is at most
    /// `relative_offset`, or 0 when there is none: where a scan for that offset starts.
    pub fn lookup(&self, relative_offset: u32) -> io::Result<u32> {
        let (mut low, mut high) = (0u64, self.entries_count);
        let mut position = 0;
        // Invariant: every entry below `low` has relative offset <= target, none at/after `high`.
        while low < high {
            let middle = low + (high - low) / 2;
            let entry = self.entry(middle)?;
            if entry.relative_offset <= relative_offset {
                position = entry.position;
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        Ok(position)
    }

    /// Drops every entry pointing at or past `position` (after the log was truncated there).
    pub fn truncate_to_position(&mut self, position: u64) -> io::Result<()> {
        while self.entries_count > 0
            && u64::from(self.entry(self.entries_count - 1)?.position) >= position
        {
            self.entries_count -= 1;
        }
        self.file.set_len(self.entries_count * INDEX_ENTRY_BYTES)
    }

    /// Replaces the file's contents with `entries` and syncs it.
    pub fn rewrite(&mut self, entries: &[IndexEntry]) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(entries.len() * INDEX_ENTRY_BYTES as usize);
        for entry in entries {
            bytes.extend_from_slice(&entry.to_bytes());
        }
        self.file.set_len(0)?;
        self.file.write_all_at(&bytes, 0)?;
        self.file.sync_data()?;
        self.entries_count = entries.len() as u64;
        Ok(())
    }

    /// Cuts any partial entry left by a failed write, so the file holds exactly the entries.
    pub fn trim(&self) -> io::Result<()> {
        self.file.set_len(self.entries_count * INDEX_ENTRY_BYTES)
    }

    /// Forgets entries past `entries_count` (after a failed append wrote one).
    pub fn restore(&mut self, entries_count: u64) {
        self.entries_count = entries_count.min(self.entries_count);
    }
}
