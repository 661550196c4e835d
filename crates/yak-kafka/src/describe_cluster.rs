//! DescribeCluster (key 60, v0-1): the cluster id, controller and brokers, as Metadata
//! lists them. Only the broker endpoint type (1) is served. Needs DESCRIBE on the cluster,
//! else CLUSTER_AUTHORIZATION_FAILED (as Kafka 3.x answers).

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use yak_auth::{Operation, Resource};

use crate::backend::{error_code, Backend, BackendError};
use crate::session::Session;

/// `endpoint_type` 1 = brokers (2 = controllers, which YAK does not expose).
pub const ENDPOINT_TYPE_BROKERS: i8 = 1;

pub fn handle<B: Backend>(
    backend: &B,
    session: &Session,
    version: i16,
    request: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let response = DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(backend.cluster_id()))
        .with_controller_id(BrokerId(backend.controller_id()));
    if !backend.authorize(session, Operation::Describe, &Resource::cluster()) {
        let error = BackendError::ClusterAuthorizationFailed;
        return response
            .with_error_code(error.code())
            .with_error_message(Some(StrBytes::from_string(error.to_string())));
    }
    if version >= 1 && request.endpoint_type != ENDPOINT_TYPE_BROKERS {
        return response
            .with_error_code(error_code::UNSUPPORTED_ENDPOINT_TYPE)
            .with_endpoint_type(request.endpoint_type)
            .with_error_message(Some(StrBytes::from_static_str(
                "only broker endpoints are served",
            )));
    }
    let brokers = backend
        .nodes(session.listener)
        .into_iter()
        .map(|node| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(node.node_id))
                .with_host(StrBytes::from_string(node.host))
                .with_port(node.port)
        })
        .collect();
    response
        .with_error_code(error_code::NONE)
        .with_brokers(brokers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory_backend::MemoryBackend;
    use crate::versions;
    use kafka_protocol::messages::ApiKey;
    use kafka_protocol::protocol::Encodable;

    /// Proves the broker list and every version encode; controllers are refused at v1.
    #[test]
    fn describes_the_cluster() {
        let backend = MemoryBackend::for_tests();
        for version in versions::decoded_versions(ApiKey::DescribeCluster) {
            let response = handle(
                &backend,
                &Session::anonymous(),
                version,
                DescribeClusterRequest::default(),
            );
            assert_eq!(response.brokers.len(), 1);
            let mut buf = bytes::BytesMut::new();
            response.encode(&mut buf, version).expect("encodes");
        }
        let response = handle(
            &backend,
            &Session::anonymous(),
            1,
            DescribeClusterRequest::default().with_endpoint_type(2),
        );
        assert_eq!(response.error_code, 119);
        let mut buf = bytes::BytesMut::new();
        response.encode(&mut buf, 1).expect("encodes");
    }
}
