//! YAK's storage engine: per partition, a segmented append-only log of Kafka v2 record batches,
//! stored exactly as they travel on the wire.
//!
//! Map of the modules, from the bytes up:
//! - [`batch`]: the 61-byte v2 batch header, the one definition of its layout: parse, write,
//!   validate (CRC-32C), [`ValidBatch`] (a client's batch checked once, records included), patch
//!   the base offset and leader epoch, iterate concatenated batches.
//! - [`record`]: encode an uncompressed batch from records (the HTTP produce path), decode the
//!   records of a batch, check that they agree with its header.
//! - [`compression`]: decompress the records section of a batch a Kafka client compressed.
//! - [`file`]: the seam to the disk: [`FileSystem`]/[`LogFile`], the real [`OsFileSystem`] and a
//!   [`SimulatedFileSystem`] that crashes, tears writes, fails fsyncs and fills up.
//! - [`index`]: the sparse offset index of a segment.
//! - [`time_index`]: the sparse time index of a segment (for ListOffsets by timestamp).
//! - [`segment`]: one `.log` + `.index` + `.timeindex` triple, and the recovery of one segment.
//! - [`checkpoint`]: the files that make restarts cheap: the recovery point, the clean-shutdown
//!   marker, producer-state snapshots; and the high-watermark checkpoint.
//! - [`leader_epoch`]: the leader-epoch cache (epoch → start offset) and its
//!   `leader-epoch-checkpoint` file, which replication's truncation by epoch stands on.
//! - [`log`]: [`Log`], the segments of a partition: append, read, roll, recovery, flush.
//! - [`error`]: [`LogError`] and [`BatchError`].
//!
//! The byte formats, the recovery rules and the group-commit contract are in
//! `docs/log-format.md`.

pub mod batch;
pub mod checkpoint;
pub mod compression;
pub mod error;
pub mod file;
pub mod index;
pub mod leader_epoch;
pub mod log;
pub mod record;
pub mod segment;
pub mod time_index;

pub use batch::{
    batches, validate, BatchHeader, Batches, Compression, ValidBatch, BATCH_HEADER_BYTES,
};
pub use error::{BatchError, BatchErrorKind, FlushPolicyParseError, LogError};
pub use file::{FileSystem, LogFile, OsFileSystem, SimulatedFileSystem, SimulatedOperation};
pub use leader_epoch::{EpochEntry, UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET};
pub use log::{AppendInfo, FlushPolicy, Log, LogConfig, Retention, RetentionOutcome, SyncTarget};
pub use record::{
    decode_batch, encode_batch, encode_valid_batch, records, Record, RecordIter, RecordToWrite,
};
