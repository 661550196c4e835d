//! OffsetForLeaderEpoch (key 23, v2-4): where a leader epoch ends in this node's log.
//!
//! A follower asks it of its new leader before fetching, and truncates its log there (KIP-101,
//! KIP-279); consumers ask it to check their position after a leader change (KIP-320). Each
//! partition answers `(leader_epoch, end_offset)` as the backend finds them: the largest epoch at
//! or below the one asked, and the offset where it ends (the log end offset for the latest).

use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use crate::backend::{error_code, Backend};

pub async fn handle<B: Backend>(
    backend: &B,
    request: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for partition in &topic.partitions {
            let answer = backend
                .offset_for_leader_epoch(
                    topic.topic.as_str(),
                    partition.partition,
                    partition.current_leader_epoch,
                    partition.leader_epoch,
                )
                .await;
            let entry = EpochEndOffset::default().with_partition(partition.partition);
            partitions.push(match answer {
                Ok((leader_epoch, end_offset)) => entry
                    .with_error_code(error_code::NONE)
                    .with_leader_epoch(leader_epoch)
                    .with_end_offset(end_offset),
                Err(error) => entry
                    .with_error_code(error.code())
                    .with_leader_epoch(-1)
                    .with_end_offset(-1),
            });
        }
        topics.push(
            OffsetForLeaderTopicResult::default()
                .with_topic(topic.topic.clone())
                .with_partitions(partitions),
        );
    }
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
