//! Append, read, index, roll, truncate and delete through `Log`.

use std::sync::Arc;

use yak_log::{
    batches, FileSystem, FlushPolicy, Log, LogConfig, LogError, OsFileSystem, SimulatedFileSystem,
};

mod common;
use common::{batch, open, small_config};

/// Appended batches get consecutive offsets, the leader epoch, and read back byte for byte.
#[test]
fn append_read_round_trip() {
    let fs = SimulatedFileSystem::new();
    let mut log = open(&fs, LogConfig::default());
    let mut expected = Vec::new();
    for tag in 0..10u64 {
        let mut bytes = batch(tag, 1 + tag as usize % 4, 1000);
        let info = log.append(&mut bytes, 3, 0).unwrap();
        let header = yak_log::validate(&bytes).unwrap();
        assert_eq!(info.base_offset, header.base_offset);
        assert_eq!(header.partition_leader_epoch, 3);
        assert_eq!(info.last_offset, header.last_offset());
        assert_eq!(info.log_end_offset, log.log_end_offset());
        expected.extend_from_slice(&bytes);
    }
    assert_eq!(
        log.log_end_offset(),
        (0..10).map(|tag| 1 + tag % 4).sum::<i64>()
    );
    assert_eq!(log.read(0, u32::MAX, i64::MAX).unwrap(), expected);
    assert_eq!(log.size_bytes(), expected.len() as u64);
}

/// For every offset, including those inside multi-record batches, read returns the batch that
/// holds it first, across several index entries and segments.
#[test]
fn read_starts_at_the_batch_holding_every_offset() {
    let fs = SimulatedFileSystem::new();
    let mut log = open(&fs, small_config());
    for tag in 0..60u64 {
        log.append(&mut batch(tag, 1 + tag as usize % 5, 0), 0, 0)
            .unwrap();
    }
    assert!(
        fs.read_dir(&common::dir()).unwrap().len() > 4,
        "expected several segments"
    );
    for offset in 0..log.log_end_offset() {
        let bytes = log.read(offset, 1, i64::MAX).unwrap();
        let (header, _) = batches(&bytes).next().unwrap().unwrap();
        assert!(
            header.base_offset <= offset && offset <= header.last_offset(),
            "offset {offset}"
        );
        assert_eq!(
            batches(&bytes).count(),
            1,
            "max_bytes 1 still returns exactly one batch"
        );
    }
}

/// read honours max_bytes (whole batches only), the upper offset (high watermark), and the
/// offset range.
#[test]
fn read_limits() {
    let fs = SimulatedFileSystem::new();
    let mut log = open(&fs, LogConfig::default());
    let one = batch(0, 2, 0).len() as u32;
    for tag in 0..5 {
        log.append(&mut batch(tag, 2, 0), 0, 0).unwrap();
    }
    assert_eq!(
        log.read(0, one * 2 + one / 2, i64::MAX).unwrap().len() as u32,
        one * 2
    );
    assert_eq!(
        log.read(3, one * 2, i64::MAX).unwrap().len() as u32,
        one * 2
    );
    // Upper offset 5 lets batches [0,1], [2,3] through; [4,5] reaches it.
    assert_eq!(log.read(0, u32::MAX, 5).unwrap().len() as u32, one * 2);
    assert!(log.read(4, u32::MAX, 5).unwrap().is_empty());
    assert!(log.read(10, u32::MAX, i64::MAX).unwrap().is_empty());
    assert!(matches!(
        log.read(11, 100, i64::MAX),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert!(matches!(
        log.read(-1, 100, i64::MAX),
        Err(LogError::OffsetOutOfRange { .. })
    ));
}

/// Segments roll when the next batch would pass segment_bytes_max, and reads cross them.
#[test]
fn segment_roll_by_size_and_read_across_segments() {
    let fs = SimulatedFileSystem::new();
    let mut log = open(&fs, small_config());
    let mut expected = Vec::new();
    for tag in 0..40u64 {
        let mut bytes = batch(tag, 2, 0);
        log.append(&mut bytes, 0, 0).unwrap();
        expected.extend_from_slice(&bytes);
    }
    let files = fs.read_dir(&common::dir()).unwrap();
    let logs: Vec<_> = files
        .iter()
        .filter(|path| path.extension().is_some_and(|extension| extension == "log"))
        .collect();
    assert!(logs.len() >= 4);
    for path in &logs {
        assert!(
            fs.file_bytes(path).unwrap().len() <= 1024,
            "{path:?} over segment_bytes_max"
        );
    }
    assert_eq!(log.read(0, u32::MAX, i64::MAX).unwrap(), expected);
    assert_eq!(common::read_all(&log, 0), expected);
    // Sealed segments were fsynced at roll, so they count as durable.
    assert!(log.durable_offset() > 0);
}

/// A segment rolls on the first append at least segment_ms_max after its first batch.
#[test]
fn segment_roll_by_age() {
    let fs = SimulatedFileSystem::new();
    let config = LogConfig {
        segment_ms_max: 1000,
        ..LogConfig::default()
    };
    let mut log = open(&fs, config);
    log.append(&mut batch(0, 1, 0), 0, 10_000).unwrap();
    log.append(&mut batch(1, 1, 0), 0, 10_999).unwrap();
    assert!(!fs.exists(&common::log_path(2)));
    let info = log.append(&mut batch(2, 1, 0), 0, 11_000).unwrap();
    assert_eq!(info.position, 0);
    assert!(fs.exists(&common::log_path(2)));
    assert_eq!(common::read_all(&log, 0).len(), 3 * batch(0, 1, 0).len());
}

/// Batches above batch_bytes_max and invalid batches are refused without changing the log.
#[test]
fn append_rejects_large_and_invalid_batches() {
    let fs = SimulatedFileSystem::new();
    let config = LogConfig {
        batch_bytes_max: 200,
        ..LogConfig::default()
    };
    let mut log = open(&fs, config);
    assert!(matches!(
        log.append(&mut batch(0, 20, 0), 0, 0),
        Err(LogError::BatchTooLarge { .. })
    ));
    let mut bad = batch(0, 1, 0);
    bad[70] ^= 0xff;
    assert!(matches!(
        log.append(&mut bad, 0, 0),
        Err(LogError::Batch(yak_log::BatchError::CrcMismatch { .. }))
    ));
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.size_bytes(), 0);
}

/// Replicated batches must continue the log exactly; accepted ones are stored verbatim.
#[test]
fn append_replicated_checks_continuity() {
    let fs = SimulatedFileSystem::new();
    let mut leader = open(&fs, small_config());
    for tag in 0..30 {
        leader.append(&mut batch(tag, 3, 0), 5, 0).unwrap();
    }
    let all = leader.read(0, u32::MAX, i64::MAX).unwrap();
    let follower_fs = SimulatedFileSystem::new();
    let mut follower = open(&follower_fs, small_config());
    let first_bytes = batch(0, 3, 0).len();
    assert!(matches!(
        follower.append_replicated(&all[first_bytes..]),
        Err(LogError::NonContiguous {
            expected: 0,
            found: 3
        })
    ));
    let info = follower.append_replicated(&all).unwrap();
    assert_eq!(info.base_offset, 0);
    assert_eq!(info.log_end_offset, 90);
    assert_eq!(follower.read(0, u32::MAX, i64::MAX).unwrap(), all);
}

/// truncate_to cuts at a batch boundary (removing later segments) and appends continue there.
#[test]
fn truncate_to_drops_the_tail() {
    let fs = SimulatedFileSystem::new();
    let mut log = open(&fs, small_config());
    for tag in 0..40 {
        log.append(&mut batch(tag, 2, 0), 0, 0).unwrap();
    }
    assert!(matches!(
        log.truncate_to(31),
        Err(LogError::NotBatchBoundary(31))
    ));
    let kept = log.read(0, u32::MAX, 30).unwrap();
    log.truncate_to(30).unwrap();
    assert_eq!(log.log_end_offset(), 30);
    assert_eq!(log.read(0, u32::MAX, i64::MAX).unwrap(), kept);
    assert!(!fs.exists(&common::log_path(78)));
    let info = log.append(&mut batch(99, 1, 0), 0, 0).unwrap();
    assert_eq!(info.base_offset, 30);
    drop(log);
    let log = open(&fs, small_config());
    assert_eq!(log.log_end_offset(), 31);
}

/// offset_for_timestamp finds the first batch whose max timestamp reaches the target.
#[test]
fn offset_for_timestamp_finds_first_batch() {
    let fs = SimulatedFileSystem::new();
    let mut log = open(&fs, small_config());
    for tag in 0..20 {
        log.append(&mut batch(tag, 2, tag as i64 * 100), 0, 0)
            .unwrap();
    }
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, 1)));
    assert_eq!(log.offset_for_timestamp(501).unwrap(), Some((10, 501)));
    assert_eq!(log.offset_for_timestamp(502).unwrap(), Some((12, 601)));
    assert_eq!(log.offset_for_timestamp(10_000).unwrap(), None);
}

/// The flush policy parses from and prints to its documented strings.
#[test]
fn flush_policy_strings() {
    for text in ["always", "never", "interval:250"] {
        assert_eq!(text.parse::<FlushPolicy>().unwrap().to_string(), text);
    }
    assert_eq!(
        "interval:5".parse::<FlushPolicy>().unwrap(),
        FlushPolicy::IntervalMs(5)
    );
    for bad in ["", "sometimes", "interval:", "interval:0", "interval:-1"] {
        assert!(bad.parse::<FlushPolicy>().is_err(), "{bad}");
    }
}

/// The real file system round-trips appends across a reopen, and delete removes the directory.
#[test]
fn os_file_system_round_trip_and_delete() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("topic-0");
    let fs: Arc<dyn FileSystem> = Arc::new(OsFileSystem);
    let mut log = Log::open(fs.clone(), &dir, small_config()).unwrap();
    let mut expected = Vec::new();
    for tag in 0..30 {
        let mut bytes = batch(tag, 2, 0);
        log.append(&mut bytes, 1, 0).unwrap();
        expected.extend_from_slice(&bytes);
    }
    log.flush().unwrap();
    assert_eq!(log.durable_offset(), 60);
    drop(log);
    let log = Log::open(fs.clone(), &dir, small_config()).unwrap();
    assert_eq!(log.log_end_offset(), 60);
    assert_eq!(common::read_all(&log, 0), expected);
    log.delete().unwrap();
    assert!(!dir.exists());
}

/// Configurations the format cannot honour are refused at open.
#[test]
fn open_rejects_bad_config() {
    let fs: Arc<dyn FileSystem> = Arc::new(SimulatedFileSystem::new());
    for config in [
        LogConfig {
            segment_bytes_max: 10,
            ..LogConfig::default()
        },
        LogConfig {
            segment_bytes_max: 1 << 33,
            ..LogConfig::default()
        },
        LogConfig {
            index_interval_bytes: 0,
            ..LogConfig::default()
        },
        LogConfig {
            batch_bytes_max: 10,
            ..LogConfig::default()
        },
    ] {
        assert!(matches!(
            Log::open(fs.clone(), &common::dir(), config),
            Err(LogError::InvalidConfig(_))
        ));
    }
}
