//! Error types: `BatchError` for malformed record batches (each variant maps to one Kafka error
//! code in the front-end), `LogError` for everything the log itself can fail at.

use std::io;
use std::path::PathBuf;

use crate::batch::Compression;
pub use crate::compression::DecompressError;

/// Why a byte slice is not a valid Kafka v2 record batch (or record inside one).
///
/// The variants stay distinct, and [`BatchError::kind`] sorts them into the classes the
/// front-ends answer with (Kafka's CORRUPT_MESSAGE, INVALID_RECORD and
/// UNSUPPORTED_COMPRESSION_TYPE), so nobody has to read an error's text to pick a code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("record batch too short: {available_bytes} bytes, at least {needed_bytes} needed")]
    TooShort {
        needed_bytes: usize,
        available_bytes: usize,
    },
    #[error("record batch length field {batch_length} is invalid (at least 49 is required)")]
    BadBatchLength { batch_length: i32 },
    #[error("record batch declares {declared_bytes} bytes but {actual_bytes} bytes were given")]
    LengthMismatch {
        declared_bytes: usize,
        actual_bytes: usize,
    },
    #[error("record batch magic {0} is not supported (only 2)")]
    BadMagic(i8),
    #[error("record batch CRC-32C mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    #[error("record batch last_offset_delta {last_offset_delta} does not match records_count {records_count}")]
    InvalidRecordCount {
        last_offset_delta: i32,
        records_count: i32,
    },
    #[error("record batch uses unknown compression codec {0}")]
    UnknownCompression(i16),
    #[error("record batch is compressed with {0:?}; decompress it before decoding records")]
    Compressed(Compression),
    #[error("malformed record: {0}")]
    RecordMalformed(&'static str),
    #[error("record batch declares {records_count} records but holds {records_found}")]
    RecordCountMismatch {
        records_count: i32,
        records_found: i32,
    },
    #[error(
        "{bytes_left} bytes follow the last of the {records_count} records the batch declares"
    )]
    BytesAfterLastRecord {
        records_count: i32,
        bytes_left: usize,
    },
    #[error("record has offset delta {found}, expected {expected}")]
    OffsetDeltaMismatch { expected: i64, found: i64 },
    #[error(transparent)]
    Decompress(#[from] DecompressError),
}

/// The classes of [`BatchError`], as a front-end answers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchErrorKind {
    /// The bytes are damaged or cut: framing, magic, CRC, undecodable records or compressed
    /// data (Kafka's CORRUPT_MESSAGE).
    Corrupt,
    /// The bytes are intact but say something invalid: counts or offset deltas that disagree
    /// with the header, more than one batch where one is expected (Kafka's INVALID_RECORD).
    Invalid,
    /// The codec is not one Kafka defines (Kafka's UNSUPPORTED_COMPRESSION_TYPE).
    UnsupportedCompression,
}

impl BatchError {
    pub fn kind(&self) -> BatchErrorKind {
        match self {
            BatchError::TooShort { .. }
            | BatchError::BadBatchLength { .. }
            | BatchError::BadMagic(_)
            | BatchError::CrcMismatch { .. }
            | BatchError::RecordMalformed(_)
            | BatchError::Decompress(_) => BatchErrorKind::Corrupt,
            // Declaring fewer bytes than were sent means more than one batch (or trailing
            // garbage after an intact one); declaring more means the batch was cut.
            BatchError::LengthMismatch {
                declared_bytes,
                actual_bytes,
            } => {
                if declared_bytes < actual_bytes {
                    BatchErrorKind::Invalid
                } else {
                    BatchErrorKind::Corrupt
                }
            }
            BatchError::InvalidRecordCount { .. }
            | BatchError::RecordCountMismatch { .. }
            | BatchError::BytesAfterLastRecord { .. }
            | BatchError::OffsetDeltaMismatch { .. }
            | BatchError::Compressed(_) => BatchErrorKind::Invalid,
            BatchError::UnknownCompression(_) => BatchErrorKind::UnsupportedCompression,
        }
    }
}

/// Why a log operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The log saw a failed fsync (or a failure it cannot undo) and refuses further writes:
    /// after a failed fsync the kernel may have dropped dirty pages, so only reopening the log
    /// (which runs recovery against what is really on disk) is safe.
    #[error("log has failed and must be reopened")]
    Failed,
    /// The log was closed cleanly (its clean-shutdown marker is written) and takes no more
    /// calls.
    #[error("log is closed")]
    Closed,
    #[error("{operation} {path}: {source}")]
    Io {
        operation: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error("record batch of {batch_bytes} bytes exceeds batch_bytes_max {batch_bytes_max}")]
    BatchTooLarge {
        batch_bytes: usize,
        batch_bytes_max: u32,
    },
    #[error("offset {offset} is out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start_offset: i64,
        log_end_offset: i64,
    },
    #[error("replicated batch has base offset {found}, expected {expected}")]
    NonContiguous { expected: i64, found: i64 },
    #[error("offset {0} is not at a record batch boundary")]
    NotBatchBoundary(i64),
    #[error("invalid log configuration: {0}")]
    InvalidConfig(String),
    /// `Log::assign_epoch` with a negative epoch, or a start offset outside the log.
    #[error("leader epoch {epoch} cannot start at offset {start_offset}: epochs are >= 0 and start within [{log_start_offset}, {log_end_offset}]")]
    InvalidLeaderEpoch {
        epoch: i32,
        start_offset: i64,
        log_start_offset: i64,
        log_end_offset: i64,
    },
    /// `Log::write_high_watermark` with a value the log cannot have committed.
    #[error("high watermark {high_watermark} is outside [0, {log_end_offset}]")]
    HighWatermarkOutOfRange {
        high_watermark: i64,
        log_end_offset: i64,
    },
    /// Damage that recovery must not repair by truncating (it lies below the durable point, in a
    /// sealed segment); the partition needs repair from a replica.
    #[error("log corrupt in {path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
}

impl LogError {
    pub(crate) fn io(operation: &'static str, path: &std::path::Path, source: io::Error) -> Self {
        LogError::Io {
            operation,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A flush policy string that is none of `always`, `never`, `interval:MS`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid flush policy {0:?}: expected \"always\", \"never\" or \"interval:MS\"")]
pub struct FlushPolicyParseError(pub String);
