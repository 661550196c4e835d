//! Idempotent producers: per partition, the last batches of each producer id, so a retried batch
//! is answered with its original offset instead of being written twice, and a gap in sequence
//! numbers is refused (Kafka's `ProducerStateManager`, reduced to what the checks need).
//!
//! Plain data, no I/O: the partition consults it under its append lock. At start-up it is
//! loaded from the newest producer-state snapshot the log keeps (`encode`/`decode` give the
//! snapshot's payload) and brought up to date from the batch headers after it.

use std::collections::{HashMap, VecDeque};

/// Batches remembered per producer; Kafka keeps five, matching
/// `max.in.flight.requests.per.connection` ≤ 5 of idempotent clients.
pub const PRODUCER_BATCHES_KEPT: usize = 5;
/// Producer ids remembered per partition; beyond it the least recently written one is forgotten
/// (its next batch is accepted as a fresh start, as Kafka does after state expiry).
pub const PRODUCERS_MAX: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BatchSequence {
    first_sequence: i32,
    last_sequence: i32,
    base_offset: i64,
}

#[derive(Debug, Clone)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchSequence>,
    last_write: u64,
}

/// What to do with a batch from an idempotent producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// New and in order: append it.
    Append,
    /// Already written at this base offset: answer with it, write nothing.
    Duplicate { base_offset: i64 },
}

/// Why a producer-state snapshot payload cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("producer snapshot ends early at byte {0}")]
    Truncated(usize),
    #[error("producer snapshot has {0} bytes after its last producer")]
    TrailingBytes(usize),
    #[error("producer snapshot holds {found} {what}, at most {limit} allowed")]
    TooMany {
        what: &'static str,
        found: usize,
        limit: usize,
    },
}

/// Bytes of one producer in a snapshot before its batches: producer id, epoch, batch count.
const SNAPSHOT_PRODUCER_BYTES: usize = 8 + 2 + 1;
/// Bytes of one batch in a snapshot: first and last sequence, base offset.
const SNAPSHOT_BATCH_BYTES: usize = 4 + 4 + 8;

/// Reads fixed-size big-endian fields from a snapshot payload, failing cleanly at its end.
struct SnapshotReader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> SnapshotReader<'a> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let field = self
            .bytes
            .get(self.position..self.position + N)
            .ok_or(SnapshotError::Truncated(self.position))?;
        self.position += N;
        let mut out = [0u8; N];
        out.copy_from_slice(field);
        Ok(out)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SequenceError {
    #[error("sequence {found} does not follow {expected}")]
    OutOfOrder { expected: i32, found: i32 },
    #[error("producer epoch {found} is older than {current}")]
    InvalidEpoch { current: i16, found: i16 },
}

#[derive(Debug, Default)]
pub struct ProducerStates {
    producers: HashMap<i64, ProducerEntry>,
    writes: u64,
}

fn next_sequence(sequence: i32) -> i32 {
    // Sequences wrap to 0 after i32::MAX, as in Kafka.
    if sequence == i32::MAX {
        0
    } else {
        sequence + 1
    }
}

impl ProducerStates {
    pub fn check(
        &self,
        producer_id: i64,
        epoch: i16,
        first_sequence: i32,
        last_sequence: i32,
    ) -> Result<SequenceCheck, SequenceError> {
        let Some(entry) = self.producers.get(&producer_id) else {
            return Ok(SequenceCheck::Append);
        };
        if epoch < entry.epoch {
            return Err(SequenceError::InvalidEpoch {
                current: entry.epoch,
                found: epoch,
            });
        }
        if epoch > entry.epoch {
            return if first_sequence == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(SequenceError::OutOfOrder {
                    expected: 0,
                    found: first_sequence,
                })
            };
        }
        if let Some(kept) = entry
            .batches
            .iter()
            .find(|b| b.first_sequence == first_sequence && b.last_sequence == last_sequence)
        {
            return Ok(SequenceCheck::Duplicate {
                base_offset: kept.base_offset,
            });
        }
        let expected = entry
            .batches
            .back()
            .map_or(0, |b| next_sequence(b.last_sequence));
        if first_sequence != expected {
            return Err(SequenceError::OutOfOrder {
                expected,
                found: first_sequence,
            });
        }
        Ok(SequenceCheck::Append)
    }

    /// Records a batch that was appended.
    pub fn record(
        &mut self,
        producer_id: i64,
        epoch: i16,
        first_sequence: i32,
        last_sequence: i32,
        base_offset: i64,
    ) {
        self.writes += 1;
        if !self.producers.contains_key(&producer_id) && self.producers.len() >= PRODUCERS_MAX {
            if let Some(oldest) = self
                .producers
                .iter()
                .min_by_key(|(_, e)| e.last_write)
                .map(|(id, _)| *id)
            {
                self.producers.remove(&oldest);
            }
        }
        let writes = self.writes;
        let entry = self
            .producers
            .entry(producer_id)
            .or_insert_with(|| ProducerEntry {
                epoch,
                batches: VecDeque::with_capacity(PRODUCER_BATCHES_KEPT),
                last_write: writes,
            });
        if epoch != entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == PRODUCER_BATCHES_KEPT {
            entry.batches.pop_front();
        }
        entry.batches.push_back(BatchSequence {
            first_sequence,
            last_sequence,
            base_offset,
        });
        entry.last_write = writes;
    }

    pub fn producers(&self) -> usize {
        self.producers.len()
    }

    /// The payload of a producer-state snapshot (big-endian): `producers_count: u32`, then per
    /// producer, least recently written first, `producer_id: i64`, `producer_epoch: i16`,
    /// `batches_count: u8` and per batch, oldest first, `first_sequence: i32`,
    /// `last_sequence: i32`, `base_offset: i64`. The order keeps which producer is forgotten
    /// first when `PRODUCERS_MAX` is reached, so a loaded snapshot behaves exactly as a replay.
    pub fn encode(&self) -> Vec<u8> {
        let mut entries: Vec<(&i64, &ProducerEntry)> = self.producers.iter().collect();
        entries.sort_by_key(|(_, entry)| entry.last_write);
        let mut bytes = Vec::with_capacity(
            4 + entries.len()
                * (SNAPSHOT_PRODUCER_BYTES + PRODUCER_BATCHES_KEPT * SNAPSHOT_BATCH_BYTES),
        );
        bytes.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        for (producer_id, entry) in entries {
            bytes.extend_from_slice(&producer_id.to_be_bytes());
            bytes.extend_from_slice(&entry.epoch.to_be_bytes());
            // At most PRODUCER_BATCHES_KEPT (5), so it fits a byte.
            bytes.push(entry.batches.len() as u8);
            for batch in &entry.batches {
                bytes.extend_from_slice(&batch.first_sequence.to_be_bytes());
                bytes.extend_from_slice(&batch.last_sequence.to_be_bytes());
                bytes.extend_from_slice(&batch.base_offset.to_be_bytes());
            }
        }
        bytes
    }

    /// Reads a payload written by [`encode`](Self::encode). Counts are checked against the
    /// limits before anything is allocated by them, so a damaged payload is an error, never a
    /// panic or a huge allocation.
    pub fn decode(bytes: &[u8]) -> Result<ProducerStates, SnapshotError> {
        let mut reader = SnapshotReader { bytes, position: 0 };
        let producers_count = u32::from_be_bytes(reader.take()?) as usize;
        if producers_count > PRODUCERS_MAX {
            return Err(SnapshotError::TooMany {
                what: "producers",
                found: producers_count,
                limit: PRODUCERS_MAX,
            });
        }
        let mut states = ProducerStates::default();
        for _ in 0..producers_count {
            let producer_id = i64::from_be_bytes(reader.take()?);
            let epoch = i16::from_be_bytes(reader.take()?);
            let [batches_count] = reader.take::<1>()?;
            let batches_count = usize::from(batches_count);
            if batches_count > PRODUCER_BATCHES_KEPT {
                return Err(SnapshotError::TooMany {
                    what: "batches for one producer",
                    found: batches_count,
                    limit: PRODUCER_BATCHES_KEPT,
                });
            }
            let mut batches = VecDeque::with_capacity(PRODUCER_BATCHES_KEPT);
            for _ in 0..batches_count {
                batches.push_back(BatchSequence {
                    first_sequence: i32::from_be_bytes(reader.take()?),
                    last_sequence: i32::from_be_bytes(reader.take()?),
                    base_offset: i64::from_be_bytes(reader.take()?),
                });
            }
            states.writes += 1;
            states.producers.insert(
                producer_id,
                ProducerEntry {
                    epoch,
                    batches,
                    last_write: states.writes,
                },
            );
        }
        if reader.position != bytes.len() {
            return Err(SnapshotError::TrailingBytes(bytes.len() - reader.position));
        }
        Ok(states)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A retried batch is a duplicate answered with its first offset; the next batch appends.
    #[test]
    fn retries_are_duplicates_and_order_is_enforced() {
        let mut states = ProducerStates::default();
        assert_eq!(states.check(7, 0, 0, 9), Ok(SequenceCheck::Append));
        states.record(7, 0, 0, 9, 100);
        assert_eq!(
            states.check(7, 0, 0, 9),
            Ok(SequenceCheck::Duplicate { base_offset: 100 })
        );
        assert_eq!(
            states.check(7, 0, 11, 12),
            Err(SequenceError::OutOfOrder {
                expected: 10,
                found: 11
            })
        );
        assert_eq!(states.check(7, 0, 10, 12), Ok(SequenceCheck::Append));
    }

    /// Only the last five batches are remembered, as in Kafka.
    #[test]
    fn only_the_last_five_batches_are_kept() {
        let mut states = ProducerStates::default();
        for i in 0..7 {
            states.record(1, 0, i * 10, i * 10 + 9, i as i64 * 10);
        }
        assert_eq!(
            states.check(1, 0, 20, 29),
            Ok(SequenceCheck::Duplicate { base_offset: 20 })
        );
        assert!(states.check(1, 0, 0, 9).is_err());
    }

    /// A fenced (older) epoch is refused; a newer epoch must start at sequence 0.
    #[test]
    fn epochs_fence_old_producers() {
        let mut states = ProducerStates::default();
        states.record(3, 2, 0, 0, 0);
        assert_eq!(
            states.check(3, 1, 1, 1),
            Err(SequenceError::InvalidEpoch {
                current: 2,
                found: 1
            })
        );
        assert!(states.check(3, 3, 5, 5).is_err());
        assert_eq!(states.check(3, 3, 0, 0), Ok(SequenceCheck::Append));
    }

    /// A snapshot payload decodes to state that answers every check as the original does, and
    /// forgets the same producer first when full.
    #[test]
    fn snapshot_round_trip_keeps_answers_and_eviction_order() {
        let mut states = ProducerStates::default();
        for id in 0..(PRODUCERS_MAX as i64) {
            states.record(id, (id % 3) as i16, 0, 4, id * 10);
        }
        // Producer 0 is written again, so producer 1 becomes the least recently written.
        states.record(0, 0, 5, 9, 999_999);
        let mut decoded = ProducerStates::decode(&states.encode()).expect("decodes");
        assert_eq!(decoded.producers(), PRODUCERS_MAX);
        for (id, first, last) in [(0, 5, 9), (0, 0, 4), (7, 0, 4), (7, 5, 5), (42, 9, 9)] {
            let epoch = (id % 3) as i16;
            assert_eq!(
                decoded.check(id, epoch, first, last),
                states.check(id, epoch, first, last)
            );
        }
        decoded.record(-5, 0, 0, 0, 1);
        states.record(-5, 0, 0, 0, 1);
        assert_eq!(
            decoded.check(1, 1, 0, 4),
            Ok(SequenceCheck::Append),
            "1 forgotten"
        );
        assert_eq!(decoded.check(1, 1, 0, 4), states.check(1, 1, 0, 4));
        assert_eq!(
            decoded.check(0, 0, 5, 9),
            Ok(SequenceCheck::Duplicate {
                base_offset: 999_999
            })
        );
    }

    /// Every cut and every inflated count of a payload is an error, never a panic.
    #[test]
    fn damaged_snapshot_payloads_are_errors() {
        let mut states = ProducerStates::default();
        states.record(7, 1, 0, 9, 100);
        states.record(8, 0, 0, 0, 110);
        let bytes = states.encode();
        for cut in 0..bytes.len() {
            assert!(
                ProducerStates::decode(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            ProducerStates::decode(&longer).err(),
            Some(SnapshotError::TrailingBytes(1))
        );
        let mut too_many = bytes.clone();
        too_many[0..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            ProducerStates::decode(&too_many),
            Err(SnapshotError::TooMany { .. })
        ));
        let mut batches = bytes;
        batches[4 + 10] = 200;
        assert!(matches!(
            ProducerStates::decode(&batches),
            Err(SnapshotError::TooMany { .. })
        ));
    }

    /// The number of producers remembered is bounded.
    #[test]
    fn producers_are_bounded() {
        let mut states = ProducerStates::default();
        for id in 0..(PRODUCERS_MAX as i64 + 10) {
            states.record(id, 0, 0, 0, id);
        }
        assert_eq!(states.producers(), PRODUCERS_MAX);
    }
}
