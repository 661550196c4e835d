//! DescribeConfigs (key 32, v1-4): topic configs from the backend; the broker resource
//! (which tools query) answers an empty list. A topic needs DESCRIBE_CONFIGS on it (else
//! TOPIC_AUTHORIZATION_FAILED), the broker DESCRIBE_CONFIGS on the cluster (else
//! CLUSTER_AUTHORIZATION_FAILED), as in Kafka.

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use yak_auth::{Operation, Resource};

use crate::backend::{error_code, Backend, BackendError};
use crate::create_topics::config_source;
use crate::session::Session;

/// Kafka's ConfigResource types.
pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

pub fn handle<B: Backend>(
    backend: &B,
    session: &Session,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            let wanted = |name: &str| {
                resource
                    .configuration_keys
                    .as_ref()
                    .is_none_or(|keys| keys.iter().any(|k| k.as_str() == name))
            };
            let refused = match resource.resource_type {
                RESOURCE_TOPIC => (!backend.authorize(
                    session,
                    Operation::DescribeConfigs,
                    &Resource::topic(resource.resource_name.as_str()),
                ))
                .then_some(BackendError::TopicAuthorizationFailed),
                RESOURCE_BROKER => {
                    (!backend.authorize(session, Operation::DescribeConfigs, &Resource::cluster()))
                        .then_some(BackendError::ClusterAuthorizationFailed)
                }
                _ => None,
            };
            if let Some(error) = refused {
                return result
                    .with_error_code(error.code())
                    .with_error_message(Some(StrBytes::from_string(error.to_string())));
            }
            match resource.resource_type {
                RESOURCE_TOPIC => match backend.topic(resource.resource_name.as_str()) {
                    Some(meta) => {
                        let configs = meta
                            .configs
                            .iter()
                            .filter(|(name, _)| wanted(name))
                            .map(|(name, value)| {
                                let source = config_source(&meta, name);
                                DescribeConfigsResourceResult::default()
                                    .with_name(StrBytes::from_string(name.clone()))
                                    .with_value(Some(StrBytes::from_string(value.clone())))
                                    .with_config_source(source)
                            })
                            .collect();
                        result
                            .with_error_code(error_code::NONE)
                            .with_configs(configs)
                    }
                    None => result
                        .with_error_code(BackendError::UnknownTopicOrPartition.code())
                        .with_error_message(Some(StrBytes::from_static_str("unknown topic"))),
                },
                RESOURCE_BROKER => result.with_error_code(error_code::NONE),
                other => result
                    .with_error_code(error_code::INVALID_REQUEST)
                    .with_error_message(Some(StrBytes::from_string(format!(
                        "resource type {other} is not supported"
                    )))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory_backend::MemoryBackend;
    use crate::versions;
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
    use kafka_protocol::messages::ApiKey;
    use kafka_protocol::protocol::Encodable;

    /// Proves topic configs are listed (and filtered), unknown topics fail, and every
    /// version encodes.
    #[test]
    fn describes_topics() {
        let backend = MemoryBackend::for_tests();
        backend.add_topic("a", 1);
        let resource = |kind, name: &'static str, keys: Option<Vec<&'static str>>| {
            DescribeConfigsResource::default()
                .with_resource_type(kind)
                .with_resource_name(StrBytes::from_static_str(name))
                .with_configuration_keys(
                    keys.map(|k| k.into_iter().map(StrBytes::from_static_str).collect()),
                )
        };
        let request = DescribeConfigsRequest::default().with_resources(vec![
            resource(RESOURCE_TOPIC, "a", None),
            resource(RESOURCE_TOPIC, "a", Some(vec!["retention.ms"])),
            resource(RESOURCE_TOPIC, "missing", None),
            resource(RESOURCE_BROKER, "1", None),
            resource(8, "x", None),
        ]);
        let response = handle(&backend, &Session::anonymous(), request);
        assert!(response.results[0].configs.len() > 1);
        assert!(
            response.results[0]
                .configs
                .iter()
                .all(|c| c.config_source == crate::create_topics::CONFIG_SOURCE_DEFAULT),
            "a topic that set nothing shows the broker's defaults"
        );
        assert_eq!(response.results[1].configs.len(), 1);
        assert_eq!(response.results[2].error_code, 3);
        assert_eq!(response.results[3].error_code, 0);
        assert_eq!(response.results[4].error_code, 42);
        for version in versions::decoded_versions(ApiKey::DescribeConfigs) {
            let mut buf = bytes::BytesMut::new();
            response.encode(&mut buf, version).expect("encodes");
        }
    }
}
