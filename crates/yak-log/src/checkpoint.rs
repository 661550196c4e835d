//! The small files beside a partition's segments that make restarts cheap:
//!
//! - `recovery-point.checkpoint`: the recovery point, the offset below which every segment is
//!   known to be fsynced and checked. An unclean restart re-checks only segments that hold
//!   offsets at or above it.
//! - `clean-shutdown.checkpoint`: the clean-shutdown marker, written last by [`Log::close`]
//!   and removed by the next open. With a valid marker no segment data is read at all.
//! - `<20-digit offset>.snapshot`: producer-state snapshots, as Kafka keeps them. The log stores
//!   them as opaque, CRC-checked payloads named by the offset they cover; the broker encodes its
//!   producer state into them.
//! - `high-watermark-checkpoint`: the partition's high watermark as the broker last recorded
//!   it (Kafka keeps it per data directory in `replication-offset-checkpoint`).
//! - `leader-epoch-checkpoint` is framed the same way but lives with its cache in
//!   [`leader_epoch`](crate::leader_epoch).
//!
//! Every file is framed the same way (big-endian): `version: u16`, `crc: u32` (CRC-32C of
//! everything after it), then the body. A file whose length, version or CRC is wrong is
//! ignored (and the log falls back to checking more), never trusted and never fatal. The byte
//! layouts and the recovery rules are in `docs/log-format.md`.
//!
//! The recovery point, the marker and snapshots are written through the [`FileSystem`] seam as
//! truncate, write, fsync, and an fsync of the directory (a created file is not durable until its
//! directory is). A rewrite in place can be torn by a crash; the CRC then rejects the file and
//! the log falls back, which costs time, not data. The high watermark and the leader-epoch
//! cache have no such fallback that is free (a lost high watermark is a lost lower bound on what
//! is committed; a lost cache costs a walk of every batch header), so they are replaced
//! atomically instead ([`write_replacing`]): write a temporary file, fsync it, rename it over
//! the old one.
//!
//! [`Log::close`]: crate::Log::close

use std::path::{Path, PathBuf};

use crate::error::LogError;
use crate::file::FileSystem;

/// Name of the recovery-point checkpoint file in a partition directory.
pub const RECOVERY_POINT_FILE_NAME: &str = "recovery-point.checkpoint";
/// Name of the clean-shutdown marker in a partition directory.
pub const CLEAN_SHUTDOWN_FILE_NAME: &str = "clean-shutdown.checkpoint";
/// Name of the high-watermark checkpoint file in a partition directory.
pub const HIGH_WATERMARK_FILE_NAME: &str = "high-watermark-checkpoint";
/// Suffix of the temporary file an atomic replace writes before renaming it over the real one.
pub const TEMPORARY_FILE_SUFFIX: &str = ".tmp";
/// Extension of producer-state snapshot files (`<20-digit offset>.snapshot`).
pub const SNAPSHOT_FILE_EXTENSION: &str = "snapshot";
/// Producer-state snapshots kept per partition; older ones are removed when a new one is
/// written. More than one, so a torn newest snapshot falls back to an older one, not to a
/// replay of the whole log.
pub const PRODUCER_SNAPSHOTS_MAX: usize = 3;
/// Largest producer-state snapshot file accepted on read; a larger file is treated as damaged.
pub const PRODUCER_SNAPSHOT_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// Format version of every checkpoint file.
const FORMAT_VERSION: u16 = 1;
/// `version` (2) + `crc` (4).
pub(crate) const FRAME_HEADER_BYTES: usize = 6;
/// Body of `recovery-point.checkpoint`: `recovery_point: i64`.
const RECOVERY_POINT_BODY_BYTES: usize = 8;
/// Body of `high-watermark-checkpoint`: `high_watermark: i64`.
const HIGH_WATERMARK_BODY_BYTES: usize = 8;
/// Body of `clean-shutdown.checkpoint`: `log_end_offset: i64`, `active_base_offset: i64`,
/// `active_size_bytes: u64`.
const CLEAN_SHUTDOWN_BODY_BYTES: usize = 24;
/// Body header of a snapshot: `offset: i64`, `payload_length: u32`.
const SNAPSHOT_BODY_HEADER_BYTES: usize = 12;

/// What a clean shutdown recorded about the log it closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanShutdown {
    pub log_end_offset: i64,
    pub active_base_offset: i64,
    pub active_size_bytes: u64,
}

/// `DIR/<20-digit offset>.snapshot`.
pub fn snapshot_path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!("{offset:020}.{SNAPSHOT_FILE_EXTENSION}"))
}

pub(crate) fn frame(body: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(FRAME_HEADER_BYTES + body.len());
    bytes.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    bytes.extend_from_slice(&crc32c::crc32c(body).to_be_bytes());
    bytes.extend_from_slice(body);
    bytes
}

/// The body of a framed file, or why it cannot be trusted.
pub(crate) fn unframe(bytes: &[u8]) -> Result<&[u8], String> {
    if bytes.len() < FRAME_HEADER_BYTES {
        return Err(format!("{} bytes is shorter than the header", bytes.len()));
    }
    let version = u16::from_be_bytes([bytes[0], bytes[1]]);
    if version != FORMAT_VERSION {
        return Err(format!("unknown version {version}"));
    }
    let stored = u32::from_be_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]);
    let body = &bytes[FRAME_HEADER_BYTES..];
    let computed = crc32c::crc32c(body);
    if stored != computed {
        return Err(format!(
            "CRC-32C mismatch: stored {stored:#010x}, computed {computed:#010x}"
        ));
    }
    Ok(body)
}

pub(crate) fn i64_at(bytes: &[u8], at: usize) -> i64 {
    let mut field = [0u8; 8];
    field.copy_from_slice(&bytes[at..at + 8]);
    i64::from_be_bytes(field)
}

/// Writes `body`, framed, to `path`: truncate, write, fsync, then fsync `dir`. A created file
/// is lost in a crash until its directory is fsynced, and the file may exist only in the page
/// cache's view of the directory (an earlier call created it and failed before its directory
/// fsync), so the directory is fsynced every time rather than only when the file looks new.
fn write_framed(fs: &dyn FileSystem, dir: &Path, path: &Path, body: &[u8]) -> Result<(), LogError> {
    let file = fs
        .open(path, true)
        .map_err(|source| LogError::io("create", path, source))?;
    let bytes = frame(body);
    file.set_len(0)
        .map_err(|source| LogError::io("truncate", path, source))?;
    file.write_all_at(&bytes, 0)
        .map_err(|source| LogError::io("write", path, source))?;
    file.sync_data()
        .map_err(|source| LogError::io("fsync", path, source))?;
    fs.sync_dir(dir)
        .map_err(|source| LogError::io("fsync directory", dir, source))?;
    Ok(())
}

/// Why [`write_replacing`] failed, and whether the new file may already stand in the old one's
/// place.
#[derive(Debug)]
pub(crate) struct ReplaceFailure {
    pub error: LogError,
    /// False when the failure came before the rename: the old file is intact, in the running
    /// view and on disk. True when only the directory fsync after the rename failed: readers see
    /// the new file, but a crash may bring back either.
    pub renamed: bool,
}

/// Replaces `path` with `body`, framed, atomically: write `path` + `.tmp` (truncated first, in
/// case an earlier attempt left one), fsync it, rename it over `path`, and, if `sync_dir`,
/// fsync `dir`. A crash at any step leaves the old file or the new one, whole: the data is
/// durable before the rename can be, so a rename that survives never exposes an empty file.
/// Without `sync_dir` the rename itself may be undone by a crash (the old file comes back, or
/// no file if it is the first write) until something else fsyncs the directory.
pub(crate) fn write_replacing(
    fs: &dyn FileSystem,
    dir: &Path,
    path: &Path,
    body: &[u8],
    sync_dir: bool,
) -> Result<(), ReplaceFailure> {
    let before_rename = |error| ReplaceFailure {
        error,
        renamed: false,
    };
    let mut temporary_name = path.as_os_str().to_os_string();
    temporary_name.push(TEMPORARY_FILE_SUFFIX);
    let temporary = PathBuf::from(temporary_name);
    let file = fs
        .open(&temporary, true)
        .map_err(|source| before_rename(LogError::io("create", &temporary, source)))?;
    file.set_len(0)
        .map_err(|source| before_rename(LogError::io("truncate", &temporary, source)))?;
    file.write_all_at(&frame(body), 0)
        .map_err(|source| before_rename(LogError::io("write", &temporary, source)))?;
    file.sync_data()
        .map_err(|source| before_rename(LogError::io("fsync", &temporary, source)))?;
    // A failed rename changed nothing (rename is atomic).
    fs.rename(&temporary, path)
        .map_err(|source| before_rename(LogError::io("rename", &temporary, source)))?;
    if sync_dir {
        fs.sync_dir(dir).map_err(|source| ReplaceFailure {
            error: LogError::io("fsync directory", dir, source),
            renamed: true,
        })?;
    }
    Ok(())
}

/// Reads a whole file of at most `bytes_max` bytes: Ok(None) when it is missing, Err with the
/// reason when it cannot be read or is too large.
pub(crate) fn read_whole(
    fs: &dyn FileSystem,
    path: &Path,
    bytes_max: u64,
) -> Result<Option<Vec<u8>>, String> {
    if !fs.exists(path) {
        return Ok(None);
    }
    let file = fs.open(path, false).map_err(|error| error.to_string())?;
    let len = file.len().map_err(|error| error.to_string())?;
    if len > bytes_max {
        return Err(format!("{len} bytes is more than the {bytes_max} allowed"));
    }
    let mut bytes = vec![0u8; len as usize];
    file.read_exact_at(&mut bytes, 0)
        .map_err(|error| error.to_string())?;
    Ok(Some(bytes))
}

/// Reads and checks a framed file whose body has exactly `body_bytes` bytes. A missing file is
/// None; a damaged one is logged and treated as missing.
fn read_fixed(fs: &dyn FileSystem, path: &Path, body_bytes: usize) -> Option<Vec<u8>> {
    let checked =
        read_whole(fs, path, (FRAME_HEADER_BYTES + body_bytes) as u64).and_then(|bytes| {
            bytes
                .map(|bytes| {
                    let body = unframe(&bytes)?;
                    if body.len() != body_bytes {
                        return Err(format!(
                            "body of {} bytes, expected {body_bytes}",
                            body.len()
                        ));
                    }
                    Ok(body.to_vec())
                })
                .transpose()
        });
    match checked {
        Ok(body) => body,
        Err(reason) => {
            tracing::warn!(path = %path.display(), %reason, "ignoring damaged checkpoint file");
            None
        }
    }
}

/// The recovery point stored in `dir`, if the file is there and intact.
pub fn read_recovery_point(fs: &dyn FileSystem, dir: &Path) -> Option<i64> {
    let path = dir.join(RECOVERY_POINT_FILE_NAME);
    read_fixed(fs, &path, RECOVERY_POINT_BODY_BYTES).map(|body| i64_at(&body, 0))
}

/// Durably replaces the recovery point stored in `dir`.
pub fn write_recovery_point(
    fs: &dyn FileSystem,
    dir: &Path,
    recovery_point: i64,
) -> Result<(), LogError> {
    let path = dir.join(RECOVERY_POINT_FILE_NAME);
    write_framed(fs, dir, &path, &recovery_point.to_be_bytes())
}

/// The high watermark checkpointed in `dir`, if the file is there and intact.
pub fn read_high_watermark(fs: &dyn FileSystem, dir: &Path) -> Option<i64> {
    let path = dir.join(HIGH_WATERMARK_FILE_NAME);
    read_fixed(fs, &path, HIGH_WATERMARK_BODY_BYTES).map(|body| i64_at(&body, 0))
}

/// Atomically replaces the high watermark checkpointed in `dir` (see [`write_replacing`]; with
/// `sync_dir` false a crash may bring back the previous value).
pub fn write_high_watermark(
    fs: &dyn FileSystem,
    dir: &Path,
    high_watermark: i64,
    sync_dir: bool,
) -> Result<(), LogError> {
    let path = dir.join(HIGH_WATERMARK_FILE_NAME);
    write_replacing(fs, dir, &path, &high_watermark.to_be_bytes(), sync_dir)
        .map_err(|failure| failure.error)
}

/// The clean-shutdown marker in `dir`, if the file is there and intact.
pub fn read_clean_shutdown(fs: &dyn FileSystem, dir: &Path) -> Option<CleanShutdown> {
    let path = dir.join(CLEAN_SHUTDOWN_FILE_NAME);
    read_fixed(fs, &path, CLEAN_SHUTDOWN_BODY_BYTES).map(|body| CleanShutdown {
        log_end_offset: i64_at(&body, 0),
        active_base_offset: i64_at(&body, 8),
        active_size_bytes: i64_at(&body, 16) as u64,
    })
}

/// Durably writes the clean-shutdown marker in `dir`.
pub fn write_clean_shutdown(
    fs: &dyn FileSystem,
    dir: &Path,
    marker: &CleanShutdown,
) -> Result<(), LogError> {
    let path = dir.join(CLEAN_SHUTDOWN_FILE_NAME);
    let mut body = Vec::with_capacity(CLEAN_SHUTDOWN_BODY_BYTES);
    body.extend_from_slice(&marker.log_end_offset.to_be_bytes());
    body.extend_from_slice(&marker.active_base_offset.to_be_bytes());
    body.extend_from_slice(&marker.active_size_bytes.to_be_bytes());
    write_framed(fs, dir, &path, &body)
}

/// Writes a producer-state snapshot covering every offset below `offset`.
pub fn write_snapshot(
    fs: &dyn FileSystem,
    dir: &Path,
    offset: i64,
    payload: &[u8],
) -> Result<(), LogError> {
    let path = snapshot_path(dir, offset);
    let payload_bytes = u32::try_from(payload.len())
        .ok()
        .filter(|bytes| u64::from(*bytes) + 18 <= PRODUCER_SNAPSHOT_BYTES_MAX)
        .ok_or_else(|| {
            LogError::InvalidConfig(format!(
                "producer snapshot of {} bytes exceeds {PRODUCER_SNAPSHOT_BYTES_MAX}",
                payload.len()
            ))
        })?;
    let mut body = Vec::with_capacity(SNAPSHOT_BODY_HEADER_BYTES + payload.len());
    body.extend_from_slice(&offset.to_be_bytes());
    body.extend_from_slice(&payload_bytes.to_be_bytes());
    body.extend_from_slice(payload);
    write_framed(fs, dir, &path, &body)
}

/// The payload of the snapshot at `offset`, or why it cannot be trusted.
pub fn read_snapshot(fs: &dyn FileSystem, dir: &Path, offset: i64) -> Result<Vec<u8>, String> {
    let path = snapshot_path(dir, offset);
    let bytes = read_whole(fs, &path, PRODUCER_SNAPSHOT_BYTES_MAX)?
        .ok_or_else(|| "the file is missing".to_string())?;
    let body = unframe(&bytes)?;
    if body.len() < SNAPSHOT_BODY_HEADER_BYTES {
        return Err(format!("body of {} bytes is too short", body.len()));
    }
    let stored_offset = i64_at(body, 0);
    if stored_offset != offset {
        return Err(format!("holds offset {stored_offset}, named {offset}"));
    }
    let payload_bytes = u32::from_be_bytes([body[8], body[9], body[10], body[11]]) as usize;
    let payload = &body[SNAPSHOT_BODY_HEADER_BYTES..];
    if payload.len() != payload_bytes {
        return Err(format!(
            "payload of {} bytes, header says {payload_bytes}",
            payload.len()
        ));
    }
    Ok(payload.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::SimulatedFileSystem;

    fn setup() -> (SimulatedFileSystem, PathBuf) {
        let fs = SimulatedFileSystem::new();
        let dir = PathBuf::from("/data/t-0");
        fs.create_dir_all(&dir).expect("directory");
        (fs, dir)
    }

    /// Each file reads back what was written, and survives a crash once written.
    #[test]
    fn checkpoint_files_round_trip_across_a_crash() {
        let (fs, dir) = setup();
        write_recovery_point(&fs, &dir, 1234).expect("write");
        let marker = CleanShutdown {
            log_end_offset: 99,
            active_base_offset: 50,
            active_size_bytes: 4096,
        };
        write_clean_shutdown(&fs, &dir, &marker).expect("write");
        write_snapshot(&fs, &dir, 77, b"state").expect("write");
        write_high_watermark(&fs, &dir, 900, true).expect("write");
        fs.crash();
        assert_eq!(read_high_watermark(&fs, &dir), Some(900));
        assert_eq!(read_recovery_point(&fs, &dir), Some(1234));
        assert_eq!(read_clean_shutdown(&fs, &dir), Some(marker));
        assert_eq!(read_snapshot(&fs, &dir, 77), Ok(b"state".to_vec()));
    }

    /// A flipped byte anywhere, or a cut anywhere, makes every kind of file unreadable instead of
    /// wrong.
    #[test]
    fn damaged_checkpoint_files_are_rejected() {
        let (fs, dir) = setup();
        write_recovery_point(&fs, &dir, 1234).expect("write");
        write_snapshot(&fs, &dir, 77, b"state").expect("write");
        write_high_watermark(&fs, &dir, 900, true).expect("write");
        type Readable = fn(&SimulatedFileSystem, &Path) -> bool;
        let cases: [(PathBuf, Readable); 3] = [
            (dir.join(HIGH_WATERMARK_FILE_NAME), |fs, dir| {
                read_high_watermark(fs, dir).is_some()
            }),
            (dir.join(RECOVERY_POINT_FILE_NAME), |fs, dir| {
                read_recovery_point(fs, dir).is_some()
            }),
            (snapshot_path(&dir, 77), |fs, dir| {
                read_snapshot(fs, dir, 77).is_ok()
            }),
        ];
        for (path, readable) in cases {
            let good = fs.file_bytes(&path).expect("file");
            for at in 0..good.len() {
                let mut flipped = good.clone();
                flipped[at] ^= 0x40;
                fs.set_file_bytes(&path, flipped);
                assert!(!readable(&fs, &dir), "{} flipped at {at}", path.display());
                fs.set_file_bytes(&path, good[..at].to_vec());
                assert!(!readable(&fs, &dir), "{} cut at {at}", path.display());
            }
            fs.set_file_bytes(&path, good);
            assert!(readable(&fs, &dir));
        }
        assert_eq!(read_recovery_point(&fs, &dir), Some(1234));
    }

    /// A snapshot renamed to another offset is not trusted for that offset.
    #[test]
    fn snapshot_under_the_wrong_name_is_rejected() {
        let (fs, dir) = setup();
        write_snapshot(&fs, &dir, 77, b"state").expect("write");
        let bytes = fs.file_bytes(&snapshot_path(&dir, 77)).expect("file");
        fs.set_file_bytes(&snapshot_path(&dir, 78), bytes);
        assert!(read_snapshot(&fs, &dir, 78).is_err());
    }
}
