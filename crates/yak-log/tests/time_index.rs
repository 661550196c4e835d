//! The time index: `offset_for_timestamp` answers exactly as a scan of every batch would,
//! without scanning, and the `.timeindex` files are rebuilt, checked and cut like the offset
//! index.

use std::path::PathBuf;

use proptest::prelude::*;
use yak_log::{batches, FileSystem, Log, LogConfig, SimulatedFileSystem};

mod common;
use common::{batch, dir, open, read_all, small_config};

fn time_index_path(base_offset: i64) -> PathBuf {
    dir().join(format!("{base_offset:020}.timeindex"))
}

/// The max timestamp and base offset of every batch, read one by one.
fn headers(log: &Log) -> Vec<(i64, i64)> {
    let bytes = read_all(log, 0);
    batches(&bytes)
        .map(|item| item.unwrap().0)
        .map(|header| (header.base_offset, header.max_timestamp))
        .collect()
}

/// The reference answer: the first batch whose max_timestamp is at least `target`, found by
/// looking at every batch.
fn scan(headers: &[(i64, i64)], target: i64) -> Option<(i64, i64)> {
    headers
        .iter()
        .copied()
        .find(|(_, max_timestamp)| *max_timestamp >= target)
}

/// Checks `offset_for_timestamp` against the scan for every interesting target: each batch's
/// max timestamp and its neighbours, and the extremes.
fn check_against_scan(log: &Log, context: &str) {
    let headers = headers(log);
    let mut targets = vec![i64::MIN, i64::MAX, 0];
    for (_, timestamp) in &headers {
        targets.extend([timestamp - 1, *timestamp, timestamp + 1]);
    }
    for target in targets {
        assert_eq!(
            log.offset_for_timestamp(target).unwrap(),
            scan(&headers, target),
            "{context}: target {target}"
        );
    }
}

fn segment_bases(fs: &SimulatedFileSystem) -> Vec<i64> {
    let mut bases: Vec<i64> = fs
        .read_dir(&dir())
        .unwrap()
        .iter()
        .filter(|path| path.extension().is_some_and(|extension| extension == "log"))
        .map(|path| path.file_stem().unwrap().to_str().unwrap().parse().unwrap())
        .collect();
    bases.sort();
    bases
}

/// Parses a `.timeindex` file: 12-byte entries, timestamp i64 BE then relative offset u32 BE.
fn entries(bytes: &[u8]) -> Vec<(i64, u32)> {
    assert_eq!(bytes.len() % 12, 0, "whole entries only");
    bytes
        .chunks_exact(12)
        .map(|entry| {
            (
                i64::from_be_bytes(entry[0..8].try_into().unwrap()),
                u32::from_be_bytes(entry[8..12].try_into().unwrap()),
            )
        })
        .collect()
}

/// Builds a log of `count` batches over several segments; timestamps rise with jitter (so
/// some batches lower the running maximum), with a few far in the past and the future.
fn build(fs: &SimulatedFileSystem, count: u64) -> Log {
    let mut log = open(fs, small_config());
    for tag in 0..count {
        let jitter = (tag * 7919 % 13) as i64 * 5 - 30;
        let timestamp = match tag % 17 {
            3 => 5,
            11 => 100_000,
            _ => tag as i64 * 10 + jitter,
        };
        log.append(&mut batch(tag, 1 + tag as usize % 3, timestamp), 0, 0)
            .unwrap();
    }
    log.flush().unwrap();
    log
}

/// A fresh file system holding a copy of `fs`'s files, except those `skip` rejects.
fn copy_without(fs: &SimulatedFileSystem, skip: impl Fn(&PathBuf) -> bool) -> SimulatedFileSystem {
    let copy = SimulatedFileSystem::new();
    copy.create_dir_all(&dir()).unwrap();
    for path in fs.read_dir(&dir()).unwrap() {
        if !skip(&path) {
            copy.set_file_bytes(&path, fs.file_bytes(&path).unwrap());
        }
    }
    copy
}

/// Every entry of every `.timeindex` names a batch base whose max timestamp is the entry's,
/// entries strictly increase, and sealed segments with offset index entries have time entries.
#[test]
fn time_index_entries_describe_their_batches() {
    let fs = SimulatedFileSystem::new();
    let log = build(&fs, 200);
    let bases = segment_bases(&fs);
    assert!(bases.len() >= 5, "the test needs several segments");
    let bytes = read_all(&log, 0);
    let headers: Vec<_> = batches(&bytes).map(|item| item.unwrap().0).collect();
    let mut total_entries = 0;
    for base in &bases {
        let entries = entries(&fs.file_bytes(&time_index_path(*base)).unwrap());
        let index_bytes = fs.file_bytes(&common::index_path(*base)).unwrap();
        assert_eq!(index_bytes.is_empty(), entries.is_empty(), "segment {base}");
        for pair in entries.windows(2) {
            assert!(
                pair[0].0 < pair[1].0 && pair[0].1 < pair[1].1,
                "segment {base}"
            );
        }
        for (timestamp, relative_offset) in &entries {
            let offset = base + i64::from(*relative_offset);
            let header = headers
                .iter()
                .find(|header| header.base_offset == offset)
                .unwrap_or_else(|| panic!("segment {base}: no batch at {offset}"));
            assert_eq!(header.max_timestamp, *timestamp, "segment {base}");
            let earlier_max = headers
                .iter()
                .filter(|header| header.base_offset >= *base && header.base_offset < offset)
                .map(|header| header.max_timestamp)
                .max();
            assert!(
                earlier_max.is_none_or(|max| max < *timestamp),
                "segment {base}"
            );
        }
        total_entries += entries.len();
    }
    assert!(total_entries > bases.len(), "the test needs real entries");
}

/// ListOffsets by time no longer scans the log: a lookup reads a few index entries and batch
/// headers near the target, where the old scan read every header before it.
#[test]
fn offset_for_timestamp_reads_near_the_target_not_the_whole_log() {
    let fs = SimulatedFileSystem::new();
    let mut log = open(&fs, small_config());
    let mut timestamps = Vec::new();
    for tag in 0..600u64 {
        let timestamp = tag as i64 * 10;
        log.append(&mut batch(tag, 1, timestamp), 0, 0).unwrap();
        timestamps.push(timestamp);
    }
    assert!(
        segment_bases(&fs).len() > 30,
        "the test needs many segments"
    );
    let target = timestamps[550] - 3;
    let before = fs.reads_count();
    let found = log.offset_for_timestamp(target).unwrap();
    let reads = fs.reads_count() - before;
    assert_eq!(found, scan(&headers(&log), target));
    assert_eq!(found, Some((550, timestamps[550])));
    assert!(reads <= 20, "{reads} reads for one lookup in 600 batches");
}

/// Recovery rebuilds missing `.timeindex` files (as left by a version without them)
/// byte-identical to the ones appends wrote, in sealed and active segments.
#[test]
fn missing_time_indexes_are_rebuilt_identically() {
    let fs = SimulatedFileSystem::new();
    let log = build(&fs, 200);
    let bases = segment_bases(&fs);
    let originals: Vec<Vec<u8>> = bases
        .iter()
        .map(|base| fs.file_bytes(&time_index_path(*base)).unwrap())
        .collect();
    drop(log);
    let upgraded = copy_without(&fs, |path| {
        path.extension()
            .is_some_and(|extension| extension == "timeindex")
    });
    let log = open(&upgraded, small_config());
    for (base, original) in bases.iter().zip(&originals) {
        assert_eq!(
            &upgraded.file_bytes(&time_index_path(*base)).unwrap(),
            original,
            "segment {base}"
        );
    }
    check_against_scan(&log, "after rebuild");
}

/// A damaged `.timeindex` in a sealed segment (partial entry, garbage, entries out of order, a
/// last entry that lies about its batch, an entry past the segment, emptied) is detected and
/// rebuilt, and lookups stay right.
#[test]
fn damaged_time_indexes_are_rebuilt() {
    let fs = SimulatedFileSystem::new();
    build(&fs, 200);
    let bases = segment_bases(&fs);
    let sealed: Vec<i64> = bases[..bases.len() - 1]
        .iter()
        .copied()
        .filter(|base| fs.file_bytes(&time_index_path(*base)).unwrap().len() >= 24)
        .collect();
    assert!(!sealed.is_empty());
    type Damage = Box<dyn Fn(&mut Vec<u8>)>;
    let damages: Vec<Damage> = vec![
        Box::new(|bytes| bytes.push(1)),
        Box::new(|bytes| bytes.truncate(bytes.len() - 5)),
        Box::new(|bytes| bytes.iter_mut().for_each(|byte| *byte = 0xff)),
        Box::new(|bytes| {
            let (first, second) = bytes.split_at_mut(12);
            first.swap_with_slice(&mut second[..12]);
        }),
        Box::new(|bytes| {
            let last = bytes.len() - 12;
            bytes[last + 7] = bytes[last + 7].wrapping_add(1);
        }),
        Box::new(|bytes| {
            let last = bytes.len() - 12;
            bytes[last + 8] = 0x7f;
        }),
        Box::new(|bytes| bytes.clear()),
    ];
    for base in &sealed {
        let path = time_index_path(*base);
        let original = fs.file_bytes(&path).unwrap();
        for (number, damage) in damages.iter().enumerate() {
            let damaged = copy_without(&fs, |_| false);
            let mut bytes = original.clone();
            damage(&mut bytes);
            damaged.set_file_bytes(&path, bytes);
            let log = open(&damaged, small_config());
            assert_eq!(
                damaged.file_bytes(&path).unwrap(),
                original,
                "segment {base} damage {number}"
            );
            check_against_scan(&log, &format!("segment {base} damage {number}"));
        }
    }
}

/// A `.timeindex` without its `.log` (a crash part-way through removing a segment) is removed.
#[test]
fn orphan_time_index_is_removed() {
    let fs = SimulatedFileSystem::new();
    build(&fs, 20);
    let orphan = time_index_path(1_000_000);
    fs.set_file_bytes(&orphan, vec![0; 12]);
    let log = open(&fs, small_config());
    assert!(!fs.exists(&orphan));
    check_against_scan(&log, "after removing an orphan");
}

/// One randomly shaped log: batches of 1–3 records with timestamps that either rise with
/// jitter or jump around, an index interval, a truncation point, and batches appended after it.
fn log_shapes() -> impl Strategy<Value = (Vec<(usize, i64)>, bool, u32, usize, usize)> {
    (
        proptest::collection::vec((1usize..4, 0i64..100), 1..120),
        any::<bool>(),
        prop_oneof![Just(64u32), Just(128), Just(512)],
        any::<usize>(),
        0usize..20,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// On random logs, through appends, a truncation, more appends, a restart, and a rebuild of
    /// every time index, offset_for_timestamp gives exactly the scan's answer, and no time index
    /// entry survives past a truncation point.
    #[test]
    fn offset_for_timestamp_matches_a_scan(
        (shape, rising, index_interval_bytes, cut, appended_after) in log_shapes()
    ) {
        let config = LogConfig { index_interval_bytes, ..small_config() };
        let fs = SimulatedFileSystem::new();
        let mut log = open(&fs, config.clone());
        let mut bases = Vec::new();
        for (number, (count, jitter)) in shape.iter().enumerate() {
            let timestamp = if rising { number as i64 * 10 + jitter / 5 } else { jitter * 10 };
            let info = log.append(&mut batch(number as u64, *count, timestamp), 0, 0).unwrap();
            bases.push(info.base_offset);
        }
        check_against_scan(&log, "after appends");

        let offset = bases[cut % bases.len()];
        log.truncate_to(offset).unwrap();
        for base in segment_bases(&fs) {
            for (_, relative_offset) in entries(&fs.file_bytes(&time_index_path(base)).unwrap()) {
                prop_assert!(base + i64::from(relative_offset) < offset, "entry past the cut");
            }
        }
        check_against_scan(&log, "after truncation");

        for number in 0..appended_after {
            let timestamp = if rising { 2_000 + number as i64 * 10 } else { (number as i64 * 37) % 900 };
            log.append(&mut batch(10_000 + number as u64, 1 + number % 3, timestamp), 0, 0).unwrap();
        }
        check_against_scan(&log, "after appending again");

        drop(log);
        let log = open(&fs, config.clone());
        check_against_scan(&log, "after a restart");
        drop(log);

        let rebuilt = copy_without(&fs, |path| {
            path.extension().is_some_and(|extension| extension == "timeindex")
        });
        let log = open(&rebuilt, config);
        check_against_scan(&log, "after a rebuild");
    }
}
