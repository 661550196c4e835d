//! Which partition a record goes to.
//!
//! Keys use Kafka's default partitioner, `(murmur2(key) & 0x7fffffff) % partitions`, the one the
//! Java client, kafka-python, aiokafka and franz-go use, so a key lands on the same partition over
//! HTTP as through those clients. librdkafka defaults to CRC32 (`consistent_random`); its users set
//! `partitioner=murmur2_random` to agree. murmur2 is written out here because it is a dozen lines
//! and the crates that offer it do not promise Kafka's seed and tail handling.

/// Kafka's murmur2 (seed 0x9747b28c), as in `org.apache.kafka.common.utils.Utils.murmur2`.
pub fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len() as u32;
    let mut h: u32 = SEED ^ length;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= (tail[2] as u32) << 16;
    }
    if tail.len() >= 2 {
        h ^= (tail[1] as u32) << 8;
    }
    if !tail.is_empty() {
        h ^= tail[0] as u32;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// The partition of a keyed record among `partitions` partitions.
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    assert!(partitions > 0, "a topic has at least one partition");
    ((murmur2(key) & 0x7fff_ffff) % partitions as u32) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values Kafka's and librdkafka's own unit tests use.
    #[test]
    fn murmur2_matches_kafka_test_vectors() {
        assert_eq!(murmur2(b"kafka"), 0xd067_cf64);
        assert_eq!(murmur2(b"giberish123456789"), 0x8f55_2b0c);
        assert_eq!(murmur2(b"1234"), 0x9fc9_7b14);
        assert_eq!(murmur2(b""), 0x106e_08d9);
    }

    #[test]
    fn keys_pick_the_partition_java_clients_pick() {
        assert_eq!(partition_for_key(b"kafka", 6), 4);
        assert_eq!(partition_for_key(b"giberish123456789", 6), 2);
        assert_eq!(partition_for_key(b"1234", 6), 0);
        assert_eq!(partition_for_key(b"", 6), 3);
    }
}
