//! The console's live feed: `GET /events` (server-sent events) and `GET /activity`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Sent once per second as `event: stats`. Totals are counters since start; the console derives
/// per-second rates from consecutive samples.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatsEvent {
    pub ts_ms: i64,
    pub node_id: i32,
    pub role: String,
    pub leader_id: i32,
    pub epoch: i64,
    pub topics: usize,
    pub partitions: usize,
    pub records_in_total: u64,
    pub records_out_total: u64,
    pub bytes_in_total: u64,
    pub bytes_out_total: u64,
}

/// What an activity entry is about; the console colours entries by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    BrokerStarted,
    TopicCreated,
    TopicDeleted,
    /// A topic's configs changed.
    TopicAltered,
    /// Retention deleted old segments of a partition.
    SegmentsDeleted,
    LeaderElected,
    IsrJoined,
    IsrLeft,
    Error,
}

/// Sent as `event: activity`, and listed by `GET /activity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ActivityEvent {
    pub ts_ms: i64,
    pub kind: ActivityKind,
    pub message: String,
}

/// `GET /activity`: recent events, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ActivityList {
    pub events: Vec<ActivityEvent>,
}
