//! The broker as the Kafka front-end's [`Backend`]: topics and partitions as Kafka clients see
//! them, appends of client batches (validated and deduplicated here), and reads of stored
//! batches as they are.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use yak_auth::{
    AclBinding, AclBindingFilter, Operation, Resource, ScramCredential, ScramMechanism,
};
use yak_kafka::backend::{
    Backend, BackendError, FetchOutcome, NodeInfo, PartitionMeta, ProduceOutcome, Reader,
    TopicMeta, UserScramChange,
};
use yak_kafka::{SecurityProtocol, Session};
use yak_log::{batch, ValidBatch};

use crate::broker::{Broker, NewTopic};
use crate::error::BrokerError;
use crate::metrics::Metrics;
use crate::partition::{Durability, Partition};
use crate::replica::Role;
use crate::topic::Topic;

/// Where a node is reached on `listener`: its address there, or its inter-broker address.
fn registration_address(
    registration: &crate::cluster::coordinator::NodeRegistration,
    listener: SecurityProtocol,
) -> &str {
    registration
        .listeners
        .get(listener.name())
        .unwrap_or(&registration.kafka)
}

/// The broker, seen by the Kafka front-end.
#[derive(Debug)]
pub struct KafkaBackend {
    broker: Arc<Broker>,
    /// Next producer id. Seeded from the clock at start so ids stay unique across restarts of
    /// this node (a thousand ids per millisecond of uptime before they could catch up).
    next_producer_id: AtomicI64,
}

impl KafkaBackend {
    pub fn new(broker: Arc<Broker>) -> KafkaBackend {
        KafkaBackend {
            broker,
            next_producer_id: AtomicI64::new(crate::now_ms() * 1000),
        }
    }

    /// This node's address on `listener` (the inter-broker one if it has no such listener).
    fn own_address(&self, listener: SecurityProtocol) -> &str {
        self.broker
            .advertised_listeners
            .get(&listener)
            .unwrap_or(&self.broker.advertised_kafka)
    }

    fn partition(&self, topic: &str, partition: i32) -> Result<Arc<Partition>, BackendError> {
        self.broker
            .partition(topic, partition)
            .map_err(backend_error)
    }

    /// The partitions' leader, epoch and replicas as Metadata reports them.
    fn leadership(&self) -> (i32, i32, Vec<i32>) {
        let node_id = self.broker.config.node_id;
        match self.broker.cluster() {
            None => (node_id, 0, vec![node_id]),
            Some(cluster) => {
                let status = cluster.status();
                let mut members = cluster.view().members;
                members.push(node_id);
                members.sort_unstable();
                members.dedup();
                let leader = status.leader.map_or(-1, |l| l.node_id);
                (leader, status.epoch, members)
            }
        }
    }

    fn meta(&self, topic: &Topic) -> TopicMeta {
        let (leader_id, epoch, replicas) = self.leadership();
        let clustered = self.broker.cluster().is_some();
        let topic_id = uuid::Uuid::parse_str(&topic.config.topic_id)
            .map(|u| *u.as_bytes())
            .unwrap_or([0; 16]);
        let configs = self
            .broker
            .topic_configs(&topic.config)
            .into_iter()
            .collect();
        TopicMeta {
            name: topic.name().to_string(),
            topic_id,
            partitions: topic
                .partitions
                .iter()
                .map(|p| {
                    let isr = if clustered {
                        let isr = p.replica_state().isr;
                        if isr.is_empty() && leader_id >= 0 {
                            vec![leader_id]
                        } else {
                            isr
                        }
                    } else {
                        replicas.clone()
                    };
                    PartitionMeta {
                        partition: p.index,
                        leader_id,
                        leader_epoch: if clustered { epoch } else { p.leader_epoch() },
                        replicas: replicas.clone(),
                        isr,
                    }
                })
                .collect(),
            configs,
            configs_set: topic.config.configs.keys().cloned().collect(),
        }
    }
}

fn node_info(node_id: i32, advertised: &str) -> NodeInfo {
    let (host, port) = advertised.rsplit_once(':').unwrap_or((advertised, "9092"));
    NodeInfo {
        node_id,
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port: port.parse().unwrap_or(9092),
    }
}

/// An admin request (CreateTopics, DeleteTopics, ...) on a node that does not lead goes to
/// the controller, as Kafka clients expect: NOT_CONTROLLER sends them to look it up again.
fn admin_error(error: BrokerError) -> BackendError {
    match error {
        BrokerError::NotLeader { .. } | BrokerError::LeaderNotAvailable => {
            BackendError::NotController
        }
        other => backend_error(other),
    }
}

/// How a broker failure reads to a Kafka client.
pub fn backend_error(error: BrokerError) -> BackendError {
    match error {
        BrokerError::UnknownTopic(_) | BrokerError::UnknownPartition { .. } => {
            BackendError::UnknownTopicOrPartition
        }
        BrokerError::TopicAlreadyExists(_) => BackendError::TopicAlreadyExists,
        BrokerError::InvalidTopicName(m) => BackendError::InvalidTopic(m),
        BrokerError::InvalidPartitions(m) => BackendError::InvalidPartitions(m),
        BrokerError::InvalidReplicationFactor(m) => BackendError::InvalidReplicationFactor(m),
        BrokerError::InvalidConfig(m) => BackendError::InvalidConfig(m),
        BrokerError::OffsetOutOfRange { .. } => BackendError::OffsetOutOfRange,
        BrokerError::RecordTooLarge(_) => BackendError::MessageTooLarge,
        BrokerError::InvalidBatch(error) => BackendError::InvalidBatch(error),
        BrokerError::OutOfOrderSequence(_) => BackendError::OutOfOrderSequence,
        BrokerError::InvalidProducerEpoch(_) => BackendError::InvalidProducerEpoch,
        BrokerError::Storage(m) => BackendError::KafkaStorageError(m),
        error @ BrokerError::CorruptLog { .. } => {
            BackendError::KafkaStorageError(error.to_string())
        }
        BrokerError::DataDirInUse { .. } => BackendError::NotLeaderOrFollower,
        BrokerError::InvalidField(m) => BackendError::InvalidRecord(m),
        BrokerError::ShuttingDown => BackendError::NotLeaderOrFollower,
        BrokerError::NotLeader { .. } => BackendError::NotLeaderOrFollower,
        BrokerError::LeaderNotAvailable => BackendError::LeaderNotAvailable,
        BrokerError::NotEnoughReplicas { .. } => BackendError::NotEnoughReplicas,
        BrokerError::RequestTimedOut(_) => BackendError::RequestTimedOut,
        BrokerError::FencedLeaderEpoch { .. } => BackendError::FencedLeaderEpoch,
        BrokerError::UnknownLeaderEpoch { .. } => BackendError::UnknownLeaderEpoch,
        BrokerError::Internal(m) => BackendError::Unknown(m),
        // The Kafka front-end authorizes before it calls in; an HTTP-only refusal reaching a
        // Kafka client is a cluster-level one.
        BrokerError::Unauthenticated(_) | BrokerError::Forbidden(_) => {
            BackendError::ClusterAuthorizationFailed
        }
    }
}

/// The per-entry answers of one change of the security state, or, when the change could not
/// be saved (nothing of it applied), that failure for each of the `count` entries.
fn every_or_all<T>(
    changed: Result<Vec<Result<T, BackendError>>, BrokerError>,
    count: usize,
) -> Vec<Result<T, BackendError>> {
    match changed {
        Ok(answers) => answers,
        Err(error) => {
            tracing::warn!(%error, "security state change failed");
            let error = backend_error(error);
            (0..count).map(|_| Err(error.clone())).collect()
        }
    }
}

/// CreateTopics configs as the broker takes them; a name given twice is refused, as Kafka does.
fn parse_configs(
    configs: &[(String, String)],
) -> Result<std::collections::BTreeMap<String, String>, BackendError> {
    let mut parsed = std::collections::BTreeMap::new();
    for (name, value) in configs {
        if parsed.insert(name.clone(), value.clone()).is_some() {
            return Err(BackendError::InvalidConfig(format!(
                "config {name} is given more than once"
            )));
        }
    }
    Ok(parsed)
}

impl Backend for KafkaBackend {
    fn cluster_id(&self) -> String {
        self.broker.config.cluster.clone()
    }

    fn controller_id(&self) -> i32 {
        match self.broker.cluster() {
            Some(cluster) => cluster
                .status()
                .leader
                .map_or(self.broker.config.node_id, |l| l.node_id),
            None => self.broker.config.node_id,
        }
    }

    fn nodes(&self, listener: SecurityProtocol) -> Vec<NodeInfo> {
        let mut nodes = vec![node_info(
            self.broker.config.node_id,
            self.own_address(listener),
        )];
        if let Some(cluster) = self.broker.cluster() {
            for registration in cluster.view().nodes {
                if registration.node_id != self.broker.config.node_id {
                    nodes.push(node_info(
                        registration.node_id,
                        registration_address(&registration, listener),
                    ));
                }
            }
            nodes.sort_by_key(|n| n.node_id);
        }
        nodes
    }

    fn scram_credential(&self, user: &str, mechanism: ScramMechanism) -> Option<ScramCredential> {
        self.broker.security.credential(user, mechanism)
    }

    fn check_password(&self, user: &str, password: &str) -> bool {
        self.broker.security.check_password(user, password)
    }

    fn authorize(&self, session: &Session, operation: Operation, resource: &Resource) -> bool {
        let allowed = self.authorize_quietly(session, operation, resource);
        if !allowed {
            Metrics::add(&self.broker.metrics.denied_requests_total, 1);
            tracing::debug!(principal = %session.principal, host = %session.host, ?operation, ?resource, "denied");
        }
        allowed
    }

    fn authorize_quietly(
        &self,
        session: &Session,
        operation: Operation,
        resource: &Resource,
    ) -> bool {
        self.broker
            .security
            .authorize(&session.principal, &session.host, operation, resource)
    }

    fn authentication_result(&self, listener: SecurityProtocol, success: bool) {
        self.broker.metrics.authentication(listener.name(), success);
    }

    async fn create_acls(&self, bindings: Vec<AclBinding>) -> Vec<Result<(), BackendError>> {
        if !self.broker.security.config.authorizer.enabled {
            return bindings
                .iter()
                .map(|_| Err(BackendError::SecurityDisabled))
                .collect();
        }
        let count = bindings.len();
        let changed = self
            .broker
            .security
            .update(move |state| {
                Ok(bindings
                    .into_iter()
                    .map(|binding| yak_kafka::create_acls::add(&mut state.acls, binding))
                    .collect::<Vec<_>>())
            })
            .await;
        every_or_all(changed, count)
    }

    fn describe_acls(&self, filter: &AclBindingFilter) -> Result<Vec<AclBinding>, BackendError> {
        if !self.broker.security.config.authorizer.enabled {
            return Err(BackendError::SecurityDisabled);
        }
        Ok(self.broker.security.snapshot().acls.matching(filter))
    }

    async fn delete_acls(
        &self,
        filters: Vec<AclBindingFilter>,
    ) -> Vec<Result<Vec<AclBinding>, BackendError>> {
        if !self.broker.security.config.authorizer.enabled {
            return filters
                .iter()
                .map(|_| Err(BackendError::SecurityDisabled))
                .collect();
        }
        let count = filters.len();
        let changed = self
            .broker
            .security
            .update(move |state| {
                Ok(filters
                    .iter()
                    .map(|filter| Ok(state.acls.remove_matching(filter)))
                    .collect::<Vec<_>>())
            })
            .await;
        every_or_all(changed, count)
    }

    fn scram_users(&self) -> Vec<(String, Vec<(ScramMechanism, u32)>)> {
        yak_kafka::describe_user_scram_credentials::users(&self.broker.security.snapshot())
    }

    async fn alter_scram_credentials(
        &self,
        changes: Vec<UserScramChange>,
    ) -> Vec<Result<(), BackendError>> {
        let count = changes.len();
        let changed = self
            .broker
            .security
            .update(move |state| {
                Ok(changes
                    .iter()
                    .map(|change| yak_kafka::alter_user_scram_credentials::apply(state, change))
                    .collect::<Vec<_>>())
            })
            .await;
        every_or_all(changed, count)
    }

    fn topics(&self) -> Vec<TopicMeta> {
        self.broker.topics().iter().map(|t| self.meta(t)).collect()
    }

    fn topic(&self, name: &str) -> Option<TopicMeta> {
        self.broker.topic(name).map(|t| self.meta(&t))
    }

    async fn auto_create_topic(&self, name: &str) -> Result<TopicMeta, BackendError> {
        if let Some(cluster) = self.broker.cluster() {
            if cluster.status().role != Role::Leader {
                // Only the leader creates topics: ask it, and have the client retry until the
                // topic reached this node too (LEADER_NOT_AVAILABLE is retriable).
                crate::topic::validate_topic_name(name).map_err(BackendError::InvalidTopic)?;
                cluster
                    .forward_create_topic(name)
                    .await
                    .map_err(backend_error)?;
                return Err(BackendError::LeaderNotAvailable);
            }
        }
        let topic = self
            .broker
            .topic_or_create(name)
            .await
            .map_err(backend_error)?;
        Ok(self.meta(&topic))
    }

    async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: Vec<(String, String)>,
        validate_only: bool,
    ) -> Result<TopicMeta, BackendError> {
        let request = NewTopic {
            name: name.to_string(),
            partitions: (partitions != -1).then_some(partitions),
            replication_factor: (replication_factor != -1).then_some(replication_factor as i32),
            configs: parse_configs(&configs)?,
        };
        if validate_only {
            let (partitions, _) = self.broker.check_new_topic(&request).map_err(admin_error)?;
            let node_id = self.broker.config.node_id;
            return Ok(TopicMeta {
                name: name.to_string(),
                topic_id: [0; 16],
                partitions: (0..partitions)
                    .map(|p| PartitionMeta {
                        partition: p,
                        leader_id: node_id,
                        leader_epoch: 0,
                        replicas: vec![node_id],
                        isr: vec![node_id],
                    })
                    .collect(),
                configs_set: configs.iter().map(|(name, _)| name.clone()).collect(),
                configs,
            });
        }
        let topic = self
            .broker
            .create_topic(request)
            .await
            .map_err(admin_error)?;
        Ok(self.meta(&topic))
    }

    async fn alter_topic_configs(
        &self,
        name: &str,
        changes: Vec<(String, Option<String>)>,
        validate_only: bool,
    ) -> Result<(), BackendError> {
        let changes: Vec<crate::broker::ConfigChange> = changes
            .into_iter()
            .map(|(name, value)| crate::broker::ConfigChange { name, value })
            .collect();
        self.broker
            .alter_topic_configs(name, &changes, validate_only)
            .await
            .map(|_| ())
            .map_err(admin_error)
    }

    async fn delete_topic(&self, name: &str) -> Result<(), BackendError> {
        self.broker.delete_topic(name).await.map_err(admin_error)
    }

    async fn create_partitions(
        &self,
        name: &str,
        total_count: i32,
        validate_only: bool,
    ) -> Result<(), BackendError> {
        if validate_only {
            let topic = self
                .broker
                .topic(name)
                .ok_or(BackendError::UnknownTopicOrPartition)?;
            if total_count <= topic.partition_count() {
                return Err(BackendError::InvalidPartitions(format!(
                    "topic {name} already has {} partitions",
                    topic.partition_count()
                )));
            }
            return Ok(());
        }
        self.broker
            .add_partitions(name, total_count)
            .await
            .map_err(admin_error)
    }

    async fn produce(
        &self,
        topic: &str,
        partition: i32,
        batch: ValidBatch<'_>,
        acks: i16,
        _timeout_ms: i32,
    ) -> Result<ProduceOutcome, BackendError> {
        let metrics = &self.broker.metrics;
        Metrics::add(&metrics.produce_requests_total, 1);
        let result = self.produce_inner(topic, partition, batch, acks).await;
        if result.is_err() {
            Metrics::add(&metrics.failed_produce_requests_total, 1);
        }
        result
    }

    async fn fetch(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        partition_max_bytes: i32,
        _read_committed: bool,
        reader: Reader,
    ) -> Result<FetchOutcome, BackendError> {
        let metrics = &self.broker.metrics;
        Metrics::add(&metrics.fetch_requests_total, 1);
        let partition = self.partition(topic, partition)?;
        if reader.is_replica() {
            tracing::trace!(?reader, offset, "replica fetch");
            return self
                .replica_fetch(&partition, offset, partition_max_bytes, reader)
                .await;
        }
        self.check_consumer(&partition, reader.current_leader_epoch)?;
        let log_start_offset = partition.log_start_offset();
        // Between the high watermark and the log end the records exist but are not committed
        // yet: an empty answer, not an error, so the client simply fetches again.
        if offset < log_start_offset || offset > partition.log_end_offset() {
            Metrics::add(&metrics.failed_fetch_requests_total, 1);
            return Err(BackendError::OffsetOutOfRange);
        }
        // The high watermark answered is the one that bounded the read, so it is never older
        // than the batches sent with it.
        let (records, high_watermark) = partition
            .read_committed(offset, partition_max_bytes.max(0) as u32)
            .await
            .map_err(backend_error)?;
        if !records.is_empty() {
            let mut count = 0u64;
            for (header, _) in batch::batches(&records).flatten() {
                count += header.records_count.max(0) as u64;
            }
            Metrics::add(&metrics.messages_out_total, count);
            Metrics::add(&metrics.bytes_out_total, records.len() as u64);
        }
        Ok(FetchOutcome {
            records,
            high_watermark,
            // No transactions: everything below the high watermark is stable.
            last_stable_offset: high_watermark,
            log_start_offset,
        })
    }

    async fn wait_for_data(&self, topic: &str, partition: i32, offset: i64, reader: Reader) {
        let Ok(partition) = self.partition(topic, partition) else {
            return;
        };
        if reader.is_replica() {
            let mut log_end = partition.subscribe_log_end();
            let mut role_changes = partition.subscribe_role_changes();
            let epoch = partition.leader_epoch();
            tokio::select! {
                _ = log_end.wait_for(|end| *end > offset) => {}
                // A role change answers the follower at once (with its error).
                _ = role_changes.wait_for(|_| partition.role() != Role::Leader || partition.leader_epoch() != epoch) => {}
                _ = self.broker.shutdown.cancelled() => {}
            }
            return;
        }
        let mut receiver = partition.subscribe();
        tokio::select! {
            _ = receiver.wait_for(|hwm| *hwm > offset) => {}
            _ = self.broker.shutdown.cancelled() => {}
        }
    }

    async fn list_offset(
        &self,
        topic: &str,
        partition: i32,
        timestamp: i64,
    ) -> Result<(i64, i64), BackendError> {
        let partition = self.partition(topic, partition)?;
        self.check_consumer(&partition, -1)?;
        let high_watermark = partition.high_watermark();
        match timestamp {
            -2 => Ok((partition.log_start_offset(), -1)),
            -1 if !partition.high_watermark_ready() => Err(BackendError::OffsetNotAvailable),
            -1 => Ok((high_watermark, -1)),
            -3 => {
                // The record with the largest timestamp; approximated by the last committed
                // record, which is exact for clients that stamp with their clock.
                if high_watermark > partition.log_start_offset() {
                    Ok((high_watermark - 1, -1))
                } else {
                    Ok((-1, -1))
                }
            }
            // A lookup by time reads the time index and a batch: on a blocking thread.
            timestamp if timestamp >= 0 => tokio::task::spawn_blocking(move || {
                offset_for_timestamp(&partition, timestamp, high_watermark)
            })
            .await
            .map_err(|e| BackendError::Unknown(format!("ListOffsets task failed: {e}")))?,
            _ => Err(BackendError::InvalidRecord(format!(
                "unknown ListOffsets timestamp {timestamp}"
            ))),
        }
    }

    async fn offset_for_leader_epoch(
        &self,
        topic: &str,
        partition: i32,
        current_leader_epoch: i32,
        leader_epoch: i32,
    ) -> Result<(i32, i64), BackendError> {
        let partition = self.partition(topic, partition)?;
        if partition.role() != Role::Standalone {
            if let Err(error) = partition.check_replica_epoch(current_leader_epoch) {
                self.saw_epoch_error(&error);
                return Err(backend_error(error));
            }
        }
        Ok(partition.end_offset_for_epoch(leader_epoch))
    }

    fn group_coordinator(&self, listener: SecurityProtocol) -> Option<NodeInfo> {
        match self.broker.cluster() {
            None => Some(node_info(
                self.broker.config.node_id,
                self.own_address(listener),
            )),
            Some(cluster) => cluster
                .status()
                .leader
                .map(|leader| node_info(leader.node_id, registration_address(&leader, listener))),
        }
    }

    async fn group_request(
        &self,
        request: yak_kafka::groups::GroupRequest,
        version: i16,
        client: yak_kafka::groups::Client,
    ) -> yak_kafka::groups::GroupResponse {
        let coordinates = match self.broker.cluster() {
            None => true,
            Some(cluster) => cluster.status().role == Role::Leader,
        };
        match self.broker.groups() {
            Some(groups) if coordinates => {
                crate::kafka_groups::handle(groups, request, version, client).await
            }
            // Kafka's answer from a node that is not the group's coordinator: the client
            // looks it up again (FindCoordinator) and retries there.
            _ => yak_kafka::groups::unavailable(
                &request,
                version,
                crate::groups::state::code::NOT_COORDINATOR,
            ),
        }
    }

    async fn init_producer_id(&self) -> Result<(i64, i16), BackendError> {
        match self.broker.cluster() {
            Some(cluster) => Ok((cluster.next_producer_id().await.map_err(backend_error)?, 0)),
            None => Ok((self.next_producer_id.fetch_add(1, Ordering::Relaxed), 0)),
        }
    }
}

/// The first record at or after `timestamp_ms` below the high watermark, as `(offset,
/// timestamp)`, or `(-1, -1)`. Reads the log: call it on a blocking thread.
fn offset_for_timestamp(
    partition: &Partition,
    timestamp_ms: i64,
    high_watermark: i64,
) -> Result<(i64, i64), BackendError> {
    let Some((base_offset, _)) = partition
        .offset_for_timestamp(timestamp_ms)
        .map_err(|e| backend_error(e.into()))?
    else {
        return Ok((-1, -1));
    };
    // The log finds the first batch that reaches `timestamp_ms`; Kafka answers with the first
    // record in it that does, so look inside that batch.
    let batch = partition.read(base_offset, 1).map_err(backend_error)?;
    let mut found = (-1, -1);
    crate::compression::for_each_record(&batch, base_offset, |offset, record| {
        if record.timestamp_ms >= timestamp_ms && offset < high_watermark {
            found = (offset, record.timestamp_ms);
        }
        found.0 < 0 && offset + 1 < high_watermark
    })
    .map_err(|e| BackendError::CorruptMessage(format!("{e:?}")))?;
    Ok(found)
}

impl KafkaBackend {
    /// A consumer reads only from the leader (or a standalone node); its epoch, when it gives
    /// one, must be the current one (KIP-320).
    fn check_consumer(
        &self,
        partition: &Partition,
        current_leader_epoch: i32,
    ) -> Result<(), BackendError> {
        match partition.role() {
            Role::Standalone => Ok(()),
            Role::Leader => {
                let epoch = partition.leader_epoch();
                tracing::trace!(topic = %partition.topic, partition = partition.index, current_leader_epoch, epoch, "consumer read");
                if current_leader_epoch >= 0 && current_leader_epoch < epoch {
                    return Err(BackendError::FencedLeaderEpoch);
                }
                if current_leader_epoch > epoch {
                    return Err(BackendError::UnknownLeaderEpoch);
                }
                Ok(())
            }
            Role::Follower | Role::Offline => Err(BackendError::NotLeaderOrFollower),
        }
    }

    /// A higher epoch in a replica request means another node was elected: step down now.
    fn saw_epoch_error(&self, error: &BrokerError) {
        if let BrokerError::UnknownLeaderEpoch { .. } = error {
            if let Some(cluster) = self.broker.cluster() {
                cluster.higher_epoch_seen.notify_one();
            }
        }
    }

    /// A follower's fetch: records its position (which may move the high watermark), then
    /// reads up to the log end offset.
    async fn replica_fetch(
        &self,
        partition: &Arc<Partition>,
        offset: i64,
        partition_max_bytes: i32,
        reader: Reader,
    ) -> Result<FetchOutcome, BackendError> {
        let Some(cluster) = self.broker.cluster() else {
            return Err(BackendError::NotLeaderOrFollower);
        };
        if let Err(error) = partition.replica_fetched(
            reader.replica_id,
            reader.current_leader_epoch,
            offset,
            cluster.gate.now_ms(),
        ) {
            self.saw_epoch_error(&error);
            return Err(backend_error(error));
        }
        let log_start_offset = partition.log_start_offset();
        let reading = Arc::clone(partition);
        let max_bytes = partition_max_bytes.max(0) as u32;
        let (records, high_watermark) =
            tokio::task::spawn_blocking(move || reading.read_for_replica(offset, max_bytes))
                .await
                .map_err(|e| BackendError::Unknown(format!("replica read task failed: {e}")))?
                .map_err(backend_error)?;
        Ok(FetchOutcome {
            records,
            high_watermark,
            last_stable_offset: high_watermark,
            log_start_offset,
        })
    }

    async fn produce_inner(
        &self,
        topic: &str,
        partition: i32,
        batch: ValidBatch<'_>,
        acks: i16,
    ) -> Result<ProduceOutcome, BackendError> {
        if !matches!(acks, -1..=1) {
            return Err(BackendError::InvalidRecord(format!(
                "acks must be -1, 0 or 1, got {acks}"
            )));
        }
        if topic == crate::groups::OFFSETS_TOPIC {
            // Only the group coordinator writes committed offsets (Kafka refuses the same).
            return Err(BackendError::InvalidTopic(format!(
                "{topic} is internal: offsets are committed with OffsetCommit"
            )));
        }
        let records_count = batch.header().records_count;
        let partition = self.partition(topic, partition)?;
        let durability = match acks {
            0 => Durability::Background,
            1 => Durability::Wait,
            _ => Durability::Committed,
        };
        let bytes = batch.len() as u64;
        let appended = partition
            .append(batch, durability)
            .await
            .map_err(backend_error)?;
        let metrics = &self.broker.metrics;
        Metrics::add(&metrics.messages_in_total, records_count.max(0) as u64);
        Metrics::add(&metrics.bytes_in_total, bytes);
        Ok(ProduceOutcome {
            base_offset: appended.base_offset,
            log_append_time_ms: -1,
            log_start_offset: appended.log_start_offset,
        })
    }
}

/// Serves the Kafka protocol on `listener` until the broker shuts down.
pub fn spawn(
    broker: Arc<Broker>,
    listener: TcpListener,
    security: yak_kafka::ListenerSecurity,
) -> JoinHandle<()> {
    let backend = Arc::new(KafkaBackend::new(Arc::clone(&broker)));
    let shutdown = broker.shutdown.clone();
    tokio::spawn(async move {
        let config = broker.config.kafka_limits.clone();
        let protocol = security.protocol;
        if let Err(error) = yak_kafka::serve(listener, backend, config, security, async move {
            shutdown.cancelled().await
        })
        .await
        {
            tracing::error!(%error, listener = %protocol, "the Kafka listener stopped");
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BrokerConfig;
    use crate::partition::Durability;

    use yak_log::{record, FlushPolicy, OsFileSystem};

    fn open_broker(dir: &std::path::Path) -> Arc<Broker> {
        let config = BrokerConfig {
            default_partitions: 1,
            // The high watermark moves with every append, as fast as a writer can go.
            flush: FlushPolicy::Never,
            ..BrokerConfig::on_ephemeral_ports(dir.to_path_buf())
        };
        Broker::open(
            config,
            Arc::new(OsFileSystem),
            "http://127.0.0.1:0".into(),
            [(
                yak_kafka::SecurityProtocol::Plaintext,
                "127.0.0.1:0".to_string(),
            )]
            .into(),
        )
        .expect("broker opens")
    }

    fn one_record_batch() -> Vec<u8> {
        let records = [record::RecordToWrite {
            key: None,
            value: Some(b"v"),
            headers: &[],
            timestamp_ms: 1,
        }];
        let mut batch = Vec::new();
        record::encode_batch(&records, &mut batch);
        batch
    }

    /// Regression: Fetch read the high watermark, then the log read it again and could return
    /// batches past the one reported. Every batch sent must lie below the high watermark sent
    /// with it, while a writer keeps moving it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fetch_high_watermark_is_never_older_than_its_batches() {
        const FETCHES: usize = 50_000;
        let dir = tempfile::tempdir().expect("tempdir");
        let broker = open_broker(dir.path());
        broker
            .create_topic(NewTopic {
                name: "hwm".into(),
                partitions: Some(1),
                replication_factor: None,
                ..NewTopic::default()
            })
            .await
            .expect("topic");
        let partition = broker.partition("hwm", 0).expect("partition");
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writing = Arc::clone(&done);
        let writer = tokio::spawn(async move {
            let template = one_record_batch();
            while !writing.load(Ordering::Relaxed) {
                let mut batch = template.clone();
                partition
                    .append(
                        yak_log::ValidBatch::new(&mut batch).expect("a valid batch"),
                        Durability::Wait,
                    )
                    .await
                    .expect("append");
            }
        });
        let backend = KafkaBackend::new(Arc::clone(&broker));
        let mut offset = 0;
        for _ in 0..FETCHES {
            let outcome = backend
                .fetch("hwm", 0, offset, 1 << 20, true, Reader::CONSUMER)
                .await
                .expect("fetch");
            for item in batch::batches(&outcome.records) {
                let (header, _) = item.expect("whole batches");
                assert!(
                    header.last_offset() < outcome.high_watermark,
                    "batch ending at {} sent with high watermark {}",
                    header.last_offset(),
                    outcome.high_watermark
                );
                offset = header.last_offset() + 1;
            }
        }
        done.store(true, Ordering::Relaxed);
        writer.await.expect("writer");
    }
}
