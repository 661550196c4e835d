//! The consumer-group APIs: JoinGroup (11), SyncGroup (14), Heartbeat (12), LeaveGroup (13),
//! OffsetCommit (8), OffsetFetch (9), ListGroups (16), DescribeGroups (15), DeleteGroups (42),
//! OffsetDelete (47).
//!
//! The front-end only decodes and encodes: the backend's group coordinator answers each request
//! with the response body (`Backend::group_request`). Versions differ in shape; the response
//! builders here keep the fields each version cannot carry at their defaults, or the response
//! would not encode.

use kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    LeaveGroupResponse, ListGroupsRequest, ListGroupsResponse, OffsetCommitRequest,
    OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse, OffsetFetchRequest,
    OffsetFetchResponse, SyncGroupRequest, SyncGroupResponse,
};

/// A group API request, decoded.
#[derive(Debug)]
pub enum GroupRequest {
    Join(JoinGroupRequest),
    Sync(SyncGroupRequest),
    Heartbeat(HeartbeatRequest),
    Leave(LeaveGroupRequest),
    OffsetCommit(OffsetCommitRequest),
    OffsetFetch(OffsetFetchRequest),
    ListGroups(ListGroupsRequest),
    DescribeGroups(DescribeGroupsRequest),
    DeleteGroups(DeleteGroupsRequest),
    OffsetDelete(OffsetDeleteRequest),
}

impl GroupRequest {
    /// The API key this request came with.
    pub fn api_key(&self) -> kafka_protocol::messages::ApiKey {
        use kafka_protocol::messages::ApiKey;
        match self {
            GroupRequest::Join(_) => ApiKey::JoinGroup,
            GroupRequest::Sync(_) => ApiKey::SyncGroup,
            GroupRequest::Heartbeat(_) => ApiKey::Heartbeat,
            GroupRequest::Leave(_) => ApiKey::LeaveGroup,
            GroupRequest::OffsetCommit(_) => ApiKey::OffsetCommit,
            GroupRequest::OffsetFetch(_) => ApiKey::OffsetFetch,
            GroupRequest::ListGroups(_) => ApiKey::ListGroups,
            GroupRequest::DescribeGroups(_) => ApiKey::DescribeGroups,
            GroupRequest::DeleteGroups(_) => ApiKey::DeleteGroups,
            GroupRequest::OffsetDelete(_) => ApiKey::OffsetDelete,
        }
    }
}

/// The answer to a [`GroupRequest`], of the same kind.
#[derive(Debug)]
pub enum GroupResponse {
    Join(JoinGroupResponse),
    Sync(SyncGroupResponse),
    Heartbeat(HeartbeatResponse),
    Leave(LeaveGroupResponse),
    OffsetCommit(OffsetCommitResponse),
    OffsetFetch(OffsetFetchResponse),
    ListGroups(ListGroupsResponse),
    DescribeGroups(DescribeGroupsResponse),
    DeleteGroups(DeleteGroupsResponse),
    OffsetDelete(OffsetDeleteResponse),
}

/// Who sent a group request (DescribeGroups reports it per member).
#[derive(Debug, Clone, Default)]
pub struct Client {
    pub client_id: String,
    pub host: String,
}

/// The answer of a backend without a group coordinator: every request gets `error_code`
/// (COORDINATOR_NOT_AVAILABLE, or NOT_COORDINATOR on a node that does not coordinate).
pub fn unavailable(request: &GroupRequest, version: i16, error_code: i16) -> GroupResponse {
    use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
    use kafka_protocol::messages::describe_groups_response::DescribedGroup;
    use kafka_protocol::messages::offset_commit_response::{
        OffsetCommitResponsePartition, OffsetCommitResponseTopic,
    };
    use kafka_protocol::messages::offset_fetch_response::OffsetFetchResponseGroup;
    match request {
        GroupRequest::Join(_) => GroupResponse::Join(
            JoinGroupResponse::default()
                .with_error_code(error_code)
                .with_generation_id(-1)
                .with_protocol_name((version < 7).then(Default::default)),
        ),
        GroupRequest::Sync(_) => {
            GroupResponse::Sync(SyncGroupResponse::default().with_error_code(error_code))
        }
        GroupRequest::Heartbeat(_) => {
            GroupResponse::Heartbeat(HeartbeatResponse::default().with_error_code(error_code))
        }
        GroupRequest::Leave(_) => {
            GroupResponse::Leave(LeaveGroupResponse::default().with_error_code(error_code))
        }
        GroupRequest::OffsetCommit(request) => GroupResponse::OffsetCommit(
            OffsetCommitResponse::default().with_topics(
                request
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
                                            .with_error_code(error_code)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            ),
        ),
        GroupRequest::OffsetFetch(request) => {
            if version >= 8 {
                GroupResponse::OffsetFetch(
                    OffsetFetchResponse::default().with_groups(
                        request
                            .groups
                            .iter()
                            .map(|g| {
                                OffsetFetchResponseGroup::default()
                                    .with_group_id(g.group_id.clone())
                                    .with_error_code(error_code)
                            })
                            .collect(),
                    ),
                )
            } else {
                GroupResponse::OffsetFetch(
                    OffsetFetchResponse::default().with_error_code(if version >= 2 {
                        error_code
                    } else {
                        0
                    }),
                )
            }
        }
        GroupRequest::ListGroups(_) => {
            GroupResponse::ListGroups(ListGroupsResponse::default().with_error_code(error_code))
        }
        GroupRequest::DescribeGroups(request) => GroupResponse::DescribeGroups(
            DescribeGroupsResponse::default().with_groups(
                request
                    .groups
                    .iter()
                    .map(|g| {
                        DescribedGroup::default()
                            .with_group_id(g.clone())
                            .with_error_code(error_code)
                    })
                    .collect(),
            ),
        ),
        GroupRequest::DeleteGroups(request) => GroupResponse::DeleteGroups(
            DeleteGroupsResponse::default().with_results(
                request
                    .groups_names
                    .iter()
                    .map(|g| {
                        DeletableGroupResult::default()
                            .with_group_id(g.clone())
                            .with_error_code(error_code)
                    })
                    .collect(),
            ),
        ),
        GroupRequest::OffsetDelete(_) => {
            GroupResponse::OffsetDelete(OffsetDeleteResponse::default().with_error_code(error_code))
        }
    }
}
