//! Unit tests of authorization across the API modules, against `MemoryBackend` with an
//! exact list of allowed (operation, resource) pairs: refusals carry the codes Kafka clients
//! map to their authorization exceptions, refused work never reaches the backend, and
//! allowed work still does.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    BrokerId, CreateTopicsRequest, DeleteGroupsRequest, DeleteGroupsResponse, FetchRequest,
    FindCoordinatorRequest, GroupId, InitProducerIdRequest, JoinGroupRequest, ListGroupsRequest,
    ListGroupsResponse, ListOffsetsRequest, MetadataRequest, OffsetCommitRequest,
    OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse, ProduceRequest, TransactionalId,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use uuid::Uuid;
use yak_auth::{Operation, Resource};

use crate::backend::{error_code, Backend};
use crate::fetch::FetchLimits;
use crate::groups::{Client, GroupRequest, GroupResponse};
use crate::memory::ResponseBudget;
use crate::memory_backend::{test_batch, MemoryBackend};
use crate::metadata::topic_name;
use crate::produce::ProduceReply;
use crate::session::Session;

fn session() -> Session {
    Session::anonymous()
}

fn backend_with(topics: &[&str], allowed: Vec<(Operation, Resource)>) -> MemoryBackend {
    let backend = MemoryBackend::for_tests();
    for topic in topics {
        backend.add_topic(topic, 1);
    }
    backend.allow_only(allowed);
    backend
}

fn produce_request(acks: i16, topics: &[&str]) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(1000)
        .with_topic_data(
            topics
                .iter()
                .map(|t| {
                    TopicProduceData::default()
                        .with_name(topic_name(t))
                        .with_partition_data(vec![PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(test_batch(&[b"v"])))])
                })
                .collect(),
        )
}

/// Proves Produce needs WRITE per topic: the refused topic answers TOPIC_AUTHORIZATION_FAILED
/// and stays empty, the allowed one is appended.
#[tokio::test]
async fn produce_without_write_is_topic_authorization_failed() {
    let backend = backend_with(&["a", "b"], vec![(Operation::Write, Resource::topic("a"))]);
    let ProduceReply::Response(response) =
        crate::produce::handle(&backend, &session(), 9, produce_request(1, &["a", "b"])).await
    else {
        panic!("acks=1 answers");
    };
    let codes: Vec<i16> = response
        .responses
        .iter()
        .map(|t| t.partition_responses[0].error_code)
        .collect();
    assert_eq!(codes, vec![0, error_code::TOPIC_AUTHORIZATION_FAILED]);
    assert_eq!(backend.list_offset("a", 0, -1).await, Ok((1, -1)));
    assert_eq!(backend.list_offset("b", 0, -1).await, Ok((0, -1)));
    // acks=0 has no response to carry the refusal: the connection closes, as in Kafka.
    let reply = crate::produce::handle(&backend, &session(), 9, produce_request(0, &["b"])).await;
    assert!(matches!(reply, ProduceReply::CloseConnection));
}

fn fetch_request(topics: &[&str], wait_ms: i32) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(
            topics
                .iter()
                .map(|t| {
                    FetchTopic::default()
                        .with_topic(topic_name(t))
                        .with_partitions(vec![FetchPartition::default()
                            .with_partition(0)
                            .with_fetch_offset(0)
                            .with_partition_max_bytes(1 << 20)])
                })
                .collect(),
        )
}

const LIMITS: FetchLimits = FetchLimits {
    wait_ms_max: 60_000,
    fetch_bytes_max: 1 << 20,
};

async fn fetch(
    backend: &MemoryBackend,
    request: FetchRequest,
) -> kafka_protocol::messages::FetchResponse {
    crate::fetch::handle(
        backend,
        &session(),
        LIMITS,
        request,
        ResponseBudget::standalone(1 << 20),
    )
    .await
    .0
}

/// Proves a consumer's Fetch needs READ per topic: the refused partition answers
/// TOPIC_AUTHORIZATION_FAILED without records, the allowed one gets its records.
#[tokio::test]
async fn fetch_without_read_is_topic_authorization_failed() {
    let backend = backend_with(&["a", "b"], vec![(Operation::Read, Resource::topic("a"))]);
    for topic in ["a", "b"] {
        backend
            .append(topic, 0, test_batch(&[b"v"]))
            .expect("appends");
    }
    let response = fetch(&backend, fetch_request(&["a", "b"], 0)).await;
    let a = &response.responses[0].partitions[0];
    let b = &response.responses[1].partitions[0];
    assert_eq!(a.error_code, 0);
    assert!(!a.records.as_ref().is_none_or(Bytes::is_empty));
    assert_eq!(b.error_code, error_code::TOPIC_AUTHORIZATION_FAILED);
    assert!(b.records.as_ref().is_some_and(Bytes::is_empty));
}

/// Proves a Fetch of nothing but refused partitions is answered at once, not held for
/// `max_wait_ms` as a fetch of empty partitions is.
#[tokio::test(start_paused = true)]
async fn fetch_of_only_refused_partitions_answers_at_once() {
    let backend = backend_with(&["b"], Vec::new());
    let started = tokio::time::Instant::now();
    let response = fetch(&backend, fetch_request(&["b"], 30_000)).await;
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(
        response.responses[0].partitions[0].error_code,
        error_code::TOPIC_AUTHORIZATION_FAILED
    );
}

/// Proves a follower's Fetch needs CLUSTER_ACTION (READ on the topic is not enough): every
/// partition answers TOPIC_AUTHORIZATION_FAILED, as Kafka answers, in a shape every version
/// encodes.
#[tokio::test]
async fn replica_fetch_without_cluster_action_is_refused() {
    let backend = backend_with(&["a"], vec![(Operation::Read, Resource::topic("a"))]);
    for version in crate::versions::decoded_versions(kafka_protocol::messages::ApiKey::Fetch) {
        let request = fetch_request(&["a"], 0).with_replica_id(BrokerId(2));
        let response = fetch(&backend, request).await;
        assert_eq!(response.error_code, 0, "v{version}");
        let partition = &response.responses[0].partitions[0];
        assert_eq!(partition.error_code, error_code::TOPIC_AUTHORIZATION_FAILED);
        assert!(partition.records.as_ref().is_some_and(Bytes::is_empty));
        let mut buf = bytes::BytesMut::new();
        response.encode(&mut buf, version).expect("encodes");
    }
    backend.allow_only(vec![(Operation::ClusterAction, Resource::cluster())]);
    backend
        .append("a", 0, test_batch(&[b"v"]))
        .expect("appends");
    let request = fetch_request(&["a"], 0).with_replica_id(BrokerId(2));
    let response = fetch(&backend, request).await;
    assert_eq!(response.responses[0].partitions[0].error_code, 0);
}

fn metadata_request(names: Option<&[&str]>, auto_create: bool) -> MetadataRequest {
    MetadataRequest::default()
        .with_allow_auto_topic_creation(auto_create)
        .with_topics(names.map(|names| {
            names
                .iter()
                .map(|n| MetadataRequestTopic::default().with_name(Some(topic_name(n))))
                .collect()
        }))
}

/// Proves Metadata lists only the topics the session may DESCRIBE, refuses a named one it may
/// not see whether it exists or not, and auto-creates only with CREATE.
#[tokio::test]
async fn metadata_hides_topics_it_may_not_describe() {
    let backend = backend_with(
        &["a", "b", "__consumer_offsets"],
        vec![
            (Operation::Describe, Resource::topic("a")),
            (Operation::Describe, Resource::topic("c")),
            (Operation::Describe, Resource::topic("d")),
            (Operation::Create, Resource::topic("d")),
        ],
    );
    let all =
        crate::metadata::handle(&backend, &session(), 12, metadata_request(None, false)).await;
    let names: Vec<&str> = all
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.as_str()))
        .collect();
    assert_eq!(names, vec!["a"]);
    let named = crate::metadata::handle(
        &backend,
        &session(),
        12,
        metadata_request(
            Some(&["b", "missing", "c", "d", "__consumer_offsets"]),
            true,
        ),
    )
    .await;
    let codes: Vec<i16> = named.topics.iter().map(|t| t.error_code).collect();
    assert_eq!(
        codes,
        vec![
            error_code::TOPIC_AUTHORIZATION_FAILED,
            error_code::TOPIC_AUTHORIZATION_FAILED,
            // DESCRIBE but no CREATE: Kafka refuses the auto-creation.
            error_code::TOPIC_AUTHORIZATION_FAILED,
            0,
            error_code::TOPIC_AUTHORIZATION_FAILED,
        ]
    );
    assert!(backend.topic("c").is_none());
    assert!(
        backend.topic("d").is_some(),
        "CREATE on the topic creates it"
    );
    let off = crate::metadata::handle(
        &backend,
        &session(),
        12,
        metadata_request(Some(&["c"]), false),
    )
    .await;
    assert_eq!(
        off.topics[0].error_code,
        error_code::UNKNOWN_TOPIC_OR_PARTITION
    );
    let b_id = backend.topic("b").expect("b").topic_id;
    let by_id = crate::metadata::handle(
        &backend,
        &session(),
        12,
        MetadataRequest::default().with_topics(Some(vec![MetadataRequestTopic::default()
            .with_name(None)
            .with_topic_id(Uuid::from_bytes(b_id))])),
    )
    .await;
    assert_eq!(
        by_id.topics[0].error_code,
        error_code::TOPIC_AUTHORIZATION_FAILED
    );
    assert_eq!(by_id.topics[0].name, None, "the name stays hidden");
}

fn create_request(names: &[&str]) -> CreateTopicsRequest {
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

/// Proves CreateTopics needs CREATE on the cluster or on the topic, and shows configs only
/// with DESCRIBE_CONFIGS.
#[tokio::test]
async fn create_topics_without_create_is_topic_authorization_failed() {
    let backend = backend_with(&[], vec![(Operation::Create, Resource::topic("mine"))]);
    let response =
        crate::create_topics::handle(&backend, &session(), 7, create_request(&["mine", "other"]))
            .await;
    let codes: Vec<i16> = response.topics.iter().map(|t| t.error_code).collect();
    assert_eq!(codes, vec![0, error_code::TOPIC_AUTHORIZATION_FAILED]);
    assert!(backend.topic("other").is_none());
    assert_eq!(
        response.topics[0].topic_config_error_code,
        error_code::TOPIC_AUTHORIZATION_FAILED
    );
    assert!(response.topics[0].configs.is_none());
    let mut buf = bytes::BytesMut::new();
    response.encode(&mut buf, 7).expect("encodes");
    backend.allow_only(vec![(Operation::Create, Resource::cluster())]);
    let response =
        crate::create_topics::handle(&backend, &session(), 7, create_request(&["other"])).await;
    assert_eq!(response.topics[0].error_code, 0, "CREATE on the cluster");
}

/// Proves ListOffsets needs DESCRIBE per topic and DeleteTopics DELETE (nothing is deleted).
#[tokio::test]
async fn list_offsets_and_delete_topics_are_refused_without_their_operation() {
    let backend = backend_with(&["a"], Vec::new());
    let request = ListOffsetsRequest::default().with_topics(vec![ListOffsetsTopic::default()
        .with_name(topic_name("a"))
        .with_partitions(vec![ListOffsetsPartition::default().with_timestamp(-1)])]);
    let response = crate::list_offsets::handle(&backend, &session(), request).await;
    assert_eq!(
        response.topics[0].partitions[0].error_code,
        error_code::TOPIC_AUTHORIZATION_FAILED
    );
    let request = kafka_protocol::messages::DeleteTopicsRequest::default()
        .with_topic_names(vec![topic_name("a")]);
    let response = crate::delete_topics::handle(&backend, &session(), 5, request).await;
    assert_eq!(
        response.responses[0].error_code,
        error_code::TOPIC_AUTHORIZATION_FAILED
    );
    assert!(backend.topic("a").is_some());
}

/// Proves InitProducerId needs IDEMPOTENT_WRITE on the cluster or WRITE on some topic, and
/// WRITE on a transactional id it names (KIP-679).
#[tokio::test]
async fn init_producer_id_needs_idempotent_write_or_write_on_a_topic() {
    let plain = || InitProducerIdRequest::default().with_transactional_id(None);
    let backend = backend_with(&["a"], vec![(Operation::Write, Resource::topic("b"))]);
    let refused = crate::init_producer_id::handle(&backend, &session(), plain()).await;
    assert_eq!(refused.error_code, error_code::CLUSTER_AUTHORIZATION_FAILED);
    backend.allow_only(vec![(Operation::Write, Resource::topic("a"))]);
    let allowed = crate::init_producer_id::handle(&backend, &session(), plain()).await;
    assert_eq!(allowed.error_code, 0);
    backend.allow_only(vec![(Operation::IdempotentWrite, Resource::cluster())]);
    let allowed = crate::init_producer_id::handle(&backend, &session(), plain()).await;
    assert_eq!(allowed.error_code, 0);
    let transactional = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("t"))));
    let refused = crate::init_producer_id::handle(&backend, &session(), transactional).await;
    assert_eq!(
        refused.error_code,
        error_code::TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    );
}

/// Proves FindCoordinator answers GROUP_AUTHORIZATION_FAILED per key it may not DESCRIBE.
#[test]
fn find_coordinator_refuses_groups_it_may_not_describe() {
    let backend = backend_with(&[], vec![(Operation::Describe, Resource::group("mine"))]);
    let request = FindCoordinatorRequest::default().with_coordinator_keys(vec![
        StrBytes::from_static_str("mine"),
        StrBytes::from_static_str("theirs"),
    ]);
    let response = crate::find_coordinator::handle(&backend, &session(), 4, request);
    let codes: Vec<i16> = response.coordinators.iter().map(|c| c.error_code).collect();
    // The memory backend has no group coordinator: an allowed key gets "not available".
    assert_eq!(
        codes,
        vec![
            error_code::COORDINATOR_NOT_AVAILABLE,
            error_code::GROUP_AUTHORIZATION_FAILED
        ]
    );
}

async fn group(backend: &MemoryBackend, request: GroupRequest, version: i16) -> GroupResponse {
    crate::group_authorization::handle(backend, &session(), request, version, Client::default())
        .await
}

/// Proves JoinGroup without READ on the group answers GROUP_AUTHORIZATION_FAILED and never
/// reaches the coordinator; with READ it does.
#[tokio::test]
async fn join_group_without_read_is_group_authorization_failed() {
    let backend = backend_with(&[], Vec::new());
    let join = || {
        GroupRequest::Join(
            JoinGroupRequest::default()
                .with_group_id(GroupId(StrBytes::from_static_str("g")))
                .with_protocol_type(StrBytes::from_static_str("consumer"))
                .with_protocols(vec![JoinGroupRequestProtocol::default()
                    .with_name(StrBytes::from_static_str("range"))]),
        )
    };
    let GroupResponse::Join(refused) = group(&backend, join(), 5).await else {
        panic!("a JoinGroup answer");
    };
    assert_eq!(refused.error_code, error_code::GROUP_AUTHORIZATION_FAILED);
    assert!(backend.group_requests().is_empty());
    backend.allow_only(vec![(Operation::Read, Resource::group("g"))]);
    group(&backend, join(), 5).await;
    assert_eq!(backend.group_requests().len(), 1);
}

/// Proves OffsetCommit commits only topics it may READ: the coordinator sees the allowed
/// topic alone, and the refused one answers TOPIC_AUTHORIZATION_FAILED in its place.
#[tokio::test]
async fn offset_commit_refuses_topics_it_may_not_read() {
    let backend = backend_with(
        &[],
        vec![
            (Operation::Read, Resource::group("g")),
            (Operation::Read, Resource::topic("a")),
        ],
    );
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen_by_backend = Arc::clone(&seen);
    backend.answer_groups(Box::new(move |request, _| {
        let GroupRequest::OffsetCommit(commit) = request else {
            panic!("an OffsetCommit");
        };
        let mut seen = seen_by_backend.lock().expect("lock");
        let topics = commit
            .topics
            .iter()
            .map(|t| {
                seen.push(t.name.0.to_string());
                OffsetCommitResponseTopic::default()
                    .with_name(t.name.clone())
                    .with_partitions(vec![OffsetCommitResponsePartition::default()])
            })
            .collect();
        GroupResponse::OffsetCommit(OffsetCommitResponse::default().with_topics(topics))
    }));
    let topic = |name: &str| {
        OffsetCommitRequestTopic::default()
            .with_name(topic_name(name))
            .with_partitions(vec![OffsetCommitRequestPartition::default()])
    };
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("g")))
        .with_topics(vec![topic("b"), topic("a")]);
    let GroupResponse::OffsetCommit(response) =
        group(&backend, GroupRequest::OffsetCommit(request), 8).await
    else {
        panic!("an OffsetCommit answer");
    };
    assert_eq!(*seen.lock().expect("lock"), vec!["a".to_string()]);
    let answered: Vec<(&str, i16)> = response
        .topics
        .iter()
        .map(|t| (t.name.0.as_str(), t.partitions[0].error_code))
        .collect();
    assert_eq!(
        answered,
        vec![("b", error_code::TOPIC_AUTHORIZATION_FAILED), ("a", 0)]
    );
}

/// Proves ListGroups shows only groups it may DESCRIBE (all with DESCRIBE on the cluster),
/// OffsetFetch of all partitions leaves out topics it may not DESCRIBE, and DeleteGroups
/// deletes only groups it may DELETE.
#[tokio::test]
async fn group_listings_and_deletes_are_cut_to_what_it_may_see() {
    let backend = backend_with(
        &[],
        vec![
            (Operation::Describe, Resource::group("mine")),
            (Operation::Delete, Resource::group("mine")),
            (Operation::Describe, Resource::topic("a")),
        ],
    );
    backend.answer_groups(Box::new(|request, _| match request {
        GroupRequest::ListGroups(_) => GroupResponse::ListGroups(
            ListGroupsResponse::default().with_groups(
                ["mine", "theirs"]
                    .iter()
                    .map(|g| {
                        ListedGroup::default().with_group_id(GroupId(StrBytes::from_static_str(g)))
                    })
                    .collect(),
            ),
        ),
        GroupRequest::OffsetFetch(_) => GroupResponse::OffsetFetch(
            OffsetFetchResponse::default().with_topics(
                ["a", "b"]
                    .iter()
                    .map(|t| {
                        OffsetFetchResponseTopic::default()
                            .with_name(topic_name(t))
                            .with_partitions(vec![
                                OffsetFetchResponsePartition::default().with_committed_offset(5)
                            ])
                    })
                    .collect(),
            ),
        ),
        GroupRequest::DeleteGroups(delete) => GroupResponse::DeleteGroups(
            DeleteGroupsResponse::default().with_results(
                delete
                    .groups_names
                    .iter()
                    .map(|g| DeletableGroupResult::default().with_group_id(g.clone()))
                    .collect(),
            ),
        ),
        other => panic!("unexpected {other:?}"),
    }));
    let GroupResponse::ListGroups(listed) = group(
        &backend,
        GroupRequest::ListGroups(ListGroupsRequest::default()),
        4,
    )
    .await
    else {
        panic!("a ListGroups answer");
    };
    let names: Vec<&str> = listed
        .groups
        .iter()
        .map(|g| g.group_id.0.as_str())
        .collect();
    assert_eq!(names, vec!["mine"]);

    let fetch_all = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("mine")))
        .with_topics(None);
    let GroupResponse::OffsetFetch(fetched) =
        group(&backend, GroupRequest::OffsetFetch(fetch_all), 7).await
    else {
        panic!("an OffsetFetch answer");
    };
    let topics: Vec<&str> = fetched.topics.iter().map(|t| t.name.0.as_str()).collect();
    assert_eq!(topics, vec!["a"]);
    let fetch_theirs = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("theirs")))
        .with_topics(None);
    let GroupResponse::OffsetFetch(refused) =
        group(&backend, GroupRequest::OffsetFetch(fetch_theirs), 7).await
    else {
        panic!("an OffsetFetch answer");
    };
    assert_eq!(refused.error_code, error_code::GROUP_AUTHORIZATION_FAILED);

    let delete = DeleteGroupsRequest::default().with_groups_names(vec![
        GroupId(StrBytes::from_static_str("theirs")),
        GroupId(StrBytes::from_static_str("mine")),
    ]);
    let GroupResponse::DeleteGroups(deleted) =
        group(&backend, GroupRequest::DeleteGroups(delete), 2).await
    else {
        panic!("a DeleteGroups answer");
    };
    let answered: Vec<(&str, i16)> = deleted
        .results
        .iter()
        .map(|r| (r.group_id.0.as_str(), r.error_code))
        .collect();
    assert_eq!(
        answered,
        vec![
            ("theirs", error_code::GROUP_AUTHORIZATION_FAILED),
            ("mine", 0)
        ]
    );
}

/// Encodes a group API response at `version`, as the connection would.
fn encodes(response: &GroupResponse, version: i16) -> bool {
    let mut buf = bytes::BytesMut::new();
    match response {
        GroupResponse::Join(r) => r.encode(&mut buf, version).is_ok(),
        GroupResponse::Sync(r) => r.encode(&mut buf, version).is_ok(),
        GroupResponse::Heartbeat(r) => r.encode(&mut buf, version).is_ok(),
        GroupResponse::Leave(r) => r.encode(&mut buf, version).is_ok(),
        GroupResponse::OffsetCommit(r) => r.encode(&mut buf, version).is_ok(),
        GroupResponse::OffsetFetch(r) => r.encode(&mut buf, version).is_ok(),
        GroupResponse::ListGroups(r) => r.encode(&mut buf, version).is_ok(),
        GroupResponse::DescribeGroups(r) => r.encode(&mut buf, version).is_ok(),
        GroupResponse::DeleteGroups(r) => r.encode(&mut buf, version).is_ok(),
        GroupResponse::OffsetDelete(r) => r.encode(&mut buf, version).is_ok(),
    }
}

/// Proves every refusal of a group API encodes at every version served, with the group
/// refused and with only its topics refused.
#[tokio::test]
async fn group_refusals_encode_at_every_version() {
    use kafka_protocol::messages::offset_delete_request::{
        OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
    };
    use kafka_protocol::messages::offset_fetch_request::{
        OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
    };
    use kafka_protocol::messages::{
        ApiKey, DescribeGroupsRequest, HeartbeatRequest, LeaveGroupRequest, OffsetDeleteRequest,
        SyncGroupRequest,
    };
    let g = || GroupId(StrBytes::from_static_str("g"));
    let requests = |version: i16| -> Vec<GroupRequest> {
        let fetch = if version >= 8 {
            OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
                .with_group_id(g())
                .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                    .with_name(topic_name("t"))
                    .with_partition_indexes(vec![0])]))])
        } else {
            OffsetFetchRequest::default()
                .with_group_id(g())
                .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                    .with_name(topic_name("t"))
                    .with_partition_indexes(vec![0])]))
        };
        vec![
            GroupRequest::Join(JoinGroupRequest::default().with_group_id(g())),
            GroupRequest::Sync(SyncGroupRequest::default().with_group_id(g())),
            GroupRequest::Heartbeat(HeartbeatRequest::default().with_group_id(g())),
            GroupRequest::Leave(LeaveGroupRequest::default().with_group_id(g())),
            GroupRequest::OffsetCommit(
                OffsetCommitRequest::default()
                    .with_group_id(g())
                    .with_topics(vec![OffsetCommitRequestTopic::default()
                        .with_name(topic_name("t"))
                        .with_partitions(vec![OffsetCommitRequestPartition::default()])]),
            ),
            GroupRequest::OffsetFetch(fetch),
            GroupRequest::ListGroups(ListGroupsRequest::default()),
            GroupRequest::DescribeGroups(DescribeGroupsRequest::default().with_groups(vec![g()])),
            GroupRequest::DeleteGroups(DeleteGroupsRequest::default().with_groups_names(vec![g()])),
            GroupRequest::OffsetDelete(
                OffsetDeleteRequest::default()
                    .with_group_id(g())
                    .with_topics(vec![OffsetDeleteRequestTopic::default()
                        .with_name(topic_name("t"))
                        .with_partitions(vec![OffsetDeleteRequestPartition::default()])]),
            ),
        ]
    };
    let group_refused = backend_with(&["t"], Vec::new());
    let topic_refused = backend_with(
        &["t"],
        vec![
            (Operation::Read, Resource::group("g")),
            (Operation::Describe, Resource::group("g")),
            (Operation::Delete, Resource::group("g")),
        ],
    );
    for (index, _) in requests(0).iter().enumerate() {
        let api_key = requests(0)[index].api_key();
        for version in crate::versions::decoded_versions(api_key) {
            for backend in [&group_refused, &topic_refused] {
                let request = requests(version).swap_remove(index);
                let response = group(backend, request, version).await;
                assert!(encodes(&response, version), "{api_key:?} v{version}");
            }
        }
        let _: ApiKey = api_key;
    }
}
