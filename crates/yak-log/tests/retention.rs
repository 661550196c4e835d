//! Retention: whole segments leave the front of the log, by time and by size, and a crash or a
//! failed removal part-way never leaves a gap.

use yak_log::{FileSystem, Log, LogError, Retention, SimulatedFileSystem, SimulatedOperation};

mod common;
use common::{batch, dir, open, read_all, small_config};

/// Appends `count` batches of 5 records each, timestamped `timestamp_ms`; every batch is large
/// enough that the small config rolls a segment every few batches.
fn fill(log: &mut Log, count: u64, timestamp_ms: i64) {
    for tag in 0..count {
        let mut bytes = batch(tag, 5, timestamp_ms);
        log.append(&mut bytes, 0, timestamp_ms).unwrap();
    }
}

fn segment_bases(fs: &SimulatedFileSystem) -> Vec<i64> {
    let mut bases: Vec<i64> = fs
        .read_dir(&dir())
        .unwrap()
        .iter()
        .filter_map(|path| yak_log::segment::parse_segment_file_name(path, "log"))
        .collect();
    bases.sort_unstable();
    bases
}

/// Every offset from the log start to the log end reads back, densely.
fn assert_contiguous(log: &Log) {
    let bytes = read_all(log, log.log_start_offset());
    let mut expected = log.log_start_offset();
    for item in yak_log::batches(&bytes) {
        let (header, _) = item.unwrap();
        assert_eq!(header.base_offset, expected, "gap in the log");
        expected = header.last_offset() + 1;
    }
    assert_eq!(expected, log.log_end_offset());
}

/// Proves time retention deletes sealed segments whose largest timestamp is too old, moves the
/// log start offset to the first kept segment, and leaves the active segment alone.
#[test]
fn time_retention_deletes_old_segments_and_keeps_the_active_one() {
    let fs = SimulatedFileSystem::new();
    let mut log = open(&fs, small_config());
    fill(&mut log, 20, 1_000);
    let old_segments = segment_bases(&fs).len();
    assert!(old_segments >= 3, "the test needs several segments");
    let end = log.log_end_offset();
    // A last batch written much later: its segment is kept.
    let mut recent = batch(99, 5, 100_000);
    log.append(&mut recent, 0, 100_000).unwrap();
    let retention = Retention {
        retention_ms: Some(10_000),
        retention_bytes: None,
    };
    let outcome = log
        .delete_segments_for_retention(retention, 105_000, i64::MAX)
        .unwrap();
    assert!(outcome.segments_deleted >= old_segments - 1);
    assert_eq!(outcome.log_start_offset, log.log_start_offset());
    assert!(log.log_start_offset() > 0);
    assert_eq!(segment_bases(&fs).first(), Some(&log.log_start_offset()));
    assert!(matches!(
        log.read(0, 1 << 20, i64::MAX),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert!(log.log_start_offset() <= end, "the recent batch stays");
    assert_eq!(log.log_end_offset(), end + 5);
    assert_contiguous(&log);

    // Everything is expired now, but the active segment is never deleted.
    let outcome = log
        .delete_segments_for_retention(retention, 10_000_000, i64::MAX)
        .unwrap();
    assert_eq!(segment_bases(&fs).len(), 1);
    assert_eq!(outcome.log_start_offset, log.log_start_offset());
    assert_eq!(log.log_end_offset(), end + 5);
    assert_contiguous(&log);
}

/// Proves size retention deletes oldest segments only while the log without them still holds
/// at least `retention_bytes`, and -1 (None) keeps everything.
#[test]
fn size_retention_keeps_at_least_retention_bytes() {
    let fs = SimulatedFileSystem::new();
    let mut log = open(&fs, small_config());
    fill(&mut log, 20, 1_000);
    let before = log.size_bytes();
    let unlimited = log
        .delete_segments_for_retention(Retention::default(), i64::MAX, i64::MAX)
        .unwrap();
    assert_eq!(unlimited.segments_deleted, 0);
    let retention_bytes = before / 2;
    let retention = Retention {
        retention_ms: None,
        retention_bytes: Some(retention_bytes),
    };
    let outcome = log
        .delete_segments_for_retention(retention, 0, i64::MAX)
        .unwrap();
    assert!(outcome.segments_deleted > 0);
    assert_eq!(log.size_bytes(), before - outcome.bytes_deleted);
    assert!(log.size_bytes() >= retention_bytes);
    // One more segment gone would take the log below the limit: Kafka's rule.
    let again = log
        .delete_segments_for_retention(retention, 0, i64::MAX)
        .unwrap();
    assert_eq!(again.segments_deleted, 0);
    assert_contiguous(&log);
}

/// Proves nothing above the high watermark is deleted: a segment goes only when every record
/// in it is below `upper_offset`.
#[test]
fn retention_never_deletes_above_the_high_watermark() {
    let fs = SimulatedFileSystem::new();
    let mut log = open(&fs, small_config());
    fill(&mut log, 20, 1_000);
    let retention = Retention {
        retention_ms: Some(1),
        retention_bytes: None,
    };
    let outcome = log
        .delete_segments_for_retention(retention, 1_000_000, 0)
        .unwrap();
    assert_eq!(outcome.segments_deleted, 0);
    assert_eq!(log.log_start_offset(), 0);
}

/// Proves the new log start offset survives a crash: the directory was fsynced before the
/// pass reported it.
#[test]
fn retention_survives_a_crash() {
    let fs = SimulatedFileSystem::new();
    let mut log = open(&fs, small_config());
    fill(&mut log, 20, 1_000);
    log.flush().unwrap();
    let end = log.log_end_offset();
    let outcome = log
        .delete_segments_for_retention(
            Retention {
                retention_ms: None,
                retention_bytes: Some(1),
            },
            0,
            i64::MAX,
        )
        .unwrap();
    drop(log);
    fs.crash();
    let reopened = open(&fs, small_config());
    assert_eq!(reopened.log_start_offset(), outcome.log_start_offset);
    assert_eq!(reopened.log_end_offset(), end);
    assert_contiguous(&reopened);
}

const DELETE_ALL_SEALED: Retention = Retention {
    retention_ms: None,
    retention_bytes: Some(1),
};

/// A log of four segments, flushed, on `fs`; returns it with its log end offset.
fn four_segments(fs: &SimulatedFileSystem) -> (Log, i64) {
    let mut log = open(fs, small_config());
    fill(&mut log, 20, 1_000);
    log.flush().unwrap();
    assert_eq!(segment_bases(fs).len(), 4);
    let end = log.log_end_offset();
    (log, end)
}

/// Proves a crash between any two file operations of a pass leaves, after recovery, a
/// contiguous log that starts at a segment boundary and ends where it did.
#[test]
fn a_crash_at_every_step_of_retention_never_leaves_a_gap() {
    let measure = SimulatedFileSystem::new();
    let (mut log, _) = four_segments(&measure);
    let before = measure.operations_count();
    log.delete_segments_for_retention(DELETE_ALL_SEALED, 0, i64::MAX)
        .unwrap();
    let operations = measure.operations_count() - before;
    assert!(
        operations >= 9,
        "three segments of three files: {operations}"
    );
    for halt_after in 0..=operations {
        let fs = SimulatedFileSystem::new();
        let (mut log, end) = four_segments(&fs);
        let bases = segment_bases(&fs);
        fs.halt_after(halt_after);
        let _ = log.delete_segments_for_retention(DELETE_ALL_SEALED, 0, i64::MAX);
        drop(log);
        fs.crash();
        let reopened = open(&fs, small_config());
        assert!(
            bases.contains(&reopened.log_start_offset()),
            "crash after {halt_after}: start {} is not a segment boundary",
            reopened.log_start_offset()
        );
        assert_eq!(reopened.log_end_offset(), end, "crash after {halt_after}");
        assert_contiguous(&reopened);
    }
}

/// Proves a pass that fails half-way (a removal fails) leaves a contiguous log whose start is a
/// segment boundary, in memory and after a crash and reopen alike.
#[test]
fn a_failed_removal_half_way_never_leaves_a_gap() {
    for nth in 1..=9 {
        let fs = SimulatedFileSystem::new();
        let (mut log, end) = four_segments(&fs);
        fs.fail_nth(SimulatedOperation::Remove, nth);
        let result = log.delete_segments_for_retention(DELETE_ALL_SEALED, 0, i64::MAX);
        assert!(result.is_err(), "removal {nth} fails");
        assert_contiguous(&log);
        let start_in_memory = log.log_start_offset();
        drop(log);
        fs.crash();
        let reopened = open(&fs, small_config());
        assert_eq!(
            reopened.log_start_offset(),
            start_in_memory,
            "removal {nth}"
        );
        assert_eq!(reopened.log_end_offset(), end);
        assert_contiguous(&reopened);
    }
}

/// Proves a failed directory fsync is not reported as a new log start: the pass fails and the
/// log is poisoned until reopened.
#[test]
fn a_failed_directory_fsync_poisons_the_log() {
    let fs = SimulatedFileSystem::new();
    let (mut log, _) = four_segments(&fs);
    fs.fail_nth(SimulatedOperation::SyncDir, 1);
    let result = log.delete_segments_for_retention(DELETE_ALL_SEALED, 0, i64::MAX);
    assert!(result.is_err());
    assert!(log.is_failed());
}

/// Proves new limits apply from the next append: a smaller `segment.bytes` rolls sooner.
#[test]
fn set_config_applies_to_the_next_append() {
    let fs = SimulatedFileSystem::new();
    let mut log = open(&fs, yak_log::LogConfig::default());
    fill(&mut log, 4, 1_000);
    assert_eq!(segment_bases(&fs).len(), 1);
    log.set_config(small_config()).unwrap();
    fill(&mut log, 20, 1_000);
    assert!(segment_bases(&fs).len() > 2);
    let mut bad = small_config();
    bad.segment_bytes_max = 1;
    assert!(log.set_config(bad).is_err());
}
