//! `__consumer_offsets`: committed offsets as records of an internal topic.
//!
//! One record per committed offset: key `{"group","topic","partition"}` and value
//! `{"offset","leader_epoch","metadata","commit_ms"}` as JSON, or no value (a tombstone) when the
//! offset was deleted. The latest record of a key wins, so replaying the partition from its start
//! rebuilds every group's committed offsets. (Kafka uses its own binary schema here; YAK's
//! records are JSON so that `yak consume --topic __consumer_offsets` shows them as they are.)

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use yak_log::record;

use crate::error::BrokerError;
use crate::partition::Partition;

/// The internal topic's name, as Kafka's.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// Bytes read from the log per step of a replay.
const REPLAY_READ_BYTES: u32 = 4 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OffsetKey {
    pub group: String,
    pub topic: String,
    pub partition: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetValue {
    pub offset: i64,
    pub leader_epoch: i32,
    #[serde(default)]
    pub metadata: Option<String>,
    pub commit_ms: i64,
}

/// One batch holding `records` (a value of None is a tombstone).
pub fn encode(records: &[(OffsetKey, Option<OffsetValue>)], now_ms: i64) -> Vec<u8> {
    let encoded: Vec<(Vec<u8>, Option<Vec<u8>>)> = records
        .iter()
        .map(|(key, value)| {
            (
                serde_json::to_vec(key).unwrap_or_default(),
                value
                    .as_ref()
                    .map(|v| serde_json::to_vec(v).unwrap_or_default()),
            )
        })
        .collect();
    let to_write: Vec<record::RecordToWrite<'_>> = encoded
        .iter()
        .map(|(key, value)| record::RecordToWrite {
            key: Some(key),
            value: value.as_deref(),
            headers: &[],
            timestamp_ms: now_ms,
        })
        .collect();
    let mut batch = Vec::new();
    record::encode_batch(&to_write, &mut batch);
    batch
}

/// Every committed offset in the partition, read from its start to its log end offset (not its
/// high watermark: a node that was just elected holds acknowledged commits above its own high
/// watermark, which catches up as soon as its followers do; Kafka loads to the log end too). A
/// record that does not parse is skipped with a warning (it cannot have come from this
/// coordinator). Reads the log: call it on a blocking thread.
pub fn replay(partition: &Partition) -> Result<BTreeMap<OffsetKey, OffsetValue>, BrokerError> {
    let mut offsets = BTreeMap::new();
    let mut next = partition.log_start_offset();
    let log_end_offset = partition.log_end_offset();
    while next < log_end_offset {
        let (batches, _) = partition.read_for_replica(next, REPLAY_READ_BYTES)?;
        if batches.is_empty() {
            break;
        }
        let mut last = next;
        crate::compression::for_each_record(&batches, next, |offset, record| {
            last = offset;
            apply_record(&mut offsets, record.key, record.value);
            true
        })
        .map_err(|e| BrokerError::Storage(format!("cannot replay {OFFSETS_TOPIC}: {e:?}")))?;
        if last < next {
            break;
        }
        next = last + 1;
    }
    Ok(offsets)
}

fn apply_record(
    offsets: &mut BTreeMap<OffsetKey, OffsetValue>,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) {
    let Some(key) = key.and_then(|k| serde_json::from_slice::<OffsetKey>(k).ok()) else {
        tracing::warn!("skipping a {OFFSETS_TOPIC} record without a valid key");
        return;
    };
    match value {
        None => {
            offsets.remove(&key);
        }
        Some(value) => match serde_json::from_slice::<OffsetValue>(value) {
            Ok(value) => {
                offsets.insert(key, value);
            }
            Err(error) => {
                tracing::warn!(%error, "skipping a {OFFSETS_TOPIC} record with a bad value")
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_tombstones_delete() {
        let key = OffsetKey {
            group: "g".into(),
            topic: "t".into(),
            partition: 2,
        };
        let value = OffsetValue {
            offset: 42,
            leader_epoch: 3,
            metadata: Some("m".into()),
            commit_ms: 7,
        };
        let batch = encode(
            &[
                (key.clone(), Some(value.clone())),
                (key.clone(), None),
                (key.clone(), Some(value.clone())),
            ],
            1,
        );
        let mut offsets = BTreeMap::new();
        let mut seen = 0;
        crate::compression::for_each_record(&batch, 0, |_, record| {
            seen += 1;
            apply_record(&mut offsets, record.key, record.value);
            if seen == 2 {
                assert!(offsets.is_empty(), "a tombstone deletes");
            }
            true
        })
        .expect("decodes");
        assert_eq!(seen, 3);
        assert_eq!(offsets.get(&key), Some(&value));
    }
}
