//! Errors on the wire: `{"error":{"code":"snake_case_code","message":"…"}}`.
//!
//! A code never changes meaning once released; new failures get new codes.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every error code the HTTP API can answer with. The serialized form is the stable contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body is not valid JSON, or not of the expected shape.
    InvalidJson,
    /// A required field is absent.
    MissingField,
    /// A field has a value outside what is accepted.
    InvalidField,
    /// A topic config name is unknown, or its value is not accepted (Kafka's INVALID_CONFIG).
    InvalidConfig,
    /// The topic name breaks Kafka's rules: `[a-zA-Z0-9._-]`, 1 to 249 characters.
    InvalidTopicName,
    /// The topic does not exist.
    UnknownTopic,
    /// The topic already exists.
    TopicAlreadyExists,
    /// The partition does not exist in the topic.
    UnknownPartition,
    /// The offset is below the log start or above the log end.
    OffsetOutOfRange,
    /// The request body is larger than the broker accepts.
    BodyTooLarge,
    /// A record, or the batch it lands in, is larger than the broker accepts.
    RecordTooLarge,
    /// The batch holds more records than the broker accepts in one request.
    TooManyRecords,
    /// A Kafka record batch is damaged or disagrees with itself (CRC, lengths, record count,
    /// offset deltas).
    InvalidRecordBatch,
    /// The broker could not write to its disk (disk full, failed fsync).
    StorageError,
    /// The consumer group does not exist (no members and no committed offsets).
    UnknownGroup,
    /// The consumer group has live Kafka members: its offsets cannot be reset, committed from
    /// outside, or the group deleted until they leave (Kafka's NON_EMPTY_GROUP).
    GroupNotEmpty,
    /// This node is not the leader; the body names the leader.
    NotLeader,
    /// The cluster has no leader right now (an election is under way, or no in-sync replica is
    /// alive); retry.
    LeaderNotAvailable,
    /// `acks=all` was refused before anything was written: the in-sync replica set is smaller
    /// than `--min-insync-replicas`.
    NotEnoughReplicas,
    /// The write was not confirmed in time (its replication is in doubt): it may or may not
    /// have been committed, and a retry may store it twice unless it carries a `msg_id`.
    RequestTimedOut,
    /// The broker is shutting down or not ready.
    Unavailable,
    /// The path does not exist.
    NotFound,
    /// The feature is not available on this node yet.
    NotImplemented,
    /// A bug: the broker logs the details.
    Internal,
    /// The request carries no valid credentials (HTTP Basic, a bearer token, a console
    /// session or a client certificate) and the node requires them.
    Unauthenticated,
    /// The principal is authenticated but the ACLs do not allow the operation.
    Forbidden,
    /// A console write whose `X-CSRF-Token` header does not match its session.
    CsrfTokenInvalid,
    /// The client sent more requests than its rate allows; retry after `Retry-After`.
    RateLimited,
}

impl ErrorCode {
    /// The HTTP status that goes with the code.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::InvalidJson
            | ErrorCode::MissingField
            | ErrorCode::InvalidField
            | ErrorCode::InvalidConfig
            | ErrorCode::InvalidTopicName
            | ErrorCode::OffsetOutOfRange
            | ErrorCode::TooManyRecords
            | ErrorCode::InvalidRecordBatch => 400,
            ErrorCode::UnknownTopic
            | ErrorCode::UnknownPartition
            | ErrorCode::UnknownGroup
            | ErrorCode::NotFound => 404,
            ErrorCode::TopicAlreadyExists | ErrorCode::GroupNotEmpty => 409,
            ErrorCode::BodyTooLarge | ErrorCode::RecordTooLarge => 413,
            ErrorCode::NotLeader => 421,
            ErrorCode::LeaderNotAvailable | ErrorCode::NotEnoughReplicas => 503,
            ErrorCode::RequestTimedOut => 504,
            ErrorCode::NotImplemented => 501,
            ErrorCode::StorageError | ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::Forbidden | ErrorCode::CsrfTokenInvalid => 403,
            ErrorCode::RateLimited => 429,
        }
    }

    /// The snake_case name, as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::CsrfTokenInvalid => "csrf_token_invalid",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::MissingField => "missing_field",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::InvalidConfig => "invalid_config",
            ErrorCode::InvalidTopicName => "invalid_topic_name",
            ErrorCode::UnknownTopic => "unknown_topic",
            ErrorCode::TopicAlreadyExists => "topic_already_exists",
            ErrorCode::UnknownPartition => "unknown_partition",
            ErrorCode::OffsetOutOfRange => "offset_out_of_range",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::RecordTooLarge => "record_too_large",
            ErrorCode::TooManyRecords => "too_many_records",
            ErrorCode::InvalidRecordBatch => "invalid_record_batch",
            ErrorCode::StorageError => "storage_error",
            ErrorCode::UnknownGroup => "unknown_group",
            ErrorCode::GroupNotEmpty => "group_not_empty",
            ErrorCode::NotLeader => "not_leader",
            ErrorCode::LeaderNotAvailable => "leader_not_available",
            ErrorCode::NotEnoughReplicas => "not_enough_replicas",
            ErrorCode::RequestTimedOut => "request_timed_out",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::NotFound => "not_found",
            ErrorCode::NotImplemented => "not_implemented",
            ErrorCode::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error object inside every error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

/// `{"error": {...}}`, the body of every failed request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ApiError,
}
