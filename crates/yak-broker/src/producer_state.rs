//! Idempotent producers: per partition, the last batches of each producer id, so a retried batch
//! is answered with its original offset instead of being written twice, and a gap in sequence
//! numbers is refused (Kafka's `ProducerStateManager`, reduced to what the checks need).
//!
//! Plain data, no I/O: the partition consults it under its append lock and rebuilds it from the
//! log's batch headers at start-up.

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
