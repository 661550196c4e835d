//! Restarts read only what they must: the recovery point, the clean-shutdown marker and
//! producer-state snapshots (`checkpoint.rs`). What recovery reads is counted by the simulated
//! file system, never timed.

use yak_log::checkpoint::{self, PRODUCER_SNAPSHOTS_MAX};
use yak_log::{FileSystem, Log, LogConfig, LogError, SimulatedFileSystem, BATCH_HEADER_BYTES};

mod common;
use common::{batch, dir, open, small_config};

/// Index entry bytes (relative offset u32 + position u32).
const INDEX_ENTRY_BYTES: u64 = 8;

/// Time index entry bytes (timestamp i64 + relative offset u32).
const TIME_INDEX_ENTRY_BYTES: u64 = 12;

/// Bytes of the recovery-point file, the clean-shutdown marker and a leader-epoch checkpoint
/// of one entry.
const CHECKPOINT_FILES_BYTES: u64 = 14 + 30 + 22;

/// The most a segment opened without a check may read: its first batch header, the last entry
/// of each index, an offset index lookup (bounded by the whole `.index`) for the batch of the
/// last time index entry, and the headers walked from that batch to the end for the largest
/// timestamp. With rising timestamps that batch is the last offset index entry's, and every
/// batch after it starts less than `index_interval_bytes` past it, so at most
/// `ceil(interval / smallest batch)` of them follow.
fn trusted_open_bytes_max(
    fs: &SimulatedFileSystem,
    base_offset: i64,
    config: &LogConfig,
    smallest_batch_bytes: u64,
) -> u64 {
    let index_bytes = fs
        .file_bytes(&common::index_path(base_offset))
        .map_or(0, |bytes| bytes.len() as u64);
    let walked_headers = 2 + u64::from(config.index_interval_bytes).div_ceil(smallest_batch_bytes);
    BATCH_HEADER_BYTES as u64 * walked_headers
        + INDEX_ENTRY_BYTES
        + TIME_INDEX_ENTRY_BYTES
        + index_bytes
}

/// A log of many small segments, every append fsynced (as `--flush always` leaves it).
fn build(fs: &SimulatedFileSystem, batches_count: u64) -> (Log, Vec<Vec<u8>>) {
    let mut log = open(fs, small_config());
    let mut stored = Vec::new();
    for tag in 0..batches_count {
        let mut bytes = batch(tag, 1 + tag as usize % 3, tag as i64);
        log.append(&mut bytes, 0, tag as i64).unwrap();
        log.flush().unwrap();
        stored.push(bytes);
    }
    (log, stored)
}

fn segment_sizes(fs: &SimulatedFileSystem) -> Vec<(i64, u64)> {
    let mut sizes: Vec<(i64, u64)> = fs
        .read_dir(&dir())
        .unwrap()
        .iter()
        .filter(|path| path.extension().is_some_and(|extension| extension == "log"))
        .map(|path| {
            let base = path.file_stem().unwrap().to_str().unwrap().parse().unwrap();
            (base, fs.file_bytes(path).unwrap().len() as u64)
        })
        .collect();
    sizes.sort();
    sizes
}

/// Bytes the open of a log in `fs` reads.
fn bytes_read_by_open(fs: &SimulatedFileSystem, config: LogConfig) -> (Log, u64) {
    let before = fs.bytes_read();
    let log = open(fs, config);
    (log, fs.bytes_read() - before)
}

/// A clean restart reads no segment data: per segment at most its first batch header, the last
/// entry of each index and the few headers after them that tell its largest timestamp
/// (`trusted_open_bytes_max`), plus the checkpoint files. (Before checkpoints, open read one batch
/// header per index entry of every sealed segment and every byte of the active one.)
#[test]
fn clean_restart_reads_no_segment_data() {
    let fs = SimulatedFileSystem::new();
    let (mut log, stored) = build(&fs, 400);
    log.close().unwrap();
    drop(log);
    let sizes = segment_sizes(&fs);
    assert!(sizes.len() > 20, "the test needs many segments");
    let log_bytes: u64 = sizes.iter().map(|(_, size)| size).sum();
    let smallest_batch_bytes = stored.iter().map(|bytes| bytes.len() as u64).min().unwrap();
    let budget_bytes = sizes
        .iter()
        .map(|(base, _)| trusted_open_bytes_max(&fs, *base, &small_config(), smallest_batch_bytes))
        .sum::<u64>()
        + CHECKPOINT_FILES_BYTES;
    let (mut log, read_bytes) = bytes_read_by_open(&fs, small_config());
    assert!(
        read_bytes <= budget_bytes,
        "clean open read {read_bytes} bytes of a {log_bytes}-byte log (budget {budget_bytes})"
    );
    assert_eq!(common::read_all(&log, 0), stored.concat());
    let end = log.log_end_offset();
    let info = log.append(&mut batch(1, 1, 0), 0, 0).unwrap();
    assert_eq!(info.base_offset, end);
}

/// An unclean restart re-checks only what was written after the recovery point: the active
/// segment, whole, and nothing of the sealed ones beyond the sanity reads.
#[test]
fn unclean_restart_rechecks_only_the_active_segment() {
    let fs = SimulatedFileSystem::new();
    let (log, stored) = build(&fs, 400);
    let durable = log.durable_offset();
    drop(log);
    fs.crash();
    let sizes = segment_sizes(&fs);
    let (active_base, active_bytes) = *sizes.last().unwrap();
    let active_index_bytes = fs
        .file_bytes(&common::index_path(active_base))
        .unwrap()
        .len() as u64;
    let smallest_batch_bytes = stored.iter().map(|bytes| bytes.len() as u64).min().unwrap();
    let sealed_budget_bytes: u64 = sizes[..sizes.len() - 1]
        .iter()
        .map(|(base, _)| trusted_open_bytes_max(&fs, *base, &small_config(), smallest_batch_bytes))
        .sum();
    let active_time_index_bytes = fs
        .file_bytes(&dir().join(format!("{active_base:020}.timeindex")))
        .map_or(0, |bytes| bytes.len() as u64);
    let (log, read_bytes) = bytes_read_by_open(&fs, small_config());
    let budget_bytes = active_bytes
        + active_index_bytes
        + active_time_index_bytes
        + sealed_budget_bytes
        + CHECKPOINT_FILES_BYTES;
    assert!(
        read_bytes <= budget_bytes,
        "unclean open read {read_bytes} bytes (budget {budget_bytes})"
    );
    assert_eq!(log.log_end_offset(), durable);
    assert_eq!(common::read_all(&log, 0), stored.concat());
}

/// A crash between a roll and its checkpoint leaves sealed segments above the recovery point:
/// those are CRC-checked whole on open, so damage there is found (and refused, not cut).
#[test]
fn sealed_segments_above_the_recovery_point_are_crc_checked() {
    let fs = SimulatedFileSystem::new();
    let (log, stored) = build(&fs, 100);
    drop(log);
    let sizes = segment_sizes(&fs);
    assert!(sizes.len() >= 4);
    let (point, _) = sizes[sizes.len() - 3];
    checkpoint::write_recovery_point(&fs, &dir(), point).unwrap();
    let (log, read_bytes) = bytes_read_by_open(&fs, small_config());
    let rechecked_bytes: u64 = sizes[sizes.len() - 3..].iter().map(|(_, size)| size).sum();
    assert!(
        read_bytes >= rechecked_bytes,
        "read {read_bytes} < {rechecked_bytes}"
    );
    assert_eq!(common::read_all(&log, 0), stored.concat());
    assert_eq!(log.recovery_point(), log.log_end_offset());
    drop(log);

    // A flipped byte inside a record of a sealed segment above the point: only the CRC sees it.
    checkpoint::write_recovery_point(&fs, &dir(), point).unwrap();
    let path = common::log_path(point);
    let mut bytes = fs.file_bytes(&path).unwrap();
    bytes[BATCH_HEADER_BYTES + 3] ^= 0x01;
    fs.set_file_bytes(&path, bytes);
    let result = Log::open(std::sync::Arc::new(fs.clone()), &dir(), small_config());
    assert!(
        matches!(result, Err(LogError::Corrupt { .. })),
        "expected Corrupt, got {:?}",
        result.err()
    );
}

/// A clean-shutdown marker that does not describe the files (here the active segment grew
/// after it was written) is not trusted: the active segment is recovered as after a crash.
#[test]
fn clean_marker_that_does_not_match_the_files_is_ignored() {
    let fs = SimulatedFileSystem::new();
    let (mut log, stored) = build(&fs, 50);
    log.close().unwrap();
    drop(log);
    let (active_base, _) = *segment_sizes(&fs).last().unwrap();
    let path = common::log_path(active_base);
    let mut bytes = fs.file_bytes(&path).unwrap();
    bytes.extend_from_slice(&[0xAB; 40]);
    fs.set_file_bytes(&path, bytes.clone());
    let log = open(&fs, small_config());
    assert_eq!(common::read_all(&log, 0), stored.concat());
    assert_eq!(
        fs.file_bytes(&path).unwrap().len(),
        bytes.len() - 40,
        "the garbage tail was cut"
    );
}

/// The marker is removed by the open it served: a crash later is never taken for a clean stop.
#[test]
fn clean_marker_is_removed_on_open() {
    let fs = SimulatedFileSystem::new();
    let (mut log, _) = build(&fs, 10);
    log.close().unwrap();
    let marker = dir().join(checkpoint::CLEAN_SHUTDOWN_FILE_NAME);
    assert!(fs.exists(&marker));
    drop(log);
    let log = open(&fs, small_config());
    assert!(!fs.exists(&marker));
    drop(log);
    fs.crash();
    assert!(!fs.exists(&marker), "the removal was durable");
}

/// A closed log takes no more appends: the marker it wrote must stay true.
#[test]
fn closed_log_refuses_appends() {
    let fs = SimulatedFileSystem::new();
    let (mut log, _) = build(&fs, 3);
    log.close().unwrap();
    assert!(matches!(
        log.append(&mut batch(9, 1, 0), 0, 0),
        Err(LogError::Closed)
    ));
    assert!(matches!(log.truncate_to(0), Err(LogError::Closed)));
}

/// Producer snapshots are kept to PRODUCER_SNAPSHOTS_MAX, newest first; a snapshot at an offset
/// that already has one is not rewritten.
#[test]
fn producer_snapshots_are_bounded() {
    let fs = SimulatedFileSystem::new();
    let mut log = open(&fs, small_config());
    let mut offsets = Vec::new();
    for tag in 0..(PRODUCER_SNAPSHOTS_MAX as u64 + 4) {
        log.append(&mut batch(tag, 1, 0), 0, 0).unwrap();
        log.write_producer_snapshot(&tag.to_be_bytes()).unwrap();
        offsets.push(log.log_end_offset());
    }
    log.write_producer_snapshot(b"ignored").unwrap();
    let kept = &offsets[offsets.len() - PRODUCER_SNAPSHOTS_MAX..];
    assert_eq!(log.producer_snapshot_offsets(), kept);
    let on_disk: Vec<i64> = fs
        .read_dir(&dir())
        .unwrap()
        .iter()
        .filter_map(|path| {
            yak_log::segment::parse_segment_file_name(path, checkpoint::SNAPSHOT_FILE_EXTENSION)
        })
        .collect();
    assert_eq!(on_disk, kept);
    let newest = log.load_producer_snapshot(|payload| Some(payload.to_vec()));
    let last_tag = PRODUCER_SNAPSHOTS_MAX as u64 + 3;
    assert_eq!(
        newest,
        Some((*offsets.last().unwrap(), last_tag.to_be_bytes().to_vec()))
    );
}

/// A torn newest snapshot is skipped for the one before it.
#[test]
fn torn_producer_snapshot_falls_back_to_an_older_one() {
    let fs = SimulatedFileSystem::new();
    let mut log = open(&fs, small_config());
    log.append(&mut batch(0, 1, 0), 0, 0).unwrap();
    log.write_producer_snapshot(b"first").unwrap();
    log.append(&mut batch(1, 1, 0), 0, 0).unwrap();
    log.write_producer_snapshot(b"second").unwrap();
    log.close().unwrap();
    drop(log);
    let newest = checkpoint::snapshot_path(&dir(), 2);
    let bytes = fs.file_bytes(&newest).unwrap();
    fs.set_file_bytes(&newest, bytes[..bytes.len() - 2].to_vec());
    let log = open(&fs, small_config());
    assert_eq!(
        log.load_producer_snapshot(|payload| Some(payload.to_vec())),
        Some((1, b"first".to_vec()))
    );
}

/// Truncating to O removes snapshots above O and lowers the recovery point to O, on disk too.
#[test]
fn truncation_drops_later_snapshots_and_the_recovery_point() {
    let fs = SimulatedFileSystem::new();
    let (mut log, _) = build(&fs, 60);
    let end = log.log_end_offset();
    log.write_producer_snapshot(b"at the end").unwrap();
    let (active_base, _) = *segment_sizes(&fs).last().unwrap();
    assert!(log.recovery_point() >= active_base);
    log.truncate_to(active_base).unwrap();
    assert!(log
        .producer_snapshot_offsets()
        .iter()
        .all(|offset| *offset <= active_base));
    assert!(!fs.exists(&checkpoint::snapshot_path(&dir(), end)));
    assert!(log.recovery_point() <= active_base);
    assert_eq!(
        checkpoint::read_recovery_point(&fs, &dir()),
        Some(log.recovery_point())
    );
}

/// After a crash that loses records, snapshots above the recovered log end describe records
/// that are gone; open removes them before new records can take those offsets.
#[test]
fn snapshots_above_the_recovered_log_end_are_removed() {
    let fs = SimulatedFileSystem::new();
    let mut log = open(&fs, LogConfig::default());
    log.append(&mut batch(0, 2, 0), 0, 0).unwrap();
    log.flush().unwrap();
    log.write_producer_snapshot(b"durable").unwrap();
    log.append(&mut batch(1, 2, 0), 0, 0).unwrap();
    log.write_producer_snapshot(b"lost").unwrap();
    drop(log);
    fs.crash();
    let log = open(&fs, LogConfig::default());
    assert_eq!(log.log_end_offset(), 2);
    assert_eq!(log.producer_snapshot_offsets(), &[2]);
    assert!(!fs.exists(&checkpoint::snapshot_path(&dir(), 4)));
}

/// The header walk visits every batch from an offset and reads headers only: for batches much
/// larger than the read-ahead it reads one header per batch.
#[test]
fn header_walk_reads_only_headers() {
    let fs = SimulatedFileSystem::new();
    let config = LogConfig {
        // One segment: each segment's walk starts with one read-ahead.
        segment_bytes_max: 16 * 1024 * 1024,
        ..LogConfig::default()
    };
    let mut log = open(&fs, config.clone());
    let value = vec![b'x'; 200 * 1024];
    let mut bases = Vec::new();
    for _ in 0..30 {
        let records = [yak_log::RecordToWrite {
            key: None,
            value: Some(&value),
            headers: &[],
            timestamp_ms: 0,
        }];
        let mut bytes = Vec::new();
        yak_log::encode_batch(&records, &mut bytes);
        bases.push(log.append(&mut bytes, 0, 0).unwrap().base_offset);
    }
    let mut seen = Vec::new();
    let before = fs.bytes_read();
    let reported = log
        .for_each_batch_header(bases[3], |header| seen.push(header.base_offset))
        .unwrap();
    let read_bytes = fs.bytes_read() - before;
    assert_eq!(seen, bases[3..]);
    assert!(reported <= read_bytes, "the rest is the index lookup");
    assert!(
        read_bytes < 30 * 1024 + 64 * 1024,
        "read {read_bytes} bytes to walk 27 headers"
    );
}

/// Builds the same 400-batch log (timestamps rising with the batch tag) in a fresh file system
/// and opens it either through the checkpoints (a clean shutdown: every segment opened
/// without a check) or with them removed (every sealed segment checked, both indexes read).
fn reopened(through_checkpoints: bool) -> (SimulatedFileSystem, Log) {
    let fs = SimulatedFileSystem::new();
    let (mut log, _) = build(&fs, 400);
    log.close().unwrap();
    drop(log);
    if !through_checkpoints {
        for name in [
            checkpoint::RECOVERY_POINT_FILE_NAME,
            checkpoint::CLEAN_SHUTDOWN_FILE_NAME,
        ] {
            fs.remove_file(&dir().join(name)).unwrap();
        }
    }
    let log = open(&fs, small_config());
    (fs, log)
}

/// Segments opened on a checkpoint's word still know their largest timestamp (from the last
/// time index entry and the headers after it): ListOffsets by time gives the same answers as
/// after a full check, and time retention deletes the same segments (a segment without a
/// known largest timestamp would count as empty and be deleted at once).
#[test]
fn trusted_segments_keep_their_largest_timestamp() {
    let (_, mut trusted) = reopened(true);
    let (_, mut checked) = reopened(false);
    for timestamp_ms in (0..420).step_by(7) {
        assert_eq!(
            trusted.offset_for_timestamp(timestamp_ms).unwrap(),
            checked.offset_for_timestamp(timestamp_ms).unwrap(),
            "timestamp {timestamp_ms}"
        );
    }
    let retention = yak_log::Retention {
        retention_ms: Some(1_000),
        retention_bytes: None,
    };
    let now_ms = 1_000 + 200;
    let (first_kept_offset, _) = checked.offset_for_timestamp(200).unwrap().unwrap();
    let from_trusted = trusted
        .delete_segments_for_retention(retention, now_ms, i64::MAX)
        .unwrap();
    let from_checked = checked
        .delete_segments_for_retention(retention, now_ms, i64::MAX)
        .unwrap();
    assert_eq!(from_trusted, from_checked);
    assert!(from_trusted.segments_deleted > 0);
    // Only segments wholly older than the cut go: none holding the first batch at 200 or later.
    assert!(trusted.log_start_offset() > 0 && trusted.log_start_offset() <= first_kept_offset);
}

/// Retention deletes the producer snapshots below the new log start with the segments they
/// sat at the base of, as Kafka does; the one at the new log start stays.
#[test]
fn retention_removes_producer_snapshots_below_the_log_start() {
    let fs = SimulatedFileSystem::new();
    let mut log = open(&fs, small_config());
    for tag in 0..200u64 {
        log.append(&mut batch(tag, 1, tag as i64), 0, tag as i64)
            .unwrap();
        if log.take_rolled() {
            log.write_producer_snapshot(&tag.to_be_bytes()).unwrap();
        }
    }
    log.flush().unwrap();
    let before = log.producer_snapshot_offsets().to_vec();
    assert_eq!(before.len(), PRODUCER_SNAPSHOTS_MAX);
    let retention = yak_log::Retention {
        retention_ms: None,
        retention_bytes: Some(0),
    };
    let outcome = log
        .delete_segments_for_retention(retention, 0, i64::MAX)
        .unwrap();
    let log_start = outcome.log_start_offset;
    assert!(before.iter().any(|offset| *offset < log_start));
    let kept: Vec<i64> = before
        .into_iter()
        .filter(|offset| *offset >= log_start)
        .collect();
    assert!(!kept.is_empty(), "the snapshot at the new log start stays");
    assert_eq!(log.producer_snapshot_offsets(), kept.as_slice());
    let on_disk: Vec<i64> = fs
        .read_dir(&dir())
        .unwrap()
        .iter()
        .filter_map(|path| {
            yak_log::segment::parse_segment_file_name(path, checkpoint::SNAPSHOT_FILE_EXTENSION)
        })
        .collect();
    assert_eq!(on_disk, kept);
}

/// A checkpoint file is created, written and fsynced, but its directory fsync fails: the file
/// exists in the directory's view yet would vanish in a crash. Writing it again must fsync the
/// directory anyway, so after a crash the recovery point is there.
#[test]
fn rewritten_checkpoint_after_a_failed_directory_fsync_survives_a_crash() {
    let fs = SimulatedFileSystem::new();
    fs.create_dir_all(&dir()).unwrap();
    fs.fail_nth(yak_log::SimulatedOperation::SyncDir, 1);
    assert!(checkpoint::write_recovery_point(&fs, &dir(), 10).is_err());
    assert!(fs.exists(&dir().join(checkpoint::RECOVERY_POINT_FILE_NAME)));
    checkpoint::write_recovery_point(&fs, &dir(), 11).unwrap();
    fs.crash();
    assert_eq!(checkpoint::read_recovery_point(&fs, &dir()), Some(11));
}
