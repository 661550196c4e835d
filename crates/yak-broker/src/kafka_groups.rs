//! The group APIs of the Kafka front-end, answered by the node's [`GroupCoordinator`]: the
//! translation between Kafka's request and response bodies (per version) and the coordinator's
//! plain types.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    DeleteGroupsResponse, DescribeGroupsResponse, GroupId, HeartbeatResponse, JoinGroupResponse,
    LeaveGroupResponse, ListGroupsResponse, OffsetCommitResponse, OffsetDeleteResponse,
    OffsetFetchResponse, SyncGroupResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use yak_kafka::groups::{Client, GroupRequest, GroupResponse};

use crate::groups::state::{code, JoinRequest, SyncRequest};
use crate::groups::{GroupCoordinator, OffsetCommit};

fn text(value: &StrBytes) -> String {
    value.as_str().to_string()
}

fn str_bytes(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_string())
}

/// Answers one group request.
pub async fn handle(
    coordinator: &GroupCoordinator,
    request: GroupRequest,
    version: i16,
    client: Client,
) -> GroupResponse {
    match request {
        GroupRequest::Join(request) => {
            let outcome = coordinator
                .join(JoinRequest {
                    group_id: text(&request.group_id.0),
                    member_id: text(&request.member_id),
                    instance_id: request.group_instance_id.as_ref().map(text),
                    client_id: client.client_id.clone(),
                    client_host: client.host.clone(),
                    session_timeout_ms: request.session_timeout_ms,
                    // v0 has no rebalance timeout: Kafka uses the session timeout.
                    rebalance_timeout_ms: if version >= 1 {
                        request.rebalance_timeout_ms
                    } else {
                        request.session_timeout_ms
                    },
                    protocol_type: text(&request.protocol_type),
                    protocols: request
                        .protocols
                        .iter()
                        .map(|p| (text(&p.name), p.metadata.clone()))
                        .collect(),
                    requires_known_member_id: version >= 4,
                    supports_skip_assignment: version >= 9,
                })
                .await;
            let protocol_name = match outcome.protocol_name {
                Some(name) => Some(str_bytes(&name)),
                // Before v7 the field is not nullable.
                None if version < 7 => Some(StrBytes::default()),
                None => None,
            };
            GroupResponse::Join(
                JoinGroupResponse::default()
                    .with_error_code(outcome.error_code)
                    .with_generation_id(outcome.generation_id)
                    .with_protocol_type(if version >= 7 {
                        outcome.protocol_type.as_deref().map(str_bytes)
                    } else {
                        None
                    })
                    .with_protocol_name(protocol_name)
                    .with_leader(str_bytes(&outcome.leader))
                    .with_skip_assignment(version >= 9 && outcome.skip_assignment)
                    .with_member_id(str_bytes(&outcome.member_id))
                    .with_members(
                        outcome
                            .members
                            .into_iter()
                            .map(|(id, instance, metadata)| {
                                JoinGroupResponseMember::default()
                                    .with_member_id(str_bytes(&id))
                                    .with_group_instance_id(if version >= 5 {
                                        instance.as_deref().map(str_bytes)
                                    } else {
                                        None
                                    })
                                    .with_metadata(metadata)
                            })
                            .collect(),
                    ),
            )
        }
        GroupRequest::Sync(request) => {
            let outcome = coordinator
                .sync(SyncRequest {
                    group_id: text(&request.group_id.0),
                    generation_id: request.generation_id,
                    member_id: text(&request.member_id),
                    instance_id: request.group_instance_id.as_ref().map(text),
                    protocol_type: request.protocol_type.as_ref().map(text),
                    protocol_name: request.protocol_name.as_ref().map(text),
                    assignments: request
                        .assignments
                        .iter()
                        .map(|a| (text(&a.member_id), a.assignment.clone()))
                        .collect(),
                })
                .await;
            let recent = version >= 5;
            GroupResponse::Sync(
                SyncGroupResponse::default()
                    .with_error_code(outcome.error_code)
                    .with_protocol_type(if recent {
                        outcome.protocol_type.as_deref().map(str_bytes)
                    } else {
                        None
                    })
                    .with_protocol_name(if recent {
                        outcome.protocol_name.as_deref().map(str_bytes)
                    } else {
                        None
                    })
                    .with_assignment(outcome.assignment),
            )
        }
        GroupRequest::Heartbeat(request) => {
            let error = coordinator.heartbeat(
                request.group_id.0.as_str(),
                request.generation_id,
                request.member_id.as_str(),
                request.group_instance_id.as_ref().map(|s| s.as_str()),
            );
            GroupResponse::Heartbeat(HeartbeatResponse::default().with_error_code(error))
        }
        GroupRequest::Leave(request) => {
            let members: Vec<(String, Option<String>)> = if version >= 3 {
                request
                    .members
                    .iter()
                    .map(|m| (text(&m.member_id), m.group_instance_id.as_ref().map(text)))
                    .collect()
            } else {
                vec![(text(&request.member_id), None)]
            };
            let (error, codes) = coordinator.leave(request.group_id.0.as_str(), &members);
            let response = LeaveGroupResponse::default();
            if version >= 3 {
                GroupResponse::Leave(
                    response.with_error_code(code::NONE).with_members(
                        members
                            .iter()
                            .zip(codes)
                            .map(|((id, instance), code)| {
                                MemberResponse::default()
                                    .with_member_id(str_bytes(id))
                                    .with_group_instance_id(instance.as_deref().map(str_bytes))
                                    .with_error_code(code)
                            })
                            .collect(),
                    ),
                )
            } else {
                GroupResponse::Leave(response.with_error_code(error))
            }
        }
        GroupRequest::OffsetCommit(request) => {
            let commits: Vec<OffsetCommit> = request
                .topics
                .iter()
                .flat_map(|t| {
                    t.partitions.iter().map(|p| OffsetCommit {
                        topic: text(&t.name.0),
                        partition: p.partition_index,
                        offset: p.committed_offset,
                        leader_epoch: p.committed_leader_epoch,
                        metadata: p.committed_metadata.as_ref().map(text),
                    })
                })
                .collect();
            let codes = coordinator
                .commit(
                    request.group_id.0.as_str(),
                    request.generation_id_or_member_epoch,
                    request.member_id.as_str(),
                    request.group_instance_id.as_ref().map(|s| s.as_str()),
                    commits,
                )
                .await;
            let mut codes = codes.into_iter();
            let topics = request
                .topics
                .iter()
                .map(|t| {
                    OffsetCommitResponseTopic::default()
                        .with_name(t.name.clone())
                        .with_partitions(
                            t.partitions
                                .iter()
                                .map(|p| {
                                    OffsetCommitResponsePartition::default()
                                        .with_partition_index(p.partition_index)
                                        .with_error_code(
                                            codes.next().unwrap_or(code::UNKNOWN_SERVER_ERROR),
                                        )
                                })
                                .collect(),
                        )
                })
                .collect();
            GroupResponse::OffsetCommit(OffsetCommitResponse::default().with_topics(topics))
        }
        GroupRequest::OffsetFetch(request) => {
            if version >= 8 {
                let groups = request
                    .groups
                    .iter()
                    .map(|g| {
                        let wanted: Option<Vec<(String, i32)>> = g.topics.as_ref().map(|topics| {
                            topics
                                .iter()
                                .flat_map(|t| {
                                    t.partition_indexes.iter().map(|p| (text(&t.name.0), *p))
                                })
                                .collect()
                        });
                        let committed = coordinator.fetch(g.group_id.0.as_str(), wanted.as_deref());
                        let mut topics: Vec<OffsetFetchResponseTopics> = Vec::new();
                        for (topic, partition, value) in committed {
                            let entry = partition_entry(partition, value.as_ref());
                            let entry = OffsetFetchResponsePartitions::default()
                                .with_partition_index(entry.partition_index)
                                .with_committed_offset(entry.committed_offset)
                                .with_committed_leader_epoch(entry.committed_leader_epoch)
                                .with_metadata(entry.metadata)
                                .with_error_code(entry.error_code);
                            match topics.iter_mut().find(|t| t.name.0.as_str() == topic) {
                                Some(t) => t.partitions.push(entry),
                                None => topics.push(
                                    OffsetFetchResponseTopics::default()
                                        .with_name(TopicName(str_bytes(&topic)))
                                        .with_partitions(vec![entry]),
                                ),
                            }
                        }
                        OffsetFetchResponseGroup::default()
                            .with_group_id(g.group_id.clone())
                            .with_topics(topics)
                            .with_error_code(code::NONE)
                    })
                    .collect();
                GroupResponse::OffsetFetch(OffsetFetchResponse::default().with_groups(groups))
            } else {
                let wanted: Option<Vec<(String, i32)>> = request.topics.as_ref().map(|topics| {
                    topics
                        .iter()
                        .flat_map(|t| t.partition_indexes.iter().map(|p| (text(&t.name.0), *p)))
                        .collect()
                });
                let committed = coordinator.fetch(request.group_id.0.as_str(), wanted.as_deref());
                let mut topics: Vec<OffsetFetchResponseTopic> = Vec::new();
                for (topic, partition, value) in committed {
                    let entry = partition_entry(partition, value.as_ref());
                    let entry = if version >= 5 {
                        entry
                    } else {
                        entry.with_committed_leader_epoch(-1)
                    };
                    match topics.iter_mut().find(|t| t.name.0.as_str() == topic) {
                        Some(t) => t.partitions.push(entry),
                        None => topics.push(
                            OffsetFetchResponseTopic::default()
                                .with_name(TopicName(str_bytes(&topic)))
                                .with_partitions(vec![entry]),
                        ),
                    }
                }
                GroupResponse::OffsetFetch(
                    OffsetFetchResponse::default()
                        .with_topics(topics)
                        .with_error_code(code::NONE),
                )
            }
        }
        GroupRequest::ListGroups(request) => {
            let states: Vec<String> = if version >= 4 {
                request.states_filter.iter().map(text).collect()
            } else {
                Vec::new()
            };
            let groups = coordinator
                .list()
                .into_iter()
                .filter(|g| states.is_empty() || states.iter().any(|s| s == g.state.as_str()))
                .map(|g| {
                    let listed = ListedGroup::default()
                        .with_group_id(GroupId(str_bytes(&g.group_id)))
                        .with_protocol_type(str_bytes(&g.protocol_type));
                    let listed = if version >= 4 {
                        listed.with_group_state(str_bytes(g.state.as_str()))
                    } else {
                        listed
                    };
                    if version >= 5 {
                        listed.with_group_type(StrBytes::from_static_str("classic"))
                    } else {
                        listed
                    }
                })
                .collect();
            GroupResponse::ListGroups(
                ListGroupsResponse::default()
                    .with_error_code(code::NONE)
                    .with_groups(groups),
            )
        }
        GroupRequest::DescribeGroups(request) => {
            let groups = request
                .groups
                .iter()
                .map(|id| {
                    let description = coordinator.describe(id.0.as_str());
                    DescribedGroup::default()
                        .with_error_code(code::NONE)
                        .with_group_id(id.clone())
                        .with_group_state(str_bytes(description.state.as_str()))
                        .with_protocol_type(str_bytes(&description.protocol_type))
                        .with_protocol_data(str_bytes(&description.protocol_name))
                        .with_members(
                            description
                                .members
                                .into_iter()
                                .map(|m| {
                                    DescribedGroupMember::default()
                                        .with_member_id(str_bytes(&m.member_id))
                                        .with_group_instance_id(if version >= 4 {
                                            m.instance_id.as_deref().map(str_bytes)
                                        } else {
                                            None
                                        })
                                        .with_client_id(str_bytes(&m.client_id))
                                        .with_client_host(str_bytes(&m.client_host))
                                        .with_member_metadata(m.metadata)
                                        .with_member_assignment(m.assignment)
                                })
                                .collect(),
                        )
                        .with_authorized_operations(i32::MIN)
                })
                .collect();
            GroupResponse::DescribeGroups(DescribeGroupsResponse::default().with_groups(groups))
        }
        GroupRequest::DeleteGroups(request) => {
            let mut results = Vec::with_capacity(request.groups_names.len());
            for id in &request.groups_names {
                let error = coordinator.delete(id.0.as_str()).await;
                results.push(
                    DeletableGroupResult::default()
                        .with_group_id(id.clone())
                        .with_error_code(error),
                );
            }
            GroupResponse::DeleteGroups(DeleteGroupsResponse::default().with_results(results))
        }
        GroupRequest::OffsetDelete(request) => {
            let wanted: Vec<(String, i32)> = request
                .topics
                .iter()
                .flat_map(|t| {
                    t.partitions
                        .iter()
                        .map(|p| (text(&t.name.0), p.partition_index))
                })
                .collect();
            match coordinator
                .delete_offsets(request.group_id.0.as_str(), &wanted)
                .await
            {
                Err(error) => GroupResponse::OffsetDelete(
                    OffsetDeleteResponse::default().with_error_code(error),
                ),
                Ok(codes) => {
                    let mut codes = codes.into_iter();
                    let topics = request
                        .topics
                        .iter()
                        .map(|t| {
                            OffsetDeleteResponseTopic::default()
                                .with_name(t.name.clone())
                                .with_partitions(
                                    t.partitions
                                        .iter()
                                        .map(|p| {
                                            OffsetDeleteResponsePartition::default()
                                                .with_partition_index(p.partition_index)
                                                .with_error_code(
                                                    codes
                                                        .next()
                                                        .unwrap_or(code::UNKNOWN_SERVER_ERROR),
                                                )
                                        })
                                        .collect(),
                                )
                        })
                        .collect();
                    GroupResponse::OffsetDelete(
                        OffsetDeleteResponse::default()
                            .with_error_code(code::NONE)
                            .with_topics(topics),
                    )
                }
            }
        }
    }
}

/// One partition of an OffsetFetch answer: the committed offset, or -1 with no error.
fn partition_entry(
    partition: i32,
    value: Option<&crate::groups::OffsetValue>,
) -> OffsetFetchResponsePartition {
    match value {
        Some(value) => OffsetFetchResponsePartition::default()
            .with_partition_index(partition)
            .with_committed_offset(value.offset)
            .with_committed_leader_epoch(value.leader_epoch)
            .with_metadata(Some(str_bytes(value.metadata.as_deref().unwrap_or(""))))
            .with_error_code(code::NONE),
        None => OffsetFetchResponsePartition::default()
            .with_partition_index(partition)
            .with_committed_offset(-1)
            .with_committed_leader_epoch(-1)
            .with_metadata(Some(StrBytes::default()))
            .with_error_code(code::NONE),
    }
}
