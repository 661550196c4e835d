//! Authorization of the consumer-group APIs, by Kafka's rules (its `KafkaApis`), before and
//! after the backend's group coordinator answers. The one place each group API is authorized:
//!
//! - JoinGroup, SyncGroup, Heartbeat, LeaveGroup: READ on the group, else the whole request
//!   answers GROUP_AUTHORIZATION_FAILED and never reaches the coordinator.
//! - OffsetCommit: READ on the group (else every partition GROUP_AUTHORIZATION_FAILED), then
//!   READ on each topic: a topic it may not read is not committed and its partitions answer
//!   TOPIC_AUTHORIZATION_FAILED.
//! - OffsetFetch: DESCRIBE on the group (else GROUP_AUTHORIZATION_FAILED, per group at v8);
//!   topics it may not DESCRIBE are left out of an all-partitions answer and answer
//!   TOPIC_AUTHORIZATION_FAILED when named.
//! - ListGroups: every group with DESCRIBE on the cluster, else only those it may DESCRIBE.
//! - DescribeGroups: DESCRIBE per group; DeleteGroups: DELETE per group (a refused group is
//!   not deleted).
//! - OffsetDelete: DELETE on the group, then READ per topic, as OffsetCommit.
//!
//! Refused parts of a request that changes something (OffsetCommit, DeleteGroups,
//! OffsetDelete) are taken out before the coordinator sees it, so nothing refused is ever
//! changed, and answered in their place in the response; the answers of read-only requests
//! (OffsetFetch, ListGroups) are cut to what the session may see.

use std::collections::VecDeque;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic,
};
use kafka_protocol::messages::{
    DeleteGroupsResponse, DescribeGroupsResponse, OffsetCommitResponse, OffsetDeleteResponse,
    OffsetFetchResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use yak_auth::{Operation, Resource};

use crate::backend::{error_code, Backend};
use crate::groups::{unavailable, Client, GroupRequest, GroupResponse};
use crate::session::Session;

fn may<B: Backend>(
    backend: &B,
    session: &Session,
    operation: Operation,
    resource: Resource,
) -> bool {
    backend.authorize(session, operation, &resource)
}

fn may_group<B: Backend>(
    backend: &B,
    session: &Session,
    operation: Operation,
    group: &str,
) -> bool {
    may(backend, session, operation, Resource::group(group))
}

fn may_topic<B: Backend>(
    backend: &B,
    session: &Session,
    operation: Operation,
    topic: &TopicName,
) -> bool {
    may(
        backend,
        session,
        operation,
        Resource::topic(topic.0.as_str()),
    )
}

/// Whether `topic` shows in a listing (see `Backend::authorize_quietly`).
fn may_topic_quietly<B: Backend>(backend: &B, session: &Session, topic: &TopicName) -> bool {
    backend.authorize_quietly(
        session,
        Operation::Describe,
        &Resource::topic(topic.0.as_str()),
    )
}

/// Authorizes `request`, has the backend answer what is allowed, and answers the rest.
pub async fn handle<B: Backend>(
    backend: &B,
    session: &Session,
    request: GroupRequest,
    version: i16,
    client: Client,
) -> GroupResponse {
    use GroupRequest as R;
    let group_denied = |request: &GroupRequest| {
        unavailable(request, version, error_code::GROUP_AUTHORIZATION_FAILED)
    };
    match request {
        R::Join(ref r) if !may_group(backend, session, Operation::Read, r.group_id.0.as_str()) => {
            group_denied(&request)
        }
        R::Sync(ref r) if !may_group(backend, session, Operation::Read, r.group_id.0.as_str()) => {
            group_denied(&request)
        }
        R::Heartbeat(ref r)
            if !may_group(backend, session, Operation::Read, r.group_id.0.as_str()) =>
        {
            group_denied(&request)
        }
        R::Leave(ref r) if !may_group(backend, session, Operation::Read, r.group_id.0.as_str()) => {
            group_denied(&request)
        }
        R::OffsetCommit(ref r)
            if !may_group(backend, session, Operation::Read, r.group_id.0.as_str()) =>
        {
            group_denied(&request)
        }
        R::OffsetCommit(mut r) => {
            let allowed: Vec<bool> = r
                .topics
                .iter()
                .map(|t| may_topic(backend, session, Operation::Read, &t.name))
                .collect();
            if allowed.iter().all(|a| *a) {
                return backend
                    .group_request(R::OffsetCommit(r), version, client)
                    .await;
            }
            let original = std::mem::take(&mut r.topics);
            r.topics = kept(&original, &allowed);
            let mut answered = VecDeque::new();
            if !r.topics.is_empty() {
                match backend
                    .group_request(R::OffsetCommit(r), version, client)
                    .await
                {
                    GroupResponse::OffsetCommit(response) => answered.extend(response.topics),
                    other => return other,
                }
            }
            let topics = in_request_order(&original, &allowed, answered, |topic| {
                OffsetCommitResponseTopic::default()
                    .with_name(topic.name.clone())
                    .with_partitions(
                        topic
                            .partitions
                            .iter()
                            .map(|p| {
                                OffsetCommitResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(error_code::TOPIC_AUTHORIZATION_FAILED)
                            })
                            .collect(),
                    )
            });
            GroupResponse::OffsetCommit(OffsetCommitResponse::default().with_topics(topics))
        }
        R::OffsetFetch(r) => offset_fetch(backend, session, r, version, client).await,
        R::ListGroups(r) => {
            let response = backend
                .group_request(R::ListGroups(r), version, client)
                .await;
            if backend.authorize_quietly(session, Operation::Describe, &Resource::cluster()) {
                return response;
            }
            match response {
                GroupResponse::ListGroups(mut response) => {
                    response.groups.retain(|g| {
                        backend.authorize_quietly(
                            session,
                            Operation::Describe,
                            &Resource::group(g.group_id.0.as_str()),
                        )
                    });
                    GroupResponse::ListGroups(response)
                }
                other => other,
            }
        }
        R::DescribeGroups(mut r) => {
            let original = std::mem::take(&mut r.groups);
            let allowed = allowed_groups(backend, session, Operation::Describe, &original, |g| {
                g.0.as_str()
            });
            r.groups = kept(&original, &allowed);
            let mut answered = VecDeque::new();
            if !r.groups.is_empty() {
                match backend
                    .group_request(R::DescribeGroups(r), version, client)
                    .await
                {
                    GroupResponse::DescribeGroups(response) => answered.extend(response.groups),
                    other => return other,
                }
            }
            let groups = in_request_order(&original, &allowed, answered, |group| {
                DescribedGroup::default()
                    .with_group_id(group.clone())
                    .with_error_code(error_code::GROUP_AUTHORIZATION_FAILED)
                    .with_authorized_operations(i32::MIN)
            });
            GroupResponse::DescribeGroups(DescribeGroupsResponse::default().with_groups(groups))
        }
        R::DeleteGroups(mut r) => {
            let original = std::mem::take(&mut r.groups_names);
            let allowed = allowed_groups(backend, session, Operation::Delete, &original, |g| {
                g.0.as_str()
            });
            r.groups_names = kept(&original, &allowed);
            let mut answered = VecDeque::new();
            if !r.groups_names.is_empty() {
                match backend
                    .group_request(R::DeleteGroups(r), version, client)
                    .await
                {
                    GroupResponse::DeleteGroups(response) => answered.extend(response.results),
                    other => return other,
                }
            }
            let results = in_request_order(&original, &allowed, answered, |group| {
                DeletableGroupResult::default()
                    .with_group_id(group.clone())
                    .with_error_code(error_code::GROUP_AUTHORIZATION_FAILED)
            });
            GroupResponse::DeleteGroups(DeleteGroupsResponse::default().with_results(results))
        }
        R::OffsetDelete(ref r)
            if !may_group(backend, session, Operation::Delete, r.group_id.0.as_str()) =>
        {
            group_denied(&request)
        }
        R::OffsetDelete(mut r) => {
            let allowed: Vec<bool> = r
                .topics
                .iter()
                .map(|t| may_topic(backend, session, Operation::Read, &t.name))
                .collect();
            let original = std::mem::take(&mut r.topics);
            r.topics = kept(&original, &allowed);
            let response = match backend
                .group_request(R::OffsetDelete(r), version, client)
                .await
            {
                GroupResponse::OffsetDelete(response) => response,
                other => return other,
            };
            if response.error_code != error_code::NONE {
                return GroupResponse::OffsetDelete(response);
            }
            let answered: VecDeque<_> = response.topics.into();
            let topics = in_request_order(&original, &allowed, answered, |topic| {
                OffsetDeleteResponseTopic::default()
                    .with_name(topic.name.clone())
                    .with_partitions(
                        topic
                            .partitions
                            .iter()
                            .map(|p| {
                                OffsetDeleteResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(error_code::TOPIC_AUTHORIZATION_FAILED)
                            })
                            .collect(),
                    )
            });
            GroupResponse::OffsetDelete(
                OffsetDeleteResponse::default()
                    .with_error_code(error_code::NONE)
                    .with_topics(topics),
            )
        }
        request => backend.group_request(request, version, client).await,
    }
}

/// A partition answer of OffsetFetch v0-7 for a refused topic or group.
fn refused_partition(partition: i32, code: i16) -> OffsetFetchResponsePartition {
    OffsetFetchResponsePartition::default()
        .with_partition_index(partition)
        .with_committed_offset(-1)
        .with_committed_leader_epoch(-1)
        .with_metadata(Some(StrBytes::default()))
        .with_error_code(code)
}

/// OffsetFetch: read-only, so the coordinator answers for the allowed groups and the answer
/// is then cut to what the session may see.
async fn offset_fetch<B: Backend>(
    backend: &B,
    session: &Session,
    request: kafka_protocol::messages::OffsetFetchRequest,
    version: i16,
    client: Client,
) -> GroupResponse {
    let topic_code = error_code::TOPIC_AUTHORIZATION_FAILED;
    if version < 8 {
        if !may_group(
            backend,
            session,
            Operation::Describe,
            request.group_id.0.as_str(),
        ) {
            if version >= 2 {
                return unavailable(
                    &GroupRequest::OffsetFetch(request),
                    version,
                    error_code::GROUP_AUTHORIZATION_FAILED,
                );
            }
            // v0-1 have no top-level error: every partition asked for carries it.
            let topics = request
                .topics
                .iter()
                .flatten()
                .map(|t| {
                    OffsetFetchResponseTopic::default()
                        .with_name(t.name.clone())
                        .with_partitions(
                            t.partition_indexes
                                .iter()
                                .map(|p| {
                                    refused_partition(*p, error_code::GROUP_AUTHORIZATION_FAILED)
                                })
                                .collect(),
                        )
                })
                .collect();
            return GroupResponse::OffsetFetch(OffsetFetchResponse::default().with_topics(topics));
        }
        let all_topics = request.topics.is_none();
        let response = backend
            .group_request(GroupRequest::OffsetFetch(request), version, client)
            .await;
        let GroupResponse::OffsetFetch(mut response) = response else {
            return response;
        };
        response
            .topics
            .retain(|t| !all_topics || may_topic_quietly(backend, session, &t.name));
        for topic in &mut response.topics {
            if !may_topic(backend, session, Operation::Describe, &topic.name) {
                for partition in &mut topic.partitions {
                    *partition = refused_partition(partition.partition_index, topic_code);
                }
            }
        }
        return GroupResponse::OffsetFetch(response);
    }
    let groups_allowed: Vec<(kafka_protocol::messages::GroupId, bool, bool)> = request
        .groups
        .iter()
        .map(|g| {
            (
                g.group_id.clone(),
                may_group(backend, session, Operation::Describe, g.group_id.0.as_str()),
                g.topics.is_none(),
            )
        })
        .collect();
    let response = backend
        .group_request(GroupRequest::OffsetFetch(request), version, client)
        .await;
    let GroupResponse::OffsetFetch(mut response) = response else {
        return response;
    };
    for group in &mut response.groups {
        let Some((_, allowed, all_topics)) = groups_allowed
            .iter()
            .find(|(id, _, _)| *id == group.group_id)
        else {
            continue;
        };
        if !allowed {
            *group = OffsetFetchResponseGroup::default()
                .with_group_id(group.group_id.clone())
                .with_error_code(error_code::GROUP_AUTHORIZATION_FAILED);
            continue;
        }
        group
            .topics
            .retain(|t| !all_topics || may_topic_quietly(backend, session, &t.name));
        for topic in &mut group.topics {
            if !may_topic(backend, session, Operation::Describe, &topic.name) {
                for partition in &mut topic.partitions {
                    *partition = OffsetFetchResponsePartitions::default()
                        .with_partition_index(partition.partition_index)
                        .with_committed_offset(-1)
                        .with_committed_leader_epoch(-1)
                        .with_metadata(Some(StrBytes::default()))
                        .with_error_code(topic_code);
                }
            }
        }
    }
    GroupResponse::OffsetFetch(response)
}

/// Which of `groups` the session may do `operation` on, in order.
fn allowed_groups<B: Backend, T>(
    backend: &B,
    session: &Session,
    operation: Operation,
    groups: &[T],
    name: impl Fn(&T) -> &str,
) -> Vec<bool> {
    groups
        .iter()
        .map(|g| may_group(backend, session, operation, name(g)))
        .collect()
}

/// The allowed entries of a request, which go on to the coordinator.
fn kept<T: Clone>(original: &[T], allowed: &[bool]) -> Vec<T> {
    original
        .iter()
        .zip(allowed)
        .filter(|(_, allowed)| **allowed)
        .map(|(entry, _)| entry.clone())
        .collect()
}

/// The answer in the request's order: the coordinator's answers for the allowed entries (in
/// the order they were sent), `refused` for the others.
fn in_request_order<T, A>(
    original: &[T],
    allowed: &[bool],
    mut answered: VecDeque<A>,
    refused: impl Fn(&T) -> A,
) -> Vec<A> {
    original
        .iter()
        .zip(allowed)
        .map(|(entry, allowed)| {
            if *allowed {
                answered.pop_front().unwrap_or_else(|| refused(entry))
            } else {
                refused(entry)
            }
        })
        .collect()
}
