//! IncrementalAlterConfigs (key 44, v0-1): SET and DELETE of topic configs, passed to the
//! backend per topic (all of one topic's changes apply together or not at all). APPEND and
//! SUBTRACT, which only list-valued configs take, and broker resources answer INVALID_CONFIG /
//! INVALID_REQUEST. A topic needs ALTER_CONFIGS on it (else TOPIC_AUTHORIZATION_FAILED), the
//! broker ALTER_CONFIGS on the cluster (else CLUSTER_AUTHORIZATION_FAILED), as in Kafka.

use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use yak_auth::{Operation, Resource};

use crate::backend::{error_code, Backend, BackendError};
use crate::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC};
use crate::session::Session;

/// Kafka's AlterConfigOp types.
pub const OPERATION_SET: i8 = 0;
pub const OPERATION_DELETE: i8 = 1;

pub async fn handle<B: Backend>(
    backend: &B,
    session: &Session,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        let response = AlterConfigsResourceResponse::default()
            .with_resource_type(resource.resource_type)
            .with_resource_name(resource.resource_name.clone());
        let outcome = match resource.resource_type {
            RESOURCE_TOPIC
                if !backend.authorize(
                    session,
                    Operation::AlterConfigs,
                    &Resource::topic(resource.resource_name.as_str()),
                ) =>
            {
                Err(BackendError::TopicAuthorizationFailed)
            }
            RESOURCE_BROKER
                if !backend.authorize(session, Operation::AlterConfigs, &Resource::cluster()) =>
            {
                Err(BackendError::ClusterAuthorizationFailed)
            }
            RESOURCE_TOPIC => {
                let changes: Result<Vec<(String, Option<String>)>, BackendError> = resource
                    .configs
                    .iter()
                    .map(|config| {
                        let name = config.name.as_str().to_owned();
                        match config.config_operation {
                            OPERATION_SET => Ok((
                                name,
                                Some(
                                    config
                                        .value
                                        .as_ref()
                                        .map(|v| v.as_str().to_owned())
                                        .unwrap_or_default(),
                                ),
                            )),
                            OPERATION_DELETE => Ok((name, None)),
                            other => Err(BackendError::InvalidConfig(format!(
                                "operation {other} on {name} is not supported: no config here is a list"
                            ))),
                        }
                    })
                    .collect();
                match changes {
                    Ok(changes) => {
                        backend
                            .alter_topic_configs(
                                resource.resource_name.as_str(),
                                changes,
                                request.validate_only,
                            )
                            .await
                    }
                    Err(error) => Err(error),
                }
            }
            RESOURCE_BROKER => Err(BackendError::InvalidConfig(
                "broker configs are set by flags, the TOML file or YAK_* variables".into(),
            )),
            other => {
                responses.push(
                    response
                        .with_error_code(error_code::INVALID_REQUEST)
                        .with_error_message(Some(StrBytes::from_string(format!(
                            "resource type {other} is not supported"
                        )))),
                );
                continue;
            }
        };
        responses.push(match outcome {
            Ok(()) => response.with_error_code(error_code::NONE),
            Err(error) => response
                .with_error_code(error.code())
                .with_error_message(Some(StrBytes::from_string(
                    error.message().unwrap_or_else(|| error.to_string()),
                ))),
        });
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory_backend::MemoryBackend;
    use crate::versions;
    use kafka_protocol::messages::incremental_alter_configs_request::{
        AlterConfigsResource, AlterableConfig,
    };
    use kafka_protocol::messages::ApiKey;
    use kafka_protocol::protocol::Encodable;

    fn change(name: &'static str, operation: i8, value: Option<&'static str>) -> AlterableConfig {
        AlterableConfig::default()
            .with_name(StrBytes::from_static_str(name))
            .with_config_operation(operation)
            .with_value(value.map(StrBytes::from_static_str))
    }

    fn resource(
        kind: i8,
        name: &'static str,
        configs: Vec<AlterableConfig>,
    ) -> AlterConfigsResource {
        AlterConfigsResource::default()
            .with_resource_type(kind)
            .with_resource_name(StrBytes::from_static_str(name))
            .with_configs(configs)
    }

    /// Proves SET and DELETE reach the backend, unknown topics, APPEND, broker resources and
    /// unknown resource types fail with Kafka's codes, and every version encodes.
    #[tokio::test]
    async fn alters_topic_configs() {
        let backend = MemoryBackend::for_tests();
        backend.add_topic("a", 1);
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
            resource(
                RESOURCE_TOPIC,
                "a",
                vec![
                    change("retention.ms", OPERATION_SET, Some("1000")),
                    change("segment.ms", OPERATION_DELETE, None),
                ],
            ),
            resource(RESOURCE_TOPIC, "missing", vec![]),
            resource(
                RESOURCE_TOPIC,
                "a",
                vec![change("cleanup.policy", 2, Some("delete"))],
            ),
            resource(RESOURCE_BROKER, "0", vec![]),
            resource(8, "x", vec![]),
        ]);
        let response = handle(&backend, &Session::anonymous(), request).await;
        let codes: Vec<i16> = response.responses.iter().map(|r| r.error_code).collect();
        assert_eq!(codes, vec![0, 3, 40, 40, 42]);
        let meta = backend.topic("a").expect("topic");
        assert!(meta
            .configs
            .contains(&("retention.ms".to_string(), "1000".to_string())));
        assert_eq!(
            crate::create_topics::config_source(&meta, "retention.ms"),
            crate::create_topics::CONFIG_SOURCE_TOPIC
        );
        for version in versions::decoded_versions(ApiKey::IncrementalAlterConfigs) {
            let mut buf = bytes::BytesMut::new();
            response.encode(&mut buf, version).expect("encodes");
        }
    }
}
