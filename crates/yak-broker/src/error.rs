//! The broker's operating errors, and how each maps to an HTTP error code.

use std::path::PathBuf;

use yak_api::{ApiError, ErrorCode};
use yak_log::{BatchError, LogError};

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("unknown topic {0:?}")]
    UnknownTopic(String),
    #[error("topic {topic:?} has no partition {partition}")]
    UnknownPartition { topic: String, partition: i32 },
    #[error("topic {0:?} already exists")]
    TopicAlreadyExists(String),
    #[error("invalid topic name: {0}")]
    InvalidTopicName(String),
    #[error("{0}")]
    InvalidField(String),
    #[error("{0}")]
    InvalidPartitions(String),
    #[error("{0}")]
    InvalidReplicationFactor(String),
    /// A topic config name this broker does not know, or a value it does not accept.
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    #[error("offset {offset} is out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start_offset: i64,
        log_end_offset: i64,
    },
    #[error("{0}")]
    RecordTooLarge(String),
    /// A record batch failed the codec's checks; the error's kind picks the Kafka code.
    #[error("invalid record batch: {0}")]
    InvalidBatch(#[from] BatchError),
    #[error("out of order sequence: {0}")]
    OutOfOrderSequence(String),
    #[error("invalid producer epoch: {0}")]
    InvalidProducerEpoch(String),
    #[error("storage error: {0}")]
    Storage(String),
    /// Damage on disk that recovery must not repair (a sealed segment that does not parse):
    /// the node cannot serve the partition, and at start-up the binary exits with its own status.
    #[error("log corrupt in {path}: {reason}")]
    CorruptLog { path: PathBuf, reason: String },
    /// Another process holds the data directory's lock.
    #[error("the data directory {path} is in use by another yak broker (it holds the lock on {lock_file})")]
    DataDirInUse { path: PathBuf, lock_file: PathBuf },
    #[error("the broker is shutting down")]
    ShuttingDown,
    /// This node does not lead the partition (it follows, or has lost its lease); `leader` is
    /// the one it knows of, if any, as `(node id, advertised HTTP URL)`.
    #[error("{}", not_leader_message(.leader))]
    NotLeader { leader: Option<(i32, String)> },
    /// No node leads right now (an election is under way).
    #[error("no leader is available right now; retry")]
    LeaderNotAvailable,
    #[error("the in-sync replica set has {isr} members, fewer than min.insync.replicas = {min}")]
    NotEnoughReplicas { isr: usize, min: usize },
    /// The write was not confirmed in time; it may or may not be committed.
    #[error("{0}")]
    RequestTimedOut(String),
    /// A replica request carried an older leader epoch than this node's.
    #[error("leader epoch {request} is older than the current {current}")]
    FencedLeaderEpoch { request: i32, current: i32 },
    /// A replica request carried a newer leader epoch than this node knows.
    #[error("leader epoch {request} is newer than the current {current}")]
    UnknownLeaderEpoch { request: i32, current: i32 },
    #[error("internal error: {0}")]
    Internal(String),
    /// No valid credentials, and the node requires them.
    #[error("{0}")]
    Unauthenticated(String),
    /// The ACLs do not allow the operation.
    #[error("{0}")]
    Forbidden(String),
}

impl BrokerError {
    pub fn code(&self) -> ErrorCode {
        match self {
            BrokerError::UnknownTopic(_) => ErrorCode::UnknownTopic,
            BrokerError::UnknownPartition { .. } => ErrorCode::UnknownPartition,
            BrokerError::TopicAlreadyExists(_) => ErrorCode::TopicAlreadyExists,
            BrokerError::InvalidTopicName(_) => ErrorCode::InvalidTopicName,
            BrokerError::InvalidField(_)
            | BrokerError::InvalidPartitions(_)
            | BrokerError::InvalidReplicationFactor(_) => ErrorCode::InvalidField,
            BrokerError::InvalidConfig(_) => ErrorCode::InvalidConfig,
            BrokerError::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
            BrokerError::RecordTooLarge(_) => ErrorCode::RecordTooLarge,
            BrokerError::InvalidBatch(_) => ErrorCode::InvalidRecordBatch,
            BrokerError::OutOfOrderSequence(_) | BrokerError::InvalidProducerEpoch(_) => {
                ErrorCode::InvalidField
            }
            BrokerError::Storage(_) | BrokerError::CorruptLog { .. } => ErrorCode::StorageError,
            BrokerError::DataDirInUse { .. } => ErrorCode::Unavailable,
            BrokerError::ShuttingDown => ErrorCode::Unavailable,
            BrokerError::NotLeader { .. }
            | BrokerError::FencedLeaderEpoch { .. }
            | BrokerError::UnknownLeaderEpoch { .. } => ErrorCode::NotLeader,
            BrokerError::LeaderNotAvailable => ErrorCode::LeaderNotAvailable,
            BrokerError::NotEnoughReplicas { .. } => ErrorCode::NotEnoughReplicas,
            BrokerError::RequestTimedOut(_) => ErrorCode::RequestTimedOut,
            BrokerError::Internal(_) => ErrorCode::Internal,
            BrokerError::Unauthenticated(_) => ErrorCode::Unauthenticated,
            BrokerError::Forbidden(_) => ErrorCode::Forbidden,
        }
    }

    pub fn to_api(&self) -> ApiError {
        ApiError::new(self.code(), self.to_string())
    }
}

fn not_leader_message(leader: &Option<(i32, String)>) -> String {
    match leader {
        Some((id, http)) => format!("this node is not the leader; node {id} leads at {http}"),
        None => "this node is not the leader".to_string(),
    }
}

impl From<LogError> for BrokerError {
    fn from(error: LogError) -> BrokerError {
        match error {
            LogError::OffsetOutOfRange {
                offset,
                log_start_offset,
                log_end_offset,
            } => BrokerError::OffsetOutOfRange {
                offset,
                log_start_offset,
                log_end_offset,
            },
            LogError::BatchTooLarge { .. } => BrokerError::RecordTooLarge(error.to_string()),
            LogError::Batch(error) => BrokerError::InvalidBatch(error),
            LogError::Corrupt { path, reason } => BrokerError::CorruptLog { path, reason },
            other => BrokerError::Storage(other.to_string()),
        }
    }
}
