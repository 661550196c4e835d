//! An in-memory `Backend` for the front-end's unit tests and fuzz harness, which cannot depend
//! on the broker crate above them. One node, one `Vec` of batches per partition, no durability,
//! no replication. The broker crate is the real implementation, and the real Kafka clients in
//! `tests/kafka` run against it.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use tokio::sync::Notify;
use yak_log::ValidBatch;

use yak_auth::{AclBinding, AclBindingFilter, Operation, Resource, ScramMechanism, SecurityState};

use crate::backend::{
    Backend, BackendError, FetchOutcome, NodeInfo, PartitionMeta, ProduceOutcome, TopicMeta,
    UserScramChange,
};
use crate::groups::{Client, GroupRequest, GroupResponse};
use crate::session::Session;

/// How a test backend answers group requests that pass authorization.
pub type GroupAnswer = Box<dyn Fn(&GroupRequest, i16) -> GroupResponse + Send + Sync>;

/// The node id of the single in-memory node.
pub const NODE_ID: i32 = 1;
/// Partitions of an auto-created topic, or of a topic created with -1.
pub const DEFAULT_PARTITIONS: i32 = 1;
/// Largest batch the memory backend accepts, Kafka's default `max.message.bytes`.
pub const BATCH_BYTES_MAX: usize = 1_048_588;

struct StoredBatch {
    base_offset: i64,
    next_offset: i64,
    max_timestamp: i64,
    bytes: Bytes,
}

#[derive(Default)]
struct PartitionLog {
    batches: Vec<StoredBatch>,
    log_end_offset: i64,
}

struct Topic {
    meta: TopicMeta,
    logs: Vec<PartitionLog>,
}

#[derive(Default)]
struct State {
    topics: BTreeMap<String, Topic>,
    next_producer_id: i64,
    topics_created: u64,
}

/// See the module doc.
pub struct MemoryBackend {
    node: NodeInfo,
    auto_create_topics: bool,
    state: Mutex<State>,
    appended: Notify,
    /// When set, a produce appends and then never resolves, as a durability wait on a stuck
    /// disk would (tests of Produce's `timeout_ms`).
    stall_produce: AtomicBool,
    /// None: every session may do everything. Some: only these (operation, resource) pairs
    /// are allowed, exactly as listed (no implied operations), for everyone.
    allowed: Mutex<Option<Vec<(Operation, Resource)>>>,
    /// None: no authorizer, so the ACL and SCRAM admin APIs answer SECURITY_DISABLED.
    security: Mutex<Option<SecurityState>>,
    /// Group requests that reached the backend, by API key.
    group_requests: Mutex<Vec<i16>>,
    group_answer: Mutex<Option<GroupAnswer>>,
}

fn partition_meta(partition: i32) -> PartitionMeta {
    PartitionMeta {
        partition,
        leader_id: NODE_ID,
        leader_epoch: 0,
        replicas: vec![NODE_ID],
        isr: vec![NODE_ID],
    }
}

fn valid_topic_name(name: &str) -> bool {
    (1..=249).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl MemoryBackend {
    /// A node advertised at `host:port`.
    pub fn new(host: &str, port: i32, auto_create_topics: bool) -> Self {
        MemoryBackend {
            node: NodeInfo {
                node_id: NODE_ID,
                host: host.to_owned(),
                port,
            },
            auto_create_topics,
            state: Mutex::new(State::default()),
            appended: Notify::new(),
            stall_produce: AtomicBool::new(false),
            allowed: Mutex::new(None),
            security: Mutex::new(None),
            group_requests: Mutex::new(Vec::new()),
            group_answer: Mutex::new(None),
        }
    }

    /// From now on, only `pairs` are allowed (see `allowed`).
    pub fn allow_only(&self, pairs: Vec<(Operation, Resource)>) {
        *self.allowed.lock().unwrap_or_else(|e| e.into_inner()) = Some(pairs);
    }

    /// Gives the node an authorizer with an empty state (ACL and SCRAM admin APIs work).
    pub fn enable_security(&self) {
        *self.security.lock().unwrap_or_else(|e| e.into_inner()) = Some(SecurityState::default());
    }

    /// The security state, when enabled.
    pub fn security_state(&self) -> Option<SecurityState> {
        self.security
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Answers the group requests that reach the backend with `answer`.
    pub fn answer_groups(&self, answer: GroupAnswer) {
        *self.group_answer.lock().unwrap_or_else(|e| e.into_inner()) = Some(answer);
    }

    /// The API keys of the group requests that reached the backend so far.
    pub fn group_requests(&self) -> Vec<i16> {
        self.group_requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A node at localhost:9092 that auto-creates topics.
    pub fn for_tests() -> Self {
        Self::new("localhost", 9092, true)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Makes every later produce append and then wait forever (see `stall_produce`).
    pub fn stall_produce(&self, stalled: bool) {
        self.stall_produce.store(stalled, Ordering::Relaxed);
    }

    /// Creates `name` with `partitions` partitions (or returns the existing topic).
    pub fn add_topic(&self, name: &str, partitions: i32) -> TopicMeta {
        let mut state = self.lock();
        if let Some(topic) = state.topics.get(name) {
            return topic.meta.clone();
        }
        state.topics_created += 1;
        let mut hasher = DefaultHasher::new();
        (name, state.topics_created).hash(&mut hasher);
        let high = hasher.finish();
        (high, "yak").hash(&mut hasher);
        let low = hasher.finish();
        let mut topic_id = [0u8; 16];
        topic_id[..8].copy_from_slice(&high.to_be_bytes());
        topic_id[8..].copy_from_slice(&low.to_be_bytes());
        // Mark it as a version-4 UUID so it looks like one to every client.
        topic_id[6] = (topic_id[6] & 0x0f) | 0x40;
        topic_id[8] = (topic_id[8] & 0x3f) | 0x80;
        let meta = TopicMeta {
            name: name.to_owned(),
            topic_id,
            partitions: (0..partitions).map(partition_meta).collect(),
            configs: vec![
                ("cleanup.policy".into(), "delete".into()),
                ("retention.ms".into(), "604800000".into()),
                ("max.message.bytes".into(), BATCH_BYTES_MAX.to_string()),
                ("segment.ms".into(), "604800000".into()),
            ],
            configs_set: Vec::new(),
        };
        let logs = (0..partitions).map(|_| PartitionLog::default()).collect();
        state.topics.insert(
            name.to_owned(),
            Topic {
                meta: meta.clone(),
                logs,
            },
        );
        meta
    }

    /// Checks one batch as the front-end does and appends it (for tests that fill a log).
    pub fn append(
        &self,
        topic: &str,
        partition: i32,
        batch: impl Into<BytesMut>,
    ) -> Result<ProduceOutcome, BackendError> {
        let mut bytes: BytesMut = batch.into();
        let batch = crate::produce::check_batch(&mut bytes)?;
        self.append_valid(topic, partition, batch)
    }

    /// Appends one checked batch; the synchronous core of `produce`.
    fn append_valid(
        &self,
        topic: &str,
        partition: i32,
        mut batch: ValidBatch<'_>,
    ) -> Result<ProduceOutcome, BackendError> {
        if batch.len() > BATCH_BYTES_MAX {
            return Err(BackendError::MessageTooLarge);
        }
        let outcome = {
            let mut state = self.lock();
            let log = state
                .topics
                .get_mut(topic)
                .and_then(|t| {
                    usize::try_from(partition)
                        .ok()
                        .and_then(|p| t.logs.get_mut(p))
                })
                .ok_or(BackendError::UnknownTopicOrPartition)?;
            let base_offset = log.log_end_offset;
            batch.place(base_offset, 0);
            let next_offset = batch.header().last_offset() + 1;
            log.log_end_offset = next_offset;
            log.batches.push(StoredBatch {
                base_offset,
                next_offset,
                max_timestamp: batch.header().max_timestamp,
                bytes: Bytes::copy_from_slice(batch.bytes()),
            });
            ProduceOutcome {
                base_offset,
                log_append_time_ms: -1,
                log_start_offset: 0,
            }
        };
        self.appended.notify_waiters();
        Ok(outcome)
    }

    fn high_watermark(&self, topic: &str, partition: i32) -> Option<i64> {
        let state = self.lock();
        let topic = state.topics.get(topic)?;
        let log = topic.logs.get(usize::try_from(partition).ok()?)?;
        Some(log.log_end_offset)
    }
}

/// An uncompressed batch of `values` (no keys), base offset 0, as a client would send it.
pub fn test_batch(values: &[&[u8]]) -> Bytes {
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(index, value)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: index as i64,
            // The encoder keeps records in one batch only while offset - sequence is constant.
            sequence: index as i32 - 1,
            timestamp: 1_700_000_000_000 + index as i64,
            key: None,
            value: Some(Bytes::copy_from_slice(value)),
            headers: IndexMap::new(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    if let Err(error) = RecordBatchEncoder::encode(&mut buf, &records, &options) {
        panic!("test batch must encode: {error}");
    }
    buf.freeze()
}

impl Backend for MemoryBackend {
    fn cluster_id(&self) -> String {
        "yak-memory".to_owned()
    }

    fn controller_id(&self) -> i32 {
        NODE_ID
    }

    fn nodes(&self, _listener: crate::session::SecurityProtocol) -> Vec<NodeInfo> {
        vec![self.node.clone()]
    }

    fn topics(&self) -> Vec<TopicMeta> {
        self.lock()
            .topics
            .values()
            .map(|t| t.meta.clone())
            .collect()
    }

    fn topic(&self, name: &str) -> Option<TopicMeta> {
        self.lock().topics.get(name).map(|t| t.meta.clone())
    }

    async fn auto_create_topic(&self, name: &str) -> Result<TopicMeta, BackendError> {
        if !self.auto_create_topics {
            return Err(BackendError::UnknownTopicOrPartition);
        }
        if !valid_topic_name(name) {
            return Err(BackendError::InvalidTopic(name.to_owned()));
        }
        Ok(self.add_topic(name, DEFAULT_PARTITIONS))
    }

    async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        _configs: Vec<(String, String)>,
        validate_only: bool,
    ) -> Result<TopicMeta, BackendError> {
        if !valid_topic_name(name) {
            return Err(BackendError::InvalidTopic(format!(
                "{name:?} must match [a-zA-Z0-9._-]{{1,249}}"
            )));
        }
        let partitions = if partitions == -1 {
            DEFAULT_PARTITIONS
        } else {
            partitions
        };
        if partitions <= 0 {
            return Err(BackendError::InvalidPartitions(format!("{partitions}")));
        }
        if !matches!(replication_factor, -1 | 1) {
            return Err(BackendError::InvalidReplicationFactor(
                "the memory backend has one node".into(),
            ));
        }
        if self.topic(name).is_some() {
            return Err(BackendError::TopicAlreadyExists);
        }
        if validate_only {
            let mut meta = self.add_topic(name, partitions);
            self.lock().topics.remove(name);
            meta.partitions
                .truncate(usize::try_from(partitions).unwrap_or(0));
            return Ok(meta);
        }
        Ok(self.add_topic(name, partitions))
    }

    async fn alter_topic_configs(
        &self,
        name: &str,
        changes: Vec<(String, Option<String>)>,
        validate_only: bool,
    ) -> Result<(), BackendError> {
        let mut state = self.lock();
        let topic = state
            .topics
            .get_mut(name)
            .ok_or(BackendError::UnknownTopicOrPartition)?;
        if let Some((unknown, _)) = changes
            .iter()
            .find(|(config, _)| !topic.meta.configs.iter().any(|(known, _)| known == config))
        {
            return Err(BackendError::InvalidConfig(format!(
                "unknown topic config {unknown:?}"
            )));
        }
        if !validate_only {
            for (config, value) in changes {
                if let Some(entry) = topic.meta.configs.iter_mut().find(|(n, _)| *n == config) {
                    entry.1 = value.unwrap_or_default();
                }
                topic.meta.configs_set.retain(|set| *set != config);
                topic.meta.configs_set.push(config);
            }
        }
        Ok(())
    }

    async fn delete_topic(&self, name: &str) -> Result<(), BackendError> {
        match self.lock().topics.remove(name) {
            Some(_) => Ok(()),
            None => Err(BackendError::UnknownTopicOrPartition),
        }
    }

    async fn create_partitions(
        &self,
        name: &str,
        total_count: i32,
        validate_only: bool,
    ) -> Result<(), BackendError> {
        let mut state = self.lock();
        let topic = state
            .topics
            .get_mut(name)
            .ok_or(BackendError::UnknownTopicOrPartition)?;
        let current = topic.logs.len();
        let wanted = usize::try_from(total_count).unwrap_or(0);
        if wanted <= current {
            return Err(BackendError::InvalidPartitions(format!(
                "topic has {current} partitions; {total_count} does not grow it"
            )));
        }
        if !validate_only {
            for partition in current..wanted {
                topic.logs.push(PartitionLog::default());
                let index = i32::try_from(partition).unwrap_or(i32::MAX);
                topic.meta.partitions.push(partition_meta(index));
            }
        }
        Ok(())
    }

    async fn produce(
        &self,
        topic: &str,
        partition: i32,
        batch: ValidBatch<'_>,
        _acks: i16,
        _timeout_ms: i32,
    ) -> Result<ProduceOutcome, BackendError> {
        let outcome = self.append_valid(topic, partition, batch)?;
        if self.stall_produce.load(Ordering::Relaxed) {
            std::future::pending::<()>().await;
        }
        Ok(outcome)
    }

    async fn fetch(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        partition_max_bytes: i32,
        _read_committed: bool,
        _reader: crate::backend::Reader,
    ) -> Result<FetchOutcome, BackendError> {
        let state = self.lock();
        let log = state
            .topics
            .get(topic)
            .and_then(|t| usize::try_from(partition).ok().and_then(|p| t.logs.get(p)))
            .ok_or(BackendError::UnknownTopicOrPartition)?;
        if offset < 0 || offset > log.log_end_offset {
            return Err(BackendError::OffsetOutOfRange);
        }
        let limit_bytes = usize::try_from(partition_max_bytes).unwrap_or(0);
        let first = log.batches.partition_point(|b| b.next_offset <= offset);
        let mut taken = 0usize;
        let mut bytes_total = 0usize;
        for batch in &log.batches[first..] {
            if taken > 0 && bytes_total + batch.bytes.len() > limit_bytes {
                break;
            }
            taken += 1;
            bytes_total += batch.bytes.len();
        }
        let records = match &log.batches[first..first + taken] {
            [] => Bytes::new(),
            // One batch goes out as stored, without a copy, like the broker's reads.
            [only] => only.bytes.clone(),
            several => {
                let mut records = BytesMut::with_capacity(bytes_total);
                for batch in several {
                    records.extend_from_slice(&batch.bytes);
                }
                records.freeze()
            }
        };
        Ok(FetchOutcome {
            records,
            high_watermark: log.log_end_offset,
            last_stable_offset: log.log_end_offset,
            log_start_offset: 0,
        })
    }

    async fn wait_for_data(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        _reader: crate::backend::Reader,
    ) {
        loop {
            let notified = self.appended.notified();
            tokio::pin!(notified);
            // Register before checking, so an append between the check and the await wakes us.
            notified.as_mut().enable();
            match self.high_watermark(topic, partition) {
                Some(high_watermark) if high_watermark > offset => return,
                // Unknown partitions answer at once; the next read reports the error.
                None => return,
                Some(_) => notified.await,
            }
        }
    }

    async fn list_offset(
        &self,
        topic: &str,
        partition: i32,
        timestamp: i64,
    ) -> Result<(i64, i64), BackendError> {
        let state = self.lock();
        let log = state
            .topics
            .get(topic)
            .and_then(|t| usize::try_from(partition).ok().and_then(|p| t.logs.get(p)))
            .ok_or(BackendError::UnknownTopicOrPartition)?;
        Ok(match timestamp {
            -2 => (0, -1),
            -1 => (log.log_end_offset, -1),
            -3 => log
                .batches
                .iter()
                .max_by_key(|b| b.max_timestamp)
                .map(|b| (b.next_offset - 1, b.max_timestamp))
                .unwrap_or((-1, -1)),
            at => log
                .batches
                .iter()
                .find(|b| b.max_timestamp >= at)
                .map(|b| (b.base_offset, b.max_timestamp))
                .unwrap_or((-1, -1)),
        })
    }

    async fn offset_for_leader_epoch(
        &self,
        topic: &str,
        partition: i32,
        _current_leader_epoch: i32,
        leader_epoch: i32,
    ) -> Result<(i32, i64), BackendError> {
        // One epoch (0) in memory: it ends at the log end.
        let end = self
            .high_watermark(topic, partition)
            .ok_or(BackendError::UnknownTopicOrPartition)?;
        Ok(if leader_epoch >= 0 {
            (0, end)
        } else {
            (-1, -1)
        })
    }

    async fn init_producer_id(&self) -> Result<(i64, i16), BackendError> {
        let mut state = self.lock();
        let producer_id = state.next_producer_id;
        state.next_producer_id += 1;
        Ok((producer_id, 0))
    }

    fn authorize(&self, _session: &Session, operation: Operation, resource: &Resource) -> bool {
        match &*self.allowed.lock().unwrap_or_else(|e| e.into_inner()) {
            None => true,
            Some(pairs) => pairs
                .iter()
                .any(|(op, allowed)| *op == operation && allowed == resource),
        }
    }

    async fn create_acls(&self, bindings: Vec<AclBinding>) -> Vec<Result<(), BackendError>> {
        let mut security = self.security.lock().unwrap_or_else(|e| e.into_inner());
        bindings
            .into_iter()
            .map(|binding| match security.as_mut() {
                None => Err(BackendError::SecurityDisabled),
                Some(state) => crate::create_acls::add(&mut state.acls, binding),
            })
            .collect()
    }

    fn describe_acls(&self, filter: &AclBindingFilter) -> Result<Vec<AclBinding>, BackendError> {
        match &*self.security.lock().unwrap_or_else(|e| e.into_inner()) {
            None => Err(BackendError::SecurityDisabled),
            Some(state) => Ok(state.acls.matching(filter)),
        }
    }

    async fn delete_acls(
        &self,
        filters: Vec<AclBindingFilter>,
    ) -> Vec<Result<Vec<AclBinding>, BackendError>> {
        let mut security = self.security.lock().unwrap_or_else(|e| e.into_inner());
        filters
            .iter()
            .map(|filter| match security.as_mut() {
                None => Err(BackendError::SecurityDisabled),
                Some(state) => Ok(state.acls.remove_matching(filter)),
            })
            .collect()
    }

    fn scram_users(&self) -> Vec<(String, Vec<(ScramMechanism, u32)>)> {
        match &*self.security.lock().unwrap_or_else(|e| e.into_inner()) {
            None => Vec::new(),
            Some(state) => crate::describe_user_scram_credentials::users(state),
        }
    }

    async fn alter_scram_credentials(
        &self,
        changes: Vec<UserScramChange>,
    ) -> Vec<Result<(), BackendError>> {
        let mut security = self.security.lock().unwrap_or_else(|e| e.into_inner());
        changes
            .iter()
            .map(|change| match security.as_mut() {
                None => Err(BackendError::SecurityDisabled),
                Some(state) => crate::alter_user_scram_credentials::apply(state, change),
            })
            .collect()
    }

    async fn group_request(
        &self,
        request: GroupRequest,
        version: i16,
        _client: Client,
    ) -> GroupResponse {
        self.group_requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(request.api_key() as i16);
        match &*self.group_answer.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(answer) => answer(&request, version),
            None => crate::groups::unavailable(
                &request,
                version,
                crate::backend::error_code::COORDINATOR_NOT_AVAILABLE,
            ),
        }
    }
}
