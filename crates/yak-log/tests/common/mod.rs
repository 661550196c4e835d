//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use yak_log::{encode_batch, FileSystem, Log, LogConfig, RecordToWrite, SimulatedFileSystem};

pub fn dir() -> PathBuf {
    PathBuf::from("/data/topic-0")
}

/// A config with tiny segments and index intervals so tests exercise rolls and the index.
pub fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes_max: 1024,
        segment_ms_max: 1_000_000,
        index_interval_bytes: 128,
        ..LogConfig::default()
    }
}

/// An uncompressed batch of `count` records whose values name `tag` and their index.
pub fn batch(tag: u64, count: usize, timestamp_ms: i64) -> Vec<u8> {
    let values: Vec<Vec<u8>> = (0..count)
        .map(|index| format!("value-{tag}-{index}").into_bytes())
        .collect();
    let keys: Vec<Vec<u8>> = (0..count)
        .map(|index| format!("k{index}").into_bytes())
        .collect();
    let records: Vec<RecordToWrite<'_>> = (0..count)
        .map(|index| RecordToWrite {
            key: Some(&keys[index]),
            value: Some(&values[index]),
            headers: &[],
            timestamp_ms: timestamp_ms + index as i64,
        })
        .collect();
    let mut out = Vec::new();
    encode_batch(&records, &mut out);
    out
}

pub fn open(fs: &SimulatedFileSystem, config: LogConfig) -> Log {
    let fs: Arc<dyn FileSystem> = Arc::new(fs.clone());
    Log::open(fs, &dir(), config).unwrap()
}

pub fn log_path(base_offset: i64) -> PathBuf {
    dir().join(format!("{base_offset:020}.log"))
}

pub fn index_path(base_offset: i64) -> PathBuf {
    dir().join(format!("{base_offset:020}.index"))
}

/// Reads every batch from `offset` to the log end, one read at a time.
pub fn read_all(log: &Log, from_offset: i64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offset = from_offset;
    while offset < log.log_end_offset() {
        let bytes = log.read(offset, 1 << 20, i64::MAX).unwrap();
        assert!(!bytes.is_empty(), "read at {offset} returned nothing");
        for item in yak_log::batches(&bytes) {
            let (header, _) = item.unwrap();
            offset = header.last_offset() + 1;
        }
        out.extend_from_slice(&bytes);
    }
    out
}

pub fn segment_files(fs: &SimulatedFileSystem, dir: &Path) -> Vec<PathBuf> {
    fs.read_dir(dir).unwrap()
}
