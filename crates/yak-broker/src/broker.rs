//! The node: its topics and partitions, and the admin operations over them.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock, RwLock};

use tokio_util::sync::CancellationToken;
use yak_api::ActivityKind;
use yak_log::{FileSystem, Log, LogConfig, LogError};

use crate::activity::Activity;
use crate::cluster::Cluster;
use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::flusher::Flusher;
use crate::metrics::Metrics;
use crate::partition::Partition;
use crate::topic::{
    check_topic_config, validate_topic_name, Topic, TopicConfig, TopicSettings, TopicsFile,
    TOPIC_CONFIG_NAMES, TOPIC_PARTITIONS_MAX,
};

/// A request to create a topic; `None` fields take the broker's defaults.
#[derive(Debug, Clone, Default)]
pub struct NewTopic {
    pub name: String,
    pub partitions: Option<i32>,
    pub replication_factor: Option<i32>,
    /// Topic configs in Kafka's names (`retention.ms`, ...); absent ones take the defaults.
    pub configs: BTreeMap<String, String>,
}

/// One change of a topic config: set it, or (`value: None`) return it to the broker's default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigChange {
    pub name: String,
    pub value: Option<String>,
}

/// What one retention pass over every partition deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionTotals {
    pub segments_deleted: usize,
    pub bytes_deleted: u64,
}

#[derive(Debug)]
pub struct Broker {
    pub config: BrokerConfig,
    fs: Arc<dyn FileSystem>,
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    /// Serialises topic creation and deletion, which rewrite `topics.json`.
    admin_lock: tokio::sync::Mutex<()>,
    /// Makes appends durable under `--flush always` (one data directory, one flusher thread).
    flusher: Arc<Flusher>,
    pub metrics: Metrics,
    pub activity: Activity,
    /// Cancelled when the node begins to shut down; long-polls and streams end on it.
    pub shutdown: CancellationToken,
    pub advertised_http: String,
    /// The address of the inter-broker listener (the first listener unless configured), which
    /// other nodes replicate from.
    pub advertised_kafka: String,
    /// The address clients are told on each Kafka listener.
    pub advertised_listeners: std::collections::BTreeMap<yak_kafka::SecurityProtocol, String>,
    /// Users, ACLs, tokens and limits.
    pub security: Arc<crate::security::Security>,
    pub started_ms: i64,
    /// Set once at start-up when the node joins a cluster (`--coordinator`).
    cluster: OnceLock<Arc<Cluster>>,
    /// The consumer-group coordinator, set once at start-up.
    groups: OnceLock<Arc<crate::groups::GroupCoordinator>>,
}

impl Broker {
    /// Opens every topic found in `DATA/topics.json`, recovering each partition's log.
    pub fn open(
        config: BrokerConfig,
        fs: Arc<dyn FileSystem>,
        advertised_http: String,
        advertised_listeners: std::collections::BTreeMap<yak_kafka::SecurityProtocol, String>,
    ) -> Result<Arc<Broker>, BrokerError> {
        config.validate().map_err(BrokerError::InvalidField)?;
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            BrokerError::Storage(format!("cannot create {}: {e}", config.data_dir.display()))
        })?;
        let security = Arc::new(crate::security::Security::open(
            config.security.clone(),
            &config.data_dir,
        )?);
        let inter_broker = config
            .security
            .inter_broker_listener
            .filter(|protocol| advertised_listeners.contains_key(protocol))
            .or_else(|| {
                config
                    .security
                    .kafka_listeners
                    .first()
                    .map(|listener| listener.protocol)
            })
            .unwrap_or(yak_kafka::SecurityProtocol::Plaintext);
        let advertised_kafka = advertised_listeners
            .get(&inter_broker)
            .or_else(|| advertised_listeners.values().next())
            .cloned()
            .unwrap_or_default();
        let file = TopicsFile::load(&config.data_dir)
            .map_err(|e| BrokerError::Storage(format!("cannot read topic metadata: {e}")))?;
        let broker = Broker {
            config,
            fs,
            topics: RwLock::new(HashMap::new()),
            admin_lock: tokio::sync::Mutex::new(()),
            flusher: Flusher::start().map_err(|e| {
                BrokerError::Internal(format!("cannot start the flusher thread: {e}"))
            })?,
            metrics: Metrics::default(),
            activity: Activity::default(),
            shutdown: CancellationToken::new(),
            advertised_http,
            advertised_kafka,
            advertised_listeners,
            security,
            started_ms: crate::now_ms(),
            cluster: OnceLock::new(),
            groups: OnceLock::new(),
        };
        for topic_config in file.topics {
            let topic = broker.open_topic(topic_config)?;
            broker
                .write_topics()
                .insert(topic.name().to_string(), topic);
        }
        broker.activity.record(
            ActivityKind::BrokerStarted,
            format!(
                "node {} started with {} topics",
                broker.config.node_id,
                broker.read_topics().len()
            ),
        );
        Ok(Arc::new(broker))
    }

    fn read_topics(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Topic>>> {
        self.topics.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_topics(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Topic>>> {
        self.topics.write().unwrap_or_else(|p| p.into_inner())
    }

    fn partition_dir(&self, topic: &str, partition: i32) -> PathBuf {
        self.config.data_dir.join(format!("{topic}-{partition}"))
    }

    /// The broker's default for every topic config, in Kafka's names. Retention is unlimited
    /// unless a topic asks for it, so no record is ever deleted that nobody asked to delete.
    pub fn default_topic_configs(&self) -> BTreeMap<String, String> {
        use crate::topic::*;
        BTreeMap::from([
            (CLEANUP_POLICY.to_string(), "delete".to_string()),
            (COMPRESSION_TYPE.to_string(), "producer".to_string()),
            (
                MAX_MESSAGE_BYTES.to_string(),
                LogConfig::default().batch_bytes_max.to_string(),
            ),
            (
                MIN_INSYNC_REPLICAS.to_string(),
                self.config.min_insync_replicas.to_string(),
            ),
            (RETENTION_BYTES.to_string(), "-1".to_string()),
            (RETENTION_MS.to_string(), "-1".to_string()),
            (
                SEGMENT_BYTES.to_string(),
                self.config.segment_bytes_max.to_string(),
            ),
            (
                SEGMENT_MS.to_string(),
                self.config.segment_ms_max.to_string(),
            ),
        ])
    }

    /// Every config of a topic: its own over the broker's defaults.
    pub fn topic_configs(&self, config: &TopicConfig) -> BTreeMap<String, String> {
        let mut configs = self.default_topic_configs();
        for (name, value) in &config.configs {
            configs.insert(name.clone(), value.clone());
        }
        configs
    }

    /// A topic's effective settings.
    pub fn topic_settings(&self, config: &TopicConfig) -> TopicSettings {
        let fallback = TopicSettings {
            retention_ms: -1,
            retention_bytes: -1,
            segment_bytes: self.config.segment_bytes_max,
            segment_ms: self.config.segment_ms_max,
            max_message_bytes: LogConfig::default().batch_bytes_max,
        };
        TopicSettings::from_configs(&self.topic_configs(config), fallback)
    }

    fn log_config(&self, config: &TopicConfig) -> LogConfig {
        self.topic_settings(config).log_config(self.config.flush)
    }

    fn open_topic(&self, config: TopicConfig) -> Result<Arc<Topic>, BrokerError> {
        let mut partitions = Vec::with_capacity(config.partitions as usize);
        let log_config = self.log_config(&config);
        for index in 0..config.partitions {
            let dir = self.partition_dir(&config.name, index);
            // A batch that does not parse in a log being opened is damage on disk, not a bad
            // request: report it as a corrupt log, whichever check found it.
            let log =
                Log::open(Arc::clone(&self.fs), &dir, log_config.clone()).map_err(|error| {
                    match error {
                        LogError::Batch(error) => BrokerError::CorruptLog {
                            path: dir.clone(),
                            reason: error.to_string(),
                        },
                        other => other.into(),
                    }
                })?;
            let partition = Arc::new(Partition::new(
                config.name.clone(),
                index,
                log,
                self.config.flush,
                Arc::clone(&self.flusher),
            ));
            if let Some(cluster) = self.cluster() {
                cluster.adopt(self, &partition);
            }
            partitions.push(partition);
        }
        Ok(Arc::new(Topic::new(config, partitions)))
    }

    /// Joins the cluster: every partition becomes a replica that neither leads nor follows
    /// until the controller says so. Called once, before the controller starts.
    pub fn attach_cluster(&self, cluster: Arc<Cluster>) {
        for topic in self.topics() {
            for partition in &topic.partitions {
                partition.join_cluster(Arc::clone(&cluster.gate));
            }
        }
        let _ = self.cluster.set(cluster);
    }

    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.get()
    }

    pub fn attach_groups(&self, groups: Arc<crate::groups::GroupCoordinator>) {
        let _ = self.groups.set(groups);
    }

    pub fn groups(&self) -> Option<&Arc<crate::groups::GroupCoordinator>> {
        self.groups.get()
    }

    /// Refuses a change of the topic list on a node that does not lead the cluster: only the
    /// leader changes topics, followers copy its list.
    fn check_topic_admin(&self) -> Result<(), BrokerError> {
        let Some(cluster) = self.cluster() else {
            return Ok(());
        };
        let status = cluster.status();
        match status.role {
            crate::replica::Role::Leader => Ok(()),
            _ => match status.leader {
                Some(leader) => Err(BrokerError::NotLeader {
                    leader: Some((leader.node_id, leader.http)),
                }),
                None => Err(BrokerError::LeaderNotAvailable),
            },
        }
    }

    /// Names the leader in a "not the leader" error, for clients that follow it.
    pub fn with_leader_hint(&self, error: BrokerError) -> BrokerError {
        match (error, self.cluster()) {
            (BrokerError::NotLeader { leader: None }, Some(cluster)) => match cluster
                .status()
                .leader
            {
                Some(leader) if leader.node_id != self.config.node_id => BrokerError::NotLeader {
                    leader: Some((leader.node_id, leader.http)),
                },
                Some(_) | None => BrokerError::LeaderNotAvailable,
            },
            (error, _) => error,
        }
    }

    /// `min.insync.replicas` of a topic: its own config, else the broker's.
    pub fn min_insync_replicas(&self, topic: &str) -> usize {
        let own = self
            .topic(topic)
            .and_then(|t| t.config.configs.get("min.insync.replicas").cloned())
            .and_then(|v| v.parse::<usize>().ok());
        own.unwrap_or(self.config.min_insync_replicas.max(1) as usize)
            .max(1)
    }

    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.read_topics().get(name).cloned()
    }

    /// Every topic, sorted by name.
    pub fn topics(&self) -> Vec<Arc<Topic>> {
        let mut topics: Vec<_> = self.read_topics().values().cloned().collect();
        topics.sort_by(|a, b| a.name().cmp(b.name()));
        topics
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Result<Arc<Partition>, BrokerError> {
        let found = self
            .topic(topic)
            .ok_or_else(|| BrokerError::UnknownTopic(topic.into()))?;
        found
            .partition(partition)
            .cloned()
            .ok_or(BrokerError::UnknownPartition {
                topic: topic.into(),
                partition,
            })
    }

    /// The topic, created with the defaults if this is its first use (as Kafka's
    /// `auto.create.topics.enable`).
    pub async fn topic_or_create(&self, name: &str) -> Result<Arc<Topic>, BrokerError> {
        if let Some(topic) = self.topic(name) {
            return Ok(topic);
        }
        self.check_topic_admin()?;
        match self
            .create_topic(NewTopic {
                name: name.into(),
                ..NewTopic::default()
            })
            .await
        {
            Ok(topic) => Ok(topic),
            // Another request created it first.
            Err(BrokerError::TopicAlreadyExists(_)) => self
                .topic(name)
                .ok_or_else(|| BrokerError::UnknownTopic(name.into())),
            Err(error) => Err(error),
        }
    }

    /// Checks a topic request against the broker's rules; the partition count and replication
    /// factor it would get.
    pub fn check_new_topic(&self, request: &NewTopic) -> Result<(i32, i32), BrokerError> {
        validate_topic_name(&request.name).map_err(BrokerError::InvalidTopicName)?;
        let partitions = request.partitions.unwrap_or(self.config.default_partitions);
        if !(1..=TOPIC_PARTITIONS_MAX).contains(&partitions) {
            return Err(BrokerError::InvalidField(format!(
                "partitions must be 1..={TOPIC_PARTITIONS_MAX}, got {partitions}"
            )));
        }
        let replication_factor = request
            .replication_factor
            .unwrap_or(self.config.default_replication_factor);
        let nodes = match self.cluster() {
            Some(cluster) => {
                let mut members = cluster.view().members;
                members.push(self.config.node_id);
                members.sort_unstable();
                members.dedup();
                members.len() as i32
            }
            None => 1,
        };
        if replication_factor < 1 || replication_factor > nodes {
            return Err(BrokerError::InvalidReplicationFactor(format!(
                "replication_factor {replication_factor} must be 1..={nodes}, the nodes of this cluster (every node replicates every partition)"
            )));
        }
        for (name, value) in &request.configs {
            check_topic_config(name, value).map_err(BrokerError::InvalidConfig)?;
        }
        if self.topic(&request.name).is_some() {
            return Err(BrokerError::TopicAlreadyExists(request.name.clone()));
        }
        Ok((partitions, replication_factor))
    }

    pub async fn create_topic(&self, request: NewTopic) -> Result<Arc<Topic>, BrokerError> {
        self.check_topic_admin()?;
        let (partitions, replication_factor) = self.check_new_topic(&request)?;
        let _admin = self.admin_lock.lock().await;
        if self.topic(&request.name).is_some() {
            return Err(BrokerError::TopicAlreadyExists(request.name));
        }
        let config = TopicConfig {
            name: request.name.clone(),
            partitions,
            replication_factor,
            topic_id: uuid::Uuid::new_v4().to_string(),
            configs: request.configs.clone(),
        };
        let topic = self.insert_topic(config)?;
        if let Some(cluster) = self.cluster() {
            cluster.topics_changed.notify_one();
        }
        Ok(topic)
    }

    /// Creates a topic the leader has (a follower copying the leader's topic list).
    pub async fn create_replica_topic(&self, config: TopicConfig) -> Result<(), BrokerError> {
        let _admin = self.admin_lock.lock().await;
        if self.topic(&config.name).is_some() {
            return Ok(());
        }
        self.insert_topic(config).map(|_| ())
    }

    /// Deletes a topic the leader deleted.
    pub async fn delete_replica_topic(&self, name: &str) -> Result<(), BrokerError> {
        let _admin = self.admin_lock.lock().await;
        self.remove_topic(name)
    }

    /// Takes the leader's partition count and configs for a topic.
    pub async fn update_replica_topic(&self, config: TopicConfig) -> Result<(), BrokerError> {
        let current = self
            .topic(&config.name)
            .ok_or_else(|| BrokerError::UnknownTopic(config.name.clone()))?;
        if config.partitions > current.partition_count() {
            let _admin = self.admin_lock.lock().await;
            self.grow_topic(&config.name, config.partitions)?;
        }
        if config.configs != current.config.configs {
            let mut changes: Vec<ConfigChange> = config
                .configs
                .iter()
                .map(|(name, value)| ConfigChange {
                    name: name.clone(),
                    value: Some(value.clone()),
                })
                .collect();
            for name in current.config.configs.keys() {
                if !config.configs.contains_key(name) {
                    changes.push(ConfigChange {
                        name: name.clone(),
                        value: None,
                    });
                }
            }
            self.change_topic_configs(&config.name, &changes, false)
                .await?;
        }
        Ok(())
    }

    /// Opens a new topic's partitions and records it in `topics.json`; the admin lock is held.
    fn insert_topic(&self, config: TopicConfig) -> Result<Arc<Topic>, BrokerError> {
        let request = NewTopic {
            name: config.name.clone(),
            ..NewTopic::default()
        };
        let partitions = config.partitions;
        // Leftovers of an earlier topic of the same name (deleted while the node was down
        // half-way) must not come back as this topic's records.
        for index in 0..partitions {
            let dir = self.partition_dir(&config.name, index);
            if self.fs.exists(&dir) {
                self.fs.remove_dir_all(&dir).map_err(|e| {
                    BrokerError::Storage(format!("cannot clear {}: {e}", dir.display()))
                })?;
            }
        }
        let topic = self.open_topic(config)?;
        let mut file = self.topics_file();
        file.topics.push(topic.config.clone());
        file.store(&self.config.data_dir)
            .map_err(|e| BrokerError::Storage(format!("cannot write topic metadata: {e}")))?;
        self.write_topics()
            .insert(request.name.clone(), Arc::clone(&topic));
        self.activity.record(
            ActivityKind::TopicCreated,
            format!(
                "topic {} created with {} partitions",
                request.name, partitions
            ),
        );
        Ok(topic)
    }

    fn topics_file(&self) -> TopicsFile {
        let mut topics: Vec<TopicConfig> = self
            .read_topics()
            .values()
            .map(|t| t.config.clone())
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        TopicsFile { topics }
    }

    pub async fn delete_topic(&self, name: &str) -> Result<(), BrokerError> {
        self.check_topic_admin()?;
        let _admin = self.admin_lock.lock().await;
        self.remove_topic(name)?;
        if let Some(cluster) = self.cluster() {
            cluster.topics_changed.notify_one();
        }
        Ok(())
    }

    /// Removes a topic and its files; the admin lock is held.
    fn remove_topic(&self, name: &str) -> Result<(), BrokerError> {
        let topic = self
            .topic(name)
            .ok_or_else(|| BrokerError::UnknownTopic(name.into()))?;
        let mut file = self.topics_file();
        file.topics.retain(|t| t.name != name);
        // The metadata goes first: a crash after it leaves orphan directories, which the next
        // creation of the same name clears, never a topic without its records.
        file.store(&self.config.data_dir)
            .map_err(|e| BrokerError::Storage(format!("cannot write topic metadata: {e}")))?;
        self.write_topics().remove(name);
        for partition in &topic.partitions {
            let dir = self.partition_dir(name, partition.index);
            if let Err(error) = self.fs.remove_dir_all(&dir) {
                tracing::warn!(%error, dir = %dir.display(), "cannot remove a deleted partition's files");
            }
        }
        self.activity
            .record(ActivityKind::TopicDeleted, format!("topic {name} deleted"));
        Ok(())
    }

    /// Grows a topic to `total` partitions. Keys map to partitions by count, so some keys move,
    /// as in Kafka.
    pub async fn add_partitions(&self, name: &str, total: i32) -> Result<(), BrokerError> {
        self.check_topic_admin()?;
        let _admin = self.admin_lock.lock().await;
        self.grow_topic(name, total)?;
        if let Some(cluster) = self.cluster() {
            cluster.topics_changed.notify_one();
        }
        Ok(())
    }

    /// Opens partitions `current..total` of a topic; the admin lock is held.
    fn grow_topic(&self, name: &str, total: i32) -> Result<(), BrokerError> {
        let topic = self
            .topic(name)
            .ok_or_else(|| BrokerError::UnknownTopic(name.into()))?;
        let current = topic.partition_count();
        if total <= current || total > TOPIC_PARTITIONS_MAX {
            return Err(BrokerError::InvalidPartitions(format!(
                "topic {name} has {current} partitions; the new count must be more, and at most {TOPIC_PARTITIONS_MAX}, got {total}"
            )));
        }
        let mut partitions = topic.partitions.clone();
        let log_config = self.log_config(&topic.config);
        for index in current..total {
            let dir = self.partition_dir(name, index);
            if self.fs.exists(&dir) {
                self.fs.remove_dir_all(&dir).map_err(|e| {
                    BrokerError::Storage(format!("cannot clear {}: {e}", dir.display()))
                })?;
            }
            let log = Log::open(Arc::clone(&self.fs), &dir, log_config.clone())?;
            let partition = Arc::new(Partition::new(
                name.into(),
                index,
                log,
                self.config.flush,
                Arc::clone(&self.flusher),
            ));
            if let Some(cluster) = self.cluster() {
                cluster.adopt(self, &partition);
            }
            partitions.push(partition);
        }
        let mut config = topic.config.clone();
        config.partitions = total;
        let grown = Arc::new(Topic::new(config, partitions));
        let mut file = self.topics_file();
        for entry in &mut file.topics {
            if entry.name == name {
                entry.partitions = total;
            }
        }
        file.store(&self.config.data_dir)
            .map_err(|e| BrokerError::Storage(format!("cannot write topic metadata: {e}")))?;
        self.write_topics().insert(name.to_string(), grown);
        self.activity.record(
            ActivityKind::TopicCreated,
            format!("topic {name} grew from {current} to {total} partitions"),
        );
        Ok(())
    }

    /// Changes a topic's configs (Kafka's IncrementalAlterConfigs with SET and DELETE). Every
    /// change is checked before any applies; the new configs are written to `topics.json`,
    /// then the partitions' logs take the new segment and message limits at once.
    pub async fn alter_topic_configs(
        &self,
        name: &str,
        changes: &[ConfigChange],
        validate_only: bool,
    ) -> Result<Arc<Topic>, BrokerError> {
        if !validate_only {
            self.check_topic_admin()?;
        }
        let altered = self
            .change_topic_configs(name, changes, validate_only)
            .await?;
        if let Some(cluster) = self.cluster() {
            cluster.topics_changed.notify_one();
        }
        Ok(altered)
    }

    async fn change_topic_configs(
        &self,
        name: &str,
        changes: &[ConfigChange],
        validate_only: bool,
    ) -> Result<Arc<Topic>, BrokerError> {
        for change in changes {
            match &change.value {
                Some(value) => check_topic_config(&change.name, value),
                // Any known config may go back to its default.
                None if TOPIC_CONFIG_NAMES.contains(&change.name.as_str()) => Ok(()),
                None => Err(format!(
                    "unknown topic config {:?}; known are {}",
                    change.name,
                    TOPIC_CONFIG_NAMES.join(", ")
                )),
            }
            .map_err(BrokerError::InvalidConfig)?;
        }
        let _admin = self.admin_lock.lock().await;
        let topic = self
            .topic(name)
            .ok_or_else(|| BrokerError::UnknownTopic(name.into()))?;
        let mut config = topic.config.clone();
        for change in changes {
            match &change.value {
                Some(value) => config.configs.insert(change.name.clone(), value.clone()),
                None => config.configs.remove(&change.name),
            };
        }
        if validate_only || config == topic.config {
            return Ok(topic);
        }
        let log_config = self.log_config(&config);
        let mut file = self.topics_file();
        for entry in &mut file.topics {
            if entry.name == name {
                *entry = config.clone();
            }
        }
        file.store(&self.config.data_dir)
            .map_err(|e| BrokerError::Storage(format!("cannot write topic metadata: {e}")))?;
        let altered = Arc::new(Topic::new(config, topic.partitions.clone()));
        self.write_topics()
            .insert(name.to_string(), Arc::clone(&altered));
        for partition in &altered.partitions {
            partition.set_log_config(log_config.clone())?;
        }
        let described: Vec<String> = changes
            .iter()
            .map(|change| match &change.value {
                Some(value) => format!("{}={value}", change.name),
                None => format!("{} reset", change.name),
            })
            .collect();
        self.activity.record(
            ActivityKind::TopicAltered,
            format!("topic {name} configs: {}", described.join(", ")),
        );
        Ok(altered)
    }

    /// One retention pass: every partition deletes the old segments its topic's `retention.ms`
    /// and `retention.bytes` no longer keep. Blocking file I/O; run it on a blocking thread.
    pub fn enforce_retention(&self) -> RetentionTotals {
        let now_ms = crate::now_ms();
        let mut totals = RetentionTotals::default();
        for topic in self.topics() {
            let retention = self.topic_settings(&topic.config).retention();
            if retention == yak_log::Retention::default() {
                continue;
            }
            for partition in &topic.partitions {
                match partition.delete_segments_for_retention(retention, now_ms) {
                    Ok(outcome) if outcome.segments_deleted > 0 => {
                        totals.segments_deleted += outcome.segments_deleted;
                        totals.bytes_deleted += outcome.bytes_deleted;
                        Metrics::add(
                            &self.metrics.log_segments_deleted_total,
                            outcome.segments_deleted as u64,
                        );
                        Metrics::add(&self.metrics.log_bytes_deleted_total, outcome.bytes_deleted);
                        self.activity.record(
                            ActivityKind::SegmentsDeleted,
                            format!(
                                "retention deleted {} segments ({} bytes) of {}-{}; log start offset {}",
                                outcome.segments_deleted,
                                outcome.bytes_deleted,
                                topic.name(),
                                partition.index,
                                outcome.log_start_offset
                            ),
                        );
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(%error, topic = %topic.name(), partition = partition.index, "retention pass failed; the next one tries again");
                    }
                }
            }
        }
        totals
    }

    /// Runs a retention pass every `retention_check_interval_ms` until shutdown. Each pass runs
    /// on a blocking thread that owns it, so aborting this task never stops a pass half-way.
    pub fn spawn_retention(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let broker = Arc::clone(self);
        tokio::spawn(async move {
            let interval =
                std::time::Duration::from_millis(broker.config.retention_check_interval_ms);
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = broker.shutdown.cancelled() => return,
                }
                let pass = Arc::clone(&broker);
                if let Err(error) =
                    tokio::task::spawn_blocking(move || pass.enforce_retention()).await
                {
                    tracing::error!(%error, "retention pass panicked");
                }
            }
        })
    }

    /// Fsyncs every partition (shutdown and the `interval:MS` policy).
    pub fn flush_all(&self) -> Result<(), BrokerError> {
        let mut first_error = None;
        for topic in self.topics() {
            for partition in &topic.partitions {
                if let Err(error) = partition.flush_now() {
                    tracing::error!(%error, topic = %topic.name(), partition = partition.index, "flush failed");
                    first_error.get_or_insert(error);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Closes every partition's log cleanly (fsync, producer snapshot, recovery point,
    /// clean-shutdown marker) at shutdown, so the next start reads no segment data. A partition
    /// that fails is logged and left for the next start to recover.
    pub fn close_all(&self) -> Result<(), BrokerError> {
        let mut first_error = None;
        for topic in self.topics() {
            for partition in &topic.partitions {
                if let Err(error) = partition.close() {
                    tracing::error!(%error, topic = %topic.name(), partition = partition.index, "close failed");
                    first_error.get_or_insert(error);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    pub fn role(&self) -> &'static str {
        match self.cluster() {
            Some(cluster) => cluster.status().role.as_str(),
            None => "standalone",
        }
    }

    pub fn epoch(&self) -> i64 {
        self.cluster().map_or(0, |c| c.status().epoch as i64)
    }
}
