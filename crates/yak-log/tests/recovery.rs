//! Recovery on open: torn tails, flipped bytes, missing and damaged indexes.

use yak_log::{batches, FileSystem, LogError, SimulatedFileSystem};

mod common;
use common::{batch, dir, open, small_config};

/// Builds a flushed log of several segments; returns the file system, every stored batch
/// (patched) in order, and the base offset of the active segment.
fn build() -> (SimulatedFileSystem, Vec<Vec<u8>>, i64) {
    let fs = SimulatedFileSystem::new();
    let mut log = open(&fs, small_config());
    let mut stored = Vec::new();
    for tag in 0..25u64 {
        let mut bytes = batch(tag, 1 + tag as usize % 3, 0);
        log.append(&mut bytes, 2, 0).unwrap();
        stored.push(bytes);
    }
    log.flush().unwrap();
    let logs = log_files(&fs);
    let active_base = logs.last().copied().unwrap();
    (fs, stored, active_base)
}

fn log_files(fs: &SimulatedFileSystem) -> Vec<i64> {
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

/// A fresh file system holding a copy of `fs`'s files.
fn copy(fs: &SimulatedFileSystem) -> SimulatedFileSystem {
    let copy = SimulatedFileSystem::new();
    copy.create_dir_all(&dir()).unwrap();
    for path in fs.read_dir(&dir()).unwrap() {
        copy.set_file_bytes(&path, fs.file_bytes(&path).unwrap());
    }
    copy
}

/// Removes the recovery-point checkpoint, as in a log written before checkpoints existed or
/// whose checkpoint file was damaged: sealed segments then get their index checked on open.
fn without_recovery_point(fs: &SimulatedFileSystem) {
    fs.remove_file(&dir().join(yak_log::checkpoint::RECOVERY_POINT_FILE_NAME))
        .unwrap();
}

fn base_of(bytes: &[u8]) -> i64 {
    yak_log::validate(bytes).unwrap().base_offset
}

/// Cutting the active segment at every byte of its last batch drops exactly that batch: all
/// earlier batches stay, the log end offset becomes its base, and appends continue there.
#[test]
fn recovery_after_truncating_the_last_batch_at_every_byte() {
    let (fs, stored, active_base) = build();
    let last = stored.last().unwrap();
    let last_base = base_of(last);
    let active_path = common::log_path(active_base);
    let active_bytes = fs.file_bytes(&active_path).unwrap();
    let last_start = active_bytes.len() - last.len();
    let earlier: Vec<u8> = stored[..stored.len() - 1].concat();
    for cut in last_start..active_bytes.len() {
        let damaged = copy(&fs);
        damaged.set_file_bytes(&active_path, active_bytes[..cut].to_vec());
        let mut log = open(&damaged, small_config());
        assert_eq!(log.log_end_offset(), last_base, "cut at {cut}");
        assert_eq!(common::read_all(&log, 0), earlier, "cut at {cut}");
        assert_eq!(damaged.file_bytes(&active_path).unwrap().len(), last_start);
        let info = log.append(&mut batch(99, 2, 0), 2, 0).unwrap();
        assert_eq!(info.base_offset, last_base);
        assert_eq!(log.log_end_offset(), last_base + 2);
    }
}

/// Flipping any byte a batch's checks cover (everything except the leader epoch, which is
/// outside the CRC by Kafka's design) drops that batch and everything after it, nothing before.
#[test]
fn recovery_after_flipping_a_byte_drops_that_batch_and_after() {
    let (fs, stored, active_base) = build();
    let active_path = common::log_path(active_base);
    let active_bytes = fs.file_bytes(&active_path).unwrap();
    // The batches of the active segment, with their positions in the file.
    let mut in_active = Vec::new();
    let mut position = 0;
    for item in batches(&active_bytes) {
        let (header, bytes) = item.unwrap();
        in_active.push((position, header.base_offset));
        position += bytes.len();
    }
    assert!(
        in_active.len() >= 3,
        "need batches before and after the damaged one"
    );
    let (damaged_position, damaged_base) = in_active[1];
    let damaged_bytes = stored
        .iter()
        .find(|bytes| base_of(bytes) == damaged_base)
        .unwrap()
        .len();
    let before: Vec<u8> = stored
        .iter()
        .filter(|bytes| base_of(bytes) < damaged_base)
        .flatten()
        .copied()
        .collect();
    for byte in (0..damaged_bytes).filter(|byte| !(12..16).contains(byte)) {
        for flip in [0x01u8, 0x80] {
            let damaged = copy(&fs);
            let mut bytes = active_bytes.clone();
            bytes[damaged_position + byte] ^= flip;
            damaged.set_file_bytes(&active_path, bytes);
            let log = open(&damaged, small_config());
            assert_eq!(
                log.log_end_offset(),
                damaged_base,
                "byte {byte} flip {flip:#x}"
            );
            assert_eq!(
                common::read_all(&log, 0),
                before,
                "byte {byte} flip {flip:#x}"
            );
        }
    }
}

/// Without a recovery point, deleting every index file makes open rebuild them identically; reads still find every offset.
#[test]
fn recovery_rebuilds_deleted_indexes() {
    let (fs, stored, _) = build();
    let bases = log_files(&fs);
    let damaged = copy(&fs);
    without_recovery_point(&damaged);
    let mut originals = Vec::new();
    for base in &bases {
        let path = common::index_path(*base);
        originals.push(fs.file_bytes(&path).unwrap());
        damaged.remove_file(&path).unwrap();
    }
    assert!(
        originals.iter().any(|bytes| !bytes.is_empty()),
        "the test needs real index entries"
    );
    let log = open(&damaged, small_config());
    for (base, original) in bases.iter().zip(&originals) {
        assert_eq!(
            &damaged.file_bytes(&common::index_path(*base)).unwrap(),
            original
        );
    }
    assert_eq!(common::read_all(&log, 0), stored.concat());
    for offset in 0..log.log_end_offset() {
        let bytes = log.read(offset, 1, i64::MAX).unwrap();
        let (header, _) = batches(&bytes).next().unwrap().unwrap();
        assert!(header.base_offset <= offset && offset <= header.last_offset());
    }
}

/// Without a recovery point, damaged indexes (garbage entries, a partial entry, out-of-order
/// entries, an entry pointing at the wrong batch) are detected and rebuilt, in sealed and active
/// segments alike.
#[test]
fn recovery_rebuilds_corrupted_indexes() {
    let (fs, stored, _) = build();
    let bases = log_files(&fs);
    let with_entries: Vec<i64> = bases
        .iter()
        .copied()
        .filter(|base| fs.file_bytes(&common::index_path(*base)).unwrap().len() >= 16)
        .collect();
    assert!(!with_entries.is_empty());
    type Damage = Box<dyn Fn(&mut Vec<u8>)>;
    let damages: Vec<Damage> = vec![
        Box::new(|bytes| bytes[5] ^= 0x40),
        Box::new(|bytes| bytes.push(7)),
        Box::new(|bytes| bytes.truncate(bytes.len() - 3)),
        Box::new(|bytes| {
            let (first, second) = bytes.split_at_mut(8);
            first.swap_with_slice(&mut second[..8]);
        }),
        Box::new(|bytes| bytes[7] = bytes[7].wrapping_add(1)),
        Box::new(|bytes| bytes[3] = bytes[3].wrapping_add(1)),
        Box::new(|bytes| bytes.iter_mut().for_each(|byte| *byte = 0xff)),
    ];
    for base in &with_entries {
        let path = common::index_path(*base);
        let original = fs.file_bytes(&path).unwrap();
        for (number, damage) in damages.iter().enumerate() {
            let damaged = copy(&fs);
            without_recovery_point(&damaged);
            let mut bytes = original.clone();
            damage(&mut bytes);
            damaged.set_file_bytes(&path, bytes);
            let log = open(&damaged, small_config());
            assert_eq!(
                damaged.file_bytes(&path).unwrap(),
                original,
                "segment {base} damage {number}"
            );
            assert_eq!(common::read_all(&log, 0), stored.concat());
        }
    }
}

/// Without a recovery point, damage inside a sealed segment is corruption below the durable
/// point: open refuses it instead of silently truncating committed data.
#[test]
fn recovery_refuses_to_truncate_a_sealed_segment() {
    let (fs, _, _) = build();
    let first = common::log_path(0);
    let damaged = copy(&fs);
    without_recovery_point(&damaged);
    let mut bytes = fs.file_bytes(&first).unwrap();
    bytes.truncate(bytes.len() - 10);
    damaged.set_file_bytes(&first, bytes);
    let result = yak_log::Log::open(std::sync::Arc::new(damaged), &dir(), small_config());
    assert!(
        matches!(result, Err(LogError::Corrupt { .. })),
        "{result:?}"
    );
}

/// Garbage files in the directory are ignored, and an index without its log is removed.
#[test]
fn recovery_ignores_strangers_and_removes_orphan_indexes() {
    let (fs, stored, _) = build();
    let damaged = copy(&fs);
    damaged.set_file_bytes(&dir().join("notes.txt"), b"hello".to_vec());
    let orphan = common::index_path(1_000_000);
    damaged.set_file_bytes(&orphan, vec![0; 8]);
    let log = open(&damaged, small_config());
    assert!(!damaged.exists(&orphan));
    assert_eq!(common::read_all(&log, 0), stored.concat());
}
