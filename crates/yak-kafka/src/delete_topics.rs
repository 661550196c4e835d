//! DeleteTopics (key 20, v1-6). v1-5 name topics in `topic_names`; v6 in `topics`, by name
//! or by id (an unknown id gets UNKNOWN_TOPIC_ID). A topic the session may not DELETE answers
//! TOPIC_AUTHORIZATION_FAILED; one named by id keeps its name out of that answer unless the
//! session may DESCRIBE it, as Kafka does.

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use yak_auth::{Operation, Resource};

use crate::backend::{error_code, Backend};
use crate::session::Session;

pub async fn handle<B: Backend>(
    backend: &B,
    session: &Session,
    version: i16,
    request: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let targets: Vec<(Option<TopicName>, Uuid)> = if version >= 6 {
        request
            .topics
            .into_iter()
            .map(|t| (t.name, t.topic_id))
            .collect()
    } else {
        request
            .topic_names
            .into_iter()
            .map(|name| (Some(name), Uuid::nil()))
            .collect()
    };
    let mut responses = Vec::with_capacity(targets.len());
    for (name, topic_id) in targets {
        let named = name.is_some();
        let name = name.or_else(|| {
            backend
                .topics()
                .into_iter()
                .find(|meta| meta.topic_id == *topic_id.as_bytes())
                .map(|meta| crate::metadata::topic_name(&meta.name))
        });
        let result = DeletableTopicResult::default().with_topic_id(topic_id);
        let result = match name {
            None => result.with_error_code(error_code::UNKNOWN_TOPIC_ID),
            Some(name)
                if !backend.authorize(
                    session,
                    Operation::Delete,
                    &Resource::topic(name.as_str()),
                ) =>
            {
                let shown = named
                    || backend.authorize(
                        session,
                        Operation::Describe,
                        &Resource::topic(name.as_str()),
                    );
                result
                    .with_name(shown.then_some(name))
                    .with_error_code(error_code::TOPIC_AUTHORIZATION_FAILED)
            }
            Some(name) => {
                let outcome = backend.delete_topic(name.as_str()).await;
                let result = result.with_name(Some(name));
                match outcome {
                    Ok(()) => result.with_error_code(error_code::NONE),
                    Err(error) => result
                        .with_error_code(error.code())
                        .with_error_message(error.message().map(StrBytes::from_string)),
                }
            }
        };
        responses.push(result);
    }
    DeleteTopicsResponse::default().with_responses(responses)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory_backend::MemoryBackend;
    use crate::metadata::topic_name;
    use crate::versions;
    use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
    use kafka_protocol::messages::ApiKey;
    use kafka_protocol::protocol::Encodable;

    /// Proves deletion by name (v1-5) and by name or id (v6), and encoding at every version.
    #[tokio::test]
    async fn deletes_by_name_and_id() {
        for version in versions::decoded_versions(ApiKey::DeleteTopics) {
            let backend = MemoryBackend::for_tests();
            let a = backend.add_topic("a", 1);
            let request = if version >= 6 {
                DeleteTopicsRequest::default().with_topics(vec![
                    DeleteTopicState::default().with_topic_id(Uuid::from_bytes(a.topic_id)),
                    DeleteTopicState::default().with_name(Some(topic_name("missing"))),
                    DeleteTopicState::default().with_topic_id(Uuid::from_bytes([9; 16])),
                ])
            } else {
                DeleteTopicsRequest::default()
                    .with_topic_names(vec![topic_name("a"), topic_name("missing")])
            };
            let response = handle(&backend, &Session::anonymous(), version, request).await;
            assert_eq!(response.responses[0].error_code, 0, "v{version}");
            assert_eq!(response.responses[1].error_code, 3, "v{version}");
            assert!(backend.topic("a").is_none());
            let mut buf = bytes::BytesMut::new();
            response.encode(&mut buf, version).expect("encodes");
        }
    }
}
