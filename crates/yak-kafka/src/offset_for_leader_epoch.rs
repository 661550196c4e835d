//! OffsetForLeaderEpoch (key 23, v2-4): where a leader epoch ends in this node's log.
//!
//! A follower asks it of its new leader before fetching, and truncates its log there (KIP-101,
//! KIP-279); consumers ask it to check their position after a leader change (KIP-320). Each
//! partition answers `(leader_epoch, end_offset)` as the backend finds them: the largest epoch at
//! or below the one asked, and the offset where it ends (the log end offset for the latest).
//!
//! Authorization, as Kafka's (`KafkaApis.handleOffsetForLeaderEpochRequest`): the API was
//! first for followers, which hold CLUSTER_ACTION on the cluster, and consumers use it since
//! KIP-320 with DESCRIBE on the topic; either allows a topic, whatever `replica_id` says, and
//! a topic allowed by neither answers TOPIC_AUTHORIZATION_FAILED on each partition.

use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use yak_auth::{Operation, Resource};

use crate::backend::{error_code, Backend, BackendError};
use crate::session::Session;

pub async fn handle<B: Backend>(
    backend: &B,
    session: &Session,
    request: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    // Asked quietly: a consumer without CLUSTER_ACTION is the normal case, not a refusal.
    let cluster_allowed =
        backend.authorize_quietly(session, Operation::ClusterAction, &Resource::cluster());
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let refused = if !cluster_allowed
            && !backend.authorize(
                session,
                Operation::Describe,
                &Resource::topic(topic.topic.as_str()),
            ) {
            Some(BackendError::TopicAuthorizationFailed)
        } else {
            None
        };
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for partition in &topic.partitions {
            let answer = match &refused {
                Some(error) => Err(error.clone()),
                None => {
                    backend
                        .offset_for_leader_epoch(
                            topic.topic.as_str(),
                            partition.partition,
                            partition.current_leader_epoch,
                            partition.leader_epoch,
                        )
                        .await
                }
            };
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
