//! Decompressing the records section of a batch a Kafka client compressed (gzip, snappy, lz4,
//! zstd). Batches stay compressed on disk and in Fetch answers; produce validation, HTTP
//! consumers, the console and ListOffsets by time look inside through [`decompress`].
//!
//! Pure-Rust codecs (flate2's miniz backend, snap, lz4_flex, ruzstd) keep C out of the build.
//! Each codec reads at most [`DECOMPRESSED_BYTES_MAX`], so a small batch cannot expand into an
//! unbounded allocation.

use std::io::Read;

use crate::batch::Compression;

/// Largest decompressed records section read from one batch.
pub const DECOMPRESSED_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// The header Java's (xerial) snappy framing starts with; Kafka's Java client and librdkafka
/// write it, while other clients send raw snappy blocks.
const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_BYTES: usize = 16;

/// Why a compressed records section could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecompressError {
    #[error("{codec:?} data is corrupt: {message}")]
    Corrupt { codec: Compression, message: String },
    #[error("{codec:?} data expands past {DECOMPRESSED_BYTES_MAX} bytes")]
    TooLarge { codec: Compression },
    #[error("unknown compression {0:?}")]
    Unknown(Compression),
}

fn read_limited(codec: Compression, reader: impl Read) -> Result<Vec<u8>, DecompressError> {
    let mut out = Vec::new();
    reader
        .take(DECOMPRESSED_BYTES_MAX + 1)
        .read_to_end(&mut out)
        .map_err(|e| DecompressError::Corrupt {
            codec,
            message: e.to_string(),
        })?;
    if out.len() as u64 > DECOMPRESSED_BYTES_MAX {
        return Err(DecompressError::TooLarge { codec });
    }
    Ok(out)
}

fn snappy_block(block: &[u8], out: &mut Vec<u8>) -> Result<(), DecompressError> {
    let codec = Compression::Snappy;
    let corrupt = |e: snap::Error| DecompressError::Corrupt {
        codec,
        message: e.to_string(),
    };
    let length = snap::raw::decompress_len(block).map_err(corrupt)?;
    if (out.len() + length) as u64 > DECOMPRESSED_BYTES_MAX {
        return Err(DecompressError::TooLarge { codec });
    }
    let start = out.len();
    out.resize(start + length, 0);
    snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(corrupt)?;
    Ok(())
}

fn snappy(data: &[u8]) -> Result<Vec<u8>, DecompressError> {
    let mut out = Vec::new();
    if !data.starts_with(XERIAL_MAGIC) {
        snappy_block(data, &mut out)?;
        return Ok(out);
    }
    // Xerial framing: a 16-byte header, then blocks of a big-endian u32 length and raw snappy.
    let mut rest = data.get(XERIAL_HEADER_BYTES..).unwrap_or_default();
    while !rest.is_empty() {
        let corrupt = || DecompressError::Corrupt {
            codec: Compression::Snappy,
            message: "truncated xerial block".into(),
        };
        let length_bytes: [u8; 4] = rest
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(corrupt)?;
        let length = u32::from_be_bytes(length_bytes) as usize;
        let block = rest.get(4..4 + length).ok_or_else(corrupt)?;
        snappy_block(block, &mut out)?;
        rest = &rest[4 + length..];
    }
    Ok(out)
}

/// The records section of a batch compressed with `codec`, decompressed.
pub fn decompress(codec: Compression, data: &[u8]) -> Result<Vec<u8>, DecompressError> {
    match codec {
        Compression::None => Ok(data.to_vec()),
        Compression::Gzip => read_limited(codec, flate2::read::MultiGzDecoder::new(data)),
        Compression::Snappy => snappy(data),
        Compression::Lz4 => read_limited(codec, lz4_flex::frame::FrameDecoder::new(data)),
        Compression::Zstd => {
            let decoder = ruzstd::decoding::StreamingDecoder::new(data).map_err(|e| {
                DecompressError::Corrupt {
                    codec,
                    message: e.to_string(),
                }
            })?;
            read_limited(codec, decoder)
        }
        other => Err(DecompressError::Unknown(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn sample() -> Vec<u8> {
        (0..10_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect()
    }

    /// Each codec's output, as the clients produce it, reads back to the original bytes.
    #[test]
    fn every_codec_round_trips() {
        let data = sample();
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gzip.write_all(&data).unwrap();
        assert_eq!(
            decompress(Compression::Gzip, &gzip.finish().unwrap()).unwrap(),
            data
        );

        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(decompress(Compression::Snappy, &raw).unwrap(), data);
        let mut xerial = XERIAL_MAGIC.to_vec();
        xerial.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
        xerial.extend_from_slice(&(raw.len() as u32).to_be_bytes());
        xerial.extend_from_slice(&raw);
        assert_eq!(decompress(Compression::Snappy, &xerial).unwrap(), data);

        let mut lz4 = lz4_flex::frame::FrameEncoder::new(Vec::new());
        lz4.write_all(&data).unwrap();
        assert_eq!(
            decompress(Compression::Lz4, &lz4.finish().unwrap()).unwrap(),
            data
        );
    }

    /// Garbage is an error for every codec, never a panic.
    #[test]
    fn garbage_is_an_error() {
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            assert!(decompress(codec, b"\x82SNAPPY\x00not really compressed data").is_err());
            assert!(decompress(codec, &[0xff; 64]).is_err());
        }
    }
}
