//! Metadata (key 3): brokers at their advertised addresses, topics, leaders, replicas, ISR.
//!
//! Topic list semantics: v0 empty = all topics; v1+ null = all, empty = none (librdkafka,
//! aiokafka and kafka-python send empty lists to refresh brokers only). v10+ may name topics
//! by id, and every topic carries its real UUID.
//!
//! Authorization, as Kafka's: an all-topics request lists only the topics the session may
//! DESCRIBE; a named topic it may not DESCRIBE answers TOPIC_AUTHORIZATION_FAILED whether it
//! exists or not (so its existence is not disclosed). A missing topic it may DESCRIBE is
//! auto-created only with CREATE on the cluster or on the topic, else it answers
//! TOPIC_AUTHORIZATION_FAILED; with auto-creation off, UNKNOWN_TOPIC_OR_PARTITION.
//! `__consumer_offsets` follows the same rules.

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use yak_auth::{Operation, Resource};

use crate::backend::{error_code, Backend, BackendError, TopicMeta};
use crate::session::{SecurityProtocol, Session};

pub async fn handle<B: Backend>(
    backend: &B,
    session: &Session,
    version: i16,
    request: MetadataRequest,
) -> MetadataResponse {
    // v0-3 have no flag; Kafka lets them auto-create (subject to the broker's own setting).
    let allow_auto_create = version < 4 || request.allow_auto_topic_creation;
    let topics = match request.topics {
        None => all_topics(backend, session),
        Some(list) if list.is_empty() && version == 0 => all_topics(backend, session),
        Some(list) => {
            let mut topics = Vec::with_capacity(list.len());
            for requested in list {
                // v10+ clients name a topic by id with a null (or empty) name.
                let topic = match requested.name {
                    Some(name) if !name.is_empty() || requested.topic_id.is_nil() => {
                        by_name(backend, session, name.as_str(), allow_auto_create).await
                    }
                    _ => by_id(backend, session, requested.topic_id, version),
                };
                topics.push(topic);
            }
            topics
        }
    };
    response(backend, session.listener, topics)
}

fn may_describe<B: Backend>(backend: &B, session: &Session, name: &str) -> bool {
    backend.authorize(session, Operation::Describe, &Resource::topic(name))
}

fn all_topics<B: Backend>(backend: &B, session: &Session) -> Vec<MetadataResponseTopic> {
    backend
        .topics()
        .iter()
        .filter(|meta| {
            backend.authorize_quietly(session, Operation::Describe, &Resource::topic(&meta.name))
        })
        .map(topic_entry)
        .collect()
}

async fn by_name<B: Backend>(
    backend: &B,
    session: &Session,
    name: &str,
    allow_auto_create: bool,
) -> MetadataResponseTopic {
    let found = if !may_describe(backend, session, name) {
        Err(BackendError::TopicAuthorizationFailed)
    } else {
        match backend.topic(name) {
            Some(meta) => Ok(meta),
            None if allow_auto_create => {
                let may_create =
                    backend.authorize(session, Operation::Create, &Resource::cluster())
                        || backend.authorize(session, Operation::Create, &Resource::topic(name));
                if may_create {
                    backend.auto_create_topic(name).await
                } else {
                    Err(BackendError::TopicAuthorizationFailed)
                }
            }
            None => Err(BackendError::UnknownTopicOrPartition),
        }
    };
    match found {
        Ok(meta) => topic_entry(&meta),
        Err(error) => MetadataResponseTopic::default()
            .with_error_code(error.code())
            .with_name(Some(topic_name(name))),
    }
}

fn by_id<B: Backend>(
    backend: &B,
    session: &Session,
    topic_id: Uuid,
    version: i16,
) -> MetadataResponseTopic {
    // The topic name is nullable only from v12; earlier versions get an empty name.
    let unknown_name = (version < 12).then(|| topic_name(""));
    match backend
        .topics()
        .iter()
        .find(|meta| meta.topic_id == *topic_id.as_bytes())
    {
        // The name stays hidden from a session that may not see the topic.
        Some(meta) if !may_describe(backend, session, &meta.name) => {
            MetadataResponseTopic::default()
                .with_error_code(error_code::TOPIC_AUTHORIZATION_FAILED)
                .with_name(unknown_name)
                .with_topic_id(topic_id)
        }
        Some(meta) => topic_entry(meta),
        None => MetadataResponseTopic::default()
            .with_error_code(error_code::UNKNOWN_TOPIC_ID)
            .with_name(unknown_name)
            .with_topic_id(topic_id),
    }
}

pub(crate) fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

fn broker_ids(ids: &[i32]) -> Vec<BrokerId> {
    ids.iter().map(|&id| BrokerId(id)).collect()
}

/// One topic's entry, as every version can carry it.
pub fn topic_entry(meta: &TopicMeta) -> MetadataResponseTopic {
    let partitions = meta
        .partitions
        .iter()
        .map(|partition| {
            let error = if partition.leader_id < 0 {
                error_code::LEADER_NOT_AVAILABLE
            } else {
                error_code::NONE
            };
            // Leader epochs are shown (OffsetForLeaderEpoch is served for the position checks
            // librdkafka makes once it knows one). They must be: librdkafka 2.x sends
            // `current_leader_epoch` 0 rather than -1 to a broker that speaks Metadata v9+, and a
            // cluster past epoch 0 answers that FENCED_LEADER_EPOCH until the client learns the
            // real epoch here.
            let leader_epoch = partition.leader_epoch;
            MetadataResponsePartition::default()
                .with_error_code(error)
                .with_partition_index(partition.partition)
                .with_leader_id(BrokerId(partition.leader_id))
                .with_leader_epoch(leader_epoch)
                .with_replica_nodes(broker_ids(&partition.replicas))
                .with_isr_nodes(broker_ids(&partition.isr))
        })
        .collect();
    MetadataResponseTopic::default()
        .with_error_code(error_code::NONE)
        .with_name(Some(topic_name(&meta.name)))
        .with_topic_id(Uuid::from_bytes(meta.topic_id))
        // Kafka's internal topic for committed offsets is shown as internal, as Kafka does.
        .with_is_internal(meta.name == "__consumer_offsets")
        .with_partitions(partitions)
}

/// The response around `topics`; valid at every version 0-12.
pub fn response<B: Backend>(
    backend: &B,
    listener: SecurityProtocol,
    topics: Vec<MetadataResponseTopic>,
) -> MetadataResponse {
    let brokers = backend
        .nodes(listener)
        .into_iter()
        .map(|node| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(node.node_id))
                .with_host(StrBytes::from_string(node.host))
                .with_port(node.port)
        })
        .collect();
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(StrBytes::from_string(backend.cluster_id())))
        .with_controller_id(BrokerId(backend.controller_id()))
        .with_topics(topics)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory_backend::MemoryBackend;
    use crate::versions;
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kafka_protocol::messages::ApiKey;
    use kafka_protocol::protocol::Encodable;

    /// Regression: epochs were hidden (-1), and librdkafka 2.x, which then fetches with
    /// `current_leader_epoch` 0, was fenced forever by a cluster past epoch 0.
    #[test]
    fn partitions_show_their_leader_epoch() {
        let meta = TopicMeta {
            name: "t".into(),
            topic_id: [1; 16],
            partitions: vec![crate::backend::PartitionMeta {
                partition: 0,
                leader_id: 2,
                leader_epoch: 7,
                replicas: vec![1, 2, 3],
                isr: vec![2, 3],
            }],
            configs: Vec::new(),
            configs_set: Vec::new(),
        };
        let entry = topic_entry(&meta);
        assert_eq!(entry.partitions[0].leader_epoch, 7);
        assert_eq!(entry.partitions[0].leader_id.0, 2);
    }

    fn request(topics: Option<Vec<&str>>) -> MetadataRequest {
        MetadataRequest::default().with_topics(topics.map(|names| {
            names
                .into_iter()
                .map(|n| MetadataRequestTopic::default().with_name(Some(topic_name(n))))
                .collect()
        }))
    }

    /// Proves the response encodes at every version, with known and unknown topics.
    #[tokio::test]
    async fn encodes_at_every_version() {
        let backend = MemoryBackend::for_tests();
        backend.add_topic("t1", 2);
        for version in versions::decoded_versions(ApiKey::Metadata) {
            for topics in [None, Some(vec![]), Some(vec!["t1", "missing"])] {
                let response =
                    handle(&backend, &Session::anonymous(), version, request(topics)).await;
                let mut buf = bytes::BytesMut::new();
                response.encode(&mut buf, version).expect("encodes");
            }
        }
    }

    /// Proves null = all, empty = none from v1, and empty = all at v0.
    #[tokio::test]
    async fn empty_list_means_no_topics_from_v1() {
        let backend = MemoryBackend::for_tests();
        backend.add_topic("t1", 1);
        assert_eq!(
            handle(&backend, &Session::anonymous(), 1, request(None))
                .await
                .topics
                .len(),
            1
        );
        assert_eq!(
            handle(&backend, &Session::anonymous(), 1, request(Some(vec![])))
                .await
                .topics
                .len(),
            0
        );
        assert_eq!(
            handle(&backend, &Session::anonymous(), 12, request(Some(vec![])))
                .await
                .topics
                .len(),
            0
        );
        assert_eq!(
            handle(&backend, &Session::anonymous(), 0, request(Some(vec![])))
                .await
                .topics
                .len(),
            1
        );
    }

    /// Proves an unknown topic gets UNKNOWN_TOPIC_OR_PARTITION when auto-creation is off and
    /// is created when it is allowed.
    #[tokio::test]
    async fn unknown_topic_and_auto_create() {
        let backend = MemoryBackend::for_tests();
        let mut req = request(Some(vec!["new"]));
        req.allow_auto_topic_creation = false;
        let response = handle(&backend, &Session::anonymous(), 12, req).await;
        assert_eq!(response.topics[0].error_code, 3);
        let mut req = request(Some(vec!["new"]));
        req.allow_auto_topic_creation = true;
        let response = handle(&backend, &Session::anonymous(), 12, req).await;
        assert_eq!(response.topics[0].error_code, 0);
        assert!(!response.topics[0].topic_id.is_nil());
    }

    /// Proves v10+ lookups by topic id work and unknown ids get UNKNOWN_TOPIC_ID.
    #[tokio::test]
    async fn lookup_by_topic_id() {
        let backend = MemoryBackend::for_tests();
        let meta = backend.add_topic("t1", 1);
        let by_id = |id: [u8; 16]| {
            MetadataRequest::default().with_topics(Some(vec![MetadataRequestTopic::default()
                .with_name(None)
                .with_topic_id(Uuid::from_bytes(id))]))
        };
        let response = handle(&backend, &Session::anonymous(), 12, by_id(meta.topic_id)).await;
        assert_eq!(
            response.topics[0].name.as_deref().map(|n| n.as_str()),
            Some("t1")
        );
        for version in 10..=12 {
            let response = handle(&backend, &Session::anonymous(), version, by_id([7; 16])).await;
            assert_eq!(response.topics[0].error_code, 100);
            let mut buf = bytes::BytesMut::new();
            response.encode(&mut buf, version).expect("encodes");
        }
    }
}
