//! Topics, cluster state, health, leader metadata and consumer groups.

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// A config value as JSON may carry it: Kafka's configs are strings, but a number or a boolean
/// is taken as its text; `null` is `None`.
fn config_value(name: &str, value: serde_json::Value) -> Result<Option<String>, String> {
    match value {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(text) => Ok(Some(text)),
        serde_json::Value::Number(number) => Ok(Some(number.to_string())),
        serde_json::Value::Bool(flag) => Ok(Some(flag.to_string())),
        _ => Err(format!("config {name:?} must be a string or a number")),
    }
}

fn set_configs<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = BTreeMap::<String, serde_json::Value>::deserialize(deserializer)?;
    raw.into_iter()
        .map(|(name, value)| match config_value(&name, value) {
            Ok(Some(text)) => Ok((name, text)),
            Ok(None) => Err(D::Error::custom(format!("config {name:?} has no value"))),
            Err(message) => Err(D::Error::custom(message)),
        })
        .collect()
}

fn changed_configs<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, Option<String>>, D::Error> {
    let raw = BTreeMap::<String, serde_json::Value>::deserialize(deserializer)?;
    raw.into_iter()
        .map(|(name, value)| {
            config_value(&name, value)
                .map(|text| (name, text))
                .map_err(D::Error::custom)
        })
        .collect()
}

/// `POST /topics`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreateTopicRequest {
    pub name: String,
    /// Defaults to the broker's `--default-partitions`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::integer::option_i32"
    )]
    pub partitions: Option<i32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::integer::option_i32"
    )]
    pub replication_factor: Option<i32>,
    /// Topic configs in Kafka's names (`retention.ms`, `retention.bytes`, `segment.bytes`,
    /// `segment.ms`, `max.message.bytes`, `cleanup.policy`, `min.insync.replicas`,
    /// `compression.type`); values are strings, numbers are taken as their text.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "set_configs"
    )]
    pub configs: BTreeMap<String, String>,
    /// Older spelling of `configs["retention.ms"]`, kept for existing scripts.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::integer::option_i64"
    )]
    #[schema(deprecated)]
    pub retention_ms: Option<i64>,
}

/// `PATCH /topics/{name}/configs`: Kafka's IncrementalAlterConfigs over HTTP. A value sets the
/// config; `null` returns it to the broker's default. Configs not named are left as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlterTopicConfigsRequest {
    #[serde(deserialize_with = "changed_configs")]
    pub configs: BTreeMap<String, Option<String>>,
}

/// A line of `GET /topics`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TopicSummary {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i32,
    /// Records between log start and high watermark, over all partitions.
    pub records: i64,
    pub size_bytes: u64,
    /// `configs["retention.ms"]`, absent when unlimited; kept for existing readers.
    #[schema(deprecated)]
    pub retention_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TopicList {
    pub topics: Vec<TopicSummary>,
}

/// One partition of a topic, as `GET /topics/{name}` and `GET /cluster` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PartitionState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    pub partition: i32,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    pub high_watermark: i64,
    pub size_bytes: u64,
    /// On the leader of a cluster: each follower's replication state for this partition.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub followers: Vec<FollowerState>,
}

/// One follower of a partition, as its leader sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FollowerState {
    pub node_id: i32,
    /// The follower's durable log end offset, as its last fetch reported it; -1 before its
    /// first fetch in this epoch.
    pub log_end_offset: i64,
    /// Records the follower is behind the leader's log end offset.
    pub lag_records: i64,
    /// Milliseconds since the follower was last caught up with the leader's log end offset;
    /// -1 if it never was in this epoch.
    pub caught_up_ms_ago: i64,
    pub in_isr: bool,
}

/// `GET /topics/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TopicDetail {
    pub name: String,
    pub replication_factor: i32,
    /// `configs["retention.ms"]`, absent when unlimited; kept for existing readers.
    #[schema(deprecated)]
    pub retention_ms: Option<i64>,
    /// Every topic config in Kafka's names: the topic's own over the broker's defaults.
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
    pub partitions: Vec<PartitionState>,
}

/// `DELETE /topics/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeleteTopicResponse {
    pub deleted: String,
}

/// `GET /metadata/leader`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LeaderInfo {
    pub leader_id: i32,
    pub leader_http: String,
    pub leader_kafka: String,
    pub epoch: i64,
}

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`, or `shutting_down`.
    pub status: String,
    pub node_id: i32,
    /// `standalone`, `leader` or `follower`.
    pub role: String,
    pub epoch: i64,
}

/// A node as `GET /cluster` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NodeState {
    pub node_id: i32,
    pub http: String,
    pub kafka: String,
    pub role: String,
    pub alive: bool,
}

/// One leadership change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Election {
    pub epoch: i64,
    pub leader_id: i32,
    pub at_ms: i64,
}

/// The leader lease as the coordinator holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LeaseState {
    /// The node holding the lease; -1 while nobody does.
    pub holder: i32,
    pub epoch: i64,
    /// Milliseconds until the lease lapses unless renewed (as of the node's last look).
    pub expires_in_ms: i64,
    pub lease_ms: u64,
}

/// One entry of the cluster's replication history (kept in the coordinator, so every node
/// shows the same history).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClusterEvent {
    pub at_ms: i64,
    /// `election`, `step_down`, `isr_shrink`, `isr_expand`, `truncation`, `node_joined`.
    pub kind: String,
    pub node_id: i32,
    pub epoch: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<i32>,
    pub message: String,
}

/// `GET /cluster`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClusterState {
    pub cluster: String,
    pub node_id: i32,
    /// The node that leads every partition; -1 while there is none.
    pub leader_id: i32,
    pub epoch: i64,
    /// Absent on a standalone node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<LeaseState>,
    pub nodes: Vec<NodeState>,
    pub partitions: Vec<PartitionState>,
    pub elections: Vec<Election>,
    /// Elections, ISR changes and truncations, newest first.
    #[serde(default)]
    pub history: Vec<ClusterEvent>,
}

/// A line of `GET /groups`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GroupSummary {
    pub group_id: String,
    /// Kafka's state names: `Empty`, `PreparingRebalance`, `CompletingRebalance`, `Stable`,
    /// `Dead`.
    pub state: String,
    /// `consumer` for Kafka consumers; empty for a group known only by its committed offsets.
    pub protocol_type: String,
    /// The assignor the members agreed on (`range`, `cooperative-sticky`, …); empty when none.
    pub protocol: String,
    pub members: i32,
    /// Records between each committed offset and its partition's high watermark, summed.
    pub lag: i64,
}

/// `GET /groups`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GroupList {
    /// Always true on this broker (kept for readers of the placeholder).
    pub available: bool,
    pub groups: Vec<GroupSummary>,
}

/// Partitions of one topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TopicPartitions {
    pub topic: String,
    pub partitions: Vec<i32>,
}

/// A member of a group, as `GET /groups/{group}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GroupMember {
    pub member_id: String,
    /// `group.instance.id` of a static member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// The partitions the group's leader assigned to this member (empty while a rebalance is
    /// under way, or when the assignment is not Kafka's consumer protocol).
    pub assignment: Vec<TopicPartitions>,
}

/// A group's committed offset of one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GroupOffset {
    pub topic: String,
    pub partition: i32,
    pub committed: i64,
    /// The partition's high watermark; -1 when the partition no longer exists.
    pub high_watermark: i64,
    /// `high_watermark - committed`, never below 0.
    pub lag: i64,
    /// The member the partition is assigned to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<String>,
}

/// `GET /groups/{group}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GroupDetail {
    pub group_id: String,
    pub state: String,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<GroupMember>,
    pub offsets: Vec<GroupOffset>,
    /// Sum of `offsets[].lag`.
    pub lag: i64,
}

/// Where a reset moves a group's offsets, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResetPosition {
    /// Each partition's log start offset.
    Earliest,
    /// Each partition's high watermark (nothing left to read).
    Latest,
}

/// A reset to one offset, the same for every partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetToOffset {
    pub offset: i64,
}

/// A reset to the first record at or after a time; the high watermark when there is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetToTimestamp {
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

/// `to` of `POST /groups/{group}/offsets`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ResetTo {
    Position(ResetPosition),
    Offset(ResetToOffset),
    Timestamp(ResetToTimestamp),
}

/// `POST /groups/{group}/offsets`: Kafka's `--reset-offsets` over HTTP. Refused while the group
/// has members, as Kafka refuses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ResetOffsetsRequest {
    pub topic: String,
    pub to: ResetTo,
    /// Partitions to reset; every partition of the topic when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<Vec<i32>>,
    /// Computes and returns the new offsets without committing them (the plan Kafka's tool
    /// prints without `--execute`).
    #[serde(default)]
    pub dry_run: bool,
}

/// The answer of `POST /groups/{group}/offsets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ResetOffsetsResponse {
    pub group_id: String,
    /// False for a dry run.
    pub executed: bool,
    /// The new committed offsets (for a dry run, the ones a reset would commit).
    pub offsets: Vec<GroupOffset>,
}

/// `POST /groups/{group}/commit`: commits one offset outside any Kafka member (refused while
/// the group has members).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CommitOffsetRequest {
    pub topic: String,
    pub partition: i32,
    /// The next offset to read, as Kafka commits it.
    pub offset: i64,
}

/// `DELETE /groups/{group}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeleteGroupResponse {
    pub deleted: String,
}
