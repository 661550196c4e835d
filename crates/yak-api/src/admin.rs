//! Topics, cluster state, health, leader metadata and consumer groups.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::integer::option_i64"
    )]
    pub retention_ms: Option<i64>,
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
}

/// `GET /topics/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TopicDetail {
    pub name: String,
    pub replication_factor: i32,
    pub retention_ms: Option<i64>,
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

/// `GET /cluster`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClusterState {
    pub cluster: String,
    pub node_id: i32,
    pub leader_id: i32,
    pub epoch: i64,
    pub nodes: Vec<NodeState>,
    pub partitions: Vec<PartitionState>,
    pub elections: Vec<Election>,
}

/// `GET /groups`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GroupList {
    /// False until consumer groups exist on this broker.
    pub available: bool,
    pub groups: Vec<serde_json::Value>,
}
