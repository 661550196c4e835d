//! ListOffsets (key 2, v1-7): earliest (-2), latest (-1), max timestamp (-3, v7) or the
//! first offset at or after a time. `leader_epoch` stays -1 (see `metadata`). A topic the
//! session may not DESCRIBE answers TOPIC_AUTHORIZATION_FAILED on each partition.

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use yak_auth::{Operation, Resource};

use crate::backend::{error_code, Backend, BackendError};
use crate::session::Session;

/// The special timestamps of ListOffsets.
pub const LATEST_TIMESTAMP: i64 = -1;
pub const EARLIEST_TIMESTAMP: i64 = -2;

pub async fn handle<B: Backend>(
    backend: &B,
    session: &Session,
    request: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let authorized = backend.authorize(
            session,
            Operation::Describe,
            &Resource::topic(topic.name.as_str()),
        );
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for partition in &topic.partitions {
            let entry = ListOffsetsPartitionResponse::default()
                .with_partition_index(partition.partition_index);
            let found = if authorized {
                backend
                    .list_offset(
                        topic.name.as_str(),
                        partition.partition_index,
                        partition.timestamp,
                    )
                    .await
            } else {
                Err(BackendError::TopicAuthorizationFailed)
            };
            partitions.push(match found {
                Ok((offset, timestamp)) => {
                    // Kafka answers -1 as the timestamp of earliest/latest lookups.
                    let timestamp =
                        if matches!(partition.timestamp, LATEST_TIMESTAMP | EARLIEST_TIMESTAMP) {
                            -1
                        } else {
                            timestamp
                        };
                    entry
                        .with_error_code(error_code::NONE)
                        .with_offset(offset)
                        .with_timestamp(timestamp)
                }
                Err(error) => entry
                    .with_error_code(error.code())
                    .with_offset(-1)
                    .with_timestamp(-1),
            });
        }
        topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions),
        );
    }
    ListOffsetsResponse::default().with_topics(topics)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory_backend::{test_batch, MemoryBackend};
    use crate::metadata::topic_name;
    use crate::versions;
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use kafka_protocol::messages::ApiKey;
    use kafka_protocol::protocol::Encodable;

    fn request(topic: &str, timestamps: &[i64]) -> ListOffsetsRequest {
        ListOffsetsRequest::default().with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(
                timestamps
                    .iter()
                    .map(|&t| ListOffsetsPartition::default().with_timestamp(t))
                    .collect(),
            )])
    }

    /// Proves earliest, latest and by-time lookups, and that every version encodes.
    #[tokio::test]
    async fn earliest_latest_by_time() {
        let backend = MemoryBackend::for_tests();
        backend.add_topic("t1", 1);
        backend
            .append("t1", 0, test_batch(&[b"a", b"b"]))
            .expect("appends");
        backend
            .append("t1", 0, test_batch(&[b"c"]))
            .expect("appends");
        let response = handle(
            &backend,
            &Session::anonymous(),
            request("t1", &[-2, -1, 0, i64::MAX]),
        )
        .await;
        let offsets: Vec<i64> = response.topics[0]
            .partitions
            .iter()
            .map(|p| p.offset)
            .collect();
        assert_eq!(offsets, vec![0, 3, 0, -1]);
        for version in versions::decoded_versions(ApiKey::ListOffsets) {
            let response =
                handle(&backend, &Session::anonymous(), request("t1", &[-2, -1, 0])).await;
            let missing = handle(&backend, &Session::anonymous(), request("nope", &[-1])).await;
            assert_eq!(missing.topics[0].partitions[0].error_code, 3);
            for r in [response, missing] {
                let mut buf = bytes::BytesMut::new();
                r.encode(&mut buf, version).expect("encodes");
            }
        }
    }
}
