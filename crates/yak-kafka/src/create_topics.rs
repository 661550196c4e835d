//! CreateTopics (key 19, v2-7). -1 partitions or replication factor (v4+) means the broker's
//! default; `validate_only` is passed through. Manual replica assignments are refused.
//!
//! Authorization, as Kafka's: CREATE on the cluster, or else CREATE on each topic (a topic
//! without it answers TOPIC_AUTHORIZATION_FAILED); from v5 the created topic's configs are
//! shown only with DESCRIBE_CONFIGS on it (else `topic_config_error_code`
//! TOPIC_AUTHORIZATION_FAILED).

use std::collections::HashSet;

use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use yak_auth::{Operation, Resource};

use crate::backend::{error_code, Backend, TopicMeta};
use crate::session::Session;

/// `config_source` of a topic's own config (Kafka's DYNAMIC_TOPIC_CONFIG).
pub const CONFIG_SOURCE_TOPIC: i8 = 1;
/// `config_source` of a config the topic did not set (Kafka's DEFAULT_CONFIG).
pub const CONFIG_SOURCE_DEFAULT: i8 = 5;

/// Where a topic's config comes from, as Kafka reports it.
pub fn config_source(meta: &TopicMeta, name: &str) -> i8 {
    if meta.configs_set.iter().any(|set| set == name) {
        CONFIG_SOURCE_TOPIC
    } else {
        CONFIG_SOURCE_DEFAULT
    }
}

pub async fn handle<B: Backend>(
    backend: &B,
    session: &Session,
    version: i16,
    request: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let cluster_create = backend.authorize(session, Operation::Create, &Resource::cluster());
    let mut seen = HashSet::new();
    let duplicates: HashSet<String> = request
        .topics
        .iter()
        .filter(|topic| !seen.insert(topic.name.as_str()))
        .map(|topic| topic.name.as_str().to_owned())
        .collect();
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let name = topic.name.as_str().to_owned();
        let result = CreatableTopicResult::default().with_name(topic.name.clone());
        let refused = if duplicates.contains(&name) {
            Some("the topic is named more than once in the request")
        } else if !topic.assignments.is_empty() {
            Some("manual replica assignments are not supported")
        } else {
            None
        };
        if let Some(reason) = refused {
            results.push(failed(
                result,
                error_code::INVALID_REQUEST,
                Some(reason.into()),
                version,
            ));
            continue;
        }
        if !cluster_create
            && !backend.authorize(session, Operation::Create, &Resource::topic(&name))
        {
            results.push(failed(
                result,
                error_code::TOPIC_AUTHORIZATION_FAILED,
                None,
                version,
            ));
            continue;
        }
        let configs = topic
            .configs
            .into_iter()
            .filter_map(|c| {
                c.value
                    .map(|v| (c.name.as_str().to_owned(), v.as_str().to_owned()))
            })
            .collect();
        let outcome = backend
            .create_topic(
                &name,
                topic.num_partitions,
                topic.replication_factor,
                configs,
                request.validate_only,
            )
            .await;
        results.push(match outcome {
            Ok(meta) => {
                let result = created(result, &meta, version);
                if version >= 5
                    && !backend.authorize(
                        session,
                        Operation::DescribeConfigs,
                        &Resource::topic(&name),
                    )
                {
                    result
                        .with_configs(None)
                        .with_topic_config_error_code(error_code::TOPIC_AUTHORIZATION_FAILED)
                } else {
                    result
                }
            }
            Err(error) => {
                tracing::debug!(topic = %name, %error, "create topic failed");
                failed(result, error.code(), error.message(), version)
            }
        });
    }
    CreateTopicsResponse::default().with_topics(results)
}

fn failed(
    result: CreatableTopicResult,
    code: i16,
    message: Option<String>,
    version: i16,
) -> CreatableTopicResult {
    let result = result
        .with_error_code(code)
        .with_error_message(message.map(StrBytes::from_string));
    if version >= 5 {
        result.with_num_partitions(-1).with_replication_factor(-1)
    } else {
        result
    }
}

/// A created (or validated) topic's result, shaped for `version`.
pub fn created(
    result: CreatableTopicResult,
    meta: &TopicMeta,
    version: i16,
) -> CreatableTopicResult {
    let result = result
        .with_error_code(error_code::NONE)
        .with_topic_id(Uuid::from_bytes(meta.topic_id));
    if version < 5 {
        return result;
    }
    let replication_factor = meta
        .partitions
        .first()
        .map(|p| i16::try_from(p.replicas.len()).unwrap_or(i16::MAX))
        .unwrap_or(-1);
    let configs = meta
        .configs
        .iter()
        .map(|(name, value)| {
            CreatableTopicConfigs::default()
                .with_name(StrBytes::from_string(name.clone()))
                .with_value(Some(StrBytes::from_string(value.clone())))
                .with_config_source(config_source(meta, name))
                .with_is_sensitive(false)
        })
        .collect();
    result
        .with_num_partitions(i32::try_from(meta.partitions.len()).unwrap_or(i32::MAX))
        .with_replication_factor(replication_factor)
        .with_configs(Some(configs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory_backend::MemoryBackend;
    use crate::metadata::topic_name;
    use crate::versions;
    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    use kafka_protocol::messages::ApiKey;
    use kafka_protocol::protocol::Encodable;

    fn request(names: &[&str]) -> CreateTopicsRequest {
        CreateTopicsRequest::default().with_topics(
            names
                .iter()
                .map(|n| {
                    CreatableTopic::default()
                        .with_name(topic_name(n))
                        .with_num_partitions(-1)
                        .with_replication_factor(-1)
                })
                .collect(),
        )
    }

    /// Proves creation, TOPIC_ALREADY_EXISTS, duplicates, and encoding at every version.
    #[tokio::test]
    async fn creates_and_refuses() {
        for version in versions::decoded_versions(ApiKey::CreateTopics) {
            let backend = MemoryBackend::for_tests();
            let response = handle(
                &backend,
                &Session::anonymous(),
                version,
                request(&["a", "b", "b"]),
            )
            .await;
            let codes: Vec<i16> = response.topics.iter().map(|t| t.error_code).collect();
            assert_eq!(codes, vec![0, 42, 42]);
            let again = handle(&backend, &Session::anonymous(), version, request(&["a"])).await;
            assert_eq!(again.topics[0].error_code, 36);
            for r in [response, again] {
                let mut buf = bytes::BytesMut::new();
                r.encode(&mut buf, version).expect("encodes");
            }
        }
    }
}
