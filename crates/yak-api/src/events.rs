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
    /// A follower cut its log to line up with a new leader's.
    Truncated,
    /// This node started or stopped leading or following.
    RoleChanged,
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

/// One server-sent event of `GET /events`, shown as `{"event", "data"}`: the event's `event:`
/// line is the variant's name and its `data:` line the JSON of the variant's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum ConsoleEvent {
    /// Once per second.
    Stats(StatsEvent),
    /// As it happens.
    Activity(ActivityEvent),
}

impl ConsoleEvent {
    /// The `event:` name: the variant's tag.
    pub fn name(&self) -> &'static str {
        match self {
            ConsoleEvent::Stats(_) => "stats",
            ConsoleEvent::Activity(_) => "activity",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The event names the broker writes are the tags the schema documents.
    #[test]
    fn console_event_names_match_their_schema_tags() {
        let events = [
            ConsoleEvent::Stats(StatsEvent {
                ts_ms: 0,
                node_id: 0,
                role: "standalone".into(),
                leader_id: 0,
                epoch: 0,
                topics: 0,
                partitions: 0,
                records_in_total: 0,
                records_out_total: 0,
                bytes_in_total: 0,
                bytes_out_total: 0,
            }),
            ConsoleEvent::Activity(ActivityEvent {
                ts_ms: 0,
                kind: ActivityKind::TopicCreated,
                message: "m".into(),
            }),
        ];
        for event in events {
            assert_eq!(serde_json::to_value(&event).unwrap()["event"], event.name());
        }
    }
}
