//! Encoding an uncompressed v2 batch from records, and decoding the records of a batch.
//!
//! Hand-written because it sits on the HTTP produce hot path: encoding allocates nothing per
//! record (it sizes each record first, then writes it straight into the output buffer).
//!
//! A record, per Kafka's spec (varints are zigzag, as in protobuf's `sint32`/`sint64`):
//!
//! ```text
//! length: varint            bytes of the record after this field
//! attributes: int8          unused, 0
//! timestamp_delta: varlong  relative to the batch's base_timestamp
//! offset_delta: varint      relative to the batch's base_offset
//! key_length: varint        -1 for a null key
//! key: bytes
//! value_length: varint      -1 for a null value
//! value: bytes
//! headers_count: varint
//! headers: [header_key_length: varint, header_key, header_value_length: varint, header_value]
//! ```

use crate::batch::{self, BatchHeader, Compression, ValidBatch, BATCH_HEADER_BYTES};
use crate::error::BatchError;

/// One record to encode.
#[derive(Debug, Clone, Copy)]
pub struct RecordToWrite<'a> {
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: &'a [(&'a [u8], Option<&'a [u8]>)],
    pub timestamp_ms: i64,
}

/// One decoded record, borrowing from the batch body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub offset: i64,
    pub timestamp_ms: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: Vec<(&'a [u8], Option<&'a [u8]>)>,
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

fn varint_bytes(value: i64) -> usize {
    let mut encoded = zigzag(value);
    let mut bytes = 1;
    while encoded >= 0x80 {
        encoded >>= 7;
        bytes += 1;
    }
    bytes
}

fn put_varint(out: &mut Vec<u8>, value: i64) {
    let mut encoded = zigzag(value);
    while encoded >= 0x80 {
        out.push((encoded as u8) | 0x80);
        encoded >>= 7;
    }
    out.push(encoded as u8);
}

fn bytes_field_bytes(field: Option<&[u8]>) -> usize {
    match field {
        None => varint_bytes(-1),
        Some(bytes) => varint_bytes(bytes.len() as i64) + bytes.len(),
    }
}

fn put_bytes_field(out: &mut Vec<u8>, field: Option<&[u8]>) {
    match field {
        None => put_varint(out, -1),
        Some(bytes) => {
            put_varint(out, bytes.len() as i64);
            out.extend_from_slice(bytes);
        }
    }
}

/// Bytes of one record after its length prefix.
fn record_body_bytes(record: &RecordToWrite<'_>, timestamp_delta: i64, offset_delta: i64) -> usize {
    let mut bytes = 1 + varint_bytes(timestamp_delta) + varint_bytes(offset_delta);
    bytes += bytes_field_bytes(record.key);
    bytes += bytes_field_bytes(record.value);
    bytes += varint_bytes(record.headers.len() as i64);
    for (key, value) in record.headers {
        bytes += bytes_field_bytes(Some(key));
        bytes += bytes_field_bytes(*value);
    }
    bytes
}

/// Appends one uncompressed v2 batch holding `records` to `out`.
///
/// The batch has base_offset 0 (the log assigns the real one), leader epoch −1, no producer id
/// (−1/−1/−1), attributes 0 (CreateTime, no compression), base_timestamp of the first record,
/// max_timestamp the largest, and its CRC-32C filled in. Returns the batch's header.
///
/// Panics if `records` is empty (Kafka has no empty batches) or if the batch would exceed
/// `i32::MAX` bytes: both are caller bugs, since callers bound their input first.
pub fn encode_batch(records: &[RecordToWrite<'_>], out: &mut Vec<u8>) -> BatchHeader {
    assert!(
        !records.is_empty(),
        "a record batch needs at least one record"
    );
    let start = out.len();
    let base_timestamp = records[0].timestamp_ms;
    let max_timestamp = records
        .iter()
        .map(|record| record.timestamp_ms)
        .max()
        .unwrap_or(base_timestamp);
    // A caller bug, not bad input: the HTTP front-end bounds records per request far below.
    assert!(
        records.len() <= i32::MAX as usize,
        "a record batch holds at most i32::MAX records"
    );
    let last_offset_delta = (records.len() - 1) as i32;
    out.resize(start + BATCH_HEADER_BYTES, 0);
    for (index, record) in records.iter().enumerate() {
        let timestamp_delta = record.timestamp_ms.wrapping_sub(base_timestamp);
        let offset_delta = index as i64;
        let body_bytes = record_body_bytes(record, timestamp_delta, offset_delta);
        out.reserve(body_bytes + 5);
        put_varint(out, body_bytes as i64);
        out.push(0);
        put_varint(out, timestamp_delta);
        put_varint(out, offset_delta);
        put_bytes_field(out, record.key);
        put_bytes_field(out, record.value);
        put_varint(out, record.headers.len() as i64);
        for (key, value) in record.headers {
            put_bytes_field(out, Some(key));
            put_bytes_field(out, *value);
        }
    }
    let batch_bytes = out.len() - start - batch::BATCH_LENGTH_PREFIX_BYTES;
    // A caller bug, not bad input: the HTTP front-end bounds request bytes far below.
    assert!(
        batch_bytes <= i32::MAX as usize,
        "a record batch holds at most i32::MAX bytes"
    );
    let header = BatchHeader {
        base_offset: 0,
        batch_length: batch_bytes as i32,
        partition_leader_epoch: -1,
        magic: batch::MAGIC_V2,
        crc: 0,
        attributes: 0,
        last_offset_delta,
        base_timestamp,
        max_timestamp,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        records_count: last_offset_delta + 1,
    };
    header.write(&mut out[start..]);
    BatchHeader {
        crc: batch::seal(&mut out[start..]),
        ..header
    }
}

/// Encodes `records` as one batch into `out` (cleared first) and hands it back as a
/// [`ValidBatch`] without checking it again: the encoder's output is valid by construction.
///
/// Panics as [`encode_batch`] does.
pub fn encode_valid_batch<'a>(
    records: &[RecordToWrite<'_>],
    out: &'a mut Vec<u8>,
) -> ValidBatch<'a> {
    out.clear();
    let header = encode_batch(records, out);
    ValidBatch::encoded(out, header)
}

/// Checks that the records section `body` (decompressed) agrees with `header`: exactly
/// `records_count` records, offset deltas 0, 1, … in order, every record well formed and inside
/// its length, and no bytes after the last one.
pub fn check_records(header: &BatchHeader, body: &[u8]) -> Result<(), BatchError> {
    for (expected_offset_delta, record) in (0i64..).zip(records(header, body)) {
        let offset_delta = record?.offset.wrapping_sub(header.base_offset);
        if offset_delta != expected_offset_delta {
            return Err(BatchError::OffsetDeltaMismatch {
                expected: expected_offset_delta,
                found: offset_delta,
            });
        }
    }
    Ok(())
}

/// A bounds-checked reader over record bytes; every read can fail, none can panic.
struct Cursor<'a> {
    buf: &'a [u8],
    position: usize,
}

impl<'a> Cursor<'a> {
    fn varlong(&mut self) -> Result<i64, BatchError> {
        let mut value: u64 = 0;
        // A 64-bit varint takes at most 10 bytes; more is garbage, not a longer number.
        for index in 0..10 {
            let byte = *self
                .buf
                .get(self.position)
                .ok_or(BatchError::RecordMalformed("varint runs past the end"))?;
            self.position += 1;
            value |= u64::from(byte & 0x7f) << (7 * index);
            if byte & 0x80 == 0 {
                return Ok(unzigzag(value));
            }
        }
        Err(BatchError::RecordMalformed("varint longer than 10 bytes"))
    }

    fn varint(&mut self) -> Result<i32, BatchError> {
        i32::try_from(self.varlong()?)
            .map_err(|_| BatchError::RecordMalformed("varint out of 32-bit range"))
    }

    fn byte(&mut self) -> Result<u8, BatchError> {
        let byte = *self
            .buf
            .get(self.position)
            .ok_or(BatchError::RecordMalformed("record runs past the end"))?;
        self.position += 1;
        Ok(byte)
    }

    fn bytes_field(&mut self) -> Result<Option<&'a [u8]>, BatchError> {
        let length = self.varint()?;
        if length < 0 {
            return Ok(None);
        }
        let length = length as usize;
        if length > self.buf.len() - self.position {
            return Err(BatchError::RecordMalformed(
                "field length runs past the end",
            ));
        }
        let field = &self.buf[self.position..self.position + length];
        self.position += length;
        Ok(Some(field))
    }
}

/// Iterator over the records of one batch body; ends after `records_count` records or after
/// the first error.
#[derive(Debug, Clone)]
pub struct RecordIter<'a> {
    body: &'a [u8],
    position: usize,
    records_count: i32,
    records_left: i32,
    base_offset: i64,
    base_timestamp: i64,
    failed: bool,
}

/// Iterates the records of a batch. `body` is the bytes after the 61-byte header, already
/// decompressed by the caller if the batch was compressed.
pub fn records<'a>(header: &BatchHeader, body: &'a [u8]) -> RecordIter<'a> {
    RecordIter {
        body,
        position: 0,
        records_count: header.records_count.max(0),
        records_left: header.records_count.max(0),
        base_offset: header.base_offset,
        base_timestamp: header.base_timestamp,
        failed: false,
    }
}

/// Validates a whole uncompressed batch and iterates its records.
pub fn decode_batch(batch: &[u8]) -> Result<(BatchHeader, RecordIter<'_>), BatchError> {
    let header = batch::validate(batch)?;
    match header.compression() {
        Compression::None => Ok((header, records(&header, &batch[BATCH_HEADER_BYTES..]))),
        other => Err(BatchError::Compressed(other)),
    }
}

impl<'a> RecordIter<'a> {
    fn decode_one(&mut self) -> Result<Record<'a>, BatchError> {
        let mut cursor = Cursor {
            buf: self.body,
            position: self.position,
        };
        let length = cursor.varint()?;
        if length < 0 || length as usize > self.body.len() - cursor.position {
            return Err(BatchError::RecordMalformed("record length out of range"));
        }
        let end = cursor.position + length as usize;
        // Bound the record's fields by its own length so a lying field cannot read the next one.
        let mut cursor = Cursor {
            buf: &self.body[..end],
            position: cursor.position,
        };
        let _attributes = cursor.byte()?;
        let timestamp_delta = cursor.varlong()?;
        let offset_delta = cursor.varint()?;
        let key = cursor.bytes_field()?;
        let value = cursor.bytes_field()?;
        let headers_count = cursor.varint()?;
        // Each header takes at least two bytes, so a count above that cannot be honest; checking
        // before allocating keeps garbage from reserving gigabytes.
        if headers_count < 0 || headers_count as usize > (end - cursor.position) / 2 {
            return Err(BatchError::RecordMalformed("header count out of range"));
        }
        let mut headers = Vec::with_capacity(headers_count as usize);
        for _ in 0..headers_count {
            let header_key = cursor
                .bytes_field()?
                .ok_or(BatchError::RecordMalformed("null header key"))?;
            let header_value = cursor.bytes_field()?;
            headers.push((header_key, header_value));
        }
        if cursor.position != end {
            return Err(BatchError::RecordMalformed(
                "record length does not match its fields",
            ));
        }
        self.position = end;
        Ok(Record {
            offset: self.base_offset.wrapping_add(i64::from(offset_delta)),
            timestamp_ms: self.base_timestamp.wrapping_add(timestamp_delta),
            key,
            value,
            headers,
        })
    }
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<Record<'a>, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.records_left == 0 {
            if self.position != self.body.len() {
                self.failed = true;
                return Some(Err(BatchError::BytesAfterLastRecord {
                    records_count: self.records_count,
                    bytes_left: self.body.len() - self.position,
                }));
            }
            return None;
        }
        if self.position == self.body.len() {
            self.failed = true;
            return Some(Err(BatchError::RecordCountMismatch {
                records_count: self.records_count,
                records_found: self.records_count - self.records_left,
            }));
        }
        self.records_left -= 1;
        let result = self.decode_one();
        if result.is_err() {
            self.failed = true;
        }
        Some(result)
    }
}
