//! What checking a client's batch costs: `batch::validate` (header and CRC-32C) against
//! `ValidBatch::new` (the same plus the records against the header, compressed batches
//! decompressed), on Kafka-client-sized batches of 1,000 records of 100 bytes.
//!
//! Run with `cargo run --release -p yak-log --example batch_check_cost`.

use std::hint::black_box;
use std::io::Write;
use std::time::Instant;

use yak_log::{batch, BatchHeader, RecordToWrite, ValidBatch, BATCH_HEADER_BYTES};

/// Records per batch and bytes per record value, as `yak bench --protocol kafka` sends them.
const RECORDS_PER_BATCH: usize = 1_000;
const VALUE_BYTES: usize = 100;
/// Batches checked per measurement.
const ROUNDS: usize = 2_000;

fn uncompressed() -> Vec<u8> {
    let values: Vec<Vec<u8>> = (0..RECORDS_PER_BATCH)
        .map(|i| {
            let mut value = format!("record-{i:08}-").into_bytes();
            value.resize(VALUE_BYTES, b'a' + (i % 26) as u8);
            value
        })
        .collect();
    let records: Vec<RecordToWrite<'_>> = values
        .iter()
        .map(|value| RecordToWrite {
            key: None,
            value: Some(value),
            headers: &[],
            timestamp_ms: 1_700_000_000_000,
        })
        .collect();
    let mut out = Vec::new();
    yak_log::encode_batch(&records, &mut out);
    out
}

/// `plain` with its records section compressed by `compress` under codec id `codec`.
fn compressed(plain: &[u8], codec: i16, compress: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let mut bytes = plain[..BATCH_HEADER_BYTES].to_vec();
    bytes.extend_from_slice(&compress(&plain[BATCH_HEADER_BYTES..]));
    let header = BatchHeader::parse(&bytes).expect("a header");
    BatchHeader {
        attributes: codec,
        batch_length: (bytes.len() - 12) as i32,
        ..header
    }
    .write(&mut bytes);
    batch::seal(&mut bytes);
    bytes
}

fn measure(name: &str, bytes: &[u8]) {
    let mut copy = bytes.to_vec();
    let started = Instant::now();
    for _ in 0..ROUNDS {
        black_box(batch::validate(black_box(&copy)).expect("valid"));
    }
    let header_ns = started.elapsed().as_nanos() as f64 / (ROUNDS * RECORDS_PER_BATCH) as f64;
    let started = Instant::now();
    for _ in 0..ROUNDS {
        black_box(ValidBatch::new(black_box(&mut copy)).expect("valid").len());
    }
    let full_ns = started.elapsed().as_nanos() as f64 / (ROUNDS * RECORDS_PER_BATCH) as f64;
    println!(
        "{name:>12}: {} bytes/batch, validate {header_ns:6.1} ns/record, ValidBatch::new {full_ns:6.1} ns/record ({:.2} M records/s per core)",
        bytes.len(),
        1_000.0 / full_ns
    );
}

fn main() {
    let plain = uncompressed();
    measure("none", &plain);
    let gzip = compressed(&plain, 1, |data| {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).expect("gzip");
        encoder.finish().expect("gzip")
    });
    measure("gzip", &gzip);
    let snappy = compressed(&plain, 2, |data| {
        snap::raw::Encoder::new()
            .compress_vec(data)
            .expect("snappy")
    });
    measure("snappy", &snappy);
    let lz4 = compressed(&plain, 3, |data| {
        let mut encoder = lz4_flex::frame::FrameEncoder::new(Vec::new());
        encoder.write_all(data).expect("lz4");
        encoder.finish().expect("lz4")
    });
    measure("lz4", &lz4);
}
