//! Reading the records inside stored batches, decompressing the ones a Kafka client compressed
//! (with `yak_log::compression`), for HTTP consumers, the console and ListOffsets by time.

use yak_log::{batch, record, Compression};

pub use yak_log::compression::{decompress, DecompressError, DECOMPRESSED_BYTES_MAX};

/// Why stored batches could not be turned into records.
#[derive(Debug)]
pub enum DecodeError {
    Decompress(DecompressError),
    Corrupt(String),
}

/// Calls `visit` with every record at or above `from_offset` in `batches` (whole stored batches),
/// skipping control batches and decompressing compressed ones, until `visit` returns false.
pub fn for_each_record(
    batches: &[u8],
    from_offset: i64,
    mut visit: impl FnMut(i64, record::Record<'_>) -> bool,
) -> Result<(), DecodeError> {
    for item in batch::batches(batches) {
        let (header, bytes) = item.map_err(|e| DecodeError::Corrupt(e.to_string()))?;
        if header.is_control() || header.last_offset() < from_offset {
            continue;
        }
        let body = bytes.get(batch::BATCH_HEADER_BYTES..).unwrap_or_default();
        let decompressed;
        let body = match header.compression() {
            Compression::None => body,
            codec => {
                decompressed =
                    crate::compression::decompress(codec, body).map_err(DecodeError::Decompress)?;
                &decompressed[..]
            }
        };
        for record in record::records(&header, body) {
            let record = record.map_err(|e| DecodeError::Corrupt(e.to_string()))?;
            if record.offset < from_offset {
                continue;
            }
            let offset = record.offset;
            if !visit(offset, record) {
                return Ok(());
            }
        }
    }
    Ok(())
}
