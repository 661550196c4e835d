//! `GET /consume` and `GET /consume/stream`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Query parameters of `GET /consume` and `GET /consume/stream`. The served OpenAPI document adds
/// the node's own bounds (topic-name rules, `max` and `wait_ms` limits) to these declarations.
#[derive(Debug, Clone, Default, Deserialize, Serialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsumeParams {
    /// The topic to read.
    pub topic: String,
    /// Defaults to 0.
    #[param(minimum = 0)]
    pub partition: Option<i32>,
    /// An offset between the log start and the log end, `earliest` or `latest`; defaults to
    /// `earliest`. An offset outside the log (a negative one too) is answered with
    /// `offset_out_of_range`.
    #[param(pattern = r"^(earliest|latest|-?[0-9]{1,18})$")]
    pub offset: Option<String>,
    /// Most records to return (default 100).
    #[param(minimum = 1)]
    pub max: Option<i64>,
    /// How long to wait for a first record when none is there, in milliseconds (default 0).
    #[param(minimum = 0)]
    pub wait_ms: Option<i64>,
    /// Reads for a consumer group: without `offset`, starts at the group's committed offset
    /// (earliest when none), and commits `next_offset` after each answer (each event, on a
    /// stream). Refused with `group_not_empty` while Kafka members own the group.
    #[param(min_length = 1)]
    pub group: Option<String>,
}

/// One record as consumers see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConsumedRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<i32>,
    pub offset: i64,
    pub msg_id: String,
    pub key: Option<String>,
    /// Set instead of `key` when the key is not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_base64: Option<String>,
    /// The stored JSON value; a string when the value is not JSON; null when the value is absent.
    pub payload: serde_json::Value,
    /// Set instead of `payload` when the value is not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_base64: Option<String>,
    pub timestamp: i64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// The answer of `GET /consume`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConsumeResponse {
    pub topic: String,
    pub partition: i32,
    pub messages: Vec<ConsumedRecord>,
    /// The offset to ask for next.
    pub next_offset: i64,
    pub high_watermark: i64,
}

/// One server-sent event of `GET /consume/stream`, shown as `{"event", "data"}`: the event's
/// `event:` line is the variant's name and its `data:` line the JSON of the variant's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum ConsumeStreamEvent {
    /// A record, with its topic and partition; the event's `id:` line is its offset.
    Record(ConsumedRecord),
    /// The stream failed and ends after this event.
    Error(crate::ErrorBody),
}

impl ConsumeStreamEvent {
    /// The `event:` name of a record.
    pub const RECORD: &'static str = "record";
    /// The `event:` name of a failure.
    pub const ERROR: &'static str = "error";
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The event names the broker writes are the tags the schema documents.
    #[test]
    fn stream_event_names_match_their_schema_tags() {
        let record = ConsumeStreamEvent::Record(ConsumedRecord {
            topic: Some("t".into()),
            partition: Some(0),
            offset: 0,
            msg_id: "t-0-0".into(),
            key: None,
            key_base64: None,
            payload: serde_json::Value::Null,
            payload_base64: None,
            timestamp: 0,
            headers: BTreeMap::new(),
        });
        let error = ConsumeStreamEvent::Error(crate::ErrorBody {
            error: crate::ApiError::new(crate::ErrorCode::Internal, "x"),
        });
        assert_eq!(
            serde_json::to_value(record).unwrap()["event"],
            ConsumeStreamEvent::RECORD
        );
        assert_eq!(
            serde_json::to_value(error).unwrap()["event"],
            ConsumeStreamEvent::ERROR
        );
    }
}
