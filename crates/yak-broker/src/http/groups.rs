//! `GET /groups`, `GET/DELETE /groups/{group}`, `POST /groups/{group}/offsets` (reset) and
//! `POST /groups/{group}/commit`: the node's [`GroupCoordinator`] over HTTP, and the group side
//! of `GET /consume?group=…` and the `kafka_consumergroup_*` metrics.
//!
//! Only the node that leads the cluster coordinates groups; a follower answers `not_leader`
//! with the leader's address, as it does for writes.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use yak_api::{
    CommitOffsetRequest, DeleteGroupResponse, ErrorCode, GroupDetail, GroupList, GroupMember,
    GroupOffset, GroupSummary, ResetOffsetsRequest, ResetOffsetsResponse, ResetPosition, ResetTo,
    TopicPartitions,
};
use yak_auth::{Operation, Resource};

use super::auth::Caller;
use super::{AppState, HttpError};
use crate::broker::Broker;
use crate::error::BrokerError;
use crate::groups::state::code;
use crate::groups::{GroupCoordinator, OffsetCommit, OFFSETS_TOPIC};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/groups", get(list_groups))
        .route("/groups/{group}", get(describe_group).delete(delete_group))
        .route("/groups/{group}/offsets", post(reset_offsets))
        .route("/groups/{group}/commit", post(commit_offset))
}

/// The coordinator, if this node coordinates groups: standalone, or the cluster's leader.
pub fn coordinator(broker: &Broker) -> Result<Arc<GroupCoordinator>, HttpError> {
    if let Some(cluster) = broker.cluster() {
        if cluster.status().role != crate::replica::Role::Leader {
            return Err(broker
                .with_leader_hint(BrokerError::NotLeader { leader: None })
                .into());
        }
    }
    broker.groups().cloned().ok_or_else(|| {
        HttpError::new(
            ErrorCode::Unavailable,
            "the group coordinator is not running yet",
        )
    })
}

/// A coordinator error code (Kafka's) as an HTTP error.
fn group_error(broker: &Broker, group: &str, error: i16) -> HttpError {
    match error {
        code::NON_EMPTY_GROUP | code::UNKNOWN_MEMBER_ID => HttpError::new(
            ErrorCode::GroupNotEmpty,
            format!("group {group:?} has members; they own its offsets until they leave"),
        ),
        code::GROUP_ID_NOT_FOUND => {
            HttpError::new(ErrorCode::UnknownGroup, format!("unknown group {group:?}"))
        }
        code::UNKNOWN_TOPIC_OR_PARTITION => {
            HttpError::new(ErrorCode::UnknownPartition, "unknown topic or partition")
        }
        code::NOT_COORDINATOR => broker
            .with_leader_hint(BrokerError::NotLeader { leader: None })
            .into(),
        code::REQUEST_TIMED_OUT => HttpError::new(
            ErrorCode::RequestTimedOut,
            "the offset commit was not confirmed in time",
        ),
        code::COORDINATOR_NOT_AVAILABLE | code::GROUP_MAX_SIZE_REACHED => HttpError::new(
            ErrorCode::Unavailable,
            format!("the group coordinator refused the request (Kafka error {error})"),
        ),
        other => HttpError::new(
            ErrorCode::Internal,
            format!("the group coordinator failed (Kafka error {other})"),
        ),
    }
}

/// The partitions an assignment names: Kafka's consumer protocol (a 2-byte version, then
/// `ConsumerProtocolAssignment`); empty when the bytes are another protocol's or damaged.
pub fn assigned_partitions(assignment: &Bytes) -> Vec<TopicPartitions> {
    use kafka_protocol::messages::ConsumerProtocolAssignment;
    use kafka_protocol::protocol::Decodable;
    if assignment.len() < 2 {
        return Vec::new();
    }
    let version = i16::from_be_bytes([assignment[0], assignment[1]]);
    let mut buf = assignment.slice(2..);
    match ConsumerProtocolAssignment::decode(&mut buf, version.clamp(0, 3)) {
        Ok(decoded) => decoded
            .assigned_partitions
            .into_iter()
            .map(|tp| TopicPartitions {
                topic: tp.topic.to_string(),
                partitions: tp.partitions,
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// A committed offset with its partition's high watermark and the lag between them.
fn offset_row(broker: &Broker, topic: &str, partition: i32, committed: i64) -> GroupOffset {
    let (high_watermark, lag) = match broker.partition(topic, partition) {
        Ok(p) => {
            let high_watermark = p.high_watermark();
            // Nothing committed yet: everything from the log start is still to read.
            let from = if committed < 0 {
                p.log_start_offset()
            } else {
                committed
            };
            (high_watermark, (high_watermark - from).max(0))
        }
        Err(_) => (-1, 0),
    };
    GroupOffset {
        topic: topic.to_string(),
        partition,
        committed,
        high_watermark,
        lag,
        member_id: None,
    }
}

/// A group as `GET /groups/{group}` shows it; None for a group that does not exist.
pub fn group_detail(
    broker: &Broker,
    coordinator: &GroupCoordinator,
    group: &str,
) -> Option<GroupDetail> {
    let description = coordinator.describe(group);
    let committed = coordinator.fetch(group, None);
    if description.state == crate::groups::GroupState::Dead && committed.is_empty() {
        return None;
    }
    let members: Vec<GroupMember> = description
        .members
        .iter()
        .map(|m| GroupMember {
            member_id: m.member_id.clone(),
            instance_id: m.instance_id.clone(),
            client_id: m.client_id.clone(),
            client_host: m.client_host.clone(),
            assignment: assigned_partitions(&m.assignment),
        })
        .collect();
    let mut offsets: Vec<GroupOffset> = committed
        .iter()
        .filter_map(|(topic, partition, value)| {
            let value = value.as_ref()?;
            Some(offset_row(broker, topic, *partition, value.offset))
        })
        .collect();
    // Assigned partitions with no commit yet are shown too, with committed -1.
    for member in &members {
        for assigned in &member.assignment {
            for partition in &assigned.partitions {
                let known = offsets
                    .iter_mut()
                    .find(|o| o.topic == assigned.topic && o.partition == *partition);
                match known {
                    Some(row) => row.member_id = Some(member.member_id.clone()),
                    None => {
                        let mut row = offset_row(broker, &assigned.topic, *partition, -1);
                        row.member_id = Some(member.member_id.clone());
                        offsets.push(row);
                    }
                }
            }
        }
    }
    offsets.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    Some(GroupDetail {
        group_id: description.group_id,
        state: description.state.as_str().to_string(),
        protocol_type: description.protocol_type,
        protocol: description.protocol_name,
        lag: offsets.iter().map(|o| o.lag).sum(),
        members,
        offsets,
    })
}

/// Every group this node coordinates, with its detail; empty on a node that does not.
pub fn all_groups(broker: &Broker) -> Vec<GroupDetail> {
    let Ok(coordinator) = coordinator(broker) else {
        return Vec::new();
    };
    coordinator
        .list()
        .iter()
        .filter_map(|summary| group_detail(broker, &coordinator, &summary.group_id))
        .collect()
}

#[utoipa::path(get, path = "/groups", tag = "groups",
    responses(
        (status = 200, description = "Consumer groups with their state, members and total lag", body = GroupList),
        (status = 421, description = "This node does not coordinate groups: the leader does", body = yak_api::ErrorBody),
    ))]
pub async fn list_groups(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<GroupList>, HttpError> {
    let broker = &state.broker;
    let coordinator = coordinator(broker)?;
    // As Kafka's ListGroups: only the groups the caller may describe.
    let groups = coordinator
        .list()
        .iter()
        .filter(|summary| {
            caller.may(
                broker,
                Operation::Describe,
                &Resource::group(&summary.group_id),
            )
        })
        .filter_map(|summary| group_detail(broker, &coordinator, &summary.group_id))
        .map(|detail| GroupSummary {
            group_id: detail.group_id,
            state: detail.state,
            protocol_type: detail.protocol_type,
            protocol: detail.protocol,
            members: i32::try_from(detail.members.len()).unwrap_or(i32::MAX),
            lag: detail.lag,
        })
        .collect();
    Ok(Json(GroupList {
        available: true,
        groups,
    }))
}

#[utoipa::path(get, path = "/groups/{group}", tag = "groups",
    params(("group" = String, Path, description = "Group id")),
    responses(
        (status = 200, description = "The group's state, members with their assignments, and committed offsets with lag per partition", body = GroupDetail),
        (status = 404, description = "Unknown group", body = yak_api::ErrorBody),
        (status = 421, description = "This node does not coordinate groups: the leader does", body = yak_api::ErrorBody),
    ))]
pub async fn describe_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(group): Path<String>,
) -> Result<Json<GroupDetail>, HttpError> {
    caller.authorize(&state.broker, Operation::Describe, &Resource::group(&group))?;
    let coordinator = coordinator(&state.broker)?;
    group_detail(&state.broker, &coordinator, &group)
        .map(Json)
        .ok_or_else(|| HttpError::new(ErrorCode::UnknownGroup, format!("unknown group {group:?}")))
}

#[utoipa::path(delete, path = "/groups/{group}", tag = "groups",
    params(("group" = String, Path, description = "Group id")),
    responses(
        (status = 200, description = "The group and its committed offsets are gone", body = DeleteGroupResponse),
        (status = 404, description = "Unknown group", body = yak_api::ErrorBody),
        (status = 409, description = "The group has members (`group_not_empty`)", body = yak_api::ErrorBody),
        (status = 421, description = "This node does not coordinate groups: the leader does", body = yak_api::ErrorBody),
    ))]
pub async fn delete_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(group): Path<String>,
) -> Result<Json<DeleteGroupResponse>, HttpError> {
    caller.authorize(&state.broker, Operation::Delete, &Resource::group(&group))?;
    let coordinator = coordinator(&state.broker)?;
    // The tombstones' write belongs to a task: a client that goes away must not cut it short.
    let result = {
        let group = group.clone();
        tokio::spawn(async move { coordinator.delete(&group).await })
            .await
            .map_err(|e| HttpError::new(ErrorCode::Internal, format!("delete task failed: {e}")))?
    };
    if result != code::NONE {
        return Err(group_error(&state.broker, &group, result));
    }
    Ok(Json(DeleteGroupResponse { deleted: group }))
}

/// Refuses a group name that is not a usable id.
/// The start of every group write: the body read under its limit and parsed, the group id
/// checked, this node's coordinator found (421 on a follower), and the internal offsets topic
/// refused as the target. As Kafka's OffsetCommit: READ on the group, then READ on the topic.
async fn group_write<T: serde::de::DeserializeOwned>(
    broker: &Arc<crate::Broker>,
    caller: &Caller,
    group: &str,
    body: Body,
    topic_of: impl Fn(&T) -> &String,
) -> Result<(T, Arc<GroupCoordinator>), HttpError> {
    let body = super::produce::read_body(body, broker.config.http_limits.body_bytes_max).await?;
    let request: T = serde_json::from_slice(&body)
        .map_err(|e| HttpError::new(ErrorCode::InvalidJson, e.to_string()))?;
    check_group_id(group)?;
    caller.authorize(broker, Operation::Read, &Resource::group(group))?;
    caller.authorize(
        broker,
        Operation::Read,
        &Resource::topic(topic_of(&request)),
    )?;
    let coordinator = coordinator(broker)?;
    if *topic_of(&request) == OFFSETS_TOPIC {
        return Err(HttpError::new(
            ErrorCode::InvalidField,
            format!("{OFFSETS_TOPIC} is internal: its offsets are the coordinator's own"),
        ));
    }
    Ok((request, coordinator))
}

fn check_group_id(group: &str) -> Result<(), HttpError> {
    if group.is_empty() {
        return Err(HttpError::new(
            ErrorCode::InvalidField,
            "a group id must not be empty",
        ));
    }
    Ok(())
}

/// Refuses a change from outside while Kafka members own the group.
pub fn check_no_members(coordinator: &GroupCoordinator, group: &str) -> Result<(), HttpError> {
    let members = coordinator.describe(group).members.len();
    if members > 0 {
        return Err(HttpError::new(
            ErrorCode::GroupNotEmpty,
            format!(
                "group {group:?} has {members} member(s); they own its offsets until they leave"
            ),
        ));
    }
    Ok(())
}

#[utoipa::path(post, path = "/groups/{group}/offsets", tag = "groups",
    params(("group" = String, Path, description = "Group id")),
    request_body = ResetOffsetsRequest,
    responses(
        (status = 200, description = "The group's new committed offsets (or, for a dry run, the offsets a reset would commit)", body = ResetOffsetsResponse),
        (status = 400, description = "A bad body", body = yak_api::ErrorBody),
        (status = 404, description = "Unknown topic or partition", body = yak_api::ErrorBody),
        (status = 409, description = "The group has members (`group_not_empty`), as Kafka refuses a reset of an active group", body = yak_api::ErrorBody),
        (status = 421, description = "This node does not coordinate groups: the leader does", body = yak_api::ErrorBody),
    ))]
pub async fn reset_offsets(
    State(state): State<AppState>,
    caller: Caller,
    Path(group): Path<String>,
    body: Body,
) -> Result<Json<ResetOffsetsResponse>, HttpError> {
    let broker = Arc::clone(&state.broker);
    let (request, coordinator): (ResetOffsetsRequest, _) =
        group_write(&broker, &caller, &group, body, |r: &ResetOffsetsRequest| {
            &r.topic
        })
        .await?;
    let topic = broker.topic(&request.topic).ok_or_else(|| {
        HttpError::new(
            ErrorCode::UnknownTopic,
            format!("unknown topic {:?}", request.topic),
        )
    })?;
    // Each partition once: a body that repeats one cannot make the commit batch larger than
    // the topic.
    let partitions: std::collections::BTreeSet<i32> = match &request.partitions {
        Some(partitions) => partitions.iter().copied().collect(),
        None => topic.partitions.iter().map(|p| p.index).collect(),
    };
    let mut targets = Vec::with_capacity(partitions.len());
    for index in partitions {
        let partition = broker.partition(&request.topic, index)?;
        let (start, end) = (partition.log_start_offset(), partition.high_watermark());
        let offset = match request.to {
            ResetTo::Position(ResetPosition::Earliest) => start,
            ResetTo::Position(ResetPosition::Latest) => end,
            // As Kafka's tool does: an offset outside the log is moved to its nearer end.
            ResetTo::Offset(to) => to.offset.clamp(start, end),
            ResetTo::Timestamp(to) => {
                let found = tokio::task::spawn_blocking(move || {
                    partition.offset_for_timestamp(to.timestamp_ms)
                })
                .await
                .map_err(|e| HttpError::new(ErrorCode::Internal, format!("lookup failed: {e}")))?
                .map_err(|e| HttpError::new(ErrorCode::StorageError, e.to_string()))?;
                // No record at or after the time: nothing to read, as Kafka resets to the end.
                found.map_or(end, |(offset, _)| offset).clamp(start, end)
            }
        };
        targets.push((request.topic.clone(), index, offset));
    }
    check_no_members(&coordinator, &group)?;
    if !request.dry_run {
        let result = {
            let (group, targets) = (group.clone(), targets.clone());
            let coordinator = Arc::clone(&coordinator);
            tokio::spawn(async move { coordinator.reset_offsets(&group, targets).await })
                .await
                .map_err(|e| {
                    HttpError::new(ErrorCode::Internal, format!("reset task failed: {e}"))
                })?
        };
        result.map_err(|error| group_error(&broker, &group, error))?;
    }
    let offsets = targets
        .iter()
        .map(|(topic, partition, offset)| offset_row(&broker, topic, *partition, *offset))
        .collect();
    Ok(Json(ResetOffsetsResponse {
        group_id: group,
        executed: !request.dry_run,
        offsets,
    }))
}

/// Commits `offset` for `group` outside any Kafka member, in a task that owns the write.
pub async fn commit_outside_member(
    broker: &Arc<Broker>,
    coordinator: Arc<GroupCoordinator>,
    group: &str,
    topic: &str,
    partition: i32,
    offset: i64,
) -> Result<(), HttpError> {
    let commit = OffsetCommit {
        topic: topic.to_string(),
        partition,
        offset,
        leader_epoch: -1,
        metadata: None,
    };
    let owned_group = group.to_string();
    let codes = tokio::spawn(async move {
        coordinator
            .commit(&owned_group, -1, "", None, vec![commit])
            .await
    })
    .await
    .map_err(|e| HttpError::new(ErrorCode::Internal, format!("commit task failed: {e}")))?;
    match codes.into_iter().find(|c| *c != code::NONE) {
        None => Ok(()),
        Some(error) => Err(group_error(broker, group, error)),
    }
}

#[utoipa::path(post, path = "/groups/{group}/commit", tag = "groups",
    params(("group" = String, Path, description = "Group id")),
    request_body = CommitOffsetRequest,
    responses(
        (status = 200, description = "The committed offset, with the partition's high watermark and lag", body = GroupOffset),
        (status = 400, description = "A bad body, or an offset outside the log", body = yak_api::ErrorBody),
        (status = 404, description = "Unknown topic or partition", body = yak_api::ErrorBody),
        (status = 409, description = "The group has members (`group_not_empty`): they commit their own offsets", body = yak_api::ErrorBody),
        (status = 421, description = "This node does not coordinate groups: the leader does", body = yak_api::ErrorBody),
    ))]
pub async fn commit_offset(
    State(state): State<AppState>,
    caller: Caller,
    Path(group): Path<String>,
    body: Body,
) -> Result<Json<GroupOffset>, HttpError> {
    let broker = Arc::clone(&state.broker);
    let (request, coordinator): (CommitOffsetRequest, _) =
        group_write(&broker, &caller, &group, body, |r: &CommitOffsetRequest| {
            &r.topic
        })
        .await?;
    let partition = broker.partition(&request.topic, request.partition)?;
    let (start, end) = (partition.log_start_offset(), partition.log_end_offset());
    if request.offset < start || request.offset > end {
        return Err(HttpError::new(
            ErrorCode::OffsetOutOfRange,
            format!(
                "offset {} is out of range [{start}, {end}] of {}/{}",
                request.offset, request.topic, request.partition
            ),
        ));
    }
    check_no_members(&coordinator, &group)?;
    commit_outside_member(
        &broker,
        coordinator,
        &group,
        &request.topic,
        request.partition,
        request.offset,
    )
    .await?;
    Ok(Json(offset_row(
        &broker,
        &request.topic,
        request.partition,
        request.offset,
    )))
}

/// A Prometheus label value, escaped as the text format asks.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `kafka_consumergroup_lag` and `kafka_consumergroup_members` in Prometheus' text format (the
/// names `kafka_exporter` uses, so existing dashboards read them).
pub fn prometheus_text(groups: &[GroupDetail]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP kafka_consumergroup_lag Records between a group's committed offset and the partition's high watermark.\n# TYPE kafka_consumergroup_lag gauge"
    );
    for group in groups {
        for offset in &group.offsets {
            let _ = writeln!(
                out,
                "kafka_consumergroup_lag{{group=\"{}\",topic=\"{}\",partition=\"{}\"}} {}",
                label(&group.group_id),
                label(&offset.topic),
                offset.partition,
                offset.lag
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP kafka_consumergroup_members Members of a consumer group.\n# TYPE kafka_consumergroup_members gauge"
    );
    for group in groups {
        let _ = writeln!(
            out,
            "kafka_consumergroup_members{{group=\"{}\"}} {}",
            label(&group.group_id),
            group.members.len()
        );
    }
    out
}

/// The same gauges for `/metrics` as JSON.
pub fn metrics_json(groups: &[GroupDetail]) -> serde_json::Value {
    groups
        .iter()
        .map(|g| {
            serde_json::json!({
                "group": g.group_id,
                "members": g.members.len(),
                "lag": g.offsets.iter().map(|o| serde_json::json!({
                    "topic": o.topic, "partition": o.partition, "lag": o.lag,
                })).collect::<Vec<_>>(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition;
    use kafka_protocol::messages::{ConsumerProtocolAssignment, TopicName};
    use kafka_protocol::protocol::{Encodable, StrBytes};

    #[test]
    fn assignment_bytes_decode_to_partitions() {
        let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
            TopicPartition::default()
                .with_topic(TopicName(StrBytes::from_static_str("orders")))
                .with_partitions(vec![0, 2]),
        ]);
        let mut buf = bytes::BytesMut::new();
        buf.extend_from_slice(&1i16.to_be_bytes());
        assignment.encode(&mut buf, 1).unwrap();
        let decoded = assigned_partitions(&buf.freeze());
        assert_eq!(
            decoded,
            vec![TopicPartitions {
                topic: "orders".into(),
                partitions: vec![0, 2]
            }]
        );
        // Bytes of another protocol, or damaged ones, name nothing rather than fail.
        assert!(assigned_partitions(&Bytes::from_static(b"\x00\x01\xff")).is_empty());
        assert!(assigned_partitions(&Bytes::new()).is_empty());
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
