//! The `Backend` trait: everything the Kafka front-end needs from the broker.
//!
//! The front-end owns the wire format (framing, versions, request and response bodies); the
//! backend owns topics, partitions, logs and producer state. The broker crate implements this
//! trait; `memory_backend` implements it in memory for this crate's unit tests.

use std::future::Future;

use bytes::Bytes;
use yak_auth::{
    AclBinding, AclBindingFilter, Operation, Resource, ScramCredential, ScramMechanism,
};
use yak_log::{BatchError, BatchErrorKind, ValidBatch};

use crate::session::{SecurityProtocol, Session};

/// One broker as clients must reach it: the *advertised* address, never the bind address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
}

/// One partition of a topic as Metadata reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionMeta {
    pub partition: i32,
    /// -1 while the partition has no leader; Metadata then answers LEADER_NOT_AVAILABLE.
    pub leader_id: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// One topic as Metadata, CreateTopics and DescribeConfigs report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicMeta {
    pub name: String,
    /// A real UUID: clients fall back to older Fetch versions when it is all zero.
    pub topic_id: [u8; 16],
    pub partitions: Vec<PartitionMeta>,
    /// Topic configs in Kafka's names (`retention.ms`, `cleanup.policy`, ...).
    pub configs: Vec<(String, String)>,
    /// The names among `configs` the topic set itself; the others are the broker's defaults.
    pub configs_set: Vec<String>,
}

/// What the backend answers to an append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProduceOutcome {
    pub base_offset: i64,
    /// -1 unless the topic uses LogAppendTime.
    pub log_append_time_ms: i64,
    pub log_start_offset: i64,
}

/// What the backend answers to a read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchOutcome {
    /// Whole stored batches, concatenated, exactly as stored; empty when nothing is readable.
    pub records: Bytes,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
}

/// Who reads a partition: a consumer, or a follower copying its leader (Fetch's `replica_id`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reader {
    /// The follower's node id; negative for consumers (-1, or -2 for debug readers).
    pub replica_id: i32,
    /// The leader epoch the reader believes current (KIP-320); -1 when it does not say.
    pub current_leader_epoch: i32,
}

impl Reader {
    pub const CONSUMER: Reader = Reader {
        replica_id: -1,
        current_leader_epoch: -1,
    };

    pub fn is_replica(&self) -> bool {
        self.replica_id >= 0
    }
}

/// A typed failure that maps onto one of Kafka's error codes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    #[error("unknown topic or partition")]
    UnknownTopicOrPartition,
    #[error("not the leader or a follower of this partition")]
    NotLeaderOrFollower,
    #[error("offset out of range")]
    OffsetOutOfRange,
    #[error("corrupt message: {0}")]
    CorruptMessage(String),
    #[error("invalid record: {0}")]
    InvalidRecord(String),
    /// A record batch failed the codec's checks; its kind picks the Kafka code.
    #[error("{0}")]
    InvalidBatch(BatchError),
    #[error("message too large")]
    MessageTooLarge,
    #[error("storage error: {0}")]
    KafkaStorageError(String),
    #[error("topic already exists")]
    TopicAlreadyExists,
    #[error("invalid topic: {0}")]
    InvalidTopic(String),
    #[error("invalid partitions: {0}")]
    InvalidPartitions(String),
    #[error("invalid replication factor: {0}")]
    InvalidReplicationFactor(String),
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    #[error("out of order sequence number")]
    OutOfOrderSequence,
    #[error("duplicate sequence number")]
    DuplicateSequence,
    #[error("invalid producer epoch")]
    InvalidProducerEpoch,
    #[error("unknown producer id")]
    UnknownProducerId,
    #[error("not enough in-sync replicas")]
    NotEnoughReplicas,
    #[error("request timed out")]
    RequestTimedOut,
    #[error("no leader is available")]
    LeaderNotAvailable,
    #[error("not the controller")]
    NotController,
    #[error("fenced leader epoch")]
    FencedLeaderEpoch,
    #[error("unknown leader epoch")]
    UnknownLeaderEpoch,
    #[error("offset not available")]
    OffsetNotAvailable,
    #[error("topic authorization failed")]
    TopicAuthorizationFailed,
    #[error("group authorization failed")]
    GroupAuthorizationFailed,
    #[error("cluster authorization failed")]
    ClusterAuthorizationFailed,
    #[error("transactional id authorization failed")]
    TransactionalIdAuthorizationFailed,
    /// The node has no authorizer: the ACL APIs have nothing to act on.
    #[error("security features are disabled")]
    SecurityDisabled,
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("resource not found: {0}")]
    ResourceNotFound(String),
    #[error("duplicate resource: {0}")]
    DuplicateResource(String),
    #[error("unsupported SASL mechanism: {0}")]
    UnsupportedSaslMechanism(String),
    #[error("unacceptable credential: {0}")]
    UnacceptableCredential(String),
    #[error("unknown server error: {0}")]
    Unknown(String),
}

impl BackendError {
    /// Kafka's error code for this failure (see Kafka's `Errors.java`).
    pub fn code(&self) -> i16 {
        match self {
            BackendError::UnknownTopicOrPartition => 3,
            BackendError::NotLeaderOrFollower => 6,
            BackendError::OffsetOutOfRange => 1,
            BackendError::CorruptMessage(_) => 2,
            BackendError::InvalidRecord(_) => 87,
            BackendError::InvalidBatch(error) => match error.kind() {
                BatchErrorKind::Corrupt => error_code::CORRUPT_MESSAGE,
                BatchErrorKind::Invalid => error_code::INVALID_RECORD,
                BatchErrorKind::UnsupportedCompression => error_code::UNSUPPORTED_COMPRESSION_TYPE,
            },
            BackendError::MessageTooLarge => 10,
            BackendError::KafkaStorageError(_) => 56,
            BackendError::TopicAlreadyExists => 36,
            BackendError::InvalidTopic(_) => 17,
            BackendError::InvalidPartitions(_) => 37,
            BackendError::InvalidReplicationFactor(_) => 38,
            BackendError::InvalidConfig(_) => 40,
            BackendError::OutOfOrderSequence => 45,
            BackendError::DuplicateSequence => 46,
            BackendError::InvalidProducerEpoch => 47,
            BackendError::UnknownProducerId => 59,
            BackendError::NotEnoughReplicas => 19,
            BackendError::RequestTimedOut => 7,
            BackendError::LeaderNotAvailable => 5,
            BackendError::NotController => 41,
            BackendError::FencedLeaderEpoch => 74,
            BackendError::UnknownLeaderEpoch => 75,
            BackendError::OffsetNotAvailable => 78,
            BackendError::TopicAuthorizationFailed => error_code::TOPIC_AUTHORIZATION_FAILED,
            BackendError::GroupAuthorizationFailed => error_code::GROUP_AUTHORIZATION_FAILED,
            BackendError::ClusterAuthorizationFailed => error_code::CLUSTER_AUTHORIZATION_FAILED,
            BackendError::TransactionalIdAuthorizationFailed => {
                error_code::TRANSACTIONAL_ID_AUTHORIZATION_FAILED
            }
            BackendError::SecurityDisabled => error_code::SECURITY_DISABLED,
            BackendError::InvalidRequest(_) => error_code::INVALID_REQUEST,
            BackendError::ResourceNotFound(_) => error_code::RESOURCE_NOT_FOUND,
            BackendError::DuplicateResource(_) => error_code::DUPLICATE_RESOURCE,
            BackendError::UnsupportedSaslMechanism(_) => error_code::UNSUPPORTED_SASL_MECHANISM,
            BackendError::UnacceptableCredential(_) => error_code::UNACCEPTABLE_CREDENTIAL,
            BackendError::Unknown(_) => -1,
        }
    }

    /// The human-readable message for responses that carry one, when there is more to say
    /// than the code itself.
    pub fn message(&self) -> Option<String> {
        match self {
            BackendError::InvalidBatch(error) => Some(error.to_string()),
            BackendError::CorruptMessage(detail)
            | BackendError::InvalidRecord(detail)
            | BackendError::KafkaStorageError(detail)
            | BackendError::InvalidTopic(detail)
            | BackendError::InvalidPartitions(detail)
            | BackendError::InvalidReplicationFactor(detail)
            | BackendError::InvalidConfig(detail)
            | BackendError::InvalidRequest(detail)
            | BackendError::ResourceNotFound(detail)
            | BackendError::DuplicateResource(detail)
            | BackendError::UnsupportedSaslMechanism(detail)
            | BackendError::UnacceptableCredential(detail)
            | BackendError::Unknown(detail) => {
                Some(self.to_string()).filter(|_| !detail.is_empty())
            }
            _ => None,
        }
    }
}

/// Kafka error codes the front-end produces itself (the backend's are in `BackendError::code`).
pub mod error_code {
    pub const NONE: i16 = 0;
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    pub const LEADER_NOT_AVAILABLE: i16 = 5;
    pub const CORRUPT_MESSAGE: i16 = 2;
    pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
    pub const INVALID_REQUIRED_ACKS: i16 = 21;
    pub const UNSUPPORTED_VERSION: i16 = 35;
    pub const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
    pub const INVALID_REQUEST: i16 = 42;
    pub const UNSUPPORTED_COMPRESSION_TYPE: i16 = 76;
    pub const INVALID_RECORD: i16 = 87;
    pub const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;
    pub const UNKNOWN_TOPIC_ID: i16 = 100;
    pub const UNSUPPORTED_ENDPOINT_TYPE: i16 = 119;
    pub const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
    pub const GROUP_AUTHORIZATION_FAILED: i16 = 30;
    pub const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
    pub const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
    pub const SASL_AUTHENTICATION_FAILED: i16 = 58;
    pub const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
    pub const SECURITY_DISABLED: i16 = 54;
    pub const RESOURCE_NOT_FOUND: i16 = 91;
    pub const DUPLICATE_RESOURCE: i16 = 92;
    pub const UNACCEPTABLE_CREDENTIAL: i16 = 93;
}

/// One user's changes in an AlterUserScramCredentials request, checked by the front-end
/// (known mechanisms, iterations in range, each mechanism once); they apply together or not
/// at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserScramChange {
    pub user: String,
    pub deletions: Vec<ScramMechanism>,
    pub upsertions: Vec<ScramCredential>,
}

/// The broker as the Kafka front-end sees it. Every method is called concurrently from many
/// connections; the backend does its own locking.
pub trait Backend: Send + Sync + 'static {
    fn cluster_id(&self) -> String;
    fn controller_id(&self) -> i32;
    /// The advertised host:port of each node on `listener` (clients reach every node through
    /// the listener they used; Kafka answers Metadata the same way).
    fn nodes(&self, listener: SecurityProtocol) -> Vec<NodeInfo>;
    fn topics(&self) -> Vec<TopicMeta>;
    fn topic(&self, name: &str) -> Option<TopicMeta>;
    /// Metadata with `allow_auto_topic_creation`: create the topic with the broker's defaults,
    /// or answer `UnknownTopicOrPartition` when auto-creation is off.
    fn auto_create_topic(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<TopicMeta, BackendError>> + Send;
    /// `partitions` and `replication_factor` are -1 for the broker's default. Resolves once
    /// Metadata shows the topic (clients produce right after).
    fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: Vec<(String, String)>,
        validate_only: bool,
    ) -> impl Future<Output = Result<TopicMeta, BackendError>> + Send;
    fn delete_topic(&self, name: &str) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// IncrementalAlterConfigs of one topic: `(name, Some(value))` sets a config, `(name, None)`
    /// returns it to the broker's default. All changes apply, or none (`InvalidConfig`).
    fn alter_topic_configs(
        &self,
        name: &str,
        changes: Vec<(String, Option<String>)>,
        validate_only: bool,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// Grow `name` to `total_count` partitions.
    fn create_partitions(
        &self,
        name: &str,
        total_count: i32,
        validate_only: bool,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// Append exactly one v2 record batch, as the client sent it. The front-end has checked it
    /// completely (a `ValidBatch`: framing, CRC, records against the header, producer rules);
    /// the backend checks only sequences against its producer state, patches base offset and
    /// leader epoch in place, and resolves when
    /// `acks` is satisfied (-1 = all in-sync replicas, 1 = leader, 0 = leader too: the
    /// front-end just sends no response). The front-end abandons the future once
    /// `timeout_ms` has passed and answers `REQUEST_TIMED_OUT`, so the backend must keep its
    /// state consistent when the future is dropped at any await (a batch already written stays
    /// written, as in Kafka); it may also answer `RequestTimedOut` itself.
    fn produce(
        &self,
        topic: &str,
        partition: i32,
        batch: ValidBatch<'_>,
        acks: i16,
        timeout_ms: i32,
    ) -> impl Future<Output = Result<ProduceOutcome, BackendError>> + Send;
    /// Whole stored batches starting at the batch that holds `offset`, never above the high
    /// watermark (the last stable offset when `read_committed`), at most
    /// `partition_max_bytes` — except that at least one whole batch is returned when one
    /// exists, however large (KIP-74). Empty `records` when nothing is there.
    /// `OffsetOutOfRange` below the log start or above the high watermark. The
    /// `high_watermark` answered is the one that bounded the read, never older than the
    /// batches returned. Log reads run off tokio's worker threads.
    ///
    /// A follower's fetch (`reader.is_replica()`) reads up to the log end offset instead, and
    /// tells the leader that the follower holds everything below `offset` durably.
    fn fetch(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        partition_max_bytes: i32,
        read_committed: bool,
        reader: Reader,
    ) -> impl Future<Output = Result<FetchOutcome, BackendError>> + Send;
    /// Resolves once data at or above `offset` may be readable (the high watermark moved past
    /// it), or at once when it already is. The front-end applies `max_wait_ms` with
    /// `tokio::time::timeout` and waits on every partition of a Fetch at once, so a Fetch
    /// long-polls without sleep loops. Spurious wake-ups are allowed.
    /// For a follower's fetch: once the log end offset moved past `offset`.
    fn wait_for_data(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        reader: Reader,
    ) -> impl Future<Output = ()> + Send;
    /// `timestamp` is -2 (earliest: the log start), -1 (latest: the high watermark), -3 (the
    /// offset of the largest timestamp, ListOffsets v7+) or milliseconds (the first offset
    /// whose batch has a timestamp at or after it). Answers `(offset, timestamp)`, or
    /// `(-1, -1)` when no record is that recent.
    /// Async because a lookup by time reads the log, which must not block the runtime's
    /// worker threads.
    fn list_offset(
        &self,
        topic: &str,
        partition: i32,
        timestamp: i64,
    ) -> impl Future<Output = Result<(i64, i64), BackendError>> + Send;
    /// OffsetForLeaderEpoch: the largest epoch at or below `leader_epoch` in this node's log and
    /// where it ends (the log end offset for the latest epoch), or `(-1, -1)` when the log has
    /// no such epoch. `current_leader_epoch` is checked as a fetch's is (-1: not checked).
    fn offset_for_leader_epoch(
        &self,
        topic: &str,
        partition: i32,
        current_leader_epoch: i32,
        leader_epoch: i32,
    ) -> impl Future<Output = Result<(i32, i64), BackendError>> + Send;
    /// A cluster-unique producer id and its epoch, for idempotent producers.
    fn init_producer_id(&self) -> impl Future<Output = Result<(i64, i16), BackendError>> + Send;
    /// Where group requests go (FindCoordinator) on `listener`, or None while no coordinator
    /// is available.
    fn group_coordinator(&self, _listener: SecurityProtocol) -> Option<NodeInfo> {
        None
    }
    /// The SCRAM credential of `user` (SASL SCRAM logins); None for an unknown user.
    fn scram_credential(&self, _user: &str, _mechanism: ScramMechanism) -> Option<ScramCredential> {
        None
    }
    /// Whether `password` is `user`'s (SASL PLAIN logins).
    fn check_password(&self, _user: &str, _password: &str) -> bool {
        false
    }
    /// Whether `session` may do `operation` on `resource` (the ACLs). The default allows
    /// everything, for backends without authorization.
    fn authorize(&self, _session: &Session, _operation: Operation, _resource: &Resource) -> bool {
        true
    }
    /// `authorize` for filtering a listing (Metadata of all topics, ListGroups, ...): a
    /// refusal only hides an entry, so it is not counted or logged as a denied request
    /// (Kafka's `logIfDenied = false`).
    fn authorize_quietly(
        &self,
        session: &Session,
        operation: Operation,
        resource: &Resource,
    ) -> bool {
        self.authorize(session, operation, resource)
    }
    /// Adds ACL bindings (CreateAcls), each validated by the front-end; one answer per
    /// binding, in order. `SecurityDisabled` when the node has no authorizer (the default).
    fn create_acls(
        &self,
        bindings: Vec<AclBinding>,
    ) -> impl Future<Output = Vec<Result<(), BackendError>>> + Send {
        let answers = bindings
            .iter()
            .map(|_| Err(BackendError::SecurityDisabled))
            .collect();
        async move { answers }
    }
    /// The bindings `filter` matches (DescribeAcls); `SecurityDisabled` without an authorizer.
    fn describe_acls(&self, _filter: &AclBindingFilter) -> Result<Vec<AclBinding>, BackendError> {
        Err(BackendError::SecurityDisabled)
    }
    /// Removes the bindings each filter matches (DeleteAcls) in one change; one answer per
    /// filter, in order, listing what it removed.
    fn delete_acls(
        &self,
        filters: Vec<AclBindingFilter>,
    ) -> impl Future<Output = Vec<Result<Vec<AclBinding>, BackendError>>> + Send {
        let answers = filters
            .iter()
            .map(|_| Err(BackendError::SecurityDisabled))
            .collect();
        async move { answers }
    }
    /// Every user with SCRAM credentials, with each credential's mechanism and iterations
    /// (DescribeUserScramCredentials). Empty for a backend without users.
    fn scram_users(&self) -> Vec<(String, Vec<(ScramMechanism, u32)>)> {
        Vec::new()
    }
    /// Applies each user's changes (AlterUserScramCredentials) in one change of the stored
    /// state; one answer per change, in order. A deletion of a credential the user does not
    /// have is `ResourceNotFound`.
    fn alter_scram_credentials(
        &self,
        changes: Vec<UserScramChange>,
    ) -> impl Future<Output = Vec<Result<(), BackendError>>> + Send {
        let answers = changes
            .iter()
            .map(|_| Err(BackendError::SecurityDisabled))
            .collect();
        async move { answers }
    }
    /// Counts a login on `listener` (metrics).
    fn authentication_result(&self, _listener: SecurityProtocol, _success: bool) {}
    /// Answers a consumer-group request (JoinGroup ... OffsetDelete) at `version`. The default
    /// answers COORDINATOR_NOT_AVAILABLE, for backends without groups. A JoinGroup or SyncGroup
    /// may wait for the rest of its group; the front-end drops the future when the client goes.
    fn group_request(
        &self,
        request: crate::groups::GroupRequest,
        version: i16,
        _client: crate::groups::Client,
    ) -> impl Future<Output = crate::groups::GroupResponse> + Send {
        let response =
            crate::groups::unavailable(&request, version, error_code::COORDINATOR_NOT_AVAILABLE);
        async move { response }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves the codes match Kafka's `Errors.java` for the errors clients react to.
    #[test]
    fn error_codes_are_kafkas() {
        assert_eq!(BackendError::UnknownTopicOrPartition.code(), 3);
        assert_eq!(BackendError::NotLeaderOrFollower.code(), 6);
        assert_eq!(BackendError::CorruptMessage(String::new()).code(), 2);
        assert_eq!(BackendError::OutOfOrderSequence.code(), 45);
        assert_eq!(BackendError::CorruptMessage(String::new()).message(), None);
        assert!(BackendError::InvalidRecord("count".into())
            .message()
            .is_some_and(|m| m.contains("count")));
    }
}
