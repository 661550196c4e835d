//! The leader-epoch cache of a partition (Kafka's `LeaderEpochFileCache`): which leader epoch
//! wrote which offsets, as an ordered list of (epoch, start offset). Epoch `E` covers the offsets
//! from its start offset up to the next entry's start (or the log end offset for the latest).
//! Replication asks it where an epoch ends (OffsetForLeaderEpoch) to find where a follower's log
//! and its leader's part.
//!
//! [`LeaderEpochCache`] is plain data; [`crate::Log`] keeps one, updates it on appends, assigns,
//! truncations and retention, and persists it in `leader-epoch-checkpoint` through
//! [`write_checkpoint`] whenever it changes (rarely: once per new leader epoch).
//!
//! The file is framed like every checkpoint file (`checkpoint.rs`: `version: u16`, `crc: u32`
//! CRC-32C of the body), big-endian body `entries_count: u32`, then per entry `epoch: i32`,
//! `start_offset: i64`. It is replaced atomically (temporary file, fsync, rename, directory
//! fsync). A file that fails its check is treated as missing, and the log rebuilds the cache
//! from batch headers. Layout and rules: `docs/log-format.md`.

use std::path::Path;

use crate::checkpoint::{self, ReplaceFailure, FRAME_HEADER_BYTES};
use crate::error::LogError;
use crate::file::FileSystem;

/// Name of the leader-epoch checkpoint file in a partition directory.
pub const LEADER_EPOCH_FILE_NAME: &str = "leader-epoch-checkpoint";
/// Kafka's UNDEFINED_EPOCH: no epoch (also the `partitionLeaderEpoch` of a batch no leader
/// stamped).
pub const UNDEFINED_EPOCH: i32 = -1;
/// Kafka's UNDEFINED_EPOCH_OFFSET: no offset, answered with [`UNDEFINED_EPOCH`].
pub const UNDEFINED_EPOCH_OFFSET: i64 = -1;
/// Largest number of entries a checkpoint file may hold to be read back (one entry per
/// leader election whose records are still in the log). A larger file is treated as damaged,
/// which costs a rebuild from batch headers at open, never a wrong answer.
pub const LEADER_EPOCH_ENTRIES_MAX: usize = 1 << 20;

/// `entries_count: u32`.
const BODY_HEADER_BYTES: usize = 4;
/// `epoch: i32`, `start_offset: i64`.
const ENTRY_BYTES: usize = 12;

/// One entry: `epoch` wrote the offsets from `start_offset` on (until the next entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

/// The ordered (epoch, start offset) list. Invariants: epochs are >= 0 and strictly increasing,
/// start offsets are >= 0 and strictly increasing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderEpochCache {
    entries: Vec<EpochEntry>,
    /// The last entry's epoch, or UNDEFINED_EPOCH when empty: kept beside `entries` so the
    /// append path decides with one integer compare that nothing changes.
    latest_epoch: i32,
}

// Not derived: an empty cache's latest epoch is UNDEFINED_EPOCH, not 0, or epoch 0 would never
// be recorded.
impl Default for LeaderEpochCache {
    fn default() -> Self {
        Self::new()
    }
}

impl LeaderEpochCache {
    pub fn new() -> Self {
        LeaderEpochCache {
            entries: Vec::new(),
            latest_epoch: UNDEFINED_EPOCH,
        }
    }

    /// A cache holding `entries`, if they keep the invariants.
    pub fn from_entries(entries: Vec<EpochEntry>) -> Result<Self, String> {
        for entry in &entries {
            if entry.epoch < 0 || entry.start_offset < 0 {
                return Err(format!(
                    "entry ({}, {}) is negative",
                    entry.epoch, entry.start_offset
                ));
            }
        }
        for pair in entries.windows(2) {
            if pair[1].epoch <= pair[0].epoch || pair[1].start_offset <= pair[0].start_offset {
                return Err(format!(
                    "entry ({}, {}) does not follow ({}, {})",
                    pair[1].epoch, pair[1].start_offset, pair[0].epoch, pair[0].start_offset
                ));
            }
        }
        let latest_epoch = entries.last().map_or(UNDEFINED_EPOCH, |entry| entry.epoch);
        Ok(LeaderEpochCache {
            entries,
            latest_epoch,
        })
    }

    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    /// The latest epoch, or UNDEFINED_EPOCH when the cache is empty.
    #[inline]
    pub fn latest_epoch_or_undefined(&self) -> i32 {
        self.latest_epoch
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|entry| entry.epoch)
    }

    /// Whether [`assign`](Self::assign) would change the cache: only an epoch newer than the
    /// latest does (an older one is ignored, the latest again is a no-op).
    #[inline]
    pub fn would_assign(&self, epoch: i32) -> bool {
        epoch > self.latest_epoch
    }

    /// Records that `epoch` starts at `start_offset` if it is newer than the latest epoch;
    /// returns whether the cache changed. Entries starting at or after `start_offset` are
    /// dropped first (Kafka does the same): they claim offsets the new epoch now starts at,
    /// as when a node assigned an epoch at its log end, wrote nothing, and then copies a newer
    /// leader's batches from that same offset.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if !self.would_assign(epoch) || start_offset < 0 {
            return false;
        }
        let kept = self
            .entries
            .partition_point(|entry| entry.start_offset < start_offset);
        if kept < self.entries.len() {
            let dropped = &self.entries[kept..];
            // An entry exactly at the new start is the common, harmless case above; anything
            // more means the caller assigned below offsets that other epochs already wrote.
            if dropped.len() > 1 || dropped[0].start_offset != start_offset {
                tracing::warn!(
                    epoch,
                    start_offset,
                    ?dropped,
                    "new leader epoch starts below existing entries; dropping them"
                );
            }
            self.entries.truncate(kept);
        }
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
        self.latest_epoch = epoch;
        true
    }

    /// Drops every entry starting at or after `offset` (Kafka's `truncateFromEnd`); returns
    /// whether the cache changed.
    pub fn truncate_from_end(&mut self, offset: i64) -> bool {
        let kept = self
            .entries
            .partition_point(|entry| entry.start_offset < offset);
        if kept == self.entries.len() {
            return false;
        }
        self.entries.truncate(kept);
        self.latest_epoch = self
            .entries
            .last()
            .map_or(UNDEFINED_EPOCH, |entry| entry.epoch);
        true
    }

    /// Moves the cache's start to `log_start_offset` (Kafka's `truncateFromStart`): entries
    /// wholly below it go, except the last entry starting at or below it, whose start becomes
    /// `log_start_offset`. Returns whether the cache changed.
    pub fn truncate_from_start(&mut self, log_start_offset: i64) -> bool {
        let at_or_below = self
            .entries
            .partition_point(|entry| entry.start_offset <= log_start_offset);
        if at_or_below == 0 {
            return false;
        }
        let first_kept = at_or_below - 1;
        if first_kept == 0 && self.entries[0].start_offset == log_start_offset {
            return false;
        }
        self.entries.drain(..first_kept);
        self.entries[0].start_offset = log_start_offset;
        true
    }

    /// Where `epoch` ends, as OffsetForLeaderEpoch answers it: the largest cached epoch at or
    /// below `epoch`, with the log end offset if that is the latest epoch, else the start offset
    /// of the next cached epoch. (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET) when `epoch` is below
    /// the first cached epoch or the cache is empty.
    pub fn end_offset_for(&self, epoch: i32, log_end_offset: i64) -> (i32, i64) {
        let at_or_below = self.entries.partition_point(|entry| entry.epoch <= epoch);
        if at_or_below == 0 {
            return (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        }
        let found = self.entries[at_or_below - 1];
        match self.entries.get(at_or_below) {
            Some(next) => (found.epoch, next.start_offset),
            None => (found.epoch, log_end_offset),
        }
    }
}

/// Serialises `entries` into the checkpoint body.
fn encode(entries: &[EpochEntry]) -> Vec<u8> {
    let mut body = Vec::with_capacity(BODY_HEADER_BYTES + ENTRY_BYTES * entries.len());
    // The cache holds at most one entry per election; u32 is far beyond reach.
    body.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    for entry in entries {
        body.extend_from_slice(&entry.epoch.to_be_bytes());
        body.extend_from_slice(&entry.start_offset.to_be_bytes());
    }
    body
}

/// Parses a checkpoint body, checking its length against its count and the cache invariants.
fn decode(body: &[u8]) -> Result<LeaderEpochCache, String> {
    if body.len() < BODY_HEADER_BYTES {
        return Err(format!("body of {} bytes is too short", body.len()));
    }
    let count = u32::from_be_bytes([body[0], body[1], body[2], body[3]]) as usize;
    if count > LEADER_EPOCH_ENTRIES_MAX {
        return Err(format!(
            "{count} entries is more than the {LEADER_EPOCH_ENTRIES_MAX} allowed"
        ));
    }
    let expected_bytes = BODY_HEADER_BYTES + ENTRY_BYTES * count;
    if body.len() != expected_bytes {
        return Err(format!(
            "body of {} bytes, {count} entries need {expected_bytes}",
            body.len()
        ));
    }
    let entries = body[BODY_HEADER_BYTES..]
        .chunks_exact(ENTRY_BYTES)
        .map(|entry| EpochEntry {
            epoch: i32::from_be_bytes([entry[0], entry[1], entry[2], entry[3]]),
            start_offset: checkpoint::i64_at(entry, 4),
        })
        .collect();
    LeaderEpochCache::from_entries(entries)
}

/// The cache checkpointed in `dir`: Ok(None) when the file is missing, Err with the reason when
/// it is damaged (the caller rebuilds it then).
pub fn read_checkpoint(
    fs: &dyn FileSystem,
    dir: &Path,
) -> Result<Option<LeaderEpochCache>, String> {
    let path = dir.join(LEADER_EPOCH_FILE_NAME);
    let bytes_max =
        (FRAME_HEADER_BYTES + BODY_HEADER_BYTES + ENTRY_BYTES * LEADER_EPOCH_ENTRIES_MAX) as u64;
    let Some(bytes) = checkpoint::read_whole(fs, &path, bytes_max)? else {
        return Ok(None);
    };
    let body = checkpoint::unframe(&bytes)?;
    decode(body).map(Some)
}

/// Durably and atomically replaces the cache checkpointed in `dir`: temporary file, fsync,
/// rename, directory fsync. A crash at any step leaves the old file or the new one.
pub fn write_checkpoint(
    fs: &dyn FileSystem,
    dir: &Path,
    cache: &LeaderEpochCache,
) -> Result<(), LogError> {
    write_checkpoint_reporting(fs, dir, cache).map_err(|failure| failure.error)
}

/// [`write_checkpoint`], telling a failure that left the old file in place from one after the
/// rename.
pub(crate) fn write_checkpoint_reporting(
    fs: &dyn FileSystem,
    dir: &Path,
    cache: &LeaderEpochCache,
) -> Result<(), ReplaceFailure> {
    let path = dir.join(LEADER_EPOCH_FILE_NAME);
    checkpoint::write_replacing(fs, dir, &path, &encode(cache.entries()), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> LeaderEpochCache {
        LeaderEpochCache::from_entries(
            entries
                .iter()
                .map(|(epoch, start_offset)| EpochEntry {
                    epoch: *epoch,
                    start_offset: *start_offset,
                })
                .collect(),
        )
        .expect("valid entries")
    }

    fn pairs(cache: &LeaderEpochCache) -> Vec<(i32, i64)> {
        cache
            .entries()
            .iter()
            .map(|entry| (entry.epoch, entry.start_offset))
            .collect()
    }

    /// The body round-trips, and every cut or bad count is refused instead of misread.
    #[test]
    fn body_round_trips_and_rejects_damage() {
        let original = cache(&[(1, 0), (3, 10), (6, 20)]);
        let body = encode(original.entries());
        assert_eq!(decode(&body), Ok(original));
        for cut in 0..body.len() {
            assert!(decode(&body[..cut]).is_err(), "cut at {cut}");
        }
        let mut unordered = body.clone();
        unordered[4 + 12..4 + 16].copy_from_slice(&0i32.to_be_bytes());
        assert!(decode(&unordered).is_err());
        let mut huge = body;
        huge[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(decode(&huge).is_err());
    }

    /// Kafka's truncateFromStart: the last entry at or below the new start keeps its epoch and
    /// starts at the new start; an entry exactly at it stays as it is.
    #[test]
    fn truncate_from_start_keeps_the_epoch_covering_the_new_start() {
        let mut moved = cache(&[(1, 0), (3, 10), (6, 20)]);
        assert!(moved.truncate_from_start(15));
        assert_eq!(pairs(&moved), [(3, 15), (6, 20)]);
        let mut exact = cache(&[(1, 0), (3, 10), (6, 20)]);
        assert!(exact.truncate_from_start(20));
        assert_eq!(pairs(&exact), [(6, 20)]);
        assert!(!exact.truncate_from_start(20));
        assert!(!exact.truncate_from_start(5));
    }

    /// An empty cache, however made, records epoch 0 (a derived Default once made its latest
    /// epoch 0, so epoch 0 looked already recorded).
    #[test]
    fn empty_cache_records_epoch_zero() {
        for mut empty in [LeaderEpochCache::new(), LeaderEpochCache::default()] {
            assert!(empty.assign(0, 0));
            assert_eq!(pairs(&empty), [(0, 0)]);
        }
    }

    /// An older or equal epoch never changes the cache; a newer one at the start of the latest
    /// entry replaces it.
    #[test]
    fn assign_ignores_older_epochs_and_replaces_an_entry_at_the_same_start() {
        let mut epochs = cache(&[(2, 0), (5, 10)]);
        assert!(!epochs.assign(5, 12));
        assert!(!epochs.assign(4, 30));
        assert!(!epochs.assign(-1, 30));
        assert!(epochs.assign(7, 10));
        assert_eq!(pairs(&epochs), [(2, 0), (7, 10)]);
        assert_eq!(epochs.latest_epoch_or_undefined(), 7);
    }
}
