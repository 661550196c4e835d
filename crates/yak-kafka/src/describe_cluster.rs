//! DescribeCluster (key 60, v0-1): the cluster id, controller and brokers, as Metadata
//! lists them. Only the broker endpoint type (1) is served.
//!
//! Authorization, as a Kafka broker's (`AuthHelper.computeDescribeClusterResponse`): the
//! answer needs no permission, since Metadata shows the same brokers to everyone; only when
//! the request asks for `cluster_authorized_operations` does DESCRIBE on the cluster matter:
//! without it the field is 0, with it the bit field of the cluster operations the session
//! may do. (Kafka's controllers refuse DescribeCluster without ALTER, but YAK exposes no
//! controller endpoints.)

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use yak_auth::{Operation, Resource, ResourceType};

use crate::backend::{error_code, Backend};
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
    let response = if request.include_cluster_authorized_operations {
        response.with_cluster_authorized_operations(authorized_operations(backend, session))
    } else {
        response
    };
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

/// The cluster operations `session` may do as Kafka's bit field (bit `1 << code` per
/// operation), or 0 when it may not DESCRIBE the cluster.
pub fn authorized_operations<B: Backend>(backend: &B, session: &Session) -> i32 {
    let cluster = Resource::cluster();
    if !backend.authorize(session, Operation::Describe, &cluster) {
        return 0;
    }
    ResourceType::Cluster
        .operations()
        .iter()
        .filter(|operation| **operation != Operation::All)
        .filter(|operation| backend.authorize_quietly(session, **operation, &cluster))
        .fold(0, |bits, operation| bits | 1 << operation.kafka_code())
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

    /// Proves DescribeCluster needs no permission (as on a Kafka broker), and that the
    /// authorized operations it is asked for are 0 without DESCRIBE on the cluster and Kafka's
    /// bit field with it.
    #[test]
    fn authorized_operations_follow_the_acls() {
        let backend = MemoryBackend::for_tests();
        backend.allow_only(Vec::new());
        let asked =
            || DescribeClusterRequest::default().with_include_cluster_authorized_operations(true);
        let response = handle(&backend, &Session::anonymous(), 1, asked());
        assert_eq!(response.error_code, 0);
        assert_eq!(response.brokers.len(), 1);
        assert_eq!(response.cluster_authorized_operations, 0);
        let plain = handle(
            &backend,
            &Session::anonymous(),
            1,
            DescribeClusterRequest::default(),
        );
        assert_eq!(
            plain.cluster_authorized_operations,
            i32::MIN,
            "not asked: the default"
        );
        backend.allow_only(vec![
            (Operation::Describe, Resource::cluster()),
            (Operation::Create, Resource::cluster()),
        ]);
        let response = handle(&backend, &Session::anonymous(), 1, asked());
        let expected = 1 << Operation::Describe.kafka_code() | 1 << Operation::Create.kafka_code();
        assert_eq!(response.cluster_authorized_operations, expected);
        let mut buf = bytes::BytesMut::new();
        response.encode(&mut buf, 1).expect("encodes");
    }
}
