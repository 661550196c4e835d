//! Batch header and record codec tests.

use proptest::prelude::*;
use yak_log::batch::{self, set_base_offset, set_partition_leader_epoch};
use yak_log::{
    batches, decode_batch, encode_batch, BatchError, BatchHeader, RecordToWrite, ValidBatch,
    BATCH_HEADER_BYTES,
};

mod common;

/// An encoded batch validates, carries the documented defaults, and patching the offset and
/// epoch keeps its CRC valid.
#[test]
fn encoded_batch_validates_and_patches_outside_the_crc() {
    let mut bytes = common::batch(1, 3, 1_000);
    let header = batch::validate(&bytes).unwrap();
    assert_eq!(header.base_offset, 0);
    assert_eq!(header.partition_leader_epoch, -1);
    assert_eq!(header.records_count, 3);
    assert_eq!(header.last_offset_delta, 2);
    assert_eq!(header.base_timestamp, 1_000);
    assert_eq!(header.max_timestamp, 1_002);
    assert_eq!(header.producer_id, -1);
    assert_eq!(header.producer_epoch, -1);
    assert_eq!(header.base_sequence, -1);
    assert_eq!(header.total_bytes(), bytes.len());
    assert_eq!(header.compression(), yak_log::Compression::None);
    set_base_offset(&mut bytes, 42);
    set_partition_leader_epoch(&mut bytes, 7);
    let patched = batch::validate(&bytes).unwrap();
    assert_eq!(patched.base_offset, 42);
    assert_eq!(patched.last_offset(), 44);
    assert_eq!(patched.partition_leader_epoch, 7);
}

/// Each kind of damage maps to its own error variant.
#[test]
fn validate_reports_distinct_errors() {
    let good = common::batch(1, 2, 0);
    assert!(matches!(
        batch::validate(&good[..30]),
        Err(BatchError::TooShort { .. })
    ));
    let mut longer = good.clone();
    longer.push(0);
    assert!(matches!(
        batch::validate(&longer),
        Err(BatchError::LengthMismatch { .. })
    ));
    let mut magic = good.clone();
    magic[16] = 1;
    assert_eq!(batch::validate(&magic), Err(BatchError::BadMagic(1)));
    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert!(matches!(
        batch::validate(&flipped),
        Err(BatchError::CrcMismatch { .. })
    ));
    let mut length = good.clone();
    length[8..12].copy_from_slice(&10i32.to_be_bytes());
    assert!(matches!(
        batch::validate(&length),
        Err(BatchError::BadBatchLength { .. })
    ));
}

fn recrc(bytes: &mut [u8]) {
    let crc = crc32c::crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// A record count that disagrees with last_offset_delta, and an unknown codec, are rejected
/// even with a correct CRC.
#[test]
fn validate_rejects_bad_count_and_codec() {
    let mut count = common::batch(1, 2, 0);
    count[57..61].copy_from_slice(&5i32.to_be_bytes());
    recrc(&mut count);
    assert!(matches!(
        batch::validate(&count),
        Err(BatchError::InvalidRecordCount { .. })
    ));
    let mut codec = common::batch(1, 2, 0);
    codec[21..23].copy_from_slice(&6i16.to_be_bytes());
    recrc(&mut codec);
    assert_eq!(
        batch::validate(&codec),
        Err(BatchError::UnknownCompression(6))
    );
    let mut gzip = common::batch(1, 2, 0);
    gzip[21..23].copy_from_slice(&1i16.to_be_bytes());
    recrc(&mut gzip);
    assert!(matches!(
        decode_batch(&gzip),
        Err(BatchError::Compressed(yak_log::Compression::Gzip))
    ));
}

/// batches() yields each whole batch and reports a trailing partial batch as an error item.
#[test]
fn batches_iterates_and_flags_a_partial_tail() {
    let mut buf = common::batch(1, 2, 0);
    buf.extend_from_slice(&common::batch(2, 3, 0));
    let whole = buf.len();
    buf.extend_from_slice(&common::batch(3, 1, 0)[..20]);
    let items: Vec<_> = batches(&buf).collect();
    assert_eq!(items.len(), 3);
    assert!(items[0].is_ok() && items[1].is_ok());
    assert!(items[2].is_err());
    assert_eq!(
        batches(&buf[..whole]).filter(|item| item.is_ok()).count(),
        2
    );
    assert_eq!(batches(&[]).count(), 0);
}

/// Records with null keys/values, headers, and out-of-order timestamps decode as encoded.
#[test]
fn records_round_trip_with_headers_and_nulls() {
    let headers: [(&[u8], Option<&[u8]>); 2] = [(b"h1", Some(b"v1")), (b"h2", None)];
    let records = [
        RecordToWrite {
            key: None,
            value: Some(b"a"),
            headers: &headers,
            timestamp_ms: 50,
        },
        RecordToWrite {
            key: Some(b""),
            value: None,
            headers: &[],
            timestamp_ms: 10,
        },
    ];
    let mut out = Vec::new();
    encode_batch(&records, &mut out);
    set_base_offset(&mut out, 100);
    let (header, iter) = decode_batch(&out).unwrap();
    assert_eq!(header.max_timestamp, 50);
    let decoded: Vec<_> = iter.map(Result::unwrap).collect();
    assert_eq!(decoded.len(), 2);
    assert_eq!(decoded[0].offset, 100);
    assert_eq!(decoded[0].key, None);
    assert_eq!(decoded[0].value, Some(&b"a"[..]));
    assert_eq!(decoded[0].headers, headers.to_vec());
    assert_eq!(decoded[1].offset, 101);
    assert_eq!(decoded[1].timestamp_ms, 10);
    assert_eq!(decoded[1].key, Some(&b""[..]));
    assert_eq!(decoded[1].value, None);
}

type Header<'a> = (&'a [u8], Option<&'a [u8]>);
type OwnedRecord = (
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(Vec<u8>, Option<Vec<u8>>)>,
    i64,
);

fn owned_record() -> impl Strategy<Value = OwnedRecord> {
    (
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
        proptest::collection::vec(
            (
                proptest::collection::vec(any::<u8>(), 0..10),
                proptest::option::of(proptest::collection::vec(any::<u8>(), 0..10)),
            ),
            0..4,
        ),
        -1_000_000_000_000i64..4_000_000_000_000i64,
    )
}

proptest! {
    /// Any records encode into a valid batch that decodes back to the same records.
    #[test]
    fn records_round_trip(owned in proptest::collection::vec(owned_record(), 1..20), base in 0i64..1 << 40) {
        let header_refs: Vec<Vec<Header<'_>>> = owned
            .iter()
            .map(|(_, _, headers, _)| headers.iter().map(|(k, v)| (k.as_slice(), v.as_deref())).collect())
            .collect();
        let records: Vec<RecordToWrite<'_>> = owned
            .iter()
            .zip(&header_refs)
            .map(|((key, value, _, timestamp_ms), headers)| RecordToWrite {
                key: key.as_deref(),
                value: value.as_deref(),
                headers,
                timestamp_ms: *timestamp_ms,
            })
            .collect();
        let mut out = vec![9, 9, 9];
        encode_batch(&records, &mut out);
        let batch = &mut out[3..];
        set_base_offset(batch, base);
        let (header, iter) = decode_batch(batch).unwrap();
        prop_assert_eq!(header.records_count as usize, records.len());
        let decoded: Vec<_> = iter.collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(decoded.len(), records.len());
        for (index, (record, written)) in decoded.iter().zip(&records).enumerate() {
            prop_assert_eq!(record.offset, base + index as i64);
            prop_assert_eq!(record.timestamp_ms, written.timestamp_ms);
            prop_assert_eq!(record.key, written.key);
            prop_assert_eq!(record.value, written.value);
            prop_assert_eq!(&record.headers, &header_refs[index]);
        }
    }

    /// Decoding records from random bytes under any header never panics and always ends.
    #[test]
    fn decoding_garbage_records_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512), count in -5i32..2000) {
        let mut header_bytes = common::batch(1, 1, 0);
        header_bytes[57..61].copy_from_slice(&count.to_be_bytes());
        let header = BatchHeader::parse(&header_bytes).unwrap();
        let items = yak_log::records(&header, &body).take(10_000).count();
        prop_assert!(items <= count.max(0) as usize + 1);
    }

    /// Flipping bytes of a valid batch body never panics the decoder (the CRC is bypassed).
    #[test]
    fn decoding_mutated_records_never_panics(position in 0usize..200, byte in any::<u8>()) {
        let bytes = common::batch(7, 5, 0);
        let mut body = bytes[61..].to_vec();
        let at = position % body.len();
        body[at] = byte;
        let header = BatchHeader::parse(&bytes).unwrap();
        for item in yak_log::records(&header, &body) {
            let _ = item;
        }
    }

    /// batches() on random bytes never panics and never yields a batch longer than its input.
    #[test]
    fn batches_on_garbage_never_panics(mut buf in proptest::collection::vec(any::<u8>(), 0..400), magic_at in 0usize..400) {
        // Plant a plausible magic byte so the parser gets past the first check sometimes.
        if buf.len() > 16 { buf[16] = 2; }
        if magic_at < buf.len() { buf[magic_at] = 2; }
        let mut total = 0;
        for (header, bytes) in batches(&buf).flatten() {
            prop_assert_eq!(header.total_bytes(), bytes.len());
            total += bytes.len();
        }
        prop_assert!(total <= buf.len());
        let _ = batch::validate(&buf);
    }
}

/// Rewrites the header of `bytes` with `change` and seals it with a fresh CRC, as a client
/// that builds a lying batch would.
fn rewrite_header(bytes: &mut [u8], change: impl FnOnce(BatchHeader) -> BatchHeader) {
    let header = BatchHeader::parse(bytes).unwrap();
    change(header).write(bytes);
    batch::seal(bytes);
}

/// A client's batch whose records disagree with its header is refused although its CRC and
/// header are consistent: too few records, too many, and offset deltas out of order.
#[test]
fn valid_batch_rejects_records_that_disagree_with_the_header() {
    let good = common::batch(1, 3, 0);
    assert!(ValidBatch::new(&mut good.clone()).is_ok());
    // The three records have the same length, so two of them take two thirds of the body.
    let record_bytes = (good.len() - BATCH_HEADER_BYTES) / 3;

    let mut fewer = good.clone();
    rewrite_header(&mut fewer, |h| BatchHeader {
        last_offset_delta: 1,
        records_count: 2,
        ..h
    });
    assert!(batch::validate(&fewer).is_ok(), "the header alone is fine");
    assert_eq!(
        ValidBatch::new(&mut fewer).map(|_| ()),
        Err(BatchError::BytesAfterLastRecord {
            records_count: 2,
            bytes_left: good.len() - BATCH_HEADER_BYTES - record_bytes * 2,
        })
    );

    let mut more = good.clone();
    rewrite_header(&mut more, |h| BatchHeader {
        last_offset_delta: 3,
        records_count: 4,
        ..h
    });
    assert_eq!(
        ValidBatch::new(&mut more).map(|_| ()),
        Err(BatchError::RecordCountMismatch {
            records_count: 4,
            records_found: 3
        })
    );

    // The first record's offset delta (after its length, attributes and timestamp delta, each
    // one byte here) becomes 1, zigzag-encoded as 2.
    let mut delta = good.clone();
    assert_eq!(delta[BATCH_HEADER_BYTES + 3], 0);
    delta[BATCH_HEADER_BYTES + 3] = 2;
    batch::seal(&mut delta);
    assert_eq!(
        ValidBatch::new(&mut delta).map(|_| ()),
        Err(BatchError::OffsetDeltaMismatch {
            expected: 0,
            found: 1
        })
    );
    assert_eq!(
        ValidBatch::new(&mut delta).unwrap_err().kind(),
        yak_log::BatchErrorKind::Invalid
    );
}

/// `uncompressed` (a whole batch) with its records section gzipped and the header to match.
fn gzipped(uncompressed: &[u8], records_body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(records_body).unwrap();
    let compressed = encoder.finish().unwrap();
    let mut bytes = uncompressed[..BATCH_HEADER_BYTES].to_vec();
    bytes.extend_from_slice(&compressed);
    let batch_length = (bytes.len() - 12) as i32;
    rewrite_header(&mut bytes, |h| BatchHeader {
        attributes: 1,
        batch_length,
        ..h
    });
    bytes
}

/// A compressed batch is decompressed to check its records: an honest one passes, one whose
/// compressed records disagree with the header or do not decompress is refused.
#[test]
fn valid_batch_checks_the_records_of_compressed_batches() {
    let plain = common::batch(1, 3, 0);
    let mut honest = gzipped(&plain, &plain[BATCH_HEADER_BYTES..]);
    let valid = ValidBatch::new(&mut honest).expect("an honest gzip batch");
    assert_eq!(valid.header().compression(), yak_log::Compression::Gzip);

    let two = common::batch(1, 2, 0);
    let mut lying = gzipped(&plain, &two[BATCH_HEADER_BYTES..]);
    assert!(batch::validate(&lying).is_ok(), "the header alone is fine");
    assert!(matches!(
        ValidBatch::new(&mut lying),
        Err(BatchError::RecordCountMismatch { .. })
    ));

    let mut garbage = plain[..BATCH_HEADER_BYTES].to_vec();
    garbage.extend_from_slice(&[0xff; 40]);
    let batch_length = (garbage.len() - 12) as i32;
    rewrite_header(&mut garbage, |h| BatchHeader {
        attributes: 1,
        batch_length,
        ..h
    });
    let error = ValidBatch::new(&mut garbage).unwrap_err();
    assert!(matches!(error, BatchError::Decompress(_)), "{error:?}");
    assert_eq!(error.kind(), yak_log::BatchErrorKind::Corrupt);
}

/// The encoder's batch is a ValidBatch as it stands, and placing it patches offset and epoch
/// in bytes and header alike while the CRC stays valid.
#[test]
fn encoded_valid_batch_places_without_breaking_the_crc() {
    let records = [RecordToWrite {
        key: None,
        value: Some(b"v"),
        headers: &[],
        timestamp_ms: 5,
    }];
    let mut out = vec![1, 2, 3];
    let mut valid = yak_log::encode_valid_batch(&records, &mut out);
    valid.place(9, 4);
    assert_eq!(valid.header().base_offset, 9);
    let header = batch::validate(valid.bytes()).unwrap();
    assert_eq!(header, *valid.header());
    assert_eq!(header.partition_leader_epoch, 4);
}
