//! CreatePartitions (key 37, v0-3): grows a topic to a new partition count. Manual
//! assignments are refused. A topic the session may not ALTER answers
//! TOPIC_AUTHORIZATION_FAILED.

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::StrBytes;

use yak_auth::{Operation, Resource};

use crate::backend::{error_code, Backend, BackendError};
use crate::session::Session;

pub async fn handle<B: Backend>(
    backend: &B,
    session: &Session,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
        let result = if !backend.authorize(
            session,
            Operation::Alter,
            &Resource::topic(topic.name.as_str()),
        ) {
            let error = BackendError::TopicAuthorizationFailed;
            result
                .with_error_code(error.code())
                .with_error_message(Some(StrBytes::from_string(error.to_string())))
        } else if topic.assignments.as_ref().is_some_and(|a| !a.is_empty()) {
            result
                .with_error_code(error_code::INVALID_REPLICA_ASSIGNMENT)
                .with_error_message(Some(StrBytes::from_static_str(
                    "manual replica assignments are not supported",
                )))
        } else {
            match backend
                .create_partitions(topic.name.as_str(), topic.count, request.validate_only)
                .await
            {
                Ok(()) => result.with_error_code(error_code::NONE),
                Err(error) => result
                    .with_error_code(error.code())
                    .with_error_message(error.message().map(StrBytes::from_string)),
            }
        };
        results.push(result);
    }
    CreatePartitionsResponse::default().with_results(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory_backend::MemoryBackend;
    use crate::metadata::topic_name;
    use crate::versions;
    use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
    use kafka_protocol::messages::ApiKey;
    use kafka_protocol::protocol::Encodable;

    /// Proves a topic grows, shrinking is refused, and every version encodes.
    #[tokio::test]
    async fn grows_topics() {
        for version in versions::decoded_versions(ApiKey::CreatePartitions) {
            let backend = MemoryBackend::for_tests();
            backend.add_topic("a", 1);
            let request = |count| {
                CreatePartitionsRequest::default().with_topics(vec![
                    CreatePartitionsTopic::default()
                        .with_name(topic_name("a"))
                        .with_count(count),
                ])
            };
            let grown = handle(&backend, &Session::anonymous(), request(3)).await;
            assert_eq!(grown.results[0].error_code, 0);
            assert_eq!(backend.topic("a").map(|t| t.partitions.len()), Some(3));
            let shrunk = handle(&backend, &Session::anonymous(), request(2)).await;
            assert_eq!(shrunk.results[0].error_code, 37);
            for r in [grown, shrunk] {
                let mut buf = bytes::BytesMut::new();
                r.encode(&mut buf, version).expect("encodes");
            }
        }
    }
}
