//! Which partition a record goes to.
//!
//! Keys use Kafka's default partitioner, `(murmur2(key) & 0x7fffffff) % partitions`, the one the
//! Java client, kafka-python, aiokafka and franz-go use, so a key lands on the same partition over
//! HTTP as through those clients. librdkafka defaults to CRC32 (`consistent_random`); its users set
//! `partitioner=murmur2_random` to agree. murmur2 is written out here because it is a dozen lines
//! and the crates that offer it do not promise Kafka's seed and tail handling.

/// Keyless records of one request in a row go to one partition until this many went there, then
/// to the next one, so that a stream of keyless records (`seq 1 1000 | yak produce`) spreads over
/// every partition while each partition still gets records in runs, as batches.
pub const KEYLESS_RUN_RECORDS_MAX: usize = 100;

/// Where the keyless records of one request go: like Kafka's sticky partitioner, which moves on
/// per batch, each run of up to [`KEYLESS_RUN_RECORDS_MAX`] records takes the topic's next
/// partition in a round-robin the node keeps per topic.
#[derive(Debug, Default)]
pub struct KeylessSpread {
    partition: i32,
    run_left: usize,
}

impl KeylessSpread {
    /// The partition of the next keyless record.
    pub fn next(&mut self, topic: &crate::topic::Topic) -> i32 {
        if self.run_left == 0 {
            self.partition = topic.next_round_robin();
            self.run_left = KEYLESS_RUN_RECORDS_MAX;
        }
        self.run_left -= 1;
        self.partition
    }
}

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
