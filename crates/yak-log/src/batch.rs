//! The Kafka v2 `RecordBatch` header: parse, validate, patch, and iterate concatenated batches.
//!
//! Layout (big-endian), as on the wire and on disk:
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 8 | base_offset (patched by the broker, outside the CRC) |
//! | 8 | 4 | batch_length = total bytes − 12 |
//! | 12 | 4 | partition_leader_epoch (patched by the broker, outside the CRC) |
//! | 16 | 1 | magic = 2 |
//! | 17 | 4 | crc: CRC-32C over bytes 21..end |
//! | 21 | 2 | attributes |
//! | 23 | 4 | last_offset_delta |
//! | 27 | 8 | base_timestamp |
//! | 35 | 8 | max_timestamp |
//! | 43 | 8 | producer_id |
//! | 51 | 2 | producer_epoch |
//! | 53 | 4 | base_sequence |
//! | 57 | 4 | records_count |
//! | 61 | … | records (possibly compressed) |

use crate::error::BatchError;

/// Size of the fixed v2 batch header; the records start right after it.
pub const BATCH_HEADER_BYTES: usize = 61;
/// The bytes before `batch_length` counts: base_offset (8) + batch_length (4).
pub const BATCH_LENGTH_PREFIX_BYTES: usize = 12;
/// Smallest legal `batch_length`: a header with no records.
pub const BATCH_LENGTH_MIN: i32 = (BATCH_HEADER_BYTES - BATCH_LENGTH_PREFIX_BYTES) as i32;
/// Where the CRC-covered part of a batch starts (the attributes).
pub const CRC_START_BYTES: usize = ATTRIBUTES_AT;

// Where each header field starts: the one definition of the layout in the table above. Every
// other crate reads and writes headers through `BatchHeader`, never through these numbers.
const BASE_OFFSET_AT: usize = 0;
const BATCH_LENGTH_AT: usize = 8;
const PARTITION_LEADER_EPOCH_AT: usize = 12;
const MAGIC_AT: usize = 16;
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const LAST_OFFSET_DELTA_AT: usize = 23;
const BASE_TIMESTAMP_AT: usize = 27;
const MAX_TIMESTAMP_AT: usize = 35;
const PRODUCER_ID_AT: usize = 43;
const PRODUCER_EPOCH_AT: usize = 51;
const BASE_SEQUENCE_AT: usize = 53;
const RECORDS_COUNT_AT: usize = 57;

/// The only batch format YAK stores.
pub const MAGIC_V2: i8 = 2;
const COMPRESSION_MASK: i16 = 0x07;
const TRANSACTIONAL_FLAG: i16 = 0x10;
const CONTROL_FLAG: i16 = 0x20;

/// Compression codec named by attribute bits 0..2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
    /// Codec ids 5..7 are not defined by Kafka; `validate` rejects them.
    Unknown(i16),
}

/// The fixed 61-byte header of a v2 record batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

fn read_i64(buf: &[u8], at: usize) -> i64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&buf[at..at + 8]);
    i64::from_be_bytes(bytes)
}

fn read_i32(buf: &[u8], at: usize) -> i32 {
    let mut bytes = [0u8; 4];
    bytes.copy_from_slice(&buf[at..at + 4]);
    i32::from_be_bytes(bytes)
}

fn read_i16(buf: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([buf[at], buf[at + 1]])
}

impl BatchHeader {
    /// Parses the header fields of the batch at the start of `buf`.
    ///
    /// Checks only what is needed to trust the length before allocating or skipping: that 61
    /// bytes are present, that `batch_length` is at least a header, and that magic is 2. The CRC
    /// and the record count are checked by [`validate`].
    pub fn parse(buf: &[u8]) -> Result<BatchHeader, BatchError> {
        if buf.len() < BATCH_HEADER_BYTES {
            return Err(BatchError::TooShort {
                needed_bytes: BATCH_HEADER_BYTES,
                available_bytes: buf.len(),
            });
        }
        let magic = buf[MAGIC_AT] as i8;
        if magic != MAGIC_V2 {
            return Err(BatchError::BadMagic(magic));
        }
        let batch_length = read_i32(buf, BATCH_LENGTH_AT);
        if batch_length < BATCH_LENGTH_MIN {
            return Err(BatchError::BadBatchLength { batch_length });
        }
        Ok(BatchHeader {
            base_offset: read_i64(buf, BASE_OFFSET_AT),
            batch_length,
            partition_leader_epoch: read_i32(buf, PARTITION_LEADER_EPOCH_AT),
            magic,
            crc: read_i32(buf, CRC_AT) as u32,
            attributes: read_i16(buf, ATTRIBUTES_AT),
            last_offset_delta: read_i32(buf, LAST_OFFSET_DELTA_AT),
            base_timestamp: read_i64(buf, BASE_TIMESTAMP_AT),
            max_timestamp: read_i64(buf, MAX_TIMESTAMP_AT),
            producer_id: read_i64(buf, PRODUCER_ID_AT),
            producer_epoch: read_i16(buf, PRODUCER_EPOCH_AT),
            base_sequence: read_i32(buf, BASE_SEQUENCE_AT),
            records_count: read_i32(buf, RECORDS_COUNT_AT),
        })
    }

    /// Writes every field except the CRC into the first 61 bytes of `buf`; call [`seal`]
    /// afterwards to fill in the CRC over the finished batch.
    ///
    /// Panics if `buf` is shorter than a header: callers size the buffer first.
    pub fn write(&self, buf: &mut [u8]) {
        let header = &mut buf[..BATCH_HEADER_BYTES];
        header[BASE_OFFSET_AT..BATCH_LENGTH_AT].copy_from_slice(&self.base_offset.to_be_bytes());
        header[BATCH_LENGTH_AT..PARTITION_LEADER_EPOCH_AT]
            .copy_from_slice(&self.batch_length.to_be_bytes());
        header[PARTITION_LEADER_EPOCH_AT..MAGIC_AT]
            .copy_from_slice(&self.partition_leader_epoch.to_be_bytes());
        header[MAGIC_AT] = self.magic as u8;
        header[ATTRIBUTES_AT..LAST_OFFSET_DELTA_AT].copy_from_slice(&self.attributes.to_be_bytes());
        header[LAST_OFFSET_DELTA_AT..BASE_TIMESTAMP_AT]
            .copy_from_slice(&self.last_offset_delta.to_be_bytes());
        header[BASE_TIMESTAMP_AT..MAX_TIMESTAMP_AT]
            .copy_from_slice(&self.base_timestamp.to_be_bytes());
        header[MAX_TIMESTAMP_AT..PRODUCER_ID_AT].copy_from_slice(&self.max_timestamp.to_be_bytes());
        header[PRODUCER_ID_AT..PRODUCER_EPOCH_AT].copy_from_slice(&self.producer_id.to_be_bytes());
        header[PRODUCER_EPOCH_AT..BASE_SEQUENCE_AT]
            .copy_from_slice(&self.producer_epoch.to_be_bytes());
        header[BASE_SEQUENCE_AT..RECORDS_COUNT_AT]
            .copy_from_slice(&self.base_sequence.to_be_bytes());
        header[RECORDS_COUNT_AT..BATCH_HEADER_BYTES]
            .copy_from_slice(&self.records_count.to_be_bytes());
    }

    /// Bytes of the whole batch, header included: `12 + batch_length`.
    pub fn total_bytes(&self) -> usize {
        // parse() guarantees batch_length >= 49, so the cast cannot wrap.
        BATCH_LENGTH_PREFIX_BYTES + self.batch_length as usize
    }

    /// Offset of the last record: `base_offset + last_offset_delta`.
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .wrapping_add(i64::from(self.last_offset_delta))
    }

    pub fn compression(&self) -> Compression {
        match self.attributes & COMPRESSION_MASK {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            other => Compression::Unknown(other),
        }
    }

    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_FLAG != 0
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_FLAG != 0
    }
}

/// Checks that `buf` is exactly one whole, intact batch and returns its header.
///
/// Checks lengths, magic 2, the CRC-32C over bytes 21..end, a known codec, and
/// `last_offset_delta + 1 == records_count > 0`. It does not look at the records: this is the
/// check for bytes that were fully checked once already (recovery, replication), where the CRC
/// catches disk and transport damage. A client's batch goes through [`ValidBatch::new`], which
/// also checks that the records agree with this header.
pub fn validate(buf: &[u8]) -> Result<BatchHeader, BatchError> {
    let header = BatchHeader::parse(buf)?;
    if header.total_bytes() != buf.len() {
        return Err(BatchError::LengthMismatch {
            declared_bytes: header.total_bytes(),
            actual_bytes: buf.len(),
        });
    }
    let computed = crc32c::crc32c(&buf[CRC_START_BYTES..]);
    if computed != header.crc {
        return Err(BatchError::CrcMismatch {
            stored: header.crc,
            computed,
        });
    }
    if let Compression::Unknown(codec) = header.compression() {
        return Err(BatchError::UnknownCompression(codec));
    }
    if header.records_count <= 0
        || i64::from(header.last_offset_delta) + 1 != i64::from(header.records_count)
    {
        return Err(BatchError::InvalidRecordCount {
            last_offset_delta: header.last_offset_delta,
            records_count: header.records_count,
        });
    }
    Ok(header)
}

/// Computes the CRC-32C over bytes 21..end and writes it into the header; returns it.
///
/// Panics if `buf` is shorter than a header: callers seal only batches they built.
pub fn seal(buf: &mut [u8]) -> u32 {
    let crc = crc32c::crc32c(&buf[CRC_START_BYTES..]);
    buf[CRC_AT..ATTRIBUTES_AT].copy_from_slice(&crc.to_be_bytes());
    crc
}

/// Writes `base_offset` into bytes 0..8. These bytes are outside the CRC, so no recomputation.
///
/// Panics if `buf` is shorter than 8 bytes: callers patch only batches they validated.
pub fn set_base_offset(buf: &mut [u8], base_offset: i64) {
    buf[BASE_OFFSET_AT..BATCH_LENGTH_AT].copy_from_slice(&base_offset.to_be_bytes());
}

/// Writes the partition leader epoch into bytes 12..16 (outside the CRC).
///
/// Panics if `buf` is shorter than 16 bytes: callers patch only batches they validated.
pub fn set_partition_leader_epoch(buf: &mut [u8], epoch: i32) {
    buf[PARTITION_LEADER_EPOCH_AT..MAGIC_AT].copy_from_slice(&epoch.to_be_bytes());
}

/// A batch that passed every check a client's batch gets: [`validate`] (framing, CRC-32C,
/// header fields) and its records agree with its header (see [`ValidBatch::new`]).
///
/// Only `new` (and the encoder, whose output is correct by construction) build one, so holding
/// a `ValidBatch` is the proof: the produce path checks a batch once, where it enters, and the
/// partition and the log append it without parsing or CRC-checking it again.
#[derive(Debug)]
pub struct ValidBatch<'a> {
    bytes: &'a mut [u8],
    header: BatchHeader,
}

impl<'a> ValidBatch<'a> {
    /// Checks `bytes` as one client batch: everything [`validate`] checks, then the records.
    ///
    /// The records must agree with the header: exactly `records_count` records whose lengths
    /// fill the records section to its last byte, with offset deltas 0, 1, … in order, each
    /// record's fields inside its length. A compressed batch is decompressed (at most
    /// [`crate::compression::DECOMPRESSED_BYTES_MAX`]) to check the same, as Kafka does;
    /// it is stored compressed.
    pub fn new(bytes: &'a mut [u8]) -> Result<ValidBatch<'a>, BatchError> {
        let header = validate(bytes)?;
        let body = &bytes[BATCH_HEADER_BYTES..];
        match header.compression() {
            Compression::None => crate::record::check_records(&header, body)?,
            codec => {
                let decompressed = crate::compression::decompress(codec, body)?;
                crate::record::check_records(&header, &decompressed)?;
            }
        }
        Ok(ValidBatch { bytes, header })
    }

    /// Wraps a batch the encoder just built; debug builds check it anyway.
    pub(crate) fn encoded(bytes: &'a mut [u8], header: BatchHeader) -> ValidBatch<'a> {
        debug_assert_eq!(validate(bytes), Ok(header), "the encoder built a bad batch");
        ValidBatch { bytes, header }
    }

    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    pub fn bytes(&self) -> &[u8] {
        self.bytes
    }

    /// Bytes of the whole batch.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Always false: a valid batch holds at least one record.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Assigns the batch its place in a log: patches base offset and leader epoch in the bytes
    /// (outside the CRC, so it stays valid) and in the header.
    pub fn place(&mut self, base_offset: i64, partition_leader_epoch: i32) {
        set_base_offset(self.bytes, base_offset);
        set_partition_leader_epoch(self.bytes, partition_leader_epoch);
        self.header.base_offset = base_offset;
        self.header.partition_leader_epoch = partition_leader_epoch;
    }
}

/// Iterator over concatenated whole batches in a byte slice.
///
/// Parses headers only (no CRC check) so serving reads stays cheap; use [`validate`] on each
/// item when the bytes are untrusted. After the first error item the iterator ends.
#[derive(Debug, Clone)]
pub struct Batches<'a> {
    buf: &'a [u8],
    position: usize,
    failed: bool,
}

/// Iterates the whole batches concatenated in `buf`; a trailing partial batch is an error item.
pub fn batches(buf: &[u8]) -> Batches<'_> {
    Batches {
        buf,
        position: 0,
        failed: false,
    }
}

impl<'a> Batches<'a> {
    /// Bytes consumed so far: the position just past the last batch yielded.
    pub fn position(&self) -> usize {
        self.position
    }
}

impl<'a> Iterator for Batches<'a> {
    type Item = Result<(BatchHeader, &'a [u8]), BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.position >= self.buf.len() {
            return None;
        }
        let rest = &self.buf[self.position..];
        let header = match BatchHeader::parse(rest) {
            Ok(header) => header,
            Err(error) => {
                self.failed = true;
                return Some(Err(error));
            }
        };
        let total_bytes = header.total_bytes();
        if total_bytes > rest.len() {
            self.failed = true;
            return Some(Err(BatchError::TooShort {
                needed_bytes: total_bytes,
                available_bytes: rest.len(),
            }));
        }
        self.position += total_bytes;
        Some(Ok((header, &rest[..total_bytes])))
    }
}
